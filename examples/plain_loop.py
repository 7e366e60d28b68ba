"""A plain PyTorch loop: schedule lr, weight decay and Adam's beta1 per param group, record to CSV.

Shows: ``ParamScheduler`` with global schedules and a per-group override (the
``head`` group gets its own lr), ``sched.step()`` after ``optimizer.step()``,
CSV recording, and reading the run back with ``paramsched.replay.load``.

Run:

    python examples/plain_loop.py --steps 200 --out runs/plain

Writes ``<out>/values`` (the CSV run: ``values.csv`` + ``run.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import paramsched as ps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="optimizer updates")
    parser.add_argument("--out", type=Path, default=Path("runs/plain"))
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.AdamW(
        [
            {"params": model[0].parameters(), "name": "body"},
            {"params": model[2].parameters(), "name": "head"},
        ]
    )
    schedules = {
        "lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3),
        "weight_decay": ps.Cosine(0.1, 0.01),
        "betas.0": ps.Linear(0.85, 0.95),
    }
    with ps.ParamScheduler(
        optimizer,
        schedules,
        total_steps=args.steps,
        overrides={"head": {"lr": ps.Cosine(1e-3, 0.0)}},
        recorders=[ps.recording.CsvRecorder(args.out / "values", overwrite=True)],
    ) as sched:
        for step in range(args.steps):
            x = torch.randn(32, 16)
            loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sched.step()  # records this update's values, applies the next ones
            if step % max(1, args.steps // 5) == 0:
                now = sched.values_at(step)
                print(f"step {step:4d}  loss {loss.item():.4f}  lr(body) {now['hp/lr/body']:.2e}  "
                      f"lr(head) {now['hp/lr/head']:.2e}  wd {now['hp/weight_decay/body']:.3f}")

    run = ps.replay.load(args.out / "values")
    print(f"recorded {len(run.frame)} steps x {len(run.series)} series in {args.out / 'values'}")
    assert list(run.frame.index) == list(range(args.steps))


if __name__ == "__main__":
    main()
