"""Audio tab: pick a song, trim a segment, analyse it, and see what Beatwalk heard."""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.music.tempo_range import TEMPO_BOUNDS, TEMPO_RANGE, octave_at, with_defaults
from space.errors import user_errors
from space.page import Page, parse, private, unchanged
from space.views import redraw

EXAMPLE_SONG = Path(__file__).resolve().parent.parent / "examples" / "beatwalk-demo.ogg"
SUMMARY = "Upload a song (or pick the example), then **Analyse**."


@dataclass
class AudioTab:
    song: gr.Audio
    start: gr.Number
    end: gr.Number
    slowest: gr.Number
    fastest: gr.Number
    half: gr.Button
    double: gr.Button
    analyze: gr.Button
    summary: gr.Markdown
    plot: gr.Plot
    compose: object = None  # compose_panel.ComposePanel


def build(limits: Limits) -> AudioTab:
    """The tab's components (inside ``gr.Tab``)."""
    from space import compose_panel

    compose = compose_panel.build(limits)
    upload_note = f"up to {limits.max_upload_mb:g} MB" if limits.max_upload_mb else "any size"
    song_note = f"up to {limits.max_song_seconds:g} s per video" if limits.max_song_seconds else "any length"
    song = gr.Audio(
        type="filepath",
        sources=["upload"],
        label=f"Song (any audio file ffmpeg reads; {upload_note}, {song_note})",
        elem_id="song",
    )
    if EXAMPLE_SONG.is_file():
        # No fn: picking the example only fills the input, nothing is cached or rendered at start-up.
        gr.Examples([[str(EXAMPLE_SONG)]], inputs=[song], label="Example song", cache_examples=False)
    with gr.Row():
        start = gr.Number(0, label="Segment start (s)", minimum=0, elem_id="segment-start")
        end = gr.Number(None, label="Segment end (s; empty: end of song)", minimum=0, elem_id="segment-end")
        analyze = gr.Button("Analyse", variant="primary", elem_id="analyze")
    with gr.Accordion("Tempo range", open=False):
        gr.Markdown(
            "If the beats come out at twice or half the song's tempo, narrow the range around the right "
            "tempo and **Analyse** again, or let the buttons set it one octave around half or double the "
            "tempo found and analyse again; the project keeps the range for the render."
        )
        with gr.Row():
            slowest = gr.Number(
                TEMPO_RANGE[0], label="Slowest tempo (BPM)", minimum=TEMPO_BOUNDS[0], maximum=TEMPO_BOUNDS[1],
                elem_id="tempo-slowest",
            )  # fmt: skip
            fastest = gr.Number(
                TEMPO_RANGE[1], label="Fastest tempo (BPM)", minimum=TEMPO_BOUNDS[0], maximum=TEMPO_BOUNDS[1],
                elem_id="tempo-fastest",
            )  # fmt: skip
        with gr.Row():
            half = gr.Button("Half the tempo (½×)", size="sm", elem_id="tempo-half")
            double = gr.Button("Double the tempo (2×)", size="sm", elem_id="tempo-double")
    summary = gr.Markdown(SUMMARY, elem_id="analysis-summary")
    plot = gr.Plot(label="Waveform, beats, downbeats, sections; tempo; energy", elem_id="analysis-plot", elem_classes=["wide-plot"])
    return AudioTab(song, start, end, slowest, fastest, half, double, analyze, summary, plot, compose)


def wire(page: Page, limits: Limits) -> None:
    """Analyse, the ½× / 2× tempo buttons (which set the range, then analyse again), and the
    Compose panel."""
    from space import compose_panel
    audio = page.audio
    analyse, inputs, outputs = analysis_event(page, limits)
    redraw(analysed(audio.analyze.click(analyse, inputs, outputs, **private()), page), page, limits)

    for button, factor in ((audio.half, 0.5), (audio.double, 2.0)):
        ranged = button.click(_range_at(factor), page.analysis, [audio.slowest, audio.fastest], **private())
        redraw(analysed(ranged.success(analyse, inputs, outputs, **private()), page), page, limits)

    # Another song (or none): what was found in the last one is not shown as this one's. A song
    # just composed is analysed by the Compose panel's own chain, so it is not forgotten here.
    def forget(song, pending):
        if compose_panel.is_pending(song, pending):
            return unchanged(page.analysis)
        summary = SUMMARY if not song else "Press **Analyse**."
        return {page.analysis: None, page.description: None, audio.summary: summary, audio.plot: None}

    audio.song.change(
        forget, [audio.song, audio.compose.pending], {page.analysis, page.description, audio.summary, audio.plot},
        **private(),
    )  # fmt: skip
    compose_panel.wire(page, limits)


