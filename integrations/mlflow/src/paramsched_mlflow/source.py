"""`MlflowSource`: replay an MLflow run (``"mlflow://RUN_ID"`` or an ``mlflow.entities.Run``).

What it reads:

- the values: a run paramsched recorded keeps every value exactly in the
  artifacts ``paramsched/values/*.csv`` (the chunks the recorder uploads),
  read in name order (a resumed session's chunks come after, and win);
  a run without them (an older paramsched, or a run logged by something
  else: pass ``keymap=``) is read from its metric histories;
- ``paramsched/run.json`` (the run metadata, lineage included) and
  ``paramsched/events.jsonl`` (the events, with resumed-away ones dropped);
- every metric that is not ``hp/*`` (``loss``, ``val_loss``, ...) as ``traj.metrics``.

``keymap=`` reads a log that paramsched did not write, e.g. a Hugging Face
Trainer run (``keymap="hf"``: its ``learning_rate`` metric); it goes to
:func:`paramsched.replay._columns.table_columns`, which owns each key map's
step convention. A run the recorder has not finished (tag
``paramsched.values`` other than ``complete``) loads with a note saying so.

The tracking URI is MLflow's usual one (``MLFLOW_TRACKING_URI``,
``mlflow.set_tracking_uri``) unless given: ``mlflow://RUN_ID?tracking_uri=...``
or ``load(..., tracking_uri=...)``.

Speed: for a ``sqlite:///`` store with local artifacts the source reads
MLflow's tables directly, read-only, with the standard ``sqlite3`` module
(without importing mlflow; if the tables do not look as expected it falls
back to the client). Other stores go through ``MlflowClient`` and the
artifact store, never printing a progress bar.

>>> MlflowSource().claims("mlflow://0123abcd"), MlflowSource().claims("runs/a")
(True, False)
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from paramsched.checks import describe
from paramsched.naming import PREFIX, STEP_SERIES
from paramsched.replay._columns import table_columns
from paramsched.replay.trajectory import Trajectory
from paramsched.runformat import parse_events, read_table
from paramsched_mlflow.recorder import (
    ARTIFACT_PATH,
    EVENTS_PATH,
    VALUES_DIR,
    VALUES_TAG,
    _local_dir,
)

__all__ = ["MlflowSource", "parse_mlflow_url"]

Column = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, values, timestamps
_LARGEST = np.finfo(np.float64).max


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

    def load(
        self,
        obj: Any,
        *,
        keymap: Any = None,
        tracking_uri: str | None = None,
        fast: bool = True,
    ) -> Trajectory:
        """Read the run's values, metadata, events and metrics.

        Args:
            obj: ``"mlflow://RUN_ID"`` (optionally ``?tracking_uri=...``) or a Run.
            keymap: read a run that paramsched did not write (``"hf"``,
                ``"lightning"``, ``"auto"``, a dict; see :mod:`paramsched.replay.keymaps`).
            tracking_uri: overrides the URL's and MLflow's default.
            fast: read a ``sqlite:///`` store's tables directly (default);
                False always goes through ``MlflowClient``.
        """
        if isinstance(obj, str):
            run_id, url_uri = parse_mlflow_url(obj)
        elif _is_mlflow_run(obj):
            run_id, url_uri = obj.info.run_id, None
        else:
            raise TypeError(f"the mlflow source reads {self.accepts}, got {describe(obj)}")
        label = f"mlflow://{run_id}"
        uri = tracking_uri or url_uri or os.environ.get("MLFLOW_TRACKING_URI") or None
        reader: _Reader | None = None
        if fast and uri is not None and uri.startswith("sqlite:///"):
            reader = _SqliteReader.open(uri, run_id)
        if reader is None:
            reader = _ClientReader.open(uri, run_id)
        try:
            return _trajectory(reader, label, keymap)
        finally:
            reader.close()


def _trajectory(reader: _Reader, label: str, keymap: Any) -> Trajectory:
    from paramsched.replay.keymaps import informed_keymap

    if isinstance(keymap, str):  # "hf" / "auto": a Trainer run logs its model config as params,
        # and the version in it decides HF's step convention (no query for any other key map)
        keymap = informed_keymap(keymap, transformers_version=reader.param("transformers_version"))
    notes: list[str] = []
    names = reader.metric_names()
    metadata = _json_document(reader.artifact_text(ARTIFACT_PATH))
    chunks = reader.chunk_paths()
    native = keymap is None or (isinstance(keymap, str) and keymap == "auto")
    tags = reader.tags()
    state = tags.get(VALUES_TAG)
    if native and state is not None and state != "complete":
        notes.append(
            f"the recorder did not finish this run (tag {VALUES_TAG}={state!r}): the exact values "
            "end at its last upload"
        )
    if chunks and native:
        table, chunk_notes = _chunk_table(reader, chunks, label)
        notes.extend(chunk_notes)
    else:
        if native and "paramsched.chart" in tags:
            notes.append(
                f"no exact values ({VALUES_DIR}/*.csv) in this run: read from its charted metric "
                f"history, which the recorder thinned ({tags['paramsched.chart']})"
            )
        if keymap is None:
            wanted = _hp_keys(names, label, reader.uri)
        else:
            wanted = sorted(names)
        table = _wide(reader.histories(wanted), label, metadata, check_finite=keymap is None)
    foreign = keymap is not None and not (chunks and native)
    if foreign:  # its notes say which columns are metrics (and which, like HF's summary, are not)
        frame, more, _ = table_columns(table, source=label, keymap=keymap, with_metrics=True)
    else:
        frame, more = table_columns(table, source=label, keymap=keymap, metadata=metadata)
    notes.extend(more)
    events, event_notes = _events(reader.artifact_text(EVENTS_PATH), label)
    notes.extend(event_notes)
    metrics, metric_notes = _metrics(reader, [n for n in names if not n.startswith(PREFIX)], label)
    notes.extend(metric_notes)
    if metrics is not None and foreign:
        metrics = _on_update_axis(metrics, keymap, list(table.columns), label)
    return Trajectory(frame, metadata, label, notes=notes, events=events, metrics=metrics)


def _on_update_axis(metrics: pd.DataFrame, keymap: Any, columns: list[str], label: str) -> pd.DataFrame | None:
    """The metrics the key map reads, on the values' step axis: its step convention applied to
    their logged steps too (a Hugging Face run logs update k at step k + 1)."""
    from paramsched.replay.keymaps import choose_keymap

    km, _ = choose_keymap(keymap, columns, source=label)
    metrics = metrics[km.metric_columns(list(metrics.columns))]  # e.g. not HF's end-of-run summary
    if metrics.empty:
        return None
    steps = np.asarray(km.to_updates(metrics.index.to_numpy(dtype=np.int64)), dtype=np.int64)
    keep = steps >= 0
    metrics = metrics.loc[keep].set_axis(pd.Index(steps[keep], name=metrics.index.name), axis=0)
    return metrics if len(metrics) else None


def _hp_keys(metric_names: Iterable[str], label: str, uri: str | None) -> list[str]:
    names = sorted(metric_names)
    keys = [k for k in names if k.startswith(PREFIX) and k != STEP_SERIES]
    if not keys:
        raise ValueError(
            f"{label} (tracking URI {uri!r}) has no hp/<key>/<group> metrics; its metrics are {names[:20]}"
            + ("; a log paramsched did not write is read with keymap= (e.g. keymap='hf' or 'auto')" if names else "")
        )
    return keys


def _chunk_table(reader: _Reader, chunks: list[str], label: str) -> tuple[pd.DataFrame, list[str]]:
    """The values chunks as one table (in name order), and notes on what a chunk could not give
    (a chunk cut inside its last row: the rows before it are read)."""
    tables = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="paramsched-mlflow-") as scratch:
        for path in chunks:
            local = reader.artifact_file(path, scratch)
            if local is None:
                raise ValueError(f"{label}: the values chunk {path!r} is listed but cannot be read")
            table, chunk_notes = read_table(local, f"{label}: {path}")
            notes.extend(f"{path}: {note}" for note in chunk_notes)
            tables.append(table)
    return (pd.concat(tables, ignore_index=True, sort=False) if len(tables) > 1 else tables[0]), notes


def _wide(
    columns: dict[str, Column], label: str, metadata: dict[str, Any] | None = None, *, check_finite: bool = True
) -> pd.DataFrame:
    """One column per metric (in ``metadata["series"]`` order when known, then by name), a
    ``step`` column; a step logged twice keeps its latest value (by timestamp)."""
    known = metadata.get("series") if isinstance(metadata, dict) else None
    rank = {name: i for i, name in enumerate(known)} if isinstance(known, list) else {}
    ordered = sorted(columns, key=lambda name: (rank.get(name, len(rank)), name))
    series: list[pd.Series] = []
    for key in ordered:
        steps, values = _latest(columns[key])
        if check_finite:
            bad = ~np.isfinite(values)
            if bad.any():
                step = int(steps[np.flatnonzero(bad)[0]])
                raise ValueError(f"{label}: series {key!r} holds a non-finite value at step {step}")
        series.append(pd.Series(values, index=steps, name=key))
    if not series:
        raise ValueError(f"{label}: the run has no metrics")
    frame = pd.concat(series, axis=1, sort=True)
    frame.index.name = "step"
    return frame.reset_index()


def _latest(column: Column) -> tuple[np.ndarray, np.ndarray]:
    steps, values, stamps = column
    order = np.lexsort((stamps, steps))  # by step, then time: the last is the latest
    steps, values = steps[order], values[order]
    last = np.ones(len(steps), dtype=bool)
    last[:-1] = steps[1:] != steps[:-1]
    return steps[last], values[last]


def _metrics(reader: _Reader, names: list[str], label: str) -> tuple[pd.DataFrame | None, list[str]]:
    if not names:
        return None, []
    frame = _wide(reader.histories(names), label, check_finite=False).set_index("step")
    frame.index = frame.index.astype(np.int64)
    frame = frame.astype(np.float64)
    notes = []
    for name in frame.columns:
        # MLflow's SQL stores keep +-inf as +-1.7976931348623157e308 (the largest float).
        infinite = np.abs(frame[name].to_numpy()) >= _LARGEST
        if infinite.any():
            step = int(frame.index[np.flatnonzero(infinite)[0]])
            notes.append(f"metric {name!r} has infinite values (first at step {step}); they read as NaN "
                         "(MLflow's SQL stores keep an infinite value as the largest float)")
            frame.loc[infinite, name] = np.nan
    frame.columns = [str(c) for c in frame.columns]
    frame.columns.name = None
    return frame, notes


def _events(text: str | None, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    return parse_events(text, EVENTS_PATH, label) if text else ([], [])


def _json_document(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    document = json.loads(text)
    return document if isinstance(document, dict) else None


def _is_mlflow_run(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Run" and cls.__module__.startswith("mlflow.entities")


# -- readers: a sqlite store read directly, or anything through MlflowClient --------------------


class _Reader:
    uri: str | None

    def metric_names(self) -> list[str]:
        raise NotImplementedError

    def histories(self, keys: list[str]) -> dict[str, Column]:
        raise NotImplementedError

    def tags(self) -> dict[str, str]:
        raise NotImplementedError

    def param(self, key: str) -> str | None:
        raise NotImplementedError

    def artifact_text(self, path: str) -> str | None:
        raise NotImplementedError

    def artifact_file(self, path: str, scratch: str) -> str | None:
        raise NotImplementedError

    def chunk_paths(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


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


class _SqliteReader(_Reader):
    """MLflow's SQLite tables read with sqlite3, read-only, and a local artifact directory."""

    def __init__(self, connection: sqlite3.Connection, uri: str, run_id: str, artifacts: str) -> None:
        self.connection = connection
        self.uri = uri
        self.run_id = run_id
        self.artifacts = artifacts

    @classmethod
    def open(cls, uri: str, run_id: str) -> _SqliteReader | None:
        """None when the database does not look like MLflow's or the artifacts are not local."""
        _check_sqlite_exists(uri, run_id)
        path = _sqlite_path(uri)
        try:
            connection = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            found = connection.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        except sqlite3.Error:
            connection.close()
            return None
        if found is None:
            connection.close()
            raise LookupError(f"no MLflow run with run_id={run_id!r} at tracking URI {uri!r}")
        artifacts = _local_dir(found[0])
        if artifacts is None:
            connection.close()
            return None
        return cls(connection, uri, run_id, artifacts)

    def metric_names(self) -> list[str]:
        rows = self.connection.execute("SELECT key FROM latest_metrics WHERE run_uuid = ?", (self.run_id,))
        return sorted(k for (k,) in rows)

    def histories(self, keys: list[str]) -> dict[str, Column]:
        columns: dict[str, Column] = {}
        for key in keys:
            rows = self.connection.execute(
                "SELECT step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? AND key = ?",
                (self.run_id, key),
            ).fetchall()
            if not rows:
                continue
            table = np.array(rows, dtype=np.float64)  # steps and ms timestamps are < 2**53: exact
            values = np.where(table[:, 3] != 0, np.nan, table[:, 1])
            columns[key] = (table[:, 0].astype(np.int64), values, table[:, 2])
        return columns

    def tags(self) -> dict[str, str]:
        rows = self.connection.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (self.run_id,))
        return {k: v for k, v in rows}

    def param(self, key: str) -> str | None:
        row = self.connection.execute(
            "SELECT value FROM params WHERE run_uuid = ? AND key = ?", (self.run_id, key)
        ).fetchone()
        return row[0] if row else None

    def _file(self, path: str) -> str:
        return os.path.join(self.artifacts, *path.split("/"))

    def artifact_text(self, path: str) -> str | None:
        local = self._file(path)
        if not os.path.isfile(local):
            return None
        with open(local, encoding="utf-8") as handle:
            return handle.read()

    def artifact_file(self, path: str, scratch: str) -> str | None:
        local = self._file(path)
        return local if os.path.isfile(local) else None

    def chunk_paths(self) -> list[str]:
        folder = self._file(VALUES_DIR)
        if not os.path.isdir(folder):
            return []
        return sorted(f"{VALUES_DIR}/{name}" for name in os.listdir(folder)
                      if name.endswith(".csv") and not name.startswith("."))

    def close(self) -> None:
        self.connection.close()


