"""`BackgroundRecorder`: the training thread only enqueues; a worker thread sends.

Network backends (MLflow, W&B, ...) subclass it and implement three hooks:

- ``_open(metadata)``: create / attach to the run (called from ``start()``);
- ``_send(rows)``: send ``[(step, {series: value}), ...]`` (worker thread;
  raise on failure; rows arrive in the order they were recorded, and one call
  carries at most ``max_batch`` values);
- ``_close_backend()``: finish the run (caller's thread, after the queue drained).

A backend that stores wall-clock times overrides ``_send_timed(rows, times_ms)``
instead of ``_send``: ``times_ms[i]`` is when ``rows[i]`` was recorded (Unix
milliseconds, taken on the training thread), which matters for rows sent late
from the spool.

Failure handling (nothing recorded is ever lost silently):

- ``on_error="warn"`` (default): the first failure emits ONE warning naming
  the backend and the spool file; from then on unsent rows are appended to
  the spool (JSON lines, floats as ``repr`` so they read back bit-for-bit),
  and the worker retries every ``retry_interval`` seconds. When the backend
  is back, the spool is sent first, in order, then the new rows.
- ``on_error="raise"``: the same spooling and retrying happen, and the next
  ``record()`` / ``flush()`` / ``close()`` on the training thread raises a
  :class:`RecorderError` naming the backend, chained to the backend's error.

The spool lives in ``spool_dir`` (default: ``<system temp dir>/paramsched-spool``),
one file per recorder, ``<name>-<YYYYmmddTHHMMSS>-<pid>-<id>.jsonl``, created
only on the first failure. Its first line is ``{"metadata": {...}}``, each
further line ``{"step": k, "time": ms, "values": {...}}``; :func:`read_spool`
reads it.
A spool is JSON only: nothing read from it is ever unpickled or evaluated.
A spool whose rows have all been delivered is deleted.

>>> class ListRecorder(BackgroundRecorder):
...     name = "list"
...     def _open(self, metadata): self.rows = []
...     def _send(self, rows): self.rows.extend(rows)
...     def _close_backend(self): pass
>>> rec = ListRecorder()
>>> rec.start({"format": "paramsched.run/1", "series": ["hp/lr/g0"]})
>>> rec.record(0, {"hp/lr/g0": 0.1}); rec.close()
>>> rec.rows
[(0, {'hp/lr/g0': 0.1})]
"""

from __future__ import annotations

import atexit
import collections
import datetime
import itertools
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..checks import check_choice, check_positive_int, check_real, describe
from .base import Recorder, RunMetadata
from .errors import RecorderError

__all__ = ["BackgroundRecorder", "default_spool_dir", "read_spool"]

log = logging.getLogger("paramsched.recording")

Row = tuple[int, dict[str, float]]
_Item = tuple[int, dict[str, float], int]  # (step, values, unix ms)

_NEW, _RUNNING, _CLOSED = "new", "running", "closed"
_instance_ids = itertools.count()


def default_spool_dir() -> Path:
    """``<system temp dir>/paramsched-spool``: where spools go unless ``spool_dir`` is given."""
    return Path(tempfile.gettempdir()) / "paramsched-spool"


def read_spool(
    path: str | os.PathLike[str], *, with_times: bool = False
) -> tuple[RunMetadata | None, list[Row]] | tuple[RunMetadata | None, list[Row], list[int | None]]:
    """Read a spool file back: ``(metadata or None, [(step, values), ...])``.

    ``with_times=True`` adds a third item: when each row was recorded (Unix
    ms, or None). Plain JSON only. A last line cut short by a killed process
    is skipped with a log message.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.jsonl")
    >>> _ = open(p, "w").write('{"metadata": {"total_steps": 3}}\\n{"step": 0, "values": {"hp/lr/g0": 0.1}}\\n')
    >>> read_spool(p)
    ({'total_steps': 3}, [(0, {'hp/lr/g0': 0.1})])
    """
    metadata: RunMetadata | None = None
    rows: list[Row] = []
    times: list[int | None] = []
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: cut short by an interrupted write
                log.warning("spool %s: skipped the unfinished last line %d", path, number)
                continue
            raise ValueError(f"spool {os.fspath(path)!r}: line {number} is not JSON") from None
        if number == 1 and isinstance(item, dict) and "metadata" in item:
            metadata = item["metadata"]
            continue
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("step"), int)
            or not isinstance(item.get("values"), dict)
        ):
            raise ValueError(
                f"spool {os.fspath(path)!r}: line {number} must be "
                f'{{"step": int, "values": {{...}}}}, got {describe(line)}'
            )
        rows.append((item["step"], {str(k): float(v) for k, v in item["values"].items()}))
        stamp = item.get("time")
        times.append(stamp if isinstance(stamp, int) else None)
    if with_times:
        return metadata, rows, times
    return metadata, rows


