"""An online (causal) beat tracker: audio blocks in, tempo, beat phase, downbeats and the next beats out.

The offline tracker (:mod:`pipelines.music.beats`) reads a whole song: its network sees 24 s on
either side of every frame and a Viterbi decoder chooses the best path through all of it. Live,
only the past exists. This tracker keeps the same pieces and makes them causal:

1. **Features as they come.** Each block of samples extends the STFT (``N_FFT``, ``HOP_LENGTH``
   at 22050 Hz, frames centred as librosa centres them) and the log mel spectrogram the network
   reads. The offline scale (the 99th percentile of the frames' maxima over the whole song)
   becomes the same percentile over the last ``NORM_SECONDS``.
2. **The beat network on a rolling window.** Every ``UPDATE_FRAMES`` new frames the network
   (:mod:`pipelines.music.beat_net`, the offline tracker's own weights) reads the last
   ``WINDOW_SECONDS``; its beat and downbeat probabilities are used ``LAG_FRAMES`` behind the
   newest frame, where the frames after them have been heard (about 8 ms of compute per run).
3. **A forward filter instead of Viterbi.** The same (beat period, position) state space as the
   offline decoder (Krebs, Böck & Widmer 2015; madmom's ``DBNBeatTrackingProcessor`` runs it
   online the same way), updated frame by frame with the forward algorithm. Its most likely
   state gives the period and the position in the current beat; the beat itself is put on the
   activation's peak in that beat region, as offline.
4. **Forecast.** From the last beat and the period, every beat to come is predicted; the
   conductor (:mod:`pipelines.live.conductor`) schedules pulses on them ahead of time, so that a
   pulse lands on the beat rather than one analysis window late.
5. **Downbeats** from the network's downbeat probability at each beat, summed per position in
   the bar over the last bars (a bar-phase prior shared by the whole stretch), for 3 and 4 beats
   per bar; 4 unless 3 is clearly better.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.music import beat_net
from pipelines.music.beat_dbn import beat_transitions
from pipelines.music.beats import FPS, HOP_LENGTH, LOG_MEL_SCALE, MEL_FMIN, N_FFT, N_MELS, SAMPLE_RATE

WINDOW_SECONDS = 6.0
"""How much of the past the network reads at each update."""
UPDATE_FRAMES = 4
"""Network runs every this many STFT frames (46 ms)."""
LAG_FRAMES = 8
"""The filter reads the network's output this many frames (93 ms) behind the newest audio."""
NORM_SECONDS = 10.0
"""The level scale follows the loudest frames of this much of the past."""
MIN_BPM, MAX_BPM = 60.0, 200.0
"""Tempo range followed live (club music, and its half and double readings)."""
TRANSITION_LAMBDA = 30.0
OBSERVATION_LAMBDA = 16
MIN_BEAT_STATES = 4
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
LOCK_ACTIVATION = 0.25
"""The tracker says it is locked when the network's peaks at its last beats average above this."""
DOWNBEAT_MEMORY = 0.93
"""Per beat: how much of the bar-phase evidence of the beat before is kept (about 4 bars)."""
SILENCE_RMS = 1e-3


@dataclass(frozen=True)
class Forecast:
    """What the tracker knows at audio time ``time``: the last beat and the beats to come.

    Beats are numbered from the first one heard; beat ``number + k`` is predicted at
    ``beat + k * period``.
    """

    time: float
    locked: bool
    beat: float
    number: int
    period: float
    meter: int = 4
    bar_phase: int = 0
    """A beat ``n`` is a downbeat when ``(n - bar_phase) % meter == 0``."""

    @property
    def bpm(self) -> float:
        return 60.0 / self.period

    def count(self, time: float) -> float:
        """The beat count at ``time`` (``number`` at ``beat``, one more each period)."""
        return self.number + (time - self.beat) / self.period

    def time_of(self, count: float) -> float:
        return self.beat + (count - self.number) * self.period

    def beats_between(self, start: float, end: float) -> list[tuple[float, int]]:
        """Predicted (or past) beats with ``start <= time < end``: (time, number)."""
        first = math.ceil((start - self.beat) / self.period - 1e-9)
        found = []
        k = first
        while (at := self.beat + k * self.period) < end:
            found.append((at, self.number + k))
            k += 1
        return found

    def is_downbeat(self, number: int) -> bool:
        return (number - self.bar_phase) % self.meter == 0

    def next_downbeat(self, count: float) -> int:
        """The number of the first downbeat at or after beat count ``count``."""
        n = math.ceil(count - 1e-9)
        return n + (self.bar_phase - n) % self.meter


FREE_RUNNING = Forecast(time=0.0, locked=False, beat=0.0, number=0, period=0.5)
"""Before any beat is heard: 120 BPM from time 0, not locked."""


