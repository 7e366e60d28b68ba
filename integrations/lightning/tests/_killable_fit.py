"""A Lightning fit with paramsched's callback and checkpoints every 5 updates, killable at a step.

Run as a script (``python _killable_fit.py OUT KILL_AT``) it SIGKILLs itself
after update ``KILL_AT - 1``, as a crash or an OOM killer would; the tests
import :func:`fit` to resume the same run in their own process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

import paramsched as ps
from paramsched_lightning import ParamSchedulerCallback

_spec = importlib.util.spec_from_file_location("_pl_conftest", Path(__file__).with_name("conftest.py"))
conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conf)

STEPS = 20
EVERY = 5  # a checkpoint after updates 4, 9, 14, 19
SCHEDULES = {"lr": ps.WarmupStableDecay(1e-2, warmup=3, decay=0.5), "betas.0": ps.Linear(0.85, 0.95)}


class _KillAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def fit(out: Path, *, kill_at: int | None = None, ckpt_path: Path | None = None, recorder: Any = None) -> ParamSchedulerCallback:
    """Train (or resume) the run in ``out``: values in ``out/values`` (CSV) and ``out/tb``
    (TensorBoard), checkpoints in ``out/ckpt``."""
    recorders = [recorder or f"csv:{out / 'values'}", f"tensorboard:{out / 'tb'}"]
    callback = ParamSchedulerCallback(SCHEDULES, recorders=recorders)
    checkpoints = ModelCheckpoint(dirpath=out / "ckpt", every_n_train_steps=EVERY, save_top_k=-1, filename="{step}")
    callbacks: list = [callback, checkpoints] + ([_KillAt(kill_at)] if kill_at is not None else [])
    logger = CSVLogger(out, name="logs", version="resumed" if ckpt_path else "first")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(does not have many workers|exists and is not empty).*")
        trainer = conf.trainer(out, callbacks, max_steps=STEPS, logger=logger, enable_checkpointing=True)
        trainer.fit(conf.TinyModule(), conf.make_data(), ckpt_path=ckpt_path)
    return callback


if __name__ == "__main__":
    fit(Path(sys.argv[1]), kill_at=int(sys.argv[2]))
    sys.exit("not killed")
