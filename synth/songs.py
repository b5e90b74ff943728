"""Synthetic songs with known beats and downbeats, for tests.

A kick on every downbeat, a snare on the other beats, closed hats on eighths
and a bass note under each bar: a clear beat whose truth is exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def drum_song(
    *, duration=12.0, bpm=120.0, beats_per_bar=4, sample_rate=22050, first_beat=0.5, seed=0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A drum-and-bass pattern.

    Returns
    -------
    samples : np.ndarray [shape=(n,), float32]
    beats : np.ndarray [shape=(b,)], seconds
    downbeats : np.ndarray [shape=(d,)], seconds
    """
    rng = np.random.default_rng(seed)
    n = int(duration * sample_rate)
    samples = np.zeros(n, dtype=np.float64)
    period = 60.0 / bpm
    beats = np.arange(first_beat, duration - 0.05, period)
    downbeats = beats[::beats_per_bar]

    def add(at: float, sound: np.ndarray) -> None:
        i = int(round(at * sample_rate))
        end = min(n, i + len(sound))
        if i < n:
            samples[i:end] += sound[: end - i]

    t = np.arange(int(0.25 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.standard_normal(len(t)) * np.exp(-t * 25) * 0.5
    hat = rng.standard_normal(len(t) // 4) * np.exp(-t[: len(t) // 4] * 120) * 0.15
    for i, beat in enumerate(beats):
        add(beat, kick if i % beats_per_bar == 0 else snare)
        add(beat, hat)
        add(beat + period / 2, hat)
    bar = np.arange(int(beats_per_bar * period * sample_rate)) / sample_rate
    for j, downbeat in enumerate(downbeats):
        freq = [55.0, 65.4, 49.0, 73.4][j % 4]
        add(downbeat, 0.3 * np.sin(2 * np.pi * freq * bar) * np.exp(-bar * 0.8))
    samples /= np.abs(samples).max() * 1.1
    return samples.astype(np.float32), beats, downbeats


def write_song(path: Path, samples: np.ndarray, sample_rate: int = 22050) -> Path:
    soundfile.write(path, samples, sample_rate)
    return path
