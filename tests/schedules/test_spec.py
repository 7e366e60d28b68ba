"""to_spec() / schedule_from_spec(): plain JSON, exact round trip, clear errors."""

from __future__ import annotations

import doctest
import json
import operator
import pickle

import pytest

import paramsched.schedules as schedules_pkg
from paramsched.schedules import (
    Clip,
    Constant,
    Cosine,
    Cyclic,
    DurationWarning,
    Exponential,
    FunctionSchedule,
    InverseSqrt,
    Linear,
    OneCycle,
    PiecewiseLinear,
    Polynomial,
    Product,
    ReplaySchedule,
    Scale,
    Schedule,
    Sequence,
    Shift,
    Step,
    Sum,
    Tanh,
    TimeShift,
    Triangular,
    WarmRestarts,
    Warmup,
    WarmupStableDecay,
    WarmupThen,
    _base,
    _math,
    _validate,
    composition,
    from_hf,
    from_torch,
    function,
    peers,
    presets,
    replayed,
    schedule_from_spec,
    schedule_types,
)

CATALOGUE = [
    Constant(0.1),
    Linear(0.85, 0.95),
    Cosine(0.1, 0.0),
    Exponential(1e-2, end=1e-5),
    Exponential(0.1, gamma=0.99),
    Polynomial(1.0, 0.1, power=2.0),
    Step(0.1, milestones=[30, 0.6], gamma=0.5),
    InverseSqrt(1e-3, warmup=40),
    OneCycle(0.01, pct_start=0.25, shape="linear"),
    PiecewiseLinear([(0, 0.0), (0.1, 1.0), (1.0, 0.0)]),
    WarmupStableDecay(3e-4, warmup=50, decay=0.2, decay_shape="1-sqrt"),
    Sequence([Linear(0.0, 1.0), Cosine(1.0, 0.1)], boundaries=[0.1]),
    Cyclic(Cosine(1.0, 0.0), period=25),
    WarmRestarts(Cosine(1.0, 0.0), period=0.1, mult=2.0),
    Scale(Cosine(1.0, 0.0), 0.5),
    Shift(Cosine(1.0, 0.0), 0.1),
    Product(Linear(1.0, 0.0), Cosine(1.0, 0.0)),
    Sum(Linear(1.0, 0.0), Constant(0.5)),
    Clip(Linear(2.0, -1.0), lo=0.0, hi=1.0),
    Warmup(Cosine(1.0, 0.0), steps=10, start=0.1, shape="cosine"),
    FunctionSchedule(operator.truediv),
    ReplaySchedule([0.3, 0.2, 0.1], steps=[0, 5, 10], gaps="linear", after_end="hold"),
    Warmup(Sequence([WarmupStableDecay(1.0) * 2.0, Cyclic(Step(1.0, [2]), 5)], [0.5]), 0.1),
    # added in issue 13: new types, and the new options of the old ones
    Tanh(0.1, 1e-3),
    Triangular(0.01, 0.1, up=10, down=0.2, mode="exp_range", gamma=0.99),
    WarmupThen(Cosine(1.0, 0.0, cycles=1.5), 10, start=0.1, shape="1-sqrt"),
    WarmupThen(Cosine(1.0, 0.0), 0.1, prefix=False, peak=1.0),
    TimeShift(WarmupThen(Cyclic(Cosine(1.0, 0.1), cycles=3), 5), 1),
    WarmRestarts(Cosine(1.0, 0.0), period=7, mult=2.0, decay=0.5, limit=3),
    OneCycle(0.85, three_phase=True, initial=0.95, final=0.95, shape="linear"),
    Step(0.1, step_size=0.25, gamma=0.5),
    InverseSqrt(1.0, warmup=0, timescale=10_000),
    from_torch("OneCycleLR", max_lr=0.1, three_phase=True),
    from_torch("SequentialLR", schedulers=[from_torch("LinearLR", total_iters=4), from_torch("ExponentialLR", gamma=0.9)], milestones=[4]),
    from_hf("cosine_with_restarts", base=3e-4, warmup_ratio=0.1, num_cycles=3),
]


def test_catalogue_covers_every_schedule_type():
    ours = {n for n, c in schedule_types().items() if c.__module__.startswith("paramsched.schedules")}
    assert ours == {type(s).__name__ for s in CATALOGUE}


@pytest.mark.parametrize("schedule", CATALOGUE, ids=lambda s: type(s).__name__)
def test_spec_is_plain_json_and_round_trips(schedule):
    spec = schedule.to_spec()
    text = json.dumps(spec, allow_nan=False)
    back = schedule_from_spec(json.loads(text))
    assert back == schedule and type(back) is type(schedule)
    assert back.to_spec() == spec
    assert json.dumps(back.to_spec()) == text
    assert Schedule.from_spec(spec) == schedule
    for step in range(0, 101, 7):
        assert back(step, 100) == schedule(step, 100)
    back_pickle = pickle.loads(pickle.dumps(schedule))
    assert back_pickle == schedule and hash(back_pickle) == hash(schedule)


def test_spec_format_is_pinned():
    assert WarmupStableDecay(3e-4).to_spec() == {
        "type": "WarmupStableDecay",
        "peak": 3e-4,
        "warmup": 0.05,
        "decay": 0.2,
        "start": 0.0,
        "end": 0.0,
        "warmup_shape": "linear",
        "decay_shape": "cosine",
    }
    assert Sequence([Constant(1.0), Linear(1.0, 0.0)], [10]).to_spec() == {
        "type": "Sequence",
        "schedules": [{"type": "Constant", "value": 1.0}, {"type": "Linear", "start": 1.0, "end": 0.0}],
        "boundaries": [10],
    }
    assert (Cosine(1.0, 0.0) * 0.5).to_spec() == {
        "type": "Scale",
        "schedule": {"type": "Cosine", "start": 1.0, "end": 0.0},
        "factor": 0.5,
    }
    assert Exponential(1.0, gamma=0.5).to_spec() == {"type": "Exponential", "start": 1.0, "end": None, "gamma": 0.5}
    assert PiecewiseLinear([(0, 1.0), (0.5, 0.0)]).to_spec()["points"] == [[0, 1.0], [0.5, 0.0]]


