"""pipelines.render.runner and ``python -m pipelines render``: chunked jobs, resume, sidecar, the mp4 itself.

Everything renders with the tiny built-in model at 64×64, 8 fps, on 2 s of the
drum song: 16 frames in chunks of 4, batches of 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.diffusion.models import load_pipeline
from pipelines.errors import BeatwalkError
from pipelines.music.analysis import analyze
from pipelines.music.decode import load_audio
from pipelines.project import AudioRef, Keyframe, Project, RenderSettings
from pipelines.render.jobs import MANIFEST
from pipelines.render.runner import default_workdir, draft_size, iter_render, render_project, sidecar_path
from pipelines.render.video import probe_video, read_frames

REPO = Path(__file__).resolve().parents[2]
FPS, SECONDS, CHUNK = 8.0, 2.0, 4
N_FRAMES = round(SECONDS * FPS)


@pytest.fixture(scope="module", autouse=True)
def one_process():
    """These tests follow a render chunk by chunk in one process (stops after so many frames, kills
    after the first chunk): renders in several processes have tests of their own (test_processes)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BEATWALK_RENDER_PROCESSES", "1")
        yield


@pytest.fixture(scope="module")
def project(song_120):
    song, _, _ = song_120
    return Project(
        audio=AudioRef(path=str(song), start=1.0, end=1.0 + SECONDS),
        keyframes=[
            Keyframe(time=0.0, prompt="a red circle", seed=1),
            Keyframe(time=0.75, prompt="a blue square", seed=2, transition="linear"),
            Keyframe(time=1.5, prompt="green waves", seed=3),
        ],
        render=RenderSettings(model="tiny", width=64, height=64, fps=FPS, steps=1, batch_size=2),
    )


@pytest.fixture(scope="module")
def analysis(project):
    return analyze(load_audio(project.audio.path, start=project.audio.start, end=project.audio.end))


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline("tiny")


@pytest.fixture(scope="module")
def reference(project, analysis, pipe, tmp_path_factory):
    """An uninterrupted render: (video path, its progress reports, its decoded frames)."""
    out = tmp_path_factory.mktemp("reference") / "walk.mp4"
    progress = list(iter_render(project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK))
    return out, progress, list(read_frames(out))


def stop_after(frames, *, then=None):
    """A ``should_stop`` that says stop (or raises ``then``) once ``frames`` frames are reported."""
    calls = []

    def should_stop():
        calls.append(None)
        if len(calls) * 2 < frames:
            return False
        if then is not None:
            raise then
        return True

    return should_stop


def test_render_is_h264_aac_with_exactly_the_songs_frames(reference, project):
    out, progress, frames = reference
    info = probe_video(out)
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert (info.frames, info.fps, info.width, info.height) == (N_FRAMES, FPS, 64, 64)
    assert info.duration == pytest.approx(SECONDS, abs=0.03)
    assert len(frames) == N_FRAMES
    # The walk moves: consecutive keyframes' frames differ.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1


def test_render_reports_progress_and_cleans_up(reference, project):
    out, progress, _ = reference
    done = [p.frames_done for p in progress]
    assert done == sorted(done) and done[-1] == N_FRAMES
    assert all(p.frames_total == N_FRAMES for p in progress)
    assert [p.video_path for p in progress[:-1]] == [None] * (len(progress) - 1)
    assert progress[-1].video_path == str(out)
    assert any(p.last_frame is not None and p.last_frame.shape == (64, 64, 3) for p in progress)
    assert not default_workdir(out).exists()
    assert not list(out.parent.glob("*partial*"))


def test_sidecar_is_the_project(reference, project):
    out, _, _ = reference
    assert Project.load(sidecar_path(out)) == project


def test_interrupted_render_resumes_to_the_same_video(reference, project, analysis, pipe, tmp_path):
    out, workdir = tmp_path / "walk.mp4", default_workdir(tmp_path / "walk.mp4")
    # Ctrl-C in the middle of the third chunk.
    interrupt = stop_after(10, then=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        render_project(project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=interrupt)
    assert sorted(p.name for p in workdir.iterdir()) == ["chunk_00000.mp4", "chunk_00001.mp4", MANIFEST]
    assert not out.exists()
    # A damaged chunk is not trusted: it is rendered again.
    damaged = workdir / "chunk_00001.mp4"
    damaged.write_bytes(damaged.read_bytes()[:100])

    resumed = list(iter_render(project, out, analysis=analysis, pipe=pipe, resume=True))
    assert resumed[0].frames_done == CHUNK and resumed[-1].video_path == str(out)
    frames = list(read_frames(out))
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference[2], strict=True))
    assert not workdir.exists()


