"""Render a project to an mp4: song → frame plan → walk → chunked, resumable job → video.

A render is a job on disk (see :mod:`pipelines.render.jobs`): frames are denoised
chunk by chunk, each chunk streamed into its own H.264 file, and the finished
chunks are joined without re-encoding, with the song's segment as soundtrack.
Killed at any moment, a render resumed with ``resume=True`` renders only the
chunks not yet finished, and its video equals an uninterrupted render's:
chunks start on batch boundaries, so every frame is denoised in the very same
batch either way.

Next to the video a sidecar ``<video stem>.json`` holds the project as
rendered, so any video can be rendered again exactly.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.project import Project
from pipelines.render.jobs import RenderJob, default_chunk_frames, plan_hash, project_hash
from pipelines.render.video import Soundtrack, VideoWriter, h264_encoder, join_chunks, nvenc_works

DRAFT_MAX_SIDE = 256
"""A draft is half size, and at most this many pixels on its longer side."""
MIN_SIDE = 64
SOUNDTRACK = "soundtrack.m4a"
"""The song's segment as AAC, encoded in the job folder while the frames render."""


@dataclass
class RenderProgress:
    """Where a render stands.

    Attributes
    ----------
    frames_done : int
        Frames rendered so far, those of chunks finished before a resume included.
    frames_total : int
        Frames of the whole video, ``frame_count(duration, fps)``.
    elapsed : float
        Seconds since this render (or resume) started.
    eta : float or None
        Seconds left, from this run's speed; None before the first batch.
    video_path : str or None
        Set on the last progress of a finished render: the mp4.
    last_frame : np.ndarray [shape=(height, width, 3), uint8] or None
        The latest frame, for a preview.
    """

    frames_done: int
    frames_total: int
    elapsed: float
    eta: float | None
    video_path: str | None = None
    last_frame: np.ndarray | None = None


