"""Synthetic song analyses whose beats, downbeats, onsets and energy are known exactly.

They are real :class:`pipelines.music.analysis.Analysis` records, built directly
instead of by analysing audio, so timeline tests control every beat and
every frame's energy.
"""

from __future__ import annotations

import functools

import numpy as np

from pipelines.music.analysis import Analysis
from pipelines.music.envelopes import ENVELOPE_NAMES

ENVELOPE_RATE = 2000.0
"""Hz: fine enough that a 10 ms burst stays inside one video frame's window."""

HIT_SECONDS = 0.01


def synthetic_analysis(
    *,
    duration=12.0,
    bpm=120.0,
    first_beat=0.5,
    beats=None,
    beats_per_bar=4,
    energy=None,
    sections=None,
    envelope_rate=ENVELOPE_RATE,
) -> Analysis:
    """An analysis with a steady beat (or the given ``beats``), downbeats every ``beats_per_bar``.

    Parameters
    ----------
    energy : callable or None
        ``energy(times) -> values`` (0..1) for every envelope, ``times`` in
        seconds. ``None``: a 10 ms burst just after each beat (``(b, b + 0.01]``),
        so all of a hit's energy falls in the video frame during which it sounds.

    envelope_rate : float
        Hz; ``analyze`` gives about 86, the default keeps 10 ms bursts exact.

    Onsets are the beats and the eighths between them; one section spans the song.
    """
    period = 60.0 / bpm
    beats = np.arange(first_beat, duration, period) if beats is None else np.asarray(beats, dtype=np.float64)
    eighths = beats + period / 2
    onsets = np.sort(np.concatenate([beats, eighths[eighths < duration]]))
    if energy is None:
        energy = functools.partial(_after_hits, beats=beats)
    times = np.arange(int(np.ceil(duration * envelope_rate)) + 1) / envelope_rate
    curve = np.clip(np.asarray(energy(times), dtype=np.float64), 0.0, 1.0)
    return Analysis(
        duration=duration,
        sample_rate=22050,
        tempo=bpm,
        tempo_curve={"times": [duration / 2], "bpm": [bpm]},
        beats=beats.tolist(),
        downbeats=beats[::beats_per_bar].tolist(),
        beats_per_bar=beats_per_bar,
        onsets=onsets.tolist(),
        sections=sections or [{"start": 0.0, "end": duration, "label": "A"}],
        envelope_rate=envelope_rate,
        envelopes={name: curve.copy() for name in ENVELOPE_NAMES},
    )


def _after_hits(times: np.ndarray, beats: np.ndarray) -> np.ndarray:
    if len(beats) == 0:
        return np.zeros_like(times)
    last = np.searchsorted(beats, times, side="left") - 1
    since = times - beats[np.maximum(last, 0)]
    return ((last >= 0) & (since <= HIT_SECONDS)).astype(np.float64)
