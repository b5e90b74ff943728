"""Audio tab: pick a song, trim a segment, analyse it, and see what Beatwalk heard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.music.tempo_range import TEMPO_BOUNDS, TEMPO_RANGE, with_defaults

EXAMPLE_SONG = Path(__file__).resolve().parent.parent / "examples" / "beatwalk-demo.ogg"


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


def build(limits: Limits) -> AudioTab:
    """The tab's components (inside ``gr.Tab``); events are wired in ``space.blocks``."""
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
    summary = gr.Markdown(
        "Upload a song (or pick the example), then **Analyse**.", elem_id="analysis-summary"
    )
    plot = gr.Plot(label="Waveform, beats, downbeats, sections; tempo; energy", elem_id="analysis-plot")
    return AudioTab(song, start, end, slowest, fastest, half, double, analyze, summary, plot)


def analyze_song(
    song: str | None, start: float | None, end: float | None, *, limits: Limits,
    tempo_range: tuple[float | None, float | None] | None = None,
):  # fmt: skip
    """Decode and analyse the segment, the beat within ``tempo_range`` (an empty end: the
    default's); returns ``(Audio, Analysis)``.

    The file is decoded by content (``pipelines.music.decode``), so anything that is
    not audio is refused with one line, whatever its name says.
    """
    from pipelines.music.analysis import analyze
    from pipelines.music.decode import load_audio

    if not song:
        raise BeatwalkError("upload a song first (or pick the example)")
    start, end = segment(start, end)
    audio = load_audio(song, start=start, end=end, max_duration=limits.max_song_seconds)
    return audio, analyze(audio, tempo_range=with_defaults(*(tempo_range or (None, None))))


def tempo_range_values(project) -> tuple[float, float]:
    """What the tempo range boxes show for a project."""
    return tuple(project.audio.tempo_range or TEMPO_RANGE)


def segment(start: float | None, end: float | None) -> tuple[float, float | None]:
    """The segment as the pipelines take it: start 0 and end None when left empty."""
    return float(start or 0.0), (float(end) if end else None)


def describe(analysis) -> str:
    """One short Markdown paragraph: what was found."""
    sections = " ".join(s["label"] for s in analysis.sections)
    tempo = f"**{analysis.tempo:.1f} BPM**" if analysis.tempo else "**no steady beat found**"
    return (
        f"{tempo} · {len(analysis.beats)} beats, {len(analysis.downbeats)} bars of {analysis.beats_per_bar} · "
        f"{len(analysis.onsets)} onsets · {analysis.duration:.1f} s · sections: {sections or '–'}"
    )


def figure(analysis, audio):
    from pipelines.plots import plot_analysis

    return plot_analysis(analysis, audio)


def range_at(analysis_dict: dict | None, factor: float) -> tuple[float, float]:
    """The tempo range boxes' values that read the analysed song at ``factor`` times the tempo
    found (½: half, 2: double): one octave around it."""
    from pipelines.music.tempo_range import octave_around

    if not analysis_dict:
        raise BeatwalkError("analyse a song first")
    tempo = analysis_dict.get("tempo") or 0.0
    if not tempo > 0:
        raise BeatwalkError("no steady beat was found, so there is no tempo to halve or double")
    return octave_around(tempo * factor)
