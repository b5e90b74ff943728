"""Keyframe edits as pure functions on a project: add, snap, remove, the table, a new segment."""

from __future__ import annotations

import math

import pytest

from pipelines.errors import BeatwalkError
from pipelines.plan import edits
from pipelines.project import NO_SONG, Keyframe, Project, RenderSettings
from tests.analyses import synthetic_analysis

SONG = synthetic_analysis(
    duration=16.0, first_beat=0.25, sections=[{"start": 0.0, "end": 9.1, "label": "A"},
                                              {"start": 9.1, "end": 16.0, "label": "B"}],
)  # fmt: skip
"""120 BPM: beats at 0.25, 0.75, ...; downbeats every 2 s from 0.25; a section starts at 9.1 s."""


def project(*times, **keyframe) -> Project:
    keyframes = [dict({"time": t, "prompt": f"prompt {i}", "seed": i}, **keyframe) for i, t in enumerate(times)]
    return Project.from_dict({"audio": {"path": "song.wav"}, "keyframes": keyframes})


@pytest.mark.parametrize(
    ("snap", "at", "expected"),
    [("beat", 3.1, 3.25), ("downbeat", 3.1, 2.25), ("section start", 8.0, 9.1), ("exact time", 3.1, 3.1)],
)
def test_add_a_keyframe_on_the_nearest_target(snap, at, expected):
    before = project(0.0, 8.25)
    after = edits.add_keyframe(before, SONG, at=at, snap=snap)
    assert [k.time for k in after.keyframes] == sorted([0.0, 8.25, expected])
    new = next(k for k in after.keyframes if k.time == expected)
    template = before.keyframes[0] if expected < 8.25 else before.keyframes[1]
    assert new.prompt == template.prompt and new.seed == 2 and new.hold == 0.0
    assert [k.time for k in before.keyframes] == [0.0, 8.25]  # the project given is left as it was


def test_add_a_keyframe_with_its_own_prompt_copies_the_one_before_otherwise():
    before = project(0.0, hold=2.0, negative_prompt="blurry", transition="cut")
    new = edits.add_keyframe(before, SONG, at=5.0, prompt="  a city  ").keyframes[1]
    assert (new.prompt, new.negative_prompt, new.transition, new.hold) == ("a city", "blurry", "cut", 0.0)


@pytest.mark.parametrize(
    ("at", "snap", "message"),
    [(None, "beat", "give the time"), (-1.0, "beat", "give the time"), (math.nan, "beat", "give the time"),
     (16.0, "exact time", r"16 s is past the end of the segment \(16 s\)"),
     (0.1, "beat", "already a keyframe at 0.25 s")],
)  # fmt: skip
def test_add_a_keyframe_refused(at, snap, message):
    with pytest.raises(BeatwalkError, match=message):
        edits.add_keyframe(project(0.25), SONG, at=at, snap=snap)


def test_add_a_keyframe_unknown_snap():
    with pytest.raises(BeatwalkError, match="snap to one of: beat, downbeat, section start, exact time"):
        edits.add_keyframe(project(0.0), SONG, at=1.0, snap="bar")


def test_snap_all_to_beats_and_two_on_one_beat_refused():
    assert [k.time for k in edits.snap_all(project(0.1, 1.3, 2.9), SONG).keyframes] == [0.25, 1.25, 2.75]
    with pytest.raises(BeatwalkError, match="keyframes 1 and 2 would both land on the beat at 0.25 s"):
        edits.snap_all(project(0.1, 0.3), SONG)


def test_remove_a_keyframe():
    assert [k.prompt for k in edits.remove_keyframe(project(0.0, 2.0, 4.0), 1).keyframes] == ["prompt 0", "prompt 2"]
    for index in (None, 3, -1):
        with pytest.raises(BeatwalkError, match="choose a keyframe to remove"):
            edits.remove_keyframe(project(0.0, 2.0), index)
    with pytest.raises(BeatwalkError, match="at least one keyframe"):
        edits.remove_keyframe(project(0.0), 0)


def test_table_rows_round_trip_sorted_by_time():
    start = project(0.0, 4.0, hold=1.0, guidance=3.0)
    rows = edits.keyframe_rows(start)
    assert len(rows[0]) == len(edits.KEYFRAME_COLUMNS)
    assert edits.with_rows(start, rows) == start
    rows[0][0] = 6.0  # the first row moves past the second
    assert [k.prompt for k in edits.with_rows(start, rows).keyframes] == ["prompt 1", "prompt 0"]
    assert edits.keyframe_rows(None) == []


def test_table_blank_cells_take_the_defaults_and_blank_rows_are_skipped():
    edited = edits.with_rows(project(0.0), [[2.0, "a fox", None, "", math.nan, None, " ", ""], [None] * 8, []])
    (keyframe,) = edited.keyframes
    assert keyframe == Keyframe(time=2.0, prompt="a fox")


@pytest.mark.parametrize(
    ("row", "message"),
    [(["soon", "a"], 'row 2: time must be a number, got "soon"'),
     ([1.0, "a", "", 1.5], "row 2: seed must be a whole number, got 1.5"),
     ([1.0, "a", "", 0, math.inf], "row 2: guidance must be a finite number"),
     ([1.0, "  "], "row 2: prompt: String should have at least 1 character"),
     ([1.0, "a", "", 0, None, 1, "bars"], "row 2: hold_unit: Input should be 'beats' or 'seconds'")],
)  # fmt: skip
def test_table_errors_name_the_row(row, message):
    with pytest.raises(BeatwalkError, match=message):
        edits.with_rows(project(0.0), [[0.0, "first"], row])


