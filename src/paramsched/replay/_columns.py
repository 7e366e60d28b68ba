"""Turning raw columns (CSV, DataFrames, tracker histories) into a trajectory frame.

Shared by every source so that every log anomaly gets the same treatment and
the same wording: steps are sorted, the last value of a series logged twice
at one step wins, an empty cell means "not logged at this step", and a
non-numeric or non-finite value is an error naming the source, the series
and the step. Numbers are parsed from text with a strict decimal grammar
(``1_0``, ``0x10`` or non-ASCII digits are not numbers here) and ``float()``
(never ``eval``), so ``repr(x)`` reads back as exactly ``x``.

:func:`table_columns` is what sources call; its API for source authors is
documented in :mod:`paramsched.replay.keymaps`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from paramsched.naming import STEP_SERIES

if TYPE_CHECKING:
    from paramsched.replay.keymaps import KeyMap

STEP = "step"
_INT64_MAX = int(np.iinfo(np.int64).max)
_EXACT_FLOAT_INT = 2**53  # a float step above this may not be the integer that was written
_FLOAT_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)
_INT_TEXT = re.compile(r"[+-]?[0-9]+")

Locate = Callable[[int], str]


def row_locator(kind: str = "row", offset: int = 0) -> Locate:
    """Describe row ``i`` as ``"row i"`` (DataFrames) or ``"line i+2"`` (CSV files)."""
    return lambda i: f"{kind} {i + offset}"


# -- coercion -----------------------------------------------------------------------------


def coerce_steps(values: Any, *, source: str, column: str = STEP, locate: Locate | None = None) -> np.ndarray:
    """The step column as int64 (integral floats accepted), every step in ``[0, 2**63)``."""
    locate = locate or row_locator()
    arr = _as_array(values)
    kind = arr.dtype.kind

    def fail(i: int, item: Any, why: str = "must hold integer steps") -> ValueError:
        return ValueError(f"{source}: column {column!r} {why}, got {_show(item)} at {locate(i)}")

    if kind == "u":
        too_big = arr > np.uint64(_INT64_MAX)
        if too_big.any():
            i = int(np.argmax(too_big))
            raise fail(i, arr[i], "must hold steps < 2**63 (int64)")
        out = arr.astype(np.int64)
    elif kind == "i":
        out = arr.astype(np.int64, copy=False)
    elif kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(i, arr[i])
        big = np.abs(arr) > _EXACT_FLOAT_INT
        if big.any():
            i = int(np.argmax(big))
            raise fail(i, arr[i], "must hold steps a float can hold exactly (<= 2**53)")
        out = arr.astype(np.int64)
    else:
        out = np.empty(len(arr), dtype=np.int64)
        for i, item in enumerate(arr.tolist()):
            step = _parse_step(item)
            if step is None:
                raise fail(i, item)
            if not -_INT64_MAX - 1 <= step <= _INT64_MAX:
                raise fail(i, item, "must hold steps < 2**63 (int64)")
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
    out, problem = _to_floats(values)
    if problem is not None:
        i, item, kind = problem
        raise ValueError(
            f"{source}: {_what(series, column)} has a {kind} value {_show(item)} at step {int(steps[i])}"
        )
    inf = np.isinf(out)
    if inf.any():
        i = int(np.argmax(inf))
        raise ValueError(
            f"{source}: {_what(series, column)} has a non-finite value {float(out[i])!r} at step {int(steps[i])}"
        )
    return out


def _to_floats(values: Any) -> tuple[np.ndarray, tuple[int, Any, str] | None]:
    """float64 values (NaN = empty), or the first ``(row, item, "non-numeric"|"non-finite")`` problem."""
    arr = _as_array(values)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float64, copy=False), None
    if kind in "iu":
        return arr.astype(np.float64), None
    out = np.empty(len(arr), dtype=np.float64)
    for i, item in enumerate(arr.tolist()):
        number = _parse_value(item)
        if number is None:
            return out, (i, item, "non-numeric")
        if number != number and isinstance(item, str) and item.strip():
            # 'nan' written as text is a value, not an empty cell: it is not finite.
            return out, (i, item, "non-finite")
        out[i] = number
    return out, None


# -- assembling ---------------------------------------------------------------------------


def assemble(
    steps: np.ndarray,
    columns: Mapping[str, np.ndarray],
    *,
    source: str,
    origin: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Build the trajectory frame from raw rows, and notes on what was normalized.

    Per series: missing cells (NaN) are dropped, steps are sorted, and a
    series with several values at one step keeps the last one (file order).
    Rows that share a step but hold different series are merged silently:
    each value comes from the one row that has it. Steps where no series has
    a value are dropped. A series with no value at all is an error.
    """
    origin = origin or {}
    if not len(steps):
        raise ValueError(f"{source}: the log has no rows")
    for name, col in columns.items():
        if np.isnan(col).all():
            raise ValueError(f"{source}: {_what(name, origin.get(name))} has no values")
    frame, duplicates, unsorted = _merge(steps, columns)
    notes = []
    if duplicates is not None:
        notes.append(_duplicate_note(duplicates))
    if unsorted is not None:
        notes.append(
            f"steps were out of order (first: step {unsorted[1]} after step {unsorted[0]}); they were sorted"
        )
    return frame, tuple(notes)


