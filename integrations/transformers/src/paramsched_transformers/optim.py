"""`create_optimizer_and_scheduler`: the ``(optimizer, lr_scheduler)`` pair for ``Trainer(optimizers=...)``.

The ``lr_scheduler`` is a :class:`paramsched.torch_adapter.ParamSchedulerLR`:
the Trainer's own ``lr_scheduler.step()`` (once per optimizer update, after
gradient accumulation, never after an update the GradScaler skipped) drives
the ParamScheduler, which schedules any key of any group (lr, weight decay,
betas, ...). The Trainer saves ``lr_scheduler.state_dict()`` in every
``checkpoint-*/scheduler.pt`` and loads it on ``train(resume_from_checkpoint=...)``,
so a resumed run continues at the exact step. Its ``"learning_rate"`` log is
``get_last_lr()[0]``: group 0's lr.

>>> import torch, paramsched as ps
>>> model = torch.nn.Linear(4, 1)
>>> opt, lr_sched = create_optimizer_and_scheduler(
...     model, {"lr": ps.Linear(1e-3, 0.0), "betas.0": ps.Constant(0.9)}, total_steps=10)
>>> type(opt).__name__, type(lr_sched).__name__, lr_sched.get_last_lr()
('AdamW', 'ParamSchedulerLR', [0.001])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from paramsched import ParamScheduler
from paramsched.checks import describe
from paramsched.recording.base import Recorder
from paramsched.torch_adapter import ParamSchedulerLR

__all__ = ["create_optimizer_and_scheduler", "decay_param_groups"]


def create_optimizer_and_scheduler(
    model: torch.nn.Module,
    schedules: Mapping[Any, Any],
    total_steps: int,
    optimizer_cls: type[torch.optim.Optimizer] = torch.optim.AdamW,
    param_groups: Sequence[Mapping[str, Any]] | None = None,
    recorders: Iterable[Recorder | str] | Recorder | str = (),
    *,
    overrides: Mapping[Any, Mapping[str, Any]] | None = None,
    relative: bool = False,
    after_end: str = "warn",
    record_ranks: str = "zero",
    total_steps_policy: str = "error",
    **optimizer_kwargs: Any,
) -> tuple[torch.optim.Optimizer, ParamSchedulerLR]:
    """Build the optimizer and a ParamScheduler-driven torch lr scheduler for a HF ``Trainer``.

    Args:
        model: the model; its trainable parameters form one group unless
            ``param_groups`` is given.
        schedules: the ``schedules`` mapping of :class:`paramsched.ParamScheduler`.
        total_steps: optimizer updates in the run (the Trainer's ``max_steps``, or
            ``ceil(len(train_dataloader) / gradient_accumulation_steps) * num_train_epochs``).
        optimizer_cls: the optimizer class (default ``torch.optim.AdamW``).
        param_groups: the optimizer's groups, e.g. from :func:`decay_param_groups`;
            give each a ``"name"`` to label its series (``hp/lr/<name>``).
        recorders: paramsched recorders (``"csv:runs/a"``, ``"mlflow"``, ...).
        overrides, relative, after_end, record_ranks, total_steps_policy: passed to
            :class:`paramsched.ParamScheduler`.
        **optimizer_kwargs: passed to ``optimizer_cls`` (``lr``, ``betas``, ``weight_decay``, ...).

    Returns:
        ``(optimizer, lr_scheduler)``; ``lr_scheduler.scheduler`` is the ParamScheduler.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got model={describe(model)}")
    if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, torch.optim.Optimizer)):
        raise TypeError(
            f"optimizer_cls must be a torch.optim.Optimizer subclass, got optimizer_cls={describe(optimizer_cls)}"
        )
    if param_groups is None:
        groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    else:
        if isinstance(param_groups, (str, Mapping)) or not isinstance(param_groups, Sequence) or not all(
            isinstance(g, Mapping) and "params" in g for g in param_groups
        ):
            raise TypeError(
                "param_groups must be a list of dicts with a 'params' entry, "
                f"got param_groups={describe(param_groups)}"
            )
        groups = [dict(g) for g in param_groups]
    optimizer = optimizer_cls(groups, **optimizer_kwargs)
    scheduler = ParamScheduler(
        optimizer,
        schedules,
        total_steps,
        overrides=overrides,
        relative=relative,
        recorders=recorders,
        after_end=after_end,
        record_ranks=record_ranks,
        total_steps_policy=total_steps_policy,
    )
    return optimizer, ParamSchedulerLR(scheduler)


_NO_DECAY_TYPES = (torch.nn.LayerNorm, torch.nn.Embedding, torch.nn.GroupNorm, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)


def decay_param_groups(
    model: torch.nn.Module, names: tuple[str, str] = ("decay", "no_decay")
) -> list[dict[str, Any]]:
    """Two named groups, as the Trainer splits them: weights, and biases + norm/embedding weights.

    Schedule weight decay on the first only with ``overrides={"no_decay": {"weight_decay": ps.Constant(0.0)}}``.

    >>> groups = decay_param_groups(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2)))
    >>> [(g["name"], len(g["params"])) for g in groups]
    [('decay', 1), ('no_decay', 3)]
    """
    no_decay: set[int] = set()
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if isinstance(module, _NO_DECAY_TYPES) or pname == "bias" or "norm" in type(module).__name__.lower():
                no_decay.add(id(param))
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if id(p) not in no_decay], "name": names[0]},
        {"params": [p for p in trainable if id(p) in no_decay], "name": names[1]},
    ]
