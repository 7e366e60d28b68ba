"""What a real Lightning run writes through each of its loggers replays into a fresh ParamScheduler.

Two tiny CPU runs, each logging to a CSVLogger, a WandbLogger (offline), an
MLFlowLogger (sqlite) and a TensorBoardLogger at once:

- with paramsched's callback: every logger's log loads with
  ``ps.replay.load(...)`` and no keymap, ``==`` at every step;
- without it, with Lightning's ``LearningRateMonitor`` and a torch
  ``OneCycleLR``: every log loads with ``keymap="lightning"`` (or ``"auto"``);
  TensorBoard's float32 is within float32 rounding and said so in the notes.

The replayed values are compared with what the optimizer used at each
update (read by a step pre-hook), not with what the schedule says.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger

import paramsched as ps
from paramsched.runformat import read_metadata
from paramsched_lightning import ParamSchedulerCallback
from paramsched_lightning.loggers import EVERY_KEY

_spec = importlib.util.spec_from_file_location("_pl_conftest", Path(__file__).with_name("conftest.py"))
conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conf)

pytest.importorskip("mlflow")
pytest.importorskip("paramsched_tensorboard")
pytest.importorskip("paramsched_wandb")
pytest.importorskip("paramsched_mlflow")

STEPS = 24  # 6 epochs of 4 batches
KINDS = ("csv", "wandb", "mlflow", "tensorboard")
SCHEDULES = {
    "lr": ps.WarmupStableDecay(1e-2, warmup=3, decay=0.5),
    "weight_decay": ps.Cosine(0.1, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}
OVERRIDES = {"head": {"lr": ps.Cosine(3e-3, 0.0)}}
KEYS = {"lr": 0, "weight_decay": 1, "betas.0": 2}  # position in TinyModule.applied's tuples


@dataclass
class Run:
    """One fit, its loggers and where each one's log is."""

    model: conf.TinyModule
    targets: dict[str, str] = field(default_factory=dict)
    callback: ParamSchedulerCallback | None = None


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite store for the module's runs (creating a store's schema takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _fit(root: Path, callbacks: list, model: conf.TinyModule, uri: str, **options: Any) -> Run:
    loggers = {
        "csv": CSVLogger(root, name="csv"),
        "wandb": WandbLogger(project="paramsched-tests", save_dir=str(root), offline=True),
        "mlflow": MLFlowLogger(experiment_name="lightning", tracking_uri=uri, artifact_location=str(root / "artifacts")),
        "tensorboard": TensorBoardLogger(root, name="tb"),
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(Experiment logs directory|anonymous setting|log_every_n_steps).*")
        trainer = conf.trainer(root, callbacks, max_steps=STEPS, logger=list(loggers.values()), **options)
        trainer.fit(model, conf.make_data())
    run = Run(model)
    run.targets = {
        "csv": str(Path(loggers["csv"].log_dir) / "metrics.csv"),
        "wandb": str(Path(loggers["wandb"].experiment.dir).parent),
        "mlflow": f"mlflow://{loggers['mlflow'].run_id}?tracking_uri={uri}",
        "tensorboard": str(loggers["tensorboard"].log_dir),
    }
    loggers["wandb"].experiment.finish()
    return run


@pytest.fixture(scope="module")
def paramsched_run(tmp_path_factory: pytest.TempPathFactory, offline_wandb: Path, mlflow_uri: str) -> Run:
    callback = ParamSchedulerCallback(SCHEDULES, overrides=OVERRIDES)
    run = _fit(tmp_path_factory.mktemp("callback"), [callback], conf.TinyModule(), mlflow_uri)
    run.callback = callback
    return run


class _OneCycle(conf.TinyModule):
    """lr and betas[0] driven by torch's OneCycleLR, stepped by Lightning after each update."""

    def __init__(self, total_steps: int = STEPS) -> None:
        super().__init__()
        self.total_steps = total_steps

    def configure_optimizers(self) -> Any:
        opt = super().configure_optimizers()
        for group in opt.param_groups:
            group["weight_decay"] = 0.03
        cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1e-2, 3e-3], total_steps=self.total_steps + 1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": cycle, "interval": "step"}}


@pytest.fixture(scope="module")
def monitor_run(tmp_path_factory: pytest.TempPathFactory, offline_wandb: Path, mlflow_uri: str) -> Run:
    monitor = LearningRateMonitor(logging_interval="step", log_momentum=True, log_weight_decay=True)
    return _fit(tmp_path_factory.mktemp("monitor"), [monitor], _OneCycle(), mlflow_uri)


def _replay(traj: ps.replay.Trajectory) -> list[dict[str, tuple[float, float, float]]]:
    """The (lr, weight_decay, betas[0]) of each group of a fresh optimizer driven by the replay."""
    opt = conf.TinyModule().configure_optimizers()
    sched = ps.ParamScheduler(opt, traj.schedules(), total_steps=STEPS)
    seen = []
    for _ in range(STEPS):
        seen.append({g["name"]: (g["lr"], g["weight_decay"], g["betas"][0]) for g in opt.param_groups})
        sched.step()
    return seen


