"""Compositions: local evaluation, operators, validation, extension, no mutation."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from paramsched.schedules import (
    Clip,
    Constant,
    Cosine,
    Cyclic,
    InverseSqrt,
    Linear,
    Product,
    Scale,
    Sequence,
    Shift,
    Step,
    Sum,
    TimeShift,
    WarmRestarts,
    Warmup,
    WarmupStableDecay,
    WarmupThen,
)

# -- Sequence --------------------------------------------------------------------------


def test_sequence_evaluates_each_child_on_its_own_segment():
    a, b, c = Linear(0.0, 1.0), Constant(1.0), Cosine(1.0, 0.0)
    s = Sequence([a, b, c], boundaries=[10, 0.5])
    assert s.schedules == (a, b, c) and s.boundaries == (10, 0.5)
    for k in range(10):
        assert s(k, 100) == a(k, 10)
    for k in range(10, 50):
        assert s(k, 100) == 1.0
    for k in range(50, 101):
        assert s(k, 100) == c(k - 50, 50)
    assert s(75, 100) == 0.5
    assert s(1000, 100) == 0.0  # past the end: the last child past its end
    assert s.phase_boundaries(100) == (10, 50)


def test_sequence_includes_children_phase_boundaries():
    s = Sequence([Constant(1.0), WarmupStableDecay(1.0, warmup=5, decay=10)], boundaries=[20])
    assert s.phase_boundaries(100) == (20, 25, 90)


def test_sequence_of_one_is_the_child():
    s = Sequence([Cosine(1.0, 0.0)], boundaries=[])
    assert [s(k, 9) for k in range(10)] == [Cosine(1.0, 0.0)(k, 9) for k in range(10)]


def test_sequence_validates_children_with_their_segment_length():
    s = Sequence([Constant(1.0), WarmupStableDecay(1.0, warmup=30, decay=30)], boundaries=[50])
    s.validate(110)
    with pytest.raises(ValueError, match=r"warmup=30 steps \+ decay=30 steps > total_steps=50"):
        s.validate(100)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Sequence([], []), ValueError, r"schedules must hold at least one Schedule"),
        (lambda: Sequence(Linear(1.0, 0.0), []), TypeError, r"schedules must be a list or tuple of Schedule objects, got schedules=Linear"),
        (lambda: Sequence([Linear(1.0, 0.0), 0.5], [3]), TypeError, r"schedules\[1\] must be a Schedule .*, got schedules\[1\]=0.5"),
        (lambda: Sequence([Constant(1.0), Constant(2.0)], []), ValueError, r"boundaries must hold len\(schedules\) - 1 = 1 entries, got boundaries=\(\)"),
        (lambda: Sequence([Constant(1.0), Constant(2.0)], 5), TypeError, r"boundaries must be a list or tuple of steps \(int\) or fractions \(float\), got boundaries=5"),
        (lambda: Sequence([Constant(1.0), Constant(2.0)], [-1]), ValueError, r"boundaries\[0\] must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got boundaries\[0\]=-1"),
        (lambda: Sequence([Constant(1.0), Constant(2.0)], [10.0]), ValueError, r"got boundaries\[0\]=10.0; a float is a fraction of the run: for 10 steps pass the int 10"),
        (lambda: Sequence([Constant(1.0)] * 3, [0.5, 0.3]), ValueError, r"boundaries must be sorted \(non-decreasing\), got boundaries=\(0.5, 0.3\)"),
        (lambda: Sequence([Constant(1.0)] * 3, [6, 4]), ValueError, r"boundaries must be sorted \(non-decreasing\), got boundaries=\(6, 4\)"),
    ],
)
def test_sequence_rejects_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_sequence_validate_needs_boundaries_that_resolve_in_order():
    s = Sequence([Constant(1.0)] * 3, [60, 0.5])
    with pytest.raises(ValueError, match=r"boundaries must resolve to sorted \(non-decreasing\) steps, got boundaries=\(60, 0.5\), which is \(60, 50\) steps with total_steps=100"):
        s.validate(100)


def test_sequence_skips_zero_length_segments():
    # One rule for zero-length pieces: allowed everywhere, and skipped.
    a, b, c = Constant(1.0), Constant(2.0), Linear(3.0, 4.0)
    s = Sequence([a, b, c], boundaries=[0, 0.01])  # both empty at 10 steps (0.01 * 10 rounds to 0)
    s.validate(10)
    assert [s(k, 10) for k in range(10)] == [c(k, 10) for k in range(10)]
    twice = Sequence([a, b, c], boundaries=[4, 4])
    twice.validate(10)
    assert [twice(k, 10) for k in range(10)] == [1.0] * 4 + [c(k, 6) for k in range(6)]
    assert twice.phase_boundaries(10) == (4,)


def test_a_boundary_past_the_end_cuts_the_run_short():
    # A schedule planned for 100 steps, reused on a run of 60: the decay never comes.
    warm, hold, decay = Linear(0.0, 1.0), Constant(1.0), Linear(1.0, 0.0)
    s = Sequence([warm, hold, decay], boundaries=[10, 80])
    s.validate(60)
    assert [s(k, 60) for k in range(10)] == [warm(k, 10) for k in range(10)]
    assert {s(k, 60) for k in range(10, 60)} == {1.0}
    assert s(500, 60) == 1.0  # past the end: still the segment the run ended in
    assert s.phase_boundaries(60) == (10,)
    at_end = Sequence([warm, decay], boundaries=[20])
    at_end.validate(20)
    assert [at_end(k, 20) for k in range(21)] == [warm(k, 20) for k in range(21)]


def test_sequence_takes_numpy_and_range_boundaries():
    s = Sequence([Constant(1.0), Constant(2.0), Constant(3.0)], boundaries=np.arange(3, 9, 3))
    assert s.boundaries == (3, 6) and all(type(b) is int for b in s.boundaries)
    assert Sequence([Constant(1.0), Constant(2.0)], range(5, 6)).boundaries == (5,)
    assert json.loads(json.dumps(s.to_spec()))["boundaries"] == [3, 6]


# -- Cyclic and WarmRestarts ------------------------------------------------------------


def test_cyclic():
    s = Cyclic(Linear(1.0, 0.0), period=4)
    assert [s(k, 10) for k in range(10)] == [1.0, 0.75, 0.5, 0.25] * 2 + [1.0, 0.75]
    assert s(13, 10) == 0.75  # keeps cycling past the end
    assert s.phase_boundaries(10) == (4, 8)
    frac = Cyclic(Cosine(1.0, 0.0), period=0.25)
    assert [frac(k, 8) for k in range(8)] == [1.0, 0.5] * 4
    with pytest.raises(ValueError, match=r"period must resolve to at least 1 step, got period=0.01 = 0 steps with total_steps=10"):
        Cyclic(Constant(1.0), period=0.01).validate(10)
    with pytest.raises(ValueError, match=r"period must be a fraction in \(0, 1\] \(float\) or a step count >= 1 \(int\), got period=0"):
        Cyclic(Constant(1.0), period=0)
    with pytest.raises(TypeError, match=r"schedule must be a Schedule .*got schedule=<built-in function cos>"):
        Cyclic(math.cos, period=3)


def test_cyclic_validates_its_child_over_one_period():
    s = Cyclic(WarmupStableDecay(1.0, warmup=3, decay=3), period=5)
    with pytest.raises(ValueError, match=r"warmup=3 steps \+ decay=3 steps > total_steps=5"):
        s.validate(100)


def test_warm_restarts_cycle_lengths_grow_by_mult():
    s = WarmRestarts(Linear(1.0, 0.0), period=2, mult=2.0)
    # cycles: [0, 2), [2, 6), [6, 14), [14, 30)
    assert [s(k, 14) for k in range(8)] == [1.0, 0.5, 1.0, 0.75, 0.5, 0.25, 1.0, 0.875]
    assert s(14, 14) == 1.0 and s(29, 14) == 1.0 - 15 / 16
    assert s.phase_boundaries(30) == (2, 6, 14)
    same = WarmRestarts(Linear(1.0, 0.0), period=4)
    assert [same(k, 12) for k in range(12)] == [Cyclic(Linear(1.0, 0.0), 4)(k, 12) for k in range(12)]


def test_warm_restarts_with_fractional_mult_rounds_cycle_starts():
    s = WarmRestarts(Constant(1.0), period=10, mult=1.5)
    # starts: round(10 * (1.5**i - 1) / 0.5) = 0, 10, 25, 48 (47.5 rounds to even), 81
    assert s.phase_boundaries(100) == (10, 25, 48, 81)
    child = Linear(0.0, 1.0)
    s = WarmRestarts(child, period=10, mult=1.5)
    assert s(30, 100) == child(5, 23)
    assert s(47, 100) == child(22, 23)
    assert s(48, 100) == 0.0


def torch_warm_restarts_lrs(total: int, base: float, t0: int, mult: int, eta_min: float) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t0, T_mult=mult, eta_min=eta_min)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return lrs


@pytest.mark.parametrize(("t0", "mult", "eta_min"), [(5, 1, 0.0), (3, 2, 0.0), (4, 3, 0.01), (7, 1, 0.05)])
def test_warm_restarts_of_cosine_matches_torch(t0, mult, eta_min):
    total, base = 60, 0.1
    ours = WarmRestarts(Cosine(base, eta_min), period=t0, mult=float(mult))
    expected = torch_warm_restarts_lrs(total, base, t0, mult, eta_min)
    # torch computes cos(pi * T_cur / T_i) and eta_min + (base - eta_min) * (1 + cos) / 2;
    # we compute cos(pi * (T_cur / T_i)) and an exact-at-the-ends lerp: same shape, a
    # different float operation order, so equal to ~1e-16 relative, not bit for bit.
    assert [ours(k, total) for k in range(total)] == pytest.approx(expected, rel=1e-14, abs=1e-18)


def test_warm_restarts_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"mult must be >= 1, got mult=0.5"):
        WarmRestarts(Constant(1.0), period=3, mult=0.5)
    with pytest.raises(TypeError, match=r"mult must be a real number, got mult='2'"):
        WarmRestarts(Constant(1.0), period=3, mult="2")
    with pytest.raises(ValueError, match=r"period must resolve to at least 1 step"):
        WarmRestarts(Constant(1.0), period=0.001).validate(100)


def test_warm_restarts_validates_its_child_on_each_cycle_length():
    s = WarmRestarts(InverseSqrt(1.0, warmup=4), period=2, mult=2.0)
    with pytest.raises(ValueError, match=r"warmup must resolve to between 1 and total_steps=2 steps"):
        s.validate(20)
    WarmRestarts(InverseSqrt(1.0, warmup=4), period=4, mult=2.0).validate(20)


# -- Scale, Shift, Product, Sum and the operators ----------------------------------------------


def test_operators_build_compositions():
    lin, cos = Linear(1.0, 0.0), Cosine(1.0, 0.0)
    assert lin * 0.5 == Scale(lin, 0.5) == 0.5 * lin
    assert lin + 0.1 == Shift(lin, 0.1) == 0.1 + lin
    assert lin * cos == Product(lin, cos)
    assert lin + cos == Sum(lin, cos)
    assert (lin - 0.25)(0, 10) == 0.75
    assert (1.0 - lin)(0, 10) == 0.0
    assert (lin / 4)(0, 10) == 0.25
    assert (lin * 0.5 + 0.1)(5, 10) == 0.35
    assert (lin * cos)(5, 10) == 0.25
    assert (lin + cos)(5, 10) == 1.0
    assert (lin - cos)(5, 10) == 0.0


def test_operators_never_mutate_their_operands():
    lin = Linear(1.0, 0.0)
    spec = lin.to_spec()
    _ = lin * 2.0 + 1.0 - lin
    assert lin.to_spec() == spec and lin == Linear(1.0, 0.0)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Linear(1.0, 0.0) * "2", TypeError, r"combined with '\*' only with a Schedule or a real number, got '2'"),
        (lambda: Linear(1.0, 0.0) + math.nan, ValueError, r"the operand of '\+' must be finite, got nan"),
        (lambda: Linear(1.0, 0.0) / 0, ValueError, r"cannot divide a schedule by zero"),
        (lambda: Scale(Linear(1.0, 0.0), math.inf), ValueError, r"factor must be finite, got factor=inf"),
        (lambda: Scale(0.5, 2.0), TypeError, r"schedule must be a Schedule .*, got schedule=0.5"),
        (lambda: Shift(Linear(1.0, 0.0), None), TypeError, r"offset must be a real number, got offset=None"),
        (lambda: Product(Linear(1.0, 0.0), 2.0), TypeError, r"b must be a Schedule .*, got b=2.0"),
        (lambda: Sum({"type": "Constant", "value": 1.0}, Linear(1.0, 0.0)), TypeError, r"a must be a Schedule .*, got a=\{'type': 'Constant'"),
    ],
)
def test_arithmetic_rejects_bad_operands(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_pairs_validate_and_report_both_children():
    wsd = WarmupStableDecay(1.0, warmup=6, decay=6)
    s = Product(Constant(1.0), wsd)
    with pytest.raises(ValueError, match=r"warmup=6 steps \+ decay=6 steps > total_steps=10"):
        s.validate(10)
    both = Sum(wsd, Step(1.0, [3]))
    assert both.phase_boundaries(20) == (3, 6, 14)


# -- Clip -------------------------------------------------------------------------------------


def test_clip():
    s = Clip(Linear(1.0, 0.0), lo=0.2, hi=0.9)
    assert [s(k, 10) for k in (0, 1, 5, 8, 9, 10)] == [0.9, 0.9, 0.5, 0.2, 0.2, 0.2]
    assert Clip(Linear(1.0, 0.0), lo=0.5)(0, 10) == 1.0
    assert Clip(Linear(1.0, 0.0), hi=0.5)(10, 10) == 0.0
    assert Clip(Linear(1, 0), lo=0).lo == 0.0
    with pytest.raises(ValueError, match=r"Clip needs at least one bound, got lo=None, hi=None"):
        Clip(Linear(1.0, 0.0))
    with pytest.raises(ValueError, match=r"lo must be <= hi, got lo=0.9, hi=0.2"):
        Clip(Linear(1.0, 0.0), lo=0.9, hi=0.2)
    with pytest.raises(ValueError, match=r"hi must be finite, got hi=inf"):
        Clip(Linear(1.0, 0.0), hi=math.inf)


# -- Warmup -----------------------------------------------------------------------------------


def test_warmup_wrapper_is_a_ramp_towards_the_wrapped_value():
    child = Cosine(1.0, 0.0)
    s = Warmup(child, steps=10)
    assert s(0, 100) == 0.0
    for k in range(1, 10):
        assert s(k, 100) == (k / 10) * child(k, 100)  # start=0: start + (v - start) * t
    for k in range(10, 101):
        assert s(k, 100) == child(k, 100)
    assert s.phase_boundaries(100) == (10,)


def test_warmup_wrapper_start_shape_and_fraction():
    s = Warmup(Constant(1.0), steps=0.1, start=0.5, shape="cosine")
    assert s(0, 40) == 0.5
    assert s(2, 40) == 0.75
    assert s(4, 40) == 1.0
    assert Warmup(Constant(1.0), steps=0)(0, 10) == 1.0
    with pytest.raises(ValueError, match=r"steps must fit in the run, got steps=20 = 20 steps > total_steps=10"):
        Warmup(Constant(1.0), steps=20).validate(10)
    with pytest.raises(ValueError, match=r"shape must be one of 'linear', 'cosine', '1-sqrt', got shape='sqrt'"):
        Warmup(Constant(1.0), steps=3, shape="sqrt")
    assert Warmup(Constant(1.0), steps=3, shape="cos").shape == "cosine"  # torch's name
    with pytest.raises(ValueError, match=r"steps must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got steps=-1"):
        Warmup(Constant(1.0), steps=-1)


# -- extended ---------------------------------------------------------------------------------


def test_wrappers_extend_their_child():
    wsd = WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    fixed = WarmupStableDecay(1.0, warmup=100, decay=200)
    assert (wsd * 0.5).extended(1000, 2000) == fixed * 0.5
    assert (wsd + 0.5).extended(1000, 2000) == fixed + 0.5
    assert Clip(wsd, lo=0.1).extended(1000, 2000) == Clip(fixed, lo=0.1)
    assert (wsd * Constant(2.0)).extended(1000, 2000) == fixed * Constant(2.0)
    assert Warmup(wsd, steps=0.05).extended(1000, 2000) == Warmup(fixed, steps=50)


def test_wrappers_of_unextendable_schedules_give_none():
    lin = Linear(1.0, 0.0)
    for s in (lin * 0.5, lin + 0.5, Clip(lin, lo=0.0), lin * Constant(2.0), Warmup(lin, 5)):
        assert s.extended(10, 20) is None
    for s in (Sequence([lin], []), Cyclic(lin, 3), WarmRestarts(lin, 3)):
        assert s.extended(10, 20) is None


# -- no mutation --------------------------------------------------------------------------------


def test_compositions_copy_lists_and_leave_them_alone():
    children = [Linear(0.0, 1.0), Constant(1.0)]
    boundaries = [5]
    s = Sequence(children, boundaries)
    s(3, 10), s.validate(10), s.phase_boundaries(10)
    assert children == [Linear(0.0, 1.0), Constant(1.0)] and boundaries == [5]
    children.append(Constant(2.0))
    boundaries.append(7)
    assert s.schedules == (Linear(0.0, 1.0), Constant(1.0)) and s.boundaries == (5,)
    assert hash(s) == hash(Sequence((Linear(0.0, 1.0), Constant(1.0)), (5,)))


# -- real-length cycles, decaying restarts ------------------------------------------------------


def test_cyclic_with_cycles_puts_boundaries_between_steps():
    # Hugging Face's hard restarts: 3 cycles over 91 steps, 30.33 steps each.
    s = Cyclic(Cosine(1.0, 0.0), cycles=3)
    values = [s(k, 91) for k in range(91)]
    for k in range(91):
        x = 3 * (k / 91)
        assert values[k] == pytest.approx(0.5 * (1 + math.cos(math.pi * (x % 1.0))), rel=1e-13, abs=1e-16)
    assert values[30] < 0.01 and values[31] > 0.99  # the restart falls between steps 30 and 31
    assert s.phase_boundaries(91) == (31, 61)
    s.validate(91)
    assert s.to_spec() == {"type": "Cyclic", "schedule": Cosine(1.0, 0.0).to_spec(), "period": None, "cycles": 3.0}
    assert Cyclic(Linear(1.0, 0.0), period=4).to_spec() == {  # unchanged when cycles is not used
        "type": "Cyclic", "schedule": Linear(1.0, 0.0).to_spec(), "period": 4}


def test_cyclic_needs_exactly_one_of_period_and_cycles():
    with pytest.raises(ValueError, match=r"Cyclic needs exactly one of period .* or cycles .*, got period=None, cycles=None"):
        Cyclic(Constant(1.0))
    with pytest.raises(ValueError, match=r"got period=4, cycles=2"):
        Cyclic(Constant(1.0), 4, cycles=2)
    with pytest.raises(ValueError, match=r"cycles must be > 0, got cycles=0.0"):
        Cyclic(Constant(1.0), cycles=0)
    with pytest.raises(ValueError, match=r"cycles must leave at least 1 step per cycle, got cycles=20.0: 0.5 steps per cycle with total_steps=10"):
        Cyclic(Constant(1.0), cycles=20).validate(10)


def test_warm_restarts_decay_and_limit_follow_timm():
    child = Cosine(1.0, 0.0)
    s = WarmRestarts(child, period=4, mult=2.0, decay=0.5, limit=2)
    # cycles [0, 4) and [4, 12), then the end of the second cycle holds
    assert [s(k, 20) for k in range(4)] == [child(k, 4) for k in range(4)]
    assert [s(k, 20) for k in range(4, 12)] == [0.5 * child(k - 4, 8) for k in range(4, 12)]
    assert {s(k, 20) for k in range(12, 40)} == {0.5 * child(8, 8)} == {0.0}
    assert s.phase_boundaries(20) == (4, 12)
    with pytest.raises(ValueError, match=r"limit must be an int >= 1, got limit=0"):
        WarmRestarts(child, 4, limit=0)
    with pytest.raises(ValueError, match=r"decay must be > 0, got decay=0.0"):
        WarmRestarts(child, 4, decay=0.0)
    assert "decay" not in WarmRestarts(child, 4).to_spec()  # old specs stay the same


# -- the two warmups --------------------------------------------------------------------------


def test_warmup_then_starts_the_schedule_after_the_warmup():
    cosine = Cosine(1.0, 0.0)
    then = WarmupThen(cosine, steps=10)
    blend = Warmup(cosine, steps=10)
    assert [then(k, 110) for k in range(10)] == [k / 10 for k in range(10)]
    assert [then(k, 110) for k in range(10, 111)] == [cosine(k - 10, 100) for k in range(10, 111)]
    # Warmup blends into a cosine already running: at step 10 it has decayed a little.
    assert blend(10, 110) == cosine(10, 110) < then(10, 110) == 1.0
    assert then.phase_boundaries(110) == (10,)
    assert then.to_spec() == {"type": "WarmupThen", "schedule": cosine.to_spec(), "steps": 10,
                              "start": 0.0, "shape": "linear"}  # fmt: skip
    assert repr(then) == "WarmupThen(schedule=Cosine(start=1.0, end=0.0), steps=10, start=0.0, shape='linear')"


def test_warmup_then_without_prefix_keeps_the_run_clock():
    cosine = Cosine(1.0, 0.0)
    joined = WarmupThen(cosine, steps=10, start=0.1, prefix=False)
    assert joined(0, 100) == 0.1
    assert joined(5, 100) == pytest.approx(0.1 + (cosine(10, 100) - 0.1) * 0.5, rel=1e-15)
    assert [joined(k, 100) for k in range(10, 100)] == [cosine(k, 100) for k in range(10, 100)]
    jump = WarmupThen(cosine, steps=10, start=0.1, prefix=False, peak=1.0)  # timm's CosineLRScheduler
    assert jump(5, 100) == pytest.approx(0.55, rel=1e-15) and jump(10, 100) == cosine(10, 100)


def test_warmup_then_shapes_validation_and_extension():
    s = WarmupThen(Constant(1.0), steps=4, shape="1-sqrt")
    assert s(2, 10) == 1.0 - math.sqrt(0.5)
    assert WarmupThen(Constant(1.0), 4, shape="cos").shape == "cosine"
    with pytest.raises(ValueError, match=r"steps must leave the schedule at least 1 step, got steps=10 = 10 steps with total_steps=10"):
        WarmupThen(Constant(1.0), 10).validate(10)
    WarmupThen(Constant(1.0), 10, prefix=False).validate(10)
    inner = WarmupStableDecay(1.0, warmup=0, decay=0.2)
    with pytest.raises(ValueError, match=r"warmup \+ decay must fit"):
        WarmupThen(WarmupStableDecay(1.0, warmup=5, decay=5), 5).validate(14)
    longer = WarmupThen(inner, steps=0.1).extended(100, 200)
    assert longer == WarmupThen(WarmupStableDecay(1.0, warmup=0, decay=18), steps=10)


def test_time_shift_moves_a_schedule_in_time():
    lin = Linear(0.0, 1.0)
    ahead = TimeShift(lin, 1)
    assert [ahead(k, 4) for k in range(4)] == [0.25, 0.5, 0.75, 1.0]
    late = TimeShift(lin, -2)
    assert [late(k, 4) for k in range(5)] == [0.0, 0.0, 0.0, 0.25, 0.5]
    assert TimeShift(Step(1.0, [4]), -2).phase_boundaries(10) == (6,)
    with pytest.raises(TypeError, match=r"steps must be an int \(a step count, may be < 0\), got steps=1.5"):
        TimeShift(lin, 1.5)
    assert TimeShift(lin, np.int64(3)).steps == 3


def test_numpy_integers_are_step_counts_in_compositions():
    import numpy as np

    restarts = WarmRestarts(Cosine(1.0, 0.0), np.int64(4), decay=0.5, limit=np.int64(2))
    assert (restarts.period, restarts.limit) == (4, 2) and type(restarts.limit) is int
    seq = Sequence([Constant(1.0), Constant(2.0), Constant(3.0)], boundaries=np.arange(3, 9, 3))
    assert seq.boundaries == (3, 6) and [seq(k, 10) for k in (2, 3, 6)] == [1.0, 2.0, 3.0]
    assert Cyclic(Linear(1.0, 0.0), np.int64(5)).period == 5
    assert TimeShift(Linear(0.0, 1.0), np.int64(2)).steps == 2
