"""The default configuration end to end: a thinned chart, every value exact in the run's files,
events, metrics and lineage (a branch goes in its parent's W&B group), read back offline."""

from __future__ import annotations

import json

import pytest

import paramsched as ps
import paramsched.replay as replay
from paramsched.events import make_event
from paramsched.naming import series_name
from paramsched_wandb import WandbRecorder
from paramsched_wandb.reader import find_run_file
from paramsched_wandb.recorder import lineage_group

TOTAL = 400
EVENT_STEP = 250
GROUPS = ("g0", "head", "blocks/0", "emb 1")
SCHEDULES = {
    "lr": ps.WarmupStableDecay(3e-4, warmup=40, decay=100),
    "weight_decay": ps.Cosine(0.1, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}
SERIES = [series_name(key, group) for key in SCHEDULES for group in GROUPS]
TIME = "2026-11-27T01:00:00+00:00"


def _values(step: int) -> dict[str, float]:
    row = {}
    for key, schedule in SCHEDULES.items():
        for i, group in enumerate(GROUPS):
            value = schedule(step, TOTAL) * (1 + i)
            if key == "lr" and step >= EVENT_STEP:
                value *= 0.5  # the intervention below halves lr from its step on
            row[series_name(key, group)] = value
    return row


def _metadata(h, **extra):
    doc = h.metadata(TOTAL, **extra)
    doc["series"] = list(SERIES)
    doc["schedules"] = {key: s.to_spec() for key, s in SCHEDULES.items()}
    doc["groups"] = [{"index": i, "label": g, "base": {"lr": 1e-3}} for i, g in enumerate(GROUPS)]
    return doc


@pytest.fixture(scope="module")
def family(module_env, h):
    """A parent run in group "family" and a branch of it with the default chart policy."""
    parent = WandbRecorder(project="ps-policy", name="stable", init_kwargs={"group": "family"})
    parent.start(_metadata(h))
    for k in range(10):
        parent.record(k, _values(k))
    parent.close()
    parent_file = find_run_file(h.run_dir_of(parent.run))
    lineage = {"source": str(parent_file), "run_id": parent.run.id, "fingerprint": "0123abcd", "branch_step": 5}

    child = WandbRecorder(project="ps-policy", name="cooldown")
    child.start(_metadata(h, parent=lineage))
    event = make_event(EVENT_STEP, "intervention", series="hp/lr/g0", before=_values(EVENT_STEP - 1)["hp/lr/g0"],
                       after=_values(EVENT_STEP)["hp/lr/g0"], reason="loss spike", time=TIME)
    expected, metrics = {}, {}
    for k in range(TOTAL):
        if k == EVENT_STEP:
            child.record_event(event)
        expected[k] = _values(k)
        child.record(k, expected[k])
        if k % 10 == 0:
            metrics[k] = 1.0 / (k + 1)
            child.record_metrics(k, {"loss": metrics[k]})
    child.close()
    run_dir = h.run_dir_of(child.run)
    return run_dir, h.read_run(run_dir), expected, metrics, event, lineage


def test_every_value_reads_back_exactly_while_the_chart_is_thinned(family, h):
    run_dir, run, expected, _, _, _ = family
    traj = replay.load(run_dir)
    assert traj.series == SERIES
    assert traj.frame.index.tolist() == list(range(TOTAL))
    for k in range(TOTAL):
        assert h.same_floats({s: float(traj.frame.at[k, s]) for s in SERIES}, expected[k]), k
    assert traj.notes == ()
    # the values folder is a CSV run: the CSV source reads the same values
    assert replay.load(run_dir / "files" / "paramsched").frame.equals(traj.frame)

    charted = h.hp_rows([r for r in run.history if SERIES[0] in r])  # (metrics rows have hp/step too)
    steps = sorted(charted)
    assert all(h.same_floats(charted[k], expected[k]) for k in steps)
    assert len(steps) < TOTAL // 4
    assert {0, 39, 40, 299, 300, EVENT_STEP - 1, EVENT_STEP, TOTAL - 1} <= set(steps)  # ends, phases, event
    assert max(b - a for a, b in zip(steps, steps[1:])) <= 100
    assert run.config["paramsched_chart"] == {
        "every": 100, "change": 0.05, "boundaries": True, "events": True, "values_file": "paramsched/values.f64",
        "csv_file": "paramsched/values.csv",
    }


def test_events_are_in_the_config_the_values_folder_and_a_table(family):
    run_dir, run, _, _, event, _ = family
    assert replay.load(run_dir).events == (event,)
    assert run.config["paramsched_events"] == [event]
    (table,) = (run_dir / "files" / "media" / "table" / "paramsched").glob("events*.table.json")
    content = json.loads(table.read_text())
    assert content["columns"][:3] == ["step", "kind", "series"]
    assert content["data"][0][:3] == [EVENT_STEP, "intervention", "hp/lr/g0"]


def test_events_come_back_from_the_config_alone(family, tmp_path):
    """A run whose files were not downloaded (or were lost) still has its events in the config."""
    import shutil

    run_dir, _, expected, _, event, _ = family
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "files" / "paramsched")
    traj = replay.load(copy)  # the chart in the history: charted steps only
    assert traj.events == (event,)
    assert traj.frame.to_dict("index") == {k: expected[k] for k in traj.frame.index}


