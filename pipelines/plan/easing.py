"""Easing curves, and the shape of one move of the walk built from them.

The frame plan (:mod:`pipelines.plan.timeline`) measures each move between two
keyframes as progress ``u`` from 0 to 1 on its clock (time, or the music's
energy), then shapes it into the position ``t`` with :func:`shape_move`: eased
where the picture starts or stops at rest, at a shared speed where it flows
through a keyframe into the next move.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.errors import BeatwalkError

EASINGS = ("linear", "sine", "cubic", "smoothstep")

MIDPOINT_SLOPE = {"linear": 1.0, "sine": math.pi / 2, "cubic": 3.0, "smoothstep": 1.5}
"""Slope of each easing at u = 1/2: the speed its halves reach (or leave) at their fast end."""


def ease(u, easing: str) -> np.ndarray:
    """An ease-in-out curve on ``[0, 1]``: ``linear``, ``sine``, ``cubic`` or ``smoothstep``.

    Parameters
    ----------
    u : np.ndarray
        Progress, clipped to ``[0, 1]``.
    easing : str
        One of ``EASINGS``.

    Returns
    -------
    np.ndarray [shape=u.shape]
        From 0 to 1, symmetric about ``(1/2, 1/2)``; all but ``linear`` start and end at rest.
    """
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    if easing == "linear":
        return u
    if easing == "sine":
        return (1.0 - np.cos(np.pi * u)) / 2.0
    if easing == "cubic":
        return np.where(u < 0.5, 4.0 * u**3, 1.0 - (2.0 - 2.0 * u) ** 3 / 2.0)
    if easing == "smoothstep":
        return u * u * (3.0 - 2.0 * u)
    raise BeatwalkError(f"unknown easing {easing!r}: use linear, sine, cubic or smoothstep")


def ease_in(u, easing: str) -> np.ndarray:
    """The first half of :func:`ease`, stretched to ``[0, 1]``: from rest to ``MIDPOINT_SLOPE``."""
    return 2.0 * ease(np.asarray(u, dtype=np.float64) / 2.0, easing)


def ease_out(u, easing: str) -> np.ndarray:
    """The second half of :func:`ease`, stretched to ``[0, 1]``: fast at once, then settling to rest."""
    return 2.0 * ease((1.0 + np.asarray(u, dtype=np.float64)) / 2.0, easing) - 1.0


def shape_move(u, easing: str, start_slope: float | None, end_slope: float | None) -> np.ndarray:
    """Turn a move's progress ``u`` (0..1 on its clock) into the position ``t`` (0..1).

    Parameters
    ----------
    u : np.ndarray
        Progress, 0..1.
    easing : str
        One of ``EASINGS``: how the move leaves or reaches rest.
    start_slope, end_slope : float in [0, 2] or None
        ``dt/du`` the move must have at that end, to share its speed with the
        neighbouring move through a keyframe; ``None``: that end is at rest.

    Returns
    -------
    np.ndarray [shape=u.shape]
        Monotone from 0 to 1.

    Notes
    -----
    - Both ends at rest: the easing curve itself.
    - One end at rest: a blend of the easing curve and its half that is fast at
      the flowing end (:func:`ease_in` / :func:`ease_out`), weighted so that end
      has the asked slope. Both curves are monotone, so the blend is, and it
      keeps the easing's shape at the rest end.
    - Otherwise (no end at rest, ``linear`` easing, or a slope steeper than the
      half's own ``MIDPOINT_SLOPE``): the cubic Hermite with those slopes (0 at
      a rest end, 1 for ``linear``), monotone for slopes up to 3.
    """
    u = np.asarray(u, dtype=np.float64)
    if start_slope is None and end_slope is None:
        return ease(u, easing)
    steepest = MIDPOINT_SLOPE[easing]
    if easing != "linear" and start_slope is None and end_slope <= steepest:
        weight = end_slope / steepest
        return weight * ease_in(u, easing) + (1.0 - weight) * ease(u, easing)
    if easing != "linear" and end_slope is None and start_slope <= steepest:
        weight = start_slope / steepest
        return weight * ease_out(u, easing) + (1.0 - weight) * ease(u, easing)
    rest = 1.0 if easing == "linear" else 0.0
    d0 = rest if start_slope is None else start_slope
    d1 = rest if end_slope is None else end_slope
    return (u**3 - 2 * u**2 + u) * d0 + (3 * u**2 - 2 * u**3) + (u**3 - u**2) * d1
