"""Turning raw columns (CSV, DataFrames, tracker histories) into a trajectory frame.

Shared by every source so that every log anomaly gets the same treatment and
the same wording: steps are sorted, the last value of a duplicated step wins,
an empty cell means "not logged at this step", and a non-numeric or
non-finite value is an error naming the source, the series and the step.
Numbers are parsed with ``float()`` (never ``eval``), so ``repr(x)`` reads
back as exactly ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from paramsched.naming import STEP_SERIES, check_series_name

STEP = "step"

Locate = Callable[[int], str]


def row_locator(kind: str = "row", offset: int = 0) -> Locate:
    """Describe row ``i`` as ``"row i"`` (DataFrames) or ``"line i+2"`` (CSV files)."""
    return lambda i: f"{kind} {i + offset}"


def coerce_steps(values: Any, *, source: str, column: str = STEP, locate: Locate | None = None) -> np.ndarray:
    """The step column as int64 (integral floats accepted), every step >= 0."""
    locate = locate or row_locator()
    arr = _as_array(values)
    kind = arr.dtype.kind
    if kind in "iu":
        out = arr.astype(np.int64, copy=False)
    elif kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{source}: column {column!r} must hold integer steps, got {_show(arr[i])} at {locate(i)}"
            )
        out = arr.astype(np.int64)
    else:
        out = np.empty(len(arr), dtype=np.int64)
        for i, item in enumerate(arr.tolist()):
            step = _parse_step(item)
            if step is None:
                raise ValueError(
                    f"{source}: column {column!r} must hold integer steps, got {_show(item)} at {locate(i)}"
                )
            out[i] = step
    if len(out) and out.min() < 0:
        i = int(np.argmax(out < 0))
        raise ValueError(f"{source}: column {column!r} must hold steps >= 0, got {int(out[i])} at {locate(i)}")
    return out


def coerce_values(
    values: Any,
    *,
    source: str,
    series: str,
    steps: np.ndarray,
    column: str | None = None,
) -> np.ndarray:
    """One series as float64, NaN where nothing was logged; bad values raise naming the step."""
    arr = _as_array(values)
    kind = arr.dtype.kind
    if kind == "f":
        out = arr.astype(np.float64, copy=False)
    elif kind in "iu":
        out = arr.astype(np.float64)
    else:
        out = np.empty(len(arr), dtype=np.float64)
        for i, item in enumerate(arr.tolist()):
            number = _parse_value(item)
            if number is None:
                raise ValueError(
                    f"{source}: {_what(series, column)} has a non-numeric value {_show(item)} "
                    f"at step {int(steps[i])}"
                )
            if number != number and isinstance(item, str) and item.strip():
                # 'nan' written as text is a value, not an empty cell: it is not finite.
                raise ValueError(
                    f"{source}: {_what(series, column)} has a non-finite value {_show(item)} "
                    f"at step {int(steps[i])}"
                )
            out[i] = number
    inf = np.isinf(out)
    if inf.any():
        i = int(np.argmax(inf))
        raise ValueError(
            f"{source}: {_what(series, column)} has a non-finite value {float(out[i])!r} at step {int(steps[i])}"
        )
    return out


def assemble(
    steps: np.ndarray,
    columns: Mapping[str, np.ndarray],
    *,
    source: str,
    origin: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Build the trajectory frame from raw rows, and notes on what was normalized.

    Per series: missing cells (NaN) are dropped, the last value of a
    duplicated step is kept (file order), steps are sorted. Steps where no
    series has a value are dropped. A series with no value at all is an error.
    """
    origin = origin or {}
    notes: list[str] = []
    if not len(steps):
        raise ValueError(f"{source}: the log has no rows")
    for name, col in columns.items():
        if np.isnan(col).all():
            raise ValueError(f"{source}: {_what(name, origin.get(name))} has no values")
    matrix_has_nan = any(np.isnan(col).any() for col in columns.values())
    increasing = bool(len(steps) < 2 or (np.diff(steps) > 0).all())
    if increasing and not matrix_has_nan:
        frame = pd.DataFrame(dict(columns), index=pd.Index(steps, name=STEP, dtype=np.int64))
        return frame, ()
    if not increasing:
        diffs = np.diff(steps)
        if (diffs == 0).any() or len(np.unique(steps)) < len(steps):
            counts = np.unique(steps, return_counts=True)
            dup = counts[0][counts[1] > 1]
            notes.append(
                f"{len(dup)} step(s) appear more than once (first: step {int(dup[0])}); "
                "the last row of each was kept"
            )
        if (diffs < 0).any():
            i = int(np.argmax(diffs < 0))
            notes.append(
                f"steps were out of order (first: step {int(steps[i + 1])} after step {int(steps[i])}); "
                "they were sorted"
            )
    per_series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, col in columns.items():
        mask = ~np.isnan(col)
        s, v = steps[mask], col[mask]
        # np.unique on the reversed rows finds, for each step, its LAST row in file order.
        unique_steps, first_in_reversed = np.unique(s[::-1], return_index=True)
        per_series[name] = (unique_steps, v[::-1][first_in_reversed])
    union = np.unique(np.concatenate([s for s, _ in per_series.values()])) if per_series else steps[:0]
    data = {}
    for name, (s, v) in per_series.items():
        col = np.full(len(union), np.nan)
        col[np.searchsorted(union, s)] = v
        data[name] = col
    frame = pd.DataFrame(data, index=pd.Index(union, name=STEP, dtype=np.int64))
    return frame, tuple(notes)


