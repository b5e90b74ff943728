"""The tempo range a song's beat is read in: the remedy for a song read at twice or half its tempo.

Kept apart (it needs nothing but the error type) so that the project schema, the analysis, the CLI
and the Space share it without importing one another.
"""

from __future__ import annotations

import math

from pipelines.errors import BeatwalkError

TEMPO_RANGE = (45.0, 230.0)
"""Slowest and fastest tempo the beat tracker follows unless a song is given its own, BPM."""
TEMPO_BOUNDS = (20.0, 400.0)
"""What a song's own tempo range may span, BPM."""


def check_tempo_range(slowest: float, fastest: float) -> tuple[float, float]:
    """A tempo range the beat tracker can follow, as floats.

    Raises
    ------
    BeatwalkError
        Unless ``TEMPO_BOUNDS[0] <= slowest < fastest <= TEMPO_BOUNDS[1]``.
    """
    low, high = TEMPO_BOUNDS
    try:
        slowest, fastest = float(slowest), float(fastest)
    except (TypeError, ValueError):
        raise BeatwalkError(f"the tempo range needs two numbers, got {slowest!r} and {fastest!r}") from None
    if not low <= slowest < fastest <= high:
        raise BeatwalkError(
            f"the tempo range must run from a slower to a faster tempo within {low:g}-{high:g} BPM, "
            f"got {slowest:g}-{fastest:g}"
        )
    return slowest, fastest


def with_defaults(slowest: float | None, fastest: float | None) -> tuple[float, float]:
    """``(slowest, fastest)`` with ``TEMPO_RANGE``'s end for one left out (None), as a person gives
    a range: one end, or both (not yet checked)."""
    return (
        TEMPO_RANGE[0] if slowest is None else slowest,
        TEMPO_RANGE[1] if fastest is None else fastest,
    )


def octave_around(bpm: float) -> tuple[float, float]:
    """The tempo range one octave wide centred (geometrically) on ``bpm``, within ``TEMPO_BOUNDS``.

    A range a person asks for by tempo, not by its ends: ``octave_around(tempo / 2)`` reads a song
    at half the tempo found, and leaves out both the tempo found and a quarter of it, whatever
    the tracker heard; a tempo ramp or jump of up to an octave still fits.

    Raises
    ------
    BeatwalkError
        If ``bpm`` is not a tempo within ``TEMPO_BOUNDS``.

    Examples
    --------
    >>> octave_around(60.0)
    (42.4, 84.9)
    """
    low, high = TEMPO_BOUNDS
    try:
        tempo = float(bpm)
    except (TypeError, ValueError):
        tempo = math.nan
    if not low <= tempo <= high:  # NaN fails too
        raise BeatwalkError(f"a song can only be read around a tempo within {low:g}-{high:g} BPM, got {bpm!r}")
    return round(max(low, tempo / math.sqrt(2)), 1), round(min(high, tempo * math.sqrt(2)), 1)


def octave_at(tempo: float, factor: float) -> tuple[float, float]:
    """The tempo range that reads a song found at ``tempo`` BPM at ``factor`` times it (½: half,
    2: double): one octave around ``tempo * factor`` (:func:`octave_around`).

    Raises
    ------
    BeatwalkError
        If no tempo was found (``tempo`` 0), or the new tempo is outside ``TEMPO_BOUNDS``.
    """
    if not tempo or not tempo > 0:
        raise BeatwalkError("no steady beat was found, so there is no tempo to halve or double")
    return octave_around(tempo * factor)
