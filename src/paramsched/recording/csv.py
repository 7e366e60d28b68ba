"""`CsvRecorder`: the replay contract, a run directory holding ``values.csv`` and ``run.json``.

The format (:mod:`paramsched.runformat`): ``values.csv`` has the header
``step,<series...>`` and one row per step, every float written with
``repr(float)`` so that ``float(text)`` gives back the same bits; ``run.json``
holds the run metadata; ``events.jsonl`` the events; ``metrics.csv`` the
training metrics when they are recorded.

What it guarantees:

- **Durable at every checkpoint.** Rows are buffered and written every
  ``flush_every`` rows (each write is one ``os.write`` of whole lines) and on
  ``flush()``; ``checkpoint(step)`` (called by ``ParamScheduler.state_dict()``)
  also fsyncs the files and notes the step in ``run.json``. A killed process
  loses at most the rows recorded since the last checkpoint, and those are
  recorded again by the run that resumes from it.
- **Every step exactly once.** Resuming (``metadata["resumed_from_step"] = r``)
  into a directory that holds the run first removes the rows, events and
  metrics of steps ``>= r`` (what the crashed run wrote after its checkpoint),
  then appends; ``run.json`` gets ``{"at_step": r, ...}`` in ``"resumes"``.
  Resuming from a step older than the run's last checkpoint would throw away
  checkpointed steps: it is refused unless ``overwrite=True``.
- **One writer per directory.** ``start()`` takes an exclusive lock
  (``fcntl.flock`` on ``<dir>/.lock``, held until ``close()``); a second
  writer gets :class:`RunDirectoryInUseError` naming the process that holds
  it. The kernel releases the lock of a killed process: its lock file is
  taken over with a warning.
- **An outage never stops training** (``on_error="warn"``): a full disk warns
  once, keeps the rows in memory, and writes them at the next flush that
  succeeds; at ``close()`` what is left goes to a spool CSV. A wrong path (a
  file where the directory should be, no permission) raises at ``start()``.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> meta = {"format": "paramsched.run/1", "series": ["hp/lr/g0"], "resumed_from_step": None}
>>> with CsvRecorder(folder) as rec:
...     rec.start(meta)
...     rec.record(0, {"hp/lr/g0": 0.1})
>>> open(os.path.join(folder, "values.csv")).read()
'step,hp/lr/g0\\n0,0.1\\n'
"""

from __future__ import annotations

import atexit
import errno
import json
import operator
import os
import socket
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.naming import in_series_order
from paramsched.runformat import (
    EVENTS_FILE,
    METADATA_FILE,
    METRICS_FILE,
    VALUES_FILE,
    drop_partial_last_line,
    event_line,
    format_rows,
    fsync_directory,
    header_line,
    metric_lines,
    read_header,
    utc_now,
    write_json_atomic,
)

from .base import Recorder, RunMetadata, metadata_series
from .errors import RecorderError

__all__ = ["CsvRecorder", "METADATA_FILE", "RunDirectoryInUseError", "VALUES_FILE"]

LOCK_FILE = ".lock"
# Errors of a disk that is full or failing (retried); anything else is a wrong path (raised).
_OUTAGES = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EAGAIN, errno.EINTR}


class RunDirectoryInUseError(RecorderError):
    """Another process records into the same run directory (it holds its lock)."""


