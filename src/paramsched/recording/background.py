"""`BackgroundRecorder`: the training thread only enqueues; a worker thread sends.

Network backends (MLflow, W&B, ...) subclass it and implement three hooks:

- ``_open(metadata)``: create / attach to the run (called from ``start()``,
  or from the worker thread when the class sets ``lifecycle_on_worker``);
- ``_send(rows)``: send ``[(step, {series: value}), ...]`` (worker thread;
  raise on failure; rows arrive in the order they were recorded, and one call
  carries at most ``max_batch`` values);
- ``_close_backend()``: finish the run (caller's thread after the queue
  drained, or the worker thread with ``lifecycle_on_worker``).

Optional hooks:

- ``_send_timed(rows, times_ms)`` instead of ``_send``, for a backend that
  stores wall-clock times: ``times_ms[i]`` is when ``rows[i]`` was recorded
  (Unix ms, taken on the training thread), which matters for rows sent late;
- ``_send_events(events)`` and ``_send_metrics(rows, times_ms)`` for a backend
  that sets ``stores_events`` / ``stores_metrics``; ``record_event`` and
  ``record_metrics`` go through the same ordered queue and the same spool;
- ``_prepare(metadata)``: cheap work that must happen on the caller's thread
  in ``start()`` (reading thread-local state such as an active run);
- a backend that sets ``buffers = True`` may keep what ``_send*`` hands it
  (formatting it, batching uploads) until ``_sync()``, which must make
  everything handed over since the last ``_sync`` durable, or raise;
  ``_sync_due()`` says when it wants one, and ``_discard()`` (called after any
  failure) drops what it holds: the recorder re-sends those items from the
  spool. The recorder keeps each item until its ``_sync`` succeeded.
- ``from_spool_target(target, to)`` (classmethod) and ``_spool_target()``:
  what a spool needs so that ``paramsched spool send FILE`` can deliver it later.

Failure handling (nothing recorded is ever lost silently):

- ``on_error="warn"`` (default): the first failure emits ONE warning naming
  the backend, the spool file and the command that sends it; from then on
  unsent items are appended to the spool and the worker retries every
  ``retry_interval`` seconds. When the backend is back, the spool is sent
  first, in order, then the new items. Warnings are given on the training
  thread (at its next call), never from the worker.
- ``on_error="raise"``: the same spooling and retrying happen, and the next
  ``record()`` / ``flush()`` / ``close()`` on the training thread raises a
  :class:`RecorderError` naming the backend, chained to the backend's error.
- A failed ``start()`` (a failure while opening the run) leaves the recorder
  running: later records are spooled and the open is retried. An ``_open``
  that raises ``ValueError``, ``TypeError`` or ``LookupError`` is a
  configuration mistake (an unknown run id), not an outage: it is not
  retried; with ``on_error="raise"`` a synchronous ``start()`` raises it.
- The queue holds at most ``max_queue`` items; past it (the backend is slower
  than training, or stuck) the training thread moves the queue to the spool
  (a local append, never a wait on the backend) and the worker sends from
  there. Nothing is dropped.
- ``flush()`` returns once everything recorded is durable: accepted by the
  backend (after its ``_sync``) or written to the spool; ``close()`` waits at
  most ``close_timeout`` seconds, then keeps what is left in the spool.

The spool lives in ``spool_dir`` (default: ``<system temp dir>/paramsched-spool``),
one file per recorder, ``<name>-<YYYYmmddTHHMMSS>-<pid>-<id>.jsonl``, created
only when something is spooled. Its first line is ``{"metadata": {...},
"spool": "paramsched.spool/1", "backend": ..., "target": {...}, ...}``; each
further line is a row ``{"seq", "step", "time", "values"}``, an event
``{"seq", "time", "event"}``, metrics ``{"seq", "step", "time", "metrics"}``,
a ``{"target": {...}}`` update, or the ``{"delivered": {...}}`` line that
``paramsched spool send`` appends. :func:`read_spool` reads the rows,
:func:`read_spool_file` everything. A spool is JSON only: nothing read from
it is ever unpickled or evaluated. A spool whose items have all been
delivered is deleted.

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
import dataclasses
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

from ..checks import check_choice, check_positive_int, check_real, describe, describe_error
from ..events import check_event
from ..runformat import utc_now
from .base import Recorder, RunMetadata
from .errors import RecorderError

__all__ = [
    "SPOOL_FORMAT",
    "BackgroundRecorder",
    "SpoolFile",
    "default_spool_dir",
    "list_spools",
    "mark_delivered",
    "read_spool",
    "read_spool_file",
    "resend_spool",
]

log = logging.getLogger("paramsched.recording")

SPOOL_FORMAT = "paramsched.spool/1"
Row = tuple[int, dict[str, float]]
# One queued item: (kind, seq, step, payload, unix ms). kind: "r" row, "e" event, "m" metrics.
_Item = tuple[str, int, int, Any, int]
_ROW, _EVENT, _METRICS = "r", "e", "m"

_NEW, _RUNNING, _CLOSED = "new", "running", "closed"
_instance_ids = itertools.count()
_CONFIG_ERRORS = (ValueError, TypeError, LookupError)
# Seconds flush() lets the worker deliver before it writes what is left to the spool itself.
_FLUSH_PATIENCE = 5.0
# Seconds a worker that opens the run waits first, so that start() and the first records return at once.
_OPEN_DELAY = 0.1
# The most bytes of a spool read back into memory at once for re-sending (about 4k rows of 12 series).
_SPOOL_READ_BYTES = 1 << 20


def default_spool_dir() -> Path:
    """``<system temp dir>/paramsched-spool``: where spools go unless ``spool_dir`` is given."""
    return Path(tempfile.gettempdir()) / "paramsched-spool"


# -- reading spools ------------------------------------------------------------------------


@dataclasses.dataclass
class SpoolFile:
    """Everything a spool file holds (see the module docstring), as read by :func:`read_spool_file`.

    ``items`` are ``(kind, seq, step, payload, time_ms)`` in the order they
    were recorded (``kind``: ``"r"`` row, ``"e"`` event, ``"m"`` metrics);
    ``parked`` counts rows a recorder kept without retrying them.
    """

    path: Path
    header: dict[str, Any]
    metadata: RunMetadata | None
    backend: str | None
    target: dict[str, Any]
    items: list[_Item]
    delivered: dict[str, Any] | None
    notes: list[str]
    parked: int = 0

    @property
    def rows(self) -> list[Row]:
        return [(step, payload) for kind, _, step, payload, _ in self.items if kind == _ROW]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [payload for kind, _, _, payload, _ in self.items if kind == _EVENT]

    @property
    def metrics(self) -> list[tuple[int, dict[str, float]]]:
        return [(step, payload) for kind, _, step, payload, _ in self.items if kind == _METRICS]

    def counts(self) -> dict[str, int]:
        """``{"rows": n, "events": n, "metrics": n}``."""
        kinds = collections.Counter(kind for kind, *_ in self.items)
        return {"rows": kinds[_ROW], "events": kinds[_EVENT], "metrics": kinds[_METRICS]}


def read_spool_file(path: str | os.PathLike[str]) -> SpoolFile:
    """Read a spool file: header, metadata, target, every row / event / metrics item, delivery mark.

    Plain JSON only. A last line cut short by a killed process is skipped
    (and listed in ``notes``); any other malformed line is a ``ValueError``
    naming the file and the line.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    header: dict[str, Any] = {}
    target: dict[str, Any] = {}
    delivered: dict[str, Any] | None = None
    notes: list[str] = []
    items: list[tuple[float, int, _Item]] = []
    parked = 0
    last_order = -1.0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: cut short by an interrupted write
                log.warning("spool %s: skipped the unfinished last line %d", path, number)
                notes.append(f"the unfinished last line {number} (an interrupted write) was not read")
                continue
            raise ValueError(f"spool {os.fspath(path)!r}: line {number} is not JSON") from None
        if not isinstance(item, dict):
            raise ValueError(f"spool {os.fspath(path)!r}: line {number} must be a JSON object, got {describe(line)}")
        if number == 1 and "metadata" in item:
            header = item
            target = dict(item.get("target") or {})
            continue
        if set(item) == {"target"}:
            target = dict(item["target"] or {})
            continue
        if set(item) == {"delivered"}:
            delivered = item["delivered"] if isinstance(item["delivered"], dict) else {}
            continue
        seq = item.get("seq")
        if isinstance(seq, int) and seq >= 0:
            last_order = order = float(seq)
        else:  # parked, or written without a sequence number: keep its place in the file
            order = last_order
        stamp = item.get("time") if isinstance(item.get("time"), int) else None
        where = f"spool {os.fspath(path)!r}: line {number}"
        if "event" in item:
            event = check_event(item["event"], where)
            items.append((order, number, (_EVENT, seq if isinstance(seq, int) else -1, event["step"], event, stamp)))
            continue
        step = item.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f'{where} must be {{"step": int, "values": {{...}}}}, got {describe(line)}')
        for field, kind in (("values", _ROW), ("metrics", _METRICS)):
            if field in item:
                if not isinstance(item[field], dict):
                    raise ValueError(f'{where} must be {{"step": int, "{field}": {{...}}}}, got {describe(line)}')
                payload = {str(k): float(v) for k, v in item[field].items()}
                items.append((order, number, (kind, seq if isinstance(seq, int) else -1, step, payload, stamp)))
                parked += bool(item.get("parked")) and kind == _ROW
                break
        else:
            raise ValueError(f'{where} must be {{"step": int, "values": {{...}}}}, got {describe(line)}')
    items.sort(key=lambda entry: (entry[0], entry[1]))
    metadata = header.get("metadata")
    return SpoolFile(
        path=path,
        header=header,
        metadata=metadata if isinstance(metadata, dict) else None,
        backend=header.get("backend") if isinstance(header.get("backend"), str) else None,
        target=target,
        items=[entry[2] for entry in items],
        delivered=delivered,
        notes=notes,
        parked=parked,
    )


