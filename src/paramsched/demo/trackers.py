"""Where the demo records: CSV always, MLflow (sqlite under the output folder) and W&B (offline)
when their integration packages are installed; and how to read each run back.

The four runs of the family share an MLflow experiment (the branches nested
under the stable run) and a W&B group.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXPERIMENT = "paramsched-demo"
GROUP = "wsd-family"


def available(wanted: tuple[str, ...]) -> tuple[set[str], dict[str, str]]:
    """Which optional trackers to use, and a line per tracker saying why (not)."""
    status = {"csv": "used (always)"}
    found: set[str] = set()
    for name, package, sdk in (("mlflow", "paramsched_mlflow", "mlflow"), ("wandb", "paramsched_wandb", "wandb")):
        if name not in wanted:
            status[name] = "skipped: not requested"
        elif importlib.util.find_spec(package) is None:
            status[name] = f"skipped: {package} is not installed (pip install paramsched-{name})"
        elif importlib.util.find_spec(sdk) is None:
            status[name] = f"skipped: the {sdk} package is not installed (pip install {sdk})"
        else:
            found.add(name)
            status[name] = "used"
    return found, status


@contextlib.contextmanager
def quiet_library_logs(mlflow: bool) -> Iterator[None]:
    """Hide MLflow's / alembic's INFO lines (database creation) while the demo runs."""
    if mlflow:
        import mlflow  # noqa: F401 - its import sets its loggers' levels; set ours after it

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def mlflow_uri(root: Path) -> str:
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def recorders(name: str, csv_dir: Path, root: Path, use: set[str]) -> tuple[list[Any], dict[str, Any]]:
    """The recorders of run ``name`` (CSV first), and the tracker recorders by backend."""
    found: list[Any] = [f"csv:{csv_dir}"]
    handles: dict[str, Any] = {}
    if "mlflow" in use:
        from paramsched_mlflow import MlflowRecorder

        _mlflow_experiment(root)
        handles["mlflow"] = MlflowRecorder(
            tracking_uri=mlflow_uri(root), experiment=EXPERIMENT, run_name=name, on_error="raise"
        )
    if "wandb" in use:
        import wandb

        from paramsched_wandb import WandbRecorder

        settings = wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True)
        handles["wandb"] = WandbRecorder(
            project=EXPERIMENT, name=name, dir=root / "wandb", mode="offline", on_error="raise",
            init_kwargs={"settings": settings, "group": GROUP},
        )
    found.extend(handles.values())
    return found, handles


def _mlflow_experiment(root: Path) -> None:
    """Create the demo's MLflow experiment with its artifacts under ``root`` (not ``./mlruns``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(root))
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=(root / "mlflow-artifacts").resolve().as_uri())


def sources(handles: dict[str, Any], name: str, root: Path, found: dict[str, dict[str, str]]) -> None:
    """Add where each tracker put run ``name`` to ``found``, as a string ``replay.load`` reads."""
    if "mlflow" in handles:
        run_id = handles["mlflow"].run_id
        found.setdefault("mlflow", {})[name] = f"mlflow://{run_id}?tracking_uri={mlflow_uri(root)}"
    if "wandb" in handles:
        run = handles["wandb"].run
        matches = sorted((root / "wandb").glob(f"wandb/offline-run-*-{run.id}"))
        if not matches:
            raise FileNotFoundError(f"the W&B offline run {run.id} is not under {root / 'wandb'}")
        found.setdefault("wandb", {})[name] = os.fspath(matches[-1])


def with_tracker_ids(lineage: dict[str, Any], handles: dict[str, Any]) -> dict[str, Any]:
    """A branch's lineage naming its parent's MLflow run id, so MLflow nests the branch under it."""
    if "mlflow" in handles and handles["mlflow"].run_id:
        return {**lineage, "run_id": handles["mlflow"].run_id}
    return lineage
