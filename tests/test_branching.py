"""Branching a WSD run: cooldowns from checkpoints as child runs with lineage (issue 14)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
import torch

import paramsched as ps

TOTAL, EVERY = 60, 10


def _model_and_opt():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[2].parameters(), "name": "head"}],
        lr=1e-3,
    )
    return model, opt


def _train(model, opt, sched, start, stop):
    for k in range(start, stop):
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(k))
        loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True).cos())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(metrics={"loss": loss.item()})


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A stable phase (constant lr, a momentum warmup) checkpointed every 10 steps."""
    folder = tmp_path_factory.mktemp("parent")
    model, opt = _model_and_opt()
    checkpoints = {}
    schedules = {"lr": ps.WarmupStableDecay(3e-3, warmup=5, decay=0), "betas.0": ps.Linear(0.85, 0.95)}
    with ps.ParamScheduler(opt, schedules, TOTAL, recorders=[f"csv:{folder / 'run'}"], record_metrics=True) as sched:
        for start in range(0, TOTAL, EVERY):
            _train(model, opt, sched, start, start + EVERY)
            checkpoints[start + EVERY] = copy.deepcopy(
                {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
            )
    return folder / "run", checkpoints


@pytest.mark.parametrize("at_step", [20, 40])
def test_a_child_continues_its_parent_then_cools_down(parent, tmp_path, at_step):
    run, checkpoints = parent
    child = ps.branch(run, at_step=at_step, cooldown=0.5, shape="1-sqrt", end=0.0)
    assert child.total_steps == at_step + at_step // 2
    model, opt = _model_and_opt()
    sched = ps.ParamScheduler(opt, **child.scheduler_kwargs(), recorders=[f"csv:{tmp_path / 'child'}"])
    state = checkpoints[at_step]
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])  # the parent's checkpoint: accepted, no strict=False
    # the child's weights at the branch step are the parent's checkpoint, bit for bit
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), state["model"].values()))
    with sched:
        _train(model, opt, sched, at_step, child.total_steps)
    parent_traj, log = ps.replay.load(run), ps.replay.load(tmp_path / "child")
    assert log.frame.index.tolist() == list(range(at_step, child.total_steps))
    lr = log.frame["hp/lr/body"]
    assert lr[at_step] == parent_traj.frame["hp/lr/body"][at_step]  # the decay starts at the parent's value
    assert lr.is_monotonic_decreasing and lr.iloc[-1] < 0.2 * lr[at_step]
    betas = log.frame["hp/betas.0/head"].tolist()
    assert betas == parent_traj.frame["hp/betas.0/head"].tolist()[at_step:child.total_steps]  # replayed
    # before the branch the child's plan is the parent's log, exactly
    planned = ps.simulate(child.schedules, child.total_steps, groups=["body", "head"])
    assert planned.loc[: at_step - 1].equals(parent_traj.frame.loc[: at_step - 1, planned.columns])
    lineage = log.lineage
    assert lineage["source"] == parent_traj.source and lineage["branch_step"] == at_step
    assert lineage["cooldown"] == at_step // 2 and lineage["shape"] == "1-sqrt"
    assert lineage["fingerprint"] == state["sched"]["fingerprint"]
    assert [e["kind"] for e in log.events] == ["resume"]
    assert ps.replay.rebuild(log).ok  # a branch replays from its own log


def test_a_checkpoint_after_the_branch_step_is_refused(parent):
    run, checkpoints = parent
    child = ps.branch(run, at_step=20, cooldown=10)
    _, opt = _model_and_opt()
    sched = ps.ParamScheduler(opt, **child.scheduler_kwargs())
    with pytest.raises(ValueError, match=r"the parent run's at step 30, past the branch step 20"):
        sched.load_state_dict(checkpoints[30]["sched"])


def test_other_keys_can_be_held_or_follow_the_parents_plan(parent):
    run, _ = parent
    parent_traj = ps.replay.load(run)
    held = ps.branch(run, at_step=50, cooldown=20, others="hold")
    values = [held.schedules[("betas.0", "body")](k, 70) for k in range(70)]
    assert values[:51] == parent_traj.frame["hp/betas.0/body"].tolist()[:51] and set(values[50:]) == {values[50]}
    with pytest.raises(ValueError, match=r"has no recorded value at step 60 \(the parent's log ends before it"):
        ps.branch(run, at_step=50, cooldown=20)
    planned = ps.branch(run, at_step=50, cooldown=20, others="plan")
    # the parent's plan, as its scheduler applies it: past its end it holds its last value
    assert planned.schedules[("betas.0", "body")](55, 70) == ps.Linear(0.85, 0.95)(55, TOTAL)
    assert planned.schedules[("betas.0", "body")](65, 70) == ps.Linear(0.85, 0.95)(TOTAL - 1, TOTAL)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"at_step": 0, "cooldown": 5}, ValueError, r"at_step must be an int >= 1, got at_step=0"),
        ({"at_step": 10, "cooldown": 1.5}, ValueError, r"cooldown as a fraction of at_step must be in \(0, 1\]"),
        ({"at_step": 10, "cooldown": "long"}, TypeError, r"cooldown must be a step count"),
        ({"at_step": 10, "cooldown": 5, "shape": "exp"}, ValueError, r"shape must be one of"),
        ({"at_step": 10, "cooldown": 5, "keys": ["momentum"]}, ValueError, r"keys \['momentum'\] are not recorded"),
        ({"at_step": 10, "cooldown": 5, "others": "extend"}, ValueError, r"others must be one of 'replay', 'hold', 'plan'"),
    ],
)
def test_bad_branches(parent, kwargs, error, match):
    with pytest.raises(error, match=match):
        ps.branch(parent[0], **kwargs)


def test_the_cli_previews_a_branch(parent, tmp_path):
    run, _ = parent
    spec = tmp_path / "child.json"
    cmd = [sys.executable, "-m", "paramsched", "branch", str(run), "--at", "30", "--cooldown", "15",
           "--shape", "1-sqrt", "-o", str(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "branch at step 30 of" in out.stdout and "total_steps 45" in out.stdout
    assert "np.float64" not in out.stdout and re.search(r"step 29: [0-9.e-]+  step 30: [0-9.e-]+  step 44: ", out.stdout)
    document = json.loads(spec.read_text())
    assert document["total_steps"] == 45 and document["parent"]["branch_step"] == 30
    bad = subprocess.run([*cmd[:5], "--at", "500", "--cooldown", "10"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no recorded value at step" in bad.stderr
