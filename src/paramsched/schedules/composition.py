"""Schedules built from other schedules. Each returns a new frozen object and
never mutates its inputs (lists given by the caller are copied into tuples).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
from typing import Literal

from paramsched.checks import check_positive_int, check_real, describe
from paramsched.schedules._base import Schedule
from paramsched.schedules._math import cos_weight, inner_steps, lerp
from paramsched.schedules._validate import (
    as_tuple,
    check_duration,
    check_flag,
    check_ordered,
    check_period,
    check_positive,
    check_schedule,
    check_shape,
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
    "TimeShift",
    "WarmRestarts",
    "Warmup",
    "WarmupThen",
]

# ``phase_boundaries()`` of a repeating schedule lists at most this many steps; the
# values repeat every cycle, so the first cycles already show every phase.
_MAX_BOUNDARIES = 10_000


@dataclasses.dataclass(frozen=True)
class Sequence(Schedule):
    """One schedule after another, joined at ``boundaries``.

    ``boundaries`` holds ``len(schedules) - 1`` sorted steps (int) or fractions
    of the run (float). Segment ``i`` runs from boundary ``b[i]`` (``b[0] = 0``)
    to ``b[i+1]`` (the last ends at ``total_steps``), and its schedule sees a run
    of its own: ``schedules[i](step - b[i], b[i+1] - b[i])``. So each child
    starts at its own progress 0; at a join the next child starts where the
    previous one would have been at its progress 1 if their shapes match
    (``Linear(a, b)`` then ``Linear(b, c)`` is continuous).

    A segment of zero length (two equal boundaries, a boundary at 0) is skipped.
    A boundary at or past the end of the run (a schedule reused on a shorter run)
    cuts the run short: the segment it ends keeps its planned length, and the
    segments after it are never reached, not even by steps past the end.

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
        bounds = tuple(check_duration(f"boundaries[{i}]", b) for i, b in enumerate(bounds))
        check_ordered("boundaries", bounds, strict=False)
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "boundaries", bounds)

    def _starts(self, total_steps: int) -> list[int]:
        return [0] + [resolve_duration(b, total_steps) for b in self.boundaries]

    def _segment(self, step: int, starts: list[int], total_steps: int) -> tuple[int, int, int]:
        """(index, start, length) of the segment holding ``step``: the last one that
        starts at or before it and inside the run."""
        i = len(starts) - 1
        while i > 0 and (step < starts[i] or starts[i] >= total_steps):
            i -= 1
        end = starts[i + 1] if i + 1 < len(starts) else total_steps
        return i, starts[i], end - starts[i]

    def _resolve(self, total_steps: int) -> tuple[list[int]]:
        return (self._starts(total_steps),)

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        i, begin, length = self._segment(step, m[1], total_steps)
        return self.schedules[i](step - begin, length)

    def _entered(self, total_steps: int) -> list[tuple[int, int, int]]:
        """(index, start, length) of every segment the run enters."""
        starts = self._starts(total_steps)
        segments = []
        for i, begin in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else total_steps
            if begin < total_steps and end > begin:
                segments.append((i, begin, end - begin))
        return segments

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        starts = self._starts(total_steps)
        for before, after in itertools.pairwise(starts):
            if after < before:
                raise ValueError(
                    "boundaries must resolve to sorted (non-decreasing) steps, got "
                    f"boundaries={describe(self.boundaries)}, which is "
                    f"{describe(tuple(starts[1:]))} steps with total_steps={total_steps}"
                )
        for i, _, length in self._entered(total_steps):
            self.schedules[i].validate(length)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        steps: list[int] = []
        for i, begin, length in self._entered(total_steps):
            steps.append(begin)
            steps.extend(begin + b for b in self.schedules[i].phase_boundaries(length))
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


