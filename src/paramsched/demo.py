"""The demo (``paramsched demo``, ``make demo``): schedule, record, replay, compare.

It trains a tiny regression MLP (two named param groups, AdamW) twice on
CPU, deterministically (``torch.manual_seed``):

1. **baseline**: WarmupStableDecay on ``lr`` (the head group gets a 3x peak
   through ``overrides``), a beta1 warmup (``betas.0`` from 0.85 to 0.95 over
   the first quarter) and a cosine weight decay;
2. **ablation**: the baseline's ``lr`` *replayed* from its CSV log
   (``replay.load(baseline).schedules(keys=["lr"])``), the same beta1
   warmup, and a constant weight decay instead of the cosine.

Both runs are recorded to CSV, and to MLflow (a sqlite file and its artifacts
under the output folder) and W&B (offline, under the output folder) when ``paramsched-mlflow``
/ ``paramsched-wandb`` are installed. It then checks that the replayed lr is
bit-for-bit the baseline's, that every backend read back the same values,
and writes the compare dashboard (HTML + PNG).

>>> from paramsched.demo import run_demo
>>> result = run_demo("paramsched-demo", steps=100, quiet=True)   # doctest: +SKIP
>>> result.html                                                   # doctest: +SKIP
PosixPath('paramsched-demo/compare.html')
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paramsched.checks import check_positive_int, describe

DEFAULT_STEPS = 400
MIN_STEPS = 20
SEED = 0
EXPERIMENT = "paramsched-demo"
RUNS = ("baseline", "ablation")


@dataclasses.dataclass
class DemoResult:
    """What the demo wrote and measured."""

    out: Path
    steps: int
    csv_runs: dict[str, Path]
    html: Path
    png: Path
    final_loss: dict[str, float]
    backends: dict[str, str]  # backend -> "used: where" or "skipped: why"
    sources: dict[str, dict[str, str]]  # backend -> run -> source string for replay.load
    lr_replayed_exactly: bool
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
    say = print_fn or print
    available, status = _backends(backends)
    with _library_logs_at_warning("mlflow" in available):
        return _run(out, steps, quiet, available, status, say)


def _run(
    out: str | os.PathLike[str],
    steps: int,
    quiet: bool,
    available: set[str],
    status: dict[str, str],
    say: Callable[[str], None],
) -> DemoResult:
    import paramsched as ps
    from paramsched import replay

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    runs_dir = root / "runs"
    for name in RUNS:
        _clear_csv_run(runs_dir / name)
    say(f"paramsched demo: {steps} steps per run, output in {root}")
    for name, text in status.items():
        say(f"  {name}: {text}")

    csv_runs = {name: runs_dir / name for name in RUNS}
    sources: dict[str, dict[str, str]] = {"csv": {n: os.fspath(p) for n, p in csv_runs.items()}}
    final_loss: dict[str, float] = {}

    # 1. baseline ----------------------------------------------------------------------
    baseline_schedules: dict[Any, Any] = {
        "lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3),
        "betas.0": ps.Warmup(ps.Constant(0.95), steps=0.25, start=0.85),
        "weight_decay": ps.Cosine(0.1, 0.0),
    }
    overrides = {"head": {"lr": ps.WarmupStableDecay(9e-3, warmup=0.1, decay=0.3)}}
    recorders, handles = _recorders("baseline", csv_runs["baseline"], root, available)
    final_loss["baseline"] = _train(
        "baseline", baseline_schedules, steps, recorders, overrides=overrides, quiet=quiet
    )
    _collect_sources(handles, "baseline", root, sources)

    # 2. ablation: replay the baseline's lr, change the weight decay --------------------
    baseline = replay.load(csv_runs["baseline"])
    ablation_schedules: dict[Any, Any] = {
        **baseline.schedules(keys=["lr"]),  # {("lr", "body"): ReplaySchedule, ("lr", "head"): ...}
        "betas.0": baseline_schedules["betas.0"],
        "weight_decay": ps.Constant(0.1),
    }
    recorders, handles = _recorders("ablation", csv_runs["ablation"], root, available)
    final_loss["ablation"] = _train("ablation", ablation_schedules, steps, recorders, quiet=quiet)
    _collect_sources(handles, "ablation", root, sources)

    # 3. check: lr replayed exactly, every backend holds the same values -------------
    ablation = replay.load(csv_runs["ablation"])
    table = replay.diff(baseline, ablation)
    lr_rows = table[[str(i).startswith("hp/lr/") for i in table.index]]
    lr_exact = bool(len(lr_rows)) and bool((lr_rows["status"] == "equal").all())
    say("")
    say("baseline vs ablation (first divergence per series):")
    for series, row in table.iterrows():
        if row["status"] == "equal":
            say(f"  {series}: identical")
        else:
            say(f"  {series}: differs from step {row['first_diverging_step']}")
    say(f"  lr replayed bit-for-bit from the baseline's CSV log: {'yes' if lr_exact else 'NO'}")
    identical: dict[str, bool] = {}
    for backend, by_run in sources.items():
        if backend == "csv":
            continue
        same = True
        for run, source in by_run.items():
            csv_copy = baseline if run == "baseline" else ablation
            # same series (in any column order), same steps, values == at every step
            same = same and bool((replay.diff(csv_copy, replay.load(source))["status"] == "equal").all())
        identical[backend] = same
        say(f"  {backend} copies read back identical to the CSV runs: {'yes' if same else 'NO'}")
    for name in RUNS:
        say(f"  final training loss, {name}: {final_loss[name]:.6f}")

    # 4. dashboard ---------------------------------------------------------------------
    html_path, png_path = root / "compare.html", root / "compare.png"
    ps.dashboard.compare(
        {name: csv_runs[name] for name in RUNS}, html_path, png=png_path,
        title="paramsched demo: baseline vs ablation (lr replayed, weight decay changed)",
        progress=False,
    )
    say("")
    say("wrote:")
    for name in RUNS:
        say(f"  CSV run {name}: {csv_runs[name]}")
    for backend, by_run in sources.items():
        if backend == "csv":
            continue
        for name, source in by_run.items():
            say(f"  {backend} run {name}: {source}")
    if "mlflow" in sources:
        say(f"  MLflow UI: mlflow ui --backend-store-uri {_mlflow_uri(root)}")
    if "wandb" in sources:
        say(f"  W&B upload (optional): wandb sync {root / 'wandb' / 'wandb'}/offline-run-*")
    say(f"  dashboard: {html_path}  (open it in a browser; it works offline)")
    say(f"  dashboard image: {png_path}")
    say(f"  compare again: paramsched compare {csv_runs['baseline']} {csv_runs['ablation']} -o compare.html")
    return DemoResult(
        out=root, steps=steps, csv_runs=csv_runs, html=html_path, png=png_path,
        final_loss=final_loss, backends=status, sources=sources,
        lr_replayed_exactly=lr_exact, backends_identical=identical,
    )


# -- training ---------------------------------------------------------------------------


def _train(
    name: str,
    schedules: dict[Any, Any],
    steps: int,
    recorders: list[Any],
    *,
    overrides: dict[str, Any] | None = None,
    quiet: bool,
) -> float:
    """Train the tiny model for ``steps`` updates under ``schedules``; the last batch loss."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and fair to a shared machine
    try:
        return _train_loop(name, schedules, steps, recorders, overrides, quiet)
    finally:
        torch.set_num_threads(threads)


