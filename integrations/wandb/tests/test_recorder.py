"""WandbRecorder against the real wandb SDK in offline mode, read back with the offline reader."""

from __future__ import annotations

import warnings

import pytest

from paramsched.recording.errors import RecorderError
from paramsched_wandb import WandbRecorder, WandbSource, iter_records, read_offline_run
from paramsched_wandb.recorder import HP_RUN_KEY, PARENT_RUN_KEY
from paramsched_wandb.runfiles import read_packed

N = 30


def _record(rec: WandbRecorder, h, steps, **meta) -> dict[int, dict[str, float]]:
    rec.start(h.metadata(N, **meta))
    expected = {}
    for k in steps:
        expected[k] = h.values_at(k)
        rec.record(k, expected[k])
    return expected


def _assert_hp_equal(got: dict, expected: dict, h) -> None:
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert h.same_floats(got[k], expected[k]), k


# -- own mode -----------------------------------------------------------------------------


def test_own_mode_charting_every_step_puts_every_value_in_the_history_too(wandb_env, h):
    rec = WandbRecorder(project="ps-test", name="standalone", chart_every=1)
    expected = _record(rec, h, range(N))
    import wandb

    assert wandb.run is None  # the recorder's run never becomes the global run
    rec.close()

    (run_dir,) = h.run_dirs(wandb_env)
    run = read_offline_run(run_dir)  # complete as soon as close() returns: no waiting
    assert (run.name, run.project, run.finished, run.truncated) == ("standalone", "ps-test", True, False)
    assert run.config["paramsched"] == h.metadata(N)
    _assert_hp_equal(h.hp_rows(run.history), expected, h)
    # one committed W&B row per scheduler step, in order
    assert [row["_step"] for row in run.history] == list(range(N))
    assert [row["hp/step"] for row in run.history] == list(range(N))
    assert run.config["paramsched_chart"]["every"] == 1
    # charts use hp/step as x-axis
    metrics = {
        (r.metric.name or r.metric.glob_name): r.metric.step_metric
        for r in iter_records(run_dir)
        if r.WhichOneof("record_type") == "metric"
    }
    assert metrics.get("hp/*") == "hp/step"

    traj = WandbSource().load(run_dir)
    assert traj.series == h.SERIES
    assert traj.metadata == h.metadata(N)
    assert list(traj.frame.index) == list(range(N))
    for k in range(N):
        assert h.same_floats({s: float(traj.frame.at[k, s]) for s in h.SERIES}, expected[k])
    # the history alone (the reader's fallback for runs without the values file) is exact too
    history = h.hp_rows(run.history)
    assert all(h.same_floats(history[k], expected[k]) for k in range(N))


def test_own_mode_beside_a_user_run_never_moves_the_user_step(wandb_env, h, capfd):
    import wandb

    user = wandb.init(project="ps-test", name="user")
    rec = WandbRecorder()
    rec.start(h.metadata(N))
    expected = {}
    for k in range(N):  # the usual loop: scheduler step, then the user's own rows at step=k
        expected[k] = h.values_at(k)
        rec.record(k, expected[k])
        user.log({"loss": 1.0 / (k + 1)}, step=k)
        user.log({"acc": k / 7}, step=k)
    rec.close()
    assert wandb.run is user
    user.log({"loss": -1.0}, step=N)  # the user's run goes on after the recorder closed
    user.finish()

    assert h.STEP_WARNING not in capfd.readouterr().err
    user_dir = h.run_dir_of(user)
    assert h.STEP_WARNING not in h.console_text(user_dir)
    user_run = h.read_run(user_dir)
    assert [(r["_step"], r["loss"], r["acc"]) for r in user_run.history[:N]] == [
        (k, 1.0 / (k + 1), k / 7) for k in range(N)
    ]
    assert (user_run.history[N]["_step"], user_run.history[N]["loss"]) == (N, -1.0)
    assert not any(k.startswith("hp/") for row in user_run.history for k in row)

    companion_id = user_run.config[HP_RUN_KEY]
    (hp_dir,) = [d for d in h.run_dirs(wandb_env) if d.name.endswith(companion_id)]
    hp_run = h.read_run(hp_dir)
    assert hp_run.name == "user-paramsched"
    assert hp_run.group == user.id
    assert hp_run.config[PARENT_RUN_KEY] == user.id
    assert hp_run.config["paramsched"] == h.metadata(N)
    charted = h.hp_rows(hp_run.history)  # the default chart (these awkward values jump at every step)
    assert 0 in charted and N - 1 in charted
    assert all(h.same_floats(values, expected[k]) for k, values in charted.items())

    # Replay from the user's run follows the link to the companion and reads its values file;
    # the user's own metrics come back from the user's history.
    traj = WandbSource().load(user_dir)
    assert traj.source == str(next(hp_dir.glob("*.wandb")))
    assert traj.frame.to_dict("index") == expected
    assert traj.metrics.loc[: N - 1, "loss"].to_dict() == {k: 1.0 / (k + 1) for k in range(N)}
    assert traj.metrics.loc[: N - 1, "acc"].to_dict() == {k: k / 7 for k in range(N)}
    assert traj.metrics.at[N, "loss"] == -1.0


