"""Downsampling for drawing keeps every change point and respects the cap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paramsched as ps
from paramsched.dashboard.downsample import corner_indices, keep_indices


def values(schedule: ps.Schedule, total: int) -> np.ndarray:
    return np.array([schedule(k, total) for k in range(total)], dtype=np.float64)


def test_short_series_is_kept_whole() -> None:
    y = np.linspace(0, 1, 50)
    assert keep_indices(y, 100).tolist() == list(range(50))


def test_piecewise_linear_is_reproduced_from_its_corners() -> None:
    total = 100_000
    y = values(ps.WarmupStableDecay(3e-4, warmup=1000, decay=0.3, decay_shape="linear"), total)
    keep = keep_indices(y, 500)
    assert len(keep) <= 500
    # the end of the warmup and the start of the decay are kept exactly
    assert {1000, total - 30_000}.issubset(set(keep.tolist()))
    redrawn = np.interp(np.arange(total), keep, y[keep])
    assert np.max(np.abs(redrawn - y)) <= 1e-12 * 3e-4


def test_staircase_jumps_are_kept_on_both_sides() -> None:
    total = 50_000
    y = values(ps.Step(1.0, milestones=(0.3, 0.6, 0.9), gamma=0.1), total)
    keep = keep_indices(y, 64)
    for jump in (15_000, 30_000, 45_000):
        assert jump - 1 in keep and jump in keep
    # straight lines between the kept points give back every value bit for bit
    assert np.array_equal(np.interp(np.arange(total), keep, y[keep]), y)


def test_kinks_of_a_smooth_schedule_win_over_its_curvature() -> None:
    total = 200_000
    # cosine decay: every point of the decay has a (tiny) nonzero second difference
    y = values(ps.WarmupStableDecay(1.0, warmup=0.05, decay=0.5), total)
    corners, _ = corner_indices(y)
    assert corners.size > 1000  # far more "corners" than the budget
    keep = keep_indices(y, 400)
    assert len(keep) <= 400
    assert 10_000 in keep  # end of warmup: a real kink
    # the cosine decay starts with zero slope (no kink); the uniform points draw it closely
    redrawn = np.interp(np.arange(total), keep, y[keep])
    assert np.max(np.abs(redrawn - y)) < 1e-3


def test_noise_is_capped_and_extra_points_are_forced() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=10_000)
    keep = keep_indices(y, 100, extra=[1234, 5678])
    assert 1234 in keep and 5678 in keep
    assert len(keep) <= 102
    assert keep[0] == 0 and keep[-1] == 9_999
    assert np.all(np.diff(keep) > 0)


def test_float_rounding_of_a_ramp_is_not_a_corner() -> None:
    y = np.arange(10_000) * (3e-4 / 9_999)  # one straight line, rounding noise only
    assert corner_indices(y)[0].size == 0


def test_max_points_is_validated() -> None:
    with pytest.raises(ValueError, match=r"max_points must be an int >= 4, got max_points=2"):
        keep_indices(np.zeros(10), 2)
    with pytest.raises(TypeError, match="max_points"):
        keep_indices(np.zeros(10), 10.0)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    knots=st.lists(st.integers(1, 19_998), min_size=1, max_size=30, unique=True),
    levels=st.lists(st.floats(-5, 5, allow_nan=False), min_size=32, max_size=32),
)
def test_random_piecewise_linear_schedules_survive_downsampling(knots: list[int], levels: list[float]) -> None:
    total = 20_000
    xs = [0, *sorted(knots), total - 1]
    ys = levels[: len(xs)]
    y = np.interp(np.arange(total), xs, ys)
    keep = keep_indices(y, 200)
    assert len(keep) <= 200
    for knot in xs:
        assert knot in keep or abs(np.interp(knot, keep, y[keep]) - y[knot]) <= 1e-9
    redrawn = np.interp(np.arange(total), keep, y[keep])
    assert np.max(np.abs(redrawn - y)) <= 1e-9 * max(1.0, np.max(np.abs(y)))
