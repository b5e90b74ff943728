"""Where a live session's audio comes from, and what "now" is in its time.

Every source answers two questions: which samples are new (:meth:`Source.read`) and which audio
time the listener hears at this instant (:meth:`Source.audio_now`). The engine shows the frame of
``audio_now()``, so frames follow the sound in the room, not the moment samples reached the
tracker.

- :class:`FileSource`: a song played in real time from a clock (the CLI and the Space play it;
  the full-screen page plays the same file in step with it).
- :class:`PushSource`: blocks handed in as they arrive (the Space's microphone stream, a sound
  card's callback). Its "now" is the newest block's end plus the time since it arrived, taking
  the earliest arrival seen lately, so network or driver jitter does not make the picture lag.
- :class:`DeviceSource`: a sound card, through ``sounddevice`` (PortAudio).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError

SAMPLE_RATE = 22050


class Clock:
    """Seconds since :meth:`start` (monotonic); a test may give its own ``now`` function."""

    def __init__(self, now=time.monotonic):
        self._now = now
        self._origin: float | None = None

    def start(self) -> None:
        self._origin = self._now()

    def __call__(self) -> float:
        return 0.0 if self._origin is None else self._now() - self._origin


class Source:
    """The interface the engine reads (see the module's docstring)."""

    sample_rate: int = SAMPLE_RATE
    ended: bool = False
    """No more audio will come (a song played to its end)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self) -> np.ndarray:
        raise NotImplementedError

    def audio_now(self) -> float:
        raise NotImplementedError


class FileSource(Source):
    """A song played from its start (or ``start`` seconds in) in real time.

    Parameters
    ----------
    path : str or Path
        Any file :func:`pipelines.music.decode.load_audio` reads.
    start : float
        Where in the song to begin, seconds.
    clock : Clock, optional
    max_seconds : float, optional
        Refuse songs longer than this.
    """

    def __init__(self, path: str | Path, *, start: float = 0.0, clock: Clock | None = None,
                 max_seconds: float | None = None):  # fmt: skip
        from pipelines.music.decode import load_audio

        audio = load_audio(path, start=start or None, sr=SAMPLE_RATE, max_duration=max_seconds)
        self.path = Path(path)
        self.offset = float(start)
        self.samples = audio.samples
        self.duration = len(self.samples) / SAMPLE_RATE
        self.clock = clock or Clock()
        self._read = 0

    def start(self) -> None:
        self.clock.start()

    def audio_now(self) -> float:
        return self.clock()

    def read(self) -> np.ndarray:
        upto = min(len(self.samples), int(self.clock() * SAMPLE_RATE))
        block = self.samples[self._read : upto]
        self._read = max(self._read, upto)
        self.ended = self._read >= len(self.samples)
        return block


class PushSource(Source):
    """Blocks pushed in as they arrive: :meth:`push` from any thread.

    Blocks may come at any rate (a browser's 48 kHz, a sound card's 44.1 kHz); they are resampled
    to 22050 Hz as they come (soxr's streaming resampler, a few milliseconds of delay).

    Parameters
    ----------
    latency : float
        Seconds from a sound in the room to its block being pushed, beyond what arrival times
        show (a microphone's and a browser's buffers); added to "now".
    clock : Clock, optional
    """

    MEMORY = 5.0

    def __init__(self, *, latency: float = 0.0, clock: Clock | None = None):
        self.latency = latency
        self.clock = clock or Clock()
        self._blocks: deque[np.ndarray] = deque()
        self._received = 0.0  # seconds of audio pushed (of the input: a resampler holds a few ms back)
        self._arrivals: deque[tuple[float, float]] = deque()  # (arrival clock, audio time at the block's end)
        self._resampler = None  # (input rate, soxr stream)
        self._lock = threading.Lock()

    def start(self) -> None:
        self.clock.start()

    def push(self, samples, sample_rate: int = SAMPLE_RATE) -> None:
        """Add a block: mono or (n, channels), float in [-1, 1] or integer PCM, at ``sample_rate``."""
        if not 8000 <= int(sample_rate) <= 192000:
            raise BeatwalkError(f"audio sample rate must be 8–192 kHz, got {sample_rate}")
        block = as_mono_float(samples)
        arrived = self.clock()
        seconds = len(block) / int(sample_rate)
        with self._lock:
            if int(sample_rate) != SAMPLE_RATE:
                if self._resampler is None or self._resampler[0] != int(sample_rate):
                    import soxr

                    self._resampler = (int(sample_rate), soxr.ResampleStream(int(sample_rate), SAMPLE_RATE, 1, dtype="float32"))
                block = self._resampler[1].resample_chunk(block)
            self._blocks.append(block)
            self._received += seconds
            self._arrivals.append((arrived, self._received))
            while self._arrivals and self._arrivals[0][0] < arrived - self.MEMORY:
                self._arrivals.popleft()

    def read(self) -> np.ndarray:
        with self._lock:
            blocks = list(self._blocks)
            self._blocks.clear()
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def audio_now(self) -> float:
        now = self.clock()
        with self._lock:
            if not self._arrivals:
                return now - self.latency
            lead = max(end - arrived for arrived, end in self._arrivals)
        return now + lead - self.latency


class DeviceSource(PushSource):
    """A sound card's input (``sounddevice``), pushed block by block from PortAudio's callback.

    Parameters
    ----------
    device : str or int, optional
        A name or number from ``python -m sounddevice``; the default input otherwise.
    """

    def __init__(self, device=None, *, latency: float = 0.0, clock: Clock | None = None):
        try:
            import sounddevice
        except (ImportError, OSError) as exc:
            raise BeatwalkError(
                f"listening to a sound card needs the sounddevice package and PortAudio "
                f"(pip install sounddevice; apt install libportaudio2): {exc}"
            ) from None
        try:
            info = sounddevice.query_devices(device, "input")
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise BeatwalkError(f"no such input device {device!r}: {exc}") from None
        super().__init__(latency=latency + float(info["default_low_input_latency"]), clock=clock)
        rate = int(info["default_samplerate"])
        self._stream = sounddevice.InputStream(
            device=device, channels=1, samplerate=rate, blocksize=512, dtype="float32",
            callback=lambda data, frames, when, status: self.push(data[:, 0].copy(), rate),
        )

    def start(self) -> None:
        super().start()
        self._stream.start()

    def stop(self) -> None:
        self._stream.stop()
        self._stream.close()


def as_mono_float(samples) -> np.ndarray:
    """A block of audio as mono float32 in [-1, 1]: integer PCM scaled, channels averaged."""
    array = np.asarray(samples)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    if array.ndim == 2:
        # Gradio gives (n, channels); some callers give (channels, n) with few channels.
        array = array.mean(axis=1) if array.shape[1] <= 8 else array.mean(axis=0)
    elif array.ndim != 1:
        raise BeatwalkError(f"an audio block must be 1-D or 2-D, got shape {array.shape}")
    array = np.asarray(array, dtype=np.float32)
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