def table_columns(
    table: pd.DataFrame,
    *,
    source: str,
    keymap: Any = None,
    step_column: str | None = None,
    locate: Locate | None = None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A wide table (a step column + one column per series, or a foreign log
    read through ``keymap``) turned into a trajectory frame plus notes."""
    from paramsched.replay.keymaps import resolve_keymap

    locate = locate or row_locator()
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"{source}: column(s) {dup} appear more than once")
    km = resolve_keymap(keymap)
    if step_column is None:
        candidates = km.step_columns if km is not None else (STEP,)
        step_column = next((c for c in candidates if c in names), None)
        if step_column is None and table.index.name in candidates:
            step_column = str(table.index.name)
            table = table.reset_index()
            names = [str(c) for c in table.columns]
        if step_column is None:
            raise ValueError(
                f"{source}: no step column; expected one of {list(candidates)} "
                f"(a column or the index name), got columns {names}"
            )
    elif step_column not in names:
        raise ValueError(f"{source}: step_column={step_column!r} is not a column; columns: {names}")
    others = [c for c in names if c != step_column]
    if km is not None:
        mapping = km.map_columns(others, source=source)
    else:
        mapping = {}
        for col in others:
            if col == STEP_SERIES:
                continue
            if not col.startswith("hp/"):
                raise ValueError(
                    f"{source}: column {col!r} is not a series name 'hp/<key>/<group>'; for a log "
                    "that paramsched did not write pass keymap='lightning', keymap='hf' or a dict "
                    "{column: (key, group)}"
                )
            mapping[col] = check_series_name(col, source=source)
        if not mapping:
            raise ValueError(f"{source}: no series columns 'hp/<key>/<group>'; columns: {names}")
    check_unique_targets(mapping, source=source)
    steps = coerce_steps(table[step_column], source=source, column=step_column, locate=locate)
    if km is None and STEP_SERIES in others:
        echoed = coerce_steps(table[STEP_SERIES], source=source, column=STEP_SERIES, locate=locate)
        if not np.array_equal(echoed, steps):
            i = int(np.argmax(echoed != steps))
            raise ValueError(
                f"{source}: column {STEP_SERIES!r} disagrees with column {step_column!r} at "
                f"{locate(i)}: {int(echoed[i])} != {int(steps[i])}"
            )
    columns: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for col, name in mapping.items():
        shown = col if col != name else None
        columns[name] = coerce_values(table[col], source=source, series=name, steps=steps, column=shown)
        if shown:
            origin[name] = col
    return assemble(steps, columns, source=source, origin=origin)


def check_unique_targets(mapping: Mapping[str, str], *, source: str) -> None:
    """Raise if two columns map to the same series."""
    seen: dict[str, str] = {}
    for col, name in mapping.items():
        if name in seen:
            raise ValueError(
                f"{source}: columns {seen[name]!r} and {col!r} both map to series {name!r}; "
                "pass a keymap dict that picks one"
            )
        seen[name] = col


def _as_array(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            return values.to_numpy(dtype=object, na_value=None)
        if values.hasnans and values.dtype.kind not in "f":  # nullable ints with <NA>
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr.astype(object)
    return arr


def _parse_step(item: Any) -> int | None:
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, str):
        text = item.strip()
        try:
            return int(text)
        except ValueError:
            try:
                item = float(text)
            except ValueError:
                return None
    if isinstance(item, (float, np.floating)) and math.isfinite(item) and float(item).is_integer():
        return int(item)
    return None


def _parse_value(item: Any) -> float | None:
    """A float, NaN for a missing cell, or None for a non-numeric value."""
    if item is None:
        return math.nan
    if isinstance(item, bool):
        return None
    if isinstance(item, float):
        return item
    if isinstance(item, (int, np.integer, np.floating)):
        return float(item)
    if isinstance(item, str):
        text = item.strip()
        if not text:
            return math.nan
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _what(series: str, column: str | None) -> str:
    return f"column {column!r} (series {series!r})" if column else f"series {series!r}"


def _show(item: Any) -> str:
    text = repr(item.item() if isinstance(item, np.generic) else item)
    return text if len(text) <= 60 else text[:57] + "..."


def sequence_of_str(name: str, value: Any) -> list[str] | None:
    """``None`` or a list of strings (a single string is one item)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a string or a list of strings, got {name}={value!r}")
    return list(value)
