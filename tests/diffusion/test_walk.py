"""The latent walk on the tiny random-weight models: exactness against the stock pipeline, batching, holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines.diffusion.conditioning import KeyframeConditioning, rotate_towards, slerp
from pipelines.diffusion.models import load_pipeline
from pipelines.diffusion.walk import preview_keyframe, walk_frames
from pipelines.errors import BeatwalkError
from pipelines.plan.timeline import FramePlan
from pipelines.project import Project

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE, STEPS = 64, 2


def make_project(model="tiny", *, guidance=(0.0, 0.0), **render):
    keyframes = [
        {
            "time": 0.0,
            "prompt": "a red fox in the snow",
            "negative_prompt": "blurry",
            "seed": 3,
            "guidance": guidance[0],
        },
        {"time": 2.0, "prompt": "blue ocean waves at night", "seed": 7, "guidance": guidance[1]},
    ]
    settings = {"model": model, "width": SIZE, "height": SIZE, "steps": STEPS, "batch_size": 4, **render}
    return Project.from_dict({"audio": {"path": "song.wav"}, "keyframes": keyframes, "render": settings})


def make_plan(key_a, key_b, t, pulse=None):
    n = len(t)
    pulse = np.zeros(n) if pulse is None else np.asarray(pulse, dtype=float)
    return FramePlan(24.0, n / 24.0, np.arange(n) / 24.0, np.asarray(key_a), np.asarray(key_b),
                     np.asarray(t, dtype=float), pulse, np.zeros(n, dtype=bool))  # fmt: skip


def walk(pipe, project, plan, frame_indices=None, *, batch_size=None):
    """The project's walk over ``plan`` (its own batch size unless given)."""
    conditioning = KeyframeConditioning(pipe, project.keyframes, project.render)
    return walk_frames(conditioning, plan, frame_indices, batch_size=batch_size or project.render.batch_size)


def stock_frame(pipe, project, index, *, steps=STEPS):
    """The stock pipeline's image for a keyframe (LCM's pipeline takes no negative prompt)."""
    keyframe = project.keyframes[index]
    lcm = project.render.model == "tiny-lcm"
    negative = {} if lcm else {"negative_prompt": keyframe.negative_prompt or None}
    image = pipe(
        keyframe.prompt,
        **negative,
        num_inference_steps=steps,
        guidance_scale=keyframe.guidance,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator("cpu").manual_seed(keyframe.seed),
        output_type="np",
    ).images[0]
    return (image * 255).round().astype(np.uint8)


def max_diff(a, b):
    return int(np.abs(a.astype(int) - b.astype(int)).max())


# A walk from keyframe 0 to 1 whose frames 1 and 4 stand on keyframes 0 and 1, inside one batch.
WALK = make_plan([0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1], [0.3, 0.0, 0.6, 0.6, 1.0, 0.0])


@pytest.mark.parametrize("guidance", [(0.0, 0.0), (5.0, 5.0), (7.5, 1.0)], ids=["no-cfg", "cfg", "mixed"])
def test_keyframe_frame_equals_stock_pipeline(tiny_pipe, guidance):
    project = make_project(guidance=guidance)
    frames = dict(walk(tiny_pipe, project, WALK))
    assert max_diff(frames[1], stock_frame(tiny_pipe, project, 0)) <= 1
    assert max_diff(frames[4], stock_frame(tiny_pipe, project, 1)) <= 1
    assert max_diff(frames[5], frames[4]) == 0  # t == 1 from a to b is b's own frame


@pytest.mark.parametrize("guidance", [(0.0, 0.0), (4.0, 4.0)], ids=["no-cfg", "cfg"])
def test_keyframe_frame_equals_stock_sdxl_pipeline(guidance):
    pipe = load_pipeline("tiny-sdxl")
    project = make_project("tiny-sdxl", guidance=guidance)
    frames = dict(walk(pipe, project, WALK))
    assert max_diff(frames[1], stock_frame(pipe, project, 0)) <= 1
    assert max_diff(frames[4], stock_frame(pipe, project, 1)) <= 1


def test_keyframe_frame_equals_stock_lcm_pipeline():
    # LCM draws fresh noise from the generator at every step but the last: two steps test that too.
    pipe = load_pipeline("tiny-lcm")
    project = make_project("tiny-lcm", guidance=(8.5, 3.0))
    frames = dict(walk(pipe, project, WALK))
    for frame, index in ((frames[1], 0), (frames[4], 1)):
        assert max_diff(frame, stock_frame(pipe, project, index)) <= 1
    assert not np.array_equal(frames[2], frames[1])


