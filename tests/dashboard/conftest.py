"""Shared helpers for the dashboard tests: trajectories by hand, and real recorded CSV runs."""

from __future__ import annotations

import os
import shutil
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


def loss_curve(steps: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """A made-up training loss: falls with the steps, deterministic wiggle."""
    steps = np.asarray(steps, dtype=np.float64)
    return scale / (1.0 + 0.01 * steps) + 0.01 * np.sin(steps)


def metrics_frame(steps: np.ndarray, **columns: np.ndarray) -> pd.DataFrame:
    """A Trajectory.metrics table: int64 index named step, float64 columns."""
    index = pd.Index(np.asarray(steps, dtype=np.int64), name="step")
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, index=index)


def write_family(root: Path, *, total: int = 300, branch_steps: tuple[int, ...] = (120, 180, 240),
                 cooldown: int = 60) -> dict[str, Path]:
    """A parent CSV run (warmup then constant lr, a loss metric, one event) and its branches.

    Each child is written as ``ps.branch`` records one: the parent's values
    before the branch step, then a 1-sqrt cooldown to 0 over ``cooldown``
    steps; its metadata names the parent under ``"parent"``.
    """
    parent_dir = record_run(
        root / "parent", {"lr": ps.Warmup(ps.Constant(0.1), steps=30, start=0.0), "momentum": ps.Constant(0.9)},
        total,
    )
    parent = ps.replay.load(parent_dir)
    steps = parent.frame.index.to_numpy()
    event = {"step": 100, "kind": "intervention", "series": "hp/lr/body", "before": 0.1, "after": 0.1,
             "spec": ps.Constant(0.1).to_spec(), "reason": "loss spike <b>", "time": "2026-01-01T00:00:00+00:00"}
    Trajectory(parent.frame, parent.metadata, parent.source, events=[event],
               metrics=metrics_frame(steps, loss=loss_curve(steps))).to_csv(parent_dir, overwrite=True)
    runs = {"parent": parent_dir}
    for k in branch_steps:
        head = parent.frame.loc[: k - 1]
        tail_steps = np.arange(k, k + cooldown, dtype=np.int64)
        frac = (tail_steps - k) / cooldown
        tail = pd.DataFrame(
            {c: head[c].iloc[-1] * (1 - np.sqrt(frac)) if "/lr/" in c else head[c].iloc[-1] for c in head.columns},
            index=pd.Index(tail_steps, name="step"),
        )
        frame = pd.concat([head, tail])
        all_steps = frame.index.to_numpy()
        loss = loss_curve(all_steps)
        loss[all_steps >= k] -= 0.05 * np.sqrt((all_steps[all_steps >= k] - k) / cooldown) * (k / total)
        meta = dict(parent.metadata)
        meta.update(total_steps=k + cooldown, schedules={}, overrides={}, parent={
            "source": str(parent_dir), "run_id": None, "fingerprint": "f" * 16, "branch_step": k,
            "cooldown": cooldown, "shape": "1-sqrt", "end": 0.0, "keys": ["lr"],
        })
        folder = root / f"branch-{k}"
        Trajectory(frame, meta, str(folder), metrics=metrics_frame(all_steps, loss=loss)).to_csv(folder)
        runs[f"branch-{k}"] = folder
    return runs


# -- headless Chromium (Debian's /usr/bin/chromium via Playwright; never a browser download) --

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright); no browser download needed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def save_artifact(path: Path) -> None:
    folder = os.environ.get("PARAMSCHED_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(folder) / path.name)


POINT_JS = """(args) => {
  const gd = document.getElementById('plot');
  const i = gd.data.findIndex(t => t.meta.panel === args.panel && t.meta.kind === args.kind);
  const t = gd._fullData[i];
  const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const r = gd.getBoundingClientRect();
  return [r.left + xa._offset + xa.l2p(t.x[args.point]), r.top + ya._offset + ya.l2p(t.y[args.point]), i];
}"""


def hover(page, panel: str, kind: str, point: int, expected: str) -> None:
    """Move the real mouse onto a point of a trace and wait for a hover label holding ``expected``."""
    x, y, _ = page.evaluate(POINT_JS, {"panel": panel, "kind": kind, "point": point})
    page.mouse.move(x, y + 40)
    page.mouse.move(x, y, steps=4)
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('.hoverlayer .hovertext')].some(e => e.textContent.includes(text))",
        arg=expected, timeout=10_000,
    )


def open_page(browser: Any, path: Path, *, width: int = 1500, height: int = 3200) -> tuple[Any, list[str], list[str]]:
    """Open ``path`` in a new page and wait for the figure; the page, its console errors and
    warnings (and page errors), and the URLs it requested."""
    page = browser.new_page(viewport={"width": width, "height": height})
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("#plot[data-ready='1']", timeout=60_000)
    return page, console, requests
