"""`TensorBoardRecorder`: every applied value to a TensorBoard log directory, as float64 scalars.

Each recorder writes one event file of its own in ``log_dir``
(``events.out.tfevents.<time>.<host>.<pid>.<n>.paramsched``), which
TensorBoard shows beside any other file of the same directory (a Lightning
``TensorBoardLogger``'s, a ``SummaryWriter``'s):

- one event per step holding every series ``hp/<key>/<group>`` as a
  float64 scalar (the shape ``SummaryWriter.add_scalar(..., new_style=True,
  double_precision=True)`` writes), so replay reads back the same bits;
- the run metadata as a text summary ``paramsched/run`` (a JSON document)
  at the first recorded step, and each event (:mod:`paramsched.events`) as
  a text summary ``paramsched/event``; TensorBoard shows both in its Text tab;
- training metrics (``record_metrics``) as float64 scalars under their own names.

Rows are buffered and written every ``flush_every`` rows or ``flush_secs``
seconds, whichever comes first, each write one ``os.write`` of whole
records; ``flush()`` (every checkpoint) writes and fsyncs. Encoding a row
costs a few microseconds (see :mod:`paramsched_tensorboard._records`):
torch's ``SummaryWriter`` spent ~770 us per step on 12 scalars here, most of
it in a pure-Python CRC.

A resumed run (``metadata["resumed_from_step"]`` set) writes a new file in
the same directory; the reader drops what the earlier files hold from the
resumed step on (TensorBoard itself purges such orphaned steps too).

>>> import tempfile
>>> rec = TensorBoardRecorder(tempfile.mkdtemp())
>>> rec.start({"format": "paramsched.run/1", "series": ["hp/lr/g0"], "resumed_from_step": None})
>>> rec.record(0, {"hp/lr/g0": 0.1}); rec.close()
"""

from __future__ import annotations

import atexit
import datetime
import itertools
import json
import os
import socket
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import check_choice, check_positive_int, check_real, describe
from paramsched.events import check_event
from paramsched.naming import in_series_order
from paramsched.recording.base import Recorder, RunMetadata, metadata_series
from paramsched.recording.errors import RecorderError
from paramsched_tensorboard._records import (
    EVENT_TAG,
    METADATA_TAG,
    RowEncoder,
    file_version_event,
    frame,
    text_event,
)

__all__ = ["TensorBoardRecorder", "FILE_SUFFIX"]

FILE_SUFFIX = ".paramsched"
"""The end of the name of every event file a TensorBoardRecorder writes."""
_counter = itertools.count()


