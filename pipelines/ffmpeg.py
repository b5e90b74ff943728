"""The ffmpeg binary every media module runs, and the one way it opens a file it was given.

A song or video may come from a stranger, and some containers are playlists that name other
files or URLs (HLS, concat, DASH): opened naively, an uploaded "song" could make ffmpeg read any
file on the server. So every file Beatwalk did not write itself is opened through
:func:`input_args`: only the ``file`` protocol and only real media containers, named in full.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from pipelines.errors import BeatwalkError

AUDIO_DEMUXERS = (
    "wav", "w64", "mp3", "flac", "ogg", "mov", "matroska", "aac", "aiff", "au", "caf", "wv", "ape", "tta",
    "amr", "ac3", "eac3", "dts", "truehd", "mlp", "mpc", "mpc8", "tak", "dsf", "asf", "xwma", "avi", "flv",
    "mpegts", "mpeg",
)  # fmt: skip
"""Containers a song may come in (audio files, and videos with sound): none refers to other files."""

VIDEO_DEMUXERS = ("mov", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg", "asf", "gif", "ivf")
"""Containers a video to score may come in."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of ffmpeg: imageio-ffmpeg's (``IMAGEIO_FFMPEG_EXE`` when set, else its static build),
    else the one on ``PATH`` (Debian's, from ``packages.txt``).

    The static build comes first: it is the same version wherever the requirements install it,
    and it starts several times faster than a distribution's, which links against a hundred shared
    libraries (a render starts one per chunk; ``docs/speed.md``).
    """
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("ffmpeg")
    if found:
        return found
    raise BeatwalkError("ffmpeg is not installed (pip install imageio-ffmpeg, or apt-get install ffmpeg)")


def input_args(path: str | Path, *, demuxers: tuple[str, ...] = AUDIO_DEMUXERS) -> list[str]:
    """ffmpeg's arguments to open ``path`` as one input: the local file itself, in one of
    ``demuxers``, and nothing it names (``-protocol_whitelist file``, ``-format_whitelist``).

    The path is given as ``file:/absolute/path``, so a name with a colon or a leading dash is
    never read as a protocol or an option.
    """
    return [
        "-protocol_whitelist", "file", "-format_whitelist", ",".join(demuxers),
        "-i", "file:" + os.path.abspath(path),
    ]  # fmt: skip
