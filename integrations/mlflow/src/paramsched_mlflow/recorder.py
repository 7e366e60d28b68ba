"""`MlflowRecorder`: every applied value to an MLflow run, through ``log_batch``, off the training thread.

The training thread only enqueues (a few microseconds per step); a worker
thread sends ``log_batch`` calls of at most 1000 metrics. Metric names are
the series names (``hp/<key>/<group>``), ``step`` is the optimizer update,
``timestamp`` the wall-clock time (ms) at which the value was recorded.
MLflow's own async logging is never used.

The run: ``run_id`` when given, else the active fluent run (``mlflow.start_run()``)
when there is one on the thread that calls ``start()``, else a new run created
with ``MlflowClient`` (and ended, ``FINISHED``, by ``close()``). Every call
names its run id explicitly, so nothing depends on MLflow's thread-local
active run.

The run metadata goes to params (``paramsched.*``, flattened, each at most
500 characters) and, complete, to the artifact ``paramsched/run.json``.

Against a tracking server (``http(s)://``), values go straight to the REST
endpoint ``runs/log-batch`` with a bounded retry (``http_retries``,
``http_timeout``), so a server that is down is noticed in seconds (MLflow's
default client retries for about four minutes); the recorder then warns
once, spools to a local file and retries (see ``BackgroundRecorder``).

Example::

    sched = ps.ParamScheduler(opt, {"lr": ps.Cosine(3e-4, 0.0)}, total_steps=10_000,
                              recorders=[MlflowRecorder(experiment="sweep", run_name="cosine")])
    # or recorders=["mlflow"], ["mlflow:RUN_ID"]; inside `with mlflow.start_run():` the active run is used
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import check_positive_int, check_real, describe
from paramsched.recording import BackgroundRecorder
from paramsched.recording.base import RunMetadata
from paramsched.runformat import utc_now

__all__ = ["MlflowRecorder", "metadata_params", "ARTIFACT_PATH", "PARAM_VALUE_LIMIT"]

ARTIFACT_PATH = "paramsched/run.json"
PARAM_VALUE_LIMIT = 500  # MLflow < 2.? limit; newer servers allow 6000, 500 works everywhere
MAX_PARAMS = 100  # the artifact holds the rest
MAX_PARAMS_PER_CALL = 100  # MLflow log_batch limit for params + tags
MAX_METRICS_PER_CALL = 1000  # MLflow log_batch limit for metrics
_VOLATILE = ("created_at", "resumed_from_step", "rank", "resumes")
_LOG_BATCH = "/api/2.0/mlflow/runs/log-batch"
_UPDATE_RUN = "/api/2.0/mlflow/runs/update"
_GET_RUN = "/api/2.0/mlflow/runs/get"
_SEARCH_EXPERIMENTS = "/api/2.0/mlflow/experiments/search"


class MlflowRecorder(BackgroundRecorder):
    """Record every applied value to MLflow (``recorders=["mlflow"]`` or ``["mlflow:RUN_ID"]``).

    Args:
        run_id: an existing run to log into (also ``"mlflow:RUN_ID"``).
        tracking_uri: default: MLflow's usual resolution (``MLFLOW_TRACKING_URI``,
            ``mlflow.set_tracking_uri``), read in ``start()``.
        experiment: experiment name for a new run (created if missing; with a
            ``sqlite:///PATH`` store its artifacts go to ``mlartifacts/`` beside the
            database file, not MLflow's default ``./mlruns`` of the current directory);
            default: MLflow's current experiment.
        run_name: name of a new run; under ``torch.distributed`` with several
            recording ranks, ``-rank<r>`` is appended.
        tags: extra tags for a new run.
        on_error, spool_dir, max_batch, retry_interval, close_timeout: see
            :class:`~paramsched.recording.BackgroundRecorder`; ``max_batch``
            is capped at MLflow's 1000 metrics per ``log_batch``.
        http_timeout: seconds per HTTP request to a tracking server.
        http_retries: immediate retries of one HTTP request before the
            recorder counts the server as down.
    """

    name = "mlflow"

    def __init__(
        self,
        run_id: str | None = None,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = MAX_METRICS_PER_CALL,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
        http_timeout: float = 10.0,
        http_retries: int = 2,
    ) -> None:
        super().__init__(
            on_error=on_error,
            spool_dir=spool_dir,
            max_batch=max_batch,
            retry_interval=retry_interval,
            close_timeout=close_timeout,
        )
        if self.max_batch > MAX_METRICS_PER_CALL:
            raise ValueError(
                f"max_batch must be at most {MAX_METRICS_PER_CALL} (MLflow's log_batch limit), "
                f"got max_batch={max_batch!r}"
            )
        for arg, value in (("run_id", run_id), ("tracking_uri", tracking_uri), ("experiment", experiment), ("run_name", run_name)):
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
        self.http_timeout = check_real("http_timeout", http_timeout)
        if self.http_timeout <= 0:
            raise ValueError(f"http_timeout must be a number of seconds > 0, got http_timeout={http_timeout!r}")
        self.http_retries = check_positive_int("http_retries", http_retries, minimum=0)
        self._client: Any = None
        self._backend: _Backend | None = None
        self._owns_run = False
        self._resolved_uri: str | None = None

    # -- BackgroundRecorder hooks ---------------------------------------------------------

    def _open(self, metadata: RunMetadata) -> None:
        import mlflow
        from mlflow import MlflowClient

        if self._backend is None:  # first attempt: decide the run (no network yet)
            uri = self.tracking_uri or mlflow.get_tracking_uri()
            self._resolved_uri = uri
            self._client = MlflowClient(tracking_uri=uri)
            self._backend = _make_backend(self._client, uri, self.http_timeout, self.http_retries)
            if self.run_id is None and self.tracking_uri in (None, mlflow.get_tracking_uri()):
                active = mlflow.active_run()
                if active is not None:
                    self.run_id = active.info.run_id
        backend = self._backend
        client = self._client
        world_size = int(metadata.get("world_size") or 1)
        rank = int(metadata.get("rank") or 0)
        if self.run_id is not None and not self._owns_run:
            backend.check_run(self.run_id, self._resolved_uri)  # LookupError if it does not exist
            if world_size > 1 and rank != 0:
                # Another rank records too: give it a child run rather than mixing values.
                parent = self.run_id
                self.run_id = self._create_run(metadata, rank, world_size, parent=parent)
        elif self.run_id is None:
            backend.probe(self._resolved_uri)
            self.run_id = self._create_run(metadata, rank, world_size)
        self._log_metadata(client, metadata)

    def _send_timed(self, rows: list[tuple[int, dict[str, float]]], times_ms: list[int]) -> None:
        assert self._backend is not None and self.run_id is not None
        metrics = [
            {"key": key, "value": value, "timestamp": stamp, "step": step}
            for (step, values), stamp in zip(rows, times_ms, strict=True)
            for key, value in values.items()
        ]
        for start in range(0, len(metrics), MAX_METRICS_PER_CALL):
            self._backend.log_metrics(self.run_id, metrics[start : start + MAX_METRICS_PER_CALL])

    def _send(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        now = time.time_ns() // 1_000_000
        self._send_timed(rows, [now] * len(rows))

    def _close_backend(self) -> None:
        if self._owns_run and self._backend is not None and self.run_id is not None:
            self._backend.terminate(self.run_id)

    # -- run and metadata ------------------------------------------------------------------

    @property
    def resolved_tracking_uri(self) -> str | None:
        """The tracking URI in use (known after ``start()``)."""
        return self._resolved_uri

    def _create_run(self, metadata: RunMetadata, rank: int, world_size: int, parent: str | None = None) -> str:
        client = self._client
        experiment_id = self._experiment_id()
        name = self.run_name
        tags = dict(self.tags)
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
            name = name or client.get_run(parent).info.run_name
        if world_size > 1:
            name = f"{name or 'paramsched'}-rank{rank}"
        tags["paramsched.format"] = str(metadata.get("format", ""))
        run = client.create_run(experiment_id, tags=tags, run_name=name)
        self._owns_run = True
        return run.info.run_id

    def _experiment_id(self) -> str:
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
        try:  # the experiment chosen with mlflow.set_experiment(), if any
            from mlflow.tracking.fluent import _get_experiment_id

            return _get_experiment_id() or "0"
        except Exception:
            return "0"

    def _log_metadata(self, client: Any, metadata: RunMetadata) -> None:
        from mlflow.entities import Param

        run = client.get_run(self.run_id)
        existing = dict(run.data.params)
        params = metadata_params(metadata)
        changed = sorted(k for k, v in params.items() if k in existing and existing[k] != v)
        fresh = [Param(k, v) for k, v in params.items() if k not in existing]
        for start in range(0, len(fresh), MAX_PARAMS_PER_CALL):
            client.log_batch(self.run_id, params=fresh[start : start + MAX_PARAMS_PER_CALL], synchronous=True)
        if changed:
            warnings.warn(
                f"paramsched: mlflow run {self.run_id} already has params {changed} with other values; "
                f"MLflow params cannot change, so the originals are kept (the new metadata is in "
                f"{ARTIFACT_PATH} under 'resumes')",
                RuntimeWarning,
                stacklevel=4,
            )
        document = dict(metadata)
        original = None
        if not self._owns_run or metadata.get("resumed_from_step") is not None:
            original = _load_artifact_json(client, self.run_id, ARTIFACT_PATH)
        if original is not None:
            entry = {"at_step": metadata.get("resumed_from_step"), "created_at": metadata.get("created_at") or utc_now()}
            if changed:
                entry["metadata"] = document
            original.setdefault("resumes", []).append(entry)
            document = original
        client.log_text(self.run_id, json.dumps(document, indent=2, allow_nan=False), ARTIFACT_PATH)

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
    scalar = {"format", "paramsched_version", "total_steps", "optimizer", "relative", "world_size"}
    for field in ("format", "paramsched_version", "total_steps", "optimizer", "relative", "world_size"):
        if field in metadata and field in scalar:
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


def _artifacts_beside_database(tracking_uri: str | None, experiment: str) -> str | None:
    """``file://<db dir>/mlartifacts/<experiment>`` for a ``sqlite:///`` store, else None
    (MLflow's own default)."""
    prefix = "sqlite:///"
    if not tracking_uri or not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix):].split("?", 1)[0]).resolve()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
    return (database.parent / "mlartifacts" / safe).as_uri()