class TensorBoardRecorder(Recorder):
    """Record every applied value to ``log_dir`` (``recorders=["tensorboard:runs/tb"]``).

    Args:
        log_dir: the TensorBoard run directory (created if needed); default
            ``runs/<date>_<time>_<host>``, chosen in ``start()``, as torch's
            ``SummaryWriter`` does.
        flush_every: rows buffered before they are written.
        flush_secs: the longest a recorded row waits before it is written
            (checked when the next row is recorded), so a live TensorBoard
            keeps up with a slow run.
        on_error: what a failed write (disk full, ...) does. ``"warn"``
            (default): one warning, training goes on, the rows stay in memory
            and are written at the next write that succeeds; rows still
            unwritten at ``close()`` go to a spool file (JSON lines, see
            :func:`paramsched.recording.read_spool`) named in a warning.
            ``"raise"``: :class:`~paramsched.recording.RecorderError`.

    ``start()`` raises :class:`~paramsched.recording.RecorderError` when it
    cannot create the directory or its file: a wrong path, not an outage.
    """

    name = "tensorboard"
    stores_events = True
    stores_metrics = True

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        flush_every: int = 100,
        flush_secs: float = 10.0,
        on_error: str = "warn",
    ) -> None:
        if log_dir is not None and (not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir)):
            raise TypeError(f"log_dir must be a directory path (str or os.PathLike) or None, got log_dir={describe(log_dir)}")
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.flush_every = check_positive_int("flush_every", flush_every)
        self.flush_secs = check_real("flush_secs", flush_secs)
        if not self.flush_secs > 0:
            raise ValueError(f"flush_secs must be a number of seconds > 0, got flush_secs={flush_secs!r}")
        self.on_error = check_choice("on_error", on_error, ("warn", "raise"))
        self.path: Path | None = None  # the event file, once started
        self.spool_path: Path | None = None
        self._fd: int | None = None
        self._closed = False
        self._series: tuple[str, ...] = ()
        self._metadata: RunMetadata = {}
        self._rows: list[tuple[int, float, list[float]]] = []  # recorded, not yet encoded
        self._pending: list[bytes] = []  # encoded events (rows, texts, metrics) not yet written
        self._pending_rows: list[tuple[int, float, list[float]]] = []  # the rows among them, for a spool
        self._encoder: RowEncoder | None = None
        self._metric_encoders: dict[tuple[str, ...], RowEncoder] = {}
        self._write_at = self.flush_every
        self._deadline = 0.0
        self._failing = False
        self._warned = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Create the directory and the event file; write the header and the run metadata."""
        if self._fd is not None or self._closed:
            raise RuntimeError(f"tensorboard recorder for {self._where()}: start() was already called")
        self._series = metadata_series(metadata)
        self._metadata = dict(metadata)
        self._encoder = RowEncoder(self._series)
        folder = self.log_dir if self.log_dir is not None else _default_log_dir()
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{next(_counter)}{FILE_SUFFIX}"
        resumed = metadata.get("resumed_from_step")
        first_step = resumed if isinstance(resumed, int) and not isinstance(resumed, bool) else 0
        try:
            text = json.dumps(self._metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the run metadata must be plain JSON: {exc}") from exc
        header = frame([file_version_event(now), text_event(METADATA_TAG, text, first_step, now)])
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / name
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            _write_all(self._fd, header)
        except OSError as exc:
            raise RecorderError("tensorboard", f"cannot write the event file in {os.fspath(folder)!r}: {exc}") from exc
        self.log_dir = folder
        self._deadline = time.monotonic() + self.flush_secs
        atexit.register(self._close_at_exit)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer one row (written every ``flush_every`` rows or ``flush_secs`` seconds)."""
        if self._fd is None:
            raise RuntimeError(
                f"tensorboard recorder for {self._where()}: record() needs start() first and must come before close()"
            )
        if tuple(values) != self._series:
            values = in_series_order(values, self._series)
        self._rows.append((step, time.time(), list(values.values())))
        if len(self._rows) >= self._write_at or time.monotonic() >= self._deadline:
            self._write()

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Keep one event record (a text summary ``paramsched/event`` at the event's step)."""
        if self._fd is None:
            raise RuntimeError(f"tensorboard recorder for {self._where()}: record_event() needs start() first")
        checked = check_event(event, "tensorboard recorder: event")
        self._encode_rows()  # keep the order in which things happened
        self._pending.append(text_event(EVENT_TAG, json.dumps(checked, allow_nan=False), checked["step"], time.time()))

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Keep training metrics (``{"loss": 0.42}``) as float64 scalars under their own names."""
        if self._fd is None:
            raise RuntimeError(f"tensorboard recorder for {self._where()}: record_metrics() needs start() first")
        if not isinstance(metrics, Mapping) or not metrics:
            raise TypeError(f"metrics must be a non-empty dict {{name: value}}, got metrics={describe(metrics)}")
        names = tuple(metrics)
        for name in names:
            if not isinstance(name, str) or not name or name.startswith("hp/"):
                raise ValueError(f"metric names must be non-empty strings not starting with 'hp/', got {name!r}")
        encoder = self._metric_encoders.get(names)
        if encoder is None:
            encoder = self._metric_encoders[names] = RowEncoder(names)
        self._encode_rows()
        self._pending.append(encoder.encode(step, time.time(), [float(v) for v in metrics.values()]))

    def flush(self) -> None:
        """Write what is buffered and fsync the file: everything recorded so far is on disk."""
        self._write(durable=True)

    def close(self) -> None:
        """Write what is buffered, fsync and close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._fd is None:
            return
        atexit.unregister(self._close_at_exit)
        try:
            self._write(durable=True, closing=True)
        finally:
            os.close(self._fd)
            self._fd = None
            if self._pending:
                self._spool()

    # -- writing -----------------------------------------------------------------------

    def _encode_rows(self) -> None:
        if not self._rows:
            return
        encode = self._encoder.encode  # type: ignore[union-attr]
        self._pending.extend([encode(step, wall, values) for step, wall, values in self._rows])
        self._pending_rows.extend(self._rows)
        self._rows = []

    def _write(self, *, durable: bool = False, closing: bool = False) -> None:
        if self._fd is None:
            return
        self._encode_rows()
        self._deadline = time.monotonic() + self.flush_secs
        if not self._pending:
            if durable:
                self._fsync(closing)
            return
        data = frame(self._pending)
        before = None
        try:
            before = os.fstat(self._fd).st_size
            _write_all(self._fd, data)
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            if before is not None:
                try:  # no half record may stay behind: the retry writes every record once
                    os.ftruncate(self._fd, before)
                except OSError:
                    pass
            self._write_at = max(2 * len(self._pending_rows), self.flush_every)  # back off
            if not closing or self.on_error == "raise":
                self._write_failed(exc)
            return
        self._pending = []
        self._pending_rows = []
        self._write_at = self.flush_every
        self._failing = False

    def _fsync(self, closing: bool) -> None:
        try:
            os.fsync(self._fd)  # type: ignore[arg-type]
        except OSError as exc:
            if not closing or self.on_error == "raise":
                self._write_failed(exc)

    def _write_failed(self, exc: OSError) -> None:
        self._failing = True
        message = (
            f"cannot write {os.fspath(self.path)!r} ({exc}); {len(self._pending_rows)} row(s) are kept in "
            "memory and written at the next successful write"
        )
        if self.on_error == "raise":
            raise RecorderError("tensorboard", message) from exc
        if not self._warned:
            self._warned = True
            warnings.warn(f"paramsched: tensorboard recorder: {message}; training goes on", RuntimeWarning, stacklevel=4)

    def _spool(self) -> None:
        """At close, rows the log directory refused go to a spool file (JSON lines), named in a warning."""
        from paramsched.recording.background import default_spool_dir

        rows = self._pending_rows
        others = len(self._pending) - len(rows)
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        spool = default_spool_dir() / f"tensorboard-{stamp}-{os.getpid()}-{id(self):x}.jsonl"
        lines = [json.dumps({"metadata": self._metadata}) + "\n"]
        lines += [
            json.dumps({"step": step, "time": int(wall * 1000), "values": dict(zip(self._series, values))}) + "\n"
            for step, wall, values in rows
        ]
        try:
            spool.parent.mkdir(parents=True, exist_ok=True)
            with open(spool, "w", encoding="utf-8") as handle:
                handle.write("".join(lines))
        except OSError as exc:
            message = f"{len(rows)} row(s) could not be written to {os.fspath(self.path)!r} nor to a spool ({exc}); they are lost"
        else:
            self.spool_path = spool
            message = (
                f"{len(rows)} row(s) could not be written to {os.fspath(self.path)!r}; they are in the "
                f"spool file {os.fspath(spool)} (paramsched.recording.read_spool reads it)"
            )
        if others:
            message += f"; {others} event(s) / metric row(s) could not be kept"
        self._pending = []
        self._pending_rows = []
        if self.on_error == "raise":
            raise RecorderError("tensorboard", message, spool_path=os.fspath(spool) if self.spool_path else None)
        warnings.warn(f"paramsched: tensorboard recorder: {message}", RuntimeWarning, stacklevel=3)

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # nobody can catch it at exit: say it
            warnings.warn(f"paramsched: tensorboard recorder: closing at exit failed: {exc}", RuntimeWarning, stacklevel=1)

    def _where(self) -> str:
        return repr(os.fspath(self.log_dir)) if self.log_dir is not None else "the default log_dir"

    def __repr__(self) -> str:
        shown = os.fspath(self.log_dir) if self.log_dir is not None else None
        return f"TensorBoardRecorder({shown!r}, flush_every={self.flush_every})"


def _default_log_dir() -> Path:
    stamp = datetime.datetime.now().strftime("%b%d_%H-%M-%S")
    return Path("runs") / f"{stamp}_{socket.gethostname()}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
