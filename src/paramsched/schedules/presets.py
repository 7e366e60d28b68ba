"""Preset schedules: the usual shapes, each a frozen dataclass.

Conventions shared by every preset (``OneCycle`` excepted, see its docstring):

* progress ``p = step / total_steps``: update 0 sees ``p = 0`` and the last
  update (``total_steps - 1``) sees ``p = (total_steps - 1) / total_steps``, just
  before the end; a step outside ``[0, total_steps]`` is clamped into it, so a
  call past the end gives the value at ``p = 1`` (finite).
* a duration (warmup, decay, milestone, point position) is a step count when it
  is an ``int`` and a fraction of the run when it is a ``float``
  (``round(fraction * total_steps)`` steps).
* interpolation is exact at both ends, monotone and never leaves the interval
  between its two end values (see ``_math.lerp``).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Literal

from paramsched.checks import check_choice, check_real, describe
from paramsched.schedules._base import Schedule
from paramsched.schedules._math import cos_weight, inner_steps, lerp, phase_progress, progress
from paramsched.schedules._validate import (
    as_tuple,
    check_duration,
    check_fraction,
    check_ordered,
    check_period,
    check_positive,
    check_resolved_order,
    resolve_duration,
)

__all__ = [
    "Constant",
    "Cosine",
    "Exponential",
    "InverseSqrt",
    "Linear",
    "OneCycle",
    "PiecewiseLinear",
    "Polynomial",
    "Step",
    "WarmupStableDecay",
]

# -- presets -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    """The same value at every step: ``value``.

    >>> from paramsched.schedules import Constant
    >>> Constant(0.1)(0, 100), Constant(0.1)(99, 100)
    (0.1, 0.1)
    """

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", check_real("value", self.value))

    def __call__(self, step: int, total_steps: int) -> float:
        return self.value

    def extended(self, old_total: int, new_total: int) -> Schedule:
        return self


@dataclasses.dataclass(frozen=True)
class Linear(Schedule):
    """Straight line over the run: ``start + (end - start) * p``, ``p = step / total_steps``.

    >>> from paramsched.schedules import Linear
    >>> s = Linear(1.0, 0.0)
    >>> s(0, 10), s(5, 10), s(9, 10), s(10, 10)
    (1.0, 0.5, 0.09999999999999998, 0.0)
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))

    def __call__(self, step: int, total_steps: int) -> float:
        return lerp(self.start, self.end, progress(step, total_steps))


