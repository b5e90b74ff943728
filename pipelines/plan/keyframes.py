"""Proposing keyframes: a first project for a song from a few prompts.

``python -m pipelines new`` and the Space's "new project" start here: the
prompts are spread over the song on its structure (section starts, or every
few bars on the downbeats), so a video changes picture where the music
changes, before anyone has placed a keyframe by hand.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.music.tempo_range import TEMPO_RANGE
from pipelines.plan.camera import camera_preset
from pipelines.plan.timeline import FALLBACK_BPM
from pipelines.project import AudioRef, CameraSettings, Keyframe, MotionSettings, Project, RenderSettings

NEW_PROJECT_CAMERA = "zoom pulse"
"""The camera a proposed project starts with. A project file without a camera keeps a still one (as
rendered before cameras existed); a new one moves on the beat: on the tuning songs the walk's
AV-Align rose from 0.49 to 0.89 (120 BPM drums) and 0.49 to 0.73 (108 BPM), beat F unchanged
(benchmarks/camera.py --tune)."""

MIN_BARS = 4
"""Keyframes closer than this many bars are merged (section starts included)."""

MAX_BARS = 8
"""Longer stretches between section starts get extra keyframes on downbeats."""


def propose_keyframes(
    analysis, prompts: list[str], *, seed: int = 0, negative_prompt: str = "", every: int | None = None
) -> list[Keyframe]:
    """Spread prompts over a song: one keyframe every few bars, on its structure.

    Parameters
    ----------
    analysis : pipelines.music.analysis.Analysis
        The song segment's analysis (``duration``, ``tempo``, ``beats``,
        ``downbeats``, ``beats_per_bar``, ``sections``).
    prompts : list of str
        Used in turn, cycling when there are more keyframes than prompts.
    seed : int >= 0
        Seed of the first keyframe; the next ones get ``seed + 1``, ``seed + 2``, …
    negative_prompt : str
        Given to every keyframe.
    every : int > 0 or None
        Bars between keyframes, on the downbeats. ``None``: on section starts
        at least ``MIN_BARS`` apart, with stretches longer than ``MAX_BARS``
        split evenly on downbeats.

    Returns
    -------
    list of Keyframe
        Sorted, the first at 0 s, every one on a downbeat when the song has them.

    Examples
    --------
    A 30 s drum loop at 120 BPM (2 s bars) with two sections:

    >>> song = analyze(load_audio("drums.wav"))  # doctest: +SKIP
    >>> keyframes = propose_keyframes(song, ["a forest", "a city"])  # doctest: +SKIP
    >>> [(k.time, k.prompt, k.seed) for k in keyframes]  # doctest: +SKIP
    [(0.0, 'a forest', 0), (12.992, 'a city', 1), (26.993, 'a forest', 2)]
    """
    prompts = [p.strip() for p in prompts]
    if not prompts or not all(prompts):
        raise BeatwalkError("give at least one prompt, and no empty prompt")
    if every is not None and every < 1:
        raise BeatwalkError(f"every must be at least 1 bar, got {every}")
    if not 0 <= seed < 2**32:
        raise BeatwalkError(f"seed must be between 0 and 2**32 - 1, got {seed}")
    duration = float(analysis.duration)
    bar = _bar_seconds(analysis)
    grid = _downbeat_grid(analysis, bar)

    # The last keyframe sits on the last downbeat a bar (a quarter of a short song) or more before the
    # end, so the walk goes on until the song's last bar instead of resting on the last section's picture.
    last = grid[grid <= duration - min(bar, duration / 4)]
    last = float(last[-1]) if len(last) else 0.0
    if every is not None:
        anchors = np.concatenate([[0.0], grid[::every][grid[::every] >= every * bar / 2], [last]])
        times = _merge(anchors, min_gap=every * bar / 2)
    else:
        starts = [snap_to_beat(float(s["start"]), analysis, downbeats=True) for s in analysis.sections]
        anchors = _merge(np.array([0.0, *starts, last]), min_gap=MIN_BARS * bar * 0.99)
        times = _split(anchors, grid, bar=bar)
    times = [time for time in times if time <= last]
    return [
        Keyframe(
            time=round(time, 3),
            prompt=prompts[i % len(prompts)],
            negative_prompt=negative_prompt,
            seed=(seed + i) % 2**32,
        )
        for i, time in enumerate(times)
    ]


def snap_to_beat(time: float, analysis, *, downbeats: bool = False) -> float:
    """The beat (or downbeat) nearest to ``time``, seconds; ``time`` itself when there is none."""
    grid = np.asarray(analysis.downbeats if downbeats else analysis.beats, dtype=np.float64)
    if len(grid) == 0:
        return float(time)
    return float(grid[np.argmin(np.abs(grid - time))])


FROM_THE_FILE = "from the file"
"""``composition=`` default: what the song file's own tags say."""