def iter_render(
    project: Project,
    out_path: str | Path,
    *,
    analysis=None,
    resume: bool = False,
    draft: bool = False,
    workdir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
    pipe=None,
    chunk_frames: int | None = None,
    farm=None,
    processes: int | None = None,
) -> Iterator[RenderProgress]:
    """Render ``project`` to ``out_path``, yielding progress after every batch.

    Parameters
    ----------
    project : Project
        What to render. Limits (song length, size, steps) are the caller's to apply.
    out_path : str or Path
        The ``.mp4`` to write; its folder must exist. The sidecar goes beside it.
    analysis : Analysis or None
        The song segment's analysis, if already made (it is not made again).
    resume : bool
        Continue the unfinished job in ``workdir`` (a new one starts if there is none). With the
        default ``workdir``, a job of the same project and frame plan that was rendering to another
        output is found and continued.
    draft : bool
        Render at a lower resolution (:func:`draft_size`) with the same frame
        plan, steps and seeds, in a job folder of its own.
    workdir : str or Path or None
        The job folder; default ``<out_path>.parts`` (``<out_path>.draft-parts``).
    should_stop : callable or None
        Asked between batches; when it returns True the render stops, keeping
        its finished chunks for a resume. The last progress then has no ``video_path``.
    pipe : diffusers pipeline or None
        A loaded pipeline to use; default ``load_pipeline`` of the project's model.
    chunk_frames : int or None
        Frames per chunk for a new job; default about 4 s of video in whole
        batches. A resumed job keeps its own.
    farm : Farm or None
        Render the chunks on these Ray workers (:class:`pipelines.render.farm.Farm`) instead of in
        this process; the job, the join and the video are this process's either way, and the
        frames the same.
    processes : int or None
        On a CPU, render the chunks in this many forked processes of this one
        (:mod:`pipelines.render.processes`; the caller vouches that forking this process is
        safe); default ``BEATWALK_RENDER_PROCESSES``, else one per core, where forking is safe
        (this process runs no other thread), else 1.

    Yields
    ------
    RenderProgress
    """
    started = time.monotonic()
    out_path = Path(out_path)
    _check_output(out_path)
    if draft:
        width, height = draft_size(project.render.width, project.render.height)
        project = project.model_copy(
            update={"render": project.render.model_copy(update={"width": width, "height": height})}
        )
    indexed = workdir is None  # a folder named after the output: a resume to another output finds it
    if indexed:
        workdir = default_workdir(out_path, draft=draft)
    render = project.render

    # 1. The song and its analysis.
    if analysis is None:
        analysis = project.audio.analysis()
    elif not Path(project.audio.path).is_file():
        raise BeatwalkError(f"song not found: {project.audio.path}")
    project.validate_against(analysis.duration)

    # 2. The model, the frame plan, and the job on disk that renders it.
    from pipelines.plan.camera import plan_camera
    from pipelines.plan.timeline import plan_frames

    plan = plan_frames(project, analysis)
    camera = plan_camera(project, analysis)
    if pipe is None and farm is None:
        from pipelines.diffusion.models import load_pipeline

        pipe = load_pipeline(render.model, dtype=render.dtype, fast_decoder=render.fast_decoder)
    if farm is not None:  # every worker loads the model before the job starts: a model that cannot load is one line
        farm.load(render.model, dtype=render.dtype, fast_decoder=render.fast_decoder)
    from pipelines.diffusion.batching import render_batch_size

    # A farm's workers batch for their kind of device (unprobed); this process for its pipeline's.
    batch = render_batch_size(project, pipe=pipe, device=str(pipe.device) if pipe is not None else farm.device or "cpu")
    # NVENC where this process renders on a GPU that has it; a farm's workers (other machines,
    # perhaps) get libx264 unless the project names their encoder.
    if farm is not None:
        encoder = "libx264" if render.encoder == "auto" else render.encoder
    else:
        encoder = h264_encoder(render.encoder, str(pipe.device))
    job = RenderJob.start(
        workdir,
        project_hash=project_hash(project),
        plan_hash=plan_hash(plan),
        n_frames=plan.n_frames,
        chunk_frames=chunk_frames or default_chunk_frames(plan.fps, batch),
        resume=resume,
        indexed=indexed,
        batch_size=batch,
        encoder=encoder,
    )
    chunks_encoder = job.encoder or "libx264"  # a job from before encoders were recorded: libx264's
    if farm is None and chunks_encoder == "h264_nvenc" and not nvenc_works():  # a farm's workers encode
        raise BeatwalkError(
            f"the unfinished render in {job.workdir} was encoded with h264_nvenc, which cannot run here: "
            "resume it where it can, or delete that folder to start over"
        )
    # The frames, the farm and the sidecar see the batch size and encoder the job renders with (a
    # resumed job's own).
    project = project.model_copy(
        update={"render": render.model_copy(update={"batch_size": job.batch_size or batch, "encoder": chunks_encoder})}
    )
    if render.renderer == "feedback":  # a chain: finished chunks count only as far as each one's last frame is kept
        job.keep_chain()
    yield RenderProgress(job.frames_done, plan.n_frames, time.monotonic() - started, None)

    # The song's AAC is encoded beside the render, for the join to copy (not encode) it.
    soundtrack = Soundtrack(project.audio, job.workdir / SOUNDTRACK, fps=plan.fps, n_frames=plan.n_frames)
    try:
        # 3. The pending chunks, batch by batch: here, or on the farm's workers.
        try:
            if farm is not None:
                steps = farm.render_chunks(job, project, plan, camera, should_stop=should_stop)
            else:
                steps = _render_chunks(job, project, pipe, plan, camera, should_stop=should_stop, processes=processes)
            resumed_at, render_started = job.frames_done, time.monotonic()
            with contextlib.closing(steps):
                for done, frame in steps:
                    if done is None:  # stopped: the finished chunks stay for a resume
                        yield RenderProgress(job.frames_done, plan.n_frames, time.monotonic() - started, None)
                        return
                    speed = (done - resumed_at) / (time.monotonic() - render_started)
                    eta = (plan.n_frames - done) / speed if speed > 0 else None
                    yield RenderProgress(done, plan.n_frames, time.monotonic() - started, eta, last_frame=frame)
        except BeatwalkError as exc:  # the failing chunk's file is gone; the finished ones stay
            raise BeatwalkError(_kept(str(exc), job)) from None

        # 4. Join the chunks with the song, write the sidecar, drop the job.
        joined = out_path.with_name(out_path.name + ".partial.mp4")
        try:
            join_chunks(
                [job.path(c) for c in job.chunks],
                joined,
                fps=plan.fps,
                n_frames=plan.n_frames,
                audio=project.audio,
                soundtrack=soundtrack.path(),
            )
            os.replace(joined, out_path)
            # The sidecar keeps the encoder asked for ("auto" picks again wherever it is rendered next).
            project.model_copy(update={"render": project.render.model_copy(update={"encoder": render.encoder})}).save(
                sidecar_path(out_path)
            )
        except (OSError, BeatwalkError) as exc:
            # What the join wrote goes (it would keep a full disk full); the finished chunks stay.
            joined.unlink(missing_ok=True)
            reason = (
                f"cannot write {out_path.name}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
            )
            raise BeatwalkError(_kept(reason, job)) from None
        soundtrack.cancel()  # copied into the video: its file goes before the job's folder
        job.remove()
        yield RenderProgress(
            plan.n_frames, plan.n_frames, time.monotonic() - started, 0.0, video_path=str(out_path)
        )
    finally:  # a stop, an error, a closed generator: the background encoding goes too
        soundtrack.cancel()