def test_json_and_typed_history_encoding_and_rank_in_the_run_name(wandb_env, h):
    import wandb

    rec = WandbRecorder(
        project="ps-test",
        name="ddp",
        init_kwargs={"settings": wandb.Settings(x_history_value_encoding="json,typed"), "tags": ["t"]},
        chart_every=1,
    )
    expected = _record(rec, h, range(5), rank=1, world_size=2)
    rec.close()
    (run_dir,) = h.run_dirs(wandb_env)
    run = h.read_run(run_dir)
    assert run.name == "ddp-rank1"
    items = [r.history.item[0] for r in iter_records(run_dir) if r.WhichOneof("record_type") == "history"]
    assert items and all(item.WhichOneof("value") and item.value_json for item in items)  # both forms
    _assert_hp_equal(h.hp_rows(run.history), expected, h)


def test_own_mode_backend_failure_warns_spools_and_keeps_every_value(wandb_env, h, tmp_path):
    rec = WandbRecorder(project="ps-test", spool_dir=tmp_path / "spool", retry_interval=0.05)
    expected = _record(rec, h, range(5))
    rec.flush()  # the default patience: wandb.init on a busy machine can take longer than 0.3 s
    assert rec.run is not None and rec.spool_path is None
    rec.close_timeout = 0.3  # from here on, the backend is gone: do not wait long for it
    rec.run.finish()  # the backend goes away under the recorder
    with pytest.warns(RuntimeWarning, match=r"could not reach its backend \(UsageError: Run .* is finished"):
        for k in range(5, 8):
            expected[k] = h.values_at(k)
            rec.record(k, expected[k])
        rec.flush()
    with pytest.warns(RuntimeWarning, match=r"3 row\(s\) could not be sent and are kept in the spool file"):
        rec.close()
    from paramsched.recording import read_spool

    _, spooled = read_spool(rec.spool_path)
    assert spooled == [(k, expected[k]) for k in range(5, 8)]
    traj = WandbSource().load(h.run_dirs(wandb_env)[0])  # what was written before the run went away
    assert traj.frame.to_dict("index") == {k: expected[k] for k in range(5)}


def test_a_run_stopped_before_close_replays_exactly_from_its_values_file(wandb_env, h, tmp_path):
    """The values file is appended as the run goes: a copy taken mid-run (what a killed run
    leaves: no values.csv, no exit record) reads back every value recorded so far, ==."""
    import shutil

    rec = WandbRecorder(project="ps-test", name="killed")
    expected = _record(rec, h, range(N))
    rec.flush()
    copy = tmp_path / "copy" / h.run_dir_of(rec.run).name
    shutil.copytree(h.run_dir_of(rec.run), copy)
    rec.close()
    assert not (copy / "files" / "paramsched" / "values.csv").exists()
    with pytest.warns(RuntimeWarning, match=r"has no exit record and is not changing: the run is open but idle, or its process ended without finishing it"):
        traj = WandbSource().load(copy, wait=5.0)
    assert traj.frame.to_dict("index") == expected
    assert all(h.same_floats({s: float(traj.frame.at[k, s]) for s in h.SERIES}, expected[k]) for k in range(N))
    assert traj.metadata == h.metadata(N)
    # close() finalised the CSV copy: the same values, read by the CSV source
    folder = h.run_dir_of(rec.run) / "files" / "paramsched"
    import paramsched.replay as replay

    assert replay.load(folder).frame.equals(WandbSource().load(h.run_dir_of(rec.run)).frame)


# -- merge mode ---------------------------------------------------------------------------


def test_merge_mode_with_explicit_user_steps_lands_in_the_users_rows(wandb_env, h, capfd):
    import wandb

    user = wandb.init(project="ps-test", name="merge-explicit")
    rec = WandbRecorder(step_mode="merge", chart_every=1)
    expected = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overwritten" warning
        rec.start(h.metadata(N))
        for k in range(N):
            expected[k] = h.values_at(k)
            rec.record(k, expected[k])
            user.log({"loss": 1.0 / (k + 1)}, step=k)
            user.log({"acc": k / 7}, step=k)
        rec.close()
    user.finish()
    assert rec.overwritten_steps == 0
    assert h.STEP_WARNING not in capfd.readouterr().err
    run_dir = h.run_dir_of(user)
    assert h.STEP_WARNING not in h.console_text(run_dir)
    run = h.read_run(run_dir)
    assert run.config["paramsched"] == h.metadata(N)
    rows = [r for r in run.history if "loss" in r]
    assert [(r["_step"], r["loss"], r["acc"]) for r in rows] == [(k, 1.0 / (k + 1), k / 7) for k in range(N)]
    assert all(r["hp/step"] == r["_step"] for r in rows)  # aligned with the user's rows
    _assert_hp_equal(h.hp_rows(run.history), expected, h)
    traj = WandbSource().load(run_dir)
    assert traj.frame.to_dict("index") == expected
    assert traj.metrics["loss"].to_dict() == {k: 1.0 / (k + 1) for k in range(N)}


