"""The Space launched in-process on a free port with the tiny model, for API and browser tests."""

from __future__ import annotations

import contextlib
import socket

import pytest

from pipelines.limits import Limits

TEST_LIMITS = Limits(
    max_song_seconds=60.0,
    max_pixels=256 * 256,
    max_frames=100,
    max_steps=4,
    max_concurrent_renders=1,
    max_upload_mb=5.0,
    max_batch_size=8,
    max_keyframes=20,
    max_compose_seconds=60.0,
    max_variations=2,
)
"""Small limits, so that tests can cross them cheaply."""


@contextlib.contextmanager
def running_space(folder, *, limits: Limits = TEST_LIMITS):
    """Yield ``(demo, url)`` of the Space served from this process; closed on exit."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BEATWALK_DEFAULT_MODEL", "tiny")
        env.setenv("BEATWALK_SESSIONS_DIR", str(folder / "sessions"))
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        from space.blocks import build_demo, launch_options

        demo = build_demo(limits)
        _, url, _ = demo.launch(
            prevent_thread_lock=True,
            server_name="127.0.0.1",
            server_port=free_port(),
            quiet=True,
            show_error=True,
            **launch_options(limits),
        )
        try:
            yield demo, url
        finally:
            demo.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sessions(folder) -> list:
    root = folder / "sessions"
    return sorted(root.iterdir()) if root.is_dir() else []
