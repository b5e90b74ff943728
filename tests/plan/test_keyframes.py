"""Proposed keyframes on synthetic analyses, and the ``new`` command on a synthetic drum song."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.errors import BeatwalkError
from pipelines.plan.keyframes import MAX_BARS, MIN_BARS, propose_keyframes, propose_project, snap_to_beat
from pipelines.plan.timeline import plan_frames
from pipelines.project import Project, RenderSettings
from tests.analyses import synthetic_analysis

BAR = 2.0  # seconds, at 120 BPM in 4/4


def sections(*starts, duration):
    ends = [*starts[1:], duration]
    return [{"start": s, "end": e, "label": "AB"[i % 2]} for i, (s, e) in enumerate(zip(starts, ends))]


def times(keyframes):
    return [k.time for k in keyframes]


def test_keyframes_on_section_starts_and_before_the_last_bar():
    song = synthetic_analysis(
        duration=64.0, first_beat=0.0, sections=sections(0.0, 16.0, 32.0, 48.0, duration=64.0)
    )
    assert times(propose_keyframes(song, ["a"])) == [0.0, 16.0, 32.0, 48.0, 62.0]


@pytest.mark.parametrize("duration", [30.0, 64.0, 200.0])
@pytest.mark.parametrize("first_beat", [0.0, 0.37])
def test_long_sections_are_split_every_four_to_eight_bars_on_downbeats(duration, first_beat):
    song = synthetic_analysis(duration=duration, first_beat=first_beat)
    keyframes = propose_keyframes(song, ["a", "b"])
    at = np.array(times(keyframes))
    assert at[0] == 0.0
    downbeats = np.asarray(song.downbeats)
    assert all(np.min(np.abs(downbeats - t)) < 1e-9 for t in at[1:])
    gaps = np.diff(at) / BAR
    assert np.all(gaps >= MIN_BARS - 1) and np.all(gaps <= MAX_BARS + 0.5)
    # The walk goes on until the last bars.
    assert duration - 2 * BAR <= at[-1] <= duration - BAR


def test_sections_closer_than_four_bars_are_merged():
    starts = np.arange(0.0, 48.0, 2 * BAR).tolist()  # a "section" every 2 bars
    song = synthetic_analysis(duration=48.0, first_beat=0.0, sections=sections(*starts, duration=48.0))
    gaps = np.diff(times(propose_keyframes(song, ["a"]))) / BAR
    assert np.all(gaps >= MIN_BARS) and np.all(gaps <= MAX_BARS)


def test_section_starts_snap_to_downbeats():
    song = synthetic_analysis(duration=40.0, first_beat=0.0, sections=sections(0.0, 17.3, duration=40.0))
    assert 18.0 in times(propose_keyframes(song, ["a"]))


@pytest.mark.parametrize("every", [1, 2, 4])
def test_every_n_bars(every):
    song = synthetic_analysis(duration=40.0, first_beat=0.0)
    at = times(propose_keyframes(song, ["a"], every=every))
    assert at[0] == 0.0 and at[-1] == 38.0  # the last downbeat a bar before the end
    np.testing.assert_allclose(np.diff(at)[:-1], every * BAR)
    assert every * BAR / 2 <= at[-1] - at[-2] <= 1.5 * every * BAR


def test_prompts_cycle_and_seeds_count_up():
    song = synthetic_analysis(duration=64.0, first_beat=0.0)
    keyframes = propose_keyframes(
        song, ["red", " green ", "blue"], seed=41, negative_prompt="blurry", every=4
    )
    assert [k.prompt for k in keyframes][:5] == ["red", "green", "blue", "red", "green"]
    assert [k.seed for k in keyframes] == list(range(41, 41 + len(keyframes)))
    assert all(k.negative_prompt == "blurry" for k in keyframes)


@pytest.mark.parametrize(
    ("prompts", "kwargs", "message"),
    [
        ([], {}, "at least one prompt"),
        (["a", "  "], {}, "no empty prompt"),
        (["a"], {"every": 0}, "at least 1 bar"),
        (["a"], {"seed": -1}, "seed must be"),
    ],
)
def test_bad_requests(prompts, kwargs, message):
    with pytest.raises(BeatwalkError, match=message):
        propose_keyframes(synthetic_analysis(), prompts, **kwargs)


@pytest.mark.parametrize("bpm", [90.0, 0.0])
def test_song_without_beats_uses_the_tempo_or_120_bpm(bpm):
    song = synthetic_analysis(duration=60.0, bpm=bpm or 120.0, beats=[])
    song.tempo = bpm
    bar = 4 * 60.0 / (bpm or 120.0)
    gaps = np.diff(times(propose_keyframes(song, ["a"]))) / bar
    assert len(gaps) >= 2 and np.all(gaps >= MIN_BARS - 1e-6) and np.all(gaps <= MAX_BARS + 1e-6)


def test_short_songs():
    # 1.5 bars: one picture. 3 bars: still a walk, to the last downbeat but one quarter of the song.
    assert times(propose_keyframes(synthetic_analysis(duration=3.0), ["a", "b"])) == [0.0]
    assert times(propose_keyframes(synthetic_analysis(duration=6.0), ["a", "b"])) == [0.0, 4.5]


def test_snap_to_beat():
    song = synthetic_analysis(duration=10.0, first_beat=0.5)
    assert snap_to_beat(1.26, song) == 1.5
    assert snap_to_beat(1.24, song) == 1.0
    assert snap_to_beat(3.9, song, downbeats=True) == 4.5
    assert snap_to_beat(3.3, synthetic_analysis(beats=[])) == 3.3


def test_proposed_project_plans_and_round_trips(tmp_path):
    song = synthetic_analysis(duration=30.0)
    project = propose_project(
        "song.wav", song, ["a", "b"], start=12.0, end=42.0, render=RenderSettings(fps=12)
    )
    assert project.audio.start == 12.0 and project.audio.end == 42.0 and project.render.fps == 12
    plan = plan_frames(project, song)
    assert plan.n_frames == 360 and plan.key_a.max() == len(project.keyframes) - 1
    assert Project.load(project.save(tmp_path / "p.json")).keyframes == project.keyframes


# -- the `new` command on a real (synthetic) song --------------------------------------------------


def test_new_writes_a_project_next_to_the_song(song_120, tmp_path, capsys):
    path, _, _ = song_120
    out = tmp_path / "projects" / "video.json"
    out.parent.mkdir()
    assert (
        main(
            ["new", str(path), "--prompt", "a forest", "--prompt", "a city", "--seed", "7", "--out", str(out)]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out)
    data = json.loads(out.read_text())
    assert not data["audio"]["path"].startswith("/")  # relative to the project file
    project = Project.load(out)
    assert project.audio.path == str(path.resolve())
    assert project.keyframes[0].time == 0.0 and project.keyframes[0].seed == 7
    assert [k.prompt for k in project.keyframes[:2]] == ["a forest", "a city"][: len(project.keyframes)]


def test_the_tempo_range_goes_from_new_to_plan_and_render(song_120, tmp_path, capsys, monkeypatch):
    """A range given to `new` is kept in the project, and `plan` and `render` read the song with it."""
    import pipelines.music.analysis

    path, _, _ = song_120
    out = tmp_path / "video.json"
    assert main(["new", str(path), "--prompt", "a forest", "--max-bpm", "80", "--out", str(out)]) == 0
    project = Project.load(out)
    assert project.audio.tempo_range == (45.0, 80.0)
    capsys.readouterr()
    assert main(["new", str(path), "--prompt", "a forest"]) == 0
    assert Project.from_json(capsys.readouterr().out).audio.tempo_range is None  # the default: not stored
    ranges = []
    real = pipelines.music.analysis.analyze

    def recording(audio, *, tempo_range=None):
        ranges.append(tempo_range)
        return real(audio, tempo_range=tempo_range)

    monkeypatch.setattr(pipelines.music.analysis, "analyze", recording)
    monkeypatch.setenv("BEATWALK_CACHE_DIR", str(tmp_path / "no analyses kept yet"))
    assert main(["plan", str(out)]) == 0
    assert main(["render", str(out), "--out", str(tmp_path / "render.mp4"), "--model", "tiny", "--size",
                 "64x64", "--fps", "4", "--steps", "1"]) == 0  # fmt: skip
    assert ranges == [(45.0, 80.0)]  # plan analysed the song with the range; render read plan's analysis back
    assert Project.load(tmp_path / "render.json").audio.tempo_range == (45.0, 80.0)


def test_new_prints_to_stdout_and_refuses_a_blank_prompt(song_120, capsys):
    path, _, _ = song_120
    assert main(["new", str(path), "--prompt", "waves", "--start", "2", "--end", "10"]) == 0
    project = Project.from_json(capsys.readouterr().out)
    assert project.audio.start == 2.0 and project.audio.end == 10.0
    assert project.audio.path == str(path.resolve())
    assert main(["new", str(path), "--prompt", " "]) == 2
    assert capsys.readouterr().err.strip() == "error: give at least one prompt, and no empty prompt"
