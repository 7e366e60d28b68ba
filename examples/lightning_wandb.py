"""Lightning + Weights & Biases (offline): ParamSchedulerCallback logs through the trainer's WandbLogger.

Shows: ``ParamSchedulerCallback`` in a Lightning ``Trainer`` with gradient
accumulation (the scheduler advances once per real optimizer update, with
``trainer.estimated_stepping_batches`` as the run length), values logged
through the trainer's own ``WandbLogger`` (``hp/<key>/<group>`` at the
optimizer step), recorded losslessly by paramsched's ``WandbRecorder`` when
``paramsched-wandb`` is installed (into a companion run next to the
logger's run) and to CSV, then read back with ``paramsched.replay.load``.

Run (no account needed: W&B runs offline unless WANDB_MODE says otherwise):

    python examples/lightning_wandb.py --steps 100 --out runs/lightning
    wandb sync runs/lightning/wandb/offline-run-*     # later, to upload

Writes ``<out>/wandb/`` (offline runs), ``<out>/values`` (CSV run) and
``<out>/checkpoints/``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from torch.utils.data import DataLoader, TensorDataset

import paramsched as ps
from paramsched_lightning import ParamSchedulerCallback


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU())
        self.head = torch.nn.Linear(32, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.head(self.body(x)), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        # Group names label the series: hp/lr/body, hp/lr/head, ...
        return torch.optim.AdamW(
            [{"params": self.body.parameters(), "name": "body"}, {"params": self.head.parameters(), "name": "head"}]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="optimizer updates (max_steps)")
    parser.add_argument("--out", type=Path, default=Path("runs/lightning"))
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    args.out.mkdir(parents=True, exist_ok=True)

    recorders: list = [ps.recording.CsvRecorder(args.out / "values", overwrite=True)]
    try:
        from paramsched_wandb import WandbRecorder
    except ImportError:  # pip install paramsched-wandb for the lossless W&B record
        WandbRecorder = None
    if WandbRecorder is not None:
        recorders.append(WandbRecorder())

    pl.seed_everything(0, verbose=False)
    x = torch.randn(256, 16)
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=16, shuffle=True)
    logger = WandbLogger(project="paramsched-examples", save_dir=str(args.out), log_model=False)
    callback = ParamSchedulerCallback(
        {
            "lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3),
            "weight_decay": ps.Cosine(0.05, 0.0),
            "betas.0": ps.Linear(0.85, 0.95),
        },
        overrides={"head": {"lr": ps.Cosine(1e-3, 0.0)}},
        recorders=recorders,
    )
    trainer = pl.Trainer(
        max_steps=args.steps,
        accumulate_grad_batches=2,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        callbacks=[callback],
        default_root_dir=str(args.out / "checkpoints"),
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Regressor(), data)
    run_dir = Path(logger.experiment.dir).parent  # <out>/wandb/offline-run-...
    logger.experiment.finish()  # Lightning leaves the W&B run open until exit; close it to read it back

    sched = callback.scheduler
    csv_run = ps.replay.load(args.out / "values")
    print(f"{sched.current_step} optimizer updates ({2 * sched.current_step} batches), "
          f"{len(csv_run.series)} series; W&B run in {run_dir}")
    assert sched.current_step == args.steps and list(csv_run.frame.index) == list(range(args.steps))
    if WandbRecorder is not None:
        wandb_run = ps.replay.load(run_dir)  # follows the run to its paramsched companion run
        assert wandb_run.frame.equals(csv_run.frame), "the W&B record differs from the CSV record"
        print("W&B record == CSV record, bit for bit")


if __name__ == "__main__":
    main()
