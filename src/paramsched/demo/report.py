"""What the demo checks and says: each branch continues its parent exactly, every tracker's copy
equals the CSV run and names the parent, the final losses, the lineage page, where things are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Say = Callable[[str], None]


def branches_continue_parent(parent: Any, children: dict[str, Any], plans: dict[str, Any], say: Say) -> bool:
    """Whether each child's plan before its branch step is ``==`` the parent's log, and its log
    starts at the branch step from the parent's value there."""
    say("")
    say("branches (values before the branch step are the parent's, bit for bit):")
    exact = True
    for name, child in children.items():
        k = child.lineage["branch_step"]
        plan = plans[name]
        before = plan.loc[: k - 1].equals(parent.frame.loc[: k - 1, plan.columns])
        starts = child.frame.index[0] == k and all(
            child.frame.at[k, c] == parent.frame.at[k, c] for c in child.frame.columns if "/lr/" in c
        )
        exact = exact and before and starts
        say(f"  {name}: steps 0..{k - 1} equal to the parent: {'yes' if before else 'NO'}; "
            f"cooldown from the parent's lr at step {k}: {'yes' if starts else 'NO'}")
    return exact


def trackers_identical(csv_copies: dict[str, Any], sources: dict[str, dict[str, str]], say: Say) -> dict[str, bool]:
    """For each tracker: do all its runs read back ``==`` the CSV copies, with the same lineage?"""
    from paramsched import replay

    identical: dict[str, bool] = {}
    for backend, by_run in sources.items():
        if backend == "csv":
            continue
        same = True
        for run, source in by_run.items():
            copy = replay.load(source)
            values = bool((replay.diff(csv_copies[run], copy)["status"] == "equal").all())
            lineage = (copy.lineage or {}).get("branch_step") == (csv_copies[run].lineage or {}).get("branch_step")
            same = same and values and lineage
        identical[backend] = same
        say(f"  {backend} copies (values and lineage) read back identical to the CSV runs: {'yes' if same else 'NO'}")
    return identical


def final_losses(final: dict[str, float], branch_steps: dict[str, int], say: Say) -> None:
    say("")
    say("final val_loss (the WSD figure: lower for a later branch):")
    for name, value in final.items():
        where = f"branched at step {branch_steps[name]}" if name in branch_steps else "no cooldown"
        say(f"  {name:>14}: {value:.6f}  ({where})")


def dashboard(runs: dict[str, Path], root: Path, title: str) -> tuple[Path, Path]:
    """Write ``compare.html`` and ``compare.png`` (lineage view, loss panels) under ``root``."""
    import paramsched as ps

    html_path, png_path = root / "compare.html", root / "compare.png"
    ps.dashboard.compare(
        runs, html_path, png=png_path, title=title, progress=False, metrics=["val_loss", "loss"], lineage=True,
    )
    return html_path, png_path


def written(root: Path, sources: dict[str, dict[str, str]], html: Path, png: Path, mlflow_uri: str, say: Say) -> None:
    """Say where every run, the dashboard and the follow-up commands are."""
    say("")
    say("wrote:")
    for backend, by_run in sources.items():
        for name, source in by_run.items():
            say(f"  {backend} run {name}: {source}")
    say(f"  checkpoints: {root / 'checkpoints'}")
    if "mlflow" in sources:
        say(f"  MLflow UI: mlflow ui --backend-store-uri {mlflow_uri}")
    if "wandb" in sources:
        say(f"  W&B upload (optional): wandb sync {root / 'wandb' / 'wandb'}/offline-run-*")
    say(f"  dashboard: {html}  (open it in a browser; it works offline)")
    say(f"  dashboard image: {png}")
    folders = " ".join(sources["csv"].values())
    say(f"  compare again: paramsched compare {folders} --metric val_loss -o compare.html")
