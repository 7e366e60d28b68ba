"""Preset schedules: the usual shapes, each a frozen dataclass.

Conventions shared by every preset (``OneCycle`` excepted, see its docstring):

* progress ``p = step / total_steps``: update 0 sees ``p = 0`` and the last
  update (``total_steps - 1``) sees ``p = (total_steps - 1) / total_steps``, just
  before the end; a step outside ``[0, total_steps]`` is clamped into it, so a
  call past the end gives the value at ``p = 1`` (finite).
* a duration (warmup, decay, milestone, point position) is a step count when it
  is an integer (``int`` or numpy integer) and a fraction of the run when it is a
  float (``round(fraction * total_steps)`` steps, half to even; see
  :mod:`paramsched.schedules._validate` for the whole rule). A piece of zero
  length (``warmup=0``) is allowed and skipped.
* a shape is named as we name it (``"cosine"``) or as the peers do (``"cos"``).
* interpolation is exact at both ends, monotone and never leaves the interval
  between its two end values (see ``_math.lerp``).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import numbers
from typing import Any, Literal

from paramsched.checks import check_choice, check_real, describe
from paramsched.schedules._base import Schedule
from paramsched.schedules._math import cos_weight, inner_steps, lerp, progress
from paramsched.schedules._validate import (
    as_tuple,
    check_duration,
    check_flag,
    check_fraction,
    check_ordered,
    check_period,
    check_positive,
    check_resolved_order,
    check_shape,
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
    "Tanh",
    "Triangular",
    "WarmupStableDecay",
]

# phase_boundaries() of a periodic preset lists at most this many steps.
_MAX_BOUNDARIES = 10_000

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
        # progress(step, total_steps), inlined: this runs on every update.
        p = step / total_steps if 0 < step < total_steps else (0.0 if step <= 0 else 1.0)
        return lerp(self.start, self.end, p)


@dataclasses.dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    """Cosine over the run: ``end + (start - end) * (1 + cos(2 * pi * cycles * p)) / 2``.

    ``cycles`` (keyword) counts full cosine waves over the run, as Hugging Face's
    ``num_cycles`` does: the default 0.5 is one half-wave from ``start`` down to
    ``end``; 1.5 goes down, back up and down again. A wave need not span whole
    steps: the value at step ``k`` is the curve at ``k``.

    >>> from paramsched.schedules import Cosine
    >>> s = Cosine(1.0, 0.0)
    >>> s(0, 10), s(5, 10), s(10, 10)
    (1.0, 0.5, 0.0)
    >>> [round(Cosine(1.0, 0.0, cycles=1.5)(k, 6), 3) for k in range(7)]
    [1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0]
    """

    start: float
    end: float
    cycles: float = dataclasses.field(default=0.5, kw_only=True)
    _added_fields = ("cycles",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))
        object.__setattr__(self, "cycles", check_positive("cycles", self.cycles))

    def __call__(self, step: int, total_steps: int) -> float:
        # progress(step, total_steps), inlined: this runs on every update.
        p = step / total_steps if 0 < step < total_steps else (0.0 if step <= 0 else 1.0)
        if self.cycles == 0.5:
            return lerp(self.end, self.start, cos_weight(p))
        # Hugging Face's operation order, so get_cosine_schedule_with_warmup agrees to the bit.
        return lerp(self.end, self.start, 0.5 * (1.0 + math.cos(math.pi * self.cycles * 2.0 * p)))

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        if self.cycles == 0.5:
            return ()
        # The turns of the wave: every half cycle.
        halves = min(int(2 * self.cycles), _MAX_BOUNDARIES)
        return inner_steps(total_steps, *(math.ceil(j * total_steps / (2 * self.cycles)) for j in range(1, halves + 1)))

    __repr__ = Schedule._repr


@dataclasses.dataclass(frozen=True, init=False)
class Exponential(Schedule):
    """Exponential decay (or growth), given by its end value or by a per-step factor.

    Give exactly one of ``end`` or ``gamma``, by keyword (``Exponential(1e-3, 0.995)``
    could mean either, so it is an error):

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

    def __init__(
        self, start: float, *args: Any, end: float | None = None, gamma: float | None = None
    ) -> None:
        if args:
            shown = ", ".join(repr(a) for a in (start, *args))
            raise TypeError(
                f"Exponential takes end= or gamma= by keyword: Exponential({shown}) could mean "
                f"an end value or a factor per step; write Exponential({start!r}, gamma={args[0]!r}) "
                f"(torch's ExponentialLR) or Exponential({start!r}, end={args[0]!r})"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "gamma", gamma)
        self.__post_init__()

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


