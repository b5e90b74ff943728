"""The Audio tab's Compose panel: no song yet? Words in, a song out (MusicGen), straight into the
analysis and on to the video. Variations to pick from, progress, Stop; the licence of the chosen
model beside it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from space.errors import user_errors
from space.page import Page, private, unchanged

MAX_PLAYERS = 4
"""Variations the page can show at once (the limit may allow fewer)."""
UNLIMITED_SECONDS = 600
EXAMPLE_PROMPT = "an upbeat synthwave track with a driving bass line and punchy drums, 120 bpm"


@dataclass
class ComposePanel:
    prompt: gr.Textbox
    seconds: gr.Slider
    variations: gr.Slider
    model: gr.Dropdown
    licence: gr.Markdown
    seed: gr.Number
    melody: gr.Audio
    guidance: gr.Slider
    temperature: gr.Slider
    top_k: gr.Slider
    compose: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    players: list = field(default_factory=list)
    use: list = field(default_factory=list)
    pending: gr.State = None  # the composed song just put into the song input, for the analysis

    @property
    def settings(self) -> list:
        return [self.prompt, self.seconds, self.variations, self.model, self.seed, self.guidance,
                self.temperature, self.top_k, self.melody]  # fmt: skip


def max_seconds(limits: Limits) -> int:
    return int(limits.max_compose_seconds) if limits.max_compose_seconds else UNLIMITED_SECONDS


def max_variations(limits: Limits) -> int:
    return min(MAX_PLAYERS, limits.max_variations or MAX_PLAYERS)


def build(limits: Limits) -> ComposePanel:
    """The panel's components (inside the Audio tab)."""
    from pipelines.music.compose import MODELS, licence_of
    from space.gpu import default_music_model

    model = default_music_model()
    with gr.Accordion("No song yet? Compose one from words", open=False, elem_id="compose"):
        prompt = gr.Textbox(label="What the music should be", placeholder=EXAMPLE_PROMPT, lines=2, elem_id="compose-prompt")
        with gr.Row():
            longest = max_seconds(limits)
            seconds = gr.Slider(1, longest, value=min(30, longest), step=1, label="Length (s)", elem_id="compose-seconds")
            variations = gr.Slider(1, max_variations(limits), value=1, step=1, label="Variations to pick from",
                                   elem_id="compose-variations")  # fmt: skip
        with gr.Row():
            choices = list(dict.fromkeys([model, *MODELS]))
            chosen = gr.Dropdown(choices, value=model, label="Music model", allow_custom_value=True, elem_id="compose-model")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed (same seed, same song)", elem_id="compose-seed")
        licence = gr.Markdown(_licence_line(model, licence_of), elem_id="compose-licence")
        melody = gr.Audio(
            type="filepath", sources=["upload"], elem_id="compose-melody",
            label="Melody to follow (optional; facebook/musicgen-melody, or tiny)",
        )  # fmt: skip
        with gr.Accordion("Sampling", open=False):
            with gr.Row():
                guidance = gr.Slider(1, 10, value=3, step=0.5, label="Guidance (1: none)", elem_id="compose-guidance")
                temperature = gr.Slider(0.1, 2, value=1, step=0.05, label="Temperature", elem_id="compose-temperature")
                top_k = gr.Slider(1, 2048, value=250, step=1, label="Top-k", elem_id="compose-top-k")
        with gr.Row():
            compose = gr.Button("Compose", variant="primary", elem_id="compose-run")
            stop = gr.Button("Stop", variant="stop", elem_id="compose-stop")
        progress = gr.Markdown("", elem_id="compose-progress")
        players, use = [], []
        for i in range(max_variations(limits)):
            with gr.Row():
                players.append(gr.Audio(type="filepath", interactive=False, visible=False, label=f"Song {i + 1}",
                                        elem_id=f"compose-song-{i}"))  # fmt: skip
                use.append(gr.Button(f"Use song {i + 1}", visible=False, size="sm", elem_id=f"compose-use-{i}"))
    return ComposePanel(
        prompt, seconds, variations, chosen, licence, seed, melody, guidance, temperature, top_k, compose, stop,
        progress, players, use, gr.State(None),
    )  # fmt: skip


def _licence_line(model: str, licence_of) -> str:
    return f"Weights' licence: **{licence_of(model)}**."


