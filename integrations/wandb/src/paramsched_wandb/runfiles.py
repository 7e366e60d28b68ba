"""The exact copy of a run inside a W&B run: a CSV run directory among the run's files.

:class:`~paramsched_wandb.WandbRecorder` keeps every recorded value, event
and metric in ``<run.dir>/paramsched/`` (``files/paramsched/`` in an offline
run directory, ``paramsched/...`` among the run's files on the server):

``values.f64``
    appended as the run goes: a JSON header line (the series), then one
    fixed-size little-endian record per step: the step (int64) and each
    series' value (float64, NaN when not recorded). Packing a row costs
    about a microsecond, where formatting it as CSV text costs twenty
    (``repr`` of 12 floats): the worker thread shares the GIL with training,
    so the run pays for the cheap form only. A record cut short by a kill is
    ignored (its step was not recorded).
``values.csv``
    the same rows as paramsched's CSV run format (:mod:`paramsched.runformat`,
    every float as ``repr``), written from ``values.f64`` at ``close()``
    (the "finalised" copy; a human reads it, and
    ``paramsched.replay.load("<run dir>/files/paramsched")`` reads it with the
    CSV source).
``run.json``, ``events.jsonl``, ``metrics.csv``
    the metadata document, the events and the metrics, as in a CSV run.

W&B uploads them (``run.save(..., policy="live")``). The W&B source reads
``values.f64`` (else ``values.csv``); the thinned chart in the history is only
the fallback for runs recorded before these files existed.

A resumed recorder (``metadata["resumed_from_step"] = r``) writing into the
folder of the run it resumes cuts ``values.f64`` back to the steps before
``r``, so every step is stored once; one writing a new folder (W&B makes a new
offline directory for ``wandb.init(id=..., resume=...)``) first copies the
steps before ``r`` from the folder of the earlier directory (``earlier=``), so
the newest copy, which is what W&B keeps once both are synced, holds the whole run.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / FOLDER
>>> files = RunFiles(folder, {"format": "paramsched.run/1", "series": ["hp/lr/g0"]})
>>> files.write_rows([(0, {"hp/lr/g0": 0.1}), (1, {"hp/lr/g0": 0.30000000000000004})])
>>> files.close()
>>> _ = files.finalise()  # close() of the recorder does this
>>> (folder / "values.csv").read_text()
'step,hp/lr/g0\\n0,0.1\\n1,0.30000000000000004\\n'
>>> read_packed(folder / PACKED_FILE)[1].tolist()
[[0.1], [0.30000000000000004]]
"""

from __future__ import annotations

import json
import operator
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.runformat import (
    EVENTS_FILE,
    METADATA_FILE,
    METRICS_FILE,
    VALUES_FILE,
    event_line,
    format_row,
    header_line,
    metric_lines,
    utc_now,
    write_json_atomic,
)

__all__ = ["FILES", "FOLDER", "PACKED_FILE", "PACKED_FORMAT", "RunFiles", "read_packed"]

FOLDER = "paramsched"
"""The folder, among a W&B run's files, that holds the exact copy."""
PACKED_FILE = "values.f64"
PACKED_FORMAT = "paramsched.values-f64/1"
FILES = (PACKED_FILE, VALUES_FILE, METADATA_FILE, EVENTS_FILE, METRICS_FILE)
_METRICS_HEADER = "step,name,value\n"
_NAN = float("nan")


def _header(series: Sequence[str]) -> bytes:
    return (json.dumps({"format": PACKED_FORMAT, "series": list(series)}) + "\n").encode()


