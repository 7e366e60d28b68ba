"""Argument checks shared by the schedule types: durations, sequences, orderings, shapes.

Every check raises ``ValueError`` for a bad value and ``TypeError`` for a bad
type, naming the argument, the value and what was expected (the wording of
:mod:`paramsched.checks`, which holds the checks that are not about schedules).

**Durations.** A duration (a warmup, a decay, a milestone, a boundary, a period)
is a step count when it is an integer (``int`` or a numpy integer) and a
fraction of the run when it is a float (``float`` or a numpy float). A fraction
resolves to whole steps with ``round(fraction * total_steps)``, Python's round
half to even: ``warmup=0.1`` is 10 steps at ``total_steps=101`` and 2 steps at
``total_steps=25`` (2.5 rounds to 2). (Hugging Face's ``warmup_ratio`` rounds up
instead, 11 at 101: ``ps.from_hf(...)`` follows Hugging Face.) A float above 1
is an error, and a float that is exactly ``1.0`` given as a *length* (a warmup
of the whole run) warns with :class:`DurationWarning`, since it is most often a
step count computed by a division (``steps=T / 10`` with ``T=10``).
"""

from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from paramsched.checks import check_real, describe
from paramsched.schedules._base import DurationWarning, Schedule

# The peers' names for the shapes we name otherwise (torch's anneal_strategy="cos").
SHAPE_ALIASES = {"cos": "cosine"}
_EXPECTED = "a fraction in [0, 1] (float) or a step count >= 0 (int)"


def check_duration(name: str, value: Any, *, length: bool = False) -> int | float:
    """Check a duration: a step count (int >= 0) or a fraction of the run (float in [0, 1]).

    Returns it as a plain ``int`` or ``float`` (numpy scalars are converted, so
    specs stay JSON). ``length=True`` marks a length (a warmup, a decay, a
    period) rather than a position: ``1.0`` then warns (see the module docstring).

    >>> import numpy as np
    >>> check_duration("warmup", np.int64(10)), check_duration("warmup", np.float64(0.5))
    (10, 0.5)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {_EXPECTED}, got {name}={describe(value)}")
    if isinstance(value, numbers.Integral):
        steps = int(value)
        if steps < 0:
            raise ValueError(f"{name} must be {_EXPECTED}, got {name}={describe(value)}")
        return steps
    fraction = float(value)
    if not (0.0 <= fraction <= 1.0):
        hint = ""
        if fraction > 1.0 and fraction.is_integer():
            hint = f"; a float is a fraction of the run: for {int(fraction)} steps pass the int {int(fraction)}"
        raise ValueError(f"{name} must be {_EXPECTED}, got {name}={describe(fraction)}{hint}")
    if length and fraction == 1.0:
        warnings.warn(
            f"{name}=1.0 is a fraction: the whole run. If it came from a division "
            f"(total / 10 with total=10) and means 1 step, pass the int 1",
            DurationWarning,
            stacklevel=4,
        )
    return fraction


def resolve_duration(value: int | float, total_steps: int) -> int:
    """Turn a duration (int steps, or float fraction of ``total_steps``) into steps.

    A fraction rounds half to even (Python's ``round``).

    >>> resolve_duration(0.25, 1000), resolve_duration(30, 1000), resolve_duration(0.1, 25)
    (250, 30, 2)
    """
    if isinstance(value, float):
        return int(round(value * total_steps))
    return value


def check_positive(name: str, value: Any) -> float:
    value = check_real(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {name}={describe(value)}")
    return value


def check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a fraction in [0, 1] (float), got {name}={describe(value)}")
    if not (0.0 <= value <= 1.0):
        raise ValueError(
            f"{name} must be a fraction in [0, 1] (float), got {name}={describe(value)}"
        )
    return float(value)


def check_period(name: str, value: Any) -> int | float:
    """A length that repeats or divides, so never zero: a step count >= 1 or a fraction in (0, 1]."""
    expected = "a fraction in (0, 1] (float) or a step count >= 1 (int)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {name}={describe(value)}")
    if isinstance(value, numbers.Integral):
        if value < 1:
            raise ValueError(f"{name} must be {expected}, got {name}={describe(value)}")
        return int(value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be {expected}, got {name}={describe(value)}")
    return check_duration(name, float(value), length=True)


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {name}={describe(value)}")
    return value


def check_shape(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return the shape's canonical name; the peers' spellings (``"cos"``) are accepted."""
    canonical = SHAPE_ALIASES.get(value, value) if isinstance(value, str) else value
    if canonical not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {name}={describe(value)}")
    return canonical


def as_tuple(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """Accept any iterable from the user (list, tuple, range, numpy array); store a tuple."""
    if isinstance(value, (str, bytes, Mapping, Schedule)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list or tuple of {what}, got {name}={describe(value)}")
    return tuple(value)


def check_ordered(name: str, values: tuple[int | float, ...], *, strict: bool) -> None:
    """Check the order of durations that can be compared before the run length is known
    (neighbours of the same kind: steps with steps, fractions with fractions)."""
    for before, after in itertools.pairwise(values):
        if type(before) is type(after) and (after < before or (strict and after == before)):
            order = "strictly increasing" if strict else "sorted (non-decreasing)"
            raise ValueError(f"{name} must be {order}, got {name}={describe(values)}")


def check_resolved_order(
    name: str, values: tuple[int | float, ...], total_steps: int, *, strict: bool
) -> tuple[int, ...]:
    steps = tuple(resolve_duration(v, total_steps) for v in values)
    for before, after in itertools.pairwise(steps):
        if after < before or (strict and after == before):
            order = "strictly increasing" if strict else "sorted (non-decreasing)"
            raise ValueError(
                f"{name} must resolve to {order} steps, got {name}={describe(values)}, "
                f"which is {describe(steps)} steps with total_steps={total_steps}"
            )
    return steps


def check_schedule(name: str, value: Any) -> Schedule:
    """Return ``value`` if it is a Schedule, else raise naming ``name``."""

    if not isinstance(value, Schedule):
        raise TypeError(
            f"{name} must be a Schedule (wrap a module-level function in FunctionSchedule), "
            f"got {name}={describe(value)}"
        )
    return value
