"""BackgroundRecorder against a real TCP backend that is stopped and restarted."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from paramsched.recording import BackgroundRecorder, RecorderError, read_spool


def _record(rec, rh, steps, series=None):
    expected = []
    for step in steps:
        values = rh.row_values(step, series or rh.SERIES_12)
        rec.record(step, values)
        expected.append((step, values))
    return expected


def test_every_value_arrives_in_order_and_exactly(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(500))
    rec.close()
    assert sink.received() == expected  # == on every float, in step order
    assert rec.closed_backend
    assert rec.spool_path is None and not list(tmp_path.iterdir())


def test_batches_hold_at_most_max_batch_values(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, max_batch=100)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(300))
    rec.close()
    assert sink.received() == expected
    assert max(sink.batches) <= 100
    assert sum(sink.batches) == 300 * 12


def test_a_row_wider_than_max_batch_is_split_by_series(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, max_batch=5)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(3))
    rec.close()
    assert max(sink.batches) <= 5
    merged: dict[int, dict[str, float]] = {}
    for step, values in sink.received():
        merged.setdefault(step, {}).update(values)
    assert list(merged.items()) == expected


def test_flush_waits_until_everything_is_sent(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(37))
    rec.flush()
    assert sink.received() == expected
    rec.close()


def test_backend_down_warns_once_spools_and_delivers_everything_when_back(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, retry_interval=0.1)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(50))
    rec.flush()
    sink.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected += _record(rec, rh, range(50, 120))
        rec.flush()  # everything is sent or spooled now
        rh.wait_until(lambda: rec.failing, what="the recorder to notice the failure")
        expected += _record(rec, rh, range(120, 200))
        rec.flush()
        time.sleep(0.3)  # several retries fail; still one warning
    messages = [str(w.message) for w in caught if "tcp recorder" in str(w.message)]
    assert len(messages) == 1, messages
    spool = rec.spool_path
    assert spool is not None and spool.parent == tmp_path
    assert str(spool) in messages[0] and "ConnectionRefusedError" in messages[0]
    metadata, spooled = read_spool(spool)
    assert metadata["series"] == rh.SERIES_12
    assert spooled == expected[50:200]  # the unsent rows, bit for bit, in order
    assert sink.received() == expected[:50]

    sink.start()  # same port
    rh.wait_until(lambda: not rec.failing, what="recovery")
    expected += _record(rec, rh, range(200, 260))
    rec.close()
    assert sink.received() == expected  # spool first, in order, then the new rows
    assert not spool.exists()


def test_backend_down_at_start_is_retried(rh, tmp_path):
    server = rh.TcpSink()
    server.start()
    port = server.port
    server.stop()
    rec = rh.TcpRecorder(port, spool_dir=tmp_path, retry_interval=0.1)
    with pytest.warns(RuntimeWarning, match="tcp recorder could not reach its backend"):
        rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(40))
    rec.flush()
    assert read_spool(rec.spool_path)[1] == expected
    server.port = port
    server.start()
    try:
        rh.wait_until(lambda: not rec.failing, what="recovery")
        rec.close()
        assert server.received() == expected
    finally:
        server.stop()


def test_close_while_down_says_where_the_values_are(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, retry_interval=0.05, close_timeout=0.3)
    rec.start(rh.make_metadata(rh.SERIES_12))
    sink.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _record(rec, rh, range(30))
        rh.wait_until(lambda: rec.failing, what="failure")
    with pytest.warns(RuntimeWarning, match=r"30 row\(s\) could not be sent and are kept in the spool file"):
        rec.close()
    assert read_spool(rec.spool_path)[1] == expected
    assert rec.unsent_rows() == 30


def test_on_error_raise_surfaces_on_the_training_thread_and_loses_nothing(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, on_error="raise", retry_interval=0.1)
    rec.start(rh.make_metadata(rh.SERIES_12))
    expected = _record(rec, rh, range(10))
    rec.flush()
    sink.stop()
    expected += _record(rec, rh, range(10, 20))
    with pytest.raises(RecorderError, match=r"^tcp recorder: the backend failed \(ConnectionRefusedError") as info:
        rec.flush()
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert info.value.backend == "tcp" and info.value.spool_path == str(rec.spool_path)
    # Raised once; the caller may carry on, and the values are still kept.
    expected += _record(rec, rh, range(20, 30))
    rec.flush()
    sink.start()
    rh.wait_until(lambda: not rec.failing, what="recovery")
    rec.close()
    assert sink.received() == expected


def test_on_error_raise_at_start_and_at_close(rh, tmp_path):
    server = rh.TcpSink()
    server.start()
    port = server.port
    server.stop()
    rec = rh.TcpRecorder(port, spool_dir=tmp_path, on_error="raise")
    with pytest.raises(RecorderError, match="tcp recorder: could not start the run: ConnectionRefusedError"):
        rec.start(rh.make_metadata(rh.SERIES_12))

    server.start()
    rec = rh.TcpRecorder(server.port, spool_dir=tmp_path, on_error="raise", retry_interval=0.05, close_timeout=0.2)
    rec.start(rh.make_metadata(rh.SERIES_12))
    server.stop()
    expected = _record(rec, rh, range(5))
    with pytest.raises(RecorderError, match=r"5 row\(s\) could not be sent and are kept in the spool file") as info:
        rec.close()
    assert read_spool(info.value.spool_path)[1] == expected


def test_record_costs_microseconds_on_the_training_thread(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path)
    rec.start(rh.make_metadata(rh.SERIES_12))
    rows = [rh.row_values(step) for step in range(2000)]
    costs = []
    for step, values in enumerate(rows):
        begin = time.perf_counter()
        rec.record(step, values)
        costs.append(time.perf_counter() - begin)
    rec.close()
    assert len(sink.received()) == 2000
    # Target is <= 50 us; a loose bound keeps this stable on a loaded CI machine.
    assert statistics.median(costs) < 100e-6


def test_lifecycle_errors(rh, tmp_path):
    rec = rh.TcpRecorder(1, spool_dir=tmp_path)
    with pytest.raises(RuntimeError, match="record\\(\\) needs start\\(\\) first"):
        rec.record(0, {"hp/lr/g0": 0.1})
    rec.close()  # never started: nothing to do
    with pytest.raises(RuntimeError, match="record\\(\\) needs start\\(\\) first"):
        rec.record(0, {"hp/lr/g0": 0.1})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"on_error": "ignore"}, ValueError, "on_error must be one of 'warn', 'raise', got on_error='ignore'"),
        ({"max_batch": 0}, ValueError, "max_batch must be an int >= 1, got max_batch=0"),
        ({"max_batch": 1.5}, TypeError, "max_batch must be an int >= 1"),
        ({"retry_interval": 0}, ValueError, "retry_interval must be a number of seconds > 0"),
        ({"close_timeout": -1}, ValueError, "close_timeout must be a number of seconds >= 0"),
        ({"close_timeout": float("nan")}, ValueError, "close_timeout must be finite"),
        ({"spool_dir": 3}, TypeError, "spool_dir must be a path"),
    ],
)
def test_bad_options_are_named(rh, options, error, match):
    with pytest.raises(error, match=match):
        rh.TcpRecorder(1, **options)


def test_read_spool_skips_a_line_cut_short_and_rejects_garbage(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"metadata": {"a": 1}}\n{"step": 0, "time": 5, "values": {"hp/lr/g0": 0.1}}\n{"step": 1, "val')
    assert read_spool(path, with_times=True) == ({"a": 1}, [(0, {"hp/lr/g0": 0.1})], [5])
    path.write_text('{"step": 0, "values": {"hp/lr/g0": 0.1}}\nnot json\n{"step": 1, "values": {}}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_spool(path)
    path.write_text('{"step": "0", "values": {}}\n')
    with pytest.raises(ValueError, match="line 1 must be"):
        read_spool(path)


def test_interpreter_exit_flushes_an_unclosed_recorder(sink, tmp_path):
    """A script that never calls close(): the atexit hook still delivers every row."""
    conftest = os.path.join(os.path.dirname(__file__), "conftest.py")
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("rec_conftest", {conftest!r})
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
        rec = mod.TcpRecorder({sink.port}, spool_dir={str(tmp_path)!r})
        rec.start(mod.make_metadata(mod.SERIES_12))
        for step in range(321):
            rec.record(step, mod.row_values(step))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    rows = sink.received()
    assert [step for step, _ in rows] == list(range(321))
    assert json.dumps(rows[-1][1]) == json.dumps(
        {name: (320 + 1) / (3.0 + i) * 1e-3 + 1e-17 * i for i, name in enumerate(rows[-1][1])}
    )


def test_subclass_contract_is_the_three_hooks():
    assert {"_open", "_send", "_close_backend"} <= set(vars(BackgroundRecorder))


def test_a_record_that_raises_has_still_taken_its_row(sink, rh, tmp_path):
    rec = rh.TcpRecorder(sink.port, spool_dir=tmp_path, on_error="raise", retry_interval=0.05)
    rec.start(rh.make_metadata(rh.SERIES_12))
    sink.stop()
    expected = _record(rec, rh, range(3))
    rh.wait_until(lambda: rec.failing, what="failure")
    with pytest.raises(RecorderError, match="tcp recorder: the backend failed"):
        rec.record(3, rh.row_values(3))
    expected.append((3, rh.row_values(3)))
    rec.flush()
    sink.start()
    rh.wait_until(lambda: not rec.failing, what="recovery")
    rec.close()
    assert sink.received() == expected


def test_a_backend_that_hangs_past_close_timeout_keeps_the_queue_in_the_spool(rh, tmp_path):
    """A real hang: the backend accepts the connection but never answers."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (in the kernel) but never replies
    try:
        rec = rh.TcpRecorder(silent.getsockname()[1], spool_dir=tmp_path, close_timeout=0.5, max_batch=24)
        rec.start(rh.make_metadata(rh.SERIES_12))
        expected = _record(rec, rh, range(50))
        time.sleep(0.3)  # the worker is now blocked in its first send (5 s socket timeout)
        with pytest.warns(RuntimeWarning, match=r"did not answer within close_timeout=0.5 s \(2 row\(s\) were still being sent\)"):
            rec.close()
        assert read_spool(rec.spool_path)[1] == expected[2:]  # all but the batch in flight
    finally:
        silent.close()
    # The stuck send now fails; its rows join the spool, without a second warning.
    rh.wait_until(lambda: not rec._thread.is_alive(), timeout=15, what="the worker to end")
    assert sorted(read_spool(rec.spool_path)[1]) == expected
