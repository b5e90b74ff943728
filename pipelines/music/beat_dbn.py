"""Viterbi decoders for beat tracking: a (tempo, phase) beat model and a (meter, position) bar model.

The beat model follows Krebs, Böck & Widmer, "An efficient state-space model for joint tempo and
meter tracking" (ISMIR 2015), as madmom's ``DBNBeatTrackingProcessor`` does: a state is a beat
period in frames and a position inside it; the position advances one frame per frame, and the
tempo may change only when a beat is passed. Only the first ``1/observation_lambda`` of each
period are "beat" states. The bar model runs over beats: a state is a meter (beats per bar) and
the beat's position in the bar.
"""

from __future__ import annotations

import numba
import numpy as np


def beat_transitions(intervals: np.ndarray, *, transition_lambda: float, log_prior: np.ndarray) -> np.ndarray:
    """Log probabilities of moving from one beat period to another at a beat.

    Parameters
    ----------
    intervals : np.ndarray [shape=(k,), int]
        Beat periods, in frames.
    transition_lambda : float > 0
        How strongly tempo changes are penalised: ``exp(-lambda * |ratio - 1|)``.
    log_prior : np.ndarray [shape=(k,)]
        Log prior of each period, added on entering it.

    Returns
    -------
    np.ndarray [shape=(k, k)]
        ``[i, j]``: from period ``i`` to period ``j``; each row is a normalised distribution
        before the prior is added.
    """
    ratio = intervals[None, :] / intervals[:, None]
    log_p = -transition_lambda * np.abs(ratio - 1.0)
    log_p -= np.logaddexp.reduce(log_p, axis=1, keepdims=True)
    return log_p + log_prior[None, :]


@numba.njit(cache=True)
def viterbi_beats(log_beat, log_other, intervals, log_trans, beat_states):
    """Most likely (period, position) path; returns the frames where a beat region starts.

    Parameters
    ----------
    log_beat, log_other : np.ndarray [shape=(t,)]
        Log likelihood of each frame's observation in a beat state / any other state.
    intervals : np.ndarray [shape=(k,), int64]
        Beat periods, in frames.
    log_trans : np.ndarray [shape=(k, k)]
        From :func:`beat_transitions`.
    beat_states : np.ndarray [shape=(k,), int64]
        How many positions at the start of each period count as beat states.

    Returns
    -------
    starts : np.ndarray [shape=(b,), int64]
        Frames where the path enters position 0 (a beat region starts); the first is negative
        when frame 0 lies inside a beat region that began before it.
    periods : np.ndarray [shape=(b,), int64]
        The period index the path takes at each of them.
    """
    n_frames = log_beat.shape[0]
    k = intervals.shape[0]
    offsets = np.zeros(k + 1, dtype=np.int64)
    for i in range(k):
        offsets[i + 1] = offsets[i] + intervals[i]
    n_states = offsets[k]
    score = np.full(n_states, -np.log(n_states))
    new = np.empty(n_states)
    back = np.empty((n_frames, k), dtype=np.int16)
    for i in range(k):
        for p in range(intervals[i]):
            score[offsets[i] + p] += log_beat[0] if p < beat_states[i] else log_other[0]
    for t in range(1, n_frames):
        for j in range(k):
            best = -np.inf
            arg = 0
            for i in range(k):
                value = score[offsets[i + 1] - 1] + log_trans[i, j]
                if value > best:
                    best = value
                    arg = i
            new[offsets[j]] = best + log_beat[t]
            back[t, j] = arg
            for p in range(1, intervals[j]):
                new[offsets[j] + p] = score[offsets[j] + p - 1] + (log_beat[t] if p < beat_states[j] else log_other[t])
        score, new = new, score
    # Backtrack: inside a period the predecessor is the previous position.
    state = np.argmax(score)
    period = 0
    while offsets[period + 1] <= state:
        period += 1
    position = state - offsets[period]
    starts = []
    periods = []
    for t in range(n_frames - 1, 0, -1):
        if position == 0:
            starts.append(t)
            periods.append(period)
            period = back[t, period]
            position = intervals[period] - 1
        else:
            position -= 1
    if position < beat_states[period]:
        # Frame 0 is inside a beat region that began before it (a song that starts on a beat).
        starts.append(-position)
        periods.append(period)
    return np.array(starts[::-1], dtype=np.int64), np.array(periods[::-1], dtype=np.int64)


@numba.njit(cache=True)
def viterbi_bars(log_down, log_other, meters, log_meter_prior, log_switch):
    """Most likely bar position of each beat, with meters allowed to change at a bar line.

    Parameters
    ----------
    log_down, log_other : np.ndarray [shape=(b,)]
        Log likelihood of each beat's features if it is / is not a downbeat.
    meters : np.ndarray [shape=(m,), int64]
        Candidate beats per bar.
    log_meter_prior : np.ndarray [shape=(m,)]
        Log prior of each meter, added at every bar line.
    log_switch : float
        Log probability of changing meter at a bar line.

    Returns
    -------
    positions : np.ndarray [shape=(b,), int64]
        Position of each beat in its bar (0 = downbeat).
    beats_per_bar : np.ndarray [shape=(b,), int64]
        The meter each beat belongs to.
    """
    n = log_down.shape[0]
    m = meters.shape[0]
    offsets = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        offsets[i + 1] = offsets[i] + meters[i]
    n_states = offsets[m]
    score = np.full(n_states, -np.log(n_states))
    new = np.empty(n_states)
    back = np.empty((n, m), dtype=np.int64)
    log_stay = np.log1p(-np.exp(log_switch))
    for i in range(m):
        for p in range(meters[i]):
            score[offsets[i] + p] += log_down[0] if p == 0 else log_other[0]
    for t in range(1, n):
        for j in range(m):
            best = -np.inf
            arg = 0
            for i in range(m):
                value = score[offsets[i + 1] - 1] + (log_stay if i == j else log_switch - np.log(max(m - 1.0, 1.0)))
                if value > best:
                    best = value
                    arg = i
            new[offsets[j]] = best + log_meter_prior[j] + log_down[t]
            back[t, j] = arg
            for p in range(1, meters[j]):
                new[offsets[j] + p] = score[offsets[j] + p - 1] + log_other[t]
        score, new = new, score
    state = np.argmax(score)
    meter = 0
    while offsets[meter + 1] <= state:
        meter += 1
    position = state - offsets[meter]
    positions = np.empty(n, dtype=np.int64)
    beats_per_bar = np.empty(n, dtype=np.int64)
    for t in range(n - 1, -1, -1):
        positions[t] = position
        beats_per_bar[t] = meters[meter]
        if t == 0:
            break
        if position == 0:
            meter = back[t, meter]
            position = meters[meter] - 1
        else:
            position -= 1
    return positions, beats_per_bar