class _Duplicates:
    def __init__(self) -> None:
        self.steps: list[np.ndarray] = []
        self.differ: tuple[int, str, float, float] | None = None  # first: step, series, earlier, later
        self.differ_steps: list[np.ndarray] = []


def _merge(
    steps: np.ndarray, columns: Mapping[str, np.ndarray]
) -> tuple[pd.DataFrame, _Duplicates | None, tuple[int, int] | None]:
    """The frame (sorted unique steps), what was logged twice, and the first out-of-order pair."""
    has_nan = any(np.isnan(col).any() for col in columns.values())
    increasing = bool(len(steps) < 2 or (np.diff(steps) > 0).all())
    if increasing and not has_nan:
        return pd.DataFrame(dict(columns), index=pd.Index(steps, name=STEP, dtype=np.int64)), None, None
    carrying = np.zeros(len(steps), dtype=bool)
    for col in columns.values():
        carrying |= ~np.isnan(col)
    logged = steps[carrying]
    diffs = np.diff(logged)
    unsorted = None
    if (diffs < 0).any():
        i = int(np.argmax(diffs < 0))
        unsorted = (int(logged[i]), int(logged[i + 1]))
    duplicates = _Duplicates()
    per_series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, col in columns.items():
        mask = ~np.isnan(col)
        s, v = steps[mask], col[mask]
        # np.unique on the reversed rows finds, for each step, its LAST row in file order.
        unique_steps, first_in_reversed = np.unique(s[::-1], return_index=True)
        per_series[name] = (unique_steps, v[::-1][first_in_reversed])
        if len(unique_steps) < len(s):
            order = np.argsort(s, kind="stable")
            ss, vv = s[order], v[order]
            same = ss[1:] == ss[:-1]
            duplicates.steps.append(ss[1:][same])
            differ = same & (vv[1:] != vv[:-1])
            if differ.any():
                duplicates.differ_steps.append(ss[1:][differ])
                j = int(np.argmax(differ))
                candidate = (int(ss[j + 1]), name, float(vv[j]), float(vv[j + 1]))
                if duplicates.differ is None or candidate[0] < duplicates.differ[0]:
                    duplicates.differ = candidate
    union = np.unique(np.concatenate([s for s, _ in per_series.values()])) if per_series else steps[:0]
    data = {}
    for name, (s, v) in per_series.items():
        col = np.full(len(union), np.nan)
        col[np.searchsorted(union, s)] = v
        data[name] = col
    frame = pd.DataFrame(data, index=pd.Index(union, name=STEP, dtype=np.int64))
    return frame, (duplicates if duplicates.steps else None), unsorted


def _duplicate_note(dup: _Duplicates) -> str:
    steps = np.unique(np.concatenate(dup.steps))
    head = f"{len(steps)} step(s) appear more than once (first: step {int(steps[0])})"
    if dup.differ is None:
        return f"{head}, with the same values each time"
    differing = np.unique(np.concatenate(dup.differ_steps))
    step, name, before, after = dup.differ
    return (
        f"{head}; {len(differing)} of them hold different values (first: series {name!r} at step "
        f"{step}: {before!r}, then {after!r}): the value written last was kept"
    )


# -- wide tables ----------------------------------------------------------------------------