class _ClientReader(_Reader):
    """Any store through MlflowClient; artifacts through the recorder's progress-bar-free reader."""

    def __init__(self, client: Any, run: Any, uri: str) -> None:
        from paramsched_mlflow.recorder import _Artifacts

        self.client = client
        self.run = run
        self.uri = uri
        self.artifacts = _Artifacts(client, run, uri, timeout=10.0, retries=2)

    @classmethod
    def open(cls, uri: str | None, run_id: str) -> _ClientReader:
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
        return cls(client, run, uri)

    def metric_names(self) -> list[str]:
        return sorted(self.run.data.metrics)

    def histories(self, keys: list[str]) -> dict[str, Column]:
        columns: dict[str, Column] = {}
        for key in keys:
            history = self.client.get_metric_history(self.run.info.run_id, key)
            columns[key] = (
                np.array([m.step for m in history], dtype=np.int64),
                np.array([m.value for m in history], dtype=np.float64),
                np.array([m.timestamp for m in history], dtype=np.float64),
            )
        return columns

    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags)

    def param(self, key: str) -> str | None:
        return self.run.data.params.get(key)

    def artifact_text(self, path: str) -> str | None:
        return self.artifacts.get_text(path)

    def artifact_file(self, path: str, scratch: str) -> str | None:
        text = self.artifacts.get_text(path)
        if text is None:
            return None
        local = os.path.join(scratch, path.replace("/", "_"))
        with open(local, "w", encoding="utf-8") as handle:
            handle.write(text)
        return local

    def chunk_paths(self) -> list[str]:
        return [p for p in self.artifacts.list(VALUES_DIR) if p.endswith(".csv")]


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
        raise ConnectionError(f"cannot read run {run_id!r} from the MLflow tracking server {uri!r}: {exc}") from exc
