"""`MlflowSource`: replay an MLflow run (``"mlflow://RUN_ID"`` or an ``mlflow.entities.Run``).

Reads every ``hp/<key>/<group>`` metric history of the run and the
``paramsched/run.json`` artifact (the run metadata, when paramsched wrote
the run), and returns a :class:`~paramsched.replay.trajectory.Trajectory`.

The tracking URI is MLflow's usual one (``MLFLOW_TRACKING_URI``,
``mlflow.set_tracking_uri``) unless given: ``mlflow://RUN_ID?tracking_uri=...``
or ``load(..., tracking_uri=...)``.

Speed: ``MlflowClient.get_metric_history`` builds one Python object per
value (about 2.7 s per 100k-step series on sqlite). For a ``sqlite:///``
store the source reads MLflow's ``metrics`` table directly, read-only, with
the standard ``sqlite3`` module (the same rows ``get_metric_history``
returns; if the table does not look as expected it falls back to the
client). Other stores use ``get_metric_history``, which pages through the
REST API.

>>> MlflowSource().claims("mlflow://0123abcd"), MlflowSource().claims("runs/a")
(True, False)
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import urllib.parse
from typing import Any

import numpy as np
import pandas as pd

from paramsched.checks import describe
from paramsched.naming import PREFIX, STEP_SERIES
from paramsched.replay.trajectory import Trajectory
from paramsched_mlflow.recorder import ARTIFACT_PATH

__all__ = ["MlflowSource", "parse_mlflow_url"]


def parse_mlflow_url(url: str) -> tuple[str, str | None]:
    """``"mlflow://RUN_ID?tracking_uri=URI"`` -> ``(RUN_ID, URI or None)``.

    >>> parse_mlflow_url("mlflow://abc?tracking_uri=http://127.0.0.1:5000")
    ('abc', 'http://127.0.0.1:5000')
    """
    if not isinstance(url, str) or not url.lower().startswith("mlflow://"):
        raise ValueError(f"an MLflow run URL must look like 'mlflow://RUN_ID', got {describe(url)}")
    rest = url[len("mlflow://") :]
    run_id, _, query = rest.partition("?")
    run_id = run_id.strip("/")
    if not run_id or "/" in run_id:
        raise ValueError(f"an MLflow run URL must look like 'mlflow://RUN_ID', got {describe(url)}")
    options = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"tracking_uri"})
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in {url!r}; the only option is tracking_uri")
    uri = options.get("tracking_uri", [None])[-1] or None
    return run_id, uri


class MlflowSource:
    """Replay source for MLflow runs (registered as ``mlflow``)."""

    name = "mlflow"
    accepts = "'mlflow://RUN_ID[?tracking_uri=URI]' or an mlflow.entities.Run"

    def claims(self, obj: Any) -> bool:
        if isinstance(obj, str):
            return obj.lower().startswith("mlflow://")
        return _is_mlflow_run(obj)

    def load(self, obj: Any, *, tracking_uri: str | None = None, fast: bool = True) -> Trajectory:
        """Read the run's ``hp/*`` metrics and metadata.

        Args:
            obj: ``"mlflow://RUN_ID"`` (optionally ``?tracking_uri=...``) or a Run.
            tracking_uri: overrides the URL's and MLflow's default.
            fast: read a ``sqlite:///`` store's table directly (default);
                False always uses ``get_metric_history``.
        """
        if isinstance(obj, str):
            run_id, url_uri = parse_mlflow_url(obj)
        elif _is_mlflow_run(obj):
            run_id, url_uri = obj.info.run_id, None
        else:
            raise TypeError(f"the mlflow source reads {self.accepts}, got {describe(obj)}")
        label = f"mlflow://{run_id}"
        uri = tracking_uri or url_uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        if fast and uri is not None and uri.startswith("sqlite:///"):
            direct = _load_sqlite(uri, run_id, label)
            if direct is not None:
                columns, metadata = direct
                return Trajectory.from_wide(_wide(columns, label, metadata), metadata=metadata, source=label)

        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri = uri or mlflow.get_tracking_uri()
        _check_sqlite_exists(uri, run_id)
        client = MlflowClient(tracking_uri=uri)
        _check_reachable(client, uri, run_id)
        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
            raise
        keys = _hp_keys(run.data.metrics, label, uri)
        columns = _read_history(client, run_id, keys)
        metadata = _read_metadata(client, run_id)
        return Trajectory.from_wide(_wide(columns, label, metadata), metadata=metadata, source=label)


def _check_reachable(client: Any, uri: str, run_id: str) -> None:
    """Against a server, one bounded request first: MLflow's own retries take minutes to give up."""
    from mlflow.exceptions import MlflowException

    from paramsched_mlflow.recorder import _make_backend, _RestBackend

    backend = _make_backend(client, uri, timeout=10.0, retries=2)
    if not isinstance(backend, _RestBackend):
        return
    try:
        backend.check_run(run_id, uri)  # LookupError for an unknown run
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "INVALID_PARAMETER_VALUE":
            raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}") from exc
        raise ConnectionError(f"cannot read run {run_id!r} from the MLflow tracking server {uri!r}: {exc}") from exc


