"""`MlflowRecorder`: every applied value to an MLflow run, off the training thread.

What is kept, and what is charted, are separate:

- **kept exactly**: every row goes to CSV chunks, artifacts
  ``paramsched/values/<session>-<nnnnn>.csv`` (the ``values.csv`` format:
  ``step,<series...>``, floats as ``repr``), appended as the run goes
  (uploaded every ``upload_every`` seconds, a new chunk every ``chunk_rows``
  rows) and finalised at close. Replay reads these.
- **charted**: MLflow's metric history (``hp/<key>/<group>``, ``step`` = the
  optimizer update, ``timestamp`` = when the value was applied) gets a
  thinned stream (:class:`~paramsched.recording.charting.ChartPolicy`):
  every series at each phase boundary and at least every ``chart_every`` (1000)
  steps, and in between each series where it moved by more than
  ``chart_change`` (5 %) of its range since its last charted point; the newest
  row at every upload. MLflow stores each value one by one (about 150 us of
  CPU each on sqlite, under the GIL): the series that did not move are left
  out, and the floor is 1000 steps, not the W&B recorder's 100 (a line between
  two points never strays more than 5 % of the range from the values between).
  One ``log_batch`` per few seconds; ``chart_every=1`` charts every step.
  The policy is in the run metadata (``"chart"``) and the tag ``paramsched.chart``.

Events (``record_event``) go to the artifact ``paramsched/events.jsonl`` and a
tag per event (``paramsched.event.<n>``); training metrics
(``record_metrics``, e.g. ``loss``) are MLflow metrics under their own names.
The run metadata goes to params (``paramsched.*``, each at most 500
characters) and, complete, to the artifact ``paramsched/run.json``.

The run: ``run_id`` when given, else the active fluent run (``mlflow.start_run()``)
on the thread that calls ``start()``, else a new run (ended ``FINISHED`` by
``close()``); a branched run (metadata ``"parent"``) whose parent is in the
same store is created nested under it (``mlflow.parentRunId``), with tags
``paramsched.parent`` and ``paramsched.branch_step``. Opening the run, every
upload and closing it happen on the recorder's worker thread: ``start()``
and ``step()`` never wait on the tracking server, and ``close()`` waits at
most ``close_timeout`` seconds. The tag ``paramsched.values`` says
``complete`` once every value is in; a run whose values could not all be
sent is ended ``FAILED`` with that tag naming the spool and the command that
sends it (``paramsched spool send FILE``).

Against a tracking server (``http(s)://``), metrics and ``mlflow-artifacts:``
uploads go straight to the REST endpoints with a bounded retry
(``http_retries``, ``http_timeout``), so a server that is down is noticed in
seconds (MLflow's default client retries for about four minutes). Nothing
is printed on the training path (no artifact progress bars).

Example::

    sched = ps.ParamScheduler(opt, {"lr": ps.Cosine(3e-4, 0.0)}, total_steps=10_000,
                              recorders=[MlflowRecorder(experiment="sweep", run_name="cosine")])
    # or recorders=["mlflow"], ["mlflow:RUN_ID"]; inside `with mlflow.start_run():` the active run is used
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import posixpath
import re
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from paramsched.checks import check_positive_int, check_real, describe
from paramsched.naming import STEP_SERIES
from paramsched.recording import BackgroundRecorder
from paramsched.recording.base import RunMetadata
from paramsched.recording.charting import ChartPolicy
from paramsched.runformat import event_line, format_rows, header_line, utc_now

__all__ = [
    "ARTIFACT_PATH",
    "EVENTS_PATH",
    "MlflowRecorder",
    "PARAM_VALUE_LIMIT",
    "VALUES_DIR",
    "metadata_params",
]

ARTIFACT_PATH = "paramsched/run.json"
VALUES_DIR = "paramsched/values"
EVENTS_PATH = "paramsched/events.jsonl"
PARAM_VALUE_LIMIT = 500  # MLflow < 2.? limit; newer servers allow 6000, 500 works everywhere
TAG_VALUE_LIMIT = 5000
MAX_PARAMS = 100  # the artifact holds the rest
MAX_PARAMS_PER_CALL = 100  # MLflow log_batch limit for params + tags
MAX_METRICS_PER_CALL = 1000  # MLflow log_batch limit for metrics
VALUES_TAG = "paramsched.values"
_VOLATILE = ("created_at", "resumed_from_step", "rank", "resumes")
_LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
_UPDATE_RUN = "/api/2.0/mlflow/runs/update"
_GET_RUN = "/api/2.0/mlflow/runs/get"
_SEARCH_EXPERIMENTS = "/api/2.0/mlflow/experiments/search"
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_\-./ ]+$")


class MlflowRecorder(BackgroundRecorder):
    """Record every applied value to MLflow (``recorders=["mlflow"]`` or ``["mlflow:RUN_ID"]``).

    Args:
        run_id: an existing run to log into (also ``"mlflow:RUN_ID"``).
        tracking_uri: default: MLflow's usual resolution (``MLFLOW_TRACKING_URI``,
            ``mlflow.set_tracking_uri``).
        experiment: experiment name for a new run (created if missing; with a
            ``sqlite:///PATH`` store its artifacts go to ``mlartifacts/`` beside the
            database file, not MLflow's default ``./mlruns`` of the current directory);
            default: MLflow's current experiment (a branched run: its parent's).
        run_name: name of a new run; under ``torch.distributed`` with several
            recording ranks, ``-rank<r>`` is appended.
        tags: extra tags for a new run.
        chart_every: chart every series at least every N steps (default 1000;
            ``1``: every step).
        chart_change: also chart a series at a step where it moved by more than
            this fraction of its range since its last charted point (default 0.05).
        upload_every: seconds between uploads of the exact values (the current
            chunk is re-uploaded as it grows); ``flush()`` and ``close()`` upload too.
        chunk_rows: rows per values chunk before a new one starts.
        on_error, spool_dir, max_batch, retry_interval, close_timeout, max_queue:
            see :class:`~paramsched.recording.BackgroundRecorder`; ``max_batch``
            is capped at MLflow's 1000 metrics per ``log_batch``.
        http_timeout: seconds per HTTP request to a tracking server.
        http_retries: immediate retries of one HTTP request before the
            recorder counts the server as down.
    """

    name = "mlflow"
    lifecycle_on_worker = True
    buffers = True
    stores_events = True
    stores_metrics = True
    #: Seconds between two ``log_batch`` calls of charted points. A call costs the worker
    #: 12-25 ms of CPU against a sqlite store before the first metric (under the GIL, so the
    #: training loop feels it): every 10 s that is 0.1-0.25 % of the loop, every 3 s up to 0.8 %.
    chart_interval = 10.0
    #: Rows gathered before they are thinned and formatted together (``_sync`` takes them sooner).
    process_rows = 1000
    #: The worker takes rows a thousand at a time, or each second: nothing it does with them is
    #: sooner (charts every ``chart_interval`` s, uploads every ``upload_every`` s; ``flush()``
    #: wakes it at once). Ten times fewer wake-ups than the default, each about 0.1 ms of CPU.
    hand_over_rows = process_rows
    wake_interval = 1.0

    def __init__(
        self,
        run_id: str | None = None,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        chart_every: int = 1000,
        chart_change: float = 0.05,
        upload_every: float = 30.0,
        chunk_rows: int = 5000,
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = MAX_METRICS_PER_CALL,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
        max_queue: int = 10_000,
        http_timeout: float = 10.0,
        http_retries: int = 2,
    ) -> None:
        super().__init__(
            on_error=on_error,
            spool_dir=spool_dir,
            max_batch=max_batch,
            retry_interval=retry_interval,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        if self.max_batch > MAX_METRICS_PER_CALL:
            raise ValueError(
                f"max_batch must be at most {MAX_METRICS_PER_CALL} (MLflow's log_batch limit), "
                f"got max_batch={max_batch!r}"
            )
        for arg, value in (("run_id", run_id), ("tracking_uri", tracking_uri), ("experiment", experiment),
                           ("run_name", run_name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{arg} must be a non-empty string or None, got {arg}={describe(value)}")
        if tags is not None and (
            not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise TypeError(f"tags must be a dict of str to str, got tags={describe(tags)}")
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.chart = ChartPolicy(chart_every, chart_change)
        self.upload_every = check_real("upload_every", upload_every)
        if self.upload_every <= 0:
            raise ValueError(f"upload_every must be a number of seconds > 0, got upload_every={upload_every!r}")
        self.chunk_rows = check_positive_int("chunk_rows", chunk_rows)
        self.http_timeout = check_real("http_timeout", http_timeout)
        if self.http_timeout <= 0:
            raise ValueError(f"http_timeout must be a number of seconds > 0, got http_timeout={http_timeout!r}")
        self.http_retries = check_positive_int("http_retries", http_retries, minimum=0)
        self._client: Any = None
        self._backend: _Backend | None = None
        self._artifacts: _Artifacts | None = None
        self._owns_run = False
        self._run_ready = False  # the run is checked or created (a retried open skips that)
        self._resolved_uri: str | None = tracking_uri
        self._session = ""
        self._spool_session: str | None = None  # set when re-sending a spool
        # worker-side buffers (see _send_timed / _sync)
        self._thinner: Any = None
        self._thinner_saved: Any = None
        self._header: list[str] = []
        self._header_key: tuple[str, ...] = ()
        self._lines: list[str] = []
        self._uploaded = 0  # lines of the current chunk already uploaded
        self._chunk_seq = 0
        self._last_upload = 0.0
        self._charts: list[dict[str, Any]] = []
        self._newest: Any = None  # the last row handed over, when the policy did not chart it
        self._pending_rows: list[tuple[int, dict[str, float]]] = []  # handed over, not yet processed
        self._pending_times: list[int] = []
        self._last_chart = 0.0
        self._events: list[dict[str, Any]] = []
        self._events_synced = 0

    # -- BackgroundRecorder hooks ---------------------------------------------------------

    def _prepare(self, metadata: RunMetadata) -> None:
        # The fluent active run is thread-local: read it here. mlflow not imported means no
        # active run and no set_tracking_uri(); importing it (seconds) is left to the worker.
        # Only the active run is read here: resolving the tracking URI imports modules and scans
        # ./mlruns (milliseconds on the first step), so the worker does it (the URI is global).
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or not hasattr(mlflow, "active_run") or self.run_id is not None:
            return
        active = mlflow.active_run()
        if active is None:
            return
        fluent_uri = mlflow.get_tracking_uri()
        if self.tracking_uri in (None, fluent_uri):
            self.run_id = active.info.run_id
            if self._resolved_uri is None:
                self._resolved_uri = fluent_uri

    def _open(self, metadata: RunMetadata) -> None:
        with _quiet_store_setup():
            self._open_run(metadata)

    def _open_run(self, metadata: RunMetadata) -> None:
        import mlflow
        from mlflow import MlflowClient

        if self._backend is None:  # first attempt: decide the store (no network yet)
            uri = self._resolved_uri or mlflow.get_tracking_uri()
            self._resolved_uri = uri
            self._client = MlflowClient(tracking_uri=uri)
            self._backend = _make_backend(self._client, uri, self.http_timeout, self.http_retries)
            self._session = _session_id()
            self._start_chunk(list(metadata.get("series") or []))
            self._thinner = self.chart.bind(metadata)
            self._thinner_saved = self._thinner.snapshot()
        backend = self._backend
        world_size = int(metadata.get("world_size") or 1)
        rank = int(metadata.get("rank") or 0)
        if not self._run_ready:
            if self.run_id is not None:
                backend.check_run(self.run_id, self._resolved_uri)  # LookupError if it does not exist
                if world_size > 1 and rank != 0 and not self._owns_run:
                    # Another rank records too: give it a child run rather than mixing values.
                    parent = self.run_id
                    self.run_id = self._create_run(metadata, rank, world_size, parent=parent)
            else:
                backend.probe(self._resolved_uri)
                self.run_id = self._create_run(metadata, rank, world_size)
            self._run_ready = True
        run = self._client.get_run(self.run_id)
        self._artifacts = _Artifacts(self._client, run, self._resolved_uri, self.http_timeout, self.http_retries)
        self._log_metadata(run, metadata)
        self._last_upload = self._last_chart = time.monotonic()
        self._note_target()

    def _send_timed(self, rows: list[tuple[int, dict[str, float]]], times_ms: list[int]) -> None:
        # Kept as handed over (the items stay retained until _sync): thinned and formatted a
        # thousand rows at a time, where the fixed cost of each array operation is paid once.
        self._pending_rows += rows
        self._pending_times += times_ms
        if len(self._pending_rows) >= self.process_rows:
            self._process_pending()
        self._send_charts_if_due()

    def _process_pending(self) -> None:
        """Turn the rows handed over since the last call into chunk lines and chart points."""
        rows, times_ms = self._pending_rows, self._pending_times
        if not rows:
            return
        self._pending_rows, self._pending_times = [], []
        charts = self._charts
        last_charted: Mapping[str, float] = {}
        start, count = 0, len(rows)
        while start < count:
            step, values = rows[start]
            if tuple(values) != self._header_key:
                self._add_row_other_series(step, values)
                last_charted = self._thinner.select(step, values)
                charts.extend({"key": key, "value": value, "timestamp": times_ms[start], "step": step}
                              for key, value in last_charted.items())
                start += 1
                continue
            # A run of rows in the chunk's columns: formatted together, thinned together.
            header_key = self._header_key
            end = start
            same: list[list[Any]] = []
            while end < count and tuple(rows[end][1]) == header_key:
                row = [rows[end][0]]
                row += map(float, rows[end][1].values())
                same.append(row)
                end += 1
            matrix = np.array(same, dtype=np.float64)[:, 1:]
            steps = [row[0] for row in same]
            _extend_lines(self._lines, same)
            last_charted = {}
            for i, columns in self._thinner.select_many(steps, matrix, header_key):
                step, values = rows[start + i]
                picked = {header_key[c]: values[header_key[c]] for c in columns}
                charts.extend({"key": key, "value": value, "timestamp": times_ms[start + i], "step": step}
                              for key, value in picked.items())
                last_charted = picked if start + i == end - 1 else {}
            start = end
        if rows:
            step, values = rows[-1]
            self._newest = None if len(last_charted) == len(values) else (step, values, last_charted, times_ms[-1])

    def _send_metrics(self, rows: list[tuple[int, dict[str, float]]], times_ms: list[int]) -> None:
        self._charts.extend(
            {"key": key, "value": value, "timestamp": stamp, "step": step}
            for (step, values), stamp in zip(rows, times_ms, strict=True)
            for key, value in values.items()
        )
        self._send_charts_if_due()

    def _send_events(self, events: list[dict[str, Any]]) -> None:
        # A re-sent spool may repeat an event that was delivered already: keep one.
        for event in events:
            if event not in self._events:
                self._events.append(event)

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Keep training metrics as MLflow metrics under their own names (``loss``, ``val/loss``)."""
        for key in metrics if isinstance(metrics, Mapping) else ():
            if isinstance(key, str) and not _METRIC_NAME.match(key):
                raise ValueError(
                    "MLflow metric names hold only letters, digits, '_', '-', '.', '/' and spaces, "
                    f"got the metric name {key!r}"
                )
        super().record_metrics(step, metrics)

    def _sync_due(self) -> bool:
        pending = len(self._lines) - self._uploaded + len(self._pending_rows)
        if pending >= self.chunk_rows or len(self._events) > self._events_synced:
            return True
        return (pending > 0 or bool(self._charts)) and time.monotonic() - self._last_upload >= self.upload_every

    def _sync(self) -> None:
        assert self._artifacts is not None and self._backend is not None and self.run_id is not None
        self._process_pending()
        if self._newest is not None:  # the chart reaches the newest row at every upload, and at the end
            step, values, charted, stamp = self._newest
            self._charts.extend(
                {"key": k, "value": v, "timestamp": stamp, "step": step} for k, v in values.items() if k not in charted
            )
            self._newest = None
        self._send_charts()
        if len(self._lines) > self._uploaded:
            text = header_line(self._header) + "\n" + "\n".join(self._lines) + "\n"
            self._artifacts.put_text(self._chunk_path(), text)
            self._uploaded = len(self._lines)
            if self._uploaded >= self.chunk_rows:
                self._chunk_seq += 1
                self._start_chunk(self._header)
        if len(self._events) > self._events_synced:
            text = "".join(event_line(e) for e in self._events)
            self._artifacts.put_text(EVENTS_PATH, text)
            tags = {
                f"paramsched.event.{i:05d}": _event_tag(event)
                for i, event in enumerate(self._events[self._events_synced :], start=self._events_synced)
            }
            self._backend.set_tags(self.run_id, tags)
            self._events_synced = len(self._events)
        self._last_upload = time.monotonic()
        self._thinner_saved = self._thinner.snapshot()

    def _discard(self) -> None:
        self._pending_rows, self._pending_times = [], []
        del self._lines[self._uploaded :]
        del self._events[self._events_synced :]
        self._charts.clear()
        self._newest = None
        if self._thinner is not None and self._thinner_saved is not None:
            self._thinner.restore(self._thinner_saved)

    def _close_backend(self) -> None:
        if self._backend is None:
            return
        try:
            if self.run_id is not None:
                self._close_run()
        finally:
            self._backend.close()

    def _close_run(self) -> None:
        assert self._backend is not None and self.run_id is not None
        unsent = self.unsent_rows() + len(self._queue)
        if unsent == 0 and not self._failing:
            self._backend.set_tags(self.run_id, {VALUES_TAG: "complete"})
            if self._owns_run:
                self._backend.terminate(self.run_id, "FINISHED")
            return
        # Not everything is in: say so on the run (one quick try: the backend may be down, and
        # the spool's `paramsched spool send` finishes the run later either way).
        where = os.fspath(self.spool_path) if self.spool_path is not None else "memory"
        self._backend.quick = True
        try:
            self._backend.set_tags(self.run_id, {
                VALUES_TAG: f"incomplete: {unsent} value row(s) are in the spool {where}; "
                            f"send them with: paramsched spool send {where}"
            })
            if self._owns_run:
                self._backend.terminate(self.run_id, "FAILED")
        finally:
            self._backend.quick = False

    # -- spool ------------------------------------------------------------------------------

    def _spool_target(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "tracking_uri": self._resolved_uri,
            "experiment": self.experiment,
            "run_name": self.run_name,
            "tags": self.tags,
            "owns_run": self._owns_run or self.run_id is None,
            "session": self._session or None,
        }

    def destination(self) -> str | None:
        if self.run_id is None:
            return None
        return _destination_url(self.run_id, self._resolved_uri)

    @classmethod
    def spool_destination(cls, target: Mapping[str, Any]) -> str | None:
        run_id = target.get("run_id")
        uri = target.get("tracking_uri")
        if isinstance(run_id, str) and run_id:
            return _destination_url(run_id, uri if isinstance(uri, str) else None)
        experiment = f", experiment {target['experiment']!r}" if target.get("experiment") else ""
        return f"a new MLflow run at {uri or 'the default tracking URI'}{experiment} (it was never opened)"

    @classmethod
    def from_spool_target(
        cls, target: Mapping[str, Any], to: str | None, *, spool_dir: str | os.PathLike[str], close_timeout: float
    ) -> MlflowRecorder:
        """The recorder ``paramsched spool send`` uses: into ``to``
        (``mlflow://RUN_ID?tracking_uri=URI``, or ``mlflow://?tracking_uri=URI&experiment=NAME``
        for a new run), else into the run the spool names (created if it was never opened)."""
        options: dict[str, Any] = {}
        if to is not None:
            run_id, query = _parse_destination(to)
            options = {"run_id": run_id, "tracking_uri": query.get("tracking_uri"),
                       "experiment": query.get("experiment"), "run_name": query.get("run_name")}
            owns = run_id is None
            session = None
        else:
            options = {key: target.get(key) for key in ("run_id", "tracking_uri", "experiment", "run_name")}
            options["tags"] = dict(target.get("tags") or {})
            owns = bool(target.get("owns_run"))
            session = target.get("session")
        recorder = cls(
            **{k: v for k, v in options.items() if v not in (None, "", {})},
            on_error="raise", spool_dir=spool_dir, close_timeout=close_timeout, chart_every=1,
        )
        recorder._owns_run = owns and recorder.run_id is not None
        recorder._spool_session = session if isinstance(session, str) and session else None
        return recorder

    # -- run and metadata ------------------------------------------------------------------

    @property
    def resolved_tracking_uri(self) -> str | None:
        """The tracking URI in use (known once the run is open)."""
        return self._resolved_uri

    def _create_run(self, metadata: RunMetadata, rank: int, world_size: int, parent: str | None = None) -> str:
        client = self._client
        lineage = metadata.get("parent") if isinstance(metadata.get("parent"), Mapping) else None
        branch_parent = self._parent_in_store(lineage) if parent is None else None
        experiment_id = self._experiment_id(branch_parent)
        name = self.run_name
        tags = dict(self.tags)
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
            name = name or client.get_run(parent).info.run_name
        elif branch_parent is not None:
            tags["mlflow.parentRunId"] = branch_parent.info.run_id
        if world_size > 1:
            name = f"{name or 'paramsched'}-rank{rank}"
        tags["paramsched.format"] = str(metadata.get("format", ""))
        run = client.create_run(experiment_id, tags=tags, run_name=name)
        self._owns_run = True
        return run.info.run_id

    def _parent_in_store(self, lineage: Mapping[str, Any] | None) -> Any:
        """The parent MLflow run of a branched run, when it is in this tracking store."""
        if lineage is None:
            return None
        run_id = lineage.get("run_id")
        source = lineage.get("source")
        if isinstance(source, str) and source.lower().startswith("mlflow://") and not isinstance(run_id, str):
            run_id = source[len("mlflow://"):].split("?", 1)[0].strip("/")
        if not isinstance(run_id, str) or not run_id:
            return None
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_run(run_id)
        except MlflowException:
            return None  # a parent elsewhere (CSV, another store): lineage stays in the metadata

    def _experiment_id(self, parent_run: Any = None) -> str:
        client = self._client
        if self.experiment is not None:
            found = client.get_experiment_by_name(self.experiment)
            if found is not None:
                return found.experiment_id
            return client.create_experiment(
                self.experiment, artifact_location=_artifacts_beside_database(self.resolved_tracking_uri, self.experiment)
            )
        env_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        env_name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if env_id:
            return env_id
        if env_name:
            found = client.get_experiment_by_name(env_name)
            return found.experiment_id if found is not None else client.create_experiment(env_name)
        if parent_run is not None:
            return parent_run.info.experiment_id  # a nested run shows under its parent
        try:  # the experiment chosen with mlflow.set_experiment(), if any
            from mlflow.tracking.fluent import _get_experiment_id

            return _get_experiment_id() or "0"
        except Exception:
            return "0"

    def _log_metadata(self, run: Any, metadata: RunMetadata) -> None:
        from mlflow.entities import Param

        assert self._artifacts is not None and self._backend is not None
        client = self._client
        existing = dict(run.data.params)
        params = metadata_params(metadata)
        changed = sorted(k for k, v in params.items() if k in existing and existing[k] != v)
        fresh = [Param(k, v) for k, v in params.items() if k not in existing]
        for start in range(0, len(fresh), MAX_PARAMS_PER_CALL):
            client.log_batch(self.run_id, params=fresh[start : start + MAX_PARAMS_PER_CALL], synchronous=True)
        if changed and not self._resending:
            self._notices.append(
                f"paramsched: mlflow run {self.run_id} already has params {changed} with other values; "
                f"MLflow params cannot change, so the originals are kept (the new metadata is in "
                f"{ARTIFACT_PATH} under 'resumes')"
            )
        document = dict(metadata)
        document["chart"] = {**self.chart.describe(), "values": f"{VALUES_DIR}/*.csv"}
        original = None
        if not self._owns_run or metadata.get("resumed_from_step") is not None or self._resending:
            original = _json_or_none(self._artifacts.get_text(ARTIFACT_PATH))
            events = self._artifacts.get_text(EVENTS_PATH)
            if events:
                self._events = [json.loads(line) for line in events.splitlines() if line.strip()]
                self._events_synced = len(self._events)
        if original is not None and self._resending:
            document = None  # the spool's run already has its metadata
        elif original is not None:
            entry = {"at_step": metadata.get("resumed_from_step"), "created_at": metadata.get("created_at") or utc_now()}
            if changed:
                entry["metadata"] = dict(metadata)
            original.setdefault("resumes", []).append(entry)
            document = original
        if document is not None:
            self._artifacts.put_text(ARTIFACT_PATH, json.dumps(document, indent=2, allow_nan=False))
        resumed = metadata.get("resumed_from_step")
        if isinstance(resumed, int) and not isinstance(resumed, bool) and not self._resending:
            self._drop_rows_from(resumed)
        tags = {"paramsched.chart": _policy_tag(self.chart), VALUES_TAG: "recording"}
        lineage = metadata.get("parent")
        if isinstance(lineage, Mapping):
            tags["paramsched.parent"] = _clip(str(lineage.get("source") or lineage.get("run_id") or ""))
            if lineage.get("branch_step") is not None:
                tags["paramsched.branch_step"] = str(lineage.get("branch_step"))
        self._backend.set_tags(self.run_id, tags)

    def _drop_rows_from(self, step: int) -> None:
        """A run resumed at ``step``: the crashed session's rows from ``step`` on are void (the
        resumed one records them again), so the exact values hold every step once."""
        assert self._artifacts is not None
        for path in reversed(self._artifacts.list(VALUES_DIR)):
            text = self._artifacts.get_text(path)
            if not text:
                continue
            header, *rows = text.rstrip("\n").split("\n")
            kept = [row for row in rows if int(row.split(",", 1)[0]) < step]
            if len(kept) == len(rows):
                break  # chunks are in step order once each resume has trimmed the ones before
            self._artifacts.put_text(path, "\n".join([header, *kept]) + "\n")

    # -- values chunks and charts (worker thread) ---------------------------------------------

    def _start_chunk(self, header: list[str]) -> None:
        self._header = list(header)
        self._header_key = tuple(header)
        self._lines = []
        self._uploaded = 0

    def _chunk_path(self) -> str:
        session = getattr(self, "_spool_session", None)
        if session:  # a re-sent spool: after its session's own chunks, the same names every time
            return f"{VALUES_DIR}/{session}-r{self._chunk_seq:05d}.csv"
        return f"{VALUES_DIR}/{self._session}-{self._chunk_seq:05d}.csv"

    def _add_row_other_series(self, step: int, values: Mapping[str, float]) -> None:
        """A row whose series differ from the chunk's header: a new chunk when there are new ones."""
        new = [name for name in values if name not in self._header_key and name != STEP_SERIES]
        if new:
            if len(self._lines) > self._uploaded:
                self._sync_chunk_now()
            if self._lines:
                self._chunk_seq += 1
            self._start_chunk(self._header + new)
        row = [step]
        row += (float(values[name]) if name in values else math.nan for name in self._header)  # missing: empty
        _extend_lines(self._lines, [row])

    def _sync_chunk_now(self) -> None:
        assert self._artifacts is not None
        text = header_line(self._header) + "\n" + "\n".join(self._lines) + "\n"
        self._artifacts.put_text(self._chunk_path(), text)
        self._uploaded = len(self._lines)

    def _send_charts_if_due(self) -> None:
        due = time.monotonic() - self._last_chart >= self.chart_interval
        if due:
            self._process_pending()
        if len(self._charts) >= MAX_METRICS_PER_CALL or (self._charts and due):
            self._send_charts()

    def _send_charts(self) -> None:
        assert self._backend is not None and self.run_id is not None
        charts = self._charts
        for start in range(0, len(charts), self.max_batch):
            self._backend.log_metrics(self.run_id, charts[start : start + self.max_batch])
        charts.clear()
        self._last_chart = time.monotonic()

    def __repr__(self) -> str:
        return f"MlflowRecorder(run_id={self.run_id!r}, tracking_uri={self.tracking_uri!r}, on_error={self.on_error!r})"


