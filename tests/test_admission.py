"""What a server admits from strangers: projects within its limits and models, naming no file."""

from __future__ import annotations

from pathlib import Path

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


def picture(path: Path, size=(40, 30), colour=(200, 30, 30), mode="RGB") -> Path:
    from PIL import Image

    Image.new(mode, size, colour).save(path)
    return path


def test_an_init_image_the_server_kept_is_the_only_file_a_project_may_name(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    kept = admission.save_init_image(picture(tmp_path / "upload.jpg"), folder)
    assert admission.INIT_IMAGE_NAME.fullmatch(kept.name) and kept.parent == folder
    # Written again as an RGB PNG, named by its content: the same picture is kept once.
    from PIL import Image

    with Image.open(kept) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (40, 30))
    again = tmp_path / "again.jpg"
    again.write_bytes((tmp_path / "upload.jpg").read_bytes())
    assert admission.save_init_image(again, folder) == kept
    assert sorted(p.name for p in folder.iterdir()) == [kept.name]

    with_image = project()
    with_image.keyframes[0].init_image = str(kept)
    assert admission.from_stranger(with_image, song="s.wav", images=folder).keyframes[0].init_image == str(kept)
    # Not through a stranger's project without the folder, nor any other file, nor a link to one.
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    link = folder / "init-ffffffffffffffff.png"
    link.symlink_to(tmp_path / "upload.jpg")
    copied = elsewhere / kept.name
    copied.write_bytes(kept.read_bytes())
    for name, images in [(str(kept), None), (str(copied), folder), (str(link), folder),
                         (str(folder / "upload.jpg"), folder), (f"{folder}/../session/{kept.name}x", folder)]:  # fmt: skip
        with_image.keyframes[0].init_image = name
        with pytest.raises(BeatwalkError, match="keyframe 1 has an init image"):
            admission.from_stranger(with_image, song="s.wav", images=images)


def test_an_init_image_that_is_not_a_picture_or_too_large_is_one_line(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(BeatwalkError, match="^the init image cannot be read: upload a PNG"):
        admission.save_init_image(tmp_path / "notes.png", tmp_path)
    # 5000 × 5000 is refused from its header (a 1-bit picture: small to make, large to decode).
    huge = picture(tmp_path / "huge.png", size=(5000, 5000), colour=1, mode="1")
    with pytest.raises(BeatwalkError, match=r"^the init image is too large \(5000×5000; at most 16 megapixels\)$"):
        admission.save_init_image(huge, tmp_path)
    with pytest.raises(BeatwalkError, match="cannot be read"):
        admission.save_init_image(tmp_path / "missing.png", tmp_path)
    assert not list(tmp_path.glob("init-*"))


def test_init_images_only_with_a_model_that_starts_from_them():
    with_image = project()
    with_image.keyframes[1].init_image = "init-0123456789abcdef.png"
    admission.check_init_images(with_image)  # tiny: an SD 1.x-like model
    on_xl = with_image.replace(render=with_image.render.model_dump() | {"model": "tiny-sdxl"})
    with pytest.raises(BeatwalkError, match="keyframe 2 has an init image, which model 'tiny-sdxl' cannot start from"):
        admission.check_init_images(on_xl)
    admission.check_init_images(project().replace(render={"model": "tiny-lcm"}))  # none named: fine


def test_an_import_leaves_init_images_out_and_a_download_names_them():
    with_image = project()
    with_image.keyframes[1].init_image = "/tmp/beatwalk-sessions/0a1b/init-0123456789abcdef.png"
    with_image.keyframes[1].init_strength = 0.3
    assert admission.for_download(with_image, song=None).keyframes[1].init_image == "init-0123456789abcdef.png"
    dropped, count = admission.without_init_images(with_image)
    assert count == 1 and all(k.init_image is None for k in dropped.keyframes)
    assert admission.without_init_images(project()) == (project(), 0)


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
     ("s.wav", 3.0, {}, "keyframe 2 is at 4 s, outside the song segment"),
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


def test_an_init_image_is_kept_upright_and_a_swept_one_is_named_so(tmp_path):
    from PIL import Image

    photo = Image.new("RGB", (60, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone held upright: "rotate 90° to show"
    photo.save(tmp_path / "phone.jpg", exif=exif)
    folder = tmp_path / "session"
    folder.mkdir()
    kept = admission.save_init_image(tmp_path / "phone.jpg", folder)
    with Image.open(kept) as image:
        assert image.size == (20, 60)
    # A GIF is a picture, but not one of the formats said.
    Image.new("RGB", (8, 8)).save(tmp_path / "anim.gif")
    with pytest.raises(BeatwalkError, match="upload a PNG, JPEG or WebP"):
        admission.save_init_image(tmp_path / "anim.gif", folder)
    with_image = project()
    with_image.keyframes[1].init_image = str(kept)
    kept.unlink()  # the session folder was swept meanwhile
    with pytest.raises(BeatwalkError, match="^keyframe 2's picture is no longer on the server: set it again$"):
        admission.from_stranger(with_image, song="s.wav", images=folder)
