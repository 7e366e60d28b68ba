"""Backend adapters: what the contract suites need from a recorder or a source, and the core's own.

A backend author writes one small adapter per backend and hands it to the
suites in :mod:`paramsched.testing.contracts` through a ``backend`` fixture:

- :class:`RecorderBackend` makes recorders that write into one run of the
  backend and loads that run back as a :class:`~paramsched.replay.Trajectory`;
  it may also cut the backend off (``outage`` / ``restore``) and say what a
  recorder left in its spool.
- :class:`SourceBackend` writes a log exactly as given (a step twice, a step
  missing) and loads it; it may also cut the log inside its last row.

An adapter instance serves one test: one run, fresh storage. This module
ships the adapters of the core: :class:`CsvBackend` (both roles) and
:class:`ListBackend`, the in-memory reference that passes every contract.

>>> import tempfile
>>> backend = CsvBackend(tempfile.mkdtemp())
>>> from paramsched.testing.helpers import make_metadata
>>> rec = backend.make_recorder()
>>> rec.start(make_metadata(["hp/lr/g0"]))
>>> rec.record(0, {"hp/lr/g0": 0.1}); rec.close()
>>> backend.load().frame["hp/lr/g0"].tolist()
[0.1]
"""

from __future__ import annotations

import abc
import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramsched.recording.base import Recorder
from paramsched.testing.helpers import Row, read_spooled_rows, record_log, rows_frame
from paramsched.testing.recorders import ListRecorder

if TYPE_CHECKING:
    import pandas as pd

    from paramsched.recording.csv import CsvRecorder
    from paramsched.replay.trajectory import Trajectory

__all__ = ["CsvBackend", "FullDiskOutage", "ListBackend", "RecorderBackend", "SourceBackend", "rows_trajectory"]


class RecorderBackend(abc.ABC):
    """Adapter between :class:`~paramsched.testing.RecorderContract` and one backend (one run).

    Implement :meth:`make_recorder` and :meth:`load`; override the flags and
    the optional methods where the backend differs.

    Flags (class attributes):
        keeps_negative_zero: False when the store turns ``-0.0`` into ``0.0``
            (SQLite does); the round trip then checks ``==`` only.
        stores_metadata: False when the backend keeps values only (the run
            metadata document does not come back in ``Trajectory.metadata``).
        readable_before_close: False when values handed over by ``flush()``
            reach the place :meth:`load` reads only later (an SDK that writes
            its files in its own process), so the flush test is skipped.
    """

    keeps_negative_zero: bool = True
    stores_metadata: bool = True
    readable_before_close: bool = True

    @abc.abstractmethod
    def make_recorder(self, *, resume: bool = False) -> Recorder:
        """A new, not yet started recorder writing into this adapter's run.

        ``resume=True``: a recorder that continues the run the previous
        recorder wrote, as a run resumed from a checkpoint does (the contract
        starts it with ``resumed_from_step`` set in the metadata).
        """

    @abc.abstractmethod
    def load(self) -> Trajectory:
        """The run, read back through the backend's replay source."""

    def stored_rows(self) -> list[Row] | None:
        """Every row as the backend holds it, in storage order, a step stored twice
        included; ``None`` (the default) when the backend cannot list them."""
        return None

    def outage(self, recorder: Recorder) -> None:
        """Make the backend unreachable for ``recorder`` (a real failure: a full disk, a
        refused connection). Optional: the outage test is skipped when not implemented."""
        raise NotImplementedError

    def restore(self, recorder: Recorder) -> None:
        """End the outage. A backend that cannot come back (a run that was finished
        under the recorder) does nothing: the values must then be in the spool."""
        raise NotImplementedError

    def spooled_rows(self, recorder: Recorder) -> list[Row]:
        """The rows ``recorder`` kept in its spool after ``close()`` (default:
        :func:`~paramsched.testing.helpers.read_spooled_rows`)."""
        return read_spooled_rows(recorder)

    @property
    def can_fail(self) -> bool:
        """True when this adapter implements :meth:`outage`."""
        return type(self).outage is not RecorderBackend.outage

    @property
    def can_list_rows(self) -> bool:
        """True when this adapter implements :meth:`stored_rows`."""
        return type(self).stored_rows is not RecorderBackend.stored_rows