def wire(page: Page, limits: Limits) -> None:
    """Compose (then the first song is analysed as the project's song), Use song N, Stop, and the
    licence line that follows the model."""
    from pipelines.music.compose import licence_of
    from space import audio_tab, composing
    from space.session import session_dir
    from space.views import redraw

    panel, audio = page.audio.compose, page.audio
    panel.model.change(lambda m: _licence_line(m or "tiny", licence_of), panel.model, panel.licence, **private())

    @user_errors
    def check(prompt, seconds, variations, model, seed, guidance, temperature, top_k, melody):
        settings_of(prompt, seconds, model, seed, guidance, temperature, top_k)
        limits.check_compose(seconds=float(seconds), variations=int(variations))
        return "🎹 Starting…"

    @user_errors
    def run(prompt, seconds, variations, model, seed, guidance, temperature, top_k, melody, request: gr.Request):
        settings = settings_of(prompt, seconds, model, seed, guidance, temperature, top_k)
        folder = session_dir(request)
        steps = composing.compose_in_session(
            settings, folder, variations=int(variations), melody=melody or None, limits=limits
        )
        last = None
        try:
            with contextlib.closing(steps):  # the session's lock goes with the last song
                for last in steps:
                    if last.finished or last.stopped:
                        break
                    yield {panel.progress: composing.describe(last)}
        except Exception as exc:  # e.g. a melody that is not audio: said on the line, and in a toast
            yield {panel.progress: f"❌ {exc}" if isinstance(exc, BeatwalkError) else "❌ The composition failed."}
            raise
        yield shown(last)

    def shown(last) -> dict:
        paths = list(last.paths) if last is not None else []
        updates = {panel.progress: composing.describe(last) if last is not None else ""}
        if not paths:  # stopped before a song was finished: the players keep the songs they had
            return updates | {panel.pending: None}
        for i, (player, button) in enumerate(zip(panel.players, panel.use, strict=True)):
            found = i < len(paths)
            updates[player] = gr.Audio(value=paths[i] if found else None, visible=found)
            updates[button] = gr.Button(visible=found and len(paths) > 1)
        return updates | chosen(paths[0])

    def chosen(path: str) -> dict:
        """The song input takes a composed song, whole, and the analysis follows."""
        return {audio.song: path, audio.start: 0, audio.end: None, panel.pending: path}

    analyse, inputs, outputs = audio_tab.analysis_event(page, limits)

    def analyse_chosen(pending, *values):
        if not pending:  # stopped before a song was finished: the song input is as it was
            return unchanged(page.analysis)
        return analyse(*values)

    outputs_run = {panel.progress, panel.pending, audio.song, audio.start, audio.end, *panel.players, *panel.use}
    checked = panel.compose.click(check, panel.settings, panel.progress, **private())
    composed = checked.success(
        run, panel.settings, outputs_run,
        **private(concurrency_id="render", concurrency_limit=limits.max_concurrent_renders),
    )  # fmt: skip
    redraw(audio_tab.analysed(composed.success(analyse_chosen, [panel.pending, *inputs], outputs, **private()), page),
           page, limits)  # fmt: skip

    for i, button in enumerate(panel.use):
        picked = button.click(lambda path: chosen(path), panel.players[i], {audio.song, audio.start, audio.end,
                              panel.pending}, **private())  # fmt: skip
        redraw(audio_tab.analysed(picked.success(analyse_chosen, [panel.pending, *inputs], outputs, **private()),
                                  page), page, limits)  # fmt: skip

    @user_errors
    def stop(request: gr.Request):
        folder = session_dir(request)
        if not composing.composing(folder):
            return "No song is being composed."
        composing.request_stop(folder)
        return "⏹️ Stopping…"

    panel.stop.click(stop, None, panel.progress, **private(queue=False))


def settings_of(prompt, seconds, model, seed, guidance, temperature, top_k):
    """The composition the panel's values ask for; bad values in one line."""
    from pipelines.music.compose import composition

    if seconds in (None, ""):
        raise BeatwalkError("give the song's length")
    return composition(
        model=(model or "tiny").strip(), prompt=prompt or "", seconds=float(seconds), seed=int(seed or 0),
        guidance=float(guidance), temperature=float(temperature), top_k=int(top_k),
    )  # fmt: skip


def is_pending(song: str | None, pending: str | None) -> bool:
    """Whether the song input holds the composed song just put there (Gradio hands back a copy of
    the file, under the same name)."""
    from pathlib import Path

    return bool(song and pending and Path(song).name == Path(pending).name)
