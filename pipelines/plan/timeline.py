"""The frame plan: where on the keyframe path every video frame lies.

A project pins prompts (keyframes) to times on the song; the walk renders a
picture for every video frame by interpolating between two keyframes. This
module decides, for every frame, *which* two keyframes and *how far* between
them, from the keyframes, the motion settings and the song's analysis. It is
pure numpy: deterministic, no torch, no I/O, and vectorised over frames.

How the visuals follow the music
--------------------------------
- **Walk speed** (transition ``"walk"``): as in stable-diffusion-videos, the
  position between two keyframes advances with the cumulative energy of the
  reactivity source (``percussive``, ``onset`` or ``bass``), so the picture
  moves on the hits and rests in the gaps. ``reactivity`` mixes constant speed
  (0) with fully energy-driven speed (1); ``smoothing`` (seconds) spreads each
  hit with a causal exponential so motion starts on the hit and then settles.
- **Holds**: a keyframe's picture stays still for ``hold`` beats (counted on
  the beat grid around it) or seconds after its time, then moves on.
- **Transitions** shape the move from a keyframe into the next: ``walk``,
  ``linear`` (constant speed), ``beats`` (one short step per beat, starting on
  the beat) and ``cut`` (stay, then jump on the downbeat nearest the next
  keyframe, or on the keyframe itself when that downbeat comes after it).
- **Easing and continuity**: a move that starts or stops at rest (after a
  hold, before a cut, at the first and last keyframe) is eased with the
  chosen curve. Where two ``walk``/``linear`` moves meet at a keyframe without
  a hold, both sides share one speed (in keyframes per second of the walk's
  clock), so the path passes the keyframe without a jolt instead of stopping.
- **Pulse**: on every beat (or downbeat, or onset) a push of size ``pulse``
  that halves every ``pulse_decay`` seconds; the walk turns it into extra
  distance from the path.
- **Offset** shifts everything the music drives (energy, beats, downbeats,
  onsets) by ``offset`` seconds; keyframe times stay where the user put them.

Frame ``i`` is shown from ``i / fps`` to ``(i + 1) / fps``. A beat, or the
energy of a hit, shows on the first frame that starts at or after it: never
before the sound (a picture a little early looks wrong sooner than one a
little late), at most one frame after it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.frames import frame_count
from pipelines.plan.easing import ease_out, shape_move

SOURCE_CURVES = {"percussive": "percussive", "onset": "onset", "bass": "low"}
"""Which ``Analysis.curves`` entry drives the walk for each ``reactivity_source``."""

BEAT_STEP = 0.5
"""A ``beats`` step lasts this fraction of a beat, so it is over before the next hit."""

FALLBACK_BPM = 120.0
"""Beat period used when the song has neither two beats nor a tempo."""

_FLOWING = frozenset({"walk", "linear"})


@dataclass(frozen=True, eq=False)
class FramePlan:
    """For every video frame, the two keyframes it lies between and where.

    Attributes
    ----------
    fps : float > 0
        Video frame rate.
    duration : float > 0
        Length of the song segment, seconds.
    times : np.ndarray [shape=(n_frames,), float64]
        Start of each frame, seconds from the start of the segment.
    key_a, key_b : np.ndarray [shape=(n_frames,), int64]
        Indices into ``project.keyframes``; equal while on or holding a keyframe.
    t : np.ndarray [shape=(n_frames,), float64]
        Position between ``key_a`` (0) and ``key_b`` (1), easing applied.
    pulse : np.ndarray [shape=(n_frames,), float64]
        Beat push, ``>= 0``; 0 means none.
    cut : np.ndarray [shape=(n_frames,), bool]
        True on the first frame after a cut (the picture jumps).
    """

    fps: float
    duration: float
    times: np.ndarray
    key_a: np.ndarray
    key_b: np.ndarray
    t: np.ndarray
    pulse: np.ndarray
    cut: np.ndarray

    _ARRAYS = ("times", "key_a", "key_b", "t", "pulse", "cut")

    @property
    def n_frames(self) -> int:
        """Number of frames, ``frame_count(duration, fps)``."""
        return len(self.times)

    def to_dict(self) -> dict:
        """Plain JSON-able form (lists): what the API's ``/plan`` answers."""
        data = {"fps": self.fps, "duration": self.duration, "n_frames": self.n_frames}
        data.update({name: getattr(self, name).tolist() for name in self._ARRAYS})
        return data

    def summary(self) -> dict:
        """A short JSON-able overview: where each keyframe shows, each move runs, each cut falls.

        Times in seconds; ``still`` is the fraction of frames where the path does not move.
        """
        position = self.key_a + self.t
        moving = np.flatnonzero(self.key_b != self.key_a)
        moves = []
        for k in np.unique(self.key_a[moving]):
            frames = moving[self.key_a[moving] == k]
            moves.append({"from": int(k), "to": int(k) + 1, "start": _seconds(self.times[frames[0]]),
                          "end": _seconds(self.times[frames[-1]] + 1 / self.fps)})  # fmt: skip
        shown = {int(k): _seconds(self.times[np.argmax(self.key_a == k)]) for k in np.unique(self.key_a)}
        return {
            "fps": self.fps,
            "duration": self.duration,
            "n_frames": self.n_frames,
            "keyframes_from": shown,
            "moves": moves,
            "cuts": [_seconds(time) for time in self.times[self.cut]],
            "pulses": int(np.count_nonzero(np.diff(self.pulse, prepend=0.0) > 0)),
            "still": round(float(np.mean(np.diff(position) == 0)) if self.n_frames > 1 else 1.0, 3),
        }


