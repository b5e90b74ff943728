"""Song sections from a self-similarity matrix: where the music changes, and what repeats.

Features (timbre as MFCCs, harmony as chroma) are averaged over each beat (or
over half-second cells when there is no beat), compared with every other beat
(cosine self-similarity), and a Gaussian checkerboard kernel slid along the
diagonal (Foote, 2000) scores how much the music before a beat differs from the
music after it. Peaks of that novelty are section boundaries. Sections whose
average features agree get the same letter, so a verse-chorus-verse song reads
``A B A``.
"""

from __future__ import annotations

import itertools
import string

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal

from pipelines.music.envelopes import Spectrogram

MIN_SECTION_BEATS = 16
"""Shortest section on a beat grid, beats (four bars of 4/4)."""

MIN_SECTION_SECONDS = 8.0
"""Shortest section without a beat grid, seconds."""

NOVELTY_THRESHOLD = 0.25
"""Novelty (-1..1) a boundary needs; stationary sound (noise, one loop) stays below."""

SAME_LABEL_SIMILARITY = 0.6
"""Cosine similarity of two sections' mean features above which they share a label."""

_CELL_SECONDS = 0.5
_SMOOTH_BEATS = 4
_N_MFCC = 13


def find_sections(
    spec: Spectrogram, *, duration: float, beats: np.ndarray, downbeats: np.ndarray
) -> list[dict]:
    """Segment a song into labelled sections that cover it without gaps.

    Parameters
    ----------
    spec : Spectrogram
        The song's shared spectrogram.
    duration : float
        Length of the song (segment), seconds.
    beats, downbeats : np.ndarray [shape=(b,), (d,)]
        Beat and bar-start times, seconds; boundaries fall on beats and move to
        a nearby downbeat when one is within half a bar.

    Returns
    -------
    list[dict]
        ``{"start": s, "end": s, "label": "A"}`` in time order; the first starts
        at 0 and the last ends at ``duration``.
    """
    # 1. A time grid: beats when there are enough, else fixed cells.
    on_beats = len(beats) >= 2 * MIN_SECTION_BEATS
    if on_beats:
        grid = np.concatenate([[0.0], beats[beats >= 1.0 / spec.frame_rate]])
        min_cells = MIN_SECTION_BEATS
    else:
        grid = np.arange(0.0, duration, _CELL_SECONDS)
        min_cells = int(MIN_SECTION_SECONDS / _CELL_SECONDS)
    if len(grid) < 2 * min_cells:
        return [{"start": 0.0, "end": duration, "label": "A"}]

    # 2. Features per grid cell, standardised so timbre and harmony weigh alike.
    cells = _cell_features(spec, grid)
    if on_beats:
        # Averaging over a bar's worth of beats hides the chord changes within a
        # section; off the beat grid this would only smooth noise into fake structure.
        cells = scipy.ndimage.uniform_filter1d(cells, _SMOOTH_BEATS, axis=1, mode="nearest")
        cells /= np.linalg.norm(cells, axis=0, keepdims=True) + 1e-8

    # 3. Boundaries at peaks of the checkerboard novelty of the cells' cosine self-similarity.
    novelty = _checkerboard_novelty(cells, half_width=min_cells)
    peaks, _ = scipy.signal.find_peaks(novelty, height=NOVELTY_THRESHOLD, distance=min_cells)
    peaks = peaks[(peaks >= min_cells) & (peaks <= len(grid) - min_cells)]
    bounds = [0, *peaks.tolist(), len(grid)]

    # 4. Label by mean features; repeated material gets the letter it had before.
    labels = _labels([cells[:, a:b].mean(axis=1) for a, b in itertools.pairwise(bounds)])
    times = [0.0, *(_snap(grid[i], downbeats) for i in peaks), duration]
    return [
        {"start": float(a), "end": float(b), "label": label}
        for a, b, label in zip(times[:-1], times[1:], labels)
    ]


def _cell_features(spec: Spectrogram, grid: np.ndarray) -> np.ndarray:
    """MFCC + chroma averaged per grid cell, z-scored per dimension, unit-length per cell.

    Returns
    -------
    np.ndarray [shape=(d, len(grid))]
    """
    mfcc = librosa.feature.mfcc(S=spec.mel_db, n_mfcc=_N_MFCC + 1)[1:]  # drop loudness (c0)
    chroma = librosa.util.normalize(spec.chroma_power, norm=np.inf, axis=0)  # chroma_stft of the power
    features = np.vstack([mfcc, chroma])
    frames = librosa.time_to_frames(grid, sr=spec.sample_rate, hop_length=spec.hop_length)
    frames = np.maximum.accumulate(np.clip(frames, 0, features.shape[1] - 1))
    counts = np.diff(np.append(frames, features.shape[1]))
    cells = np.add.reduceat(features, frames, axis=1) / np.maximum(counts, 1)
    cells = (cells - cells.mean(axis=1, keepdims=True)) / (cells.std(axis=1, keepdims=True) + 1e-8)
    return cells / (np.linalg.norm(cells, axis=0, keepdims=True) + 1e-8)


def _checkerboard_novelty(cells: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote novelty: correlation of the cells' self-similarity with a Gaussian checkerboard.

    Only the band of the similarity matrix the kernel covers is computed, one window at a time:
    memory stays linear in the song's length (the whole matrix of a 3-hour song would take GBs).

    Parameters
    ----------
    cells : np.ndarray [shape=(d, n)]
        Unit-length feature vectors per grid cell; their dot products are the similarities.

    Returns
    -------
    np.ndarray [shape=(n,)], in -1..1; high where past and future differ.
    """
    offsets = np.arange(-half_width, half_width) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * half_width)) ** 2)
    kernel = np.outer(taper, taper) * np.sign(offsets)[:, None] * np.sign(offsets)[None, :]
    n = cells.shape[1]
    novelty = np.zeros(n)
    for i in range(1, n):
        lo, hi = max(0, i - half_width), min(n, i + half_width)
        window = kernel[lo - i + half_width : hi - i + half_width, lo - i + half_width : hi - i + half_width]
        similarity = cells[:, lo:hi].T @ cells[:, lo:hi]
        # Near the edges only part of the kernel fits: normalise by what was used.
        novelty[i] = (similarity * window).sum() / np.abs(window).sum()
    return novelty


def _labels(means: list[np.ndarray]) -> list[str]:
    """Letters per section: a section like an earlier one takes its letter."""
    letters: list[str] = []
    centroids: list[np.ndarray] = []  # centroids[k] is the sound of letter k
    for mean in means:
        unit = mean / (np.linalg.norm(mean) + 1e-8)
        scores = [float(unit @ c) for c in centroids]
        if scores and max(scores) >= SAME_LABEL_SIMILARITY:
            letters.append(string.ascii_uppercase[int(np.argmax(scores))])
        elif len(centroids) < len(string.ascii_uppercase):
            centroids.append(unit)
            letters.append(string.ascii_uppercase[len(centroids) - 1])
        else:
            letters.append(string.ascii_uppercase[int(np.argmax(scores))])
    return letters


def _snap(time: float, downbeats: np.ndarray) -> float:
    """Move a boundary to the nearest downbeat when it is within half a bar.

    Boundaries are at least ``MIN_SECTION_BEATS`` apart, so two never snap to one downbeat.
    """
    if len(downbeats) < 2:
        return float(time)
    bar = float(np.median(np.diff(downbeats)))
    nearest = downbeats[np.argmin(np.abs(downbeats - time))]
    return float(nearest) if abs(nearest - time) <= bar / 2 else float(time)
