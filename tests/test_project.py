"""The project file: validation with one-line messages, JSON round trip, song paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.errors import BeatwalkError
from pipelines.project import Keyframe, MotionSettings, Project, RenderSettings


def project_dict(**changes) -> dict:
    data = {
        "audio": {"path": "song.wav", "start": 0.0, "end": None},
        "keyframes": [{"time": 0.0, "prompt": "a forest"}, {"time": 4.0, "prompt": "a city", "seed": 3}],
    }
    data.update(changes)
    return data


def keyframes(*specs) -> list[dict]:
    return [{"prompt": "p", **spec} for spec in specs]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            project_dict(keyframes=keyframes({"time": 2.0}, {"time": 1.0})),
            "keyframe times must increase: keyframe 2 (1 s) comes before 1 (2 s)",
        ),
        (
            project_dict(keyframes=keyframes({"time": 0.0}, {"time": 3.0}, {"time": 3.0})),
            "keyframes 2 and 3 have the same time (3 s)",
        ),
        (project_dict(keyframes=[]), "keyframes: List should have at least 1 item"),
        (
            project_dict(keyframes=[{"time": 0.0, "prompt": ""}]),
            "keyframes.0.prompt: String should have at least 1",
        ),
        (
            project_dict(keyframes=[{"time": 0.0, "prompt": " \t"}]),
            "keyframes.0.prompt: prompt must not be empty",
        ),
        (
            project_dict(keyframes=keyframes({"time": -1.0})),
            "keyframes.0.time: Input should be greater than or equal to 0",
        ),
        (
            project_dict(keyframes=keyframes({"time": float("inf")})),
            "keyframes.0.time: Input should be a finite number",
        ),
        (
            project_dict(keyframes=keyframes({"time": 0.0, "hold": 1e9})),
            "keyframes.0.hold: Input should be less than",
        ),
        (
            project_dict(keyframes=keyframes({"time": 0.0, "transition": "fade"})),
            "keyframes.0.transition: Input should be",
        ),
        (
            project_dict(keyframes=keyframes({"time": 0.0, "seed": 2**32})),
            "keyframes.0.seed: Input should be less than",
        ),
        (project_dict(render={"width": 100_000}), "render.width: Input should be less than or equal to 2048"),
        (project_dict(render={"height": 500}), "render.height: Input should be a multiple of 8"),
        (project_dict(render={"width": 0}), "render.width: Input should be greater than or equal to 64"),
        (project_dict(render={"fps": 1000}), "render.fps: Input should be less than or equal to 60"),
        (project_dict(render={"fps": float("nan")}), "render.fps: Input should be a finite number"),
        (project_dict(render={"steps": 0}), "render.steps: Input should be greater than or equal to 1"),
        (
            project_dict(motion={"reactivity": 2}),
            "motion.reactivity: Input should be less than or equal to 1",
        ),
        (project_dict(motion={"reactivity_source": "vocals"}), "motion.reactivity_source: Input should be"),
        (project_dict(audio={"path": ""}), "audio.path: String should have at least 1 character"),
        (
            project_dict(audio={"path": "s.wav", "start": 5, "end": 3}),
            "audio.end (3 s) must be after audio.start (5 s)",
        ),
        (
            project_dict(audio={"path": "s.wav", "tempo_range": [120, 60]}),
            "audio: the tempo range must run from a slower to a faster tempo within 20-400 BPM, got 120-60",
        ),
        (project_dict(audio={"path": "s.wav", "tempo_range": [60]}), "audio.tempo_range.1: Field required"),
        (project_dict(colour="red"), "colour: Extra inputs are not permitted"),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
def test_invalid_projects_give_one_clear_line(data, message):
    with pytest.raises(BeatwalkError) as caught:
        Project.from_dict(data)
    text = str(caught.value)
    assert text.startswith("invalid project: ") and message in text
    assert "\n" not in text


def test_several_problems_are_counted():
    data = project_dict(render={"width": 1, "height": 1})
    with pytest.raises(BeatwalkError, match=r"render.width: .* \(and 1 more problem\)$"):
        Project.from_dict(data)


@pytest.mark.parametrize(("time", "duration"), [(10.0, 10.0), (12.5, 10.0)])
def test_keyframes_outside_the_song(time, duration):
    project = Project.from_dict(project_dict(keyframes=keyframes({"time": 0.0}, {"time": time})))
    with pytest.raises(
        BeatwalkError, match=rf"keyframe 2 is at {time:g} s, outside the song segment \(0–10 s\)"
    ):
        project.validate_against(duration)
    project.validate_against(time + 0.001)


def test_edits_are_validated_too():
    project = Project.from_dict(project_dict())
    with pytest.raises(ValueError, match="multiple of 8"):
        project.render.width = 513


def test_json_round_trip_keeps_everything(tmp_path):
    project = Project(
        audio={"path": "music/song.mp3", "start": 12.5, "end": 72.0},
        keyframes=[
            Keyframe(time=0.0, prompt="a forest", negative_prompt="blurry", seed=7, guidance=7.5),
            Keyframe(time=8.0, prompt="a city", hold=2, hold_unit="beats", transition="beats"),
            Keyframe(
                time=16.5,
                prompt="the sea",
                hold=1.5,
                hold_unit="seconds",
                transition="cut",
                init_strength=0.4,
            ),
        ],
        motion=MotionSettings(
            reactivity_source="bass", reactivity=0.4, easing="cubic", pulse=0.0, offset=-0.05
        ),
        render=RenderSettings(
            model="stabilityai/sd-turbo", width=640, height=384, fps=30, steps=1, dtype="float16"
        ),
    )
    assert Project.from_json(project.to_json()) == project
    assert Project.from_dict(json.loads(project.to_json())) == project
    # A file keeps it too, but the song becomes an absolute path next to the file.
    loaded = Project.load(project.save(tmp_path / "video.json"))
    assert loaded.model_copy(update={"audio": project.audio}) == project


def test_relative_song_path_is_relative_to_the_project_file(tmp_path, monkeypatch):
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "video.json").write_text(json.dumps(project_dict(audio={"path": "../songs/song.wav"})))
    monkeypatch.chdir(tmp_path / "projects")
    assert Project.load("video.json").audio.path == str(tmp_path / "songs" / "song.wav")
    monkeypatch.chdir(tmp_path)
    assert Project.load(Path("projects/video.json")).audio.path == str(tmp_path / "songs" / "song.wav")
    (folder / "absolute.json").write_text(json.dumps(project_dict(audio={"path": "/data/song.wav"})))
    assert Project.load(folder / "absolute.json").audio.path == "/data/song.wav"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "project is not valid JSON"),
        ('{"audio": {"path": "s.wav"}, "keyframes": [{"time": NaN, "prompt": "a"}]}', "keyframes.0.time"),
    ],
)
def test_bad_json(text, message):
    with pytest.raises(BeatwalkError, match=message):
        Project.from_json(text)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(BeatwalkError, match="project file not found"):
        Project.load(tmp_path / "nope.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BeatwalkError, match="cannot read project file"):
        Project.load(tmp_path / "latin1.json")


def test_defaults_fill_in_what_a_file_leaves_out():
    project = Project.from_dict(project_dict())
    assert project.version == 1
    assert project.motion == MotionSettings() and project.render == RenderSettings()
    assert project.keyframes[1] == Keyframe(time=4.0, prompt="a city", seed=3)
