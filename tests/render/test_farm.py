"""The render farm (pipelines.render.farm) on a real local Ray cluster of 2 CPU workers, 1 torch
thread each, against single-process renders at 1 thread: the same bytes, workers killed mid-render,
resume across the two, stops, and bad input as one line.

The tiny model at 64×64, 8 fps, 4 s of the drum song: 32 frames in 8 chunks of 4, batches of 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.diffusion.models import load_pipeline
from pipelines.errors import BeatwalkError
from pipelines.music.analysis import analyze
from pipelines.music.decode import load_audio
from pipelines.project import AudioRef, Keyframe, Project, RenderSettings
from pipelines.render.jobs import MANIFEST
from pipelines.render.runner import default_workdir, iter_render, render_project
from pipelines.render.video import read_frames

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
CHUNK = 4


@pytest.fixture(scope="module")
def project(song_120):
    song, _, _ = song_120
    return Project(
        audio=AudioRef(path=str(song), start=1.0, end=5.0),
        keyframes=[
            Keyframe(time=0.0, prompt="a red circle", seed=1),
            Keyframe(time=1.5, prompt="a blue square", seed=2, transition="linear"),
            Keyframe(time=3.0, prompt="green waves", seed=3),
        ],
        render=RenderSettings(model="tiny", width=64, height=64, fps=8.0, steps=1, batch_size=2),
    )


@pytest.fixture(scope="module")
def analysis(project):
    return analyze(load_audio(project.audio.path, start=project.audio.start, end=project.audio.end))


@pytest.fixture(scope="module")
def pipe(one_torch_thread):
    """Single-process renders at the workers' 1 thread: CPU sums are the same only at the same threads."""
    return load_pipeline("tiny", device="cpu")


@pytest.fixture(scope="module")
def farm():
    from pipelines.render.farm import Farm

    with Farm(workers=2) as started:
        yield started


@pytest.fixture(scope="module")
def reference(project, analysis, pipe, tmp_path_factory):
    """The single-process render's video bytes and frames."""
    out = render_project(project, tmp_path_factory.mktemp("single") / "walk.mp4", analysis=analysis, pipe=pipe, chunk_frames=CHUNK)
    return out.read_bytes(), list(read_frames(out))


def finished(workdir: Path) -> int:
    manifest = workdir / MANIFEST
    return sum(c["done"] for c in json.loads(manifest.read_text())["chunks"]) if manifest.is_file() else 0


def test_a_farm_render_is_the_single_process_render(project, analysis, farm, reference, tmp_path):
    workers = farm.describe()
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2 and {w["threads"] for w in workers} == {1}
    progress = list(iter_render(project, tmp_path / "walk.mp4", analysis=analysis, farm=farm, chunk_frames=CHUNK))
    done = [p.frames_done for p in progress]
    assert done[0] == 0 and done[-1] == 32 and progress[-1].video_path == str(tmp_path / "walk.mp4")
    assert len(progress) > 8  # batches, not only chunks, are reported
    assert (tmp_path / "walk.mp4").read_bytes() == reference[0]
    assert not default_workdir(tmp_path / "walk.mp4").exists()


@pytest.mark.parametrize("how", ["ray.kill", "SIGKILL"])
def test_a_worker_killed_mid_render_loses_only_its_chunk(project, analysis, farm, reference, tmp_path, how):
    victim = farm.workers[0]
    pid, deaths = farm.describe()[0]["pid"], victim.deaths
    killed = False
    out = tmp_path / "walk.mp4"
    for progress in iter_render(project, out, analysis=analysis, farm=farm, chunk_frames=CHUNK):
        if not killed and progress.frames_done >= 6:  # both workers are in their chunks
            if how == "ray.kill":
                ray.kill(victim.actor, no_restart=False)
            else:
                os.kill(pid, signal.SIGKILL)
            killed = True
    assert killed and progress.video_path == str(out)
    assert victim.deaths == deaths + 1 and victim in farm.workers  # restarted by Ray, and working again
    assert farm.describe()[0]["pid"] != pid
    assert out.read_bytes() == reference[0]


