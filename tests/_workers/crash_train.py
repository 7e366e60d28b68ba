"""A training process for the crash-and-resume test: records to CSV, checkpoints, may be killed.

    python crash_train.py OUT_DIR --steps 60 --every 10 [--resume]

Prints ``done <k>`` after each update k (flushed), so a parent can SIGKILL it
at a chosen step. Checkpoints are written to a temporary file and renamed,
so a kill never leaves half a checkpoint. At the end it saves the final
weights to OUT_DIR/final.pt.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

import paramsched as ps

SCHEDULES = {
    "lr": ps.WarmupStableDecay(5e-3, warmup=0.1, decay=0.3),
    "betas.0": ps.Linear(0.85, 0.95),
    "weight_decay": ps.Cosine(0.05, 0.0),
}


def build(total_steps: int, run_dir: Path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.AdamW(
        [{"params": model[0].parameters(), "name": "body"}, {"params": model[2].parameters(), "name": "head"}],
        lr=1e-3,
    )
    sched = ps.ParamScheduler(opt, SCHEDULES, total_steps, recorders=[f"csv:{run_dir}"])
    return model, opt, sched


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "ckpt.pt"
    model, opt, sched = build(args.steps, args.out / "run")
    start = 0
    if args.resume and checkpoint.exists():
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = sched.current_step
    for k in range(start, args.steps):
        gen = torch.Generator().manual_seed(k)
        x = torch.randn(32, 6, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True).sin())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (k + 1) % args.every == 0:
            sched.flush()  # the log on disk covers everything the checkpoint has seen
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, tmp)
            os.replace(tmp, checkpoint)
        print(f"done {k}", flush=True)
    sched.close()
    torch.save(model.state_dict(), args.out / "final.pt")


if __name__ == "__main__":
    main()
