"""Figures for the Space and the CLI, drawn on ``matplotlib.figure.Figure`` (no pyplot, no GUI backend)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

_MAX_BEAT_LINES = 80


def plot_sync(score, *, zoom: float = 8.0) -> Figure:
    """Visual change over onset strength, beats and visual peaks marked.

    The top panel shows the whole video; the bottom one its first ``zoom``
    seconds, where single beats can be seen. Peaks within ±1 frame of a
    beat's frame are green, the others red.

    Parameters
    ----------
    score : pipelines.score.sync.SyncScore
    zoom : float > 0
        Length of the close-up, seconds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from pipelines.score.sync import scale_to_unit

    times = score.times
    change = scale_to_unit(score.visual_change)
    beat_frames = np.floor(score.beats * score.fps).astype(int)
    on_beat = np.array([len(beat_frames) > 0 and np.abs(beat_frames - p).min() <= 1 for p in score.peaks])
    panels = [(0.0, score.duration)]
    if score.duration > 1.5 * zoom:
        panels.append((0.0, zoom))

    figure = Figure(figsize=(11, 2.6 * len(panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (start, end) in zip(axes, panels):
        ax.fill_between(times, score.onset_strength, step="post", color="0.75", label="onset strength")
        ax.plot(times, change, color="tab:blue", lw=0.9, label="visual change (pixel)")
        shown = score.beats[(score.beats >= start) & (score.beats <= end)]
        # Over a whole song the beat lines would paint the panel orange: the close-up shows them.
        for beat in shown if len(shown) <= _MAX_BEAT_LINES else ():
            ax.axvline(beat, color="tab:orange", lw=0.6, alpha=0.7)
        for hit, colour, label in ((True, "tab:green", "peak on a beat"), (False, "tab:red", "off beat")):
            chosen = score.peaks[on_beat == hit] if len(score.peaks) else score.peaks
            ax.plot(times[chosen], change[chosen], "v", color=colour, ms=5, label=label)
        ax.set_xlim(start, end)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("0..1")
    axes[0].plot([], [], color="tab:orange", lw=0.6, label="beats")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    axes[-1].set_xlabel("time (s)")
    correlation = "n/a" if score.correlation is None else f"{score.correlation:.2f}"
    figure.suptitle(
        f"beat F-measure {score.f_measure:.2f} · correlation {correlation}"
        f" · offset {score.offset_ms:+.0f} ms"
        f" · DTW {score.dtw_distance:.3f} · AV-Align {score.av_align:.2f} · {score.tempo:.0f} BPM",
        fontsize=10,
    )
    return figure


def plot_frame_plan(plan, analysis, *, zoom: float = 8.0, camera=None) -> Figure:
    """How the walk follows the song: ``t`` and the pulse over time, keyframes and beats marked.

    The top panel shows the position between keyframes (``t``; shaded where
    the picture holds a keyframe, lines where a keyframe shows, numbered from 1 as the keyframe table numbers them, cuts
    dashed red) over the whole plan, the next one the pulse over the beats
    (downbeats thicker). When the plan is longer than ``1.5 * zoom`` seconds,
    a close-up of its first ``zoom`` seconds shows single beats.

    Parameters
    ----------
    plan : pipelines.plan.timeline.FramePlan
    analysis : pipelines.music.analysis.Analysis
        For the beats and downbeats, seconds.
    zoom : float > 0
        Length of the close-up, seconds.
    camera : pipelines.plan.camera.CameraPath or None
        When it moves, a panel under the pulse shows each moving axis's motion per frame over the
        beats (each scaled to its own largest value, given in the legend).

    Returns
    -------
    matplotlib.figure.Figure
    """
    times = plan.times
    start = float(times[0]) if plan.n_frames else 0.0
    end = start + plan.n_frames / plan.fps
    beats = np.asarray(analysis.beats, dtype=np.float64)
    downbeats = np.asarray(analysis.downbeats, dtype=np.float64)
    shows = np.flatnonzero(np.diff(plan.key_a, prepend=-1) != 0)  # first frame of each keyframe
    close_up = end - start > 1.5 * zoom

    moving = [] if camera is None else [axis for axis in ("zoom", "angle", "x", "y") if np.any(getattr(camera, axis))]
    rows = 2 + bool(moving) + close_up
    figure = Figure(figsize=(11, 2.0 * rows + 0.2), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    if moving:
        _camera_panel(axes[2], camera, moving, beats, downbeats, start, end)
        axes = np.concatenate([axes[:2], axes[3:]])  # the close-up, if any, stays last
    walk_axes = [(axes[0], end), *([(axes[2], start + zoom)] if close_up else [])]
    for ax, stop in walk_axes:
        holding = plan.key_a == plan.key_b
        ax.fill_between(times, 0, 1, where=holding, step="post", color="0.9", label="holding")
        ax.plot(times, plan.t, color="tab:blue", lw=1.0, drawstyle="steps-post", label="t (eased)")
        for i in shows:
            ax.axvline(times[i], color="0.3", lw=0.8)
            if times[i] < stop:
                ax.annotate(str(plan.key_a[i] + 1), (times[i], 1.0), xytext=(2, -10), textcoords="offset points")
        for time in times[plan.cut]:
            ax.axvline(time, color="tab:red", lw=1.4, ls="--")
        ax.set_xlim(start, stop)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("t")
    for ax, stop in [(axes[1], end), *([(axes[2], start + zoom)] if close_up else [])]:
        for beat in beats[(beats >= start) & (beats <= stop)]:
            ax.axvline(beat, color="tab:orange", lw=1.2 if np.isin(beat, downbeats) else 0.5, alpha=0.7)
    axes[1].fill_between(times, plan.pulse, step="post", color="tab:purple", alpha=0.6)
    if close_up:
        axes[2].plot(times, plan.pulse, color="tab:purple", lw=0.9, drawstyle="steps-post")
    axes[1].set_xlim(start, end)
    axes[1].set_ylim(0, max(1.1 * float(plan.pulse.max(initial=0.0)), 0.05))
    axes[1].set_ylabel("pulse")
    axes[-1].set_xlabel("time (s)")

    axes[0].plot([], [], color="tab:purple", label="pulse")
    axes[0].plot([], [], color="tab:orange", label="beats (thick: downbeats)")
    axes[0].plot([], [], color="0.3", lw=0.8, label="keyframe")
    axes[0].plot([], [], color="tab:red", lw=1.4, ls="--", label="cut")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=6, fontsize=8, frameon=False)
    figure.suptitle(
        f"frame plan · {plan.n_frames} frames at {plan.fps:g} fps · {len(shows)} keyframes shown"
        f" · {int(plan.cut.sum())} cuts",
        fontsize=10,
    )
    return figure


_CAMERA_UNITS = {"zoom": ("%", 100.0), "angle": ("°", 1.0), "x": ("% width", 100.0), "y": ("% height", 100.0)}
_CAMERA_COLOURS = {"zoom": "tab:green", "angle": "tab:blue", "x": "tab:brown", "y": "tab:pink"}


def _camera_panel(ax, camera, moving, beats, downbeats, start: float, end: float) -> None:
    times = np.arange(camera.n_frames) / camera.fps
    for beat in beats[(beats >= start) & (beats <= end)]:
        ax.axvline(beat, color="tab:orange", lw=1.2 if np.isin(beat, downbeats) else 0.5, alpha=0.5)
    for axis in moving:
        motion = getattr(camera, axis)
        peak = float(np.max(np.abs(motion)))
        unit, scale = _CAMERA_UNITS[axis]
        label = f"{axis} (peak {peak * scale:.2g} {unit}/frame)"
        ax.plot(times, motion / peak, color=_CAMERA_COLOURS[axis], lw=0.9, drawstyle="steps-post", label=label)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlim(start, end)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("camera")
    ax.legend(loc="upper right", fontsize=7, ncol=len(moving), frameon=False)


def plot_analysis(analysis, audio=None, description=None) -> Figure:
    """The song as Beatwalk reads it: waveform, sections, beats, tempo and energy.

    The top panel shows the waveform (or the onset strength when no audio is
    given) with sections shaded and labelled, beats as thin lines and
    downbeats as thick ones; the middle one the tempo curve; the bottom one
    the six energy envelopes, one lane each.

    Parameters
    ----------
    analysis : pipelines.music.analysis.Analysis
    audio : pipelines.music.decode.Audio or None
        The analysed audio, for the waveform.
    description : pipelines.music.describe.SongDescription or None
        Its words (tempo, key, level, arc, brightness, tags) under each section's letter.

    Returns
    -------
    matplotlib.figure.Figure
    """
    duration = float(analysis.duration)
    figure = Figure(figsize=(12, 6.4), layout="constrained")
    wave_ax, tempo_ax, energy_ax = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 0.9, 2.6]}
    )

    # 1. Waveform (or onset strength), sections, beats.
    if audio is not None:
        lows, highs, centres = _waveform_columns(audio.samples, audio.sample_rate, columns=2400)
        wave_ax.fill_between(centres, lows, highs, color="0.35", lw=0)
        wave_ax.set_ylim(-1.05, 1.05)
        wave_ax.set_ylabel("waveform")
    else:
        onset = analysis.envelopes["onset"]
        wave_ax.fill_between(np.arange(len(onset)) / analysis.envelope_rate, onset, color="0.35", lw=0)
        wave_ax.set_ylim(0, 1.05)
        wave_ax.set_ylabel("onset strength")
    _song_structure(wave_ax, analysis, shade=(energy_ax,))
    for passage in description.sections if description is not None else ():
        words = [w for w in passage.words() if w not in ("straight", "moderate", "steady")]
        wave_ax.annotate("\n".join([" · ".join(words[:3]), " · ".join(words[3:7])]), (passage.start, 1.0),
                         xycoords=("data", "axes fraction"), xytext=(3, -18), textcoords="offset points",
                         va="top", fontsize=6.5, color="0.15")  # fmt: skip
    # Below the panels: at the top, the legend would cover the title.
    figure.legend(loc="outside lower center", fontsize=8, ncol=2, frameon=False)

    # 2. Tempo curve.
    tempo_times = np.asarray(analysis.tempo_curve["times"], dtype=np.float64)
    tempo_bpm = np.asarray(analysis.tempo_curve["bpm"], dtype=np.float64)
    if len(tempo_bpm):
        tempo_ax.plot(tempo_times, tempo_bpm, color="tab:orange", lw=1.2)
        low, high = float(tempo_bpm.min()), float(tempo_bpm.max())
        tempo_ax.set_ylim(low - max(5.0, 0.1 * low), high + max(5.0, 0.1 * high))
    else:
        tempo_ax.text(
            0.5, 0.5, "no beat", transform=tempo_ax.transAxes, ha="center", va="center", color="0.4"
        )
    tempo_ax.set_ylabel("BPM")

    # 3. Energy envelopes, one lane each (0..1 within its lane).
    names = list(analysis.envelopes)
    for lane, name in enumerate(names):
        values = np.asarray(analysis.envelopes[name], dtype=np.float64)
        base = len(names) - 1 - lane
        times = np.arange(len(values)) / analysis.envelope_rate
        energy_ax.fill_between(times, base, base + 0.9 * values, color=f"C{lane}", lw=0, alpha=0.85)
    energy_ax.set_yticks(np.arange(len(names)) + 0.45, labels=names[::-1], fontsize=8)
    energy_ax.set_ylim(0, len(names))
    energy_ax.set_ylabel("energy (0..1)")
    energy_ax.set_xlim(0, duration)
    energy_ax.set_xlabel("time (s)")

    sections = " ".join(section["label"] for section in analysis.sections)
    tempo = f"{analysis.tempo:.1f} BPM" if analysis.tempo else "no beat"
    figure.suptitle(
        f"{duration:.1f} s · {tempo} · {len(analysis.beats)} beats · {len(analysis.downbeats)} bars"
        f" of {analysis.beats_per_bar} · {len(analysis.onsets)} onsets · sections {sections}",
        fontsize=10,
    )
    return figure