def _train_loop(
    name: str,
    schedules: dict[Any, Any],
    steps: int,
    recorders: list[Any],
    overrides: dict[str, Any] | None,
    quiet: bool,
) -> float:
    import torch

    import paramsched as ps

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    inputs = torch.randn(1024, 16, generator=generator)
    weights = torch.randn(16, 1, generator=generator)
    targets = torch.tanh(inputs @ weights) + 0.05 * torch.randn(1024, 1, generator=generator)
    body = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 64), torch.nn.GELU())
    head = torch.nn.Linear(64, 1)
    model = torch.nn.Sequential(body, head)
    optimizer = torch.optim.AdamW(
        [{"params": body.parameters(), "name": "body"}, {"params": head.parameters(), "name": "head"}],
        lr=1e-3, weight_decay=0.1,
    )
    loss = torch.tensor(float("nan"))
    with ps.ParamScheduler(
        optimizer, schedules, total_steps=steps, overrides=overrides, recorders=recorders
    ) as scheduler:
        for _ in _progress(range(steps), quiet, f"{name:>8}"):
            index = torch.randint(0, inputs.shape[0], (64,), generator=generator)
            loss = torch.nn.functional.mse_loss(model(inputs[index]), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return float(loss.detach())


def _progress(items: range, quiet: bool, desc: str) -> Any:
    if quiet or not sys.stderr.isatty():
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="step", leave=True)