def metadata_params(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The run metadata flattened into MLflow params (``paramsched.*``), each value <= 500 chars.

    Fields that change on resume (``created_at``, ``resumed_from_step``,
    ``rank``) are left out: MLflow params cannot change. At most 100 params;
    the complete document is the ``paramsched/run.json`` artifact.

    >>> metadata_params({"format": "paramsched.run/1", "total_steps": 10,
    ...                  "schedules": {"lr": {"type": "Constant", "value": 0.1}},
    ...                  "groups": [{"index": 0, "label": "g0", "base": {"lr": 0.1}}]})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'paramsched.format': 'paramsched.run/1', 'paramsched.total_steps': '10',
     'paramsched.schedule.lr': '{"type":"Constant","value":0.1}', 'paramsched.base.g0.lr': '0.1'}
    """
    params: dict[str, str] = {}
    for field in ("format", "paramsched_version", "total_steps", "optimizer", "relative", "world_size"):
        if field in metadata:
            params[f"paramsched.{field}"] = _text(metadata[field])
    for key, spec in (metadata.get("schedules") or {}).items():
        params[f"paramsched.schedule.{key}"] = _text(spec)
    for group, specs in (metadata.get("overrides") or {}).items():
        for key, spec in (specs or {}).items():
            params[f"paramsched.override.{group}.{key}"] = _text(spec)
    for group in metadata.get("groups") or []:
        for key, base in (group.get("base") or {}).items():
            params[f"paramsched.base.{group.get('label')}.{key}"] = _text(base)
    if len(params) > MAX_PARAMS:
        kept = dict(list(params.items())[: MAX_PARAMS - 1])
        kept["paramsched.params_truncated"] = f"{len(params)} params; all in {ARTIFACT_PATH}"
        params = kept
    return params


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, int):
        text = str(value)
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=False)
    if len(text) > PARAM_VALUE_LIMIT:
        text = text[: PARAM_VALUE_LIMIT - 3] + "..."
    return text


def _clip(text: str, limit: int = TAG_VALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _event_tag(event: Mapping[str, Any]) -> str:
    """One line a person reads in the MLflow UI; the artifact holds the record itself."""
    change = ""
    if event.get("before") is not None or event.get("after") is not None:
        change = f" {event.get('before')!r} -> {event.get('after')!r}"
    series = f" {event['series']}" if event.get("series") else ""
    reason = f": {event['reason']}" if event.get("reason") else ""
    return _clip(f"step {event.get('step')} {event.get('kind')}{series}{change}{reason}")


def _extend_lines(lines: list[str], rows: list[list[Any]]) -> None:
    """Append ``rows`` (``[step, value, ...]``) as chunk lines, formatted together; empties ``rows``."""
    if rows:
        lines.extend(format_rows(rows)[:-1].split("\n"))
        rows.clear()


def _policy_tag(policy: ChartPolicy) -> str:
    if policy.every == 1:
        return f"every step charted; exact values in {VALUES_DIR}/"
    return (f"charted: phase boundaries, each series where it moved > {policy.change:g} of its range, at least every "
            f"{policy.every} steps; exact values in {VALUES_DIR}/")


def _session_id() -> str:
    """Sorts by start time, so a resumed run's chunks come after the crashed run's."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}"


