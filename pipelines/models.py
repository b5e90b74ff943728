"""Diffusion models: ids, families, dtypes, devices, fast decoders, and the built-in tiny model.

``load_pipeline`` turns what a project names in ``render.model`` into a ready
diffusers pipeline:

- a Hugging Face hub id (``stabilityai/sd-turbo``, ``stabilityai/sdxl-turbo``,
  ``runwayml/stable-diffusion-v1-5``, ``SimianLuo/LCM_Dreamshaper_v7``, …) or a
  local diffusers folder, loaded with ``AutoPipelineForText2Image``;
- ``"tiny"`` (and ``"tiny-sdxl"``): random-weight pipelines built from small
  configs like diffusers' own fast tests, deterministic, offline, seconds on a
  CPU. They make every code path testable without downloading weights.

``real_size_pipeline`` builds the real sd-turbo (SD 2.1) and SDXL architectures
with random weights, to measure speed on a GPU without downloading anything.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from pipelines.errors import BeatwalkError

TINY_MODELS = ("tiny", "tiny-sdxl", "tiny-lcm")
COMPILE_ENV = "BEATWALK_COMPILE"
"""Set to 1 to ``torch.compile`` the UNet on CUDA (slow first batch, faster after)."""


@dataclass(frozen=True)
class ModelFamily:
    """What a family of checkpoints expects by default.

    ``guidance`` ≤ 1 means classifier-free guidance is skipped (turbo models are
    distilled to work without it).
    """

    name: str
    steps: int
    guidance: float
    size: int
    fast_decoder: str | None
    lcm_scheduler: bool = False


FAMILIES = {
    "sd": ModelFamily("sd", steps=25, guidance=7.5, size=512, fast_decoder="madebyollin/taesd"),
    "sd-turbo": ModelFamily("sd-turbo", steps=1, guidance=0.0, size=512, fast_decoder="madebyollin/taesd"),
    "sdxl": ModelFamily("sdxl", steps=30, guidance=5.0, size=1024, fast_decoder="madebyollin/taesdxl"),
    "sdxl-turbo": ModelFamily(
        "sdxl-turbo", steps=1, guidance=0.0, size=512, fast_decoder="madebyollin/taesdxl"
    ),
    "lcm": ModelFamily(
        "lcm", steps=4, guidance=8.5, size=512, fast_decoder="madebyollin/taesd", lcm_scheduler=True
    ),
    "tiny": ModelFamily("tiny", steps=2, guidance=0.0, size=128, fast_decoder=None),
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


def model_family(pipe_or_model) -> ModelFamily:
    """The family of a pipeline or a model id: its default steps, guidance and size.

    Unknown ids are guessed from their name (``turbo``, ``lcm``) and pipeline
    class (SDXL or not).
    """
    if isinstance(pipe_or_model, str):
        name, is_sdxl = pipe_or_model, "xl" in pipe_or_model.lower()
    else:
        name, is_sdxl = pipe_or_model.name_or_path or "", hasattr(pipe_or_model, "text_encoder_2")
    if name in KNOWN_MODELS:
        return FAMILIES[KNOWN_MODELS[name]]
    lowered = name.lower()
    if "lcm" in lowered:
        return FAMILIES["lcm"]
    if "turbo" in lowered:
        return FAMILIES["sdxl-turbo" if is_sdxl else "sd-turbo"]
    return FAMILIES["sdxl" if is_sdxl else "sd"]


def load_pipeline(model: str, *, dtype: str = "auto", device: str | None = None, fast_decoder: bool = False):
    """Load a text-to-image pipeline, ready for :func:`pipelines.walk.walk_frames`.

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
    """Move to the device and dtype; on CUDA, channels_last and the optional ``torch.compile``."""
    pipe.to(device)
    if pipe.unet.dtype != dtype:
        pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if str(device).startswith("cuda"):
        # channels_last convolutions are faster on tensor cores; the images do not change.
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
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


# -- Random-weight pipelines built from config ------------------------------------------------

# Architectures: "tiny" is diffusers' fast-test scale; "real" are the published configs of
# sd-turbo (SD 2.1 base) and SDXL, so speed measured on them is the speed of the real models.
_UNET = {
    ("sd", "tiny"): dict(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=16,
        cross_attention_dim=32,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        # A random UNet barely listens to cross-attention; a pooled text embedding added to the time
        # embedding makes the prompt visibly change the image.
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
    ),
    ("sdxl", "tiny"): dict(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=16,
        cross_attention_dim=64,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,
    ),
    ("sd", "real"): dict(
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        sample_size=64,
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    ),
    ("sdxl", "real"): dict(
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        sample_size=64,
        cross_attention_dim=2048,
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2, 10),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    ),
}
_VAE = {
    "tiny": dict(block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=8),
    "real": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
}
# (hidden size, intermediate size, heads, layers, activation, projection dim) per text encoder.
_TEXT_ENCODERS = {
    ("sd", "tiny"): [(32, 37, 4, 5, "gelu", 32)],
    ("sdxl", "tiny"): [(32, 37, 4, 5, "gelu", 32), (32, 37, 4, 5, "gelu", 32)],
    ("sd", "real"): [(1024, 4096, 16, 23, "gelu", 512)],
    ("sdxl", "real"): [(768, 3072, 12, 12, "quick_gelu", 768), (1280, 5120, 20, 32, "gelu", 1280)],
}