def test_preview_keyframe_equals_stock_pipeline(tiny_pipe):
    project = make_project(guidance=(6.0, 0.0))
    image = preview_keyframe(tiny_pipe, project.keyframes, project.render, 0)
    assert image.size == (SIZE, SIZE)
    assert max_diff(np.asarray(image), stock_frame(tiny_pipe, project, 0)) <= 1
    with pytest.raises(BeatwalkError, match="keyframe 6 does not exist"):
        preview_keyframe(tiny_pipe, project.keyframes, project.render, 5)


def test_walk_is_deterministic_and_moves(tiny_pipe):
    project = make_project()
    plan = make_plan([0] * 5, [1] * 5, np.linspace(0, 1, 5))
    first = [frame for _, frame in walk(tiny_pipe, project, plan)]
    second = [frame for _, frame in walk(tiny_pipe, project, plan)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert all(f.shape == (SIZE, SIZE, 3) and f.dtype == np.uint8 for f in first)
    # Neighbouring frames differ less than the two keyframes do: the walk is gradual.
    steps = [np.abs(a.astype(int) - b).mean() for a, b in zip(first, first[1:])]
    assert 0 < max(steps) < np.abs(first[0].astype(int) - first[-1]).mean()


def test_batch_size_does_not_change_frames(tiny_pipe):
    project = make_project(guidance=(5.0, 0.0))
    plan = make_plan([0] * 7, [1] * 7, [0.0, 0.1, 0.25, 0.5, 0.5, 0.9, 1.0], pulse=[0, 0, 0.5, 0.3, 0, 0, 0])
    one = dict(walk(tiny_pipe, project, plan, batch_size=1))
    four = dict(walk(tiny_pipe, project, plan, batch_size=4))
    assert one.keys() == four.keys() == set(range(7))
    assert max(max_diff(one[i], four[i]) for i in one) <= 1


def test_frames_come_in_the_requested_order(tiny_pipe):
    project = make_project()
    plan = make_plan([0] * 6, [1] * 6, np.linspace(0, 1, 6))
    everything = dict(walk(tiny_pipe, project, plan))
    some = list(walk(tiny_pipe, project, plan, [4, 1, 2], batch_size=2))
    assert [i for i, _ in some] == [4, 1, 2]
    assert all(max_diff(frame, everything[i]) <= 1 for i, frame in some)
    with pytest.raises(BeatwalkError, match="outside the frame plan"):
        list(walk(tiny_pipe, project, plan, [6]))


def count_unet_samples(pipe):
    """Batch sizes the UNet sees, recorded by a forward hook."""
    seen = []
    handle = pipe.unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    return seen, handle


def test_held_frames_are_rendered_once(tiny_pipe):
    project = make_project()
    # A hold on keyframe 0, a move, and a hold on keyframe 1 (a → b at t = 1 is b itself).
    plan = make_plan(
        [0] * 5 + [0, 0] + [1] * 5, [0] * 5 + [1, 1] + [1] * 5, [0.0] * 5 + [0.5, 1.0] + [0.0] * 5
    )
    seen, handle = count_unet_samples(tiny_pipe)
    try:
        frames = [frame for _, frame in walk(tiny_pipe, project, plan, batch_size=8)]
    finally:
        handle.remove()
    assert sum(seen) == 3 * STEPS  # keyframe 0, the halfway frame, keyframe 1
    assert all(np.array_equal(frames[0], f) for f in frames[:5])
    assert all(np.array_equal(frames[6], f) for f in frames[6:])
    assert not np.array_equal(frames[0], frames[5])


@pytest.mark.parametrize(("guidance", "factor"), [((0.0, 1.0), 1), ((3.0, 3.0), 2), ((0.0, 8.0), 2)])
def test_classifier_free_guidance_only_when_needed(tiny_pipe, guidance, factor):
    project = make_project(guidance=guidance)
    seen, handle = count_unet_samples(tiny_pipe)
    try:
        list(walk(tiny_pipe, project, make_plan([0, 0, 0], [1, 1, 1], [0.0, 0.4, 0.8]), batch_size=3))
    finally:
        handle.remove()
    assert seen == [3 * factor] * STEPS


def test_pulse_pushes_the_frame_and_decays(tiny_pipe):
    project = make_project()
    plan = make_plan([0] * 4, [1] * 4, [0.5] * 4, pulse=[0.0, 0.8, 0.2, 0.0])
    frames = [frame for _, frame in walk(tiny_pipe, project, plan)]
    push = [np.abs(f.astype(int) - frames[0]).mean() for f in frames]
    assert push[1] > push[2] > 0 and push[3] == 0


def test_prompt_and_seed_change_the_tiny_image(tiny_pipe):
    project = make_project()
    base = np.asarray(preview_keyframe(tiny_pipe, project.keyframes, project.render, 0), dtype=float)
    assert base.std() > 20  # structure, not a flat gray
    project.keyframes[0].seed = 4
    other_seed = np.asarray(preview_keyframe(tiny_pipe, project.keyframes, project.render, 0), dtype=float)
    project.keyframes[0].seed, project.keyframes[0].prompt = 3, "a green parrot"
    other_prompt = np.asarray(preview_keyframe(tiny_pipe, project.keyframes, project.render, 0), dtype=float)
    assert np.abs(base - other_seed).mean() > 10
    assert np.abs(base - other_prompt).mean() > 3


def test_fast_decoder_runs_on_tiny():
    pipe = load_pipeline("tiny", fast_decoder=True)
    project = make_project(fast_decoder=True)
    frames = [frame for _, frame in walk(pipe, project, make_plan([0, 0], [1, 1], [0.0, 0.5]))]
    assert frames[0].shape == (SIZE, SIZE, 3) and frames[0].std() > 5
    assert max_diff(frames[0], stock_frame(pipe, project, 0)) <= 1


def test_init_image_keyframe_equals_stock_img2img(tiny_pipe, tmp_path):
    from diffusers import StableDiffusionImg2ImgPipeline
    from PIL import Image

    gradient = np.linspace(0, 255, SIZE, dtype=np.uint8)
    image = Image.fromarray(np.stack([np.tile(gradient, (SIZE, 1)), np.tile(gradient[:, None], (1, SIZE)),
                                      np.full((SIZE, SIZE), 128, np.uint8)], axis=-1))  # fmt: skip
    image.save(tmp_path / "init.png")
    project = make_project(steps=4)
    project.keyframes[0].init_image, project.keyframes[0].init_strength = str(tmp_path / "init.png"), 0.5
    frames = dict(walk(tiny_pipe, project, make_plan([0, 0, 0], [1, 1, 1], [0.0, 0.3, 0.9])))
    keyframe = project.keyframes[0]
    stock = StableDiffusionImg2ImgPipeline(**tiny_pipe.components)(
        keyframe.prompt,
        image=image,
        strength=0.5,
        num_inference_steps=4,
        guidance_scale=0.0,
        generator=torch.Generator("cpu").manual_seed(keyframe.seed),
        output_type="np",
    ).images[0]
    assert max_diff(frames[0], (stock * 255).round().astype(np.uint8)) <= 1
    assert not np.array_equal(frames[1], frames[2])


def test_slerp_endpoints_and_norm():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 8, 8, generator=generator), torch.randn(4, 8, 8, generator=generator)
    assert torch.equal(slerp(0.0, a, b), a)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-5)
    middle = slerp(0.5, a, b)
    # Between nearly orthogonal noises of similar norm, slerp keeps the norm; lerp shrinks it by ~√2.
    mean_norm = (a.norm() + b.norm()) / 2
    assert abs(middle.norm() / mean_norm - 1) < 0.02
    assert (0.5 * a + 0.5 * b).norm() / mean_norm < 0.8
    assert torch.allclose(slerp(0.3, a, a * 1.0001), 0.7 * a + 0.3 * a * 1.0001)  # parallel: linear