def test_metrics_come_back(family, tmp_path):
    import shutil

    run_dir, run, _, metrics, _, _ = family
    traj = replay.load(run_dir)
    assert traj.metrics["loss"].dropna().to_dict() == metrics
    # charted as metric/<name> (at least every chart_every steps), read back as <name>
    charted = {r["hp/step"]: r["metric/loss"] for r in run.history if "metric/loss" in r}
    assert charted and all(metrics[k] == v for k, v in charted.items()) and 0 in charted
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "files" / "paramsched")
    assert replay.load(copy).metrics["loss"].dropna().to_dict() == charted


def test_a_branch_is_in_its_parents_group_and_carries_its_lineage(family, h):
    run_dir, run, _, _, _, lineage = family
    assert run.group == "family"  # read from the parent's offline run
    assert run.config["paramsched"]["parent"] == lineage
    assert replay.load(run_dir).lineage == lineage
    (parent_dir,) = [d for d in h.run_dirs(run_dir.parent.parent) if d.name.endswith(lineage["run_id"])]
    assert replay.load(parent_dir).lineage is None


def test_lineage_group_without_a_readable_parent():
    assert lineage_group(None) is None
    assert lineage_group({"group": "sweep-7", "run_id": "abc"}) == "sweep-7"
    assert lineage_group({"source": "runs/not-here", "run_id": "abc"}) == "abc"
    assert lineage_group({"source": "wandb://me/proj/abc123?timeout=3"}) == "abc123"


def test_a_branch_made_with_ps_branch_goes_to_its_parents_group(wandb_env):
    """A parent trained with a WandbRecorder, a child from ``ps.branch(parent run dir, ...)``:
    the child's run is in the parent's group, its lineage reads back, and its values before the
    branch step are the parent's (==)."""
    import torch

    from paramsched_wandb.reader import read_offline_run

    def train(schedules, total, recorder, lineage=None):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.AdamW([{"params": model.weight}, {"params": model.bias, "name": "head"}], lr=1e-3)
        with ps.ParamScheduler(opt, schedules, total_steps=total, recorders=[recorder], lineage=lineage) as sched:
            for _ in range(total):
                opt.step()
                sched.step()
        return recorder

    parent = train({"lr": ps.WarmupStableDecay(1e-2, warmup=5, decay=0.0)}, 60,
                   WandbRecorder(project="ps-branch", name="stable", init_kwargs={"group": "wsd"}))
    parent_dir = parent.run.dir.rsplit("/files", 1)[0]
    child = ps.branch(parent_dir, at_step=30, cooldown=10, shape="1-sqrt")
    kwargs = child.scheduler_kwargs()
    rec = train(kwargs["schedules"], kwargs["total_steps"], WandbRecorder(project="ps-branch", name="cooldown"),
                lineage=kwargs["lineage"])
    child_dir = rec.run.dir.rsplit("/files", 1)[0]

    assert read_offline_run(child_dir).group == "wsd"
    traj = replay.load(child_dir)
    assert traj.lineage == child.lineage
    assert traj.lineage["run_id"] == parent.run.id and traj.lineage["branch_step"] == 30
    parent_traj = replay.load(parent_dir)
    assert traj.frame.loc[:29].equals(parent_traj.frame.loc[:29])
    assert traj.frame.index.tolist() == list(range(40)) and traj.frame.at[39, "hp/lr/g0"] < traj.frame.at[30, "hp/lr/g0"]
