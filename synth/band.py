"""Produced band music with exact beats and bars: what the General MIDI renders are not.

Real recordings that beat trackers lose (dense distorted guitars, cymbals everywhere, a snare on
every off-beat, reggae's one drop, sidechained dance music, drumless intros and breaks) differ
from ``beat_set``'s soundfont renders in their grooves and in their production. This module
makes such songs from a seed:

- a style (``STYLES``): rock, punk/thrash (kick on the beat, snare on every "and": the skank
  beat), double-bass metal, gallop, half-time, reggae one drop with off-beat guitar chops, ska,
  four-on-the-floor dance music with a sidechained pad and off-beat bass, swung hip-hop, a blues
  shuffle;
- a band: synthesised drums (``drum_machine``'s kick, snare, hats and toms, plus crash and ride
  washes), one or two distorted power-chord guitars (palm-muted eighths or held chords, through a
  cabinet's low-pass), a bass on the chord roots, sometimes a lead line with vibrato;
- an arrangement in sections of 4 or 8 bars, with chord changes on bar lines, crash cymbals and
  fills at section starts, and drumless sections (an intro, a break of held guitars) during
  which the beats go on, as listeners and annotators count them;
- live timing: the tempo drifts a little, every part is early or late by a few ms;
- production: bus compression, saturation, a tilt EQ, sometimes an MP3 at a low bit rate.

The beats are where the grid puts them: every quarter note (``BEATS_PER_BAR`` to a bar).

    >>> y, beats, downbeats = band_clip(0, seconds=10.0)
    >>> len(y) == 10 * SAMPLE_RATE, bool(np.all(np.diff(beats) > 0)), len(downbeats) * 4 >= len(beats)
    (True, True, True)
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal

from synth.beat_set import SAMPLE_RATE, reverb_tail
from synth.drum_machine import _hat, _kick, _noise_hit, _snare, _tom

BEATS_PER_BAR = 4
# name: (tempo range in BPM, kick positions, snare positions, cymbal step, cymbal offset, guitar
# rhythm, swing of the off-beats; positions in beats from the bar's start)
STYLES = {
    "rock": ((90, 170), [0, 2, 2.5], [1, 3], 0.5, 0.0, "eighths", 0.5),
    "punk_skank": ((130, 230), [0, 1, 2, 3], [0.5, 1.5, 2.5, 3.5], 1.0, 0.0, "eighths", 0.5),
    "thrash_skank": ((120, 200), [0, 1, 2, 3], [0.5, 1.5, 2.5, 3.5], 0.5, 0.0, "sixteenths", 0.5),
    "double_bass": ((90, 180), list(np.arange(0, 4, 0.25)), [1, 3], 1.0, 0.0, "sixteenths", 0.5),
    "gallop": ((90, 170), [p + d for p in range(4) for d in (0.0, 0.5, 0.75)], [1, 3], 1.0, 0.0, "gallop", 0.5),
    "halftime": ((120, 180), [0, 1.5], [2], 0.5, 0.0, "held", 0.5),
    "one_drop": ((60, 90), [2], [2], 0.5, 0.0, "chops", 0.5),
    "ska": ((100, 180), [0, 2], [1, 3], 0.5, 0.0, "chops", 0.5),
    "dance": ((115, 135), [0, 1, 2, 3], [1, 3], 1.0, 0.5, "pad", 0.5),
    "hiphop": ((80, 100), [0, 0.75, 2.25, 2.5], [1, 3], 0.5, 0.0, "held", 0.62),
    "shuffle": ((80, 140), [0, 2], [1, 3], 0.5, 0.0, "shuffle", 0.67),
}
# Styles a song may switch between, section by section, at one tempo: the network then learns to
# carry the beat's phase from a plain backbeat into a skank chorus and back.
FAMILIES = [("rock", "punk_skank", "thrash_skank", "double_bass", "gallop", "halftime"), ("ska", "rock")]
SCALE = np.array([0, 3, 5, 7, 10])  # minor pentatonic: where the chord roots come from


def _crash(rng) -> np.ndarray:
    return _noise_hit(rng, rng.uniform(2500, 5000), 11000, rng.uniform(0.6, 1.5), seconds=2.0)


def _ride(rng) -> np.ndarray:
    t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
    ping = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(3000, 7000, size=4)) * np.exp(-t / 0.3) / 4
    return 0.6 * _noise_hit(rng, 5000, 11000, 0.4, seconds=0.8) + ping


def _distorted(tone: np.ndarray, drive: float, cutoff: float) -> np.ndarray:
    """A guitar amp and cabinet, as mixed: tanh overdrive, a 4th-order band-pass from 100 Hz (the
    mix leaves the lows to the kick and the bass) to ``cutoff``."""
    sos = scipy.signal.butter(4, (100.0, cutoff), "bandpass", fs=SAMPLE_RATE, output="sos")
    return scipy.signal.sosfilt(sos, np.tanh(drive * tone))


def _power_chord(f0: float, seconds: float, decay: float, rng) -> np.ndarray:
    """Root, fifth and octave of sawtooth-like tones, ``decay`` s time constant (short: palm-muted)."""
    t = np.arange(max(int(seconds * SAMPLE_RATE), 16)) / SAMPLE_RATE
    detune = 1 + rng.normal(0, 0.002, size=3)
    tone = sum(((f0 * r * d * t) % 1.0) * 2 - 1 for r, d in zip((1.0, 1.5, 2.0), detune))
    envelope = np.exp(-t / decay) * np.minimum(1.0, (len(t) - np.arange(len(t))) / (0.005 * SAMPLE_RATE))
    return tone * envelope / 3


def _tempo_grid(rng, start: float, seconds: float, bpm: float) -> np.ndarray:
    """Beat times from ``start`` to past ``seconds``: a steady tempo that drifts (a band without a
    click), by up to a few per cent, or a slow ramp."""
    drift = rng.uniform(0.0, 0.012)
    ramp = rng.uniform(-0.1, 0.1) if rng.random() < 0.2 else 0.0
    times, t, tempo = [], start, bpm
    while t < seconds + 4 * 60.0 / bpm:
        times.append(t)
        tempo = float(np.clip(tempo * np.exp(rng.normal(0, drift)), bpm * 0.94, bpm * 1.06))
        t += 60.0 / (tempo * (1 + ramp * (t - start) / seconds))
    return np.array(times)


def _compress(y: np.ndarray, rng) -> np.ndarray:
    """A bus compressor: a fast-attack, slow-release level follower; above the threshold the gain
    falls by ``1 - 1 / ratio`` of the excess (in dB); then make-up gain."""
    ratio, threshold = rng.uniform(3.0, 12.0), rng.uniform(-24.0, -10.0)
    hop = 64
    frames = np.sqrt(np.mean(np.pad(y, (0, -len(y) % hop)).reshape(-1, hop) ** 2, axis=1)) + 1e-9
    release = np.exp(-hop / (rng.uniform(0.05, 0.3) * SAMPLE_RATE))
    level = np.empty_like(frames)
    current = frames[0]
    for i, value in enumerate(frames):
        current = value if value > current else release * current + (1 - release) * value
        level[i] = current
    db = 20 * np.log10(level / (np.abs(y).max() + 1e-9))
    gain_db = -np.maximum(db - threshold, 0.0) * (1 - 1 / ratio)
    gain = np.repeat(10 ** (gain_db / 20), hop)[: len(y)]
    return y * gain


def mp3_round_trip(y: np.ndarray, sample_rate: int, bitrate: int) -> np.ndarray:
    """Mono ``y`` through an MP3 encoder at ``bitrate`` kbit/s and back, at ``sample_rate``, its
    length kept.

    Through files, not pipes: the encoder's delay is written in the file's header only when it
    can seek back, and the decoder trims it only then (else everything moves by about 50 ms).
    """
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    import soundfile

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as folder:
        wav, mp3, back = (str(Path(folder) / name) for name in ("in.wav", "out.mp3", "back.wav"))
        soundfile.write(wav, np.asarray(y, dtype=np.float32), sample_rate)
        subprocess.run([ffmpeg, "-v", "error", "-i", wav, "-b:a", f"{bitrate}k", mp3], check=True)
        subprocess.run([ffmpeg, "-v", "error", "-i", mp3, "-ar", str(sample_rate), back], check=True)
        decoded, _ = soundfile.read(back, dtype="float32")
    decoded = decoded.mean(axis=1) if decoded.ndim == 2 else decoded
    return np.pad(decoded, (0, max(0, len(y) - len(decoded))))[: len(y)]


def band_clip(
    seed: int, seconds: float = 30.0, *, style: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A produced band song of ``seconds`` at 22050 Hz, its beat times and its downbeat times.

    Parameters
    ----------
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    seconds : float
        Length of the audio.
    style : str, optional
        One of ``STYLES``, throughout; by default drawn from the seed, and some songs then switch
        style between sections (within one of ``FAMILIES``).

    Returns
    -------
    y : np.ndarray [shape=(seconds * 22050,)]
        Audio, peak 0.1–0.9.
    beats, downbeats : np.ndarray
        Times in seconds: every quarter note, every bar's first.
    """
    rng = np.random.default_rng(seed)
    name = style or str(rng.choice(list(STYLES)))
    (slow, fast), _, _, _, _, _, swing = STYLES[name]
    bpm = float(np.exp(rng.uniform(np.log(slow), np.log(fast))))
    start = rng.uniform(0.0, 2.0) if rng.random() < 0.3 else rng.uniform(0.0, 0.2)
    beats = _tempo_grid(rng, start, seconds, bpm)
    n = int(seconds * SAMPLE_RATE)
    pad = 3 * SAMPLE_RATE

    def when(position: float) -> float:
        """Time of a position in beats from the first beat (swung off-beats, linear between beats)."""
        k, frac = int(position), position % 1.0
        if abs(frac - 0.5) < 1e-9:
            frac = swing
        elif abs(frac - 0.25) < 1e-9 or abs(frac - 0.75) < 1e-9:
            frac = frac if swing == 0.5 else (swing / 2 if frac < 0.5 else swing + (1 - swing) / 2)
        return beats[k] + frac * (beats[k + 1] - beats[k]) if k + 1 < len(beats) else np.inf

    tracks = {part: np.zeros(n + pad) for part in ("drums", "guitar", "bass", "keys", "lead")}
    jitter = rng.uniform(0.002, 0.012)
    lags = {part: rng.uniform(-0.012, 0.012) for part in tracks}

    def add(part, sound, time, gain):
        i = int(round((time + lags[part] + rng.normal(0, jitter)) * SAMPLE_RATE))
        if 0 <= i < n and np.isfinite(time):
            end = min(i + len(sound), n + pad)
            tracks[part][i:end] += gain * sound[: end - i]

    kit = {"kick": _kick(rng), "snare": _snare(rng), "hat": _hat(rng), "crash": _crash(rng), "ride": _ride(rng)}
    # The kick is mixed anywhere from on top to under the snare; thrash kicks may run in eighths.
    kick_level = rng.uniform(0.35, 1.0)
    eighth_kicks = rng.random() < 0.4
    toms = [_tom(rng) for _ in range(3)]
    cymbal = "ride" if rng.random() < 0.3 else ("crash" if name in ("punk_skank", "double_bass") and rng.random() < 0.4 else "hat")
    key = 41.2 * 2 ** (rng.integers(0, 12) / 12)  # the bass's E1..D#2, the guitars' E2..D#3
    drive, cutoff = float(np.exp(rng.uniform(np.log(3.0), np.log(40.0)))), rng.uniform(2500, 6000)
    guitars = 1 if rng.random() < 0.5 else 2
    n_bars = int(np.ceil(len(beats) / BEATS_PER_BAR)) - 1
    # Sections of 4 or 8 bars; a drumless intro or break now and then (the beat goes on).
    section_bars = int(rng.choice([4, 8]))
    drumless = {s for s in range(n_bars // section_bars + 1) if rng.random() < 0.2}
    if rng.random() < 0.3:
        drumless.add(0)
    roots = [key * 2 ** (int(rng.choice(SCALE)) / 12) for _ in range(section_bars)]
    family = next((f for f in FAMILIES if name in f), (name,)) if style is None and rng.random() < 0.5 else (name,)
    section_styles = [name if rng.random() < 0.5 else str(rng.choice(family)) for _ in range(n_bars // section_bars + 1)]
    for bar in range(n_bars):
        b = bar * BEATS_PER_BAR
        section, in_section = divmod(bar, section_bars)
        _, kicks, snares, cymbal_step, cymbal_offset, rhythm, _ = STYLES[section_styles[section]]
        if eighth_kicks and "skank" in section_styles[section]:
            kicks = list(np.arange(0, 4, 0.5))
        root = roots[in_section] * (1.0 if section % 2 == 0 else 2 ** (int(rng.choice(SCALE)) / 12))
        drums_on = section not in drumless
        fill = drums_on and in_section == section_bars - 1 and rng.random() < 0.6
        if drums_on:
            if in_section == 0:
                add("drums", kit["crash"], when(b), rng.uniform(0.4, 0.8))
            for p in kicks:
                if not (fill and p >= 3):
                    add("drums", kit["kick"], when(b + p), kick_level * rng.uniform(0.7, 1.0) * (1.0 if p % 1 == 0 else 0.8))
            for p in snares:
                if not (fill and p >= 3):
                    add("drums", kit["snare"], when(b + p), rng.uniform(0.6, 0.9))
            for p in np.arange(cymbal_offset, BEATS_PER_BAR, cymbal_step):
                accent = 1.0 if p % 1 == 0 else 0.75
                add("drums", kit[cymbal], when(b + p), rng.uniform(0.15, 0.35) * accent)
            if fill:
                for k in range(4):
                    add("drums", toms[k % 3] if rng.random() < 0.7 else kit["snare"], when(b + 3 + k / 4), 0.7)
        # Guitars: the rhythm part, or held chords where the drums rest.
        pattern = rhythm if drums_on else str(rng.choice(["held", "eighths"]))
        if pattern == "eighths":
            hits = [(p, 0.5, 0.12) for p in np.arange(0, 4, 0.5)]
        elif pattern == "sixteenths":
            hits = [(p, 0.25, 0.06) for p in np.arange(0, 4, 0.25)]
        elif pattern == "gallop":
            hits = [(p + d, 0.25, 0.08) for p in range(4) for d in (0.0, 0.5, 0.75)]
        elif pattern == "chops":
            hits = [(p + 0.5, 0.25, 0.05) for p in range(4)]
        elif pattern == "shuffle":
            hits = [(p + d, 0.5, 0.15) for p in range(4) for d in (0.0, 0.5)]
        elif pattern == "pad":
            hits = []
        else:  # held
            hits = [(0.0, 4.0, 1.5)] if rng.random() < 0.7 else [(0.0, 2.0, 1.0), (2.0, 2.0, 1.0)]
        for g in range(guitars):
            for p, length, decay in hits:
                duration = when(b + p + length) - when(b + p)
                if np.isfinite(duration):
                    chord = _power_chord(root * 2 ** (g + 1), duration * 0.95, decay, rng)
                    add("guitar", chord, when(b + p), 1.0 if g == 0 else 0.7)
        # Bass: the root on the kicks (on eighths where the drums rest), off-beats in dance music.
        positions = [p + 0.5 for p in range(4)] if name == "dance" else (kicks if drums_on else [0, 2])
        for p in positions:
            t0, t1 = when(b + p), when(b + min(p + 0.5, 4))
            if np.isfinite(t1):
                t = np.arange(int((t1 - t0) * SAMPLE_RATE)) / SAMPLE_RATE
                add("bass", np.sign(np.sin(2 * np.pi * root * t)) * np.exp(-t / 0.3), t0, 1.0)
        if name == "dance" and np.isfinite(when(b + 4)):
            # A pad ducked by every kick (sidechain): it swells between the beats.
            t0, t1 = when(b), when(b + 4)
            t = np.arange(int((t1 - t0) * SAMPLE_RATE)) / SAMPLE_RATE
            tone = sum(np.sin(2 * np.pi * root * 4 * r * t) for r in (1.0, 1.19, 1.5))
            phase = ((t / ((t1 - t0) / 4)) % 1.0)
            add("keys", tone * np.minimum(1.0, phase * 3) / 3, t0, 1.0)
        if rng.random() < 0.5 and bar % 2 == 0 and np.isfinite(when(b + 8)):
            # A lead line: long notes with vibrato, sliding between scale steps.
            t0 = when(b + float(rng.choice([0, 0.5, 1])))
            t = np.arange(int((when(b + 8) - t0) * SAMPLE_RATE)) / SAMPLE_RATE
            steps = key * 8 * 2 ** (rng.choice(SCALE, size=4) / 12)
            freq = np.repeat(steps, int(np.ceil(len(t) / 4)))[: len(t)]
            freq = scipy.ndimage.uniform_filter1d(freq, int(0.05 * SAMPLE_RATE)) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
            add("lead", np.tanh(3 * np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)), t0, 1.0)
    tracks["guitar"] = _distorted(tracks["guitar"], drive, cutoff)
    levels = {"drums": 1.0, "guitar": rng.uniform(0.4, 1.6), "bass": rng.uniform(0.2, 0.6),
              "keys": rng.uniform(0.2, 0.5), "lead": rng.uniform(0.0, 0.4)}  # fmt: skip
    y = sum(levels[p] * tracks[p] / (np.abs(tracks[p]).max() + 1e-9) for p in tracks)[:n]
    if rng.random() < 0.5:
        wet = reverb_tail(y, rng.uniform(0.3, 2.0), rng)
        y = y + rng.uniform(0.1, 0.4) * wet * np.abs(y).max() / (np.abs(wet).max() + 1e-12)
    # Production: compression, saturation, a tilt EQ, maybe a low bit rate.
    if rng.random() < 0.7:
        y = _compress(y, rng)
    if rng.random() < 0.5:
        y = np.tanh(rng.uniform(1.0, 4.0) * y / (np.abs(y).max() + 1e-9))
    tilt = rng.uniform(-6.0, 6.0)  # dB at the top, against the bottom
    if abs(tilt) > 1.0:
        sos = scipy.signal.butter(1, 1000.0, "highpass", fs=SAMPLE_RATE, output="sos")
        y = y + (10 ** (tilt / 20) - 1) * scipy.signal.sosfilt(sos, y)
    y = y / (np.abs(y).max() + 1e-12) * rng.uniform(0.1, 0.9)
    if rng.random() < 0.25:
        y = mp3_round_trip(y, SAMPLE_RATE, int(rng.choice([32, 48, 64, 96])))
    beats = beats[beats < seconds]
    return y.astype(np.float32), beats, beats[::BEATS_PER_BAR]
