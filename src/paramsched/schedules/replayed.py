"""`ReplaySchedule`: a schedule that returns the values a past run recorded, exactly.

``ReplaySchedule(values, steps)`` returns ``values[i]`` at ``steps[i]`` (the
very same float, bit for bit). ``steps=None`` means ``0, 1, 2, ...``.

- A step between two recorded steps (a log written every N steps, or a
  hole) follows ``gaps``: ``"error"`` (raise, naming the step), ``"previous"``
  (the last recorded value before it) or ``"linear"`` (``v0 + (v1 - v0) * t``
  with ``t = (s - s0) / (s1 - s0)`` between the recorded neighbours ``(s0,
  v0)`` and ``(s1, v1)``, computed like the presets' interpolation: never
  outside ``[v0, v1]``).
- A step after the last recorded one follows ``after_end``: ``"error"`` or
  ``"hold"`` (the last recorded value). A step before the first recorded one
  is always an error.

Lookups are O(1): the values of every step between the first and the last
recorded one are precomputed in a list (a log spanning more than
``max(4 * len(values), 2**20)`` steps falls back to a binary search).

>>> s = ReplaySchedule([0.1, 0.3], steps=[0, 10], gaps="linear", after_end="hold")
>>> s(0, 100), s(5, 100), s(10, 100), s(50, 100)
(0.1, 0.2, 0.3, 0.3)
>>> ReplaySchedule.from_spec(s.to_spec()) == s
True
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from paramsched.checks import check_choice, describe
from paramsched.schedules._base import Schedule
from paramsched.schedules._math import lerp_array

__all__ = ["ReplaySchedule"]

GAPS = ("error", "previous", "linear")
AFTER_END = ("error", "hold")
_DENSE_MIN = 1 << 20
# Series longer than this are summarised by a digest in compact specs.
_COMPACT_OVER = 256


@dataclasses.dataclass(frozen=True, repr=False)
class ReplaySchedule(Schedule):
    """The recorded values of one series, as a schedule (see the module docstring).

    Args:
        values: the recorded floats (finite), one per recorded step.
        steps: the recorded steps (ints >= 0, strictly increasing), or
            ``None`` for ``0..len(values)-1``.
        gaps: ``"error"``, ``"previous"`` or ``"linear"``.
        after_end: ``"error"`` or ``"hold"``.
        name: where the values came from (``"runs/a: series 'hp/lr/g0'"``),
            used in error messages; ignored by ``==``.
    """

    values: tuple[float, ...]
    steps: tuple[int, ...] | None = None
    gaps: str = "error"
    after_end: str = "error"
    name: str = dataclasses.field(default="", compare=False)
    # The lookup table, derived from the fields above in __post_init__ (never
    # given, compared, shown or saved): the value of every step from _first to
    # _first + _n - 1 (None for a gap with gaps="error"), for O(1) lookups.
    _first: int = dataclasses.field(init=False, repr=False, compare=False)
    _last: int = dataclasses.field(init=False, repr=False, compare=False)
    _n: int = dataclasses.field(init=False, repr=False, compare=False)
    _table: list[float | None] = dataclasses.field(init=False, repr=False, compare=False)
    _steps_arr: np.ndarray | None = dataclasses.field(init=False, repr=False, compare=False)
    _values_arr: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = _check_values(self.values)
        steps = _check_steps(self.steps, len(values))
        check_choice("gaps", self.gaps, GAPS)
        check_choice("after_end", self.after_end, AFTER_END)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got name={describe(self.name)}")
        if steps is not None and steps[0] == 0 and steps[-1] == len(values) - 1:
            steps = None  # strictly increasing from 0 to n-1: the default steps
        floats = values.tolist()
        object.__setattr__(self, "values", tuple(floats))
        object.__setattr__(self, "steps", None if steps is None else tuple(steps.tolist()))
        self._build(values, steps, floats)

    def _build(self, values: np.ndarray, steps: np.ndarray | None, floats: list[float]) -> None:
        n = len(values)
        first = 0 if steps is None else int(steps[0])
        last = n - 1 if steps is None else int(steps[-1])
        span = last - first + 1
        table: list[float | None]
        if steps is None:
            table = floats
        elif span <= max(4 * n, _DENSE_MIN):
            query = np.arange(first, last + 1, dtype=np.int64)
            dense = _fill(steps, values, query, self.gaps)
            table = dense.tolist()
            if self.gaps == "error":
                for i in np.flatnonzero(np.isnan(dense)).tolist():
                    table[i] = None
        else:
            table, span = [], 0  # sparse: every lookup takes the slow path (binary search)
        set_ = object.__setattr__
        set_(self, "_first", first)
        set_(self, "_n", span)
        set_(self, "_table", table)
        set_(self, "_last", last)
        set_(self, "_steps_arr", steps)
        set_(self, "_values_arr", values)

    def __call__(self, step: int, total_steps: int | None = None) -> float:
        """The recorded value in effect during update ``step`` (``total_steps`` is not used)."""
        try:  # free in CPython >= 3.11 unless raised
            i = step - self._first
            if 0 <= i < self._n:
                value = self._table[i]
                if value is not None:
                    return value
        except TypeError:
            pass  # not an int: _lookup_slow says so
        return self._lookup_slow(step)

    def _lookup_slow(self, step: Any) -> float:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"step must be an int, got step={describe(step)}")
        step = int(step)
        where = f"{self.name}: " if self.name else ""
        if step < self._first:
            raise ValueError(
                f"{where}no value recorded before step {self._first}, got step={step}"
            )
        if step > self._last:
            if self.after_end == "hold":
                return self.values[-1]
            raise ValueError(
                f"{where}the log ends at step {self._last}, got step={step} "
                "(after_end='error'; pass after_end='hold' to keep the last value)"
            )
        assert self._steps_arr is not None  # steps=None has no gaps and a full table
        steps = self._steps_arr
        j = int(np.searchsorted(steps, step, side="right")) - 1
        if int(steps[j]) == step:
            return self.values[j]
        if self.gaps == "error":
            raise ValueError(
                f"{where}step {step} is missing from the log (recorded steps around it: "
                f"{int(steps[j])} and {int(steps[j + 1])}); pass gaps='previous' or gaps='linear' "
                "to fill it"
            )
        return float(_fill(steps, self._values_arr, np.array([step]), self.gaps)[0])

    # -- inspection --------------------------------------------------------------

    @property
    def first_step(self) -> int:
        """The first recorded step."""
        return self._first

    @property
    def last_step(self) -> int:
        """The last recorded step."""
        return self._last

    def dense_values(self) -> np.ndarray:
        """The value of every step from ``first_step`` to ``last_step`` (gaps filled per ``gaps``)."""
        query = np.arange(self._first, self._last + 1, dtype=np.int64)
        if self.steps is None:
            return np.array(self.values)
        dense = _fill(self._steps_arr, self._values_arr, query, self.gaps)
        missing = np.isnan(dense)
        if missing.any():
            self._lookup_slow(int(query[int(np.argmax(missing))]))  # raises, naming the step
        return dense

    def to_spec(self, *, compact: bool = False) -> dict[str, Any]:
        """``{"type": "ReplaySchedule", "values": [...], "steps": [...] or None, "gaps", "after_end"}``.

        ``name`` is left out: it says where the values were read from, which
        must not change the spec (nor ``ParamScheduler``'s fingerprint). With
        ``compact=True`` (run metadata, fingerprints) a long series is replaced
        by its length and the SHA-256 of its float64 values and steps.
        """
        if compact and len(self.values) > _COMPACT_OVER:
            digest = hashlib.sha256(np.asarray(self.values, dtype=np.float64).tobytes())
            if self.steps is not None:
                digest.update(np.asarray(self.steps, dtype=np.int64).tobytes())
            return {"type": "ReplaySchedule", "compact": True, "length": len(self.values),
                    "sha256": digest.hexdigest(), "first_step": self._first,
                    "last_step": self._last, "gaps": self.gaps, "after_end": self.after_end}
        spec = super().to_spec()
        spec.pop("name", None)
        return spec

    def __repr__(self) -> str:
        n = len(self.values)
        span = f"steps {self._first}..{self._last}"
        if self.steps is not None and self._last - self._first + 1 != n:
            span += f", {self._last - self._first + 1 - n} missing"
        named = f", name={self.name!r}" if self.name else ""
        return (
            f"ReplaySchedule(<{n} values, {span}>, gaps={self.gaps!r}, "
            f"after_end={self.after_end!r}{named})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle only the fields; the lookup table is rebuilt on load.
        return (type(self), (self.values, self.steps, self.gaps, self.after_end, self.name))


def _fill(steps: np.ndarray, values: np.ndarray, query: np.ndarray, gaps: str) -> np.ndarray:
    """Values at ``query`` steps (all within [steps[0], steps[-1]]): recorded ones exactly,
    the others per ``gaps`` (NaN for ``"error"``)."""
    j = np.searchsorted(steps, query, side="right") - 1
    exact = steps[j] == query
    out = values[j].copy()
    if gaps == "previous" or exact.all():
        return out
    gap = ~exact
    if gaps == "error":
        out[gap] = np.nan
        return out
    jg = j[gap]
    s0, s1 = steps[jg], steps[jg + 1]
    out[gap] = lerp_array(values[jg], values[jg + 1], (query[gap] - s0) / (s1 - s0))
    return out


def _check_values(values: Any) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)) and not hasattr(
        values, "to_numpy"
    ):
        raise TypeError(f"values must be a sequence of real numbers, got values={describe(values)}")
    if isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(f"values must be real numbers, not bools, got values={describe(values)}")
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise TypeError(f"values must be a 1-d sequence of real numbers, got values={describe(values)}")
    if len(arr) == 0:
        raise ValueError("values must hold at least one recorded value, got values=()")
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        i = int(np.argmax(~finite))
        raise ValueError(f"values must be finite, got values[{i}]={float(arr[i])!r}")
    return arr


def _check_steps(steps: Any, n: int) -> np.ndarray | None:
    if steps is None:
        return None
    if isinstance(steps, (str, bytes)) or not isinstance(steps, (Sequence, np.ndarray, range)) and not hasattr(
        steps, "to_numpy"
    ):
        raise TypeError(f"steps must be a sequence of ints or None, got steps={describe(steps)}")
    if isinstance(steps, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in steps):
        raise TypeError(f"steps must be ints, not bools, got steps={describe(steps)}")
    arr = np.asarray(steps)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and len(arr)):
        raise TypeError(f"steps must be a 1-d sequence of ints, got steps={describe(steps)}")
    if len(arr) != n:
        raise ValueError(f"steps must have one entry per value ({n}), got {len(arr)} steps")
    arr = arr.astype(np.int64)
    if arr[0] < 0:
        raise ValueError(f"steps must be >= 0, got steps[0]={int(arr[0])}")
    bad = np.diff(arr) <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"steps must be strictly increasing, got steps[{i + 1}]={int(arr[i + 1])} after "
            f"steps[{i}]={int(arr[i])}"
        )
    return arr