def analysed(event, page: Page):
    """Chain the analysis's note to the Keyframes tab (outside the analysis's own outputs, so that
    a refused song marks nothing on that tab)."""
    return event.success(lambda note: note, page.notice, page.keys.status, **private())


def _range_at(factor: float):
    """The handler of a tempo button: the range that reads the analysed song at ``factor`` times
    the tempo found."""

    @user_errors
    def set_range(analysis_dict):
        if not analysis_dict:
            raise BeatwalkError("analyse a song first")
        return octave_at(analysis_dict.get("tempo") or 0.0, factor)

    return set_range


def analysis_event(page: Page, limits: Limits):
    """``(fn, inputs, outputs)`` of analysing the song: the Analyse button's, and the one that runs
    again after a project is imported (``fn`` does nothing without a song then)."""
    from pipelines.plan.edits import project_for_song
    from space import motion_tab

    audio, keys, motion = page.audio, page.keys, page.motion

    @user_errors
    def analyse(song, start, end, slowest, fastest, project_json, prompts, negative, seed, *values):
        from pipelines.music.tagging import describe_with_tags

        song_audio, result = read_song(song, start, end, limits=limits, tempo_range=(slowest, fastest))
        description, tagger_note = describe_with_tags(song_audio, result, os.environ.get("BEATWALK_TAGGER"))
        if tagger_note:
            gr.Warning(tagger_note)
        start, end = segment(start, end)
        current = parse(project_json) if project_json else None
        new, note = project_for_song(
            current, result, song=song, start=start, end=end, prompts=prompts, negative_prompt=negative,
            seed=0 if seed in (None, "") else int(seed),
            render=motion_tab.fresh_render(motion_tab.value_of(values, "model"), limits),
        )  # fmt: skip
        new = motion_tab.apply_settings(new, values)
        return {
            page.analysis: result.to_dict(),
            page.description: description.to_dict(),
            audio.summary: describe(result, description),
            audio.plot: figure(result, song_audio, description),
            page.project: new.to_json(),
            page.notice: note,
        }

    inputs = [audio.song, audio.start, audio.end, audio.slowest, audio.fastest, page.project,
              keys.prompts, keys.negative, keys.seed, *motion.inputs]  # fmt: skip
    outputs = {page.analysis, page.description, audio.summary, audio.plot, page.project, page.notice}
    return analyse, inputs, outputs


def read_song(
    song: str | None, start: float | None, end: float | None, *, limits: Limits,
    tempo_range: tuple[float | None, float | None] | None = None,
):  # fmt: skip
    """Decode and analyse the uploaded song's segment, the beat within ``tempo_range`` (an empty end:
    the default's); returns a ``Song`` ``(audio, analysis)``.

    The file is decoded by content (``pipelines.music.decode``), so anything that is not audio is
    refused with one line, whatever its name says.
    """
    from pipelines.music.song import read_song as read

    if not song:
        raise BeatwalkError("upload a song first (or pick the example)")
    start, end = segment(start, end)
    tempo_range = with_defaults(*(tempo_range or (None, None)))
    return read(song, start=start, end=end, tempo_range=tempo_range, max_seconds=limits.max_song_seconds)


def tempo_range_values(project) -> tuple[float, float]:
    """What the tempo range boxes show for a project."""
    return tuple(project.audio.tempo_range or TEMPO_RANGE)


def segment(start: float | None, end: float | None) -> tuple[float, float | None]:
    """The segment as the pipelines take it: start 0 and end None when left empty."""
    return float(start or 0.0), (float(end) if end else None)


def describe(analysis, description=None) -> str:
    """One short Markdown paragraph: what was found."""
    sections = " ".join(s["label"] for s in analysis.sections)
    tempo = f"**{analysis.tempo:.1f} BPM**" if analysis.tempo else "**no steady beat found**"
    key = f" · **{description.key} {description.mode}**" if description is not None and description.key else ""
    return (
        f"{tempo}{key} · {len(analysis.beats)} beats, {len(analysis.downbeats)} bars of {analysis.beats_per_bar} · "
        f"{len(analysis.onsets)} onsets · {analysis.duration:.1f} s · sections: {sections or '–'}"
    )


def figure(analysis, audio, description=None):
    from pipelines.plots import plot_analysis

    return plot_analysis(analysis, audio, description)
