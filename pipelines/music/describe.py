"""A description of the song in words, per section and per ~10 s window, from plain DSP.

What a person would say of each passage before choosing images for it: its tempo feel (slow,
mid-tempo, fast; straight or swung), key and mode (major or minor, from chroma against the
Krumhansl–Kessler key profiles), how loud it is against the rest of the song and how its energy
moves (an intro, builds, a drop, a break, fades), how bright and how busy it sounds. Everything
here needs no weights and is always available; tags from an audio-text model
(:mod:`pipelines.music.tagging`) are added beside these words when one can load.

``describe_song(audio, analysis)`` returns a :class:`SongDescription`, JSON-able like the analysis.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import numpy as np

from pipelines.errors import BeatwalkError

PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

SLOW_BELOW, FAST_FROM = 90.0, 125.0
"""Tempo feel: slow below 90 BPM, fast from 125 BPM, mid-tempo between."""
SWUNG_FROM = 0.58
"""The off-beat's place in its beat (0.5 straight, 0.67 a triplet swing) from which it is swung."""
DARK_BELOW, BRIGHT_FROM = 1500.0, 3000.0
"""Spectral centroid, Hz: dark below, bright from, warm between."""
SPARSE_BELOW, BUSY_FROM = 1.5, 4.0
"""Onsets per second: sparse below, busy from."""
KEY_CHANGE_MARGIN = 0.1
"""A passage takes a key other than the song's when that key's profile fits it this much better."""
WINDOW_SECONDS = 10.0

_N_FFT, _HOP = 4096, 2048
_BLOCK_FRAMES = 512  # frames of the coarse STFT analysed at a time (~47 s at 22 050 Hz)
_SILENT_DB = -60.0


@dataclass
class Passage:
    """A section or a window of the song, described.

    Attributes
    ----------
    start, end : float
        Seconds.
    label : str
        The section's letter (``"A"``), or ``""`` for a window.
    bpm : float
        Local tempo (0: no beat).
    tempo : str
        ``"slow"``, ``"mid-tempo"``, ``"fast"``, or ``"no beat"``.
    groove : str
        ``"straight"``, ``"swung"``, or ``""`` where there are too few off-beats to tell.
    key : str
        Tonic (``"A"``), ``""`` in silence.
    mode : str
        ``"major"`` or ``"minor"`` (``""`` in silence).
    loudness_db : float
        RMS level, dBFS.
    level : str
        ``"quiet"``, ``"moderate"`` or ``"loud"``, against the song's own level.
    arc : str
        ``"intro"``, ``"builds"``, ``"drop"`` (energy arrives), ``"break"`` (energy leaves),
        ``"fades"`` or ``"steady"``.
    brightness : str
        ``"dark"``, ``"warm"`` or ``"bright"``.
    density : str
        ``"sparse"``, ``"moderate"`` or ``"busy"``.
    tags : list[str]
        An audio-text model's words for it (genre, mood, instruments); empty without one.
    """

    start: float
    end: float
    label: str
    bpm: float
    tempo: str
    groove: str
    key: str
    mode: str
    loudness_db: float
    level: str
    arc: str
    brightness: str
    density: str
    tags: list[str] = field(default_factory=list)

    def words(self) -> list[str]:
        """The passage in a few words, for a plot's label or a prompt: e.g. ``["fast", "swung",
        "A minor", "loud", "drop", "bright", "busy", <tags>]``."""
        key = f"{self.key} {self.mode}" if self.key else ""
        words = [self.tempo, self.groove, key, self.level, self.arc, self.brightness, self.density]
        return [w for w in words if w] + list(self.tags)


@dataclass
class SongDescription:
    """The song's description: the whole song's tempo and key, its sections and ~10 s windows.

    Attributes
    ----------
    bpm : float
    key, mode : str
    sections, windows : list[Passage]
    tagger : str
        The audio-text model that gave the tags (``""``: none).
    """

    bpm: float
    key: str
    mode: str
    sections: list[Passage]
    windows: list[Passage]
    tagger: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SongDescription:
        try:
            fields = dict(data)
            fields["sections"] = [Passage(**p) for p in data["sections"]]
            fields["windows"] = [Passage(**p) for p in data["windows"]]
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise BeatwalkError(f"not a song description: {exc}") from None


@dataclass
class _Features:
    """Coarse frame features of the whole song (hop ``_HOP`` at the analysis' rate)."""

    rate: float  # frames per second
    chroma: np.ndarray  # (12, t) power
    rms: np.ndarray  # (t,)
    centroid: np.ndarray  # (t,) Hz


