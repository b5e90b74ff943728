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
    period = 60.0 / bpm
    beats = np.arange(first_beat, duration - 0.05, period)
    return _drums_on(beats, duration=duration, beats_per_bar=beats_per_bar, sample_rate=sample_rate, seed=seed)


def tempo_change_song(
    *, duration=40.0, bpm=120.0, to_bpm=132.0, change_at=20.0, ramp=0.0, beats_per_bar=4, sample_rate=22050,
    first_beat=0.5, seed=0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`drum_song` whose tempo goes from ``bpm`` to ``to_bpm`` at ``change_at`` seconds, at once
    (``ramp`` 0) or evenly over ``ramp`` seconds, as a DJ's pitch fader moves it."""
    beats, t = [], first_beat
    while t < duration - 0.05:
        beats.append(t)
        share = 0.0 if t < change_at else 1.0 if ramp <= 0 or t >= change_at + ramp else (t - change_at) / ramp
        t += 60.0 / (bpm + share * (to_bpm - bpm))
    return _drums_on(
        np.array(beats), duration=duration, beats_per_bar=beats_per_bar, sample_rate=sample_rate, seed=seed
    )


def _drums_on(beats: np.ndarray, *, duration, beats_per_bar, sample_rate, seed):
    rng = np.random.default_rng(seed)
    n = int(duration * sample_rate)
    samples = np.zeros(n, dtype=np.float64)
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
    periods = np.diff(beats, append=2 * beats[-1] - beats[-2] if len(beats) > 1 else beats[-1] + 0.5)
    for i, beat in enumerate(beats):
        add(beat, kick if i % beats_per_bar == 0 else snare)
        add(beat, hat)
        add(beat + periods[i] / 2, hat)
    for j, downbeat in enumerate(downbeats):
        bar = np.arange(int(beats_per_bar * periods[j * beats_per_bar] * sample_rate)) / sample_rate
        freq = [55.0, 65.4, 49.0, 73.4][j % 4]
        add(downbeat, 0.3 * np.sin(2 * np.pi * freq * bar) * np.exp(-bar * 0.8))
    samples /= np.abs(samples).max() * 1.1
    return samples.astype(np.float32), beats, downbeats


def write_song(path: Path, samples: np.ndarray, sample_rate: int = 22050) -> Path:
    soundfile.write(path, samples, sample_rate)
    return path


_PITCH = {"C": 0, "C#": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "Ab": 8, "A": 9, "Bb": 10, "B": 11}


def chord_song(
    *,
    key: str = "C",
    mode: str = "major",
    bpm: float = 120.0,
    duration: float = 16.0,
    swing: float = 0.5,
    parts: tuple[tuple[float, float], ...] = ((1e9, 1.0),),
    harmonics: int = 4,
    register: int = 60,
    rolloff: float = 1.0,
    hats: bool = True,
    sample_rate: int = 22050,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Chords of a key (I–IV–V–I in major, i–iv–v–i in minor, a bar each) over a beat: kick on
    the beats, a snare on 2 and 4, a closed hat on every off-beat at ``swing`` of the beat
    (0.5 straight, 0.67 a triplet swing).

    Parameters
    ----------
    parts : ((seconds, gain), ...)
        Consecutive passages and their gains (e.g. a quiet verse, a loud chorus).
    harmonics, rolloff : int, float
        Partials of each chord tone, the k-th at 1 / k**rolloff (more, slower: brighter).
    register : int
        MIDI note of the tonic (60: middle C); a bass plays the chord's root two octaves down.
    hats : bool
        The off-beat hats (without them a slow song reads slow, not at double time).

    Returns
    -------
    samples : np.ndarray [shape=(n,), float32]
    beats : np.ndarray, seconds
    """
    rng = np.random.default_rng(seed)
    n = int(duration * sample_rate)
    samples = np.zeros(n)
    period = 60.0 / bpm
    beats = np.arange(0.0, duration - 0.05, period)
    tonic = register + _PITCH[key]
    third = 4 if mode == "major" else 3
    degrees = [0, 5, 7, 0]  # I IV V I
    bar = 4 * period
    t_bar = np.arange(int(bar * sample_rate)) / sample_rate
    for j, start in enumerate(np.arange(0.0, duration, bar)):
        root = tonic + degrees[j % 4]
        # The dominant keeps a major third in both modes (the harmonic minor's leading tone).
        chord = [root, root + (4 if degrees[j % 4] == 7 else third), root + 7, root + 12]
        tone = np.zeros_like(t_bar)
        for pitch in chord:
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            for h in range(1, harmonics + 1):
                if f0 * h < sample_rate / 2:
                    tone += np.sin(2 * np.pi * f0 * h * t_bar) / h**rolloff
        tone += 1.5 * np.sin(2 * np.pi * 440.0 * 2 ** ((root - 24 - 69) / 12) * t_bar)
        _add(samples, start, 0.08 * tone * np.exp(-t_bar * 0.3), sample_rate)
    t = np.arange(int(0.2 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 14)
    snare = rng.standard_normal(len(t)) * np.exp(-t * 28) * 0.35
    hat = rng.standard_normal(len(t) // 4) * np.exp(-t[: len(t) // 4] * 140) * 0.25
    for i, beat in enumerate(beats):
        _add(samples, beat, kick, sample_rate)
        if i % 2 == 1:
            _add(samples, beat, snare, sample_rate)
        if hats:
            _add(samples, beat + swing * period, hat, sample_rate)
    gain, at = np.zeros(n), 0
    for seconds, level in parts:
        end = min(n, at + int(seconds * sample_rate))
        gain[at:end] = level
        at = end
    samples *= gain
    samples /= np.abs(samples).max() * 1.1
    return samples.astype(np.float32), beats


def _add(samples: np.ndarray, at: float, sound: np.ndarray, sample_rate: int) -> None:
    i = int(round(at * sample_rate))
    end = min(len(samples), i + len(sound))
    if 0 <= i < len(samples):
        samples[i:end] += sound[: end - i]
