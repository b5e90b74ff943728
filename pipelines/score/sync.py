"""Does the video dance? How well a video's visual change lands on its song's beats.

The visual-change curves (``pixel`` and ``perceptual``, see
:mod:`pipelines.score.visual_change`) say how much each frame differs from the one
before; the video decodes into them while the song is analysed.

The song's onset strength is sampled at the video's frame rate (value ``i`` is
the energy of ``[i / fps, (i + 1) / fps)``, as ``Analysis.curves`` defines it),
so frame ``i`` of both curves is the same moment. A beat at time ``b`` belongs
to frame ``floor(b * fps)``.

Figures, for each measure:

- ``f_measure`` (with ``precision``, ``recall``): visual peaks against beats,
  a peak hitting a beat when it lies within ±1 frame of the beat's frame;
- ``correlation``: Pearson correlation of visual change and onset strength;
- ``offset_ms``: the lag that maximises their cross-correlation, searched
  within ±500 ms and at most half a beat period (on a steady beat a lag of a
  whole beat fits as well as none), with ``correlation_at_offset`` there.
  Positive: the picture changes *after* the sound (late); negative: it
  changes before it (early);
- ``dtw_distance``: the mean absolute difference per frame between the two
  curves (each scaled to 0..1 by its 99th percentile) after dynamic time
  warping within the same band; 0 is a perfect match.

And one published figure, on the video's motion rather than its change: ``av_align``, AV-Align
(optical-flow peaks against the song's onsets, intersection over union; see
:mod:`pipelines.score.av_align`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.render.video import VideoInfo, probe_video
from pipelines.score.av_align import FlowReader, av_align, flow_peaks
from pipelines.score.visual_change import ChangeReader, visual_peaks

MAX_OFFSET = 0.5
"""Largest audio-visual lag searched (cross-correlation and DTW band), seconds."""

# Durations of the video and the song may differ by one frame (rounding) plus
# the AAC encoder's priming and padding (up to two 1024-sample blocks).
_AAC_PADDING = 0.1


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
    f_measure, precision, recall, correlation, offset_ms, correlation_at_offset, dtw_distance
        Figures on the pixel change curve (see the module docstring);
        correlations are None when a curve is constant.
    perceptual : dict
        The same seven figures on the perceptual change curve.
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
    correlation_at_offset: float | None
    dtw_distance: float
    perceptual: dict
    av_align: float
    visual_change: np.ndarray = field(repr=False)
    perceptual_change: np.ndarray = field(repr=False)
    onset_strength: np.ndarray = field(repr=False)
    beats: np.ndarray = field(repr=False)
    peaks: np.ndarray = field(repr=False)
    perceptual_peaks: np.ndarray = field(repr=False)
    flow: np.ndarray = field(repr=False, default=None)
    """Mean optical-flow magnitude per frame (AV-Align's motion curve)."""
    onsets: np.ndarray = field(repr=False, default=None)
    """The song's onsets inside the video, seconds (AV-Align's audio peaks)."""

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
            "correlation_at_offset": self.correlation_at_offset,
            "dtw_distance": self.dtw_distance,
            "perceptual": self.perceptual,
            "av_align": self.av_align,
        }
        if curves:
            data["curves"] = {
                "visual_change": np.round(self.visual_change, 5).tolist(),
                "perceptual_change": np.round(self.perceptual_change, 5).tolist(),
                "onset_strength": np.round(self.onset_strength, 5).tolist(),
                "beats": np.round(self.beats, 4).tolist(),
                "peaks": self.peaks.tolist(),
                "perceptual_peaks": self.perceptual_peaks.tolist(),
                "flow": np.round(self.flow, 5).tolist(),
                "onsets": np.round(self.onsets, 4).tolist(),
            }
        return data


