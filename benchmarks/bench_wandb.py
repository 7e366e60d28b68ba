"""Training-thread cost per step of WandbRecorder (wandb offline mode, 12 series).

Prints, in one run, the median cost per step on the training thread of:
  * WandbRecorder(step_mode="own"): record() only enqueues; a worker thread logs,
  * WandbRecorder(step_mode="merge"): record() calls run.log(..., commit=False),
  * a direct run.log(values) per step (what logging by hand costs),
plus the worker's throughput in "own" mode (steps recorded / wall time until
close() returned), and the end-to-end overhead per step of a loop whose step
is ~1 ms of torch work (the worker's Python work competes for the GIL, so
this is the honest cost). 12 series = 3 keys x 4 groups. Target: <= 50 us
per step on the training thread ("own"; "merge" pays one run.log per step
by design).

    python benchmarks/bench_wandb.py [--quick]

Runs in wandb offline mode in a temporary directory; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

TARGET_US = 50.0
KEYS = ("lr", "weight_decay", "betas.0")
GROUPS = ("g0", "g1", "g2", "head")


def _environment(root: str) -> None:
    os.environ.update(
        {
            "WANDB_MODE": "offline",
            "WANDB_DIR": root,
            "WANDB_SILENT": "true",
            "WANDB_DISABLE_GIT": "true",
            "WANDB_DISABLE_CODE": "true",
            "WANDB_X_DISABLE_STATS": "true",
            "WANDB_X_DISABLE_MACHINE_INFO": "true",
            "WANDB_X_SAVE_REQUIREMENTS": "false",
        }
    )


def _metadata(steps: int) -> dict:
    from paramsched.runformat import FORMAT

    series = [f"hp/{k}/{g}" for k in KEYS for g in GROUPS]
    return {"format": FORMAT, "total_steps": steps, "series": series, "rank": 0, "world_size": 1}


def _rows(steps: int) -> list[dict[str, float]]:
    series = _metadata(steps)["series"]
    return [{name: 1e-3 / (1 + k + i) for i, name in enumerate(series)} for k in range(steps)]


def _timed(call, rows) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for k, values in enumerate(rows):
        start = clock()
        call(k, values)
        out.append(clock() - start)
    return out


def _us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred steps only (CI smoke run)")
    args = parser.parse_args()
    steps = 300 if args.quick else 5000

    with tempfile.TemporaryDirectory(prefix="bench-wandb-") as root:
        _environment(root)
        import wandb

        from paramsched_wandb import WandbRecorder

        rows = _rows(steps)

        # own mode: the recorder's own run; record() only enqueues.
        own = WandbRecorder(project="bench", name="own")
        own.start(_metadata(steps))
        start, cpu = time.perf_counter(), time.process_time()
        own_ns = _timed(own.record, rows)
        own.close()
        own_wall = time.perf_counter() - start
        own_cpu = (time.process_time() - cpu) / steps * 1e6

        # merge mode: into an active user run that commits a row every step.
        user = wandb.init(project="bench", name="merge")
        merge = WandbRecorder(step_mode="merge")
        merge.start(_metadata(steps))

        def merge_step(k: int, values: dict[str, float]) -> None:
            merge.record(k, values)

        merge_ns = []
        clock = time.perf_counter_ns
        for k, values in enumerate(rows):
            t0 = clock()
            merge_step(k, values)
            merge_ns.append(clock() - t0)
            user.log({"loss": 1.0}, step=k)
        merge.close()

        # baseline: the user logging the same 12 values by hand, one run.log per step.
        cpu = time.process_time()
        direct_ns = _timed(lambda k, values: user.log({"hp/step": k, **values}, step=k + steps), rows)
        direct_cpu = (time.process_time() - cpu) / steps * 1e6
        user.finish()

        loop = _loop_overhead(steps // 5, wandb, WandbRecorder)

    own_us, merge_us, direct_us = _us(own_ns), _us(merge_ns), _us(direct_ns)
    print(f"WandbRecorder training-thread cost per step, 12 series, {steps} steps, wandb {wandb.__version__} offline")
    print(f"  step_mode='own'   {own_us:8.2f} us/step (median)  "
          f"{'OK' if own_us <= TARGET_US else 'OVER'} target <= {TARGET_US:g} us; "
          f"{direct_us / own_us:6.1f}x cheaper than run.log by hand")
    print(f"  step_mode='merge' {merge_us:8.2f} us/step (median)  ({merge_us / direct_us:4.2f}x run.log by hand)")
    print(f"  run.log by hand   {direct_us:8.2f} us/step (median)")
    print(f"  own-mode worker: {steps} steps delivered in {own_wall:.2f} s incl. close() "
          f"({steps / own_wall:,.0f} steps/s); process CPU {own_cpu:.0f} us/step "
          f"(run.log by hand: {direct_cpu:.0f} us/step), off the training thread but sharing the GIL")
    base = loop["none"]
    print(f"  loop of ~{base:,.0f} us torch steps ({steps // 5} steps, median of rounds): overhead per step "
          + ", ".join(f"{name} {loop[name] - base:+.1f} us" for name in ("own", "merge", "by hand")))


def _loop_overhead(steps: int, wandb, WandbRecorder) -> dict[str, float]:
    """Median wall time per step of a ~1 ms torch loop, with each way of logging."""
    import torch

    torch.set_num_threads(1)
    a = torch.randn(160, 160)
    rows = _rows(steps)

    def work() -> None:
        b = a
        for _ in range(8):
            b = b @ a
        b.sum().item()

    def run(kind: str) -> float:
        user = wandb.init(project="bench", name=f"loop-{kind}", reinit="create_new")
        rec = None
        if kind in ("own", "merge"):
            rec = WandbRecorder(step_mode=kind, run=user) if kind == "merge" else WandbRecorder(run=user)
            rec.start(_metadata(steps))
        start = time.perf_counter()
        for k, values in enumerate(rows):
            work()
            if rec is not None:
                rec.record(k, values)
            elif kind == "by hand":
                user.log({"hp/step": k, **values}, step=k, commit=False)
            user.log({"loss": 1.0}, step=k)
        per_step = (time.perf_counter() - start) / steps * 1e6
        if rec is not None:
            rec.close()
        user.finish()
        return per_step

    kinds = ("none", "own", "merge", "by hand")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(3):  # interleaved rounds: the machine's load changes over time
        for kind in kinds:
            samples[kind].append(run(kind))
    return {k: statistics.median(v) for k, v in samples.items()}


if __name__ == "__main__":
    main()
