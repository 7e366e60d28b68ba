"""`ParamScheduler`: applies schedules to any key of any param group of an optimizer.

The only stateful part of the library. Step ``k`` is the k-th optimizer update,
counted from 0; the values in effect during update ``k`` are ``f(k, total_steps)``.
Construction applies step 0 and each ``step()`` after ``optimizer.step()``
applies the next one, recording the values of the update that just finished.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from paramsched import _plan
from paramsched._apply import compile_apply
from paramsched._torch_compat import (
    as_float,
    check_tensor_support,
    distributed_rank,
    inside_dcp_optimizer_init,
    own_scheduled_tensors,
    tensor_keys,
    unwrap_optimizer,
)
from paramsched._version import __version__
from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.recording.base import Recorder, RunMetadata
from paramsched.runformat import FORMAT, utc_now
from paramsched.schedules import Schedule
from paramsched.targets import group_labels, read_target

STATE_FORMAT = "paramsched.state/1"
AFTER_END_CHOICES = ("warn", "raise")
TOTAL_STEPS_POLICIES = ("error", "rescale", "extend")
RECORD_RANKS_CHOICES = ("zero", "all")


class ScheduleWarning(UserWarning):
    """A scheduler situation worth knowing about that does not stop training."""


class ScheduleEndedError(RuntimeError):
    """An optimizer update ran past ``total_steps`` with ``after_end="raise"``."""


class ParamScheduler:
    """Apply schedules to optimizer hyperparameters, per group, and record every value.

    Args:
        optimizer: a ``torch.optim.Optimizer`` (or anything with ``param_groups``).
        schedules: ``{key: schedule}`` for every group, or ``{(key, group): schedule}``
            for one group. A key is any existing param-group entry (``"lr"``,
            ``"weight_decay"``, ``"momentum"``, a custom key) or one tuple element
            (``"betas.0"``). A schedule is a `Schedule`, a spec dict, or a picklable
            callable ``f(step, total_steps)``.
        total_steps: the number of optimizer updates in the run.
        overrides: ``{group: {key: schedule}}`` by group index (``0..n-1``) or
            ``name``; replaces only the keys it names.
        relative: multiply each group's value at construction (its base) by the schedule.
        recorders: recorder instances or names (``"csv:runs/a"``, ``"wandb"``, ``"mlflow"``).
        attach: advance from the optimizer's step post-hook instead of manual ``step()``.
        after_end: ``"warn"`` (hold the final values, warn once) or ``"raise"`` when an
            update runs at a step >= ``total_steps``.
        tensors: store the scheduled values as 0-d float64 tensors on the params'
            device, updated in place (for ``torch.compile``d steps and CUDA graphs: no
            recompilation, no recapture). ``True`` converts every scheduled key; a list
            of keys (``["lr", "betas.0"]``) only those. torch's Adam and AdamW take
            tensor ``lr`` and ``betas`` (with ``foreach=False``, ``fused=True`` or
            ``capturable=True``) but read ``weight_decay`` as a number, so a compiled
            step recompiles when a scheduled ``weight_decay`` changes.
        record_ranks: under torch.distributed, ``"zero"`` records on rank 0 only,
            ``"all"`` on every rank.
        total_steps_policy: what ``load_state_dict`` does when the checkpoint's
            ``total_steps`` differs: ``"error"``, ``"rescale"`` (the schedules stretch
            to the new length) or ``"extend"`` (keep the warmup, move the decay to the
            new end).

    Example:
        >>> import torch, paramsched as ps
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        >>> sched = ps.ParamScheduler(opt, {"lr": ps.Linear(1e-3, 0.0),
        ...                                 "betas.0": ps.Constant(0.9)}, total_steps=4)
        >>> opt.param_groups[0]["lr"]
        0.001
        >>> opt.step(); sched.step()
        >>> opt.param_groups[0]["lr"]
        0.00075
    """

    def __init__(
        self,
        optimizer: Any,
        schedules: Mapping[Any, Any],
        total_steps: int,
        *,
        overrides: Mapping[Any, Mapping[str, Any]] | None = None,
        relative: bool = False,
        recorders: Iterable[Recorder | str] | Recorder | str = (),
        attach: bool = False,
        after_end: str = "warn",
        tensors: bool | Iterable[str] = False,
        record_ranks: str = "zero",
        total_steps_policy: str = "error",
    ) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not groups:
            raise TypeError(
                "optimizer must be a torch.optim.Optimizer with at least one param group, "
                f"got optimizer={describe(optimizer)}"
            )
        self.total_steps = check_positive_int("total_steps", total_steps)
        self.after_end = check_choice("after_end", after_end, AFTER_END_CHOICES)
        self.total_steps_policy = check_choice(
            "total_steps_policy", total_steps_policy, TOTAL_STEPS_POLICIES
        )
        self.record_ranks = check_choice("record_ranks", record_ranks, RECORD_RANKS_CHOICES)
        for name, flag in (("relative", relative), ("attach", attach)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {name}={describe(flag)}")
        hook_target = unwrap_optimizer(optimizer)
        if attach and not hasattr(hook_target, "_optimizer_step_post_hooks"):
            raise TypeError(
                "attach=True needs a torch.optim.Optimizer to hook (torch >= 2.0), "
                f"got optimizer={describe(optimizer)}"
            )

        self.optimizer = optimizer
        self.relative = relative
        self.tensors = tensors
        self.labels = group_labels(groups)
        plan = _plan.build_plan(schedules, overrides, groups, self.labels)
        as_tensors = tensor_keys(tensors, plan)
        check_tensor_support(groups, plan, as_tensors)
        self._bases = [as_float(read_target(e.target, groups[e.group_index])) for e in plan]
        _plan.check_plan(plan, self.total_steps, self._bases if relative else None)
        # Everything is checked: from here on the optimizer's groups are changed.
        own_scheduled_tensors(optimizer, plan, as_tensors=as_tensors)
        self._original_plan = plan  # as given; the plan in use may be extended on resume
        self._set_plan(plan)
        self.series = [entry.series for entry in plan]
        self._fingerprint = _plan.fingerprint(plan)
        self._planned_total_steps = self.total_steps
        self._rank, self._world_size = distributed_rank()
        self._recorder_specs = _as_recorder_list(recorders)
        self._recorder = self._resolve_recorders()
        self._recorder_started = False
        self._resumed_from_step: int | None = None
        self._warned_after_end = False
        self._closed = False
        self._hooks: list[Any] = []
        self._attach = attach
        self._hook_target = hook_target
        self._skip_hooked_step = False
        self._step = 0
        self._values = self._apply(0)
        if attach:
            self._register_hooks()

    # -- the loop ----------------------------------------------------------------

    @property
    def current_step(self) -> int:
        """The optimizer update the values now in effect are for (0 before the first)."""
        return self._step

    def step(self) -> None:
        """Call after each ``optimizer.step()``: records that update's values, applies the next."""
        finished = self._step
        total = self.total_steps
        if finished >= total:
            self._after_end(finished)
        if self._recorder is not None:
            self._record(finished)
        self._step = step = finished + 1
        # _apply() inlined: this runs once per optimizer update.
        values = self._apply_fn(
            self.optimizer.param_groups, step if step < total else total - 1, total, self._schedules, self._bases
        )
        if values is None:
            self._raise_not_finite(step, self._compute(step))
        self._values = values

    def current(self) -> dict[tuple[str, str], float]:
        """The values in effect now, as ``{(key, group_label): value}``."""
        return {(e.key, e.label): v for e, v in zip(self._plan, self._values)}

    def current_series(self) -> dict[str, float]:
        """The values in effect now, as ``{"hp/<key>/<group>": value}``."""
        return dict(zip(self.series, self._values))

    def values_at(self, step: int) -> dict[str, float]:
        """The values this scheduler applies for update ``step``, without applying them."""
        check_positive_int("step", step, minimum=0)
        return dict(zip(self.series, self._compute(step)))

    def _set_plan(self, plan: list[_plan.PlanEntry]) -> None:
        """Install ``plan`` and the flat lookups the per-step loop uses."""
        self._plan = plan
        # A schedule shared by several groups is evaluated once per step.
        unique: dict[int, int] = {}
        for entry in plan:
            unique.setdefault(id(entry.schedule), len(unique))
        self._schedules = list({id(e.schedule): e.schedule for e in plan}.values())
        self._sources = [unique[id(e.schedule)] for e in plan]
        self._slots = [(e.group_index, e.target.field, e.target.index) for e in plan]
        self._apply_fn = compile_apply(self._slots, self._sources, len(self._schedules), self.relative)

    def _compute(self, step: int) -> list[float]:
        return _plan.evaluate(self._plan, step, self.total_steps, self._bases if self.relative else None)

    def _apply(self, step: int) -> list[float]:
        total = self.total_steps
        k = step if step < total else total - 1
        # optimizer.param_groups is looked up each time: load_state_dict replaces it.
        values = self._apply_fn(self.optimizer.param_groups, k, total, self._schedules, self._bases)
        if values is None:
            self._raise_not_finite(step, self._compute(step))
        return values

    def _raise_not_finite(self, step: int, values: list[float]) -> None:
        for entry, value in zip(self._plan, values):
            if not math.isfinite(value):
                raise ValueError(
                    f"{entry.origin} gave {entry.key}={value!r} at step {step} for group "
                    f"{entry.label!r}; every applied value must be finite"
                )

    def _after_end(self, step: int) -> None:
        message = (
            f"optimizer update at step {step} is past the end of the schedule "
            f"(total_steps={self.total_steps})"
        )
        if self.after_end == "raise":
            raise ScheduleEndedError(message + "; after_end='raise'")
        if not self._warned_after_end:
            self._warned_after_end = True
            warnings.warn(
                message + f"; holding the values of step {self.total_steps - 1} "
                "(after_end='raise' makes this an error)",
                ScheduleWarning,
                stacklevel=3,
            )

    # -- attach ----------------------------------------------------------------------

    def _register_hooks(self) -> None:
        self._hooks = [
            self._hook_target.register_step_pre_hook(self._before_optimizer_step),
            self._hook_target.register_step_post_hook(self._after_optimizer_step),
        ]

    def _before_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        # An optimizer without state is either before its first update or being
        # initialised by torch.distributed.checkpoint: only then look further.
        if not optimizer.state and inside_dcp_optimizer_init():
            self._skip_hooked_step = True
            return
        if self._step >= self.total_steps and self.after_end == "raise":
            self._after_end(self._step)

    def _after_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._skip_hooked_step:
            self._skip_hooked_step = False
            return
        self.step()

    # -- recording -------------------------------------------------------------------

    def _resolve_recorders(self) -> Recorder | None:
        if not self._recorder_specs:
            return None
        if self._world_size > 1 and self.record_ranks == "zero" and self._rank != 0:
            return None
        from paramsched.recording import FanOut, resolve_recorder

        recorders = [resolve_recorder(spec) for spec in self._recorder_specs]
        return recorders[0] if len(recorders) == 1 else FanOut(recorders)

    def _record(self, step: int) -> None:
        recorder = self._recorder
        assert recorder is not None
        if not self._recorder_started:
            self._recorder_started = True
            recorder.start(self.run_metadata())
        recorder.record(step, dict(zip(self.series, self._values)))

    def run_metadata(self) -> RunMetadata:
        """The JSON document recorders store with the run (see ``recording.metadata``)."""
        schedules, overrides = _plan.plan_specs(self._plan, len(self.labels))
        groups: list[dict[str, Any]] = [
            {"index": i, "label": label, "base": {}} for i, label in enumerate(self.labels)
        ]
        for entry, base in zip(self._plan, self._bases):
            groups[entry.group_index]["base"][entry.key] = base
        optimizer_class = type(self.optimizer)
        return {
            "format": FORMAT,
            "paramsched_version": __version__,
            "created_at": utc_now(),
            "total_steps": self.total_steps,
            "optimizer": f"{optimizer_class.__module__}.{optimizer_class.__qualname__}",
            "relative": self.relative,
            "schedules": schedules,
            "overrides": overrides,
            "groups": groups,
            "series": list(self.series),
            "rank": self._rank,
            "world_size": self._world_size,
            "record_ranks": self.record_ranks,
            "resumed_from_step": self._resumed_from_step,
        }

    @property
    def recorder(self) -> Recorder | None:
        """The recorder (or fan-out of recorders) this scheduler feeds, if any."""
        return self._recorder

    def flush(self) -> None:
        """Push every recorded value to its backend."""
        if self._recorder is not None and self._recorder_started:
            self._recorder.flush()

    def close(self) -> None:
        """Flush and close the recorders and detach from the optimizer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        if self._recorder is not None and self._recorder_started:
            self._recorder.close()

    def __enter__(self) -> ParamScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Step, total_steps, base values and a fingerprint of the schedules: all a resume needs."""
        return {
            "format": STATE_FORMAT,
            "step": self._step,
            "total_steps": self.total_steps,
            "planned_total_steps": self._planned_total_steps,
            "base_values": dict(zip(self.series, self._bases)),
            "fingerprint": self._fingerprint,
        }

    def load_state_dict(
        self,
        state_dict: Mapping[str, Any],
        *,
        strict: bool = True,
        total_steps_policy: str | None = None,
    ) -> None:
        """Restore a checkpointed state and re-apply that step's values at once.

        A checkpoint made with other schedules is an error, or a warning with
        ``strict=False``. A different ``total_steps`` follows ``total_steps_policy``
        (default: the constructor's).
        """
        if not isinstance(state_dict, Mapping) or state_dict.get("format") != STATE_FORMAT:
            got = state_dict.get("format") if isinstance(state_dict, Mapping) else describe(state_dict)
            raise ValueError(f"state_dict must come from ParamScheduler.state_dict() (format {STATE_FORMAT!r}), got format={got!r}")
        policy = check_choice(
            "total_steps_policy",
            self.total_steps_policy if total_steps_policy is None else total_steps_policy,
            TOTAL_STEPS_POLICIES,
        )
        if state_dict["fingerprint"] != self._fingerprint:
            message = (
                "the checkpoint was made with different schedules than this scheduler's "
                f"(fingerprint {state_dict['fingerprint']} != {self._fingerprint})"
            )
            if strict:
                raise ValueError(message + "; pass strict=False to load it anyway")
            warnings.warn(message + "; continuing with this scheduler's schedules", ScheduleWarning, stacklevel=2)
        saved_bases = state_dict["base_values"]
        missing = [s for s in self.series if s not in saved_bases]
        if missing and strict:
            raise ValueError(f"the checkpoint has no base values for series {missing}")
        saved_total = check_positive_int("state_dict['total_steps']", state_dict["total_steps"])
        planned = int(state_dict.get("planned_total_steps", saved_total))
        if saved_total != self.total_steps:
            if policy == "error":
                raise ValueError(
                    f"the checkpoint has total_steps={saved_total}, this scheduler "
                    f"total_steps={self.total_steps}; pass total_steps_policy='rescale' (stretch "
                    "the schedules) or 'extend' (keep the warmup, move the decay to the new end)"
                )
            if policy == "rescale":
                planned = self.total_steps
        # A run extended once stays extended from the length it was planned for.
        self._set_plan(self._original_plan if planned == self.total_steps else self._extended_plan(planned))
        self._planned_total_steps = planned
        self._bases = [float(saved_bases.get(s, b)) for s, b in zip(self.series, self._bases)]
        self._step = check_positive_int("state_dict['step']", state_dict["step"], minimum=0)
        self._resumed_from_step = self._step
        self._values = self._apply(self._step)

    def _extended_plan(self, planned: int) -> list[_plan.PlanEntry]:
        extended = []
        memo: dict[int, Schedule | None] = {}  # extend a shared schedule once, keep it shared
        for entry in self._original_plan:
            if id(entry.schedule) not in memo:
                memo[id(entry.schedule)] = entry.schedule.extended(planned, self.total_steps)
            schedule = memo[id(entry.schedule)]
            if schedule is None:
                raise ValueError(
                    f"the checkpoint's run was planned for total_steps={planned}, this scheduler "
                    f"has total_steps={self.total_steps}; total_steps_policy='extend' needs schedules "
                    f"with a warmup and a decay phase, but {entry.origin} is {entry.schedule!r}; "
                    "use 'rescale'"
                )
            extended.append(dataclasses.replace(entry, schedule=schedule))
        _plan.check_plan(extended, self.total_steps, self._bases if self.relative else None)
        return extended

    # -- pickling ---------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # Hooks cannot be pickled, and recorders hold open files and network
        # connections: an unpickled scheduler re-attaches its hooks but records
        # nothing. To resume recording, build a scheduler with recorders and
        # load_state_dict() the checkpoint into it.
        state = self.__dict__.copy()
        state["_hooks"] = []
        del state["_apply_fn"]  # generated code: rebuilt on unpickling
        state["_recorder"] = None
        state["_recorder_started"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._apply_fn = compile_apply(self._slots, self._sources, len(self._schedules), self.relative)
        if self._attach and not self._closed:
            self._register_hooks()

    def as_lr_scheduler(self, **options: Any) -> torch.optim.lr_scheduler.LRScheduler:
        """A ``torch.optim.lr_scheduler.LRScheduler`` that drives this scheduler, for
        frameworks that insist on one; ``options`` go to `ParamSchedulerLR`."""
        from paramsched.torch_adapter import ParamSchedulerLR

        return ParamSchedulerLR(self, **options)

    def __repr__(self) -> str:
        return (
            f"ParamScheduler(step={self._step}, total_steps={self.total_steps}, "
            f"series={self.series!r})"
        )


def _as_recorder_list(recorders: Any) -> list[Any]:
    if isinstance(recorders, (str, Recorder)):
        return [recorders]
    if recorders is None:
        return []
    try:
        return list(recorders)
    except TypeError:
        raise TypeError(
            "recorders must be a recorder, a name such as 'csv:runs/a', or a list of them, "
            f"got recorders={describe(recorders)}"
        ) from None
