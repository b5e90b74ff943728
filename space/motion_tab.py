"""Motion tab: how the walk follows the music, the camera, and how frames are rendered.

Each control is one field of ``project.motion``, ``project.camera`` (a preset, and its border),
``project.feedback`` or ``project.render``; any change re-plans the frames and redraws the plan,
with the camera's curves under the beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines.admission import largest_batch, largest_side, most_steps
from pipelines.diffusion.families import check_offered, default_render, offered_models
from pipelines.limits import Limits
from pipelines.plan.camera import PRESETS, camera_preset, preset_of
from pipelines.plan.keyframes import NEW_PROJECT_CAMERA
from pipelines.project import CameraSettings, FeedbackSettings, MotionSettings, Project, RenderSettings
from space.errors import user_errors
from space.page import Page, parse, private, unchanged
from space.views import redraw

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
RENDER_FIELDS = ("model", "width", "height", "fps", "steps", "batch_size", "fast_decoder", "renderer")
CAMERA_FIELDS = ("camera_preset", "border")
FEEDBACK_FIELDS = ("strength", "beat_strength", "color_coherence", "cadence")
FIELDS = MOTION_FIELDS + RENDER_FIELDS + CAMERA_FIELDS + FEEDBACK_FIELDS
CUSTOM = "custom (from the project)"
"""The camera preset choice of a project whose camera is none of the presets."""


ASPECTS = {"1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:3": (4, 3), "3:4": (3, 4)}


@dataclass
class MotionTab:
    controls: dict[str, gr.components.Component]
    summary: gr.Markdown
    plot: gr.Plot
    aspect: gr.Radio

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The controls in ``FIELDS`` order."""
        return [self.controls[name] for name in FIELDS]


def build(limits: Limits, *, model: str) -> MotionTab:
    """The tab's components (inside ``gr.Tab``)."""
    motion = MotionSettings()
    render = fresh_render(model, limits)
    side = largest_side(limits)
    c = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Motion**: how the walk follows the music")
            c["reactivity_source"] = gr.Dropdown(
                ["percussive", "onset", "bass"], value=motion.reactivity_source, label="Reactivity source",
                elem_id="reactivity-source",
            )  # fmt: skip
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
            c["model"] = gr.Dropdown(model_choices(model), value=model, label="Model", elem_id="model")
            aspect = gr.Radio(list(ASPECTS), value=None, label="Aspect ratio", elem_id="aspect")
            c["width"] = gr.Slider(64, side, render.width, step=8, label="Width (px)", elem_id="width")
            c["height"] = gr.Slider(64, side, render.height, step=8, label="Height (px)", elem_id="height")
            c["fps"] = gr.Slider(1, 60, render.fps, step=1, label="Frames per second", elem_id="fps")
            c["steps"] = gr.Slider(
                1, most_steps(limits), render.steps, step=1, label="Denoising steps", elem_id="steps"
            )
            c["batch_size"] = gr.Slider(
                0, largest_batch(limits), batch_control(render.batch_size), step=1,
                label="Batch size (frames per GPU call; 0: chosen for the GPU and frame size)", elem_id="batch-size",
            )  # fmt: skip
            c["fast_decoder"] = gr.Checkbox(
                render.fast_decoder, label="Fast decoder (AutoencoderTiny)", elem_id="fast-decoder"
            )
    camera, feedback = CameraSettings(), FeedbackSettings()
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Camera**: zoom, turn and drift on the music")
            c["camera_preset"] = gr.Dropdown(
                [*PRESETS, CUSTOM], value=NEW_PROJECT_CAMERA, label="Camera", elem_id="camera-preset",
                info="zoom pulse: a push on every beat; spin on downbeats: a turn on each bar",
            )  # fmt: skip
            c["border"] = gr.Dropdown(
                ["reflect", "wrap", "replicate"], value=camera.border, label="Border (where the picture leaves the frame)",
                elem_id="camera-border",
            )  # fmt: skip
            c["renderer"] = gr.Radio(
                ["walk", "feedback"], value=render.renderer, label="Renderer", elem_id="renderer",
                info="walk: every frame from noise, the camera poses it; feedback: every frame from the one before "
                "(Deforum's endless zoom)",
            )  # fmt: skip
        with gr.Column():
            gr.Markdown("**Feedback renderer**: how much each frame is diffused again")
            c["strength"] = gr.Slider(
                0,
                1,
                feedback.strength,
                step=0.05,
                label="Strength between beats",
                elem_id="feedback-strength",
            )
            c["beat_strength"] = gr.Slider(
                0, 1, feedback.beat_strength, step=0.05, label="Strength on the beat", elem_id="beat-strength"
            )
            c["color_coherence"] = gr.Dropdown(
                ["lab", "rgb", "hsv", "none"], value=feedback.color_coherence, label="Colour coherence",
                elem_id="color-coherence",
            )  # fmt: skip
            c["cadence"] = gr.Slider(
                1, 8, feedback.cadence, step=1, label="Cadence (diffuse every k-th frame)", elem_id="cadence"
            )
    summary = gr.Markdown("", elem_id="plan-summary")
    plot = gr.Plot(
        label="Frame plan: position between keyframes and beat pulses over time",
        elem_id="plan-plot",
        elem_classes=["wide-plot"],
    )
    return MotionTab(c, summary, plot, aspect)


