"""Test data shared by paramsched's own tests and by backend authors: metadata, rows, floats.

Everything here is plain data or a pure function; nothing imports pytest.

>>> rows = [(step, row_values(step, ["hp/lr/g0"])) for step in range(2)]
>>> rows
[(0, {'hp/lr/g0': 0.0003333333333333333}), (1, {'hp/lr/g0': 0.0006666666666666666})]
>>> from paramsched.replay import Trajectory
>>> trajectory_rows(Trajectory.from_wide(rows_frame(rows))) == rows
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramsched.runformat import FORMAT, utc_now

if TYPE_CHECKING:
    import pandas as pd

    from paramsched.recording.base import Recorder
    from paramsched.replay.trajectory import Trajectory

__all__ = [
    "AWKWARD_FLOATS",
    "CONTRACT_SERIES",
    "SERIES_12",
    "Row",
    "awkward_rows",
    "make_metadata",
    "metrics_rows",
    "read_spooled_rows",
    "record_log",
    "row_values",
    "rows_frame",
    "same_floats",
    "trajectory_rows",
]

Row = tuple[int, dict[str, float]]
"""One recorded step: ``(step, {series: value})``."""

#: 12 series: three keys over four plain group labels.
SERIES_12 = [
    f"hp/{key}/{group}" for key in ("lr", "weight_decay", "betas.0") for group in ("g0", "g1", "head", "emb")
]

#: 12 series whose group labels hold the characters a backend may trip on ("/" and a space).
CONTRACT_SERIES = [
    f"hp/{key}/{group}" for key in ("lr", "weight_decay", "betas.0") for group in ("g0", "head", "blocks/0", "emb 1")
]

#: Finite floats that any path that is not exact gets wrong: subnormals, the extremes,
#: 17-digit decimals, integers beyond 2**53, and both zeros (``-0.0`` last).
AWKWARD_FLOATS = (
    0.1,
    1 / 3,
    0.1 + 0.2,
    1e-300,
    5e-324,
    1e-320,
    -1e-310,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1.7976931348623157e308,
    1e22,
    1e21,
    123456789.12345679,
    2.0**60 + 2.0**8,
    3e-4 * (1 - 1e-16),
    -2.5e-5,
    0.0,
    -0.0,
)


def make_metadata(
    series: Sequence[str] = SERIES_12,
    *,
    total_steps: int = 100,
    resumed_from_step: int | None = None,
    schedules: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A run metadata document as the scheduler builds it (``paramsched.runformat``).

    Group labels are the sorted labels of ``series``; each group's base lr is 0.1.
    ``schedules`` maps keys to specs (default: a Cosine lr); ``extra`` entries
    are added or replace the defaults.

    >>> doc = make_metadata(["hp/lr/g0"], total_steps=10)
    >>> doc["series"], doc["groups"], doc["resumed_from_step"]
    (['hp/lr/g0'], [{'index': 0, 'label': 'g0', 'base': {'lr': 0.1}}], None)
    """
    labels = sorted({name.split("/", 2)[2] for name in series})
    document = {
        "format": FORMAT,
        "paramsched_version": "0.1.0",
        "created_at": utc_now(),
        "total_steps": total_steps,
        "optimizer": "torch.optim.adamw.AdamW",
        "relative": False,
        "schedules": dict(schedules) if schedules is not None else {"lr": {"type": "Cosine", "start": 0.1, "end": 0.0}},
        "overrides": {},
        "groups": [{"index": i, "label": label, "base": {"lr": 0.1}} for i, label in enumerate(labels)],
        "series": list(series),
        "rank": 0,
        "world_size": 1,
        "resumed_from_step": resumed_from_step,
    }
    document.update(extra)
    return document


def row_values(step: int, series: Sequence[str] = SERIES_12) -> dict[str, float]:
    """The values of one step: awkward floats (not short decimals), distinct per step and series.

    >>> row_values(0, ["hp/lr/g0", "hp/lr/g1"])
    {'hp/lr/g0': 0.0003333333333333333, 'hp/lr/g1': 0.00025000000000001}
    """
    return {name: (step + 1) / (3.0 + i) * 1e-3 + 1e-17 * i for i, name in enumerate(series)}


