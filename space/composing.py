"""A session's compositions: one at a time per session, on the GPU when there is one
(:func:`space.gpu.compose_window`), its songs in the session folder, Stop by a file as for renders."""

from __future__ import annotations

import contextlib
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
    """Compose ``variations`` songs of ``settings`` into ``folder/songs/``, one GPU call each; yields
    ``ComposeProgress`` over all of them (the last one ``finished`` or ``stopped``, with the files made)."""
    from pipelines.music.compose import ComposeProgress, check_variations, output_paths

    limits.check_compose(seconds=settings.seconds, variations=variations)
    check_variations(settings, variations)
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
        window, started, total = gpu.gpu_window_seconds(), time.monotonic(), settings.seconds * variations
        made: list[str] = []
        for index, path in enumerate(output_paths(out_path, variations)):
            take = settings.model_copy(update={"seed": settings.seed + index})
            steps = gpu.compose_window(
                take.model_dump_json(), str(path), melody=melody, stop_file=str(stop_file), window=window
            )
            last = None
            with contextlib.closing(steps):
                for step in steps:
                    last = step
                    done = settings.seconds * index + step.seconds_done
                    spent = time.monotonic() - started
                    overall = ComposeProgress(
                        done, total, index, variations, spent, eta=(total - done) * spent / done if done else None,
                        paths=made + list(step.paths), finished=step.finished and index == variations - 1,
                        stopped=step.stopped,
                    )  # fmt: skip
                    if step.stopped and not stop_file.exists():
                        overall.note = f"the song did not fit in a {window:g} s GPU window: ask for a shorter one"
                    if step.finished and index < variations - 1:
                        continue
                    yield overall
                    if step.stopped or overall.finished:
                        return
            made = made + list(last.paths)
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
        why = f" ({progress.note})" if progress.note else ""
        if not kept:
            return f"⏹️ Stopped{why}: nothing was kept."
        return f"⏹️ Stopped{why}. {kept} finished song{'s' * (kept != 1)} kept."
    which = f" (song {progress.variation + 1} of {progress.variations})" if progress.variations > 1 else ""
    eta = f", about {progress.eta:.0f} s left" if progress.eta is not None else ""
    return f"🎹 Composing{which}: {progress.seconds_done:.1f} of {progress.seconds_total:.1f} s of music{eta}…"
