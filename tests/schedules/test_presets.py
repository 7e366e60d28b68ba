"""Presets: exact values at known points, validation messages, phases, torch parity."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from paramsched.schedules import (
    Constant,
    Cosine,
    DurationWarning,
    Exponential,
    InverseSqrt,
    Linear,
    OneCycle,
    PiecewiseLinear,
    Polynomial,
    Schedule,
    Step,
    Tanh,
    Triangular,
    Warmup,
    WarmupStableDecay,
    schedule_from_spec,
)

# -- exact values at known points ----------------------------------------------------


def test_constant():
    s = Constant(3)
    assert s.value == 3.0 and type(s.value) is float
    assert [s(k, 10) for k in (0, 9, 10, 1000)] == [3.0] * 4


def test_linear_uses_progress_step_over_total_steps():
    s = Linear(1.0, 0.0)
    assert s(0, 10) == 1.0
    assert s(5, 10) == 0.5
    assert s(9, 10) == 1.0 - 0.9  # the last update is just before the end
    assert s(10, 10) == 0.0
    assert s(25, 10) == 0.0  # past the end: progress clamps to 1
    assert Linear(0.0, 4.0)(1, 4) == 1.0
    assert Linear(2.0, 2.0)(3, 7) == 2.0


def test_linear_is_exact_at_both_ends_and_never_overshoots():
    # 0.1 + (0.02 - 0.1) * 1 is 0.020000000000000004 in floats; the lerp is exact at the end.
    assert 0.1 + (0.02 - 0.1) * 1.0 != 0.02
    s = Linear(0.1, 0.02)
    assert s(0, 7) == 0.1 and s(7, 7) == 0.02
    assert all(0.02 <= s(k, 7) <= 0.1 for k in range(8))
    assert Cosine(0.1, 0.02)(7, 7) == 0.02 and Cosine(0.02, 0.1)(7, 7) == 0.1


def test_cosine():
    s = Cosine(1.0, 0.0)
    assert s(0, 10) == 1.0
    assert s(5, 10) == 0.5
    assert s(10, 10) == 0.0
    assert s(11, 10) == 0.0
    assert Cosine(0.0, 1.0)(5, 10) == 0.5
    assert Cosine(1.0, 0.1)(5, 10) == 0.55
    assert Cosine(2.0, 0.0)(1, 4) == 2.0 * 0.5 * (1 + math.cos(math.pi / 4))


def test_exponential_by_end_value():
    s = Exponential(1.0, end=1e-4)
    assert s(0, 4) == 1.0
    assert s(2, 4) == 1e-2
    assert s(4, 4) == 1e-4
    assert s(40, 4) == 1e-4
    assert Exponential(1e-6, end=1.0)(3, 6) == 1e-3  # growth (an LR range test)


def test_exponential_by_gamma():
    s = Exponential(2.0, gamma=0.5)
    assert [s(k, 100) for k in range(4)] == [2.0, 1.0, 0.5, 0.25]
    assert s(200, 100) == 2.0 * 0.5**100  # past the end: holds the value at total_steps


def test_polynomial():
    assert Polynomial(1.0, 0.0, power=2.0)(5, 10) == 0.25
    assert Polynomial(1.0, 0.0)(5, 10) == Linear(1.0, 0.0)(5, 10)
    assert Polynomial(3.0, 1.0, power=0.5)(3, 4) == 1.0 + 2.0 * 0.5
    assert Polynomial(3.0, 1.0, power=3.0)(4, 4) == 1.0


def test_step():
    s = Step(1.0, milestones=[3, 6])
    assert [s(k, 10) for k in range(10)] == [1.0] * 3 + [0.1] * 3 + [1.0 * 0.1**2] * 4
    half = Step(8.0, milestones=(0.25, 0.5, 0.75), gamma=0.5)
    assert [half(k, 8) for k in range(8)] == [8.0, 8.0, 4.0, 4.0, 2.0, 2.0, 1.0, 1.0]
    assert Step(1.0, ()).__call__(5, 10) == 1.0
    assert half.phase_boundaries(8) == (2, 4, 6)


def test_step_matches_torch_multistep_lr():
    sched = Step(0.1, milestones=(3, 5), gamma=0.3)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch_sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5], gamma=0.3)
    for k in range(8):
        # torch multiplies step by step (0.1 * 0.3 * 0.3); we take gamma ** k: equal up to rounding.
        assert sched(k, 8) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-15)
        opt.step()
        torch_sched.step()


def test_inverse_sqrt():
    s = InverseSqrt(2.0, warmup=4)
    assert [s(k, 100) for k in (0, 1, 2, 3, 4)] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert s(16, 100) == 1.0
    assert s(100, 100) == 2.0 * math.sqrt(4 / 100)
    assert s(10_000, 100) == s(100, 100)
    assert InverseSqrt(1.0, warmup=0.04, start=0.5)(2, 100) == 0.75
    assert s.phase_boundaries(100) == (4,)


def test_wsd_phase_values():
    s = WarmupStableDecay(1.0, warmup=10, decay=20, decay_shape="linear")
    assert s(0, 100) == 0.0
    assert s(5, 100) == 0.5
    assert s(10, 100) == 1.0
    assert s(50, 100) == 1.0
    assert s(79, 100) == 1.0
    assert s(80, 100) == 1.0
    assert s(90, 100) == 0.5
    assert s(99, 100) == 1.0 - 19 / 20
    assert s(100, 100) == 0.0
    assert s.phase_boundaries(100) == (10, 80)


@pytest.mark.parametrize(
    ("shape", "at_half"),
    [
        ("linear", 0.5),
        ("cosine", 0.5),
        ("sqrt", math.sqrt(0.5)),
        ("1-sqrt", 1.0 - math.sqrt(0.5)),
    ],
)
def test_wsd_decay_shapes(shape, at_half):
    s = WarmupStableDecay(1.0, warmup=0, decay=10, decay_shape=shape)
    assert s(90, 100) == 1.0
    assert s(95, 100) == at_half
    assert s(100, 100) == 0.0


def test_wsd_1_sqrt_is_the_literature_cooldown():
    peak, end = 3e-4, 3e-5
    s = WarmupStableDecay(peak, warmup=0, decay=100, end=end, decay_shape="1-sqrt")
    for k in range(100):
        t = k / 100
        expected = end + (peak - end) * (1 - math.sqrt(t))
        assert s(900 + k, 1000) == pytest.approx(expected, rel=1e-15)  # lerp vs textbook op order


def test_wsd_cosine_warmup_and_start_end():
    s = WarmupStableDecay(2.0, warmup=4, decay=4, start=1.0, end=0.5, warmup_shape="cosine")
    assert s(0, 20) == 1.0
    assert s(2, 20) == 1.5
    assert s(4, 20) == 2.0
    assert s(18, 20) == 1.25
    assert s(20, 20) == 0.5


def test_wsd_defaults_are_fractions_of_the_run():
    s = WarmupStableDecay(1.0)
    assert (s.warmup, s.decay, s.decay_shape) == (0.05, 0.2, "cosine")
    assert s.phase_boundaries(1000) == (50, 800)


def test_wsd_equals_piecewise_linear_with_the_same_corners():
    total = 50
    wsd = WarmupStableDecay(1.5, warmup=7, decay=13, start=0.25, end=0.125, decay_shape="linear")
    pl = PiecewiseLinear([(0, 0.25), (7, 1.5), (total - 13, 1.5), (total, 0.125)])
    assert [wsd(k, total) for k in range(total + 1)] == [pl(k, total) for k in range(total + 1)]


def test_wsd_fractions_never_round_past_the_run():
    # 0.3 * 5 and 0.7 * 5 round (half to even) to 2 and 4: 6 > 5 steps without the fix.
    s = WarmupStableDecay(1.0, warmup=0.3, decay=0.7)
    s.validate(5)
    assert s._steps(5) == (2, 3)
    assert s(2, 5) == 1.0


def test_wsd_without_decay_holds_the_peak():
    s = WarmupStableDecay(1.0, warmup=2, decay=0, end=0.5)
    assert [s(k, 4) for k in range(6)] == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]


def test_piecewise_linear():
    s = PiecewiseLinear([(10, 1.0), (0.5, 1.0), (1.0, 0.0)])
    assert s.points == ((10, 1.0), (0.5, 1.0), (1.0, 0.0))
    assert [s(k, 100) for k in (0, 5, 10, 30, 50, 75, 100, 200)] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    ramp = PiecewiseLinear([(2, 0.0), (6, 1.0)])
    assert [ramp(k, 10) for k in range(9)] == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert PiecewiseLinear([(0.5, 7.0)])(3, 4) == 7.0
    assert PiecewiseLinear([(0.0, 1.0), (1.0, 0.0)])(3, 8) == Linear(1.0, 0.0)(3, 8)
    assert ramp.phase_boundaries(10) == (2, 6)


def test_piecewise_linear_jump_at_repeated_position():
    s = PiecewiseLinear([(0, 1.0), (5, 1.0), (5, 0.1), (10, 0.1)])
    assert [s(k, 10) for k in (4, 5, 6)] == [1.0, 0.1, 0.1]


# -- OneCycle: torch parity ----------------------------------------------------------


def torch_onecycle_lrs(total: int, read: str = "lr", **kwargs) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, cycle_momentum=read == "momentum", **kwargs)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(total):
            lrs.append(opt.param_groups[0][read])
            opt.step()
            if k < total - 1:  # torch computes the value for step `total` too (and may divide by 0)
                sched.step()
    return lrs


@pytest.mark.parametrize(
    ("total", "peak", "pct_start", "div", "final_div", "shape"),
    [
        (100, 0.1, 0.3, 25.0, 1e4, "cosine"),
        (100, 0.1, 0.3, 25.0, 1e4, "linear"),
        (37, 3e-4, 0.25, 10.0, 100.0, "cosine"),
        (37, 3e-4, 0.25, 10.0, 100.0, "linear"),
        (10, 1.0, 0.5, 4.0, 2.0, "cosine"),
        (50, 0.02, 0.0, 25.0, 1e4, "cosine"),
        (50, 0.02, 1.0, 25.0, 1e4, "linear"),
    ],
)
def test_onecycle_equals_torch_onecycle_lr_at_every_step(total, peak, pct_start, div, final_div, shape):
    ours = OneCycle(peak, pct_start=pct_start, div_factor=div, final_div_factor=final_div, shape=shape)
    expected = torch_onecycle_lrs(
        total,
        max_lr=peak,
        pct_start=pct_start,
        div_factor=div,
        final_div_factor=final_div,
        anneal_strategy="cos" if shape == "cosine" else "linear",
    )
    # Same formulas in the same operation order: bit-for-bit equal.
    assert [ours(k, total) for k in range(total)] == expected


def test_onecycle_shape_and_end():
    s = OneCycle(1.0, pct_start=0.5, div_factor=10.0, final_div_factor=10.0, shape="linear")
    # the turn is at pct_start * total - 1 = 4: up over 4 steps, down over 5, the last at final.
    assert s(0, 10) == 0.1
    assert s(2, 10) == 0.55
    assert s(4, 10) == 1.0
    # torch's linear anneal (end - start) * pct + start lands on final only up to rounding
    assert s(9, 10) == (0.01 - 1.0) * 1.0 + 1.0 == pytest.approx(0.01, rel=1e-12)
    assert s(10, 10) == s(500, 10) == s(9, 10)
    assert OneCycle(1.0, pct_start=0.5, div_factor=10.0, final_div_factor=10.0)(9, 10) == 0.01
    assert s.phase_boundaries(10) == (4, 5)
    # a turn between two steps (4.5) is never hit exactly
    assert s(4, 11) == (1.0 - 0.1) * (4 / 4.5) + 0.1
    assert s(5, 11) == (0.01 - 1.0) * (0.5 / 5.5) + 1.0


def test_onecycle_degenerate_runs_stay_finite():
    assert OneCycle(1.0, pct_start=1.0)(0, 1) == 1.0
    assert OneCycle(1.0, pct_start=0.5)(0, 2) == 1.0  # turn at step 0: torch divides 0 by 0 here
    assert math.isfinite(OneCycle(1.0, pct_start=0.0)(0, 1))


# -- validation messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Constant("1"), TypeError, r"value must be a real number, got value='1'"),
        (lambda: Constant(True), TypeError, r"value must be a real number, got value=True"),
        (lambda: Linear(math.nan, 0.0), ValueError, r"start must be finite, got start=nan"),
        (lambda: Cosine(1.0, math.inf), ValueError, r"end must be finite, got end=inf"),
        (lambda: Exponential(1.0), ValueError, r"exactly one of end .* or gamma .*, got end=None, gamma=None"),
        (lambda: Exponential(1.0, end=0.1, gamma=0.9), ValueError, r"exactly one of end"),
        (lambda: Exponential(0.0, end=0.1), ValueError, r"start must be > 0, got start=0.0"),
        (lambda: Exponential(1.0, end=-1.0), ValueError, r"end must be > 0, got end=-1.0"),
        (lambda: Exponential(1.0, gamma=0), ValueError, r"gamma must be > 0, got gamma=0.0"),
        (lambda: Polynomial(1.0, 0.0, power=0.0), ValueError, r"power must be > 0, got power=0.0"),
        (lambda: Step(1.0, 5), TypeError, r"milestones must be a list or tuple of steps .*, got milestones=5"),
        (lambda: Step(1.0, [5, -1]), ValueError, r"milestones\[1\] must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got milestones\[1\]=-1"),
        (lambda: Step(1.0, [5, 3]), ValueError, r"milestones must be sorted \(non-decreasing\), got milestones=\(5, 3\)"),
        (lambda: Step(1.0, [1], gamma=-0.1), ValueError, r"gamma must be > 0, got gamma=-0.1"),
        (lambda: InverseSqrt(1.0, warmup=0), ValueError, r"InverseSqrt with warmup=0 needs a timescale: .*timescale=10000 \(Hugging Face's default without warmup\), got warmup=0, timescale=None"),
        (lambda: InverseSqrt(1.0, warmup=4, timescale=0), ValueError, r"timescale must be a fraction in \(0, 1\] \(float\) or a step count >= 1 \(int\), got timescale=0"),
        (lambda: InverseSqrt(1.0, warmup="10"), TypeError, r"warmup must be .*, got warmup='10'"),
        (lambda: OneCycle(1.0, pct_start=1.5), ValueError, r"pct_start must be a fraction in \[0, 1\] \(float\), got pct_start=1.5"),
        (lambda: OneCycle(1.0, div_factor=0), ValueError, r"div_factor must be > 0, got div_factor=0.0"),
        (lambda: OneCycle(1.0, final_div_factor=-1.0), ValueError, r"final_div_factor must be > 0"),
        (lambda: OneCycle(1.0, shape="cosinus"), ValueError, r"shape must be one of 'cosine', 'linear', got shape='cosinus'"),
        (lambda: OneCycle(1.0, three_phase=1), TypeError, r"three_phase must be True or False, got three_phase=1"),
        (lambda: OneCycle(1.0, initial="0.1"), TypeError, r"initial must be a real number, got initial='0.1'"),
        (lambda: Exponential(1e-3, 0.995), TypeError, r"Exponential takes end= or gamma= by keyword: Exponential\(0.001, 0.995\) could mean an end value or a factor per step; write Exponential\(0.001, gamma=0.995\) \(torch's ExponentialLR\) or Exponential\(0.001, end=0.995\)"),
        (lambda: Cosine(1.0, 0.0, cycles=0), ValueError, r"cycles must be > 0, got cycles=0.0"),
        (lambda: Step(1.0, 30), TypeError, r"milestones must be a list or tuple .*, got milestones=30; for a decay every 30 steps \(torch's StepLR\) pass step_size=30"),
        (lambda: Step(1.0, [3], step_size=2), ValueError, r"Step takes milestones or step_size, not both"),
        (lambda: Step(1.0, step_size=0), ValueError, r"step_size must be a fraction in \(0, 1\] \(float\) or a step count >= 1 \(int\), got step_size=0"),
        (lambda: Step(1.0, ["3"]), TypeError, r"milestones\[0\] must be .*, got milestones\[0\]='3'"),
        (lambda: Step(1.0, "35"), TypeError, r"milestones must be a list or tuple .*, got milestones='35'"),
        (lambda: Tanh(1.0, lower=3.0, upper=-7.0), ValueError, r"lower must be < upper, got lower=3.0, upper=-7.0"),
        (lambda: Triangular(0.1, 1.0, up=-1), ValueError, r"up must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got up=-1"),
        (lambda: Triangular(0.1, 1.0, up=4, mode="triangle"), ValueError, r"mode must be one of 'triangular', 'triangular2', 'exp_range', got mode='triangle'"),
        (lambda: WarmupStableDecay(1.0, warmup=50.0), ValueError, r"got warmup=50.0; a float is a fraction of the run: for 50 steps pass the int 50"),
        (lambda: PiecewiseLinear([]), ValueError, r"points must hold at least one"),
        (lambda: PiecewiseLinear([(0, 1.0, 2.0)]), TypeError, r"points\[0\] must be a \(step_or_fraction, value\) pair, got points\[0\]=\(0, 1.0, 2.0\)"),
        (lambda: PiecewiseLinear([(0, "a")]), TypeError, r"points\[0\]\[1\] must be a real number, got points\[0\]\[1\]='a'"),
        (lambda: PiecewiseLinear([(1.5, 1.0)]), ValueError, r"points\[0\]\[0\] must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got points\[0\]\[0\]=1.5"),
        (lambda: PiecewiseLinear([(5, 1.0), (2, 0.0)]), ValueError, r"points positions must be sorted \(non-decreasing\), got points positions=\(5, 2\)"),
        (lambda: WarmupStableDecay(1.0, warmup=1.5), ValueError, r"warmup must be a fraction in \[0, 1\] \(float\) or a step count >= 0 \(int\), got warmup=1.5"),
        (lambda: WarmupStableDecay(1.0, decay=-3), ValueError, r"decay must be .*, got decay=-3"),
        (lambda: WarmupStableDecay(1.0, warmup=0.8, decay=0.4), ValueError, r"warmup \+ decay must fit in the run \(sum of fractions <= 1.0\), got warmup=0.8 \+ decay=0.4 > 1.0"),
        (lambda: WarmupStableDecay(1.0, warmup_shape="sqrt"), ValueError, r"warmup_shape must be one of 'linear', 'cosine', '1-sqrt', got warmup_shape='sqrt'"),
        (lambda: WarmupStableDecay(1.0, decay_shape="exp"), ValueError, r"decay_shape must be one of 'linear', 'cosine', 'sqrt', '1-sqrt', got decay_shape='exp'"),
        (lambda: WarmupStableDecay("1e-3"), TypeError, r"peak must be a real number, got peak='1e-3'"),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("schedule", "total", "match"),
    [
        (WarmupStableDecay(1.0, warmup=800, decay=400), 1000, r"warmup \+ decay must fit in the run: warmup=800 steps \+ decay=400 steps > total_steps=1000"),
        (WarmupStableDecay(1.0, warmup=800, decay=0.3), 1000, r"warmup=800 steps \+ decay=300 steps > total_steps=1000"),
        (Step(1.0, [5, 0.4]), 10, r"milestones must resolve to sorted \(non-decreasing\) steps, got milestones=\(5, 0.4\), which is \(5, 4\) steps with total_steps=10"),
        (Step(1.0, step_size=0.01), 10, r"step_size must resolve to at least 1 step, got step_size=0.01 = 0 steps with total_steps=10"),
        (Step(1.0, step_size=1, gamma=10.0), 1000, r"gamma=10.0 overflows over total_steps=1000"),
        (InverseSqrt(1.0, warmup=0.01), 10, r"warmup must resolve to between 1 and total_steps=10 steps \(or give a timescale\), got warmup=0.01 = 0 steps"),
        (InverseSqrt(1.0, warmup=0.5, timescale=0.01), 10, r"timescale must resolve to at least 1 step, got timescale=0.01 = 0 steps with total_steps=10"),
        (Triangular(0.0, 1.0, up=0.01), 10, r"up \+ down must resolve to at least 1 step, got up=0.01, down=None = 0 \+ 0 steps with total_steps=10"),
        (Triangular(0.0, 1.0, up=2, mode="exp_range", gamma=10.0), 1000, r"gamma=10.0 overflows over total_steps=1000"),
        (InverseSqrt(1.0, warmup=20), 10, r"got warmup=20 = 20 steps"),
        (PiecewiseLinear([(6, 1.0), (0.5, 0.0)]), 10, r"points positions must resolve to sorted \(non-decreasing\) steps"),
        (Exponential(1.0, gamma=10.0), 1000, r"gamma=10.0 overflows over total_steps=1000"),
        (Linear(1.0, 0.0), 0, r"total_steps must be an int >= 1, got total_steps=0"),
    ],
)
def test_validate_rejects_what_does_not_fit_the_run(schedule, total, match):
    with pytest.raises(ValueError, match=match):
        schedule.validate(total)


def test_validate_checks_total_steps_type():
    with pytest.raises(TypeError, match=r"total_steps must be an int >= 1, got total_steps=10.0"):
        Constant(1.0).validate(10.0)


def test_inputs_are_copied_to_tuples():
    milestones = [3, 6]
    points = [[0, 1.0], [4, 0.0]]
    s = Step(1.0, milestones)
    p = PiecewiseLinear(points)
    milestones.append(9)
    points[0][1] = 5.0
    assert s.milestones == (3, 6)
    assert p.points == ((0, 1.0), (4, 0.0))
    assert hash(s) == hash(Step(1.0, (3, 6)))


def test_values_are_python_floats_even_from_int_arguments():
    for s in (Constant(1), Linear(1, 0), Cosine(2, 1), Polynomial(4, 0, 2), Step(1, [1]), InverseSqrt(1, 2)):
        assert type(s(1, 4)) is float
        assert isinstance(s, Schedule)


# -- extended ---------------------------------------------------------------------------


def test_wsd_extended_keeps_warmup_and_moves_decay_to_the_new_end():
    s = WarmupStableDecay(1.0, warmup=0.1, decay=0.2)
    longer = s.extended(1000, 2000)
    assert longer == WarmupStableDecay(1.0, warmup=100, decay=200)
    assert longer.phase_boundaries(2000) == (100, 1800)
    assert [longer(k, 2000) for k in range(1800)] == [s(k, 1000) for k in range(800)] + [1.0] * 1000
    assert s.extended(1000, 2000).extended(2000, 3000) == longer


def test_constant_extended_is_itself_and_others_have_no_extension():
    c = Constant(0.5)
    assert c.extended(10, 20) is c
    for s in (Linear(1.0, 0.0), Cosine(1.0, 0.0), OneCycle(1.0), Step(1.0, [3])):
        assert s.extended(10, 20) is None


# -- issue 13: peers' schedules in one line, and the traps ------------------------------------


def test_exponential_takes_end_or_gamma_by_keyword_only():
    assert Exponential(1.0, end=0.01)(5, 10) == 0.1
    assert Exponential(1.0, gamma=0.5)(3, 10) == 0.125
    assert Exponential(start=2.0, gamma=0.5)(1, 10) == 1.0
    import dataclasses

    assert dataclasses.replace(Exponential(1.0, gamma=0.5), gamma=0.25)(1, 10) == 0.25
    import inspect

    params = inspect.signature(Exponential).parameters
    assert params["end"].kind is params["gamma"].kind is inspect.Parameter.KEYWORD_ONLY


def test_numpy_integers_are_steps_and_numpy_floats_fractions():
    s = Step(1.0, milestones=np.arange(10, 40, 10), gamma=0.5)
    assert s.milestones == (10, 20, 30) and all(type(m) is int for m in s.milestones)
    assert [s(k, 100) for k in (9, 10, 35)] == [1.0, 0.5, 0.125]
    wsd = WarmupStableDecay(1.0, warmup=np.int64(10), decay=np.float64(0.2))
    assert (type(wsd.warmup), type(wsd.decay)) == (int, float)
    assert wsd == WarmupStableDecay(1.0, warmup=10, decay=0.2)
    assert json.dumps(wsd.to_spec())  # plain JSON
    assert Step(1.0, range(3, 9, 3)).milestones == (3, 6)  # any iterable


def test_a_float_duration_of_one_warns_and_a_whole_float_above_one_is_an_error():
    total = 10
    with pytest.warns(DurationWarning, match=r"warmup=1.0 is a fraction: the whole run. .* pass the int 1"):
        WarmupStableDecay(1.0, warmup=total / 10, decay=0)
    with pytest.warns(DurationWarning, match=r"steps=1.0"):
        Warmup(Constant(1.0), steps=total / 10)
    with pytest.raises(ValueError, match=r"got warmup=10.0; a float is a fraction of the run: for 10 steps pass the int 10"):
        WarmupStableDecay(1.0, warmup=total / 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PiecewiseLinear([(0, 1.0), (1.0, 0.0)])  # a position at the end is the usual spelling
        Step(1.0, [1.0])
        spec = {"type": "WarmupStableDecay", "peak": 1.0, "warmup": 0, "decay": 1.0, "start": 0.0,
                "end": 0.0, "warmup_shape": "linear", "decay_shape": "cosine"}  # fmt: skip
        assert schedule_from_spec(spec).decay == 1.0  # a spec keeps the type: no warning


def test_step_milestones_past_the_end_have_no_effect():
    s = Step(1.0, milestones=[5, 12], gamma=0.5)
    s.validate(10)
    assert [s(k, 10) for k in range(10)] == [1.0] * 5 + [0.5] * 5
    assert s(50, 10) == 0.5  # not even past the end
    assert Step(1.0, [1.0]).__call__(10, 10) == 1.0
    assert s.phase_boundaries(10) == (5,)


def test_step_size_is_torch_step_lr():
    s = Step(0.1, step_size=3, gamma=0.5)
    assert [s(k, 10) for k in range(10)] == [0.1] * 3 + [0.05] * 3 + [0.025] * 3 + [0.0125]
    assert s(100, 10) == 0.0125 and s.phase_boundaries(10) == (3, 6, 9)
    assert Step(0.1, step_size=0.25)(5, 20) == 0.1 * 0.1
    assert "step_size" not in Step(0.1, [3]).to_spec()


def test_cosine_cycles_is_hugging_face_num_cycles():
    s = Cosine(2.0, 0.5, cycles=1.5)
    for k in range(51):
        w = 0.5 * (1.0 + math.cos(math.pi * 1.5 * 2.0 * (k / 50)))
        assert s(k, 50) == pytest.approx(0.5 + 1.5 * w, rel=1e-15)
    assert s(50, 50) == 0.5 and s.phase_boundaries(50) == (17, 34)
    assert Cosine(1.0, 0.0).to_spec() == {"type": "Cosine", "start": 1.0, "end": 0.0}
    assert repr(Cosine(1.0, 0.0)) == "Cosine(start=1.0, end=0.0)"
    assert repr(s) == "Cosine(start=2.0, end=0.5, cycles=1.5)"


def test_inverse_sqrt_timescale_is_hugging_face_timescale():
    s = InverseSqrt(2.0, warmup=10, timescale=50)
    assert s(5, 100) == 1.0 and s(10, 100) == 2.0
    assert s(60, 100) == 2.0 * (1.0 / math.sqrt((60 + 40) / 50))
    no_warmup = InverseSqrt(1.0, warmup=0, timescale=10_000)
    no_warmup.validate(100)
    assert no_warmup(0, 100) == 1.0 and no_warmup(30_000, 100) == no_warmup(100, 100)
    assert InverseSqrt(1.0, warmup=4).to_spec() == {"type": "InverseSqrt", "peak": 1.0, "warmup": 4, "start": 0.0}


def test_wsd_1_sqrt_warmup_is_hugging_face_warmup_type():
    s = WarmupStableDecay(1.0, warmup=4, decay=0, warmup_shape="1-sqrt")
    assert [s(k, 10) for k in range(5)] == [0.0, 1 - math.sqrt(0.75), 1 - math.sqrt(0.5), 1 - math.sqrt(0.25), 1.0]
    assert WarmupStableDecay(1.0, decay_shape="cos").decay_shape == "cosine"  # a peer's name


def test_onecycle_three_phase_and_momentum_match_torch():
    for total, pct, shape in ((100, 0.3, "cosine"), (37, 0.25, "linear"), (7, 0.3, "cosine"), (10, 0.5, "linear")):
        kwargs = {"max_lr": 0.1, "pct_start": pct, "anneal_strategy": "cos" if shape == "cosine" else "linear"}
        three = OneCycle(0.1, pct_start=pct, shape=shape, three_phase=True)
        assert [three(k, total) for k in range(total)] == torch_onecycle_lrs(total, three_phase=True, **kwargs)
        momentum = OneCycle(0.85, pct_start=pct, shape=shape, initial=0.95, final=0.95)
        assert [momentum(k, total) for k in range(total)] == torch_onecycle_lrs(total, read="momentum", **kwargs)
    s = OneCycle(1.0, pct_start=0.3, three_phase=True)
    assert s.phase_boundaries(100) == (29, 30, 58, 59)
    assert OneCycle(1.0, shape="cos") == OneCycle(1.0, shape="cosine")
    assert OneCycle(1.0).to_spec() == {"type": "OneCycle", "peak": 1.0, "pct_start": 0.3, "div_factor": 25.0,
                                       "final_div_factor": 1e4, "shape": "cosine"}  # fmt: skip


def test_tanh_is_timm_tanh():
    s = Tanh(0.1, 1e-3)
    for k in range(20):
        tr = k / 20
        assert s(k, 20) == 1e-3 + 0.5 * (0.1 - 1e-3) * (1 - math.tanh(-7.0 * (1.0 - tr) + 3.0 * tr))


def torch_cyclic(total: int, read: str = "lr", **kwargs) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, **kwargs)
    values = []
    for _ in range(total):
        values.append(opt.param_groups[0][read])
        opt.step()
        sched.step()
    return values


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_triangular_is_torch_cyclic_lr(mode):
    kwargs = {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 5, "mode": mode, "gamma": 0.97}
    s = Triangular(0.01, 0.1, up=3, down=5, mode=mode, gamma=0.97)
    assert [s(k, 40) for k in range(40)] == torch_cyclic(40, **kwargs)
    momentum = Triangular(0.9, 0.8, up=3, down=5, mode=mode, gamma=0.97)
    assert [momentum(k, 40) for k in range(40)] == torch_cyclic(40, read="momentum", **kwargs)
    assert s.phase_boundaries(20) == (3, 8, 11, 16, 19)


def test_triangular_zero_length_sides_are_skipped():
    saw = Triangular(0.0, 1.0, up=4, down=0)
    assert [saw(k, 12) for k in range(6)] == [0.0, 0.25, 0.5, 0.75, 0.0, 0.25]
    drop = Triangular(0.0, 1.0, up=0, down=4)
    assert [drop(k, 12) for k in range(6)] == [1.0, 0.75, 0.5, 0.25, 1.0, 0.75]


@pytest.mark.parametrize(
    "schedule, skipped",
    [
        (WarmupStableDecay(1.0, warmup=0, decay=0), lambda k: 1.0),
        (Warmup(Constant(1.0), steps=0), lambda k: 1.0),
        (InverseSqrt(1.0, warmup=0, timescale=4), lambda k: 1.0 / math.sqrt((k + 4) / 4)),
        (Step(1.0, milestones=[0], gamma=0.5), lambda k: 0.5),
        (PiecewiseLinear([(0, 0.0), (0, 1.0), (10, 0.0)]), lambda k: 1.0 - k / 10),
        (Triangular(0.0, 1.0, up=2, down=0), None),  # checked below
    ],
    ids=["wsd", "warmup", "inverse_sqrt", "step", "piecewise", "triangular"],
)
def test_one_zero_length_rule_a_piece_of_zero_steps_is_allowed_and_skipped(schedule, skipped):
    from paramsched.schedules import Sequence, WarmupThen

    schedule.validate(10)
    if not isinstance(schedule, Triangular):
        assert [schedule(k, 10) for k in range(10)] == pytest.approx([skipped(k) for k in range(10)], rel=1e-15)
    else:  # a sawtooth: up over 2 steps, no way down
        assert [schedule(k, 10) for k in range(5)] == [0.0, 0.5, 0.0, 0.5, 0.0]
    then = WarmupThen(Linear(1.0, 0.0), steps=0)
    seq = Sequence([Constant(5.0), Linear(1.0, 0.0)], boundaries=[0])
    for s in (then, seq):
        s.validate(10)
        assert [s(k, 10) for k in range(10)] == [Linear(1.0, 0.0)(k, 10) for k in range(10)]
