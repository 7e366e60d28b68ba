"""MlflowRecorder against an embedded sqlite:/// store (fast)."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow import MlflowClient

from paramsched.recording import RecorderError, resolve_recorder
from paramsched_mlflow import ARTIFACT_PATH, MlflowRecorder, metadata_params


def _run(rec, mh, steps, **meta):
    rec.start(mh.make_metadata(**meta))
    expected = []
    for step in steps:
        values = mh.row_values(step)
        rec.record(step, values)
        expected.append((step, values))
    rec.close()
    return expected


def _artifact(client, run_id):
    return json.loads(mlflow.artifacts.load_text(f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_PATH}"))


def test_values_read_back_bit_for_bit(sqlite_uri, mh, tmp_path):
    rec = MlflowRecorder(tracking_uri=sqlite_uri, run_name="exact", spool_dir=tmp_path / "spool")
    expected = _run(rec, mh, range(300))
    client = MlflowClient(sqlite_uri)
    assert mh.read_back(client, rec.run_id) == expected  # == on every float (AWKWARD first)
    assert set(mh.history_lengths(client, rec.run_id).values()) == {300}
    run = client.get_run(rec.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "exact"
    assert not (tmp_path / "spool").exists()  # no failure, no spool


def test_timestamps_are_when_values_were_recorded(sqlite_uri, mh):
    import time

    before = time.time_ns() // 1_000_000
    rec = MlflowRecorder(tracking_uri=sqlite_uri)
    _run(rec, mh, range(5))
    after = time.time_ns() // 1_000_000
    history = MlflowClient(sqlite_uri).get_metric_history(rec.run_id, "hp/lr/g0")
    assert [m.step for m in history] == list(range(5))
    assert all(before <= m.timestamp <= after for m in history)


def test_metadata_params_and_artifact_hold_no_environment(sqlite_uri, mh, monkeypatch):
    canary = "canary-7f3a9c-secret"
    monkeypatch.setenv("PARAMSCHED_TEST_TOKEN", canary)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", canary)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary)
    rec = MlflowRecorder(tracking_uri=sqlite_uri, experiment="paramsched-tests")
    _run(rec, mh, range(3))
    client = MlflowClient(sqlite_uri)
    run = client.get_run(rec.run_id)
    metadata = mh.make_metadata()
    params = run.data.params
    assert params == metadata_params(metadata)
    assert params["paramsched.total_steps"] == "1000"
    assert json.loads(params["paramsched.schedule.lr"]) == metadata["schedules"]["lr"]
    assert json.loads(params["paramsched.override.head.lr"]) == {"type": "Constant", "value": 0.01}
    assert params["paramsched.base.g1.weight_decay"] == "0.1"
    document = _artifact(client, rec.run_id)
    assert {k: v for k, v in document.items() if k != "created_at"} == {
        k: v for k, v in metadata.items() if k != "created_at"
    }
    everything = json.dumps([params, run.data.tags, document])
    assert canary not in everything
    assert client.get_experiment(run.info.experiment_id).name == "paramsched-tests"


def test_long_values_are_cut_to_500_characters_and_the_artifact_keeps_them():
    long_spec = {"type": "PiecewiseLinear", "points": [[i, i / 7] for i in range(200)]}
    params = metadata_params({"format": "paramsched.run/1", "schedules": {"lr": long_spec}})
    assert len(params["paramsched.schedule.lr"]) == 500 and params["paramsched.schedule.lr"].endswith("...")
    many = {"format": "x", "groups": [{"label": f"g{i}", "base": {"lr": 0.1, "wd": 0.0}} for i in range(80)]}
    params = metadata_params(many)
    assert len(params) == 100 and params["paramsched.params_truncated"].startswith("161 params")


def test_active_fluent_run_is_used_and_left_open(sqlite_uri, mh):
    mlflow.set_tracking_uri(sqlite_uri)
    try:
        with mlflow.start_run(run_name="user-run") as active:
            rec = MlflowRecorder()
            expected = _run(rec, mh, range(20))
            assert rec.run_id == active.info.run_id
            assert MlflowClient(sqlite_uri).get_run(active.info.run_id).info.status == "RUNNING"
            mlflow.log_metric("loss", 1.5, step=3)  # the user's own logging is untouched
        client = MlflowClient(sqlite_uri)
        assert mh.read_back(client, active.info.run_id) == expected
        assert client.get_run(active.info.run_id).data.metrics["loss"] == 1.5
    finally:
        mlflow.set_tracking_uri(None)


def test_given_run_id_and_the_registry_spec(sqlite_uri, mh, monkeypatch):
    client = MlflowClient(sqlite_uri)
    run = client.create_run("0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    rec = resolve_recorder(f"mlflow:{run.info.run_id}")
    assert isinstance(rec, MlflowRecorder) and rec.run_id == run.info.run_id
    expected = _run(rec, mh, range(10))
    assert mh.read_back(client, run.info.run_id) == expected
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # not ours to end
    assert isinstance(resolve_recorder("mlflow"), MlflowRecorder)


@pytest.mark.parametrize("on_error", ["warn", "raise"])
def test_unknown_run_id_is_an_error_at_start_naming_it(sqlite_uri, mh, on_error):
    MlflowClient(sqlite_uri).search_experiments()  # create the store
    rec = MlflowRecorder("0" * 32, tracking_uri=sqlite_uri, on_error=on_error)
    with pytest.raises(LookupError, match=f"no MLflow run with run_id='{'0' * 32}' at tracking URI '{sqlite_uri}'"):
        rec.start(mh.make_metadata())


def test_resume_into_the_same_run_appends_and_keeps_params(sqlite_uri, mh):
    first = MlflowRecorder(tracking_uri=sqlite_uri)
    expected = _run(first, mh, range(100))
    second = MlflowRecorder(first.run_id, tracking_uri=sqlite_uri)
    expected += _run(second, mh, range(60, 150), resumed_from_step=60)
    client = MlflowClient(sqlite_uri)
    last = dict(mh.read_back(client, first.run_id))
    assert sorted(last) == list(range(150))
    assert all(last[step] == values for step, values in expected)
    document = _artifact(client, first.run_id)
    assert document["resumed_from_step"] is None
    assert [entry["at_step"] for entry in document["resumes"]] == [60]
    assert client.get_run(first.run_id).data.params == metadata_params(mh.make_metadata())


def test_distributed_rank_goes_into_the_run_name(sqlite_uri, mh):
    rec = MlflowRecorder(tracking_uri=sqlite_uri, run_name="ddp")
    _run(rec, mh, range(2), rank=1, world_size=2)
    assert MlflowClient(sqlite_uri).get_run(rec.run_id).info.run_name == "ddp-rank1"


def test_a_second_rank_attached_to_a_run_gets_a_child_run(sqlite_uri, mh):
    client = MlflowClient(sqlite_uri)
    parent = client.create_run("0", run_name="main")
    rec = MlflowRecorder(parent.info.run_id, tracking_uri=sqlite_uri)
    _run(rec, mh, range(2), rank=1, world_size=2)
    child = client.get_run(rec.run_id)
    assert rec.run_id != parent.info.run_id
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.info.run_name == "main-rank1"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_batch": 1001}, ValueError, "max_batch must be at most 1000"),
        ({"run_id": 5}, TypeError, "run_id must be a non-empty string or None, got run_id=5"),
        ({"tracking_uri": ""}, TypeError, "tracking_uri must be a non-empty string"),
        ({"tags": {"a": 1}}, TypeError, "tags must be a dict of str to str"),
        ({"http_timeout": 0}, ValueError, "http_timeout must be a number of seconds > 0"),
        ({"http_retries": -1}, ValueError, "http_retries must be an int >= 0"),
        ({"on_error": "skip"}, ValueError, "on_error must be one of 'warn', 'raise'"),
    ],
)
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        MlflowRecorder(**options)


def test_constructor_touches_nothing(tmp_path):
    MlflowRecorder(tracking_uri=f"sqlite:///{tmp_path / 'never.db'}")
    assert not (tmp_path / "never.db").exists()


def test_unreachable_server_with_raise_fails_at_start(mh, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rec = MlflowRecorder(tracking_uri=f"http://127.0.0.1:{port}", on_error="raise", http_retries=0, spool_dir=tmp_path)
    with pytest.raises(RecorderError, match="mlflow recorder: could not start the run"):
        rec.start(mh.make_metadata())


def test_a_new_experiment_on_sqlite_keeps_its_artifacts_beside_the_database(sqlite_uri, mh, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    rec = MlflowRecorder(tracking_uri=sqlite_uri, experiment="beside the db")
    _run(rec, mh, range(3))
    client = MlflowClient(sqlite_uri)
    artifact_uri = client.get_run(rec.run_id).info.artifact_uri
    database_dir = Path(sqlite_uri[len("sqlite:///"):]).parent
    assert artifact_uri.startswith((database_dir / "mlartifacts" / "beside_the_db").as_uri())
    assert _artifact(client, rec.run_id)["series"] == mh.SERIES_12
    assert not (tmp_path / "mlruns").exists()
