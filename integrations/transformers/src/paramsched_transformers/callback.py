"""`ParamSchedulerCallback`: checks and lifecycle for a ParamScheduler inside a HF ``Trainer``.

The scheduling itself is done by the lr scheduler from
:func:`~paramsched_transformers.create_optimizer_and_scheduler`, which the
Trainer steps, saves and restores. The callback:

- at ``on_train_begin``, checks that the Trainer really uses that scheduler
  (a forgotten ``optimizers=`` would silently train with the Trainer's own
  linear schedule) and that its ``total_steps`` matches the Trainer's
  ``max_steps`` (warns when not);
- at every ``on_save``, flushes the recorders, so the values recorded up to
  a ``checkpoint-*`` are on disk with it;
- at ``on_train_end``, closes the ParamScheduler (flushes and closes its
  recorders, ends runs it created).

>>> from paramsched_transformers import ParamSchedulerCallback
>>> ParamSchedulerCallback()
ParamSchedulerCallback(check_total_steps=True)
"""

from __future__ import annotations

import warnings
from typing import Any

from transformers import TrainerCallback

from paramsched import ParamScheduler, ScheduleWarning
from paramsched.checks import describe
from paramsched.torch_adapter import ParamSchedulerLR

__all__ = ["ParamSchedulerCallback", "find_param_scheduler"]


def find_param_scheduler(lr_scheduler: Any) -> ParamScheduler | None:
    """The ParamScheduler behind ``lr_scheduler`` (the adapter, possibly wrapped by Accelerate)."""
    seen = 0
    while lr_scheduler is not None and seen < 4:
        if isinstance(lr_scheduler, ParamSchedulerLR):
            return lr_scheduler.scheduler
        lr_scheduler = getattr(lr_scheduler, "scheduler", None)  # AcceleratedScheduler
        seen += 1
    return None


class ParamSchedulerCallback(TrainerCallback):
    """Verify, flush and close the ParamScheduler of ``Trainer(optimizers=create_optimizer_and_scheduler(...))``.

    Args:
        check_total_steps: warn when the scheduler's ``total_steps`` differs
            from the Trainer's ``max_steps`` (the schedule would end early or
            never finish).

    Attributes:
        scheduler: the ParamScheduler found at ``on_train_begin``.
    """

    def __init__(self, check_total_steps: bool = True) -> None:
        if not isinstance(check_total_steps, bool):
            raise TypeError(
                f"check_total_steps must be True or False, got check_total_steps={describe(check_total_steps)}"
            )
        self.check_total_steps = check_total_steps
        self.scheduler: ParamScheduler | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, lr_scheduler: Any = None, **kwargs: Any) -> None:
        scheduler = find_param_scheduler(lr_scheduler)
        if scheduler is None:
            raise ValueError(
                "ParamSchedulerCallback: the Trainer's lr scheduler is "
                f"{type(lr_scheduler).__name__}, not a paramsched one; pass "
                "Trainer(optimizers=create_optimizer_and_scheduler(model, schedules, total_steps))"
            )
        self.scheduler = scheduler
        if self.check_total_steps and state.max_steps and state.max_steps != scheduler.total_steps:
            warnings.warn(
                f"the ParamScheduler has total_steps={scheduler.total_steps} but the Trainer will run "
                f"max_steps={state.max_steps} optimizer updates; pass total_steps={state.max_steps} "
                "to create_optimizer_and_scheduler",
                ScheduleWarning,
                stacklevel=2,
            )

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.scheduler is not None:
            self.scheduler.flush()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.scheduler is not None:
            self.scheduler.close()

    def __repr__(self) -> str:
        return f"ParamSchedulerCallback(check_total_steps={self.check_total_steps})"
