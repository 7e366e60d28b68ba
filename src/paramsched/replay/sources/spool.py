"""`SpoolSource`: read a recorder's spool file (the values a tracker did not receive) as a Trajectory.

A network recorder (MLflow, W&B, ...) keeps what it could not deliver in a
spool file (see :mod:`paramsched.recording.background`). The spool holds the
run metadata and the undelivered rows, events and metrics, in the order
they were recorded: usually the tail of a run, not all of it. Loading one
says so in ``Trajectory.notes``, with the command that delivers it::

    traj = ps.replay.load("/tmp/paramsched-spool/mlflow-20261127T010000-123-0.jsonl")
    traj.notes   # ('spool of the mlflow recorder: 120 row(s) not delivered to mlflow://...; ...',)

Claimed: a ``.jsonl`` file whose first line is a spool header (``spool://PATH``
too). Plain JSON only: nothing read from a spool is imported or evaluated.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
>>> _ = path.write_text('{"metadata": {"series": ["hp/lr/g0"]}, "spool": "paramsched.spool/1", '
...                     '"backend": "tcp", "target": {}}\\n{"seq": 0, "step": 0, "time": 1, "values": {"hp/lr/g0": 0.1}}\\n')
>>> SpoolSource().load(path).frame["hp/lr/g0"].tolist()
[0.1]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paramsched.checks import describe
from paramsched.events import supersede
from paramsched.recording.background import SPOOL_FORMAT, read_spool_file
from paramsched.replay._columns import table_columns
from paramsched.replay.sources import Source
from paramsched.replay.trajectory import Trajectory

__all__ = ["SpoolSource", "is_spool_file"]

_HEADER_PEEK = 1 << 20  # bytes of the first line read to recognise a spool


def is_spool_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a ``.jsonl`` file whose first line is a spool header (cheap)."""
    path = Path(path)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline(_HEADER_PEEK)
        header = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(header, dict) and ("metadata" in header and (
        header.get("spool") == SPOOL_FORMAT or "backend" in header or len(header) == 1))


class SpoolSource(Source):
    """A recorder's spool file (``paramsched spool list`` shows where they are)."""

    name = "spool"
    accepts = "a recorder's spool file (.jsonl, see `paramsched spool list`)"

    def claims(self, obj: Any) -> bool:
        if isinstance(obj, str) and "://" in obj:
            return obj.lower().startswith("spool://")
        return isinstance(obj, (str, os.PathLike)) and is_spool_file(obj)

    def load(self, obj: str | os.PathLike[str], *, keymap: Any = None) -> Trajectory:
        """Read the spool's rows (steps sorted, the last row of a step kept), events and metrics."""
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"the spool source reads a path, got {describe(obj)}")
        text = os.fspath(obj)
        if text.lower().startswith("spool://"):
            text = text[len("spool://"):]
        if not os.path.exists(text):
            raise FileNotFoundError(f"no spool at {text!r}: the path does not exist")
        spool = read_spool_file(text)
        label = os.fspath(spool.path)
        rows = spool.rows
        if not rows:
            raise ValueError(f"{label}: the spool holds no rows of values (events: {len(spool.events)})")
        frame, more = table_columns(_table(rows), source=label, keymap=keymap)
        notes = [_describe(spool, label), *spool.notes, *more]
        return Trajectory(frame, spool.metadata, label, notes=notes, events=supersede(spool.events),
                          metrics=_metrics(spool.metrics))


def _table(rows: list[tuple[int, dict[str, float]]]) -> pd.DataFrame:
    names = list(dict.fromkeys(name for _, values in rows for name in values))
    data = {"step": np.array([step for step, _ in rows], dtype=np.int64)}
    for name in names:
        data[name] = np.array([values.get(name, np.nan) for _, values in rows], dtype=np.float64)
    return pd.DataFrame(data)


def _metrics(rows: list[tuple[int, dict[str, float]]]) -> pd.DataFrame | None:
    if not rows:
        return None
    long = pd.DataFrame(
        [(step, name, value) for step, values in rows for name, value in values.items()],
        columns=["step", "name", "value"],
    )
    wide = long.drop_duplicates(["step", "name"], keep="last").pivot(index="step", columns="name", values="value")
    wide = wide.sort_index()
    wide.index = wide.index.astype(np.int64)
    wide.index.name = "step"
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = None
    return wide.astype(np.float64)


def _describe(spool: Any, label: str) -> str:
    counts = spool.counts()
    steps = [step for step, _ in spool.rows]
    what = f"{counts['rows']} row(s) (steps {min(steps)}..{max(steps)}), {counts['events']} event(s), " \
           f"{counts['metrics']} metrics row(s)"
    backend = spool.backend or "unknown"
    if spool.delivered is not None:
        return (f"spool of the {backend} recorder: {what}, delivered to {spool.delivered.get('to')} at "
                f"{spool.delivered.get('at')}; it holds only what the tracker did not get at first, not the whole run")
    return (f"spool of the {backend} recorder: {what} not delivered to its tracker; it holds only those, "
            f"not the whole run; send them with: paramsched spool send {label}")
