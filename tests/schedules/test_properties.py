"""Property tests (hypothesis) run over every preset and every composition.

Each schedule type has a strategy drawing valid instances for a run of
``total_steps`` steps; the properties are: finite everywhere and within the
bounds the type declares, monotone where documented, continuous at the joins
where shapes meet, spec and pickle round-trips give equal objects and equal
values, compositions never mutate their inputs, and ``phase_boundaries`` lies
inside the run.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import pickle

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from paramsched.schedules import (
    Clip,
    Constant,
    Cosine,
    Cyclic,
    Exponential,
    FunctionSchedule,
    InverseSqrt,
    Linear,
    OneCycle,
    PeerSchedule,
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
    from_hf,
    from_torch,
    schedule_from_spec,
    schedule_types,
)
from paramsched.schedules._validate import resolve_duration

# Durations of exactly 1.0 (the whole run) are drawn on purpose: their warning is tested elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore::paramsched.schedules.DurationWarning")

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def clamped_progress(step: int, total_steps: int) -> float:
    """A module-level schedule function: progress through the run, clamped to [0, 1]."""
    return min(max(step / total_steps, 0.0), 1.0)


def half(step: int, total_steps: int) -> float:
    return 0.5


# Peer schedules (the peer's code, run on a dummy optimizer) and the interval each stays in.
PEERS = [
    (from_torch("OneCycleLR", max_lr=0.5, three_phase=True), (0.5 / 25 / 1e4, 0.5)),
    (from_torch("OneCycleLR", max_lr=0.5, read="momentum"), (0.85, 0.95)),
    (from_torch("StepLR", base=2.0, step_size=3, gamma=0.5), (0.0, 2.0)),
    (from_torch("CyclicLR", base_lr=0.1, max_lr=0.3, step_size_up=4, cycle_momentum=False), (0.1, 0.3)),
    (from_hf("cosine_with_restarts", warmup_ratio=0.1, num_cycles=2), (0.0, 1.0)),
    (from_hf("warmup_stable_decay", base=3e-4, num_warmup_steps=2, num_decay_steps=3), (0.0, 3e-4)),
]

# -- strategies ----------------------------------------------------------------

reals = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
positives = st.floats(1e-6, 10.0, allow_nan=False, allow_infinity=False)
fractions = st.floats(0.0, 1.0, allow_nan=False)
totals = st.integers(1, 200)


def durations(total: int, *, minimum: int = 0) -> st.SearchStrategy[int | float]:
    return st.one_of(st.integers(minimum, total), fractions)


def leaf(total: int) -> st.SearchStrategy[Schedule]:
    """Schedules whose validity and bounds do not depend on the run length (for children)."""
    return st.one_of(
        st.builds(Constant, reals),
        st.builds(Linear, reals, reals),
        st.builds(Cosine, reals, reals),
        st.builds(Polynomial, reals, reals, st.floats(0.1, 5.0)),
        st.builds(Exponential, positives, end=positives),
        st.builds(
            WarmupStableDecay,
            positives,
            warmup=st.floats(0.0, 0.5),
            decay=st.floats(0.0, 0.5),
            start=reals,
            end=reals,
            warmup_shape=st.sampled_from(["linear", "cosine"]),
            decay_shape=st.sampled_from(["linear", "cosine", "sqrt", "1-sqrt"]),
        ),
    )


@st.composite
def sorted_steps(draw, total: int, count: int, *, low: int = 0, strict: bool = False) -> list[int]:
    pool = st.integers(low, max(low, total - 1))
    values = draw(st.lists(pool, min_size=count, max_size=count, unique=strict))
    return sorted(values)


def strategy(kind: str, total: int) -> st.SearchStrategy[Schedule]:
    """Valid-looking instances of ``kind``; the test still calls ``validate`` and assumes it passes."""
    if kind == "Constant":
        return st.builds(Constant, reals)
    if kind == "Linear":
        return st.builds(Linear, reals, reals)
    if kind == "Cosine":
        return st.builds(Cosine, reals, reals, cycles=st.one_of(st.just(0.5), st.floats(0.1, 3.0)))
    if kind == "Exponential":
        return st.one_of(
            st.builds(Exponential, positives, end=positives),
            st.builds(Exponential, reals, gamma=st.floats(0.5, 1.5)),
        )
    if kind == "Polynomial":
        return st.builds(Polynomial, reals, reals, st.floats(0.1, 5.0))
    if kind == "Step":
        return st.one_of(
            st.builds(
                Step,
                reals,
                st.integers(0, 4).flatmap(lambda n: sorted_steps(total + 5, n)),  # past the end too
                st.floats(0.05, 3.0),
            ),
            st.builds(Step, reals, gamma=st.floats(0.5, 1.5),
                      step_size=st.one_of(st.integers(1, total), st.floats(0.05, 1.0))),
        )  # fmt: skip
    if kind == "InverseSqrt":
        return st.one_of(
            st.builds(InverseSqrt, reals, st.one_of(st.integers(1, total), st.floats(0.01, 1.0)), reals),
            st.builds(InverseSqrt, reals, durations(total), reals,
                      timescale=st.one_of(st.integers(1, 2 * total), st.floats(0.05, 1.0))),
        )  # fmt: skip
    if kind == "OneCycle":
        ends = st.one_of(st.none(), positives)
        return st.builds(
            OneCycle,
            positives,
            fractions,
            st.floats(1.0, 100.0),
            st.floats(1.0, 1e4),
            st.sampled_from(["cosine", "linear", "cos"]),
            three_phase=st.booleans(),
            initial=ends,
            final=ends,
        )
    if kind == "Tanh":
        return st.builds(Tanh, reals, reals, st.floats(-10.0, 0.0), st.floats(0.1, 10.0))
    if kind == "Triangular":
        return st.builds(
            Triangular, reals, reals, durations(total), st.one_of(st.none(), durations(total)),
            st.sampled_from(["triangular", "triangular2", "exp_range"]), st.floats(0.5, 1.0),
        )  # fmt: skip
    if kind == "PeerSchedule":
        return st.sampled_from([peer for peer, _ in PEERS])
    if kind == "PiecewiseLinear":
        position = st.one_of(st.integers(0, total + 10), fractions)
        def by_position(point: tuple[int | float, float]) -> float:
            x = point[0]
            return x * total if isinstance(x, float) else float(x)

        return st.lists(st.tuples(position, reals), min_size=1, max_size=5).map(
            lambda points: PiecewiseLinear(sorted(points, key=by_position))
        )
    if kind == "WarmupStableDecay":
        warmup_decay = st.tuples(durations(total), durations(total)).filter(
            lambda wd: not (isinstance(wd[0], float) and isinstance(wd[1], float))
            or wd[0] + wd[1] <= 1.0
        )
        return st.builds(
            lambda wd, **kwargs: WarmupStableDecay(warmup=wd[0], decay=wd[1], **kwargs),
            warmup_decay,
            peak=reals,
            start=reals,
            end=reals,
            warmup_shape=st.sampled_from(["linear", "cosine", "1-sqrt"]),
            decay_shape=st.sampled_from(["linear", "cosine", "sqrt", "1-sqrt", "cos"]),
        )
    if kind == "FunctionSchedule":
        return st.sampled_from([FunctionSchedule(clamped_progress), FunctionSchedule(half)])
    if kind == "Sequence":
        count = st.integers(1, 4)
        return count.flatmap(
            lambda n: st.builds(
                Sequence,
                st.lists(leaf(total), min_size=n, max_size=n),
                # zero-length segments (0, repeats) and boundaries past the end included
                sorted_steps(total + 10, n - 1, low=0),
            )
        )
    if kind == "Cyclic":
        return st.one_of(
            st.builds(Cyclic, leaf(total), st.one_of(st.integers(1, total), st.floats(0.01, 1.0))),
            st.builds(Cyclic, leaf(total), cycles=st.floats(0.3, 6.0)),
        )
    if kind == "WarmRestarts":
        return st.builds(
            WarmRestarts,
            leaf(total),
            st.one_of(st.integers(1, total), st.floats(0.01, 1.0)),
            st.one_of(st.just(1.0), st.floats(1.0, 3.0)),
            decay=st.one_of(st.just(1.0), st.floats(0.1, 1.0)),
            limit=st.one_of(st.none(), st.integers(1, 5)),
        )
    if kind == "Scale":
        return st.builds(Scale, leaf(total), reals)
    if kind == "Shift":
        return st.builds(Shift, leaf(total), reals)
    if kind in ("Product", "Sum"):
        return st.builds(globals()[kind], leaf(total), leaf(total))
    if kind == "Clip":
        bounds = st.tuples(st.one_of(st.none(), reals), st.one_of(st.none(), reals))
        bounds = bounds.filter(lambda b: b != (None, None)).map(
            lambda b: tuple(sorted(b)) if None not in b else b
        )
        return st.builds(lambda child, b: Clip(child, *b), leaf(total), bounds)
    if kind == "Warmup":
        return st.builds(
            Warmup, leaf(total), durations(total), reals, st.sampled_from(["linear", "cosine", "1-sqrt"])
        )
    if kind == "WarmupThen":
        return st.builds(
            WarmupThen, leaf(total), durations(total), reals, st.sampled_from(["linear", "cosine", "1-sqrt"]),
            prefix=st.booleans(), peak=st.one_of(st.none(), reals),
        )  # fmt: skip
    if kind == "TimeShift":
        return st.builds(TimeShift, leaf(total), st.integers(-total, total))
    if kind == "ReplaySchedule":
        recorded = st.lists(reals, min_size=total, max_size=total)
        return st.builds(lambda values, gaps: ReplaySchedule(values, gaps=gaps, after_end="hold"),
                         recorded, st.sampled_from(["error", "previous", "linear"]))
    raise AssertionError(f"no strategy for {kind}: add one when adding a schedule type")


KINDS = sorted(
    name for name, cls in schedule_types().items() if cls.__module__.startswith("paramsched.schedules")
)
COMPOSITIONS = ["Clip", "Cyclic", "Product", "Scale", "Sequence", "Shift", "Sum", "TimeShift",
                "WarmRestarts", "Warmup", "WarmupThen"]  # fmt: skip


@st.composite
def cases(draw, kind: str) -> tuple[Schedule, int]:
    total = draw(totals)
    schedule = draw(strategy(kind, total))
    try:
        schedule.validate(total)
    except ValueError:
        assume(False)
    return schedule, total


def test_every_schedule_type_has_a_strategy():
    expected = {
        "Constant", "Linear", "Cosine", "Exponential", "Polynomial", "Step", "InverseSqrt",
        "OneCycle", "PiecewiseLinear", "WarmupStableDecay", "FunctionSchedule", "ReplaySchedule",
        "Tanh", "Triangular", "PeerSchedule", *COMPOSITIONS,
    }  # fmt: skip
    assert set(KINDS) == expected
    for kind in KINDS:
        strategy(kind, 10)


# -- declared bounds -------------------------------------------------------------


def bounds(s: Schedule, total: int) -> tuple[float, float]:
    """The interval each type documents its values to stay in (steps 0 .. total)."""
    if isinstance(s, Constant):
        return s.value, s.value
    if isinstance(s, (Linear, Cosine, Polynomial, Tanh)):
        return min(s.start, s.end), max(s.start, s.end)
    if isinstance(s, Triangular):
        return min(s.start, s.peak), max(s.start, s.peak)
    if isinstance(s, PeerSchedule):
        return dict(PEERS)[s]
    if isinstance(s, Exponential):
        if s.end is not None:
            return min(s.start, s.end), max(s.start, s.end)
        candidates = [s.start, s.start * s.gamma**total]
    elif isinstance(s, Step):
        count = len(s.milestones)
        if s.step_size is not None:
            count = (total - 1) // max(1, resolve_duration(s.step_size, total))
        candidates = [s.value * s.gamma**k for k in range(count + 1)]
    elif isinstance(s, InverseSqrt):
        w = resolve_duration(s.warmup, total)
        if s.timescale is None:
            candidates = [s.start, s.peak, s.peak * math.sqrt(w / total)]
        else:
            scale = resolve_duration(s.timescale, total)
            # the formula in its documented operation order (Hugging Face's): peak * (1 / sqrt(...))
            candidates = [s.start, s.peak, s.peak * (1.0 / math.sqrt((total + (scale - w)) / scale))]
    elif isinstance(s, OneCycle):
        candidates = [*s._ends(), s.peak]
    elif isinstance(s, PiecewiseLinear):
        candidates = [v for _, v in s.points]
    elif isinstance(s, WarmupStableDecay):
        candidates = [s.start, s.peak, s.end]
    elif isinstance(s, FunctionSchedule):
        candidates = [0.0, 1.0] if s.fn is clamped_progress else [0.5]
    elif isinstance(s, Sequence):
        parts = [bounds(child, total) for child in s.schedules]
        candidates = [v for part in parts for v in part]
    elif isinstance(s, Cyclic):
        candidates = list(bounds(s.schedule, total))
    elif isinstance(s, WarmRestarts):
        candidates = list(bounds(s.schedule, total)) + ([0.0] if s.decay < 1.0 else [])
    elif isinstance(s, Scale):
        candidates = [s.factor * v for v in bounds(s.schedule, total)]
    elif isinstance(s, Shift):
        candidates = [v + s.offset for v in bounds(s.schedule, total)]
    elif isinstance(s, Sum):
        (a0, a1), (b0, b1) = bounds(s.a, total), bounds(s.b, total)
        candidates = [a0 + b0, a1 + b1]
    elif isinstance(s, Product):
        (a0, a1), (b0, b1) = bounds(s.a, total), bounds(s.b, total)
        candidates = [a0 * b0, a0 * b1, a1 * b0, a1 * b1]
    elif isinstance(s, Clip):
        lo, hi = bounds(s.schedule, total)
        clamp = lambda v: min(max(v, -math.inf if s.lo is None else s.lo), math.inf if s.hi is None else s.hi)  # noqa: E731
        candidates = [clamp(lo), clamp(hi)]
    elif isinstance(s, Warmup):
        candidates = [s.start, *bounds(s.schedule, total)]
    elif isinstance(s, WarmupThen):
        candidates = [s.start, *bounds(s.schedule, total), *([] if s.peak is None else [s.peak])]
    elif isinstance(s, TimeShift):
        candidates = list(bounds(s.schedule, total))
    elif isinstance(s, ReplaySchedule):
        candidates = list(s.values)
    else:
        raise AssertionError(f"no bounds for {s!r}")
    return min(candidates), max(candidates)


def needs_slack(s: Schedule) -> bool:
    """Schedules that follow a peer's operation order (torch's OneCycleLR and CyclicLR,
    timm's tanh), which may leave their interval by an ulp or two."""
    if isinstance(s, (OneCycle, Triangular, Tanh, PeerSchedule)):
        return True
    children = [getattr(s, name) for name in ("schedule", "a", "b") if hasattr(s, name)]
    children += list(getattr(s, "schedules", ()))
    return any(needs_slack(c) for c in children)


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(data=st.data())
def test_finite_and_within_declared_bounds(kind, data):
    s, total = data.draw(cases(kind))
    lo, hi = bounds(s, total)
    slack = 1e-12 * (1.0 + max(abs(lo), abs(hi))) if needs_slack(s) else 0.0
    for step in [*range(total + 1), total + 1, 10 * total + 7]:
        value = s(step, total)
        assert type(value) is float, (s, step, value)
        assert math.isfinite(value), (s, step, value)
        assert lo - slack <= value <= hi + slack, (s, step, value, lo, hi)


