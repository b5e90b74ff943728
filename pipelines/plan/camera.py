"""Camera moves on the music: zoom, rotation and translation per video frame.

A project's camera (``project.camera``, and a keyframe's ``camera`` from that keyframe on) is four
axes, each a steady rate plus a kick on every beat, downbeat or onset plus a follow of an energy
curve (see :class:`pipelines.project.CameraAxis`). This module turns them into the camera's
**motion per frame**: how far it moves from frame ``i - 1`` to frame ``i``. Pure numpy, vectorised
over frames, like the frame plan.

- A kick counts from the first frame starting at or after its beat, as the plan's pulse does:
  that frame gets the largest part of the move, ``kick · (1 − ½^(1 / (decay · fps)))``, and each
  frame after it the rest, halving every ``kick_decay`` seconds; a new kick takes over from the
  one before (what the old one had left is not added).
- ``motion.offset`` shifts kicks and energy as it shifts the walk.
- Where a keyframe brings its own camera, the motion blends from the camera before to the new one
  over ``ease`` seconds (of the new camera) with the project's easing curve.

The two renderers use the motion differently (:meth:`CameraPath.poses`):

- the **feedback** renderer moves each frame's picture by that frame's motion, so motion
  accumulates through the picture itself (an endless zoom);
- the **walk** renders every frame on its own, so each frame is shown at a pose: rotation and
  translation are the motion summed so far (a spin turns, a drift drifts); zoom is the motion
  summed with a half-life of :data:`WALK_ZOOM_RETURN` seconds, so a kick punches in and settles
  back and a steady zoom holds a steady crop (zooming in for ever needs new picture at the
  border, which only the feedback renderer makes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.frames import frame_count
from pipelines.plan.easing import shape_move
from pipelines.project import CameraAxis, CameraSettings

AXES = ("zoom", "angle", "x", "y")
ENERGY_CURVES = {"percussive": "percussive", "onset": "onset", "bass": "low", "harmonic": "harmonic"}
"""Which ``Analysis.curves`` entry each ``follow`` reads."""
WALK_ZOOM_RETURN = 0.5
"""Half-life of the walk's zoom pose, seconds."""

PRESETS: dict[str, CameraSettings] = {
    "still": CameraSettings(),
    "zoom pulse": CameraSettings(zoom={"base": 0.02, "kick": 0.06, "kick_on": "beats", "kick_decay": 0.06}),
    "drift": CameraSettings(
        zoom={"base": 0.01},
        x={"base": 0.015, "follow": "harmonic", "follow_amount": 0.02},
        y={"follow": "bass", "follow_amount": -0.01},
    ),
    "spin on downbeats": CameraSettings(
        angle={"base": 2.0, "kick": 20.0, "kick_on": "downbeats", "kick_decay": 0.12},
        zoom={"base": 0.01, "kick": 0.03, "kick_on": "downbeats", "kick_decay": 0.12},
    ),
    "tunnel": CameraSettings(
        zoom={"base": 0.08, "follow": "bass", "follow_amount": 0.25},
        angle={"base": 4.0, "kick": 3.0, "kick_on": "beats", "kick_decay": 0.1},
    ),
}
"""Cameras a person picks in one click (the Motion tab, ``--camera`` on the CLI)."""


def camera_preset(name: str) -> CameraSettings:
    """The preset called ``name`` (see :data:`PRESETS`)."""
    try:
        return PRESETS[name].model_copy(deep=True)
    except KeyError:
        raise BeatwalkError(f"unknown camera preset {name!r}; choose from {', '.join(PRESETS)}") from None


def preset_of(camera: CameraSettings) -> str | None:
    """The name of the preset ``camera`` equals, if any."""
    return next((name for name, preset in PRESETS.items() if preset == camera), None)


@dataclass(frozen=True, eq=False)
class CameraPath:
    """The camera's motion for every video frame.

    Attributes
    ----------
    fps : float
    zoom : np.ndarray [shape=(n_frames,)]
        Log-zoom from the frame before (0: none; 0.01: 1 % closer).
    angle : np.ndarray [shape=(n_frames,)]
        Degrees turned from the frame before (positive: the picture turns anticlockwise).
    x, y : np.ndarray [shape=(n_frames,)]
        Camera movement from the frame before, in frame widths and heights.
    border : str
        ``reflect``, ``wrap`` or ``replicate``: what fills where the picture leaves the frame.
    """

    fps: float
    zoom: np.ndarray
    angle: np.ndarray
    x: np.ndarray
    y: np.ndarray
    border: str

    @property
    def n_frames(self) -> int:
        return len(self.zoom)

    @property
    def moves(self) -> bool:
        return any(np.any(getattr(self, axis) != 0) for axis in AXES)

    def poses(self) -> dict[str, np.ndarray]:
        """The walk's pose per frame: rotation and translation summed, zoom summed with a return."""
        poses = {axis: np.cumsum(getattr(self, axis)) for axis in ("angle", "x", "y")}
        keep = 0.5 ** (1.0 / (WALK_ZOOM_RETURN * self.fps))
        from scipy.signal import lfilter

        poses["zoom"] = lfilter([1.0], [1.0, -keep], self.zoom) if self.n_frames else self.zoom
        return poses

    def summary(self) -> dict:
        """A short JSON-able overview: what moves, and how far over the song."""
        return {
            "moves": self.moves,
            "border": self.border,
            "total": {axis: round(float(np.sum(getattr(self, axis))), 4) for axis in AXES},
            "largest_step": {
                axis: round(float(np.max(np.abs(getattr(self, axis)), initial=0.0)), 5) for axis in AXES
            },
        }

    def to_dict(self) -> dict:
        """JSON-able: the motion per frame and the walk's poses (what the API's ``/plan`` answers)."""
        poses = self.poses()
        return {
            "fps": self.fps,
            "border": self.border,
            "motion": {axis: np.round(getattr(self, axis), 6).tolist() for axis in AXES},
            "walk_pose": {axis: np.round(poses[axis], 6).tolist() for axis in AXES},
        }