def plot_keyframes(project, analysis) -> Figure:
    """The keyframes on the song's timeline: sections, beats and downbeats, each keyframe a numbered
    line (numbered from 1, as the keyframe table numbers them) with its prompt (and its init
    image's strength), its hold shaded and a cut marked, over the song's onset strength.

    Parameters
    ----------
    project : pipelines.project.Project
    analysis : pipelines.music.analysis.Analysis

    Returns
    -------
    matplotlib.figure.Figure
    """
    from pipelines.plan.timeline import hold_end

    duration = float(analysis.duration)
    figure = Figure(figsize=(12, 2.8), layout="constrained")
    ax = figure.subplots()
    onset = analysis.envelopes["onset"]
    ax.fill_between(np.arange(len(onset)) / analysis.envelope_rate, 0, 0.6 * onset, color="0.75", lw=0)
    _song_structure(ax, analysis)
    keyframes = project.keyframes
    for number, keyframe in enumerate(keyframes, start=1):
        end = keyframes[number].time if number < len(keyframes) else duration
        held = min(hold_end(keyframe, analysis), end)
        if held > keyframe.time:
            ax.axvspan(keyframe.time, held, ymin=0.62, ymax=0.8, color="tab:blue", alpha=0.25, lw=0)
        ax.axvline(keyframe.time, color="tab:blue", lw=1.8)
        if number < len(keyframes) and keyframe.transition == "cut":
            ax.annotate("cut", (end, 0.6), xycoords=("data", "axes fraction"), ha="right", fontsize=7, color="tab:red")
        label = f"{number} · {keyframe.prompt if len(keyframe.prompt) <= 28 else keyframe.prompt[:27] + '…'}"
        if keyframe.init_image:
            label += f" · picture {keyframe.init_strength:g}"
        ax.annotate(label, (keyframe.time, 0.97 - 0.12 * ((number - 1) % 3)), xycoords=("data", "axes fraction"),
                    xytext=(3, 0), textcoords="offset points", va="top", fontsize=8, color="tab:blue")  # fmt: skip
    ax.plot([], [], color="tab:blue", lw=1.8, label="keyframe (shaded: its hold)")
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    figure.legend(loc="outside lower center", fontsize=8, ncol=3, frameon=False)
    return figure


