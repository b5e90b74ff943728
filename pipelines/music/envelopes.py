"""Energy envelopes the visuals follow, from one shared spectrogram.

One STFT (1024-point, hop 256 at 22.05 kHz: 86 frames per second) feeds
everything: a mel spectrogram for onset strength and for harmonic/percussive
separation (median filtering on 96 mel bands instead of 513 linear bins is
what keeps HPSS cheap), the linear bins for the low/mid/high bands, and, as
its magnitude, the beat tracker and the sections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.ndimage

ENVELOPE_NAMES = ("onset", "percussive", "harmonic", "low", "mid", "high")
"""Names of the energy envelopes, in the order the JSON lists them."""

BAND_EDGES = (200.0, 2000.0)
"""Low/mid and mid/high band edges, Hz."""

SILENCE_RMS = 1e-4
"""RMS amplitude below which audio counts as silence (-80 dBFS)."""

_HOP_SECONDS = 256 / 22050
_BLOCK_FRAMES = 4096
_N_MELS = 96
# Median-filter lengths for HPSS: ~0.2 s across time (harmonic), ~1/6 of the mel
# axis across frequency (percussive), as in Fitzgerald (2010) at this resolution.
_HPSS_KERNEL = (17, 17)
# Envelopes are scaled by a high percentile, not the maximum, so that one
# outlier (a clap, a click) does not flatten the rest of the song.
_REFERENCE_PERCENTILE = 99.0


@dataclass
class Spectrogram:
    """The shared time-frequency view of a song.

    Attributes
    ----------
    mel_db : np.ndarray [shape=(n_mels, t)]
        Log-power mel spectrogram, dB.
    mel_power : np.ndarray [shape=(n_mels, t)]
        Linear-power mel spectrogram.
    band_power : dict[str, np.ndarray [shape=(t,)]]
        Mean power of the bins of the "low", "mid" and "high" bands (``BAND_EDGES``).
    chroma_power : np.ndarray [shape=(12, t)]
        Power through librosa's chroma filter bank (``chroma_stft`` of the power, unnormalised).
    sample_rate : int
        Hz.
    hop_length : int
        Samples between frames.
    n_fft : int
        FFT size, samples.

    Neither the STFT magnitude nor the power spectrogram is kept: each is computed a block of frames
    at a time and reduced to these few rows (a long song's would be hundreds of megabytes).
    """

    mel_db: np.ndarray
    mel_power: np.ndarray
    band_power: dict[str, np.ndarray]
    chroma_power: np.ndarray
    sample_rate: int
    hop_length: int
    n_fft: int

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length


def spectrogram(
    samples: np.ndarray, sample_rate: int, *, offset: float = 0.0, also: Callable[[int, np.ndarray], None] | None = None
) -> Spectrogram:
    """Compute the shared spectrogram of a mono signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
    sample_rate : int > 0, Hz
    offset : float
        A DC offset, subtracted from the samples block by block (no centred copy of the song).
    also : callable, optional
        ``also(first frame, magnitude block)`` for each block of the STFT magnitude, in order: what
        else reads the same magnitude (the beat features) reads it here, so it is computed once and
        never kept whole.

    Returns
    -------
    Spectrogram
    """
    hop_length = max(1, round(_HOP_SECONDS * sample_rate))
    n_fft = 4 * hop_length
    mel_basis = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=_N_MELS, fmax=min(11025.0, sample_rate / 2), norm=None
    )
    # Each mel band is the weighted mean of its bins' power, so mel and linear
    # energies share one scale (and one silence floor).
    mel_basis /= np.maximum(mel_basis.sum(axis=1, keepdims=True), 1e-10)
    # tuning=0: estimating it (piptrack) would cost more than the rest of the sectioning.
    chroma_basis = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, tuning=0.0)
    # The bins are in frequency order: each band is a slice of them.
    frequencies = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    low_end, high_start = np.searchsorted(frequencies, BAND_EDGES)
    bands = {"low": slice(0, low_end), "mid": slice(low_end, high_start), "high": slice(high_start, None)}
    n_frames = 1 + len(samples) // hop_length
    mel_power = np.empty((_N_MELS, n_frames), dtype=np.float32)
    chroma_power = np.empty((len(chroma_basis), n_frames), dtype=np.float32)
    band_power = {name: np.empty(n_frames, dtype=np.float32) for name in bands}
    for start, magnitude in stft_blocks(samples, n_fft=n_fft, hop_length=hop_length, block_frames=_BLOCK_FRAMES, offset=offset):
        frames = slice(start, start + magnitude.shape[1])
        power = magnitude**2
        mel_power[:, frames] = mel_basis @ power
        chroma_power[:, frames] = chroma_basis @ power
        for name, bins in bands.items():
            band_power[name][frames] = power[bins].mean(axis=0)
        if also is not None:
            also(start, magnitude)
    # Power below silence level is clamped to it: hiss under -80 dBFS makes no
    # onsets, and entering a song from digital silence is a step, not a cliff.
    mel_db = librosa.power_to_db(mel_power, ref=1.0, amin=_silence_power(n_fft), top_db=None)
    return Spectrogram(mel_db, mel_power, band_power, chroma_power, sample_rate, hop_length, n_fft)


def stft_blocks(
    samples: np.ndarray, *, n_fft: int, hop_length: int, block_frames: int = 4096, offset: float = 0.0
) -> Iterator[tuple[int, np.ndarray]]:
    """``np.abs(librosa.stft(samples - offset, n_fft=n_fft, hop_length=hop_length))`` a block of
    frames at a time, ``(first frame, magnitude [shape=(n_fft // 2 + 1, frames), float32])``: neither
    the complex STFT of a long song (twice the magnitude), nor its whole magnitude, nor a padded or
    centred copy of its samples ever exists."""
    for start, piece in centred_pieces(samples, n_fft=n_fft, hop_length=hop_length, block_frames=block_frames, offset=offset):
        yield start, np.abs(librosa.stft(piece, n_fft=n_fft, hop_length=hop_length, center=False))


def centred_pieces(
    samples: np.ndarray, *, n_fft: int, hop_length: int, block_frames: int, offset: float = 0.0
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first frame, samples)`` of librosa's centred frames (the signal padded with ``n_fft // 2``
    zeros at each end), ``block_frames`` frames at a time, less ``offset``: what framing them with
    ``center=False`` makes into those frames, without a padded copy of the whole song."""
    n_frames = 1 + len(samples) // hop_length
    for start in range(0, n_frames, block_frames):
        stop = min(start + block_frames, n_frames)
        yield start, padded_piece(samples, start * hop_length - n_fft // 2, (stop - 1) * hop_length + n_fft // 2, offset)


def padded_piece(samples: np.ndarray, begin: int, end: int, offset: float = 0.0) -> np.ndarray:
    """``samples[begin:end] - offset``, zeros where ``begin:end`` reaches past either end of the
    samples (the zero padding of centred frames, without a padded copy of the whole song)."""
    piece = np.zeros(end - begin, dtype=samples.dtype)
    lo, hi = max(begin, 0), min(end, len(samples))
    if hi > lo:
        piece[lo - begin : hi - begin] = samples[lo:hi] - offset if offset else samples[lo:hi]
    return piece


def onset_strength(spec: Spectrogram) -> np.ndarray:
    """Spectral flux onset strength (librosa's), one value per frame.

    Returns
    -------
    np.ndarray [shape=(t,)], >= 0, unnormalised
    """
    return librosa.onset.onset_strength(
        S=spec.mel_db, sr=spec.sample_rate, hop_length=spec.hop_length, n_fft=spec.n_fft
    )


def energy_envelopes(spec: Spectrogram, onset: np.ndarray) -> dict[str, np.ndarray]:
    """The six energy envelopes, each scaled to 0..1, one value per frame.

    Parameters
    ----------
    spec : Spectrogram
    onset : np.ndarray [shape=(t,)]
        Onset strength from :func:`onset_strength`.

    Returns
    -------
    dict[str, np.ndarray [shape=(t,), float64]]
        Keys :data:`ENVELOPE_NAMES`. Energies are amplitudes (square roots of
        power), so they move like loudness rather than like squared loudness;
        each is divided by its 99th percentile and clipped to 1.
    """
    harmonic_mask, percussive_mask = _hpss_masks(spec.mel_power)
    # Band powers are per-bin means, so every band shares the silence floor below.
    # Harmonic and percussive energies average amplitudes over mel bands rather
    # than powers, so a snare counts beside a kick ten times its power.
    amplitudes = {
        "percussive": _masked_amplitude(percussive_mask, spec.mel_power),
        "harmonic": _masked_amplitude(harmonic_mask, spec.mel_power),
        **{name: np.sqrt(power) for name, power in spec.band_power.items()},
    }
    floor = np.sqrt(_silence_power(spec.n_fft))
    envelopes = {"onset": _scale(onset, floor=1e-3)}
    for name, amplitude in amplitudes.items():
        envelopes[name] = _scale(amplitude, floor=floor)
    return {name: envelopes[name] for name in ENVELOPE_NAMES}


def frame_curves(envelope: np.ndarray, rate: float, *, fps: float, n_frames: int) -> np.ndarray:
    """Resample an envelope to video frames: the mean over each frame's window.

    Parameters
    ----------
    envelope : np.ndarray [shape=(t,)]
        Values at times ``k / rate``, seconds.
    rate : float > 0
        Envelope rate, Hz.
    fps : float > 0
        Video frame rate, frames per second.
    n_frames : int >= 0
        Number of frames; frame ``i`` covers ``[i / fps, (i + 1) / fps)``.

    Returns
    -------
    np.ndarray [shape=(n_frames,), float64]
        Mean of the linearly interpolated envelope over each window.
    """
    if n_frames == 0:
        return np.zeros(0)
    if len(envelope) == 1:
        return np.full(n_frames, float(envelope[0]))
    times = np.arange(len(envelope)) / rate
    # Integral of the piecewise-linear envelope at each sample (trapezoids),
    # so a window's mean is a difference of two interpolated integrals.
    integral = np.concatenate([[0.0], np.cumsum((envelope[1:] + envelope[:-1]) / 2) / rate])
    edges = np.arange(n_frames + 1) / fps
    inside = np.clip(edges, times[0], times[-1])
    # Beyond the last sample the envelope is held at its last value.
    at_edges = np.interp(inside, times, integral) + (edges - inside) * envelope[-1]
    return np.clip(np.diff(at_edges) * fps, 0.0, 1.0)


def _hpss_masks(mel_power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Soft Wiener masks (harmonic, percussive) from median filtering, at the frame rate.

    The filtering runs on frame pairs (half the frame rate): a third of the cost,
    and the masks only need to tell sustained from struck sound, not when.
    """
    n_frames = mel_power.shape[1]
    pairs = np.pad(mel_power, ((0, 0), (0, n_frames % 2)), mode="edge")
    pairs = pairs.reshape(len(mel_power), -1, 2).mean(axis=2)
    harmonic = scipy.ndimage.median_filter(pairs, size=(1, _HPSS_KERNEL[0] // 2 + 1), mode="nearest")
    percussive = scipy.ndimage.median_filter(pairs, size=(_HPSS_KERNEL[1], 1), mode="nearest")
    # In place: each of these is the size of the song's mel spectrogram (half of it, in pairs).
    np.square(harmonic, out=harmonic)
    np.square(percussive, out=percussive)
    total = np.add(harmonic, percussive, out=percussive)
    total += 1e-20
    harmonic_mask = np.repeat(np.divide(harmonic, total, out=harmonic), 2, axis=1)[:, :n_frames]
    return harmonic_mask, 1.0 - harmonic_mask


def _masked_amplitude(mask: np.ndarray, power: np.ndarray) -> np.ndarray:
    """``np.sqrt(mask * power).mean(axis=0)``, with one temporary the size of ``power``."""
    amplitude = np.multiply(mask, power)
    return np.sqrt(amplitude, out=amplitude).mean(axis=0)


def _silence_power(n_fft: int) -> float:
    """Power per bin of white noise at ``SILENCE_RMS`` through a Hann-windowed FFT."""
    return SILENCE_RMS**2 * 0.375 * n_fft


def _scale(values: np.ndarray, *, floor: float) -> np.ndarray:
    """Scale to 0..1 by a high percentile, never below ``floor`` (keeps silence at 0)."""
    reference = max(float(np.percentile(values, _REFERENCE_PERCENTILE)), floor)
    return np.clip(values / reference, 0.0, 1.0)
