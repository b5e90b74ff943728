"""Renders in a session: the one generator behind the page's Render buttons and the API's /render.

A render is a chunked job in the session's folder (``draft-job/``, ``final-job/``), run GPU window
after GPU window (:func:`space.gpu.render_window`): Stop leaves it on disk and Resume continues
it. A draft and a final never overwrite each other, and a failed render leaves the last video
where it was.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.admission import admit_render, for_download
from pipelines.errors import BeatwalkError
from pipelines.frames import frame_count
from pipelines.limits import Limits
from pipelines.project import Project
from pipelines.render.jobs import OtherJobError
from space import gpu

KINDS = ("draft", "final")
STOP_FILE = "stop"
STOPPING_WAIT_SECONDS = 120
"""How long a new render waits for a stopped one of the same session to let go of its files."""

_session_locks: dict[str, threading.Lock] = {}


@dataclass
class RenderStep:
    """Where a render in a session stands; :func:`render_in_session` yields one after every batch.

    ``progress`` is None before the first batch. A finished render yields twice more: with
    ``video`` and ``project_file``, then with its ``score`` as well. A stopped one ends with
    ``stopped``.
    """

    project: Project
    kind: str
    frames_done: int
    frames_total: int
    progress: object = None  # pipelines.render.runner.RenderProgress
    stopped: bool = False
    video: str | None = None
    project_file: Path | None = None
    score: object = None  # pipelines.score.sync.SyncScore


def render_in_session(
    project: Project,
    analysis,
    *,
    song: str | None,
    folder: Path,
    kind: str,
    resume: bool,
    limits: Limits,
    images: Path | None = None,
) -> Iterator[RenderStep]:
    """Render ``project`` on the uploaded ``song`` (analysed as ``analysis``) into ``folder/<kind>.mp4``.

    The project is admitted first (:func:`pipelines.admission.admit_render`): nothing is rendered
    and no GPU time is asked for unless it is within the limits; its init images must be ones the
    Space kept in ``images`` (the page's session folder; none through the API). After the video the project is
    saved for download (``folder/beatwalk-project.json``, its song named by file name only) and
    the video is scored against ``analysis``.
    """
    project = admit_render(project, song=song, duration=analysis.duration, limits=limits, images=images)
    frames_total = frame_count(analysis.duration, project.render.fps)
    step = RenderStep(project, kind, 0, frames_total)
    yield step
    progresses = run(project, analysis.to_dict(), folder, kind=kind, resume=resume, frames_total=frames_total)
    progress = None
    try:
        for progress in progresses:
            step = RenderStep(project, kind, progress.frames_done, progress.frames_total, progress=progress)
            yield step
    finally:
        progresses.close()  # a cancelled event (page closed) closes this generator: end the render now
    if progress is None or progress.video_path is None:
        yield RenderStep(project, kind, step.frames_done, step.frames_total, progress=progress, stopped=True)
        return
    from pipelines.score.sync import score_video

    exported = for_download(project, song=song).save(folder / "beatwalk-project.json")
    done = RenderStep(project, kind, frames_total, frames_total, progress, video=progress.video_path,
                      project_file=exported)  # fmt: skip
    yield done
    done.score = score_video(progress.video_path, analysis=analysis)
    yield done


def run(
    project: Project, analysis: dict, folder: Path, *, kind: str, resume: bool, frames_total: int
) -> Iterator:
    """Render ``project`` into ``folder/<kind>.mp4``, GPU window after GPU window; yields ``RenderProgress``.

    Without ``resume`` a stopped job of the same kind is dropped and the render starts over. Ends
    after the progress that carries ``video_path``, or early when the session's stop file appears
    (the job stays on disk for ``resume``).
    """
    if kind not in KINDS:
        raise BeatwalkError(f"render kind must be one of {KINDS}")
    out_path, workdir, stop_file = video_path(folder, kind), folder / f"{kind}-job", folder / STOP_FILE
    # A render whose event was cancelled (a page closed, a client's job cancelled) is closed by
    # Gradio once its current batch ends, and closing it removes its unfinished chunk file: wait
    # for that before this render writes the same file (and before two renders share the model).
    lock = _session_locks.setdefault(str(folder), threading.Lock())
    if lock.locked() and not stop_file.exists():
        raise BeatwalkError("a render is already running in this session: stop it first, or wait for it")
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
                project.to_json(), analysis, str(out_path), str(workdir), frames_left=frames_left,
                draft=kind == "draft", resume=resume, window=window, stop_file=str(stop_file),
            )  # fmt: skip
            try:
                for progress in windows:
                    last = progress
                    yield progress
            except OtherJobError:
                raise BeatwalkError(
                    "the stopped render was of another project or analysis of the song: render it anew"
                ) from None
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


def running(folder: Path) -> bool:
    """Whether a render of this session is running (it holds the session's lock)."""
    lock = _session_locks.get(str(folder))
    return lock is not None and lock.locked()


def request_stop(folder: Path) -> None:
    """Ask the running render of this session to stop at its next check (its job stays on disk)."""
    (folder / STOP_FILE).touch()


def stop_requested(folder: Path) -> bool:
    return (folder / STOP_FILE).exists()


def video_path(folder: Path, kind: str) -> Path:
    return folder / f"{kind}.mp4"
