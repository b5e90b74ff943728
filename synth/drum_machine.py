"""Synthetic drum patterns with exact beats and bars: drum machines rather than drum kits.

The evaluation set (``beat_eval_set.py``) plays its drums through General MIDI soundfonts, so
every kick and snare the beat network hears there is a sampled acoustic or GM electronic kit.
Much music uses synthesised drums instead: a kick that is a falling sine, a snare or clap of
filtered noise, hi-hats of high noise. This module makes such songs from a seed: a tempo (50–200
BPM, steady, ramping or jumping), a meter (2/4, 3/4, 4/4, 5/4, 6/8, 9/8, 12/8), a groove (the
evaluation set's 4/4 grooves or random hits), straight or swung subdivisions, a drum machine
whose sounds are drawn per song, sometimes tom fills, a synth bass, a held pad and room
reverb, and a silent lead-in. The beats are where the grid puts them.

    >>> y, beats, downbeats = synth_drum_clip(0)
    >>> len(y) == 30 * SAMPLE_RATE, bool(np.all(np.diff(beats) > 0))
    (True, True)
"""

from __future__ import annotations

import numpy as np

from synth.beat_set import SAMPLE_RATE, groove_pattern, reverb_tail

# (beats per bar, subdivisions per beat, weight)
METERS = [(4, 2, 0.45), (3, 2, 0.15), (2, 2, 0.05), (5, 2, 0.05), (2, 3, 0.1), (4, 3, 0.1), (3, 3, 0.1)]


