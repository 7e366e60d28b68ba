"""Crash, resume, same run: checkpoints + CSV recording survive a killed process, bit for bit.

Shows: a training loop that checkpoints the ParamScheduler's ``state_dict()``
with the model and optimizer (flushing the recorder first, so the CSV on disk
covers the checkpoint), a process killed without any cleanup (``os._exit``),
and a resume that loads the checkpoint and appends to the same CSV run. The
script then checks that the recorded trajectory and the final weights equal
those of an uninterrupted run, exactly.

Run:

    python examples/resume_from_crash.py --steps 60 --out runs/crash

It trains the uninterrupted reference, then the same run in a child process
that dies at ``--crash-at``, then resumes that run from its last checkpoint
with a fresh model, optimizer and scheduler. One training process on its own
(what you would run in a job):

    python examples/resume_from_crash.py --role train --steps 60 --out runs/crash/crashed --crash-at 40
    python examples/resume_from_crash.py --role train --steps 60 --out runs/crash/crashed --resume
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import paramsched as ps

CRASH_EXIT_CODE = 17
SCHEDULES = {
    "lr": ps.WarmupStableDecay(1e-2, warmup=0.1, decay=0.4),
    "momentum": ps.Linear(0.85, 0.95),
    "weight_decay": ps.Cosine(1e-3, 0.0),
}


def train(out: Path, steps: int, ckpt_every: int, *, crash_at: int | None = None, resume: bool = False) -> None:
    """Train ``steps`` updates into ``out``; checkpoint every ``ckpt_every``; die at ``crash_at``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ps.ParamScheduler(opt, SCHEDULES, steps, recorders=[f"csv:{out / 'values'}"])
    ckpt = out / "ckpt.pt"
    if resume:
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])  # re-applies that step's values at once
        print(f"resumed at step {sched.current_step}")
    for k in range(sched.current_step, steps):
        gen = torch.Generator().manual_seed(k)  # the data of update k, whatever happened before
        x = torch.randn(32, 8, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (k + 1) % ckpt_every == 0:
            sched.flush()  # the values up to this checkpoint are on disk before it exists
            temp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, temp)
            os.replace(temp, ckpt)
        if crash_at is not None and k + 1 == crash_at:
            print(f"crashing after update {k} (last checkpoint at step {(k + 1) // ckpt_every * ckpt_every})")
            sys.stdout.flush()
            os._exit(CRASH_EXIT_CODE)  # no atexit, no flush: the rows since the last flush are lost
    sched.close()
    torch.save(model.state_dict(), out / "final.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer updates")
    parser.add_argument("--out", type=Path, default=Path("runs/crash"))
    parser.add_argument("--ckpt-every", type=int, default=None, help="default: steps // 4")
    parser.add_argument("--crash-at", type=int, default=None, help="default: 2/3 of the run")
    parser.add_argument("--role", choices=("demo", "train"), default="demo")
    parser.add_argument("--resume", action="store_true", help="--role train: resume from <out>/ckpt.pt")
    args = parser.parse_args()
    ckpt_every = args.ckpt_every or max(1, args.steps // 4)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.role == "train":
        train(args.out, args.steps, ckpt_every, crash_at=args.crash_at, resume=args.resume)
        return

    crash_at = args.crash_at or max(1, 2 * args.steps // 3)
    if crash_at % ckpt_every == 0:
        crash_at += 1 if crash_at + 1 < args.steps else -1  # die between two checkpoints
    reference, crashed = args.out / "reference", args.out / "crashed"
    for folder in (reference, crashed):
        for name in ("values/values.csv", "values/run.json", "ckpt.pt", "final.pt"):
            (folder / name).unlink(missing_ok=True)
    reference.mkdir(exist_ok=True)
    train(reference, args.steps, ckpt_every)

    child = [sys.executable, __file__, "--role", "train", "--steps", str(args.steps), "--out", str(crashed),
             "--ckpt-every", str(ckpt_every)]
    died = subprocess.run([*child, "--crash-at", str(crash_at)], timeout=600)
    assert died.returncode == CRASH_EXIT_CODE, f"the crashing run exited with {died.returncode}"
    rows_on_disk = len((crashed / "values" / "values.csv").read_text().splitlines()) - 1
    train(crashed, args.steps, ckpt_every, resume=True)  # as `--role train --resume` would

    want, got = ps.replay.load(reference / "values"), ps.replay.load(crashed / "values")
    assert got.frame.equals(want.frame), ps.replay.diff(want, got)
    final, resumed_final = torch.load(reference / "final.pt"), torch.load(crashed / "final.pt")
    assert all(torch.equal(final[k], resumed_final[k]) for k in final), "the final weights differ"
    resumes = json.loads((crashed / "values" / "run.json").read_text())["resumes"]
    print(f"crashed after {crash_at} updates with {rows_on_disk} rows on disk, resumed at step "
          f"{resumes[0]['at_step']}: all {len(got.frame)} steps x {len(got.series)} series and the final "
          "weights equal the uninterrupted run, bit for bit")


if __name__ == "__main__":
    main()
