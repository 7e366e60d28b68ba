"""`ParamSchedulerLR`: a ``torch.optim.lr_scheduler.LRScheduler`` that drives a `ParamScheduler`.

For frameworks that insist on a torch LR scheduler (Hugging Face ``Trainer``,
Lightning's ``configure_optimizers``, Accelerate's ``prepare``). It schedules
nothing itself: its ``step()`` advances the ParamScheduler, ``get_last_lr()``
reads each group's ``lr``, and ``state_dict()`` / ``load_state_dict()`` wrap
the ParamScheduler's, so a checkpoint restores the exact step.

Its constructor leaves every hyperparameter as the ParamScheduler set it
(the step-0 values): ``LRScheduler.__init__`` runs (it adds ``initial_lr`` to
each group and wraps ``optimizer.step`` to check the call order, as every
torch scheduler does), but its initial ``step()`` does not advance or write
anything.

One advance per optimizer update (``follow="optimizer"``, the default): the
adapter counts real optimizer updates (an optimizer step post-hook) and a
``step()`` call advances the ParamScheduler only when an update happened
since the last advance. Extra calls are no-ops, so a framework that steps the
scheduler several times per update (Accelerate's ``AcceleratedScheduler``
steps it once per process), or after an update that a ``GradScaler``
skipped, never moves the schedule ahead of the optimizer. With
``follow="calls"`` every ``step()`` call advances (plain torch semantics).
A ParamScheduler built with ``attach=True`` advances from its own hook and
the adapter's ``step()`` only refreshes ``get_last_lr()``.

>>> import torch, paramsched as ps
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
>>> lr_sched = ps.ParamScheduler(opt, {"lr": ps.Linear(0.5, 0.0)}, total_steps=4).as_lr_scheduler()
>>> lr_sched.get_last_lr()
[0.5]
>>> opt.step(); lr_sched.step(); lr_sched.step()   # the second call has no update to follow
>>> lr_sched.get_last_lr(), lr_sched.last_epoch
([0.375], 1)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from paramsched._torch_compat import unwrap_optimizer
from paramsched.checks import check_choice, describe
from paramsched.scheduler import STATE_FORMAT, ParamScheduler, ScheduleWarning

__all__ = ["ParamSchedulerLR", "ADAPTER_STATE_FORMAT", "FOLLOW_CHOICES"]

ADAPTER_STATE_FORMAT = "paramsched.lr_adapter/1"
FOLLOW_CHOICES = ("optimizer", "calls")


class ParamSchedulerLR(LRScheduler):
    """A torch ``LRScheduler`` whose ``step()`` advances ``scheduler`` (a `ParamScheduler`).

    Args:
        scheduler: the ParamScheduler to drive; its optimizer must be a
            ``torch.optim.Optimizer`` (or a wrapper of one, such as Accelerate's
            ``AcceleratedOptimizer``: the adapter follows the wrapped optimizer).
        follow: ``"optimizer"`` (default): advance at most once per real
            optimizer update, however often ``step()`` is called;
            ``"calls"``: advance on every ``step()`` call.

    Attributes:
        scheduler: the driven ParamScheduler.
        last_epoch: the ParamScheduler's current step (the update the values
            now in effect are for).
    """

    def __init__(self, scheduler: ParamScheduler, *, follow: str = "optimizer") -> None:
        if not isinstance(scheduler, ParamScheduler):
            raise TypeError(
                "scheduler must be a paramsched.ParamScheduler (ps.ParamScheduler(optimizer, schedules, "
                f"total_steps)), got a {type(scheduler).__qualname__}: scheduler={_short(scheduler)}"
            )
        optimizer = unwrap_optimizer(scheduler.optimizer)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                "ParamSchedulerLR needs a ParamScheduler whose optimizer is a torch.optim.Optimizer, "
                f"got a {type(optimizer).__qualname__}: optimizer={_short(optimizer)}"
            )
        self.scheduler = scheduler
        self.follow = check_choice("follow", follow, FOLLOW_CHOICES)
        self._pending_updates = 0
        self._warned_lagging = False
        self._hook: Any = None
        if self.follow == "optimizer" and not self._attached:
            self._hook = optimizer.register_step_post_hook(self._count_update)
        # LRScheduler.__init__ ends with one step() call ("initial step"); ours
        # only reads the values the ParamScheduler already applied.
        self._constructing = True
        try:
            super().__init__(optimizer)
        finally:
            self._constructing = False

    @property
    def _attached(self) -> bool:
        return bool(getattr(self.scheduler, "_attach", False))

    def _count_update(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._pending_updates += 1

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance the ParamScheduler after an optimizer update (see ``follow``)."""
        if epoch is not None:
            raise TypeError(
                "ParamSchedulerLR.step() takes no epoch: a ParamScheduler advances one optimizer "
                f"update at a time (use load_state_dict to jump), got epoch={describe(epoch)}"
            )
        self._step_count += 1
        if not self._constructing and not self._attached:
            if self.follow == "calls":
                self.scheduler.step()
            elif self._pending_updates:
                if self._pending_updates > 1 and not self._warned_lagging:
                    self._warned_lagging = True
                    warnings.warn(
                        f"{self._pending_updates} optimizer updates happened since the last "
                        "lr_scheduler.step(); the ParamScheduler advances one step per call, so "
                        "its steps no longer match the optimizer's updates. Step the scheduler after "
                        "every optimizer update (Lightning: interval='step'), or use attach=True",
                        ScheduleWarning,
                        stacklevel=2,
                    )
                self._pending_updates = 0
                self.scheduler.step()
        self._refresh()

    def _refresh(self) -> None:
        self.last_epoch = self.scheduler.current_step
        self._last_lr = self._lrs()

    def _lrs(self) -> list[Any]:
        return [
            group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
            for group in self.optimizer.param_groups
        ]

    def get_lr(self) -> list[Any]:
        """The lr of each param group now (copies for tensor lrs)."""
        return self._lrs()

    def state_dict(self) -> dict[str, Any]:
        """``{"format", "scheduler": ParamScheduler.state_dict(), "last_epoch", "step_count"}``."""
        return {
            "format": ADAPTER_STATE_FORMAT,
            "scheduler": self.scheduler.state_dict(),
            "last_epoch": self.scheduler.current_step,
            "step_count": self._step_count,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Restore the ParamScheduler's step (its values are re-applied at once).

        Accepts this adapter's ``state_dict()`` or a ``ParamScheduler.state_dict()``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got state_dict={describe(state_dict)}")
        fmt = state_dict.get("format")
        if fmt == ADAPTER_STATE_FORMAT:
            self.scheduler.load_state_dict(state_dict["scheduler"])
            self._step_count = int(state_dict.get("step_count", self._step_count))
        elif fmt == STATE_FORMAT:
            self.scheduler.load_state_dict(state_dict)
        else:
            raise ValueError(
                f"state_dict must come from ParamSchedulerLR.state_dict() (format {ADAPTER_STATE_FORMAT!r}) "
                f"or ParamScheduler.state_dict() (format {STATE_FORMAT!r}), got format={fmt!r}"
            )
        self._pending_updates = 0
        self._refresh()

    def close(self) -> None:
        """Stop counting optimizer updates and close the ParamScheduler (flushes its recorders)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.scheduler.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_hook"] = None
        state["_rehook"] = self._hook is not None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        rehook = state.pop("_rehook", False)
        self.__dict__.update(state)
        if rehook:
            self._hook = self.optimizer.register_step_post_hook(self._count_update)

    def __repr__(self) -> str:
        return f"ParamSchedulerLR({self.scheduler!r}, follow={self.follow!r})"


def _short(value: Any) -> str:
    """``describe`` on one line (an optimizer's repr spans many)."""
    return describe(value).split("\n", 1)[0]