def _logged(traj: ps.replay.Trajectory, key: str, group: str) -> list[float]:
    steps, values = traj.values(f"hp/{key}/{group}")
    assert steps.tolist() == list(range(STEPS)), f"{traj.source}: hp/{key}/{group} logged at {steps.tolist()}"
    return values.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_callbacks_logs_replay_exactly_with_no_keymap(paramsched_run: Run, kind: str) -> None:
    traj = ps.replay.load(paramsched_run.targets[kind])
    used = paramsched_run.model.applied
    assert len(used) == STEPS
    assert sorted(traj.series) == sorted(paramsched_run.callback.scheduler.series)
    for key, i in KEYS.items():
        for group in ("body", "head"):
            assert _logged(traj, key, group) == [u[group][i] for u in used], (kind, key, group)
    assert _replay(traj) == used
    assert not [n for n in traj.notes if "float32" in n]
    assert traj.metadata["total_steps"] == STEPS and traj.metadata[EVERY_KEY] == 1
    rebuilt = ps.replay.rebuild(traj)
    assert rebuilt.ok, (rebuilt.mismatches, rebuilt.unavailable)


def test_the_csv_logger_dir_holds_the_run_metadata(paramsched_run: Run) -> None:
    folder = Path(paramsched_run.targets["csv"]).parent
    metadata = read_metadata(folder / "run.json")
    assert metadata["series"] == paramsched_run.callback.scheduler.series
    assert metadata[EVERY_KEY] == 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_lightnings_lr_monitor_logs_replay_with_the_lightning_keymap(monitor_run: Run, kind: str) -> None:
    traj = ps.replay.load(monitor_run.targets[kind], keymap="lightning")
    used = monitor_run.model.applied
    assert sorted(traj.series) == sorted(f"hp/{k}/{g}" for k in KEYS for g in ("body", "head"))
    replayed = _replay(traj)
    if kind != "tensorboard":
        for key, i in KEYS.items():
            for group in ("body", "head"):
                assert _logged(traj, key, group) == [u[group][i] for u in used], (kind, key, group)
        assert replayed == used
        return
    # TensorBoard stores add_scalar's float32: the float32 rounding of each value, and said so
    assert any("float32" in note and "never with ==" in note for note in traj.notes), traj.notes
    for key, i in KEYS.items():
        for group in ("body", "head"):
            want = np.array([u[group][i] for u in used])
            got = np.array(_logged(traj, key, group))
            assert (got == want.astype(np.float32).astype(np.float64)).all(), (key, group)
            assert (np.abs(got - want) <= np.abs(want) * 2.0**-24).all()
    flat = np.array([[v for g in ("body", "head") for v in r[g]] for r in replayed])
    assert (flat == np.array([[v for g in ("body", "head") for v in u[g]] for u in used]).astype(np.float32)).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_keymap_auto_finds_the_lr_monitor_columns(monitor_run: Run, kind: str) -> None:
    traj = ps.replay.load(monitor_run.targets[kind], keymap="auto")
    assert any("lightning" in note for note in traj.notes), traj.notes
    lightning = ps.replay.load(monitor_run.targets[kind], keymap="lightning")
    assert traj.frame.equals(lightning.frame)
    if kind == "tensorboard":
        assert any("float32" in note for note in traj.notes), traj.notes
    else:
        assert _replay(traj) == monitor_run.model.applied


def test_a_sparse_logger_stream_is_exact_where_logged_and_says_so(tmp_path: Path) -> None:
    callback = ParamSchedulerCallback(SCHEDULES, overrides=OVERRIDES)
    csv_logger, tb_logger = CSVLogger(tmp_path, name="csv"), TensorBoardLogger(tmp_path, name="tb")
    model = conf.TinyModule()
    conf.trainer(tmp_path, [callback], max_steps=20, logger=[csv_logger, tb_logger], log_every_n_steps=5).fit(
        model, conf.make_data()
    )
    for target in (Path(csv_logger.log_dir) / "metrics.csv", tb_logger.log_dir):
        traj = ps.replay.load(target)
        assert traj.frame.index.tolist() == [4, 9, 14, 19]
        for k in (4, 9, 14, 19):
            assert traj.frame.loc[k].to_dict() == callback.scheduler.values_at(k)
        # a chart, not lost rows: the note says how to log a record instead
        assert any("every 5 steps" in n and "log_every_n_steps=1" in n for n in traj.notes), traj.notes
        assert not any("lost" in note for note in traj.notes), traj.notes
        with pytest.raises(ValueError, match=r"every 5 steps from step 4.*see traj.notes.*no value recorded before step 4"):
            ps.ParamScheduler(conf.TinyModule().configure_optimizers(), traj.schedules(), total_steps=20)
        assert ps.replay.load(target).metadata[EVERY_KEY] == 5


@pytest.mark.slow
def test_lightnings_default_log_every_n_steps_gives_a_replay_that_says_to_log_every_step(tmp_path: Path) -> None:
    """Lightning's defaults (log_every_n_steps=50), LearningRateMonitor and a CSVLogger: one row in 50."""
    steps = 60
    logger = CSVLogger(tmp_path, name="csv")
    monitor = LearningRateMonitor(logging_interval="step")
    trainer = conf.trainer(tmp_path, [monitor], max_steps=steps, logger=logger, log_every_n_steps=50)
    trainer.fit(_OneCycle(total_steps=steps), conf.make_data())
    traj = ps.replay.load(Path(logger.log_dir) / "metrics.csv", keymap="lightning")
    assert traj.frame.index.tolist() == [49]
    assert any("Trainer(log_every_n_steps=1)" in note for note in traj.notes), traj.notes
    with pytest.raises(ValueError, match=r"starts late: .*49.*see traj.notes.*no value recorded before step 49"):
        ps.ParamScheduler(conf.TinyModule().configure_optimizers(), traj.schedules(), total_steps=steps)
    # filled at load time: marked as interpolated, never as the run's values
    filled = ps.replay.load(Path(logger.log_dir) / "metrics.csv", keymap="lightning", gaps="previous", before_start="first")
    assert any("interpolated" in note for note in filled.notes), filled.notes
