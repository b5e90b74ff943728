"""Render tab: a low-resolution draft of the whole song, then the final video, then its sync score.

A render is a chunked job in the session's folder (``draft-job/``,
``final-job/``): Stop leaves it on disk and Resume continues it. A draft and
a final never overwrite each other, and a failed render leaves the last
video in the page.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.project import Project
from space import gpu
from space.keyframes_tab import for_space

KINDS = ("draft", "final")
STOP_FILE = "stop"
STOPPING_WAIT_SECONDS = 120
"""How long a new render waits for a stopped one of the same session to let go of its files."""

_session_locks: dict[str, threading.Lock] = {}


@dataclass
class RenderTab:
    draft: gr.Button
    final: gr.Button
    resume: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    frame: gr.Image
    video: gr.Video
    download_video: gr.DownloadButton
    download_project: gr.DownloadButton
    score: gr.Markdown
    plot: gr.Plot


def build() -> RenderTab:
    """The tab's components (inside ``gr.Tab``); events are wired in ``space.blocks``."""
    gr.Markdown(
        "**Draft** renders the whole song at low resolution with the same timing as the final, so you can "
        "check the motion quickly. **Final** uses the Motion tab's size and steps. **Stop** keeps what is done; "
        "**Resume** continues the last stopped render."
    )
    with gr.Row():
        draft = gr.Button("Render draft", variant="primary", elem_id="render-draft")
        final = gr.Button("Render final", variant="primary", elem_id="render-final")
        resume = gr.Button("Resume", elem_id="render-resume")
        stop = gr.Button("Stop", variant="stop", elem_id="render-stop")
    progress = gr.Markdown("", elem_id="render-progress")
    with gr.Row():
        frame = gr.Image(
            label="Latest frame", type="numpy", interactive=False, elem_id="render-frame", height=256
        )
        video = gr.Video(label="Video", interactive=False, elem_id="render-video")
    with gr.Row():
        download_video = gr.DownloadButton("Download mp4", value=None, elem_id="download-video")
        download_project = gr.DownloadButton("Download project JSON", value=None, elem_id="download-project")
    score = gr.Markdown("", elem_id="sync-score")
    plot = gr.Plot(
        label="Does it dance? Visual change over onset strength, beats marked", elem_id="sync-plot"
    )
    return RenderTab(
        draft, final, resume, stop, progress, frame, video, download_video, download_project, score, plot
    )


def prepare(project: Project, *, song: str | None, duration: float, limits: Limits) -> Project:
    """Check a project before any GPU time is spent on it; returns it pointed at the uploaded song."""
    if not song:
        raise BeatwalkError("upload a song first")
    project = for_space(project, song=song)
    gpu.check_model(project.render.model)
    project.validate_against(duration)
    render = project.render
    limits.check_render(
        duration=duration, width=render.width, height=render.height, fps=render.fps, steps=render.steps
    )
    return project


def check_settings(project: Project, *, limits: Limits) -> None:
    """Check the model, size and steps (what a single still costs), before a preview."""
    gpu.check_model(project.render.model)
    render = project.render
    # No song length or frame count is at stake for one still.
    limits.check_render(
        duration=0.0, width=render.width, height=render.height, fps=render.fps, steps=render.steps
    )


def run(
    project: Project, analysis: dict, folder: Path, *, kind: str, resume: bool, frames_total: int
) -> Iterator:
    """Render ``project`` into ``folder/<kind>.mp4``, GPU window after GPU window; yields ``RenderProgress``.

    Without ``resume`` a stopped job of the same kind is dropped and the render
    starts over. Ends after the progress that carries ``video_path``, or early
    when the session's stop file appears (the job stays on disk for ``resume``).
    """
    if kind not in KINDS:
        raise BeatwalkError(f"render kind must be one of {KINDS}")
    out_path, workdir, stop_file = video_path(folder, kind), folder / f"{kind}-job", folder / STOP_FILE
    # A render whose event was cancelled (a page closed, a client's job cancelled) is closed by
    # Gradio once its current batch ends, and closing it removes its unfinished chunk file: wait
    # for that before this render writes the same file (and before two renders share the model).
    lock = _session_locks.setdefault(str(folder), threading.Lock())
    if not lock.acquire(timeout=STOPPING_WAIT_SECONDS):
        raise BeatwalkError("the previous render of this session is still stopping: try again in a moment")
    try:
        stop_file.unlink(missing_ok=True)
        if not resume:
            shutil.rmtree(workdir, ignore_errors=True)
        window = gpu.gpu_window_seconds()
        frames_left, done_before = frames_total, -1
        while True:
            last = None
            windows = gpu.render_window(
                project.to_json(),
                analysis,
                str(out_path),
                str(workdir),
                frames_left=frames_left,
                draft=kind == "draft",
                resume=resume,
                window=window,
                stop_file=str(stop_file),
            )
            try:
                for progress in windows:
                    last = progress
                    yield progress
            finally:
                windows.close()  # the render's own clean-up runs before the lock is let go
            if last is None or last.video_path or stop_file.exists() or window is None:
                return
            if last.frames_done <= done_before:
                raise BeatwalkError(
                    f"the render made no progress in a {window:g} s GPU window: raise BEATWALK_GPU_WINDOW_SECONDS"
                )
            # The window ran out: the next one resumes the job where this one left it.
            frames_left, done_before, resume = last.frames_total - last.frames_done, last.frames_done, True
    finally:
        lock.release()


def request_stop(folder: Path) -> None:
    """Ask the running render of this session to stop at its next check (its job stays on disk)."""
    (folder / STOP_FILE).touch()


def score(video: str, analysis):
    """The sync score of a rendered video against its song's analysis (``SyncScore``)."""
    from pipelines.score.sync import score_video

    return score_video(video, analysis=analysis)


def plot_score(score):
    from pipelines.plots import plot_sync

    return plot_sync(score)


def stopped_message(state: dict) -> str:
    return (
        f"⏹️ Stopped at {state['frames_done']} / {state['frames_total']} frames. "
        "**Resume** continues from the last finished chunk."
    )


def stop_requested(folder: Path) -> bool:
    return (folder / STOP_FILE).exists()


def video_path(folder: Path, kind: str) -> Path:
    return folder / f"{kind}.mp4"


def describe_progress(progress) -> str:
    done, total = progress.frames_done, progress.frames_total
    eta = "" if progress.eta is None else f" · about {_clock(progress.eta)} left"
    return f"**{done} / {total} frames** · {_clock(progress.elapsed)} elapsed{eta}"


def describe_score(score) -> str:
    correlation = "–" if score.correlation is None else f"{score.correlation:.2f}"
    return (
        f"**Sync: F-measure {score.f_measure:.2f}** (visual peaks on beats within ±1 frame; "
        f"precision {score.precision:.2f}, recall {score.recall:.2f}) · correlation with onset strength "
        f"{correlation} · best audio-visual offset {score.offset_ms:+.0f} ms · DTW distance {score.dtw_distance:.3f}"
    )


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
