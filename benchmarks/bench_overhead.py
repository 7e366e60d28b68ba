"""End-to-end recording overhead (issue 15): what a user feels in a real training loop.

For each backend (CSV, MLflow sqlite, MLflow server on 127.0.0.1, W&B offline via
paramsched_wandb, TensorBoard via paramsched_tensorboard) it trains a tiny CPU MLP
(about 1.5 ms a step, one torch thread) several ways, interleaved block by block in one
process so that machine noise hits them alike:

- ``nothing``: the loop with a ParamScheduler that records nowhere;
- ``nothing-b``: the same again, on its own model: what two identical variants differ by
  in this harness (the ``A/A`` column), the noise floor of every other number;
- ``paramsched``: the same loop recording 12 series (3 keys x 4 groups) to the backend,
  default configuration (its overhead is over ``nothing``);
- ``do-nothing``: the same loop with a recorder that keeps nothing (``record`` returns at
  once): what merely having a recorder reads as here (the ``floor`` column). Between torch
  steps every line of Python runs with cold caches, several times slower than in a tight
  loop, and this is the part of every recorder's number that is not its backend's work;
- ``torch``: the loop with a torch LR scheduler, logging nothing;
- ``lightning``: the loop with a torch LR scheduler and Lightning's logger for that
  backend (CSVLogger, MLFlowLogger, WandbLogger, TensorBoardLogger), fed as
  ``LearningRateMonitor`` feeds it at Lightning's defaults (``log_every_n_steps=50``:
  one ``log_metrics`` call with every group's lr every 50 steps, at the steps Lightning
  picks, with nothing else logged). This drives the real
  logger at the monitor's cadence, not a whole Lightning Trainer (whose own per-step cost
  would hide both).

One model instance can run 1-2 % faster than another (an earlier version of this script
compared variants on their own models and its A/A column moved by that much), so every variant
also runs *bare* blocks: its own model's steps with no scheduler or logger, and what a variant
costs is its block time over its own bare block time. The blocks run in rounds (a block and a
bare block of each variant, in a shuffled order); an overhead is the median over rounds of
(the recording variant's slowdown / its baseline's slowdown in the same round) - 1, so both
sides of a ratio meet the same machine noise and the same model. The whole measurement is
repeated with fresh models, recorders and runs and the medians over repeats are printed. Per backend:
the step time, the overhead of paramsched (over ``nothing``) and of Lightning (over
``torch``) in percent of the step, the recorder's direct cost on the training thread (the
mean time of ``step()`` between torch steps over ``nothing``'s, in us: a steadier reading of
the same thing, not judged), the CPU its background thread used per step, the total
of the slowdown and the worker, the A/A and the floor (a recorder that keeps nothing),
``close()`` time, the peak queue (items and an estimate in MB), and the targets
as OK / MISSED on the total: overhead <= 2 % of the step, no worse than Lightning's,
close() <= 2 s.

A background recorder's worker runs when it wakes, during whichever variant's block: its time
lands on every variant alike and cancels out of the paired ratios, so the loop's own slowdown
misses most of it. So after the rounds the recording variant runs ``--solo`` steps alone, as a
real run records (its worker's wake-ups, batches and uploads falling on its own steps only), and
the worker's CPU per step is taken over that window. The total counts all of it as paid by the
loop (the worker shares the GIL): an upper bound, since some of it runs while the training
thread is inside torch's GIL-free kernels. The loop's slowdown alone is the lower bound.

    python benchmarks/bench_overhead.py                   # 3 x 5000 steps per variant, every backend
    python benchmarks/bench_overhead.py --quick           # CI smoke run: CSV only, seconds
    python benchmarks/bench_overhead.py --backends csv,mlflow-sqlite --steps 4000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import paramsched as ps
from paramsched.recording import Recorder

GROUPS = ("g0", "g1", "head", "emb")
BACKENDS = ("csv", "mlflow-sqlite", "mlflow-server", "wandb-offline", "tensorboard")
TARGET_OVERHEAD = 0.02
TARGET_CLOSE_S = 2.0


class Loop:
    """A tiny MLP on random data (CPU); ``step()`` is one forward / backward / optimizer update."""

    def __init__(self, width: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(128, width), torch.nn.ReLU(), torch.nn.Linear(width, 128),
                                         torch.nn.ReLU(), torch.nn.Linear(128, 1))
        params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(
            [{"params": params[0:2]}, {"params": params[2:4]}, {"params": params[4:5], "name": "head"},
             {"params": params[5:6], "name": "emb"}], lr=1e-3)
        self.x = torch.randn(64, 128, generator=gen)
        self.y = torch.randn(64, 1, generator=gen)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()


SCHEDULES = {"lr": ps.WarmupStableDecay(1e-3, warmup=0.05, decay=0.2), "weight_decay": ps.Cosine(0.1, 0.01),
             "betas.0": ps.Linear(0.85, 0.95)}


def calibrate(target_s: float) -> int:
    """The MLP width whose step takes about ``target_s`` here."""
    width = 256
    for _ in range(6):
        loop = Loop(width)
        for _ in range(20):
            loop.step()
        begin = time.perf_counter()
        for _ in range(100):
            loop.step()
        took = (time.perf_counter() - begin) / 100
        if abs(took - target_s) < 0.1 * target_s:
            break
        width = max(16, int(width * target_s / took))
    return width


# -- the three variants -----------------------------------------------------------------------


class Variant:
    label = ""

    def __init__(self, width: int, steps: int) -> None:
        self.loop = Loop(width)
        self.steps = steps
        self.done = 0
        self.close_s = float("nan")
        self.queue_peak: int | None = None
        self.calls: list[float] = []  # seconds of each after_step() in the blocks, between torch steps

    def block(self, count: int) -> float:
        """Run ``count`` steps; seconds per step. Each ``after_step()`` is timed too (``calls``)."""
        clock = time.perf_counter
        calls = self.calls
        begin = clock()
        for _ in range(count):
            self.loop.step()
            called = clock()
            self.after_step()
            calls.append(clock() - called)
            self.done += 1
        return (clock() - begin) / count

    def bare_block(self, count: int) -> float:
        """Run ``count`` steps of this variant's own model with no scheduler or logger at all;
        seconds per step. It is the variant's own speed, which its overhead is measured over."""
        begin = time.perf_counter()
        for _ in range(count):
            self.loop.step()
        return (time.perf_counter() - begin) / count

    def after_step(self) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        """After the warm-up: the run is open and what the warm-up recorded is delivered."""

    def close(self) -> None:
        pass


