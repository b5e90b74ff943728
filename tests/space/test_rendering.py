"""A render in GPU windows (as on ZeroGPU): each window stops itself before its grant ends, the next
resumes the job, and the video equals one uninterrupted render."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipelines.music.song import read_song
from pipelines.project import AudioRef, Keyframe, Project, RenderSettings
from pipelines.render.runner import render_project
from pipelines.render.video import read_frames
from space import gpu, rendering

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_render_in_short_gpu_windows_equals_one_render(song_120, tmp_path, monkeypatch):
    song, _, _ = song_120
    project = Project(
        audio=AudioRef(path=str(song)),
        keyframes=[Keyframe(time=0.0, prompt="a red circle", seed=1), Keyframe(time=3.0, prompt="a blue sea", seed=2)],
        render=RenderSettings(model="tiny", width=64, height=64, fps=24, steps=2, batch_size=2),  # 2 steps: slower than one 2 s window on any machine
    )
    analysis = read_song(song).analysis
    gpu.pipeline_for(project.render)  # loaded first, as the Space does: the timing below is the render's
    started = time.perf_counter()
    whole = render_project(project, tmp_path / "whole.mp4", analysis=analysis)
    # The estimate (a GPU's) makes chunks of 96 frames, a third of this render on a CPU: windows of
    # 0.6 of the whole render (2 s at least) fit a chunk with room for a slow start, and several
    # are needed (at a third, a loaded 2-core Xeon made no frame in one).
    window = max(2.0, 0.6 * (time.perf_counter() - started))

    monkeypatch.setenv("BEATWALK_GPU_WINDOW_SECONDS", f"{window:.2f}")
    calls = []
    real = gpu._render_on_gpu

    def counted(*args, **kwargs):
        calls.append(kwargs["resume"])
        yield from real(*args, **kwargs)

    monkeypatch.setattr(gpu, "_render_on_gpu", counted)
    folder = tmp_path / "session"
    folder.mkdir()
    progress = list(rendering.run(project, analysis.to_dict(), folder, kind="final", resume=False, frames_total=288))
    assert progress[-1].video_path == str(folder / "final.mp4")
    assert len(calls) > 1 and calls[0] is False and all(calls[1:])  # several windows, each resuming the job
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(folder / "final.mp4"), read_frames(whole), strict=True))
    # Chunks are whole batches; a window's end loses at most the chunk it cut off.
    chunk = gpu._window_chunk_frames(project, draft=False, window=window)
    assert chunk % 2 == 0 and 2 <= chunk <= 96
    done = [p.frames_done for p in progress]
    assert done[-1] == 288 and all(later > earlier - chunk for earlier, later in zip(done, done[1:]))