def song_ref(
    audio_path: str | Path, analysis, *, start: float | None, end: float | None, composition=FROM_THE_FILE
) -> AudioRef:
    """The project's song: its file, segment, the tempo range its ``analysis`` was made with
    (``None`` for the default range), and how it was composed (``composition``; by default what
    the file's own tags say, :func:`pipelines.music.compose.read_composition`; None: not composed)."""
    tempo_range = tuple(analysis.tempo_range)
    if tempo_range == TEMPO_RANGE:
        tempo_range = None
    if composition is FROM_THE_FILE:
        from pipelines.music.compose import read_composition

        composition = read_composition(audio_path)
    return AudioRef(
        path=str(audio_path), start=start or 0.0, end=end, tempo_range=tempo_range, composition=composition
    )


def propose_project(
    audio_path: str | Path,
    analysis,
    prompts: list[str],
    *,
    start: float | None = None,
    end: float | None = None,
    seed: int = 0,
    negative_prompt: str = "",
    every: int | None = None,
    render: RenderSettings | None = None,
    motion: MotionSettings | None = None,
    camera: CameraSettings | None = None,
    composition=FROM_THE_FILE,
) -> Project:
    """A whole project for a song segment: keyframes from :func:`propose_keyframes`, default settings,
    and the camera of :data:`NEW_PROJECT_CAMERA` (a push on every beat) unless ``camera`` says otherwise.

    Parameters
    ----------
    audio_path : str or Path
        The song, stored as given (relative paths are read relative to the project file).
    analysis : pipelines.music.analysis.Analysis
        Analysis of the segment ``start``–``end`` of the song.
    start, end : float or None
        The segment in the song, seconds; ``None``: its start / its end.

    The analysis's tempo range is kept in ``audio.tempo_range`` (when it is not the default), so
    that the song is read the same way again when the project is planned or rendered.
    ``composition``: how the song was composed (default: what the song file's tags say; None: not
    composed).
    """
    keyframes = propose_keyframes(analysis, prompts, seed=seed, negative_prompt=negative_prompt, every=every)
    return Project(
        audio=song_ref(audio_path, analysis, start=start, end=end, composition=composition),
        keyframes=keyframes,
        motion=motion or MotionSettings(),
        camera=camera if camera is not None else camera_preset(NEW_PROJECT_CAMERA),
        render=render or RenderSettings(),
    )


def _bar_seconds(analysis) -> float:
    """Median bar length from the downbeats, else from the tempo."""
    downbeats = np.asarray(analysis.downbeats, dtype=np.float64)
    if len(downbeats) >= 3:
        return float(np.median(np.diff(downbeats)))
    tempo = analysis.tempo if analysis.tempo and analysis.tempo > 0 else FALLBACK_BPM
    return 60.0 / tempo * max(int(analysis.beats_per_bar), 1)


def _downbeat_grid(analysis, bar: float) -> np.ndarray:
    """Bar starts over the whole song: the downbeats, continued by whole bars where they are missing."""
    downbeats = np.asarray(analysis.downbeats, dtype=np.float64)
    duration = float(analysis.duration)
    if len(downbeats) == 0:
        return np.arange(0.0, duration, bar)
    before = downbeats[0] - bar * np.arange(int(downbeats[0] // bar), 0, -1)
    after = downbeats[-1] + bar * np.arange(1, int((duration - downbeats[-1]) // bar) + 1)
    grid = np.concatenate([before, downbeats, after])
    return grid[(grid >= 0) & (grid < duration)]


def _merge(anchors: np.ndarray, *, min_gap: float) -> list[float]:
    """Sorted anchors, dropping any closer than ``min_gap`` to the one kept before it.

    The first (0 s) and the last anchor stay: a middle one too close to the last gives way. The
    last goes only when it is within ``min_gap / 2`` of the first (a song of a few bars).
    """
    anchors = np.unique(anchors)
    kept = [float(anchors[0])]
    for anchor in anchors[1:]:
        if anchor - kept[-1] >= min_gap:
            kept.append(float(anchor))
    last = float(anchors[-1])
    if kept[-1] != last:
        if len(kept) > 1:
            kept.pop()
        if last - kept[0] >= min_gap / 2:
            kept.append(last)
    return kept


def _split(anchors: list[float], grid: np.ndarray, *, bar: float) -> list[float]:
    """Anchors, with stretches longer than ``MAX_BARS`` split evenly on the bar grid."""
    times = []
    for a, b in itertools.pairwise(anchors):
        pieces = max(int(np.ceil((b - a) / bar / MAX_BARS - 1e-6)), 1)
        for j in range(pieces):
            target = a + j * (b - a) / pieces
            times.append(float(grid[np.argmin(np.abs(grid - target))]) if j and len(grid) else target)
    times.append(anchors[-1])
    return sorted(set(times))
