"""A live session: audio in, tracker, conductor and generator on one clock, frames out.

Three threads and a board:

- the **listener** reads the source's new samples every 20 ms and feeds the tracker (and the
  recording's soundtrack);
- the **generator** plans the next batch of slots with the conductor, far enough ahead that the
  batch is finished before its first slot is due (now + display delay + the measured time of a
  batch), renders them with :func:`pipelines.diffusion.walk.render_states` and pins them on the
  board;
- the **recorder** (with ``record=``) writes every slot to an mp4, holding the last frame over
  slots that were skipped, and muxes the audio heard at the end;
- the **board** answers "what is on screen at audio time ``t``": the newest slot due by then.

Slot ``n`` shows audio time ``n / fps``; the audio time heard "now" is the source's
(:meth:`pipelines.live.sources.Source.audio_now`), so frames line up with what the listener hears,
not with when the samples reached the tracker.

Keeping up
----------
When a batch takes longer than the slots it fills, the generator skips slots (a stride of 2, 3, …:
the board holds each frame longer) and, after a few such batches, steps down the frame size
(:data:`SCALES`, upscaled back for display); it steps back up when there is room again. A stride
never changes which beats pulse: the conductor plans only the slots it is asked for, and a pulse
due on a skipped slot lands on the next one planned (``conductor.LATE_SLOTS``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.diffusion.conditioning import FrameState, KeyframeConditioning, _randn, slerp
from pipelines.errors import BeatwalkError
from pipelines.live.conductor import Conductor, LiveSettings, MixAnchor, PromptAnchor
from pipelines.live.tracker import OnlineBeatTracker

SCALES = (1.0, 0.75, 0.5)
"""Frame sizes the generator may step down to when it cannot keep up (of the session's size)."""
SILENT_AFTER = 1.0
"""Seconds without new audio after which the session says it is free-running."""
LISTEN_EVERY = 0.02
WARM_UP_BATCHES = 4
"""The first batches (kernels warming up, the first prompts encoded) do not move the frame size."""


class LiveConditioning(KeyframeConditioning):
    """Conditioning that grows as the conductor makes anchors: prompts are encoded (once per
    distinct prompt) and seeds drawn when an anchor is first used, and forgotten when the walk has
    left them. Anchor ``k`` plays the part of keyframe ``k`` in :class:`FrameState`.

    Parameters
    ----------
    pipe : diffusers pipeline
    width, height : int
        Frame size, pixels.
    steps : int
        Denoising steps.
    pulse_seed : int
        Seeds the beats' pulse noises.
    """

    def __init__(self, pipe, *, width: int, height: int, steps: int, pulse_seed: int = 0):
        import torch

        family = self._prepare(pipe, height=height, width=width, steps=steps)
        self.value = family.guidance
        self.any_cfg = not self.guidance_embedding and self.value > 1
        self.pulse_seed = pulse_seed
        self.dtype = pipe.unet.dtype
        self._torch = torch
        self._prompts: dict[str, list] = {}
        self._anchors: dict[int, tuple[list, object, object]] = {}  # embedding parts, noise, generator state

    def sync(self, anchors: list, needed: set[int]) -> None:
        """Make every anchor in ``needed`` ready and forget the others."""
        with self._torch.inference_mode():
            for k in sorted(needed):
                self._resolve(anchors, k)
        for k in [k for k in self._anchors if k not in needed]:
            del self._anchors[k]
        for prompt in [p for p in self._prompts if p not in {getattr(anchors[k], "prompt", None) for k in needed}]:
            del self._prompts[prompt]

    def _resolve(self, anchors: list, k: int):
        if k in self._anchors:
            return self._anchors[k]
        anchor = anchors[k]
        if isinstance(anchor, PromptAnchor):
            if anchor.prompt not in self._prompts:
                self._prompts[anchor.prompt] = list(self._encode(anchor.prompt, None))
                self.dtype = self._prompts[anchor.prompt][0].dtype
            generator = self._torch.Generator("cpu").manual_seed(anchor.seed)
            noise = _randn(self.shape, generator, self.device, self.dtype)
            ready = (self._prompts[anchor.prompt], noise, generator.get_state())
        elif isinstance(anchor, MixAnchor):
            (ea, na, ga), (eb, nb, gb) = self._resolve(anchors, anchor.a), self._resolve(anchors, anchor.b)
            parts = [self._torch.lerp(x, y, anchor.t) for x, y in zip(ea, eb)]
            ready = (parts, slerp(anchor.t, na, nb), ga if anchor.t < 0.5 else gb)
        else:
            raise BeatwalkError(f"unknown anchor {anchor!r}")
        self._anchors[k] = ready
        return ready

    def start_step(self, state: FrameState) -> int:
        return 0

    def noise(self, state: FrameState):
        a, b = self._anchors[state.key_a][1], self._anchors[state.key_b][1]
        return self._pulsed(a if state.key_a == state.key_b else slerp(state.t, a, b), state)

    def embedding(self, state: FrameState):
        a, b = self._anchors[state.key_a][0], self._anchors[state.key_b][0]
        return list(a) if state.key_a == state.key_b else [self._torch.lerp(x, y, state.t) for x, y in zip(a, b)]

    def guidance_of(self, state: FrameState) -> float:
        return self.value

    def generator(self, state: FrameState):
        nearer = state.key_a if state.t < 0.5 else state.key_b
        return self._torch.Generator("cpu").set_state(self._anchors[nearer][2])

    def init_latent(self, state: FrameState):
        return None


class FrameBoard:
    """The frames made so far, by slot; :meth:`at` answers what is on screen at an audio time."""

    def __init__(self, fps: float, keep: int = 256):
        self.fps = fps
        self._frames: deque[tuple[int, np.ndarray]] = deque(maxlen=keep)
        self._cond = threading.Condition()
        self.posted = 0

    def post(self, slot: int, frame: np.ndarray) -> None:
        with self._cond:
            self._frames.append((slot, frame))
            self.posted += 1
            self._cond.notify_all()

    def at(self, audio_time: float) -> tuple[int, np.ndarray] | None:
        """The newest frame whose slot is due by ``audio_time`` (else the oldest one kept)."""
        due = math.floor(audio_time * self.fps + 1e-9)
        with self._cond:
            if not self._frames:
                return None
            found = self._frames[0]
            for slot, frame in self._frames:
                if slot > due:
                    break
                found = (slot, frame)
            return found

    def wait(self, posted: int, timeout: float) -> int:
        """Wait until more than ``posted`` frames were posted (or ``timeout``); the count now."""
        with self._cond:
            self._cond.wait_for(lambda: self.posted > posted, timeout=timeout)
            return self.posted


@dataclass
class LiveStats:
    """What the session's status line shows."""

    batches: int = 0
    slots: int = 0  # slots rendered
    skipped: int = 0  # slots skipped to keep up
    late: int = 0  # slots finished after they were due
    batch_seconds: float = 0.0  # the generator's time per batch (running mean)
    horizon: float = 0.0  # how far ahead of the tracker's newest audio the last batch was planned, s
    scale: float = 1.0
    shown: deque = field(default_factory=lambda: deque(maxlen=240))  # audio times of rendered slots


class LiveEngine:
    """One live session.

    Parameters
    ----------
    pipe : diffusers pipeline
        From :func:`pipelines.diffusion.models.load_pipeline`.
    source : pipelines.live.sources.Source
        Where the audio comes from.
    prompts : list of str
        The first is shown at once; the others are queued.
    width, height : int
        Size of the frames shown and recorded, pixels.
    fps : float
        Slots per second.
    steps : int, optional
        Denoising steps (the model family's default).
    batch_size : int
        Slots rendered together. Larger batches are faster per frame and later to react.
    display_delay : float
        Seconds between the board choosing a frame and the viewer seeing it (JPEG, network, the
        browser); frames are shown this much early.
    settings : LiveSettings, optional
    record : path, optional
        Also write the session to this mp4, with the audio heard.
    adapt : bool
        Skip slots and step down the frame size when the generator cannot keep up.
    time_limit : float, optional
        End the session after this many seconds (a public server's limit).
    """

    def __init__(
        self,
        pipe,
        source,
        prompts: list[str],
        *,
        width: int,
        height: int,
        fps: float = 24.0,
        steps: int | None = None,
        batch_size: int = 2,
        display_delay: float = 0.1,
        settings: LiveSettings | None = None,
        record: str | Path | None = None,
        adapt: bool = True,
        time_limit: float | None = None,
    ):
        from pipelines.diffusion.models import model_family

        self.multiple = pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1)
        if width % self.multiple or height % self.multiple or not 0 < width <= 2048 or not 0 < height <= 2048:
            raise BeatwalkError(f"live frame size must be multiples of {self.multiple} px up to 2048, got {width}x{height}")
        if not 1 <= batch_size <= 32:
            raise BeatwalkError(f"batch size must be 1–32, got {batch_size}")
        if not 0 <= display_delay <= 2:
            raise BeatwalkError(f"display delay must be 0–2 s, got {display_delay:g}")
        self.pipe, self.source = pipe, source
        self.width, self.height, self.fps = width, height, float(fps)
        self.steps = steps or model_family(pipe).steps
        if not 1 <= self.steps <= 50:
            raise BeatwalkError(f"live steps must be 1–50, got {self.steps}")
        self.batch_size, self.display_delay, self.adapt = batch_size, display_delay, adapt
        self.time_limit = time_limit
        self.conductor = Conductor(prompts, fps=fps, settings=settings)
        self.tracker = OnlineBeatTracker(source.sample_rate)
        self.board = FrameBoard(self.fps)
        self.stats = LiveStats()
        self.record = Path(record) if record is not None else None
        self._sizes = self._ladder()
        self._rung = 0
        self._trend = 0  # batches in a row that could not keep up (< 0) or had room (> 0)
        self._conditioning: dict[int, LiveConditioning] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: str | None = None
        self._next_slot = 0
        self._heard_audio: list[np.ndarray] = []
        self._last_audio = -math.inf  # audio_now when samples last came
        self._record_queue: deque = deque()
        self._record_ready = threading.Condition()
        self._recorded: Path | None = None
        self._started = False

    # -- running --------------------------------------------------------------------------------

    def start(self) -> LiveEngine:
        if self._started:
            raise BeatwalkError("this live session has started already")
        self._started = True
        self.source.start()
        self._threads = [threading.Thread(target=self._guard(self._listen), name="live-listener", daemon=True),
                         threading.Thread(target=self._guard(self._generate), name="live-generator", daemon=True)]  # fmt: skip
        if self.record is not None:
            self._threads.append(threading.Thread(target=self._guard(self._write), name="live-recorder", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Path | None:
        """End the session; with ``record``, the finished mp4's path. Safe to call twice."""
        self._stop.set()
        with self._record_ready:
            self._record_ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)
        self.source.stop()
        self._conditioning.clear()
        if self.pipe.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()
        return self._recorded

    @property
    def running(self) -> bool:
        return self._started and not self._stop.is_set() and self._error is None

    @property
    def ended(self) -> bool:
        """Started, and stopped since (asked to, or by itself)."""
        return self._started and (self._stop.is_set() or self._error is not None)

    @property
    def error(self) -> str | None:
        """Why the session stopped by itself, if it did."""
        return self._error

    def wait(self, seconds: float | None = None) -> bool:
        """Sleep until the session stops (True) or ``seconds`` pass (False)."""
        return self._stop.wait(seconds)

    def audio_now(self) -> float:
        """The audio time the listener hears now."""
        return self.source.audio_now()

    def frame_now(self) -> tuple[int, np.ndarray] | None:
        """What the screen should show now: the slot for the audio heard ``display_delay`` from now."""
        return self.board.at(self.audio_now() + self.display_delay)

    def status(self) -> dict:
        forecast = self.tracker.forecast()
        now = self.audio_now()
        shown = [t for t in self.stats.shown if now - 2.0 <= t <= now]
        silent = now - self._last_audio
        queue = self.conductor.queue.snapshot()
        if self._error:
            message = f"stopped: {self._error}"
        elif not self._started:
            message = "not started"
        elif self._stop.is_set():
            message = "stopped"
        elif self.source.ended:
            message = f"the input has ended: free-running at {forecast.bpm:.0f} BPM"
        elif silent > SILENT_AFTER:
            message = (f"no sound for {silent:.0f} s: free-running at {forecast.bpm:.0f} BPM" if forecast.locked
                       else "no sound yet: waiting for the music")  # fmt: skip
        elif not forecast.locked:
            message = "listening: finding the beat"
        else:
            message = f"locked at {forecast.bpm:.1f} BPM"
        beat = forecast.count(now)
        return {
            "running": self.running,
            "message": message,
            "time": round(now, 3),
            "bpm": round(forecast.bpm, 2),
            "locked": forecast.locked,
            "meter": forecast.meter,
            "beat_in_bar": int((math.floor(beat) - forecast.bar_phase) % forecast.meter) + 1,
            "level": round(self.tracker.level, 4),
            "fps": round(len(shown) / 2.0, 1) if now >= 2.0 else round(len(shown) / max(now, 1e-3), 1),
            "target_fps": self.fps,
            "horizon_ms": round(1000 * self.stats.horizon),
            "batch_ms": round(1000 * self.stats.batch_seconds),
            "slots": self.stats.slots,
            "skipped": self.stats.skipped,
            "late": self.stats.late,
            "size": list(self._sizes[self._rung]),
            "prompt": queue[0],
            "queue": list(queue[1]),
            "settings": vars(self.conductor.settings).copy(),
        }

    # -- threads ----------------------------------------------------------------------------------

    def _guard(self, run):
        def guarded():
            try:
                run()
            except BeatwalkError as exc:
                self._error = str(exc)
                self._stop.set()
            except Exception as exc:  # a thread's crash ends the session with one line, not silence
                self._error = f"{type(exc).__name__}: {exc}"
                self._stop.set()
                raise

        return guarded

    def _listen(self) -> None:
        while not self._stop.is_set():
            if self.time_limit is not None and self.audio_now() > self.time_limit:
                raise BeatwalkError(f"the session reached its time limit of {self.time_limit:g} s")
            block = self.source.read()
            if len(block):
                self.tracker.feed(block)
                self._last_audio = self.audio_now()
                if self.record is not None:
                    self._heard_audio.append(block)
            self._stop.wait(LISTEN_EVERY)

    def _generate(self) -> None:
        from pipelines.diffusion.walk import render_states

        while not self._stop.is_set():
            now = self.audio_now()
            # Slots due sooner than a batch takes are skipped; planning starts a margin earlier
            # than that, and no earlier: the freshest forecast places the pulses best.
            need = self.display_delay + self.stats.batch_seconds
            early = self._next_slot / self.fps - (now + 1.25 * need + 0.02)
            if early > 0:
                self._stop.wait(min(early, 0.25))
                continue
            first = max(self._next_slot, math.ceil((now + need) * self.fps))
            self.stats.skipped += first - self._next_slot if self._next_slot else 0
            stride = 1
            if self.adapt and self.stats.batch_seconds > 0:
                stride = max(1, math.ceil(self.stats.batch_seconds * self.fps / self.batch_size))
            numbers = [first + k * stride for k in range(self.batch_size)]
            started = time.perf_counter()
            forecast = self.tracker.forecast()
            slots = [self.conductor.plan(n, forecast) for n in numbers]
            self._next_slot = numbers[-1] + 1
            self.stats.skipped += (stride - 1) * len(numbers)
            self.stats.horizon = slots[0].time - forecast.time if forecast.time else 0.0
            states = [FrameState.of(s.a, s.b, s.t, s.pulse, s.beat) for s in slots]
            conditioning = self._conditioning_now()
            conditioning.sync(self.conductor.anchors, self.conductor.in_use() | {k for s in states for k in (s.key_a, s.key_b)})
            rendering = time.perf_counter()  # a prompt's encoding (above) is rare and not the batch's pace
            frames = render_states(conditioning, states)
            frames = self._to_output_size(frames)
            done_at = self.audio_now()
            for slot, frame in zip(slots, frames):
                self.board.post(slot.n, frame)
                self.stats.shown.append(slot.time)
                if slot.time < done_at + self.display_delay:
                    self.stats.late += 1
                if self.record is not None:
                    with self._record_ready:
                        self._record_queue.append((slot.n, frame))
                        self._record_ready.notify_all()
            self.stats.slots += len(slots)
            took = time.perf_counter() - rendering + (rendering - started if self.stats.batches < 1 else 0.0)
            self.stats.batch_seconds = took if not self.stats.batch_seconds else 0.7 * self.stats.batch_seconds + 0.3 * took
            self.stats.batches += 1
            if self.adapt and self.stats.batches > WARM_UP_BATCHES:
                self._climb(stride, took)

    def _climb(self, stride: int, took: float) -> None:
        """Step the frame size down after 3 batches that could not keep up, up after 20 with room."""
        budget = self.batch_size / self.fps
        if stride > 1 or took > budget:
            self._trend = min(self._trend, 0) - 1
        elif took < 0.5 * budget:
            self._trend = max(self._trend, 0) + 1
        else:
            self._trend = 0
        if self._trend <= -3 and self._rung < len(self._sizes) - 1:
            self._rung, self._trend, self.stats.batch_seconds = self._rung + 1, 0, 0.0
        elif self._trend >= 20 and self._rung > 0:
            self._rung, self._trend, self.stats.batch_seconds = self._rung - 1, 0, 0.0
        self.stats.scale = self._sizes[self._rung][0] / self.width

    def _write(self) -> None:
        from pipelines.project import AudioRef
        from pipelines.render.video import VideoWriter

        audio_path = self.record.with_name(self.record.name + ".heard.wav")
        writer = VideoWriter(self.record, width=self.width, height=self.height, fps=self.fps,
                             audio=AudioRef(path=str(audio_path)), preset="veryfast")  # fmt: skip
        writer.open()
        written, last = 0, None
        try:
            while True:
                with self._record_ready:
                    self._record_ready.wait_for(lambda: self._record_queue or self._stop.is_set(), timeout=0.5)
                    items = list(self._record_queue)
                    self._record_queue.clear()
                for n, frame in items:
                    while written < n:  # slots skipped (or before the first frame) hold a frame
                        writer.write(frame if last is None else last)
                        written += 1
                    writer.write(frame)
                    written, last = n + 1, frame
                if self._stop.is_set() and not self._record_queue:
                    break
            self._write_heard(audio_path)
            self._recorded = writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            audio_path.unlink(missing_ok=True)

    def _write_heard(self, path: Path) -> None:
        import soundfile

        samples = np.concatenate(self._heard_audio) if self._heard_audio else np.zeros(self.source.sample_rate, np.float32)
        soundfile.write(str(path), np.clip(samples, -1, 1), self.source.sample_rate, subtype="PCM_16")

    # -- sizes --------------------------------------------------------------------------------

    def _ladder(self) -> list[tuple[int, int]]:
        sizes = []
        for scale in SCALES:
            size = tuple(max(self.multiple, int(round(side * scale / self.multiple)) * self.multiple)
                         for side in (self.width, self.height))  # fmt: skip
            if size not in sizes:
                sizes.append(size)
        return sizes

    def _conditioning_now(self) -> LiveConditioning:
        if self._rung not in self._conditioning:
            width, height = self._sizes[self._rung]
            self._conditioning = {self._rung: LiveConditioning(
                self.pipe, width=width, height=height, steps=self.steps, pulse_seed=self.conductor.settings.seed)}  # fmt: skip
        return self._conditioning[self._rung]

    def _to_output_size(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape[1:3] == (self.height, self.width):
            return frames
        import cv2

        return np.stack([cv2.resize(f, (self.width, self.height), interpolation=cv2.INTER_LINEAR) for f in frames])
