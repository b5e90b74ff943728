"""Model loading: the tiny built-in models, dtypes, families, clear errors offline."""

from __future__ import annotations

import pytest
import torch

from pipelines.errors import BeatwalkError
from pipelines.diffusion.models import load_pipeline, model_family, resolve_dtype
from pipelines.diffusion.tiny import real_size_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tiny_is_cached_and_on_cpu(tiny_pipe):
    assert load_pipeline("tiny", device="cpu") is tiny_pipe
    assert tiny_pipe.device.type == "cpu" and tiny_pipe.unet.dtype == torch.float32
    assert tiny_pipe.vae_scale_factor == 8
    assert model_family(tiny_pipe).name == "tiny"


def test_tiny_is_deterministic_across_builds(tiny_pipe):
    from pipelines.diffusion.tiny import tiny_pipeline

    rebuilt = tiny_pipeline("tiny")
    for name in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(tiny_pipe, name).state_dict(), getattr(rebuilt, name).state_dict()
        assert all(torch.equal(ours[key], theirs[key]) for key in ours)


def test_tiny_tokenizer_pads_to_77(tiny_pipe):
    ids = tiny_pipe.tokenizer("a red fox", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids[0] == tiny_pipe.tokenizer.bos_token_id


@pytest.mark.parametrize(
    ("model", "family", "guidance"),
    [("stabilityai/sd-turbo", "sd-turbo", 0.0), ("stabilityai/sdxl-turbo", "sdxl-turbo", 0.0),
     ("runwayml/stable-diffusion-v1-5", "sd", 7.5), ("SimianLuo/LCM_Dreamshaper_v7", "lcm", 8.5),
     ("someone/my-sdxl-turbo-finetune", "sdxl-turbo", 0.0), ("someone/anything", "sd", 7.5)],
)  # fmt: skip
def test_model_family_defaults(model, family, guidance):
    assert model_family(model).name == family
    assert model_family(model).guidance == guidance


@pytest.mark.parametrize(
    ("dtype", "device", "sdxl", "expected"),
    [("auto", "cpu", False, torch.float32), ("auto", "cuda", False, torch.float16),
     ("auto", "cuda", True, torch.bfloat16), ("float16", "cpu", False, torch.float16)],
)  # fmt: skip
def test_resolve_dtype(dtype, device, sdxl, expected):
    assert resolve_dtype(dtype, device=device, sdxl=sdxl) == expected


def test_unknown_dtype():
    with pytest.raises(BeatwalkError, match="unknown dtype"):
        resolve_dtype("int8", device="cpu")


def test_hub_model_offline_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        BeatwalkError, match=r"cannot be loaded: not in the local cache .*\(offline\)"
    ) as info:
        load_pipeline("stabilityai/sd-turbo-not-cached-here")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("model", "message"), [("not a model", "unknown model"), ("./no/such/folder", "unknown model")]
)
def test_unknown_model(model, message):
    with pytest.raises(BeatwalkError, match=message):
        load_pipeline(model)


def test_folder_without_pipeline(tmp_path):
    with pytest.raises(BeatwalkError, match="not a diffusers pipeline"):
        load_pipeline(str(tmp_path))


@pytest.mark.parametrize(
    ("family", "unet_parameters"), [("sd-turbo", 865_910_724), ("sdxl-turbo", 2_567_463_684)]
)
def test_real_size_architectures(family, unet_parameters):
    # Built on the meta device: the layer shapes without the memory. The counts are the published models'.
    pipe = real_size_pipeline(family, device="meta")
    assert sum(p.numel() for p in pipe.unet.parameters()) == unet_parameters
    assert model_family(pipe).name == family