def test_resume_crosses_between_farm_and_single_process(project, analysis, pipe, farm, reference, tmp_path):
    # Started in this process, stopped after 2 chunks, finished by the farm.
    first = tmp_path / "a.mp4"
    render_project(project, first, analysis=analysis, pipe=pipe, chunk_frames=CHUNK,
                   should_stop=lambda: finished(default_workdir(first)) >= 2)  # fmt: skip
    assert finished(default_workdir(first)) == 2
    resumed = list(iter_render(project, first, analysis=analysis, farm=farm, resume=True))
    assert resumed[0].frames_done == 2 * CHUNK and first.read_bytes() == reference[0]
    # Started on the farm, stopped, finished in this process.
    second = tmp_path / "b.mp4"
    stopped = list(iter_render(project, second, analysis=analysis, farm=farm, chunk_frames=CHUNK,
                               should_stop=lambda: finished(default_workdir(second)) >= 3))  # fmt: skip
    kept = finished(default_workdir(second))
    assert stopped[-1].video_path is None and 3 <= kept < 8 and not second.exists()
    resumed = list(iter_render(project, second, analysis=analysis, pipe=pipe, resume=True))
    assert resumed[0].frames_done == kept * CHUNK and second.read_bytes() == reference[0]


def test_the_feedback_chain_renders_on_the_farm_as_here(project, analysis, pipe, farm, tmp_path):
    chained = project.replace(render=project.render.model_dump() | {"renderer": "feedback", "steps": 2})
    here = render_project(chained, tmp_path / "here.mp4", analysis=analysis, pipe=pipe, chunk_frames=CHUNK)
    there = render_project(chained, tmp_path / "there.mp4", analysis=analysis, farm=farm, chunk_frames=CHUNK)
    assert there.read_bytes() == here.read_bytes()


def test_init_images_travel_to_the_workers(project, analysis, pipe, farm, tmp_path):
    from PIL import Image

    image = tmp_path / "start.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[:, None, None], (1, 64, 3))).save(image)
    keyframes = [project.keyframes[0].model_copy(update={"init_image": str(image), "strength": 0.6}), *project.keyframes[1:]]
    started = project.replace(keyframes=[k.model_dump() for k in keyframes])
    here = render_project(started, tmp_path / "here.mp4", analysis=analysis, pipe=pipe, chunk_frames=CHUNK)
    there = render_project(started, tmp_path / "there.mp4", analysis=analysis, farm=farm, chunk_frames=CHUNK)
    assert there.read_bytes() == here.read_bytes()


def test_a_chunks_own_error_is_one_line_and_keeps_nothing_half_done(project, analysis, farm, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    keyframes = [project.keyframes[0].model_copy(update={"init_image": str(broken)}), *project.keyframes[1:]]
    bad = project.replace(keyframes=[k.model_dump() for k in keyframes])
    with pytest.raises(BeatwalkError, match=r"^chunk \d+ \(frames \d+–\d+\): init image .* cannot be read$"):
        list(iter_render(bad, tmp_path / "bad.mp4", analysis=analysis, farm=farm, chunk_frames=CHUNK))
    assert not list(default_workdir(tmp_path / "bad.mp4").glob("*.partial.mp4"))


def test_a_model_a_worker_cannot_load_is_one_line(project, analysis, farm, tmp_path, monkeypatch):
    unknown = project.replace(render=project.render.model_dump() | {"model": "no-such-org/no-such-model"})
    with pytest.raises(BeatwalkError, match=r"^a worker cannot load the model no-such-org/no-such-model: "):
        list(iter_render(unknown, tmp_path / "x.mp4", analysis=analysis, farm=farm))
    assert not default_workdir(tmp_path / "x.mp4").exists()


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "pipelines", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and __import__("re").search(pattern, lines[0]), result.stderr


@pytest.fixture
def project_file(project, tmp_path):
    path = tmp_path / "project.json"
    short = project.replace(audio=project.audio.model_dump() | {"end": 3.0}, keyframes=[k.model_dump() for k in project.keyframes[:2]])
    short.save(path)
    return path


def test_cli_renders_on_a_farm_of_workers(project_file, tmp_path):
    result = cli("render", str(project_file), "--out", str(tmp_path / "farm.mp4"), "--workers", "2", "--chunk-frames", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "farm.mp4") and len(list(read_frames(tmp_path / "farm.mp4"))) == 16


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--ray", "127.0.0.1:9"], r"no Ray cluster answers at 127\.0\.0\.1:9 .*ray start --head"),
        (["--ray", "nowhere"], r"a Ray address looks like HOST:PORT"),
        (["--workers", "4096"], r"4096 CPU workers asked for, but this machine has \d+ CPU cores"),
        (["--workers", "0"], r"a farm needs at least 1 worker"),
    ],
)
def test_cli_bad_farm_is_one_line(project_file, tmp_path, flags, pattern):
    one_line_error(cli("render", str(project_file), "--out", str(tmp_path / "x.mp4"), *flags), pattern)