def test_stop_keeps_finished_chunks_and_nothing_overwrites_them(project, analysis, pipe, tmp_path):
    out = tmp_path / "walk.mp4"
    stop = stop_after(6)
    progress = list(
        iter_render(project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=stop)
    )
    assert progress[-1].video_path is None and progress[-1].frames_done == CHUNK
    with pytest.raises(BeatwalkError, match="unfinished render .* resume"):
        render_project(project, out, analysis=analysis, pipe=pipe)
    changed = project.model_copy(deep=True)
    changed.keyframes[1].prompt = "a yellow triangle"
    with pytest.raises(BeatwalkError, match="different project"):
        render_project(changed, out, analysis=analysis, pipe=pipe, resume=True)
    assert (
        render_project(project, out, analysis=analysis, pipe=pipe, resume=True, should_stop=lambda: True)
        is None
    )
    assert (default_workdir(out) / "chunk_00000.mp4").is_file()


def test_draft_is_the_same_walk_smaller_in_its_own_job(reference, project, analysis, pipe, tmp_path):
    big = project.model_copy(deep=True)
    big.render.width, big.render.height = 128, 128
    out = tmp_path / "draft.mp4"
    folders = []

    def look():
        folders.append((default_workdir(out, draft=True).is_dir(), default_workdir(out).exists()))
        return False

    render_project(big, out, analysis=analysis, pipe=pipe, draft=True, chunk_frames=CHUNK, should_stop=look)
    assert set(folders) == {(True, False)}
    info = probe_video(out)
    assert (info.width, info.height, info.frames) == (64, 64, N_FRAMES)
    assert Project.load(sidecar_path(out)).render.width == 64
    # Half of 128×128 is the reference's own size: same plan, seeds and steps, so the same frames.
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), reference[2], strict=True))


@pytest.mark.parametrize(
    ("size", "draft"),
    [((512, 512), (256, 256)), ((1024, 576), (256, 144)), ((64, 64), (64, 64)), ((200, 96), (136, 64))],
)
def test_draft_size(size, draft):
    assert draft_size(*size) == draft


@pytest.mark.parametrize(
    ("out", "message"),
    [("missing/walk.mp4", "output folder does not exist"), ("walk.gif", "must be an .mp4")],
)
def test_bad_output_is_refused_before_any_work(project, tmp_path, out, message):
    with pytest.raises(BeatwalkError, match=message):
        next(iter_render(project, tmp_path / out))


def test_keyframe_beyond_the_segment_is_refused(project, analysis, tmp_path):
    late = project.model_copy(deep=True)
    late.keyframes[-1].time = SECONDS + 1
    with pytest.raises(BeatwalkError, match="outside the song segment"):
        next(iter_render(late, tmp_path / "walk.mp4", analysis=analysis))


# -- the command line ------------------------------------------------------------


def write_project(project, path, **render):
    data = project.model_dump(mode="json")
    data["render"].update(render)
    path.write_text(json.dumps(data))
    return path


def test_cli_killed_mid_render_resumes_to_the_same_video(reference, project, tmp_path, capsys):
    # The file asks for 128×128 at 4 fps; the command line's overrides make it the reference's project.
    project_file = write_project(project, tmp_path / "project.json", width=128, height=128, fps=4.0)
    out = tmp_path / "walk.mp4"
    command = ["render", str(project_file), "--out", str(out), "--size", "64x64", "--fps", "8"]
    command += ["--chunk-frames", str(CHUNK)]
    manifest = default_workdir(out) / MANIFEST

    def first_chunk_done():
        return manifest.is_file() and json.loads(manifest.read_text())["chunks"][0]["done"]

    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", *command], cwd=REPO, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and process.poll() is None and not first_chunk_done():
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert first_chunk_done() and not out.exists()

    code, printed = main([*command, "--resume"]), capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out.strip() == str(out)
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), reference[2], strict=True))
    assert Project.load(sidecar_path(out)) == project


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "no-such-org/no-such-model"}, "no-such-org/no-such-model"),
        ({"width": 100}, "render.width"),
    ],
)
def test_cli_bad_project_is_one_line_and_exit_2(project, tmp_path, capsys, change, message):
    project_file = write_project(project, tmp_path / "project.json", **change)
    assert main(["render", str(project_file), "--out", str(tmp_path / "walk.mp4")]) == 2
    # The last line (libraries may warn before it) is the one error line.
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert list(tmp_path.iterdir()) == [project_file]