class CsvRecorder(Recorder):
    """Write every value to ``<path>/values.csv`` and the metadata to ``<path>/run.json``.

    Args:
        path: the run directory (created if needed). ``<dir>/values.csv`` is
            accepted too and means ``<dir>``.
        flush_every: rows buffered before they are written; 1 writes every
            row at once. Checkpoints (``state_dict()``) always flush.
        overwrite: let a new (not resumed) run replace a run already in
            ``path``, or a resume start from a step older than the run's last
            checkpoint (the later steps are replaced).
        on_error: what a failed write (disk full, ...) does. ``"warn"``
            (default): training goes on; one warning; the rows stay in memory
            and are written at the next flush that succeeds; at ``close()``,
            rows still unwritten go to a spool CSV in the system temp dir
            (named in a warning). ``"raise"``: :class:`RecorderError` (rows
            are kept for the next attempt).
    """

    name = "csv"
    stores_events = True
    stores_metrics = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_every: int = 100,
        overwrite: bool = False,
        on_error: str = "warn",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"path must be a directory path (str or os.PathLike), got path={describe(path)}")
        folder = Path(path)
        if folder.suffix.lower() == ".csv":
            if folder.name != VALUES_FILE:
                raise ValueError(
                    f"path must be a run directory (or its {VALUES_FILE}), got path={describe(os.fspath(path))}"
                )
            folder = folder.parent
        self.path = folder
        self.flush_every = check_positive_int("flush_every", flush_every)
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be a bool, got overwrite={describe(overwrite)}")
        self.overwrite = overwrite
        self.on_error = check_choice("on_error", on_error, ("warn", "raise"))
        self._fd: int | None = None
        self._events_fd: int | None = None
        self._metrics_fd: int | None = None
        self._lock_fd: int | None = None
        self._metadata: dict[str, Any] = {}
        self._buffer: list[list[Any]] = []  # [step, value, ...] rows, formatted when written
        self._event_buffer: list[str] = []
        self._metric_buffer: list[str] = []
        self._series: tuple[str, ...] = ()
        self._started = False
        self._opened = False  # the files are open (False while the disk refused them)
        self._created = False  # this recorder created values.csv (a retry starts it again)
        self._closed = False
        self._warned = False
        self._flush_at = self.flush_every
        self.spool_path: Path | None = None

    @property
    def values_path(self) -> Path:
        """``<path>/values.csv``."""
        return self.path / VALUES_FILE

    @property
    def metadata_path(self) -> Path:
        """``<path>/run.json``."""
        return self.path / METADATA_FILE

    # -- lifecycle --------------------------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Lock the run directory, create (or resume into) it and write the header and ``run.json``."""
        if self._started or self._closed:
            raise RuntimeError(f"csv recorder for {os.fspath(self.path)!r}: start() was already called")
        self._series = metadata_series(metadata)
        header_line(self._series)  # every name must be a valid series name
        self._metadata = dict(metadata)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as exc:
            raise RecorderError("csv", f"cannot write the run in {os.fspath(self.path)!r}: {exc}") from exc
        self._started = True
        atexit.register(self._flush_at_exit)
        try:
            self._open()
        except OSError as exc:
            if exc.errno not in _OUTAGES:
                self._unlock()
                self._started = False
                atexit.unregister(self._flush_at_exit)
                raise RecorderError("csv", f"cannot write the run in {os.fspath(self.path)!r}: {exc}") from exc
            self._write_failed(exc)  # a full disk: warn, keep everything in memory, retry at flush
        except BaseException:
            self._unlock()
            self._started = False
            atexit.unregister(self._flush_at_exit)
            raise

    def _open(self) -> None:
        """Open the run's files (a new run, or a resume that first drops superseded steps)."""
        metadata = self._metadata
        header = header_line(self._series)
        resumed = metadata.get("resumed_from_step")
        # After a failed first write, what is there is this recorder's own half-written file.
        existing = None if self._created else read_header(self.values_path)
        if existing is not None and (resumed is not None or not self.overwrite):
            if resumed is None:
                raise ValueError(
                    f"{os.fspath(self.path)!r} already holds a run; use a new directory, resume "
                    "(resumed_from_step set) or pass overwrite=True"
                )
            if existing != header:
                raise ValueError(
                    f"cannot resume into {os.fspath(self.values_path)!r}: its header is "
                    f"{existing!r} but this run records {header!r}"
                )
            document = _read_document(self.metadata_path, metadata)
            last = document.get("last_checkpoint_step")
            if isinstance(last, int) and resumed < last and not self.overwrite:
                raise ValueError(
                    f"cannot resume {os.fspath(self.path)!r} at step {resumed}: the run was checkpointed "
                    f"at step {last}, and resuming from an older checkpoint would replace the steps "
                    f"{resumed}..{last - 1} already recorded after it; resume from the checkpoint at step "
                    f"{last}, or pass overwrite=True to replace them"
                )
            _drop_partial_last_line(self.values_path)
            dropped = _truncate_from_step(self.values_path, resumed)
            _drop_events_from(self.path / EVENTS_FILE, resumed)
            if (self.path / METRICS_FILE).exists():
                drop_partial_last_line(self.path / METRICS_FILE)
                _truncate_from_step(self.path / METRICS_FILE, resumed)
            self._fd = os.open(self.values_path, os.O_WRONLY | os.O_APPEND)
            entry = {"at_step": resumed, "created_at": metadata.get("created_at") or utc_now(), "pid": os.getpid()}
            if dropped:
                entry["replaced_rows"] = dropped
            document.setdefault("resumes", []).append(entry)
            write_json_atomic(self.metadata_path, document)
        else:
            fd = os.open(self.values_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._created = True
            try:
                _write_all(fd, (header + "\n").encode())
                for stale in (EVENTS_FILE, METRICS_FILE):  # overwrite=True: they belonged to the old run
                    if (self.path / stale).exists():
                        (self.path / stale).unlink()
                write_json_atomic(self.metadata_path, dict(metadata))
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        self._opened = True

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer one row (written every ``flush_every`` rows)."""
        if not self._started or self._closed:
            raise RuntimeError(
                f"csv recorder for {os.fspath(self.path)!r}: record() needs start() first and "
                "must come before close()"
            )
        if tuple(values) != self._series:
            values = in_series_order(values, self._series)
        row = [step if step.__class__ is int else operator.index(step)]
        row += map(float, values.values())
        self._buffer.append(row)
        if len(self._buffer) >= self._flush_at:
            self.flush()

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Keep one event in ``events.jsonl`` (written with the next flush)."""
        self._event_buffer.append(event_line(event))

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Keep training metrics in ``metrics.csv`` (``step,name,value``; written with the next flush)."""
        for name in metrics:
            if not isinstance(name, str) or not name or any(c in name for c in ',"\n\r'):
                raise ValueError(f"a metric name must be text without ',', '\"' or newlines, got {name!r}")
        self._metric_buffer.append(metric_lines(step, metrics))

    def flush(self) -> None:
        """Write the buffered rows, events and metrics (one ``os.write`` per file)."""
        self._flush()

    def checkpoint(self, step: int) -> None:
        """Flush, fsync every file and note ``step`` in ``run.json``: durable up to this checkpoint."""
        self._flush()
        if not self._opened or self._buffer:
            return  # the disk refuses writes: warned already; the rows are kept in memory
        try:
            for fd in (self._fd, self._events_fd, self._metrics_fd):
                if fd is not None:
                    os.fsync(fd)
            document = _read_document(self.metadata_path, self._metadata)
            document["last_checkpoint_step"] = step
            write_json_atomic(self.metadata_path, document)
        except OSError as exc:
            self._write_failed(exc)

    def close(self) -> None:
        """Write what is buffered, close the files and release the directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        atexit.unregister(self._flush_at_exit)
        try:
            self._flush(closing=True)  # what fails here goes to the spool, with one warning
        finally:
            for name in ("_fd", "_events_fd", "_metrics_fd"):
                fd = getattr(self, name)
                if fd is not None:
                    os.close(fd)
                    setattr(self, name, None)
            self._unlock()
            if self._buffer or self._event_buffer or self._metric_buffer:
                self._spool_buffer()

    # -- writing ---------------------------------------------------------------------------

    def _flush(self, closing: bool = False) -> None:
        if not self._started or (not self._buffer and not self._event_buffer and not self._metric_buffer):
            return
        try:
            if not self._opened:
                self._open()  # the disk refused the first write: try again
            if self._event_buffer:
                self._events_fd = self._append(self._events_fd, EVENTS_FILE, self._event_buffer)
            if self._metric_buffer:
                self._metrics_fd = self._append(self._metrics_fd, METRICS_FILE, self._metric_buffer, "step,name,value\n")
            if self._buffer:
                assert self._fd is not None
                _write_text(self._fd, format_rows(self._buffer))
                self._buffer.clear()
        except OSError as exc:
            self._flush_at = max(2 * len(self._buffer), self.flush_every)  # back off: O(n) in all
            if not closing or self.on_error == "raise":
                self._write_failed(exc)
            return
        self._flush_at = self.flush_every

    def _append(self, fd: int | None, name: str, lines: list[str], header: str = "") -> int:
        if fd is None:
            path = self.path / name
            fresh = not path.exists() or path.stat().st_size == 0
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if fresh and header:
                _write_all(fd, header.encode())
        _write_lines(fd, lines)
        return fd

    def _write_failed(self, exc: OSError) -> None:
        """Keep the rows; warn once (or raise with ``on_error="raise"``)."""
        message = (
            f"cannot write {os.fspath(self.values_path)!r} ({exc}); "
            f"{len(self._buffer)} row(s) are kept in memory and written at the next successful flush"
        )
        if self.on_error == "raise":
            raise RecorderError("csv", message) from exc
        if not self._warned:
            self._warned = True
            warnings.warn(f"paramsched: csv recorder: {message}; training goes on", RuntimeWarning, stacklevel=4)

    def _spool_buffer(self) -> None:
        """At close, rows the run directory refused go to a spool CSV (same format), named in a warning."""
        from .background import default_spool_dir

        rows = len(self._buffer)
        stamp = utc_now().replace(":", "").replace("-", "")[:15]
        spool = default_spool_dir() / f"csv-{stamp}-{os.getpid()}-{id(self):x}.csv"
        try:
            spool.parent.mkdir(parents=True, exist_ok=True)
            with open(spool, "w", encoding="utf-8") as handle:
                handle.write(header_line(self._series) + "\n")
                handle.write(format_rows(self._buffer))
            if self._event_buffer:
                events = spool.with_suffix(".events.jsonl")
                events.write_text("".join(self._event_buffer), encoding="utf-8")
        except OSError as exc:
            message = (
                f"{rows} row(s) could not be written to {os.fspath(self.values_path)!r} "
                f"nor to a spool ({exc}); they are lost"
            )
        else:
            self.spool_path = spool
            self._buffer.clear()
            self._event_buffer.clear()
            self._metric_buffer.clear()
            message = (
                f"{rows} row(s) could not be written to {os.fspath(self.values_path)!r}; "
                f"they are in the spool file {os.fspath(spool)} (same CSV format)"
            )
        if self.on_error == "raise":
            raise RecorderError("csv", message)
        warnings.warn(f"paramsched: csv recorder: {message}", RuntimeWarning, stacklevel=3)

    def _lock(self) -> None:
        path = self.path / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                holder = _read_holder(fd, wait_s=0.2)  # it writes its name just after it locks
                who = f"process {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
                raise RunDirectoryInUseError(
                    "csv",
                    f"{os.fspath(self.path)!r} is being recorded by {who} (since "
                    f"{holder.get('since', '?')}); one run directory has one writer: use another "
                    "directory, or stop that run first",
                )
            holder = _read_holder(fd)  # a killed holder's name is still there
            if holder and holder.get("pid") != os.getpid():
                warnings.warn(
                    f"paramsched: csv recorder: {os.fspath(self.path)!r} was last recorded by process "
                    f"{holder.get('pid')} on {holder.get('host')}, which no longer holds it (it ended or "
                    "was killed); taking the run directory over",
                    RuntimeWarning,
                    stacklevel=4,
                )
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}).encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        try:
            os.ftruncate(self._lock_fd, 0)  # released cleanly: nothing to take over
        except OSError:
            pass
        os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None

    def _flush_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # nobody can catch it at exit: say it
            warnings.warn(f"paramsched: csv recorder: flushing at exit failed: {exc}", RuntimeWarning, stacklevel=1)

    def __repr__(self) -> str:
        return f"CsvRecorder({os.fspath(self.path)!r}, flush_every={self.flush_every})"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # not POSIX: the lock file alone (created above) is all we have
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder(fd: int, wait_s: float = 0.0) -> dict[str, Any]:
    """The lock file's ``{"pid", "host", "since"}``; waits up to ``wait_s`` for one being written."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            data = os.pread(fd, 4096, 0)
            holder = json.loads(data) if data.strip() else {}
        except (OSError, ValueError):
            holder = {}
        if (holder and isinstance(holder, dict)) or time.monotonic() >= deadline:
            return holder if isinstance(holder, dict) else {}
        time.sleep(0.01)


def _read_document(path: Path, fallback: Mapping[str, Any]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return dict(fallback)
    return document if isinstance(document, dict) else dict(fallback)


def _write_lines(fd: int, lines: list[str]) -> None:
    """Write ``lines`` with one ``os.write`` and clear them; a write cut short leaves no half line."""
    _write_text(fd, "".join(lines))
    lines.clear()


def _write_text(fd: int, text: str) -> None:
    """Write whole lines with one ``os.write``; a write cut short leaves no half line."""
    data = text.encode()
    before = os.fstat(fd).st_size
    try:
        _write_all(fd, data)
    except OSError:
        try:  # the retry writes every line once
            os.ftruncate(fd, before)
        except OSError:
            pass
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _truncate_from_step(path: Path, step: int) -> int:
    """Remove the trailing rows of ``path`` whose step is ``>= step``; returns how many.

    Rows are in step order (every writer did this before appending), so only the
    end of the file is read, block by block, however long the run is.
    """
    removed = 0
    with open(path, "rb+") as handle:
        keep = pos = handle.seek(0, os.SEEK_END)
        data = b""  # always file[pos:keep], ending at a line end
        while keep > 0:
            body = data[:-1] if data.endswith(b"\n") else data
            cut = body.rfind(b"\n")
            if cut < 0 and pos > 0:  # the last line starts before what was read: read more
                block = min(pos, 1 << 16)
                pos -= block
                handle.seek(pos)
                data = handle.read(block) + data
                continue
            line = body[cut + 1 :]
            first = line.split(b",", 1)[0].strip()
            if not first.isdigit() or int(first) < step:  # the header, or a row to keep
                break
            removed += 1
            keep -= len(line) + 1
            data = data[: len(data) - len(line) - 1]
        handle.truncate(keep)
    return removed


def _drop_events_from(path: Path, step: int) -> None:
    """Rewrite ``events.jsonl`` without the events of steps ``>= step`` (superseded by a resume)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # cut short by a kill
        try:
            event_step = json.loads(line).get("step")
        except (ValueError, AttributeError):
            kept.append(line)
            continue
        if not isinstance(event_step, int) or event_step < step:
            kept.append(line)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text("".join(kept), encoding="utf-8")
    os.replace(temp, path)
    fsync_directory(path.parent)


def _drop_partial_last_line(path: Path) -> None:
    """Cut a last line left unfinished by a killed writer, so appended rows start clean."""
    tail = drop_partial_last_line(path)
    if tail is not None:
        warnings.warn(
            f"paramsched: {os.fspath(path)!r} ended with an unfinished row "
            f"({tail!r}) from an interrupted run; it was removed before resuming",
            RuntimeWarning,
            stacklevel=4,
        )
