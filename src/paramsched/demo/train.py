"""What the demo trains: a tiny regression MLP (two named param groups, AdamW) on CPU.

Deterministic: the data and the initial weights come from ``SEED``, and the
batch of step ``k`` from ``SEED`` and ``k`` alone, so a run resumed from a
checkpoint at step ``k`` trains on the same batches as the run it continues.
Every step records the batch ``loss``; every ``EVAL_EVERY`` steps (and the
last) the held-out ``val_loss``. :func:`stable_phase` trains the parent and
checkpoints it, :func:`cooldown` trains a branch from one of its checkpoints.

>>> import paramsched as ps
>>> from paramsched.demo.train import Trainer
>>> trainer = Trainer()
>>> sched = ps.ParamScheduler(trainer.optimizer, {"lr": ps.Constant(1e-3)}, total_steps=5)
>>> trainer.run(sched, 0, 5, quiet=True) > 0
True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paramsched._progress import progress

PARENT = "stable"
SEED = 0
BATCH = 64
EVAL_EVERY = 10


class Trainer:
    """The model, its AdamW optimizer (groups ``body`` and ``head``) and the data."""

    def __init__(self) -> None:
        import torch

        torch.manual_seed(SEED)
        data = torch.Generator().manual_seed(SEED)
        inputs = torch.randn(1280, 16, generator=data)
        weights = torch.randn(16, 1, generator=data)
        targets = torch.tanh(inputs @ weights) + 0.05 * torch.randn(1280, 1, generator=data)
        self.train_x, self.train_y = inputs[:1024], targets[:1024]
        self.val_x, self.val_y = inputs[1024:], targets[1024:]
        body = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 64), torch.nn.GELU())
        head = torch.nn.Linear(64, 1)
        self.model = torch.nn.Sequential(body, head)
        self.optimizer = torch.optim.AdamW(
            [{"params": body.parameters(), "name": "body"}, {"params": head.parameters(), "name": "head"}],
            lr=1e-3, weight_decay=0.1,
        )
        self._batches = torch.Generator()

    def state(self, scheduler: Any) -> dict[str, Any]:
        """A checkpoint: model, optimizer and scheduler state (``sched.state_dict()`` flushes the logs)."""
        return {"model": self.model.state_dict(), "opt": self.optimizer.state_dict(), "sched": scheduler.state_dict()}

    def load(self, path: str | os.PathLike[str], scheduler: Any) -> None:
        """Load a checkpoint written by :meth:`state` (``torch.save``) into the model, optimizer and ``scheduler``."""
        import torch

        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["opt"])
        scheduler.load_state_dict(state["sched"])

    def run(
        self, scheduler: Any, start: int, stop: int, *, quiet: bool, name: str = "",
        after_step: Callable[[int], None] | None = None,
    ) -> float:
        """Train steps ``start..stop-1`` under ``scheduler``; returns the last ``val_loss``."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny model: one thread is fastest, and fair to a shared machine
        val = float("nan")
        try:
            for step in progress(range(start, stop), desc=f"{name:>14}", unit="step",
                                 enabled=False if quiet else None, leave=True):
                self._batches.manual_seed(SEED * 1_000_003 + step)
                index = torch.randint(0, self.train_x.shape[0], (BATCH,), generator=self._batches)
                loss = torch.nn.functional.mse_loss(self.model(self.train_x[index]), self.train_y[index])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                metrics = {"loss": float(loss.detach())}
                if (step + 1) % EVAL_EVERY == 0 or step == scheduler.total_steps - 1:
                    with torch.no_grad():
                        val = float(torch.nn.functional.mse_loss(self.model(self.val_x), self.val_y))
                    metrics["val_loss"] = val
                scheduler.step(metrics=metrics)
                if after_step is not None:
                    after_step(step + 1)
        finally:
            torch.set_num_threads(threads)
        return val


def stable_phase(peak: float, steps: int, recorders: list[Any], checkpoints: Path, every: int, *, quiet: bool) -> float:
    """The parent: warmup then a constant lr (the head at 3x), beta1 warmup, cosine weight decay;
    a checkpoint ``checkpoints/stable-step<k>.pt`` every ``every`` steps. The last ``val_loss``."""
    import torch

    import paramsched as ps

    schedules = {
        "lr": ps.WarmupStableDecay(peak, warmup=0.1, decay=0),  # the stable phase: no decay
        "betas.0": ps.Warmup(ps.Constant(0.95), steps=0.25, start=0.85),
        "weight_decay": ps.Cosine(0.1, 0.01),
    }
    overrides = {"head": {"lr": ps.WarmupStableDecay(3 * peak, warmup=0.1, decay=0)}}
    trainer = Trainer()
    with ps.ParamScheduler(trainer.optimizer, schedules, steps, overrides=overrides, recorders=recorders,
                           record_metrics=True) as sched:
        def checkpoint(done: int) -> None:
            if done % every == 0 and done < steps:
                torch.save(trainer.state(sched), checkpoints / f"{PARENT}-step{done}.pt")

        return trainer.run(sched, 0, steps, quiet=quiet, name=PARENT, after_step=checkpoint)


def cooldown(
    child: Any, lineage: dict[str, Any], recorders: list[Any], checkpoint: Path, *, quiet: bool, name: str
) -> float:
    """A branch (``ps.branch(...)``) from the parent's ``checkpoint`` at its branch step; the last ``val_loss``."""
    import paramsched as ps

    trainer = Trainer()
    kwargs = {**child.scheduler_kwargs(), "lineage": lineage}
    sched = ps.ParamScheduler(trainer.optimizer, **kwargs, recorders=recorders, record_metrics=True)
    trainer.load(checkpoint, sched)  # the parent's checkpoint: accepted without strict=False
    with sched:
        return trainer.run(sched, lineage["branch_step"], child.total_steps, quiet=quiet, name=name)
