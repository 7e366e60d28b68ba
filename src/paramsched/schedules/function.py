"""Plain functions as schedules, and the coercion the scheduler applies to user input."""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from paramsched.checks import describe
from paramsched.schedules._base import Schedule, schedule_from_spec

__all__ = ["FunctionSchedule", "as_schedule"]

_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_EXPECTED = "a Schedule, a spec dict or a picklable callable f(step, total_steps)"


def _show(fn: Any) -> str:
    """``<lambda>``, ``make.<locals>.f`` or ``module:qualname`` for a function; else its repr."""
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str) and not isinstance(fn, type):
        if "<" in qualname:
            return qualname
        return f"{getattr(fn, '__module__', '?')}:{qualname}"
    return describe(fn)


def _import(name: str, path: str) -> Callable[..., Any]:
    """The attribute named by ``"module:qualname"``: an import and getattr, never eval."""
    if not _PATH.match(path):
        raise ValueError(
            f"{name} given as a string must be an import path 'module:qualname', got {name}={path!r}"
        )
    module_name, qualname = path.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{name}={path!r} cannot be imported: {exc}") from None
    return obj


def _check_fn(name: str, fn: Any) -> Callable[[int, int], float]:
    """Return ``fn`` if it can be saved by name (module-level), else raise naming ``name``."""
    if isinstance(fn, str):
        fn = _import(name, fn)
    if isinstance(fn, type) or not callable(fn):
        hint = (
            f"; create one, e.g. {fn.__name__}(...)"
            if isinstance(fn, type) and issubclass(fn, Schedule)
            else ""
        )
        raise TypeError(f"{name} must be {_EXPECTED}, got {name}={_show(fn)}{hint}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str) and ("<lambda>" in qualname or "<locals>" in qualname):
        raise TypeError(
            f"{name} must be picklable: a lambda or closure cannot be saved in a checkpoint; "
            f"use a module-level function or a FunctionSchedule of one, got {name}={_show(fn)}"
        )
    found: Any = None
    if isinstance(module, str) and isinstance(qualname, str):
        try:
            found = _import(name, f"{module}:{qualname}")
        except ValueError:
            found = None
    if found is not fn and found != fn:
        raise TypeError(
            f"{name} must be picklable by name: a module-level function that "
            f"'module:qualname' imports back, so it can be saved in a spec and a checkpoint; "
            f"got {name}={_show(fn)}"
        )
    return fn


@dataclasses.dataclass(frozen=True, repr=False)
class FunctionSchedule(Schedule):
    """A module-level function ``fn(step, total_steps) -> float`` as a schedule.

    ``fn`` must be importable by name (``module:qualname``), which is how it is
    pickled and how ``to_spec()`` stores it: ``{"type": "FunctionSchedule",
    "fn": "module:qualname"}``. ``from_spec`` imports it back (an import and
    attribute lookups, never ``eval``). ``fn`` may also be given as that string.
    A lambda, a closure or a nested function is a ``TypeError``. Values are
    ``float(fn(step, total_steps))``; ``fn`` should be pure.

    >>> import operator
    >>> from paramsched.schedules import FunctionSchedule
    >>> s = FunctionSchedule(operator.truediv)          # step / total_steps
    >>> s(5, 10), s.to_spec()
    (0.5, {'type': 'FunctionSchedule', 'fn': '_operator:truediv'})
    >>> FunctionSchedule("_operator:truediv") == s
    True
    """

    fn: Callable[[int, int], float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fn", _check_fn("fn", self.fn))

    def __call__(self, step: int, total_steps: int) -> float:
        value = self.fn(step, total_steps)
        if value.__class__ is float:
            return value
        # A real number only: not text ('0.001'), not a bool, not a tensor, not None.
        if not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating)):
            try:
                return float(value)
            except OverflowError:
                raise ValueError(
                    f"fn={_show(self.fn)} returned {describe(value)}, too large for a float, "
                    f"at step={step}, total_steps={total_steps}"
                ) from None
        raise TypeError(
            f"fn={_show(self.fn)} must return a real number, got {describe(value)} at step={step}, "
            f"total_steps={total_steps} (a {type(value).__name__}; an int or a float is expected)"
        )

    def __repr__(self) -> str:
        return f"FunctionSchedule(fn={_show(self.fn)!r})"


def as_schedule(obj: Any, name: str) -> Schedule:
    """Turn what a user passed for one hyperparameter into a ``Schedule``.

    A ``Schedule`` is returned as is; a spec dict goes through
    ``schedule_from_spec``; a module-level callable becomes a
    ``FunctionSchedule``. A plain number, a lambda, a closure or anything else
    is a ``TypeError`` whose message names ``name`` (e.g. ``"schedules['lr']"``).

    >>> from paramsched.schedules import Cosine, as_schedule
    >>> as_schedule({"type": "Cosine", "start": 1.0, "end": 0.0}, "schedules['lr']")
    Cosine(start=1.0, end=0.0)
    >>> as_schedule(0.1, "schedules['lr']")
    Traceback (most recent call last):
    ...
    TypeError: schedules['lr'] must be a Schedule, a spec dict or a picklable callable f(step, total_steps), got schedules['lr']=0.1; a number is not a schedule: use Constant(0.1) for a fixed value
    """
    if isinstance(obj, Schedule):
        return obj
    if isinstance(obj, Mapping):
        try:
            return schedule_from_spec(obj)
        except TypeError as exc:
            raise TypeError(f"{name} is not a valid schedule spec: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{name} is not a valid schedule spec: {exc}") from None
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        raise TypeError(
            f"{name} must be {_EXPECTED}, got {name}={obj!r}; a number is not a schedule: "
            f"use Constant({obj!r}) for a fixed value"
        )
    if isinstance(obj, str) or not callable(obj):
        raise TypeError(f"{name} must be {_EXPECTED}, got {name}={describe(obj)}")
    return FunctionSchedule(_check_fn(name, obj))
