"""The batch size of ``batch_size="auto"``: by device and frame size, on a GPU by a probe of its memory.

On a CPU a batch is the most frames that keep the model's convolutions in cache: measured on a
2-core Xeon with the tiny model, 4 steps, one thread (``benchmarks/RESULTS.md``, issue 22), 32
frames are fastest up to 128² (64²: 1.9× batch 4; 128²: 1.4×) and larger batches lose above that
(256²: batch 4 best). On a GPU a batch is as many frames as fit in its free memory, by a probe: one
frame's denoising step and decode, measured, at most :data:`GPU_MOST` (larger batches gain
little once the GPU is full, and a window's work is cut in whole batches).
"""

from __future__ import annotations

CPU_SMALL_FRAME = 128 * 128
"""Frames up to this many pixels batch by :data:`CPU_SMALL_BATCH` on a CPU; larger ones by :data:`CPU_LARGE_BATCH`."""
CPU_SMALL_BATCH = 32
CPU_LARGE_BATCH = 4
GPU_MOST = 32
GPU_MEMORY_SHARE = 0.7
"""The share of the GPU memory free for the render that its batches may fill (the rest: the
allocator's fragments, the encoder, another job's pipeline)."""
GPU_UNPROBED = 8
"""A GPU's batch when no pipeline is at hand to probe with (a farm's workers choose their own)."""


def render_batch_size(project, *, device: str, pipe=None) -> int:
    """A project's batch size: its own, or for ``"auto"`` :func:`auto_batch_size` for its frames
    (guidance on when any keyframe's is above 1)."""
    from pipelines.diffusion.families import family_of

    render = project.render
    if render.batch_size != "auto":
        return render.batch_size
    default = family_of(render.model).guidance
    cfg = any((default if k.guidance is None else k.guidance) > 1 for k in project.keyframes)
    return auto_batch_size(render.width, render.height, device=device, pipe=pipe, cfg=cfg)


def auto_batch_size(width: int, height: int, *, device: str, pipe=None, cfg: bool = False) -> int:
    """The batch size for frames of ``width`` × ``height`` on ``device`` ("cpu", "cuda", "cuda:1").

    On CUDA with ``pipe`` (the loaded pipeline), probed: see :func:`probe_frame_bytes`. ``cfg``:
    classifier-free guidance doubles the UNet's batch.
    """
    if not str(device).startswith("cuda"):
        return CPU_SMALL_BATCH if width * height <= CPU_SMALL_FRAME else CPU_LARGE_BATCH
    if pipe is None:
        return GPU_UNPROBED
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    # What this process's allocator holds but does not use is free for the render too.
    available = free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    key = (id(pipe), getattr(pipe, "name_or_path", ""), width, height, cfg)
    if key not in _probed:  # once per pipeline and frame size: a window's call and its render's ask alike
        _probed[key] = probe_frame_bytes(pipe, width, height, cfg=cfg)
    return fitting_batch(available, _probed[key])


_probed: dict[tuple, int] = {}


def fitting_batch(available_bytes: int, frame_bytes: int, *, most: int = GPU_MOST) -> int:
    """The largest power of two of frames, at most ``most``, whose ``frame_bytes`` each fill at
    most :data:`GPU_MEMORY_SHARE` of ``available_bytes``; at least 1."""
    fits = int(GPU_MEMORY_SHARE * available_bytes // max(frame_bytes, 1))
    batch = 1
    while batch * 2 <= min(fits, most):
        batch *= 2
    return batch


def probe_frame_bytes(pipe, width: int, height: int, *, cfg: bool = False) -> int:
    """GPU memory one frame takes beyond the loaded pipeline: the peak of one UNet step and one VAE
    decode of a single frame (its workspace included, so larger batches take less per frame)."""
    import torch

    device = pipe._execution_device
    latents, conditioning = probe_inputs(pipe, width, height, cfg=cfg)
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        pipe.unet(latents, 999, **conditioning, return_dict=False)
        pipe.vae.decode(latents[:1].to(pipe.vae.dtype), return_dict=False)
    torch.cuda.synchronize(device)
    return max(1, torch.cuda.max_memory_allocated(device) - base)


def probe_inputs(pipe, width: int, height: int, *, cfg: bool = False):
    """One frame's UNet input (two with guidance) and its conditioning, in zeros: ``(latents, kwargs)``."""
    import torch

    unet = pipe.unet
    rows = 2 if cfg else 1
    options = {"device": pipe._execution_device, "dtype": unet.dtype}
    shape = (rows, unet.config.in_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
    kwargs = {"encoder_hidden_states": torch.zeros((rows, 77, unet.config.cross_attention_dim), **options)}
    if unet.config.addition_embed_type == "text_time":  # SDXL: the pooled text embedding and six size ids
        time_ids = 6 * unet.config.addition_time_embed_dim
        pooled = unet.config.projection_class_embeddings_input_dim - time_ids
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.zeros((rows, pooled), **options),
            "time_ids": torch.zeros((rows, 6), **options),
        }
    if unet.config.time_cond_proj_dim is not None:  # LCM: the guidance embedding
        kwargs["timestep_cond"] = torch.zeros((rows, unet.config.time_cond_proj_dim), **options)
    return torch.zeros(shape, **options), kwargs