def thread_cpu_s(thread: Any) -> float | None:
    """CPU seconds a live thread has used (its own CPU clock), or None where there is none."""
    ident = getattr(thread, "ident", None)
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except OSError:  # the thread has ended
        return None


class Paramsched(Variant):
    def __init__(self, width: int, steps: int, recorders: list[Any], label: str) -> None:
        super().__init__(width, steps)
        self.label = label
        self.recorders = recorders
        self.sched = ps.ParamScheduler(self.loop.opt, SCHEDULES, total_steps=steps + 1, recorders=recorders)
        self.after_step = self.sched.step
        self.worker_us: float | None = None  # the recorders' background threads: CPU per step

    def _worker_cpu(self) -> float | None:
        threads = [getattr(r, "_thread", None) for r in self.recorders]
        used = [thread_cpu_s(t) for t in threads if t is not None]
        return None if not used or None in used else sum(used)

    def settle(self) -> None:
        self.sched.flush()  # a background recorder has opened its run (start-up is not per-step cost)

    def solo(self, count: int) -> None:
        """Run ``count`` steps with no other variant between them, as a real run records, and
        take the background worker's CPU per step over them (``worker_us``): its per-second costs
        (wake-ups, batches, uploads) then fall on this recorder's own steps only."""
        self.sched.flush()  # nothing of the interleaved rounds is left for the window
        before = self._worker_cpu()
        self.block(count)
        self.sched.flush()  # what the worker still holds is part of these steps' cost
        after = self._worker_cpu()
        if before is not None and after is not None:
            self.worker_us = (after - before) / count * 1e6

    def close(self) -> None:
        begin = time.perf_counter()
        self.sched.close()
        self.close_s = time.perf_counter() - begin
        peaks = [getattr(r, "queue_peak", None) for r in self.recorders]
        self.queue_peak = max((p for p in peaks if p is not None), default=None)


class TorchScheduler(Variant):
    """A torch LR scheduler, logging nothing: the baseline of the Lightning variant."""

    label = "torch"

    def __init__(self, width: int, steps: int) -> None:
        super().__init__(width, steps)
        self.torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.loop.opt, T_max=steps)
        self.after_step = self.torch_sched.step


