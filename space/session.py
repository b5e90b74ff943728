"""Per-session working folders.

Every browser tab and every ``gradio_client`` connection gets its own folder
under one root, named by a hash of Gradio's session id (client-supplied text
never becomes a path). Files inside have fixed names chosen here. A folder is
removed when its page unloads; folders left by clients that never unload
(API callers, crashed tabs) are swept once they are older than
``BEATWALK_SESSION_TTL_HOURS``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from pipelines.errors import BeatwalkError

DEFAULT_TTL_HOURS = 24.0


_INSTANCE = f"{os.getpid()}-{secrets.token_hex(4)}"
"""This server process's own folder under the shared default root: two apps on one machine never
share (or sweep, or clean up) each other's session folders."""


def sessions_root() -> Path:
    """The folder holding this server's session folders: ``BEATWALK_SESSIONS_DIR``, else a folder
    of this process's own under ``<temp dir>/beatwalk-sessions``."""
    configured = os.environ.get("BEATWALK_SESSIONS_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()
    return Path(base) / "beatwalk-sessions" / _INSTANCE


def session_dir(request: gr.Request | None) -> Path:
    """This session's working folder, created on first use."""
    session_hash = getattr(request, "session_hash", None)
    if not session_hash:
        raise BeatwalkError("no session: reload the page (or open a new gradio_client connection)")
    name = hashlib.sha256(session_hash.encode("utf-8")).hexdigest()[:32]
    root = sessions_root()
    folder = root / name
    if not folder.exists():
        sweep(root)
        if not os.environ.get("BEATWALK_SESSIONS_DIR"):
            sweep(root.parent, keep=root)  # what servers that have gone left behind
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def end_session(request: gr.Request) -> None:
    """Remove the session's folder (``demo.unload``)."""
    session_hash = getattr(request, "session_hash", None)
    if session_hash:
        name = hashlib.sha256(session_hash.encode("utf-8")).hexdigest()[:32]
        shutil.rmtree(sessions_root() / name, ignore_errors=True)


def sweep(root: Path, *, now: float | None = None, keep: Path | None = None) -> None:
    """Remove the folders in ``root`` (but ``keep``) untouched for longer than the TTL."""
    try:
        ttl_hours = float(os.environ.get("BEATWALK_SESSION_TTL_HOURS") or DEFAULT_TTL_HOURS)
    except ValueError:
        raise BeatwalkError("BEATWALK_SESSION_TTL_HOURS must be a number") from None
    now = time.time() if now is None else now
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder == keep:
            continue
        try:
            idle = now - max(p.stat().st_mtime for p in [folder, *folder.rglob("*")])
        except OSError:  # removed meanwhile by its own unload
            continue
        if idle > ttl_hours * 3600:
            shutil.rmtree(folder, ignore_errors=True)
