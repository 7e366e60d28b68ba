"""Schedules built from other schedules. Each returns a new frozen object and
never mutates its inputs (lists given by the caller are copied into tuples).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Literal

from paramsched.checks import check_choice, check_real, describe
from paramsched.schedules._base import Schedule
from paramsched.schedules._math import cos_weight, inner_steps, lerp
from paramsched.schedules._validate import (
    as_tuple,
    check_duration,
    check_ordered,
    check_period,
    check_schedule,
    resolve_duration,
)

__all__ = [
    "Clip",
    "Cyclic",
    "Product",
    "Scale",
    "Sequence",
    "Shift",
    "Sum",
    "WarmRestarts",
    "Warmup",
]

# ``phase_boundaries()`` of a repeating schedule lists at most this many steps; the
# values repeat every cycle, so the first cycles already show every phase.
_MAX_BOUNDARIES = 10_000


@dataclasses.dataclass(frozen=True)
class Sequence(Schedule):
    """One schedule after another, joined at ``boundaries``.

    ``boundaries`` holds ``len(schedules) - 1`` strictly increasing steps (int)
    or fractions of the run (float). Segment ``i`` runs from boundary ``b[i]``
    (``b[0] = 0``) to ``b[i+1]`` (the last ends at ``total_steps``), and its
    schedule sees a run of its own: ``schedules[i](step - b[i], b[i+1] - b[i])``.
    So each child starts at its own progress 0; at a join the next child starts
    where the previous one would have been at its progress 1 if their shapes
    match (``Linear(a, b)`` then ``Linear(b, c)`` is continuous).

    >>> from paramsched.schedules import Constant, Linear, Sequence
    >>> s = Sequence([Linear(0.0, 1.0), Constant(1.0), Linear(1.0, 0.0)], boundaries=[10, 0.5])
    >>> [s(k, 100) for k in (0, 5, 10, 49, 50, 75, 100)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int | float, ...]

    def __post_init__(self) -> None:
        schedules = as_tuple("schedules", self.schedules, "Schedule objects")
        if not schedules:
            raise ValueError("schedules must hold at least one Schedule, got schedules=()")
        for i, s in enumerate(schedules):
            check_schedule(f"schedules[{i}]", s)
        bounds = as_tuple("boundaries", self.boundaries, "steps (int) or fractions (float)")
        if len(bounds) != len(schedules) - 1:
            raise ValueError(
                f"boundaries must hold len(schedules) - 1 = {len(schedules) - 1} entries, "
                f"got boundaries={describe(bounds)}"
            )
        for i, b in enumerate(bounds):
            check_period(f"boundaries[{i}]", b)
        check_ordered("boundaries", bounds, strict=True)
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "boundaries", bounds)

    def _starts(self, total_steps: int) -> list[int]:
        return [0] + [resolve_duration(b, total_steps) for b in self.boundaries] + [total_steps]

    def __call__(self, step: int, total_steps: int) -> float:
        starts = self._starts(total_steps)
        i = len(self.schedules) - 1
        while i > 0 and step < starts[i]:
            i -= 1
        begin = starts[i]
        return self.schedules[i](step - begin, starts[i + 1] - begin)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        starts = self._starts(total_steps)
        for before, after in itertools.pairwise(starts):
            if after <= before:
                raise ValueError(
                    "boundaries must resolve to strictly increasing steps between 1 and "
                    f"total_steps - 1, got boundaries={describe(self.boundaries)}, which is "
                    f"{describe(tuple(starts[1:-1]))} steps with total_steps={total_steps}"
                )
        for i, s in enumerate(self.schedules):
            s.validate(starts[i + 1] - starts[i])

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        starts = self._starts(total_steps)
        steps = list(starts[1:-1])
        for i, s in enumerate(self.schedules):
            steps.extend(starts[i] + b for b in s.phase_boundaries(starts[i + 1] - starts[i]))
        return inner_steps(total_steps, *steps)


