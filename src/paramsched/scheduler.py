"""`ParamScheduler`: applies schedules to any key of any param group of an optimizer.

The only stateful part of the library. Step ``k`` is the k-th optimizer update,
counted from 0; the values in effect during update ``k`` are ``f(k, total_steps)``.
Construction applies step 0 and each ``step()`` after ``optimizer.step()``
applies the next one, recording the values of the update that just finished:
the values the optimizer actually used (another code path that changed one
is "drift", see ``on_drift``). Interventions (``intervene``, a control file,
a policy) change the plan from some update on and are recorded as events,
so that a run replays exactly from its log.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from paramsched import _plan
from paramsched._apply import DRIFT, TENSOR, compile_apply, slot_kind, write_value
from paramsched._feed import RecorderFeed
from paramsched._interventions import Intervention, in_force, resolve_changes, with_change
from paramsched._torch_compat import (
    as_float,
    broadcast_from_rank0,
    check_tensor_support,
    distributed_rank,
    inside_dcp_optimizer_init,
    own_scheduled_tensors,
    tensor_keys,
    unwrap_optimizer,
)
from paramsched._version import __version__
from paramsched.checks import check_choice, check_positive_int, check_real, describe
from paramsched.events import make_event
from paramsched.naming import parse_series_name
from paramsched.recording.base import Recorder, RunMetadata
from paramsched.runformat import FORMAT, utc_now
from paramsched.schedules import Constant, Schedule
from paramsched.targets import group_labels, read_target

STATE_FORMAT = "paramsched.state/1"
AFTER_END_CHOICES = ("warn", "raise")
TOTAL_STEPS_POLICIES = ("error", "rescale", "extend")
RECORD_RANKS_CHOICES = ("zero", "all")
ON_DRIFT_CHOICES = ("warn", "raise", "adopt")
_STATE_KEYS = ("step", "total_steps", "base_values", "fingerprint")


class ScheduleWarning(UserWarning):
    """A scheduler situation worth knowing about that does not stop training."""


class DriftWarning(ScheduleWarning):
    """Another code path changed a scheduled value; the value it set is what was recorded."""


class ScheduleEndedError(RuntimeError):
    """An optimizer update ran past ``total_steps`` with ``after_end="raise"``."""


class DriftError(RuntimeError):
    """Another code path changed a scheduled value and ``on_drift="raise"`` (or it cannot be adopted)."""


class ParamScheduler:
    """Apply schedules to optimizer hyperparameters, per group, and record every value.

    Args:
        optimizer: a ``torch.optim.Optimizer`` (or anything with ``param_groups``).
        schedules: ``{key: schedule}`` for every group, or ``{(key, group): schedule}``
            for one group. A key is any existing numeric param-group entry (``"lr"``,
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
            ``"all"`` on every rank (the rank is read when recording starts).
        total_steps_policy: what ``load_state_dict`` does when the checkpoint's
            ``total_steps`` differs: ``"error"``, ``"rescale"`` (the schedules stretch
            to the new length) or ``"extend"`` (keep the warmup, move the decay to the
            new end).
        on_drift: what happens when another code path (a second LR scheduler, an LR
            finder, ``group["lr"] = ...``) changed a scheduled value before an update:
            ``"warn"`` (record the value the optimizer used, warn once per series, log a
            ``drift`` event), ``"raise"`` (:class:`DriftError`; with ``attach=True``
            before the update runs) or ``"adopt"`` (keep the new value from then on, as
            an intervention). A tensor value is checked by identity only (reading it
            would synchronize the device): replacing it is noticed, ``fill_`` is not.
        control: a control file to watch (see :mod:`paramsched.control`): changes
            written to it are applied at a step boundary, every ``control_every``
            updates, as interventions.
        policies: metric-driven policies (:mod:`paramsched.policies`) fed by
            ``step(metrics=...)``.
        record_metrics: also record the metrics given to ``step(metrics=...)``
            (recorders that keep metrics: CSV ``metrics.csv``, ...).
        lineage: for a branched run (``ps.branch``): the parent it descends from,
            stored in the run metadata as ``"parent"``; a checkpoint of that parent
            loads into this scheduler.

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
        on_drift: str = "warn",
        control: Any = None,
        control_every: int = 10,
        policies: Sequence[Any] = (),
        record_metrics: bool = False,
        lineage: Mapping[str, Any] | None = None,
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
        self.on_drift = check_choice("on_drift", on_drift, ON_DRIFT_CHOICES)
        for name, flag in (("relative", relative), ("attach", attach), ("record_metrics", record_metrics)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {name}={describe(flag)}")
        if on_drift == "adopt" and relative:
            raise ValueError(
                "on_drift='adopt' needs relative=False: an adopted value is held exactly, and a "
                "relative run multiplies every schedule by its group's base; got relative=True"
            )
        hook_target = unwrap_optimizer(optimizer)
        if attach and not hasattr(hook_target, "_optimizer_step_post_hooks"):
            raise TypeError(
                "attach=True needs a torch.optim.Optimizer to hook (torch >= 2.0), "
                f"got optimizer={describe(optimizer)}"
            )
        self._control = _control_file(control)
        self.control_every = check_positive_int("control_every", control_every)
        self.policies = _check_policies(policies)
        self._lineage = _check_lineage(lineage)

        self.optimizer = optimizer
        self.relative = relative
        self.tensors = tensors
        self.record_metrics = record_metrics
        self.labels = group_labels(groups)
        plan = _plan.build_plan(schedules, overrides, groups, self.labels)
        as_tensors = tensor_keys(tensors, plan)
        check_tensor_support(groups, plan, as_tensors)
        self._bases = [as_float(read_target(e.target, groups[e.group_index])) for e in plan]
        _plan.check_plan(plan, self.total_steps, self._bases if relative else None)
        # Everything is checked: from here on the optimizer's groups are changed.
        own_scheduled_tensors(optimizer, plan, as_tensors=as_tensors)
        self.series = [entry.series for entry in plan]
        self._original_plan = plan  # as given
        self._base_plan = plan  # as given, or extended on resume: what the metadata describes
        self._interventions: list[Intervention] = []
        self._fingerprint = _plan.fingerprint(plan)
        self._planned_total_steps = self.total_steps
        self._feed = RecorderFeed(recorders, self.record_ranks)
        self._events: list[dict[str, Any]] = []
        self._resumed_from_step: int | None = None
        self._warned_after_end = False
        self._warned_drift: set[str] = set()
        self._applied_control: list[str] = []
        self._pending_control: list[tuple[int, Any]] = []
        self._closed = False
        self._hooks: list[Any] = []
        self._attach = attach
        self._hook_target = hook_target
        self._skip_hooked_step = False
        self._step = 0
        self._install(plan)
        self._values = self._resync(0)
        if attach:
            self._register_hooks()

    # -- the loop ----------------------------------------------------------------

    @property
    def current_step(self) -> int:
        """The optimizer update the values now in effect are for (0 before the first)."""
        return self._step

    def step(self, metrics: Mapping[str, float] | None = None) -> None:
        """Call after each ``optimizer.step()``: records that update's values, applies the next.

        ``metrics`` (``{"val_loss": 0.42}``) feed the policies and, with
        ``record_metrics=True``, the recorders. After any exception, the
        scheduler is at the step the optimizer is at and no value is recorded twice.
        """
        finished = self._step
        total = self.total_steps
        if finished >= total:
            self._after_end(finished)
        step = finished + 1
        recorded = self._values
        try:
            # _apply() inlined: this runs once per optimizer update.
            values = self._apply_fn(
                self.optimizer.param_groups, step if step < total else total - 1, total,
                self._schedules, self._bases, recorded, self._tensors,
            )
        except Exception as exc:  # a schedule that raised: nothing was written
            self._step = step
            self._record(finished, recorded)
            raise self._schedule_error(step, exc) from exc
        if values.__class__ is not list:  # None: not finite; DRIFT: a value changed
            self._step_slow(finished, values is DRIFT)
        else:
            self._step = step
            self._values = values
            if self._feed.active:
                self._record(finished, recorded)
        if metrics is not None:
            self._take_metrics(finished, metrics)
        if self._control is not None and step % self.control_every == 0:
            self._poll_control()
        if self._pending_control and self._pending_control[0][0] <= step:
            self._apply_pending_control()

    def _step_slow(self, finished: int, drifted: bool) -> None:
        """``step()`` when a value drifted or the next values are not finite."""
        recorded = list(self._values)
        error: DriftError | None = None
        try:
            drift = self._find_drift()
            if drift and self.on_drift == "raise":
                error = DriftError(self._drift_message(finished, drift) + "; on_drift='raise'")
            elif drift:
                recorded = self._take_drift(finished, drift, recorded)
        except DriftError as exc:  # a value that is not a number, or cannot be adopted
            error = exc
        self._step = finished + 1
        if error is not None:  # the drifted update is not recorded; the next one is planned again
            try:
                self._values = self._resync(self._step)
            except (TypeError, ValueError):
                pass
            raise error
        try:
            self._values = self._resync(self._step)
        except (TypeError, ValueError):
            self._values = recorded  # nothing was written: the groups hold these values
            self._record(finished, recorded)
            raise
        self._record(finished, recorded)

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

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of this run so far (interventions, drift, resumes, policy decisions)."""
        return [dict(e) for e in self._events]

    # -- the plan ----------------------------------------------------------------------

    def _install(self, plan: list[_plan.PlanEntry]) -> None:
        """Install ``plan`` and the flat lookups the per-step loop uses."""
        self._plan = plan
        # A schedule shared by several groups is evaluated once per step.
        unique: dict[int, int] = {}
        for entry in plan:
            unique.setdefault(id(entry.schedule), len(unique))
        self._schedules = list({id(e.schedule): e.schedule for e in plan}.values())
        self._sources = [unique[id(e.schedule)] for e in plan]
        self._slots = [(e.group_index, e.target.field, e.target.index) for e in plan]
        self._kinds: list[str] = []
        self._apply_fn = None

    def _resync(self, step: int) -> list[float]:
        """Write the values of ``step`` the slow way and refresh what the fast path checks.

        Used at construction, on resume, after an intervention and after drift: it
        accepts whatever the groups hold now (a float, a tensor) and regenerates the
        per-step code when that changed. Raises ``ValueError`` (``TypeError`` for a
        value that is not a float), writing nothing, when a value is not finite.
        """
        values = self._compute(step)
        self._check_finite(step, values)
        # optimizer.param_groups is looked up each time: load_state_dict replaces it.
        groups = self.optimizer.param_groups
        for (group, field, index), value in zip(self._slots, values, strict=True):
            write_value(groups[group], field, index, value)
        kinds = [slot_kind(groups[g], f, i) for g, f, i in self._slots]
        if kinds != self._kinds or self._apply_fn is None:
            self._kinds = kinds
            self._apply_fn = compile_apply(self._slots, kinds, self._sources, len(self._schedules), self.relative)
        self._tensors = self._slot_tensors()
        return values

    def _slot_tensors(self) -> list[Any]:
        """The tensors the tensor slots hold, in slot order (what the fast path fills in place)."""
        groups = self.optimizer.param_groups
        return [
            read_target(entry.target, groups[entry.group_index])
            for entry, kind in zip(self._plan, self._kinds, strict=True)
            if kind == TENSOR
        ]

    def _compute(self, step: int) -> list[float]:
        return _plan.evaluate(self._plan, step, self.total_steps, self._bases if self.relative else None)

    def _check_finite(self, step: int, values: list[float]) -> None:
        for entry, value in zip(self._plan, values):
            if not isinstance(value, float):
                raise TypeError(
                    f"{entry.origin} gave {entry.key}={describe(value)} ({type(value).__name__}) at step "
                    f"{step} for group {entry.label!r}; a schedule must give a float"
                )
            if not math.isfinite(value):
                raise ValueError(
                    f"{entry.origin} gave {entry.key}={value!r} at step {step} for group "
                    f"{entry.label!r}; every applied value must be finite"
                )

    def _schedule_error(self, step: int, exc: Exception) -> Exception:
        for entry in self._plan:
            try:
                entry.schedule(min(step, self.total_steps - 1), self.total_steps)
            except Exception as inner:  # noqa: BLE001 - find which schedule it was
                message = (
                    f"{entry.origin} failed for {entry.key} of group {entry.label!r} at step {step}: "
                    f"{type(inner).__name__}: {inner}"
                )
                return TypeError(message) if isinstance(inner, TypeError) else ValueError(message)
        try:
            self._check_finite(step, self._compute(step))
        except (TypeError, ValueError) as bad_value:
            return bad_value
        return exc

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

    # -- drift ---------------------------------------------------------------------------

    def _find_drift(self) -> list[tuple[int, float]]:
        """``[(position, value the optimizer used)]`` for every slot another code path changed."""
        groups = self.optimizer.param_groups
        drift = []
        tensors = iter(self._tensors)
        for pos, (entry, kind) in enumerate(zip(self._plan, self._kinds, strict=True)):
            current = read_target(entry.target, groups[entry.group_index])
            expected = next(tensors) if kind == TENSOR else self._values[pos]
            if current is expected:
                continue
            if isinstance(current, bool) or not isinstance(current, (int, float, torch.Tensor)):
                raise DriftError(
                    f"{self._plan[pos].key} of group {self._plan[pos].label!r} was set to "
                    f"{describe(current)} outside paramsched, which is not a number"
                )
            used = as_float(current)
            if used != self._values[pos]:
                drift.append((pos, used))
        return drift

    def _drift_message(self, step: int, drift: list[tuple[int, float]]) -> str:
        parts = [
            f"{self._plan[pos].key} of group {self._plan[pos].label!r}: planned {self._values[pos]!r}, "
            f"applied {used!r}"
            for pos, used in drift
        ]
        return f"another code path changed scheduled values before update {step}: " + "; ".join(parts)

    def _take_drift(self, step: int, drift: list[tuple[int, float]], recorded: list[float]) -> list[float]:
        """Record the applied values, and warn / adopt as ``on_drift`` says."""
        recorded = list(recorded)
        for pos, used in drift:
            entry = self._plan[pos]
            planned = recorded[pos]
            recorded[pos] = used
            if self.on_drift == "adopt":
                reason = f"adopted: {entry.key} of group {entry.label!r} was set to {used!r} outside paramsched"
                adopted = Intervention(step, ((entry.series, Constant(used)),), reason, "intervention", utc_now())
                try:
                    self._add_intervention(adopted, resync=False)  # the caller writes the next values
                except ValueError as exc:
                    raise DriftError(f"cannot adopt the value set outside paramsched: {exc}") from None
                continue
            self._emit(make_event(step, "drift", series=entry.series, before=planned, after=used,
                                  reason=f"{entry.key} of group {entry.label!r} changed outside paramsched"))
            if entry.series not in self._warned_drift:
                self._warned_drift.add(entry.series)
                warnings.warn(
                    f"paramsched: {entry.key} of group {entry.label!r} was changed outside paramsched "
                    f"before update {step}: planned {planned!r}, the optimizer used {used!r}; the "
                    "applied value is recorded (on_drift='adopt' keeps it, 'raise' stops)",
                    DriftWarning,
                    stacklevel=4,
                )
        return recorded

    # -- interventions -------------------------------------------------------------------

    def intervene(self, changes: Mapping[Any, Any], *, reason: str = "") -> list[dict[str, Any]]:
        """Replace schedules from the next update on; returns the events it recorded.

        ``changes`` maps a key (``"lr"``: every group that schedules it), a
        ``(key, group)`` pair or a series name ``"hp/<key>/<group>"`` to a
        Schedule, a spec dict, a number (held constant) or a function of the
        schedule in force (``lambda s: s * 0.5``: called at once; only its result
        is kept, and must pickle). New schedules see the global step, like the
        rest of the plan. The new plan is validated as at construction; a bad
        change raises and changes nothing. Interventions are part of
        ``state_dict()``, so a resumed run re-applies them.

        >>> import torch, paramsched as ps
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = ps.ParamScheduler(opt, {"lr": ps.Constant(0.1)}, total_steps=10)
        >>> _ = sched.intervene({"lr": lambda s: s * 0.5}, reason="loss spike")
        >>> opt.param_groups[0]["lr"], sched.events[0]["kind"]
        (0.05, 'intervention')
        """
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a string, got reason={describe(reason)}")
        step = self._step
        resolved = resolve_changes(changes, self.series, lambda s: self.schedule_in_force(s, step))
        intervention = Intervention(step, tuple(resolved), reason, "intervention", utc_now())
        return self._add_intervention(intervention)

    def _add_intervention(self, intervention: Intervention, *, resync: bool = True, emit: bool = True) -> list[dict[str, Any]]:
        """Validate and install ``intervention`` (nothing changes when it is refused)."""
        step = intervention.step
        positions = {e.series: i for i, e in enumerate(self._plan)}
        plan = list(self._plan)
        changed = []
        for series, schedule in intervention.changes:
            pos = positions[series]
            plan[pos] = dataclasses.replace(
                plan[pos], schedule=with_change(plan[pos].schedule, step, schedule),
                origin=f"the {intervention.kind} at step {step} on {series!r}",
            )
            changed.append(pos)
        _plan.check_plan(
            [plan[p] for p in changed], self.total_steps,
            [self._bases[p] for p in changed] if self.relative else None,
        )
        before = self._compute(step)
        self._install(_share_schedules(plan))
        self._interventions.append(intervention)
        if resync:
            self._values = self._resync(self._step)
        after = self._compute(step)
        events = []
        if emit:
            for series, schedule in intervention.changes:
                pos = positions[series]
                events.append(self._emit(make_event(
                    step, intervention.kind, series=series, before=before[pos], after=after[pos],
                    spec=schedule.to_spec(compact=True), reason=intervention.reason, time=intervention.time,
                )))
        return events

    def _rebuild_plan(self, interventions: Sequence[Intervention]) -> list[_plan.PlanEntry]:
        """The base plan with ``interventions`` applied in order (validated)."""
        plan = list(self._base_plan)
        positions = {e.series: i for i, e in enumerate(plan)}
        for intervention in interventions:
            for series, schedule in intervention.changes:
                if series not in positions:
                    raise ValueError(
                        f"the checkpoint's intervention at step {intervention.step} changes {series!r}, "
                        f"which this scheduler does not schedule; scheduled series: {self.series}"
                    )
                pos = positions[series]
                plan[pos] = dataclasses.replace(
                    plan[pos], schedule=with_change(plan[pos].schedule, intervention.step, schedule)
                )
        return _share_schedules(plan)

    # PolicyContext: what policies read.

    def series_of(self, keys: Sequence[str] | None) -> list[str]:
        """The scheduled series of ``keys`` (every series for ``None``)."""
        return [s for s in self.series if keys is None or parse_series_name(s)[0] in keys]

    def schedule_in_force(self, series: str, step: int) -> Schedule:
        """The schedule driving ``series`` at ``step``, interventions included."""
        for entry in self._plan:
            if entry.series == series:
                return in_force(entry.schedule, step)
        raise ValueError(f"no scheduled series {series!r}; scheduled series: {self.series}")

    def value_at(self, series: str, step: int) -> float:
        """The value ``series`` takes at ``step`` under the plan in force."""
        return dict(zip(self.series, self._compute(step)))[series]

    # -- metrics, policies and the control file ------------------------------------------

    def _take_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a dict {{name: number}}, got metrics={describe(metrics)}")
        clean = {}
        for name, value in metrics.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"metrics names must be non-empty strings, got {describe(name)}")
            if isinstance(value, torch.Tensor):
                value = value.detach().item()
            clean[name] = check_real(f"metrics[{name!r}]", value)
        if self.record_metrics and clean:
            self._feed.metrics(step, clean)
        for policy in self.policies:
            decision = policy.observe(step, clean, self)
            if decision is None or not decision.changes:
                continue
            changes = tuple(decision.changes.items())
            self._add_intervention(Intervention(self._step, changes, decision.reason, "policy", utc_now()))

    def _poll_control(self) -> None:
        assert self._control is not None
        # Under torch.distributed rank 0 reads and every rank gets its answer, so all
        # ranks switch at the same update.
        request = self._control.poll() if distributed_rank()[0] == 0 else None
        request = broadcast_from_rank0(request)
        if request is None or request.id in self._applied_control:
            return
        applied_at = request.get("applied_at_step")
        if applied_at is not None and applied_at > self._step:
            # Acknowledged by this run before a crash, after the checkpoint it resumed from.
            self._pending_control.append((applied_at, request))
            self._pending_control.sort(key=lambda item: item[0])
            return
        self._apply_control(request)

    def _apply_pending_control(self) -> None:
        while self._pending_control and self._pending_control[0][0] <= self._step:
            _, request = self._pending_control.pop(0)
            if request.id not in self._applied_control:
                self._apply_control(request)

    def _apply_control(self, request: Any) -> None:
        assert self._control is not None
        try:
            changes = _control_changes(request["changes"])
            self.intervene(changes, reason=request["reason"] or f"control file {self._control.path.name}")
        except (TypeError, ValueError) as exc:
            self._control.warn_rejected(request, str(exc))
            self._applied_control.append(request.id)  # refused once: not retried every poll
            return
        self._applied_control.append(request.id)
        if distributed_rank()[0] == 0:
            self._control.acknowledge(request, self._step)

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
        if self.on_drift == "raise":
            drift = self._find_drift()
            if drift:  # stop the update before it runs with a value nobody planned
                raise DriftError(self._drift_message(self._step, drift) + "; on_drift='raise'")

    def _after_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._skip_hooked_step:
            self._skip_hooked_step = False
            return
        self.step()

    # -- recording -------------------------------------------------------------------

    def _record(self, step: int, values: list[float]) -> None:
        if self._feed.active:
            self._feed.record(step, dict(zip(self.series, values)), self.run_metadata)

    def _emit(self, event: dict[str, Any]) -> dict[str, Any]:
        self._events.append(event)
        self._feed.event(event)
        return event

    def run_metadata(self) -> RunMetadata:
        """The JSON document recorders store with the run (see :mod:`paramsched.runformat`)."""
        schedules, overrides = _plan.plan_specs(self._base_plan, len(self.labels))
        groups: list[dict[str, Any]] = [
            {"index": i, "label": label, "base": {}} for i, label in enumerate(self.labels)
        ]
        for entry, base in zip(self._base_plan, self._bases):
            groups[entry.group_index]["base"][entry.key] = base
        optimizer_class = type(self.optimizer)
        metadata = {
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
            "rank": self._feed.rank,
            "world_size": self._feed.world_size,
            "record_ranks": self.record_ranks,
            "resumed_from_step": self._resumed_from_step,
            "fingerprint": self._fingerprint,  # what this run's checkpoints carry (ps.branch reads it)
        }
        if self._lineage is not None:
            metadata["parent"] = dict(self._lineage)
        return metadata

    @property
    def recorder(self) -> Recorder | None:
        """The recorder (or fan-out of recorders) this scheduler feeds, if any."""
        return self._feed.recorder

    def flush(self) -> None:
        """Push every recorded value to its backend."""
        self._feed.flush()

    def close(self) -> None:
        """Flush and close the recorders and detach from the optimizer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        self._feed.close()

    def __enter__(self) -> ParamScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """All a resume needs: step, total_steps, base values, a fingerprint of the schedules,
        the interventions and the policies' state.

        It also makes the record durable up to this step (the recorders'
        ``checkpoint``): a run resumed from this state after a crash finds every
        earlier step in its log.
        """
        self._feed.checkpoint(self._step)
        state = {
            "format": STATE_FORMAT,
            "step": self._step,
            "total_steps": self.total_steps,
            "planned_total_steps": self._planned_total_steps,
            "base_values": dict(zip(self.series, self._bases)),
            "fingerprint": self._fingerprint,
            "interventions": [iv.to_state() for iv in self._interventions],
            "policies": [policy.state_dict() for policy in self.policies],
            "control_applied": list(self._applied_control),
        }
        if self._lineage is not None:
            state["parent_fingerprint"] = self._lineage.get("fingerprint")
        return state

    def load_state_dict(
        self,
        state_dict: Mapping[str, Any],
        *,
        strict: bool = True,
        total_steps_policy: str | None = None,
    ) -> None:
        """Restore a checkpointed state and re-apply that step's values at once.

        A checkpoint made with other schedules is an error, or a warning with
        ``strict=False``; a checkpoint of the run this one branched from
        (``lineage``) is accepted up to the branch step. A different
        ``total_steps`` follows ``total_steps_policy`` (default: the
        constructor's). Everything is checked before anything changes.
        """
        state = _check_state(state_dict)
        policy = check_choice(
            "total_steps_policy",
            self.total_steps_policy if total_steps_policy is None else total_steps_policy,
            TOTAL_STEPS_POLICIES,
        )
        from_parent = self._is_parent_state(state)
        if not from_parent and state["fingerprint"] != self._fingerprint:
            message = (
                "the checkpoint was made with different schedules than this scheduler's "
                f"(fingerprint {state['fingerprint']} != {self._fingerprint})"
            )
            if strict:
                raise ValueError(message + "; pass strict=False to load it anyway")
            warnings.warn(message + "; continuing with this scheduler's schedules", ScheduleWarning, stacklevel=2)
        saved_bases = state["base_values"]
        missing = [s for s in self.series if s not in saved_bases]
        if missing and strict and not from_parent:
            raise ValueError(f"the checkpoint has no base values for series {missing}")
        planned = state.get("planned_total_steps", state["total_steps"])
        if from_parent:
            planned = self.total_steps
        elif state["total_steps"] != self.total_steps:
            if policy == "error":
                raise ValueError(
                    f"the checkpoint has total_steps={state['total_steps']}, this scheduler "
                    f"total_steps={self.total_steps}; pass total_steps_policy='rescale' (stretch "
                    "the schedules) or 'extend' (keep the warmup, move the decay to the new end)"
                )
            if policy == "rescale":
                planned = self.total_steps
        bases = self._bases if from_parent else [float(saved_bases.get(s, b)) for s, b in zip(self.series, self._bases)]
        # A run extended once stays extended from the length it was planned for.
        base_plan = self._original_plan if planned == self.total_steps else self._extended_plan(planned, bases)
        if self.relative:
            _plan.check_plan(base_plan, self.total_steps, bases)
        interventions = [] if from_parent else [
            Intervention.from_state(item, f"state_dict['interventions'][{i}]")
            for i, item in enumerate(state.get("interventions") or [])
        ]
        policy_states = [] if from_parent else list(state.get("policies") or [])
        if policy_states and len(policy_states) != len(self.policies):
            raise ValueError(
                f"the checkpoint holds the state of {len(policy_states)} policies, this scheduler has "
                f"{len(self.policies)}: {self.policies!r}"
            )
        previous = (self._base_plan, self._bases, self._interventions, self._plan)
        self._base_plan, self._bases = base_plan, bases
        try:
            plan = self._rebuild_plan(interventions)
            _plan.check_plan(plan, self.total_steps, bases if self.relative else None)
        except ValueError:
            self._base_plan, self._bases, self._interventions, self._plan = previous
            raise
        for item, policy_state in zip(self.policies, policy_states):
            item.load_state_dict(policy_state)
        self._interventions = interventions
        self._planned_total_steps = planned
        self._applied_control = [] if from_parent else list(state.get("control_applied") or [])
        self._pending_control = []
        if self._control is not None:
            self._control._seen = None  # read the file again at the next poll
        self._step = state["step"]
        self._resumed_from_step = self._step
        self._install(plan)
        self._values = self._resync(self._step)
        self._emit(make_event(self._step, "resume", reason=(
            f"resumed from a checkpoint of the parent run at step {self._step}" if from_parent
            else f"resumed from a checkpoint at step {self._step}"
        )))
        # The log drops what a crashed run wrote from this step on: record again the
        # interventions of the checkpoint made at this very step.
        for intervention in interventions:
            if intervention.step >= self._step:
                self._emit_intervention(intervention)

    def _emit_intervention(self, intervention: Intervention) -> None:
        positions = {e.series: i for i, e in enumerate(self._plan)}
        values = self._compute(intervention.step)
        for series, schedule in intervention.changes:
            self._emit(make_event(
                intervention.step, intervention.kind, series=series, before=None, after=values[positions[series]],
                spec=schedule.to_spec(compact=True), reason=intervention.reason, time=intervention.time,
            ))

    def _is_parent_state(self, state: Mapping[str, Any]) -> bool:
        """Whether ``state`` is a checkpoint of the run this one branched from, at or before the branch."""
        lineage = self._lineage
        if lineage is None or state["fingerprint"] != lineage.get("fingerprint"):
            return False
        branch = lineage.get("branch_step")
        if isinstance(branch, int) and state["step"] > branch:
            raise ValueError(
                f"the checkpoint is the parent run's at step {state['step']}, past the branch step {branch}: "
                "a branch starts from a checkpoint at or before the step it branched at"
            )
        return True

    def _extended_plan(self, planned: int, bases: Sequence[float]) -> list[_plan.PlanEntry]:
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
        _plan.check_plan(extended, self.total_steps, list(bases) if self.relative else None)
        return extended

    # -- pickling ---------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # Hooks cannot be pickled, and recorders hold open files and network
        # connections: an unpickled scheduler re-attaches its hooks but records
        # nothing. To resume recording, build a scheduler with recorders and
        # load_state_dict() the checkpoint into it.
        state = self.__dict__.copy()
        state["_hooks"] = []
        state["_apply_fn"] = None  # generated code: rebuilt on unpickling
        state["_tensors"] = []
        feed = RecorderFeed((), self.record_ranks)
        feed.rank, feed.world_size = self._feed.rank, self._feed.world_size
        state["_feed"] = feed
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tensors = self._slot_tensors()
        self._apply_fn = compile_apply(self._slots, self._kinds, self._sources, len(self._schedules), self.relative)
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


def _share_schedules(plan: list[_plan.PlanEntry]) -> list[_plan.PlanEntry]:
    # Entries whose schedules are equal share one object, so the per-step code
    # evaluates it once (an intervention on "lr" makes one Intervened per group).
    shared: dict[Any, Schedule] = {}
    out = []
    for entry in plan:
        try:
            key = (type(entry.schedule), entry.schedule)
            schedule = shared.setdefault(key, entry.schedule)  # type: ignore[arg-type]
        except TypeError:  # unhashable (a schedule holding a list): keep it as it is
            schedule = entry.schedule
        out.append(entry if schedule is entry.schedule else dataclasses.replace(entry, schedule=schedule))
    return out


def _check_state(state: Any) -> dict[str, Any]:
    """The checkpoint state, checked: every error names the entry and the value."""
    if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
        got = state.get("format") if isinstance(state, Mapping) else describe(state)
        raise ValueError(f"state_dict must come from ParamScheduler.state_dict() (format {STATE_FORMAT!r}), got format={got!r}")
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"state_dict has no {missing} entries; it must come from ParamScheduler.state_dict()")
    checked = dict(state)
    checked["step"] = check_positive_int("state_dict['step']", state["step"], minimum=0)
    checked["total_steps"] = check_positive_int("state_dict['total_steps']", state["total_steps"])
    if "planned_total_steps" in state:
        checked["planned_total_steps"] = check_positive_int(
            "state_dict['planned_total_steps']", state["planned_total_steps"]
        )
    if not isinstance(state["fingerprint"], str):
        raise TypeError(f"state_dict['fingerprint'] must be a string, got {describe(state['fingerprint'])}")
    bases = state["base_values"]
    if not isinstance(bases, Mapping):
        raise TypeError(f"state_dict['base_values'] must map series names to numbers, got {describe(bases)}")
    checked["base_values"] = {name: check_real(f"state_dict['base_values'][{name!r}]", value) for name, value in bases.items()}
    for key in ("interventions", "policies", "control_applied"):
        if key in state and not isinstance(state[key], (list, tuple)):
            raise TypeError(f"state_dict[{key!r}] must be a list, got {describe(state[key])}")
    return checked


def _check_policies(policies: Any) -> list[Any]:
    from paramsched.policies import Policy

    if isinstance(policies, Policy):
        policies = [policies]
    if isinstance(policies, (str, bytes)) or not isinstance(policies, Iterable):
        raise TypeError(f"policies must be a list of paramsched.policies.Policy objects, got policies={describe(policies)}")
    checked = list(policies)
    for i, policy in enumerate(checked):
        if not isinstance(policy, Policy):
            raise TypeError(
                f"policies[{i}] must be a paramsched.policies.Policy (e.g. ps.policies.ReduceOnPlateau(...)), "
                f"got {describe(policy)}"
            )
    return checked


def _check_lineage(lineage: Any) -> dict[str, Any] | None:
    if lineage is None:
        return None
    if not isinstance(lineage, Mapping):
        raise TypeError(f"lineage must be a dict (from ps.branch(...).scheduler_kwargs()), got lineage={describe(lineage)}")
    return dict(lineage)


def _control_file(control: Any) -> Any:
    if control is None:
        return None
    from paramsched.control import ControlFile, control_path

    if not isinstance(control, (str, bytes)) and not hasattr(control, "__fspath__"):
        raise TypeError(f"control must be a file path (str or os.PathLike) or None, got control={describe(control)}")
    return ControlFile(control_path(control))


def _control_changes(changes: Mapping[str, Any]) -> dict[Any, Any]:
    """A control request's changes for ``intervene``: numbers as they are, specs never
    naming a function (whoever writes the file changes values, never runs code)."""
    from paramsched.schedules import schedule_from_spec

    out: dict[Any, Any] = {}
    for target, value in changes.items():
        out[target] = schedule_from_spec(value, trust_functions=False) if isinstance(value, Mapping) else value
    return out
