"""Easing curves and move shapes: ends, monotony, and the slopes asked for."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import BeatwalkError
from pipelines.plan.easing import EASINGS, MIDPOINT_SLOPE, ease, ease_in, ease_out, shape_move

U = np.linspace(0.0, 1.0, 2001)
STEP = U[1] - U[0]


def slopes(curve: np.ndarray) -> tuple[float, float]:
    """Numerical slope at u = 0 and u = 1 (second-order one-sided differences)."""
    start = (-3 * curve[0] + 4 * curve[1] - curve[2]) / (2 * STEP)
    end = (3 * curve[-1] - 4 * curve[-2] + curve[-3]) / (2 * STEP)
    return start, end


@pytest.mark.parametrize("easing", EASINGS)
def test_easing_curves(easing):
    e = ease(U, easing)
    assert e[0] == 0 and e[-1] == pytest.approx(1.0) and e[1000] == pytest.approx(0.5)
    assert np.all(np.diff(e) >= 0)
    np.testing.assert_allclose(e + e[::-1], 1.0, atol=1e-12)  # symmetric ease-in-out
    start, end = slopes(e)
    rest = 0.0 if easing != "linear" else 1.0
    assert start == pytest.approx(rest, abs=1e-2) and end == pytest.approx(rest, abs=1e-2)
    np.testing.assert_allclose(ease([-1.0, 2.0], easing), [0.0, 1.0])


@pytest.mark.parametrize("easing", EASINGS)
def test_halves_reach_the_midpoint_slope(easing):
    rest = 0.0 if easing != "linear" else 1.0
    assert slopes(ease_in(U, easing)) == pytest.approx((rest, MIDPOINT_SLOPE[easing]), abs=1e-2)
    assert slopes(ease_out(U, easing)) == pytest.approx((MIDPOINT_SLOPE[easing], rest), abs=1e-2)


@pytest.mark.parametrize("easing", EASINGS)
@pytest.mark.parametrize("start_slope", [None, 0.0, 0.4, 1.0, 1.4, 1.9])
@pytest.mark.parametrize("end_slope", [None, 0.0, 0.7, 1.0, 1.5, 1.99])
def test_move_shapes_are_monotone_with_the_slopes_asked_for(easing, start_slope, end_slope):
    shape = shape_move(U, easing, start_slope, end_slope)
    assert shape[0] == pytest.approx(0.0, abs=1e-12) and shape[-1] == pytest.approx(1.0)
    assert np.all(np.diff(shape) >= -1e-12)
    rest = 0.0 if easing != "linear" else 1.0
    start, end = slopes(shape)
    assert start == pytest.approx(rest if start_slope is None else start_slope, abs=1e-2)
    assert end == pytest.approx(rest if end_slope is None else end_slope, abs=1e-2)


@pytest.mark.parametrize("easing", EASINGS)
def test_a_move_at_rest_at_both_ends_is_the_easing_curve(easing):
    np.testing.assert_allclose(shape_move(U, easing, None, None), ease(U, easing))


def test_unknown_easing_is_refused():
    with pytest.raises(BeatwalkError, match="unknown easing 'bounce'"):
        ease(np.zeros(3), "bounce")
