"""Argument checks shared by the schedule types: durations, sequences, orderings.

Every check raises ``ValueError`` for a bad value and ``TypeError`` for a bad
type, naming the argument, the value and what was expected (the wording of
:mod:`paramsched.checks`, which holds the checks that are not about schedules).
"""

from __future__ import annotations

import itertools
from typing import Any

from paramsched.checks import check_real, describe
from paramsched.schedules._base import Schedule


def check_duration(name: str, value: Any) -> int | float:
    """Check a duration: a step count (int >= 0) or a fraction of the run (float in [0, 1])."""
    expected = "a fraction in [0, 1] (float) or a step count >= 0 (int)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {expected}, got {name}={describe(value)}")
    if isinstance(value, float):
        if not (0.0 <= value <= 1.0):
            raise ValueError(f"{name} must be {expected}, got {name}={describe(value)}")
    elif value < 0:
        raise ValueError(f"{name} must be {expected}, got {name}={describe(value)}")
    return value


def resolve_duration(value: int | float, total_steps: int) -> int:
    """Turn a duration (int steps, or float fraction of ``total_steps``) into steps.

    >>> resolve_duration(0.25, 1000), resolve_duration(30, 1000)
    (250, 30)
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
    """A duration that is not zero: a step count >= 1 or a fraction in (0, 1]."""
    expected = "a fraction in (0, 1] (float) or a step count >= 1 (int)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {expected}, got {name}={describe(value)}")
    if (isinstance(value, float) and not 0.0 < value <= 1.0) or (
        isinstance(value, int) and value < 1
    ):
        raise ValueError(f"{name} must be {expected}, got {name}={describe(value)}")
    return value


def as_tuple(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """Accept a list or tuple from the user; store a tuple (hashable, frozen)."""
    if not isinstance(value, (list, tuple)):
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