def _load_artifact_json(client: Any, run_id: str, path: str) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, path, folder)
        except Exception:
            return None
        with open(local, encoding="utf-8") as handle:
            document = json.load(handle)
    return document if isinstance(document, dict) else None


# -- how values reach MLflow -----------------------------------------------------------------


class _Backend:
    """MlflowClient for every store (sqlite, file, Databricks, ...)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def check_run(self, run_id: str, uri: str | None) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
            raise

    def probe(self, uri: str | None) -> None:
        """Nothing to probe for a local store."""

    def log_metrics(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        entities = [Metric(m["key"], m["value"], m["timestamp"], m["step"]) for m in metrics]
        self.client.log_batch(run_id, metrics=entities, synchronous=True)

    def terminate(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "FINISHED")


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
            max_retries=self.retries,
            backoff_factor=1,
            timeout=self.timeout,
            **kwargs,
        )
        verify_rest_response(response, endpoint)
        return json.loads(response.text or "{}")

    def check_run(self, run_id: str, uri: str | None) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._call(_GET_RUN, "GET", {"run_id": run_id})
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
            raise

    def probe(self, uri: str | None) -> None:
        self._call(_SEARCH_EXPERIMENTS, "GET", {"max_results": 1})

    def log_metrics(self, run_id: str, metrics: list[dict[str, Any]]) -> None:
        self._call(_LOG_BATCH, "POST", {"run_id": run_id, "metrics": metrics})

    def terminate(self, run_id: str) -> None:
        self._call(_UPDATE_RUN, "POST", {"run_id": run_id, "status": "FINISHED", "end_time": time.time_ns() // 1_000_000})


def _make_backend(client: Any, uri: str, timeout: float, retries: int) -> _Backend:
    if uri.startswith(("http://", "https://")):
        try:
            from mlflow.store.tracking.rest_store import RestStore

            store = client._tracking_client.store
            if isinstance(store, RestStore) and callable(getattr(store, "get_host_creds", None)):
                return _RestBackend(client, store, timeout, retries)
        except (ImportError, AttributeError):  # another MLflow layout: fall back to the client
            pass
    return _Backend(client)