def test_steps_stay_ints_and_fractions_stay_floats_through_json():
    s = WarmupStableDecay(1.0, warmup=100, decay=0.25)
    back = schedule_from_spec(json.loads(json.dumps(s.to_spec())))
    assert type(back.warmup) is int and type(back.decay) is float
    with pytest.warns(DurationWarning, match="decay=1.0 is a fraction: the whole run"):
        one = WarmupStableDecay(1.0, warmup=1, decay=1.0)  # 1 step vs the whole run
    assert schedule_from_spec(json.loads(json.dumps(one.to_spec()))) == one
    assert type(schedule_from_spec(json.loads(json.dumps(one.to_spec()))).decay) is float


def test_real_fields_are_stored_as_floats():
    assert Linear(1, 0).to_spec() == {"type": "Linear", "start": 1.0, "end": 0.0}
    assert json.dumps(Linear(1, 0).to_spec()) == '{"type": "Linear", "start": 1.0, "end": 0.0}'


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ([1, 2], TypeError, r"spec must be a dict with a 'type' entry, got spec=\[1, 2\]"),
        ({"start": 1.0}, ValueError, r"spec type must be one of .*Constant.*, got type=None"),
        ({"type": "Cosinus", "start": 1.0, "end": 0.0}, ValueError, r"got type='Cosinus'"),
        ({"type": "Cosine", "start": 1.0, "end": 0.0, "power": 2}, ValueError, r"spec for Cosine has unknown fields \['power'\]; expected fields \['cycles', 'end', 'start'\]"),
        ({"type": "Cosine", "start": "1", "end": 0.0}, TypeError, r"start must be a real number, got start='1'"),
        ({"type": "WarmupStableDecay", "peak": 1.0, "warmup": 2.0}, ValueError, r"warmup must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got warmup=2.0"),
        ({"type": "Scale", "schedule": {"type": "Nope"}, "factor": 1.0}, ValueError, r"got type='Nope'"),
        ({"type": "FunctionSchedule", "fn": "builtins:eval('1')"}, ValueError, r"must be an import path 'module:qualname'"),
    ],
)
def test_bad_specs_are_rejected(spec, error, match):
    with pytest.raises(error, match=match):
        schedule_from_spec(spec)


def test_package_exports():
    expected = {
        "Schedule", "schedule_from_spec", "schedule_types", "Constant", "Linear", "Cosine",
        "Exponential", "Polynomial", "Step", "InverseSqrt", "OneCycle", "PiecewiseLinear",
        "WarmupStableDecay", "Sequence", "Cyclic", "WarmRestarts", "Scale", "Shift", "Product",
        "Sum", "Clip", "Warmup", "FunctionSchedule", "ReplaySchedule", "as_schedule",
        "Tanh", "Triangular", "TimeShift", "WarmupThen", "PeerSchedule", "from_torch", "from_hf",
        "from_timm", "DurationWarning", "UntrustedFunctionError",
    }  # fmt: skip
    assert set(schedules_pkg.__all__) == expected
    assert all(hasattr(schedules_pkg, name) for name in expected)


@pytest.mark.parametrize(
    "module",
    [schedules_pkg, presets, composition, function, replayed, peers, _math, _validate, _base],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_a_replay_spec_rebuilds_in_a_fresh_process():
    import subprocess
    import sys

    code = (
        "import paramsched as ps; "
        "s = ps.schedule_from_spec({'type': 'ReplaySchedule', 'values': [0.1, 0.2], "
        "'steps': None, 'gaps': 'error', 'after_end': 'hold'}); print(s(1, 2))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.2"


def test_specs_of_schedules_that_use_no_new_option_are_unchanged():
    # New fields are left out at their default: old specs, and the checkpoint
    # fingerprints computed from them, stay the same (and old specs still load).
    old = {
        "Cosine": {"type": "Cosine", "start": 0.1, "end": 0.0},
        "OneCycle": {"type": "OneCycle", "peak": 0.01, "pct_start": 0.25, "div_factor": 25.0,
                     "final_div_factor": 10000.0, "shape": "linear"},
        "Step": {"type": "Step", "value": 0.1, "milestones": [30, 0.6], "gamma": 0.5},
        "InverseSqrt": {"type": "InverseSqrt", "peak": 0.001, "warmup": 40, "start": 0.0},
        "Cyclic": {"type": "Cyclic", "schedule": {"type": "Cosine", "start": 1.0, "end": 0.0}, "period": 25},
        "WarmRestarts": {"type": "WarmRestarts", "schedule": {"type": "Cosine", "start": 1.0, "end": 0.0},
                         "period": 0.1, "mult": 2.0},
    }  # fmt: skip
    catalogue = {type(s).__name__: s for s in CATALOGUE[:23]}
    for name, spec in old.items():
        assert catalogue[name].to_spec() == spec
        assert schedule_from_spec(spec) == catalogue[name]


def test_a_peer_spec_names_its_class_and_arguments():
    s = from_torch("OneCycleLR", max_lr=0.1, total_steps=1000)
    assert s.to_spec() == {"type": "PeerSchedule", "peer": "torch.optim.lr_scheduler:OneCycleLR",
                           "kwargs": {"max_lr": 0.1, "total_steps": 1000}, "base": 1.0, "read": "lr"}  # fmt: skip