def _render_chunks(job: RenderJob, project: Project, pipe, plan, camera, *, should_stop=None, processes=None):
    """Render the job's pending chunks on this machine: yields ``(frames done, latest frame)`` after
    every batch, and ``(None, None)`` when ``should_stop`` stops it (the chunk under way is dropped,
    unless its last batch is done). On a CPU, in several processes (:mod:`pipelines.render.processes`)."""
    from pipelines.diffusion.conditioning import KeyframeConditioning
    from pipelines.render.processes import render_in_processes, render_processes

    # Prompts are encoded and seed noises drawn once per render, not once per chunk.
    frames_of = chunk_source(project, KeyframeConditioning(pipe, project.keyframes, project.render), plan, camera)
    chained = project.render.renderer == "feedback"
    if not chained and pipe.device.type == "cpu":
        count = render_processes(processes)
        if count > 1:
            def write(chunk, path):
                return write_chunk(frames_of(chunk, None), path, chunk, project.render, plan.fps)

            yield from render_in_processes(job, write, processes=count, should_stop=should_stop)
            return
    for chunk in job.pending:
        previous = job.last_frame(job.chunks[chunk.index - 1]) if chained and chunk.index else None
        writer = write_chunk(frames_of(chunk, previous), job.partial_path(chunk), chunk, project.render, plan.fps)
        with contextlib.closing(writer):
            for done, frame in writer:
                yield job.frames_done + done, frame
                if done < chunk.stop - chunk.start and should_stop is not None and should_stop():
                    yield None, None
                    return
        if chained:  # the next chunk starts from this one's last frame
            job.save_last_frame(chunk, frame)
        job.finish(chunk)
        if should_stop is not None and should_stop():
            yield None, None
            return


def write_chunk(frames, path: Path, chunk, render, fps: float) -> Iterator[tuple[int, np.ndarray]]:
    """Stream a chunk's frames into ``path`` (H.264, no sound), yielding ``(frames written, frame)``
    after each batch of ``render.batch_size``; the file is complete once the generator ends. Closed
    early (a stop), the walk ends and the unfinished file is deleted."""
    # closing: a stop mid-chunk ends the walk (and its inference mode) here, not at garbage collection.
    with (
        contextlib.closing(frames),
        VideoWriter(
            path, width=render.width, height=render.height, fps=fps,
            encoder="libx264" if render.encoder == "auto" else render.encoder,
        ) as video,
    ):
        for index, frame in frames:
            video.write(frame)
            if (index + 1 - chunk.start) % render.batch_size == 0 or index + 1 == chunk.stop:
                yield video.frames_written, frame
        if video.frames_written != chunk.stop - chunk.start:
            raise RuntimeError(f"the walk gave {video.frames_written} frames for chunk {chunk.index}")