def test_merge_mode_with_implicit_user_steps_and_a_resumed_recorder(wandb_env, h, capfd):
    import wandb

    user = wandb.init(project="ps-test", name="merge-implicit")
    expected = {}
    first = WandbRecorder(step_mode="merge")
    first.start(h.metadata(N))
    for k in range(10):
        expected[k] = h.values_at(k)
        first.record(k, expected[k])
        user.log({"loss": float(k)})
    first.close()
    second = WandbRecorder(step_mode="merge", run=user)  # resumed at step 8: steps 8, 9 logged again
    second.start(h.metadata(N, resumed_from_step=8))
    for k in range(8, N):
        expected[k] = h.values_at(k) if k >= 10 else {s: v * 2 for s, v in h.values_at(k).items()}
        second.record(k, expected[k])
        user.log({"loss": float(k)})
    second.close()
    user.finish()
    assert first.overwritten_steps == second.overwritten_steps == 0
    assert h.STEP_WARNING not in capfd.readouterr().err
    run = h.read_run(h.run_dir_of(user))
    assert [r["loss"] for r in run.history if "loss" in r] == [float(k) for k in range(10)] + [float(k) for k in range(8, N)]
    config = run.config["paramsched"]
    assert {k: v for k, v in config.items() if k != "resumes"} == h.metadata(N)
    assert [r["at_step"] for r in config["resumes"]] == [8]
    # the values file has every value (the chart the charted ones); a logged-again step keeps its last one
    traj = WandbSource().load(h.run_dir_of(user))
    assert traj.frame.to_dict("index") == expected
    assert [r["at_step"] for r in traj.metadata["resumes"]] == [8]
    # the resumed recorder cut the values file back to the steps before 8: each step stored once
    steps, _, _, _ = read_packed(h.run_dir_of(user) / "files" / "paramsched" / "values.f64")
    assert steps.tolist() == list(range(N))


def test_merge_mode_warns_when_the_user_commits_less_often_than_the_scheduler(wandb_env, h):
    import wandb

    user = wandb.init(project="ps-test", name="merge-sparse")
    rec = WandbRecorder(step_mode="merge", chart_every=1)
    rec.start(h.metadata(N))
    with pytest.warns(RuntimeWarning, match=r"step_mode='merge'.*did not advance between charted scheduler steps 0 and 1, so the chart keeps only the later values.*every value is in paramsched/values.csv.*step_mode='own'"):
        for k in range(N):
            rec.record(k, h.values_at(k))
            if k % 5 == 0:
                user.log({"loss": float(k)}, step=k)
        rec.close()
    user.finish()
    # user rows at 0, 5, ..., 25; each of the 6 rows keeps one scheduler step, the other 24 were overwritten
    assert rec.overwritten_steps == N - 6
    run = h.read_run(h.run_dir_of(user))
    got = h.hp_rows(run.history)
    assert len(got) == 6
    assert all(h.same_floats(values, h.values_at(k)) for k, values in got.items())
    traj = WandbSource().load(h.run_dir_of(user))  # the chart lost 24 steps; the values file none
    assert traj.frame.to_dict("index") == {k: h.values_at(k) for k in range(N)}


def test_merge_mode_when_the_user_finishes_the_run_first(wandb_env, h, tmp_path):
    """The chart misses the steps it could not merge; the values end in the file or the spool."""
    import wandb

    from paramsched.recording import read_spool

    for on_error in ("warn", "raise"):
        user = wandb.init(project="ps-test", name=f"merge-gone-{on_error}")
        rec = WandbRecorder(
            step_mode="merge", on_error=on_error, spool_dir=tmp_path / on_error, retry_interval=0.05, close_timeout=0.5
        )
        rec.start(h.metadata(N))
        rec.record(0, h.values_at(0))
        rec.flush()  # step 0 is in the values file
        user.finish()
        with pytest.warns(RuntimeWarning, match=r"run.log failed at scheduler step 0 \(UsageError: .*the chart misses that step, the values are kept in paramsched/values.csv"):
            rec.record(1, h.values_at(1))
        if on_error == "warn":
            with pytest.warns(RuntimeWarning, match=r"could not reach its backend \(UsageError: Run \(\w+\) is finished"):
                with pytest.warns(RuntimeWarning, match=r"1 row\(s\) could not be sent and are kept in the spool file"):
                    rec.close()
        else:
            with pytest.raises(RecorderError, match=r"the backend failed \(UsageError: Run \(\w+\) is finished; paramsched cannot write into it\); unsent values are kept in the spool file"):
                rec.flush()
            with pytest.raises(RecorderError, match=r"1 row\(s\) could not be sent and are kept in the spool file"):
                rec.close()
        assert [step for step, _ in read_spool(rec.spool_path)[1]] == [1]
        traj = WandbSource().load(h.run_dir_of(user))
        assert traj.frame.to_dict("index") == {0: h.values_at(0)}


