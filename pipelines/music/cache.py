"""Analyses kept on disk: a song is analysed once, not at every render of it.

``python -m pipelines new`` analyses the song, ``plan`` and ``render`` need the same analysis
again, and a render resumed or rendered anew at another size needs it once more: seconds each for a
long song (7.6 s and 680 MB for 10 minutes on a 2-core Xeon). An analysis is kept as JSON under
``BEATWALK_CACHE_DIR`` (default ``$XDG_CACHE_HOME/beatwalk/analyses``), named by what it is of:
the file's bytes, the segment, the tempo range, and this package's analysis code and weights (a
change to any of them is a new name, never a stale answer). ``Analysis.to_dict`` round-trips
exactly (its values are already rounded), so a kept analysis plans the very same frames. A cache
that cannot be written or read is no cache: the song is analysed as without one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path

MUSIC = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """``BEATWALK_CACHE_DIR``, else ``$XDG_CACHE_HOME/beatwalk/analyses`` (``~/.cache/beatwalk/analyses``)."""
    configured = os.environ.get("BEATWALK_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "beatwalk" / "analyses"


def cached_analysis(path, *, start=None, end=None, tempo_range=None, max_seconds=None):
    """The analysis :func:`pipelines.music.song.read_song` gives, from the cache when it has it."""
    from pipelines.music.analysis import Analysis
    from pipelines.music.song import read_song

    entry = analysis = None
    try:
        entry = cache_dir() / f"{_key(path, start, end, tempo_range)}.json"
        analysis = Analysis.from_dict(json.loads(entry.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):  # not kept yet, unreadable, or no song: analysed below
        pass
    if analysis is not None and (max_seconds is None or analysis.duration <= max_seconds):
        return analysis
    analysis = read_song(path, start=start, end=end, tempo_range=tempo_range, max_seconds=max_seconds).analysis
    if entry is not None:
        _keep(entry, analysis.to_dict())
    return analysis


def read_song_kept(path, *, start=None, end=None, tempo_range=None, max_seconds=None):
    """:func:`pipelines.music.song.read_song` (audio and analysis), its analysis kept for the
    renders that follow (``new`` and ``analyze`` warm the cache for ``plan`` and ``render``)."""
    from pipelines.music.song import read_song

    song = read_song(path, start=start, end=end, tempo_range=tempo_range, max_seconds=max_seconds)
    with contextlib.suppress(OSError):  # a file that cannot be hashed is not kept
        _keep(cache_dir() / f"{_key(path, start, end, tempo_range)}.json", song.analysis.to_dict())
    return song


def _key(path, start, end, tempo_range) -> str:
    """What an analysis is of: the file's bytes, the segment and tempo range as ``read_song`` reads
    them (None: the start, the default range), and the analysis code."""
    from pipelines.music.tempo_range import TEMPO_RANGE

    start, tempo_range = float(start or 0.0), [float(bpm) for bpm in (tempo_range or TEMPO_RANGE)]
    end = None if end is None else float(end)
    if not Path(path).is_file():  # a pipe or a device is never hashed (it would wait for a writer): the decoder says what it is
        raise OSError(f"not a regular file: {path}")
    digest = hashlib.sha256()
    with open(path, "rb") as song:
        while block := song.read(1 << 20):
            digest.update(block)
    digest.update(json.dumps([start, end, tempo_range, _code()]).encode())
    return digest.hexdigest()[:40]


@functools.cache
def _code() -> str:
    """A fingerprint of the analysis code and its weights (this package's files)."""
    digest = hashlib.sha256()
    for file in sorted(MUSIC.rglob("*")):
        if file.is_file() and file.suffix != ".pyc" and "__pycache__" not in file.parts:
            digest.update(file.relative_to(MUSIC).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()


def _keep(entry: Path, data: dict) -> None:
    """Write ``entry`` atomically; a cache that cannot be written is skipped."""
    temporary = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, entry)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
