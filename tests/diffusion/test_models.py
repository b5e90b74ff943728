"""Model loading: the tiny built-in models, dtypes, families, clear errors offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.diffusion.models import load_pipeline, model_family, resolve_dtype
from pipelines.diffusion.tiny import real_size_pipeline
from pipelines.errors import BeatwalkError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tiny_is_cached_and_on_cpu(tiny_pipe):
    assert load_pipeline("tiny", device="cpu") is tiny_pipe
    assert tiny_pipe.device.type == "cpu" and tiny_pipe.unet.dtype == torch.float32
    assert model_family(tiny_pipe).name == "tiny"


def test_tiny_walks_at_any_size_of_multiples_of_eight(tiny_pipe):
    """Start noise in latent space (an eighth of the frame), frames of the project's size, not square."""
    from pipelines.diffusion.conditioning import KeyframeConditioning
    from pipelines.diffusion.walk import preview_keyframe
    from pipelines.project import Keyframe, RenderSettings

    keyframes, render = [Keyframe(time=0, prompt="a fox")], RenderSettings(width=96, height=64, steps=1)
    assert KeyframeConditioning(tiny_pipe, keyframes, render).noises[0].shape == (1, 4, 8, 12)
    assert preview_keyframe(tiny_pipe, keyframes, render, 0).size == (96, 64)


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


@pytest.mark.weights
def test_real_sd_turbo_from_the_hub_walks_like_its_stock_pipeline():
    """The real loading path: sd-turbo's weights from the hub, one step, its keyframe the stock image."""
    from pipelines.diffusion.walk import preview_keyframe
    from pipelines.project import Keyframe, RenderSettings

    pipe = load_pipeline("stabilityai/sd-turbo")
    assert model_family(pipe).name == "sd-turbo"
    keyframes = [Keyframe(time=0, prompt="a lighthouse at dusk", seed=5)]
    render = RenderSettings(model="stabilityai/sd-turbo", width=512, height=512, steps=1)
    ours = np.asarray(preview_keyframe(pipe, keyframes, render, 0)).astype(int)
    stock = pipe("a lighthouse at dusk", num_inference_steps=1, guidance_scale=0.0, height=512, width=512,
                 generator=torch.Generator("cpu").manual_seed(5), output_type="np").images[0]  # fmt: skip
    assert np.abs(ours - np.round(stock * 255)).max() <= 2