def _destination_url(run_id: str, uri: str | None) -> str:
    query = f"?tracking_uri={urllib.parse.quote(uri, safe=':/')}" if uri else ""
    return f"mlflow://{run_id}{query}"


def _parse_destination(url: str) -> tuple[str | None, dict[str, str]]:
    """``mlflow://RUN_ID?tracking_uri=...`` (or an empty RUN_ID: a new run) -> (run id or None, options)."""
    if not isinstance(url, str) or not url.lower().startswith("mlflow:"):
        raise ValueError(f"an MLflow destination must look like 'mlflow://RUN_ID?tracking_uri=URI', got {describe(url)}")
    rest = url.split(":", 1)[1].lstrip("/")
    run_id, _, query = rest.partition("?")
    options = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"tracking_uri", "experiment", "run_name"})
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in {url!r}; options: tracking_uri, experiment, run_name")
    if "/" in run_id:
        raise ValueError(f"an MLflow destination must look like 'mlflow://RUN_ID?tracking_uri=URI', got {url!r}")
    return (run_id or None), options


def _artifacts_beside_database(tracking_uri: str | None, experiment: str) -> str | None:
    """``file://<db dir>/mlartifacts/<experiment>`` for a ``sqlite:///`` store, else None
    (MLflow's own default)."""
    prefix = "sqlite:///"
    if not tracking_uri or not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix):].split("?", 1)[0]).resolve()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    return (database.parent / "mlartifacts" / safe).as_uri()


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _local_dir(artifact_uri: Any) -> str | None:
    """The local directory of a ``file:`` / plain-path artifact URI, else None."""
    if not isinstance(artifact_uri, str):
        return None
    if artifact_uri.startswith("file://"):
        parsed = urllib.parse.urlparse(artifact_uri)
        return urllib.parse.unquote(parsed.path) if parsed.netloc in ("", "localhost") else None
    if os.path.isabs(artifact_uri):
        return artifact_uri
    return None


