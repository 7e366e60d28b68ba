"""A training process for the durability tests: checkpoints, interventions, a plateau policy.

    python durable_train.py OUT_DIR --steps 400 --every 20 [--interventions 100,250] [--policy]

Records to CSV with the default ``flush_every=100`` and never calls ``flush()``
itself: the record is durable only through ``state_dict()`` at each
checkpoint (issue 11.2). It resumes from OUT_DIR/ckpt.pt when that exists.
With ``--interventions`` it halves the lr at those steps (``intervene``, issue
10); with ``--policy`` a ``ReduceOnPlateau`` policy watches a synthetic,
deterministic validation loss. Prints ``done <k>`` after each update k, so a
parent can SIGKILL it at a chosen step; writes OUT_DIR/final.pt at the end.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch

import paramsched as ps


def val_loss(step: int) -> float:
    """Improves, then plateaus for long stretches: the policy cuts the lr a few times."""
    return 1.0 / (1.0 + min(step, 30)) + 0.01 * math.sin(step) ** 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--interventions", default="")
    parser.add_argument("--policy", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    cuts = {int(s) for s in args.interventions.split(",") if s}
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    policies = [ps.policies.ReduceOnPlateau("val_loss", factor=0.5, patience=8)] if args.policy else []
    sched = ps.ParamScheduler(
        opt,
        {"lr": ps.WarmupStableDecay(0.05, warmup=0.1, decay=0.2), "momentum": ps.Linear(0.8, 0.95)},
        args.steps,
        recorders=[f"csv:{args.out / 'run'}"],
        policies=policies,
    )
    checkpoint = args.out / "ckpt.pt"
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = sched.current_step
    for k in range(start, args.steps):
        x = torch.randn(16, 6, generator=torch.Generator().manual_seed(k))
        loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True).sin())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(metrics={"val_loss": val_loss(k)} if args.policy else None)
        if k + 1 in cuts:
            sched.intervene({"lr": lambda s: s * 0.5}, reason=f"halve the lr at {k + 1}")
        if (k + 1) % args.every == 0:
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, tmp)
            os.replace(tmp, checkpoint)
        print(f"done {k}", flush=True)
    sched.close()
    torch.save(model.state_dict(), args.out / "final.pt")


if __name__ == "__main__":
    main()
