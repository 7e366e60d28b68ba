"""Shared argument checks: one wording for every error in the library.

Each check raises ``ValueError`` for a bad value and ``TypeError`` for a bad
type, naming the argument, the value received and what was expected.
"""

from __future__ import annotations

import math
from typing import Any


def describe(value: Any) -> str:
    """A short, readable rendering of ``value`` for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {name}={describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {name}={describe(value)}")
    return float(value)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {name}={describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {name}={describe(value)}")
    return value


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


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming ``name``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {name}={describe(value)}")
    return value
