"""Cost of one ParamScheduler.step() against its peers.

Prints, in one run, the median time of one step of:

  AdamW, 4 groups:
  * ParamScheduler.step() scheduling 3 keys (lr, betas.0, weight_decay) x 4 groups,
  * torch.optim.lr_scheduler.LambdaLR.step() scheduling lr alone for 4 groups,
  * a hand-written loop computing and writing the same 12 values;

  SGD, 4 groups, lr (warmup-stable-decay), momentum (linear), weight_decay (cosine):
  * ParamScheduler.step(),
  * pytorch-ignite's param schedulers (one per key, each called once per update),
  * torch-schedule-anything (one LambdaLR per key on its proxy optimizer, in a
    SynchronousSchedule),

and the ratios (of medians; "best" is the fastest round, the least disturbed by
other load on the machine). The contenders are timed in interleaved rounds (each round times
every contender once), so a load change on the machine hits all of them alike.
Targets: <= 1.0x LambdaLR, <= 2x the hand-written loop, <= 1.0x the faster of
ignite and torch-schedule-anything. ignite and torch-schedule-anything are dev
dependencies; a missing one is reported and skipped.

    python benchmarks/bench_scheduler.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable

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


def _sgd() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(GROUPS)]
    groups = [{"params": [p], "name": f"block{i}"} for i, p in enumerate(params)]
    return torch.optim.SGD(groups, lr=3e-4, momentum=0.9, weight_decay=0.1)


WARMUP, DECAY_START = int(0.05 * TOTAL), int(0.8 * TOTAL)


def _ignite_step() -> Callable[[], None] | str:
    """ignite's schedulers for the three keys, as an ignite user writes them."""
    try:
        from ignite.handlers.param_scheduler import (
            ConcatScheduler,
            CosineAnnealingScheduler,
            LinearCyclicalScheduler,
            PiecewiseLinear,
        )
    except ImportError as exc:
        return f"pytorch-ignite not importable ({exc}): pip install pytorch-ignite"
    opt = _sgd()
    warm_stable = PiecewiseLinear(opt, "lr", [(0, 0.0), (WARMUP, 3e-4), (DECAY_START, 3e-4)])
    decay = CosineAnnealingScheduler(opt, "lr", 3e-4, 0.0, cycle_size=TOTAL - DECAY_START)
    lr = ConcatScheduler([warm_stable, decay], durations=[DECAY_START])
    # ignite's cycles: a linear cycle goes there and back (half of one: a rise over the
    # run), a cosine cycle is one fall
    momentum = LinearCyclicalScheduler(opt, "momentum", 0.85, 0.95, cycle_size=2 * TOTAL)
    weight_decay = CosineAnnealingScheduler(opt, "weight_decay", 0.1, 0.0, cycle_size=TOTAL)

    def step() -> None:
        lr(None)
        momentum(None)
        weight_decay(None)

    return step


def _lr_factor(step: int) -> float:
    return _wsd(step, TOTAL) / 3e-4


def _momentum_factor(step: int) -> float:
    return (0.85 + (0.95 - 0.85) * step / TOTAL) / 0.9


def _wd_factor(step: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / TOTAL))


def _tsa_step() -> Callable[[], None] | str:
    """torch-schedule-anything: one LambdaLR per key, stepped together."""
    try:
        import torch_schedule_anything as tsa
    except ImportError as exc:
        return f"torch-schedule-anything not importable ({exc}): pip install torch-schedule-anything"
    opt = _sgd()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schedules = [
            tsa.arbitrary_schedule_factory(
                opt, lambda o, f=factor: torch.optim.lr_scheduler.LambdaLR(o, f), schedule_target=key
            )
            for key, factor in (("lr", _lr_factor), ("momentum", _momentum_factor), ("weight_decay", _wd_factor))
        ]
    return tsa.SynchronousSchedule(schedules).step


def _interleaved(
    contenders: dict[str, Callable[[], None]], repeats: int, inner: int
) -> dict[str, tuple[float, float]]:
    """(median, best) ns per call of each contender, timed round-robin."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, call in contenders.items():
            start = time.perf_counter_ns()
            for _ in range(inner):
                call()
            samples[name].append((time.perf_counter_ns() - start) / inner)
    return {name: (statistics.median(values), min(values)) for name, values in samples.items()}


def _report(results: dict[str, tuple[float, float]], ours_name: str) -> None:
    ours, ours_best = results[ours_name]
    for name, (ns, best) in results.items():
        print(
            f"{name:52s} {ns / 1000:8.2f} us (best {best / 1000:6.2f})   "
            f"ours/this = {ours / ns:5.2f}x (best {ours_best / best:5.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few samples only (CI smoke run)")
    args = parser.parse_args()
    repeats, inner = (5, 200) if args.quick else (41, 1000)

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

    ours_sgd = ps.ParamScheduler(
        _sgd(),
        {"lr": ps.WarmupStableDecay(3e-4), "momentum": ps.Linear(0.85, 0.95), "weight_decay": ps.Cosine(0.1, 0.0)},
        total_steps=TOTAL,
    )
    peers = {"pytorch-ignite param schedulers (3 keys x 4 groups)": _ignite_step(),
             "torch-schedule-anything (3 keys x 4 groups)": _tsa_step()}  # fmt: skip
    missing = {name: why for name, why in peers.items() if isinstance(why, str)}
    contenders = {
        "ParamScheduler.step (3 keys x 4 groups)": sched.step,
        "LambdaLR.step (lr x 4 groups)": lambda_lr.step,
        "hand-written loop (12 values)": hand_written,
        "ParamScheduler.step, SGD (3 keys x 4 groups)": ours_sgd.step,
        **{name: call for name, call in peers.items() if not isinstance(call, str)},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timings = _interleaved(contenders, repeats, inner)
    results = {name: median for name, (median, _) in timings.items()}

    print("AdamW, 4 groups")
    _report({name: timings[name] for name in list(contenders)[:3]}, "ParamScheduler.step (3 keys x 4 groups)")
    print("SGD, 4 groups: lr, momentum, weight_decay")
    sgd_name = "ParamScheduler.step, SGD (3 keys x 4 groups)"
    _report({name: timings[name] for name in list(contenders)[3:]}, sgd_name)
    for name, why in missing.items():
        print(f"{name:52s} skipped: {why}")

    ours = results["ParamScheduler.step (3 keys x 4 groups)"]
    lambda_ratio = ours / results["LambdaLR.step (lr x 4 groups)"]
    hand_ratio = ours / results["hand-written loop (12 values)"]
    print(f"target <= 1.0x LambdaLR: {lambda_ratio:.2f}x {'OK' if lambda_ratio <= 1.0 else 'MISSED'}")
    print(f"target <= 2.0x hand-written: {hand_ratio:.2f}x {'OK' if hand_ratio <= 2.0 else 'MISSED'}")
    peer_times = [results[name] for name in peers if name not in missing]
    if peer_times:
        peer_ratio = results[sgd_name] / min(peer_times)
        verdict = "OK" if peer_ratio <= 1.0 else "MISSED"
        print(f"target <= 1.0x the faster of ignite / torch-schedule-anything: {peer_ratio:.2f}x {verdict}")


if __name__ == "__main__":
    main()