def read_spool(
    path: str | os.PathLike[str], *, with_times: bool = False
) -> tuple[RunMetadata | None, list[Row]] | tuple[RunMetadata | None, list[Row], list[int | None]]:
    """Read a spool file's rows back: ``(metadata or None, [(step, values), ...])``, in recorded order.

    ``with_times=True`` adds a third item: when each row was recorded (Unix
    ms, or None). Events and metrics are left out (see :func:`read_spool_file`).
    Plain JSON only. A last line cut short by a killed process is skipped
    with a log message.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.jsonl")
    >>> _ = open(p, "w").write('{"metadata": {"total_steps": 3}}\\n{"step": 0, "values": {"hp/lr/g0": 0.1}}\\n')
    >>> read_spool(p)
    ({'total_steps': 3}, [(0, {'hp/lr/g0': 0.1})])
    """
    spool = read_spool_file(path)
    rows = [(step, payload) for kind, _, step, payload, _ in spool.items if kind == _ROW]
    if with_times:
        times = [stamp for kind, _, _, _, stamp in spool.items if kind == _ROW]
        return spool.metadata, rows, times
    return spool.metadata, rows


def list_spools(folder: str | os.PathLike[str] | None = None) -> list[SpoolFile]:
    """Every readable spool file in ``folder`` (default :func:`default_spool_dir`), oldest first."""
    folder = Path(folder) if folder is not None else default_spool_dir()
    if not folder.is_dir():
        return []
    found: list[SpoolFile] = []
    for path in sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name)):
        try:
            spool = read_spool_file(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.warning("not a readable spool: %s (%s)", path, exc)
            continue
        if spool.header.get("spool") == SPOOL_FORMAT or spool.metadata is not None:
            found.append(spool)
    return found


def mark_delivered(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> None:
    """Append the ``{"delivered": {...}}`` line: later sends of this spool send nothing."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"delivered": dict(summary)}, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def resend_spool(
    path: str | os.PathLike[str], to: str | None = None, *, close_timeout: float = 300.0
) -> dict[str, Any]:
    """Deliver a spool to its backend (or to ``to``, a URL the backend understands), once.

    The backend is the recorder registered under the spool's ``backend`` name
    (or the scheme of ``to``); its ``from_spool_target`` builds a recorder,
    which is fed every item with its original time and closed. When
    everything was accepted, the spool gets a ``delivered`` line, so sending
    it again sends nothing. Returns a summary: ``sent`` (bool), ``to``,
    ``rows``, ``events``, ``metrics`` and, when nothing was sent, ``reason``.
    A failure raises :class:`RecorderError` and leaves the spool as it was.
    """
    from .registry import RECORDERS

    spool = read_spool_file(path)
    if spool.delivered is not None:
        return {"sent": False, "reason": f"already delivered to {spool.delivered.get('to')} at "
                f"{spool.delivered.get('at')}", **spool.counts(), "to": spool.delivered.get("to")}
    backend = spool.backend
    if to is not None:
        scheme, sep, _ = to.partition(":")
        if not sep or not scheme:
            raise ValueError(f"--to must be a destination URL such as 'mlflow://RUN_ID', got to={to!r}")
        backend = scheme.lower()
    if not backend:
        raise ValueError(f"spool {os.fspath(path)!r} does not name its backend; pass a destination (to=...)")
    if spool.metadata is None:
        raise ValueError(f"spool {os.fspath(path)!r} has no run metadata line; it cannot be sent")
    factory = RECORDERS.get(backend)
    build = getattr(factory, "from_spool_target", None)
    if build is None or getattr(build, "__func__", None) is BackgroundRecorder.from_spool_target.__func__:
        raise ValueError(
            f"the {backend} recorder cannot re-send spools; read the values with "
            f"paramsched.replay.load({os.fspath(path)!r})"
        )
    with tempfile.TemporaryDirectory(prefix="paramsched-resend-") as scratch:
        recorder = build(spool.target if to is None else {}, to, spool_dir=scratch, close_timeout=close_timeout)
        recorder._resending = True
        recorder._resend_start = min((step for _, _, step, _, _ in spool.items), default=None)
        recorder.start(spool.metadata)
        for kind, _, step, payload, stamp in spool.items:
            recorder._put(kind, step, payload, stamp)
        try:
            recorder.close()  # on_error="raise": a failure raises here and nothing is marked
        except RecorderError as exc:
            # What close() says names the scratch spool, deleted with this folder: say why instead.
            cause = exc.__cause__
            if cause is None:
                raise
            raise RecorderError(recorder.name, f"the backend failed ({describe_error(cause)})") from cause
        destination = recorder.destination()
    summary = {"to": destination, "at": utc_now(), **spool.counts()}
    mark_delivered(path, summary)
    return {"sent": True, **summary}


# -- the recorder ----------------------------------------------------------------------------


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
        max_queue: the most items (rows, events, metrics) the in-memory
            queue holds; past it the queue moves to the spool.

    Subclasses set ``name`` (used in messages and spool file names) and
    implement ``_open``, ``_send`` (or ``_send_timed``) and ``_close_backend``
    (see the module docstring for the optional hooks).
    """

    name: str = "background"
    #: The most seconds a queued item waits for the worker (also how often a worker that
    #: holds items until ``_sync`` asks ``_sync_due()``). A worker with nothing queued,
    #: retained or failing sleeps until the next item: each timed wake-up costs about
    #: 0.1 ms of CPU here (Linux VM), 10 a second on an idle recorder.
    wake_interval: float = 0.1
    #: Items queued that wake the worker at once; default (0): one ``max_batch`` of values.
    hand_over_rows: int = 0
    #: True: ``_open`` and ``_close_backend`` run on the worker thread, so ``start()``
    #: and ``close()`` never wait on the backend beyond ``close_timeout``.
    lifecycle_on_worker: bool = False
    #: True: ``_send*`` may hold items until ``_sync()`` (see the module docstring).
    buffers: bool = False

    def __init__(
        self,
        *,
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = 1000,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
        max_queue: int = 10_000,
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
        self.max_queue = check_positive_int("max_queue", max_queue)

        self._state = _NEW
        self._metadata: RunMetadata = {}
        self._queue: collections.deque[_Item] = collections.deque()
        self._wake = threading.Event()
        self._cond = threading.Condition()
        self._spool_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._rows_per_batch = 1
        self._wake_every = 1  # items queued that wake the worker (see hand_over_rows)
        self._idle = False  # the worker sleeps until the next item (set by the worker)
        self._took = False  # the worker's last wake-up found items queued
        self._enqueued = 0  # items recorded (training thread only); also the next seq
        self._done = 0  # items durable: delivered (and synced) or spooled (under _cond)
        self._inflight = 0  # items inside a _send / _sync call right now
        self._queue_peak = 0
        self._stop = False
        self._want_sync = False
        self._deadline = float("inf")
        self._opened = False
        self._failing = False
        self._fatal = False  # a configuration error: no retries, everything goes to the spool
        self._next_retry = 0.0
        self._warned = False
        self._overflowed = False
        self._notices: list[str] = []  # warnings for the training thread to give
        self._error: BaseException | None = None  # raise mode: waiting for the training thread
        self._last_error: BaseException | None = None
        self._retained: list[tuple[_Item, bool]] = []  # (item, came from the spool) until _sync
        self._spool_path: Path | None = None
        self._spool_handle: Any = None
        self._spooled = 0  # items written to the spool file (not parked)
        self._spool_delivered = 0  # of those, delivered
        self._parked = 0  # rows kept in the spool without retrying (see _spool_items)
        self._spool_offset = 0  # bytes of the spool file already read for re-sending
        self._spool_backlog: list[_Item] = []  # read from the spool, not yet delivered
        self._memory: list[_Item] = []  # last resort when the spool cannot be written
        self._resending = False  # fed by resend_spool (a subclass may store things differently)
        self._resend_start: int | None = None  # the first step a re-sent spool holds
        self._close_error: BaseException | None = None  # _close_backend on the worker failed
        self._reported = False  # close() has given its verdict
        self._inflight_items: list[_Item] = []
        self._id = next(_instance_ids)

    # -- public API (training thread) -------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Open the backend run (``_open``; on the worker with ``lifecycle_on_worker``) and start the worker.

        A failed open never leaves the recorder unusable: later records are
        spooled and the open is retried (see the class docstring).
        """
        if self._state != _NEW:
            raise RuntimeError(f"{self.name} recorder: start() was already called")
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got metadata={describe(metadata)}")
        self._metadata = dict(metadata)
        series = self._metadata.get("series")
        if isinstance(series, list) and series:
            self._rows_per_batch = max(1, self.max_batch // len(series))
        self._wake_every = self.hand_over_rows or self._rows_per_batch
        self._prepare(self._metadata)
        failure: BaseException | None = None
        if not self.lifecycle_on_worker:
            try:
                self._open(self._metadata)
                self._opened = True
            except Exception as exc:
                failure = exc
        self._state = _RUNNING
        if failure is not None:
            self._enter_failure(failure, opening=True)
        self._thread = threading.Thread(
            target=self._worker, name=f"paramsched-{self.name}-recorder", daemon=True
        )
        self._thread.start()
        atexit.register(self._close_at_exit)
        if failure is not None and self.on_error == "raise":
            self._error = None  # raised here, once
            if isinstance(failure, _CONFIG_ERRORS):
                raise failure
            raise RecorderError(self.name, f"could not start the run: {describe_error(failure)}") from failure
        self._give_notices()

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
        self._put(_ROW, step, dict(values))
        if self._notices:
            self._give_notices()
        if self._error is not None:
            self._raise_pending()

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Enqueue one event (:mod:`paramsched.events`), in order with the rows; kept only
        by backends that set ``stores_events``."""
        if not self.stores_events:
            return
        if self._state != _RUNNING:
            raise RuntimeError(f"{self.name} recorder: record_event() needs start() first (state: {self._state})")
        checked = check_event(event, f"{self.name} recorder: record_event()")
        self._put(_EVENT, checked["step"], checked)
        if self._error is not None:
            self._raise_pending()

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Enqueue training metrics (``{"loss": 0.42}``) for update ``step``; kept only by
        backends that set ``stores_metrics``."""
        if not self.stores_metrics:
            return
        if self._state != _RUNNING:
            raise RuntimeError(f"{self.name} recorder: record_metrics() needs start() first (state: {self._state})")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a dict of name to number, got metrics={describe(metrics)}")
        clean: dict[str, float] = {}
        for key, value in metrics.items():
            if not isinstance(key, str) or not key or key.startswith("hp/"):
                raise ValueError(
                    f"metric names must be non-empty strings not starting with 'hp/' (those are the "
                    f"schedules' series), got {describe(key)}"
                )
            clean[key] = check_real(f"metrics[{key!r}]", value)
        self._put(_METRICS, step, clean)
        if self._error is not None:
            self._raise_pending()

    def flush(self) -> None:
        """Wait until everything recorded is durable: accepted by the backend or in the spool
        (at most ``close_timeout`` s; past it the queue is moved to the spool)."""
        if self._error is not None:
            self._raise_pending()
        if self._state != _RUNNING:
            return
        self._give_notices()
        patience = min(self.close_timeout, _FLUSH_PATIENCE)
        if not self._wait_done(self._enqueued, time.monotonic() + patience):
            self._spool_behind_the_worker()
            if not self._wait_done(self._enqueued, time.monotonic() + 1.0):
                self._report_timeout("flush()")
        if self._error is not None:
            self._raise_pending()
        self._give_notices()

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
        self._thread.join(max(self.close_timeout, 0.05))
        problems: list[str] = []
        stuck = self._thread.is_alive()
        if stuck:
            # The worker is stuck inside the backend (or slow): keep what it has not made durable on disk.
            self._spool_behind_the_worker()
            problems.append(
                f"the backend did not answer within close_timeout={self.close_timeout:g} s "
                f"({self._inflight} row(s) were still being sent)"
            )
        unsent = self.unsent_rows()
        if unsent:
            problems.append(f"{unsent} row(s) could not be sent and are kept in {self._where()}{self._send_hint()}")
        if self._opened and not self.lifecycle_on_worker:
            try:
                self._close_backend()
            except Exception as exc:
                problems.append(f"closing the run failed: {describe_error(exc)}")
                self._last_error = exc
        if self._close_error is not None:
            problems.append(f"closing the run failed: {describe_error(self._close_error)}")
        with self._spool_lock:
            self._close_spool_handle()
        self._reported = True
        self._give_notices()
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
                f"the backend failed ({describe_error(pending)}) and recovered; every value was delivered",
            ) from pending

    # -- introspection ------------------------------------------------------------------

    @property
    def spool_path(self) -> Path | None:
        """The spool file, once something was spooled (``None`` before)."""
        return self._spool_path

    @property
    def failing(self) -> bool:
        """True while the backend is failing (values go to the spool)."""
        return self._failing

    @property
    def queue_peak(self) -> int:
        """The most items the in-memory queue held at once (at most ``max_queue``)."""
        return self._queue_peak

    @property
    def overflowed(self) -> bool:
        """True once the queue reached ``max_queue`` and moved to the spool."""
        return self._overflowed

    def unsent_rows(self) -> int:
        """Items recorded and kept in the spool / memory but not yet delivered."""
        return (self._spooled - self._spool_delivered) + self._parked + len(self._memory)

    def destination(self) -> str | None:
        """Where the values go, as a URL the backend's source and ``spool send --to`` read
        (``None`` when the backend has no such URL or the run is not open yet)."""
        return None

    # -- subclass hooks ---------------------------------------------------------------

    def _prepare(self, metadata: RunMetadata) -> None:
        """Cheap work on the caller's thread in ``start()``; no network, no file."""

    def _open(self, metadata: RunMetadata) -> None:
        """Create or attach to the backend run and store ``metadata`` there."""
        raise NotImplementedError

    def _send(self, rows: list[Row]) -> None:
        """Deliver ``rows`` (worker thread); raise on any failure."""
        raise NotImplementedError

    def _send_timed(self, rows: list[Row], times_ms: list[int]) -> None:
        """Deliver ``rows`` recorded at ``times_ms``; by default calls ``_send(rows)``."""
        self._send(rows)

    def _send_events(self, events: list[dict[str, Any]]) -> None:
        """Deliver events (worker thread), for a backend with ``stores_events``."""
        raise NotImplementedError(f"the {self.name} recorder does not store events")

    def _send_metrics(self, rows: list[Row], times_ms: list[int]) -> None:
        """Deliver training metrics ``[(step, {name: value})]`` (worker thread), for ``stores_metrics``."""
        raise NotImplementedError(f"the {self.name} recorder does not store metrics")

    def _sync(self) -> None:
        """With ``buffers``: make everything handed to ``_send*`` durable at the backend, or raise."""

    def _sync_due(self) -> bool:
        """With ``buffers``: True when the backend wants a ``_sync`` now."""
        return False

    def _discard(self) -> None:
        """With ``buffers``: drop what was handed over since the last ``_sync`` (it is re-sent)."""

    def _close_backend(self) -> None:
        """Finish the backend run (after the queue drained)."""
        raise NotImplementedError

    def _spool_target(self) -> dict[str, Any]:
        """What ``from_spool_target`` needs to deliver this recorder's spool later (JSON)."""
        return {}

    @classmethod
    def spool_destination(cls, target: Mapping[str, Any]) -> str | None:
        """A spool's destination (its ``target``) in words or as a URL, for ``paramsched spool list``."""
        return None

    @classmethod
    def from_spool_target(
        cls, target: Mapping[str, Any], to: str | None, *, spool_dir: str | os.PathLike[str], close_timeout: float
    ) -> BackgroundRecorder:
        """A recorder (``on_error="raise"``) that delivers a spool to ``target`` or to the URL ``to``."""
        raise NotImplementedError(f"the {cls.name} recorder cannot re-send spools")

    # -- queue --------------------------------------------------------------------------

    def _put(self, kind: str, step: int, payload: Any, stamp: int | None = None) -> None:
        seq = self._enqueued
        self._queue.append((kind, seq, step, payload, stamp if stamp is not None else time.time_ns() // 1_000_000))
        self._enqueued = seq + 1
        size = len(self._queue)
        if size > self._queue_peak:
            self._queue_peak = size
        if size >= self.max_queue:
            self._overflow()
        elif self._idle or self._enqueued % self._wake_every == 0:
            self._idle = False
            self._wake.set()

    def _overflow(self) -> None:
        """The queue is full: move it to the spool (training thread; a local write, never a wait)."""
        items = self._drain_queue()
        self._spool_items(items)
        self._count_done(len(items))
        if not self._overflowed:
            self._overflowed = True
            self._notices.append(
                f"paramsched: the {self.name} recorder's queue reached max_queue={self.max_queue} "
                f"(the backend is slower than training); values now go through {self._where()} "
                "and are sent from there: nothing is dropped"
            )
        self._wake.set()

    def _count_done(self, count: int) -> None:
        with self._cond:
            self._done += count
            self._cond.notify_all()

    # -- worker thread ----------------------------------------------------------------

    def _worker(self) -> None:
        try:
            if self.lifecycle_on_worker:
                # A new thread keeps the GIL until it blocks: wait a moment first, so that start()
                # and the first record() return before opening the run costs anything.
                self._wake.wait(_OPEN_DELAY)
                self._open_on_worker()
            while True:
                self._wake.wait(self._wait_time())
                self._idle = False
                self._wake.clear()
                self._took = bool(self._queue)
                if self._failing:
                    if not self._fatal and (self._stop or time.monotonic() >= self._next_retry):
                        self._try_recover()
                elif self._spool_pending():
                    self._try_recover()
                self._pump()
                if self.buffers and self._retained and not self._failing:
                    if self._want_sync or self._stop or self._sync_due():
                        self._want_sync = False
                        self._sync_retained()
                if self._stop and not self._queue:
                    # Stop retrying before the deadline: closing (marking) the run needs a moment.
                    margin = min(2.0, 0.5 * self.close_timeout) if self.lifecycle_on_worker else 0.0
                    if self._settled() or self._fatal or not self._undelivered() or (
                        time.monotonic() >= self._deadline - margin
                    ):
                        break
                    # Closing while the backend fails: retry until the deadline.
                    self._wake.wait(max(0.0, min(self.retry_interval, self._deadline - time.monotonic())))
                    self._wake.set()
        finally:
            if self.lifecycle_on_worker and self._opened:
                try:
                    self._close_backend()
                except Exception as exc:
                    self._close_error = exc

    def _wait_time(self) -> float | None:
        """Seconds the worker sleeps before it looks again; None: until the next item (or a call)."""
        if self._failing and not self._fatal:
            return self.retry_interval
        if self._took or self._stop or self._failing or self._undelivered():
            return self.wake_interval  # while rows come, a timed wait gathers them (not one wake-up a row)
        # Idle: say so first, then look at the queue; an item put after the look sees the flag
        # and wakes the worker (the flag and the deque are each read and written under the GIL).
        self._idle = True
        if self._queue:
            self._idle = False
            return self.wake_interval
        return None

    def _settled(self) -> bool:
        return not self._failing and not self._retained and not self._spool_pending()

    def _undelivered(self) -> bool:
        """Something this recorder could still deliver (parked rows it never re-sends)."""
        return bool(self._retained or self._spool_pending() or self._memory or self._spool_backlog)

    def _open_on_worker(self) -> None:
        try:
            self._open(self._metadata)
            self._opened = True
        except Exception as exc:
            self._enter_failure(exc, opening=True)

    def _pump(self) -> None:
        """Take every queued item: deliver it, or spool it while the spool holds older ones."""
        while self._queue:
            batch = self._take_batch()
            if not batch:
                break
            if self._failing or self._spool_pending():
                self._spool_items(batch)
                self._count_done(len(batch))
            else:
                self._deliver(batch)

    def _take_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        count = 0
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:  # the training thread moved the queue to the spool
                return batch
            batch.append(item)
            count += len(item[3]) if item[0] != _EVENT else 1
            if count >= self.max_batch:
                return batch

    def _deliver(self, items: list[_Item], *, from_spool: bool = False) -> bool:
        """Send ``items``; on failure enter the failing state and spool what was not made durable.

        With ``buffers`` each group is retained *before* it is handed over, so
        that a worker stuck inside the backend never holds the only copy.
        """
        self._inflight = len(items)
        self._inflight_items = items
        handed = 0
        try:
            for group in _runs_by_kind(items):
                if self.buffers:
                    self._retained.extend((item, from_spool) for item in group)
                    handed += len(group)
                    self._send_group(group)
                else:
                    self._send_group(group)
                    handed += len(group)
                    if not from_spool:
                        self._count_done(len(group))
            return True
        except Exception as exc:
            self._enter_failure(exc)
            left = items[handed:]
            if from_spool:
                self._spool_backlog[:0] = left
            self._fail_retained()  # older than `left`: spooled (or put back) first
            if not from_spool:
                self._spool_items(left)
                self._count_done(len(left))
            return False
        finally:
            self._inflight = 0
            self._inflight_items = []

    def _send_group(self, group: list[_Item]) -> None:
        kind = group[0][0]
        if kind == _EVENT:
            self._send_events([payload for _, _, _, payload, _ in group])
            return
        send = self._send_timed if kind == _ROW else self._send_metrics
        for chunk in self._chunks(group):
            send([(step, payload) for _, _, step, payload, _ in chunk], [t for *_, t in chunk])

    def _sync_retained(self) -> bool:
        """``_sync()`` the backend: what it held is durable now (or goes back to the spool)."""
        self._inflight = len(self._retained)
        try:
            self._sync()
        except Exception as exc:
            self._enter_failure(exc)
            self._fail_retained()
            return False
        finally:
            self._inflight = 0
        retained, self._retained = self._retained, []
        fresh = sum(1 for _, from_spool in retained if not from_spool)
        spooled = len(retained) - fresh
        if fresh:
            self._count_done(fresh)
        if spooled:
            self._spool_delivered_add(spooled)
        return True

    def _fail_retained(self) -> None:
        """After a failure: what the backend held goes to the spool (or back to the backlog)."""
        if not self.buffers:
            return
        try:
            self._discard()
        except Exception as exc:  # the backend's own bookkeeping failed: the items are kept all the same
            log.warning("%s recorder: discarding buffered values failed: %s", self.name, describe_error(exc))
        retained, self._retained = self._retained, []
        fresh = [item for item, from_spool in retained if not from_spool]
        again = [item for item, from_spool in retained if from_spool]
        if fresh:
            self._spool_items(fresh)
            self._count_done(len(fresh))
        if again:
            self._spool_backlog[:0] = again

    def _chunks(self, items: list[_Item]) -> list[list[_Item]]:
        """Items grouped so that no call carries more than ``max_batch`` values.

        A single row wider than ``max_batch`` is split into several rows with
        the same step (each holding a slice of the series).
        """
        if all(len(payload) <= self.max_batch for _, _, _, payload, _ in items):
            chunks: list[list[_Item]] = []
            current: list[_Item] = []
            count = 0
            for item in items:
                width = len(item[3])
                if current and count + width > self.max_batch:
                    chunks.append(current)
                    current, count = [], 0
                current.append(item)
                count += width
            if current:
                chunks.append(current)
            return chunks
        chunks = []
        for kind, seq, step, payload, stamp in items:
            pairs = list(payload.items())
            for start in range(0, len(pairs), self.max_batch):
                chunks.append([(kind, seq, step, dict(pairs[start : start + self.max_batch]), stamp)])
        return chunks

    def _enter_failure(self, exc: BaseException, *, opening: bool = False) -> None:
        self._last_error = exc
        self._next_retry = time.monotonic() + self.retry_interval
        if opening and isinstance(exc, _CONFIG_ERRORS):
            self._fatal = True
        if self._failing:
            return
        self._failing = True
        where = self._where(create=True)
        if self._reported:
            return  # a send that outlived close(): close() already said so; the rows go to the spool
        if self.on_error == "raise":
            self._error = exc
            return
        if not self._warned:
            self._warned = True
            what = "could not open its run" if self._fatal else "could not reach its backend"
            plan = "nothing is retried (fix the configuration)" if self._fatal else (
                f"retried every {self.retry_interval:g} s")
            self._notices.append(
                f"paramsched: the {self.name} recorder {what} ({describe_error(exc)}); training goes on, "
                f"unsent values are kept in {where} and {plan}{self._send_hint()}"
            )
        else:
            log.warning("%s recorder: backend failing again (%s); spooling to %s", self.name, describe_error(exc), where)

    def _try_recover(self) -> None:
        """Re-open if needed, then send the spool (then memory) in order."""
        self._next_retry = time.monotonic() + self.retry_interval
        try:
            if not self._opened:
                self._open(self._metadata)
                self._opened = True
        except Exception as exc:
            self._last_error = exc  # still failing: the warning / error was given once already
            if isinstance(exc, _CONFIG_ERRORS):
                self._fatal = True
            return
        if not self._resend_spool():
            return
        while self._memory:
            items = self._memory[: self._rows_per_batch]
            del self._memory[: len(items)]
            if not self._deliver(items):
                return
        if self.buffers and self._retained and not self._sync_retained():
            return
        if self._failing:
            self._failing = False
            log.info("%s recorder: backend reachable again; spooled values delivered", self.name)

    def _resend_spool(self) -> bool:
        """Send the spool's undelivered items in order; delete the spool once all are in."""
        while True:
            if not self._spool_backlog:
                self._spool_backlog = self._read_spool_tail()
            if not self._spool_backlog:
                break
            batch, count = [], 0
            while self._spool_backlog and (not batch or count < self.max_batch):
                item = self._spool_backlog.pop(0)
                batch.append(item)
                count += len(item[3]) if item[0] != _EVENT else 1
            if not self._deliver(batch, from_spool=True):
                return False
            if not self.buffers:
                self._spool_delivered_add(len(batch))
            elif self._sync_due() and not self._sync_retained():
                return False
        if self.buffers and self._retained and not self._sync_retained():
            return False
        return True

    def _read_spool_tail(self) -> list[_Item]:
        """Items appended to the spool since it was last read (seq order)."""
        with self._spool_lock:
            if self._spool_path is None or self._spool_pending() == 0:
                return []
            if self._spool_handle is not None:
                self._spool_handle.flush()
            try:
                with open(self._spool_path, "rb") as handle:
                    handle.seek(self._spool_offset)
                    data = handle.read(_SPOOL_READ_BYTES)  # bounded: a long spool is read in pieces
                    if len(data) == _SPOOL_READ_BYTES and b"\n" not in data:
                        data += handle.readline()  # one line longer than the piece: read it whole
            except OSError:
                return []
            end = data.rfind(b"\n") + 1
            self._spool_offset += end
        items: list[_Item] = []
        for line in data[:end].decode("utf-8").split("\n"):
            item = _parse_spool_line(line)
            if item is not None:
                items.append(item)
        items.sort(key=lambda item: item[1])
        return items

    def _spool_pending(self) -> int:
        return self._spooled - self._spool_delivered

    def _spool_delivered_add(self, count: int) -> None:
        with self._spool_lock:
            self._spool_delivered += count
            if self._spool_delivered >= self._spooled and not self._parked and self._spool_path is not None:
                # Everything in it was delivered and it is deleted next: no fsync, which can take
                # most of a second on a busy disk while the training thread waits for this lock.
                self._close_spool_handle(durable=False)
                try:
                    os.remove(self._spool_path)
                except OSError:
                    pass
                self._spooled = self._spool_delivered = 0
                self._spool_offset = 0

    # -- spool --------------------------------------------------------------------------

    def _where(self, create: bool = False) -> str:
        if self._spool_path is None and create:
            self._spool_path = self._new_spool_path()
        if self._spool_path is None:
            return "memory"
        return f"the spool file {os.fspath(self._spool_path)}"

    def _send_hint(self) -> str:
        if self._spool_path is None:
            return ""
        path = os.fspath(self._spool_path)
        if type(self).from_spool_target.__func__ is not BackgroundRecorder.from_spool_target.__func__:
            return f"; to send them later: paramsched spool send {path}"
        return f"; read them with paramsched.replay.load({path!r})"

    def _spool_str(self) -> str | None:
        return os.fspath(self._spool_path) if self._spool_path is not None else None

    def _new_spool_path(self) -> Path:
        folder = self.spool_dir if self.spool_dir is not None else default_spool_dir()
        stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
        return folder / f"{self.name}-{stamp}-{os.getpid()}-{self._id}.jsonl"

    def _spool_header(self) -> dict[str, Any]:
        return {
            "metadata": self._metadata,
            "spool": SPOOL_FORMAT,
            "backend": self.name,
            "target": self._safe_target(),
            "created_at": utc_now(),
            "pid": os.getpid(),
        }

    def _safe_target(self) -> dict[str, Any]:
        try:
            return dict(self._spool_target())
        except Exception as exc:  # a spool without a target still holds every value
            log.warning("%s recorder: cannot describe the spool target: %s", self.name, exc)
            return {}

    def _note_target(self) -> None:
        """The backend run is known now: a spool written before says so (a ``target`` line)."""
        with self._spool_lock:
            if self._spool_handle is None and self._spool_path is not None and self._spool_path.exists():
                self._open_spool_handle()
            if self._spool_handle is not None:
                try:
                    self._spool_handle.write(json.dumps({"target": self._safe_target()}) + "\n")
                    self._spool_handle.flush()
                except OSError as exc:
                    log.warning("%s recorder: cannot update the spool target: %s", self.name, exc)

    def _open_spool_handle(self) -> None:
        if self._spool_path is None:
            self._spool_path = self._new_spool_path()
        self._spool_path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self._spool_path.exists() or self._spool_path.stat().st_size == 0
        self._spool_handle = open(self._spool_path, "a", encoding="utf-8")
        if fresh:
            self._spool_offset = 0
            header = json.dumps(self._spool_header(), allow_nan=False) + "\n"
            self._spool_handle.write(header)
            self._spool_offset = len(header.encode("utf-8"))  # the header is never re-sent

    def _spool_items(self, items: list[Any], *, durable: bool = False) -> None:
        """Append items to the spool. Legacy ``(step, values, ms)`` tuples are *parked*: kept
        and reported at close, never re-sent by this recorder (``paramsched spool send`` can)."""
        if not items:
            return
        with self._spool_lock:
            try:
                if self._spool_handle is None:
                    self._open_spool_handle()
                lines = []
                fresh = parked = 0
                for item in items:
                    if len(item) == 3:  # a subclass's (step, values, ms): parked
                        step, values, stamp = item
                        lines.append(json.dumps({"seq": -1, "step": step, "time": stamp, "values": dict(values),
                                                 "parked": True}))
                        parked += 1
                        continue
                    lines.append(_spool_line(item))
                    fresh += 1
                self._spool_handle.write("\n".join(lines) + "\n")
                self._spool_handle.flush()
                if durable:
                    os.fsync(self._spool_handle.fileno())
                self._spooled += fresh
                self._parked += parked
            except (OSError, TypeError, ValueError) as exc:
                # The disk fails too: keep the values in memory and say so at close.
                if not self._memory:
                    log.warning("%s recorder: cannot write the spool (%s); keeping values in memory", self.name, exc)
                self._memory.extend(item for item in items if len(item) == 5)

    def _close_spool_handle(self, *, durable: bool = True) -> None:
        if self._spool_handle is not None:
            try:
                self._spool_handle.flush()
                if durable:
                    os.fsync(self._spool_handle.fileno())
                self._spool_handle.close()
            except OSError:
                pass
            finally:
                self._spool_handle = None

    def _spool_behind_the_worker(self) -> None:
        """The worker is stuck: the training thread keeps the queue and what the backend
        held (not yet synced) in the spool. A send that later succeeds duplicates some of
        them at the backend (same values, same times): harmless for replay."""
        left = self._drain_queue()
        held = [item for item, from_spool in list(self._retained) if not from_spool]
        if held:
            self._retained = [(item, True) for item, _ in self._retained]
            self._spool_items(held, durable=True)
            self._count_done(len(held))
        if left:
            self._spool_items(left, durable=True)
            self._count_done(len(left))
        else:
            with self._spool_lock:
                if self._spool_handle is not None:
                    self._spool_handle.flush()
                    os.fsync(self._spool_handle.fileno())

    # -- helpers --------------------------------------------------------------------------

    def _drain_queue(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                items.append(self._queue.popleft())
            except IndexError:
                return items

    def _wait_done(self, target: int, deadline: float) -> bool:
        with self._cond:
            while self._done < target:
                self._want_sync = True
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0 or (self._thread is not None and not self._thread.is_alive()):
                    return self._done >= target
                self._cond.wait(min(left, 0.05))
        return True

    def _give_notices(self) -> None:
        notices, self._notices = self._notices, []
        for notice in notices:
            warnings.warn(notice, RuntimeWarning, stacklevel=3)

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
        plan = "not retried (a configuration error)" if self._fatal else "retried"
        raise RecorderError(
            self.name,
            f"the backend failed ({describe_error(exc)}); unsent values are kept in {self._where()} "
            f"and {plan}{self._send_hint()}",
            spool_path=self._spool_str(),
        ) from exc

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at interpreter exit nobody can catch it: say it
            log.error("%s recorder: closing at exit failed: %s", self.name, exc)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(on_error={self.on_error!r}, state={self._state!r})"


def _runs_by_kind(items: list[_Item]) -> list[list[_Item]]:
    """Consecutive items of the same kind, in order."""
    groups: list[list[_Item]] = []
    for item in items:
        if groups and groups[-1][0][0] == item[0]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _spool_line(item: _Item) -> str:
    kind, seq, step, payload, stamp = item
    if kind == _ROW:
        return json.dumps({"seq": seq, "step": step, "time": stamp, "values": payload})
    if kind == _EVENT:
        return json.dumps({"seq": seq, "time": stamp, "event": payload})
    return json.dumps({"seq": seq, "step": step, "time": stamp, "metrics": payload})


def _parse_spool_line(line: str) -> _Item | None:
    """A spool line as an item to re-send, or None (header, target, parked, delivered, blank)."""
    if not line.strip():
        return None
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        log.warning("spool: skipped an unreadable line while re-sending: %r", line[:80])
        return None
    if not isinstance(entry, dict) or entry.get("parked") or not isinstance(entry.get("seq"), int):
        return None
    stamp = entry.get("time") if isinstance(entry.get("time"), int) else time.time_ns() // 1_000_000
    if "event" in entry:
        return (_EVENT, entry["seq"], entry["event"].get("step", 0), entry["event"], stamp)
    if "values" in entry:
        return (_ROW, entry["seq"], entry["step"], {k: float(v) for k, v in entry["values"].items()}, stamp)
    if "metrics" in entry:
        return (_METRICS, entry["seq"], entry["step"], {k: float(v) for k, v in entry["metrics"].items()}, stamp)
    return None


def _check_seconds(name: str, value: Any, *, positive: bool) -> float:
    seconds = check_real(name, value)
    if seconds < 0 or (positive and seconds == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a number of seconds {bound}, got {name}={describe(value)}")
    return seconds