@dataclasses.dataclass(frozen=True, repr=False)
class Step(Schedule):
    """Piecewise constant: ``value * gamma ** k``, ``k`` = number of milestones reached.

    A milestone ``m`` (a step, or a fraction of the run) is reached at update
    ``step >= m``, like ``torch.optim.lr_scheduler.MultiStepLR``; ``milestones``
    is any iterable (a list, a ``range``, a numpy array), sorted. Or give
    ``step_size`` (keyword) for a milestone every ``step_size`` steps, like
    ``StepLR``. A milestone at or past the end of the run (a schedule reused on
    a shorter run) has no effect: it is never reached, not even past the end.

    >>> from paramsched.schedules import Step
    >>> s = Step(1.0, milestones=(0.5, 8), gamma=0.5)
    >>> [s(k, 10) for k in (0, 4, 5, 7, 8, 9)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    >>> [Step(1.0, step_size=3, gamma=0.5)(k, 10) for k in (0, 2, 3, 6, 9)]
    [1.0, 1.0, 0.5, 0.25, 0.125]
    """

    value: float
    milestones: tuple[int | float, ...] = ()
    gamma: float = 0.1
    step_size: int | float | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("step_size",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", check_real("value", self.value))
        if isinstance(self.milestones, numbers.Real) and not isinstance(self.milestones, bool):
            raise TypeError(
                "milestones must be a list or tuple of steps (int) or fractions (float), "
                f"got milestones={describe(self.milestones)}; for a decay every "
                f"{describe(self.milestones)} steps (torch's StepLR) pass step_size={describe(self.milestones)}"
            )
        milestones = as_tuple("milestones", self.milestones, "steps (int) or fractions (float)")
        milestones = tuple(check_duration(f"milestones[{i}]", m) for i, m in enumerate(milestones))
        check_ordered("milestones", milestones, strict=False)
        object.__setattr__(self, "milestones", milestones)
        object.__setattr__(self, "gamma", check_positive("gamma", self.gamma))
        if self.step_size is not None:
            if milestones:
                raise ValueError(
                    "Step takes milestones or step_size, not both, got "
                    f"milestones={describe(milestones)}, step_size={describe(self.step_size)}"
                )
            object.__setattr__(self, "step_size", check_period("step_size", self.step_size))

    def _resolve(self, total_steps: int) -> tuple[Any]:
        """The step size in steps, or the milestones inside the run as sorted steps."""
        if self.step_size is not None:
            return (resolve_duration(self.step_size, total_steps),)
        steps = (resolve_duration(m, total_steps) for m in self.milestones)
        return (sorted(at for at in steps if at < total_steps),)

    def _count(self, step: int, total_steps: int) -> int:
        """Milestones reached by ``step``; those at or past the end never are."""
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        if self.step_size is not None:
            return max(min(step, total_steps - 1), 0) // m[1]
        return bisect.bisect_right(m[1], step)

    def __call__(self, step: int, total_steps: int) -> float:
        k = self._count(step, total_steps)
        return self.value * self.gamma**k if k else self.value

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        check_resolved_order("milestones", self.milestones, total_steps, strict=False)
        if self.step_size is not None and resolve_duration(self.step_size, total_steps) < 1:
            raise ValueError(
                f"step_size must resolve to at least 1 step, got step_size={describe(self.step_size)} "
                f"= 0 steps with total_steps={total_steps}"
            )
        try:
            last = self.value * self.gamma ** self._count(total_steps - 1, total_steps)
        except OverflowError:
            last = math.inf
        if not math.isfinite(last):
            raise ValueError(
                f"gamma={self.gamma!r} overflows over total_steps={total_steps}: "
                "value * gamma ** milestones is not finite"
            )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        if self.step_size is not None:
            size = resolve_duration(self.step_size, total_steps)
            count = min((total_steps - 1) // size, _MAX_BOUNDARIES)
            return inner_steps(total_steps, *(size * j for j in range(1, count + 1)))
        return inner_steps(total_steps, *(resolve_duration(m, total_steps) for m in self.milestones))

    __repr__ = Schedule._repr


@dataclasses.dataclass(frozen=True, repr=False)
class InverseSqrt(Schedule):
    """Linear warmup from ``start`` to ``peak``, then ``peak / sqrt(step / warmup)``.

    With ``W`` the warmup in steps: ``start + (peak - start) * step / W`` for
    ``step < W``, then ``peak * sqrt(W / step)`` (the "Noam" / fairseq
    ``inverse_sqrt`` schedule), continuous at ``W``. ``timescale`` (keyword; steps
    or a fraction) sets how fast it decays, as Hugging Face's
    ``get_inverse_sqrt_schedule`` does: ``peak / sqrt((step - W + timescale) / timescale)``
    after the warmup (``timescale=W`` is the default shape). ``warmup=0`` skips the
    warmup and needs a ``timescale`` (Hugging Face uses 10000 there).

    >>> from paramsched.schedules import InverseSqrt
    >>> s = InverseSqrt(1.0, warmup=4)
    >>> [s(k, 100) for k in (0, 2, 4, 16, 64)]
    [0.0, 0.5, 1.0, 0.5, 0.25]
    >>> [InverseSqrt(1.0, warmup=0, timescale=4)(k, 100) for k in (0, 12, 60)]
    [1.0, 0.5, 0.25]
    """

    peak: float
    warmup: int | float
    start: float = 0.0
    timescale: int | float | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("timescale",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        object.__setattr__(self, "warmup", check_duration("warmup", self.warmup, length=True))
        object.__setattr__(self, "start", check_real("start", self.start))
        if self.timescale is not None:
            object.__setattr__(self, "timescale", check_period("timescale", self.timescale))
        elif self.warmup == 0:
            raise ValueError(
                "InverseSqrt with warmup=0 needs a timescale: the decay is "
                "peak / sqrt((step - warmup + timescale) / timescale), e.g. timescale=10000 "
                "(Hugging Face's default without warmup), got warmup=0, timescale=None"
            )

    def _resolve(self, total_steps: int) -> tuple[int, int | None, int]:
        w = resolve_duration(self.warmup, total_steps)
        if self.timescale is None:
            return w, None, 0
        scale = resolve_duration(self.timescale, total_steps)
        return w, scale, scale - w

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        _, w, scale, shift = m
        step = min(max(step, 0), total_steps)
        if step < w:
            return lerp(self.start, self.peak, step / w)
        if scale is None:
            return self.peak * math.sqrt(w / step)
        # Hugging Face's operation order: 1 / sqrt((step + shift) / timescale).
        return self.peak * (1.0 / math.sqrt((step + shift) / scale))

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        w = resolve_duration(self.warmup, total_steps)
        if self.timescale is None and not 1 <= w <= total_steps:
            raise ValueError(
                f"warmup must resolve to between 1 and total_steps={total_steps} steps "
                f"(or give a timescale), got warmup={describe(self.warmup)} = {w} steps"
            )
        if w > total_steps:
            raise ValueError(
                f"warmup must fit in the run, got warmup={describe(self.warmup)} = {w} steps "
                f"> total_steps={total_steps}"
            )
        if self.timescale is not None and resolve_duration(self.timescale, total_steps) < 1:
            raise ValueError(
                f"timescale must resolve to at least 1 step, got timescale={describe(self.timescale)} "
                f"= 0 steps with total_steps={total_steps}"
            )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        return inner_steps(total_steps, resolve_duration(self.warmup, total_steps))

    __repr__ = Schedule._repr


@dataclasses.dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    """The curves of ``torch.optim.lr_scheduler.OneCycleLR``: two phases, or three.

    ``initial = peak / div_factor`` and ``final = initial / final_div_factor``
    (or give ``initial`` / ``final`` by keyword). Phase 1 anneals
    ``initial -> peak`` over steps ``[0, a]`` with ``a = pct_start * total_steps - 1``;
    phase 2 anneals ``peak -> final`` over ``[a, total_steps - 1]``. With
    ``three_phase=True`` (the original paper's schedule) phase 2 goes back
    ``peak -> initial`` over ``[a, 2 * pct_start * total_steps - 2]`` and phase 3
    anneals ``initial -> final`` to the end. The phase ends are real positions,
    often between two steps, as in torch. Anneal ``"cosine"`` (torch's ``"cos"``):
    ``end + (start - end) / 2 * (cos(pi * pct) + 1)``; ``"linear"``:
    ``(end - start) * pct + start``. Unlike the other presets, the last update
    (``total_steps - 1``) reaches ``final`` (up to rounding), as in torch; the
    values equal torch's bit for bit (same formulas, same operation order), so
    they may leave ``[final, peak]`` by an ulp. Steps past the end hold the
    value of the last update.

    torch cycles momentum the other way round (``max_momentum`` at the start and
    the end, ``base_momentum`` at the peak): that is
    ``OneCycle(base_momentum, initial=max_momentum, final=max_momentum)``.

    >>> from paramsched.schedules import OneCycle
    >>> s = OneCycle(1.0, pct_start=0.5, div_factor=10.0, final_div_factor=10.0, shape="linear")
    >>> [round(s(k, 6), 6) for k in range(6)]
    [0.1, 0.55, 1.0, 0.67, 0.34, 0.01]
    >>> m = OneCycle(0.85, pct_start=0.5, initial=0.95, final=0.95, shape="linear")
    >>> [round(m(k, 6), 6) for k in range(6)]
    [0.95, 0.9, 0.85, 0.883333, 0.916667, 0.95]
    """

    peak: float
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    shape: Literal["cosine", "linear"] = "cosine"
    three_phase: bool = dataclasses.field(default=False, kw_only=True)
    initial: float | None = dataclasses.field(default=None, kw_only=True)
    final: float | None = dataclasses.field(default=None, kw_only=True)
    _added_fields = ("three_phase", "initial", "final")

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        object.__setattr__(self, "pct_start", check_fraction("pct_start", self.pct_start))
        object.__setattr__(self, "div_factor", check_positive("div_factor", self.div_factor))
        object.__setattr__(
            self, "final_div_factor", check_positive("final_div_factor", self.final_div_factor)
        )
        object.__setattr__(self, "shape", check_shape("shape", self.shape, ("cosine", "linear")))
        check_flag("three_phase", self.three_phase)
        for name in ("initial", "final"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_real(name, getattr(self, name)))

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.shape == "cosine":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _ends(self) -> tuple[float, float]:
        initial = self.peak / self.div_factor if self.initial is None else self.initial
        final = initial / self.final_div_factor if self.final is None else self.final
        return initial, final

    def _resolve(self, total_steps: int) -> tuple[float, float, float, float, float]:
        initial, final = self._ends()
        turn = float(self.pct_start * total_steps) - 1
        back = float(2 * self.pct_start * total_steps) - 2
        return initial, final, turn, back, total_steps - 1

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        _, initial, final, turn, back, last = m
        step = min(max(step, 0), last)
        if step <= turn:
            return self._anneal(initial, self.peak, step / turn) if turn > 0 else self.peak
        if not self.three_phase:
            return self._anneal(self.peak, final, (step - turn) / (last - turn))
        if step <= back:  # back - turn == turn > 0 here
            return self._anneal(self.peak, initial, (step - turn) / (back - turn))
        return self._anneal(initial, final, (step - back) / (last - back))

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        turn = math.floor(self.pct_start * total_steps - 1)
        if not self.three_phase:
            return inner_steps(total_steps, turn, turn + 1)
        back = math.floor(2 * self.pct_start * total_steps - 2)
        return inner_steps(total_steps, turn, turn + 1, back, back + 1)

    __repr__ = Schedule._repr


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

    def _resolve(self, total_steps: int) -> tuple[list[int]]:
        return ([resolve_duration(x, total_steps) for x, _ in self.points],)

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        points, xs = self.points, m[1]
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


_WARMUP_SHAPES = ("linear", "cosine", "1-sqrt")
_DECAY_SHAPES = ("linear", "cosine", "sqrt", "1-sqrt")


@dataclasses.dataclass(frozen=True)
class WarmupStableDecay(Schedule):
    """Warmup to ``peak``, hold it, then decay to ``end`` over the last ``decay`` steps.

    With ``W`` warmup steps, ``D`` decay steps and ``T = total_steps``:

    * ``step < W``: from ``start`` to ``peak`` with ``t = step / W``:
      ``"linear"`` ``start + (peak - start) * t``;
      ``"cosine"`` ``start + (peak - start) * (1 - cos(pi * t)) / 2``;
      ``"1-sqrt"`` ``start + (peak - start) * (1 - sqrt(1 - t))`` (Hugging Face's
      ``get_wsd_schedule(warmup_type="1-sqrt")``: rises slowly, then fast).
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
    warmup_shape: Literal["linear", "cosine", "1-sqrt"] = "linear"
    decay_shape: Literal["linear", "cosine", "sqrt", "1-sqrt"] = "cosine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        object.__setattr__(self, "warmup", check_duration("warmup", self.warmup, length=True))
        object.__setattr__(self, "decay", check_duration("decay", self.decay, length=True))
        if isinstance(self.warmup, float) and isinstance(self.decay, float):
            if self.warmup + self.decay > 1.0 + 1e-12:
                raise ValueError(
                    "warmup + decay must fit in the run (sum of fractions <= 1.0), "
                    f"got warmup={self.warmup!r} + decay={self.decay!r} > 1.0"
                )
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "end", check_real("end", self.end))
        object.__setattr__(
            self, "warmup_shape", check_shape("warmup_shape", self.warmup_shape, _WARMUP_SHAPES)
        )
        object.__setattr__(
            self, "decay_shape", check_shape("decay_shape", self.decay_shape, _DECAY_SHAPES)
        )

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

    def _resolve(self, total_steps: int) -> tuple[int, int, int]:
        w, d = self._steps(total_steps)
        return w, total_steps - d, d

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        _, w, decay_start, d = m
        if step < w:
            t = step / w if step > 0 else 0.0
            if self.warmup_shape == "linear":
                return lerp(self.start, self.peak, t)
            if self.warmup_shape == "cosine":
                return lerp(self.peak, self.start, cos_weight(t))
            return lerp(self.start, self.peak, 1.0 - math.sqrt(1.0 - t))
        if step < decay_start or d == 0:
            return self.peak
        # phase_progress(step, decay_start, d), inlined: decay_start <= step here.
        t = (step - decay_start) / d if step < total_steps else 1.0
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


@dataclasses.dataclass(frozen=True)
class Tanh(Schedule):
    """Hyperbolic-tangent decay from ``start`` toward ``end`` (timm's ``TanhLRScheduler``).

    ``end + (start - end) / 2 * (1 - tanh(lower * (1 - p) + upper * p))``, ``p = step / total_steps``.
    ``start`` and ``end`` are the asymptotes: with the defaults ``lower=-7``,
    ``upper=3`` the curve starts within 1e-6 of ``start`` and ends at
    ``end + 0.0025 * (start - end)``, as timm's does.

    >>> from paramsched.schedules import Tanh
    >>> s = Tanh(1.0, 0.0)
    >>> round(s(0, 10), 6), round(s(7, 10), 6), round(s(10, 10), 6)
    (0.999999, 0.5, 0.002473)
    """

    start: float
    end: float = 0.0
    lower: float = -7.0
    upper: float = 3.0

    def __post_init__(self) -> None:
        for name in ("start", "end", "lower", "upper"):
            object.__setattr__(self, name, check_real(name, getattr(self, name)))
        if not self.lower < self.upper:
            raise ValueError(f"lower must be < upper, got lower={self.lower!r}, upper={self.upper!r}")

    def __call__(self, step: int, total_steps: int) -> float:
        p = progress(step, total_steps)
        # timm's operation order, so TanhLRScheduler agrees to the bit.
        tanh = math.tanh(self.lower * (1.0 - p) + self.upper * p)
        return self.end + 0.5 * (self.start - self.end) * (1 - tanh)


_TRIANGULAR_MODES = ("triangular", "triangular2", "exp_range")


@dataclasses.dataclass(frozen=True)
class Triangular(Schedule):
    """Triangle waves from ``start`` to ``peak`` and back (torch's ``CyclicLR``).

    Each cycle rises over ``up`` steps and falls over ``down`` steps (default:
    ``up``); both are steps (int) or fractions of the run (float). With
    ``cycle = floor(1 + step / (up + down))`` counted from 1 and ``h`` the
    triangle's height at ``step`` (0 at the cycle's start, 1 at its top), the
    value is ``start + (peak - start) * h * scale``, where ``scale`` is 1
    (``mode="triangular"``), ``1 / 2 ** (cycle - 1)`` (``"triangular2"``: each
    cycle half as tall) or ``gamma ** step`` (``"exp_range"``). Same formulas as
    torch, in its operation order. ``start`` may be above ``peak``: torch's momentum
    cycling is ``Triangular(max_momentum, base_momentum, up, ...)``. A zero-length
    side is skipped (``down=0`` is a sawtooth). Steps past the end keep cycling.

    >>> from paramsched.schedules import Triangular
    >>> s = Triangular(0.0, 1.0, up=2, mode="triangular2")
    >>> [s(k, 12) for k in range(9)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0]
    """

    start: float
    peak: float
    up: int | float
    down: int | float | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_real("start", self.start))
        object.__setattr__(self, "peak", check_real("peak", self.peak))
        object.__setattr__(self, "up", check_duration("up", self.up, length=True))
        if self.down is not None:
            object.__setattr__(self, "down", check_duration("down", self.down, length=True))
        check_choice("mode", self.mode, _TRIANGULAR_MODES)
        object.__setattr__(self, "gamma", check_positive("gamma", self.gamma))

    def _sides(self, total_steps: int) -> tuple[int, int]:
        up = resolve_duration(self.up, total_steps)
        return up, up if self.down is None else resolve_duration(self.down, total_steps)

    def _resolve(self, total_steps: int) -> tuple[int, float]:
        up, down = self._sides(total_steps)
        size = up + down
        return size, up / size if size else 0.0

    def __call__(self, step: int, total_steps: int) -> float:
        m = self._memo
        if m[0] != total_steps:
            m = self._remember(total_steps)
        _, size, ratio = m
        step = max(step, 0)
        cycle = math.floor(1 + step / size)
        x = 1.0 + step / size - cycle
        if x <= ratio:
            height = x / ratio if ratio > 0 else 1.0
        else:
            height = (x - 1) / (ratio - 1)
        base_height = (self.peak - self.start) * height
        if self.mode == "triangular":
            return self.start + base_height * 1.0
        if self.mode == "triangular2":
            return self.start + base_height * (1 / (2.0 ** (cycle - 1)))
        return self.start + base_height * self.gamma**step

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        up, down = self._sides(total_steps)
        if up + down < 1:
            raise ValueError(
                f"up + down must resolve to at least 1 step, got up={describe(self.up)}, "
                f"down={describe(self.down)} = {up} + {down} steps with total_steps={total_steps}"
            )
        if self.mode != "exp_range":
            return
        try:
            last = (self.peak - self.start) * self.gamma**total_steps
        except OverflowError:
            last = math.inf
        if not math.isfinite(last):
            raise ValueError(
                f"gamma={self.gamma!r} overflows over total_steps={total_steps}: "
                "(peak - start) * gamma ** step is not finite"
            )

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        up, down = self._sides(total_steps)
        size = up + down
        if size < 1:
            return ()
        count = min(-(-total_steps // size), _MAX_BOUNDARIES // 2)
        steps = [c * size + offset for c in range(count) for offset in (0, up)]
        return inner_steps(total_steps, *steps)
