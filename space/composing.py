"""A session's compositions: one at a time per session, on the GPU when there is one
(:func:`space.gpu.compose_window`), its songs in the session folder, Stop by a file as for renders."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from space import gpu

STOP_FILE = "compose-stop"
SONGS = "songs"
_session_locks: dict[str, threading.Lock] = {}


def compose_in_session(settings, folder: Path, *, variations: int, melody: str | None, limits: Limits) -> Iterator:
    """Compose ``variations`` songs of ``settings`` into ``folder/songs/``; yields ``ComposeProgress``
    (the last one ``finished`` or ``stopped``, with the files made)."""
    limits.check_compose(seconds=settings.seconds, variations=variations)
    lock = _session_locks.setdefault(str(folder), threading.Lock())
    if not lock.acquire(blocking=False):
        raise BeatwalkError("a song is already being composed in this session: stop it first, or wait for it")
    try:
        stop_file = folder / STOP_FILE
        stop_file.unlink(missing_ok=True)
        songs = folder / SONGS
        songs.mkdir(parents=True, exist_ok=True)
        # A name of its own per composition: the page's players keep each file they were given.
        out_path = songs / f"song-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10_000:04d}.wav"
        steps = gpu.compose_window(
            settings.model_dump_json(), str(out_path), variations=variations, melody=melody, stop_file=str(stop_file)
        )
        try:
            yield from steps
        finally:
            steps.close()
    finally:
        lock.release()


def composing(folder: Path) -> bool:
    lock = _session_locks.get(str(folder))
    return lock is not None and lock.locked()


def request_stop(folder: Path) -> None:
    """Ask this session's composition to stop at its next step (finished variations are kept)."""
    (folder / STOP_FILE).touch()


def describe(progress) -> str:
    """One Markdown line of where a composition stands."""
    if progress.finished:
        made = len(progress.paths)
        return f"✅ Composed {made} song{'s' * (made > 1)} of {progress.seconds_total / progress.variations:g} s."
    if progress.stopped:
        kept = len(progress.paths)
        return f"⏹️ Stopped. {kept} finished song{'s' * (kept != 1)} kept." if kept else "⏹️ Stopped: nothing was kept."
    which = f" (song {progress.variation + 1} of {progress.variations})" if progress.variations > 1 else ""
    eta = f", about {progress.eta:.0f} s left" if progress.eta is not None else ""
    return f"🎹 Composing{which}: {progress.seconds_done:.1f} of {progress.seconds_total:.1f} s of music{eta}…"