def plan_camera(project, analysis) -> CameraPath:
    """The camera's motion per frame for a project on its analysed song.

    Parameters
    ----------
    project : pipelines.project.Project
        ``camera``, keyframes' ``camera``, ``motion.offset``, ``motion.easing`` and ``render.fps``.
    analysis : pipelines.music.analysis.Analysis
        ``duration``, ``beats``, ``downbeats``, ``onsets`` and ``curves(fps)``.

    Returns
    -------
    CameraPath
        ``frame_count(analysis.duration, project.render.fps)`` frames, the same frames as the plan.
    """
    fps = float(project.render.fps)
    n_frames = frame_count(float(analysis.duration), fps)
    if n_frames < 1:
        raise BeatwalkError(
            f"the song segment ({analysis.duration:g} s) is shorter than one frame at {fps:g} fps"
        )
    times = np.arange(n_frames) / fps
    offset = project.motion.offset

    # 1. The cameras in force and where each takes over: the project's, then each keyframe's own.
    cameras = [(0.0, project.camera)]
    for keyframe in project.keyframes:
        if keyframe.camera is not None:
            start = round(keyframe.time * fps) / fps
            cameras = [c for c in cameras if c[0] < start] + [(start, keyframe.camera)]
    moving = [camera for _, camera in cameras if camera.moves]
    border = project.camera.border  # one border for the whole video: the project's
    if not moving:
        zero = np.zeros(n_frames)
        return CameraPath(fps, zero, zero.copy(), zero.copy(), zero.copy(), border)

    curves = analysis.curves(fps) if any(getattr(c, a).follow_amount for c in moving for a in AXES) else {}
    events = {
        name: np.asarray(getattr(analysis, name), dtype=np.float64) + offset
        for name in ("beats", "downbeats", "onsets")
    }

    # 2. Each camera's motion over the whole song, then blended where the next takes over.
    motion = {axis: np.zeros(n_frames) for axis in AXES}
    for n, (start, camera) in enumerate(cameras):
        weight = _takes_over(times, start, camera.ease, project.motion.easing) if n else np.ones(n_frames)
        for axis in AXES:
            own = _axis_motion(getattr(camera, axis), times, fps, events, curves, offset)
            motion[axis] = (1 - weight) * motion[axis] + weight * own
    return CameraPath(fps, motion["zoom"], motion["angle"], motion["x"], motion["y"], border)


def _axis_motion(
    axis: CameraAxis, times, fps: float, events: dict, curves: dict, offset: float
) -> np.ndarray:
    motion = np.full(len(times), axis.base / fps)
    if axis.follow_amount:
        energy = _shifted(curves[ENERGY_CURVES[axis.follow]], round(offset * fps))
        motion += axis.follow_amount * energy / fps
    if axis.kick:
        motion += axis.kick * _kick_shares(times, events[axis.kick_on], fps, axis.kick_decay)
    return motion


def _kick_shares(times: np.ndarray, events: np.ndarray, fps: float, decay: float) -> np.ndarray:
    """Per frame, the share of the last kick's move that lands on it (1 in all over a long tail)."""
    if len(events) == 0:
        return np.zeros_like(times)
    # The tolerance keeps an event exactly on a frame start (up to rounding) on that frame.
    event_frames = np.ceil(events * fps - 1e-6)
    frame = np.arange(len(times))
    last = np.searchsorted(event_frames, frame, side="right") - 1
    since = frame - event_frames[np.maximum(last, 0)]
    rate = math.log(2.0) / (decay * fps)
    share = np.exp(-rate * since) - np.exp(-rate * (since + 1))
    return np.where(last < 0, 0.0, share)


def _takes_over(times: np.ndarray, start: float, ease: float, easing: str) -> np.ndarray:
    """0 before ``start``, rising to 1 over ``ease`` seconds with the easing curve."""
    if ease <= 0:
        return (times >= start - 1e-9).astype(float)
    progress = np.clip((times - start) / ease, 0.0, 1.0)
    return np.where(times < start - 1e-9, 0.0, shape_move(progress, easing, None, None))


def _shifted(curve: np.ndarray, frames: int) -> np.ndarray:
    """The curve ``frames`` later (> 0) or earlier, held at its ends."""
    curve = np.asarray(curve, dtype=np.float64)
    if frames == 0 or len(curve) == 0:
        return curve
    index = np.clip(np.arange(len(curve)) - frames, 0, len(curve) - 1)
    return curve[index]
