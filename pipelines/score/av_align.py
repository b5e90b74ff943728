"""AV-Align (Yariv et al., "Diverse and Aligned Audio-to-Video Generation via Text-to-Video Model
Adaptation", the TempoTokens paper): do the video's motion peaks meet the song's onsets?

As the authors' reference code computes it:

- **video peaks**: the mean magnitude of OpenCV's Farneback optical flow between each frame and the
  one before (``pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2``;
  frame 0 takes the value of frame 1), and its strict local maxima, at ``i / fps`` seconds;
- **audio peaks**: librosa's ``onset_detect`` times. Beatwalk takes them from the song's analysis
  (``Analysis.onsets``: ``onset_detect`` on its own mel-flux onset strength, the same peak picking
  as the reference's on librosa's default one);
- **score**: an audio peak is hit when a video peak lies strictly within one frame of it;
  ``hits / (audio peaks + video peaks − hits)``, 0..1.

Frames are decoded grey, at most :data:`FLOW_WIDTH` pixels wide (the reference reads them at full
size; the peaks' places, not the flow's size, make the score).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.ffmpeg import VIDEO_DEMUXERS, ffmpeg_exe, input_args
from pipelines.render.video import VideoInfo

FLOW_WIDTH = 256
"""The widest frames the flow is computed on, pixels."""

_FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)
_FRAMES_PER_READ = 64


def flow_magnitudes(frames) -> np.ndarray:
    """Mean Farneback flow magnitude of each grey frame against the one before (frame 0: frame 1's).

    ``frames``: an iterable of ``(height, width)`` uint8 arrays.
    """
    import cv2

    values, previous = [], None
    for frame in frames:
        if previous is not None:
            flow = cv2.calcOpticalFlowFarneback(previous, frame, None, *_FARNEBACK)
            values.append(float(cv2.mean(cv2.magnitude(flow[..., 0], flow[..., 1]))[0]))
        previous = frame
    if not values:
        return np.zeros(1 if previous is not None else 0)
    return np.asarray([values[0], *values], dtype=np.float64)


def flow_peaks(flow: np.ndarray) -> np.ndarray:
    """Frames where the flow is a strict local maximum (AV-Align's video peaks)."""
    flow = np.asarray(flow, dtype=np.float64)
    if len(flow) < 3:
        return np.zeros(0, dtype=int)
    inner = (flow[1:-1] > flow[:-2]) & (flow[1:-1] > flow[2:])
    return np.flatnonzero(inner) + 1


def av_align(audio_peaks: np.ndarray, video_peaks: np.ndarray, *, fps: float) -> float:
    """AV-Align's intersection over union of onset times and video peak times (both seconds)."""
    audio_peaks = np.asarray(audio_peaks, dtype=np.float64)
    video_peaks = np.asarray(video_peaks, dtype=np.float64)
    if len(audio_peaks) == 0 and len(video_peaks) == 0:
        return 0.0
    hits = 0
    if len(video_peaks):
        window = 1.0 / fps
        for peak in audio_peaks:
            hits += bool(np.any((video_peaks - window < peak) & (peak < video_peaks + window)))
    return hits / (len(audio_peaks) + len(video_peaks) - hits)


class FlowReader:
    """Decodes a video grey in a background thread into its optical-flow curve."""

    def __init__(self, path: Path, info: VideoInfo):
        self.name = path.name
        self.width = max(16, min(FLOW_WIDTH, info.width) // 2 * 2)
        self.height = max(16, round(self.width * info.height / info.width / 2) * 2)
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   *input_args(path, demuxers=VIDEO_DEMUXERS),
                   "-map", "0:v:0", "-vf", f"scale={self.width}:{self.height}:flags=area",
                   "-pix_fmt", "gray", "-f", "rawvideo", "-"]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._flow: np.ndarray | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __enter__(self) -> FlowReader:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._thread.join()
        self._process.wait()

    def result(self) -> np.ndarray:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._flow

    def _run(self) -> None:
        try:
            self._flow = flow_magnitudes(self._frames())
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc
        finally:
            self._process.stdout.close()
            self._process.wait()

    def _frames(self):
        size = self.width * self.height
        while True:
            data = self._process.stdout.read(size * _FRAMES_PER_READ)
            usable = len(data) - len(data) % size
            for start in range(0, usable, size):
                yield np.frombuffer(data, dtype=np.uint8, count=size, offset=start).reshape(
                    self.height, self.width
                )
            if len(data) < size * _FRAMES_PER_READ:
                break
        log = self._process.stderr.read().decode("utf-8", errors="replace").strip()
        if self._process.wait() != 0:
            detail = log.splitlines()[-1] if log else f"ffmpeg exit code {self._process.returncode}"
            raise BeatwalkError(f"could not decode {self.name}: {detail}")
