"""The recorder and source contracts (paramsched.testing) over MlflowRecorder / MlflowSource.

Against the session's embedded ``sqlite:///`` store, and against the real
``mlflow server`` behind a :class:`~paramsched.testing.LoopbackProxy` (the
outage stops the proxy: connections are refused; restore listens again).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from mlflow import MlflowClient

from paramsched.testing import (
    LoopbackProxy,
    RecorderBackend,
    RecorderContract,
    SourceBackend,
    SourceContract,
    record_log,
)
from paramsched_mlflow import VALUES_DIR, MlflowRecorder, MlflowSource


class MlflowBackend(RecorderBackend, SourceBackend):
    """One MLflow run; a resumed recorder logs into the same run id."""

    keeps_negative_zero = False  # SQLite stores -0.0 as 0.0 (NOTES.md)
    stores_events = MlflowRecorder.stores_events
    stores_metrics = MlflowRecorder.stores_metrics

    def __init__(self, tracking_uri, spool_dir):
        self.tracking_uri = tracking_uri
        self.spool_dir = spool_dir
        self.recorders = []

    def make_recorder(self, *, resume=False):
        run_id = self.recorders[0].run_id if resume else None
        rec = MlflowRecorder(
            run_id, tracking_uri=self.tracking_uri, spool_dir=self.spool_dir, retry_interval=0.05,
            close_timeout=20, http_timeout=5, http_retries=0,
        )
        if not resume:
            self.recorders.clear()
        self.recorders.append(rec)
        return rec

    def load(self):
        return MlflowSource().load(f"mlflow://{self.recorders[0].run_id}", tracking_uri=self.tracking_uri)

    def _values_dir(self):
        run = MlflowClient(self.tracking_uri).get_run(self.recorders[0].run_id)
        return Path(urllib.parse.urlparse(run.info.artifact_uri).path, *VALUES_DIR.split("/"))

    def stored_rows(self):
        """Every row the run's exact store holds (the ``paramsched/values`` chunks replay reads),
        one entry per stored line: a resume trims the crashed session's rows it records again.
        (The charted metric history is for charts: MLflow cannot delete logged points, so it
        keeps the crashed session's charted points too.)"""
        rows = []
        for chunk in sorted(self._values_dir().glob("*.csv")):
            header, *lines = chunk.read_text().rstrip("\n").split("\n")
            names = header.split(",")[1:]
            for line in lines:
                step, *cells = line.split(",")
                rows.append((int(step), {n: float(c) for n, c in zip(names, cells, strict=True) if c}))
        return rows

    def cut_last_row(self):
        """A chunk cut inside its last row, as a copy interrupted mid-write leaves it."""
        chunk = sorted(self._values_dir().glob("*.csv"))[-1]
        data = chunk.read_bytes()
        chunk.write_bytes(data[: data.rstrip(b"\n").rfind(b",") + 3])

    def write(self, rows, metadata, *, events=(), metrics=None):
        record_log(self.make_recorder(), rows, metadata, events=events, metrics=metrics)


class MlflowServerBackend(MlflowBackend):
    """Through a proxy in front of the server: the outage closes the proxy's port."""

    def __init__(self, proxy, spool_dir):
        super().__init__(proxy.uri, spool_dir)
        self.proxy = proxy

    def outage(self, recorder):
        self.proxy.stop()

    def restore(self, recorder):
        self.proxy.start()




class TestMlflowRecorderSqlite(RecorderContract):
    @pytest.fixture
    def backend(self, sqlite_uri, tmp_path):
        return MlflowBackend(sqlite_uri, tmp_path / "spool")


@pytest.mark.slow
class TestMlflowRecorderServer(RecorderContract):
    """The REST path (``runs/log-batch``) and a real outage; the server is the session's."""

    @pytest.fixture
    def backend(self, server, tmp_path):
        with LoopbackProxy(server.port) as proxy:
            yield MlflowServerBackend(proxy, tmp_path / "spool")

    # The rest runs the same recorder code as the sqlite class; keep the server's seconds for
    # what differs: the REST transport (exact floats, resume by run id) and the outage.
    test_every_series_at_every_step = None
    test_flush_makes_everything_readable = None
    test_resume_stores_each_step_once = None
    test_close_is_idempotent = None
    test_record_before_start_is_an_error = None


class TestMlflowSource(SourceContract):
    @pytest.fixture
    def backend(self, sqlite_uri, tmp_path):
        return MlflowBackend(sqlite_uri, tmp_path / "spool")

