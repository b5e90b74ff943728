"""Keyframe conditioning: what every frame of a walk starts from.

Each keyframe's prompt is encoded once and its seed draws one start noise,
exactly as the stock pipeline draws it; a frame's state (keyframes ``a`` and
``b``, position ``t``, pulse, beat) then gives its start noise (slerp, plus the
beat's push), its text embedding (lerp), its guidance and its generator. See
:mod:`pipelines.diffusion.walk` for why each choice is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from pipelines.diffusion.models import model_family
from pipelines.errors import BeatwalkError

PULSE_MAX_ANGLE = math.pi / 2
"""Rotation of the start noise towards the beat's pulse noise at pulse 1, radians."""


def slerp(t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (stable-diffusion-videos' slerp).

    Gaussian noise lives near a sphere; moving along the great circle keeps the
    norm, so in-between frames stay as "noisy" as the keyframes. Nearly parallel
    vectors fall back to linear interpolation.

    Parameters
    ----------
    t : float in [0, 1]
        0 gives ``v0``, 1 gives ``v1``.
    v0, v1 : torch.Tensor [same shape]
    """
    a, b = v0.double(), v1.double()
    dot = torch.sum(a * b) / (torch.linalg.norm(a) * torch.linalg.norm(b))
    if torch.abs(dot) > dot_threshold:
        mixed = (1 - t) * a + t * b
    else:
        theta_0 = torch.acos(dot)
        theta_t = theta_0 * t
        mixed = (
            torch.sin(theta_0 - theta_t) / torch.sin(theta_0) * a
            + torch.sin(theta_t) / torch.sin(theta_0) * b
        )
    return mixed.to(v0.dtype)


def rotate_towards(noise: torch.Tensor, target: torch.Tensor, angle: float) -> torch.Tensor:
    """Turn ``noise`` by ``angle`` radians towards ``target``, keeping its norm.

    The beat pulse: ``cos(angle) · noise + sin(angle) · |noise| · u``, with ``u``
    the unit part of ``target`` orthogonal to ``noise``. A norm-preserving push
    keeps the frame a valid start noise, so the image changes but never washes out.
    """
    n, p = noise.double(), target.double()
    norm = torch.linalg.norm(n)
    orthogonal = p - torch.sum(p * n) / norm**2 * n
    turned = math.cos(angle) * n + math.sin(angle) * norm * orthogonal / torch.linalg.norm(orthogonal)
    return turned.to(noise.dtype)


@dataclass(frozen=True)
class FrameState:
    """What a frame looks like; frames with equal states (holds) are computed once."""

    key_a: int
    key_b: int
    t: float
    pulse: float
    beat: int

    @classmethod
    def of(cls, a: int, b: int, t: float, pulse: float, beat: int) -> FrameState:
        if t >= 1.0:
            a, t = b, 0.0
        if t <= 0.0:
            b, t = a, 0.0
        return cls(a, b, t, pulse if pulse > 0 else 0.0, beat if pulse > 0 else -1)


class KeyframeConditioning:
    """Every keyframe's conditioning for one render, computed once: embeddings, noise, generator
    state, init latents, and the render's own scheduler.

    Parameters
    ----------
    pipe : diffusers pipeline
        From :func:`pipelines.diffusion.models.load_pipeline`.
    keyframes : list of pipelines.project.Keyframe
        Prompts, negative prompts, seeds, guidance and init images.
    render : pipelines.project.RenderSettings
        ``width``, ``height`` (pixels) and ``steps``.
    """

    @torch.inference_mode()
    def __init__(self, pipe, keyframes, render):
        # 1. Per-keyframe settings
        family = self._prepare(pipe, height=render.height, width=render.width, steps=render.steps)
        self.guidance = [family.guidance if k.guidance is None else k.guidance for k in keyframes]
        self.any_cfg = not self.guidance_embedding and max(self.guidance) > 1
        self.pulse_seed = keyframes[0].seed

        # 2. Encode each prompt once (with the negative prompt when any keyframe uses CFG)
        embeds = [self._encode(k.prompt, k.negative_prompt or None) for k in keyframes]
        self.embeds = [torch.cat(parts) for parts in zip(*embeds)]
        self.dtype = self.embeds[0].dtype

        # 3. Seed noise, drawn exactly as the stock pipeline draws it (img2img: after the VAE sample)
        self.init_latents, self.strengths, self.noises, self.generator_states = [], [], [], []
        for k in keyframes:
            generator = torch.Generator("cpu").manual_seed(k.seed)
            init = self._encode_init_image(k, generator) if k.init_image else None
            self.init_latents.append(init)
            self.strengths.append(k.init_strength if init is not None else 1.0)
            self.noises.append(_randn(self.shape, generator, self.device, self.dtype))
            self.generator_states.append(generator.get_state())

    def _prepare(self, pipe, *, height: int, width: int, steps: int):
        """What every conditioning of this pipeline at this size has; returns the model family."""
        self.pipe, self.device = pipe, pipe._execution_device
        self.sdxl = hasattr(pipe, "text_encoder_2")
        self.guidance_embedding = pipe.unet.config.time_cond_proj_dim is not None
        self.size = (height, width)
        self.shape = (1, pipe.unet.config.in_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
        self.steps = steps
        # The job's own scheduler: set_timesteps and step() keep state, and the pipeline (its UNet,
        # VAE and text encoders, which keep none) may be shared with other jobs running at once.
        self.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        return model_family(pipe)

    def _encode(self, prompt: str, negative_prompt: str | None):
        cfg = self.any_cfg
        if self.sdxl:
            e, ne, pooled, npooled = self.pipe.encode_prompt(
                prompt,
                device=self.device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=cfg,
                negative_prompt=negative_prompt,
            )
            return (e, ne, pooled, npooled) if cfg else (e, pooled)
        e, ne = self.pipe.encode_prompt(prompt, self.device, 1, cfg, negative_prompt)
        return (e, ne) if cfg else (e,)

    def _encode_init_image(self, keyframe, generator):
        if self.sdxl or self.guidance_embedding:
            raise BeatwalkError("init images are supported for SD 1.x/2.x models (not SDXL or LCM) for now")
        from PIL import Image, UnidentifiedImageError

        try:
            image = Image.open(Path(keyframe.init_image).expanduser()).convert("RGB")
        except (OSError, UnidentifiedImageError):
            raise BeatwalkError(f"init image {keyframe.init_image} cannot be read") from None
        pixels = self.pipe.image_processor.preprocess(image, height=self.size[0], width=self.size[1])
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        latents = self.pipe.vae.encode(pixels).latent_dist.sample(generator)
        return self.pipe.vae.config.scaling_factor * latents

    def start_step(self, state: FrameState) -> int:
        """Denoising steps skipped, as img2img's ``get_timesteps`` counts them (0: from pure noise)."""
        strength = (1 - state.t) * self.strengths[state.key_a] + state.t * self.strengths[state.key_b]
        if strength >= 1.0:
            return 0
        # At least one step runs: stock img2img refuses strength × steps < 1.
        return self.steps - max(min(int(self.steps * strength), self.steps), 1)

    def noise(self, state: FrameState) -> torch.Tensor:
        a, b = self.noises[state.key_a], self.noises[state.key_b]
        return self._pulsed(a if state.key_a == state.key_b else slerp(state.t, a, b), state)

    def _pulsed(self, noise: torch.Tensor, state: FrameState) -> torch.Tensor:
        """``noise`` turned towards the beat's own pulse noise by the state's pulse."""
        if state.pulse <= 0:
            return noise
        pulse_generator = torch.Generator("cpu").manual_seed(self.pulse_seed * 100_003 + state.beat + 1)
        pulse_noise = _randn(self.shape, pulse_generator, self.device, self.dtype)
        return rotate_towards(noise, pulse_noise, min(state.pulse, 1.0) * PULSE_MAX_ANGLE)

    def init_latent(self, state: FrameState) -> torch.Tensor:
        a, b = self.init_latents[state.key_a], self.init_latents[state.key_b]
        if a is None or b is None:
            return a if b is None else b
        return a if state.key_a == state.key_b else torch.lerp(a, b, state.t)

    def embedding(self, state: FrameState) -> list[torch.Tensor]:
        a, b = state.key_a, state.key_b
        return [
            e[a : a + 1] if a == b else torch.lerp(e[a : a + 1], e[b : b + 1], state.t) for e in self.embeds
        ]

    def guidance_of(self, state: FrameState) -> float:
        return (1 - state.t) * self.guidance[state.key_a] + state.t * self.guidance[state.key_b]

    def generator(self, state: FrameState) -> torch.Generator:
        """The stock generator after drawing the start noise, from the nearer keyframe.

        Stochastic schedulers (LCM, Euler ancestral) draw fresh noise each step from
        the pipeline's generator; the nearer keyframe's keeps its own frame exact.
        """
        nearer = state.key_a if state.t < 0.5 else state.key_b
        return torch.Generator("cpu").set_state(self.generator_states[nearer])


def _randn(shape, generator: torch.Generator, device, dtype) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
