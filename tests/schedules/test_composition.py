"""Compositions: local evaluation, operators, validation, extension, no mutation."""

from __future__ import annotations

import math
import warnings

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
    WarmRestarts,
    Warmup,
    WarmupStableDecay,
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
        (lambda: Sequence([Constant(1.0), Constant(2.0)], [0]), ValueError, r"boundaries\[0\] must be a fraction in \(0, 1\] \(float\) or a step count >= 1 \(int\), got boundaries\[0\]=0"),
        (lambda: Sequence([Constant(1.0)] * 3, [0.5, 0.3]), ValueError, r"boundaries must be strictly increasing, got boundaries=\(0.5, 0.3\)"),
        (lambda: Sequence([Constant(1.0)] * 3, [4, 4]), ValueError, r"boundaries must be strictly increasing, got boundaries=\(4, 4\)"),
    ],
)
def test_sequence_rejects_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("boundaries", "total", "match"),
    [
        ([60, 0.5], 100, r"boundaries must resolve to strictly increasing steps between 1 and total_steps - 1, got boundaries=\(60, 0.5\), which is \(60, 50\) steps with total_steps=100"),
        ([10, 20], 20, r"which is \(10, 20\) steps with total_steps=20"),
        ([0.01, 0.5], 10, r"which is \(0, 5\) steps"),
    ],
)
def test_sequence_validate_needs_segments_of_at_least_one_step(boundaries, total, match):
    s = Sequence([Constant(1.0)] * 3, boundaries)
    with pytest.raises(ValueError, match=match):
        s.validate(total)


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
    with pytest.raises(ValueError, match=r"shape must be one of 'linear', 'cosine', got shape='sqrt'"):
        Warmup(Constant(1.0), steps=3, shape="sqrt")
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
