"""A sqlite store's ``log_batch`` calls run in a child process (0.4 ms of CPU per metric in
SQLAlchemy, off the training process's GIL): the child takes over once it is ready, a killed
child is replaced and costs no value, and a child that cannot start leaves the calls in process."""

from __future__ import annotations

import os
import sys
import time
import warnings

import pytest
from mlflow import MlflowClient

import paramsched as ps
from paramsched_mlflow import MlflowRecorder

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the store process needs select() on a pipe")


def _thread_cpu(thread) -> float:
    """CPU seconds a thread of this process used (Linux /proc; skips elsewhere)."""
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        pytest.skip("no /proc to read a thread's CPU time from")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _record(rec, mh, steps):
    for step in steps:
        rec.record(step, mh.row_values(step))


def _wait_until_the_child_serves(rec, mh, start: int) -> int:
    """Record and flush until a chart send went through the child; returns the next step."""
    deadline = time.monotonic() + 60
    step = start
    while rec._backend is None or rec._backend.store is None or not rec._backend.store._ready:
        assert time.monotonic() < deadline, "the store process never became ready"
        _record(rec, mh, [step])
        step += 1
        rec.flush()
        time.sleep(0.05)
    return step


def test_charts_go_through_the_child_and_a_killed_child_loses_nothing(sqlite_uri, mh, tmp_path):
    rec = MlflowRecorder(tracking_uri=sqlite_uri, chart_every=1, spool_dir=tmp_path, retry_interval=0.05)
    rec.start(mh.make_metadata(total_steps=10_000))
    _record(rec, mh, range(5))
    rec.flush()  # the run is open; the child may still be importing MLflow: these went in process
    child = rec._backend.store.proc
    assert child.pid != os.getpid() and child.poll() is None
    step = _wait_until_the_child_serves(rec, mh, 5)
    _record(rec, mh, range(step, step + 100))
    before = _thread_cpu(rec._thread)
    rec.flush()  # 1200 charted values through the child: about 0.45 s of CPU there, not here
    spent = _thread_cpu(rec._thread) - before
    assert spent < 0.15, f"the recorder's thread spent {spent:.2f} s of CPU on one chart send"
    step += 100

    child.kill()  # between two calls: the next one sees it gone, makes its call here, starts another
    child.wait()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _record(rec, mh, range(step, step + 20))
        rec.flush()
        step += 20
        replacement = rec._backend.store.proc
        assert replacement.pid != child.pid
        step = _wait_until_the_child_serves(rec, mh, step)
        _record(rec, mh, range(step, step + 5))
        step += 5
        rec.close()
    assert not [w for w in caught if "paramsched" in str(w.message)], [str(w.message) for w in caught]
    assert rec.spool_path is None
    assert rec._backend.store.proc is None
    assert replacement.wait(timeout=10) == 0  # told to exit at close, and it did

    client = MlflowClient(sqlite_uri)
    assert mh.read_back(client, rec.run_id) == [(k, mh.row_values(k)) for k in range(step)]  # exact values
    lengths = mh.history_lengths(client, rec.run_id)
    assert set(lengths.values()) == {step}  # chart_every=1: every step charted once, whoever logged it
    frame = ps.replay.load(f"mlflow://{rec.run_id}?tracking_uri={sqlite_uri}").frame
    assert frame.to_dict("index") == {k: mh.row_values(k) for k in range(step)}


def test_a_child_killed_during_a_call_warns_spools_and_the_retry_delivers(sqlite_uri, mh, tmp_path):
    rec = MlflowRecorder(tracking_uri=sqlite_uri, chart_every=1, spool_dir=tmp_path, retry_interval=0.05)
    rec.start(mh.make_metadata(total_steps=10_000))
    step = _wait_until_the_child_serves(rec, mh, 0)
    store = rec._backend.store
    send = store._send

    def die_first(request):  # the child dies while it holds this call
        store.proc.kill()
        store.proc.wait()
        store._send = send
        send(request)

    store._send = die_first
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _record(rec, mh, range(step, step + 10))
        rec.flush()
        step += 10
        _record(rec, mh, [step])  # the warning is given on the training thread, at its next call
        step += 1
        rec.close()
    said = " ".join(str(w.message) for w in caught)
    assert "could not reach its backend (ConnectionError: the MLflow store process ended (exit code -9))" in said
    client = MlflowClient(sqlite_uri)
    assert mh.read_back(client, rec.run_id) == [(k, mh.row_values(k)) for k in range(step)]
    assert set(mh.history_lengths(client, rec.run_id).values()) == {step}


def test_a_child_that_cannot_start_leaves_the_calls_in_this_process(sqlite_uri, mh, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once, says nothing
    rec = MlflowRecorder(tracking_uri=sqlite_uri, chart_every=1)
    rec.start(mh.make_metadata(total_steps=100))
    _record(rec, mh, range(10))
    rec.flush()  # the first chart send starts the child (and is made here)
    time.sleep(0.2)
    _record(rec, mh, range(10, 15))
    rec.flush()  # the next finds it gone without a word: it is never started again
    assert rec._backend.store.broken and rec._backend.store.proc.poll() is not None
    _record(rec, mh, range(15, 20))
    rec.close()
    client = MlflowClient(sqlite_uri)
    assert mh.read_back(client, rec.run_id) == [(k, mh.row_values(k)) for k in range(20)]
    assert set(mh.history_lengths(client, rec.run_id).values()) == {20}


def test_the_child_answers_each_request_and_names_a_failure(sqlite_uri):
    """The protocol itself (in process, on text streams): ready, then one reply per request."""
    import io
    import json

    from paramsched_mlflow._store_process import serve

    run_id = MlflowClient(sqlite_uri).create_run("0").info.run_id
    metric = {"key": "hp/lr/g0", "value": 0.1 + 0.2, "timestamp": 1, "step": 3}
    requests = "".join(json.dumps(r) + "\n" for r in (
        {"run_id": run_id, "metrics": [metric]}, {"run_id": "nope", "metrics": [metric]}, {"exit": True},
        {"run_id": run_id, "metrics": [metric]},  # after exit: never read
    ))
    replies = io.StringIO()
    serve(sqlite_uri, io.StringIO(requests), replies)
    assert replies.getvalue().splitlines() == [
        '{"ready": true}', '{"ok": true}', '{"ok": false, "error": "MlflowException: Run with id=nope not found"}',
    ]
    (logged,) = MlflowClient(sqlite_uri).get_metric_history(run_id, "hp/lr/g0")
    assert (logged.step, logged.value) == (3, 0.1 + 0.2)
