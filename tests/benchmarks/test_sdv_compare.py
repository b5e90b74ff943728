"""The comparison's model-only floor (benchmarks/sdv_compare.py) makes the render's own model calls.

The comparison itself needs stable-diffusion-videos' venv and minutes; these run on the tiny model.
"""

from __future__ import annotations

import math

from benchmarks import sdv_compare
from pipelines.project import Project
from pipelines.render.processes import render_processes
from pipelines.render.runner import render_project
from pipelines.render.video import probe_video


def _setting(song, batch_size="auto") -> dict:
    return dict(prompts=["a red sunset", "a blue forest", "a golden city"], seeds=[1, 2, 3], fps=12,
                song=str(song), guidance=0.0, size=64, steps=2, batch_size=batch_size)  # fmt: skip


def test_the_floor_denoises_the_frames_of_the_render_in_its_batches(song_120, tiny_pipe, tmp_path):
    path, _, _ = song_120
    project = Project.from_dict(sdv_compare._project(_setting(path, batch_size=5), 4.0))
    video = render_project(project, tmp_path / "walk.mp4", pipe=tiny_pipe)

    shares = sdv_compare._floor_shares(project, tiny_pipe)
    sizes = [n for share in shares for n in share]
    assert sum(sizes) == probe_video(video).frames == 48  # every frame of the walk is distinct
    assert max(sizes) == 5 and len(shares) == min(render_processes(), math.ceil(48 / 5))

    seconds = sdv_compare._model_floor(tiny_pipe, project)
    assert 0 < seconds < 60