class BackgroundRecorder(Recorder):
    """Training thread enqueues (cheap); a worker thread sends batches; failures warn once, spool, retry.

    Args:
        on_error: ``"warn"`` (training goes on, values are spooled and
            retried) or ``"raise"`` (the next call on the training thread
            raises :class:`RecorderError`; values are still spooled).
        spool_dir: directory for the spool file; default
            :func:`default_spool_dir`.
        max_batch: the most values (metrics, not rows) one ``_send`` carries.
        retry_interval: seconds between retries while the backend fails.
        close_timeout: seconds ``flush()`` and ``close()`` wait for the
            backend before they give up (and say where the values are).

    Subclasses set ``name`` (used in messages and spool file names) and
    implement ``_open``, ``_send`` (or ``_send_timed``) and ``_close_backend``.
    If ``_open`` fails with ``on_error="warn"``, it is retried later from the
    worker thread before any ``_send``; an ``_open`` that raises ``ValueError``,
    ``TypeError`` or ``LookupError`` (a configuration mistake such as an
    unknown run id, not an outage) makes ``start()`` raise it at once.
    """

    name: str = "background"
    #: Seconds the idle worker sleeps before it looks at the queue again.
    wake_interval: float = 0.1

    def __init__(
        self,
        *,
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = 1000,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
    ) -> None:
        self.on_error = check_choice("on_error", on_error, ("warn", "raise"))
        if spool_dir is not None and not isinstance(spool_dir, (str, os.PathLike)):
            raise TypeError(
                f"spool_dir must be a path (str or os.PathLike) or None, got spool_dir={describe(spool_dir)}"
            )
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self.max_batch = check_positive_int("max_batch", max_batch)
        self.retry_interval = _check_seconds("retry_interval", retry_interval, positive=True)
        self.close_timeout = _check_seconds("close_timeout", close_timeout, positive=False)

        self._state = _NEW
        self._metadata: RunMetadata = {}
        self._queue: collections.deque[_Item] = collections.deque()
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._spool_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._rows_per_batch = 1
        self._enqueued = 0  # rows recorded (training thread only)
        self._done = 0  # rows sent or spooled (worker / closing thread, under _cond)
        self._inflight = 0  # rows inside a _send call right now
        self._stop = False
        self._deadline = float("inf")
        self._opened = False
        self._failing = False
        self._next_retry = 0.0
        self._warned = False
        self._error: BaseException | None = None  # raise mode: waiting for the training thread
        self._last_error: BaseException | None = None
        self._spool_path: Path | None = None
        self._spool_handle: Any = None
        self._spooled = 0  # rows written to the spool file
        self._spool_sent = 0  # rows of the spool file already delivered
        self._memory: list[_Item] = []  # last resort when the spool cannot be written
        self._id = next(_instance_ids)

    # -- public API (training thread) -------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Open the backend run (``_open``) and start the worker thread."""
        if self._state != _NEW:
            raise RuntimeError(f"{self.name} recorder: start() was already called")
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got metadata={describe(metadata)}")
        self._metadata = dict(metadata)
        series = self._metadata.get("series")
        if isinstance(series, list) and series:
            self._rows_per_batch = max(1, self.max_batch // len(series))
        try:
            self._open(self._metadata)
            self._opened = True
        except (ValueError, TypeError, LookupError):
            raise  # a configuration mistake (a bad run id, ...), not an outage: no retry
        except Exception as exc:
            if self.on_error == "raise":
                raise RecorderError(self.name, f"could not start the run: {_explain(exc)}") from exc
            self._enter_failure(exc)
        self._state = _RUNNING
        self._thread = threading.Thread(
            target=self._worker, name=f"paramsched-{self.name}-recorder", daemon=True
        )
        self._thread.start()
        atexit.register(self._close_at_exit)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Enqueue one row; never waits on the backend.

        With ``on_error="raise"`` it raises the backend's pending error, after
        taking the row (nothing is lost if the caller goes on).
        """
        if self._state != _RUNNING:
            raise RuntimeError(
                f"{self.name} recorder: record() needs start() first and must come before close() "
                f"(state: {self._state})"
            )
        self._queue.append((step, dict(values), time.time_ns() // 1_000_000))
        self._enqueued += 1
        if self._enqueued % self._rows_per_batch == 0:
            self._wake.set()
        if self._error is not None:
            self._raise_pending()

    def flush(self) -> None:
        """Wait until every recorded row is sent or spooled (at most ``close_timeout`` s)."""
        if self._error is not None:
            self._raise_pending()
        if self._state != _RUNNING:
            return
        if not self._wait_done(self._enqueued, time.monotonic() + self.close_timeout):
            self._report_timeout("flush()")
        if self._error is not None:
            self._raise_pending()

    def close(self) -> None:
        """Send what is queued (waiting at most ``close_timeout`` s), then close the run.

        Values that could not be delivered stay in the spool file, and close()
        says so: a warning, or a :class:`RecorderError` with ``on_error="raise"``.
        """
        if self._state != _RUNNING:
            self._state = _CLOSED
            return
        self._state = _CLOSED
        atexit.unregister(self._close_at_exit)
        self._deadline = time.monotonic() + self.close_timeout
        self._stop = True
        self._wake.set()
        assert self._thread is not None
        self._thread.join(self.close_timeout + 1.0)
        problems: list[str] = []
        # Rows the worker did not take (it is stuck inside the backend, or it died): keep them on disk.
        left = self._drain_queue()
        if left:
            self._spool_items(left)
            with self._cond:
                self._done += len(left)
        if self._thread.is_alive():
            problems.append(
                f"the backend did not answer within close_timeout={self.close_timeout:g} s "
                f"({self._inflight} row(s) were still being sent)"
            )
        unsent = self.unsent_rows()
        if unsent:
            problems.append(f"{unsent} row(s) could not be sent and are kept in {self._where()}")
        if self._opened:
            try:
                self._close_backend()
            except Exception as exc:
                problems.append(f"closing the run failed: {_explain(exc)}")
                self._last_error = exc
        self._close_spool_handle()
        pending, self._error = self._error, None
        if problems:
            message = "; ".join(problems)
            cause = pending or self._last_error
            if self.on_error == "raise":
                raise RecorderError(self.name, message, spool_path=self._spool_str()) from cause
            warnings.warn(f"paramsched: {self.name} recorder: {message}", RuntimeWarning, stacklevel=2)
        elif pending is not None:
            raise RecorderError(
                self.name,
                f"the backend failed ({_explain(pending)}) and recovered; every value was delivered",
            ) from pending

    # -- introspection ------------------------------------------------------------------

    @property
    def spool_path(self) -> Path | None:
        """The spool file, once a failure created one (``None`` before)."""
        return self._spool_path

    @property
    def failing(self) -> bool:
        """True while the backend is failing (values go to the spool)."""
        return self._failing

    def unsent_rows(self) -> int:
        """Rows recorded and queued for the spool / memory but not yet delivered."""
        return (self._spooled - self._spool_sent) + len(self._memory)

    # -- subclass hooks ---------------------------------------------------------------

    def _open(self, metadata: RunMetadata) -> None:
        """Create or attach to the backend run and store ``metadata`` there."""
        raise NotImplementedError

    def _send(self, rows: list[Row]) -> None:
        """Deliver ``rows`` (worker thread); raise on any failure."""
        raise NotImplementedError

    def _send_timed(self, rows: list[Row], times_ms: list[int]) -> None:
        """Deliver ``rows`` recorded at ``times_ms``; by default calls ``_send(rows)``."""
        self._send(rows)

    def _close_backend(self) -> None:
        """Finish the backend run (caller's thread, after the queue drained)."""
        raise NotImplementedError

    # -- worker thread ----------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            self._wake.wait(self.retry_interval if self._failing else self.wake_interval)
            self._wake.clear()
            if self._failing and (self._stop or time.monotonic() >= self._next_retry):
                self._try_recover()
            while self._queue:
                batch = self._take_batch()
                if not self._failing:
                    self._deliver(batch)
                else:
                    self._spool_items(batch)
                with self._cond:
                    self._done += len(batch)
                    self._cond.notify_all()
            if self._stop and not self._queue:
                if not self._failing or time.monotonic() >= self._deadline:
                    return
                # Closing while the backend fails: retry until the deadline.
                self._wake.wait(max(0.0, min(self.retry_interval, self._deadline - time.monotonic())))
                self._try_recover()

    def _take_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        count = 0
        while self._queue:
            width = len(self._queue[0][1])
            if batch and count + width > self.max_batch:
                break
            batch.append(self._queue.popleft())
            count += width
        return batch

    def _deliver(self, items: list[_Item]) -> None:
        """Send ``items``; on failure enter the failing state and spool what was not sent."""
        chunks = self._chunks(items)
        self._inflight = len(items)
        sent = 0
        try:
            for chunk in chunks:
                self._send_items(chunk)
                sent += 1
        except Exception as exc:
            self._enter_failure(exc)
            self._spool_items([item for chunk in chunks[sent:] for item in chunk])
        finally:
            self._inflight = 0

    def _send_items(self, items: list[_Item]) -> None:
        self._send_timed([(step, values) for step, values, _ in items], [t for _, _, t in items])

    def _chunks(self, items: list[_Item]) -> list[list[_Item]]:
        """Items grouped so that no call carries more than ``max_batch`` values.

        A single row wider than ``max_batch`` is split into several rows with
        the same step (each holding a slice of the series).
        """
        if all(len(values) <= self.max_batch for _, values, _ in items):
            return [items]
        chunks: list[list[_Item]] = []
        for step, values, stamp in items:
            pairs = list(values.items())
            for start in range(0, len(pairs), self.max_batch):
                chunks.append([(step, dict(pairs[start : start + self.max_batch]), stamp)])
        return chunks

    def _enter_failure(self, exc: BaseException) -> None:
        self._last_error = exc
        self._next_retry = time.monotonic() + self.retry_interval
        if self._failing:
            return
        self._failing = True
        where = self._where(create=True)
        if self._state == _CLOSED:
            return  # a send that outlived close(): close() already said so; the rows go to the spool
        if self.on_error == "raise":
            self._error = exc
            return
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"paramsched: the {self.name} recorder could not reach its backend "
                f"({_explain(exc)}); training goes on, unsent values are kept in {where} "
                f"and retried every {self.retry_interval:g} s",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            log.warning("%s recorder: backend failing again (%s); spooling to %s", self.name, _explain(exc), where)

    def _try_recover(self) -> None:
        """Re-open if needed, then send the spool (then memory) in order."""
        self._next_retry = time.monotonic() + self.retry_interval
        try:
            if not self._opened:
                self._open(self._metadata)
                self._opened = True
            self._resend_spool()
            while self._memory:
                items = self._memory[: self._rows_per_batch]
                for chunk in self._chunks(items):
                    self._send_items(chunk)
                del self._memory[: len(items)]
        except Exception as exc:
            self._last_error = exc  # still failing: the warning / error was given once already
            return
        self._failing = False
        log.info("%s recorder: backend reachable again; spooled values delivered", self.name)

    def _resend_spool(self) -> None:
        """Send the spool's undelivered rows in order; delete the spool once all are in."""
        with self._spool_lock:
            if self._spool_path is None or self._spooled == self._spool_sent:
                return
            if self._spool_handle is not None:
                self._spool_handle.flush()
            _, rows, times = read_spool(self._spool_path, with_times=True)
        now = time.time_ns() // 1_000_000
        items = [(step, values, stamp or now) for (step, values), stamp in zip(rows, times, strict=True)]
        index = self._spool_sent
        while index < len(items):
            batch: list[_Item] = []
            count = 0
            while index < len(items) and (not batch or count + len(items[index][1]) <= self.max_batch):
                batch.append(items[index])
                count += len(items[index][1])
                index += 1
            for chunk in self._chunks(batch):
                self._send_items(chunk)
            self._spool_sent += len(batch)
        with self._spool_lock:
            if self._spool_sent == self._spooled:
                self._close_spool_handle()
                try:
                    os.remove(self._spool_path)
                except OSError:
                    pass
                self._spooled = self._spool_sent = 0

    # -- spool --------------------------------------------------------------------------

    def _where(self, create: bool = False) -> str:
        if self._spool_path is None and create:
            self._spool_path = self._new_spool_path()
        if self._spool_path is None:
            return "memory"
        return f"the spool file {os.fspath(self._spool_path)}"

    def _spool_str(self) -> str | None:
        return os.fspath(self._spool_path) if self._spool_path is not None else None

    def _new_spool_path(self) -> Path:
        folder = self.spool_dir if self.spool_dir is not None else default_spool_dir()
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        return folder / f"{self.name}-{stamp}-{os.getpid()}-{self._id}.jsonl"

    def _spool_items(self, items: list[_Item]) -> None:
        if not items:
            return
        with self._spool_lock:
            try:
                if self._spool_handle is None:
                    if self._spool_path is None:
                        self._spool_path = self._new_spool_path()
                    self._spool_path.parent.mkdir(parents=True, exist_ok=True)
                    fresh = self._spooled == 0
                    self._spool_handle = open(self._spool_path, "w" if fresh else "a", encoding="utf-8")
                    if fresh:
                        self._spool_handle.write(json.dumps({"metadata": self._metadata}) + "\n")
                text = "".join(
                    json.dumps({"step": step, "time": stamp, "values": values}) + "\n"
                    for step, values, stamp in items
                )
                self._spool_handle.write(text)
                self._spool_handle.flush()
                self._spooled += len(items)
            except (OSError, TypeError, ValueError) as exc:
                # The disk fails too: keep the values in memory and say so at close.
                if not self._memory:
                    log.warning("%s recorder: cannot write the spool (%s); keeping values in memory", self.name, exc)
                self._memory.extend(items)

    def _close_spool_handle(self) -> None:
        if self._spool_handle is not None:
            try:
                self._spool_handle.close()
            except OSError:
                pass
            finally:
                self._spool_handle = None

    # -- helpers --------------------------------------------------------------------------

    def _drain_queue(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                items.append(self._queue.popleft())
            except IndexError:
                return items

    def _wait_done(self, target: int, deadline: float) -> bool:
        self._wake.set()
        with self._cond:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or (self._thread is not None and not self._thread.is_alive()):
                    return self._done >= target
                self._cond.wait(min(left, 0.5))
        return True

    def _report_timeout(self, what: str) -> None:
        message = (
            f"{what} waited close_timeout={self.close_timeout:g} s and "
            f"{self._enqueued - self._done} row(s) are not sent yet; they stay queued and are retried"
        )
        if self.on_error == "raise":
            raise RecorderError(self.name, message, spool_path=self._spool_str()) from self._last_error
        warnings.warn(f"paramsched: {self.name} recorder: {message}", RuntimeWarning, stacklevel=3)

    def _raise_pending(self) -> None:
        exc, self._error = self._error, None
        assert exc is not None
        raise RecorderError(
            self.name,
            f"the backend failed ({_explain(exc)}); unsent values are kept in {self._where()} "
            "and retried",
            spool_path=self._spool_str(),
        ) from exc

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at interpreter exit nobody can catch it: say it
            log.error("%s recorder: closing at exit failed: %s", self.name, exc)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(on_error={self.on_error!r}, state={self._state!r})"


def _check_seconds(name: str, value: Any, *, positive: bool) -> float:
    seconds = check_real(name, value)
    if seconds < 0 or (positive and seconds == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a number of seconds {bound}, got {name}={describe(value)}")
    return seconds


def _explain(exc: BaseException) -> str:
    text = str(exc).strip()
    text = text.splitlines()[0] if text else ""
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
