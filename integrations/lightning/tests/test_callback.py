"""ParamSchedulerCallback against a real Lightning Trainer on CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

import paramsched as ps
from paramsched.runformat import read_metadata
from paramsched_lightning import LoggerRecorder, ParamSchedulerCallback

_spec = importlib.util.spec_from_file_location("_pl_conftest", Path(__file__).with_name("conftest.py"))
conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conf)

SCHEDULES = {
    "lr": ps.WarmupStableDecay(1e-2, warmup=2, decay=0.5),
    "weight_decay": ps.Cosine(0.1, 0.0),
    "betas.0": ps.Linear(0.85, 0.95),
}
OVERRIDES = {"head": {"lr": ps.Cosine(3e-3, 0.0)}}


def _applied(sched: ps.ParamScheduler, k: int) -> dict[str, tuple[float, float, float]]:
    v = sched.values_at(k)
    return {
        g: (v[f"hp/lr/{g}"], v[f"hp/weight_decay/{g}"], v[f"hp/betas.0/{g}"]) for g in ("body", "head")
    }


def test_advances_once_per_real_update_with_gradient_accumulation(tmp_path):
    rec = conf.ListRecorder()
    cb = ParamSchedulerCallback(SCHEDULES, overrides=OVERRIDES, recorders=[rec])
    model = conf.TinyModule()
    # 4 batches per epoch, 2 per update, 3 epochs: 6 updates
    conf.trainer(tmp_path, [cb], max_epochs=3, accumulate_grad_batches=2).fit(model, conf.make_data())

    sched = cb.scheduler
    assert sched.total_steps == 6  # trainer.estimated_stepping_batches
    assert sched.current_step == 6 and len(model.applied) == 6
    assert [k for k, _ in rec.rows] == list(range(6))
    for k, values in rec.rows:
        assert values == sched.values_at(k)
        assert model.applied[k] == _applied(sched, k)  # what each update really used
    assert model.applied[0]["head"][0] == 3e-3  # the override, group "head"
    assert rec.closed  # on_train_end closes the recorders
    assert sched.series[0] == "hp/lr/body"


def test_values_go_to_the_trainers_csv_logger_bit_for_bit(tmp_path):
    cb = ParamSchedulerCallback(SCHEDULES, overrides=OVERRIDES)
    logger = CSVLogger(tmp_path, name="logs")
    conf.trainer(tmp_path, [cb], max_steps=8, logger=logger).fit(conf.TinyModule(), conf.make_data())

    logged = conf.read_metrics(Path(logger.log_dir) / "metrics.csv")
    assert sorted(logged) == list(range(8))
    for k, values in logged.items():
        assert values == cb.scheduler.values_at(k)
    # the loss of the same update is logged at the same step by Lightning itself
    losses = conf.read_metrics(Path(logger.log_dir) / "metrics.csv", prefix="loss")
    assert sorted(losses) == list(range(8))


def test_log_every_n_steps_follows_the_trainer(tmp_path):
    cb = ParamSchedulerCallback(SCHEDULES)
    logger = CSVLogger(tmp_path, name="logs")
    conf.trainer(tmp_path, [cb], max_steps=8, logger=logger, log_every_n_steps=3).fit(conf.TinyModule(), conf.make_data())
    assert sorted(conf.read_metrics(Path(logger.log_dir) / "metrics.csv")) == [2, 5]


class _CrashAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def _fit(
    tmp_path: Path, name: str, *, crash_at: int | None = None, ckpt_path: Path | None = None, version: str | None = None
):
    cb = ParamSchedulerCallback(SCHEDULES, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / name / 'values'}"])
    checkpoints = ModelCheckpoint(
        dirpath=tmp_path / name / "ckpt", every_n_train_steps=4, save_top_k=-1, filename="{step}"
    )
    callbacks: list = [cb, checkpoints] + ([_CrashAt(crash_at)] if crash_at else [])
    logger = CSVLogger(tmp_path / name, name="logs", version=version or ("resumed" if ckpt_path else "first"))
    model = conf.TinyModule()
    trainer = conf.trainer(tmp_path, callbacks, max_steps=12, logger=logger, enable_checkpointing=True)
    trainer.fit(model, conf.make_data(), ckpt_path=ckpt_path)
    return model, cb, Path(logger.log_dir) / "metrics.csv"


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_fit_from_a_checkpoint_resumes_exactly(tmp_path):
    straight_model, straight_cb, straight_log = _fit(tmp_path, "straight")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path, "crashed", crash_at=7)
    ckpt = tmp_path / "crashed" / "ckpt" / "step=4.ckpt"
    assert torch.load(ckpt, weights_only=False)["callbacks"]["ParamSchedulerCallback{'optimizer': 0}"][
        "scheduler"
    ]["step"] == 4
    model, cb, resumed_log = _fit(tmp_path, "crashed", ckpt_path=ckpt)

    assert cb.scheduler.current_step == 12
    # the applied values and the final weights are those of the uninterrupted run, bit for bit
    assert model.applied == straight_model.applied[4:]
    for (name, a), (_, b) in zip(straight_model.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # every value the trainer's logger got after the resume
    straight = conf.read_metrics(straight_log)
    resumed = conf.read_metrics(resumed_log)
    assert sorted(resumed) == list(range(4, 12))
    assert resumed == {k: straight[k] for k in range(4, 12)}
    # the paramsched CSV run: steps 4..6 recorded twice, the reader keeps the last
    a = ps.replay.load(tmp_path / "straight" / "values")
    b = ps.replay.load(tmp_path / "crashed" / "values")
    assert b.frame.equals(a.frame)
    assert b.metadata["resumes"][0]["at_step"] == 4


@pytest.mark.filterwarnings("ignore:(Checkpoint directory|Experiment logs directory) .* exists and is not empty")
def test_a_fit_resumed_into_the_same_csv_logger_version_says_what_lightning_cleared(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path, "crashed", crash_at=7)
    ckpt = tmp_path / "crashed" / "ckpt" / "step=4.ckpt"
    # the Trainer opens its loggers before any callback hook: CSVLogger deletes metrics.csv then
    with pytest.warns(RuntimeWarning, match=r"CSVLogger cleared '.*metrics.csv' .* before the resumed step 4"):
        _, cb, log = _fit(tmp_path, "crashed", ckpt_path=ckpt, version="first")
    assert sorted(conf.read_metrics(log)) == list(range(4, 12))
    metadata = read_metadata(log.parent / "run.json")
    assert metadata["resumed_from_step"] is None  # the first run's document, with the resume noted
    assert [r["at_step"] for r in metadata["resumes"]] == [4]


class _TwoOptimizers(pl.LightningModule):
    """Manual optimization: the 'disc' optimizer steps every batch, 'gen' every other batch."""

    def __init__(self, named: bool = True) -> None:
        super().__init__()
        self.automatic_optimization = False
        torch.manual_seed(0)
        self.gen = torch.nn.Linear(4, 1)
        self.disc = torch.nn.Linear(4, 1)
        self.named = named
        self.updates = [0, 0]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        gen_opt, disc_opt = self.optimizers()
        loss = torch.nn.functional.mse_loss(self.disc(x), y)
        disc_opt.zero_grad()
        self.manual_backward(loss)
        disc_opt.step()
        self.updates[1] += 1
        if batch_idx % 2 == 1:
            loss = torch.nn.functional.mse_loss(self.gen(x), y)
            gen_opt.zero_grad()
            self.manual_backward(loss)
            gen_opt.step()
            self.updates[0] += 1

    def configure_optimizers(self) -> list:
        def group(module: torch.nn.Module, name: str) -> dict:
            return {"params": module.parameters(), "name": name} if self.named else {"params": module.parameters()}

        return [torch.optim.AdamW([group(self.gen, "gen")], lr=1e-3), torch.optim.SGD([group(self.disc, "disc")], lr=0.1, momentum=0.9)]


def test_manual_optimization_with_two_optimizers(tmp_path):
    gen = ParamSchedulerCallback({"lr": ps.Cosine(1e-3, 0.0)}, total_steps=4, optimizer=0)
    disc = ParamSchedulerCallback({"lr": ps.Linear(0.1, 0.0), "momentum": ps.Constant(0.8)}, optimizer=1)
    logger = CSVLogger(tmp_path, name="logs")
    model = _TwoOptimizers()
    conf.trainer(tmp_path, [gen, disc], max_epochs=2, logger=logger).fit(model, conf.make_data())

    assert model.updates == [4, 8]
    assert gen.scheduler.current_step == 4 and disc.scheduler.current_step == 8
    assert disc.scheduler.total_steps == 8  # estimated_stepping_batches: one per batch
    logged = conf.read_metrics(Path(logger.log_dir) / "metrics.csv")
    assert [k for k in sorted(logged) if "hp/lr/gen" in logged[k]] == [0, 1, 2, 3]
    assert all(logged[k]["hp/lr/disc"] == disc.scheduler.values_at(k)["hp/lr/disc"] for k in range(8))
    assert gen.state_key != disc.state_key
    # both callbacks wrote a run.json beside metrics.csv: the log reads back, without either
    traj = ps.replay.load(Path(logger.log_dir) / "metrics.csv")
    assert traj.metadata is None and any("another writer of this file" in note for note in traj.notes)
    assert traj.frame["hp/lr/disc"].tolist() == [disc.scheduler.values_at(k)["hp/lr/disc"] for k in range(8)]


def test_two_optimizers_with_the_same_series_names_are_an_error(tmp_path):
    callbacks = [
        ParamSchedulerCallback({"lr": ps.Constant(1e-3)}, total_steps=4, optimizer=0),
        ParamSchedulerCallback({"lr": ps.Constant(1e-3)}, total_steps=8, optimizer=1),
    ]
    with pytest.raises(ValueError, match=r"optimizers 0 and 1 give the same series names \['hp/lr/g0'\]"):
        conf.trainer(tmp_path, callbacks, max_epochs=1).fit(_TwoOptimizers(named=False), conf.make_data())


def test_an_optimizer_index_out_of_range_is_an_error(tmp_path):
    cb = ParamSchedulerCallback({"lr": ps.Constant(1e-3)}, optimizer=1)
    with pytest.raises(ValueError, match=r"optimizer must index trainer.optimizers \(0..0\), got optimizer=1"):
        conf.trainer(tmp_path, [cb], max_steps=2).fit(conf.TinyModule(), conf.make_data())


class _WithLRScheduler(conf.TinyModule):
    def configure_optimizers(self) -> Any:
        opt = super().configure_optimizers()
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}


def test_a_lightning_lr_scheduler_on_the_same_optimizer_is_an_error(tmp_path):
    cb = ParamSchedulerCallback({"lr": ps.Constant(1e-3)})
    with pytest.raises(ValueError, match="has both a Lightning lr scheduler \\(StepLR\\)"):
        conf.trainer(tmp_path, [cb], max_steps=2).fit(_WithLRScheduler(), conf.make_data())


def test_infinite_training_needs_total_steps(tmp_path):
    cb = ParamSchedulerCallback({"lr": ps.Constant(1e-3)})
    with pytest.raises(ValueError, match="needs total_steps: trainer.estimated_stepping_batches is inf"):
        conf.trainer(tmp_path, [cb], max_epochs=-1).fit(conf.TinyModule(), conf.make_data())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"schedules": [("lr", 1.0)]}, TypeError, r"schedules must be a mapping of key -> schedule, got schedules=\[\('lr', 1.0\)\]"),
        ({"total_steps": 0}, ValueError, "total_steps must be an int >= 1, got total_steps=0"),
        ({"optimizer": -1}, ValueError, "optimizer must be an int >= 0, got optimizer=-1"),
        ({"log_every_n_steps": 1.5}, TypeError, "log_every_n_steps must be an int >= 1"),
        ({"log_to_loggers": "yes"}, TypeError, "log_to_loggers must be True or False"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, match):
    args = {"schedules": {"lr": ps.Constant(1e-3)}, **kwargs}
    with pytest.raises(error, match=match):
        ParamSchedulerCallback(**args)


def test_a_checkpoint_state_that_is_not_a_scheduler_state_is_an_error():
    cb = ParamSchedulerCallback({"lr": ps.Constant(1e-3)})
    with pytest.raises(ValueError, match="is not a ParamScheduler state"):
        cb.load_state_dict({"scheduler": {"step": 3}})


def test_logger_recorder_follows_lightnings_log_every_n_steps_rule():
    class Sink:
        def __init__(self) -> None:
            self.rows: list = []

        def log_metrics(self, metrics: dict, step: int) -> None:
            self.rows.append((step, metrics))

        def save(self) -> None:
            pass

    sink = Sink()
    rec = LoggerRecorder(lambda: [sink], every_n_steps=2)
    rec.start({"series": ["hp/lr/g0"]})
    for k in range(5):
        rec.record(k, {"hp/lr/g0": float(k)})
    # a logger of unknown kind gets the step as a series too (its own step counter may be another)
    assert sink.rows == [(1, {"hp/step": 1, "hp/lr/g0": 1.0}), (3, {"hp/step": 3, "hp/lr/g0": 3.0})]


# MLFlowLogger, WandbLogger and TensorBoardLogger: test_replay_loggers.py (values and replay, ==).


class _WithAdapter(conf.TinyModule):
    def configure_optimizers(self) -> Any:
        opt = super().configure_optimizers()
        self.sched = ps.ParamScheduler(opt, SCHEDULES, self.trainer.estimated_stepping_batches)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.sched.as_lr_scheduler(), "interval": "step"}}


def test_the_torch_adapter_works_as_a_lightning_lr_scheduler(tmp_path):
    model = _WithAdapter()
    conf.trainer(tmp_path, [], max_epochs=2, accumulate_grad_batches=2).fit(model, conf.make_data())
    assert model.sched.total_steps == 4 and model.sched.current_step == 4
    assert model.applied == [_applied(model.sched, k) for k in range(4)]