def describe_song(audio, analysis, *, window: float = WINDOW_SECONDS, tagger=None) -> SongDescription:
    """Describe ``audio`` (a decoded song segment) with the help of its ``analysis``.

    Parameters
    ----------
    audio : pipelines.music.decode.Audio
    analysis : pipelines.music.analysis.Analysis
        Of the same segment (its beats, onsets, tempo curve and sections are used).
    window : float
        Length of the windows, seconds; each ends on the downbeat nearest its length.
    tagger : pipelines.music.tagging.ClapTagger, optional
        Adds its tags (genre, mood, instruments) to every section and window.
    """
    features = _features(audio.samples, audio.sample_rate)
    whole = _rms_db(features.rms)
    key, mode, _ = _key(features.chroma.sum(axis=1))
    song = (key, mode)
    sections = [(s["start"], s["end"], s["label"]) for s in analysis.sections] or [
        (0.0, analysis.duration, "A")
    ]
    described = _describe_all(sections, features, analysis, whole, song)
    windows = _describe_all(
        [(a, b, "") for a, b in _windows(analysis, window)], features, analysis, whole, song
    )
    if tagger is not None:
        passages = described + windows
        for passage, tags in zip(passages, tagger.tag(audio.samples, audio.sample_rate, passages)):
            passage.tags = tags
    return SongDescription(
        bpm=float(analysis.tempo), key=key, mode=mode, sections=described, windows=windows,
        tagger=tagger.model_id if tagger is not None else "",
    )  # fmt: skip


def _describe_all(spans, features: _Features, analysis, whole_db: float, song: tuple) -> list[Passage]:
    passages, previous = [], None
    for start, end, label in spans:
        passage = _describe(start, end, label, features, analysis, whole_db, previous, song)
        passages.append(passage)
        previous = passage
    return passages


def _describe(start, end, label, features: _Features, analysis, whole_db, previous, song) -> Passage:
    frames = _frames(start, end, features)
    db = _rms_db(features.rms[frames])
    bpm = _local_bpm(start, end, analysis)
    key, mode = ("", "") if db <= _SILENT_DB else _passage_key(features.chroma[:, frames].sum(axis=1), song)
    # The median over the frames with sound: a drum hit's noise does not make a dark song bright.
    sounding = features.rms[frames] > 10 ** ((db - 30.0) / 20)
    centroid = float(np.median(features.centroid[frames][sounding])) if sounding.any() else 0.0
    onsets = np.asarray(analysis.onsets)
    rate = np.count_nonzero((onsets >= start) & (onsets < end)) / max(end - start, 1e-6)
    return Passage(
        start=float(start),
        end=float(end),
        label=label,
        bpm=round(bpm, 1),
        tempo="no beat"
        if bpm <= 0
        else "slow"
        if bpm < SLOW_BELOW
        else "fast"
        if bpm >= FAST_FROM
        else "mid-tempo",
        groove=_groove(start, end, analysis),
        key=key,
        mode=mode,
        loudness_db=round(db, 1),
        level=_level(db, whole_db),
        arc=_arc(features.rms[frames], db, previous),
        brightness="dark" if centroid < DARK_BELOW else "bright" if centroid >= BRIGHT_FROM else "warm",
        density="sparse" if rate < SPARSE_BELOW else "busy" if rate >= BUSY_FROM else "moderate",
    )