class LightningMonitor(Variant):
    """A torch scheduler; every ``every`` steps the logger gets each group's lr, as
    ``LearningRateMonitor`` sends it (``lr-AdamW``, ``lr-AdamW/pg1``, ...)."""

    label = "lightning"

    def __init__(self, width: int, steps: int, logger: Any, every: int = 50) -> None:
        super().__init__(width, steps)
        self.logger = logger
        self.every = every
        self.torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.loop.opt, T_max=steps)
        self.names = ["lr-AdamW"] + [f"lr-AdamW/pg{i}" for i in range(1, len(self.loop.opt.param_groups))]

    def after_step(self) -> None:
        self.torch_sched.step()
        if (self.done + 1) % self.every == 0:  # Lightning's should_update_logs
            lrs = {name: group["lr"] for name, group in zip(self.names, self.loop.opt.param_groups, strict=True)}
            self.logger.log_metrics(lrs, step=self.done)

    def settle(self) -> None:
        _ = self.logger.experiment  # Lightning opens the run (or file) at the first use

    def close(self) -> None:
        begin = time.perf_counter()
        self.logger.finalize("success")
        self.close_s = time.perf_counter() - begin


class DoNothingRecorder(Recorder):
    """Keeps nothing: the floor of what a recorder costs the loop (the row dict, the call)."""

    name = "do-nothing"

    def start(self, metadata: Any) -> None:
        pass

    def record(self, step: int, values: Any) -> None:
        pass

    def close(self) -> None:
        pass


class Nothing(Variant):
    """A ParamScheduler recording nowhere: the baseline of the paramsched variant."""

    label = "nothing"

    def __init__(self, width: int, steps: int, label: str = "nothing") -> None:
        super().__init__(width, steps)
        self.label = label
        self.sched = ps.ParamScheduler(self.loop.opt, SCHEDULES, total_steps=steps + 1)
        self.after_step = self.sched.step


# -- backends: (paramsched recorder, Lightning logger or None) -----------------------------------


def backend_pair(name: str, work: Path, ctx: dict[str, Any]) -> tuple[Any, Callable[[], Any] | None]:
    work.mkdir(parents=True, exist_ok=True)
    if name == "csv":
        from paramsched.recording import CsvRecorder

        def csv_logger() -> Any:
            from lightning.pytorch.loggers import CSVLogger

            return CSVLogger(str(work / "lightning"))  # it saves every 100 steps itself

        return CsvRecorder(work / "paramsched"), csv_logger
    if name in ("mlflow-sqlite", "mlflow-server"):
        from paramsched_mlflow import MlflowRecorder

        if name == "mlflow-sqlite":
            uri = f"sqlite:///{work / 'mlflow.db'}"
        else:
            if "server" not in ctx:
                sys.path.insert(0, str(Path(__file__).parent))
                from bench_recorders import Server

                begin = time.perf_counter()
                ctx["server"] = Server(work)
                print(f"  (started mlflow server at {ctx['server'].uri} in {time.perf_counter() - begin:.1f} s)")
            uri = ctx["server"].uri

        def mlflow_logger() -> Any:
            from lightning.pytorch.loggers import MLFlowLogger

            return MLFlowLogger(experiment_name="lightning", tracking_uri=uri)

        return MlflowRecorder(tracking_uri=uri, experiment="paramsched", spool_dir=work / "spool"), mlflow_logger
    if name == "wandb-offline":
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ["WANDB_MODE"] = "offline"  # WandbLogger(offline=True) still asks for a key without it
        from paramsched_wandb import WandbRecorder

        def wandb_logger() -> Any:
            from lightning.pytorch.loggers import WandbLogger

            return WandbLogger(offline=True, save_dir=str(work / "lightning"), project="bench")

        return WandbRecorder(project="bench", mode="offline", dir=work / "paramsched"), wandb_logger
    if name == "tensorboard":
        from paramsched_tensorboard import TensorBoardRecorder

        def tb_logger() -> Any:
            from lightning.pytorch.loggers import TensorBoardLogger

            return TensorBoardLogger(str(work / "lightning"))

        return TensorBoardRecorder(work / "paramsched"), tb_logger
    raise ValueError(f"backends must name some of {', '.join(BACKENDS)}, got {name!r}")


def row_bytes() -> int:
    """About what one queued row of 12 series holds (the dict, its keys are shared, the floats)."""
    row = {f"hp/{k}/{g}": 0.1 + i for i, (k, g) in enumerate((k, g) for k in SCHEDULES for g in GROUPS)}
    return sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values()) + 120  # + the item tuple


