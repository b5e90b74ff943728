"""What each live frame shows: the walk between prompts, and pulses on the predicted beats.

Pure: numpy and the standard library, no torch. The engine asks for frame slots in order (slot
``n`` is seen at ``n / fps`` seconds of the session), each with the tracker's latest
:class:`~pipelines.live.tracker.Forecast`; the conductor answers with a :class:`Slot`, the same
(keyframe a, keyframe b, t, pulse, beat) the offline walk renders.

- **Pulses** start on the slot nearest each predicted beat and halve every ``pulse_decay``
  seconds, as the offline plan's pulse does. A beat counts once: a later forecast that moves it
  by a frame does not pulse twice, and one that moves it into a slot already planned pulses on
  the next slot (at most ``LATE_SLOTS`` late) instead of never.
- **The walk** is a chain of segments measured in beats, so it keeps time with the music
  through tempo changes. With nothing queued it drifts between seeds of the current prompt (one
  segment every ``4 / motion`` beats); a queued prompt takes over on a downbeat and is reached
  ``crossfade_beats`` beats later, starting from wherever the walk stands then.
- **Anchors** are what the segments run between: a prompt with a seed, or a point between two
  anchors (where a segment was interrupted). The engine turns each into an embedding and a
  noise once (:class:`pipelines.live.engine.LiveConditioning`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace

from pipelines.errors import BeatwalkError
from pipelines.live.tracker import FREE_RUNNING, Forecast
from pipelines.plan.easing import ease

LATE_SLOTS = 2
"""A beat found only after its slot was planned still pulses, this many slots late at most."""
MAX_QUEUE = 64


@dataclass(frozen=True)
class PromptAnchor:
    prompt: str
    seed: int


@dataclass(frozen=True)
class MixAnchor:
    """The point ``t`` of the way from anchor ``a`` to anchor ``b``."""

    a: int
    b: int
    t: float


@dataclass(frozen=True)
class Slot:
    """One frame to show at ``time``: the walk between anchors ``a`` and ``b`` at ``t``, plus a pulse."""

    n: int
    time: float
    a: int
    b: int
    t: float
    pulse: float
    beat: int
    """The pulse's beat number (it seeds the pulse's noise); -1 without a pulse."""
    onset: bool
    """A pulse starts on this slot."""
    frozen: bool = False
    prompt: str = ""


@dataclass
class LiveSettings:
    """The knobs a VJ turns while a session runs (the page, OSC and the CLI set them)."""

    pulse: float = 0.5
    """Size of the push on each beat, 0..1 (the offline ``motion.pulse``)."""
    pulse_decay: float = 0.08
    """Half-life of a pulse, seconds."""
    motion: float = 0.5
    """How fast the picture drifts with nothing queued: 0 still, 1 a new seed every bar."""
    crossfade_beats: int = 4
    """Beats a prompt change takes, starting on a downbeat."""
    auto_bars: int = 8
    """Take the next queued prompt every this many bars by itself; 0: only when asked."""
    freeze: bool = False
    seed: int = 0
    easing: str = "sine"

    def check(self) -> LiveSettings:
        if not 0 <= self.pulse <= 1:
            raise BeatwalkError(f"pulse must be between 0 and 1, got {self.pulse:g}")
        if not 0 <= self.motion <= 1:
            raise BeatwalkError(f"motion must be between 0 and 1, got {self.motion:g}")
        if not 0.02 <= self.pulse_decay <= 4:
            raise BeatwalkError(f"pulse decay must be 0.02–4 s, got {self.pulse_decay:g}")
        if not 1 <= self.crossfade_beats <= 64:
            raise BeatwalkError(f"a prompt change takes 1–64 beats, got {self.crossfade_beats}")
        if not 0 <= self.auto_bars <= 256:
            raise BeatwalkError(f"auto change every 0–256 bars, got {self.auto_bars}")
        return self


@dataclass
class _Segment:
    a: int
    b: int
    start: float  # beat count
    beats: float
    to_prompt: str


@dataclass
class PromptQueue:
    """The prompt on screen and the ones waiting; edited from any thread."""

    current: str
    waiting: list[str] = field(default_factory=list)

    def snapshot(self) -> tuple[str, tuple[str, ...]]:
        return self.current, tuple(self.waiting)


class Conductor:
    """Plans slots in order. Thread-safe: controls may change while the generator plans.

    Parameters
    ----------
    prompts : list of str
        The first is shown at once, the others wait in the queue.
    fps : float
        Slots per second.
    settings : LiveSettings
    """

    def __init__(self, prompts: list[str], *, fps: float, settings: LiveSettings | None = None):
        prompts = [clean_prompt(p) for p in prompts]
        if not prompts:
            raise BeatwalkError("a live session needs at least one prompt")
        if not 1 <= fps <= 60:
            raise BeatwalkError(f"fps must be 1–60, got {fps:g}")
        self.fps = float(fps)
        self.settings = (settings or LiveSettings()).check()
        self._lock = threading.RLock()
        self.queue = PromptQueue(prompts[0], prompts[1:])
        self.anchors: list[PromptAnchor | MixAnchor] = []
        self._seeds = 0
        first = self._prompt_anchor(prompts[0])
        self._segment = _Segment(first, first, 0.0, 1.0, prompts[0])
        self._pending_next = False
        self._change_at: int | None = None  # beat number of the downbeat a change starts on
        self._last_change = 0.0  # beat count of the last prompt change
        self._onsets: list[tuple[float, int]] = []  # committed pulse starts: (time, beat number)
        self._last_slot: Slot | None = None
        self._last_time = -math.inf

    # -- controls --------------------------------------------------------------------------

    def add(self, prompt: str, *, next_up: bool = False) -> None:
        """Queue a prompt (at the front with ``next_up``)."""
        prompt = clean_prompt(prompt)
        with self._lock:
            if len(self.queue.waiting) >= MAX_QUEUE:
                raise BeatwalkError(f"the queue holds {MAX_QUEUE} prompts at most")
            self.queue.waiting.insert(0, prompt) if next_up else self.queue.waiting.append(prompt)

    def remove(self, index: int) -> str:
        with self._lock:
            if not 0 <= index < len(self.queue.waiting):
                raise BeatwalkError(f"no queued prompt {index + 1} (the queue holds {len(self.queue.waiting)})")
            return self.queue.waiting.pop(index)

    def move(self, index: int, to: int) -> None:
        with self._lock:
            waiting = self.queue.waiting
            if not (0 <= index < len(waiting) and 0 <= to < len(waiting)):
                raise BeatwalkError(f"queued prompts are numbered 1–{len(waiting)}")
            waiting.insert(to, waiting.pop(index))

    def replace_queue(self, prompts: list[str]) -> None:
        prompts = [clean_prompt(p) for p in prompts]
        if len(prompts) > MAX_QUEUE:
            raise BeatwalkError(f"the queue holds {MAX_QUEUE} prompts at most")
        with self._lock:
            self.queue.waiting[:] = prompts

    def next(self) -> None:
        """Go to the next queued prompt on the coming downbeat (or to a new seed of this one)."""
        with self._lock:
            self._pending_next = True

    def update(self, **changes) -> LiveSettings:
        """Change settings (``pulse``, ``motion``, ``freeze``, …); checked as a whole."""
        with self._lock:
            unknown = set(changes) - set(LiveSettings.__dataclass_fields__)
            if unknown:
                raise BeatwalkError(f"unknown live setting {sorted(unknown)[0]!r}")
            self.settings = replace(self.settings, **changes).check()
            return self.settings

    # -- planning --------------------------------------------------------------------------

    def plan(self, n: int, forecast: Forecast | None = None) -> Slot:
        """The slot ``n`` (call in increasing ``n``; gaps are allowed when frames are dropped)."""
        with self._lock:
            return self._plan(n, forecast or FREE_RUNNING)

    def _plan(self, n: int, forecast: Forecast) -> Slot:
        settings = self.settings
        time = n / self.fps
        if time <= self._last_time:
            raise BeatwalkError(f"slot {n} was planned already")
        frame = 1.0 / self.fps
        if settings.freeze and self._last_slot is not None:
            self._last_time = time
            slot = replace(self._last_slot, n=n, time=time, frozen=True, onset=False)
            self._last_slot = slot
            return slot
        count = forecast.count(time)

        # 1. Pulses on the forecast's beats
        onset = False
        if forecast.locked:
            for at, number in forecast.beats_between(time - (LATE_SLOTS + 0.5) * frame, time + 0.5 * frame):
                if any(number == k or abs(at - t) < 0.5 * forecast.period for t, k in self._onsets[-3:]):
                    continue
                self._onsets.append((time, number))
                del self._onsets[:-8]
                onset = True
                break
        pulse, beat = 0.0, -1
        if self._onsets and settings.pulse > 0:
            at, number = self._onsets[-1]
            since = time - at
            if since < 8 * settings.pulse_decay:
                pulse = settings.pulse * 0.5 ** (since / settings.pulse_decay)
                beat = number
        if pulse < 1e-3:
            pulse, beat = 0.0, -1

        # 2. The walk: finish or replace the segment, then read the position on it
        self._advance(count, forecast)
        seg = self._segment
        progress = min(max((count - seg.start) / seg.beats, 0.0), 1.0) if seg.a != seg.b else 1.0
        t = float(ease(progress, settings.easing)) if seg.a != seg.b else 0.0
        slot = Slot(n, time, seg.a, seg.b, t, pulse, beat, onset and pulse > 0, False, seg.to_prompt)
        self._last_slot, self._last_time = slot, time
        return slot

    def _advance(self, count: float, forecast: Forecast) -> None:
        settings = self.settings
        seg = self._segment
        done = seg.a == seg.b or count >= seg.start + seg.beats
        # A change asked for (or due by auto_bars) starts on the coming downbeat.
        bars_shown = (count - self._last_change) / max(forecast.meter, 1)
        auto = settings.auto_bars > 0 and self.queue.waiting and bars_shown >= settings.auto_bars
        if (self._pending_next or auto) and self._change_at is None:
            self._change_at = forecast.next_downbeat(count) if forecast.locked else math.ceil(count)
            self._pending_next = False
        if self._change_at is not None and count >= self._change_at:
            here = self._here(count)
            if self.queue.waiting:
                self.queue.current = self.queue.waiting.pop(0)
            target = self._prompt_anchor(self.queue.current)
            self._segment = _Segment(here, target, float(self._change_at), float(settings.crossfade_beats), self.queue.current)
            self._change_at, self._last_change = None, float(self._change_at)
            return
        if done and settings.motion > 0:
            start = seg.start + seg.beats if seg.a != seg.b else count
            start = max(start, count - 1.0)  # after a freeze or a stall, go on from here
            target = self._prompt_anchor(self.queue.current)
            self._segment = _Segment(seg.b, target, start, 4.0 / settings.motion, self.queue.current)

    def _here(self, count: float) -> int:
        """An anchor where the walk stands at beat ``count``."""
        seg = self._segment
        if seg.a == seg.b:
            return seg.a
        progress = min(max((count - seg.start) / seg.beats, 0.0), 1.0)
        if progress >= 1.0:
            return seg.b
        if progress <= 0.0:
            return seg.a
        self.anchors.append(MixAnchor(seg.a, seg.b, float(ease(progress, self.settings.easing))))
        return len(self.anchors) - 1

    def _prompt_anchor(self, prompt: str) -> int:
        self._seeds += 1
        self.anchors.append(PromptAnchor(prompt, self.settings.seed + self._seeds))
        return len(self.anchors) - 1

    def in_use(self) -> set[int]:
        """Anchors the current segment needs (older ones may be forgotten)."""
        with self._lock:
            needed = {self._segment.a, self._segment.b}
            frontier = list(needed)
            while frontier:
                anchor = self.anchors[frontier.pop()]
                if isinstance(anchor, MixAnchor):
                    for k in (anchor.a, anchor.b):
                        if k not in needed:
                            needed.add(k)
                            frontier.append(k)
            return needed


def clean_prompt(prompt) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise BeatwalkError("a prompt must be some words")
    prompt = " ".join(prompt.split())
    if len(prompt) > 500:
        raise BeatwalkError("a prompt is 500 characters at most")
    return prompt
