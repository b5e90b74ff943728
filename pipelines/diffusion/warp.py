"""Moving a picture with the camera, and keeping its colours: the image side of camera moves.

- :func:`warp_frame` zooms, turns and shifts a frame about its centre with OpenCV's
  ``warpAffine`` (Lanczos), as Deforum's 2-D animation does; where the picture leaves the frame the
  border is mirrored (``reflect``), wrapped round (``wrap``) or its edge pixels stretched
  (``replicate``), never black.
- :func:`match_colors` is Deforum's colour coherence: each channel's histogram matched to a
  reference picture's (scikit-image's ``match_histograms``) in LAB, RGB or HSV.

Frames are ``(height, width, 3)`` uint8 RGB arrays, as the walk yields them.
"""

from __future__ import annotations

import math

import numpy as np

BORDERS = ("reflect", "wrap", "replicate")


def warp_matrix(width: int, height: int, *, zoom: float, angle: float, x: float, y: float) -> np.ndarray:
    """The 2×3 affine matrix that moves the camera by a pose, in OpenCV's pixel coordinates.

    ``zoom``: natural-log scale (the picture grows by ``exp(zoom)``); ``angle``: degrees, the picture
    turns anticlockwise; ``x``, ``y``: the camera's move in frame widths and heights (the picture
    moves the other way). The frame's centre, ``((width − 1) / 2, (height − 1) / 2)``, stays put
    under zoom and rotation.
    """
    import cv2

    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), math.exp(float(zoom)))
    matrix[0, 2] -= float(x) * width
    matrix[1, 2] -= float(y) * height
    return matrix


def warp_frame(
    frame: np.ndarray, *, zoom=0.0, angle=0.0, x=0.0, y=0.0, border: str = "reflect"
) -> np.ndarray:
    """``frame`` seen by the camera moved by a pose (see :func:`warp_matrix`); a new uint8 array.

    A pose of all zeros gives the frame back unchanged (a copy).
    """
    import cv2

    if border not in BORDERS:
        raise ValueError(f"border must be one of {', '.join(BORDERS)}, got {border!r}")
    if not (zoom or angle or x or y):
        return frame.copy()
    height, width = frame.shape[:2]
    mode = {"reflect": cv2.BORDER_REFLECT_101, "wrap": cv2.BORDER_WRAP, "replicate": cv2.BORDER_REPLICATE}[
        border
    ]
    matrix = warp_matrix(width, height, zoom=zoom, angle=angle, x=x, y=y)
    return cv2.warpAffine(
        np.ascontiguousarray(frame), matrix, (width, height), flags=cv2.INTER_LANCZOS4, borderMode=mode
    )


def match_colors(frame: np.ndarray, reference: np.ndarray, mode: str = "lab") -> np.ndarray:
    """``frame`` with each channel's histogram matched to ``reference``'s, in ``mode``'s colour space.

    ``mode``: ``lab`` (Deforum's default), ``rgb``, ``hsv``, or ``none`` (the frame as it is).
    """
    if mode == "none":
        return frame
    import cv2
    from skimage.exposure import match_histograms

    to, back = {
        "lab": (cv2.COLOR_RGB2LAB, cv2.COLOR_LAB2RGB),
        "hsv": (cv2.COLOR_RGB2HSV_FULL, cv2.COLOR_HSV2RGB_FULL),
        "rgb": (None, None),
    }[mode]
    if to is None:
        return np.clip(np.rint(match_histograms(frame, reference, channel_axis=-1)), 0, 255).astype(np.uint8)
    matched = match_histograms(cv2.cvtColor(frame, to), cv2.cvtColor(reference, to), channel_axis=-1)
    return cv2.cvtColor(np.clip(np.rint(matched), 0, 255).astype(np.uint8), back)


def blend_matched(
    frame: np.ndarray, references: tuple[np.ndarray, np.ndarray], t: float, mode: str
) -> np.ndarray:
    """Colours matched to two keyframes' stills, mixed by ``t`` (0: the first, 1: the second)."""
    if mode == "none":
        return frame
    first = match_colors(frame, references[0], mode)
    if t <= 0 or references[1] is references[0]:
        return first
    second = match_colors(frame, references[1], mode)
    if t >= 1:
        return second
    return np.clip(np.rint((1 - t) * first + t * second), 0, 255).astype(np.uint8)


def mean_delta_e(frame: np.ndarray, reference: np.ndarray) -> float:
    """CIEDE2000 difference between the mean colours of two frames (how far colour has drifted)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    mean_lab = [
        rgb2lab(image.reshape(-1, 1, 3).astype(np.float64) / 255).mean(axis=(0, 1))
        for image in (frame, reference)
    ]
    return float(deltaE_ciede2000(mean_lab[0], mean_lab[1]))
