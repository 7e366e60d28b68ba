"""Real Trainer runs that paramsched did not record, replayed exactly (issue 12, items 1-4, 9).

One Trainer run uses its own optimizer (AdamW with the decay / no-decay groups) and its own
cosine-with-warmup scheduler, and reports to MLflow (a ``sqlite:///`` store), W&B (offline) and
TensorBoard at once; a callback notes the lr of both groups right before every optimizer
update. Each of its logs (``trainer_state.json`` in a checkpoint folder, the MLflow run, the
W&B run directory, the TensorBoard event file) replays into a fresh ``ParamScheduler``: the lr
of every update in every group, ``==`` (TensorBoard: float32, within float32 rounding, and
flagged in the notes).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainerCallback

import paramsched as ps

_spec = importlib.util.spec_from_file_location("_hf_helpers", Path(__file__).with_name("helpers.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slow  # one real Trainer run (about 10 s with its three trackers), shared by the module

UPDATES = 30
EXPERIMENT = "paramsched-hf-foreign"
# Offline W&B, writing under the test's own directory and reaching nothing.
_WANDB_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_MACHINE_INFO": "true",
    "WANDB_X_SAVE_REQUIREMENTS": "false",
    "WANDB_DISABLE_JOB_CREATION": "true",
    "WANDB_PROJECT": "paramsched-hf",
}
_WANDB_UNSET = ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_BASE_URL", "WANDB_NAME")


class TinyConfig(PretrainedConfig):
    model_type = "paramsched-tiny"


class TinyPretrained(PreTrainedModel):
    """helpers.TinyRegressor as a ``PreTrainedModel``: its checkpoints hold a ``config.json``
    naming the transformers version, as every Hub model's do."""

    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.net = helpers.TinyRegressor()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.net(x, labels)