def score_video(
    video_path: str | Path,
    *,
    song: str | Path | None = None,
    analysis=None,
    sidecar: bool = True,
    max_seconds: float | None = None,
) -> SyncScore:
    """Measure how well a video's visual change lands on its song's beats.

    Parameters
    ----------
    video_path : str or Path
        Any video ffmpeg reads (a Beatwalk render, or any other).
    song : str, Path or None
        The song to score against, decoded whole. None: the song (and
        segment) named in the video's sidecar project ``<video stem>.json``
        when there is one and its song exists, else the video's own soundtrack.
    analysis : pipelines.music.analysis.Analysis or None
        An analysis of the video's song segment, to skip decoding and
        analysing it again (the Space keeps one). Not together with ``song``.
    sidecar : bool
        Read the song named in the video's sidecar project. A server scoring a stranger's upload
        says False: a project names files, and a server opens none of them.
    max_seconds : float or None
        Refuse a video (and a song) longer than this, seconds, before decoding it; None: no limit.

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
        raise BeatwalkError(f"{video_path.name} has {info.frames} frame(s): no motion to score")
    if max_seconds is not None and info.frames / info.fps > max_seconds:
        raise BeatwalkError(
            f"video is too long: {info.frames / info.fps:.0f} s (the limit is {max_seconds:g} s; "
            "set BEATWALK_MAX_SONG_SECONDS)"
        )
    with ChangeReader(video_path, info) as reader, FlowReader(video_path, info) as flow_reader:
        # 2. Beats and onset strength of the song, while frames decode.
        audio_source = "analysis"
        if analysis is None:
            (_, analysis), audio_source = _read_song(
                video_path, song, info, sidecar=sidecar, max_seconds=max_seconds
            )
        _check_lengths(analysis.duration, info.frames / info.fps, info.fps, what=audio_source)
        pixel, perceptual = reader.result()
        flow = _fit(flow_reader.result(), len(pixel))

    # 3. Both on one frame grid.
    fps = info.fps
    n_frames = len(pixel)
    duration = n_frames / fps
    onset = _fit(np.asarray(analysis.curves(fps)["onset"], dtype=np.float64), n_frames)
    beats = np.asarray(analysis.beats, dtype=np.float64)
    beats = beats[(beats >= 0) & (beats < duration)]

    onsets = np.asarray(analysis.onsets, dtype=np.float64)
    onsets = onsets[(onsets >= 0) & (onsets < duration)]

    # 4. Figures for both measures, and AV-Align.
    figures, peaks = {}, {}
    for name, change in (("pixel", pixel), ("perceptual", perceptual)):
        peaks[name] = visual_peaks(change, fps=fps)
        figures[name] = _figures(change, peaks[name], onset, beats, fps, float(analysis.tempo))
    return SyncScore(
        video=str(video_path),
        audio_source=audio_source,
        fps=fps,
        n_frames=n_frames,
        duration=duration,
        tempo=float(analysis.tempo),
        **figures["pixel"],
        perceptual=figures["perceptual"],
        av_align=round(av_align(onsets, flow_peaks(flow) / fps, fps=fps), 4),
        visual_change=pixel,
        perceptual_change=perceptual,
        onset_strength=onset,
        beats=beats,
        peaks=peaks["pixel"],
        perceptual_peaks=peaks["perceptual"],
        flow=flow,
        onsets=onsets,
    )


def beat_f_measure(
    peaks: np.ndarray, beats: np.ndarray, *, fps: float, tolerance: int = 1
) -> tuple[float, float, float]:
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


def best_offset(
    visual: np.ndarray, onset: np.ndarray, *, fps: float, max_offset: float = MAX_OFFSET
) -> tuple[float, float | None]:
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
    offset : float
        Seconds, refined between frames by a parabola through the peak.
        Positive: the picture changes after the sound; negative: before.
    correlation : float or None
        Pearson correlation of the curves at the best whole-frame lag; None
        when a curve is constant.
    """
    v, o = np.asarray(visual, dtype=np.float64), np.asarray(onset, dtype=np.float64)
    max_lag = min(int(max_offset * fps), len(v) - 2)
    if max_lag < 0 or np.ptp(v) == 0 or np.ptp(o) == 0:
        return 0.0, None
    lags = np.arange(-max_lag, max_lag + 1)
    # r[lag] = correlation of visual[i + lag] with onset[i] over the overlap.
    n, r = len(v), np.empty(len(lags))
    for j, lag in enumerate(lags):
        r[j] = _pearson(v[max(lag, 0) : n + min(lag, 0)], o[max(-lag, 0) : n - max(lag, 0)])
    best = int(np.argmax(r))
    shift = 0.0
    if 0 < best < len(r) - 1:
        left, centre, right = r[best - 1 : best + 2]
        curvature = left - 2 * centre + right
        if curvature < 0:
            shift = 0.5 * (left - right) / curvature
    return float((lags[best] + shift) / fps), float(r[best])


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


