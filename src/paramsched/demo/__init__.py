"""The demo (``paramsched demo``, ``make demo``): one stable phase, three cooldowns, one page.

Warmup-stable-decay as it is used: train the stable phase once with
checkpoints, then cool down from several of them (``ps.branch``):

1. **stable**: a tiny MLP (``train.py``) for ``steps`` steps: lr warmup then
   constant (the head group at 3x), a beta1 warmup, a cosine weight decay;
   a checkpoint every tenth of the run, the batch and held-out losses logged;
2. **cooldown-K** for K at 40%, 60% and 80% of the run: ``ps.branch(stable,
   at_step=K, cooldown=steps // 5, shape="1-sqrt")``, started from the stable
   run's checkpoint at K (accepted as its parent's, resumed bit for bit).

All four runs go to CSV, and to MLflow (sqlite) and W&B (offline) when
installed (``trackers.py``, all under the output folder). ``report.py``
checks each branch against its parent and each tracker against the CSV runs,
and writes the lineage page with the loss panels.

>>> from paramsched.demo import run_demo
>>> result = run_demo("paramsched-demo", steps=100, quiet=True)   # doctest: +SKIP
>>> result.html                                                   # doctest: +SKIP
PosixPath('paramsched-demo/compare.html')
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from paramsched.checks import check_positive_int, describe
from paramsched.demo import report, trackers, train

__all__ = ["DEFAULT_STEPS", "MIN_STEPS", "DemoResult", "run_demo"]

DEFAULT_STEPS = 300
MIN_STEPS = 20
BRANCH_AT = (0.4, 0.6, 0.8)
PARENT = train.PARENT
PEAK_LR = 2e-2  # the body's (the head's is 3x): high enough that a cooldown pays off


@dataclasses.dataclass
class DemoResult:
    """What the demo wrote and measured."""

    out: Path
    steps: int
    csv_runs: dict[str, Path]  # run name -> CSV run folder (the stable run first)
    branch_steps: dict[str, int]  # branch name -> the step it branched at
    html: Path
    png: Path
    final_loss: dict[str, float]  # run name -> its last val_loss
    backends: dict[str, str]  # backend -> "used" or "skipped: why"
    sources: dict[str, dict[str, str]]  # backend -> run -> source string for replay.load
    branches_exact: bool  # every branch's values before its branch step == the parent's
    backends_identical: dict[str, bool]  # backend -> all its runs equal the CSV copies


def run_demo(
    out: str | os.PathLike[str] = "paramsched-demo",
    *,
    steps: int = DEFAULT_STEPS,
    quiet: bool = False,
    backends: tuple[str, ...] = ("mlflow", "wandb"),
    print_fn: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo into the folder ``out`` and return what it wrote (see the module docstring).

    ``backends`` lists the optional trackers to try (each is used only when
    its integration package is importable). Progress bars show when stderr is
    a terminal and ``quiet`` is false.
    """
    check_positive_int("steps", steps, minimum=MIN_STEPS)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, got out={describe(out)}")
    use, status = trackers.available(backends)
    with trackers.quiet_library_logs("mlflow" in use):
        return _run(Path(out), steps, quiet, use, status, print_fn or print)


def _run(root: Path, steps: int, quiet: bool, use: set[str], status: dict[str, str], say: Callable[[str], None]) -> DemoResult:
    import paramsched as ps

    every = max(1, steps // 10)
    branch_steps = {f"cooldown-{k}": k for k in (int(f * steps) // every * every for f in BRANCH_AT)}
    csv_runs = {name: root / "runs" / name for name in (PARENT, *branch_steps)}
    _clear(root, csv_runs)
    say(f"paramsched demo: a {steps}-step stable phase and 3 cooldowns, output in {root}")
    for name, text in status.items():
        say(f"  {name}: {text}")
    sources: dict[str, dict[str, str]] = {"csv": {n: os.fspath(p) for n, p in csv_runs.items()}}
    final: dict[str, float] = {}

    recorders, parent_handles = trackers.recorders(PARENT, csv_runs[PARENT], root, use)
    final[PARENT] = train.stable_phase(PEAK_LR, steps, recorders, root / "checkpoints", every, quiet=quiet)
    trackers.sources(parent_handles, PARENT, root, sources)
    plans = {}
    for name, k in branch_steps.items():
        child = ps.branch(csv_runs[PARENT], at_step=k, cooldown=steps // 5, shape="1-sqrt")
        lineage = trackers.with_tracker_ids(child.lineage, parent_handles)  # MLflow: nested under the parent
        recorders, handles = trackers.recorders(name, csv_runs[name], root, use)
        checkpoint = root / "checkpoints" / f"{PARENT}-step{k}.pt"
        final[name] = train.cooldown(child, lineage, recorders, checkpoint, quiet=quiet, name=name)
        trackers.sources(handles, name, root, sources)
        plans[name] = ps.simulate(child.schedules, child.total_steps, groups=["body", "head"])

    runs = {name: ps.replay.load(folder) for name, folder in csv_runs.items()}
    exact = report.branches_continue_parent(runs[PARENT], {n: runs[n] for n in branch_steps}, plans, say)
    identical = report.trackers_identical(runs, sources, say)
    report.final_losses(final, branch_steps, say)
    html, png = report.dashboard(csv_runs, root, f"paramsched demo: a {steps}-step stable phase and its cooldowns")
    report.written(root, sources, html, png, trackers.mlflow_uri(root), say)
    return DemoResult(
        out=root, steps=steps, csv_runs=csv_runs, branch_steps=branch_steps, html=html, png=png,
        final_loss=final, backends=status, sources=sources, branches_exact=exact, backends_identical=identical,
    )


def _clear(root: Path, csv_runs: dict[str, Path]) -> None:
    """Remove what an earlier demo wrote here (CSV runs, checkpoints), so runs start fresh."""
    for folder in csv_runs.values():
        if (folder / "values.csv").is_file():
            shutil.rmtree(folder)
    for old in (root / "checkpoints").glob(f"{PARENT}-step*.pt"):
        old.unlink()
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
