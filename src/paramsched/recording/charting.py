"""What a tracker charts, when every applied value is kept exactly elsewhere.

A tracker's metric history is what its charts draw; paramsched keeps every
applied value in a file or artifact (what replay reads) and gives the
history a thinned stream. :class:`ChartPolicy` says which values go in:
every phase boundary of the run's schedules, each series where it moved by
more than a fraction of its range, and every series at least every N steps.
It thins per series, for a tracker that stores (and bills) every value it
is given, as MLflow's ``log_batch`` does.

W&B pays per history row instead, so its recorder thins per row with its
own policy (:mod:`paramsched_wandb.chart`, which also charts the step
before a jump and every event); the schedule boundaries both use come from
:func:`phase_steps`.

>>> thin = ChartPolicy(every=4, change=0.5).bind({})  # no schedules known: ranges from the values seen
>>> [k for k in range(10) if thin.wants(k, {"hp/lr/g0": 1.0 - k / 10})]
[0, 1, 3, 4, 8]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..checks import check_positive_int, check_real, describe

__all__ = ["ChartPolicy", "ChartThinner", "phase_steps"]


class ChartPolicy:
    """Which values a tracker's metric history (its charts) gets, when every value is kept exactly elsewhere.

    Every series is charted at the first row, at a phase boundary of a
    schedule (the first step of a phase and the step before it), and when
    ``every`` steps passed since the last such row; in between, a series is
    charted at the steps where it moved by more than ``change`` times its
    range since its own last charted point (a tracker that stores each value,
    as MLflow does, pays for every value it charts: the series that did not
    move are left out). ``every=1`` charts every row. The range of a series
    is the larger of its schedule's (rebuilt from the run metadata, never
    importing a function a log names) and that of the values seen so far.

    >>> policy = ChartPolicy(every=4, change=0.5)
    >>> meta = {"total_steps": 10, "series": ["hp/lr/g0"],
    ...         "schedules": {"lr": {"type": "Linear", "start": 1.0, "end": 0.0}}}
    >>> thin = policy.bind(meta)
    >>> [k for k in range(10) if thin.wants(k, {"hp/lr/g0": 1.0 - k / 10})]
    [0, 4, 8]
    """

    def __init__(self, every: int = 100, change: float = 0.05) -> None:
        self.every = check_positive_int("chart_every", every)
        self.change = check_real("chart_change", change)
        if self.change < 0:
            raise ValueError(f"chart_change must be a fraction >= 0, got chart_change={describe(change)}")

    def describe(self) -> dict[str, Any]:
        """The policy as JSON, for the run metadata."""
        if self.every == 1:
            return {"every": 1, "note": "every step is charted"}
        return {"every": self.every, "change": self.change, "phase_boundaries": True, "per_series": True}

    def bind(self, metadata: Mapping[str, Any]) -> ChartThinner:
        """A thinner for one run (phase boundaries and ranges from its metadata)."""
        marks, ranges = _schedule_marks(metadata) if self.every > 1 else (frozenset(), {})
        return ChartThinner(self.every, self.change, marks, ranges)

    def __repr__(self) -> str:
        return f"ChartPolicy(every={self.every}, change={self.change!r})"


_NOTHING: Mapping[str, float] = MappingProxyType({})


class ChartThinner:
    """The state of a :class:`ChartPolicy` over one run: ``select(step, values)`` per row, in order."""

    def __init__(self, every: int, change: float, marks: frozenset[int], ranges: Mapping[str, float]) -> None:
        self.every = every
        self.change = change
        self.marks = marks
        self._tolerance = {name: change * span for name, span in ranges.items()}
        self._seen: dict[str, list[float]] = {}  # [min, max] of the values seen, by series
        self._last_step: int | None = None  # the last row that charted every series
        self._last: dict[str, float] = {}  # the last charted value, by series

    def wants(self, step: int, values: Mapping[str, float]) -> bool:
        """Whether anything of this row is charted (see :meth:`select`)."""
        return bool(self.select(step, values))

    def select(self, step: int, values: Mapping[str, float]) -> Mapping[str, float]:
        """The values of this row to chart: all of them, the series that moved, or none."""
        if self.every == 1:
            return values
        last = self._last_step
        whole = last is None or step - last >= self.every or step < last or step in self.marks
        tolerance = self._tolerance
        seen = self._seen
        change = self.change
        previous = self._last
        moved: dict[str, float] | None = None
        for name, value in values.items():
            bounds = seen.get(name)  # [min, max] of the values seen (runs once per value: inlined)
            if bounds is None:
                seen[name] = bounds = [value, value]
            elif value < bounds[0]:
                bounds[0] = value
            elif value > bounds[1]:
                bounds[1] = value
            if not whole:
                # A value outside its schedule's range (drift, an intervention) widens the range:
                # the larger of the planned and the observed range sets the tolerance.
                limit = change * (bounds[1] - bounds[0])
                planned = tolerance.get(name)
                if planned is not None and planned > limit:
                    limit = planned
                ref = previous.get(name)
                if ref is None or abs(value - ref) > limit:
                    if moved is None:
                        moved = {}
                    moved[name] = value
        if whole:
            self._last_step = step
            previous.update(values)
            return values
        if moved is None:
            return _NOTHING
        previous.update(moved)
        return moved

    def select_many(self, steps: Sequence[int], matrix: Any, names: Sequence[str]) -> list[tuple[int, list[int]]]:
        """:meth:`select` for a batch of rows that hold the same series, at once.

        ``matrix`` is a float64 array, one row per step and one column per
        name. Returns ``(row, columns)`` for each row that charts something,
        in order: the same choices as :meth:`select` row by row, found with a
        few array operations per charted point instead of a Python loop over
        every value (what a worker thread sharing the GIL with training pays).

        >>> import numpy as np
        >>> thin = ChartPolicy(every=4, change=0.5).bind({})
        >>> thin.select_many([0, 1, 2, 3, 4], np.array([[1.0, 5.0], [1.0, 5.0], [9.0, 5.0], [9.0, 5.0], [9.0, 5.0]]), ["a", "b"])
        [(0, [0, 1]), (2, [0]), (4, [0, 1])]
        """
        import numpy as np

        count = len(steps)
        width = len(names)
        everything = list(range(width))
        if count == 0:
            return []
        if self.every == 1:
            return [(i, everything) for i in range(count)]
        if not np.isfinite(matrix).all():  # NaN and inf compare as select's Python floats do: the slow way
            return [(i, [c for c, name in enumerate(names) if name in chosen])
                    for i, chosen in ((i, self.select(steps[i], dict(zip(names, matrix[i].tolist())))) for i in range(count))
                    if chosen]
        low = np.minimum.accumulate(matrix, axis=0)
        high = np.maximum.accumulate(matrix, axis=0)
        seen = self._seen
        for c, name in enumerate(names):
            bounds = seen.get(name)
            if bounds is not None:
                np.minimum(low[:, c], bounds[0], out=low[:, c])
                np.maximum(high[:, c], bounds[1], out=high[:, c])
        with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf is NaN, as in select's Python floats
            limit = high - low
            limit *= self.change
            tolerance = self._tolerance
            np.maximum(limit, [tolerance.get(name, -np.inf) for name in names], out=limit)
        marks = self.marks
        marked = {i for i, step in enumerate(steps) if step in marks} if marks else set()
        previous = self._last
        known = [name in previous for name in names]
        ref = np.array([previous[name] if known[c] else 0.0 for c, name in enumerate(names)])
        charted: dict[int, list[int]] = {}
        last, pos = self._last_step, 0
        every = self.every
        while pos < count:
            end = pos
            if last is not None:  # the next row that charts every series
                while end < count and 0 <= steps[end] - last < every and end not in marked:
                    end += 1
            if end > pos:
                self._moves(matrix[pos:end], limit[pos:end], ref, known, pos, charted)
            if end < count:
                charted[end] = everything
                ref[:] = matrix[end]
                known = [True] * width
                last = steps[end]
            pos = end + 1
        self._last_step = last
        for name, value, is_known, lo, hi in zip(names, ref.tolist(), known, low[-1].tolist(), high[-1].tolist()):
            if is_known:
                previous[name] = value
            seen[name] = [lo, hi]
        return sorted((i, sorted(columns)) for i, columns in charted.items())

    @staticmethod
    def _moves(block: Any, limit: Any, ref: Any, known: list[bool], offset: int, charted: dict[int, list[int]]) -> None:
        """Chart, series by series, each row of ``block`` that moved past ``limit`` from the last
        charted value (``ref``, updated); a series never charted is charted at the block's first row."""
        import numpy as np

        for c, is_known in enumerate(known):
            if not is_known:
                charted.setdefault(offset, []).append(c)
                ref[c] = block[0, c]
                known[c] = True
        moved = np.abs(block - ref) > limit
        if not moved.any():  # the common case: nothing moved far enough
            return
        for c in np.flatnonzero(moved.any(axis=0)).tolist():  # each series that moved, on its own
            column, bound = block[:, c], limit[:, c]
            i = int(moved[:, c].argmax())
            while True:
                charted.setdefault(offset + i, []).append(c)
                value = column[i]
                rest = np.flatnonzero(np.abs(column[i + 1 :] - value) > bound[i + 1 :])
                if not len(rest):
                    ref[c] = value
                    break
                i += 1 + int(rest[0])

    def snapshot(self) -> tuple[Any, ...]:
        return (self._last_step, dict(self._last), {k: list(v) for k, v in self._seen.items()})

    def restore(self, state: tuple[Any, ...]) -> None:
        self._last_step, self._last = state[0], dict(state[1])
        self._seen = {k: list(v) for k, v in state[2].items()}