def table_columns(
    table: pd.DataFrame,
    *,
    source: str,
    keymap: Any = None,
    step_column: str | None = None,
    locate: Locate | None = None,
    with_metrics: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[Any, ...]:
    """A wide table (a step column + one column per series, or a foreign log
    read through ``keymap``) turned into a trajectory frame plus notes.

    Returns ``(frame, notes)``, or ``(frame, notes, metrics)`` with
    ``with_metrics=True`` (``metrics``: the other numeric columns on the same
    step axis, or ``None``). ``metadata`` (the run's metadata document, when
    there is one) lets the notes say where a log stops short of
    ``total_steps``. See :mod:`paramsched.replay.keymaps` for the key maps.
    """
    from paramsched.replay.keymaps import ParamschedKeyMap, choose_keymap

    locate = locate or row_locator()
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"{source}: column(s) {dup} appear more than once")
    km, notes = choose_keymap(keymap, names, source=source)
    if step_column is None:
        candidates = km.step_columns
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
    table = table.set_axis(names, axis=1)
    others = [c for c in names if c != step_column]
    mapping = km.map_columns(others, source=source)
    check_unique_targets(mapping, source=source)
    logged = coerce_steps(table[step_column], source=source, column=step_column, locate=locate)
    if isinstance(km, ParamschedKeyMap) and STEP_SERIES in others:
        echoed = coerce_steps(table[STEP_SERIES], source=source, column=STEP_SERIES, locate=locate)
        if not np.array_equal(echoed, logged):
            i = int(np.argmax(echoed != logged))
            raise ValueError(
                f"{source}: column {STEP_SERIES!r} disagrees with column {step_column!r} at "
                f"{locate(i)}: {int(echoed[i])} != {int(logged[i])}"
            )
    columns: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for col, name in mapping.items():
        shown = col if col != name else None
        columns[name] = coerce_values(table[col], source=source, series=name, steps=logged, column=shown)
        if shown:
            origin[name] = col
    steps = _updates(km, logged, step_column, source)
    keep = steps >= 0
    if not keep.all():
        before = int(np.count_nonzero(~keep))
        notes.append(
            f"{before} row(s) logged at step {int(logged[~keep].max())} or earlier come before the "
            "first update and were not read"
        )
        steps = steps[keep]
        columns = {name: col[keep] for name, col in columns.items()}
    frame, more = assemble(steps, columns, source=source, origin=origin)
    notes.extend(more)
    notes.extend(gap_notes(frame, hint=km.every_step_hint, metadata=metadata))
    rest = [c for c in others if c not in mapping]
    wanted = km.metric_columns(rest)
    passed_over = [c for c in rest if c not in wanted and not c.startswith("_") and c != STEP_SERIES]
    if passed_over:
        notes.append(f"column(s) {passed_over} are not per-step metrics: not read")
    if not with_metrics:
        if wanted:
            notes.append(f"column(s) {wanted} are not series: not read")
        return frame, tuple(notes)
    metrics, metric_notes = _metrics(table, wanted, km, steps, keep, source)
    notes.extend(metric_notes)
    return frame, tuple(notes), metrics


def _updates(km: KeyMap, logged: np.ndarray, column: str, source: str) -> np.ndarray:
    steps = km.to_updates(logged, column=column)
    steps = np.asarray(steps)
    if steps.shape != logged.shape or steps.dtype.kind not in "iu":
        raise TypeError(
            f"{source}: keymap {km!r}.to_updates() must return one integer step per row, got "
            f"{steps.dtype} with shape {steps.shape}"
        )
    return steps.astype(np.int64, copy=False)


def _metrics(
    table: pd.DataFrame,
    wanted: Sequence[str],
    km: KeyMap,
    steps: np.ndarray,
    keep: np.ndarray,
    source: str,
) -> tuple[pd.DataFrame | None, list[str]]:
    """The metrics frame of the ``wanted`` columns, lenient: a column that is not
    numeric is skipped, a non-finite value is "not logged"; both are noted."""
    notes: list[str] = []
    columns: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    skipped: list[str] = []
    non_finite: list[str] = []
    for col in wanted:
        name = km.metric_name(col)
        if name in columns:
            notes.append(f"columns {origin[name]!r} and {col!r} are both metric {name!r}: {col!r} was not read")
            continue
        values, dropped = _metric_floats(table[col])
        if values is None:
            skipped.append(col)
            continue
        values = values[keep]
        if np.isnan(values).all():
            continue
        if dropped:
            non_finite.append(col)
        columns[name] = values
        origin[name] = col
    if skipped:
        notes.append(f"column(s) {skipped} hold non-numeric values: not read as metrics")
    if non_finite:
        notes.append(f"metric column(s) {non_finite} hold non-finite values (inf, nan): read as not logged")
    if not columns:
        return None, notes
    frame, duplicates, _ = _merge(steps, columns)
    if duplicates is not None and duplicates.differ is not None:
        notes.append("metrics: " + _duplicate_note(duplicates))
    frame = frame.dropna(how="all")
    return (frame if len(frame) else None), notes