@dataclasses.dataclass(frozen=True)
class Cosine(Schedule):
    """Half-cosine over the run: ``end + (start - end) * (1 + cos(pi * p)) / 2``.

    >>> from paramsched.schedules import Cosine
    >>> s = Cosine(1.0, 0.0)
    >>> s(0, 10), s(5, 10), s(10, 10)
    (1.0, 0.5, 0.0)
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))

    def __call__(self, step: int, total_steps: int) -> float:
        return lerp(self.end, self.start, cos_weight(progress(step, total_steps)))


@dataclasses.dataclass(frozen=True)
class Exponential(Schedule):
    """Exponential decay (or growth), given by its end value or by a per-step factor.

    Give exactly one of ``end`` or ``gamma``:

    * ``end``: geometric interpolation over the run,
      ``start * (end / start) ** p`` (``start`` and ``end`` both > 0). Exactly
      ``start`` at ``p = 0`` and ``end`` at ``p = 1``, monotone, within [start, end].
    * ``gamma``: ``start * gamma ** step`` (``gamma`` > 0), independent of the run
      length, like ``torch.optim.lr_scheduler.ExponentialLR``. ``validate()``
      rejects a run long enough to overflow.

    >>> from paramsched.schedules import Exponential
    >>> Exponential(1.0, end=0.01)(5, 10)
    0.1
    >>> Exponential(1.0, gamma=0.5)(3, 10)
    0.125
    """

    start: float
    end: float | None = None
    gamma: float | None = None

    def __post_init__(self) -> None:
        if (self.end is None) == (self.gamma is None):
            raise ValueError(
                "Exponential needs exactly one of end (value at the end of the run) or "
                f"gamma (factor per step), got end={describe(self.end)}, gamma={describe(self.gamma)}"
            )
        if self.end is not None:
            object.__setattr__(self, "start", check_positive("start", self.start))
            object.__setattr__(self, "end", check_positive("end", self.end))
        else:
            object.__setattr__(self, "start", check_real("start", self.start))
            object.__setattr__(self, "gamma", check_positive("gamma", self.gamma))

    def __call__(self, step: int, total_steps: int) -> float:
        if self.gamma is not None:
            return self.start * self.gamma ** min(max(step, 0), total_steps)
        start, end = self.start, self.end
        assert end is not None
        p = progress(step, total_steps)
        if p == 1.0:
            return end
        value = start * (end / start) ** p
        return min(max(value, min(start, end)), max(start, end))

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        if self.gamma is not None:
            try:
                last = self.start * self.gamma**total_steps
            except OverflowError:
                last = math.inf
            if not math.isfinite(last):
                raise ValueError(
                    f"gamma={self.gamma!r} overflows over total_steps={total_steps}: "
                    f"start * gamma ** total_steps is not finite"
                )


@dataclasses.dataclass(frozen=True)
class Polynomial(Schedule):
    """Polynomial decay: ``end + (start - end) * (1 - p) ** power`` (``power`` > 0).

    ``power=1`` is ``Linear``; ``power=2`` decays fast early, ``power=0.5`` late.

    >>> from paramsched.schedules import Polynomial
    >>> Polynomial(1.0, 0.0, power=2.0)(5, 10)
    0.25
    """

    start: float
    end: float
    power: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))
        object.__setattr__(self, "power", check_positive("power", self.power))

    def __call__(self, step: int, total_steps: int) -> float:
        return lerp(self.end, self.start, (1.0 - progress(step, total_steps)) ** self.power)


@dataclasses.dataclass(frozen=True)
class Step(Schedule):
    """Piecewise constant: ``value * gamma ** k``, ``k`` = number of milestones reached.

    A milestone ``m`` (a step, or a fraction of the run) is reached at update
    ``step >= m``, like ``torch.optim.lr_scheduler.MultiStepLR``. Milestones are
    sorted; each must resolve to a step before the end of the run.

    >>> from paramsched.schedules import Step
    >>> s = Step(1.0, milestones=(0.5, 8), gamma=0.5)
    >>> [s(k, 10) for k in (0, 4, 5, 7, 8, 9)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    value: float
    milestones: tuple[int | float, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", check_real("value", self.value))
        milestones = as_tuple("milestones", self.milestones, "steps (int) or fractions (float)")
        for i, m in enumerate(milestones):
            check_duration(f"milestones[{i}]", m)
        check_ordered("milestones", milestones, strict=False)
        object.__setattr__(self, "milestones", milestones)
        object.__setattr__(self, "gamma", check_positive("gamma", self.gamma))

    def __call__(self, step: int, total_steps: int) -> float:
        k = 0
        for m in self.milestones:
            if step >= resolve_duration(m, total_steps):
                k += 1
        return self.value * self.gamma**k if k else self.value

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        steps = check_resolved_order("milestones", self.milestones, total_steps, strict=False)
        for m, s in zip(self.milestones, steps, strict=True):
            if s >= total_steps:
                raise ValueError(
                    f"milestones must fall inside the run, got milestone {describe(m)} "
                    f"= step {s} >= total_steps={total_steps}"
                )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, *(resolve_duration(m, total_steps) for m in self.milestones))


@dataclasses.dataclass(frozen=True)
class InverseSqrt(Schedule):
    """Linear warmup from ``start`` to ``peak``, then ``peak * sqrt(warmup / step)``.

    With ``W`` the warmup in steps (>= 1): ``start + (peak - start) * step / W``
    for ``step < W``, then ``peak * sqrt(W / step)`` (the "Noam" / fairseq
    ``inverse_sqrt`` schedule), continuous at ``W``.

    >>> from paramsched.schedules import InverseSqrt
    >>> s = InverseSqrt(1.0, warmup=4)
    >>> [s(k, 100) for k in (0, 2, 4, 16, 64)]
    [0.0, 0.5, 1.0, 0.5, 0.25]
    """

    peak: float
    warmup: int | float
    start: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        check_period("warmup", self.warmup)
        object.__setattr__(self, "start", check_real("start", self.start))

    def __call__(self, step: int, total_steps: int) -> float:
        w = resolve_duration(self.warmup, total_steps)
        step = min(max(step, 0), total_steps)
        if step < w:
            return lerp(self.start, self.peak, step / w)
        return self.peak * math.sqrt(w / step)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        w = resolve_duration(self.warmup, total_steps)
        if not 1 <= w <= total_steps:
            raise ValueError(
                f"warmup must resolve to between 1 and total_steps={total_steps} steps, "
                f"got warmup={describe(self.warmup)} = {w} steps"
            )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, resolve_duration(self.warmup, total_steps))


