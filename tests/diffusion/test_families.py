"""The model table: families and their defaults, what a server offers, the GPU-time estimate."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.diffusion.families import (
    FAMILIES,
    OFFERED_MODELS,
    check_offered,
    default_render,
    estimate_seconds,
    family_of,
    offered_models,
)
from pipelines.errors import BeatwalkError
from pipelines.project import RenderSettings


@pytest.mark.parametrize(
    ("model", "family", "guidance"),
    [("stabilityai/sd-turbo", "sd-turbo", 0.0), ("stabilityai/sdxl-turbo", "sdxl-turbo", 0.0),
     ("runwayml/stable-diffusion-v1-5", "sd", 7.5), ("SimianLuo/LCM_Dreamshaper_v7", "lcm", 8.5),
     ("someone/my-sdxl-turbo-finetune", "sdxl-turbo", 0.0), ("someone/anything", "sd", 7.5)],
)  # fmt: skip
def test_model_family_defaults(model, family, guidance):
    assert family_of(model).name == family
    assert family_of(model).guidance == guidance


def test_the_class_decides_sdxl_over_the_name():
    assert family_of("someone/turbo", sdxl=True).name == "sdxl-turbo"
    assert family_of("someone/xl-named-turbo", sdxl=False).name == "sd-turbo"


@pytest.mark.parametrize(
    ("model", "limits", "expected"),
    [
        ("tiny", {}, (128, 12, 1)),
        ("stabilityai/sd-turbo", {}, (512, 24, 1)),
        ("stabilityai/sdxl-turbo", {}, (512, 24, 1)),
        ("SimianLuo/LCM_Dreamshaper_v7", {}, (512, 24, 4)),
        # The family's own steps and size, within a public server's limits.
        ("stable-diffusion-v1-5/stable-diffusion-v1-5", {}, (512, 24, 25)),
        ("stable-diffusion-v1-5/stable-diffusion-v1-5", {"max_steps": 8}, (512, 24, 8)),
        ("stabilityai/stable-diffusion-xl-base-1.0", {}, (1024, 24, 30)),
        ("stabilityai/stable-diffusion-xl-base-1.0", {"max_pixels": 768 * 768, "max_steps": 8}, (768, 24, 8)),
        ("stabilityai/stable-diffusion-xl-base-1.0", {"max_pixels": 700 * 700}, (640, 24, 30)),
    ],
)
def test_default_render_follows_the_family_within_the_limits(model, limits, expected):
    render = default_render(model, **limits)
    assert isinstance(render, RenderSettings) and render.model == model
    assert (render.width, render.fps, render.steps) == expected and render.height == render.width


def test_every_family_default_is_a_valid_render():
    for family in FAMILIES.values():
        RenderSettings(width=family.size, height=family.size, fps=family.fps, steps=family.steps)


def test_offered_models_from_the_environment():
    assert offered_models({}) == ["tiny", *OFFERED_MODELS]
    assert offered_models({"BEATWALK_MODELS": " a/b , tiny,c/d "}) == ["tiny", "a/b", "c/d"]
    assert offered_models({"BEATWALK_MODELS": "a/b", "BEATWALK_DEFAULT_MODEL": "e/f"}) == [
        "tiny",
        "e/f",
        "a/b",
    ]
    check_offered("stabilityai/sd-turbo", {})
    with pytest.raises(BeatwalkError, match="'../weights' is not offered here; choose one of: tiny, a/b"):
        check_offered("../weights", {"BEATWALK_MODELS": "a/b"})


def test_gpu_time_grows_with_the_work():
    sd = RenderSettings(model="stabilityai/sd-turbo", steps=1)
    xl = RenderSettings(model="stabilityai/sdxl-turbo", steps=1)
    more_steps = RenderSettings(model="stabilityai/sd-turbo", steps=4)
    assert estimate_seconds(sd, 2000) > estimate_seconds(sd, 100)
    assert estimate_seconds(more_steps, 100) > estimate_seconds(sd, 100)
    assert estimate_seconds(xl, 100) > estimate_seconds(sd, 100)
    assert np.isfinite(estimate_seconds(sd, 0))
    bigger = RenderSettings(model="stabilityai/sd-turbo", steps=1, width=1024, height=1024)
    assert estimate_seconds(bigger, 100) - estimate_seconds(bigger, 0) == pytest.approx(
        4 * (estimate_seconds(sd, 100) - estimate_seconds(sd, 0))
    )