def plan_frames(project, analysis) -> FramePlan:
    """Plan every video frame of a project on its analysed song.

    Parameters
    ----------
    project : pipelines.project.Project
        Keyframes, motion settings, and ``render.fps``.
    analysis : pipelines.music.analysis.Analysis
        The song segment's analysis: ``duration``, ``tempo``, ``beats``,
        ``downbeats``, ``onsets`` (seconds) and ``curves(fps)``.

    Returns
    -------
    FramePlan
        ``frame_count(analysis.duration, project.render.fps)`` frames.

    Raises
    ------
    BeatwalkError
        A keyframe lies outside the song, or the song is shorter than a frame.

    Notes
    -----
    Keyframe times are rounded to the nearest frame (at most half a frame),
    so every keyframe has a frame of its own, ``round(time * fps)``, with
    ``key_a`` = that keyframe and ``t == 0``: with no pulse, the renderer
    reproduces the stock still there.
    """
    duration = float(analysis.duration)
    project.validate_against(duration)
    fps = float(project.render.fps)
    n_frames = frame_count(duration, fps)
    if n_frames < 1:
        raise BeatwalkError(f"the song segment ({duration:g} s) is shorter than one frame at {fps:g} fps")
    motion = project.motion
    times = np.arange(n_frames) / fps
    beats = _BeatGrid(np.asarray(analysis.beats, dtype=np.float64) + motion.offset, tempo=analysis.tempo)
    clock = _MusicClock(
        analysis.curves(fps)[SOURCE_CURVES[motion.reactivity_source]],
        fps=fps,
        reactivity=motion.reactivity,
        smoothing=motion.smoothing,
        offset=motion.offset,
    )
    downbeats = np.asarray(analysis.downbeats, dtype=np.float64) + motion.offset

    keyframes = project.keyframes
    key_times = np.clip(np.rint([k.time * fps for k in keyframes]), 0, n_frames - 1) / fps
    # 1. Every frame starts on the last keyframe at or before it (keyframe 0 before the first).
    key_a = np.maximum(np.searchsorted(key_times, times, side="right") - 1, 0)
    key_b = key_a.copy()
    t = np.zeros(n_frames)
    cut = np.zeros(n_frames, dtype=bool)

    # 2. Each move runs from the end of keyframe k's hold to keyframe k + 1.
    moves = []
    for k, (keyframe, start, end) in enumerate(zip(keyframes, key_times, key_times[1:])):
        key_time = start
        if keyframe.hold > 0:
            start = min(_held_until(keyframe, start, beats), end)
        clocked = keyframe.transition == "walk" and clock(end) - clock(start) > 0
        span = clock(end) - clock(start) if clocked else end - start
        moves.append(_Move(k, key_time, start, end, keyframe.transition, span, clocked))

    # 3. Keyframes where two flowing moves meet share one speed (see the module docstring).
    for before, after in itertools.pairwise(moves):
        flowing = before.kind in _FLOWING and after.kind in _FLOWING and after.start == after.key_time
        if flowing and before.span > 0 and after.span > 0:
            speed = 2.0 / (before.span + after.span)
            before.end_slope, after.start_slope = speed * before.span, speed * after.span

    # 4. Shape each move.
    for move in moves:
        lo, hi = np.searchsorted(times, [move.start, move.end], side="left")
        frames = times[lo:hi]
        if move.kind == "cut" or lo == hi:
            jump = _cut_time(move, downbeats) if move.kind == "cut" else move.end
            at = int(np.searchsorted(times, jump, side="left"))
            key_a[at:hi] = key_b[at:hi] = move.k + 1
            if at < n_frames:
                cut[at] = True
            continue
        key_b[lo:hi] = move.k + 1
        if move.kind == "beats":
            t[lo:hi] = _beat_steps(frames, move, beats, motion.easing)
            continue
        if move.clocked:
            progress = (clock(frames) - clock(move.start)) / move.span
        else:
            progress = (frames - move.start) / move.span
        t[lo:hi] = shape_move(np.clip(progress, 0.0, 1.0), motion.easing, move.start_slope, move.end_slope)

    pulse = _pulse(times, analysis, motion, fps=fps)
    return FramePlan(fps, duration, times, key_a, key_b, np.clip(t, 0.0, 1.0), pulse, cut)


