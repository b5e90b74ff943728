"""Reading a song: decode a file and analyse it, the one way every caller does it.

The CLI, the renderer, the sync score and the Space all go from a song file (or a project's
:class:`~pipelines.project.AudioRef`, through :meth:`AudioRef.read`) to an
:class:`~pipelines.music.decode.Audio` and its :class:`~pipelines.music.analysis.Analysis` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipelines.music.decode import Audio, load_audio


class Song(NamedTuple):
    """A decoded song segment and its analysis."""

    audio: Audio
    analysis: object  # pipelines.music.analysis.Analysis (imported only once the song has decoded)


def read_song(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    tempo_range: tuple[float, float] | None = None,
    max_seconds: float | None = None,
) -> Song:
    """Decode a song (segment) and analyse it.

    Parameters
    ----------
    path : str or Path
        Any audio (or video with sound) file ffmpeg reads.
    start, end : float or None
        The segment, seconds; None: the song's start / its end.
    tempo_range : (slowest, fastest) or None
        Tempo range the beats may follow, BPM; None: the default (45-230).
    max_seconds : float or None
        Refuse a segment longer than this, seconds; None: no limit.

    Returns
    -------
    Song

    Raises
    ------
    BeatwalkError
        Anything :func:`~pipelines.music.decode.load_audio` or
        :func:`~pipelines.music.analysis.analyze` refuses, in one line.
    """
    audio = load_audio(path, start=start, end=end, max_duration=max_seconds)
    # Imported after decoding: a file that is not a song is refused before the DSP stack loads (seconds).
    from pipelines.music.analysis import analyze

    return Song(audio, analyze(audio, tempo_range=tempo_range))