def _schedule_marks(metadata: Mapping[str, Any]) -> tuple[frozenset[int], dict[str, float]]:
    """Phase-boundary steps (each boundary and the step before it) and the range of every
    series whose schedule can be rebuilt from ``metadata`` (never importing a function)."""
    from paramsched.naming import parse_series_name

    total = metadata.get("total_steps")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        return frozenset(), {}
    specs = metadata.get("schedules") if isinstance(metadata.get("schedules"), Mapping) else {}
    overrides = metadata.get("overrides") if isinstance(metadata.get("overrides"), Mapping) else {}
    bases: dict[str, Mapping[str, Any]] = {}
    for group in metadata.get("groups") or []:
        if isinstance(group, Mapping):
            bases[str(group.get("label"))] = group.get("base") or {}
    relative = metadata.get("relative") is True
    built: dict[str, Any] = {}
    marks: set[int] = set()
    ranges: dict[str, float] = {}
    grid = sorted({0, total - 1, *range(0, total, max(1, total // 256))})
    for name in metadata.get("series") or []:
        try:
            key, group = parse_series_name(name)
        except (TypeError, ValueError):
            continue
        spec = (overrides.get(group) or {}).get(key) or specs.get(key)
        if not isinstance(spec, Mapping):
            continue
        text = json.dumps(spec, sort_keys=True, default=str)
        if text not in built:
            built[text] = None
            schedule = _rebuild(spec)
            if schedule is not None:
                try:
                    bounds = [int(b) for b in schedule.phase_boundaries(total)]
                    points = sorted({*grid, *bounds, *(b - 1 for b in bounds if b > 0)})
                    values = [float(schedule(k, total)) for k in points]
                    built[text] = (bounds, min(values), max(values))
                except Exception:  # noqa: BLE001 - a schedule that fails on this run: the values tell
                    pass
        found = built[text]
        if found is None:
            continue
        bounds, low, high = found
        marks.update(bounds)
        marks.update(b - 1 for b in bounds if b > 0)
        scale = 1.0
        if relative:
            base = bases.get(group, {}).get(key)
            if isinstance(base, bool) or not isinstance(base, (int, float)):
                continue
            scale = abs(float(base))
        ranges[name] = (high - low) * scale
    return frozenset(marks), ranges


def phase_steps(metadata: Mapping[str, Any], specs: Iterable[Mapping[str, Any]] = ()) -> set[int]:
    """The phase boundaries of every schedule in ``metadata`` (and of ``specs``), as steps.

    Specs are rebuilt with ``trust_functions=False``; a spec that cannot be
    rebuilt (a function, a compact digest of a replayed run) adds nothing.

    >>> sorted(phase_steps({"total_steps": 100, "schedules": {"lr": {"type": "WarmupStableDecay",
    ...     "peak": 1.0, "warmup": 10, "decay": 20}}}))
    [10, 80]
    """
    total = metadata.get("total_steps")
    if not isinstance(total, int) or isinstance(total, bool) or total < 2:
        return set()
    found: list[Mapping[str, Any]] = []
    schedules = metadata.get("schedules")
    if isinstance(schedules, Mapping):
        found.extend(s for s in schedules.values() if isinstance(s, Mapping))
    overrides = metadata.get("overrides")
    if isinstance(overrides, Mapping):
        for by_key in overrides.values():
            if isinstance(by_key, Mapping):
                found.extend(s for s in by_key.values() if isinstance(s, Mapping))
    found.extend(specs)
    steps: set[int] = set()
    for spec in found:
        schedule = _rebuild(spec)
        if schedule is None:
            continue
        try:
            steps.update(int(b) for b in schedule.phase_boundaries(total))
        except Exception:  # noqa: BLE001 - a schedule that fails on this run: no boundaries, never an error
            continue
    return steps


def _rebuild(spec: Mapping[str, Any]) -> Any:
    """The schedule of a spec read from a log, never importing a function it names; None when
    this version cannot rebuild it (a function, a compact digest of a replayed run, a typo)."""
    from paramsched.schedules import schedule_from_spec

    try:
        return schedule_from_spec(spec, trust_functions=False)
    except Exception:  # noqa: BLE001 - whatever a log holds: not rebuilt, never an error
        return None