def hold_end(keyframe, analysis) -> float:
    """When a keyframe's hold ends, seconds: ``hold`` beats on the song's beat grid, or ``hold``
    seconds, after its time (its time itself without a hold)."""
    grid = _BeatGrid(np.asarray(analysis.beats, dtype=np.float64), tempo=analysis.tempo)
    return _held_until(keyframe, keyframe.time, grid) if keyframe.hold > 0 else keyframe.time


def _held_until(keyframe, start: float, beats: _BeatGrid) -> float:
    return beats.after(start, keyframe.hold) if keyframe.hold_unit == "beats" else start + keyframe.hold


def _seconds(time: float) -> float:
    return round(float(time), 3)


# -- pieces of the plan ---------------------------------------------------------------------------


@dataclass
class _Move:
    """The move out of keyframe ``k`` (at ``key_time``): from ``start`` (after its hold) to the next
    keyframe at ``end``.

    ``span`` is its length on its clock: the music clock when ``clocked`` (a
    walk through some energy), else seconds (linear moves, and walks through
    silence at full reactivity, go at constant speed). The slopes are ``dt/du``
    at its ends (``u`` = progress on that clock, 0..1), ``None`` where it is at rest.
    """

    k: int
    key_time: float
    start: float
    end: float
    kind: str
    span: float
    clocked: bool
    start_slope: float | None = None
    end_slope: float | None = None


class _BeatGrid:
    """Beat positions as a continuous count, to measure holds and steps in beats.

    Between beats the count is linear in time; before the first and after the
    last beat it continues with the neighbouring beat period (with the tempo,
    or 120 BPM, when there are fewer than two beats).
    """

    def __init__(self, beats: np.ndarray, *, tempo: float):
        self.beats = beats
        period = 60.0 / tempo if tempo and tempo > 0 else 60.0 / FALLBACK_BPM
        if len(beats) >= 2:
            self._first_period, self._last_period = beats[1] - beats[0], beats[-1] - beats[-2]
        else:
            self._first_period = self._last_period = period
        self._origin = beats[0] if len(beats) else 0.0

    def count(self, time: float) -> float:
        b = self.beats
        if len(b) < 2 or time <= b[0]:
            return (time - self._origin) / self._first_period
        if time >= b[-1]:
            return len(b) - 1 + (time - b[-1]) / self._last_period
        return float(np.interp(time, b, np.arange(len(b))))

    def time_at(self, count: float) -> float:
        b = self.beats
        if len(b) < 2 or count <= 0:
            return self._origin + count * self._first_period
        if count >= len(b) - 1:
            return b[-1] + (count - (len(b) - 1)) * self._last_period
        return float(np.interp(count, np.arange(len(b)), b))

    def after(self, time: float, n_beats: float) -> float:
        """The time ``n_beats`` beats after ``time``, seconds."""
        return self.time_at(self.count(time) + n_beats)


