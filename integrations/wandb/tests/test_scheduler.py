"""End to end: ParamScheduler(recorders=["wandb:<project>"]) -> offline run -> replay.load, with ==."""

from __future__ import annotations

import pytest

import paramsched as ps
import paramsched.replay as replay

torch = pytest.importorskip("torch")

TOTAL = 20


def test_the_values_the_optimizer_saw_come_back_exactly(wandb_env, h):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(
        [{"params": [model.weight], "name": "body"}, {"params": [model.bias], "name": "head", "lr": 1e-2}],
        lr=1e-3,
    )
    sched = ps.ParamScheduler(
        opt,
        {"lr": ps.Cosine(3e-4, 0.0), "weight_decay": ps.Linear(0.1, 0.0), "betas.0": ps.Linear(0.85, 0.95)},
        total_steps=TOTAL,
        recorders=["wandb:ps-e2e"],
    )
    seen = {}
    for k in range(TOTAL):
        seen[k] = {
            f"hp/{key}/{group['name']}": float(group["betas"][0] if key == "betas.0" else group[key])
            for key in ("lr", "weight_decay", "betas.0")
            for group in opt.param_groups
        }
        model(torch.ones(1, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    recorder = sched.recorder
    sched.close()
    assert recorder.run.project == "ps-e2e"

    run_dir = h.run_dir_of(recorder.run)
    h.read_run(run_dir)
    traj = replay.load(run_dir)
    assert traj.frame.index.tolist() == list(range(TOTAL))
    assert {k: {s: traj.frame.at[k, s] for s in seen[k]} for k in range(TOTAL)} == seen
    assert traj.metadata == sched.run_metadata() | {"created_at": traj.metadata["created_at"]}