# -- round trips -------------------------------------------------------------------


def sample_steps(total: int) -> list[int]:
    return sorted({0, 1, total // 3, total // 2, total - 1, total, total + 5})


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(data=st.data())
def test_spec_and_pickle_round_trips_give_equal_objects_and_values(kind, data):
    s, total = data.draw(cases(kind))
    spec = s.to_spec()
    from_json = schedule_from_spec(json.loads(json.dumps(spec, allow_nan=False)))
    from_pickle = pickle.loads(pickle.dumps(s))
    for back in (from_json, from_pickle):
        assert back == s and back is not s
        assert hash(back) == hash(s)
        assert back.to_spec() == spec
        assert repr(back) == repr(s)
        for step in sample_steps(total):
            assert back(step, total) == s(step, total)


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(data=st.data())
def test_frozen_with_phase_boundaries_inside_the_run(kind, data):
    s, total = data.draw(cases(kind))
    field = sorted(s.to_spec().keys() - {"type"})[0]
    with pytest.raises(AttributeError):
        setattr(s, field, 1.0)
    steps = s.phase_boundaries(total)
    assert isinstance(steps, tuple)
    assert list(steps) == sorted(set(steps))
    assert all(type(b) is int and 1 <= b <= total - 1 for b in steps), steps


@pytest.mark.parametrize("kind", COMPOSITIONS)
@FAST
@given(data=st.data())
def test_composition_never_mutates_its_inputs(kind, data):
    s, total = data.draw(cases(kind))
    spec = s.to_spec()
    # Rebuild from plain lists (what users pass) and check the lists are left as they were.
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    for name, value in list(kwargs.items()):
        if isinstance(value, dict):
            kwargs[name] = schedule_from_spec(value)
        elif isinstance(value, list):
            kwargs[name] = [schedule_from_spec(v) if isinstance(v, dict) else v for v in value]
    before = copy.deepcopy(kwargs)
    children = {k: copy.deepcopy(v) for k, v in kwargs.items() if isinstance(v, Schedule)}
    built = type(s)(**kwargs)
    for step in sample_steps(total):
        built(step, total)
    built.validate(total)
    built.phase_boundaries(total)
    assert kwargs == before
    for name, child in children.items():
        assert kwargs[name] == child and kwargs[name].to_spec() == child.to_spec()
    for name, value in kwargs.items():
        if isinstance(value, list):
            assert isinstance(getattr(built, name), tuple)
    assert built == s


# -- monotone where documented -------------------------------------------------------


def assert_monotone(values: list[float], direction: float) -> None:
    """Non-increasing when ``direction < 0``, non-decreasing when > 0."""
    for i, (a, b) in enumerate(itertools.pairwise(values)):
        assert (b - a) * direction >= 0 or a == b, (i, a, b, direction)


@pytest.mark.parametrize("kind", ["Linear", "Cosine", "Polynomial", "Exponential"])
@FAST
@given(data=st.data())
def test_single_phase_shapes_are_monotone_from_start_to_end(kind, data):
    s, total = data.draw(cases(kind))
    assume(not isinstance(s, Cosine) or s.cycles == 0.5)  # other cycles turn back or stop short
    values = [s(k, total) for k in range(total + 2)]
    if isinstance(s, Exponential) and s.gamma is not None:
        direction = s.start * (s.gamma - 1.0)
        assert values[0] == s.start
    else:
        direction = s.end - s.start
        assert values[0] == s.start and values[-1] == s.end
    assert_monotone(values, direction)


@FAST
@given(data=st.data())
def test_step_is_monotone_in_the_direction_of_gamma(data):
    s, total = data.draw(cases("Step"))
    values = [s(k, total) for k in range(total + 1)]
    assert_monotone(values, s.value * (s.gamma - 1.0))


@FAST
@given(data=st.data())
def test_wsd_phases_are_monotone_and_continuous_at_the_joins(data):
    s, total = data.draw(cases("WarmupStableDecay"))
    w, d = s._steps(total)
    values = [s(k, total) for k in range(total + 1)]
    assert values[0] == (s.start if w > 0 else s.peak)
    assert_monotone(values[: w + 1], s.peak - s.start)
    assert all(v == s.peak for v in values[w : total - d + 1])
    assert_monotone(values[total - d :], s.end - s.peak)
    assert values[total] == (s.end if d > 0 else s.peak)
    # Continuity at warmup -> stable: the last warmup step is one step of the ramp away.
    if w > 0:
        assert values[w] == s.peak
        slope = math.sqrt(1 / w) if s.warmup_shape == "1-sqrt" else (math.pi / 2) / w
        assert abs(values[w - 1] - s.peak) <= abs(s.peak - s.start) * slope + 1e-12
    # Continuity at stable -> decay: the decay starts exactly at the peak.
    if d > 0:
        assert values[total - d] == s.peak


@FAST
@given(data=st.data())
def test_onecycle_rises_then_falls(data):
    s, total = data.draw(cases("OneCycle"))
    initial, final = s._ends()
    assume(initial <= s.peak and final <= initial)  # the lr's shape (momentum goes the other way)
    values = [s(k, total) for k in range(total)]
    top = max(range(total), key=values.__getitem__)
    assert_monotone(values[: top + 1], 1.0)
    assert_monotone(values[top:], -1.0)


@FAST
@given(data=st.data())
def test_inverse_sqrt_warms_up_then_decays_continuously(data):
    s, total = data.draw(cases("InverseSqrt"))
    w = resolve_duration(s.warmup, total)
    values = [s(k, total) for k in range(total + 1)]
    assert values[w] == s.peak
    assert_monotone(values[: w + 1], s.peak - s.start)
    assert_monotone(values[w:], -s.peak)
    if w > 0:
        assert abs(values[w - 1] - s.peak) <= abs(s.peak - s.start) / w + 1e-12


@FAST
@given(data=st.data())
def test_piecewise_linear_through_monotone_points_is_monotone(data):
    total = data.draw(totals)
    positions = data.draw(sorted_steps(total, data.draw(st.integers(1, 5))))
    values = sorted(data.draw(st.lists(reals, min_size=len(positions), max_size=len(positions))))
    s = PiecewiseLinear(list(zip(positions, values, strict=True)))
    series = [s(k, total) for k in range(total + 1)]
    assert_monotone(series, 1.0)
    last_value_at = dict(zip(positions, values, strict=True))  # the later of two points at one step wins
    for x, v in last_value_at.items():
        assert s(x, total) == v


# -- continuity at joins where shapes meet ------------------------------------------


@pytest.mark.parametrize("shape", [Linear, Cosine])
@FAST
@given(
    total=st.integers(4, 300),
    data=st.data(),
    a=reals,
    b=reals,
    c=reals,
)
def test_sequence_of_matching_shapes_is_continuous(shape, total, data, a, b, c):
    k = data.draw(st.integers(2, total - 2))
    s = Sequence([shape(a, b), shape(b, c)], boundaries=[k])
    s.validate(total)
    assert s(k, total) == b
    # The last step of the first segment is one step of its shape away from b.
    assert abs(s(k - 1, total) - b) <= abs(b - a) * (math.pi / 2) / k + 1e-12
    # Each child sees its own run.
    for step in range(total + 1):
        if step < k:
            assert s(step, total) == shape(a, b)(step, k)
        else:
            assert s(step, total) == shape(b, c)(step - k, total - k)


@FAST
@given(data=st.data())
def test_warmup_wrapper_joins_its_schedule_continuously(data):
    s, total = data.draw(cases("Warmup"))
    w = resolve_duration(s.steps, total)
    child = s.schedule
    assert s(0, total) == (s.start if w > 0 else child(0, total))
    for step in range(w, total + 1):
        assert s(step, total) == child(step, total)
    if 0 < w < total:
        gap = abs(child(w - 1, total) - s.start)
        slope = math.sqrt(1 / w) if s.shape == "1-sqrt" else (math.pi / 2) / w
        assert abs(s(w - 1, total) - child(w - 1, total)) <= gap * slope + 1e-12


@FAST
@given(data=st.data())
def test_warmup_then_ramps_to_where_the_schedule_takes_over(data):
    s, total = data.draw(cases("WarmupThen"))
    w = resolve_duration(s.steps, total)
    child = s.schedule
    if s.prefix:
        takes_over = [child(k - w, total - w) for k in range(w, total + 1)]
        peak = child(0, total - w) if s.peak is None else s.peak
    else:
        takes_over = [child(k, total) for k in range(w, total + 1)]
        peak = child(w, total) if s.peak is None else s.peak
    assert [s(k, total) for k in range(w, total + 1)] == takes_over
    ramp = [s(k, total) for k in range(w)] + [peak]
    assert ramp[0] == (s.start if w > 0 else peak)
    assert_monotone(ramp, peak - s.start)
