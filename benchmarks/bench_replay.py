"""Replay benchmarks: load time (CSV, MLflow sqlite) and ReplaySchedule lookup cost.

    python benchmarks/bench_replay.py            # 100k steps x 12 series
    python benchmarks/bench_replay.py --quick    # small sizes, CI smoke

Targets (issue 4): CSV load <= 1 s and MLflow sqlite load <= 5 s for 100k
steps x 12 series; ``ReplaySchedule.__call__`` as cheap as a preset's
``__call__`` (ratio <= 1). Every loaded trajectory is also checked to be
bit-for-bit equal to what was written. Times are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

import paramsched as ps
from paramsched.replay import ReplaySchedule, Trajectory, load


def make_frame(steps: int, series: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"hp/{key}/g{g}" for key in ("lr", "weight_decay", "betas.0", "momentum") for g in range(3)]
    names = (names + [f"hp/extra{i}/g0" for i in range(series)])[:series]
    # log-uniform magnitudes: full 17-digit reprs, the hard case for a parser
    data = {name: 10.0 ** rng.uniform(-8, 0, steps) for name in names}
    return pd.DataFrame(data, index=pd.Index(np.arange(steps), name="step"))


def best_of(repeat: int, func) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def bit_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return (  # column order may differ (MLflow lists metrics by name)
        sorted(a.columns) == sorted(b.columns)
        and a.index.tolist() == b.index.tolist()
        and np.array_equal(a.to_numpy().view(np.uint64), b[list(a.columns)].to_numpy().view(np.uint64))
    )


def report(label: str, seconds: float, target: float | None) -> None:
    if target is None:
        print(f"{label:<44} {seconds:8.3f} s")
    else:
        verdict = "ok" if seconds <= target else "MISSED"
        print(f"{label:<44} {seconds:8.3f} s   target <= {target:g} s   ratio {seconds / target:5.2f}  {verdict}")


def bench_csv(frame: pd.DataFrame, folder: Path, repeat: int, target: float | None) -> None:
    Trajectory(frame, {"format": "paramsched.run/1", "series": list(frame.columns)}).to_csv(folder / "csv")
    seconds, traj = best_of(repeat, lambda: load(folder / "csv"))
    assert bit_equal(frame, traj.frame), "CSV round trip is not bit-exact"
    report(f"CSV load ({len(frame)} steps x {frame.shape[1]} series)", seconds, target)


def bench_mlflow(frame: pd.DataFrame, folder: Path, repeat: int, target: float | None) -> None:
    try:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

        import paramsched_mlflow  # noqa: F401
    except ImportError as exc:
        print(f"MLflow sqlite load: skipped (paramsched-mlflow not importable: {exc})")
        return
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    names = list(frame.columns)
    values = frame.to_numpy()
    # Step 0 through MLflow itself (creates its summary rows); the other rows go straight into
    # MLflow's metrics table: log_batch writes ~4k values/s here, 5 minutes for this size.
    client.log_batch(run_id, metrics=[Metric(n, float(values[0, i]), 1, 0) for i, n in enumerate(names)])
    client.set_terminated(run_id)
    rows = (
        (name, float(values[k, i]), 1 + k, run_id, int(k), 0)
        for k in range(1, len(frame))
        for i, name in enumerate(names)
    )
    with sqlite3.connect(db) as connection:
        connection.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
    seconds, traj = best_of(repeat, lambda: load(f"mlflow://{run_id}?tracking_uri={uri}"))
    assert bit_equal(frame, traj.frame), "MLflow round trip is not bit-exact"
    report(f"MLflow sqlite load ({len(frame)} steps x {len(names)} series)", seconds, target)


def bench_lookup(frame: pd.DataFrame, number: int) -> None:
    values = frame.iloc[:, 0].to_numpy()
    total = len(values)
    replay = ReplaySchedule(values)
    sparse = ReplaySchedule(values[::10], steps=np.arange(0, total, 10), gaps="linear")
    peers = {
        "Cosine": ps.Cosine(1e-3, 0.0),
        "WarmupStableDecay": ps.WarmupStableDecay(1e-3),
        "Linear": ps.Linear(1e-3, 0.0),
    }
    step = total // 2 + 3  # not a multiple of 10: the sparse schedule interpolates

    def per_call(schedule) -> float:
        timer = timeit.Timer("f(k, t)", globals={"f": schedule, "k": step, "t": total})
        return min(timer.repeat(repeat=5, number=number)) / number * 1e9

    replay_ns = per_call(replay)
    print(f"{'ReplaySchedule.__call__ (dense)':<44} {replay_ns:8.1f} ns/call")
    sparse_ns = per_call(sparse)
    print(f"{'ReplaySchedule.__call__ (every 10th, linear)':<44} {sparse_ns:8.1f} ns/call")
    for name, schedule in peers.items():
        ns = per_call(schedule)
        print(f"{name + '.__call__':<44} {ns:8.1f} ns/call   ReplaySchedule/{name} = {replay_ns / ns:4.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke): no targets")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--series", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    steps = args.steps or (2_000 if args.quick else 100_000)
    check = not args.quick and steps == 100_000 and args.series == 12
    print(f"paramsched {ps.__version__}, python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")
    frame = make_frame(steps, args.series)
    folder = Path(tempfile.mkdtemp(prefix="bench_replay_"))
    try:
        bench_csv(frame, folder, args.repeat, 1.0 if check else None)
        bench_mlflow(frame, folder, args.repeat, 5.0 if check else None)
        bench_lookup(frame, 20_000 if args.quick else 200_000)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