class OnlineBeatTracker:
    """Feed it mono blocks of samples; ask it for a :class:`Forecast` at any time (thread-safe).

    Parameters
    ----------
    sample_rate : int
        Rate of the blocks given to :meth:`feed`; resampled to 22050 Hz as they come.
    min_bpm, max_bpm : float
        Tempo range.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM):
        import librosa

        if not 0 < min_bpm < max_bpm:
            raise BeatwalkError(f"tempo range must satisfy 0 < min < max, got {min_bpm:g}..{max_bpm:g}")
        self.sample_rate = int(sample_rate)
        self._resampler = None
        if self.sample_rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, SAMPLE_RATE, 1, dtype="float32")
        self._lock = threading.Lock()
        # Features
        self._window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # librosa's periodic Hann
        self._mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=MEL_FMIN, fmax=11000.0)
        self._first_bin = int(np.searchsorted(librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT), MEL_FMIN))
        self._samples = np.zeros(N_FFT // 2, dtype=np.float32)  # librosa's centring pad
        self._consumed = 0  # samples dropped from the front of _samples
        self._frames = 0  # STFT frames computed
        window = int(round(WINDOW_SECONDS * FPS))
        self._mel = np.zeros((N_MELS, window), dtype=np.float32)  # ring of the last frames' mel magnitudes
        self._peaks = np.zeros(int(round(NORM_SECONDS * FPS)), dtype=np.float32)
        self._rms = np.zeros(int(round(2 * FPS)), dtype=np.float32)
        self._beat_act = np.zeros(window, dtype=np.float64)  # by frame, ring (absolute frame % window)
        self._down_act = np.zeros(window, dtype=np.float64)
        self._since_update = 0
        # The (period, position) filter
        intervals = np.unique(np.round(60.0 * FPS / np.geomspace(max_bpm, min_bpm, 80)).astype(np.int64))
        bpm = 60.0 * FPS / intervals
        prior = -0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2
        self._intervals = intervals
        self._trans = np.exp(beat_transitions(intervals, transition_lambda=TRANSITION_LAMBDA, log_prior=prior))
        self._first = np.concatenate([[0], np.cumsum(intervals)[:-1]])
        self._last = self._first + intervals - 1
        sizes = np.maximum(MIN_BEAT_STATES, intervals // OBSERVATION_LAMBDA)
        self._beat_region = sizes
        is_beat = np.zeros(int(intervals.sum()), dtype=bool)
        self._period_of = np.repeat(np.arange(len(intervals)), intervals)
        self._position_of = np.arange(len(is_beat)) - self._first[self._period_of]
        is_beat[self._position_of < sizes[self._period_of]] = True
        self._is_beat = is_beat
        self._alpha = np.full(len(is_beat), 1.0 / len(is_beat))
        self._fed = 0  # frames the filter has read
        # Beats
        self._beats: list[tuple[float, int, float]] = []  # (time, number, peak activation), the last few
        self._number = -1
        self._period = 0.5
        self._bar_scores = {3: np.zeros(3), 4: np.zeros(4)}
        self._scored = -1  # last beat number whose downbeat evidence is counted
        self._forecast = FREE_RUNNING
        self._level = 0.0

    # -- input ---------------------------------------------------------------------------------

    def feed(self, block: np.ndarray) -> None:
        """Add the next block of mono samples (any length, at ``sample_rate``)."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(block)):
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        with self._lock:
            self._samples = np.concatenate([self._samples, block])
            # Every frame whose window is complete: frame k is centred on sample k * HOP_LENGTH.
            while (self._frames * HOP_LENGTH + N_FFT // 2) - self._consumed <= len(self._samples) - N_FFT // 2:
                start = self._frames * HOP_LENGTH - self._consumed
                self._add_frame(self._samples[start : start + N_FFT])
            keep = self._frames * HOP_LENGTH - self._consumed
            if keep > 0:
                self._samples = self._samples[keep:]
                self._consumed += keep

    @property
    def audio_time(self) -> float:
        """Seconds of audio read so far."""
        return self._frames / FPS

    def forecast(self) -> Forecast:
        with self._lock:
            return self._forecast

    @property
    def level(self) -> float:
        """RMS of the last 2 s of input (0..1 for full-scale audio)."""
        return self._level

    # -- steps ---------------------------------------------------------------------------------

    def _add_frame(self, samples: np.ndarray) -> None:
        spectrum = np.abs(np.fft.rfft(self._window * samples)).astype(np.float32)
        slot = self._frames % self._mel.shape[1]
        self._mel[:, slot] = self._mel_basis @ spectrum
        self._peaks[self._frames % len(self._peaks)] = spectrum[self._first_bin :].max()
        hop = samples[N_FFT // 2 - HOP_LENGTH // 2 : N_FFT // 2 + HOP_LENGTH // 2]
        self._rms[self._frames % len(self._rms)] = float(np.sqrt(np.mean(hop.astype(np.float64) ** 2)))
        self._frames += 1
        self._since_update += 1
        if self._since_update >= UPDATE_FRAMES:
            self._since_update = 0
            self._update()

    def _update(self) -> None:
        # 1. The network over the window, in time order (the ring unrolled)
        window = self._mel.shape[1]
        n = min(self._frames, window)
        order = (np.arange(self._frames - n, self._frames)) % window
        seen = min(self._frames, len(self._peaks))
        peak = float(np.percentile(self._peaks[:seen], 99)) + 1e-12
        log_mel = np.log1p(LOG_MEL_SCALE * self._mel[:, order] / peak)
        self._level = float(np.sqrt(np.mean(self._rms[: min(self._frames, len(self._rms))] ** 2)))
        beat, down = beat_net.activations(log_mel)
        frames = np.arange(self._frames - n, self._frames)
        self._beat_act[frames % window] = beat
        self._down_act[frames % window] = down
        # 2. The filter reads every frame now LAG_FRAMES old
        upto = self._frames - LAG_FRAMES
        for f in range(max(self._fed, self._frames - n), upto):
            self._step(self._beat_act[f % window])
            self._fed = f + 1
        if self._fed > 0:
            self._read_state()

    def _step(self, activation: float) -> None:
        a = self._alpha
        wrap = a[self._last] @ self._trans
        new = np.empty_like(a)
        new[1:] = a[:-1]
        new[self._first] = wrap
        p = min(max(activation, 1e-4), 1 - 1e-4)
        new *= np.where(self._is_beat, p, (1 - p) / (OBSERVATION_LAMBDA - 1))
        total = new.sum()
        self._alpha = new / total if total > 0 else np.full_like(a, 1.0 / len(a))

    def _read_state(self) -> None:
        window = self._mel.shape[1]
        f = self._fed - 1  # the frame the filter has just read
        best = int(np.argmax(self._alpha))
        k, position = int(self._period_of[best]), int(self._position_of[best])
        # The period: the posterior's mean over the periods near the best one (finer than a frame).
        mass = np.add.reduceat(self._alpha, self._first)
        near = np.abs(self._intervals / self._intervals[k] - 1) <= 0.06
        period_frames = float((mass[near] * self._intervals[near]).sum() / mass[near].sum())
        # The beat: the activation's peak inside the current beat region, as offline.
        region = int(self._beat_region[k])
        start = f - position
        lo, hi = max(start, self._fed - window + LAG_FRAMES, 0), min(start + region, self._fed)
        if hi <= lo:
            return
        frames = np.arange(lo, hi)
        values = self._beat_act[frames % window]
        beat_frame = int(frames[int(np.argmax(values))])
        beat_time = beat_frame / FPS
        period = period_frames / FPS
        peak = float(values.max())
        if not self._beats or beat_time - self._beats[-1][0] > 0.5 * period:
            step = 1 if not self._beats else max(1, round((beat_time - self._beats[-1][0]) / period))
            self._number += step
            self._beats.append((beat_time, self._number, peak))
        else:
            self._beats[-1] = (beat_time, self._number, max(peak, self._beats[-1][2]))
        del self._beats[:-8]
        self._period = period
        self._score_bars(window)
        recent = [b[2] for b in self._beats[-4:]]
        heard = self._level > SILENCE_RMS
        locked = heard and len(self._beats) >= 3 and float(np.mean(recent)) >= LOCK_ACTIVATION
        meter, phase = self._bar_phase()
        self._forecast = Forecast(
            time=self._fed / FPS, locked=locked, beat=beat_time, number=self._number, period=period,
            meter=meter, bar_phase=phase,
        )

    def _score_bars(self, window: int) -> None:
        # Each beat's downbeat evidence, counted once the frames around it have been read.
        for time, number, _ in self._beats:
            frame = int(round(time * FPS))
            if number <= self._scored or frame + 3 > self._fed:
                continue
            lo = max(frame - 2, self._fed - window + LAG_FRAMES, 0)
            evidence = float(self._down_act[np.arange(lo, frame + 3) % window].max()) if frame + 3 > lo else 0.0
            for meter, scores in self._bar_scores.items():
                scores *= DOWNBEAT_MEMORY
                scores[number % meter] += evidence
            self._scored = number

    def _bar_phase(self) -> tuple[int, int]:
        def contrast(scores):
            return float(scores.max() - scores.mean())

        four, three = self._bar_scores[4], self._bar_scores[3]
        meter = 3 if contrast(three) > 1.5 * contrast(four) + 1e-9 else 4
        return meter, int(np.argmax(self._bar_scores[meter]))
