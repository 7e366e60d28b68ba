"""Property tests: any finite float64 survives CSV export/import and replay bit for bit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from paramsched.replay import ReplaySchedule, Trajectory, load

finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, width=64)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.lists(st.integers(0, 50), min_size=1, max_size=40))
def test_csv_round_trip_and_replay_are_bit_exact(values, raw_steps):
    steps = sorted(set(raw_steps))[: len(values)]
    values = values[: len(steps)]
    frame = pd.DataFrame({"hp/lr/g0": values}, index=pd.Index(steps, name="step"), dtype=np.float64)
    traj = Trajectory(frame, {"format": "paramsched.run/1", "series": ["hp/lr/g0"]}, "mem")
    with tempfile.TemporaryDirectory() as folder:
        back = load(traj.to_csv(Path(folder) / "run"))
    got = back.frame["hp/lr/g0"].to_numpy()
    assert np.array_equal(got.view(np.uint64), np.array(values).view(np.uint64))
    sched = back.schedules(gaps="previous")[("lr", "g0")]
    replayed = np.array([sched(k, 0) for k in steps])
    assert np.array_equal(replayed.view(np.uint64), np.array(values).view(np.uint64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), finite), min_size=1, max_size=60))
def test_last_row_of_a_duplicated_step_wins_in_any_order(rows):
    df = pd.DataFrame(rows, columns=["step", "hp/lr/g0"])
    traj = load(df)
    expected = {}
    for step, value in rows:
        expected[step] = value
    assert traj.frame.index.tolist() == sorted(expected)
    got = traj.frame["hp/lr/g0"].tolist()
    assert [np.float64(v).view(np.uint64) for v in got] == [
        np.float64(expected[s]).view(np.uint64) for s in sorted(expected)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=20), st.integers(1, 7))
def test_linear_gaps_stay_between_neighbours(values, stride):
    steps = [i * stride for i in range(len(values))]
    s = ReplaySchedule(values, steps=steps, gaps="linear")
    for i in range(len(values) - 1):
        lo, hi = sorted((values[i], values[i + 1]))
        for k in range(steps[i], steps[i + 1] + 1):
            assert lo <= s(k, 0) <= hi
        assert s(steps[i], 0) == values[i]
    previous = None
    for k in range(steps[0], steps[1] + 1):  # monotone between two neighbours
        v = s(k, 0)
        if previous is not None:
            assert (v >= previous) if values[1] >= values[0] else (v <= previous)
        previous = v
