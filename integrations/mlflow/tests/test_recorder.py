"""MlflowRecorder against an embedded sqlite:/// store (fast)."""

from __future__ import annotations

import json
import os
import time
import warnings

import mlflow
import pytest
import torch
from mlflow import MlflowClient

import paramsched as ps
from paramsched.events import make_event, supersede
from paramsched.recording import RecorderError, resolve_recorder
from paramsched_mlflow import (
    ARTIFACT_PATH,
    VALUES_DIR,
    MlflowRecorder,
    MlflowSource,
    metadata_params,
)


def _run(rec, mh, steps, **meta):
    rec.start(mh.make_metadata(**meta))
    expected = []
    for step in steps:
        values = mh.row_values(step)
        rec.record(step, values)
        expected.append((step, values))
    rec.close()
    return expected


def _load(uri, run_id, **options):
    return MlflowSource().load(f"mlflow://{run_id}", tracking_uri=uri, **options)


def _rows(traj):
    return [(step, {k: v for k, v in row.items() if v == v}) for step, row in zip(traj.frame.index, traj.frame.to_dict("records"))]


def _artifact(client, run_id):
    return json.loads(mlflow.artifacts.load_text(f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_PATH}"))


def test_values_read_back_bit_for_bit(sqlite_uri, mh, tmp_path):
    rec = MlflowRecorder(tracking_uri=sqlite_uri, run_name="exact", spool_dir=tmp_path / "spool")
    expected = _run(rec, mh, range(300))
    for fast in (True, False):
        assert _rows(_load(sqlite_uri, rec.run_id, fast=fast)) == expected  # == on every float (AWKWARD first)
    run = MlflowClient(sqlite_uri).get_run(rec.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "exact"
    assert run.data.tags["paramsched.values"] == "complete"
    assert not (tmp_path / "spool").exists()  # no failure, no spool


def _train(recorder, steps=1200):
    """A real scheduler run: WSD lr, cosine weight decay, linear betas.0, two groups."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias], "name": "head"}], lr=1e-3)
    schedules = {"lr": ps.WarmupStableDecay(3e-3, warmup=100, decay=0.3), "weight_decay": ps.Cosine(0.1, 0.0),
                 "betas.0": ps.Linear(0.85, 0.95)}
    with ps.ParamScheduler(opt, schedules, total_steps=steps, recorders=[recorder]) as sched:
        for _ in range(steps):
            sched.step()
    return ps.simulate(schedules, steps, groups=["g0", "head"])


def test_default_policy_charts_a_thinned_stream_and_replay_is_exact_at_every_step(sqlite_uri, tmp_path):
    """Issue 15: the metric history is thinned (boundaries, each series where it moved > 5 % of
    its range, every 1000 steps); the exact values (artifacts) replay == at every step."""
    rec = MlflowRecorder(tracking_uri=sqlite_uri, spool_dir=tmp_path)
    planned = _train(rec)
    traj = _load(sqlite_uri, rec.run_id)
    assert traj.frame.index.tolist() == list(range(1200))
    for name in traj.series:
        assert traj.frame[name].tolist() == planned[name].tolist()  # exact, every step
    client = MlflowClient(sqlite_uri)
    charted = [m.step for m in client.get_metric_history(rec.run_id, "hp/lr/g0")]
    assert 12 <= len(charted) < 120  # thinned
    assert {0, 99, 100, 839, 840, 1199} <= set(charted)  # warmup end, decay start (phase boundaries), last
    assert all(b - a <= 1000 for a, b in zip(charted, charted[1:], strict=False))  # at least every 1000 steps
    lr = dict(zip(charted, (m.value for m in client.get_metric_history(rec.run_id, "hp/lr/g0")), strict=True))
    decay = [k for k in charted if 840 <= k < 1200]
    # between two charted points the lr moved at most 5 % of its range (+ one step's change)
    assert all(abs(lr[b] - lr[a]) <= 0.05 * 3e-3 + 2e-5 for a, b in zip(decay, decay[1:], strict=False))
    assert traj.metadata["chart"] == {"every": 1000, "change": 0.05, "phase_boundaries": True, "per_series": True,
                                      "values": f"{VALUES_DIR}/*.csv"}
    # A series is charted where it moved: betas.0 (linear over the run) gets points the lr
    # (constant in its stable phase) does not, and no point of either is a copy of the other's.
    betas = [m.step for m in client.get_metric_history(rec.run_id, "hp/betas.0/g0")]
    stable = [k for k in charted if 100 < k < 839]
    assert len([k for k in betas if 100 < k < 839]) > len(stable) and set(stable) < set(betas)
    assert "at least every 1000 steps" in client.get_run(rec.run_id).data.tags["paramsched.chart"]
    full = MlflowRecorder(tracking_uri=sqlite_uri, spool_dir=tmp_path, chart_every=1)
    _train(full, steps=300)
    assert [m.step for m in client.get_metric_history(full.run_id, "hp/lr/g0")] == list(range(300))


def test_timestamps_are_when_values_were_recorded(sqlite_uri, mh):
    before = time.time_ns() // 1_000_000
    rec = MlflowRecorder(tracking_uri=sqlite_uri, chart_every=1)
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
    assert {k: v for k, v in document.items() if k not in ("created_at", "chart")} == {
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
        assert _rows(_load(sqlite_uri, active.info.run_id)) == expected
        assert MlflowClient(sqlite_uri).get_run(active.info.run_id).data.metrics["loss"] == 1.5
    finally:
        mlflow.set_tracking_uri(None)


def test_given_run_id_and_the_registry_spec(sqlite_uri, mh, monkeypatch):
    client = MlflowClient(sqlite_uri)
    run = client.create_run("0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    rec = resolve_recorder(f"mlflow:{run.info.run_id}")
    assert isinstance(rec, MlflowRecorder) and rec.run_id == run.info.run_id
    expected = _run(rec, mh, range(10))
    assert _rows(_load(sqlite_uri, run.info.run_id)) == expected
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # not ours to end
    assert isinstance(resolve_recorder("mlflow"), MlflowRecorder)


def test_an_unknown_run_id_never_raises_into_training_with_warn(sqlite_uri, mh, tmp_path):
    """Issue 11.4: the default on_error="warn" warns, keeps the values in the spool, goes on."""
    MlflowClient(sqlite_uri).search_experiments()  # create the store
    rec = MlflowRecorder("0" * 32, tracking_uri=sqlite_uri, spool_dir=tmp_path, close_timeout=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = _run(rec, mh, range(12))
    said = " | ".join(str(w.message) for w in caught)
    assert f"could not open its run (LookupError: no MLflow run with run_id='{'0' * 32}'" in said
    assert f"paramsched spool send {rec.spool_path}" in said
    spooled = ps.replay.load(rec.spool_path)
    assert _rows(spooled) == expected


def test_an_unknown_run_id_with_raise_is_an_error_naming_it(sqlite_uri, mh, tmp_path):
    MlflowClient(sqlite_uri).search_experiments()
    rec = MlflowRecorder("0" * 32, tracking_uri=sqlite_uri, on_error="raise", spool_dir=tmp_path)
    rec.start(mh.make_metadata())  # opening is the worker's: start() never waits on the store
    with pytest.raises(RecorderError, match=f"no MLflow run with run_id='{'0' * 32}' at tracking URI") as info:
        for step in range(200):
            rec.record(step, mh.row_values(step))
            time.sleep(0.01)
        rec.close()
    assert isinstance(info.value.__cause__, LookupError)
    with pytest.raises(RecorderError, match=r"row\(s\) could not be sent and are kept in the spool file"):
        rec.close()


def test_resume_into_the_same_run_keeps_each_step_once(sqlite_uri, mh):
    first = MlflowRecorder(tracking_uri=sqlite_uri)
    expected = _run(first, mh, range(100))
    second = MlflowRecorder(first.run_id, tracking_uri=sqlite_uri)
    resumed = _run(second, mh, range(60, 150), resumed_from_step=60)
    client = MlflowClient(sqlite_uri)
    traj = _load(sqlite_uri, first.run_id)
    assert _rows(traj) == expected[:60] + resumed
    assert not any("more than once" in note for note in traj.notes)  # the crashed rows 60..99 are gone
    document = _artifact(client, first.run_id)
    assert document["resumed_from_step"] is None
    assert [entry["at_step"] for entry in document["resumes"]] == [60]
    assert client.get_run(first.run_id).data.params == metadata_params(mh.make_metadata())


def test_events_go_to_an_artifact_and_a_tag_each_and_read_back_superseded(sqlite_uri, mh):
    """Issue 10.3: paramsched/events.jsonl plus a tag per event; a resume voids what it replaces."""
    events = [
        make_event(5, "intervention", series="hp/lr/g0", before=0.1, after=0.05,
                   spec={"type": "Constant", "value": 0.05}, reason="loss spike", time="t1"),
        make_event(30, "drift", series="hp/lr/head", before=0.01, after=123.0, time="t2"),
    ]
    rec = MlflowRecorder(tracking_uri=sqlite_uri)
    rec.start(mh.make_metadata())
    for step in range(40):
        rec.record(step, mh.row_values(step))
        for event in events:
            if event["step"] == step:
                rec.record_event(event)
    rec.close()
    traj = _load(sqlite_uri, rec.run_id)
    assert list(traj.events) == events
    tags = MlflowClient(sqlite_uri).get_run(rec.run_id).data.tags
    assert tags["paramsched.event.00000"] == "step 5 intervention hp/lr/g0 0.1 -> 0.05: loss spike"
    assert tags["paramsched.event.00001"] == "step 30 drift hp/lr/head 0.01 -> 123.0"
    resume = make_event(20, "resume", time="t3")
    second = MlflowRecorder(rec.run_id, tracking_uri=sqlite_uri)
    second.start(mh.make_metadata(resumed_from_step=20))
    second.record_event(resume)
    for step in range(20, 40):
        second.record(step, mh.row_values(step))
    second.close()
    assert list(_load(sqlite_uri, rec.run_id).events) == supersede([*events, resume]) == [events[0], resume]


def test_training_metrics_are_mlflow_metrics_and_come_back(sqlite_uri, mh):
    """Issue 10.3: record_metrics keeps the user's metrics (every one) under their own names."""
    rec = MlflowRecorder(tracking_uri=sqlite_uri)
    rec.start(mh.make_metadata())
    for step in range(60):
        rec.record(step, mh.row_values(step))
        rec.record_metrics(step, {"loss": 1 / (step + 1)})
        if step % 20 == 19:
            rec.record_metrics(step, {"val/loss": 0.5 - step * 1e-3})
    with pytest.raises(ValueError, match="MLflow metric names hold only letters, digits"):
        rec.record_metrics(3, {"loss%": 1.0})
    rec.close()
    assert [m.value for m in MlflowClient(sqlite_uri).get_metric_history(rec.run_id, "loss")] == [
        1 / (s + 1) for s in range(60)]
    for fast in (True, False):
        metrics = _load(sqlite_uri, rec.run_id, fast=fast).metrics
        assert metrics.index.tolist() == list(range(60)) and metrics["loss"].tolist() == [1 / (s + 1) for s in range(60)]
        assert metrics["val/loss"].dropna().to_dict() == {19: 0.5 - 19e-3, 39: 0.5 - 39e-3, 59: 0.5 - 59e-3}


def test_a_branch_is_a_nested_run_of_its_parent_with_lineage_tags(sqlite_uri, mh):
    """Issue 14: a child whose parent is an MLflow run of the same store is nested under it."""
    parent = MlflowRecorder(tracking_uri=sqlite_uri, experiment="wsd")
    _run(parent, mh, range(10))
    lineage = {"source": f"mlflow://{parent.run_id}", "run_id": parent.run_id, "fingerprint": "abc",
               "branch_step": 8}
    child = MlflowRecorder(tracking_uri=sqlite_uri)
    child.start({**mh.make_metadata(), "parent": lineage})
    child.record(8, mh.row_values(8))
    child.close()
    client = MlflowClient(sqlite_uri)
    run = client.get_run(child.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent.run_id
    assert run.data.tags["paramsched.parent"] == f"mlflow://{parent.run_id}"
    assert run.data.tags["paramsched.branch_step"] == "8"
    assert run.info.experiment_id == client.get_run(parent.run_id).info.experiment_id
    assert _load(sqlite_uri, child.run_id).lineage == lineage
    elsewhere = MlflowRecorder(tracking_uri=sqlite_uri)  # a parent that is a CSV run: tags, no nesting
    csv_lineage = {"source": "runs/parent", "run_id": None, "fingerprint": "abc", "branch_step": 8}
    elsewhere.start({**mh.make_metadata(), "parent": csv_lineage})
    elsewhere.close()
    tags = client.get_run(elsewhere.run_id).data.tags
    assert "mlflow.parentRunId" not in tags and tags["paramsched.parent"] == "runs/parent"


def test_nothing_is_printed_on_the_training_path(tmp_path, mh, capfd):
    """Issue 12.10: no "Downloading artifacts" progress bar, even when resuming (reading run.json),
    and no INFO lines from MLflow creating a new store's tables."""
    sqlite_uri = f"sqlite:///{tmp_path / 'new.db'}"
    first = MlflowRecorder(tracking_uri=sqlite_uri)
    _run(first, mh, range(5))
    out, err = capfd.readouterr()
    assert "Creating initial MLflow database tables" not in err + out and err.strip() == "" and out.strip() == ""
    second = MlflowRecorder(first.run_id, tracking_uri=sqlite_uri)
    _run(second, mh, range(3, 8), resumed_from_step=3)
    out, err = capfd.readouterr()
    assert "Downloading artifacts" not in err + out and err.strip() == "" and out.strip() == ""


def test_a_run_whose_values_could_not_all_be_sent_is_marked_and_spool_send_finishes_it(sqlite_uri, mh, tmp_path):
    """Issue 11.5 / 11.6: the run ends FAILED with a tag naming the spool; `paramsched spool send`
    delivers it (FINISHED, every value), and a second send sends nothing."""
    from paramsched.cli import main

    rec = MlflowRecorder(tracking_uri=sqlite_uri, spool_dir=tmp_path / "spool", retry_interval=0.05,
                         close_timeout=4.0, upload_every=0.01)
    rec.start(mh.make_metadata())
    expected = [(0, mh.row_values(0))]
    rec.record(*expected[0])
    rec.flush()  # the run is open and its first chunk uploaded
    artifacts = MlflowClient(sqlite_uri).get_run(rec.run_id).info.artifact_uri.removeprefix("file://")
    values_dir = os.path.join(artifacts, *VALUES_DIR.split("/"))
    blocked = values_dir + ".moved"
    os.rename(values_dir, blocked)
    with open(values_dir, "w") as handle:  # a file where the folder was: every upload fails now
        handle.write("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 50):
            rec.record(step, mh.row_values(step))
            expected.append((step, mh.row_values(step)))
        rec.close()
    assert any("could not be sent and are kept in the spool file" in str(w.message) for w in caught)
    run = MlflowClient(sqlite_uri).get_run(rec.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["paramsched.values"].startswith("incomplete: ")
    assert f"paramsched spool send {rec.spool_path}" in run.data.tags["paramsched.values"]
    assert "did not finish this run" in " ".join(_load(sqlite_uri, rec.run_id).notes)

    os.remove(values_dir)
    os.rename(blocked, values_dir)
    assert main(["spool", "send", str(rec.spool_path)]) == 0
    run = MlflowClient(sqlite_uri).get_run(rec.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["paramsched.values"] == "complete"
    assert _rows(_load(sqlite_uri, rec.run_id)) == expected
    chunks = sorted(os.listdir(values_dir))
    assert main(["spool", "send", str(rec.spool_path)]) == 0  # nothing sent twice
    assert sorted(os.listdir(values_dir)) == chunks


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
        ({"chart_every": 0}, ValueError, "chart_every must be an int >= 1, got chart_every=0"),
        ({"chart_change": -0.1}, ValueError, "chart_change must be a fraction >= 0, got chart_change=-0.1"),
        ({"upload_every": 0}, ValueError, "upload_every must be a number of seconds > 0"),
        ({"chunk_rows": 0}, ValueError, "chunk_rows must be an int >= 1"),
        ({"max_queue": 0}, ValueError, "max_queue must be an int >= 1"),
    ],
)
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        MlflowRecorder(**options)


def test_constructor_touches_nothing(tmp_path):
    MlflowRecorder(tracking_uri=f"sqlite:///{tmp_path / 'never.db'}")
    assert not (tmp_path / "never.db").exists()


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