@contextlib.contextmanager
def _quiet_store_setup() -> Iterator[None]:
    """Keep MLflow's INFO lines about creating and migrating a new SQL store's tables
    ("Creating initial MLflow database tables...") off the user's terminal: nothing is
    printed on the training path unless asked (issue 12.10). Warnings still show."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic.runtime.migration")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# -- artifacts, without progress bars and with bounded retries ------------------------------


class _Artifacts:
    """Read and write a run's artifacts: a local directory directly, an ``mlflow-artifacts:``
    server through its REST endpoints (bounded retries), anything else through MLflow's
    artifact repository (without its progress bar)."""

    def __init__(self, client: Any, run: Any, tracking_uri: str | None, timeout: float, retries: int) -> None:
        self.client = client
        self.run_id = run.info.run_id
        self.uri = run.info.artifact_uri
        self.timeout = timeout
        self.retries = retries
        self.local = _local_dir(self.uri)
        self.http: str | None = None
        if self.local is None and str(self.uri).startswith("mlflow-artifacts:") and str(tracking_uri).startswith(
            ("http://", "https://")
        ):
            from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

            self.http = MlflowArtifactsRepository.resolve_uri(self.uri, tracking_uri)

    def _request(self, base: str, endpoint: str, method: str, **kwargs: Any) -> Any:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        return http_request(
            get_default_host_creds(base), endpoint, method, max_retries=self.retries, backoff_factor=1,
            timeout=self.timeout, raise_on_status=False, **kwargs,
        )

    def put_text(self, path: str, text: str) -> None:
        data = text.encode("utf-8")
        if self.local is not None:
            target = Path(self.local, *path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
            return
        if self.http is not None:
            response = self._request(self.http, "/" + path, "PUT", data=data,
                                     extra_headers={"Content-Type": "text/plain"})
            _check_status(response, f"upload of {path}")
            return
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder, posixpath.basename(path))
            local.write_bytes(data)
            self.client.log_artifact(self.run_id, str(local), posixpath.dirname(path) or None)

    def get_text(self, path: str) -> str | None:
        """The artifact's text, or None when there is none."""
        if self.local is not None:
            target = Path(self.local, *path.split("/"))
            return target.read_text(encoding="utf-8") if target.is_file() else None
        if self.http is not None:
            response = self._request(self.http, "/" + path, "GET")
            if response.status_code == 404:
                return None
            _check_status(response, f"download of {path}")
            return response.content.decode("utf-8")
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(self.uri)
        with tempfile.TemporaryDirectory() as folder:
            local = os.path.join(folder, posixpath.basename(path))
            try:
                if hasattr(repo, "_download_file"):
                    repo._download_file(path, local)  # the file itself: no "Downloading artifacts" bar
                else:
                    local = repo.download_artifacts(path, folder)
            except (MlflowException, OSError):
                return None
            if not os.path.isfile(local):
                return None
            with open(local, encoding="utf-8") as handle:
                return handle.read()

    def list(self, folder: str) -> list[str]:
        """Paths (``folder/name``) of the files directly in ``folder``, sorted."""
        if self.local is not None:
            target = Path(self.local, *folder.split("/"))
            if not target.is_dir():
                return []
            return sorted(f"{folder}/{p.name}" for p in target.iterdir() if p.is_file() and not p.name.startswith("."))
        if self.http is not None:
            marker = "/mlflow-artifacts/artifacts"
            base, tail = self.http.split(marker, 1)
            root = tail.lstrip("/")
            response = self._request(base, marker, "GET", params={"path": posixpath.join(root, folder)})
            _check_status(response, f"listing of {folder}")
            files = response.json().get("files", [])
            return sorted(f"{folder}/{posixpath.basename(f['path'])}" for f in files if not f.get("is_dir"))
        return sorted(info.path for info in self.client.list_artifacts(self.run_id, folder) if not info.is_dir)


