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

from pathlib import Path

import numpy as np

from pipelines.render.video import VideoInfo
from pipelines.score.visual_change import RawVideoReader

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


class FlowReader(RawVideoReader):
    """Decodes a video grey in a background thread into its optical-flow curve."""

    def __init__(self, path: Path, info: VideoInfo):
        width = max(16, min(FLOW_WIDTH, info.width) // 2 * 2)
        height = max(16, round(width * info.height / info.width / 2) * 2)
        super().__init__(path, info, width=width, height=height, pix_fmt="gray", channels=1)

    def _read(self) -> np.ndarray:
        return flow_magnitudes(frame for block in self.blocks(_FRAMES_PER_READ) for frame in block)
