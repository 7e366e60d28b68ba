"""What WandbRecorder costs a training process (wandb offline mode, 12 series), default configuration.

Prints, in one run:

1. **CPU per step** of recording a 10k-step run (3 keys x 4 groups, a real
   WarmupStableDecay / Cosine / Linear run), counted as the CPU time of this
   process (the training thread's ``record()`` plus the worker thread, which
   shares the GIL with training) and of wandb-core (another process, which
   competes for the cores), for:
   * ``WandbRecorder()`` at its defaults (every value to ``paramsched/values.f64``,
     a thinned chart: ``chart_every=100``),
   * ``WandbRecorder(chart_every=1)`` (a chart row per step, as before issue 15),
   * Lightning's ``WandbLogger`` fed as ``LearningRateMonitor`` feeds it at
     Lightning's defaults (``log_every_n_steps=50``: one ``log_metrics`` with each
     group's lr every 50 steps), and ``run.log`` of every value by hand.
   Target: the default's CPU per step <= 2 % of a 1.5 ms step (30 us), and no
   more than Lightning's.
2. **close()** time after that run (target <= 2 s).
3. **End to end**: a tiny CPU MLP loop (~1.5 ms a step, one torch thread) with a
   ParamScheduler recording nowhere, recording to ``WandbRecorder()``, and with a
   torch scheduler + the LearningRateMonitor-cadence ``WandbLogger``; blocks of
   100 steps interleaved, median over blocks of the paired ratio. On a loaded
   machine the CPU figures of part 1 are the steadier ones.
4. **Exact**: the run of part 1 read back with ``paramsched.replay.load`` is ``==``
   to what was recorded at every step.

    python benchmarks/bench_wandb.py [--quick]

Runs in wandb offline mode in a temporary directory; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

TARGET_FRACTION = 0.02
STEP_S = 1.5e-3
TARGET_CLOSE_S = 2.0
KEYS = ("lr", "weight_decay", "betas.0")
GROUPS = ("g0", "g1", "head", "emb")


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


def _schedules() -> dict[str, Any]:
    import paramsched as ps

    return {"lr": ps.WarmupStableDecay(1e-3, warmup=0.05, decay=0.2), "weight_decay": ps.Cosine(0.1, 0.01),
            "betas.0": ps.Linear(0.85, 0.95)}


def _run_rows(steps: int) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """The metadata and the values of a real 12-series run (``ps.simulate``)."""
    import paramsched as ps
    from paramsched.runformat import FORMAT

    frame = ps.simulate(_schedules(), steps, groups=list(GROUPS))
    series = [f"hp/{k}/{g}" for k in KEYS for g in GROUPS]
    rows = [dict(zip(series, values)) for values in frame[series].to_numpy().tolist()]
    metadata = {
        "format": FORMAT, "total_steps": steps, "series": series, "rank": 0, "world_size": 1,
        "schedules": {k: s.to_spec() for k, s in _schedules().items()},
        "groups": [{"index": i, "label": g, "base": {"lr": 1e-3, "weight_decay": 0.1, "betas.0": 0.9}}
                   for i, g in enumerate(GROUPS)],
    }
    return metadata, rows


def _core_cpu() -> float:
    """CPU seconds of this process's children (wandb-core)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _cpu_per_step(kind: str, metadata: dict[str, Any], rows: list[dict[str, float]]) -> dict[str, float]:
    """Record ``rows`` one way; CPU us/step of this process and of wandb-core, and close() s."""
    import wandb

    from paramsched_wandb import WandbRecorder

    steps = len(rows)
    rec = logger = run = None
    if kind in ("default", "chart_every=1"):
        rec = WandbRecorder(project="bench", name=kind, **({"chart_every": 1} if kind != "default" else {}))
        rec.start(metadata)
        deadline = time.monotonic() + 120
        while rec.files is None and time.monotonic() < deadline:  # the worker opens the run: wait for
            time.sleep(0.05)  # it, its start-up (wandb.init, about 1 s of CPU, once) is not counted
    elif kind == "lightning":
        from lightning.pytorch.loggers import WandbLogger

        logger = WandbLogger(project="bench", name=kind, offline=True)
        logger.experiment  # noqa: B018 - open the run before counting
    else:
        run = wandb.init(project="bench", name=kind, reinit="create_new")
    names = list(rows[0])
    monitor = ["lr-AdamW"] + [f"lr-AdamW/pg{i + 1}" for i in range(1, len(GROUPS))]
    lr_names = [n for n in names if n.startswith("hp/lr/")]
    time.sleep(0.5)
    core0, cpu0 = _core_cpu(), time.process_time()
    for k, values in enumerate(rows):
        if rec is not None:
            rec.record(k, values)
        elif logger is not None:
            if (k + 1) % 50 == 0:  # LearningRateMonitor at log_every_n_steps=50
                logger.log_metrics({m: values[n] for m, n in zip(monitor, lr_names)}, step=k)
        else:
            run.log({"hp/step": k, **values})
        if k % 50 == 49:
            time.sleep(0.002)  # the training step would let the worker run here
    if rec is not None:
        rec.flush()  # the worker's work for these steps is counted (not the close)
    cpu1, core1 = time.process_time(), _core_cpu()
    begin = time.perf_counter()
    if rec is not None:
        rec.close()
    elif logger is not None:
        logger.experiment.finish()
    else:
        run.finish()
    close_s = time.perf_counter() - begin
    out = {
        "cpu": (cpu1 - cpu0) / steps * 1e6,
        "core": (core1 - core0) / steps * 1e6,
        "close": close_s,
    }
    if rec is not None:
        out["dir"] = rec.destination()
    return out


