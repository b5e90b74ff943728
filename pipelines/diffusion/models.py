"""Loading diffusion pipelines: hub ids, local folders and the built-in tiny models; dtype, device, fast decoder.

``load_pipeline`` turns what a project names in ``render.model`` into a ready
diffusers pipeline:

- a Hugging Face hub id (``stabilityai/sd-turbo``, ``stabilityai/sdxl-turbo``,
  ``runwayml/stable-diffusion-v1-5``, ``SimianLuo/LCM_Dreamshaper_v7``, …) or a
  local diffusers folder, loaded with ``AutoPipelineForText2Image``;
- ``"tiny"`` (and ``"tiny-sdxl"``, ``"tiny-lcm"``): random-weight pipelines built from small
  configs like diffusers' own fast tests, deterministic, offline, seconds on a
  CPU. They make every code path testable without downloading weights.

:mod:`pipelines.diffusion.tiny` builds them (and the real sd-turbo and SDXL architectures with
random weights, to measure speed on a GPU without downloading anything); each family's defaults
are in :mod:`pipelines.diffusion.families`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from pipelines.diffusion.families import TINY_MODELS, ModelFamily, family_of
from pipelines.diffusion.tiny import tiny_pipeline
from pipelines.errors import BeatwalkError

COMPILE_ENV = "BEATWALK_COMPILE"
"""Set to 1 to ``torch.compile`` the UNet on CUDA (slow first batch, faster after)."""


def model_family(pipe) -> ModelFamily:
    """The family of a loaded pipeline (:func:`~pipelines.diffusion.families.family_of` its name, SDXL
    or not by its class)."""
    return family_of(pipe.name_or_path or "", sdxl=hasattr(pipe, "text_encoder_2"))


def load_pipeline(model: str, *, dtype: str = "auto", device: str | None = None, fast_decoder: bool = False):
    """Load a text-to-image pipeline, ready for :func:`pipelines.diffusion.walk.walk_frames`.

    Parameters
    ----------
    model : str
        A hub id, a local diffusers folder, ``"tiny"`` or ``"tiny-sdxl"``.
    dtype : {"auto", "float32", "float16", "bfloat16"}
        ``"auto"``: float16 on CUDA (bfloat16 for SDXL, whose VAE overflows in
        float16), float32 on CPU.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    fast_decoder : bool
        Decode with ``AutoencoderTiny`` (TAESD): several times faster, slightly softer.

    Returns
    -------
    diffusers.DiffusionPipeline
        Cached per process: the same arguments give the same object.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = resolve_dtype(dtype, device=device, sdxl="xl" in model.lower())
    if model in TINY_MODELS:
        return _load_tiny(model, torch_dtype, device, fast_decoder)
    return _load_pretrained(model, torch_dtype, device, fast_decoder)


def resolve_dtype(dtype: str, *, device: str, sdxl: bool = False) -> torch.dtype:
    """The torch dtype for a dtype setting on a device (see :func:`load_pipeline`)."""
    if dtype == "auto":
        if not str(device).startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if sdxl else torch.float16
    if dtype not in ("float32", "float16", "bfloat16"):
        raise BeatwalkError(f"unknown dtype {dtype!r} (use auto, float32, float16 or bfloat16)")
    return getattr(torch, dtype)


@functools.cache
def _load_tiny(model: str, dtype: torch.dtype, device: str, fast_decoder: bool):
    return _ready(tiny_pipeline(model, fast_decoder=fast_decoder), dtype, device)


# One real pipeline at a time: a second SDXL beside the first would not fit on most GPUs.
@functools.lru_cache(maxsize=1)
def _load_pretrained(model: str, dtype: torch.dtype, device: str, fast_decoder: bool):
    pipe = _from_pretrained(model, dtype)
    if fast_decoder:
        pipe.vae = _load_tiny_autoencoder(model_family(pipe).fast_decoder, dtype)
    return _ready(pipe, dtype, device)


def _ready(pipe, dtype: torch.dtype, device: str):
    """Move to the device and dtype; channels_last; on CUDA, the optional ``torch.compile``."""
    pipe.to(device)
    if pipe.unet.dtype != dtype:
        pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    # channels_last convolutions are faster on tensor cores and in oneDNN on a CPU (the tiny model's
    # batch of 32 at 64², one thread: 16 % less time; benchmarks/RESULTS.md, issue 22). The images
    # change only by float rounding.
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    if str(device).startswith("cuda"):
        if os.environ.get(COMPILE_ENV, "") not in ("", "0"):
            pipe.unet = torch.compile(pipe.unet, fullgraph=True)
    return pipe


def _from_pretrained(model: str, dtype: torch.dtype):
    from diffusers import AutoPipelineForText2Image, LCMScheduler
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    local = Path(model).expanduser()
    if local.exists() and not (local / "model_index.json").is_file():
        raise BeatwalkError(f"model folder {model} is not a diffusers pipeline (no model_index.json)")
    if not local.exists() and (model.startswith((".", "/", "~")) or model.count("/") != 1):
        raise BeatwalkError(
            f"unknown model {model!r}: give a hub id like stabilityai/sd-turbo, a diffusers folder, or tiny"
        )
    try:
        # The walk decodes frames itself; SD 1.x's safety checker would cost a CLIP pass per frame.
        pipe = AutoPipelineForText2Image.from_pretrained(
            str(local) if local.exists() else model,
            torch_dtype=dtype,
            safety_checker=None,
            requires_safety_checker=False,
        )
    except (RepositoryNotFoundError, GatedRepoError):
        raise BeatwalkError(
            f"unknown model {model!r}: not found on the Hugging Face hub (or gated)"
        ) from None
    except (LocalEntryNotFoundError, OSError) as exc:
        if _offline(exc):
            raise BeatwalkError(
                f"model {model} cannot be loaded: "
                "not in the local cache and the hub cannot be reached (offline)"
            ) from None
        raise BeatwalkError(f"model {model} cannot be loaded: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise BeatwalkError(
            f"model {model} is not a text-to-image pipeline: {str(exc).splitlines()[0]}"
        ) from None
    if model_family(pipe).lcm_scheduler and not isinstance(pipe.scheduler, LCMScheduler):
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    return pipe


def _offline(exc: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen = exc
    while seen is not None:
        if isinstance(seen, (LocalEntryNotFoundError, ConnectionError)) or "offline" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")


def _load_tiny_autoencoder(repo: str, dtype: torch.dtype):
    from diffusers import AutoencoderTiny

    try:
        return AutoencoderTiny.from_pretrained(repo, torch_dtype=dtype)
    except OSError:
        raise BeatwalkError(f"fast decoder {repo} cannot be loaded (offline and not cached)") from None