def _cycle_boundaries(
    child: Schedule, cycles: list[tuple[int, int]], total_steps: int
) -> tuple[int, ...]:
    steps: list[int] = []
    for begin, length in cycles:
        if len(steps) >= _MAX_BOUNDARIES:
            break
        steps.append(begin)
        steps.extend(begin + b for b in child.phase_boundaries(length))
    return inner_steps(total_steps, *steps[:_MAX_BOUNDARIES])


@dataclasses.dataclass(frozen=True)
class Cyclic(Schedule):
    """``schedule`` repeated every ``period`` steps (int) or fraction of the run (float).

    The child sees each cycle as a run of ``period`` steps:
    ``schedule(step % period, period)``. Steps past the end keep cycling.

    >>> from paramsched.schedules import Cyclic, Linear
    >>> s = Cyclic(Linear(1.0, 0.0), period=4)
    >>> [s(k, 10) for k in range(6)]
    [1.0, 0.75, 0.5, 0.25, 1.0, 0.75]
    """

    schedule: Schedule
    period: int | float

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        check_period("period", self.period)

    def __call__(self, step: int, total_steps: int) -> float:
        period = resolve_duration(self.period, total_steps)
        return self.schedule(step % period, period)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        period = resolve_duration(self.period, total_steps)
        if period < 1:
            raise ValueError(
                f"period must resolve to at least 1 step, got period={describe(self.period)} "
                f"= {period} steps with total_steps={total_steps}"
            )
        self.schedule.validate(period)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        period = resolve_duration(self.period, total_steps)
        count = min(-(-total_steps // period), _MAX_BOUNDARIES)
        return _cycle_boundaries(self.schedule, [(k * period, period) for k in range(count)], total_steps)


@dataclasses.dataclass(frozen=True)
class WarmRestarts(Schedule):
    """SGDR warm restarts: ``schedule`` restarted with cycles of growing length.

    Cycle ``i`` starts at ``round(period * (mult**i - 1) / (mult - 1))`` (``i * period``
    when ``mult == 1``), so the cycle lengths are ``period, period * mult, ...``
    (rounded to steps). The child sees each cycle as a run of its own:
    ``schedule(step - cycle_start, cycle_length)``. ``period`` is steps (int) or a
    fraction of the run (float); ``mult >= 1``. ``WarmRestarts(Cosine(lr, 0), T0, 2)``
    is ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=T0, T_mult=2)``.

    >>> from paramsched.schedules import Linear, WarmRestarts
    >>> s = WarmRestarts(Linear(1.0, 0.0), period=2, mult=2.0)
    >>> [s(k, 14) for k in range(7)]
    [1.0, 0.5, 1.0, 0.75, 0.5, 0.25, 1.0]
    """

    schedule: Schedule
    period: int | float
    mult: float = 1.0

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        check_period("period", self.period)
        mult = check_real("mult", self.mult)
        if mult < 1.0:
            raise ValueError(f"mult must be >= 1, got mult={describe(self.mult)}")
        object.__setattr__(self, "mult", mult)

    def _start(self, i: int, period: int) -> int:
        if self.mult == 1.0:
            return i * period
        return round(period * (self.mult**i - 1.0) / (self.mult - 1.0))

    def _cycle(self, step: int, period: int) -> tuple[int, int]:
        """(start, length) of the cycle holding ``step`` (>= 0)."""
        if self.mult == 1.0:
            begin = step - step % period
            return begin, period
        i = int(math.log(step * (self.mult - 1.0) / period + 1.0, self.mult))
        while i > 0 and self._start(i, period) > step:
            i -= 1
        while self._start(i + 1, period) <= step:
            i += 1
        begin = self._start(i, period)
        return begin, self._start(i + 1, period) - begin

    def _cycles(self, total_steps: int, period: int) -> list[tuple[int, int]]:
        cycles: list[tuple[int, int]] = []
        begin = 0
        while begin < total_steps and len(cycles) < _MAX_BOUNDARIES:
            begin, length = self._cycle(begin, period)
            cycles.append((begin, length))
            begin += length
        return cycles

    def __call__(self, step: int, total_steps: int) -> float:
        period = resolve_duration(self.period, total_steps)
        begin, length = self._cycle(max(step, 0), period)
        return self.schedule(step - begin, length)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        period = resolve_duration(self.period, total_steps)
        if period < 1:
            raise ValueError(
                f"period must resolve to at least 1 step, got period={describe(self.period)} "
                f"= {period} steps with total_steps={total_steps}"
            )
        for length in sorted({length for _, length in self._cycles(total_steps, period)}):
            self.schedule.validate(length)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        period = resolve_duration(self.period, total_steps)
        return _cycle_boundaries(self.schedule, self._cycles(total_steps, period), total_steps)


class _Wrapper(Schedule):
    """One schedule transformed pointwise (``Scale``, ``Shift``, ``Clip``): its run-length
    checks, phase boundaries and extension are the wrapped schedule's."""

    _register = False
    schedule: Schedule

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        self.schedule.validate(total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return self.schedule.phase_boundaries(total_steps)

    def extended(self, old_total: int, new_total: int) -> Schedule | None:
        child = self.schedule.extended(old_total, new_total)
        return None if child is None else dataclasses.replace(self, schedule=child)


@dataclasses.dataclass(frozen=True)
class Scale(_Wrapper):
    """``factor * schedule(step, total_steps)``; what ``schedule * factor`` builds.

    >>> from paramsched.schedules import Linear, Scale
    >>> Scale(Linear(1.0, 0.0), 0.5)(5, 10) == (Linear(1.0, 0.0) * 0.5)(5, 10) == 0.25
    True
    """

    schedule: Schedule
    factor: float

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        object.__setattr__(self, "factor", check_real("factor", self.factor))

    def __call__(self, step: int, total_steps: int) -> float:
        return self.factor * self.schedule(step, total_steps)


@dataclasses.dataclass(frozen=True)
class Shift(_Wrapper):
    """``schedule(step, total_steps) + offset``; what ``schedule + offset`` builds.

    >>> from paramsched.schedules import Linear, Shift
    >>> Shift(Linear(1.0, 0.0), 0.5)(5, 10)
    1.0
    """

    schedule: Schedule
    offset: float

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        object.__setattr__(self, "offset", check_real("offset", self.offset))

    def __call__(self, step: int, total_steps: int) -> float:
        return self.schedule(step, total_steps) + self.offset


class _Pair(Schedule):
    """Two schedules combined pointwise (``Product``, ``Sum``)."""

    _register = False
    a: Schedule
    b: Schedule

    def __post_init__(self) -> None:
        check_schedule("a", self.a)
        check_schedule("b", self.b)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        self.a.validate(total_steps)
        self.b.validate(total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, *self.a.phase_boundaries(total_steps), *self.b.phase_boundaries(total_steps))

    def extended(self, old_total: int, new_total: int) -> Schedule | None:
        a = self.a.extended(old_total, new_total)
        b = self.b.extended(old_total, new_total)
        if a is None or b is None:
            return None
        return dataclasses.replace(self, a=a, b=b)  # type: ignore[type-var]


@dataclasses.dataclass(frozen=True)
class Product(_Pair):
    """``a(step, total_steps) * b(step, total_steps)``; what ``a * b`` builds.

    >>> from paramsched.schedules import Constant, Linear, Product
    >>> Product(Linear(1.0, 0.0), Constant(0.5))(5, 10)
    0.25
    """

    a: Schedule
    b: Schedule

    def __call__(self, step: int, total_steps: int) -> float:
        return self.a(step, total_steps) * self.b(step, total_steps)


@dataclasses.dataclass(frozen=True)
class Sum(_Pair):
    """``a(step, total_steps) + b(step, total_steps)``; what ``a + b`` builds.

    >>> from paramsched.schedules import Constant, Linear, Sum
    >>> Sum(Linear(1.0, 0.0), Constant(0.5))(5, 10)
    1.0
    """

    a: Schedule
    b: Schedule

    def __call__(self, step: int, total_steps: int) -> float:
        return self.a(step, total_steps) + self.b(step, total_steps)


@dataclasses.dataclass(frozen=True)
class Clip(_Wrapper):
    """``schedule`` kept within ``[lo, hi]``: ``min(max(value, lo), hi)``; ``None`` = no bound.

    >>> from paramsched.schedules import Clip, Linear
    >>> s = Clip(Linear(1.0, 0.0), lo=0.2, hi=0.9)
    >>> s(0, 10), s(5, 10), s(10, 10)
    (0.9, 0.5, 0.2)
    """

    schedule: Schedule
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        if self.lo is None and self.hi is None:
            raise ValueError("Clip needs at least one bound, got lo=None, hi=None")
        if self.lo is not None:
            object.__setattr__(self, "lo", check_real("lo", self.lo))
        if self.hi is not None:
            object.__setattr__(self, "hi", check_real("hi", self.hi))
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"lo must be <= hi, got lo={self.lo!r}, hi={self.hi!r}")

    def __call__(self, step: int, total_steps: int) -> float:
        value = self.schedule(step, total_steps)
        if self.lo is not None and value < self.lo:
            return self.lo
        if self.hi is not None and value > self.hi:
            return self.hi
        return value


@dataclasses.dataclass(frozen=True)
class Warmup(Schedule):
    """``schedule`` with a warmup from ``start`` over its first ``steps`` steps.

    With ``W`` warmup steps (int, or a fraction of the run as a float) and
    ``t = step / W``: ``start + (schedule(step) - start) * w(t)`` for ``step < W``
    and ``schedule(step)`` after, where ``w(t) = t`` (``"linear"``) or
    ``(1 - cos(pi * t)) / 2`` (``"cosine"``). The wrapped schedule sees the whole
    run (global step and ``total_steps``), so the ramp ends on its value at ``W``.

    >>> from paramsched.schedules import Cosine, Warmup
    >>> s = Warmup(Cosine(1.0, 0.0), steps=10)
    >>> s(0, 100), s(5, 100) == 0.5 * Cosine(1.0, 0.0)(5, 100), s(10, 100) == Cosine(1.0, 0.0)(10, 100)
    (0.0, True, True)
    """

    schedule: Schedule
    steps: int | float
    start: float = 0.0
    shape: Literal["linear", "cosine"] = "linear"

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        check_duration("steps", self.steps)
        object.__setattr__(self, "start", check_real("start", self.start))
        check_choice("shape", self.shape, ("linear", "cosine"))

    def __call__(self, step: int, total_steps: int) -> float:
        value = self.schedule(step, total_steps)
        w = resolve_duration(self.steps, total_steps)
        if step >= w:
            return value
        t = step / w if step > 0 else 0.0
        if self.shape == "linear":
            return lerp(self.start, value, t)
        return lerp(value, self.start, cos_weight(t))

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        w = resolve_duration(self.steps, total_steps)
        if w > total_steps:
            raise ValueError(
                f"steps must fit in the run, got steps={describe(self.steps)} = {w} steps "
                f"> total_steps={total_steps}"
            )
        self.schedule.validate(total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        w = resolve_duration(self.steps, total_steps)
        return inner_steps(total_steps, w, *self.schedule.phase_boundaries(total_steps))

    def extended(self, old_total: int, new_total: int) -> Schedule | None:
        child = self.schedule.extended(old_total, new_total)
        if child is None:
            return None
        return dataclasses.replace(
            self, schedule=child, steps=resolve_duration(self.steps, old_total)
        )
