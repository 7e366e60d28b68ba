"""The chart policy (which steps go to the W&B history): properties, without wandb."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import paramsched as ps
from paramsched_wandb.chart import ChartPolicy, Thinner, phase_steps, series_scales

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def runs(draw):
    width = draw(st.integers(1, 3))
    length = draw(st.integers(1, 120))
    start = draw(st.integers(0, 5))
    steps = list(range(start, start + length))
    # smooth stretches with jumps now and then: what schedules and interventions look like
    rows, value = [], [draw(finite) for _ in range(width)]
    for _ in steps:
        if draw(st.integers(0, 9)) == 0:
            value = [draw(finite) for _ in range(width)]
        else:
            value = [v + draw(st.floats(-1.0, 1.0)) for v in value]
        rows.append(value)
    every = draw(st.integers(1, 40))
    change = draw(st.sampled_from([0.0, 0.01, 0.05, 0.5]))
    forced = draw(st.sets(st.sampled_from(steps), max_size=4))
    scales = [draw(st.floats(0.0, 10.0)) for _ in range(width)]
    return steps, rows, every, change, forced, scales


def _charted(steps, rows, every, change, forced, scales):
    thin = Thinner(ChartPolicy(every, change), len(rows[0]), boundaries=forced, scales=scales)
    out = []
    for step, row in zip(steps, rows, strict=True):
        out.extend(thin.offer(step, row))
    out.extend(thin.finish())
    return out


@settings(max_examples=300, deadline=None)
@given(runs())
def test_the_chart_keeps_what_a_reader_needs(run):
    steps, rows, every, change, forced, scales = run
    charted = _charted(steps, rows, every, change, forced, scales)
    at = dict(zip(steps, rows, strict=True))
    got = [step for step, _ in charted]
    assert got == sorted(set(got)), "each step once, in order"
    assert all(values is at[step] for step, values in charted), "a charted row holds the recorded values"
    assert got[0] == steps[0] and got[-1] == steps[-1], "the first and the last step"
    assert all(b - a <= every for a, b in zip(got, got[1:])), "at least every `every` steps"
    for step in forced:
        assert step in got and (step == steps[0] or step - 1 in got), "a boundary and the step before it"
    # Between two charted steps no value moved further than `change` times its scale from
    # the earlier one: the chart's lines miss nothing bigger.
    magnitude = [abs(s) for s in scales]
    kept = set(got)
    for a, b in zip(got, got[1:]):
        for i, value in enumerate(at[a]):
            magnitude[i] = max(magnitude[i], abs(value))
        for step in range(a + 1, b):
            for i, value in enumerate(at[step]):
                assert abs(value - at[a][i]) <= change * magnitude[i], (a, step, i)
    if every == 1:
        assert kept == set(steps)


@settings(max_examples=150, deadline=None)
@given(runs(), st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_batches_chart_the_same_rows_as_one_row_at_a_time(run, cuts):
    """What the recorder's worker uses (numpy over a batch) gives the rows ``offer`` gives."""
    import numpy as np

    steps, rows, every, change, forced, scales = run
    expected = _charted(steps, rows, every, change, forced, scales)
    thin = Thinner(ChartPolicy(every, change), len(rows[0]), boundaries=forced, scales=scales)
    got, pos, i = [], 0, 0
    while pos < len(steps):
        size = cuts[i % len(cuts)]
        i += 1
        got.extend(thin.offer_many(np.array(steps[pos : pos + size]), np.array(rows[pos : pos + size], dtype=float)))
        pos += size
    got.extend(thin.finish())
    assert [(s, list(v)) for s, v in got] == [(s, list(v)) for s, v in expected]
    assert thin.offer_many(np.array([], dtype=np.int64), np.zeros((0, len(rows[0])))) == []


def test_a_jump_charts_the_step_before_it():
    thin = Thinner(ChartPolicy(every=100, change=0.01), 1)
    charted = [s for k in range(10) for s, _ in thin.offer(k, [1.0 if k < 6 else 0.5])]
    assert charted == [0, 5, 6]


def test_smooth_values_are_charted_sparsely():
    # A cosine over 10k steps: a few dozen points, far from one per step.
    total = 10_000
    cosine = ps.Cosine(1e-3, 0.0)
    thin = Thinner(ChartPolicy(), 1, scales=[1e-3])
    charted = [s for k in range(total) for s, _ in thin.offer(k, [cosine(k, total)])] + [s for s, _ in thin.finish()]
    assert 100 <= len(charted) <= 130  # every 100 steps, plus the change test near the fast middle


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"every": 0}, ValueError, r"chart_every must be an int >= 1, got chart_every=0"),
        ({"change": -0.1}, ValueError, r"chart_change must be a fraction in \[0, 1\) of a series' scale, got chart_change=-0.1"),
        ({"change": math.nan}, ValueError, r"chart_change must be finite, got chart_change=nan"),
    ],
)
def test_policy_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ChartPolicy(**kwargs)


def test_phase_steps_come_from_every_schedule_that_can_be_rebuilt():
    wsd = ps.WarmupStableDecay(1e-3, warmup=10, decay=20).to_spec()
    metadata = {
        "total_steps": 100,
        "schedules": {"lr": wsd, "weight_decay": {"type": "FunctionSchedule", "fn": "os:chmod"}},
        "overrides": {"head": {"lr": ps.Sequence([ps.Constant(1.0), ps.Constant(0.5)], boundaries=[40]).to_spec()}},
    }
    # the function is never imported (trust_functions=False): it adds no boundary
    assert phase_steps(metadata) == {10, 40, 80}
    assert phase_steps(metadata, [ps.WarmupStableDecay(1.0, warmup=5, decay=5).to_spec()]) == {5, 10, 40, 80, 95}
    assert phase_steps({"total_steps": None, "schedules": {"lr": wsd}}) == set()


def test_series_scales_are_the_base_values():
    metadata = {"groups": [{"label": "g0", "base": {"lr": -0.002, "betas.0": 0.9}}, {"label": "head", "base": {}}]}
    assert series_scales(metadata, ["hp/lr/g0", "hp/betas.0/g0", "hp/lr/head"]) == [0.002, 0.9, 0.0]


@pytest.mark.parametrize("module", ["chart", "runfiles", "recorder", "source", "reader"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"paramsched_wandb.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
