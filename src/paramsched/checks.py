"""Argument checks with one wording for every error: for paramsched and its plugins.

Each check raises ``ValueError`` for a bad value and ``TypeError`` for a bad
type, naming the argument, the value received and what was expected. The
integrations (and third-party recorders or sources) use these so that every
message a user sees reads the same way.

>>> from paramsched.checks import check_positive_int
>>> check_positive_int("total_steps", 0)
Traceback (most recent call last):
...
ValueError: total_steps must be an int >= 1, got total_steps=0
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def describe(value: Any) -> str:
    """A short, readable rendering of ``value`` for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_error(exc: BaseException) -> str:
    """One line naming an exception, for a warning or a note: its type and the first line of its
    message (at most 300 characters), as every recorder reports a backend's failure.

    >>> describe_error(ConnectionRefusedError(111, "Connection refused"))
    'ConnectionRefusedError: [Errno 111] Connection refused'
    >>> describe_error(TimeoutError())
    'TimeoutError'
    """
    text = str(exc).strip()
    text = text.splitlines()[0] if text else ""
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_real(name: str, value: Any) -> float:
    """Return ``value`` (a Python or numpy real, not a bool) as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={describe(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {name}={describe(value)}")
    return float(value)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` (a Python or numpy integer) as an int >= ``minimum``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {name}={describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {name}={describe(value)}")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming ``name``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {name}={describe(value)}")
    return value