def _song_structure(ax, analysis, *, shade=()) -> None:
    """Sections (shaded on ``ax`` and on the ``shade`` axes, labelled), beats and downbeats on ``ax``."""
    palette = ["tab:blue", "tab:green", "tab:purple", "tab:olive", "tab:cyan", "tab:pink", "tab:brown"]
    letters = sorted({section["label"] for section in analysis.sections})
    for section in analysis.sections:
        colour = palette[letters.index(section["label"]) % len(palette)]
        for on in (ax, *shade):
            on.axvspan(section["start"], section["end"], color=colour, alpha=0.12, lw=0)
        ax.annotate(
            section["label"],
            (section["start"], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=10,
            fontweight="bold",
            color=colour,
        )
        ax.axvline(section["start"], color=colour, lw=1.5)
    # Beats as full-height lines while they are far apart on screen, else as a rug
    # along the bottom, so a long song's waveform stays visible.
    rug = len(analysis.beats) > 120
    beat_height, downbeat_height = (0.05, 0.1) if rug else (1.0, 1.0)
    on_axes = ax.get_xaxis_transform()
    ax.vlines(analysis.beats, 0, beat_height, transform=on_axes, color="tab:orange", lw=0.5, alpha=0.8)
    ax.vlines(
        analysis.downbeats, 0, downbeat_height, transform=on_axes, color="tab:red", lw=1.6 - 0.8 * rug
    )
    ax.plot([], [], color="tab:orange", lw=0.8, label="beats")
    ax.plot([], [], color="tab:red", lw=1.6, label="downbeats")


def _waveform_columns(samples: np.ndarray, sample_rate: int, *, columns: int):
    """Min and max of the signal per display column: (lows, highs, column centres in seconds)."""
    per_column = max(1, len(samples) // columns)
    usable = samples[: len(samples) // per_column * per_column].reshape(-1, per_column)
    centres = (np.arange(len(usable)) + 0.5) * per_column / sample_rate
    return usable.min(axis=1), usable.max(axis=1), centres
