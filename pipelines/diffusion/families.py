"""The model table: each family of checkpoints, its defaults, and which models a server offers.

One table serves every caller: the walk reads a family's guidance and fast decoder, a fresh page
of the Space its steps, size and frame rate, the Space's ZeroGPU grants its seconds per step.
No torch here, so the table is read without loading a model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from pipelines.errors import BeatwalkError
from pipelines.project import RenderSettings

TINY_MODELS = ("tiny", "tiny-sdxl", "tiny-lcm")
"""The built-in random-weight models (:mod:`pipelines.diffusion.tiny`): offline, seconds on a CPU."""

OFFERED_MODELS = (
    "stabilityai/sd-turbo",
    "stabilityai/sdxl-turbo",
    "stable-diffusion-v1-5/stable-diffusion-v1-5",
)
"""Hub ids a server offers besides ``tiny`` unless ``BEATWALK_MODELS`` names others."""


@dataclass(frozen=True)
class ModelFamily:
    """What a family of checkpoints expects by default.

    Attributes
    ----------
    name : str
    steps : int
        Denoising steps a fresh render uses.
    guidance : float
        Classifier-free guidance of a keyframe that sets none; ≤ 1 skips it (turbo models are
        distilled to work without it).
    size : int
        Frame side a fresh render uses, pixels (square).
    fps : float
        Frame rate a fresh render uses.
    fast_decoder : str or None
        Hub id of the family's AutoencoderTiny.
    lcm_scheduler : bool
        Load with ``LCMScheduler``.
    seconds_per_step : float
        GPU seconds of one denoising step of one 512×512 frame, encoding included, for the
        Space's ZeroGPU grants and time estimates: for the real models, estimates from the
        renderer's speed target with headroom, not measured on a GPU yet
        (``benchmarks/gpu_walk.py`` measures them); ``tiny``: measured on a 2-core CPU.
    load_seconds : float
        GPU seconds a grant adds for bringing the pipeline onto the GPU (it is loaded before the
        call, but ZeroGPU moves its weights at the start of each one).
    encode_seconds : float
        GPU seconds per keyframe: its prompt's encoding and its seed noise.
    """

    name: str
    steps: int
    guidance: float
    size: int
    fps: float
    fast_decoder: str | None
    lcm_scheduler: bool = False
    seconds_per_step: float = 0.04
    load_seconds: float = 40.0
    encode_seconds: float = 0.01


_TAESD, _TAESDXL = "madebyollin/taesd", "madebyollin/taesdxl"
_XL = {"seconds_per_step": 0.12, "load_seconds": 60.0}
FAMILIES = {
    "sd": ModelFamily("sd", steps=25, guidance=7.5, size=512, fps=24, fast_decoder=_TAESD),
    "sd-turbo": ModelFamily("sd-turbo", steps=1, guidance=0.0, size=512, fps=24, fast_decoder=_TAESD),
    "sdxl": ModelFamily("sdxl", steps=30, guidance=5.0, size=1024, fps=24, fast_decoder=_TAESDXL, **_XL),
    "sdxl-turbo": ModelFamily(
        "sdxl-turbo", steps=1, guidance=0.0, size=512, fps=24, fast_decoder=_TAESDXL, **_XL
    ),
    "lcm": ModelFamily(
        "lcm", steps=4, guidance=8.5, size=512, fps=24, fast_decoder=_TAESD, lcm_scheduler=True
    ),
    # Usually on a CPU, where 128², 12 fps and one step keep a song's render to minutes; its seconds
    # per step are measured on a 2-core CPU (benchmarks/gpu_walk.py --tiny, benchmarks/RESULTS.md).
    "tiny": ModelFamily(
        "tiny", steps=1, guidance=0.0, size=128, fps=12, fast_decoder=None, seconds_per_step=0.25,
        load_seconds=10.0, encode_seconds=0.03,
    ),
}

KNOWN_MODELS = {
    "stabilityai/sd-turbo": "sd-turbo",
    "stabilityai/sdxl-turbo": "sdxl-turbo",
    "runwayml/stable-diffusion-v1-5": "sd",
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "sd",
    "stabilityai/stable-diffusion-2-1-base": "sd",
    "stabilityai/stable-diffusion-xl-base-1.0": "sdxl",
    "SimianLuo/LCM_Dreamshaper_v7": "lcm",
    "tiny": "tiny",
    "tiny-sdxl": "tiny",
    "tiny-lcm": "lcm",
}


def family_of(model: str, *, sdxl: bool | None = None) -> ModelFamily:
    """The family of a model id: known ids from the table, others guessed from their name.

    Parameters
    ----------
    model : str
        A hub id, a folder, or a tiny model's name.
    sdxl : bool, optional
        Whether the pipeline is an SDXL one (its class says so); by default guessed from ``"xl"``
        in the name.
    """
    if model in KNOWN_MODELS:
        return FAMILIES[KNOWN_MODELS[model]]
    lowered = model.lower()
    sdxl = "xl" in lowered if sdxl is None else sdxl
    if "lcm" in lowered:
        return FAMILIES["lcm"]
    if "turbo" in lowered:
        return FAMILIES["sdxl-turbo" if sdxl else "sd-turbo"]
    return FAMILIES["sdxl" if sdxl else "sd"]


def takes_init_images(model: str) -> bool:
    """Whether keyframes may start from an init image with ``model``: SD 1.x/2.x and their turbo
    models (the walk's img2img start is written for their VAE and UNet), not SDXL or LCM yet."""
    return family_of(model).name in ("sd", "sd-turbo") or model == "tiny"


def offered_models(environ=None) -> list[str]:
    """The models a server lets people choose: ``tiny`` first, then ``BEATWALK_MODELS``
    (comma-separated hub ids; default :data:`OFFERED_MODELS`) and ``BEATWALK_DEFAULT_MODEL``."""
    environ = os.environ if environ is None else environ
    configured = environ.get("BEATWALK_MODELS")
    real = [m.strip() for m in configured.split(",") if m.strip()] if configured else list(OFFERED_MODELS)
    default = environ.get("BEATWALK_DEFAULT_MODEL", "").strip()
    if default and default not in real and default != "tiny":
        real.insert(0, default)
    return ["tiny", *[m for m in real if m != "tiny"]]


def check_offered(model: str, environ=None) -> None:
    """Refuse a model a server does not offer (a model id can name a local folder)."""
    choices = offered_models(environ)
    if model not in choices:
        raise BeatwalkError(
            f"model {model!r} is not offered here; choose one of: {', '.join(choices)} (set BEATWALK_MODELS)"
        )


def default_render(
    model: str, *, max_pixels: int | None = None, max_steps: int | None = None
) -> RenderSettings:
    """The render settings a fresh page starts from for ``model``: its family's steps, size and fps,
    within a server's limits (fewer steps, a smaller square frame in multiples of 64)."""
    family = family_of(model)
    side = family.size
    if max_pixels is not None and side * side > max_pixels:
        side = max(64, math.isqrt(max_pixels) // 64 * 64)
    steps = family.steps if max_steps is None else max(1, min(family.steps, max_steps))
    return RenderSettings(model=model, width=side, height=side, fps=family.fps, steps=steps)


def estimate_seconds(render: RenderSettings, frames: int, *, keyframes: int = 1, feedback=None) -> float:
    """GPU seconds to load ``render.model``, encode ``keyframes`` keyframes and render ``frames``
    frames with these settings.

    The feedback renderer (``render.renderer == "feedback"`` with the project's ``feedback``)
    diffuses every ``cadence``-th frame, with the steps of its beat strength plus one for the VAE
    encoder, and draws each keyframe's still once for the colours.
    """
    family = family_of(render.model)
    scale = render.width * render.height / (512 * 512)
    if render.renderer == "feedback" and feedback is not None:
        steps = max(1, math.ceil(render.steps * feedback.beat_strength)) + 1
        diffused = math.ceil(frames / feedback.cadence) + (keyframes if feedback.color_coherence != "none" else 0)
        return family.load_seconds + keyframes * family.encode_seconds + diffused * steps * family.seconds_per_step * scale
    denoise = frames * render.steps * family.seconds_per_step * scale
    return family.load_seconds + keyframes * family.encode_seconds + denoise
