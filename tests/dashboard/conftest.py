"""Shared helpers for the dashboard tests: trajectories by hand, and real recorded CSV runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import paramsched as ps
from paramsched.replay.trajectory import Trajectory
from paramsched.runformat import FORMAT

XSS = "<script>alert(1)</script>"


def make_traj(
    columns: dict[str, Any], *, steps: Any = None, metadata: dict[str, Any] | None = None, source: str = ""
) -> Trajectory:
    """A Trajectory from ``{series: values}`` (steps 0..n-1 unless given)."""
    n = len(next(iter(columns.values())))
    index = pd.Index(np.arange(n, dtype=np.int64) if steps is None else np.asarray(steps, dtype=np.int64), name="step")
    frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, index=index)
    return Trajectory(frame, metadata, source)


def metadata_for(schedules: dict[str, Any], total: int, labels: list[str], **extra: Any) -> dict[str, Any]:
    """A run metadata document as the scheduler writes it (specs, groups, total_steps)."""
    doc = {
        "format": FORMAT, "paramsched_version": ps.__version__, "created_at": "2026-01-01T00:00:00+00:00",
        "total_steps": total, "optimizer": "torch.optim.sgd.SGD", "relative": False,
        "schedules": {k: s.to_spec() for k, s in schedules.items()}, "overrides": {},
        "groups": [{"index": i, "label": label, "base": {}} for i, label in enumerate(labels)],
        "series": [], "rank": 0, "world_size": 1, "resumed_from_step": None,
    }
    doc.update(extra)
    return doc


def simulated(schedules: dict[str, Any], total: int, labels: list[str], source: str = "") -> Trajectory:
    """What a run of ``schedules`` records, with its metadata (via ps.simulate)."""
    frame = ps.simulate(schedules, total, groups=labels)
    frame.index = frame.index.astype(np.int64)
    return Trajectory(frame, metadata_for(schedules, total, labels), source)


def record_run(folder: Path, schedules: dict[Any, Any], total: int, *, recorders: list[Any] | None = None) -> Path:
    """Run a real ParamScheduler over an SGD optimizer with two named groups, recording to CSV."""
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD(
        [{"params": [a], "name": "body"}, {"params": [b], "name": "head"}], lr=0.1, momentum=0.9, weight_decay=0.0
    )
    with ps.ParamScheduler(optimizer, schedules, total_steps=total, recorders=[f"csv:{folder}", *(recorders or [])]) as sched:
        for _ in range(total):
            optimizer.step()
            sched.step()
    return folder


@pytest.fixture
def traj_factory() -> Callable[..., Trajectory]:
    return make_traj


@pytest.fixture
def csv_runs(tmp_path: Path) -> dict[str, Path]:
    """Two recorded CSV runs: a baseline and an ablation replaying its lr with another momentum."""
    total = 300
    base = record_run(
        tmp_path / "baseline",
        {"lr": ps.WarmupStableDecay(0.1, warmup=0.1, decay=0.3), "momentum": ps.Cosine(0.9, 0.5)},
        total,
    )
    lr = ps.replay.load(base).schedules(keys=["lr"])
    ablation = record_run(tmp_path / "ablation", {**lr, "momentum": ps.Constant(0.9)}, total)
    return {"baseline": base, "ablation": ablation}
