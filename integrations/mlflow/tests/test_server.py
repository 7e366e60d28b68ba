"""MlflowRecorder and MlflowSource against a REAL `mlflow server` (killed and restarted mid-run)."""

from __future__ import annotations

import json
import time
import warnings

import pytest
from mlflow import MlflowClient

from paramsched.recording import RecorderError, read_spool
from paramsched_mlflow import ARTIFACT_PATH, MlflowRecorder, MlflowSource

pytestmark = pytest.mark.slow


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_values_and_metadata_through_the_server(server, mh, tmp_path):
    # chart_every=1: the metric history holds every value too (REST both ways, exact)
    rec = MlflowRecorder(tracking_uri=server.uri, run_name="server", spool_dir=tmp_path, chart_every=1)
    rec.start(mh.make_metadata())
    expected = []
    for step in range(250):
        values = mh.row_values(step)
        rec.record(step, values)
        expected.append((step, values))
    rec.close()
    client = MlflowClient(server.uri)
    assert mh.read_back(client, rec.run_id) == expected  # REST both ways, == on every float
    run = client.get_run(rec.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["paramsched.total_steps"] == "1000"
    local = client.download_artifacts(rec.run_id, ARTIFACT_PATH, str(tmp_path))
    assert json.loads(open(local).read())["series"] == mh.SERIES_12
    traj = MlflowSource().load(f"mlflow://{rec.run_id}?tracking_uri={server.uri}")
    assert traj.frame.index.tolist() == list(range(250))
    assert all(traj.frame[name].tolist() == [v[name] for _, v in expected] for name in mh.SERIES_12)
    assert traj.metadata["series"] == mh.SERIES_12


def test_server_killed_mid_run_and_restarted_loses_nothing(server, mh, tmp_path):
    """Two recorders during one outage: on_error="warn" and on_error="raise"."""
    # chart_every=1: every value is charted too, so the metric history shows each delivered once
    warn = MlflowRecorder(tracking_uri=server.uri, spool_dir=tmp_path / "warn", retry_interval=0.5, http_retries=0,
                          chart_every=1)
    strict = MlflowRecorder(tracking_uri=server.uri, spool_dir=tmp_path / "raise", retry_interval=0.5,
                            http_retries=0, on_error="raise", chart_every=1)
    warn.start(mh.make_metadata())
    strict.start(mh.make_metadata())
    expected = []

    def record(steps):
        for step in steps:
            values = mh.row_values(step)
            warn.record(step, values)
            try:
                strict.record(step, values)
            except RecorderError as exc:  # raised once; the row was taken all the same
                raised.append(exc)
            expected.append((step, values))

    raised: list[RecorderError] = []
    record(range(300))
    warn.flush()
    strict.flush()

    server.kill()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record(range(300, 600))
        _wait(lambda: warn.failing and strict.failing, 60, "both recorders to notice the outage")
        record(range(600, 700))
        warn.flush()  # everything is sent or spooled
        try:
            strict.flush()
        except RecorderError as exc:  # when no record() came after the failure
            raised.append(exc)
    messages = [str(w.message) for w in caught if "mlflow recorder" in str(w.message)]
    assert len(messages) == 1 and str(warn.spool_path) in messages[0], messages
    assert len(raised) == 1, raised
    assert str(raised[0]).startswith("mlflow recorder: the backend failed")
    assert raised[0].spool_path == str(strict.spool_path)
    for rec in (warn, strict):
        _, spooled = read_spool(rec.spool_path)
        assert spooled == expected[len(expected) - len(spooled) :]  # the unsent tail, in order, exact

    server.start()  # same port, same SQLite store
    _wait(lambda: not warn.failing and not strict.failing, 60, "recovery")
    record(range(700, 800))
    warn.close()
    strict.close()
    client = MlflowClient(server.uri)
    for rec in (warn, strict):
        assert mh.history_lengths(client, rec.run_id) == {name: 800 for name in mh.SERIES_12}
        assert mh.read_back(client, rec.run_id) == expected
        traj = MlflowSource().load(f"mlflow://{rec.run_id}?tracking_uri={server.uri}")  # the exact values
        assert [(k, {n: traj.frame.at[k, n] for n in mh.SERIES_12}) for k in traj.frame.index] == expected
        assert not rec.spool_path.exists()


def test_raise_mode_close_while_down_keeps_the_spool(proxy, mh, tmp_path):
    rec = MlflowRecorder(tracking_uri=proxy.uri, on_error="raise", spool_dir=tmp_path,
                         retry_interval=0.2, close_timeout=1.0, http_retries=0)
    rec.start(mh.make_metadata())
    proxy.stop()  # the network path to the server goes away: connections are refused
    rows = [(step, mh.row_values(step)) for step in range(20)]
    for step, values in rows:
        try:
            rec.record(step, values)
        except RecorderError:
            rec.record(step, values)
    with pytest.raises(RecorderError, match=r"20 row\(s\) could not be sent and are kept in the spool file") as info:
        rec.close()
    assert read_spool(info.value.spool_path)[1] == rows
    assert isinstance(info.value.__cause__, Exception)


def test_source_errors_against_a_server(server, proxy):
    with pytest.raises(LookupError, match=f"no MLflow run with run_id='{'f' * 32}' at tracking URI '{server.uri}'"):
        MlflowSource().load(f"mlflow://{'f' * 32}?tracking_uri={server.uri}")
    proxy.stop()
    begin = time.monotonic()
    with pytest.raises(ConnectionError, match=f"cannot read run 'abc' from the MLflow tracking server '{proxy.uri}'"):
        MlflowSource().load(f"mlflow://abc?tracking_uri={proxy.uri}")
    assert time.monotonic() - begin < 30  # not MLflow's minutes of retries