def test_cli_refuses_to_overwrite_the_project_with_its_sidecar(project, tmp_path, capsys):
    project_file = write_project(project, tmp_path / "walk.json")
    before = project_file.read_bytes()
    assert main(["render", str(project_file), "--out", str(tmp_path / "walk.mp4"), "--size", "128x128"]) == 2
    assert "sidecar would overwrite" in capsys.readouterr().err
    # Unchanged settings too: the sidecar would rewrite the song's path and every default.
    assert main(["render", str(project_file), "--out", str(tmp_path / "walk.mp4")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: the sidecar would overwrite walk.json, the project being rendered: "
        "choose another --out (e.g. walk-video.mp4)"
    )
    assert project_file.read_bytes() == before and sorted(tmp_path.iterdir()) == [project_file]
    assert os.path.getsize(project_file) > 0 and Project.load(project_file).render.width == 64


def test_a_resume_to_another_output_finds_its_job(project, analysis, pipe, reference, tmp_path):
    first, second = tmp_path / "a" / "walk.mp4", tmp_path / "b" / "walk.mp4"
    first.parent.mkdir(), second.parent.mkdir()
    list(iter_render(project, first, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=stop_after(CHUNK)))
    assert default_workdir(first).is_dir()
    resumed = list(iter_render(project, second, analysis=analysis, pipe=pipe, resume=True))
    assert resumed[0].frames_done == CHUNK and resumed[-1].video_path == str(second)
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(second), reference[2], strict=True))
    assert not default_workdir(first).exists() and not first.exists()
    # A job noted but gone, or nothing noted: a resume starts from the first frame.
    assert next(iter_render(project, tmp_path / "c.mp4", analysis=analysis, pipe=pipe, resume=True)).frames_done == 0


def _full_disk() -> bool:
    """Whether /dev/full is the kernel's full device (it is a plain file on some containers)."""
    import stat

    return Path("/dev/full").exists() and stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.skipif(not _full_disk(), reason="needs the /dev/full device")
@pytest.mark.parametrize("where", ["join", "chunk"])
def test_a_full_disk_loses_nothing_finished_and_leaves_nothing_behind(project, analysis, pipe, reference, tmp_path, where):
    """The kernel's own full disk (/dev/full, ENOSPC on every write) where the join or a chunk writes."""
    out = tmp_path / "walk.mp4"
    workdir = default_workdir(out)
    if where == "join":
        full = out.with_name(out.name + ".partial.mp4")
    else:  # the second chunk's file: the first is finished by then
        workdir.mkdir()
        full = workdir / "chunk_00001.partial.mp4"
    full.symlink_to("/dev/full")
    with pytest.raises(BeatwalkError) as failed:
        list(iter_render(project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK))
    message = str(failed.value)
    assert message.startswith("no space left on device while writing")
    assert re.search(r"the \d+ finished chunks are kept: free about \d+ MB and resume the render$", message)
    assert not full.is_symlink() and not out.exists()  # what the failed write made is gone
    finished = sorted(p.name for p in workdir.glob("chunk_*.mp4"))
    assert finished and not any("partial" in name for name in finished)
    resumed = list(iter_render(project, out, analysis=analysis, pipe=pipe, resume=True))
    assert resumed[0].frames_done > 0
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), reference[2], strict=True))


# -- camera moves and the feedback renderer ----------------------------------------------------


@pytest.fixture(scope="module")
def feedback_project(project):
    from pipelines.plan.camera import camera_preset

    return project.replace(
        camera=camera_preset("zoom pulse"), render=project.render.model_dump() | {"renderer": "feedback", "steps": 2}
    )


@pytest.fixture(scope="module")
def feedback_reference(feedback_project, analysis, pipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("feedback") / "feedback.mp4"
    render_project(feedback_project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK)
    return out, list(read_frames(out))


def test_a_feedback_render_stopped_and_resumed_equals_an_uninterrupted_one(
    feedback_project, feedback_reference, analysis, pipe, tmp_path
):
    out, workdir = tmp_path / "feedback.mp4", default_workdir(tmp_path / "feedback.mp4")
    assert render_project(
        feedback_project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=stop_after(10)
    ) is None
    kept = sorted(p.name for p in workdir.iterdir())
    assert kept == ["chunk_00000.last.npy", "chunk_00000.mp4", "chunk_00001.last.npy", "chunk_00001.mp4", MANIFEST]
    resumed = list(iter_render(feedback_project, out, analysis=analysis, pipe=pipe, resume=True))
    assert resumed[-1].video_path == str(out)
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), feedback_reference[1], strict=True))
    assert not workdir.exists()
    assert Project.load(sidecar_path(out)).render.renderer == "feedback"