def _figures(
    change: np.ndarray, peaks: np.ndarray, onset: np.ndarray, beats: np.ndarray, fps: float, tempo: float
) -> dict:
    f_measure, precision, recall = beat_f_measure(peaks, beats, fps=fps)
    correlation = None
    if np.ptp(change) > 0 and np.ptp(onset) > 0:
        correlation = round(_pearson(change, onset), 4)
    # On a steady beat a lag of a whole beat fits as well as none: search half a beat at most.
    max_offset = min(MAX_OFFSET, 30.0 / tempo) if tempo > 0 else MAX_OFFSET
    offset, at_offset = best_offset(change, onset, fps=fps, max_offset=max_offset)
    band = int(max_offset * fps)
    return {
        "f_measure": round(f_measure, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "correlation": correlation,
        "offset_ms": round(1000.0 * offset, 1),
        "correlation_at_offset": None if at_offset is None else round(at_offset, 4),
        "dtw_distance": round(dtw_distance(scale_to_unit(change), scale_to_unit(onset), band=band), 4),
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _fit(curve: np.ndarray, n: int) -> np.ndarray:
    """Cut or pad (with its last value) a per-frame curve to n frames."""
    if len(curve) >= n:
        return curve[:n]
    pad = curve[-1] if len(curve) else 0.0
    return np.concatenate([curve, np.full(n - len(curve), pad)])


def _check_lengths(audio_duration: float, video_duration: float, fps: float, *, what: str) -> None:
    if abs(audio_duration - video_duration) > 1.0 / fps + _AAC_PADDING:
        names = {"song": "the song", "sidecar": "the project's song", "video": "the soundtrack"}
        audio = names.get(what, "the analysis")
        raise BeatwalkError(
            f"{audio} ({audio_duration:.2f} s) and the video ({video_duration:.2f} s) have different lengths"
        )


def _read_song(video_path: Path, song: str | Path | None, info: VideoInfo, *, sidecar: bool, max_seconds):
    """The song to score against (a ``Song``) and where it came from (see ``score_video``); its beat
    is read in the tempo range of the video's project (its sidecar), if it has one."""
    from pipelines.music.song import read_song
    from pipelines.project import Project

    # Where pipelines.render.runner saves a video's project (its sidecar_path; importing it costs seconds).
    sidecar_file = video_path.with_suffix(".json")
    project = None
    if sidecar and sidecar_file.is_file():
        try:
            project = Project.load(sidecar_file)
        except BeatwalkError:
            if song is None:  # it was to name the song; with --song only its tempo range is lost
                raise
    tempo_range = project.audio.tempo_range if project is not None else None
    if song is not None:
        return read_song(song, tempo_range=tempo_range, max_seconds=max_seconds), "song"
    if project is not None and Path(project.audio.path).is_file():
        return project.audio.read(max_seconds=max_seconds), "sidecar"
    if not info.has_audio:
        raise BeatwalkError(f"{video_path.name} has no soundtrack: give the song to score against")
    return read_song(video_path, tempo_range=tempo_range, max_seconds=max_seconds), "video"
