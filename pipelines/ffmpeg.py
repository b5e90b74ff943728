"""The ffmpeg binary every media module runs."""

from __future__ import annotations

import functools
import shutil

from pipelines.errors import BeatwalkError


@functools.cache
def ffmpeg_exe() -> str:
    """Path of ffmpeg: Debian's on ``PATH`` if present, else the one inside imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise BeatwalkError(
            "ffmpeg is not installed (apt-get install ffmpeg, or pip install imageio-ffmpeg)"
        ) from None