def test_a_lost_last_frame_renders_its_chunk_again(feedback_project, feedback_reference, analysis, pipe, tmp_path):
    out, workdir = tmp_path / "feedback.mp4", default_workdir(tmp_path / "feedback.mp4")
    render_project(feedback_project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=stop_after(10))
    (workdir / "chunk_00001.last.npy").unlink()  # chunk 2 can no longer start where chunk 1 ended
    resumed = list(iter_render(feedback_project, out, analysis=analysis, pipe=pipe, resume=True))
    # Chunk 1 stays finished, chunk 2 does not: the resume says so from its first progress.
    assert resumed[0].frames_done == CHUNK and resumed[1].frames_done <= CHUNK + 2
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), feedback_reference[1], strict=True))


def test_the_walk_is_posed_by_the_camera(project, reference, analysis, pipe, tmp_path):
    from pipelines.diffusion.warp import warp_frame
    from pipelines.plan.camera import camera_preset, plan_camera

    turning = project.replace(camera=camera_preset("spin on downbeats"))
    out = render_project(turning, tmp_path / "turning.mp4", analysis=analysis, pipe=pipe, chunk_frames=CHUNK)
    poses = plan_camera(turning, analysis).poses()
    # Compare before the H.264 round trip would blur the check: the posed frames differ from the still ones
    # as the warp says, within the encoder's error.
    for index, (still, turned) in enumerate(zip(reference[2], read_frames(out), strict=True)):
        pose = {axis: float(values[index]) for axis, values in poses.items()}
        expected = warp_frame(still, **pose)
        assert np.abs(turned.astype(int) - expected).mean() < np.abs(turned.astype(int) - still).mean() + 1.0


def test_cli_renders_feedback_with_a_camera_preset(project, tmp_path, capsys):
    project_file = write_project(project, tmp_path / "project.json")
    out = tmp_path / "zoom.mp4"
    command = ["render", str(project_file), "--out", str(out), "--renderer", "feedback", "--camera", "zoom pulse"]
    code, printed = main([*command, "--steps", "2", "--cadence", "2", "--color-coherence", "rgb"]), capsys.readouterr()
    assert code == 0, printed.err
    rendered = Project.load(sidecar_path(out))
    assert rendered.render.renderer == "feedback" and rendered.camera.zoom.kick > 0
    assert (rendered.feedback.cadence, rendered.feedback.color_coherence) == (2, "rgb")
    assert probe_video(out).frames == N_FRAMES


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--camera", "wobble"], "unknown camera preset 'wobble'"),
        (["--renderer", "feedback", "--steps", "2", "--cadence", "9"], "feedback.cadence"),
        (["--renderer", "feedback", "--steps", "1"], "the feedback renderer needs at least 2 denoising steps"),
    ],
)
def test_cli_bad_camera_flags_are_one_line(project, tmp_path, capsys, flags, message):
    project_file = write_project(project, tmp_path / "project.json")
    code = main(["render", str(project_file), "--out", str(tmp_path / "x.mp4"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_the_job_keeps_its_encoder_and_a_resume_where_it_cannot_run_keeps_the_chunks(project, analysis, pipe, tmp_path):
    from pipelines.render.video import nvenc_works

    if nvenc_works():
        pytest.skip("this machine's ffmpeg encodes with NVENC")
    out = tmp_path / "walk.mp4"
    list(iter_render(project, out, analysis=analysis, pipe=pipe, chunk_frames=CHUNK, should_stop=stop_after(6)))
    manifest = default_workdir(out) / MANIFEST
    data = json.loads(manifest.read_text())
    assert data["encoder"] == "libx264"  # "auto" on a CPU, resolved once for the whole job

    # Chunks from a GPU machine whose ffmpeg had NVENC, resumed here: they cannot be joined to libx264's.
    manifest.write_text(json.dumps(dict(data, encoder="h264_nvenc")))
    with pytest.raises(BeatwalkError, match="encoded with h264_nvenc, which cannot run here"):
        render_project(project, out, analysis=analysis, pipe=pipe, resume=True)
    assert (default_workdir(out) / "chunk_00000.mp4").is_file()

    manifest.write_text(json.dumps(data))
    render_project(project, out, analysis=analysis, pipe=pipe, resume=True)
    assert probe_video(out).frames == N_FRAMES
    assert Project.load(sidecar_path(out)).render.encoder == "auto"  # what was asked for, not what ran


def test_a_project_asking_for_nvenc_where_it_cannot_run_is_one_line(project, tmp_path, capsys):
    from pipelines.render.video import nvenc_works

    if nvenc_works():
        pytest.skip("this machine's ffmpeg encodes with NVENC")
    path = tmp_path / "nvenc.json"
    project.model_copy(update={"render": project.render.model_copy(update={"encoder": "h264_nvenc"})}).save(path)
    assert main(["render", str(path), "--out", str(tmp_path / "walk.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "h264_nvenc cannot run here" in err and len(err.strip().splitlines()) == 1
