"""MlflowSource: a recorded run reads back as the same Trajectory (sqlite store)."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

import paramsched.replay as replay
from paramsched_mlflow import MlflowRecorder, MlflowSource
from paramsched_mlflow.source import parse_mlflow_url


@pytest.fixture
def recorded(sqlite_uri, mh):
    rec = MlflowRecorder(tracking_uri=sqlite_uri)
    metadata = mh.make_metadata()
    rec.start(metadata)
    expected = []
    for step in range(200):
        values = mh.row_values(step)
        rec.record(step, values)
        expected.append((step, values))
    rec.close()
    return rec.run_id, expected, metadata


def _assert_same(traj, expected, series):
    assert list(traj.frame.index) == [step for step, _ in expected]
    assert sorted(traj.series) == sorted(series)
    for name in series:
        column = traj.frame[name].to_numpy()
        assert column.dtype == np.float64
        assert column.tolist() == [values[name] for _, values in expected]  # exact


def test_round_trip_fast_and_through_the_client_agree(recorded, sqlite_uri, mh):
    run_id, expected, metadata = recorded
    fast = MlflowSource().load(f"mlflow://{run_id}?tracking_uri={sqlite_uri}")
    slow = MlflowSource().load(f"mlflow://{run_id}", tracking_uri=sqlite_uri, fast=False)
    _assert_same(fast, expected, mh.SERIES_12)
    assert fast.frame.equals(slow.frame)
    assert fast.metadata == slow.metadata
    assert {k: v for k, v in fast.metadata.items() if k != "chart"} == metadata
    assert fast.source == f"mlflow://{run_id}"


def test_replay_load_finds_the_source_by_scheme_and_by_run_object(recorded, sqlite_uri, mh, monkeypatch):
    run_id, expected, _ = recorded
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    _assert_same(replay.load(f"mlflow://{run_id}"), expected, mh.SERIES_12)
    run = MlflowClient(sqlite_uri).get_run(run_id)
    assert MlflowSource().claims(run)
    _assert_same(replay.load(run), expected, mh.SERIES_12)


def test_a_resumed_run_keeps_the_last_value_of_each_step(sqlite_uri, mh):
    first = MlflowRecorder(tracking_uri=sqlite_uri)
    first.start(mh.make_metadata())
    for step in range(30):
        first.record(step, {name: 1.0 + step for name in mh.SERIES_12})
    first.close()
    second = MlflowRecorder(first.run_id, tracking_uri=sqlite_uri)
    second.start(mh.make_metadata(resumed_from_step=20))
    for step in range(20, 40):
        second.record(step, {name: 2.0 + step for name in mh.SERIES_12})
    second.close()
    for fast in (True, False):
        traj = MlflowSource().load(f"mlflow://{first.run_id}", tracking_uri=sqlite_uri, fast=fast)
        assert traj.frame["hp/lr/g0"].tolist() == [1.0 + s for s in range(20)] + [2.0 + s for s in range(20, 40)]
        assert [r["at_step"] for r in traj.metadata["resumes"]] == [20]


def test_a_run_that_starts_at_its_resume_step_has_no_gap_note(sqlite_uri, mh):
    # a branch's child loads its parent's checkpoint at step k and records from k on
    rec = MlflowRecorder(tracking_uri=sqlite_uri)
    rec.start(mh.make_metadata(total_steps=40, resumed_from_step=30))
    for step in range(30, 40):
        rec.record(step, mh.row_values(step))
    rec.close()
    for fast in (True, False):
        traj = MlflowSource().load(f"mlflow://{rec.run_id}", tracking_uri=sqlite_uri, fast=fast)
        assert list(traj.frame.index) == list(range(30, 40))
        assert not [note for note in traj.notes if "missing" in note or "not at every update" in note], traj.notes


def test_a_run_paramsched_did_not_write(sqlite_uri):
    client = MlflowClient(sqlite_uri)
    run = client.create_run("0")
    for step in range(3):
        client.log_metric(run.info.run_id, "hp/lr/g0", 0.1 * step, step=step)
    client.log_metric(run.info.run_id, "loss", 1.0, step=0)
    traj = MlflowSource().load(f"mlflow://{run.info.run_id}", tracking_uri=sqlite_uri)
    assert traj.series == ["hp/lr/g0"] and traj.metadata is None
    assert traj.frame["hp/lr/g0"].tolist() == [0.0, 0.1, 0.2]
    other = client.create_run("0")
    client.log_metric(other.info.run_id, "loss", 1.0)
    with pytest.raises(ValueError, match=r"has no hp/<key>/<group> metrics; its metrics are \['loss'\]; "
                       r"a log paramsched did not write is read with keymap="):
        MlflowSource().load(f"mlflow://{other.info.run_id}", tracking_uri=sqlite_uri)


@pytest.mark.parametrize("fast", [True, False])
def test_unknown_run_names_the_run_and_the_uri(sqlite_uri, fast):
    MlflowClient(sqlite_uri).search_experiments()
    with pytest.raises(LookupError, match=f"no MLflow run with run_id='deadbeef' at tracking URI '{sqlite_uri}'"):
        MlflowSource().load("mlflow://deadbeef", tracking_uri=sqlite_uri, fast=fast)


def test_a_missing_database_is_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'nope.db'}"
    with pytest.raises(FileNotFoundError, match="no MLflow database at"):
        MlflowSource().load(f"mlflow://abc?tracking_uri={uri}")
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    ("url", "match"),
    [("mlflow://", "must look like 'mlflow://RUN_ID'"), ("mlflow://a/b", "must look like"),
     ("mlflow://abc?uri=x", r"unknown option\(s\) \['uri'\]")],
)
def test_bad_urls(url, match):
    with pytest.raises(ValueError, match=match):
        parse_mlflow_url(url)


def test_claims():
    source = MlflowSource()
    assert source.claims("mlflow://abc") and source.claims("MLFLOW://abc")
    assert not source.claims("runs/a") and not source.claims(3)
    with pytest.raises(TypeError, match="the mlflow source reads"):
        source.load(3)


@pytest.mark.parametrize("fast", [True, False])
def test_a_foreign_run_reads_through_a_keymap_and_keeps_its_other_metrics(sqlite_uri, fast):
    """Issue 12.2: every source takes keymap=; the run's non-hp metrics come back in traj.metrics."""
    client = MlflowClient(sqlite_uri)
    run_id = client.create_run("0").info.run_id
    for step in range(5):
        client.log_metric(run_id, "my_lr", 0.1 / (step + 1), step=step)
        client.log_metric(run_id, "loss", 2.0 - step / 3, step=step)
    client.log_metric(run_id, "loss", float("inf"), step=5)
    traj = replay.load(f"mlflow://{run_id}?tracking_uri={sqlite_uri}", keymap={"my_lr": ("lr", "g0")}, fast=fast)
    assert traj.frame["hp/lr/g0"].tolist() == [0.1 / (s + 1) for s in range(5)]
    assert traj.metrics.columns.tolist() == ["loss", "my_lr"]  # every non-hp metric, keymap or not
    assert traj.metrics["loss"].tolist()[:5] == [2.0 - s / 3 for s in range(5)]
    assert any("metric 'loss' has infinite values (first at step 5)" in note for note in traj.notes)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("keymap", ["hf", "auto"])