def _features(samples: np.ndarray, sr: int) -> _Features:
    """Chroma, RMS and spectral centroid on a coarse STFT, a block at a time (memory stays small
    on long songs)."""
    import librosa
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    frequencies = librosa.fft_frequencies(sr=sr, n_fft=_N_FFT)
    # Pitch classes from tonal peaks between 60 Hz and 5 kHz only: drums and noise are broadband
    # and would smear the key profile.
    chroma_filter = librosa.filters.chroma(sr=sr, n_fft=_N_FFT) * (
        (frequencies >= 60) & (frequencies <= 5000)
    )
    window = np.hanning(_N_FFT).astype(np.float32)
    padded = np.pad(samples.astype(np.float32), (_N_FFT // 2, _N_FFT // 2))
    n_frames = 1 + max(len(padded) - _N_FFT, 0) // _HOP
    chroma, rms, centroid = [], [], []
    for first in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - first)
        idx = (first + np.arange(count))[:, None] * _HOP + np.arange(_N_FFT)[None, :]
        frames = padded[idx] * window
        magnitude = np.abs(np.fft.rfft(frames, axis=1)).T  # (bins, count)
        power = magnitude**2
        floor = uniform_filter1d(power, 31, axis=0, mode="nearest")
        peaks = (power >= maximum_filter1d(power, 5, axis=0)) & (power > 4 * floor)
        chroma.append(chroma_filter @ np.where(peaks, power, 0.0))
        rms.append(np.sqrt(np.mean(frames**2, axis=1) / np.mean(window**2)))
        total = magnitude.sum(axis=0)  # the centroid of the magnitude spectrum, as librosa's
        centroid.append(np.where(total > 0, frequencies @ magnitude / np.maximum(total, 1e-20), 0.0))
    if not chroma:
        raise BeatwalkError("the song is too short to describe")
    return _Features(sr / _HOP, np.hstack(chroma), np.concatenate(rms), np.concatenate(centroid))


def _frames(start: float, end: float, features: _Features) -> slice:
    first = int(np.floor(start * features.rate))
    last = max(first + 1, int(np.ceil(end * features.rate)))
    return slice(first, min(last, len(features.rms)))


def _rms_db(rms: np.ndarray) -> float:
    level = float(np.sqrt(np.mean(np.square(rms)))) if len(rms) else 0.0
    return max(20 * np.log10(level), -120.0) if level > 0 else -120.0


def _key(chroma: np.ndarray) -> tuple[str, str, float]:
    """Tonic, mode and the correlation of the best Krumhansl–Kessler profile."""
    if not np.any(chroma > 0):
        return "", "", 0.0
    best = ("", "", -2.0)
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best[2]:
                best = (PITCHES[tonic], mode, r)
    return best


def _passage_key(chroma: np.ndarray, song: tuple[str, str]) -> tuple[str, str]:
    """A passage's key: its own where it is clearly another (a modulation), else the song's (a
    few bars on the dominant are not a change of key)."""
    key, mode, r = _key(chroma)
    if not key or not song[0] or (key, mode) == song:
        return key, mode
    profile = _MAJOR if song[1] == "major" else _MINOR
    in_song = float(np.corrcoef(chroma, np.roll(profile, PITCHES.index(song[0])))[0, 1])
    return (key, mode) if r - in_song > KEY_CHANGE_MARGIN else song


def _local_bpm(start: float, end: float, analysis) -> float:
    beats = np.asarray(analysis.beats)
    inside = beats[(beats >= start) & (beats < end)]
    if len(inside) >= 3:
        return float(60.0 / np.median(np.diff(inside)))
    return float(analysis.tempo) if len(beats) >= 3 and len(inside) else 0.0


def _groove(start: float, end: float, analysis) -> str:
    """Straight or swung, from the onsets' places in their beats (0 at a beat, 1 at the next):
    the two places most onsets fall on are half a beat apart when straight, a third or less when
    swung. Measured between the two places, not from the beat, so that it does not depend on
    where the tracker put the beat's phase."""
    beats = np.asarray(analysis.beats)
    beats = beats[(beats >= start) & (beats < end)]
    onsets = np.asarray(analysis.onsets)
    onsets = onsets[(onsets >= start) & (onsets < end)]
    if len(beats) < 4 or len(onsets) < 8:
        return ""
    if len(onsets) < 1.5 * len(beats):
        # About one onset a beat: the tracker follows the eighth notes (a 90 BPM song read at
        # 180), and the swing is between two of its beats.
        beats = beats[::2]
    which = np.searchsorted(beats, onsets, side="right") - 1
    inside = (which >= 0) & (which < len(beats) - 1)
    which = which[inside]
    phase = (onsets[inside] - beats[which]) / (beats[which + 1] - beats[which])
    if not len(phase):
        return ""
    bins = 24
    counts = np.bincount(np.floor(phase * bins).astype(int) % bins, minlength=bins).astype(float)
    counts = counts + 0.5 * (np.roll(counts, 1) + np.roll(counts, -1))  # circular smoothing
    first = int(np.argmax(counts))
    rest = counts.copy()
    rest[[(first + k) % bins for k in range(-3, 4)]] = 0
    second = int(np.argmax(rest))
    if counts[first] == 0 or rest[second] < 0.25 * counts[first]:
        return ""  # one place only: nothing between the beats to swing
    apart = abs(first - second) / bins
    apart = min(apart, 1 - apart)  # 0.5 straight, 1/3 a triplet swing
    return "swung" if apart <= 1 - SWUNG_FROM else "straight"


def _level(db: float, whole_db: float) -> str:
    if db <= _SILENT_DB or db < whole_db - 6.0:
        return "quiet"
    if db > whole_db + 1.5 or db > -12.0:
        return "loud"
    return "moderate"


def _arc(rms: np.ndarray, db: float, previous: Passage | None) -> str:
    """How the energy moves: against the passage before, then within the passage."""
    if previous is not None and db - previous.loudness_db >= 6.0:
        return "drop"
    if previous is not None and previous.loudness_db - db >= 6.0:
        return "break"
    if len(rms) >= 4:
        half = len(rms) // 2
        rise = _rms_db(rms[half:]) - _rms_db(rms[:half])
        if rise >= 4.0:
            return "intro" if previous is None else "builds"
        if rise <= -4.0:
            return "fades"
    return "intro" if previous is None else "steady"


def _windows(analysis, window: float) -> list[tuple[float, float]]:
    """Spans of about ``window`` seconds covering the song, each ending on the downbeat nearest."""
    duration = float(analysis.duration)
    downbeats = np.asarray(analysis.downbeats, dtype=float)
    edges, at = [0.0], 0.0
    while duration - at > 1.5 * window:
        target = at + window
        near = downbeats[np.abs(downbeats - target) < window / 2] if len(downbeats) else downbeats
        at = float(near[np.argmin(np.abs(near - target))]) if len(near) else target
        edges.append(at)
    edges.append(duration)
    return list(itertools.pairwise(edges))
