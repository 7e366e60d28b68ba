"""Recorder benchmark: training-thread cost per step, and MLflow log_batch vs per-value log_metric.

Prints, for 12 series (3 keys x 4 groups):

1. the cost of ``recorder.record(step, values)`` on the training thread per
   step (median, p99, mean, in microseconds) for every backend in BACKENDS,
   and the time ``close()`` needs to deliver everything;
2. MlflowRecorder's wall time (start to flush complete) against per-value
   ``MlflowClient.log_metric`` for the same values on the same server, as a
   per-value ratio (log_metric runs far fewer steps: it is that slow).

Targets: <= 50 us per step on the training thread; >= 150x faster than per-value
``log_metric``. ``--quick`` runs small sizes (seconds; the MLflow server is
started only without ``--quick`` or when ``--tracking-uri`` names one).

    python benchmarks/bench_recorders.py            # full: starts a local mlflow server
    python benchmarks/bench_recorders.py --quick    # CI smoke run
    python benchmarks/bench_recorders.py --tracking-uri http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paramsched.recording import CsvRecorder, Recorder
from paramsched.runformat import FORMAT, utc_now

KEYS = ("lr", "weight_decay", "betas.0")
GROUPS = ("g0", "g1", "head", "emb")
SERIES = [f"hp/{key}/{group}" for key in KEYS for group in GROUPS]


def metadata(total_steps: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "paramsched_version": "0.1.0",
        "created_at": utc_now(),
        "total_steps": total_steps,
        "optimizer": "torch.optim.adamw.AdamW",
        "relative": False,
        "schedules": {"lr": {"type": "Cosine", "start": 3e-4, "end": 0.0}},
        "overrides": {},
        "groups": [{"index": i, "label": g, "base": {"lr": 3e-4}} for i, g in enumerate(GROUPS)],
        "series": SERIES,
        "rank": 0,
        "world_size": 1,
        "resumed_from_step": None,
    }


def values_at(step: int) -> dict[str, float]:
    return {name: (step + 1) / (3.0 + i) * 1e-3 for i, name in enumerate(SERIES)}


# -- backends ---------------------------------------------------------------------------------
# Each entry: (label, factory(workdir, context) -> Recorder or None to skip).
# The W&B helper adds "W&B offline" here, e.g.
#     ("W&B offline", lambda work, ctx: WandbRecorder(mode="offline", dir=work / "wandb"))


def _csv(work: Path, ctx: dict[str, Any]) -> Recorder:
    return CsvRecorder(work / "csv-run")


def _mlflow_sqlite(work: Path, ctx: dict[str, Any]) -> Recorder | None:
    from paramsched_mlflow import MlflowRecorder

    return MlflowRecorder(tracking_uri=f"sqlite:///{work / 'mlflow.db'}", spool_dir=work / "spool", close_timeout=600)


def _mlflow_server(work: Path, ctx: dict[str, Any]) -> Recorder | None:
    if not ctx.get("server_uri"):
        return None
    from paramsched_mlflow import MlflowRecorder

    return MlflowRecorder(tracking_uri=ctx["server_uri"], spool_dir=work / "spool", close_timeout=600)


BACKENDS: list[tuple[str, Callable[[Path, dict[str, Any]], Recorder | None]]] = [
    ("CSV", _csv),
    ("MLflow sqlite", _mlflow_sqlite),
    ("MLflow server", _mlflow_server),
]


def measure(recorder: Recorder, steps: int) -> dict[str, float]:
    rows = [values_at(step) for step in range(steps)]
    costs = []
    begin = time.perf_counter()
    recorder.start(metadata(steps))
    started = time.perf_counter()
    for step, values in enumerate(rows):
        t0 = time.perf_counter()
        recorder.record(step, values)
        costs.append(time.perf_counter() - t0)
    loop_end = time.perf_counter()
    recorder.close()
    end = time.perf_counter()
    unsent = getattr(recorder, "unsent_rows", lambda: 0)()
    if unsent:
        raise RuntimeError(f"{recorder!r} left {unsent} rows unsent: the numbers would be meaningless")
    costs.sort()
    return {
        "median_us": statistics.median(costs) * 1e6,
        "p99_us": costs[int(0.99 * (len(costs) - 1))] * 1e6,
        "mean_us": statistics.fmean(costs) * 1e6,
        "start_s": started - begin,
        "loop_s": loop_end - started,
        "close_s": end - loop_end,
        "wall_s": end - begin,
    }


# -- MLflow server ------------------------------------------------------------------------------


class Server:
    """A local ``mlflow server`` (SQLite backend) for the benchmark, stopped at the end."""

    def __init__(self, root: Path, timeout: float = 120.0) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}"
        cli = Path(sys.executable).with_name("mlflow")
        self.log = open(root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(cli), "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
             "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server did not start within {timeout} s")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)


def log_metric_per_value(uri: str, steps: int) -> dict[str, float]:
    """Seconds per value with one synchronous log_metric call per value: client and fluent API."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    run_id = client.create_run("0", run_name="per-value-client.log_metric").info.run_id
    begin = time.perf_counter()
    for step in range(steps):
        for name, value in values_at(step).items():
            client.log_metric(run_id, name, value, step=step, synchronous=True)
    per_client = (time.perf_counter() - begin) / (steps * len(SERIES))
    client.set_terminated(run_id)

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_name="per-value-mlflow.log_metric"):
            begin = time.perf_counter()
            for step in range(steps):
                for name, value in values_at(step).items():
                    mlflow.log_metric(name, value, step=step, synchronous=True)
            per_fluent = (time.perf_counter() - begin) / (steps * len(SERIES))
    finally:
        mlflow.set_tracking_uri(previous)
    return {"MlflowClient.log_metric": per_client, "mlflow.log_metric": per_fluent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--steps", type=int, help="steps per backend (default 10000, quick 500)")
    parser.add_argument("--log-metric-steps", type=int, help="steps for per-value log_metric (default 50, quick 5)")
    parser.add_argument("--tracking-uri", help="use this MLflow server instead of starting one")
    args = parser.parse_args(argv)
    steps = args.steps or (500 if args.quick else 10_000)
    lm_steps = args.log_metric_steps or (5 if args.quick else 50)
    work = Path(tempfile.mkdtemp(prefix="paramsched-bench-"))
    warnings.simplefilter("ignore")  # MLflow/SQLAlchemy deprecation chatter
    server = None
    try:
        ctx: dict[str, Any] = {"server_uri": args.tracking_uri}
        if not args.tracking_uri and not args.quick:
            t0 = time.perf_counter()
            server = Server(work)
            ctx["server_uri"] = server.uri
            print(f"started mlflow server at {server.uri} in {time.perf_counter() - t0:.1f} s")
        print(f"{len(SERIES)} series ({len(KEYS)} keys x {len(GROUPS)} groups), {steps} steps per backend, "
              f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print(f"{'backend':<16} {'median us/step':>15} {'p99 us':>9} {'mean us':>9} {'close s':>9} {'wall s':>8}")
        results: dict[str, dict[str, float]] = {}
        for label, factory in BACKENDS:
            try:
                recorder = factory(work / label.replace(" ", "_"), ctx)
            except ImportError as exc:
                print(f"{label:<16} skipped ({exc})")
                continue
            if recorder is None:
                print(f"{label:<16} skipped (no server; run without --quick or pass --tracking-uri)")
                continue
            result = measure(recorder, steps)
            results[label] = result
            verdict = "ok" if result["median_us"] <= 50 else "OVER 50 us"
            print(f"{label:<16} {result['median_us']:>15.2f} {result['p99_us']:>9.1f} {result['mean_us']:>9.2f} "
                  f"{result['close_s']:>9.2f} {result['wall_s']:>8.2f}  {verdict}")
        if "MLflow server" in results:
            recorder_per_value = results["MLflow server"]["wall_s"] / (steps * len(SERIES))
            print(f"\nMLflow server, per value: MlflowRecorder {recorder_per_value * 1e6:.1f} us "
                  f"({steps} steps x {len(SERIES)} values, start to flush complete)")
            for api, per_value in log_metric_per_value(ctx["server_uri"], lm_steps).items():
                ratio = per_value / recorder_per_value
                print(f"  per-value {api:<24} {per_value * 1e3:7.2f} ms ({lm_steps} steps x {len(SERIES)}): "
                      f"MlflowRecorder is {ratio:.0f}x faster ({'ok' if ratio >= 150 else 'UNDER'} the 150x target)")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
