"""Reading the music: tempo, beats, downbeats, onsets, sections and energy envelopes.

``analyze(audio)`` returns an :class:`Analysis`, a plain JSON-able record of
everything the timeline follows. Times are seconds from the start of the
analysed segment, rounded to the millisecond; energy envelopes are 0..1 at a
fixed internal rate and resample to any video frame rate with
:meth:`Analysis.curves`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import librosa
import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.frames import frame_count
from pipelines.music.beats import HOP_LENGTH, SAMPLE_RATE, SpectrumReduction, track_beats
from pipelines.music.decode import Audio
from pipelines.music.envelopes import (
    ENVELOPE_NAMES,
    SILENCE_RMS,
    energy_envelopes,
    frame_curves,
    onset_strength,
    spectrogram,
)
from pipelines.music.sections import find_sections
from pipelines.music.tempo_range import TEMPO_RANGE, check_tempo_range

_TIME_DECIMALS = 3  # milliseconds
_BPM_DECIMALS = 2
_ENVELOPE_DECIMALS = 3
# Onsets inside digital silence (a silent intro, a gap: dither and codec noise
# make flux there) are dropped: this window around each must hold sound, seconds.
_SOUND_WINDOW = 0.1
_SOUND_ROWS = 1000  # 10 s of 10 ms blocks at a time


@dataclass
class Analysis:
    """What Beatwalk knows about a song (segment).

    Attributes
    ----------
    duration : float
        Seconds.
    sample_rate : int
        Rate of the analysed samples, Hz.
    tempo : float
        Main tempo, beats per minute; 0 when there is no beat.
    tempo_curve : dict
        ``{"times": [s, ...], "bpm": [...]}``: the local tempo, for songs that
        speed up, slow down or jump.
    beats, downbeats : list[float]
        Beat and bar-start times, seconds; downbeats are a subset of beats.
    beats_per_bar : int
        The most common number of beats in a bar (0 when there is no beat).
    onsets : list[float]
        Note and drum onset times, seconds.
    sections : list[dict]
        ``{"start": s, "end": s, "label": "A"}``, covering ``[0, duration]``.
    envelope_rate : float
        Rate of ``envelopes``, Hz.
    envelopes : dict[str, np.ndarray [shape=(t,)]]
        0..1 energy: "onset", "percussive", "harmonic", "low", "mid", "high";
        value ``k`` is the energy at ``k / envelope_rate`` seconds.
    tempo_range : tuple[float, float]
        Slowest and fastest tempo the beat tracker was allowed, BPM.
    """

    duration: float
    sample_rate: int
    tempo: float
    tempo_curve: dict
    beats: list[float]
    downbeats: list[float]
    beats_per_bar: int
    onsets: list[float]
    sections: list[dict]
    envelope_rate: float
    envelopes: dict[str, np.ndarray] = field(repr=False)
    tempo_range: tuple[float, float] = TEMPO_RANGE

    def curves(self, fps: float) -> dict[str, np.ndarray]:
        """The energy envelopes resampled to video frames.

        Parameters
        ----------
        fps : float > 0
            Video frame rate, frames per second.

        Returns
        -------
        dict[str, np.ndarray [shape=(frame_count(duration, fps),), float64]]
            0..1; value ``i`` is the mean energy over ``[i / fps, (i + 1) / fps)``.
        """
        if not np.isfinite(fps) or fps <= 0:
            raise BeatwalkError(f"fps must be a number > 0, got {fps:g}")
        n_frames = frame_count(self.duration, fps)
        return {
            name: frame_curves(envelope, self.envelope_rate, fps=fps, n_frames=n_frames)
            for name, envelope in self.envelopes.items()
        }

    def to_dict(self, curves_fps: float | None = None) -> dict:
        """The JSON-able form (what ``python -m pipelines analyze`` prints).

        Parameters
        ----------
        curves_fps : float or None
            Also add ``"curves": {"fps": fps, "onset": [...], ...}`` at this frame rate.
        """
        result = {
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "tempo": self.tempo,
            "tempo_curve": {"times": list(self.tempo_curve["times"]), "bpm": list(self.tempo_curve["bpm"])},
            "beats": list(self.beats),
            "downbeats": list(self.downbeats),
            "beats_per_bar": self.beats_per_bar,
            "onsets": list(self.onsets),
            "sections": [dict(section) for section in self.sections],
            "envelope_rate": self.envelope_rate,
            "envelopes": {
                name: _rounded(values, _ENVELOPE_DECIMALS) for name, values in self.envelopes.items()
            },
            "tempo_range": list(self.tempo_range),
        }
        if curves_fps is not None:
            curves = self.curves(curves_fps)
            result["curves"] = {"fps": curves_fps} | {
                name: _rounded(values, _ENVELOPE_DECIMALS) for name, values in curves.items()
            }
        return result

    @classmethod
    def from_dict(cls, data: dict) -> Analysis:
        """Rebuild an Analysis from :meth:`to_dict`'s output (``"curves"`` is ignored)."""
        try:
            analysis = cls(
                duration=float(data["duration"]),
                sample_rate=int(data["sample_rate"]),
                tempo=float(data["tempo"]),
                tempo_curve={
                    "times": [float(t) for t in data["tempo_curve"]["times"]],
                    "bpm": [float(b) for b in data["tempo_curve"]["bpm"]],
                },
                beats=[float(t) for t in data["beats"]],
                downbeats=[float(t) for t in data["downbeats"]],
                beats_per_bar=int(data["beats_per_bar"]),
                onsets=[float(t) for t in data["onsets"]],
                sections=[
                    {"start": float(s["start"]), "end": float(s["end"]), "label": str(s["label"])}
                    for s in data["sections"]
                ],
                envelope_rate=float(data["envelope_rate"]),
                envelopes={
                    name: np.asarray(data["envelopes"][name], dtype=np.float64) for name in ENVELOPE_NAMES
                },
                # Analyses from before tempo ranges were made with the default one.
                tempo_range=check_tempo_range(*data.get("tempo_range", TEMPO_RANGE)),
            )
            analysis._check()
            return analysis
        except BeatwalkError as exc:
            raise BeatwalkError(f"not an analysis: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise BeatwalkError(f"not an analysis: missing or bad field {exc}") from None

    def _check(self) -> None:
        """Refuse what no analysis holds: numbers that are not finite, a duration or rate ≤ 0."""
        numbers = {
            "duration": [self.duration], "tempo": [self.tempo], "envelope_rate": [self.envelope_rate],
            "tempo_curve": self.tempo_curve["times"] + self.tempo_curve["bpm"], "beats": self.beats,
            "downbeats": self.downbeats, "onsets": self.onsets,
            "sections": [x for s in self.sections for x in (s["start"], s["end"])],
            **{f"envelopes.{name}": values for name, values in self.envelopes.items()},
        }  # fmt: skip
        for name, values in numbers.items():
            if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
                raise BeatwalkError(f"{name} holds a value that is not a finite number")
        if not (self.duration > 0 and self.envelope_rate > 0 and self.sample_rate > 0):
            raise BeatwalkError("duration, sample rate and envelope rate must be positive")


def analyze(audio: Audio, *, tempo_range: tuple[float, float] | None = None) -> Analysis:
    """Analyse a decoded song (segment).

    Parameters
    ----------
    audio : Audio
        From :func:`pipelines.music.decode.load_audio`.
    tempo_range : (slowest, fastest), optional
        Tempo range the beat tracker may follow, BPM (default ``TEMPO_RANGE``, 45-230); narrow it
        around the right tempo when the beats come out at twice or half of it.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> analysis = analyze(load_audio("song.mp3"))  # doctest: +SKIP
    >>> analysis.tempo, analysis.beats[:3]
    (120.0, [0.502, 1.001, 1.502])
    """
    # A DC offset is no sound: without it, a constant shift of the waveform changes nothing found.
    # It is taken off block by block where the samples are read (a long song is not copied whole).
    samples, sr = audio.samples, audio.sample_rate
    offset = float(samples.mean())
    slowest, fastest = check_tempo_range(*(tempo_range or TEMPO_RANGE))

    # 1. One spectrogram for onsets, envelopes, beats and sections.
    # The beat features read the same STFT magnitude as it is made, block by block (it is never whole).
    beat_spectrum = SpectrumReduction(1 + len(samples) // HOP_LENGTH) if sr == SAMPLE_RATE else None
    spec = spectrogram(samples, sr, offset=offset, also=beat_spectrum.add if beat_spectrum is not None else None)
    onset = onset_strength(spec)
    envelopes = energy_envelopes(spec, onset)

    # 2. Beats, downbeats and the tempo curve (the tracker keeps silence free of beats).
    track = track_beats(
        samples, sr, min_bpm=slowest, max_bpm=fastest, spectrum=beat_spectrum
    )

    # 3. Onsets, from the same onset strength.
    # Peaks are picked on the percentile-scaled envelope, so one huge first hit
    # does not hide every later one.
    onset_frames = librosa.onset.onset_detect(
        onset_envelope=envelopes["onset"], sr=sr, hop_length=spec.hop_length
    )
    onsets = librosa.frames_to_time(onset_frames, sr=sr, hop_length=spec.hop_length)
    onsets = onsets[_in_sound(onsets, samples, sr, offset=offset)]

    # 4. Sections on the beat grid.
    sections = find_sections(spec, duration=audio.duration, beats=track.beats, downbeats=track.downbeats)

    return Analysis(
        duration=round(audio.duration, _TIME_DECIMALS),
        sample_rate=sr,
        tempo=round(track.tempo, _BPM_DECIMALS),
        tempo_curve={
            "times": _rounded(track.tempo_times, _TIME_DECIMALS),
            "bpm": _rounded(track.tempo_bpm, _BPM_DECIMALS),
        },
        beats=_rounded(track.beats, _TIME_DECIMALS),
        downbeats=_rounded(track.downbeats, _TIME_DECIMALS),
        beats_per_bar=int(track.beats_per_bar),
        onsets=_rounded(onsets, _TIME_DECIMALS),
        sections=[
            {
                "start": round(s["start"], _TIME_DECIMALS),
                "end": round(s["end"], _TIME_DECIMALS),
                "label": s["label"],
            }
            for s in sections
        ],
        envelope_rate=spec.frame_rate,
        envelopes={
            name: np.round(values.astype(np.float64), _ENVELOPE_DECIMALS)
            for name, values in envelopes.items()
        },
        tempo_range=(slowest, fastest),
    )


def _in_sound(times: np.ndarray, samples: np.ndarray, sr: int, *, offset: float = 0.0) -> np.ndarray:
    """Mask of the times with sound (RMS of ``samples - offset`` above silence) within
    ``_SOUND_WINDOW`` seconds."""
    block = max(1, sr // 100)  # 10 ms
    n_blocks = max(1, len(samples) // block)
    blocks = samples[: n_blocks * block].reshape(n_blocks, -1)
    sounding = np.empty(n_blocks, dtype=bool)
    for first in range(0, n_blocks, _SOUND_ROWS):  # in float64, a few seconds at a time
        rows = (blocks[first : first + _SOUND_ROWS] - offset).astype(np.float64)
        sounding[first : first + _SOUND_ROWS] = np.sqrt(np.mean(rows**2, axis=1)) >= SILENCE_RMS
    cumulative = np.concatenate([[0], np.cumsum(sounding)])
    lo = np.clip(((times - _SOUND_WINDOW) * sr / block).astype(int), 0, n_blocks)
    hi = np.clip(((times + _SOUND_WINDOW) * sr / block).astype(int) + 1, 0, n_blocks)
    return cumulative[hi] > cumulative[lo]


def _rounded(values, decimals: int) -> list[float]:
    """Plain floats rounded to ``decimals``, as JSON prints them shortest."""
    return np.round(np.asarray(values, dtype=np.float64).ravel(), decimals).tolist()
