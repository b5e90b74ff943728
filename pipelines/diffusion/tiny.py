"""Random-weight Stable Diffusion pipelines built from config: no download, no hub.

``tiny_pipeline`` builds test-sized SD, SDXL and LCM pipelines like diffusers'
own fast tests (deterministic, offline, seconds on a CPU); ``real_size_pipeline``
builds the real sd-turbo (SD 2.1) and SDXL architectures with random weights,
to measure speed on a GPU (speed does not depend on the weights).
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import torch

from pipelines.diffusion.families import TINY_MODELS
from pipelines.errors import BeatwalkError

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
    components = dict(vae=vae, text_encoder=text_encoders[0], tokenizer=tokenizer, unet=unet, scheduler=scheduler)
    if family == "sdxl":
        pipe = StableDiffusionXLPipeline(**components, text_encoder_2=text_encoders[1], tokenizer_2=tokenizer)
    else:
        pipeline_class = LatentConsistencyModelPipeline if lcm else StableDiffusionPipeline
        pipe = pipeline_class(
            **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
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