class AppliedLr(TrainerCallback):
    """The lr of every param group right before each optimizer update."""

    def __init__(self) -> None:
        self.used: list[list[float]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        self.used.append([group["lr"] for group in optimizer.param_groups])


class Run:
    """What the fixture's Trainer run left: its logs and the lrs it applied."""

    def __init__(self, out: Path, used: list[list[float]], log_history: list[dict], *,
                 mlflow_uri: str | None, wandb_dir: Path | None, tensorboard_dir: Path | None) -> None:
        self.out, self.used, self.log_history = out, used, log_history
        self.mlflow_uri, self.wandb_dir, self.tensorboard_dir = mlflow_uri, wandb_dir, tensorboard_dir

    @property
    def lr(self) -> list[float]:
        return [u[0] for u in self.used]


def _reporters() -> list[str]:
    """The trackers whose SDK and paramsched source (paramsched-mlflow, ...) are both installed."""
    return [
        name for name in ("mlflow", "wandb", "tensorboard")
        if importlib.util.find_spec(name) and importlib.util.find_spec(f"paramsched_{name}")
    ]


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("hf")
    reporters = _reporters()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _WANDB_ENV.items():
            mp.setenv(key, value)
        for key in _WANDB_UNSET:
            mp.delenv(key, raising=False)
        for key, sub in (("WANDB_DIR", "wandb"), ("WANDB_CONFIG_DIR", "wandb-config"), ("WANDB_CACHE_DIR", "wandb-cache"),
                         ("WANDB_DATA_DIR", "wandb-data")):
            (root / sub).mkdir()
            mp.setenv(key, os.fspath(root / sub))
        mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
        mp.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        mp.setenv("TENSORBOARD_LOGGING_DIR", os.fspath(root / "tensorboard"))
        if "wandb" in reporters:
            import wandb

            wandb.teardown()  # wandb caches its settings per process
        spy = AppliedLr()
        args = helpers.training_args(
            root / "out", max_steps=UPDATES, learning_rate=1e-2, weight_decay=0.1, lr_scheduler_type="cosine",
            warmup_steps=5, save_steps=10, eval_strategy="steps", eval_steps=10, per_device_eval_batch_size=4,
            report_to=reporters or "none",
        )
        trainer = Trainer(
            model=TinyPretrained(TinyConfig()), args=args, train_dataset=helpers.TinyDataset(),
            eval_dataset=helpers.TinyDataset(), callbacks=[spy],
        )
        trainer.train()
        trainer.save_state()  # out/trainer_state.json, with the end-of-training summary row
        wandb_dir = None
        if "wandb" in reporters:
            import wandb

            wandb_dir = Path(wandb.run.dir).parent  # the offline run directory (run.dir is its files/)
            wandb.finish()  # read right away: the source waits for wandb-core's exit record
            wandb.teardown()
        if "mlflow" in reporters:
            import mlflow

            mlflow.set_tracking_uri(None)  # back to the default: leave no process-wide URI behind
        assert len(trainer.optimizer.param_groups) == 2 and len(spy.used) == UPDATES
        assert trainer.optimizer.param_groups[1]["weight_decay"] == 0.0  # the no-decay group
        yield Run(
            root / "out", spy.used, trainer.state.log_history,
            mlflow_uri=mlflow_uri if "mlflow" in reporters else None,
            wandb_dir=wandb_dir,
            tensorboard_dir=root / "tensorboard" if "tensorboard" in reporters else None,
        )


def replay(schedules: dict, used: list[list[float]]) -> list[list[float]]:
    """Run a fresh AdamW with two groups under ``schedules``; the lr of each group at each update."""
    decay, no_decay = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW(
        [{"params": [decay], "weight_decay": 0.1}, {"params": [no_decay], "weight_decay": 0.0}], lr=1.0
    )
    sched = ps.ParamScheduler(opt, schedules, total_steps=len(used))
    seen = []
    for _ in used:
        seen.append([group["lr"] for group in opt.param_groups])
        decay.grad, no_decay.grad = torch.ones(3), torch.ones(2)
        opt.step()
        sched.step()
    return seen


def test_trainer_state_replays_the_lr_of_every_update_in_every_group(hf_run):
    used = hf_run.used
    traj = ps.replay.load(hf_run.out / "checkpoint-30")
    assert traj.frame.index.tolist() == list(range(UPDATES))
    assert traj.frame["hp/lr/g0"].tolist() == hf_run.lr  # update k, not k + 1
    assert used[0][0] == 0.0 and used[5][0] == 1e-2  # the warmup is in the log, from update 0
    # the checkpoint's config.json says which transformers wrote the log, hence its convention
    version = transformers.__version__
    assert any(f"written by transformers {version}: the lr of update k is logged at global_step k + 1" in note
               for note in traj.notes)
    assert replay(traj.schedules(groups="broadcast"), used) == used
    assert replay(traj.schedules(groups={"g0": ["g0", "g1"]}), used) == used  # the same, said explicitly


def test_the_group_hf_does_not_log_is_an_error_at_construction(hf_run):
    traj = ps.replay.load(hf_run.out / "checkpoint-30")
    with pytest.raises(ValueError, match=r"group\(s\) \['g1'\] have no replayed series for 'lr'.*groups='broadcast'"):
        replay(traj.schedules(), hf_run.used)


def test_the_output_dir_its_summary_row_and_metrics(hf_run):
    out, log_history = hf_run.out, hf_run.log_history
    traj = ps.replay.load(out)  # trainer.save_state()'s file, holding the summary row
    assert traj.source == str(out / "trainer_state.json")
    assert traj.frame["hp/lr/g0"].tolist() == hf_run.lr
    assert not any("more than once" in note for note in traj.notes)  # issue 12.9: the summary row
    assert any("'train_runtime'" in note and "not per-step metrics" in note for note in traj.notes)
    losses = {e["step"] - 1: e["loss"] for e in log_history if "loss" in e}
    evals = {e["step"] - 1: e["eval_loss"] for e in log_history if "eval_loss" in e}
    assert traj.metrics["loss"].to_dict() == losses
    assert traj.metrics["eval_loss"].dropna().to_dict() == evals == {9: evals[9], 19: evals[19], 29: evals[29]}
    assert "train_loss" not in traj.metrics.columns
    twenty = ps.replay.load(out / "checkpoint-20" / "trainer_state.json")
    assert twenty.frame["hp/lr/g0"].tolist() == hf_run.lr[:20]
    assert "trainer_state.json: a checkpoint at global_step 20 of max_steps 30" in twenty.notes


def _tracker_source(hf_run: Run, tracker: str) -> str:
    if tracker == "mlflow":
        if hf_run.mlflow_uri is None:
            pytest.skip("mlflow or paramsched-mlflow is not installed")
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=hf_run.mlflow_uri)
        (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
        assert run.info.status == "FINISHED"
        return f"mlflow://{run.info.run_id}?tracking_uri={hf_run.mlflow_uri}"
    folder = hf_run.wandb_dir if tracker == "wandb" else hf_run.tensorboard_dir
    if folder is None:
        pytest.skip(f"{tracker} or paramsched-{tracker} is not installed")
    return os.fspath(folder)


@pytest.mark.parametrize("keymap", ["hf", "auto"])
@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_report_to_mlflow_and_wandb_replays_every_update_exactly(hf_run, tracker, keymap):
    traj = ps.replay.load(_tracker_source(hf_run, tracker), keymap=keymap)
    assert traj.frame.index.tolist() == list(range(UPDATES))
    assert traj.frame["hp/lr/g0"].tolist() == hf_run.lr  # update k's lr at step k, ==
    # the Trainer logged the model config (an MLflow param, W&B config): its version sets the convention
    version = transformers.__version__
    assert any(f"written by transformers {version}: the lr of update k is logged at global_step k + 1" in note
               for note in traj.notes), traj.notes
    assert any("read this log as a Hugging Face Trainer log" in note for note in traj.notes) == (keymap == "auto")
    assert not any("float32" in note or "more than once" in note for note in traj.notes)
    # the metrics are on the same (shifted) step axis as the values
    losses = {e["step"] - 1: e["loss"] for e in hf_run.log_history if "loss" in e}
    assert traj.metrics["loss"].dropna().to_dict() == losses
    assert traj.metrics["eval_loss"].dropna().index.tolist() == [9, 19, 29]
    assert not {"train_runtime", "train_loss", "total_flos"} & set(traj.metrics.columns)  # the run's summary
    assert not any("are not series: not read" in note for note in traj.notes)  # they are metrics
    assert replay(traj.schedules(groups="broadcast"), hf_run.used) == hf_run.used


@pytest.mark.parametrize("keymap", ["hf", "auto"])
def test_report_to_tensorboard_replays_the_float32_log_and_says_so(hf_run, keymap):
    traj = ps.replay.load(_tracker_source(hf_run, "tensorboard"), keymap=keymap)
    assert traj.frame.index.tolist() == list(range(UPDATES))
    as_float32 = [float(np.float32(lr)) for lr in hf_run.lr]
    assert traj.frame["hp/lr/g0"].tolist() == as_float32  # float32 rounding of update k's lr, at step k
    assert traj.frame["hp/lr/g0"].tolist() != hf_run.lr  # and not the float64 values: never claimed ==
    assert any("float32" in note and "never with ==" in note for note in traj.notes)
    version = transformers.__version__  # from the model config the Trainer wrote as a text summary
    assert any(f"written by transformers {version}: the lr of update k is logged at global_step k + 1" in note
               for note in traj.notes), traj.notes
    losses = {e["step"] - 1: float(np.float32(e["loss"])) for e in hf_run.log_history if "loss" in e}
    assert traj.metrics["loss"].dropna().to_dict() == losses
    replayed = replay(traj.schedules(groups="broadcast"), hf_run.used)
    assert replayed == [[lr, lr] for lr in as_float32]
    assert np.allclose(replayed, hf_run.used, rtol=2.0**-24, atol=0.0)
