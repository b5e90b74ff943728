"""What a server admits from strangers: projects within its limits and models, naming no file."""

from __future__ import annotations

import pytest

from pipelines import admission
from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.project import Project

LIMITS = Limits(max_song_seconds=60.0, max_pixels=256 * 256, max_frames=100, max_steps=4)


def project(**render) -> Project:
    settings = {"model": "tiny", "width": 64, "height": 64, "fps": 8, "steps": 1} | render
    keyframes = [{"time": 0.0, "prompt": "a fox"}, {"time": 4.0, "prompt": "a city"}]
    return Project.from_dict({"audio": {"path": "/etc/passwd", "start": 1.0}, "keyframes": keyframes, "render": settings})


def test_a_strangers_project_points_at_the_upload_and_opens_no_file():
    assert admission.from_stranger(project(), song="/tmp/upload/song.ogg").audio.path == "/tmp/upload/song.ogg"
    assert admission.from_stranger(project(), song=None).audio.path == "song"
    with_image = project()
    with_image.keyframes[1].init_image = "/etc/hostname"
    with pytest.raises(BeatwalkError, match="keyframe 2 has an init image"):
        admission.from_stranger(with_image, song="song.ogg")


def test_a_download_names_the_song_by_its_file_name_only():
    downloaded = admission.for_download(project(), song="/tmp/beatwalk-sessions/0a1b/drums.wav")
    assert downloaded.audio.path == "drums.wav" and downloaded.audio.start == 1.0
    assert admission.for_download(project(), song=None).audio.path == "song"


def test_a_render_within_the_limits_is_admitted():
    admitted = admission.admit_render(project(), song="drums.wav", duration=10.0, limits=LIMITS)
    assert admitted.audio.path == "drums.wav" and admitted.render == project().render


@pytest.mark.parametrize(
    ("song", "duration", "render", "message"),
    [(None, 10.0, {}, "upload a song first"),
     ("s.wav", 10.0, {"model": "/root"}, "'/root' is not offered here"),
     ("s.wav", 3.0, {}, "keyframe 1 is at 4 s, outside the song segment"),
     ("s.wav", 90.0, {"fps": 1}, "BEATWALK_MAX_SONG_SECONDS"),
     ("s.wav", 10.0, {"width": 512, "height": 512}, "BEATWALK_MAX_PIXELS"),
     ("s.wav", 20.0, {"fps": 8}, "BEATWALK_MAX_FRAMES"),
     ("s.wav", 10.0, {"steps": 5}, "BEATWALK_MAX_STEPS")],
)  # fmt: skip
def test_a_render_over_a_limit_is_refused_in_one_line(song, duration, render, message):
    with pytest.raises(BeatwalkError, match=message):
        admission.admit_render(project(**render), song=song, duration=duration, limits=LIMITS)


def test_a_preview_costs_one_still_so_only_size_steps_and_model_count():
    admission.admit_preview(project(fps=60), limits=LIMITS)
    with pytest.raises(BeatwalkError, match="BEATWALK_MAX_STEPS"):
        admission.admit_preview(project(steps=8), limits=LIMITS)
    with pytest.raises(BeatwalkError, match="not offered"):
        admission.admit_preview(project(model="../weights"), limits=LIMITS)


def test_the_controls_tops_follow_the_limits():
    assert admission.largest_side(LIMITS) == 384 and admission.most_steps(LIMITS) == 4
    assert admission.largest_side(Limits(max_pixels=None)) == 2048 and admission.most_steps(Limits(max_steps=None)) == 50


def test_a_project_beyond_the_controls_is_brought_within_them_in_the_open():
    fitted, notes = admission.fit_to_limits(
        project(model="someone/their-model", width=512, height=512, steps=25, batch_size=64), LIMITS, model="tiny"
    )
    assert notes == ["width 512 → 384", "height 512 → 384", "steps 25 → 4", "batch_size 64 → 32",
                     "model someone/their-model → tiny"]  # fmt: skip
    render = fitted.render
    assert (render.width, render.height, render.steps, render.batch_size, render.model) == (384, 384, 4, 32, "tiny")
    assert admission.fit_to_limits(project(), LIMITS, model="tiny") == (project(), [])