@dataclasses.dataclass(frozen=True, repr=False)
class Cyclic(Schedule):
    """``schedule`` repeated every ``period`` steps (int) or fraction of the run (float),
    or ``cycles`` times over the run (keyword; give one of the two).

    With ``period`` the child sees each cycle as a run of ``period`` whole
    steps: ``schedule(step % period, period)``. With ``cycles=n`` each cycle is
    ``total_steps / n`` steps long, a real length (cycle boundaries may fall
    between steps, as in Hugging Face's cosine with hard restarts): the child
    sees the real position in its cycle and the real length,
    ``schedule(f * L, L)`` with ``L = total_steps / n`` and ``f`` the fractional
    part of ``n * step / total_steps``. Steps past the end keep cycling.

    >>> from paramsched.schedules import Cosine, Cyclic, Linear
    >>> s = Cyclic(Linear(1.0, 0.0), period=4)
    >>> [s(k, 10) for k in range(6)]
    [1.0, 0.75, 0.5, 0.25, 1.0, 0.75]
    >>> [round(Cyclic(Linear(1.0, 0.0), cycles=2.5)(k, 10), 2) for k in range(6)]
    [1.0, 0.75, 0.5, 0.25, 1.0, 0.75]
    """

    schedule: Schedule
    period: int | float | None = None
    cycles: float | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("cycles",)

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        if (self.period is None) == (self.cycles is None):
            raise ValueError(
                "Cyclic needs exactly one of period (steps or a fraction per cycle) or cycles "
                f"(how many cycles over the run), got period={describe(self.period)}, "
                f"cycles={describe(self.cycles)}"
            )
        if self.period is not None:
            object.__setattr__(self, "period", check_period("period", self.period))
        else:
            object.__setattr__(self, "cycles", check_positive("cycles", self.cycles))

    def _resolve(self, total_steps: int) -> tuple[int | None]:
        return (None if self.cycles is not None else resolve_duration(self.period, total_steps),)

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        period = m[1]
        if period is not None:
            return self.schedule(step % period, period)
        x = self.cycles * (step / total_steps)
        length = total_steps / self.cycles
        return self.schedule((x - math.floor(x)) * length, length)

    def _whole_period(self, total_steps: int) -> int:
        if self.cycles is None:
            return resolve_duration(self.period, total_steps)
        return math.floor(total_steps / self.cycles)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        period = self._whole_period(total_steps)
        if period < 1 and self.cycles is None:
            raise ValueError(
                f"period must resolve to at least 1 step, got period={describe(self.period)} "
                f"= {period} steps with total_steps={total_steps}"
            )
        if period < 1:
            raise ValueError(
                f"cycles must leave at least 1 step per cycle, got cycles={describe(self.cycles)}: "
                f"{total_steps / self.cycles:.4g} steps per cycle with total_steps={total_steps}"
            )
        self.schedule.validate(period)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        if self.cycles is None:
            period = resolve_duration(self.period, total_steps)
            count = min(-(-total_steps // period), _MAX_BOUNDARIES)
            cycles = [(k * period, period) for k in range(count)]
        else:
            # Real cycle starts, listed at the first step of each cycle; the child's own
            # boundaries at its whole-step length.
            length = total_steps / self.cycles
            count = min(math.ceil(self.cycles), _MAX_BOUNDARIES)
            whole = max(1, round(length))
            cycles = [(math.ceil(k * length), whole) for k in range(count)]
        return _cycle_boundaries(self.schedule, cycles, total_steps)

    __repr__ = Schedule._repr


@dataclasses.dataclass(frozen=True, repr=False)
class WarmRestarts(Schedule):
    """SGDR warm restarts: ``schedule`` restarted with cycles of growing length.

    Cycle ``i`` starts at ``round(period * (mult**i - 1) / (mult - 1))`` (``i * period``
    when ``mult == 1``), so the cycle lengths are ``period, period * mult, ...``
    (rounded to steps). The child sees each cycle as a run of its own:
    ``schedule(step - cycle_start, cycle_length)``. ``period`` is steps (int) or a
    fraction of the run (float); ``mult >= 1``. ``WarmRestarts(Cosine(lr, 0), T0, 2)``
    is ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=T0, T_mult=2)``.

    Keywords, as timm's ``cycle_decay`` and ``cycle_limit``: ``decay`` multiplies
    cycle ``i``'s values by ``decay ** i``; after ``limit`` cycles the value holds
    where the last cycle ends (``decay ** (limit - 1) * schedule(L, L)``).

    >>> from paramsched.schedules import Linear, WarmRestarts
    >>> s = WarmRestarts(Linear(1.0, 0.0), period=2, mult=2.0)
    >>> [s(k, 14) for k in range(7)]
    [1.0, 0.5, 1.0, 0.75, 0.5, 0.25, 1.0]
    >>> s = WarmRestarts(Linear(1.0, 0.0), period=2, decay=0.5, limit=2)
    >>> [s(k, 8) for k in range(6)]
    [1.0, 0.5, 0.5, 0.25, 0.0, 0.0]
    """

    schedule: Schedule
    period: int | float
    mult: float = 1.0
    decay: float = dataclasses.field(default=1.0, kw_only=True)
    limit: int | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("decay", "limit")

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        object.__setattr__(self, "period", check_period("period", self.period))
        mult = check_real("mult", self.mult)
        if mult < 1.0:
            raise ValueError(f"mult must be >= 1, got mult={describe(self.mult)}")
        object.__setattr__(self, "mult", mult)
        object.__setattr__(self, "decay", check_positive("decay", self.decay))
        if self.limit is not None:
            limit = self.limit
            if isinstance(limit, numbers.Integral) and not isinstance(limit, bool):
                limit = int(limit)  # a numpy integer too
            object.__setattr__(self, "limit", check_positive_int("limit", limit))

    def _start(self, i: int, period: int) -> int:
        if self.mult == 1.0:
            return i * period
        return round(period * (self.mult**i - 1.0) / (self.mult - 1.0))

    def _cycle(self, step: int, period: int) -> tuple[int, int, int]:
        """(index, start, length) of the cycle holding ``step`` (>= 0)."""
        if self.mult == 1.0:
            return step // period, step - step % period, period
        i = int(math.log(step * (self.mult - 1.0) / period + 1.0, self.mult))
        while i > 0 and self._start(i, period) > step:
            i -= 1
        while self._start(i + 1, period) <= step:
            i += 1
        begin = self._start(i, period)
        return i, begin, self._start(i + 1, period) - begin

    def _cycles(self, total_steps: int, period: int) -> list[tuple[int, int]]:
        """(start, length) of the cycles the run enters, up to ``limit``."""
        cycles: list[tuple[int, int]] = []
        most = _MAX_BOUNDARIES if self.limit is None else min(self.limit, _MAX_BOUNDARIES)
        begin = 0
        while begin < total_steps and len(cycles) < most:
            _, begin, length = self._cycle(begin, period)
            cycles.append((begin, length))
            begin += length
        return cycles

    def _resolve(self, total_steps: int) -> tuple[int]:
        return (resolve_duration(self.period, total_steps),)

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        period = m[1]
        i, begin, length = self._cycle(max(step, 0), period)
        if self.limit is not None and i >= self.limit:
            i, begin, length = self._cycle(self._start(self.limit - 1, period), period)
            step = begin + length
        value = self.schedule(step - begin, length)
        return value if self.decay == 1.0 else self.decay**i * value

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
        cycles = self._cycles(total_steps, period)
        held = [] if self.limit is None or len(cycles) < self.limit else [sum(cycles[-1])]
        return inner_steps(total_steps, *_cycle_boundaries(self.schedule, cycles, total_steps), *held)

    __repr__ = Schedule._repr


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


_WARMUP_SHAPES = ("linear", "cosine", "1-sqrt")


def _ramp(start: float, end: float, t: float, shape: str) -> float:
    """From ``start`` (t = 0) to ``end`` (t = 1) along a warmup shape."""
    if shape == "linear":
        return lerp(start, end, t)
    if shape == "cosine":
        return lerp(end, start, cos_weight(t))
    return lerp(start, end, 1.0 - math.sqrt(1.0 - t))


@dataclasses.dataclass(frozen=True)
class Warmup(Schedule):
    """``schedule`` with a warmup from ``start`` blended into it over its first ``steps`` steps.

    With ``W`` warmup steps (int, or a fraction of the run as a float) and
    ``t = step / W``: ``start + (schedule(step) - start) * w(t)`` for ``step < W``
    and ``schedule(step)`` after, where ``w(t) = t`` (``"linear"``),
    ``(1 - cos(pi * t)) / 2`` (``"cosine"``) or ``1 - sqrt(1 - t)`` (``"1-sqrt"``).
    The wrapped schedule sees the whole run (global step and ``total_steps``)
    and is already running under the warmup, so the ramp ends on its value at
    ``W``: a cosine wrapped in ``Warmup`` has already decayed a little by then.
    To start the schedule *after* the warmup, as Hugging Face, timm and torch's
    ``SequentialLR`` do, use :class:`WarmupThen`.

    >>> from paramsched.schedules import Cosine, Warmup
    >>> s = Warmup(Cosine(1.0, 0.0), steps=10)
    >>> s(0, 100), s(5, 100) == 0.5 * Cosine(1.0, 0.0)(5, 100), s(10, 100) == Cosine(1.0, 0.0)(10, 100)
    (0.0, True, True)
    """

    schedule: Schedule
    steps: int | float
    start: float = 0.0
    shape: Literal["linear", "cosine", "1-sqrt"] = "linear"

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        object.__setattr__(self, "steps", check_duration("steps", self.steps, length=True))
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "shape", check_shape("shape", self.shape, _WARMUP_SHAPES))

    def _resolve(self, total_steps: int) -> tuple[int]:
        return (resolve_duration(self.steps, total_steps),)

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        w = m[1]
        value = self.schedule(step, total_steps)
        if step >= w:
            return value
        return _ramp(self.start, value, step / w if step > 0 else 0.0, self.shape)

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


@dataclasses.dataclass(frozen=True, repr=False)
class WarmupThen(Schedule):
    """A warmup of ``steps`` steps, *then* ``schedule``: the warmup of Hugging Face, timm
    and torch's ``SequentialLR``.

    With ``W`` warmup steps (int, or a fraction of the run) and ``t = step / W``,
    steps before ``W`` ramp from ``start`` to ``peak`` along ``shape``
    (``"linear"``, ``"cosine"`` or ``"1-sqrt"``, as in :class:`Warmup`). After it:

    * ``prefix=True`` (default): the schedule starts at step ``W`` and runs over
      the ``T - W`` steps left: ``schedule(step - W, T - W)``. ``peak`` defaults to
      its first value, ``schedule(0, T - W)``. This is ``SequentialLR([LinearLR,
      ...], milestones=[W])``, every Hugging Face ``*_with_warmup`` schedule and
      timm's ``warmup_prefix=True``.
    * ``prefix=False``: the schedule keeps the run's clock, ``schedule(step, T)``,
      and the warmup covers its first ``W`` steps (timm's ``warmup_prefix=False``).
      ``peak`` defaults to ``schedule(W, T)``, so the ramp joins it; timm's
      ``CosineLRScheduler`` ramps to its base value instead (``peak=base``) and
      drops to the cosine at ``W``.

    :class:`Warmup` is the other behaviour: the schedule runs from step 0 and the
    warmup blends into its moving value.

    >>> from paramsched.schedules import Cosine, WarmupThen
    >>> s = WarmupThen(Cosine(1.0, 0.0), steps=10)
    >>> s(5, 110), s(10, 110), s(60, 110) == Cosine(1.0, 0.0)(50, 100)
    (0.5, 1.0, True)
    """

    schedule: Schedule
    steps: int | float
    start: float = 0.0
    shape: Literal["linear", "cosine", "1-sqrt"] = "linear"
    prefix: bool = dataclasses.field(default=True, kw_only=True)
    peak: float | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("prefix", "peak")  # shown only when given: WarmupThen(Cosine(...), 100)

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        object.__setattr__(self, "steps", check_duration("steps", self.steps, length=True))
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "shape", check_shape("shape", self.shape, _WARMUP_SHAPES))
        check_flag("prefix", self.prefix)
        if self.peak is not None:
            object.__setattr__(self, "peak", check_real("peak", self.peak))

    def _resolve(self, total_steps: int) -> tuple[int, float | None]:
        w = resolve_duration(self.steps, total_steps)
        peak = self.peak
        if peak is None and 0 < w < total_steps:  # the ramp's top: the schedule's value where it joins
            peak = self.schedule(0, total_steps - w) if self.prefix else self.schedule(w, total_steps)
        return w, peak

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        _, w, peak = m
        if step >= w:
            if self.prefix:
                return self.schedule(step - w, total_steps - w)
            return self.schedule(step, total_steps)
        if peak is None:  # a warmup of the whole run (validate() refuses it with prefix=True)
            peak = self.schedule(0, total_steps - w) if self.prefix else self.schedule(w, total_steps)
        return _ramp(self.start, peak, step / w if step > 0 else 0.0, self.shape)

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        w = resolve_duration(self.steps, total_steps)
        if self.prefix and w >= total_steps:
            raise ValueError(
                f"steps must leave the schedule at least 1 step, got steps={describe(self.steps)} "
                f"= {w} steps with total_steps={total_steps}"
            )
        if w > total_steps:
            raise ValueError(
                f"steps must fit in the run, got steps={describe(self.steps)} = {w} steps "
                f"> total_steps={total_steps}"
            )
        self.schedule.validate(total_steps - w if self.prefix else total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        w = resolve_duration(self.steps, total_steps)
        if not self.prefix:
            return inner_steps(total_steps, w, *self.schedule.phase_boundaries(total_steps))
        inner = self.schedule.phase_boundaries(total_steps - w) if w < total_steps else ()
        return inner_steps(total_steps, w, *(w + b for b in inner))

    def extended(self, old_total: int, new_total: int) -> Schedule | None:
        w = resolve_duration(self.steps, old_total)
        if self.prefix:
            child = self.schedule.extended(old_total - w, new_total - w)
        else:
            child = self.schedule.extended(old_total, new_total)
        return None if child is None else dataclasses.replace(self, schedule=child, steps=w)

    __repr__ = Schedule._repr


@dataclasses.dataclass(frozen=True)
class TimeShift(_Wrapper):
    """``schedule`` moved in time: ``schedule(step + steps, total_steps)``.

    ``steps > 0`` starts the schedule ``steps`` steps into its course (Hugging
    Face's inverse-sqrt ``timescale`` shift, or a warmup counted from 1);
    ``steps < 0`` delays it (the steps before it starts see its value at step 0,
    as every preset clamps a negative step).

    >>> from paramsched.schedules import Linear, TimeShift
    >>> s = TimeShift(Linear(0.0, 1.0), steps=1)
    >>> [s(k, 4) for k in range(4)]
    [0.25, 0.5, 0.75, 1.0]
    """

    schedule: Schedule
    steps: int

    def __post_init__(self) -> None:
        check_schedule("schedule", self.schedule)
        if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral):
            raise TypeError(f"steps must be an int (a step count, may be < 0), got steps={describe(self.steps)}")
        object.__setattr__(self, "steps", int(self.steps))

    def __call__(self, step: int, total_steps: int) -> float:
        return self.schedule(step + self.steps, total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, *(b - self.steps for b in self.schedule.phase_boundaries(total_steps)))