def run_backend(
    name: str, work: Path, ctx: dict[str, Any], width: int, steps: int, block: int, solo: int
) -> dict[str, Any]:
    recorder, make_logger = backend_pair(name, work, ctx)
    horizon = steps + solo  # the schedules' total_steps: the interleaved rounds, then the solo window
    variants: list[Variant] = [Nothing(width, horizon), Paramsched(width, horizon, [recorder], "paramsched"),
                               Nothing(width, horizon, "nothing-b"),
                               Paramsched(width, horizon, [DoNothingRecorder()], "do-nothing")]
    note = ""
    if make_logger is not None:
        try:
            variants += [TorchScheduler(width, horizon), LightningMonitor(width, horizon, make_logger())]
        except ImportError as exc:
            note = f"lightning logger unavailable ({exc})"
    # slowdown[label][r]: in round r, the variant's block over its own bare block
    slowdown: dict[str, list[float]] = {v.label: [] for v in variants}
    step_s: list[float] = []
    rng = random.Random(0)
    for variant in variants:  # warm-up: starts the recorders and loggers, which open their runs
        variant.block(min(block, 20))
        variant.bare_block(min(block, 20))
        variant.settle()
        variant.calls.clear()
    while variants[0].done < steps:  # every variant runs the same blocks, so all are as far
        count = min(block, steps - variants[0].done)
        jobs = [(v, bare) for v in variants for bare in (False, True)]
        rng.shuffle(jobs)
        took: dict[tuple[str, bool], float] = {}
        for variant, bare in jobs:  # every variant's block and bare block, back to back: a round
            took[variant.label, bare] = (variant.bare_block if bare else variant.block)(count)
        for variant in variants:
            slowdown[variant.label].append(took[variant.label, False] / took[variant.label, True])
        step_s.append(took["nothing", True])
    # The mean, not the median: a recorder's occasional work on the training thread (a CSV
    # write every few hundred rows, a wait for the GIL) is part of what it costs.
    call_s = {v.label: statistics.fmean(v.calls) for v in variants}
    recording = next(v for v in variants if v.label == "paramsched")
    assert isinstance(recording, Paramsched)
    recording.solo(solo)
    for variant in variants:
        variant.close()
    result: dict[str, Any] = {"step_ms": statistics.median(step_s) * 1e3, "note": note}
    result["noise"] = statistics.median(
        b / a for a, b in zip(slowdown["nothing"], slowdown["nothing-b"], strict=False)) - 1
    for label, baseline in (("paramsched", "nothing"), ("do-nothing", "nothing"), ("lightning", "torch")):
        if label not in slowdown:
            continue
        variant = next(v for v in variants if v.label == label)
        # Each variant is measured over its own model (one model instance can run 1-2 % faster
        # than another), then paired by round with its baseline: the median of the ratios.
        ratios = [t / b for t, b in zip(slowdown[label], slowdown[baseline], strict=False)]
        direct = call_s[label] - call_s[baseline]
        result[label] = {"overhead": statistics.median(ratios) - 1, "direct_us": direct * 1e6, "close_s": variant.close_s,
                         "queue_peak": variant.queue_peak, "worker_us": getattr(variant, "worker_us", None)}
    return result