def tiny_pipeline(model: str = "tiny", *, fast_decoder: bool = False):
    """A random-weight SD (``"tiny"``), SDXL (``"tiny-sdxl"``) or LCM (``"tiny-lcm"``) pipeline, test-sized.

    Deterministic (``torch.manual_seed(0)`` before each component), offline, on
    the CPU in float32. The scheduler predicts the sample directly, so the image
    is the UNet's output: with random weights an epsilon-predicting UNet would
    leave the seed noise dominating and the prompt nearly invisible.
    """
    if model not in TINY_MODELS:
        raise BeatwalkError(f"unknown tiny model {model!r} (use one of {', '.join(TINY_MODELS)})")
    pipe = _random_pipeline("sdxl" if model == "tiny-sdxl" else "sd", "tiny", lcm=model == "tiny-lcm",
                            fast_decoder=fast_decoder)  # fmt: skip
    pipe.register_to_config(_name_or_path=model)
    return pipe


def real_size_pipeline(
    family: str, *, device: str = "cuda", dtype: torch.dtype = torch.float16, fast_decoder=False
):
    """The sd-turbo (``"sd-turbo"``: SD 2.1 UNet) or ``"sdxl-turbo"`` architecture with random weights.

    For speed measurements only: images are noise, but every layer has its real
    size, so frames per second are those of the real model. Built directly on
    ``device`` (use ``"meta"`` to inspect the architecture without memory).
    """
    if family not in ("sd-turbo", "sdxl-turbo"):
        raise BeatwalkError(f"unknown architecture {family!r} (use sd-turbo or sdxl-turbo)")
    pipe = _random_pipeline(
        "sdxl" if family == "sdxl-turbo" else "sd", "real", device=device, fast_decoder=fast_decoder
    )
    pipe.register_to_config(_name_or_path=f"random-{family}")
    if device != "meta":
        pipe.to(dtype=dtype)
        pipe.set_progress_bar_config(disable=True)
    return pipe


def _random_pipeline(family: str, scale: str, *, lcm: bool = False, device: str = "cpu", fast_decoder: bool):
    from diffusers import (
        EulerDiscreteScheduler,
        LatentConsistencyModelPipeline,
        LCMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    if (family, scale) not in _UNET:
        raise BeatwalkError(f"unknown architecture {family!r}")
    tokenizer = _tiny_tokenizer()
    with torch.device(device):
        unet, vae, text_encoders = _random_models(
            family, scale, tokenizer, lcm=lcm, fast_decoder=fast_decoder
        )
    schedule = dict(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing",
        steps_offset=1, prediction_type="sample" if scale == "tiny" else "epsilon",
    )  # fmt: skip
    scheduler = LCMScheduler(**schedule) if lcm else EulerDiscreteScheduler(**schedule)
    if lcm:
        pipe = LatentConsistencyModelPipeline(
            vae=vae,
            text_encoder=text_encoders[0],
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    elif family == "sdxl":
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoders[0],
            text_encoder_2=text_encoders[1],
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=scheduler,
        )
    else:
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoders[0],
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _random_models(family: str, scale: str, tokenizer, *, lcm: bool = False, fast_decoder: bool):
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    # LCM: the guidance scale enters the UNet as an embedding (no classifier-free guidance pass).
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, time_cond_proj_dim=32 if lcm else None,
                                **_UNET[family, scale])  # fmt: skip
    torch.manual_seed(0)
    if fast_decoder and scale == "tiny":
        vae = AutoencoderTiny(
            encoder_block_out_channels=(16,) * 4,
            decoder_block_out_channels=(16,) * 4,
            num_encoder_blocks=(1,) * 4,
            num_decoder_blocks=(1,) * 4,
        )
        # A random decoder's output shrinks to ~0, i.e. black: stretch it around mid-gray.
        with torch.no_grad():
            vae.decoder.layers[-1].weight.mul_(5.0)
            vae.decoder.layers[-1].bias.add_(0.5)
    else:
        vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            scaling_factor=0.13025 if family == "sdxl" else 0.18215,
            force_upcast=family == "sdxl",
            **_VAE[scale],
        )
    text_encoders = []
    for i, (hidden, intermediate, heads, layers, act, projection) in enumerate(_TEXT_ENCODERS[family, scale]):
        config = CLIPTextConfig(
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_attention_heads=heads,
            num_hidden_layers=layers,
            hidden_act=act,
            projection_dim=projection,
            vocab_size=1000 if scale == "tiny" else 49408,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            layer_norm_eps=1e-5,
        )
        torch.manual_seed(0)
        text_encoders.append((CLIPTextModelWithProjection if i == 1 else CLIPTextModel)(config))
    return unet, vae, text_encoders


@functools.lru_cache(maxsize=1)
def _tiny_tokenizer():
    """A byte-level CLIP tokenizer with no merges: one token per character, padded to 77."""
    from transformers import CLIPTokenizer

    # GPT-2's reversible byte → printable character table, which CLIP's BPE works on.
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    characters = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        vocab.update({c + suffix: len(vocab) + i for i, c in enumerate(characters)})
    with tempfile.TemporaryDirectory(prefix="beatwalk-tokenizer-") as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        return CLIPTokenizer.from_pretrained(folder, model_max_length=77)