def _check_status(response: Any, what: str) -> None:
    if response.status_code >= 400:
        from mlflow.exceptions import MlflowException

        raise MlflowException(f"MLflow artifact {what} failed: HTTP {response.status_code} {response.text[:200]}")


# -- how metrics and tags reach MLflow --------------------------------------------------------


class _Backend:
    """MlflowClient for every store (sqlite, file, Databricks, ...)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.quick = False  # one short try per call (marking a run while the backend fails)

    def check_run(self, run_id: str, uri: str | None) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
            raise

    def probe(self, uri: str | None) -> None:
        """Nothing to probe for a local store."""

    def log_metrics(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        entities = [Metric(m["key"], m["value"], m["timestamp"], m["step"]) for m in metrics]
        self.client.log_batch(run_id, metrics=entities, synchronous=True)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in tags.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_CALL):
            self.client.log_batch(run_id, tags=items[start : start + MAX_PARAMS_PER_CALL], synchronous=True)

    def terminate(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)

    def close(self) -> None:
        """Nothing to let go of: the client has no connection of its own."""


class _StoreProcess:
    """The child process that makes this recorder's ``log_batch`` calls (see :mod:`._store_process`).

    Started when constructed: its ``import mlflow`` (seconds) overlaps the
    run, and until it says it is ready :meth:`ready` is False and the caller
    logs in this process (nothing ever waits for the child to start). A child
    that served and then ended is started again at the next call (the
    recorder's retry). Raises ``ConnectionError`` when the child cannot answer.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.proc: Any = None
        self.broken = False
        self._ready = False
        self._finalizer: Any = None
        self.start()

    def start(self) -> None:
        import subprocess
        import weakref

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paramsched_mlflow._store_process", self.uri],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, encoding="utf-8", bufsize=1,
        )
        self._ready = False
        # An abandoned recorder (never closed) must not leave its child behind.
        self._finalizer = weakref.finalize(self, _end_process, self.proc)

    def ready(self) -> bool:
        """True once the child has imported MLflow and opened the store (never waits).

        A child that ends before it was ready (it cannot import MLflow, a
        broken environment) is not started again: the calls stay here."""
        import select

        if self.broken:
            return False
        if self.proc is None or self.proc.poll() is not None and self._ready:
            self.start()  # it ran, then ended (killed): a new one for the next calls
            return False
        if not self._ready and select.select([self.proc.stdout], [], [], 0)[0]:
            line = self.proc.stdout.readline()
            self._ready = line.strip() == '{"ready": true}'
            if not self._ready:
                self.broken = True
                _end_process(self.proc)
        return self._ready

    def log_batch(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        """``log_batch`` in the child (call when :meth:`ready`)."""
        self._send({"run_id": run_id, "metrics": metrics})
        reply = self._answer()
        if not reply.get("ok"):
            raise RuntimeError(f"MLflow store ({self.uri}): {reply.get('error')}")

    def close(self) -> None:
        """Tell the child to exit and return: every call was answered, and its interpreter's
        shutdown (about half a second with MLflow loaded) is not the recorder's close() time."""
        import threading

        proc, self.proc = self.proc, None
        if proc is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
        if not self._ready:  # still importing MLflow: nothing to finish
            proc.kill()
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.write('{"exit": true}\n')
            proc.stdin.flush()
        threading.Thread(target=_end_process, args=(proc,), name="paramsched-mlflow-store-exit", daemon=True).start()

    def _send(self, request: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise ConnectionError(f"the MLflow store process ended ({self._ended()})") from exc

    def _answer(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # a blocking read: the GIL is free meanwhile
        if not line:
            raise ConnectionError(f"the MLflow store process ended ({self._ended()})")
        return json.loads(line)

    def _ended(self) -> str:
        code = self.proc.wait(timeout=5) if self.proc is not None else None
        return f"exit code {code}"


def _end_process(proc: Any) -> None:
    """Let a store process exit (it was asked to, or its stdin closes), else kill it."""
    import subprocess

    with contextlib.suppress(OSError, ValueError):
        proc.stdin.close()
    try:
        proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(OSError, ValueError):
        proc.stdout.close()


class _SqlBackend(_Backend):
    """A SQL store (``sqlite:///...``): ``log_batch`` of metrics in a child process (about
    0.4 ms of CPU per metric in SQLAlchemy, which would otherwise hold this process's GIL).

    The child starts at the first chart send, which is made here, as are the
    sends until it is ready: a run that ends before that (a short run, a
    test) never waits for a child, and one still starting at close is killed."""

    def __init__(self, client: Any, uri: str) -> None:
        super().__init__(client)
        self.uri = uri
        self.store: _StoreProcess | None = None

    def log_metrics(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        if self.store is not None and self.store.ready():
            self.store.log_batch(run_id, metrics)
            return
        if self.store is None:
            self.store = _StoreProcess(self.uri)
        super().log_metrics(run_id, metrics)  # while the child starts: here, as without it

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class _RestBackend(_Backend):
    """Direct REST calls with a bounded retry, for ``http(s)://`` tracking servers."""

    def __init__(self, client: Any, store: Any, timeout: float, retries: int) -> None:
        super().__init__(client)
        self.store = store
        self.timeout = timeout
        self.retries = retries

    def _call(self, endpoint: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        kwargs: dict[str, Any] = {"params": body} if method == "GET" else {"json": body}
        response = http_request(
            self.store.get_host_creds(),
            endpoint,
            method,
            max_retries=0 if self.quick else self.retries,
            backoff_factor=1,
            timeout=min(self.timeout, 2.0) if self.quick else self.timeout,
            **kwargs,
        )
        verify_rest_response(response, endpoint)
        return json.loads(response.text or "{}")

    def check_run(self, run_id: str, uri: str | None) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._call(_GET_RUN, "GET", {"run_id": run_id})
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
            raise

    def probe(self, uri: str | None) -> None:
        self._call(_SEARCH_EXPERIMENTS, "GET", {"max_results": 1})

    def log_metrics(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        self._call(_LOG_BATCH, "POST", {"run_id": run_id, "metrics": metrics})

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        items = [{"key": k, "value": v} for k, v in tags.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_CALL):
            self._call(_LOG_BATCH, "POST", {"run_id": run_id, "tags": items[start : start + MAX_PARAMS_PER_CALL]})

    def terminate(self, run_id: str, status: str) -> None:
        self._call(_UPDATE_RUN, "POST", {"run_id": run_id, "status": status, "end_time": time.time_ns() // 1_000_000})


def _make_backend(client: Any, uri: str, timeout: float, retries: int) -> _Backend:
    if uri.startswith(("http://", "https://")):
        try:
            from mlflow.store.tracking.rest_store import RestStore

            store = client._tracking_client.store
            if isinstance(store, RestStore) and callable(getattr(store, "get_host_creds", None)):
                return _RestBackend(client, store, timeout, retries)
        except (ImportError, AttributeError):  # another MLflow layout: fall back to the client
            pass
    if uri.startswith("sqlite:") and os.name == "posix":  # ready() needs select() on a pipe
        return _SqlBackend(client, uri)
    return _Backend(client)
