"""ReplaySchedule: exact recorded values, explicit gap and end policies, spec round trip."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import numpy as np
import pytest

from paramsched.replay import ReplaySchedule
from paramsched.schedules._base import Schedule, schedule_from_spec, schedule_types


def test_returns_the_exact_recorded_floats(floats):
    values = floats(2000, seed=3)
    s = ReplaySchedule(values)
    got = [s(k, 2000) for k in range(2000)]
    assert all(type(v) is float for v in got)
    assert np.array_equal(np.array(got).view(np.uint64), values.view(np.uint64))
    assert isinstance(s, Schedule)


def test_contiguous_steps_normalize_to_none():
    assert ReplaySchedule([0.1, 0.2], steps=[0, 1]) == ReplaySchedule((0.1, 0.2))
    assert ReplaySchedule([0.1, 0.2], steps=[0, 1]).steps is None
    assert ReplaySchedule([0.1, 0.2], steps=[3, 4]).steps == (3, 4)


def test_gaps_error_names_the_step():
    s = ReplaySchedule([1.0, 2.0, 5.0], steps=[0, 10, 20], name="runs/a: series 'hp/lr/g0'")
    assert s(10, 100) == 2.0
    with pytest.raises(
        ValueError,
        match=r"^runs/a: series 'hp/lr/g0': step 13 is missing from the log \(recorded steps around it: "
        r"10 and 20\); pass gaps='previous' or gaps='linear' to fill it$",
    ):
        s(13, 100)


def test_gaps_previous_and_linear():
    prev = ReplaySchedule([1.0, 2.0, 5.0], steps=[0, 10, 20], gaps="previous")
    assert [prev(k, 30) for k in (0, 1, 9, 10, 11, 19, 20)] == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 5.0]
    lin = ReplaySchedule([1.0, 2.0, 5.0], steps=[0, 10, 20], gaps="linear")
    assert [lin(k, 30) for k in (0, 5, 10, 15, 20)] == [1.0, 1.5, 2.0, 3.5, 5.0]
    assert lin(3, 30) == 1.0 + (2.0 - 1.0) * (3 / 10)


def test_after_end_error_and_hold():
    s = ReplaySchedule([0.3, 0.2, 0.1])
    with pytest.raises(
        ValueError,
        match=r"^the log ends at step 2, got step=3 \(after_end='error'; pass after_end='hold' to keep the last value\)$",
    ):
        s(3, 10)
    held = ReplaySchedule([0.3, 0.2, 0.1], after_end="hold")
    assert held(3, 10) == 0.1 and held(10**9, 10) == 0.1


def test_before_the_first_recorded_step_is_an_error():
    s = ReplaySchedule([0.5, 0.6], steps=[100, 101], gaps="previous", after_end="hold", name="x")
    with pytest.raises(ValueError, match=r"^x: no value recorded before step 100, got step=99$"):
        s(99, 200)
    with pytest.raises(ValueError, match=r"no value recorded before step 100, got step=-1"):
        s(-1, 200)


@pytest.mark.parametrize("gaps", ["error", "previous", "linear"])
def test_sparse_log_uses_binary_search_with_same_results(gaps):
    steps = [0, 5, 3_000_000]  # span far larger than 4 * len(values) and 2**20
    s = ReplaySchedule([1.0, 2.0, 4.0], steps=steps, gaps=gaps, after_end="hold")
    assert s._n == 0  # sparse mode
    assert [s(k, 0) for k in steps] == [1.0, 2.0, 4.0]
    dense = ReplaySchedule([1.0, 2.0, 4.0], steps=[0, 5, 1000], gaps=gaps)
    if gaps == "error":
        with pytest.raises(ValueError, match="step 7 is missing"):
            s(7, 0)
    elif gaps == "previous":
        assert s(7, 0) == 2.0 == dense(7, 0)
    else:
        assert s(2, 0) == dense(2, 0) == 1.0 + (2.0 - 1.0) * (2 / 5)
        assert s(1_500_002, 0) == 2.0 + (4.0 - 2.0) * ((1_500_002 - 5) / (3_000_000 - 5))


def test_spec_round_trip_through_json(floats):
    values = floats(50, seed=4)
    s = ReplaySchedule(values, steps=list(range(0, 100, 2)), gaps="linear", after_end="hold", name="src")
    spec = s.to_spec()
    assert spec["type"] == "ReplaySchedule" and "name" not in spec
    assert spec["values"] == values.tolist() and spec["steps"] == list(range(0, 100, 2))
    back = schedule_from_spec(json.loads(json.dumps(spec)))
    assert back == s and type(back) is ReplaySchedule
    assert np.array_equal(np.array(back.values).view(np.uint64), values.view(np.uint64))
    assert "ReplaySchedule" in schedule_types()


def test_pickle_copy_eq_hash():
    s = ReplaySchedule([0.1, 0.2, 0.3], steps=[0, 2, 4], gaps="previous", name="n")
    for clone in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s), copy.copy(s)):
        assert clone == s and hash(clone) == hash(s)
        assert clone(3, 5) == 0.2 and clone.name == "n"
    assert "_table" not in pickle.dumps(s).decode("latin-1")
    assert ReplaySchedule([0.1], name="a") == ReplaySchedule([0.1], name="b")  # name is not compared
    assert ReplaySchedule([0.1]) != ReplaySchedule([0.1], after_end="hold")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.gaps = "linear"  # frozen


def test_repr_is_short():
    s = ReplaySchedule(np.zeros(100_000), name="runs/a")
    assert repr(s) == (
        "ReplaySchedule(<100000 values, steps 0..99999>, gaps='error', after_end='error', name='runs/a')"
    )
    assert repr(ReplaySchedule([1.0, 2.0], steps=[0, 3])) == (
        "ReplaySchedule(<2 values, steps 0..3, 2 missing>, gaps='error', after_end='error')"
    )


def test_dense_values():
    s = ReplaySchedule([1.0, 3.0], steps=[2, 4], gaps="linear")
    assert s.dense_values().tolist() == [1.0, 2.0, 3.0]
    assert (s.first_step, s.last_step) == (2, 4)
    with pytest.raises(ValueError, match="step 3 is missing"):
        ReplaySchedule([1.0, 3.0], steps=[2, 4]).dense_values()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"values": []}, ValueError, r"values must hold at least one recorded value"),
        ({"values": "abc"}, TypeError, r"values must be a sequence of real numbers, got values='abc'"),
        ({"values": [0.1, "x"]}, TypeError, r"values must be a 1-d sequence of real numbers"),
        ({"values": [True, 0.5]}, TypeError, r"values must be real numbers, not bools"),
        ({"values": [0.1, float("nan")]}, ValueError, r"values must be finite, got values\[1\]=nan"),
        ({"values": [0.1, float("inf")]}, ValueError, r"values must be finite, got values\[1\]=inf"),
        ({"values": [0.1, 0.2], "steps": [0]}, ValueError, r"steps must have one entry per value \(2\), got 1 steps"),
        ({"values": [0.1, 0.2], "steps": [3, 3]}, ValueError, r"steps must be strictly increasing, got steps\[1\]=3 after steps\[0\]=3"),
        ({"values": [0.1, 0.2], "steps": [-1, 3]}, ValueError, r"steps must be >= 0, got steps\[0\]=-1"),
        ({"values": [0.1, 0.2], "steps": [0.0, 1.0]}, TypeError, r"steps must be a 1-d sequence of ints"),
        ({"values": [0.1], "gaps": "nearest"}, ValueError, r"gaps must be one of 'error', 'previous', 'linear', got gaps='nearest'"),
        ({"values": [0.1], "after_end": "clamp"}, ValueError, r"after_end must be one of 'error', 'hold', got after_end='clamp'"),
        ({"values": [0.1], "name": 3}, TypeError, r"name must be a string, got name=3"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReplaySchedule(**kwargs)


def test_non_int_step_is_a_type_error():
    with pytest.raises(TypeError, match=r"step must be an int, got step='3'"):
        ReplaySchedule([0.1, 0.2], steps=[0, 5])("3", 10)
