"""Which schedule drives which (key, group): shared by `ParamScheduler` and `simulate`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from paramsched.checks import describe
from paramsched.naming import series_name
from paramsched.schedules import Schedule, as_schedule
from paramsched.targets import Target, check_target_in_group, resolve_group, target_for_group

# Validation evaluates every step of runs up to this long, and a grid plus the
# phase boundaries of longer ones.
_CHECK_EVERY_STEP_UP_TO = 4096
_GRID_POINTS = 2048


@dataclasses.dataclass(frozen=True)
class PlanEntry:
    """One scheduled value: ``schedule`` writes ``target`` of group ``group_index``."""

    target: Target
    group_index: int
    label: str
    schedule: Schedule
    origin: str  # where the user gave it, for error messages: "schedules['lr']"

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def series(self) -> str:
        return series_name(self.target.key, self.label)


def build_plan(
    schedules: Mapping[Any, Any],
    overrides: Mapping[Any, Mapping[str, Any]] | None,
    groups: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    *,
    check_keys: bool = True,
) -> list[PlanEntry]:
    """Resolve the user's schedules and overrides to one entry per (group, key).

    ``schedules`` maps a key (``"lr"``, ``"betas.0"``) to a schedule for every
    group, or a ``(key, group)`` pair to a schedule for one group; ``overrides``
    maps a group (index or name) to ``{key: schedule}`` replacing only those keys.
    """
    if not isinstance(schedules, Mapping):
        raise TypeError(f"schedules must be a mapping of key -> schedule, got schedules={describe(schedules)}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(
            f"overrides must be a mapping of group -> {{key: schedule}}, got overrides={describe(overrides)}"
        )
    if not schedules and not overrides:
        raise ValueError("schedules must name at least one key to schedule, got schedules={}")

    global_keys: dict[str, Any] = {}
    per_group: dict[int, dict[str, tuple[Any, str]]] = {i: {} for i in range(len(groups))}
    for key, value in schedules.items():
        if isinstance(key, tuple):
            if len(key) != 2:
                raise ValueError(f"a schedules key given as a tuple must be (key, group), got {key!r}")
            name, selector = key
            index = resolve_group(selector, groups, labels, f"schedules[{key!r}]")
            per_group[index][_key_name(name)] = (value, f"schedules[{key!r}]")
        else:
            global_keys[_key_name(key)] = value
    for selector, mapping in (overrides or {}).items():
        argname = f"overrides[{selector!r}]"
        index = resolve_group(selector, groups, labels, argname)
        if not isinstance(mapping, Mapping):
            raise TypeError(f"{argname} must be a mapping of key -> schedule, got {describe(mapping)}")
        for key, value in mapping.items():
            per_group[index][_key_name(key)] = (value, f"{argname}[{key!r}]")

    _check_replayed_groups(per_group, global_keys, labels)
    plan = []
    coerced: dict[int, Schedule] = {}  # one Schedule per user object, shared by its groups
    for index, group in enumerate(groups):
        keys = dict.fromkeys([*global_keys, *per_group[index]])
        for key in keys:
            if key in per_group[index]:
                value, origin = per_group[index][key]
            else:
                value, origin = global_keys[key], f"schedules[{key!r}]"
            if id(value) not in coerced:
                coerced[id(value)] = as_schedule(value, origin)
            target = target_for_group(key, group)
            if check_keys:
                check_target_in_group(target, group, index, labels[index])
            plan.append(PlanEntry(target, index, labels[index], coerced[id(value)], origin))
    return plan


def evaluate(
    plan: Sequence[PlanEntry], step: int, total_steps: int, bases: Sequence[float] | None = None
) -> list[float]:
    """The value of every entry of ``plan`` for update ``step``: what the runtime applies.

    ``schedule(min(step, total_steps - 1), total_steps)``, times the entry's base
    when ``bases`` is given (``relative=True``): a step past the end holds the
    last update's values. A schedule shared by several entries is evaluated
    once. ``ParamScheduler``, ``simulate`` and ``replay.rebuild`` all call this;
    the scheduler's per-step fast path (``_apply.py``) is generated from the
    same rule.

    >>> import paramsched as ps
    >>> plan = build_plan({"lr": ps.Linear(1.0, 0.0)}, None, [{}, {}], ["g0", "g1"], check_keys=False)
    >>> evaluate(plan, 2, 4), evaluate(plan, 9, 4, bases=[1.0, 10.0])
    ([0.5, 0.5], [0.25, 2.5])
    """
    k = step if step < total_steps else total_steps - 1
    computed: dict[int, float] = {}
    values = []
    for position, entry in enumerate(plan):
        key = id(entry.schedule)
        value = computed.get(key)
        if value is None:
            value = computed[key] = entry.schedule(k, total_steps)
        values.append(value if bases is None else value * bases[position])
    return values


def _check_replayed_groups(
    per_group: Mapping[int, Mapping[str, tuple[Any, str]]], global_keys: Mapping[str, Any], labels: Sequence[str]
) -> None:
    """A key replayed from a log for some groups must not be silently left out for others.

    A log holding ``hp/lr/g0`` only (Hugging Face logs group 0's lr) replayed into an
    optimizer with two groups would leave group 1 at its own lr, unscheduled.
    """
    from paramsched.schedules.replayed import ReplaySchedule

    replayed: dict[str, list[int]] = {}
    for index, keys in per_group.items():
        for key, (value, _) in keys.items():
            if isinstance(value, ReplaySchedule):
                replayed.setdefault(key, []).append(index)
    for key, indices in replayed.items():
        missing = [labels[i] for i in range(len(labels)) if key not in per_group[i] and key not in global_keys]
        if missing:
            have = [labels[i] for i in indices]
            raise ValueError(
                f"schedules replay {key!r} for group(s) {have} only: group(s) {missing} have no replayed "
                f"series for {key!r} and would keep their own value; pass "
                f"traj.schedules(groups='broadcast') to apply the logged group's values to every group, "
                f"traj.schedules(groups={{{have[0]!r}: [{', '.join(repr(g) for g in [have[0], *missing])}]}}) "
                f"to name the groups each logged group is replayed to, or schedule {key!r} for "
                f"{missing} yourself (e.g. {{({key!r}, {missing[0]!r}): ...}})"
            )


def _key_name(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a scheduled key must be a string such as 'lr' or 'betas.0', got {describe(key)}")
    return key


def check_points(schedule: Schedule, total_steps: int) -> list[int]:
    """Steps at which validation evaluates ``schedule``: ends, phase boundaries, a grid."""
    last = total_steps - 1
    if total_steps <= _CHECK_EVERY_STEP_UP_TO:
        return list(range(total_steps))
    points = {0, last}
    for boundary in schedule.phase_boundaries(total_steps):
        points.update((boundary - 1, boundary, boundary + 1))
    stride = last / (_GRID_POINTS - 1)
    points.update(int(round(i * stride)) for i in range(_GRID_POINTS))
    return sorted(p for p in points if 0 <= p <= last)


def check_plan(plan: Iterable[PlanEntry], total_steps: int, bases: Sequence[float] | None) -> None:
    """Raise ``ValueError`` at the first step where a schedule leaves its key's range.

    ``bases`` (one per entry) multiply the schedule values when ``relative=True``.
    """
    # A schedule shared by several groups is validated and evaluated once.
    evaluated: dict[int, list[tuple[int, float]]] = {}
    for position, entry in enumerate(plan):
        if id(entry.schedule) not in evaluated:
            try:
                entry.schedule.validate(total_steps)
            except ValueError as exc:
                raise ValueError(f"{entry.origin}: {exc}") from None
            points = check_points(entry.schedule, total_steps)
            evaluated[id(entry.schedule)] = [(step, _value(entry, step, total_steps)) for step in points]
        factor = 1.0 if bases is None else bases[position]
        for step, raw in evaluated[id(entry.schedule)]:
            if not isinstance(raw, float):
                raise TypeError(
                    f"{entry.origin} gives {entry.key}={raw!r} ({type(raw).__name__}) at step {step} of "
                    f"total_steps={total_steps} for group {entry.label!r}; a schedule must give a float"
                )
            value = raw * factor
            problem = entry.target.check_value(value)
            if problem is not None:
                scaled = "" if bases is None else f" (base {factor!r} x schedule)"
                raise ValueError(
                    f"{entry.origin} gives {entry.key}={value!r}{scaled} at step {step} of "
                    f"total_steps={total_steps} for group {entry.label!r}; {problem}"
                )


def _value(entry: PlanEntry, step: int, total_steps: int) -> Any:
    try:
        return entry.schedule(step, total_steps)
    except (TypeError, ValueError, ArithmeticError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(
            f"{exc} (from {entry.origin}, for {entry.key} of group {entry.label!r} at step {step} "
            f"of total_steps={total_steps})"
        ) from None


def plan_specs(
    plan: Iterable[PlanEntry], group_count: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(schedules by key, overrides by group label) as spec dicts, for run metadata.

    A key's global schedule is the one most groups share; groups that differ are
    overrides. A key not scheduled in every group appears in overrides only.
    """
    by_key: dict[str, list[PlanEntry]] = {}
    for entry in plan:
        by_key.setdefault(entry.key, []).append(entry)
    schedules: dict[str, Any] = {}
    overrides: dict[str, dict[str, Any]] = {}
    for key, entries in by_key.items():
        specs = [json.dumps(e.schedule.to_spec(compact=True), sort_keys=True) for e in entries]
        common = max(specs, key=specs.count) if len(entries) == group_count else None
        if common is not None:
            schedules[key] = json.loads(common)
        for entry, spec in zip(entries, specs):
            if spec != common:
                overrides.setdefault(entry.label, {})[key] = json.loads(spec)
    return schedules, overrides


def fingerprint(plan: Iterable[PlanEntry]) -> str:
    """A short hash of every (series, spec) pair: changes when any schedule changes."""
    specs: dict[int, dict[str, Any]] = {}  # a schedule shared by groups is described once
    for entry in plan:
        if id(entry.schedule) not in specs:
            specs[id(entry.schedule)] = entry.schedule.to_spec(compact=True)
    payload = json.dumps({e.series: specs[id(e.schedule)] for e in plan}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