def wire(page: Page, limits: Limits) -> None:
    """Any control's change becomes the project's setting, and the plan is redrawn."""

    @user_errors
    def change_settings(project_json, *values):
        if not project_json:
            return unchanged(page.project)
        return {page.project: apply_settings(parse(project_json), values).to_json()}

    motion = page.motion
    inputs = motion.inputs
    changed = gr.on(
        [c.input for c in inputs], change_settings, [page.project, *inputs], {page.project},
        **private(trigger_mode="always_last"),
    )  # fmt: skip
    redraw(changed, page, limits, table=False)

    def set_aspect(aspect, width, height):
        if aspect not in ASPECTS:
            return unchanged(motion.controls["width"])
        width, height = aspect_size(ASPECTS[aspect], longest=max(int(width), int(height)), limits=limits)
        return {motion.controls["width"]: width, motion.controls["height"]: height}

    size = {motion.controls["width"], motion.controls["height"]}
    sized = motion.aspect.input(set_aspect, [motion.aspect, motion.controls["width"], motion.controls["height"]], size,
                                **private())  # fmt: skip
    redraw(sized.success(change_settings, [page.project, *inputs], {page.project}, **private()), page, limits,
           table=False)  # fmt: skip


def aspect_size(ratio: tuple[int, int], *, longest: int, limits: Limits) -> tuple[int, int]:
    """A frame of ``ratio`` (width, height) whose longer side is ``longest`` pixels, in multiples
    of 8 (at least 64), shrunk to this Space's largest frame."""
    across, down = ratio
    scale = longest / max(across, down)
    if limits.max_pixels is not None:
        scale = min(scale, (limits.max_pixels / (across * down)) ** 0.5)
    top = largest_side(limits)
    return tuple(min(top, max(64, int(side * scale) // 8 * 8)) for side in (across, down))


def model_choices(model: str) -> list[str]:
    """The offered models whose weights can be had here (no hub offline, not cached: left out),
    and the page's own default."""
    from space import gpu

    return [m for m in offered_models() if m == model or gpu.weights_reachable(m)]


def fresh_render(model: str, limits: Limits) -> RenderSettings:
    """The render settings a fresh page starts from: the model family's, within this Space's limits."""
    return default_render(model, max_pixels=limits.max_pixels, max_steps=limits.max_steps)


def value_of(values, name: str):
    """One control's value among ``values`` (in ``FIELDS`` order)."""
    return values[FIELDS.index(name)]


def apply_settings(project: Project, values) -> Project:
    """The project with the controls' values (in ``FIELDS`` order) as its motion and render settings."""
    named = dict(zip(FIELDS, values))
    check_offered(named["model"])
    for name in ("width", "height", "steps", "batch_size", "cadence"):
        named[name] = int(named[name])
    named["batch_size"] = named["batch_size"] or "auto"
    motion = {name: named[name] for name in MOTION_FIELDS}
    render = project.render.model_dump() | {name: named[name] for name in RENDER_FIELDS}
    preset = named["camera_preset"]
    camera = project.camera if preset == CUSTOM else camera_preset(preset)
    camera = camera.model_dump() | {"border": named["border"]}
    feedback = {name: named[name] for name in FEEDBACK_FIELDS}
    return project.replace(motion=motion, render=render, camera=camera, feedback=feedback)


def batch_control(batch_size: int | str) -> int:
    """The batch size slider's value: 0 stands for ``"auto"``."""
    return 0 if batch_size == "auto" else batch_size


def control_values(motion: MotionTab, project: Project) -> dict:
    """The controls' values for a project (after an import), keyed by control."""
    settings = project.motion.model_dump() | project.render.model_dump() | project.feedback.model_dump()
    settings["border"] = project.camera.border
    settings["batch_size"] = batch_control(project.render.batch_size)
    settings["camera_preset"] = preset_of(project.camera.model_copy(update={"border": "reflect"})) or CUSTOM
    return {motion.controls[name]: settings[name] for name in FIELDS}
