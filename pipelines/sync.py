"""Does the video dance? How well a video's visual change lands on its song's beats.

The visual-change curve says how much each frame differs from the one before
(frame ``i`` is compared with frame ``i - 1``; frame 0 has no change). Two
measures are computed on frames decoded at 64 px wide:

- ``pixel``: mean absolute RGB difference, 0..1;
- ``perceptual``: the mean of three cheap, fixed-filter features that follow
  what the eye sees rather than single pixels: the difference of the low-pass
  luma (16 px wide), of the luma edge map (32 px wide), and of the coarse
  colour histogram (64 bins, half the L1 distance), each 0..1.

The song's onset strength is sampled at the video's frame rate (value ``i`` is
the energy of ``[i / fps, (i + 1) / fps)``, as ``Analysis.curves`` defines it),
so frame ``i`` of both curves is the same moment. A beat at time ``b`` belongs
to frame ``floor(b * fps)``.

Figures, for each measure:

- ``f_measure`` (with ``precision``, ``recall``): visual peaks against beats,
  a peak hitting a beat when it lies within ±1 frame of the beat's frame;
- ``correlation``: Pearson correlation of visual change and onset strength;
- ``offset_ms``: the lag, within ±500 ms, that maximises their
  cross-correlation. Positive: the picture changes *after* the sound (late);
  negative: it changes before it (early);
- ``dtw_distance``: the mean absolute difference per frame between the two
  curves (each scaled to 0..1 by its 99th percentile) after dynamic time
  warping within the same ±500 ms band; 0 is a perfect match.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter
from scipy.signal import find_peaks

from pipelines.errors import BeatwalkError
from pipelines.video import VideoInfo, ffmpeg_exe, probe_video

DECODE_WIDTH = 64
"""Width frames are decoded at, pixels: the change curve needs no more, and it is fast."""

MAX_OFFSET = 0.5
"""Largest audio-visual lag searched (cross-correlation and DTW band), seconds."""

# Durations of the video and the song may differ by one frame (rounding) plus
# the AAC encoder's priming and padding (up to two 1024-sample blocks).
_AAC_PADDING = 0.1
# A change smaller than half a grey level on average is compression noise, not motion.
_PEAK_FLOOR = 0.5 / 255
_FRAMES_PER_BLOCK = 256



@dataclass
class SyncScore:
    """How well a video's visual change follows its song.

    Attributes
    ----------
    video : str
        The video file.
    audio_source : str
        Where the beats come from: ``"song"`` (given), ``"sidecar"`` (the
        song named in the video's project), ``"video"`` (its own soundtrack) or
        ``"analysis"`` (given).
    fps : float
        Frame rate of the video, frames per second.
    n_frames : int
        Frames decoded.
    duration : float
        ``n_frames / fps``, seconds.
    tempo : float
        The song's tempo, BPM.
    f_measure, precision, recall, correlation, offset_ms, dtw_distance
        Figures on the pixel change curve (see the module docstring);
        ``correlation`` is None when a curve is constant.
    perceptual : dict
        The same six figures on the perceptual change curve.
    visual_change, perceptual_change, onset_strength : np.ndarray [shape=(n_frames,)]
        The curves, per frame (change 0..1, onset strength 0..1).
    beats : np.ndarray [shape=(b,)]
        Beats inside the video, seconds.
    peaks, perceptual_peaks : np.ndarray [shape=(p,), int]
        Frames where the change curves peak.
    """

    video: str
    audio_source: str
    fps: float
    n_frames: int
    duration: float
    tempo: float
    f_measure: float
    precision: float
    recall: float
    correlation: float | None
    offset_ms: float
    dtw_distance: float
    perceptual: dict
    visual_change: np.ndarray = field(repr=False)
    perceptual_change: np.ndarray = field(repr=False)
    onset_strength: np.ndarray = field(repr=False)
    beats: np.ndarray = field(repr=False)
    peaks: np.ndarray = field(repr=False)
    perceptual_peaks: np.ndarray = field(repr=False)

    @property
    def times(self) -> np.ndarray:
        """Start time of each frame, seconds [shape=(n_frames,)]."""
        return np.arange(self.n_frames) / self.fps

    def to_dict(self, *, curves: bool = False) -> dict:
        """The figures as JSON-able data; ``curves=True`` adds the per-frame curves."""
        data = {
            "video": self.video,
            "audio_source": self.audio_source,
            "fps": self.fps,
            "n_frames": self.n_frames,
            "duration": round(self.duration, 4),
            "tempo": round(self.tempo, 2),
            "n_beats": int(len(self.beats)),
            "n_peaks": int(len(self.peaks)),
            "f_measure": self.f_measure,
            "precision": self.precision,
            "recall": self.recall,
            "correlation": self.correlation,
            "offset_ms": self.offset_ms,
            "dtw_distance": self.dtw_distance,
            "perceptual": self.perceptual,
        }
        if curves:
            data["curves"] = {
                "visual_change": np.round(self.visual_change, 5).tolist(),
                "perceptual_change": np.round(self.perceptual_change, 5).tolist(),
                "onset_strength": np.round(self.onset_strength, 5).tolist(),
                "beats": np.round(self.beats, 4).tolist(),
                "peaks": self.peaks.tolist(),
                "perceptual_peaks": self.perceptual_peaks.tolist(),
            }
        return data


def score_video(video_path: str | Path, *, song: str | Path | None = None, analysis=None) -> SyncScore:
    """Measure how well a video's visual change lands on its song's beats.

    Parameters
    ----------
    video_path : str or Path
        Any video ffmpeg reads (a Beatwalk render, or any other).
    song : str, Path or None
        The song to score against, decoded whole. None: the song (and
        segment) named in the video's sidecar project ``<video stem>.json``
        when there is one and its song exists, else the video's own soundtrack.
    analysis : pipelines.analysis.Analysis or None
        An analysis of the video's song segment, to skip decoding and
        analysing it again (the Space keeps one). Not together with ``song``.

    Returns
    -------
    SyncScore

    Raises
    ------
    BeatwalkError
        Missing, corrupt or video-less file; no soundtrack and no song; a song
        whose length differs from the video's by more than a frame (plus AAC
        padding).
    """
    # 1. Check the video and start decoding it; the audio work overlaps.
    video_path = Path(video_path)
    if song is not None and analysis is not None:
        raise BeatwalkError("give a song or an analysis to score against, not both")
    if not video_path.is_file():
        raise BeatwalkError(f"video not found: {video_path}")
    if video_path.stat().st_size == 0:
        raise BeatwalkError(f"video file is empty: {video_path.name}")
    info = probe_video(video_path)
    if info.frames < 2 or info.fps <= 0:
        raise BeatwalkError(f"{video_path.name} has {info.frames} frame(s) at {info.fps:g} fps: nothing moves")
    with _ChangeReader(video_path, info) as reader:
        # 2. Beats and onset strength of the song, while frames decode.
        audio_source = "analysis"
        if analysis is None:
            from pipelines.analysis import analyze  # librosa's import overlaps the decoding too

            audio, audio_source = _load_song(video_path, song, info)
            _check_lengths(audio.duration, info.frames / info.fps, info.fps, what=audio_source)
            analysis = analyze(audio)
        else:
            _check_lengths(analysis.duration, info.frames / info.fps, info.fps, what=audio_source)
        pixel, perceptual = reader.result()

    # 3. Both on one frame grid.
    fps = info.fps
    n_frames = len(pixel)
    duration = n_frames / fps
    onset = _fit(np.asarray(analysis.curves(fps)["onset"], dtype=np.float64), n_frames)
    beats = np.asarray(analysis.beats, dtype=np.float64)
    beats = beats[(beats >= 0) & (beats < duration)]

    # 4. Figures for both measures.
    figures, peaks = {}, {}
    for name, change in (("pixel", pixel), ("perceptual", perceptual)):
        peaks[name] = visual_peaks(change, fps=fps)
        figures[name] = _figures(change, peaks[name], onset, beats, fps)
    return SyncScore(
        video=str(video_path),
        audio_source=audio_source,
        fps=fps,
        n_frames=n_frames,
        duration=duration,
        tempo=float(analysis.tempo),
        **figures["pixel"],
        perceptual=figures["perceptual"],
        visual_change=pixel,
        perceptual_change=perceptual,
        onset_strength=onset,
        beats=beats,
        peaks=peaks["pixel"],
        perceptual_peaks=peaks["perceptual"],
    )


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
    threshold = np.maximum(level + np.maximum(k * spread, _PEAK_FLOOR), relative * maximum_filter1d(change, size))
    peaks, _ = find_peaks(change, height=threshold, distance=max(1, int(round(0.1 * fps))))
    return peaks


def beat_f_measure(peaks: np.ndarray, beats: np.ndarray, *, fps: float, tolerance: int = 1) -> tuple[float, float, float]:
    """F-measure, precision and recall of peak frames against beat times.

    A peak hits a beat when it lies within ``tolerance`` frames of the beat's
    frame ``floor(beat * fps)``; each beat and each peak counts once (pairs
    are taken closest first).

    Parameters
    ----------
    peaks : np.ndarray [shape=(p,), int]
        Frame indices.
    beats : np.ndarray [shape=(b,)]
        Seconds.
    fps : float > 0
    tolerance : int >= 0
        Frames.

    Returns
    -------
    f_measure, precision, recall : float, 0..1
    """
    beat_frames = np.floor(np.asarray(beats) * fps).astype(int)
    if len(peaks) == 0 or len(beat_frames) == 0:
        return 0.0, 0.0, 0.0
    distance = np.abs(np.asarray(peaks)[:, None] - beat_frames[None, :])
    pairs = np.argwhere(distance <= tolerance)
    pairs = pairs[np.argsort(distance[pairs[:, 0], pairs[:, 1]], kind="stable")]
    used_peaks, used_beats = set(), set()
    for p, b in pairs:
        if p not in used_peaks and b not in used_beats:
            used_peaks.add(p)
            used_beats.add(b)
    hits = len(used_peaks)
    precision, recall = hits / len(peaks), hits / len(beat_frames)
    f_measure = 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
    return f_measure, precision, recall


def best_offset(visual: np.ndarray, onset: np.ndarray, *, fps: float, max_offset: float = MAX_OFFSET) -> float:
    """The audio-visual lag that best lines the visual change up with the onsets.

    Parameters
    ----------
    visual, onset : np.ndarray [shape=(n,)]
        Per-frame curves on the same grid.
    fps : float > 0
    max_offset : float > 0
        Largest lag searched, seconds.

    Returns
    -------
    float
        Seconds, refined between frames by a parabola through the peak.
        Positive: the picture changes after the sound; negative: before.
    """
    v, o = _standardise(visual), _standardise(onset)
    max_lag = min(int(max_offset * fps), len(v) - 2)
    if max_lag < 1 or not v.any() or not o.any():
        return 0.0
    lags = np.arange(-max_lag, max_lag + 1)
    # r[lag] = mean over the overlap of visual[i + lag] * onset[i].
    r = np.array([np.mean(v[lag:] * o[: len(o) - lag]) if lag >= 0 else np.mean(v[:lag] * o[-lag:]) for lag in lags])
    best = int(np.argmax(r))
    shift = 0.0
    if 0 < best < len(r) - 1:
        left, centre, right = r[best - 1 : best + 2]
        curvature = left - 2 * centre + right
        if curvature < 0:
            shift = 0.5 * (left - right) / curvature
    return float((lags[best] + shift) / fps)


def dtw_distance(a: np.ndarray, b: np.ndarray, *, band: int) -> float:
    """Dynamic time warping distance of two equal-length curves within a band.

    Parameters
    ----------
    a, b : np.ndarray [shape=(n,)]
        Curves, compared by absolute difference.
    band : int >= 0
        Largest warp, frames (Sakoe-Chiba band).

    Returns
    -------
    float
        Cost of the best alignment divided by ``n``.
    """
    n = len(a)
    if n == 0:
        return 0.0
    # accumulated[j + 1] holds D[i, j], the cost of the best path to cell
    # (i, j); accumulated[0] is the virtual start D[-1, -1] = 0, inf after row 0.
    accumulated = np.full(n + 1, np.inf)
    accumulated[0] = 0.0
    for i in range(n):
        lo, hi = max(0, i - band), min(n, i + band + 1)
        cost = np.abs(a[i] - b[lo:hi])
        diag_or_up = np.minimum(accumulated[lo:hi], accumulated[lo + 1 : hi + 1])
        # The within-row recurrence D[j] = c[j] + min(diag_or_up[j], D[j - 1]),
        # in closed form: D = S + cummin(diag_or_up - S + c), S = cumsum(c).
        total = np.cumsum(cost)
        accumulated[lo + 1 : hi + 1] = total + np.minimum.accumulate(diag_or_up - total + cost)
        accumulated[lo] = np.inf
    return float(accumulated[n] / n)


def scale_to_unit(curve: np.ndarray) -> np.ndarray:
    """Scale a curve [shape=(n,)] to 0..1 by its 99th percentile, so one cut does not flatten the rest."""
    top = np.percentile(curve, 99) if len(curve) else 0.0
    return np.clip(curve / top, 0.0, 1.0) if top > 0 else np.zeros_like(curve, dtype=np.float64)


# -- internals ---------------------------------------------------------------


def _figures(change: np.ndarray, peaks: np.ndarray, onset: np.ndarray, beats: np.ndarray, fps: float) -> dict:
    f_measure, precision, recall = beat_f_measure(peaks, beats, fps=fps)
    correlation = None
    if np.ptp(change) > 0 and np.ptp(onset) > 0:
        correlation = round(float(np.corrcoef(change, onset)[0, 1]), 4)
    band = int(MAX_OFFSET * fps)
    return {
        "f_measure": round(f_measure, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "correlation": correlation,
        "offset_ms": round(1000.0 * best_offset(change, onset, fps=fps), 1),
        "dtw_distance": round(dtw_distance(scale_to_unit(change), scale_to_unit(onset), band=band), 4),
    }


def _pool(images: np.ndarray) -> np.ndarray:
    """2×2 average pooling of (n, h, w) images (odd edges dropped)."""
    n, h, w = images.shape
    h, w = h - h % 2, w - w % 2
    return images[:, :h, :w].reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def _standardise(curve: np.ndarray) -> np.ndarray:
    spread = curve.std()
    return (curve - curve.mean()) / spread if spread > 0 else np.zeros_like(curve, dtype=np.float64)


def _fit(curve: np.ndarray, n: int) -> np.ndarray:
    """Cut or pad (with its last value) a per-frame curve to n frames."""
    if len(curve) >= n:
        return curve[:n]
    pad = curve[-1] if len(curve) else 0.0
    return np.concatenate([curve, np.full(n - len(curve), pad)])


def _check_lengths(audio_duration: float, video_duration: float, fps: float, *, what: str) -> None:
    if abs(audio_duration - video_duration) > 1.0 / fps + _AAC_PADDING:
        audio = {"song": "the song", "sidecar": "the project's song", "video": "the soundtrack"}.get(what, "the analysis")
        raise BeatwalkError(
            f"{audio} ({audio_duration:.2f} s) and the video ({video_duration:.2f} s) have different lengths"
        )


def _load_song(video_path: Path, song: str | Path | None, info: VideoInfo):
    """The audio to score against and where it came from (see ``score_video``)."""
    from pipelines.audio import load_audio

    if song is not None:
        return load_audio(song), "song"
    sidecar = video_path.with_suffix(".json")
    if sidecar.is_file():
        from pipelines.project import Project

        project = Project.load(sidecar)
        if Path(project.audio.path).is_file():
            return load_audio(project.audio.path, start=project.audio.start, end=project.audio.end), "sidecar"
    if not info.has_audio:
        raise BeatwalkError(f"{video_path.name} has no soundtrack: give the song to score against (--song)")
    return load_audio(video_path), "video"


class _ChangeReader:
    """Decodes a video in a background thread into its two change curves.

    ffmpeg scales frames down to ``DECODE_WIDTH`` and pipes raw RGB; blocks of
    frames are turned into change values as they arrive, so memory stays flat
    in the video's length.
    """

    def __init__(self, path: Path, info: VideoInfo):
        self.name = path.name
        self.width = DECODE_WIDTH
        self.height = max(4, 4 * round(DECODE_WIDTH * info.height / info.width / 4))
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0"]
        command += ["-vf", f"scale={self.width}:{self.height}:flags=area", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._curves: tuple[np.ndarray, np.ndarray] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __enter__(self) -> _ChangeReader:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._thread.join()
        self._process.wait()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._curves

    def _run(self) -> None:
        try:
            self._curves = self._read()
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        frame_bytes = self.width * self.height * 3
        pixel, perceptual, previous = [], [], None
        while True:
            data = self._process.stdout.read(frame_bytes * _FRAMES_PER_BLOCK)
            usable = len(data) - len(data) % frame_bytes
            if usable:
                frames = np.frombuffer(data[:usable], dtype=np.uint8).reshape(-1, self.height, self.width, 3)
                block_pixel, block_perceptual = visual_change(frames, previous=previous)
                pixel.append(block_pixel)
                perceptual.append(block_perceptual)
                previous = frames[-1]
            if len(data) < frame_bytes * _FRAMES_PER_BLOCK:
                break
        log = self._process.stderr.read().decode("utf-8", errors="replace").strip()
        if self._process.wait() != 0:
            detail = log.splitlines()[-1] if log else f"ffmpeg exit code {self._process.returncode}"
            raise BeatwalkError(f"could not decode {self.name}: {detail}")
        if previous is None:
            raise BeatwalkError(f"no frames decode from {self.name}")
        return np.concatenate(pixel), np.concatenate(perceptual)