def _loop(steps: int, metadata: dict[str, Any]) -> dict[str, float]:
    """Median overhead (fraction of the step) over interleaved 100-step blocks of a ~1.5 ms MLP loop."""
    import torch
    from lightning.pytorch.loggers import WandbLogger

    import paramsched as ps
    from paramsched_wandb import WandbRecorder

    torch.set_num_threads(1)

    def make(width: int) -> tuple[Any, Any]:
        gen = torch.Generator().manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(128, width), torch.nn.ReLU(), torch.nn.Linear(width, 128),
                                    torch.nn.ReLU(), torch.nn.Linear(128, 1))
        params = list(model.parameters())
        opt = torch.optim.AdamW([{"params": params[0:2]}, {"params": params[2:4]},
                                 {"params": params[4:5], "name": "head"}, {"params": params[5:6], "name": "emb"}],
                                lr=1e-3)
        x, y = torch.randn(64, 128, generator=gen), torch.randn(64, 1, generator=gen)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()

        return opt, step

    width = 256
    for _ in range(5):  # calibrate the width to a ~1.5 ms step here
        _, step = make(width)
        for _ in range(20):
            step()
        begin = time.perf_counter()
        for _ in range(100):
            step()
        took = (time.perf_counter() - begin) / 100
        if abs(took - STEP_S) < 0.1 * STEP_S:
            break
        width = max(16, int(width * STEP_S / took))

    variants: dict[str, Any] = {}
    opt, step = make(width)
    variants["nothing"] = (step, ps.ParamScheduler(opt, _schedules(), total_steps=steps + 1).step)
    opt, step = make(width)
    recorder = WandbRecorder(project="bench", name="loop-paramsched")
    sched = ps.ParamScheduler(opt, _schedules(), total_steps=steps + 1, recorders=[recorder])
    variants["paramsched"] = (step, sched.step)
    opt, step = make(width)
    torch_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / (steps + 1))
    logger = WandbLogger(project="bench", name="loop-lightning", offline=True)
    done = [0]

    def monitor() -> None:
        torch_sched.step()
        if (done[0] + 1) % 50 == 0:
            logger.log_metrics({f"lr-AdamW/pg{i + 1}": g["lr"] for i, g in enumerate(opt.param_groups)}, step=done[0])
        done[0] += 1

    variants["lightning"] = (step, monitor)
    logger.experiment  # noqa: B018 - both runs open before the blocks start (wandb.init is a one-off cost)
    for train, after in variants.values():  # one warm-up update each: the recorder starts at its first record
        train()
        after()
    deadline = time.monotonic() + 120
    while recorder.files is None and time.monotonic() < deadline:
        time.sleep(0.05)
    blocks: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(steps // 100):
        for name, (train, after) in variants.items():
            begin = time.perf_counter()
            for _ in range(100):
                train()
                after()
            blocks[name].append(time.perf_counter() - begin)
    sched.close()
    logger.experiment.finish()
    base = blocks["nothing"]
    out = {name: statistics.median(b / a - 1.0 for a, b in zip(base, times)) for name, times in blocks.items()}
    out["step_ms"] = statistics.median(base) / 100 * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI smoke run)")
    args = parser.parse_args()
    steps = 1000 if args.quick else 10_000

    with tempfile.TemporaryDirectory(prefix="bench-wandb-") as root:
        _environment(root)
        import wandb

        import paramsched as ps

        metadata, rows = _run_rows(steps)
        # --quick (the CI smoke run) skips the two every-step kinds: each wandb run costs seconds to open
        kinds = ("default", "lightning") if args.quick else ("default", "chart_every=1", "lightning", "run.log by hand")
        results = {kind: _cpu_per_step(kind, metadata, rows) for kind in kinds}
        traj = ps.replay.load(results["default"]["dir"])
        exact = traj.frame.index.tolist() == list(range(steps)) and all(
            traj.frame[name].tolist() == [row[name] for row in rows] for name in metadata["series"])
        loop_steps = 300 if args.quick else steps // 2
        loop = _loop(loop_steps, metadata)

    target_us = TARGET_FRACTION * STEP_S * 1e6
    print(f"WandbRecorder, 12 series, {steps} steps, wandb {wandb.__version__} offline, {os.cpu_count()} CPUs")
    print("CPU per step (this process: training thread + worker; wandb-core: its own process)")
    for kind, r in results.items():
        print(f"  {kind:16s} {r['cpu']:7.1f} us  + wandb-core {r['core']:6.1f} us   close {r['close']:5.2f} s")
    default, lightning = results["default"], results["lightning"]
    total, light_total = default["cpu"] + default["core"], lightning["cpu"] + lightning["core"]
    print(f"  default: {total:.1f} us/step in all = {total / (STEP_S * 1e6):.2%} of a 1.5 ms step: "
          f"{'OK' if total <= target_us else 'MISSED'} (<= {target_us:.0f} us); "
          f"{'OK' if total <= light_total else 'MISSED'} (<= Lightning's {light_total:.1f} us); "
          f"close {'OK' if default['close'] <= TARGET_CLOSE_S else 'MISSED'} (<= {TARGET_CLOSE_S:g} s)")
    print(f"  replay of the default run == every value at every step: {'OK' if exact else 'MISSED'}")
    print(f"loop of {loop['step_ms']:.2f} ms steps, {loop_steps} steps, interleaved 100-step blocks (median ratio): "
          f"paramsched {loop['paramsched']:+.2%}, Lightning LearningRateMonitor + WandbLogger {loop['lightning']:+.2%}")


if __name__ == "__main__":
    main()