def test_rotate_towards_keeps_the_norm():
    generator = torch.Generator().manual_seed(1)
    noise, target = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 4, 8, 8, generator=generator)
    turned = rotate_towards(noise, target, 0.4)
    assert torch.allclose(turned.norm(), noise.norm(), rtol=1e-5)
    cosine = torch.sum(turned * noise) / noise.norm() ** 2
    assert abs(float(cosine) - np.cos(0.4)) < 1e-5


def test_gpu_benchmark_runs_on_cpu_with_the_tiny_model(capsys):
    from benchmarks.gpu_walk import main

    assert (
        main(
            ["--tiny", "--device", "cpu", "--size", "64", "--frames", "8", "--batch-size", "4", "--no-record"]
        )
        == 0
    )
    assert "tiny 64² 1 step batch 4 float32:" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.parametrize("model", ["tiny", "tiny-sdxl"])
def test_keyframe_frame_equals_stock_pipeline_on_cuda_in_half_precision(model):
    """On a GPU the walk runs in float16 (SDXL: bfloat16, its VAE upcast): still the stock image."""
    pipe = load_pipeline(model, device="cuda")
    assert pipe.unet.dtype == (torch.bfloat16 if model == "tiny-sdxl" else torch.float16)
    project = make_project(model, guidance=(5.0, 0.0))
    frames = dict(walk(pipe, project, WALK))
    assert max_diff(frames[1], stock_frame(pipe, project, 0)) <= 2
    assert max_diff(frames[4], stock_frame(pipe, project, 1)) <= 2