def awkward_rows(steps: Iterable[int], series: Sequence[str] = SERIES_12) -> list[Row]:
    """Rows where every series takes every value of :data:`AWKWARD_FLOATS` over
    ``len(AWKWARD_FLOATS)`` steps (each series starts at another offset).

    >>> awkward_rows(range(2), ["hp/lr/g0"])
    [(0, {'hp/lr/g0': 0.1}), (1, {'hp/lr/g0': 0.3333333333333333})]
    """
    n = len(AWKWARD_FLOATS)
    return [(step, {name: AWKWARD_FLOATS[(step + i) % n] for i, name in enumerate(series)}) for step in steps]


def same_floats(a: float, b: float) -> bool:
    """``a == b`` and the same sign (so ``-0.0`` and ``0.0`` differ): bit-for-bit for non-NaN floats.

    >>> same_floats(0.0, -0.0), same_floats(0.1 + 0.2, 0.30000000000000004)
    (False, True)
    """
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def trajectory_rows(traj: Trajectory) -> list[Row]:
    """A trajectory's values as ``[(step, {series: value})]`` in step order; NaN cells (not
    logged) are left out, so a row holds only the series logged at that step."""
    frame = traj.frame
    names = [str(c) for c in frame.columns]
    rows = []
    for step, values in zip(frame.index.tolist(), frame.to_numpy().tolist(), strict=True):
        rows.append((int(step), {n: float(v) for n, v in zip(names, values, strict=True) if v == v}))
    return rows


def rows_frame(rows: Sequence[Row]) -> pd.DataFrame:
    """``[(step, {series: value})]`` as a wide DataFrame (a ``step`` column + one column per
    series), in row order, duplicated steps kept: what :meth:`Trajectory.from_wide` reads."""
    import pandas as pd

    names = list(dict.fromkeys(name for _, values in rows for name in values))
    data: dict[str, list[Any]] = {"step": [step for step, _ in rows]}
    for name in names:
        data[name] = [values.get(name, math.nan) for _, values in rows]
    return pd.DataFrame(data)


def metrics_rows(metrics: pd.DataFrame | None) -> dict[int, dict[str, float]]:
    """``Trajectory.metrics`` as ``{step: {name: value}}`` without NaN cells (``{}`` for None)."""
    if metrics is None:
        return {}
    out: dict[int, dict[str, float]] = {}
    names = [str(c) for c in metrics.columns]
    for step, values in zip(metrics.index.tolist(), metrics.to_numpy().tolist(), strict=True):
        row = {n: float(v) for n, v in zip(names, values, strict=True) if v == v}
        if row:
            out[int(step)] = row
    return out


def read_spooled_rows(recorder: Recorder) -> list[Row]:
    """The rows a recorder left in its spool file (``recorder.spool_path``), ``[]`` when none.

    Reads both spool formats of the core: the JSON lines of
    :class:`~paramsched.recording.BackgroundRecorder` and the CSV spool of
    :class:`~paramsched.recording.CsvRecorder` (the ``values.csv`` format).
    """
    path = getattr(recorder, "spool_path", None)
    if path is None or not Path(path).is_file():
        return []
    path = Path(path)
    if path.suffix == ".csv":
        from paramsched.runformat import read_table

        table, _ = read_table(path, str(path))
        names = [c for c in table.columns if c != "step"]
        return [
            (int(step), {n: float(v) for n, v in zip(names, values, strict=True)})
            for step, values in zip(table["step"].tolist(), table[names].to_numpy().tolist(), strict=True)
        ]
    from paramsched.recording.background import read_spool

    _, rows = read_spool(path)
    return list(rows)


def record_log(
    recorder: Recorder,
    rows: Iterable[Row],
    metadata: Mapping[str, Any],
    *,
    events: Iterable[Mapping[str, Any]] = (),
    metrics: Mapping[int, Mapping[str, float]] | None = None,
) -> Recorder:
    """Drive ``recorder`` through one run: ``start``, the rows in order, ``close``.

    Events keep their order: each goes in just before the first row whose
    step is at least its own (those left go in at the end). The metrics of a
    step (``metrics`` maps steps to ``{name: value}``) go in after its first
    row. Returns the recorder.
    """
    pending = list(events)
    metrics = dict(metrics or {})
    recorder.start(dict(metadata))
    for step, values in rows:
        while pending and pending[0]["step"] <= step:
            recorder.record_event(pending.pop(0))
        recorder.record(step, values)
        if step in metrics:
            recorder.record_metrics(step, metrics.pop(step))
    for event in pending:
        recorder.record_event(event)
    for step in sorted(metrics):
        recorder.record_metrics(step, metrics[step])
    recorder.close()
    return recorder
