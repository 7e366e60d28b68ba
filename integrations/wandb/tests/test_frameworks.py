"""Runs written to W&B by other frameworks, read back exactly: a real Hugging Face Trainer
(``report_to=["wandb"]``) and Lightning's ``WandbLogger``."""

from __future__ import annotations

import warnings

import pytest

import paramsched as ps
import paramsched.replay as replay

torch = pytest.importorskip("torch")

UPDATES = 8


class _Tiny(torch.nn.Module):
    """A linear regressor that returns ``{"loss", "logits"}`` as a Hugging Face model does."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 1)

    def forward(self, x, labels=None):
        logits = self.body(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.mse_loss(logits, labels)
        return out


class _Data(torch.utils.data.Dataset):
    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(32, 4, generator=gen)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


@pytest.mark.slow
def test_a_trainer_run_in_wandb_replays_the_lr_of_every_update(wandb_env, h, tmp_path):
    transformers = pytest.importorskip("transformers")
    import wandb

    model = _Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = transformers.get_cosine_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=UPDATES)
    used: list[float] = []  # the lr each optimizer update ran with
    opt.register_step_pre_hook(lambda optimizer, args, kwargs: used.append(optimizer.param_groups[0]["lr"]))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=UPDATES,
        logging_steps=1,
        report_to=["wandb"],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    transformers.Trainer(model=model, args=args, train_dataset=_Data(), optimizers=(opt, sched)).train()
    run_dir = h.run_dir_of(wandb.run)
    wandb.finish()  # loaded right away: the source waits for wandb-core's last records
    assert len(used) == UPDATES

    for keymap in ("hf", "auto"):
        traj = replay.load(run_dir, keymap=keymap)
        assert traj.frame.index.tolist() == list(range(UPDATES))
        assert traj.frame["hp/lr/g0"].tolist() == used  # update k's lr at step k, ==
        # issue 12.9: HF's final summary row (train_runtime, ...) at the last step is no duplicate
        assert not any("more than once" in note for note in traj.notes), traj.notes
        assert traj.metrics["loss"].dropna().index.tolist() == list(range(UPDATES))
    # and it drives a fresh scheduler: the same lr at every update
    fresh = torch.optim.AdamW(_Tiny().parameters(), lr=1.0)
    with ps.ParamScheduler(fresh, traj.schedules(groups="broadcast"), total_steps=UPDATES) as replayed:
        again = []
        for _ in range(UPDATES):
            again.append(fresh.param_groups[0]["lr"])
            fresh.step()
            replayed.step()
    assert again == used


def test_hp_series_logged_through_lightnings_wandb_logger_read_back_without_a_keymap(wandb_env, h):
    """What paramsched's Lightning callback wrote before it added ``hp/step``: the series at
    ``trainer/global_step`` (Lightning's WandbLogger adds it; W&B's ``_step`` counts rows)."""
    pytest.importorskip("lightning")
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="ps-lightning", name="callback", save_dir=str(wandb_env))
    expected = {}
    for k in range(12):
        expected[k] = {"hp/lr/body": 0.1 / (k + 1), "hp/lr/head": -0.0 if k == 3 else 0.3 * k}
        logger.log_metrics({"train_loss": 2.0 - k / 10}, step=k)  # Lightning's own row of the step
        logger.log_metrics(expected[k], step=k)
    run_dir = h.run_dir_of(logger.experiment)
    logger.experiment.finish()
    traj = replay.load(run_dir)
    assert traj.frame.to_dict("index") == expected
    assert traj.frame.at[3, "hp/lr/head"] == 0.0 and str(traj.frame.at[3, "hp/lr/head"]) == "-0.0"
    assert traj.metrics["train_loss"].to_dict() == {k: 2.0 - k / 10 for k in range(12)}


@pytest.mark.slow
def test_paramscheds_lightning_callback_through_wandb_logger_replays_with_no_keymap(wandb_env, h):
    """Issue 12.5: a real Lightning Trainer with paramsched's callback and Lightning's own
    ``WandbLogger``: ``ps.replay.load(run_dir)`` with no keymap gives what the optimizer used at
    every update (==), with no note (Lightning's own rows share the steps: not duplicates)."""
    run_dir, used = _fit_with_callback(wandb_env, h, log_every_n_steps=1)
    traj = replay.load(run_dir)
    assert traj.notes == ()
    assert traj.frame.index.tolist() == list(range(UPDATES * 2))
    for name in ("body", "head"):
        assert traj.frame[f"hp/lr/{name}"].tolist() == [u[name][0] for u in used]
        assert traj.frame[f"hp/weight_decay/{name}"].tolist() == [u[name][1] for u in used]
    assert traj.metadata["series"] == list(traj.frame.columns)
    assert "train_loss" in traj.metrics.columns


@pytest.mark.slow
def test_lightnings_default_logging_plus_the_wandb_recorder_replays_every_update(wandb_env, h):
    """At Lightning's default ``log_every_n_steps=50`` the logger gets a chart; with
    ``recorders=["wandb"]`` the values go to a companion run too, and loading the logger's run
    follows it: every update, ==."""
    run_dir, used = _fit_with_callback(wandb_env, h, log_every_n_steps=None, recorders=["wandb"], steps=60)
    traj = replay.load(run_dir)
    assert traj.source != str(next(run_dir.glob("*.wandb")))  # the companion's run file
    assert traj.frame.index.tolist() == list(range(60))
    assert traj.frame["hp/lr/body"].tolist() == [u["body"][0] for u in used]
    assert traj.frame["hp/weight_decay/head"].tolist() == [u["head"][1] for u in used]
    assert "train_loss" in traj.metrics.columns  # the logger's own run's metrics


def _fit_with_callback(wandb_env, h, *, log_every_n_steps, recorders=(), steps=UPDATES * 2):
    """A real Lightning fit with paramsched's callback and a WandbLogger; (logger run dir, the
    (lr, weight_decay) of each group at each optimizer update)."""
    pytest.importorskip("lightning")
    pytest.importorskip("paramsched_lightning")
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import WandbLogger

    from paramsched_lightning import ParamSchedulerCallback

    used: list[dict[str, tuple[float, float]]] = []

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.body = torch.nn.Linear(4, 4)
            self.head = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.head(self.body(x)), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            opt = torch.optim.AdamW([
                {"params": self.body.parameters(), "name": "body"},
                {"params": self.head.parameters(), "name": "head"},
            ], lr=1e-3)
            opt.register_step_pre_hook(lambda o, args, kwargs: used.append(
                {g["name"]: (g["lr"], g["weight_decay"]) for g in o.param_groups}))
            return opt

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(24, 4, generator=gen)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)
    logger = WandbLogger(project="ps-lightning", name="callback", save_dir=str(wandb_env), offline=True)
    callback = ParamSchedulerCallback(
        {"lr": ps.WarmupStableDecay(1e-2, warmup=3, decay=0.5), "weight_decay": ps.Cosine(0.1, 0.0)},
        log_every_n_steps=log_every_n_steps, recorders=list(recorders),
    )
    trainer = pl.Trainer(
        max_steps=steps, logger=logger, callbacks=[callback], accelerator="cpu",
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        **({"log_every_n_steps": log_every_n_steps} if log_every_n_steps else {}),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(log_every_n_steps|LeafSpec|num_workers).*")
        trainer.fit(Module(), data)
    run_dir = h.run_dir_of(logger.experiment)
    logger.experiment.finish()  # loaded right away: the source waits for the exit record
    assert len(used) == steps
    return run_dir, used