def test_an_empty_table_is_refused():
    with pytest.raises(BeatwalkError, match="the table has no keyframe"):
        edits.with_rows(project(0.0), [[None, ""]])


def test_an_init_image_is_set_cleared_and_kept_through_table_edits():
    start = project(0.0, 4.0, 8.0)
    with_picture = edits.set_init_image(start, 1, "/kept/init-0123456789abcdef.png", 0.3)
    second = with_picture.keyframes[1]
    assert (second.init_image, second.init_strength) == ("/kept/init-0123456789abcdef.png", 0.3)
    assert start.keyframes[1].init_image is None  # the old project is left as it was
    rows = edits.keyframe_rows(with_picture)
    # A prompt edited: the picture stays with its row.
    rows[1][1] = "another prompt"
    assert edits.with_rows(with_picture, rows).keyframes[1].init_image == second.init_image
    # Its time moved past the third: it goes with its keyframe (now the last), not with the row.
    rows[1][0] = 9.0
    moved = edits.with_rows(with_picture, rows)
    assert [k.init_image for k in moved.keyframes] == [None, None, second.init_image]
    assert moved.keyframes[2].init_strength == 0.3
    # A row deleted above it: found by its time.
    assert edits.with_rows(with_picture, edits.keyframe_rows(with_picture)[1:]).keyframes[0].init_image
    cleared = edits.set_init_image(with_picture, 1, None)
    assert cleared.keyframes[1].init_image is None and cleared.keyframes[1].init_strength == 0.6


@pytest.mark.parametrize(
    ("index", "strength", "message"),
    [(None, 0.5, "choose a keyframe"), (3, 0.5, "choose a keyframe"), (0, 0.0, "above 0 and at most 1"),
     (0, 1.5, "above 0 and at most 1"), (0, "x", "must be a number")],
)  # fmt: skip
def test_an_init_image_refused(index, strength, message):
    with pytest.raises(BeatwalkError, match=message):
        edits.set_init_image(project(0.0, 4.0), index, "/kept/init-0123456789abcdef.png", strength)


def test_a_new_song_gets_a_proposed_project_with_the_render_settings():
    render = RenderSettings(width=128, height=128, fps=12, steps=1)
    new, note = edits.project_for_song(None, SONG, song="song.wav", start=2.0, end=18.0, prompts="a\nb",
                                       seed=5, negative_prompt="dull", render=render)  # fmt: skip
    assert note == f"Proposed {len(new.keyframes)} keyframes from your prompts."
    assert (new.audio.path, new.audio.start, new.audio.end) == ("song.wav", 2.0, 18.0)
    assert new.render == render and new.keyframes[0].seed == 5 and new.keyframes[0].negative_prompt == "dull"
    assert [k.prompt for k in new.keyframes][:2] == ["a", "b"]


def test_a_shorter_segment_keeps_the_keyframes_inside_it():
    current = project(0.0, 8.0, 20.0)
    new, note = edits.project_for_song(current, SONG, song="song.wav", start=4.0, end=None, prompts="")
    assert [k.time for k in new.keyframes] == [0.0, 8.0] and new.audio.start == 4.0
    assert note == "Song analysed. Dropped 1 keyframe(s) past the end of the segment."
    same, note = edits.project_for_song(current.replace(keyframes=current.keyframes[:2]), SONG, song="song.wav",
                                        start=0.0, end=None, prompts="")  # fmt: skip
    assert note == "Song analysed." and len(same.keyframes) == 2


def test_another_song_gets_new_keyframes_and_keeps_the_settings():
    current = project(0.0, 8.0).replace(render={"width": 128, "height": 128, "fps": 12, "steps": 1})
    new, note = edits.project_for_song(current, SONG, song="other.wav", start=0.0, end=None, prompts="dunes")
    assert note.startswith("A new song: proposed") and new.audio.path == "other.wav"
    assert {k.prompt for k in new.keyframes} == {"dunes"} and new.render == current.render
    # An imported project waits for its song: the first song analysed is its own.
    waiting = current.replace(audio={"path": NO_SONG})
    kept, note = edits.project_for_song(waiting, SONG, song="other.wav", start=0.0, end=None, prompts="dunes")
    assert kept.keyframes == current.keyframes and note == "Song analysed."


def test_a_segment_without_any_keyframe_gets_them_proposed():
    new, note = edits.project_for_song(project(30.0), SONG, song="song.wav", start=0.0, end=None, prompts="rain")
    assert note.startswith("No keyframe was inside the new segment: proposed")
    assert {k.prompt for k in new.keyframes} == {"rain"}
    with pytest.raises(BeatwalkError, match="write at least one prompt"):
        edits.project_for_song(project(30.0), SONG, song="song.wav", start=0.0, end=None, prompts="\n  \n")


def test_split_prompts():
    assert edits.split_prompts(" a fox \n\n a city\n") == ["a fox", "a city"]
    for text in (None, "", "\n \n"):
        with pytest.raises(BeatwalkError, match="write at least one prompt"):
            edits.split_prompts(text)