@dataclasses.dataclass(frozen=True)
class OneCycle(Schedule):
    """The learning-rate curve of ``torch.optim.lr_scheduler.OneCycleLR`` (two phases).

    ``initial = peak / div_factor`` and ``final = initial / final_div_factor``.
    Phase 1 anneals ``initial -> peak`` over steps ``[0, a]`` with
    ``a = pct_start * total_steps - 1``; phase 2 anneals ``peak -> final`` over
    ``[a, total_steps - 1]``. Anneal ``"cosine"``:
    ``end + (start - end) / 2 * (cos(pi * pct) + 1)``; ``"linear"``:
    ``(end - start) * pct + start``. Unlike the other presets, the last update
    (``total_steps - 1``) reaches ``final`` (up to rounding), as in torch; the
    values equal torch's bit for bit (same formulas, same operation order), so
    they may leave ``[final, peak]`` by an ulp. Steps past the end hold the
    value of the last update.

    >>> from paramsched.schedules import OneCycle
    >>> s = OneCycle(1.0, pct_start=0.5, div_factor=10.0, final_div_factor=10.0, shape="linear")
    >>> [round(s(k, 6), 6) for k in range(6)]
    [0.1, 0.55, 1.0, 0.67, 0.34, 0.01]
    """

    peak: float
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    shape: Literal["cosine", "linear"] = "cosine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        object.__setattr__(self, "pct_start", check_fraction("pct_start", self.pct_start))
        object.__setattr__(self, "div_factor", check_positive("div_factor", self.div_factor))
        object.__setattr__(
            self, "final_div_factor", check_positive("final_div_factor", self.final_div_factor)
        )
        check_choice("shape", self.shape, ("cosine", "linear"))

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.shape == "cosine":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def __call__(self, step: int, total_steps: int) -> float:
        initial = self.peak / self.div_factor
        last = total_steps - 1
        turn = float(self.pct_start * total_steps) - 1
        step = min(max(step, 0), last)
        if step <= turn:
            return self._anneal(initial, self.peak, step / turn) if turn > 0 else self.peak
        final = initial / self.final_div_factor
        return self._anneal(self.peak, final, (step - turn) / (last - turn))

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        turn = math.floor(self.pct_start * total_steps - 1)
        return inner_steps(total_steps, turn, turn + 1)


