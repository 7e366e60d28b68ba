"""The recorder and source contracts (paramsched.testing) over every backend of the core.

CSV (recorder and source), a real network backend (``TcpRecorder``: a
``BackgroundRecorder`` sending JSON lines to a sink on 127.0.0.1, stopped and
restarted for the outage) and ``FanOut`` over both.
"""

from __future__ import annotations

import pytest

from paramsched.recording import CsvRecorder, FanOut
from paramsched.testing import (
    CsvBackend,
    RecorderBackend,
    RecorderContract,
    SourceContract,
    rows_trajectory,
    trajectory_rows,
)


class TestCsvRecorder(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return CsvBackend(tmp_path / "run", flush_every=7)


def test_csv_recorder_stores_events_and_metrics(tmp_path):
    rec = CsvRecorder(tmp_path)
    assert rec.stores_events and rec.stores_metrics  # then the contract's event and metric cases run


class TestCsvSource(SourceContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return CsvBackend(tmp_path / "run")


class TcpBackend(RecorderBackend):
    """``TcpRecorder`` into the sink; the outage stops the sink, restore starts it on the same port."""

    stores_metadata = False  # the sink keeps rows only

    def __init__(self, sink, rh, spool_dir):
        self.sink, self.rh, self.spool_dir = sink, rh, spool_dir

    def make_recorder(self, *, resume=False):
        return self.rh.TcpRecorder(
            self.sink.port, spool_dir=self.spool_dir, max_batch=50, retry_interval=0.05, close_timeout=10
        )

    def load(self):
        return rows_trajectory(self.sink.received(), None, "tcp sink")

    def outage(self, recorder):
        self.sink.stop()

    def restore(self, recorder):
        self.sink.start()


class TestTcpBackgroundRecorder(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path, sink, rh):
        return TcpBackend(sink, rh, tmp_path / "spool")


class FanOutBackend(RecorderBackend):
    """``FanOut([CsvRecorder, TcpRecorder])``: loads the CSV run and checks the sink got the same."""

    def __init__(self, csv_backend, tcp_backend):
        self.csv, self.tcp = csv_backend, tcp_backend

    def make_recorder(self, *, resume=False):
        return FanOut([self.csv.make_recorder(resume=resume), self.tcp.make_recorder(resume=resume)])

    def load(self):
        traj = self.csv.load()
        assert trajectory_rows(self.tcp.load()) == trajectory_rows(traj)
        return traj


class TestFanOut(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path, sink, rh):
        return FanOutBackend(CsvBackend(tmp_path / "run"), TcpBackend(sink, rh, tmp_path / "spool"))