def read_packed(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """``(steps, values, series, cut)`` of a ``values.f64`` file.

    ``values`` is a float64 matrix (one row per record, one column per
    series, NaN where a series was not recorded); ``cut`` is the number of
    bytes after the last whole record (a record cut short by a kill: 0 for a
    whole file). Raises ``ValueError`` naming the file when its header is not
    a ``values.f64`` header.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / PACKED_FILE
    >>> _ = path.write_bytes(_header(["hp/lr/g0"]) + struct.pack("<qd", 0, 0.5) + b"\\x01")
    >>> steps, values, series, cut = read_packed(path)
    >>> steps.tolist(), values.tolist(), series, cut
    ([0], [[0.5]], ['hp/lr/g0'], 1)
    """
    data = Path(path).read_bytes()
    end = data.find(b"\n")
    try:
        header = json.loads(data[:end]) if end > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != PACKED_FORMAT or not isinstance(header.get("series"), list):
        raise ValueError(
            f"{os.fspath(path)!r} is not a paramsched {PACKED_FILE} file: expected a JSON header line "
            f"with format {PACKED_FORMAT!r} and the series, got {data[:60]!r}"
        )
    series = [str(s) for s in header["series"]]
    body = memoryview(data)[end + 1 :]
    width = 8 * (1 + len(series))
    count, cut = divmod(len(body), width)
    record = np.dtype([("step", "<i8"), ("values", "<f8", (len(series),))])
    table = np.frombuffer(body[: count * width], dtype=record)
    return table["step"].astype(np.int64), table["values"].astype(np.float64).reshape(count, len(series)), series, cut


class RunFiles:
    """Appends rows, events and metrics to a run's ``paramsched/`` folder (worker thread only).

    A new run replaces what ``folder`` held; a resumed one continues it (see
    the module docstring). Raises ``OSError`` when the disk refuses a write;
    a write cut short is undone, so a retry writes each row once.

    Args:
        folder: the ``paramsched/`` folder of the run.
        metadata: the run metadata document (its ``series`` set the columns).
        earlier: a resumed run's earlier ``paramsched/`` folder (another
            directory of the same W&B run) to take the steps before the
            resumed step from.
        continue_at: a spool delivered later (``paramsched spool send``):
            keep (or take from ``earlier``) the steps before this one, as a
            resume does, without adding a resume to the metadata.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        metadata: Mapping[str, Any],
        *,
        earlier: str | os.PathLike[str] | None = None,
        continue_at: int | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.series: tuple[str, ...] = tuple(metadata.get("series") or ())
        width = len(self.series)
        self._record = struct.Struct(f"<q{width}d")
        self._pick = operator.itemgetter(*self.series) if width > 1 else None
        self.folder.mkdir(parents=True, exist_ok=True)
        packed = self.folder / PACKED_FILE
        header = _header(self.series)
        resumed = metadata.get("resumed_from_step")
        resumed = resumed if isinstance(resumed, int) and not isinstance(resumed, bool) else None
        keep_before = continue_at if continue_at is not None else resumed
        self.rows_written = 0
        if keep_before is not None and _starts_with(packed, header):
            self._fd = os.open(packed, os.O_RDWR | os.O_APPEND)
            self._cut_from(header, keep_before)
            if continue_at is None:
                self._add_resume(metadata, resumed)
        else:
            self._fd = os.open(packed, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            _write_all(self._fd, header)
            for name in (VALUES_FILE, EVENTS_FILE, METRICS_FILE):
                (self.folder / name).unlink(missing_ok=True)
            document = dict(metadata)
            if keep_before is not None and earlier is not None:
                document = self._take_earlier(Path(earlier), metadata, keep_before, resume=continue_at is None)
            write_json_atomic(self.folder / METADATA_FILE, document, durable=False)
        self.paths: list[Path] = [packed, self.folder / METADATA_FILE]

    # -- writing ----------------------------------------------------------------------

    def pack(self, rows: Sequence[tuple[int, Mapping[str, float]]]) -> bytes:
        """The ``values.f64`` records of ``[(step, {series: value})]`` (a missing series is NaN)."""
        pack, pick, series = self._record.pack, self._pick, self.series
        out = []
        for step, values in rows:
            try:
                cells = pick(values) if pick is not None else tuple(values[s] for s in series)
            except KeyError:
                cells = tuple(values.get(s, _NAN) for s in series)
            out.append(pack(step, *cells))
        return b"".join(out)

    def unpack(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of records made by :meth:`pack` (no copy)."""
        width = len(self.series)
        record = np.dtype([("step", "<i8"), ("values", "<f8", (width,))])
        table = np.frombuffer(data, dtype=record)
        return table["step"], table["values"].reshape(len(table), width)

    def write_packed(self, data: bytes) -> None:
        """Append records made by :meth:`pack` (one ``os.write``; a write cut short is undone)."""
        _append(self._fd, data)
        self.rows_written += len(data) // self._record.size

    def write_rows(self, rows: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """Append ``[(step, {series: value})]``; a series missing from a row is not recorded (NaN)."""
        self.write_packed(self.pack(rows))

    def write_events(self, events: Sequence[Mapping[str, Any]]) -> Path:
        """Append event records to ``events.jsonl``; returns its path."""
        path = self.folder / EVENTS_FILE
        _append_file(path, "".join(event_line(e) for e in events), header="")
        return path

    def write_metrics(self, rows: Sequence[tuple[int, Mapping[str, float]]]) -> Path:
        """Append ``[(step, {name: value})]`` to ``metrics.csv``; returns its path."""
        path = self.folder / METRICS_FILE
        _append_file(path, "".join(metric_lines(step, metrics) for step, metrics in rows), header=_METRICS_HEADER)
        return path

    def sync(self) -> None:
        """fsync ``values.f64`` (a checkpoint: what was written survives a power cut)."""
        if self._fd is not None:
            os.fsync(self._fd)

    def finalise(self) -> Path:
        """Write ``values.csv`` from ``values.f64`` (atomically); returns its path."""
        steps, values, _, _ = read_packed(self.folder / PACKED_FILE)
        lines = [header_line(self.series) + "\n"]
        lines.extend(format_row(step, row) for step, row in zip(steps.tolist(), values.tolist(), strict=True))
        path = self.folder / VALUES_FILE
        temp = path.with_name(f".{VALUES_FILE}.{os.getpid()}.tmp")
        temp.write_text("".join(lines), encoding="utf-8")
        os.replace(temp, path)
        return path

    def close(self) -> None:
        """Close ``values.f64`` (idempotent); :meth:`finalise` writes the CSV copy."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- resuming -----------------------------------------------------------------------

    def _cut_from(self, header: bytes, step: int) -> None:
        """Drop a torn last record and every record from the first one at ``step`` or later."""
        fd = self._fd
        size = os.fstat(fd).st_size
        body = size - len(header)
        width = self._record.size
        keep = body - body % width
        if keep:
            data = os.pread(fd, keep, len(header))
            steps = np.frombuffer(data, dtype="<i8")[:: 1 + len(self.series)]
            later = np.flatnonzero(steps >= step)
            if len(later):
                keep = int(later[0]) * width
        if len(header) + keep != size:
            os.ftruncate(fd, len(header) + keep)
        self.rows_written = keep // width

    def _take_earlier(self, earlier: Path, metadata: Mapping[str, Any], step: int, *, resume: bool) -> dict[str, Any]:
        """Copy the earlier folder's steps (and events, metrics) before ``step``; the metadata
        document to write: the earlier one (with this resume added, when ``resume``), else ``metadata``."""
        from paramsched.runformat import read_events, read_metadata, read_metrics, read_table

        steps = values = None
        packed = earlier / PACKED_FILE
        if packed.is_file():
            try:
                steps, values, series, _ = read_packed(packed)
            except (OSError, ValueError):
                steps = None
            else:
                if tuple(series) != self.series:
                    steps = None
        elif (earlier / VALUES_FILE).is_file():
            table, _ = read_table(earlier / VALUES_FILE, os.fspath(earlier))
            if [c for c in table.columns if c != "step"] == list(self.series):
                steps = table["step"].to_numpy(dtype=np.int64)
                values = table[list(self.series)].to_numpy(dtype=np.float64)
        if steps is not None and values is not None:
            kept = steps < step
            rows = [(int(s), dict(zip(self.series, row, strict=True))) for s, row in zip(steps[kept], values[kept].tolist())]
            self.write_rows(rows)
        events, _ = read_events(earlier / EVENTS_FILE, os.fspath(earlier))
        before = [e for e in events if isinstance(e.get("step"), int) and e["step"] < step]
        if before:
            self.write_events(before)
        metrics = read_metrics(earlier / METRICS_FILE, os.fspath(earlier))
        if metrics is not None:
            rows = []
            for k, row in metrics[metrics.index < step].iterrows():
                kept_metrics = {str(name): float(v) for name, v in row.items() if v == v}
                if kept_metrics:
                    rows.append((int(k), kept_metrics))
            if rows:
                self.write_metrics(rows)
        document = read_metadata(earlier / METADATA_FILE)
        if document is None or document.get("series") != list(self.series):
            return dict(metadata)
        if resume:
            document.setdefault("resumes", []).append(
                {"at_step": step, "created_at": metadata.get("created_at") or utc_now()}
            )
        return document

    def _add_resume(self, metadata: Mapping[str, Any], resumed: Any) -> None:
        path = self.folder / METADATA_FILE
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError):
            document = dict(metadata)
        document.setdefault("resumes", []).append(
            {"at_step": resumed, "created_at": metadata.get("created_at") or utc_now()}
        )
        write_json_atomic(path, document, durable=False)


def _starts_with(path: Path, header: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(header)) == header
    except OSError:
        return False


def _append(fd: int, data: bytes | str) -> None:
    """One ``os.write`` of whole records or lines; a write cut short is truncated back."""
    if not data:
        return
    if isinstance(data, str):
        data = data.encode()
    before = os.fstat(fd).st_size
    try:
        _write_all(fd, data)
    except OSError:
        try:
            os.ftruncate(fd, before)
        except OSError:
            pass
        raise


def _append_file(path: Path, text: str, *, header: str) -> None:
    if not text:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if header and os.fstat(fd).st_size == 0:
            text = header + text
        _append(fd, text)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