def _hp_keys(metric_names: Any, label: str, uri: str) -> list[str]:
    keys = sorted(k for k in metric_names if k.startswith(PREFIX) and k != STEP_SERIES)
    if not keys:
        raise ValueError(
            f"{label} (tracking URI {uri!r}) has no hp/<key>/<group> metrics; "
            f"its metrics are {sorted(metric_names)[:20]}"
        )
    return keys


def _sqlite_path(uri: str) -> str:
    return uri[len("sqlite:///") :].split("?", 1)[0]


def _check_sqlite_exists(uri: str, run_id: str) -> None:
    """MLflow would create an empty database at a wrong path: say the path is wrong instead."""
    if uri.startswith("sqlite:///"):
        path = _sqlite_path(uri)
        if path and path != ":memory:" and not os.path.exists(path):
            raise FileNotFoundError(
                f"no MLflow database at {path!r} (tracking URI {uri!r}) to read run {run_id!r} from"
            )

def _is_mlflow_run(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Run" and cls.__module__.startswith("mlflow.entities")


Column = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, values, timestamps


def _load_sqlite(uri: str, run_id: str, label: str) -> tuple[dict[str, Column], dict[str, Any] | None] | None:
    """Read a run from MLflow's SQLite tables with sqlite3, read-only, without importing mlflow.

    Returns None when the database does not look like MLflow's (the caller
    then goes through ``MlflowClient``), or when the artifacts are not local.
    """
    _check_sqlite_exists(uri, run_id)
    path = _sqlite_path(uri)
    try:
        connection = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        found = connection.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        if found is None:
            raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}")
        artifacts = _local_dir(found[0])
        if artifacts is None:
            return None
        names = [k for (k,) in connection.execute("SELECT key FROM latest_metrics WHERE run_uuid = ?", (run_id,))]
        keys = _hp_keys(names, label, uri)
        columns: dict[str, Column] = {}
        for key in keys:
            rows = connection.execute(
                "SELECT step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? AND key = ?",
                (run_id, key),
            ).fetchall()
            if not rows:
                return None  # not where MLflow's summary says: let the client read it
            table = np.array(rows, dtype=np.float64)  # steps and ms timestamps are < 2**53: exact
            values = np.where(table[:, 3] != 0, np.nan, table[:, 1])
            columns[key] = (table[:, 0].astype(np.int64), values, table[:, 2])
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    metadata = None
    document = os.path.join(artifacts, *ARTIFACT_PATH.split("/"))
    if os.path.exists(document):
        with open(document, encoding="utf-8") as handle:
            loaded = json.load(handle)
        metadata = loaded if isinstance(loaded, dict) else None
    return columns, metadata


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


def _read_history(client: Any, run_id: str, keys: list[str]) -> dict[str, Column]:
    columns: dict[str, Column] = {}
    for key in keys:
        history = client.get_metric_history(run_id, key)
        columns[key] = (
            np.array([m.step for m in history], dtype=np.int64),
            np.array([m.value for m in history], dtype=np.float64),
            np.array([m.timestamp for m in history], dtype=np.float64),
        )
    return columns


def _wide(columns: dict[str, Column], label: str, metadata: dict[str, Any] | None = None) -> pd.DataFrame:
    """One column per series (in ``metadata["series"]`` order when known, then by name);
    a step logged twice keeps its latest value (by timestamp)."""
    known = metadata.get("series") if isinstance(metadata, dict) else None
    rank = {name: i for i, name in enumerate(known)} if isinstance(known, list) else {}
    ordered = sorted(columns, key=lambda name: (rank.get(name, len(rank)), name))
    series: list[pd.Series] = []
    for key in ordered:
        steps, values, stamps = columns[key]
        order = np.lexsort((stamps, steps))  # by step, then time: the last is the latest
        steps, values = steps[order], values[order]
        last = np.ones(len(steps), dtype=bool)
        last[:-1] = steps[1:] != steps[:-1]
        bad = ~np.isfinite(values)
        if bad.any():
            step = int(steps[np.flatnonzero(bad)[0]])
            raise ValueError(f"{label}: series {key!r} holds a non-finite value at step {step}")
        series.append(pd.Series(values[last], index=steps[last], name=key))
    frame = pd.concat(series, axis=1, sort=True)
    frame.index.name = "step"
    return frame.reset_index()


def _read_metadata(client: Any, run_id: str) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, ARTIFACT_PATH, folder)
        except Exception:
            return None  # a run paramsched did not write: values only
        with open(local, encoding="utf-8") as handle:
            document = json.load(handle)
    return document if isinstance(document, dict) else None