def _metric_floats(values: Any) -> tuple[np.ndarray | None, bool]:
    """float64 (NaN: not logged, or not finite) and whether a non-finite value was
    dropped; ``None`` for a column holding a non-numeric value."""
    arr = _as_array(values)
    dropped = False
    if arr.dtype.kind in "fiu":
        out = arr.astype(np.float64)
    else:
        out = np.empty(len(arr), dtype=np.float64)
        for i, item in enumerate(arr.tolist()):
            number = _parse_value(item)
            if number is None:
                return None, False
            if number != number and isinstance(item, str) and item.strip():
                dropped = True
            out[i] = number
    inf = np.isinf(out)
    if inf.any():
        out[inf] = np.nan
        dropped = True
    return out, dropped


def gap_notes(
    frame: pd.DataFrame, *, hint: str = "", metadata: Mapping[str, Any] | None = None
) -> list[str]:
    """Notes for series that are not logged at every update (a sparse log, lost rows).

    A paramsched run (``metadata`` given) records every update from 0 (or
    from ``resumed_from_step``) to ``total_steps - 1``; a note says where a
    log has holes or ends early. A foreign log gets one note per set of
    series that share their steps, with what to do about it.
    """
    notes: list[str] = []
    if not len(frame):
        return notes
    index = frame.index.to_numpy()
    meta = dict(metadata) if metadata is not None else None
    start = 0
    if meta is not None:
        resumed = meta.get("resumed_from_step")
        if isinstance(resumed, int) and not isinstance(resumed, bool) and 0 <= resumed <= int(index[0]):
            start = resumed
    # A stream written every n updates on purpose (a Lightning logger's, "logged_every_n_steps"
    # in its metadata) is a chart: say how to make it a record instead of "lost".
    every = meta.get("logged_every_n_steps") if meta is not None else None
    chart_hint = ""
    if isinstance(every, int) and not isinstance(every, bool) and every > 1:
        chart_hint = f"log every update: log_every_n_steps=1 (this stream was written every {every} updates)"
    last = int(index[-1])
    dense = bool(int(index[0]) == start and len(index) == last - start + 1 and not frame.isna().to_numpy().any())
    if not dense:
        groups: dict[bytes, list[str]] = {}
        masks = frame.notna().to_numpy()
        for j, name in enumerate(frame.columns):
            groups.setdefault(masks[:, j].tobytes(), []).append(str(name))
        for names in groups.values():
            steps = index[frame[names[0]].notna().to_numpy()]
            if int(steps[0]) == start and len(steps) == int(steps[-1]) - start + 1:
                continue
            notes.append(_gap_note(names, steps, start, chart_hint or hint, paramsched=meta is not None and not chart_hint))
    if meta is not None:
        total = meta.get("total_steps")
        if isinstance(total, int) and not isinstance(total, bool) and last < total - 1:
            notes.append(
                f"the log ends at step {last} but the run has total_steps={total}: the run stopped early "
                "(or is still running), or the end of the log was cut"
            )
    return notes