class _MusicClock:
    """Cumulative walk speed: ``(1 - r) + r * energy / mean(energy)``, integrated over time.

    Reading the clock at two times and dividing by its advance over a whole
    move gives stable-diffusion-videos' normalised cumulative energy (its
    ``get_timesteps_arr``), blended with constant speed by the reactivity.
    The energy of frame window ``i`` (heard from ``i / fps``) moves the
    picture between frames ``i`` and ``i + 1`` (see the module docstring).
    Outside the song (reached through the offset) the music is silent: the
    clock runs at ``1 - r``.
    """

    def __init__(self, energy: np.ndarray, *, fps: float, reactivity: float, smoothing: float, offset: float):
        energy = _smooth(np.asarray(energy, dtype=np.float64), fps * smoothing)
        mean = energy.mean() if len(energy) else 0.0
        normalised = energy / mean if mean > 0 else np.ones_like(energy)
        speed = (1.0 - reactivity) + reactivity * normalised
        self._x = np.arange(len(speed) + 1) / fps + offset
        self._y = np.concatenate([[0.0], np.cumsum(speed) / fps])
        self._silent_speed = 1.0 - reactivity

    def __call__(self, time):
        time = np.asarray(time, dtype=np.float64)
        inside = np.interp(time, self._x, self._y)
        before = self._y[0] + (time - self._x[0]) * self._silent_speed
        after = self._y[-1] + (time - self._x[-1]) * self._silent_speed
        return np.where(time < self._x[0], before, np.where(time > self._x[-1], after, inside))


def _smooth(energy: np.ndarray, frames: float) -> np.ndarray:
    """Causal exponential smoothing with a time constant of ``frames`` frames.

    Causal, so a hit still starts the motion on its own frame; the kernel is
    renormalised at the start of the song where it has less past to average.
    """
    if frames <= 0 or len(energy) == 0:
        return energy
    kernel = np.exp(-np.arange(math.ceil(5 * frames) + 1) / frames)
    weights = np.convolve(np.ones_like(energy), kernel)[: len(energy)]
    return np.convolve(energy, kernel)[: len(energy)] / weights


def _cut_time(move: _Move, downbeats: np.ndarray) -> float:
    """When a ``cut`` move jumps: on the downbeat nearest the next keyframe, never after it.

    A cut after the keyframe would take its own frame away, so when the nearest
    downbeat comes after it (or none lies after the hold), the cut falls on the
    keyframe itself, less than half a bar before that downbeat.
    """
    before = downbeats[(downbeats > move.start) & (downbeats <= move.end)]
    after = downbeats[downbeats > move.end]
    if len(before) == 0 or (len(after) and after[0] - move.end < move.end - before[-1]):
        return move.end
    return float(before[-1])


def _beat_steps(frames: np.ndarray, move: _Move, beats: _BeatGrid, easing: str) -> np.ndarray:
    """``t`` for a ``beats`` move: one equal step per beat in the move, each starting on its beat.

    A step lasts ``BEAT_STEP`` of the local beat period (shortened to end by the
    next beat or keyframe) and uses the easing's second half, fast on the hit,
    settling after. With no beat in the move it becomes one eased move.
    """
    on = beats.beats[(beats.beats >= move.start) & (beats.beats < move.end)]
    if len(on) == 0:
        return shape_move((frames - move.start) / (move.end - move.start), easing, None, None)
    ends = np.array([min(b + BEAT_STEP * (beats.after(b, 1.0) - b), move.end) for b in on])
    ends = np.minimum(ends, np.append(on[1:], move.end))
    step = np.searchsorted(on, frames, side="right") - 1
    taken = np.maximum(step, 0)
    within = np.clip((frames - on[taken]) / (ends[taken] - on[taken]), 0.0, 1.0)
    return np.where(step < 0, 0.0, (taken + ease_out(within, easing)) / len(on))


def _pulse(times: np.ndarray, analysis, motion, *, fps: float) -> np.ndarray:
    """``pulse * 0.5 ** (time since the last event / pulse_decay)``; 0 before the first event.

    Each event counts from the first frame starting at or after it, which gets the full push.
    """
    if motion.pulse <= 0:
        return np.zeros_like(times)
    events = np.asarray(getattr(analysis, motion.pulse_on), dtype=np.float64) + motion.offset
    if len(events) == 0:
        return np.zeros_like(times)
    # The tolerance keeps an event exactly on a frame start (up to rounding) on that frame.
    event_frames = np.ceil(events * fps - 1e-6) / fps
    last = np.searchsorted(event_frames, times, side="right") - 1
    since = times - event_frames[np.maximum(last, 0)]
    return np.where(last < 0, 0.0, motion.pulse * np.exp(-math.log(2.0) * since / motion.pulse_decay))
