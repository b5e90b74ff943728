"""Where the model runs: the ZeroGPU wrappers, and which model a fresh page offers.

``import spaces`` comes before anything imports torch: on a ZeroGPU Space it
must patch CUDA first. Off Spaces ``@spaces.GPU`` returns the function as it
is, so the same code runs on a local GPU or on CPU.

A ZeroGPU call is granted for a duration asked for up front. The render asks
for what its frames should take (frames × steps × seconds per step, scaled by
frame size) and is split into windows no longer than
``BEATWALK_GPU_WINDOW_SECONDS``: each window renders until its time is nearly
up and leaves the chunked job on disk, and the next window resumes it, so a
song of any length fits and the result equals one uninterrupted render.
"""

from __future__ import annotations

import spaces  # before torch: ZeroGPU patches CUDA on import
from spaces.config import Config

# isort: split

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.diffusion.families import estimate_seconds, offered_models
from pipelines.errors import BeatwalkError
from pipelines.project import Project

_MARGIN_SECONDS = 15


def on_zero_gpu() -> bool:
    return bool(Config.zero_gpu)


def gpu_available() -> bool:
    """True on ZeroGPU or with a CUDA device; cheap (never loads a model)."""
    if on_zero_gpu():
        return True
    import torch

    return torch.cuda.is_available()


