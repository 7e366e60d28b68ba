"""Metric-driven policies: turn training metrics into interventions, replayable from the log.

``ReduceLROnPlateau`` is the part of ``torch.optim.lr_scheduler`` people keep
torch's schedulers for. A policy watches the metrics passed to
``sched.step(metrics={...})`` and, when it decides, changes the schedules from
the next update on. Each decision is an intervention event (``kind
"policy"``) holding the new schedule's spec, so a policy-driven run replays
exactly from its log without the metrics.

>>> import torch, paramsched as ps
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
>>> sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, total_steps=20,
...     policies=[ps.policies.ReduceOnPlateau("val_loss", factor=0.5, patience=1)])
>>> for loss in [1.0, 1.0, 1.0]:
...     opt.step(); sched.step(metrics={"val_loss": loss})
>>> opt.param_groups[0]["lr"]
0.05
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from paramsched.checks import check_choice, check_positive_int, check_real, describe
from paramsched.schedules import Clip, Scale, Schedule

__all__ = ["Decision", "Policy", "PolicyContext", "ReduceOnPlateau"]


class PolicyContext(Protocol):
    """What a policy may read from the scheduler when it decides."""

    def series_of(self, keys: Sequence[str] | None) -> list[str]:
        """The scheduled series of these keys (every series for ``None``)."""

    def schedule_in_force(self, series: str, step: int) -> Schedule:
        """The schedule driving ``series`` at ``step`` (interventions included)."""

    def value_at(self, series: str, step: int) -> float:
        """The value ``series`` takes at ``step`` under the plan in force."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """A policy's decision: from the next update on, ``changes`` (series -> new schedule)."""

    changes: dict[str, Schedule]
    reason: str


class Policy(abc.ABC):
    """Base class of metric-driven policies.

    ``observe(step, metrics, context)`` is called after update ``step`` with the
    metrics given to ``sched.step(metrics=...)``; it returns a :class:`Decision`
    (applied from update ``step + 1``) or ``None``. A policy holds state (its
    best value, counters): ``state_dict()`` / ``load_state_dict()`` make it
    part of the scheduler's checkpoint.
    """

    name: str = "policy"

    @abc.abstractmethod
    def observe(self, step: int, metrics: Mapping[str, float], context: PolicyContext) -> Decision | None:
        """Look at the metrics of update ``step``; decide or not."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The policy's state (plain data)."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""


class ReduceOnPlateau(Policy):
    """Multiply the schedules of ``keys`` by ``factor`` when ``metric`` stops improving.

    The rule of ``torch.optim.lr_scheduler.ReduceLROnPlateau``, value for value:
    each observation of ``metric`` is an "epoch"; it improves on the best so far
    when ``value < best * (1 - threshold)`` (``mode="min"``,
    ``threshold_mode="rel"``; ``"abs"``: ``value < best - threshold``; ``"max"``
    mirrors both). After more than ``patience`` observations without
    improvement, every series of ``keys`` follows ``max(s * factor, min_value)``
    from the next update on (``s`` the schedule in force), unless that changes
    the value by ``eps`` or less; then ``cooldown`` observations are ignored.

    Args:
        metric: the name in ``sched.step(metrics={...})`` to watch.
        keys: the keys to scale (default ``["lr"]``).
        factor: in (0, 1). patience, cooldown: ints >= 0. min_value: >= 0.
    """

    name = "ReduceOnPlateau"

    def __init__(
        self,
        metric: str,
        *,
        keys: Sequence[str] = ("lr",),
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_value: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(metric, str) or not metric:
            raise TypeError(f"metric must be a metric name (a non-empty string), got metric={describe(metric)}")
        if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"keys must be a non-empty list of scheduled keys such as ['lr'], got keys={describe(keys)}")
        self.metric = metric
        self.keys = list(keys)
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.factor = check_real("factor", factor)
        if not 0.0 < self.factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got factor={describe(factor)}")
        self.patience = check_positive_int("patience", patience, minimum=0)
        self.cooldown = check_positive_int("cooldown", cooldown, minimum=0)
        self.threshold = check_real("threshold", threshold)
        self.min_value = check_real("min_value", min_value)
        self.eps = check_real("eps", eps)
        for name, value in (("threshold", self.threshold), ("min_value", self.min_value), ("eps", self.eps)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {name}={value!r}")
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_observations = 0
        self.cooldown_left = 0
        self.observations = 0

    def _improves(self, value: float) -> bool:
        best = self.best
        if self.mode == "min":
            return value < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else value < best - self.threshold
        return value > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else value > best + self.threshold

    def observe(self, step: int, metrics: Mapping[str, float], context: PolicyContext) -> Decision | None:
        if self.metric not in metrics:
            return None
        value = float(metrics[self.metric])
        self.observations += 1
        if self._improves(value):
            self.best = value
            self.bad_observations = 0
        else:
            self.bad_observations += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_observations = 0
        if self.bad_observations <= self.patience:
            return None
        self.cooldown_left = self.cooldown
        self.bad_observations = 0
        changes: dict[str, Schedule] = {}
        for series in context.series_of(self.keys):
            current = context.schedule_in_force(series, step + 1)
            reduced: Schedule = Scale(current, self.factor)
            if self.min_value > 0.0:
                reduced = Clip(reduced, lo=self.min_value)
            old = context.value_at(series, step + 1)
            if old - max(old * self.factor, self.min_value) > self.eps:
                changes[series] = reduced
        if not changes:
            return None
        reason = (
            f"{self.name}({self.metric!r}): no improvement on {self.best!r} for "
            f"{self.patience + 1} observation(s); x{self.factor!r}"
        )
        return Decision(changes, reason)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "bad_observations": self.bad_observations,
            "cooldown_left": self.cooldown_left,
            "observations": self.observations,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping):
            raise ValueError(f"a ReduceOnPlateau state must be a dict, got {describe(state)}")
        self.best = float(state["best"])
        self.bad_observations = int(state["bad_observations"])
        self.cooldown_left = int(state["cooldown_left"])
        self.observations = int(state["observations"])

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau({self.metric!r}, keys={self.keys!r}, mode={self.mode!r}, factor={self.factor!r}, "
            f"patience={self.patience}, threshold={self.threshold!r}, threshold_mode={self.threshold_mode!r}, "
            f"cooldown={self.cooldown}, min_value={self.min_value!r}, eps={self.eps!r})"
        )
