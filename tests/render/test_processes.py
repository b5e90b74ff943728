"""A CPU render in several forked processes: the same video as one process, stops and resumes,
Ctrl-C and a killed worker lose nothing finished, and no fork from a threaded process."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.errors import BeatwalkError
from pipelines.music.song import read_song
from pipelines.project import AudioRef, Keyframe, Project, RenderSettings
from pipelines.render.jobs import MANIFEST
from pipelines.render.processes import render_processes
from pipelines.render.runner import default_workdir, iter_render, render_project
from pipelines.render.video import read_frames

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread per process either way: equal bytes
CHUNK = 4


@pytest.fixture(scope="module")
def project(song_120):
    song, _, _ = song_120
    return Project(
        audio=AudioRef(path=str(song), start=0.0, end=3.0),
        keyframes=[Keyframe(time=0.0, prompt="a red circle", seed=1), Keyframe(time=2.0, prompt="a blue sea", seed=2)],
        render=RenderSettings(model="tiny", width=64, height=64, fps=8, steps=2, batch_size=2),
    )


@pytest.fixture(scope="module")
def analysis(project):
    return read_song(project.audio.path, start=project.audio.start, end=project.audio.end).analysis


@pytest.fixture(scope="module")
def one_process(project, analysis, tiny_pipe, tmp_path_factory):
    """The render in this process alone: its decoded frames."""
    out = tmp_path_factory.mktemp("one") / "walk.mp4"
    render_project(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=CHUNK, processes=1)
    return list(read_frames(out))


def finished_chunks(out) -> int:
    manifest = default_workdir(out) / MANIFEST
    return sum(c["done"] for c in json.loads(manifest.read_text())["chunks"]) if manifest.is_file() else 0


def equal_videos(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_render_in_processes_is_the_video_of_one_process(project, analysis, tiny_pipe, one_process, tmp_path):
    out = tmp_path / "walk.mp4"
    progress = list(iter_render(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=CHUNK, processes=2))
    assert progress[-1].video_path == str(out) and progress[-1].frames_done == 24
    assert all(0 <= p.frames_done <= 24 for p in progress)
    assert any(p.last_frame is not None for p in progress)  # the preview gets the workers' frames
    assert equal_videos(read_frames(out), one_process)
    assert not default_workdir(out).exists() and not multiprocessing.active_children()


def test_a_stop_keeps_what_the_workers_finished_and_resumes_to_the_same_video(
    project, analysis, tiny_pipe, one_process, tmp_path
):
    out = tmp_path / "walk.mp4"
    progress = list(
        iter_render(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=CHUNK, processes=2,
                    should_stop=lambda: finished_chunks(out) >= 2)  # fmt: skip
    )
    assert progress[-1].video_path is None and not out.exists()
    workdir = default_workdir(out)
    names = sorted(p.name for p in workdir.iterdir())
    assert not any("partial" in name for name in names)  # the stopped workers deleted what they had begun
    assert 2 <= finished_chunks(out) < 6 and progress[-1].frames_done == CHUNK * finished_chunks(out)
    assert not multiprocessing.active_children()
    resumed = list(iter_render(project, out, analysis=analysis, pipe=tiny_pipe, resume=True, processes=2))
    assert resumed[0].frames_done >= 2 * CHUNK and resumed[-1].video_path == str(out)
    assert equal_videos(read_frames(out), one_process)


def test_ctrl_c_stops_the_workers_and_loses_nothing_finished(project, analysis, tiny_pipe, tmp_path):
    out = tmp_path / "walk.mp4"

    def interrupt():
        if finished_chunks(out) >= 1:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        render_project(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=CHUNK, processes=2,
                       should_stop=interrupt)  # fmt: skip
    assert not multiprocessing.active_children()
    names = [p.name for p in default_workdir(out).iterdir()]
    assert finished_chunks(out) >= 1 and not any("partial" in name for name in names)


def test_a_killed_worker_is_one_line_and_its_chunk_is_rendered_on_resume(project, analysis, tiny_pipe, tmp_path):
    out = tmp_path / "walk.mp4"
    killed = []

    def kill_a_worker():
        if finished_chunks(out) >= 1 and not killed and multiprocessing.active_children():
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            victim.join()
            killed.append(victim.pid)
        return False

    with pytest.raises(BeatwalkError, match=r"^a render process died \(exit code -9\): \d+ chunks were not rendered$"):
        render_project(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=2, processes=2,
                       should_stop=kill_a_worker)  # fmt: skip  (12 chunks: work is left when the first is done)
    assert killed and not multiprocessing.active_children()
    assert finished_chunks(out) >= 1
    render_project(project, out, analysis=analysis, pipe=tiny_pipe, resume=True, processes=2)
    alone = tmp_path / "alone.mp4"
    render_project(project, alone, analysis=analysis, pipe=tiny_pipe, chunk_frames=2, processes=1)
    assert equal_videos(read_frames(out), read_frames(alone))


def test_how_many_processes(monkeypatch):
    monkeypatch.delenv("BEATWALK_RENDER_PROCESSES", raising=False)
    # By default one per core, in a fresh process (this one may run threads of earlier tests).
    ask = "from pipelines.render.processes import render_processes as r; print(r())"
    for env, expected in (({}, len(os.sched_getaffinity(0))), ({"BEATWALK_RENDER_PROCESSES": "3"}, 3)):
        fresh = subprocess.run([sys.executable, "-c", ask], cwd=REPO, env=os.environ | env, capture_output=True, text=True)
        assert fresh.stdout.strip() == str(expected), fresh.stderr
    assert render_processes(3) == 3 and render_processes(1) == 1
    monkeypatch.setenv("BEATWALK_RENDER_PROCESSES", "many")
    with pytest.raises(BeatwalkError, match="BEATWALK_RENDER_PROCESSES must be a number of processes, got 'many'"):
        render_processes()
    with pytest.raises(BeatwalkError, match="at least 1 process, got 0"):
        render_processes(0)
    # A process running other threads (a web server's) is forked only when the caller asks for it.
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        monkeypatch.setenv("BEATWALK_RENDER_PROCESSES", "2")
        assert render_processes() == 1 and render_processes(2) == 2
    finally:
        release.set()
        other.join()


def test_cli_renders_in_processes_and_refuses_none(project, tmp_path, capsys):
    project_file = tmp_path / "project.json"
    project.save(project_file)
    out = tmp_path / "walk.mp4"
    assert main(["render", str(project_file), "--out", str(out), "--processes", "2", "--chunk-frames", "8"]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.is_file()
    code = main(["render", str(project_file), "--out", str(tmp_path / "other.mp4"), "--processes", "0"])
    assert code == 2 and capsys.readouterr().err.strip() == "error: a render needs at least 1 process, got 0"

