"""A duplicated Space with a render farm (``BEATWALK_FARM_WORKERS``): the named API's render runs on
a real local Ray cluster of 2 CPU workers started by the app, and gives the same video as the
single-process render at the workers' 1 thread."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray")
from gradio_client import Client, handle_file  # noqa: E402

from pipelines.project import Project  # noqa: E402
from pipelines.render.runner import render_project  # noqa: E402
from pipelines.render.video import read_frames  # noqa: E402
from synth.songs import drum_song, write_song  # noqa: E402
from tests.space_app import running_space  # noqa: E402


@pytest.fixture(scope="module")
def farm_space(tmp_path_factory):
    from space import gpu

    folder = tmp_path_factory.mktemp("farm-space")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BEATWALK_FARM_WORKERS", "2")
        try:
            with running_space(folder) as (_demo, url):
                yield folder, url
        finally:
            gpu.close_farm()


def test_a_space_with_a_farm_renders_on_its_workers(farm_space, tmp_path, one_torch_thread):
    from space import gpu

    song = write_song(tmp_path / "drums.wav", drum_song(duration=3.0, bpm=120.0)[0])
    client = Client(farm_space[1], analytics_enabled=False, verbose=False)
    analysis = client.predict(song=handle_file(str(song)), start=0, end=0, api_name="/analyze")
    project = json.loads(client.predict(analysis_json=analysis, prompts="a red cat\na blue dog", api_name="/propose_keyframes"))
    project["render"].update({"width": 64, "height": 64, "fps": 8.0, "steps": 1})
    progress, video, _, _ = client.predict(song=handle_file(str(song)), project_json=json.dumps(project), api_name="/render")
    assert progress.startswith("done") and gpu.farm_for() is not None
    assert len(gpu.farm_for().describe()) == 2
    # The same frames as a render in this process at the workers' one thread.
    rendered = Project.model_validate(project).replace(audio=project["audio"] | {"path": str(song)})
    here = render_project(rendered, tmp_path / "here.mp4")  # at the workers' one thread
    assert all(np.array_equal(a, b) for a, b in zip(read_frames(here), read_frames(video), strict=True))


def test_the_farm_follows_the_environment(monkeypatch):
    from pipelines.errors import BeatwalkError
    from space import gpu

    monkeypatch.setenv("BEATWALK_FARM_WORKERS", "3")
    assert gpu.farm_workers() == 3
    monkeypatch.setenv("BEATWALK_FARM_WORKERS", "0")
    assert gpu.farm_workers() == 0 and gpu.farm_for() is None
    monkeypatch.delenv("BEATWALK_FARM_WORKERS")
    assert gpu.farm_workers() == 0  # no GPU here: one process renders
    monkeypatch.setenv("BEATWALK_FARM_WORKERS", "many")
    with pytest.raises(BeatwalkError, match="BEATWALK_FARM_WORKERS must be a number of workers, got 'many'"):
        gpu.farm_workers()