def chunk_source(project: Project, conditioning, plan, camera):
    """``(chunk, previous) -> iterator of (index, frame)``: the walk (its frames posed by the camera)
    or the feedback chain (a chunk starts from ``previous``, the last frame of the one before; None
    for the first)."""
    from pipelines.diffusion.walk import walk_frames

    render = project.render
    if render.renderer == "feedback":
        from pipelines.diffusion.feedback import FeedbackRenderer

        feedback = FeedbackRenderer(
            conditioning, plan, camera, project.feedback, pulse_size=project.motion.pulse
        )
        return lambda chunk, previous: feedback.frames(range(chunk.start, chunk.stop), previous=previous)

    poses = camera.poses() if camera.moves else None

    def walk(chunk, previous=None):
        frames = walk_frames(conditioning, plan, range(chunk.start, chunk.stop), batch_size=render.batch_size)
        if poses is None:
            return frames
        return _posed(frames, poses, camera.border)

    return walk


def _posed(frames, poses: dict, border: str):
    from pipelines.diffusion.warp import warp_frame

    with contextlib.closing(frames):
        for index, frame in frames:
            pose = {axis: float(values[index]) for axis, values in poses.items()}
            yield index, warp_frame(frame, **pose, border=border)


def render_project(project: Project, out_path: str | Path, **kwargs) -> Path | None:
    """Run :func:`iter_render` to the end; the video's path, or None if stopped."""
    video_path = None
    for progress in iter_render(project, out_path, **kwargs):
        video_path = progress.video_path
    return None if video_path is None else Path(video_path)


def with_render_settings(project: Project, **changes) -> Project:
    """The project with some render settings changed (``width=``, ``steps=``, …), validated.

    Changes that are None are ignored.
    """
    return project.replace(
        render=project.render.model_dump() | {k: v for k, v in changes.items() if v is not None}
    )


def with_camera(
    project: Project, *, preset: str | None = None, cadence: int | None = None, color_coherence: str | None = None
) -> Project:
    """The project with a camera preset and feedback settings (``None``: unchanged), validated."""
    changes = {}
    if preset is not None:
        from pipelines.plan.camera import camera_preset

        changes["camera"] = camera_preset(preset)
    feedback = {k: v for k, v in {"cadence": cadence, "color_coherence": color_coherence}.items() if v is not None}
    if feedback:
        changes["feedback"] = project.feedback.model_dump() | feedback
    return project.replace(**changes) if changes else project


def default_workdir(out_path: str | Path, *, draft: bool = False) -> Path:
    """The job folder of a render to ``out_path``: ``<out_path>.parts`` (``.draft-parts``)."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + (".draft-parts" if draft else ".parts"))


def draft_size(width: int, height: int) -> tuple[int, int]:
    """A draft's frame size: half, at most :data:`DRAFT_MAX_SIDE` px, multiples of 8.

    The aspect ratio is kept, but no side gets below 64 px (the smallest
    frame a project may ask for).
    """
    scale = max(min(0.5, DRAFT_MAX_SIDE / max(width, height)), MIN_SIDE / min(width, height))
    return tuple(min(side, max(MIN_SIDE, round(side * scale / 8) * 8)) for side in (width, height))


def sidecar_path(video_path: str | Path) -> Path:
    """``clip.mp4`` → ``clip.json``: where a video's project is saved."""
    return Path(video_path).with_suffix(".json")


def _kept(reason: str, job: RenderJob) -> str:
    """A failed render's one line: what failed and, after a full disk, that the finished chunks are
    kept and how much to free."""
    done = [chunk for chunk in job.chunks if chunk.done]
    if not done or not any(words in reason.lower() for words in ("no space left", "disk quota")):
        return reason
    # The rest of the video takes about what the finished chunks took, per frame; the join as much again.
    per_frame = sum(chunk.size or 0 for chunk in done) / max(1, job.frames_done)
    needed = (per_frame * (job.n_frames - job.frames_done) + per_frame * job.n_frames) / 1e6 + 1
    return f"{reason}; the {len(done)} finished chunks are kept: free about {needed:.0f} MB and resume the render"


def _check_output(out_path: Path) -> None:
    if out_path.suffix.lower() != ".mp4":
        raise BeatwalkError(f"the output must be an .mp4 file, got {out_path.name}")
    if not out_path.parent.is_dir():
        raise BeatwalkError(f"output folder does not exist: {out_path.parent}")
    if out_path.is_dir():
        raise BeatwalkError(f"the output is a folder: {out_path}")
