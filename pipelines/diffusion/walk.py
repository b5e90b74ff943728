"""The latent walk: a frame plan and a diffusers pipeline in, video frames out.

The only module that runs a diffusion model. As in stable-diffusion-videos, each
keyframe's prompt is encoded once and its seed gives one noise tensor; a frame
between keyframes ``a`` and ``b`` at position ``t`` starts from the spherical
interpolation of their noises and is conditioned on the linear interpolation of
their text embeddings. Frames are denoised and decoded in batches.

A keyframe's own frame (``t == 0``, no pulse) equals what the stock pipeline
gives for the same prompt, negative prompt, seed, size, steps and guidance: the
noise is drawn exactly as ``pipe(..., generator=torch.Generator("cpu").manual_seed(seed))``
draws it, and the loop below is the stock loop with per-frame conditioning.

Works with ``StableDiffusionPipeline`` (SD 1.x, 2.x, sd-turbo), ``StableDiffusionXLPipeline``
(SDXL, SDXL-turbo) and ``LatentConsistencyModelPipeline`` (LCM).

Choices
-------
- **Pulse**: a frame with ``pulse > 0`` turns its start noise towards the beat's
  own pulse noise by ``min(pulse, 1) · conditioning.PULSE_MAX_ANGLE`` radians, keeping its
  norm (:func:`pipelines.diffusion.conditioning.rotate_towards`). As the plan's pulse decays, the picture
  springs back onto the path. Beats are numbered where the plan's pulse starts
  to rise, over the whole plan, so a chunk renders the same as a whole song.
- **Guidance** is interpolated per frame, like the embeddings. A batch runs the
  unconditional pass when any of its frames has guidance > 1; frames with
  guidance ≤ 1 keep the plain text prediction, which is also what guidance 1
  gives, so crossing 1 is continuous.
- **Holds**: frames with equal (keyframe a, keyframe b, t, pulse) are rendered once.
- **Init images** (SD 1.x/2.x): a keyframe's strength applies on its own
  frames, and is interpolated towards 1 (plain text-to-image) along walks from
  or to it; the init latent is the nearer end's (or both, interpolated). Steps
  skipped are counted as img2img does, so the strength moves in steps of
  ``1 / steps``; batches hold frames that skip the same number of steps.
- **Stochastic schedulers** (LCM, Euler ancestral) draw noise at every step;
  each frame draws it from the nearer keyframe's generator, so both ends of a
  walk equal their keyframes and the switch happens once, halfway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from pipelines.diffusion.conditioning import FrameState, KeyframeConditioning
from pipelines.errors import BeatwalkError

_VAE_UPCAST = threading.Lock()


def walk_frames(
    keyframes: KeyframeConditioning,
    plan,
    frame_indices: Sequence[int] | None = None,
    *,
    batch_size: int,
) -> Iterator[tuple[int, np.ndarray]]:
    """Render frames of a frame plan, batch by batch.

    Parameters
    ----------
    keyframes : KeyframeConditioning
        The pipeline and the keyframes' encoded prompts and seed noises, made once per render
        and reused across calls (a chunked render walks each chunk with one call).
    plan : pipelines.plan.timeline.FramePlan
        ``key_a``, ``key_b``, ``t``, ``pulse`` per frame (any object with those arrays).
    frame_indices : sequence of int, optional
        Which frames to render, in order; all by default.
    batch_size : int
        Frames denoised together. Changes speed and memory only, not the images (beyond float
        rounding).

    Yields
    ------
    index : int
        Frame index in the plan, in the order of ``frame_indices``.
    frame : np.ndarray [shape=(height, width, 3), dtype=uint8]
    """
    if frame_indices is None:
        frame_indices = range(len(plan.t))
    frame_indices = [int(i) for i in frame_indices]
    for i in frame_indices:
        if not 0 <= i < len(plan.t):
            raise BeatwalkError(f"frame {i} is outside the frame plan (0–{len(plan.t) - 1})")

    with torch.inference_mode():
        # 1. One state per distinct frame: held frames are rendered once and repeated
        beats = _beat_numbers(np.asarray(plan.pulse, dtype=float))
        states = [
            FrameState.of(
                int(plan.key_a[i]), int(plan.key_b[i]), float(plan.t[i]), float(plan.pulse[i]), beats[i]
            )
            for i in frame_indices
        ]
        last_use = {state: n for n, state in enumerate(states)}
        distinct = list(dict.fromkeys(states))

        # 2. Denoise in batches of frames that skip the same number of steps. On a GPU the next
        #    batch is queued before the previous one's frames are handed out, so encoding them
        #    overlaps with the GPU's work instead of leaving it idle.
        lookahead = 1 if keyframes.device.type == "cuda" else 0
        in_flight: list[tuple[list[FrameState], _FramesOnTheWay]] = []
        done: dict[FrameState, np.ndarray] = {}
        next_out = 0
        for batch in [*_batches(distinct, batch_size, key=keyframes.start_step), None]:
            if batch is not None:
                in_flight.append((batch, _render_batch(keyframes, batch)))
            while in_flight and (batch is None or len(in_flight) > lookahead):
                finished, frames = in_flight.pop(0)
                done.update(zip(finished, frames.numpy()))
            # 3. Yield every frame whose picture exists, in the requested order
            while next_out < len(states) and states[next_out] in done:
                state = states[next_out]
                yield frame_indices[next_out], done[state]
                if last_use[state] == next_out:
                    del done[state]
                next_out += 1


def render_states(keyframes: KeyframeConditioning, states: Sequence[FrameState]) -> np.ndarray:
    """One batch of frames for the given states, each distinct state rendered once (the live
    engine's call: it plans its own states, slot by slot, instead of a frame plan).

    Returns
    -------
    np.ndarray [shape=(len(states), height, width, 3), dtype=uint8]
    """
    states = list(states)
    distinct = list(dict.fromkeys(states))
    steps = {keyframes.start_step(s) for s in distinct}
    if len(steps) > 1:
        raise BeatwalkError("one batch cannot mix states that skip different numbers of steps")
    with torch.inference_mode():
        frames = dict(zip(distinct, _render_batch(keyframes, distinct).numpy()))
    return np.stack([frames[s] for s in states])


def preview_keyframe(pipe, keyframes, render, index: int):
    """A keyframe's own image (what its frames show when the walk stands on it), as a PIL image.

    ``keyframes`` and ``render`` are a project's (``render``: size and steps); ``index`` counts
    from 0 (messages number keyframes from 1, as the page and the frame plan do).
    """
    from types import SimpleNamespace

    from PIL import Image

    if not 0 <= index < len(keyframes):
        raise BeatwalkError(f"keyframe {index + 1} does not exist (the project has {len(keyframes)})")
    # Only this keyframe is encoded: its image depends on its own prompt, seed and guidance alone.
    on_keyframe = SimpleNamespace(key_a=[0], key_b=[0], t=[0.0], pulse=[0.0])
    conditioning = KeyframeConditioning(pipe, [keyframes[index]], render)
    ((_, frame),) = walk_frames(conditioning, on_keyframe, batch_size=1)
    return Image.fromarray(frame)


def _render_batch(
    keyframes: KeyframeConditioning,
    batch: list[FrameState],
    *,
    start_step: int | None = None,
    init: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> _FramesOnTheWay:
    """Denoise and decode one batch; the stock pipeline's ``__call__`` with per-frame conditioning.

    ``start_step``, ``init`` and ``noise`` replace the states' own (the feedback renderer starts
    each frame from the frame before: its latent, its img2img step, a noise of its own).
    """
    pipe, device, dtype, n = keyframes.pipe, keyframes.device, keyframes.dtype, len(batch)
    scheduler = keyframes.scheduler

    # 1. Timesteps (img2img batches start later, as in StableDiffusionImg2ImgPipeline.get_timesteps)
    scheduler.set_timesteps(keyframes.steps, device=device)
    start = (keyframes.start_step(batch[0]) if start_step is None else start_step) * scheduler.order
    timesteps = scheduler.timesteps[start:]
    if start and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)

    # 2. Start latents: slerped seed noise (+ pulse), or the noised init image
    if noise is None:
        noise = torch.cat([keyframes.noise(s) for s in batch])
    if start:
        if init is None:
            init = torch.cat([keyframes.init_latent(s) for s in batch])
        latents = scheduler.add_noise(init, noise, timesteps[:1].repeat(n))
    else:
        latents = noise * scheduler.init_noise_sigma

    # 3. Conditioning: interpolated embeddings, per-frame guidance
    parts = [torch.cat(p) for p in zip(*(keyframes.embedding(s) for s in batch))]
    guidances = [keyframes.guidance_of(s) for s in batch]
    cfg = keyframes.any_cfg and max(guidances) > 1
    guidance = torch.tensor(guidances, dtype=torch.float32, device=device)
    if keyframes.sdxl:
        embeds, pooled = (
            (torch.cat([parts[1], parts[0]]), torch.cat([parts[3], parts[2]])) if cfg else parts[:2]
        )
        time_ids = (
            pipe._get_add_time_ids(
                keyframes.size,
                (0, 0),
                keyframes.size,
                dtype=dtype,
                text_encoder_projection_dim=pipe.text_encoder_2.config.projection_dim,
            )
            .to(device)
            .repeat(embeds.shape[0], 1)
        )
        added_cond_kwargs = {"text_embeds": pooled, "time_ids": time_ids}
    else:
        embeds = torch.cat([parts[1], parts[0]]) if cfg else parts[0]
        added_cond_kwargs = None
    timestep_cond = None
    if keyframes.guidance_embedding:
        w = torch.tensor([g - 1 for g in guidances])
        timestep_cond = pipe.get_guidance_scale_embedding(
            w, embedding_dim=pipe.unet.config.time_cond_proj_dim
        ).to(device=device, dtype=latents.dtype)
    generators = [keyframes.generator(s) for s in batch]
    extra_step_kwargs = pipe.prepare_extra_step_kwargs(generators, 0.0)

    # 4. Denoising loop
    for t in timesteps:
        model_input = torch.cat([latents] * 2) if cfg else latents
        model_input = scheduler.scale_model_input(model_input, t)
        noise_pred = pipe.unet(
            model_input,
            t,
            encoder_hidden_states=embeds,
            timestep_cond=timestep_cond,
            added_cond_kwargs=added_cond_kwargs,
            return_dict=False,
        )[0]
        if cfg:
            uncond, text = noise_pred.chunk(2)
            # Per-frame guidance, rounded like the stock `uncond + g * (text - uncond)` with a Python float;
            # frames with guidance ≤ 1 keep the plain text prediction, as the stock pipeline does.
            scale = guidance.view(-1, 1, 1, 1)
            guided = uncond + (scale * (text - uncond).float()).to(text.dtype)
            noise_pred = torch.where(scale > 1, guided, text)
        latents = scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]

    # 5. Decode, then start moving the batch to the CPU as uint8
    return _decode(pipe, latents, sdxl=keyframes.sdxl)


def _decode(pipe, latents: torch.Tensor, *, sdxl: bool) -> _FramesOnTheWay:
    # As StableDiffusionXLPipeline: its VAE overflows in float16 unless run in float32. Upcasting
    # changes the shared VAE, so jobs running at once take turns (judged by the UNet's dtype,
    # which no job changes).
    upcast = sdxl and pipe.unet.dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False)
    if not upcast:
        return _decode_latents(pipe.vae, latents, sdxl=sdxl)
    with _VAE_UPCAST:
        pipe.vae.to(dtype=torch.float32)
        try:
            return _decode_latents(pipe.vae, latents.to(torch.float32), sdxl=sdxl)
        finally:
            pipe.vae.to(dtype=torch.float16)


def encode_frames(pipe, frames: np.ndarray, *, sdxl: bool) -> torch.Tensor:
    """uint8 frames ``(n, height, width, 3)`` to the UNet's latents: the VAE's mean, scaled as
    img2img scales it (the inverse of :func:`_decode_latents`)."""
    vae = pipe.vae
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    # Judged by the UNet's dtype, as _decode judges it: another job may have the VAE upcast right now.
    upcast = sdxl and pipe.unet.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    with _VAE_UPCAST if upcast else contextlib.nullcontext():
        if upcast:
            vae.to(dtype=torch.float32)
        try:
            encoded = vae.encode(pixels.to(device=pipe._execution_device, dtype=vae.dtype))
        finally:
            if upcast:
                vae.to(dtype=torch.float16)
    latents = encoded.latent_dist.mode() if hasattr(encoded, "latent_dist") else encoded.latents
    latents = latents.to(pipe.unet.dtype)
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if sdxl and mean is not None and std is not None:
        mean = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
        std = torch.tensor(std).view(1, -1, 1, 1).to(latents)
        return (latents - mean) * vae.config.scaling_factor / std
    return latents * vae.config.scaling_factor


def _decode_latents(vae, latents: torch.Tensor, *, sdxl: bool) -> _FramesOnTheWay:
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    if sdxl and mean is not None and std is not None:
        mean = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
        std = torch.tensor(std).view(1, -1, 1, 1).to(latents)
        latents = latents * std / vae.config.scaling_factor + mean
    else:
        latents = latents / vae.config.scaling_factor
    image = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
    image = (image.float() / 2 + 0.5).clamp(0, 1)
    return _FramesOnTheWay((image * 255).round().to(torch.uint8).permute(0, 2, 3, 1))


class _FramesOnTheWay:
    """A batch of uint8 frames being copied to the CPU; ``numpy()`` waits for the copy."""

    def __init__(self, frames: torch.Tensor):
        self.done = None
        if frames.device.type == "cuda":
            # A non-blocking copy lands in pinned memory; the event says when it has.
            frames = frames.to("cpu", non_blocking=True)
            self.done = torch.cuda.Event()
            self.done.record()
        self.frames = frames

    def numpy(self) -> np.ndarray:
        if self.done is not None:
            self.done.synchronize()
        return self.frames.numpy()


def _batches(states: list[FrameState], size: int, *, key) -> Iterator[list[FrameState]]:
    """Consecutive runs of at most ``size`` states with the same ``key``."""
    batch: list[FrameState] = []
    for state in states:
        if batch and (len(batch) == size or key(state) != key(batch[0])):
            yield batch
            batch = []
        batch.append(state)
    if batch:
        yield batch


def _beat_numbers(pulse: np.ndarray) -> list[int]:
    """Number each pulse: a pulse starts where ``pulse`` begins to rise."""
    rising = np.zeros(len(pulse), dtype=bool)
    if len(pulse):
        rising[0] = pulse[0] > 0
        rising[1:] = pulse[1:] > pulse[:-1]
        rising[2:] &= ~(pulse[1:-1] > pulse[:-2])
    return np.cumsum(rising).tolist()