class SourceBackend(abc.ABC):
    """Adapter between :class:`~paramsched.testing.SourceContract` and one backend's source.

    Implement :meth:`write` and :meth:`load`; :meth:`cut_last_row` is optional.

    Flags (class attributes): ``keeps_negative_zero`` (as for
    :class:`RecorderBackend`), ``stores_metadata`` (the metadata document
    comes back), ``stores_events`` and ``stores_metrics`` (the log can hold
    events / training metrics, and the source reads them back).
    """

    keeps_negative_zero: bool = True
    stores_metadata: bool = True
    stores_events: bool = False
    stores_metrics: bool = False

    @abc.abstractmethod
    def write(
        self,
        rows: Sequence[Row],
        metadata: Mapping[str, Any],
        *,
        events: Sequence[Mapping[str, Any]] = (),
        metrics: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        """Write a log holding exactly ``rows`` in that order (a step may appear twice, a
        step may be missing), as the backend's own writer leaves it; ``metrics`` maps
        steps to ``{name: value}``."""

    @abc.abstractmethod
    def load(self) -> Trajectory:
        """The log written by :meth:`write`, through the source under test."""

    def cut_last_row(self) -> None:
        """Cut the log inside its last row, as a writer killed mid-write leaves it.
        Optional: the test is skipped when not implemented."""
        raise NotImplementedError

    @property
    def can_cut(self) -> bool:
        """True when this adapter implements :meth:`cut_last_row`."""
        return type(self).cut_last_row is not SourceBackend.cut_last_row


def rows_trajectory(
    rows: Sequence[Row],
    metadata: Mapping[str, Any] | None,
    source: str,
    *,
    events: Iterable[Mapping[str, Any]] = (),
    metrics: Iterable[tuple[int, Mapping[str, float]]] = (),
) -> Trajectory:
    """A :class:`~paramsched.replay.Trajectory` of rows in recording order, as a source
    builds it: a step recorded twice keeps its last row (with a note), events go
    through :func:`~paramsched.events.supersede`, metrics keep the last value of a
    (step, name)."""
    from paramsched.events import supersede
    from paramsched.replay.trajectory import Trajectory

    traj = Trajectory.from_wide(rows_frame(rows), metadata=metadata, source=source)
    return Trajectory(
        traj.frame, traj.metadata, source, notes=traj.notes, events=supersede(events),
        metrics=_metrics_frame(metrics),
    )


def _metrics_frame(metrics: Iterable[tuple[int, Mapping[str, float]]]) -> pd.DataFrame | None:
    import numpy as np
    import pandas as pd

    table: dict[int, dict[str, float]] = {}
    for step, values in metrics:
        table.setdefault(int(step), {}).update({str(k): float(v) for k, v in values.items()})
    if not table:
        return None
    names = list(dict.fromkeys(name for values in table.values() for name in values))
    steps = sorted(table)
    data = {name: np.array([table[s].get(name, math.nan) for s in steps], dtype=np.float64) for name in names}
    return pd.DataFrame(data, index=pd.Index(steps, dtype=np.int64, name="step"))


# -- the in-memory reference ------------------------------------------------------------


class ListBackend(RecorderBackend, SourceBackend):
    """The in-memory reference backend: :class:`ListRecorder` runs, read back as a source would.

    A resumed recorder's rows and metrics replace the earlier ones from its
    ``resumed_from_step`` on, so the log holds each step once. It passes every
    contract (no outage, no cut: those tests are skipped).
    """

    stores_events = True
    stores_metrics = True

    def __init__(self) -> None:
        self.recorders: list[ListRecorder] = []

    def make_recorder(self, *, resume: bool = False) -> ListRecorder:
        if resume and not self.recorders:
            raise ValueError("resume=True needs an earlier recorder of this backend to resume")
        if not resume:
            self.recorders.clear()
        recorder = ListRecorder()
        self.recorders.append(recorder)
        return recorder

    def write(
        self,
        rows: Sequence[Row],
        metadata: Mapping[str, Any],
        *,
        events: Sequence[Mapping[str, Any]] = (),
        metrics: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        record_log(self.make_recorder(), rows, metadata, events=events, metrics=metrics)

    def stored_rows(self) -> list[Row]:
        rows, _ = self._merged()
        return rows

    def load(self) -> Trajectory:
        rows, metrics = self._merged()
        events = [event for rec in self.recorders for event in rec.events]
        first = self.recorders[0].metadata if self.recorders else None
        metadata = None if first is None else dict(first)
        resumes = [r.metadata["resumed_from_step"] for r in self.recorders[1:] if r.metadata]
        if metadata is not None and resumes:
            metadata["resumes"] = [{"at_step": step} for step in resumes]
        return rows_trajectory(rows, metadata, "list backend", events=events, metrics=metrics)

    def _merged(self) -> tuple[list[Row], list[tuple[int, dict[str, float]]]]:
        rows: list[Row] = []
        metrics: list[tuple[int, dict[str, float]]] = []
        for rec in self.recorders:
            resumed = (rec.metadata or {}).get("resumed_from_step")
            if resumed is not None:
                rows = [row for row in rows if row[0] < resumed]
                metrics = [item for item in metrics if item[0] < resumed]
            rows += rec.rows
            metrics += rec.metrics
        return rows, metrics


# -- the core's CSV run directory -------------------------------------------------------


class FullDiskOutage:
    """An outage for a recorder that writes one open file: that file becomes ``/dev/full``.

    Mix it into a :class:`RecorderBackend` whose recorders keep the file they
    write in ``recorder._fd`` (an OS file descriptor): every write then fails
    with a real ``ENOSPC`` until :meth:`restore` puts the file back.
    :attr:`can_fail` is False where ``/dev/full`` does not exist. Put it first
    among the bases, so that its ``outage`` is the one used::

        class TensorBoardBackend(FullDiskOutage, RecorderBackend, SourceBackend):
            ...
    """

    _saved_fd: int | None = None

    @property
    def can_fail(self) -> bool:
        return os.path.exists("/dev/full")

    def outage(self, recorder: Recorder) -> None:
        fd = recorder._fd  # type: ignore[attr-defined]
        self._saved_fd = os.dup(fd)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)

    def restore(self, recorder: Recorder) -> None:
        if self._saved_fd is None:
            return
        os.dup2(self._saved_fd, recorder._fd)  # type: ignore[attr-defined]
        os.close(self._saved_fd)
        self._saved_fd = None


class CsvBackend(FullDiskOutage, RecorderBackend, SourceBackend):
    """:class:`~paramsched.recording.CsvRecorder` and :class:`~paramsched.replay.sources.csv.CsvSource`
    on one run directory.

    ``recorder_options`` go to every ``CsvRecorder`` (e.g. ``flush_every=7``).
    The outage is a full disk for the open ``values.csv`` (:class:`FullDiskOutage`).
    """

    stores_events = True
    stores_metrics = True

    def __init__(self, path: str | os.PathLike[str], **recorder_options: Any) -> None:
        self.path = Path(path)
        self.recorder_options = recorder_options

    def make_recorder(self, *, resume: bool = False) -> CsvRecorder:
        from paramsched.recording.csv import CsvRecorder

        return CsvRecorder(self.path, **self.recorder_options)

    def load(self) -> Trajectory:
        from paramsched.replay.sources.csv import CsvSource

        return CsvSource().load(self.path)

    def stored_rows(self) -> list[Row]:
        """Every row of ``values.csv``, parsed with ``int`` / ``float`` (no pandas)."""
        with open(self.path / "values.csv", newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
        header = lines[0][1:]
        return [
            (int(line[0]), {n: float(v) for n, v in zip(header, line[1:], strict=True) if v != ""})
            for line in lines[1:]
        ]

    # -- source role: write a run directory by hand -----------------------------------

    def write(
        self,
        rows: Sequence[Row],
        metadata: Mapping[str, Any],
        *,
        events: Sequence[Mapping[str, Any]] = (),
        metrics: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        from paramsched.runformat import (
            EVENTS_FILE,
            METADATA_FILE,
            METRICS_FILE,
            VALUES_FILE,
            event_line,
            format_row,
            header_line,
            write_json_atomic,
        )

        series = list(metadata["series"])
        self.path.mkdir(parents=True, exist_ok=True)
        text = header_line(series) + "\n" + "".join(format_row(step, [values[s] for s in series]) for step, values in rows)
        (self.path / VALUES_FILE).write_text(text, encoding="utf-8")
        write_json_atomic(self.path / METADATA_FILE, dict(metadata))
        if events:
            (self.path / EVENTS_FILE).write_text("".join(event_line(e) for e in events), encoding="utf-8")
        if metrics:
            from paramsched.runformat import metric_lines

            lines = "".join(metric_lines(step, values) for step, values in sorted(metrics.items()))
            (self.path / METRICS_FILE).write_text("step,name,value\n" + lines, encoding="utf-8")

    def cut_last_row(self) -> None:
        values = self.path / "values.csv"
        data = values.read_bytes()
        start = data.rstrip(b"\n").rfind(b"\n") + 1
        values.write_bytes(data[: start + (len(data) - start) // 2])

    def __repr__(self) -> str:
        return f"CsvBackend({os.fspath(self.path)!r})"