def weights_reachable(model: str) -> bool:
    """Whether ``model``'s weights can be had without failing: cached, or the hub is allowed.

    Reads only the local cache and the offline flag: no network at start-up.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if model == "tiny":
        return True
    cached = try_to_load_from_cache(model, "model_index.json")
    return isinstance(cached, str) or not constants.HF_HUB_OFFLINE


def default_model() -> tuple[str, str | None]:
    """The model a fresh page selects, and a banner line when real weights are out of reach.

    ``BEATWALK_DEFAULT_MODEL`` wins; else the first real model on a GPU whose
    weights are reachable; else ``tiny``.
    """
    configured = os.environ.get("BEATWALK_DEFAULT_MODEL", "").strip()
    real = [m for m in offered_models() if m != "tiny"]
    reachable = [m for m in real if weights_reachable(m)]
    if not reachable:
        banner = (
            "**Offline: real model weights cannot be downloaded here.** The tiny built-in model is "
            "selected: it has random weights and paints abstract colour fields, which is enough to try "
            "the timing, the motion settings and the render."
        )
    elif not gpu_available():
        banner = (
            "**No GPU here.** The tiny built-in model (random weights, abstract images) is selected; "
            "real models run on CPU too but take minutes per second of video. Duplicate the Space onto "
            "a GPU for real renders."
        )
    else:
        banner = None
    if configured:
        return configured, banner
    return (reachable[0] if reachable and banner is None else "tiny"), banner


def default_music_model() -> str:
    """The music model a fresh Compose panel selects: ``BEATWALK_COMPOSE_MODEL``; else MusicGen small
    on a GPU when its weights are reachable; else ``tiny``."""
    from huggingface_hub import constants, try_to_load_from_cache

    configured = os.environ.get("BEATWALK_COMPOSE_MODEL", "").strip()
    if configured:
        return configured
    real = "facebook/musicgen-small"
    reachable = isinstance(try_to_load_from_cache(real, "config.json"), str) or not constants.HF_HUB_OFFLINE
    return real if reachable and gpu_available() else "tiny"


def gpu_window_seconds() -> float | None:
    """Longest single GPU call, seconds: ``BEATWALK_GPU_WINDOW_SECONDS``; 120 on ZeroGPU, else none."""
    raw = os.environ.get("BEATWALK_GPU_WINDOW_SECONDS", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            raise BeatwalkError(f"BEATWALK_GPU_WINDOW_SECONDS must be a number, got {raw!r}") from None
        return value if value > 0 else None
    return 120.0 if on_zero_gpu() else None


# -- GPU work ------------------------------------------------------------------


def _preview_seconds(project_json: str, index: int) -> int:
    project = Project.from_json(project_json)
    return int(estimate_seconds(project.render, 1)) + _MARGIN_SECONDS


def pipeline_for(render):
    """The pipeline for these render settings, loaded once per process and kept.

    Called outside the GPU functions first (ZeroGPU's way: a pipeline loaded and moved to
    ``"cuda"`` in the main process is what its GPU workers use), so a visitor's GPU time is not
    spent loading a model; inside them, the same call finds it loaded.
    """
    from pipelines.diffusion.models import load_pipeline

    return load_pipeline(render.model, dtype=render.dtype, fast_decoder=render.fast_decoder)


def preview_still(project_json: str, index: int):
    """The still of keyframe ``index`` (a PIL image), made on the GPU when there is one."""
    pipeline_for(Project.from_json(project_json).render)
    return _preview_on_gpu(project_json, index)


@spaces.GPU(duration=_preview_seconds)
def _preview_on_gpu(project_json: str, index: int):
    from pipelines.diffusion.walk import preview_keyframe

    project = Project.from_json(project_json)
    return preview_keyframe(pipeline_for(project.render), project.keyframes, project.render, index)


def _render_window_seconds(
    project_json, analysis, out_path, workdir, *, frames_left, draft, resume, window, stop_file
) -> int:
    return int(_render_budget(Project.from_json(project_json), frames_left, draft=draft, window=window)) + _MARGIN_SECONDS


def _frame_settings(project: Project, *, draft: bool):
    """The render settings the frames are made at (a draft's smaller size)."""
    from pipelines.render.runner import draft_size

    if not draft:
        return project.render
    width, height = draft_size(project.render.width, project.render.height)
    return project.render.model_copy(update={"width": width, "height": height})


def _render_budget(project: Project, frames_left: int, *, draft: bool, window: float | None) -> float:
    """Seconds a render call may take: what its frames should take, at most ``window``. The grant
    asks for this plus a margin, and the render stops itself when it is spent."""
    estimate = estimate_seconds(
        _frame_settings(project, draft=draft), frames_left, keyframes=len(project.keyframes), feedback=project.feedback
    )
    return min(estimate, window) if window else estimate


def _window_chunk_frames(project: Project, *, draft: bool, window: float) -> int:
    """Frames per chunk for a render in GPU windows: whole batches, at most half a window's work,
    so that every window finishes chunks (a chunk cut off by the window's end is rendered again)."""
    from pipelines.render.jobs import default_chunk_frames

    from pipelines.diffusion.batching import render_batch_size

    render = _frame_settings(project, draft=draft)
    pipe = pipeline_for(render)
    batch = render_batch_size(project.model_copy(update={"render": render}), device=str(pipe.device), pipe=pipe)
    per_frame = estimate_seconds(render, 1, keyframes=0, feedback=project.feedback) - estimate_seconds(
        render, 0, keyframes=0, feedback=project.feedback
    )
    fitting = batch * max(1, int(window / 2 / max(per_frame * batch, 1e-9)))
    return min(fitting, default_chunk_frames(render.fps, batch))


def render_window(project_json: str, *args, **kwargs) -> Iterator:
    """Render (or resume) until done, stopped, or the window is spent (see :func:`_render_on_gpu`),
    the pipeline loaded first, outside the GPU call. With a render farm (:func:`farm_for`), on all
    its workers instead, in one go."""
    farm = farm_for()
    if farm is not None:
        yield from _render_on_farm(farm, project_json, *args, **kwargs)
        return
    pipeline_for(Project.from_json(project_json).render)
    yield from _render_on_gpu(project_json, *args, **kwargs)


def farm_workers() -> int:
    """How many Ray workers the Space renders on: ``BEATWALK_FARM_WORKERS``, else one per GPU on a
    machine with more than one; 0 (render in this process) on ZeroGPU and on one GPU or none."""
    configured = os.environ.get("BEATWALK_FARM_WORKERS", "").strip()
    if on_zero_gpu():
        return 0  # ZeroGPU lends one GPU per call, to this process
    if configured:
        try:
            return max(0, int(configured))
        except ValueError:
            raise BeatwalkError(f"BEATWALK_FARM_WORKERS must be a number of workers, got {configured!r}") from None
    import torch

    count = torch.cuda.device_count()
    return count if count > 1 else 0


_farm = None
_farm_lock = threading.Lock()


def farm_for():
    """The Space's render farm, started on first use and kept (its workers keep their pipelines
    loaded); None when it renders in this process."""
    global _farm
    workers = farm_workers()
    if not workers:
        return None
    with _farm_lock:
        if _farm is None:
            from pipelines.render.farm import Farm

            _farm = Farm(workers, address=os.environ.get("BEATWALK_RAY_ADDRESS") or None).start()
        return _farm


def close_farm() -> None:
    """Stop the Space's farm (if it started one)."""
    global _farm
    with _farm_lock:
        if _farm is not None:
            _farm.close()
            _farm = None


def _render_on_farm(farm, project_json: str, analysis: dict, out_path: str, workdir: str, *, draft: bool,
                    resume: bool, stop_file: str, **_window) -> Iterator:  # fmt: skip
    from pipelines.music.analysis import Analysis
    from pipelines.render.runner import iter_render

    yield from iter_render(
        Project.from_json(project_json), out_path, analysis=Analysis.from_dict(analysis), resume=resume,
        draft=draft, workdir=workdir, should_stop=StopCheck(stop_file, deadline=None), farm=farm,
    )  # fmt: skip


@spaces.GPU(duration=_render_window_seconds)
def _render_on_gpu(
    project_json: str,
    analysis: dict,
    out_path: str,
    workdir: str,
    *,
    frames_left: int,
    draft: bool,
    resume: bool,
    window: float | None,
    stop_file: str,
) -> Iterator:
    """Render (or resume) until done, stopped, or ``window`` seconds are spent; yields ``RenderProgress``.

    Arguments are plain values (``analysis`` is ``Analysis.to_dict()``) so that ZeroGPU can send them to
    its worker. ``frames_left`` sizes the GPU grant, and the render stops itself before the grant ends.
    """
    from pipelines.music.analysis import Analysis
    from pipelines.render.runner import iter_render

    project = Project.from_json(project_json)
    deadline = None if window is None else time.monotonic() + _render_budget(project, frames_left, draft=draft, window=window)
    yield from iter_render(
        project,
        out_path,
        analysis=Analysis.from_dict(analysis),
        resume=resume,
        draft=draft,
        workdir=workdir,
        should_stop=StopCheck(stop_file, deadline=deadline),
        pipe=pipeline_for(project.render),
        # A new job's chunks fit its windows; a resumed job keeps its own.
        chunk_frames=None if window is None else _window_chunk_frames(project, draft=draft, window=window),
    )


class StopCheck:
    """``should_stop`` for a render: the session's stop file exists, or the window is spent.

    A class, not a closure, so that it pickles into a ZeroGPU worker.
    """

    def __init__(self, stop_file: str | Path, *, deadline: float | None):
        self.stop_file = str(stop_file)
        self.deadline = deadline

    def __call__(self) -> bool:
        if os.path.exists(self.stop_file):
            return True
        return self.deadline is not None and time.monotonic() > self.deadline


def composer_for(model: str):
    """The music model, loaded once per process and kept (outside the GPU call first, as the
    pipelines are, so a visitor's GPU time is not spent loading it)."""
    from pipelines.music.compose import Composer

    return Composer(model)


def _compose_budget(settings_json: str, window: float | None) -> float:
    from pipelines.music.compose import Composition, estimate_seconds as compose_estimate

    estimate = compose_estimate(Composition.model_validate_json(settings_json))
    return min(estimate, window) if window else estimate


def _compose_seconds(settings_json: str, out_path: str, *, melody: str | None, stop_file: str, window: float | None) -> int:
    return int(_compose_budget(settings_json, window)) + _MARGIN_SECONDS


def compose_window(settings_json: str, out_path: str, *, melody: str | None, stop_file: str, window: float | None) -> Iterator:
    """Compose one song on the GPU when there is one (see :func:`_compose_on_gpu`), the model loaded first."""
    from pipelines.music.compose import Composition, model_for

    composer_for(model_for(Composition.model_validate_json(settings_json).model, melody=melody is not None))
    yield from _compose_on_gpu(settings_json, out_path, melody=melody, stop_file=stop_file, window=window)


@spaces.GPU(duration=_compose_seconds)
def _compose_on_gpu(settings_json: str, out_path: str, *, melody: str | None, stop_file: str, window: float | None) -> Iterator:
    """Compose one song until done, stopped (the session's stop file) or ``window`` seconds are
    spent; yields ``ComposeProgress``."""
    from pipelines.music.compose import Composition, iter_compose

    deadline = None if window is None else time.monotonic() + _compose_budget(settings_json, window)
    yield from iter_compose(
        Composition.model_validate_json(settings_json), out_path, melody=melody,
        should_stop=StopCheck(stop_file, deadline=deadline),
    )  # fmt: skip


def _load_at_start() -> None:
    """On ZeroGPU, load the default model when the app starts, as the platform documents, and
    leave out ``torch.compile`` (not available in its workers; its ahead-of-time helpers are)."""
    import logging

    from pipelines.diffusion.families import default_render
    from pipelines.diffusion.models import COMPILE_ENV

    os.environ.pop(COMPILE_ENV, None)
    model, _ = default_model()
    try:
        pipeline_for(default_render(model))
    except BeatwalkError as exc:  # the page still starts; the first preview or render says why
        logging.getLogger("beatwalk.space").warning("default model not loaded at start: %s", exc)


if on_zero_gpu():
    _load_at_start()