def _kick(rng) -> np.ndarray:
    t = np.arange(int(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
    base, sweep, sweep_decay = rng.uniform(40, 70), rng.uniform(50, 250), rng.uniform(0.01, 0.06)
    phase = 2 * np.pi * np.cumsum(base + sweep * np.exp(-t / sweep_decay)) / SAMPLE_RATE
    out = np.sin(phase) * np.exp(-t / rng.uniform(0.08, 0.4))
    click = rng.uniform(0.0, 0.4) * rng.standard_normal(len(t)) * np.exp(-t / 0.003)
    return np.tanh(rng.uniform(1, 3) * (out + click))


def _noise_hit(rng, low: float, high: float, decay: float, seconds: float = 0.6) -> np.ndarray:
    """Noise band-limited to low..high Hz, decaying exponentially (time constant ``decay``)."""
    n = int(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[(freqs < low) | (freqs > high)] = 0
    noise = np.fft.irfft(spectrum, n)
    noise /= np.abs(noise).max() + 1e-12
    return noise * np.exp(-np.arange(n) / SAMPLE_RATE / decay)


def _snare(rng) -> np.ndarray:
    centre = rng.uniform(1000, 5000)
    out = _noise_hit(rng, centre / 3, centre * 3, rng.uniform(0.04, 0.25))
    if rng.random() < 0.3:  # a clap: three quick bursts
        out = sum(np.roll(out, int(k * 0.011 * SAMPLE_RATE)) * (0.6 + 0.2 * k) for k in range(3))
        out[: int(0.03 * SAMPLE_RATE)] *= np.linspace(0, 1, int(0.03 * SAMPLE_RATE))
    else:
        t = np.arange(len(out)) / SAMPLE_RATE
        out = out + rng.uniform(0, 0.8) * np.sin(2 * np.pi * rng.uniform(150, 260) * t) * np.exp(-t / 0.05)
    return out / np.abs(out).max()


def _hat(rng) -> np.ndarray:
    cutoff = rng.uniform(4000, 9000)
    decay = rng.uniform(0.01, 0.06) if rng.random() < 0.8 else 0.25  # closed or open
    return _noise_hit(rng, cutoff, 11000, decay)


def _tom(rng) -> np.ndarray:
    t = np.arange(int(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
    f = rng.uniform(80, 260)
    return np.sin(2 * np.pi * np.cumsum(f * (1 + 0.5 * np.exp(-t / 0.03))) / SAMPLE_RATE) * np.exp(-t / 0.15)


def _stab(f0: float, ratios, length: int) -> np.ndarray:
    """A chord (root ``f0`` Hz, tones at ``ratios``) of ``length`` samples, an electric-piano-like
    decay, released over its last 10 ms."""
    t = np.arange(length) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * f0 * r * t) + 0.4 * np.sin(4 * np.pi * f0 * r * t) for r in ratios)
    return tone * np.exp(-t / 0.4) * np.minimum(1.0, (length - np.arange(length)) / (0.01 * SAMPLE_RATE))


def _beat_times(rng, start: float, seconds: float) -> np.ndarray:
    """Beat times from ``start`` to ``seconds`` following a steady, ramping or jumping tempo."""
    bpm = float(np.exp(rng.uniform(np.log(50), np.log(200))))
    shape = rng.choice(["steady", "ramp", "jump"], p=[0.7, 0.2, 0.1])
    end_bpm = float(np.clip(bpm * rng.uniform(0.75, 1.33), 50, 210)) if shape == "ramp" else bpm
    jump_at = rng.uniform(0.3, 0.7) * seconds
    jump_bpm = float(np.clip(bpm * rng.choice([0.75, 0.8, 1.25, 1.33]), 50, 200))
    times, t = [], start
    while t < seconds:
        times.append(t)
        tempo = bpm + (end_bpm - bpm) * (t - start) / (seconds - start)
        tempo = jump_bpm if shape == "jump" and t >= jump_at else tempo
        t += 60.0 / tempo
    return np.array(times)


def synth_drum_clip(
    seed: int, seconds: float = 30.0, *, stabs: float = 0.0, sparse_max_bpm: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic drum song of ``seconds`` at 22050 Hz, its beat times and its downbeat times.

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    seconds : float
        Length of the audio.
    stabs : float
        Probability of short chords on every beat, released before the next one (a release is
        not a beat). At 0 no random number is drawn for them, so the songs are the same as
        without the option.
    sparse_max_bpm : float, optional
        Tempo ceiling for grooves that leave a beat of the bar to the hi-hat alone (no kick or
        snare): a faster song is slowed to a tempo drawn between 50 BPM and this. Such a groove at
        180 BPM sounds like a backbeat with eighth-note hats at 90, the reading listeners and
        annotators prefer; without the ceiling the same sound is labelled at either tempo. At
        ``None`` no random number is drawn for it.

    Returns
    -------
    y : np.ndarray [shape=(seconds * 22050,)]
        Audio, peak 0.1–0.9.
    beats, downbeats : np.ndarray
        Times in seconds (dotted quarters in compound meters, as in ``beat_eval_set``).
    """
    rng = np.random.default_rng(seed)
    weights = np.array([m[2] for m in METERS])
    beats_per_bar, subdivisions, _ = METERS[rng.choice(len(METERS), p=weights / weights.sum())]
    start = rng.uniform(0.0, 3.0) if rng.random() < 0.3 else rng.uniform(0.0, 0.3)
    beats = _beat_times(rng, start, seconds)
    swing = rng.uniform(0.58, 0.7) if subdivisions == 2 and rng.random() < 0.25 else 0.5
    kicks, snares, step, offset = groove_pattern(beats_per_bar, subdivisions, rng, named=0.7)
    bpm = 60.0 / np.median(np.diff(beats))
    hat_only = any(k not in kicks and k not in snares for k in range(beats_per_bar))
    if sparse_max_bpm is not None and hat_only and bpm > sparse_max_bpm:
        slower = float(np.exp(rng.uniform(np.log(50), np.log(sparse_max_bpm))))
        beats = start + (beats - start) * bpm / slower
        beats = beats[beats < seconds]
    grid = np.append(beats, 2 * beats[-1] - beats[-2])

    def when(position: float) -> float:
        """Time of a position in beats from the first beat (swung off-beats)."""
        k, frac = int(position), position % 1.0
        if subdivisions == 2 and abs(frac - 0.5) < 1e-9:
            frac = swing
        return grid[k] + frac * (grid[k + 1] - grid[k]) if k + 1 < len(grid) else np.inf

    sounds = {"kick": _kick(rng), "snare": _snare(rng), "hat": _hat(rng)}
    toms = [_tom(rng) for _ in range(3)]
    levels = {"kick": rng.uniform(0.5, 1.0), "snare": rng.uniform(0.3, 0.9), "hat": rng.uniform(0.05, 0.4)}
    jitter = rng.uniform(0.0, 0.008)
    fills = rng.random() < 0.4
    n = int(seconds * SAMPLE_RATE)
    drums = np.zeros(n + SAMPLE_RATE)
    bass = np.zeros(n + SAMPLE_RATE)

    def add(track, sound, time, gain):
        if not time < seconds:
            return
        i = round((time + rng.normal(0, jitter)) * SAMPLE_RATE)
        if 0 <= i < n:
            track[i : i + len(sound)] += gain * sound[: len(track) - i]

    n_bars = int(np.ceil(len(beats) / beats_per_bar))
    roots = 55.0 * 2 ** (rng.integers(0, 12, size=n_bars) / 12)
    for bar in range(n_bars):
        b = bar * beats_per_bar
        fill = fills and bar % 4 == 3
        for name, positions in (("kick", kicks), ("snare", snares)):
            for p in positions:
                if not (fill and p >= beats_per_bar - 1):
                    add(drums, sounds[name], when(b + p), levels[name] * rng.uniform(0.8, 1.0))
                    if name == "kick":
                        length = int(0.4 * SAMPLE_RATE)
                        t = np.arange(length) / SAMPLE_RATE
                        tone = np.sign(np.sin(2 * np.pi * roots[bar] * t)) * np.exp(-t / 0.25)
                        add(bass, tone, when(b + p), 1.0)
        if rng.random() < 0.9:
            for p in np.arange(offset, beats_per_bar, step):
                accent = 1.0 if p % 1 == 0 else 0.7
                add(drums, sounds["hat"], when(b + p), levels["hat"] * accent * rng.uniform(0.7, 1.0))
        if fill:
            for k in range(subdivisions * 2):
                add(drums, toms[k % 3], when(b + beats_per_bar - 1 + k / (2 * subdivisions)), 0.7)
    y = drums[:n]
    if rng.random() < 0.6:
        y = y + rng.uniform(0.2, 0.6) * bass[:n]
    if rng.random() < 0.3:
        # A held pad whose chord changes on every downbeat.
        t = np.arange(n) / SAMPLE_RATE
        bar_of = np.clip(np.searchsorted(beats[::beats_per_bar], t, side="right") - 1, 0, n_bars - 1)
        freq = 4 * roots[bar_of]
        pad = sum(np.sin(2 * np.pi * np.cumsum(freq * r) / SAMPLE_RATE) for r in (1.0, 1.26, 1.5))
        y = y + rng.uniform(0.05, 0.3) * pad * (t >= beats[0])
    if stabs and rng.random() < stabs:
        # A short chord on every beat, held 20-60 % of the beat, with a quick release.
        hold, ratios = rng.uniform(0.2, 0.6), (1.0, rng.choice([1.19, 1.26]), 1.5)
        gain = rng.uniform(0.2, 0.6)
        for k, t0 in enumerate(beats[:-1]):
            length = int(hold * (beats[k + 1] - t0) * SAMPLE_RATE)
            tone = _stab(2 * roots[min(k // beats_per_bar, n_bars - 1)], ratios, length)
            add(y, gain * tone / 3, t0, 1.0 if k % beats_per_bar == 0 else 0.8)
    if rng.random() < 0.4:
        wet = reverb_tail(y, rng.uniform(0.2, 1.5), rng)
        y = y + rng.uniform(0.1, 0.4) * wet * np.abs(y).max() / (np.abs(wet).max() + 1e-12)
    y = y / (np.abs(y).max() + 1e-12) * rng.uniform(0.1, 0.9)
    beats = beats[beats < seconds]
    return y.astype(np.float32), beats, beats[::beats_per_bar]
