"""Summary numbers and first divergences, exact, from every recorded step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import paramsched as ps
from paramsched.dashboard.summary import Divergence, first_divergence, summarize
from paramsched.replay import diff

from .conftest import make_traj


def series_of(schedule: ps.Schedule, total: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(total)
    return steps, np.array([schedule(k, total) for k in range(total)], dtype=np.float64)


def test_warmup_stable_decay_summary_is_exact() -> None:
    total = 1000
    schedule = ps.WarmupStableDecay(3e-4, warmup=0.1, decay=0.2)
    s = summarize(*series_of(schedule, total))
    assert s.steps == 1000 and s.first_step == 0 and s.last_step == 999
    assert s.warmup == 100
    assert s.peak == 3e-4 and s.peak_step == 100
    assert s.decay_start == 800
    assert s.final == schedule(999, total)


def test_constant_cosine_and_warmup_only() -> None:
    assert summarize(*series_of(ps.Constant(0.1), 50)) == summarize(np.arange(50), np.full(50, 0.1))
    constant = summarize(*series_of(ps.Constant(0.1), 50))
    assert (constant.warmup, constant.peak, constant.decay_start, constant.final) == (0, 0.1, None, 0.1)
    cosine = summarize(*series_of(ps.Cosine(1.0, 0.0), 50))
    assert (cosine.warmup, cosine.peak_step, cosine.decay_start) == (0, 0, 0)
    ramp = summarize(*series_of(ps.Linear(0.85, 0.95), 50))
    assert (ramp.warmup, ramp.peak_step, ramp.decay_start) == (49, 49, None)


def test_a_resumed_run_counts_warmup_from_its_first_step() -> None:
    s = summarize(np.arange(10, 20), np.array([0.0, 1, 2, 3, 3, 3, 2, 1, 0, 0]))
    assert (s.first_step, s.warmup, s.peak_step, s.decay_start, s.final) == (10, 3, 13, 15, 0.0)


def test_summarize_rejects_empty_or_mismatched_input() -> None:
    with pytest.raises(ValueError, match="non-empty and the same length, got 0 steps and 0 values"):
        summarize(np.array([], dtype=np.int64), np.array([]))
    with pytest.raises(ValueError, match="got 2 steps and 3 values"):
        summarize(np.arange(2), np.zeros(3))


def test_first_divergence_value_missing_and_extra_steps() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4])
    assert first_divergence(np.arange(4), a, np.arange(4), a.copy()) is None
    b = a.copy()
    b[2] = 0.30000000000000004  # one ulp away: exact comparison
    assert first_divergence(np.arange(4), a, np.arange(4), b) == Divergence(2, "value", b[2], 0.3)
    # the run stops early: the first missing step is the divergence
    assert first_divergence(np.arange(4), a, np.arange(3), a[:3]) == Divergence(3, "missing", None, 0.4)
    # the run has a step the reference lacks
    assert first_divergence(np.arange(3), a[:3], np.arange(4), a) == Divergence(3, "extra", 0.4, None)
    # the earliest of several kinds wins
    d = first_divergence(np.array([0, 1, 3]), np.array([1.0, 2, 3]), np.array([0, 2, 3]), np.array([1.0, 2, 4]))
    assert d == Divergence(1, "missing", None, 2.0)


def test_divergence_descriptions() -> None:
    assert Divergence(5, "value", 0.1, 0.2).describe("b", "a") == "step 5: 0.1 (b) vs 0.2 (a)"
    assert Divergence(7, "missing", None, 0.2).describe("b", "a") == "step 7: only in a (b has no value)"
    assert Divergence(7, "extra", 0.3, None).describe("b", "a") == "step 7: only in b (a has no value)"
    assert Divergence(None, "no_series").describe("b", "a") == "not in a"


@pytest.mark.parametrize(
    "left,right",
    [
        ({"steps": [0, 1, 2, 3], "v": [1.0, 2, 3, 4]}, {"steps": [0, 1, 2, 3], "v": [1.0, 2, 3.5, 4]}),
        ({"steps": [0, 1, 2, 3], "v": [1.0, 2, 3, 4]}, {"steps": [0, 1, 2], "v": [1.0, 2, 3]}),
        ({"steps": [0, 2, 3], "v": [1.0, 3, 4]}, {"steps": [0, 1, 2, 3], "v": [1.0, 2, 3, 4]}),
        ({"steps": [0, 1], "v": [1.0, 2]}, {"steps": [0, 1], "v": [1.0, 2]}),
    ],
)
def test_first_divergence_agrees_with_replay_diff(left: dict, right: dict) -> None:
    a = make_traj({"hp/lr/g0": left["v"]}, steps=left["steps"])
    b = make_traj({"hp/lr/g0": right["v"]}, steps=right["steps"])
    row = diff(a, b).loc["hp/lr/g0"]
    mine = first_divergence(np.asarray(left["steps"]), np.asarray(left["v"]),
                            np.asarray(right["steps"]), np.asarray(right["v"]))
    if row["status"] == "equal":
        assert mine is None
    else:
        assert mine is not None and mine.step == row["first_diverging_step"]


def test_summary_of_a_recorded_frame_matches_pandas() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(500)
    s = summarize(np.arange(500), y)
    assert s.peak == float(pd.Series(y).max()) and s.peak_step == int(pd.Series(y).idxmax())
    assert s.final == y[-1]
