"""Ablation by replay: run B reuses run A's exact lr trajectory with a fresh weight-decay schedule.

Shows: run A records every applied value to CSV; run B loads it with
``paramsched.replay.load``, takes ``traj.schedules(keys="lr")`` (one
``ReplaySchedule`` per group: A's values, bit for bit) and adds a new
``weight_decay`` schedule; ``paramsched.replay.diff`` then confirms that the
two runs differ only in weight decay.

Run:

    python examples/ablation_replay.py --steps 200 --out runs/ablation

Writes ``<out>/a`` and ``<out>/b`` (CSV runs).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import paramsched as ps


def train(schedules: Mapping[Any, Any], steps: int, out: Path) -> float:
    """Train a small regressor with ``schedules``, recording to ``out``; returns the final loss."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[2].parameters(), "name": "head"}]
    )
    data = torch.Generator().manual_seed(1)
    with ps.ParamScheduler(opt, schedules, steps, recorders=[ps.recording.CsvRecorder(out, overwrite=True)]) as sched:
        for _ in range(steps):
            x = torch.randn(64, 16, generator=data)
            loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="optimizer updates per run")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = parser.parse_args()

    loss_a = train(
        {"lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3), "weight_decay": ps.Cosine(0.1, 0.0)},
        args.steps,
        args.out / "a",
    )
    run_a = ps.replay.load(args.out / "a")
    replayed_lr = run_a.schedules(keys="lr")  # {("lr", "body"): ReplaySchedule, ("lr", "head"): ...}
    loss_b = train({**replayed_lr, "weight_decay": ps.Constant(0.0)}, len(run_a.frame), args.out / "b")

    differences = ps.replay.diff(run_a, ps.replay.load(args.out / "b"))
    print(differences[["status", "first_diverging_step", "max_abs_diff"]].to_string())
    print(f"final loss: A (cosine weight decay) {loss_a:.4f}, B (no weight decay) {loss_b:.4f}")
    status = differences["status"].to_dict()
    assert status == {
        "hp/lr/body": "equal",
        "hp/weight_decay/body": "differs",
        "hp/lr/head": "equal",
        "hp/weight_decay/head": "differs",
    }, status


if __name__ == "__main__":
    main()