def test_merge_mode_needs_an_active_run(wandb_env, h):
    rec = WandbRecorder(step_mode="merge")
    with pytest.raises(ValueError, match=r"step_mode='merge' needs an active W&B run.*wandb.run is None"):
        rec.start(h.metadata(N))


def test_the_step_warning_check_can_fail(wandb_env, h, capfd):
    """Positive control: a row logged below the current step is reported where the tests look."""
    import wandb

    user = wandb.init(project="ps-test", name="control")
    user.log({"loss": 1.0}, step=5)
    user.log({"loss": 2.0}, step=3)
    user.finish()
    assert h.STEP_WARNING in capfd.readouterr().err + h.console_text(h.run_dir_of(user))


# -- constructor checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step_mode": "shared"}, ValueError, r"step_mode must be one of 'own', 'merge', got step_mode='shared'"),
        ({"mode": "dryrun"}, ValueError, r"mode must be one of 'online', 'offline', 'disabled', got mode='dryrun'"),
        ({"project": 3}, TypeError, r"project must be a non-empty string or None, got project=3"),
        ({"name": ""}, TypeError, r"name must be a non-empty string or None, got name=''"),
        ({"dir": 1.5}, TypeError, r"dir must be a path \(str or os.PathLike\) or None, got dir=1.5"),
        ({"run": "my-run"}, TypeError, r"run must be a wandb Run \(from wandb.init\(\)\) or None, got run='my-run'"),
        ({"init_kwargs": ["x"]}, TypeError, r"init_kwargs must be a dict or None, got init_kwargs=\['x'\]"),
        ({"init_kwargs": {"project": "p"}}, ValueError, r"init_kwargs must not contain 'project': the recorder sets it \(use the project= argument"),
        ({"init_kwargs": {"reinit": True}}, ValueError, r"init_kwargs must not contain 'reinit': the recorder sets it, got"),
        ({"step_mode": "merge", "project": "p", "mode": "offline"}, ValueError, r"step_mode='merge' logs into your own active run, so project, mode would be ignored"),
        ({"on_error": "ignore"}, ValueError, r"on_error must be one of 'warn', 'raise', got on_error='ignore'"),
        ({"chart_every": 0}, ValueError, r"chart_every must be an int >= 1, got chart_every=0"),
        ({"chart_every": 2.5}, TypeError, r"chart_every must be an int >= 1, got chart_every=2.5"),
        ({"chart_change": 1.0}, ValueError, r"chart_change must be a fraction in \[0, 1\) of a series' scale, got chart_change=1.0"),
        ({"chart_change": "0.1"}, TypeError, r"chart_change must be a real number, got chart_change='0.1'"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        WandbRecorder(**kwargs)


def test_constructor_does_not_touch_wandb(wandb_env):
    rec = WandbRecorder(project="p", mode="offline")
    assert repr(rec) == "WandbRecorder(step_mode='own', project='p', chart_every=100, state='new')"
    assert not (wandb_env / "wandb").exists()
    with pytest.raises(RuntimeError, match=r"record\(\) needs start\(\) first"):
        rec.record(0, {"hp/lr/g0": 0.1})


def test_registered_as_the_wandb_recorder():
    from paramsched._registry import Registry

    assert Registry("recorder", "paramsched.recorders").get("wandb") is WandbRecorder


def test_own_mode_without_credentials_warns_spools_and_training_goes_on(wandb_env, h, tmp_path):
    # online mode and no API key: wandb.init fails before any network access
    rec = WandbRecorder(project="ps-test", mode="online", spool_dir=tmp_path / "spool", retry_interval=0.1, close_timeout=0.3)
    rec.start(h.metadata(N))  # the run is opened on the worker thread: start() returns at once
    rec.record(0, h.values_at(0))
    with pytest.warns(RuntimeWarning, match=r"the wandb recorder could not reach its backend \(UsageError: No API key configured"):
        rec.flush()
    with pytest.warns(RuntimeWarning, match=r"1 row\(s\) could not be sent and are kept in the spool file"):
        rec.close()
    from paramsched.recording import read_spool

    assert read_spool(rec.spool_path)[1] == [(0, h.values_at(0))]
