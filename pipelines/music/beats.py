"""Beat, downbeat and tempo tracking.

Two trackers, both Beatwalk's own (nothing is downloaded), sharing one log mel spectrogram and
the Viterbi decoders of :mod:`pipelines.music.beat_dbn`:

``tcn`` (the default)
    A small temporal convolutional network (:mod:`pipelines.music.beat_net`, weights in the package,
    trained by ``scripts/train_beat_net.py`` on rendered music) gives every frame a beat and a
    downbeat probability; a dynamic Bayesian network over (beat period, position in the beat)
    decoded with Viterbi (Krebs, Böck & Widmer 2015, as in madmom's
    ``DBNBeatTrackingProcessor``) turns the beat probability into beats through ramps, jumps and
    rubato, with the song's tempo distribution from the network's tempo head as its tempo prior
    (the beat probability floored, so that a passage it cannot read keeps its tempo and its
    beats, and whole-multiple holes refilled); a bar model over beats (meters of 2, 3, 4 or 5
    beats, allowed to change at bar lines) reads the downbeat probability at each beat together
    with the harmonic and bass change there.

``dsp`` (no network; numpy, scipy, librosa and numba only)
    1. SuperFlux-style spectral flux on the log mel spectrogram, with the low band weighted up
       and chord changes (chroma novelty) added, normalised against a moving maximum so that
       quiet passages still count, drives the same beat DBN, whose log-normal tempo prior
       settles the metrical level;
    2. the bar model reads how much the harmony, the bass and the low-band onsets change at each
       beat (eight weights fitted by logistic regression on our own rendered dev set);
    3. in 4/4, bars move by two beats when beat 3 carries clearly more harmonic change than the
       chosen beat 1 (pop's kick and bass hit 1 and 3 alike).

Both keep beats only where there is sound and a pulse: silence, silent intros and noise (whose
beats barely stand out) get none. ``BEATWALK_BEAT_TRACKER`` (or ``tracker=``) picks one;
``benchmarks/beats.py`` measures them against librosa and madmom.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal

from pipelines.errors import BeatwalkError
from pipelines.music.beat_dbn import beat_transitions, viterbi_bars, viterbi_beats
from pipelines.music.envelopes import centred_pieces, stft_blocks

SAMPLE_RATE = 22050
HOP_LENGTH = 256
FPS = SAMPLE_RATE / HOP_LENGTH
TRACKERS = ("tcn", "dsp")
METERS = np.array([2, 3, 4, 5], dtype=np.int64)  # beats per bar the bar model considers


@dataclass
class BeatTrack:
    """Where the beats are.

    Attributes
    ----------
    beats : np.ndarray [shape=(b,)]
        Beat times, in seconds, increasing.
    downbeats : np.ndarray [shape=(d,)]
        Bar starts, in seconds; a subset of ``beats``.
    beats_per_bar : int
        The most common number of beats in a bar (0 when there are no beats).
    tempo_times : np.ndarray [shape=(c,)]
        Times of the tempo curve, in seconds (midpoints between beats).
    tempo_bpm : np.ndarray [shape=(c,)]
        Local tempo at ``tempo_times``, in beats per minute.
    """

    beats: np.ndarray
    downbeats: np.ndarray
    beats_per_bar: int
    tempo_times: np.ndarray
    tempo_bpm: np.ndarray

    @property
    def tempo(self) -> float:
        """The song's main tempo, BPM: the median over the song of the mean tempo of 8 beats (0
        with fewer than two beats).

        Averaging over several beats first cancels the rounding of each beat to a frame (11.6 ms),
        which would otherwise show 124 BPM as 123.0.
        """
        beats = self.beats
        if len(beats) < 2:
            return 0.0
        span = min(8, len(beats) - 1)
        periods = (beats[span:] - beats[:-span]) / span
        return float(60.0 / np.median(periods))


def track_beats(
    samples: np.ndarray, sample_rate: float, *, min_bpm: float = 45.0, max_bpm: float = 230.0,
    tracker: str | None = None, spectrum: np.ndarray | SpectrumReduction | None = None,
) -> BeatTrack:
    """Track beats, downbeats and the tempo curve of a song.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono audio, any float scale.
    sample_rate : number > 0
        Sample rate of ``samples`` in Hz; resampled to 22050 Hz internally.
    min_bpm, max_bpm : number > 0
        Tempo range the tracker may follow, in beats per minute.
    tracker : str, optional
        One of ``TRACKERS``; default: the ``BEATWALK_BEAT_TRACKER`` environment variable, else
        ``"tcn"``.
    spectrum : np.ndarray [shape=(N_FFT // 2 + 1, t)] or SpectrumReduction, optional
        The STFT magnitude of ``samples`` less their mean (``N_FFT`` points, hop ``HOP_LENGTH``), or
        its :class:`SpectrumReduction`, when the caller has it already and ``sample_rate`` is
        ``SAMPLE_RATE``: the analysis shares its own, reduced as it is made.

    Returns
    -------
    BeatTrack

    Raises
    ------
    BeatwalkError
        If the audio is not a finite 1-D signal, the rate is not positive or the tempo range
        is empty, or the tracker is unknown.

    Examples
    --------
    >>> from synth.songs import drum_song
    >>> samples, beats, downbeats = drum_song(bpm=120.0)
    >>> track = track_beats(samples, 22050)
    >>> round(track.tempo)
    120
    """
    # 1. Check inputs.
    tracker = tracker or os.environ.get("BEATWALK_BEAT_TRACKER") or "tcn"
    if tracker not in TRACKERS:
        raise BeatwalkError(f"unknown beat tracker {tracker!r}; choose one of {', '.join(TRACKERS)}")
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise BeatwalkError(f"beat tracking needs mono audio (one dimension), got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.number) or not np.all(np.isfinite(samples)):
        raise BeatwalkError("the audio contains values that are not finite numbers")
    if not sample_rate > 0:
        raise BeatwalkError(f"sample rate must be positive, got {sample_rate}")
    if not 0 < min_bpm < max_bpm:
        raise BeatwalkError(f"tempo range must satisfy 0 < min_bpm < max_bpm, got {min_bpm}..{max_bpm}")

    # 2. Resample and find where there is sound at all.
    y = np.asarray(samples, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
        spectrum = None
    features = _features(y, spectrum)
    active = _active_frames(features["rms_db"])
    if active.sum() < FPS:
        return _empty_track()

    # 3. Beats, then downbeats, then the tempo curve.
    if tracker == "tcn":
        from pipelines.music import beat_net

        beat_activation, down_activation = beat_net.activations(features["log_mel"])
        log_prior = _tempo_head_prior(beat_net.tempo_probabilities(features["log_mel"]))
        frames, _ = _track_beat_frames(
            beat_activation, active, min_bpm=min_bpm, max_bpm=max_bpm, normalise=False,
            min_beat_states=NET_MIN_BEAT_STATES, log_prior=log_prior, activation_floor=NET_ACTIVATION_FLOOR,
            transition_lambda=NET_TRANSITION_LAMBDA,
        )
        if len(frames) < 2 or beat_activation[frames].mean() < NET_MIN_BEAT_SALIENCE:
            return _empty_track()
        frames = _trim_faint_ends(frames, beat_activation, NET_MIN_END_BEAT)
        if len(frames) < 2:
            return _empty_track()
        frames = _fill_holes(frames, beat_activation, active)
        frames = _kick_phase(frames, features["low"], beat_activation)
        positions, meters = _track_bars_net(frames, beat_activation, down_activation, features)
    else:
        # Bass and kick onsets weigh more: they mark the beat, hi-hats and arpeggios the
        # subdivisions; chord changes mark it too, drums or not.
        onset = features["onset"] + LOW_WEIGHT * features["low"]
        onset = onset + CHROMA_WEIGHT * np.percentile(onset, 95) * features["chord"]
        frames, salience = _track_beat_frames(
            onset, active, min_bpm=min_bpm, max_bpm=max_bpm, normalise=True, log_prior=_log_normal_prior
        )
        if len(frames) < 2 or salience < MIN_BEAT_SALIENCE:
            return _empty_track()
        frames = _kick_phase(frames, features["low"])
        positions, meters = _track_bars(frames, features)
    beats = frames / FPS
    downbeats = beats[positions == 0]
    values, counts = np.unique(meters, return_counts=True)
    tempo_times, tempo_bpm = _tempo_curve(beats)
    return BeatTrack(beats, downbeats, int(values[np.argmax(counts)]), tempo_times, tempo_bpm)


# Every constant below was chosen on the tuning splits of synth/beat_set.py (dev, dev-large,
# dev-varied), the drum-machine songs and the example song, never on the held-out splits; the
# measurements behind each are in benchmarks/RESULTS.md ("Where the beat tracker's constants
# come from"). The dsp tracker's downbeat weights are a logistic regression of "is a bar start" on
# the _bar_features columns (python -m benchmarks.beats --fit-downbeats), with the bias and the
# meter prior then chosen for downbeat F.
N_FFT = 1024
N_MELS = 96
MEL_FMIN = 30.0
# Below this a frame holds no sound at all (16-bit dither sits near -96 dBFS): quiet music above it
# is read like loud music, relative to its own level.
SOUND_FLOOR_DB = -90.0
LOG_MEL_SCALE = 1000.0
LOW_WEIGHT = 3.0
OBSERVATION_LAMBDA = 16
TRANSITION_LAMBDA = 30.0
TEMPO_PRIOR_BPM = 110.0
TEMPO_PRIOR_OCTAVES = 1.0
DOWNBEAT_WEIGHTS = np.array([0.03, 0.3, 0.04, 0.44, 0.13, 1.1, 0.18, 0.73])
DOWNBEAT_BIAS = -1.0
METER_PRIOR = np.array([0.15, 0.3, 0.45, 0.1])
# Chord changes weigh into the beat activation (scaled to the onset envelope's 95th percentile):
# they mark beats where no drum does.
CHROMA_WEIGHT = 1.5
# Below this beat salience (see _track_beat_frames) there is no beat: set just above what noise,
# hiss and held chords reach rather than halfway to music, as music the tracker follows badly
# sits in between and should keep its beats.
MIN_BEAT_SALIENCE = 2.6
# The network's tracker (tcn). Its tempo prior is the tempo head's distribution for the song (the
# log of each tempo's probability over the most likely one's, plus a floor so that no tempo is
# ruled out): it settles the metrical level where the beat probabilities read both ways. A beat
# region spans at least 4 frames, as the network's peaks are 3 frames wide and 1-frame regions
# made the decoder skip every other beat at fast tempi. Below a mean network beat probability of
# NET_MIN_BEAT_SALIENCE at the tracked beats there is no beat (noise and held chords sit far below
# it, music far above). Downbeat probabilities that are faint throughout are lifted to
# NET_DOWNBEAT_FLOOR, as fewer bar starts would otherwise cost less (a 3/4 song read as 5/4). The
# decoder keeps a pulse wherever there is sound, so leading and trailing beats the network gives
# less than NET_MIN_END_BEAT are dropped: a final chord's ring-out, a noisy intro. The beat
# probability is floored at NET_ACTIVATION_FLOOR before decoding: where the network hears next to
# nothing (a drumless passage, a loud stretch it cannot read) a beat state then costs little
# more than any other (at 1 / OBSERVATION_LAMBDA it would cost the same), so the tempo holds and
# the beats go on; with a floor near 0 every beat there cost so much that the decoder slowed
# down to place fewer, and left holes. (0.0625 lost pieces without drums to another level.)
NET_MIN_BEAT_SALIENCE = 0.07
NET_MIN_END_BEAT = 0.15
# How hard the network's decoder holds its tempo from beat to beat (the DBN's transition lambda;
# the dsp tracker keeps TRANSITION_LAMBDA). At 30, in loud real mixes the network reads weakly, the
# decoder dropped to half the tempo for 10-20 s at a time where the dsp tracker and librosa stay at
# the song's; at 60 the tempo holds through them (21 unmarked real tracks: 385 -> 209 s in beat
# intervals over 1.3x or under 0.77x the song's median one), dev-varied's ramps follow better, and a
# few rubato and extreme-tempo clips lose (benchmarks/RESULTS.md, issue 17's fourth round).
NET_TRANSITION_LAMBDA = 60.0
NET_MIN_BEAT_STATES = 4
NET_ACTIVATION_FLOOR = 0.03
NET_TEMPO_FLOOR = 0.03
NET_DOWNBEAT_FLOOR = 0.3
NET_METER_PRIOR = np.array([0.3, 0.3, 0.3, 0.1])
NET_METER_SWITCH = 1e-3
# The kick check (_kick_phase) leaves the network's beats alone where its beat probability halfway
# between them is under this share of that on them: drumless pieces sit at 0.001-0.09 (the check
# had moved six of dev-large's there off the beat), MMA's 8-beat rock, whose kick lands on the
# "ands" of 3 and 4, at 0.15-0.18; the beats it must move sit at 0.24 and up (a one-drop groove,
# and a real metal song for weights that never heard it, 0.25), but for one punk skank at 0.07 that
# stays off the beat; an unmarked real track (desert3) sits at 0.198, just under the gate
# (benchmarks/RESULTS.md, issue 17's third and fourth rounds).
NET_KICK_TRUST = 0.2
# How the network's downbeat logit and the _bar_features columns (harmonic and bass change, low-band
# and full onsets, level) weigh into a bar start: a logistic regression on the tuning splits' beats
# (python -m benchmarks.beats --fit-net-downbeats dev band-fit).
NET_DOWNBEAT_WEIGHTS = np.array([0.9, 0.12, 0.28, 0.12, 0.17, 0.54, -0.04, 0.39, -0.1])
NET_DOWNBEAT_BIAS = -0.6
# Holes (_fill_holes): an interval of at least HOLE_RATIO times the song's median one, within
# HOLE_TOLERANCE of a whole multiple of the period of the HOLE_CONTEXT beats either side.
HOLE_RATIO = 1.6
HOLE_TOLERANCE = 0.15
HOLE_CONTEXT = 16
# The chroma and bass novelty columns of _bar_features, and how much more harmonic change (sum of
# robust z-scores) beat 3 must show than beat 1 to move the bar.
HARMONIC_COLUMNS = 5
HALF_BAR_MARGIN = 2.0
# The bar phase of each stretch of one meter (_bar_phase): each beat of the bar is scored as its start
# by a linear function of the stretch's mean bar evidence (the _net_bar_columns) on that beat, on the
# one after it and on the one before it, each less the mean over the bar: one row of weights per meter
# (2, 3, 4, 5 beats). A logistic regression on training music only, with weights shared by all meters
# plus each meter's own, so that a meter with few songs leans on what the others learnt
# (benchmarks/RESULTS.md, issue 17's fifth round):
#   python -m synth.mma_set --splits mma-train
#   python -m synth.beat_set --splits train train-varied
#   python -m benchmarks.beats --fit-bar-phase mma-train train-varied:16 train:10 band-fit
# (SPLIT:N reads the first N clips of each category: the fit saw 224 of train-varied, 140 of train.)
PHASE_OFFSETS = (0, 1, -1)  # the candidate bar start, the beat after it, the beat before it
NET_PHASE_WEIGHTS = np.array([
    [1.63, 0.83, 2.36, 1.93, 0.22, 1.76, -0.94, 1.96, -0.27, -0.70, -1.08, 0.77, -0.42, -0.62, 0.56, -1.02, -0.52, 0.24, -0.34, 0.86, -0.02, -0.32, -0.73, 0.29, -0.71, 1.26, 0.18],
    [2.14, 0.95, 2.45, 1.95, 0.55, 2.08, -0.93, 2.13, -0.14, -0.73, -1.04, 0.75, -0.41, -0.76, 0.43, -1.00, -0.59, 0.26, -0.60, 0.74, -0.06, -0.34, -0.83, 0.13, -0.72, 1.20, 0.06],
    [1.76, 2.79, 3.86, 3.16, 0.03, 2.59, -1.36, 3.95, 1.30, -0.15, -1.32, 2.74, -0.35, -0.39, 0.88, -1.88, 0.79, 0.46, -0.03, 1.51, -0.10, -0.66, -0.08, 0.87, -0.69, 3.90, 1.18],
    [1.54, -0.65, 3.00, 2.49, -0.09, 2.20, -1.57, 1.55, -2.40, -0.85, -1.73, -0.27, -0.84, -0.90, 1.11, -1.10, -2.07, 0.39, 0.34, 1.42, 0.20, -0.18, -1.61, 0.32, -1.33, 0.14, -0.38],
])  # fmt: skip


def _empty_track() -> BeatTrack:
    empty = np.zeros(0)
    return BeatTrack(empty, empty.copy(), 0, empty.copy(), empty.copy())


def _features(y: np.ndarray, spectrum: np.ndarray | SpectrumReduction | None = None) -> dict[str, np.ndarray]:
    """Frame-rate features at ``FPS``: onset envelope, low-band flux, chroma, bass chroma, level
    (``spectrum``: ``y``'s STFT magnitude less its mean, or its :class:`SpectrumReduction`, if
    already computed)."""
    # A DC offset is no sound: it is taken off block by block, never from a copy of the whole song.
    offset = float(y.mean()) if len(y) else 0.0
    if not isinstance(spectrum, SpectrumReduction):
        reduction = SpectrumReduction(1 + len(y) // HOP_LENGTH)
        if spectrum is None:
            for start, block in stft_blocks(y, n_fft=N_FFT, hop_length=HOP_LENGTH, offset=offset):
                reduction.add(start, block)
        else:
            reduction.add(0, spectrum)
        spectrum = reduction
    rms_db = 20 * np.log10(frame_rms(y, offset=offset) + 1e-10)
    log_mel = spectrum.normalised_mel()
    log_mel *= LOG_MEL_SCALE
    np.log1p(log_mel, out=log_mel)  # in place: the size of the song's mel spectrogram
    # SuperFlux: compare with the maximum of neighbouring bands in the previous frame, so
    # vibrato and glissandi do not look like onsets.
    reference = scipy.ndimage.maximum_filter1d(log_mel, size=3, axis=0)
    flux = np.maximum(log_mel[:, 1:] - reference[:, :-1], 0.0)
    flux = np.pad(flux, ((0, 0), (1, 0)))
    centers = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=MEL_FMIN, fmax=11000.0)[1:-1]
    return {
        "log_mel": log_mel,
        "onset": flux.sum(axis=0),
        "low": flux[centers < 150.0].sum(axis=0),
        "chroma": spectrum.chroma,
        "bass": spectrum.bass,
        "rms_db": rms_db,
        "chord": _chord_change(spectrum.chord_chroma),
    }


class SpectrumReduction:
    """What the beat features read of a song's STFT magnitude (``N_FFT`` points, hop
    ``HOP_LENGTH``), gathered a block of frames at a time, so the magnitude of a long song never
    has to exist whole: the mel bands, each frame's strongest bin, and chroma from a
    time-median-filtered spectrum below 2 kHz (drums smeared out, chords kept) and from the plain one.

    ``add`` the blocks in order, then read the attributes; the result is the same as from the whole
    magnitude at once (the median filter carries its context across blocks).
    """

    _TONAL_WIDTH = 9  # frames of the tonal median filter

    def __init__(self, n_frames: int):
        freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
        self.n_frames = n_frames
        self._mel_basis, self._first = _mel_filter()
        self._chroma_basis = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT)
        self._tonal_bins = freqs < 2000.0
        self._bass_bins = freqs[self._tonal_bins] < 250.0
        self._tonal_chroma = self._chroma_basis[:, self._tonal_bins]
        self._bass_chroma = self._tonal_chroma[:, self._bass_bins]
        self.mel = np.empty((N_MELS, n_frames), dtype=np.float32)
        self.frame_peak = np.empty(n_frames, dtype=np.float32)
        self.chroma = np.empty((12, n_frames), dtype=np.float32)
        self.bass = np.empty((12, n_frames), dtype=np.float32)
        self.chord_chroma = np.empty((12, n_frames), dtype=np.float32)
        self._tonal_tail = np.empty((int(self._tonal_bins.sum()), 0), dtype=np.float32)
        self._filled = 0

    def add(self, start: int, block: np.ndarray) -> None:
        """The magnitude's frames ``start:start + block.shape[1]`` (blocks in order, none skipped)."""
        if start != self._filled:
            raise ValueError(f"blocks must come in order: frame {start} after {self._filled}")
        stop = start + block.shape[1]
        self.mel[:, start:stop], self.frame_peak[start:stop] = _mel_and_peak(block)
        self.chord_chroma[:, start:stop] = self._chroma_basis @ block[: self._chroma_basis.shape[1]]
        self._filled = stop
        # The median over 9 frames needs 4 on each side: the frames of the block before that are
        # not done yet (the last 4) and their context (4 more) come along with this block.
        half = self._TONAL_WIDTH // 2
        tonal = np.concatenate([self._tonal_tail, block[self._tonal_bins]], axis=1)
        first = stop - tonal.shape[1]  # the song's frame of tonal's first column
        filtered = scipy.ndimage.median_filter(tonal, size=(1, self._TONAL_WIDTH))
        # Columns whose 9 frames all lie in ``tonal``, or run past the song's own start or end
        # (mirrored there, as over the whole magnitude).
        lo = 0 if first == 0 else half
        hi = tonal.shape[1] if stop == self.n_frames else tonal.shape[1] - half
        done = filtered[:, lo:hi]
        frames = slice(first + lo, first + hi)
        self.chroma[:, frames] = self._tonal_chroma @ done
        self.bass[:, frames] = self._bass_chroma @ done[self._bass_bins]
        self._tonal_tail = tonal[:, max(0, hi - half) :]

    def normalised_mel(self) -> np.ndarray:
        """:func:`normalised_mel` of the whole magnitude."""
        return _normalised(self.mel, self.frame_peak)


@functools.cache
def _mel_filter() -> tuple[np.ndarray, int]:
    """The mel filter bank, and the first bin at ``MEL_FMIN`` and up."""
    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN, fmax=11000.0)
    first = int(np.searchsorted(librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT), MEL_FMIN))
    return mel_basis, first