# -- backends -------------------------------------------------------------------------------


@contextlib.contextmanager
def _library_logs_at_warning(mlflow: bool) -> Iterator[None]:
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


def _backends(wanted: tuple[str, ...]) -> tuple[set[str], dict[str, str]]:
    """Which optional trackers to use, and a line per tracker saying why (not)."""
    status = {"csv": "used (always)"}
    available: set[str] = set()
    for name, package, sdk in (("mlflow", "paramsched_mlflow", "mlflow"), ("wandb", "paramsched_wandb", "wandb")):
        if name not in wanted:
            status[name] = "skipped: not requested"
        elif importlib.util.find_spec(package) is None:
            status[name] = f"skipped: {package} is not installed (pip install paramsched-{name})"
        elif importlib.util.find_spec(sdk) is None:
            status[name] = f"skipped: the {sdk} package is not installed (pip install {sdk})"
        else:
            available.add(name)
            status[name] = "used"
    return available, status


def _mlflow_uri(root: Path) -> str:
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def _recorders(name: str, csv_dir: Path, root: Path, available: set[str]) -> tuple[list[Any], dict[str, Any]]:
    recorders: list[Any] = [f"csv:{csv_dir}"]
    handles: dict[str, Any] = {}
    if "mlflow" in available:
        from paramsched_mlflow import MlflowRecorder

        _mlflow_experiment(root)
        handles["mlflow"] = MlflowRecorder(
            tracking_uri=_mlflow_uri(root), experiment=EXPERIMENT, run_name=name, on_error="raise"
        )
    if "wandb" in available:
        from paramsched_wandb import WandbRecorder

        handles["wandb"] = WandbRecorder(
            project=EXPERIMENT, name=name, dir=root / "wandb", mode="offline", on_error="raise",
            init_kwargs={"settings": _wandb_settings()},
        )
    recorders.extend(handles.values())
    return recorders, handles


def _mlflow_experiment(root: Path) -> None:
    """Create the demo's MLflow experiment with its artifacts under ``root``.

    With a sqlite store MLflow's default artifact root is ``./mlruns`` of the
    current directory; the demo keeps everything it writes inside ``root``.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=_mlflow_uri(root))
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=(root / "mlflow-artifacts").resolve().as_uri())


def _wandb_settings() -> Any:
    import wandb

    return wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True)


def _collect_sources(handles: dict[str, Any], name: str, root: Path, sources: dict[str, dict[str, str]]) -> None:
    """Where each backend put run ``name``, as a string ``replay.load`` reads."""
    if "mlflow" in handles:
        run_id = handles["mlflow"].run_id
        uri = _mlflow_uri(root)
        sources.setdefault("mlflow", {})[name] = f"mlflow://{run_id}?tracking_uri={uri}"
    if "wandb" in handles:
        run = handles["wandb"].run
        matches = sorted((root / "wandb").glob(f"wandb/offline-run-*-{run.id}"))
        if not matches:
            raise FileNotFoundError(f"the W&B offline run {run.id} is not under {root / 'wandb'}")
        sources.setdefault("wandb", {})[name] = os.fspath(matches[-1])


def _clear_csv_run(folder: Path) -> None:
    """Remove a CSV run the demo wrote before (a folder holding values.csv), so runs start fresh."""
    if folder.is_dir() and (folder / "values.csv").is_file():
        shutil.rmtree(folder)

