"""`ParamSchedulerCallback`: paramsched inside a Lightning ``Trainer``.

The callback builds a :class:`paramsched.ParamScheduler` when training starts
(``on_train_start``: after Lightning restored the optimizer from
``ckpt_path``), on one optimizer of the trainer, with
``trainer.estimated_stepping_batches`` as ``total_steps`` unless one is given.
The scheduler is attached to the torch optimizer itself (``attach=True``), so
it advances exactly once per real optimizer update, whatever calls it:
automatic optimization with ``accumulate_grad_batches``, manual optimization
(``self.optimizers().step()``), an update skipped by a ``GradScaler``.

Its state (``ParamScheduler.state_dict()``) is saved in every Lightning
checkpoint under the callback's ``state_key`` and restored by
``trainer.fit(ckpt_path=...)``, so a resumed run applies and records the same
values as an uninterrupted one. Saving a checkpoint also makes every
recorder (and logger) durable up to that step, so a run killed at any point
and resumed from any checkpoint has every step in its log. Values go to the
trainer's own loggers (``log_to_loggers``) and to any paramsched ``recorders``.

Several optimizers: one callback per optimizer (``optimizer=0``, ``optimizer=1``);
each has its own checkpoint state. Their series names must differ: give the
param groups ``name`` entries (``{"params": ..., "name": "generator"}``).

Example::

    trainer = L.Trainer(max_steps=1000, callbacks=[ParamSchedulerCallback(
        {"lr": ps.WarmupStableDecay(3e-4), "weight_decay": ps.Cosine(0.1, 0.0)},
        recorders=["csv:runs/a"],
    )])
    trainer.fit(model)                          # and later: trainer.fit(model, ckpt_path=...)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from paramsched import ParamScheduler, ScheduleWarning
from paramsched.checks import check_positive_int, describe
from paramsched.recording.base import Recorder
from paramsched.scheduler import STATE_FORMAT
from paramsched_lightning.loggers import LoggerRecorder

__all__ = ["ParamSchedulerCallback"]


class ParamSchedulerCallback(Callback):
    """Schedule hyperparameters of one of the trainer's optimizers, log them, checkpoint them.

    Args:
        schedules: the ``schedules`` mapping of :class:`paramsched.ParamScheduler`
            (``{"lr": ps.Cosine(1e-3, 0.0), "betas.0": ..., ("lr", "head"): ...}``).
        total_steps: optimizer updates in the run; default
            ``trainer.estimated_stepping_batches`` (which counts
            ``accumulate_grad_batches``, ``max_steps`` and ``max_epochs``).
        overrides, relative, after_end, tensors, record_ranks, total_steps_policy:
            passed to :class:`paramsched.ParamScheduler`.
        optimizer: index of the optimizer in ``trainer.optimizers`` (the order
            ``configure_optimizers`` returns them in).
        recorders: paramsched recorders (``"csv:runs/a"``, ``"wandb"``, ``"mlflow"``, instances).
        log_to_loggers: also write the values through ``trainer.loggers``, in
            the form each logger's replay source reads back exactly with no
            keymap (``hp/<key>/<group>`` at step ``k``; see
            :mod:`paramsched_lightning.loggers`).
        log_every_n_steps: how often to write to the loggers; default: the
            trainer's ``log_every_n_steps`` (50 unless set), as Lightning's
            ``LearningRateMonitor`` does, so the charts cost what they cost
            without paramsched. Such a log is a chart: pass
            ``log_every_n_steps=1`` for a logger stream that replays exactly.
            The paramsched ``recorders`` always get every step.

    Attributes:
        scheduler: the :class:`~paramsched.ParamScheduler` of the current fit
            (``None`` before training starts).
    """

    def __init__(
        self,
        schedules: Mapping[Any, Any],
        total_steps: int | None = None,
        *,
        overrides: Mapping[Any, Mapping[str, Any]] | None = None,
        optimizer: int = 0,
        relative: bool = False,
        recorders: Iterable[Recorder | str] | Recorder | str = (),
        log_to_loggers: bool = True,
        log_every_n_steps: int | None = None,
        after_end: str = "warn",
        tensors: bool = False,
        record_ranks: str = "zero",
        total_steps_policy: str = "error",
    ) -> None:
        if not isinstance(schedules, Mapping):
            raise TypeError(f"schedules must be a mapping of key -> schedule, got schedules={describe(schedules)}")
        if total_steps is not None:
            check_positive_int("total_steps", total_steps)
        check_positive_int("optimizer", optimizer, minimum=0)
        if log_every_n_steps is not None:
            check_positive_int("log_every_n_steps", log_every_n_steps)
        if not isinstance(log_to_loggers, bool):
            raise TypeError(f"log_to_loggers must be True or False, got log_to_loggers={describe(log_to_loggers)}")
        if isinstance(recorders, (str, Recorder)):
            recorders = [recorders]
        self.schedules = schedules
        self.total_steps = total_steps
        self.optimizer_index = optimizer
        self.recorders = list(recorders)
        self.log_to_loggers = log_to_loggers
        self.log_every_n_steps = log_every_n_steps
        self._scheduler_kwargs: dict[str, Any] = {
            "overrides": overrides,
            "relative": relative,
            "after_end": after_end,
            "tensors": tensors,
            "record_ranks": record_ranks,
            "total_steps_policy": total_steps_policy,
        }
        self.scheduler: ParamScheduler | None = None
        self._pending_state: dict[str, Any] | None = None
        self._trainer: Any = None  # set while a fit runs

    @property
    def state_key(self) -> str:
        return self._generate_state_key(optimizer=self.optimizer_index)

    # -- building -------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close()
        optimizer = self._optimizer(trainer)
        scheduler = ParamScheduler(
            optimizer,
            self.schedules,
            self._total_steps(trainer),
            attach=True,
            recorders=[*self.recorders, *self._logger_recorders(trainer)],
            **self._scheduler_kwargs,
        )
        try:
            self._check_conflicts(trainer, scheduler)
            if self._pending_state is not None:
                scheduler.load_state_dict(self._pending_state)
            elif trainer.global_step > 0:
                warnings.warn(
                    f"resuming at trainer.global_step={trainer.global_step} from a checkpoint without "
                    f"{self.state_key} state: the schedules start at step 0",
                    ScheduleWarning,
                    stacklevel=2,
                )
        except BaseException:
            scheduler.close()
            raise
        self._pending_state = None
        self.scheduler = scheduler
        self._trainer = trainer

    def _optimizer(self, trainer: pl.Trainer) -> torch.optim.Optimizer:
        optimizers = trainer.optimizers
        if self.optimizer_index >= len(optimizers):
            raise ValueError(
                f"optimizer must index trainer.optimizers (0..{len(optimizers) - 1}), "
                f"got optimizer={self.optimizer_index}"
            )
        optimizer = optimizers[self.optimizer_index]
        # A LightningOptimizer forwards to the torch optimizer that holds the hooks.
        return getattr(optimizer, "_optimizer", optimizer)

    def _total_steps(self, trainer: pl.Trainer) -> int:
        if self.total_steps is not None:
            return self.total_steps
        estimated = trainer.estimated_stepping_batches
        if not isinstance(estimated, (int, float)) or not math.isfinite(estimated) or estimated < 1:
            raise ValueError(
                "ParamSchedulerCallback needs total_steps: trainer.estimated_stepping_batches is "
                f"{estimated!r} (set max_steps or max_epochs, or pass total_steps=...)"
            )
        return int(estimated)

    def _logger_recorders(self, trainer: pl.Trainer) -> list[Recorder]:
        if not self.log_to_loggers or not trainer.loggers:
            return []
        every = self.log_every_n_steps or trainer.log_every_n_steps
        return [LoggerRecorder(lambda: trainer.loggers, every_n_steps=every)]

    def _check_conflicts(self, trainer: pl.Trainer, scheduler: ParamScheduler) -> None:
        keys = {key for key, _ in scheduler.current()}
        if "lr" in keys:
            for config in trainer.lr_scheduler_configs:
                if getattr(config.scheduler, "optimizer", None) is scheduler.optimizer:
                    raise ValueError(
                        f"optimizer {self.optimizer_index} has both a Lightning lr scheduler "
                        f"({type(config.scheduler).__name__}) and ParamSchedulerCallback scheduling 'lr'; "
                        "remove the lr scheduler from configure_optimizers or 'lr' from the schedules"
                    )
        for other in trainer.callbacks:
            if other is self or not isinstance(other, ParamSchedulerCallback) or other.scheduler is None:
                continue
            if other._trainer is not trainer:
                continue
            if other.optimizer_index == self.optimizer_index:
                raise ValueError(
                    f"two ParamSchedulerCallbacks schedule optimizer {self.optimizer_index}; "
                    "use one callback per optimizer"
                )
            clash = sorted(set(other.scheduler.series) & set(scheduler.series))
            if clash:
                raise ValueError(
                    f"optimizers {other.optimizer_index} and {self.optimizer_index} give the same series "
                    f"names {clash}; give their param groups distinct 'name' entries"
                )

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        if self.scheduler is not None:
            # ParamScheduler.state_dict() makes the record durable up to this step (every
            # recorder's checkpoint(), the trainer's loggers included): a run killed after this
            # checkpoint and resumed from it finds every earlier step in its logs.
            return {"scheduler": self.scheduler.state_dict()}
        if self._pending_state is not None:
            return {"scheduler": self._pending_state}
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("scheduler")
        if state is None:
            return
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"the checkpoint's {self.state_key} state is not a ParamScheduler state "
                f"(format {STATE_FORMAT!r}), got {describe(state)}"
            )
        # Lightning restores callbacks before the optimizers exist: applied in on_train_start.
        self._pending_state = dict(state)

    # -- the end ---------------------------------------------------------------------------

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # Keep what was recorded (a resume appends to it) and detach from the optimizer.
        self._close()

    def _close(self) -> None:
        if self.scheduler is not None and self._trainer is not None:
            self._trainer = None
            self.scheduler.close()

    def __repr__(self) -> str:
        return (
            f"ParamSchedulerCallback(optimizer={self.optimizer_index}, total_steps={self.total_steps}, "
            f"schedules={self.schedules!r})"
        )