def _mel_and_peak(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mel bands of magnitude frames, and each frame's strongest bin at 30 Hz and up, where the
    mel bands start (a DC offset, bin 0, would otherwise set the scale and leave the music near zero)."""
    mel_basis, first = _mel_filter()
    return mel_basis @ spectrum, spectrum[first:].max(axis=0)


def _normalised(mel: np.ndarray, frame_peak: np.ndarray) -> np.ndarray:
    """Mel bands relative to the 99th percentile of the frames' maxima (a click cannot set it alone)."""
    return mel / (float(np.percentile(frame_peak, 99)) + 1e-12)


def frame_rms(y: np.ndarray, *, block_frames: int = 4096, offset: float = 0.0) -> np.ndarray:
    """``librosa.feature.rms(y=y - offset, frame_length=N_FFT, hop_length=HOP_LENGTH)[0]``, a block
    of frames at a time: librosa squares every frame's samples at once, four times the song's own
    size, and a padded copy of the song is not needed either."""
    rms = np.empty(1 + len(y) // HOP_LENGTH, dtype=y.dtype)
    for start, piece in centred_pieces(y, n_fft=N_FFT, hop_length=HOP_LENGTH, block_frames=block_frames, offset=offset):
        block = librosa.util.frame(piece, frame_length=N_FFT, hop_length=HOP_LENGTH)
        rms[start : start + block.shape[1]] = np.sqrt(np.mean(np.abs(block) ** 2, axis=0))
    return rms


def normalised_mel(spectrum: np.ndarray) -> np.ndarray:
    """Mel spectrogram of an STFT magnitude, relative to the loudest frames' strongest bins.

    Parameters
    ----------
    spectrum : np.ndarray [shape=(N_FFT // 2 + 1, t)]
        STFT magnitude at 22050 Hz, ``N_FFT`` samples, hop ``HOP_LENGTH``.

    Returns
    -------
    np.ndarray [shape=(N_MELS, t)]
        Scale-free magnitudes (the 99th percentile of the frames' maxima is 1, so a click cannot
        set it alone); ``log1p(LOG_MEL_SCALE * ...)`` of it is what the trackers read.
    """
    return _normalised(*_mel_and_peak(spectrum))


def _chord_change(chroma: np.ndarray, *, width: int = 8) -> np.ndarray:
    """Frame-rate harmonic change: cosine distance between the mean chroma of the ``width``
    frames before and the ``width`` frames from each frame on, 0..1 (0 in the first and last
    ``width`` frames, which lack one side)."""
    n = chroma.shape[1]
    change = np.zeros(n)
    if n <= 2 * width:
        return change
    total = np.pad(np.cumsum(chroma, axis=1), ((0, 0), (1, 0)))
    t = np.arange(width, n - width)
    before = total[:, t] - total[:, t - width]
    after = total[:, t + width] - total[:, t]
    cos = (before * after).sum(axis=0) / (np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0) + 1e-9)
    change[t] = np.clip(1.0 - cos, 0.0, 1.0)
    return change


def _active_frames(rms_db: np.ndarray) -> np.ndarray:
    """Frames with sound: within 50 dB of the loud part, and above ``SOUND_FLOOR_DB``.

    Relative to the song's own level, so a quiet recording (mastered at -50 dBFS) keeps its quiet
    passages: the floor only tells sound from digital silence and dither.
    """
    loud = np.percentile(rms_db, 95)
    active = (rms_db > loud - 50.0) & (rms_db > SOUND_FLOOR_DB)
    # Bridge short gaps (rests, stops) so only real silences split the song; pad with the edge
    # values first, as closing would otherwise erode the first and last half second.
    width = int(FPS)
    padded = np.pad(active, width, mode="edge")
    return scipy.ndimage.binary_closing(padded, structure=np.ones(width))[width:-width]


def _track_beat_frames(
    onset: np.ndarray, active: np.ndarray, *, min_bpm: float, max_bpm: float, normalise: bool,
    log_prior: Callable[[np.ndarray], np.ndarray], min_beat_states: int = 1, activation_floor: float = 1e-4,
    transition_lambda: float = TRANSITION_LAMBDA,
) -> tuple[np.ndarray, float]:
    """Beat frames from a beat activation (an onset envelope to ``normalise``, or a beat
    probability) with the (period, position) DBN, only where active, and their salience: the
    mean activation at the beats over its mean everywhere. ``log_prior`` maps tempi (BPM) to the
    log prior of each beat period."""
    first, last = np.flatnonzero(active)[[0, -1]]
    envelope = onset[first : last + 1]
    activation = envelope
    if normalise:
        # Over its moving maximum (about 3 s): soft passages count as much as loud ones.
        activation = envelope / (scipy.ndimage.maximum_filter1d(envelope, size=int(3 * FPS)) + 1e-9)
    activation = np.clip(activation, activation_floor, 1 - 1e-4)
    intervals = np.unique(np.round(60.0 * FPS / np.geomspace(max_bpm, min_bpm, 80)).astype(np.int64))
    bpm = 60.0 * FPS / intervals
    log_trans = beat_transitions(intervals, transition_lambda=transition_lambda, log_prior=log_prior(bpm))
    beat_states = np.maximum(min_beat_states, intervals // OBSERVATION_LAMBDA).astype(np.int64)
    log_beat = np.log(activation)
    log_other = np.log((1 - activation) / (OBSERVATION_LAMBDA - 1))
    starts, periods = viterbi_beats(log_beat, log_other, intervals, log_trans, beat_states)
    # Place each beat on the strongest onset inside its beat region.
    regions = [(max(s, 0), s + beat_states[p]) for s, p in zip(starts, periods)]
    frames = np.array([lo + int(np.argmax(envelope[lo:hi])) for lo, hi in regions], dtype=np.int64)
    # The decoder finds a pulse in anything; in noise its beats sit on activation barely above
    # the average (from the argmax alone), in music on onsets that clearly stand out.
    salience = float(activation[frames].mean() / activation.mean()) if len(frames) else 0.0
    frames += first
    return frames[active[frames]], salience


def _log_normal_prior(bpm: np.ndarray) -> np.ndarray:
    """The dsp tracker's tempo prior: log-normal around ``TEMPO_PRIOR_BPM``, ``TEMPO_PRIOR_OCTAVES`` wide."""
    return -0.5 * (np.log2(bpm / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES) ** 2


def _tempo_head_prior(probabilities: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The network's tempo prior from its tempo head's ``probabilities`` over ``beat_net.TEMPO_BPM``."""
    from pipelines.music.beat_net import TEMPO_BPM

    relative = probabilities / probabilities.max()

    def log_prior(bpm: np.ndarray) -> np.ndarray:
        return np.log(np.interp(np.log(bpm), np.log(TEMPO_BPM), relative) + NET_TEMPO_FLOOR)

    return log_prior


def _trim_faint_ends(frames: np.ndarray, activation: np.ndarray, floor: float) -> np.ndarray:
    """``frames`` without the leading and trailing beats whose activation (its peak within two
    frames) is below ``floor``: where the decoder kept the pulse going before the music's beat
    starts or after it ends."""
    peaks = _peak_near(activation, frames)
    strong = np.flatnonzero(peaks >= floor)
    return frames[strong[0] : strong[-1] + 1] if len(strong) else frames[:0]


def _fill_holes(frames: np.ndarray, activation: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``frames`` with the beats put back where the decoder left a hole in a steady pulse.

    Where an interval between two beats is close to a whole multiple (2, 3, ...) of the beat
    period around it (the median of the ordinary intervals within ``HOLE_CONTEXT`` beats either
    side) and the music sounds throughout (``active``), the missing beats are placed evenly
    inside it, each on the strongest ``activation`` within two frames. A silence or a break is
    not active and keeps its gap; a tempo change is no whole multiple and keeps its beats.
    """
    if len(frames) < 4:
        return frames
    intervals = np.diff(frames).astype(np.float64)
    ordinary = intervals < HOLE_RATIO * np.median(intervals)
    added = []
    for i in np.flatnonzero(~ordinary):
        around = slice(max(i - HOLE_CONTEXT, 0), i + HOLE_CONTEXT + 1)
        near = intervals[around][ordinary[around]]
        # Inside a long stretch without ordinary beats near, the song's ordinary period.
        period = float(np.median(near if len(near) >= 4 else intervals[ordinary]))
        count = int(round(intervals[i] / period))
        if count < 2 or abs(intervals[i] / period - count) > HOLE_TOLERANCE:
            continue
        lo, hi = frames[i], frames[i + 1]
        if not active[lo:hi].all():
            continue
        for k in range(1, count):
            guess = int(round(lo + k * (hi - lo) / count))
            first = max(guess - 2, 0)
            added.append(first + int(np.argmax(activation[first : guess + 3])))
    return np.sort(np.concatenate([frames, np.array(added, dtype=np.int64)])) if added else frames


def _peak_near(signal: np.ndarray, frames: np.ndarray, *, before: int = 2, after: int = 2) -> np.ndarray:
    """``signal``'s peak from ``before`` frames ahead of each of ``frames`` to ``after`` frames past it."""
    return np.array([signal[max(f - before, 0) : f + after + 1].max() for f in frames])


def _kick_phase(frames: np.ndarray, low: np.ndarray, activation: np.ndarray | None = None) -> np.ndarray:
    """``frames``, or the points halfway between them where the low band (kick, bass) hits harder
    there than on them: the decoder followed the off-beats of a song whose loudest onsets are off
    the beat (a skank's upstrokes, a metal song's snare and cymbal pushes) while its kick and bass
    keep the beat. The low band's flux is read at its peak within two frames of each point.

    With the beat network's ``activation``, ``frames`` stay where the network hears next to no beat
    halfway between them (under ``NET_KICK_TRUST`` of what it hears on them): it is sure of the
    phase there, as in pieces without drums, whose low band is a bass line, often off the beat."""
    if len(frames) < 8:
        return frames

    halfway = np.round((frames[1:] + frames[:-1]) / 2).astype(np.int64)
    sure = activation is not None and (
        _peak_near(activation, halfway).mean() < NET_KICK_TRUST * _peak_near(activation, frames[1:-1]).mean()
    )
    if sure:
        return frames
    return halfway if _peak_near(low, halfway).mean() > _peak_near(low, frames[1:-1]).mean() else frames


def _track_bars(frames: np.ndarray, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Bar position and meter of each beat from harmonic, bass and low-band changes."""
    columns = _bar_features(frames, features)
    score = columns @ DOWNBEAT_WEIGHTS + DOWNBEAT_BIAS
    down = np.clip(1.0 / (1.0 + np.exp(-score)), 1e-3, 1 - 1e-3)
    positions, beats_per_bar = viterbi_bars(np.log(down), np.log1p(-down), METERS, np.log(METER_PRIOR), np.log(1e-3))
    # Pop's kick and bass hit 1 and 3 alike, so the onset columns cannot tell them apart and the
    # bar model may start bars on beat 3. Chords (and bass notes) change on beat 1: when the
    # half-bar beats carry clearly more harmonic change than the chosen downbeats, shift 4/4
    # bars by two beats.
    harmonic = columns[:, :HARMONIC_COLUMNS].sum(axis=1)
    four = beats_per_bar == 4
    downs, halves = harmonic[four & (positions == 0)], harmonic[four & (positions == 2)]
    if min(len(downs), len(halves)) > 2 and halves.mean() - downs.mean() > HALF_BAR_MARGIN:
        positions[four] = (positions[four] + 2) % 4
    return positions, beats_per_bar


def _track_bars_net(
    frames: np.ndarray, beat: np.ndarray, down: np.ndarray, features: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Bar position and meter of each beat from the network's downbeat activation and the
    harmonic, bass and low-band changes at each beat (``_net_bar_columns``), each stretch of one
    meter's bar phase then chosen from the whole stretch (``_bar_phase``)."""
    columns = _net_bar_columns(frames, beat, down, features)
    positions, meters = _net_bars(columns)
    return _bar_phase(positions, meters, columns), meters


def _net_bars(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bar position and meter of each beat, beat by beat, from its ``_net_bar_columns``."""
    score = columns @ NET_DOWNBEAT_WEIGHTS + NET_DOWNBEAT_BIAS
    p = np.clip(1.0 / (1.0 + np.exp(-score)), 1e-3, 1 - 1e-3)
    return viterbi_bars(np.log(p), np.log1p(-p), METERS, np.log(NET_METER_PRIOR), np.log(NET_METER_SWITCH))


def _meter_stretches(meters: np.ndarray) -> list[np.ndarray]:
    """The indices of each run of beats of one meter."""
    return np.split(np.arange(len(meters)), np.flatnonzero(np.diff(meters)) + 1) if len(meters) else []


def _phase_candidates(columns: np.ndarray, positions: np.ndarray, meter: int) -> np.ndarray:
    """[shape=(meter, len(PHASE_OFFSETS) * 9)]: for each shift of a stretch's bar positions (row k: the
    beats at position ``(-k) % meter`` start the bars), the mean ``columns`` on that beat of the
    bar, on the beat after it and on the beat before it, each less the mean over the bar."""
    present = np.array([np.any(positions % meter == k) for k in range(meter)])
    profile = np.zeros((meter, columns.shape[1]))
    for k in np.flatnonzero(present):
        profile[k] = columns[positions % meter == k].mean(axis=0)
    # Less the mean over the beats of the bar the stretch has (a missing one reads as average).
    profile[present] -= profile[present].mean(axis=0)
    rows = []
    for shift in range(meter):
        first = (-shift) % meter
        rows.append(np.concatenate([profile[(first + offset) % meter] for offset in PHASE_OFFSETS]))
    return np.array(rows)


def _bar_phase(positions: np.ndarray, meters: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``positions`` with each stretch of one meter's bars moved to start on the beat of the bar
    that ``NET_PHASE_WEIGHTS`` score highest from the whole stretch's bar evidence: a bossa nova's or
    a march's beat 3, a tango's beat 2 or 4, a 5/4 vamp's beat 5, which the bar model took for beat
    1 beat by beat. One beat's harmonic change or accent says little; a song's worth of them says
    where its bars start, so the phase is chosen for the stretch, not beat by beat. Where two
    stretches meet, the bar across the boundary can come out shorter or longer than either meter."""
    positions = positions.copy()
    for run in _meter_stretches(meters):
        meter = int(meters[run[0]])
        if len(run) < 3 * meter:
            continue
        weights = NET_PHASE_WEIGHTS[int(np.searchsorted(METERS, meter))]
        scores = _phase_candidates(columns[run], positions[run], meter) @ weights
        positions[run] = (positions[run] + int(np.argmax(scores))) % meter
    return positions


def _net_bar_columns(
    frames: np.ndarray, beat: np.ndarray, down: np.ndarray, features: dict[str, np.ndarray]
) -> np.ndarray:
    """Per-beat evidence for a bar start [shape=(b, 9)]: the logit of the network's downbeat
    probability (over its beat probability, near the beat), then ``_bar_features``."""
    p = _peak_near(down, frames) / np.maximum(_peak_near(beat, frames), 1e-3)
    # Where the network is unsure of every bar start (its downbeats faint throughout), lift them.
    p = p * max(1.0, NET_DOWNBEAT_FLOOR / (np.percentile(p, 90) + 1e-9))
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.column_stack([np.log(p) - np.log1p(-p), _bar_features(frames, features)])


def _bar_features(frames: np.ndarray, features: dict[str, np.ndarray]) -> np.ndarray:
    """Per-beat evidence for a bar start, robust z-scores [shape=(b, 8)]."""
    bounds = np.append(frames, frames[-1] + int(np.median(np.diff(frames))))
    bounds = np.minimum(bounds, features["onset"].shape[0])
    chroma = librosa.util.sync(features["chroma"], bounds, aggregate=np.mean, pad=False)
    bass = librosa.util.sync(features["bass"], bounds, aggregate=np.mean, pad=False)
    low, onset = _peak_near(features["low"], frames), _peak_near(features["onset"], frames)
    level = _peak_near(features["rms_db"], frames, after=5)
    columns = [
        _novelty(chroma, width=1), _novelty(chroma, width=2), _novelty(chroma, width=4),
        _novelty(bass, width=1), _novelty(bass, width=2), low, onset, level,
    ]
    return np.stack([_robust_z(c) for c in columns], axis=1)


def _novelty(beat_chroma: np.ndarray, *, width: int) -> np.ndarray:
    """Harmonic change at each beat: cosine distance between the mean chroma of the ``width``
    beats before it and the ``width`` beats from it on (Foote's novelty, at beat rate)."""
    padded = np.pad(beat_chroma, ((0, 0), (width, width)), mode="edge")
    n = beat_chroma.shape[1]
    before = np.stack([padded[:, k : k + width].mean(axis=1) for k in range(n)], axis=1)
    after = np.stack([padded[:, k + width : k + 2 * width].mean(axis=1) for k in range(n)], axis=1)
    before /= np.linalg.norm(before, axis=0, keepdims=True) + 1e-9
    after /= np.linalg.norm(after, axis=0, keepdims=True) + 1e-9
    return 1.0 - (before * after).sum(axis=0)


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    spread = np.median(np.abs(values - median)) * 1.4826 + 1e-9
    return np.clip((values - median) / spread, -3.0, 3.0)


def _tempo_curve(beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local tempo between consecutive beats, median-smoothed over five beats."""
    bpm = 60.0 / np.diff(beats)
    if len(bpm) >= 5:
        bpm = scipy.signal.medfilt(bpm, 5)
    return (beats[1:] + beats[:-1]) / 2, bpm
