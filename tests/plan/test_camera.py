"""pipelines.plan.camera: the camera's motion per frame, on synthetic analyses with exact beats."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import BeatwalkError
from pipelines.plan.camera import PRESETS, camera_preset, plan_camera, preset_of
from pipelines.plan.timeline import plan_frames
from pipelines.project import CameraSettings, Keyframe, Project
from tests.analyses import synthetic_analysis

FPS = 24.0


def project_with(camera=None, *, keyframes=None, fps=FPS, offset=0.0, **fields) -> Project:
    keyframes = keyframes or [Keyframe(time=0.0, prompt="a"), Keyframe(time=6.0, prompt="b")]
    return Project(
        audio={"path": "song.wav"},
        keyframes=keyframes,
        camera=camera or CameraSettings(),
        motion={"offset": offset},
        render={"fps": fps},
        **fields,
    )


def beat_frames(analysis, fps=FPS) -> np.ndarray:
    return np.ceil(np.asarray(analysis.beats) * fps - 1e-6).astype(int)


def test_a_still_camera_does_not_move_and_has_the_plans_frames():
    analysis = synthetic_analysis(duration=8.0)
    project = project_with()
    camera = plan_camera(project, analysis)
    assert camera.n_frames == plan_frames(project, analysis).n_frames
    assert not camera.moves
    assert all(not np.any(pose) for pose in camera.poses().values())


def test_zoom_pulse_moves_most_on_each_beats_frame():
    analysis = synthetic_analysis(duration=8.0, bpm=120.0, first_beat=0.5)
    camera = plan_camera(project_with(camera_preset("zoom pulse")), analysis)
    beats = beat_frames(analysis)
    for start, stop in zip(beats, [*beats[1:], camera.n_frames]):
        assert (
            start + int(np.argmax(camera.zoom[start:stop])) == start
        )  # the beat's own frame, never before it
    assert np.all(
        camera.zoom[: beats[0]] == pytest.approx(0.02 / FPS)
    )  # only the steady rate before the first beat


def test_a_kick_moves_its_size_in_all_and_a_steady_rate_its_rate():
    analysis = synthetic_analysis(duration=8.0, beats=[1.0])
    camera = plan_camera(project_with(CameraSettings(angle={"kick": 30.0, "kick_decay": 0.1})), analysis)
    assert camera.angle.sum() == pytest.approx(30.0, rel=1e-6)
    assert camera.angle[: int(FPS)].sum() == 0
    steady = plan_camera(project_with(CameraSettings(x={"base": 0.25})), analysis)
    assert steady.x.sum() == pytest.approx(0.25 * 8.0)


def test_a_turn_of_360_degrees_per_bar_comes_round_once_a_bar():
    bpm, beats_per_bar = 120.0, 4
    bar = 60.0 / bpm * beats_per_bar
    analysis = synthetic_analysis(duration=8.0, bpm=bpm)
    camera = plan_camera(project_with(CameraSettings(angle={"base": 360.0 / bar})), analysis)
    pose = camera.poses()["angle"]
    per_bar = int(bar * FPS)
    assert pose[per_bar - 1] == pytest.approx(360.0)
    assert pose[2 * per_bar - 1] == pytest.approx(720.0)


def test_energy_follow_moves_with_the_energy():
    analysis = synthetic_analysis(duration=4.0, energy=lambda t: (t > 2.0).astype(float))
    camera = plan_camera(project_with(CameraSettings(y={"follow": "bass", "follow_amount": 0.5})), analysis)
    assert np.all(camera.y[: int(2 * FPS) - 1] == 0)
    assert camera.y[int(2 * FPS) + 1 :] == pytest.approx(0.5 / FPS)


def test_the_offset_moves_kicks_later():
    analysis = synthetic_analysis(duration=4.0, beats=[1.0])
    kick = CameraSettings(zoom={"kick": 0.1})
    on_time = plan_camera(project_with(kick), analysis)
    later = plan_camera(project_with(kick, offset=0.25), analysis)
    assert int(np.argmax(later.zoom)) - int(np.argmax(on_time.zoom)) == round(0.25 * FPS)


def test_a_keyframes_camera_takes_over_from_its_time_with_easing():
    analysis = synthetic_analysis(duration=8.0)
    keyframes = [
        Keyframe(time=0.0, prompt="verse"),
        Keyframe(time=4.0, prompt="chorus", camera=CameraSettings(angle={"base": 48.0}, ease=1.0)),
    ]
    camera = plan_camera(project_with(CameraSettings(angle={"base": 2.4}), keyframes=keyframes), analysis)
    at = int(4.0 * FPS)
    assert camera.angle[:at] == pytest.approx(2.4 / FPS)
    assert camera.angle[at + int(FPS) :] == pytest.approx(48.0 / FPS)
    blend = camera.angle[at : at + int(FPS)]
    assert np.all(np.diff(blend) >= 0) and 2.4 / FPS <= blend[0] < blend[-1] < 48.0 / FPS


def test_presets_are_valid_named_and_different():
    assert set(PRESETS) >= {"still", "zoom pulse", "drift", "spin on downbeats"}
    for name in PRESETS:
        assert preset_of(camera_preset(name)) == name
    assert preset_of(CameraSettings(zoom={"base": 0.123})) is None
    with pytest.raises(BeatwalkError, match="unknown camera preset 'wobble'; choose from still"):
        camera_preset("wobble")


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"zoom": {"base": 3.0}}, r"camera zoom.base must be within ±2"),
        ({"angle": {"kick": 200.0}}, r"camera.angle.kick"),
        ({"border": "black"}, r"camera.border"),
        ({"x": {"kick_on": "bars"}}, r"camera.x.kick_on"),
    ],
)
def test_a_bad_camera_is_one_line(camera, message):
    data = project_with().model_dump() | {"camera": camera}
    with pytest.raises(BeatwalkError, match=message):
        Project.from_dict(data)


def test_an_old_project_without_a_camera_loads_still():
    data = project_with().model_dump()
    for name in ("camera", "feedback"):
        del data[name]
    project = Project.from_dict(data)
    assert not project.camera.moves and project.render.renderer == "walk"


def test_plan_on_the_command_line_says_what_the_camera_does(song_120, tmp_path, capsys):
    import json

    from pipelines.cli import main

    path, _, _ = song_120
    project = Project(
        audio={"path": str(path), "start": 0.0, "end": 6.0},
        keyframes=[Keyframe(time=0.0, prompt="a")],
        camera=camera_preset("spin on downbeats"),
        render={"fps": 12},
    )
    file = project.save(tmp_path / "project.json")
    assert main(["plan", str(file), "--plot", str(tmp_path / "plan.png")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["camera"]["moves"] and summary["renderer"] == "walk"
    bars = len(np.arange(0.5, 6.0, 2.0))  # downbeats of the 120 BPM song inside 6 s
    assert summary["camera"]["total"]["angle"] == pytest.approx(2.0 * 6.0 + 20.0 * bars, abs=20.0)
    assert (tmp_path / "plan.png").stat().st_size > 10_000
