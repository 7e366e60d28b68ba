"""`CsvSource`: read a CSV run (``<dir>/values.csv`` + ``<dir>/run.json``) or any CSV log.

The CSV run format (written by ``CsvRecorder`` and ``Trajectory.to_csv``):
``values.csv`` has the header ``step,<series...>`` and one row per step, each
float written with ``repr``; ``run.json`` holds the run metadata. Reading:

- floats are parsed exactly (``float(repr(x)) == x`` bit for bit);
- a step that appears twice (a resumed run appends rows) keeps its LAST row;
  steps out of order are sorted; both are listed in ``Trajectory.notes``;
- an unfinished last line (no newline at the end: the writer was killed
  mid-write) is not read, and is listed in the notes; so is a row with fewer
  cells than the header, a missing step, and a log that ends before
  ``total_steps``;
- the header's series must be among those ``run.json`` lists;
- an empty cell means "not logged at this step";
- a non-numeric or non-finite value is an error naming the file, the series
  and the step; nothing is ever unpickled or evaluated.

A directory without ``run.json`` (or a ``.csv`` file not named
``values.csv``) gives ``metadata=None``, except a ``metrics.csv`` with the
``run.json`` that paramsched's Lightning callback writes beside it (a
``CSVLogger`` log). Logs written by other tools (``LearningRateMonitor``'s
``metrics.csv``) are read with ``keymap=``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "values.csv").write_text("step,hp/lr/g0\\n0,0.1\\n1,0.30000000000000004\\n")
>>> CsvSource().load(folder).frame["hp/lr/g0"].tolist()
[0.1, 0.30000000000000004]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from paramsched.checks import describe
from paramsched.naming import STEP_SERIES
from paramsched.replay._columns import row_locator, table_columns
from paramsched.replay.sources import Source
from paramsched.replay.trajectory import Trajectory
from paramsched.runformat import (
    EVENTS_FILE,
    METADATA_FILE,
    METRICS_FILE,
    VALUES_FILE,
    read_events,
    read_metadata,
    read_metrics,
    read_table,
    write_run,
)

__all__ = ["CsvSource", "write_csv_run", "VALUES_FILE", "METADATA_FILE"]


class CsvSource(Source):
    """A CSV run directory, its ``values.csv``, or any ``.csv`` log (``csv://path`` too)."""

    name = "csv"
    accepts = "a CSV run directory holding values.csv, or a .csv file"

    def claims(self, obj: Any) -> bool:
        if isinstance(obj, str) and "://" in obj:
            return False
        if not isinstance(obj, (str, os.PathLike)):
            return False
        path = Path(obj)
        if path.is_dir():
            return (path / VALUES_FILE).is_file()
        return path.is_file() and path.suffix.lower() == ".csv"

    def load(
        self,
        obj: str | os.PathLike[str],
        *,
        keymap: Any = None,
        step_column: str | None = None,
    ) -> Trajectory:
        """Read the run at ``obj`` (a directory, ``values.csv``, any ``.csv`` or ``csv://path``)."""
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"the csv source reads a path, got {describe(obj)}")
        text = os.fspath(obj)
        if text.startswith("csv://"):
            text = text[len("csv://"):]
        path = Path(text)
        if path.is_dir():
            values_path = path / VALUES_FILE
            if not values_path.is_file():
                raise FileNotFoundError(f"{text!r} is a directory without {VALUES_FILE}: not a CSV run")
        elif path.exists():
            values_path = path
        else:
            raise FileNotFoundError(f"no run at {text!r}: the path does not exist")
        label = os.fspath(values_path)
        metadata = None
        events: list[dict[str, Any]] = []
        metrics = None
        table, notes = read_table(values_path, label)
        if values_path.name == VALUES_FILE:
            folder = values_path.parent
            metadata = read_metadata(folder / METADATA_FILE)
            if metadata is not None and keymap is None:
                notes += _check_header(table, metadata, label)
            events, event_notes = read_events(folder / EVENTS_FILE, label)
            notes += event_notes
            metrics = read_metrics(folder / METRICS_FILE, label)
        elif keymap is None and values_path.name == "metrics.csv" and not (values_path.parent / VALUES_FILE).exists():
            # A Lightning CSVLogger's metrics.csv, with the run.json (and events.jsonl) that
            # paramsched's Lightning callback writes beside it.
            metadata = read_metadata(values_path.parent / METADATA_FILE)
            listed = metadata.get("series") if metadata is not None else None
            others = [c for c in table.columns if c.startswith("hp/") and c != STEP_SERIES and c not in (listed or ())]
            if metadata is not None and (not isinstance(listed, list) or others):
                # Several writers share one logger (a callback per optimizer): run.json is the last one's.
                notes.append(
                    f"{label}: the {METADATA_FILE} beside it does not list the series {others}, so it "
                    "describes another writer of this file; read without the run metadata"
                )
                metadata = None
            if metadata is not None:
                notes += _check_header(table, metadata, label)
                listed = [c for c in listed if c in table.columns]
                table = table[[c for c in table.columns if c not in set(listed)] + listed]  # CSVLogger sorts them
                events, event_notes = read_events(values_path.parent / EVENTS_FILE, label)
                notes += event_notes
        frame, more, table_metrics = table_columns(
            table, source=label, keymap=keymap, step_column=step_column, locate=row_locator("line", 2),
            with_metrics=True, metadata=metadata,
        )
        if metrics is None:
            metrics = table_metrics
        return Trajectory(frame, metadata, label, notes=notes + list(more), events=events, metrics=metrics)


def _check_header(table: Any, metadata: dict[str, Any], label: str) -> list[str]:
    """The header's series against ``run.json``'s: an unknown one is an error (the two files
    describe different runs), a missing one a note."""
    listed = metadata.get("series")
    if not isinstance(listed, list):
        return []
    header = [c for c in table.columns if c.startswith("hp/") and c != STEP_SERIES]
    unknown = [c for c in header if c not in listed]
    if unknown:
        raise ValueError(
            f"{label}: the header holds series {unknown} that {METADATA_FILE} does not list "
            f"(it lists {listed}): values.csv and {METADATA_FILE} describe different runs"
        )
    missing = [c for c in listed if c not in header]
    if missing:
        return [f"{METADATA_FILE} lists series {missing} that values.csv does not hold"]
    return []


# Kept under its 0.1 name: the writer is paramsched.runformat.write_run.
write_csv_run = write_run
