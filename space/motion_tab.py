"""Motion tab: how the walk follows the music, and how frames are rendered.

Each control is one field of ``project.motion`` or ``project.render``; any
change re-plans the frames and redraws the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.project import MotionSettings, Project, RenderSettings
from space import gpu
from space.keyframes_tab import replace

MOTION_FIELDS = (
    "reactivity_source",
    "reactivity",
    "smoothing",
    "easing",
    "pulse",
    "pulse_decay",
    "pulse_on",
    "offset",
)
RENDER_FIELDS = ("model", "width", "height", "fps", "steps", "batch_size", "fast_decoder")
FIELDS = MOTION_FIELDS + RENDER_FIELDS
MAX_BATCH_SIZE = 32  # the batch size slider's top


@dataclass
class MotionTab:
    controls: dict[str, gr.components.Component]
    summary: gr.Markdown
    plot: gr.Plot

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.controls[name] for name in FIELDS]


def build(limits: Limits, *, model: str) -> MotionTab:
    """The tab's components (inside ``gr.Tab``); events are wired in ``space.blocks``."""
    motion = MotionSettings()
    render = default_render(model)
    side = _max_side(limits)
    c = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Motion**: how the walk follows the music")
            c["reactivity_source"] = gr.Dropdown(
                ["percussive", "onset", "bass"],
                value=motion.reactivity_source,
                label="Reactivity source",
                elem_id="reactivity-source",
            )
            c["reactivity"] = gr.Slider(
                0, 1, motion.reactivity, step=0.05, label="Reactivity (0: linear time)", elem_id="reactivity"
            )
            c["smoothing"] = gr.Slider(
                0, 2, motion.smoothing, step=0.05, label="Smoothing (s)", elem_id="smoothing"
            )
            c["easing"] = gr.Dropdown(
                ["linear", "sine", "cubic", "smoothstep"],
                value=motion.easing,
                label="Easing",
                elem_id="easing",
            )
            c["pulse"] = gr.Slider(
                0, 1, motion.pulse, step=0.05, label="Pulse on beats (0: none)", elem_id="pulse"
            )
            c["pulse_decay"] = gr.Slider(
                0.02, 4, motion.pulse_decay, step=0.01, label="Pulse half-life (s)", elem_id="pulse-decay"
            )
            c["pulse_on"] = gr.Dropdown(
                ["beats", "downbeats", "onsets"], value=motion.pulse_on, label="Pulse on", elem_id="pulse-on"
            )
            c["offset"] = gr.Slider(
                -0.5, 0.5, motion.offset, step=0.01, label="Visual offset (s)", elem_id="offset"
            )
        with gr.Column():
            gr.Markdown("**Render**: model, size, frame rate, steps")
            c["model"] = gr.Dropdown(gpu.model_choices(), value=model, label="Model", elem_id="model")
            c["width"] = gr.Slider(64, side, render.width, step=64, label="Width (px)", elem_id="width")
            c["height"] = gr.Slider(64, side, render.height, step=64, label="Height (px)", elem_id="height")
            c["fps"] = gr.Slider(1, 60, render.fps, step=1, label="Frames per second", elem_id="fps")
            c["steps"] = gr.Slider(
                1, _max_steps(limits), render.steps, step=1, label="Denoising steps", elem_id="steps"
            )
            c["batch_size"] = gr.Slider(
                1,
                MAX_BATCH_SIZE,
                render.batch_size,
                step=1,
                label="Batch size (frames per GPU call)",
                elem_id="batch-size",
            )
            c["fast_decoder"] = gr.Checkbox(
                render.fast_decoder, label="Fast decoder (AutoencoderTiny)", elem_id="fast-decoder"
            )
    summary = gr.Markdown("", elem_id="plan-summary")
    plot = gr.Plot(
        label="Frame plan: position between keyframes and beat pulses over time", elem_id="plan-plot"
    )
    return MotionTab(c, summary, plot)


def default_render(model: str) -> RenderSettings:
    """Render settings a fresh page starts from.

    Real models: 512², 24 fps (1 step for turbo models, else 4). The tiny
    model usually runs on CPU, where 128², 12 fps and 1 step keep a song's
    render to minutes.
    """
    if model == gpu.TINY_MODEL:
        return RenderSettings(model=model, width=128, height=128, fps=12, steps=1)
    return RenderSettings(model=model, width=512, height=512, fps=24, steps=1 if "turbo" in model else 4)


def apply_settings(project: Project, values: list) -> Project:
    """The project with the controls' values (in ``FIELDS`` order) as its motion and render settings."""
    named = dict(zip(FIELDS, values))
    gpu.check_model(named["model"])
    for name in ("width", "height", "steps", "batch_size"):
        named[name] = int(named[name])
    motion = {name: named[name] for name in MOTION_FIELDS}
    render = project.render.model_dump() | {name: named[name] for name in RENDER_FIELDS}
    return replace(project, motion=motion, render=render)


def fit_controls(project: Project, limits: Limits, *, model: str) -> tuple[Project, list[str]]:
    """The project with its render settings inside what this Space's controls offer, and what was
    changed, e.g. ``"steps 25 → 8"``. A project imported from a duplicated Space or the CLI may ask
    for more steps, a larger size or another model than this Space allows; the controls would
    refuse those values, so they are brought in here, in the open.
    """
    render = project.render
    changes, notes = {}, []
    tops = {"width": _max_side(limits), "height": _max_side(limits), "steps": _max_steps(limits)}
    tops["batch_size"] = MAX_BATCH_SIZE
    for name, top in tops.items():
        if getattr(render, name) > top:
            notes.append(f"{name} {getattr(render, name)} → {top}")
            changes[name] = top
    if render.model not in gpu.model_choices():
        notes.append(f"model {render.model} → {model}")
        changes["model"] = model
    if not changes:
        return project, []
    return replace(project, render=render.model_dump() | changes), notes


def control_values(project: Project) -> list:
    """The controls' values for a project, in ``FIELDS`` order (after an import)."""
    return [getattr(project.motion, n) for n in MOTION_FIELDS] + [
        getattr(project.render, n) for n in RENDER_FIELDS
    ]


def plan(project: Project, analysis, *, limits: Limits):
    """The frame plan's figure and a summary line (frames, GPU time, any limit exceeded)."""
    from pipelines.plots import plot_frame_plan
    from pipelines.plan.timeline import plan_frames

    frame_plan = plan_frames(project, analysis)
    render = project.render
    seconds = gpu.estimate_render_seconds(project, frame_plan.n_frames)
    line = (
        f"**{frame_plan.n_frames} frames** ({analysis.duration:.1f} s at {render.fps:g} fps, "
        f"{render.width}×{render.height}, {render.steps} step{'s' * (render.steps > 1)}, model `{render.model}`) · "
        f"about {_duration(seconds)} on {'a GPU' if render.model != gpu.TINY_MODEL else 'this machine'}"
    )
    try:
        limits.check_render(
            duration=analysis.duration,
            width=render.width,
            height=render.height,
            fps=render.fps,
            steps=render.steps,
        )
    except BeatwalkError as exc:
        line += f"\n\n⚠️ The render will be refused: {exc}"
    return plot_frame_plan(frame_plan, analysis), line


def _max_steps(limits: Limits) -> int:
    return limits.max_steps or 50


def _max_side(limits: Limits) -> int:
    if limits.max_pixels is None:
        return 2048
    return max(64, min(2048, int(math.sqrt(limits.max_pixels) * 1.5) // 64 * 64))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
