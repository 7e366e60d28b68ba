"""Cost of one ParamScheduler.step() against its peers.

Prints, in one run, the median time of:
  * ParamScheduler.step() scheduling 3 keys (lr, betas.0, weight_decay) x 4 groups,
  * torch.optim.lr_scheduler.LambdaLR.step() scheduling lr alone for 4 groups,
  * a hand-written loop computing and writing the same 12 values,
and the ratios. Targets: <= 1.0x LambdaLR and <= 2x the hand-written loop.

    python benchmarks/bench_scheduler.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import torch

import paramsched as ps

GROUPS = 4
TOTAL = 1_000_000


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(GROUPS)]
    return torch.optim.AdamW([{"params": [p], "name": f"block{i}"} for i, p in enumerate(params)], lr=1e-3)


def _median_ns(call, repeats: int, inner: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter_ns() - start) / inner)
    return statistics.median(samples)


def _wsd(step: int, total: int) -> float:
    warm, decay_start = 0.05 * total, 0.8 * total
    if step < warm:
        return 3e-4 * step / warm
    if step < decay_start:
        return 3e-4
    return 3e-4 * 0.5 * (1 + math.cos(math.pi * (step - decay_start) / (total - decay_start)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few samples only (CI smoke run)")
    args = parser.parse_args()
    repeats, inner = (5, 200) if args.quick else (41, 2000)

    opt = _optimizer()
    sched = ps.ParamScheduler(
        opt,
        {"lr": ps.WarmupStableDecay(3e-4), "betas.0": ps.Linear(0.85, 0.95), "weight_decay": ps.Cosine(0.1, 0.0)},
        total_steps=TOTAL,
    )

    lambda_opt = _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LambdaLR warns when step() runs before optimizer.step()
        lambda_lr = torch.optim.lr_scheduler.LambdaLR(lambda_opt, lambda step: _wsd(step, TOTAL) / 3e-4)

    hand_opt = _optimizer()
    hand_step = [0]

    def hand_written() -> None:
        hand_step[0] += 1
        k = hand_step[0]
        for group in hand_opt.param_groups:
            group["lr"] = _wsd(k, TOTAL)
            group["betas"] = (0.85 + (0.95 - 0.85) * k / TOTAL, group["betas"][1])
            group["weight_decay"] = 0.05 * (1 + math.cos(math.pi * k / TOTAL))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {
            "ParamScheduler.step (3 keys x 4 groups)": _median_ns(sched.step, repeats, inner),
            "LambdaLR.step (lr x 4 groups)": _median_ns(lambda_lr.step, repeats, inner),
            "hand-written loop (12 values)": _median_ns(hand_written, repeats, inner),
        }
    ours = results["ParamScheduler.step (3 keys x 4 groups)"]
    for name, ns in results.items():
        print(f"{name:42s} {ns / 1000:8.2f} us   ours/this = {ours / ns:5.2f}x")
    lambda_ratio = ours / results["LambdaLR.step (lr x 4 groups)"]
    hand_ratio = ours / results["hand-written loop (12 values)"]
    print(f"target <= 1.0x LambdaLR: {lambda_ratio:.2f}x {'OK' if lambda_ratio <= 1.0 else 'MISSED'}")
    print(f"target <= 2.0x hand-written: {hand_ratio:.2f}x {'OK' if hand_ratio <= 2.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
