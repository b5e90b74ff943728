"""The camera's warps, colour coherence and the feedback renderer (tiny model, 64×64)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.diffusion.conditioning import KeyframeConditioning
from pipelines.diffusion.feedback import FeedbackRenderer
from pipelines.diffusion.walk import walk_frames
from pipelines.diffusion.warp import match_colors, mean_delta_e, warp_frame
from pipelines.plan.camera import camera_preset, plan_camera
from pipelines.plan.timeline import plan_frames
from pipelines.project import CameraSettings, FeedbackSettings, Keyframe, Project
from tests.analyses import synthetic_analysis

FPS = 8.0


def picture(size=(33, 33), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


# -- warps -------------------------------------------------------------------------------------


@pytest.mark.parametrize("zoom", [0.3, -0.4])
def test_a_pure_zoom_keeps_the_centre_pixel(zoom):
    image = picture()
    assert np.array_equal(warp_frame(image, zoom=zoom)[16, 16], image[16, 16])
    assert not np.array_equal(warp_frame(image, zoom=zoom), image)


def test_a_full_turn_gives_the_picture_back_and_a_half_turn_turns_it_over():
    image = picture()
    assert np.abs(warp_frame(image, angle=360.0).astype(int) - image).max() <= 1
    assert np.abs(warp_frame(image, angle=180.0).astype(int) - image[::-1, ::-1]).max() <= 1


def test_translation_wraps_or_fills_as_chosen():
    image = picture((16, 16))
    wrapped = warp_frame(image, x=0.25, border="wrap")  # the camera moves right: the picture left
    assert np.array_equal(wrapped, np.roll(image, -4, axis=1))
    filled = warp_frame(image, x=0.25, border="replicate")
    assert np.array_equal(filled[:, :12], image[:, 4:])
    assert np.all(filled[:, 12:] == image[:, -1:])
    down = warp_frame(image, y=-0.25, border="wrap")  # the camera moves up: the picture down
    assert np.array_equal(down, np.roll(image, 4, axis=0))


@pytest.mark.parametrize("border", ["reflect", "wrap", "replicate"])
def test_zooming_out_and_turning_leaves_no_black_corners(border):
    image = np.full((32, 48, 3), 200, dtype=np.uint8)
    moved = warp_frame(image, zoom=-0.7, angle=30.0, border=border)
    assert moved.min() >= 199


def test_colour_coherence_pulls_a_drifted_picture_back_to_its_reference():
    reference = picture((32, 32), seed=1)
    drifted = np.clip(reference.astype(int) * [1.0, 0.7, 0.5] + [40, 0, 0], 0, 255).astype(np.uint8)
    before = mean_delta_e(drifted, reference)
    for mode, share in (("lab", 0.25), ("rgb", 0.25), ("hsv", 0.5)):  # hue is circular: HSV matches loosest
        assert mean_delta_e(match_colors(drifted, reference, mode), reference) < share * before, mode
    assert match_colors(drifted, reference, "none") is drifted


# -- the feedback renderer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysis():
    return synthetic_analysis(duration=3.0, bpm=120.0, first_beat=0.25)


def renderer(pipe, analysis, *, camera=None, keyframes=None, **feedback):
    project = Project(
        audio={"path": "song.wav"},
        keyframes=keyframes
        or [
            Keyframe(time=0.0, prompt="a red circle", seed=1),
            Keyframe(time=2.0, prompt="green waves", seed=2),
        ],
        camera=camera or CameraSettings(),
        feedback=FeedbackSettings(**feedback),
        render={"model": "tiny", "width": 64, "height": 64, "fps": FPS, "steps": 4, "renderer": "feedback"},
    )
    plan = plan_frames(project, analysis)
    conditioning = KeyframeConditioning(pipe, project.keyframes, project.render)
    return FeedbackRenderer(
        conditioning, plan, plan_camera(project, analysis), project.feedback, pulse_size=project.motion.pulse
    ), plan


def test_at_rest_and_strength_zero_every_frame_is_the_first(tiny_pipe, analysis):
    feedback, plan = renderer(tiny_pipe, analysis, strength=0.0, beat_strength=0.0)
    frames = [frame for _, frame in feedback.frames(range(plan.n_frames), previous=None)]
    assert all(np.array_equal(frame, frames[0]) for frame in frames)
    assert feedback.diffusions == 1


def test_the_first_frame_is_the_walks_and_the_camera_moves_the_next(tiny_pipe, analysis):
    feedback, plan = renderer(
        tiny_pipe, analysis, camera=camera_preset("zoom pulse"), strength=0.0, beat_strength=0.0
    )
    frames = [frame for _, frame in feedback.frames(range(4), previous=None)]
    ((_, walked),) = walk_frames(feedback.keyframes, plan, [0], batch_size=1)
    assert np.array_equal(frames[0], walked)
    camera = feedback.camera
    expected = warp_frame(frames[0], zoom=camera.zoom[1], angle=camera.angle[1], x=camera.x[1], y=camera.y[1])
    assert np.array_equal(frames[1], expected)


def test_strength_rises_on_the_beat(tiny_pipe, analysis):
    feedback, plan = renderer(tiny_pipe, analysis, strength=0.3, beat_strength=0.8)
    beat = int(np.ceil(analysis.beats[1] * FPS - 1e-6))
    assert feedback.strength(beat) == pytest.approx(0.8)
    assert 0.3 <= feedback.strength(beat + 2) < 0.8
    assert feedback.strength(0) == pytest.approx(0.3)  # before the first beat


def test_cadence_divides_the_diffusions(tiny_pipe, analysis):
    counts = {}
    for cadence in (1, 3):
        feedback, plan = renderer(tiny_pipe, analysis, cadence=cadence, color_coherence="none")
        frames = [frame for _, frame in feedback.frames(range(plan.n_frames), previous=None)]
        counts[cadence] = feedback.diffusions
        assert len(frames) == plan.n_frames
    n = plan.n_frames
    assert counts[1] == n and counts[3] == 1 + len(range(3, n, 3))


def test_a_chunk_from_the_frame_before_renders_what_the_whole_chain_renders(tiny_pipe, analysis):
    feedback, plan = renderer(tiny_pipe, analysis, camera=camera_preset("spin on downbeats"))
    whole = [frame for _, frame in feedback.frames(range(plan.n_frames), previous=None)]
    again, _ = renderer(tiny_pipe, analysis, camera=camera_preset("spin on downbeats"))
    tail = [frame for _, frame in again.frames(range(10, plan.n_frames), previous=whole[9])]
    assert all(np.array_equal(a, b) for a, b in zip(tail, whole[10:], strict=True))


def test_a_cut_starts_again_from_noise(tiny_pipe, analysis):
    keyframes = [
        Keyframe(time=0.0, prompt="a red circle", seed=1, transition="cut"),
        Keyframe(time=2.0, prompt="green waves", seed=2),
    ]
    feedback, plan = renderer(tiny_pipe, analysis, keyframes=keyframes)
    cut = int(np.flatnonzero(plan.cut)[0])
    frames = dict(feedback.frames(range(plan.n_frames), previous=None))
    ((_, walked),) = walk_frames(feedback.keyframes, plan, [cut], batch_size=1)
    assert np.array_equal(frames[cut], walked)


def test_chunks_must_follow_on(tiny_pipe, analysis):
    from pipelines.errors import BeatwalkError

    feedback, _ = renderer(tiny_pipe, analysis)
    with pytest.raises(BeatwalkError, match="frame 5 needs the frame before it"):
        list(feedback.frames(range(5, 8), previous=None))
    with pytest.raises(BeatwalkError, match="consecutive"):
        list(feedback.frames([0, 2], previous=None))


@pytest.mark.parametrize("model", ["tiny-sdxl", "tiny-lcm"])
def test_the_feedback_renderer_runs_on_every_model_family(model, analysis):
    from pipelines.diffusion.models import load_pipeline

    pipe = load_pipeline(model, device="cpu")
    project = Project(
        audio={"path": "song.wav"},
        keyframes=[
            Keyframe(time=0.0, prompt="a red circle", seed=1),
            Keyframe(time=2.0, prompt="green waves", seed=2),
        ],
        camera=camera_preset("zoom pulse"),
        render={"model": model, "width": 64, "height": 64, "fps": FPS, "steps": 2, "renderer": "feedback"},
    )
    plan = plan_frames(project, analysis)
    conditioning = KeyframeConditioning(pipe, project.keyframes, project.render)
    feedback = FeedbackRenderer(
        conditioning, plan, plan_camera(project, analysis), project.feedback, pulse_size=0.3
    )
    frames = [frame for _, frame in feedback.frames(range(6), previous=None)]
    assert all(frame.shape == (64, 64, 3) and frame.dtype == np.uint8 for frame in frames)
    assert feedback.diffusions == 6 and not np.array_equal(frames[0], frames[5])