def median_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result of several repeats: median overheads and step time, the worst close() and queue peak."""
    merged = dict(results[0])
    merged["step_ms"] = statistics.median(r["step_ms"] for r in results)
    merged["noise"] = statistics.median(r["noise"] for r in results)
    for label in ("paramsched", "do-nothing", "lightning"):
        if label in merged:
            peaks = [r[label]["queue_peak"] for r in results if r[label]["queue_peak"] is not None]
            workers = [r[label]["worker_us"] for r in results if r[label]["worker_us"] is not None]
            merged[label] = {"overhead": statistics.median(r[label]["overhead"] for r in results),
                             "direct_us": statistics.median(r[label]["direct_us"] for r in results),
                             "close_s": max(r[label]["close_s"] for r in results),
                             "queue_peak": max(peaks, default=None),
                             "worker_us": statistics.median(workers) if workers else None}
    return merged


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run: CSV only, a few hundred steps")
    parser.add_argument("--steps", type=int, help="steps per variant and repeat (default 5000, quick 300)")
    parser.add_argument("--repeat", type=int, help="fresh models, recorders and runs per backend; the medians "
                        "are printed (default 3, quick 1): one model can be 1-2 %% faster than another")
    parser.add_argument("--block", type=int, default=100, help="steps per interleaved block (default 100)")
    parser.add_argument("--solo", type=int, help="steps the recording variant then runs alone, over which its "
                        "background worker's CPU is taken (default 3000, quick 200)")
    parser.add_argument("--backends", help=f"comma-separated, of {','.join(BACKENDS)} (default all; quick: csv)")
    parser.add_argument("--step-ms", type=float, default=1.5, help="the training step to calibrate to (ms)")
    args = parser.parse_args(argv)
    steps = args.steps or (300 if args.quick else 5000)
    repeat = args.repeat or (1 if args.quick else 3)
    solo = args.solo or (200 if args.quick else 3000)
    names = (args.backends or ("csv" if args.quick else ",".join(BACKENDS))).split(",")
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"tiny MLP (1 torch thread) sized to a {args.step_ms:g} ms step before each backend (this machine's "
          f"speed drifts), {steps} steps per variant in blocks of {args.block}, interleaved, {repeat} repeat(s); "
          f"12 series; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'backend':<14} {'step ms':>8} {'paramsched':>11} {'direct':>7} {'+ worker':>13} {'= total':>8} {'lightning':>10} "
          f"{'A/A':>7} {'floor':>7} {'close s':>8} {'queue peak':>15}  targets")
    work = Path(tempfile.mkdtemp(prefix="paramsched-overhead-"))
    ctx: dict[str, Any] = {}
    try:
        for name in names:
            width = calibrate(args.step_ms / 1e3)
            try:
                result = median_result(
                    [run_backend(name, work / f"{name}-{r}", ctx, width, steps, args.block, solo)
                     for r in range(repeat)]
                )
            except ImportError as exc:
                print(f"{name:<14} skipped ({exc})")
                continue
            ours = result["paramsched"]
            theirs = result.get("lightning")
            peak = ours["queue_peak"]
            peak_text = "-" if peak is None else f"{peak} ({peak * row_bytes() / 2**20:.2f} MB)"
            worker = ours["worker_us"]
            # The worker's time cancels out of the paired ratios (it lands on every variant's
            # blocks alike): what the loop pays for it is counted here instead, all of its CPU over
            # the solo window, as if none of it ran beside training.
            worker_share = 0.0 if worker is None else worker / (result["step_ms"] * 1e3)
            total = ours["overhead"] + worker_share
            checks = [f"overhead<=2% {verdict(total <= TARGET_OVERHEAD)}",
                      f"close<=2s {verdict(ours['close_s'] <= TARGET_CLOSE_S)}"]
            if theirs is not None:
                checks.append(f"<=lightning {verdict(total <= max(theirs['overhead'], 0.0) + 0.005)}")
            lightning = "-" if theirs is None else f"{theirs['overhead'] * 100:+.2f}%"
            worker_text = "-" if worker is None else f"{worker:.1f}us {worker_share * 100:.2f}%"
            print(f"{name:<14} {result['step_ms']:>8.3f} {ours['overhead'] * 100:>+10.2f}% "
                  f"{ours['direct_us']:>5.1f}us {worker_text:>13} "
                  f"{total * 100:>+7.2f}% {lightning:>10} {result['noise'] * 100:>+6.2f}% "
                  f"{result['do-nothing']['overhead'] * 100:>+6.2f}% "
                  f"{ours['close_s']:>8.2f} {peak_text:>15}  {'; '.join(checks)}"
                  + (f"  [{result['note']}]" if result["note"] else ""))
    finally:
        if "server" in ctx:
            ctx["server"].stop()
        shutil.rmtree(work, ignore_errors=True)
    print("(paramsched: the loop's own slowdown, median over rounds of paired ratios, then over repeats;\n"
          " direct: the mean time of the scheduler's step() between torch steps over the 'nothing' variant's,\n"
          " the recorder's own cost on the training thread (cold caches and GIL waits included; what it does\n"
          " to the next torch step is not), for reading the slowdown, not judged;\n"
          " + worker: CPU of the recorder's background thread per step (its CPU clock) over a window of\n"
          " --solo steps run alone after the rounds, and that in percent of the step, all of it counted as\n"
          " paid by the loop (it shares the GIL); = total: what the targets judge; Lightning's loggers work\n"
          " on the training thread, inside its number; '<=lightning' allows 0.5 points of noise;\n"
          " A/A: a second 'nothing' over the first, what the harness itself differs by; floor: a recorder\n"
          " that keeps nothing, over 'nothing': what any recorder reads as here before it does any work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
