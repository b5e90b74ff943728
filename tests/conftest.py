"""Shared fixtures. Tests that need real weights or a GPU are marked and skipped by default."""

from __future__ import annotations

import os

import pytest

from synth.songs import drum_song, write_song

# Before any test module is collected: huggingface_hub reads HF_HUB_OFFLINE once, when it is first
# imported, and test modules that import diffusers at their top import it during collection.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", help="run tests marked gpu")
    parser.addoption("--weights", action="store_true", help="run tests that download real weights")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (run with --gpu)")
    config.addinivalue_line("markers", "weights: needs real model weights from the hub (run with --weights)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")


def pytest_collection_modifyitems(config, items):
    for marker in ("gpu", "weights"):
        if config.getoption(f"--{marker}"):
            continue
        skip = pytest.mark.skip(reason=f"needs --{marker}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _offline_and_quiet(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ.setdefault("BEATWALK_JOBS_DIR", str(tmp_path_factory.mktemp("jobs")))
    os.environ.setdefault("BEATWALK_CACHE_DIR", str(tmp_path_factory.mktemp("analyses")))


@pytest.fixture(scope="session")
def song_120(tmp_path_factory):
    """A 12 s 4/4 drum song at 120 BPM as a wav file: (path, beats, downbeats)."""
    samples, beats, downbeats = drum_song(duration=12.0, bpm=120.0)
    path = write_song(tmp_path_factory.mktemp("songs") / "drums-120.wav", samples)
    return path, beats, downbeats


@pytest.fixture(scope="session")
def tiny_pipe():
    """The built-in random-weight SD pipeline (``load_pipeline("tiny")``), built once per session."""
    from pipelines.diffusion.models import load_pipeline

    return load_pipeline("tiny", device="cpu")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads; on a busy machine OpenMP spinning costs ~10x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """The Space served from this process with the tiny model: ``(folder, url)``."""
    from tests.space_app import running_space

    folder = tmp_path_factory.mktemp("space")
    with running_space(folder) as (_demo, url):
        yield folder, url