def test_a_hf_run_is_read_with_the_step_convention_of_the_transformers_that_logged_it(sqlite_uri, fast, keymap):
    """The Trainer's MLflow callback logs the model config's ``transformers_version`` as a param:
    before 4.51 logged step s held update s's lr, since then update s - 1's."""
    client = MlflowClient(sqlite_uri)
    lrs = [1e-3 * (1 - s / 10) for s in range(1, 9)]  # logged at steps 1..8
    runs, urls = {}, {}
    for version in ("4.48.1", "4.51.0", None):
        run_id = client.create_run("0").info.run_id
        if version is not None:
            client.log_param(run_id, "transformers_version", version)
        for step, lr in enumerate(lrs, start=1):
            client.log_metric(run_id, "learning_rate", lr, step=step)
        urls[version] = f"mlflow://{run_id}?tracking_uri={sqlite_uri}"
        runs[version] = replay.load(urls[version], keymap=keymap, fast=fast)
    old, new, unknown = runs["4.48.1"], runs["4.51.0"], runs[None]
    assert old.frame["hp/lr/g0"].to_dict() == dict(zip(range(1, 9), lrs))  # update s at step s
    assert any("written by transformers 4.48.1: before 4.51 the Trainer logged the lr of the NEXT update"
               in note for note in old.notes), old.notes
    assert new.frame["hp/lr/g0"].to_dict() == unknown.frame["hp/lr/g0"].to_dict() == dict(zip(range(8), lrs))
    assert any("written by transformers 4.51.0: the lr of update k is logged at global_step k + 1" in note
               for note in new.notes)
    assert any("an older transformers logged the lr of the next update" in note for note in unknown.notes)
    # a key map the caller built says the convention itself: the logged version does not change it
    mine = replay.load(urls["4.48.1"], keymap=replay.keymaps.hf(step_offset=1), fast=fast)
    assert mine.frame["hp/lr/g0"].to_dict() == dict(zip(range(8), lrs))


def test_keymap_auto_on_a_paramsched_run_reads_the_exact_values(recorded, sqlite_uri, mh):
    run_id, expected, _ = recorded
    _assert_same(MlflowSource().load(f"mlflow://{run_id}", tracking_uri=sqlite_uri, keymap="auto"),
                 expected, mh.SERIES_12)


@pytest.mark.parametrize("fast", [True, False])
def test_an_events_artifact_cut_short_keeps_its_whole_lines_and_says_so(recorded, sqlite_uri, fast):
    """events.jsonl is read with the CSV run format's reader: a last line without its newline
    (an upload cut short) is left out with a note; a bad line before it is an error naming it."""
    run_id, _, _ = recorded
    client = MlflowClient(sqlite_uri)
    whole = '{"step": 3, "kind": "drift", "series": "hp/lr/g0", "before": 0.1, "after": 0.2}\n'
    url = f"mlflow://{run_id}?tracking_uri={sqlite_uri}"
    client.log_text(run_id, whole + '{"step": 5, "ki', "paramsched/events.jsonl")
    traj = replay.load(url, fast=fast)
    assert [(e["step"], e["kind"], e["after"]) for e in traj.events] == [(3, "drift", 0.2)]
    assert "paramsched/events.jsonl: an unfinished last line (the writer was interrupted) was not read" in traj.notes
    client.log_text(run_id, "not json\n" + whole, "paramsched/events.jsonl")
    with pytest.raises(ValueError, match=r"paramsched/events.jsonl line 1 is not JSON"):
        replay.load(url, fast=fast)
