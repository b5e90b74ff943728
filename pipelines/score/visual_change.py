"""The visual-change curve: how much each frame of a video differs from the one before.

Frame ``i`` is compared with frame ``i - 1`` (frame 0 has no change), on frames
ffmpeg decodes at ``DECODE_WIDTH`` pixels wide. Two measures:

- ``pixel``: mean absolute RGB difference, 0..1;
- ``perceptual``: the mean of three cheap, fixed-filter features that follow
  what the eye sees rather than single pixels: the difference of the low-pass
  luma (16 px wide), of the luma edge map (32 px wide), and of the coarse
  colour histogram (64 bins, half the L1 distance), each 0..1.

:func:`visual_peaks` finds the moments the picture clearly jumps.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter
from scipy.signal import find_peaks

from pipelines.errors import BeatwalkError
from pipelines.ffmpeg import VIDEO_DEMUXERS, ffmpeg_exe, input_args
from pipelines.render.video import VideoInfo

DECODE_WIDTH = 64
"""Width frames are decoded at, pixels: the change curve needs no more, and it is fast."""

# A change smaller than half a grey level on average is compression noise, not motion.
_PEAK_FLOOR = 0.5 / 255
_FRAMES_PER_BLOCK = 256


def visual_change(frames: np.ndarray, *, previous: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel and perceptual change of each frame against the one before.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, h, w, 3), uint8]
        Consecutive RGB frames (small: ``h, w`` divisible by 4 is best).
    previous : np.ndarray [shape=(h, w, 3), uint8] or None
        The frame before ``frames[0]``; None: ``frames[0]`` is the first
        frame of the video and gets change 0.

    Returns
    -------
    pixel, perceptual : np.ndarray [shape=(n,), float64], 0..1
    """
    if previous is not None:
        frames = np.concatenate([previous[None], frames])
    rgb = frames.astype(np.float32) / 255.0
    pixel = np.abs(np.diff(rgb, axis=0)).mean(axis=(1, 2, 3))

    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    half = _pool(luma)
    quarter = _pool(half)
    edges = np.abs(np.diff(half, axis=1))[:, :, :-1] + np.abs(np.diff(half, axis=2))[:, :-1, :]
    bins = (frames // 64).astype(np.int64) @ np.array([16, 4, 1])
    bins += 64 * np.arange(len(frames))[:, None, None]
    hist = np.bincount(bins.ravel(), minlength=64 * len(frames)).reshape(len(frames), 64) / bins[0].size
    perceptual = (
        np.abs(np.diff(quarter, axis=0)).mean(axis=(1, 2))
        + np.abs(np.diff(edges, axis=0)).mean(axis=(1, 2))
        + 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    ) / 3.0
    if previous is None:
        return np.concatenate([[0.0], pixel]), np.concatenate([[0.0], perceptual])
    return pixel.astype(np.float64), perceptual.astype(np.float64)


def visual_peaks(
    change: np.ndarray, *, fps: float, window: float = 2.0, k: float = 3.0, relative: float = 0.25
) -> np.ndarray:
    """Frames where the visual change peaks clearly above its neighbourhood.

    The threshold adapts to the video: the running median of the change over
    ``window`` seconds plus ``k`` running median absolute deviations, at least
    half a grey level, and at least ``relative`` times the largest change in
    the window (so the settling of the encoder after a cut is no peak of its
    own). Peaks are at least 0.1 s apart.

    Parameters
    ----------
    change : np.ndarray [shape=(n,)]
        Visual change per frame, 0..1.
    fps : float > 0
        Frames per second.
    window : float > 0
        Length of the running statistics, seconds.
    k : float >= 0
        How many deviations above the median a peak must reach.
    relative : float in [0, 1]
        Fraction of the window's largest change a peak must reach.

    Returns
    -------
    np.ndarray [shape=(p,), int]
        Frame indices, increasing.
    """
    if len(change) < 3:
        return np.zeros(0, dtype=int)
    size = max(3, int(round(window * fps)) | 1)
    level = median_filter(change, size=size, mode="nearest")
    spread = median_filter(np.abs(change - level), size=size, mode="nearest")
    threshold = level + np.maximum(k * spread, _PEAK_FLOOR)
    threshold = np.maximum(threshold, relative * maximum_filter1d(change, size))
    peaks, _ = find_peaks(change, height=threshold, distance=max(1, int(round(0.1 * fps))))
    return peaks


class RawVideoReader:
    """Decodes a video with ffmpeg, scaled to ``width`` × ``height`` raw ``pix_fmt`` frames, in a
    background thread that turns them into a result (:meth:`_read`, from :meth:`blocks`).

    Use as a context manager; :meth:`result` waits for the thread and raises what it raised.
    """

    def __init__(self, path: Path, info: VideoInfo, *, width: int, height: int, pix_fmt: str, channels: int):
        self.name = path.name
        self.width, self.height, self.channels = width, height, channels
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   *input_args(path, demuxers=VIDEO_DEMUXERS),
                   "-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area",
                   "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._result = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._thread.join()
        self._process.wait()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def _run(self) -> None:
        try:
            self._result = self._read()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def _read(self):
        raise NotImplementedError

    def blocks(self, frames_per_block: int):
        """Blocks of up to ``frames_per_block`` frames, ``(n, height, width[, channels])`` uint8, as
        they arrive; then ffmpeg's failure, if any, as one line."""
        frame_bytes = self.width * self.height * self.channels
        shape = (self.height, self.width, self.channels) if self.channels > 1 else (self.height, self.width)
        while True:
            data = self._process.stdout.read(frame_bytes * frames_per_block)
            usable = len(data) - len(data) % frame_bytes
            if usable:
                yield np.frombuffer(data[:usable], dtype=np.uint8).reshape(-1, *shape)
            if len(data) < frame_bytes * frames_per_block:
                break
        log = self._process.stderr.read().decode("utf-8", errors="replace").strip()
        if self._process.wait() != 0:
            detail = log.splitlines()[-1] if log else f"ffmpeg exit code {self._process.returncode}"
            raise BeatwalkError(f"could not decode {self.name}: {detail}")


class ChangeReader(RawVideoReader):
    """Decodes a video in a background thread into its two change curves.

    ffmpeg scales frames down to ``DECODE_WIDTH`` and pipes raw RGB; blocks of
    frames are turned into change values as they arrive, so memory stays flat
    in the video's length.
    """

    def __init__(self, path: Path, info: VideoInfo):
        height = max(4, 4 * round(DECODE_WIDTH * info.height / info.width / 4))
        super().__init__(path, info, width=DECODE_WIDTH, height=height, pix_fmt="rgb24", channels=3)

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        pixel, perceptual, previous = [], [], None
        for frames in self.blocks(_FRAMES_PER_BLOCK):
            block_pixel, block_perceptual = visual_change(frames, previous=previous)
            pixel.append(block_pixel)
            perceptual.append(block_perceptual)
            previous = frames[-1]
        if previous is None:
            raise BeatwalkError(f"no frames decode from {self.name}")
        return np.concatenate(pixel), np.concatenate(perceptual)


def _pool(images: np.ndarray) -> np.ndarray:
    """2×2 average pooling of (n, h, w) images (odd edges dropped)."""
    n, h, w = images.shape
    h, w = h - h % 2, w - w % 2
    return images[:, :h, :w].reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
