"""One contract suite over every backend in the core (plus a real network one and FanOut).

Each case builds a recorder and a reader that returns what the backend
stored as ``[(step, {series: value})]``.
"""

from __future__ import annotations

import csv

import pytest

from paramsched.recording import CsvRecorder, FanOut


def _read_csv(folder):
    with open(folder / "values.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    return [(int(r[0]), dict(zip(rows[0][1:], map(float, r[1:]), strict=True))) for r in rows[1:]]


@pytest.fixture(params=["csv", "tcp-background", "fanout"])
def backend(request, tmp_path, sink, rh):
    if request.param == "csv":
        return CsvRecorder(tmp_path / "run", flush_every=7), lambda: _read_csv(tmp_path / "run")
    if request.param == "tcp-background":
        return rh.TcpRecorder(sink.port, spool_dir=tmp_path, max_batch=50), sink.received
    both = FanOut([CsvRecorder(tmp_path / "run"), rh.TcpRecorder(sink.port, spool_dir=tmp_path)])

    def read():
        stored = _read_csv(tmp_path / "run")
        assert stored == sink.received()
        return stored

    return both, read


def test_everything_recorded_reads_back_equal(backend, rh):
    rec, read = backend
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = [(step, rh.row_values(step)) for step in range(123)]
    for step, values in expected:
        rec.record(step, values)
    rec.close()
    assert read() == expected


def test_flush_makes_everything_readable(backend, rh):
    rec, read = backend
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = [(step, rh.row_values(step)) for step in range(10)]
    for step, values in expected:
        rec.record(step, values)
    rec.flush()
    assert read() == expected
    rec.close()


def test_close_twice_and_context_manager(backend, rh):
    rec, read = backend
    with rec:
        rec.start(rh.make_metadata(rh.SERIES_12))
        rec.record(0, rh.row_values(0))
    rec.close()
    assert read() == [(0, rh.row_values(0))]


def test_record_before_start_is_an_error(backend, rh):
    rec, _ = backend
    with pytest.raises(RuntimeError, match="start"):
        rec.record(0, rh.row_values(0))