def _gap_note(names: list[str], steps: np.ndarray, start: int, hint: str, *, paramsched: bool) -> str:
    shown = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    first, last, n = int(steps[0]), int(steps[-1]), len(steps)
    span = last - start + 1
    diffs = np.diff(steps)
    if len(diffs) and (diffs == diffs[0]).all() and diffs[0] > 1:
        pattern = f"every {int(diffs[0])} steps from step {first}"
    elif first > start and (diffs == 1).all():
        pattern = f"from step {first} on"
    else:
        holes = np.flatnonzero(diffs > 1)
        missing = start if first > start else int(steps[holes[0]]) + 1
        pattern = f"first missing step: {missing}"
    if paramsched:
        return (
            f"{shown}: {span - n} of the steps {start}..{last} are missing ({pattern}): paramsched "
            "records every update, so these values were lost or never written (a killed writer, a cut "
            "or edited file); a replay fails at the first missing step"
        )
    return (
        f"{shown}: logged at {n} of the {span} updates {start}..{last} ({pattern}), not at every "
        f"update, so a replay fails at the first missing one. To replay the run exactly, {hint}. "
        "To replay this log anyway, fill it: traj.schedules(gaps='previous', before_start='first') "
        "or load(..., gaps='previous', before_start='first'); the filled values are interpolated, "
        "not the ones the run used"
    )


def sparse_summary(steps: np.ndarray) -> str:
    """A few words on where a series was logged (``"40 values, every 50 steps from step 49"``)."""
    n = len(steps)
    diffs = np.diff(steps)
    if len(diffs) and (diffs == diffs[0]).all():
        return f"{n} values, every {int(diffs[0])} steps from step {int(steps[0])}"
    return f"{n} values in steps {int(steps[0])}..{int(steps[-1])}"


def fill_frame(frame: pd.DataFrame, *, gaps: str | None, before_start: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Every step from 0 (``before_start="first"``) or each series' first step to its last
    given a value: ``gaps`` ("previous" / "linear") between logged steps, the first logged
    value before it. Returns the frame and notes saying how many values are interpolated."""
    from paramsched.schedules.replayed import ReplaySchedule

    if not len(frame):
        return frame, []
    index = frame.index.to_numpy()
    lo = 0 if before_start == "first" else int(index[0])
    hi = int(index[-1])
    if hi - lo + 1 > _FILL_LIMIT:
        raise ValueError(
            f"filling steps {lo}..{hi} at load would hold {hi - lo + 1} values per series (more than "
            f"{_FILL_LIMIT}); fill at replay time instead: traj.schedules(gaps=..., before_start=...)"
        )
    dense_index = np.arange(lo, hi + 1, dtype=np.int64)
    data: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for name in frame.columns:
        col = frame[name].to_numpy()
        mask = ~np.isnan(col)
        steps, values = index[mask], col[mask]
        out = np.full(len(dense_index), np.nan)
        first, last = int(steps[0]), int(steps[-1])
        if gaps in ("previous", "linear"):
            out[first - lo:last - lo + 1] = ReplaySchedule(values, steps, gaps=gaps).dense_values()
        else:
            out[steps - lo] = values
        if before_start == "first":
            out[: first - lo] = values[0]
        filled = int(np.count_nonzero(~np.isnan(out))) - len(values)
        if filled:
            notes.append(
                f"{name}: {filled} of {filled + len(values)} values were filled at load (gaps={gaps!r}, "
                f"before_start={before_start!r}): interpolated, not recorded; only the {len(values)} "
                "logged steps hold the run's own values"
            )
        data[str(name)] = out
    return pd.DataFrame(data, index=pd.Index(dense_index, name=STEP)), notes


_FILL_LIMIT = 1 << 26


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
    """An int (any size: the caller checks the range), or None for a value that is not a step."""
    if isinstance(item, (bool, np.bool_)) or item is None:
        return None
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, str):
        text = item.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text)
        if not _FLOAT_TEXT.fullmatch(text):
            return None
        item = float(text)
    if isinstance(item, (float, np.floating)) and math.isfinite(item) and float(item).is_integer():
        if abs(item) > _EXACT_FLOAT_INT:
            return None
        return int(item)
    return None


def _parse_value(item: Any) -> float | None:
    """A float, NaN for a missing cell, or None for a non-numeric value."""
    if item is None:
        return math.nan
    if isinstance(item, (bool, np.bool_)):
        return None
    if isinstance(item, float):
        return item
    if isinstance(item, (int, np.integer, np.floating)):
        try:
            return float(item)
        except OverflowError:  # an int beyond the float range (a JSON log can hold one)
            return math.inf if item > 0 else -math.inf
    if isinstance(item, str):
        text = item.strip()
        if not text:
            return math.nan
        if not _FLOAT_TEXT.fullmatch(text):
            return None
        return float(text)
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