@dataclasses.dataclass(frozen=True)
class PiecewiseLinear(Schedule):
    """Straight lines through ``points``: ``((step_or_fraction, value), ...)``.

    Positions are sorted; the first value holds before the first point and the
    last value after the last one. Two points at the same position make a jump:
    the later point's value applies from that step on.

    >>> from paramsched.schedules import PiecewiseLinear
    >>> s = PiecewiseLinear([(10, 1.0), (0.5, 1.0), (1.0, 0.0)])
    >>> [s(k, 100) for k in (0, 5, 10, 50, 75, 100)]
    [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    points: tuple[tuple[int | float, float], ...]

    def __post_init__(self) -> None:
        points = as_tuple("points", self.points, "(step_or_fraction, value) pairs")
        if not points:
            raise ValueError("points must hold at least one (step_or_fraction, value) pair, got points=()")
        checked = []
        for i, point in enumerate(points):
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise TypeError(
                    f"points[{i}] must be a (step_or_fraction, value) pair, "
                    f"got points[{i}]={describe(point)}"
                )
            checked.append(
                (check_duration(f"points[{i}][0]", point[0]), check_real(f"points[{i}][1]", point[1]))
            )
        check_ordered("points positions", tuple(p for p, _ in checked), strict=False)
        object.__setattr__(self, "points", tuple(checked))

    def __call__(self, step: int, total_steps: int) -> float:
        points = self.points
        xs = [resolve_duration(x, total_steps) for x, _ in points]
        i = bisect.bisect_right(xs, step) - 1
        if i < 0:
            return points[0][1]
        if i == len(xs) - 1:
            return points[-1][1]
        x0 = xs[i]
        return lerp(points[i][1], points[i + 1][1], (step - x0) / (xs[i + 1] - x0))

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        check_resolved_order(
            "points positions", tuple(p for p, _ in self.points), total_steps, strict=False
        )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, *(resolve_duration(x, total_steps) for x, _ in self.points))


_WARMUP_SHAPES = ("linear", "cosine")
_DECAY_SHAPES = ("linear", "cosine", "sqrt", "1-sqrt")


@dataclasses.dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    """Warmup to ``peak``, hold it, then decay to ``end`` over the last ``decay`` steps.

    With ``W`` warmup steps, ``D`` decay steps and ``T = total_steps``:

    * ``step < W``: from ``start`` to ``peak`` with ``t = step / W``:
      ``"linear"`` ``start + (peak - start) * t``;
      ``"cosine"`` ``start + (peak - start) * (1 - cos(pi * t)) / 2``.
    * ``W <= step < T - D``: ``peak`` (and every step after ``W`` when ``D = 0``).
    * ``step >= T - D``: from ``peak`` to ``end`` with ``t = (step - (T - D)) / D``:
      ``"linear"`` ``peak + (end - peak) * t``;
      ``"cosine"`` ``end + (peak - end) * (1 + cos(pi * t)) / 2``;
      ``"sqrt"`` ``end + (peak - end) * sqrt(1 - t)`` (drops fast at the end);
      ``"1-sqrt"`` ``end + (peak - end) * (1 - sqrt(t))`` (the WSD cooldown of
      Hägele et al. 2024: drops fast at the start).

    ``warmup`` and ``decay`` are steps (int) or fractions of the run (float).
    When both are fractions their rounded step counts never exceed the run (the
    decay gives up the rounding step). The shape is continuous at both joins.

    >>> from paramsched.schedules import WarmupStableDecay
    >>> s = WarmupStableDecay(1.0, warmup=10, decay=20, decay_shape="linear")
    >>> [s(k, 100) for k in (0, 5, 10, 50, 80, 90, 100)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    peak: float
    warmup: int | float = 0.05
    decay: int | float = 0.2
    start: float = 0.0
    end: float = 0.0
    warmup_shape: Literal["linear", "cosine"] = "linear"
    decay_shape: Literal["linear", "cosine", "sqrt", "1-sqrt"] = "cosine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        check_duration("warmup", self.warmup)
        check_duration("decay", self.decay)
        if isinstance(self.warmup, float) and isinstance(self.decay, float):
            if self.warmup + self.decay > 1.0 + 1e-12:
                raise ValueError(
                    "warmup + decay must fit in the run (sum of fractions <= 1.0), "
                    f"got warmup={self.warmup!r} + decay={self.decay!r} > 1.0"
                )
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))
        check_choice("warmup_shape", self.warmup_shape, _WARMUP_SHAPES)
        check_choice("decay_shape", self.decay_shape, _DECAY_SHAPES)

    def _steps(self, total_steps: int) -> tuple[int, int]:
        # resolve_duration() inlined: this runs on every call.
        warmup, decay = self.warmup, self.decay
        d = int(round(decay * total_steps)) if decay.__class__ is float else decay
        if warmup.__class__ is not float:
            return warmup, d
        w = int(round(warmup * total_steps))
        if decay.__class__ is float:
            d = min(d, total_steps - w)
        return w, d

    def __call__(self, step: int, total_steps: int) -> float:
        w, d = self._steps(total_steps)
        if step < w:
            t = step / w if step > 0 else 0.0
            if self.warmup_shape == "linear":
                return lerp(self.start, self.peak, t)
            return lerp(self.peak, self.start, cos_weight(t))
        decay_start = total_steps - d
        if step < decay_start or d == 0:
            return self.peak
        t = phase_progress(step, decay_start, d)
        shape = self.decay_shape
        if shape == "linear":
            return lerp(self.peak, self.end, t)
        if shape == "cosine":
            return lerp(self.end, self.peak, cos_weight(t))
        if shape == "sqrt":
            return lerp(self.end, self.peak, math.sqrt(1.0 - t))
        return lerp(self.end, self.peak, 1.0 - math.sqrt(t))

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        w, d = self._steps(total_steps)
        if w + d > total_steps:
            raise ValueError(
                f"warmup + decay must fit in the run: warmup={w} steps + decay={d} steps "
                f"> total_steps={total_steps}"
            )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        w, d = self._steps(total_steps)
        return inner_steps(total_steps, w, total_steps - d)

    def extended(self, old_total: int, new_total: int) -> Schedule:
        """The same warmup and decay lengths in steps (resolved at ``old_total``), so a
        longer run keeps its warmup and moves the decay to its new end.

        >>> from paramsched.schedules import WarmupStableDecay
        >>> WarmupStableDecay(1.0, warmup=0.1, decay=0.2).extended(1000, 2000)
        WarmupStableDecay(peak=1.0, warmup=100, decay=200, start=0.0, end=0.0, warmup_shape='linear', decay_shape='cosine')
        """
        w, d = self._steps(old_total)
        return dataclasses.replace(self, warmup=w, decay=d)
