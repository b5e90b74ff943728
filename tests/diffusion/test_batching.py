"""``batch_size="auto"``: by device and frame size, by a memory probe on a GPU, kept by the job."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipelines.cli import main
from pipelines.diffusion import batching
from pipelines.diffusion.batching import auto_batch_size, fitting_batch, probe_inputs
from pipelines.diffusion.families import TINY_MODELS
from pipelines.diffusion.models import load_pipeline
from pipelines.errors import BeatwalkError
from pipelines.music.song import read_song
from pipelines.project import AudioRef, Keyframe, Project
from pipelines.render.jobs import MANIFEST
from pipelines.render.runner import default_workdir, render_project, sidecar_path
from pipelines.render.video import read_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_on_a_cpu_small_frames_batch_by_32_and_large_ones_by_4():
    assert auto_batch_size(64, 64, device="cpu") == 32
    assert auto_batch_size(128, 128, device="cpu") == 32
    assert auto_batch_size(128, 136, device="cpu") == 4
    assert auto_batch_size(512, 512, device="cpu") == 4
    assert auto_batch_size(512, 512, device="cuda") == batching.GPU_UNPROBED  # no pipeline to probe with


@pytest.mark.parametrize(
    ("available", "frame", "batch"),
    [(80 << 30, 1 << 30, 32), (8 << 30, 1 << 30, 4), (1 << 30, 1 << 30, 1), (100, 0, 32)],
)
def test_a_gpu_batch_is_the_largest_power_of_two_that_fits(available, frame, batch):
    assert fitting_batch(available, frame) == batch


@pytest.mark.parametrize("model", TINY_MODELS)
@pytest.mark.parametrize("cfg", [False, True])
def test_the_probe_runs_each_kind_of_unet_and_vae(model, cfg):
    """The probe's inputs fit every family's UNet (SD's, SDXL's added ids, LCM's guidance embedding)."""
    pipe = load_pipeline(model)
    latents, conditioning = probe_inputs(pipe, 64, 96, cfg=cfg)
    with torch.inference_mode():
        noise = pipe.unet(latents, 999, **conditioning, return_dict=False)[0]
        image = pipe.vae.decode(latents[:1], return_dict=False)[0]
    assert noise.shape == latents.shape == (2 if cfg else 1, 4, 96 // 8, 64 // 8)
    assert image.shape == (1, 3, 96, 64)


def test_auto_is_the_default_and_the_only_word(song_120):
    song, _, _ = song_120
    project = Project(audio=AudioRef(path=str(song)), keyframes=[Keyframe(time=0.0, prompt="a")])
    assert project.render.batch_size == "auto"
    assert Project.from_json(project.to_json()) == project
    with pytest.raises(BeatwalkError, match="batch_size"):
        project.replace(render=project.render.model_dump() | {"batch_size": "many"})


def test_an_auto_render_records_its_batch_and_a_resume_keeps_it(song_120, tiny_pipe, tmp_path, monkeypatch):
    song, _, _ = song_120
    project = Project.from_dict(
        {
            "audio": {"path": str(song), "start": 0.0, "end": 2.0},
            "keyframes": [{"time": 0.0, "prompt": "a red circle", "seed": 1}, {"time": 1.5, "prompt": "a sea", "seed": 2}],
            "render": {"model": "tiny", "width": 64, "height": 64, "fps": 12, "steps": 1},
        }
    )
    analysis = read_song(song, start=0.0, end=2.0).analysis
    whole = tmp_path / "whole.mp4"
    render_project(project, whole, analysis=analysis, pipe=tiny_pipe, processes=1)
    assert Project.load(sidecar_path(whole)).render.batch_size == 32  # 64² on a CPU

    # A job started with auto = 8, stopped after its first chunk, resumed where auto would be 32.
    monkeypatch.setattr(batching, "CPU_SMALL_BATCH", 8)
    out = tmp_path / "walk.mp4"
    manifest = default_workdir(out) / MANIFEST

    def first_chunk_done():
        return manifest.is_file() and json.loads(manifest.read_text())["chunks"][0]["done"]

    render_project(project, out, analysis=analysis, pipe=tiny_pipe, chunk_frames=8, processes=1, should_stop=first_chunk_done)
    assert json.loads(manifest.read_text())["batch_size"] == 8
    monkeypatch.setattr(batching, "CPU_SMALL_BATCH", 32)
    render_project(project, out, analysis=analysis, pipe=tiny_pipe, resume=True, processes=1)
    assert Project.load(sidecar_path(out)).render.batch_size == 8
    # Its frames are the job's batches of 8 throughout: as a render with batch_size 8 makes them.
    eight = tmp_path / "eight.mp4"
    render_project(project.replace(render=project.render.model_dump() | {"batch_size": 8}), eight,
                   analysis=analysis, pipe=tiny_pipe, chunk_frames=8, processes=1)  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(out), read_frames(eight), strict=True))


def test_cli_batch_size_is_a_number_or_auto(song_120, tmp_path, capsys):
    song, _, _ = song_120
    project_file = tmp_path / "project.json"
    Project(
        audio=AudioRef(path=str(song), end=1.0),
        keyframes=[Keyframe(time=0.0, prompt="a")],
        render={"model": "tiny", "width": 64, "height": 64, "fps": 8, "steps": 1, "batch_size": 2},
    ).save(project_file)
    out = tmp_path / "walk.mp4"
    assert main(["render", str(project_file), "--out", str(out), "--batch-size", "auto", "--processes", "1"]) == 0
    assert Project.load(sidecar_path(out)).render.batch_size == 32
    capsys.readouterr()
    assert main(["render", str(project_file), "--out", str(tmp_path / "b.mp4"), "--batch-size", "lots"]) == 2
    assert capsys.readouterr().err.strip() == "error: --batch-size must be a number of frames or 'auto', got 'lots'"
