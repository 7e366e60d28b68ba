"""Rebuild a run's original schedules from its metadata, and check them against its log.

A run recorded by paramsched stores its schedule specs, ``total_steps``,
``relative`` and each group's base values, and its events. :func:`rebuild`
turns those back into ``Schedule`` objects, arranged in the same plan
``ParamScheduler`` builds, with every intervention and policy decision of the
log applied from its step on, and (``check=True``) evaluates that plan at
every logged step exactly as the scheduler applies it
(``paramsched._plan.evaluate``), comparing with ``==``; a value another code
path set (a ``drift`` event) is what the log holds at that step.
``scheduler_kwargs()`` gives the original schedules: a checkpoint of the run
brings its interventions with it. Mismatches are reported, not raised: a log that was written by other
schedules than its metadata says is worth seeing step by step.

Reading a log never runs code the log names: a ``FunctionSchedule`` spec is
rebuilt only with ``trust_functions=True`` (or an allow-list of
``"module:qualname"`` names); otherwise that series is listed in
``Rebuilt.unavailable`` with the reason, and everything else is rebuilt.

>>> import paramsched as ps, pandas as pd
>>> from paramsched.replay.trajectory import Trajectory
>>> meta = {"format": "paramsched.run/1", "total_steps": 4, "relative": False,
...         "schedules": {"lr": ps.Linear(1.0, 0.0).to_spec()}, "overrides": {},
...         "groups": [{"index": 0, "label": "g0", "base": {"lr": 1.0}}], "series": ["hp/lr/g0"]}
>>> traj = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2, 3], "hp/lr/g0": [1.0, 0.75, 0.5, 0.25]}), meta)
>>> rebuilt = rebuild(traj)
>>> rebuilt.ok, rebuilt.schedules["lr"]
(True, Linear(start=1.0, end=0.0))
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from paramsched import _plan
from paramsched.checks import describe
from paramsched.naming import parse_series_name, series_name
from paramsched.runformat import check_metadata
from paramsched.schedules._base import Schedule, UntrustedFunctionError, schedule_from_spec

if TYPE_CHECKING:
    from paramsched.replay.trajectory import Trajectory

__all__ = ["Mismatch", "Rebuilt", "from_spec", "rebuild"]


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """The first step where a series' log and its rebuilt schedule disagree.

    ``step``/``expected``/``recorded`` are ``None`` when the series could not
    be checked at all (``reason`` says why).
    """

    series: str
    step: int | None
    expected: float | None
    recorded: float | None
    reason: str

    def __str__(self) -> str:
        if self.step is None:
            return f"{self.series}: {self.reason}"
        return (
            f"{self.series}: at step {self.step} the schedule gives {self.expected!r} "
            f"but the log has {self.recorded!r}"
        )


@dataclasses.dataclass(frozen=True)
class Rebuilt:
    """The original scheduling of a run, rebuilt from its metadata.

    ``ParamScheduler(optimizer, **rebuilt.scheduler_kwargs())`` schedules a
    new run exactly like the recorded one (and accepts its checkpoints).
    ``unavailable`` maps each series whose schedule could not be rebuilt to
    the reason (an untrusted function schedule, a compact digest, a spec
    this install does not know).
    """

    schedules: dict[str, Schedule]
    overrides: dict[str, dict[str, Schedule]]
    total_steps: int
    relative: bool
    bases: dict[str, dict[str, float]]
    mismatches: tuple[Mismatch, ...]
    checked: bool
    source: str = ""
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)
    plan: tuple[_plan.PlanEntry, ...] = ()
    #: ``{series: {step: value}}``: values the optimizer used that another code path set
    #: (the log's drift events); the log holds them, the plan does not.
    drift: dict[str, dict[int, float]] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Checked, every series rebuilt, and every logged value equals its rebuilt value."""
        return self.checked and not self.mismatches and not self.unavailable

    def schedule_for(self, key: str, label: str) -> Schedule:
        """The schedule that drove ``key`` in group ``label``."""
        found = self.overrides.get(label, {}).get(key, self.schedules.get(key))
        if found is None:
            reason = self.unavailable.get(series_name(key, label))
            why = f" ({reason})" if reason else ""
            raise ValueError(f"{self.source or 'run'}: no schedule for key {key!r} in group {label!r}{why}")
        return found

    def scheduler_kwargs(self) -> dict[str, Any]:
        """``schedules``, ``overrides``, ``total_steps`` and ``relative`` for ``ParamScheduler``.

        Raises when a series could not be rebuilt: a run with a missing
        schedule cannot be scheduled like the original.
        """
        if self.unavailable:
            listed = "; ".join(f"{name}: {why}" for name, why in self.unavailable.items())
            raise ValueError(f"{self.source or 'run'}: cannot schedule like the original run: {listed}")
        return {
            "schedules": dict(self.schedules),
            "overrides": {label: dict(keys) for label, keys in self.overrides.items()},
            "total_steps": self.total_steps,
            "relative": self.relative,
        }

    def planned(self, series: str, steps: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rebuilt (planned) values of ``series`` at ``steps``, as the scheduler applies them."""
        positions = [i for i, entry in enumerate(self.plan) if entry.series == series]
        if not positions:
            reason = self.unavailable.get(series, "the metadata does not schedule it")
            raise ValueError(f"{self.source or 'run'}: no planned values for {series!r}: {reason}")
        entry = self.plan[positions[0]]
        bases = [self._base(entry)] if self.relative else None
        values = [_plan.evaluate([entry], int(k), self.total_steps, bases)[0] for k in np.asarray(steps).tolist()]
        return np.asarray(values, dtype=np.float64)

    def _base(self, entry: _plan.PlanEntry) -> float:
        value = self.bases.get(entry.label, {}).get(entry.key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"{self.source or 'run'}: relative=True but the metadata has no base value of "
                f"{entry.key!r} for group {entry.label!r}"
            )
        return float(value)

    def report(self) -> str:
        """One line per mismatch or unavailable series, or a line saying everything matched."""
        label = self.source or "run"
        lines = [f"{name}: unavailable ({why})" for name, why in self.unavailable.items()]
        if not self.checked:
            return "\n".join([*lines, f"{label}: not checked (check=False)"])
        lines.extend(str(m) for m in self.mismatches)
        if not lines:
            return f"{label}: every logged value equals its rebuilt schedule"
        return "\n".join(lines)


def rebuild(
    traj: Trajectory,
    *,
    check: bool = True,
    trust_functions: bool | Collection[str] = False,
    strict: bool = True,
) -> Rebuilt:
    """Rebuild the schedules of ``traj``'s run from its metadata; ``check`` compares with ``==``.

    ``trust_functions`` (default ``False``): whether a ``FunctionSchedule``
    named in the log may be imported and called (``True``, or a collection of
    allowed ``"module:qualname"`` names). Untrusted ones are listed in
    ``unavailable``, never raised. A spec that cannot be rebuilt at all (a
    type this install does not know) raises ``ValueError``, or with
    ``strict=False`` is listed in ``unavailable`` too (what the dashboard does).
    """
    from paramsched.replay.trajectory import Trajectory

    if not isinstance(traj, Trajectory):
        raise TypeError(f"traj must be a Trajectory, got traj={describe(traj)}")
    label = traj.source or "trajectory"
    if traj.metadata is None:
        raise ValueError(
            f"{label}: no run metadata to rebuild the schedules from (metadata=None); only runs "
            "recorded by paramsched carry it (a derived trajectory, from rescaled() or "
            "with_groups(), does not)"
        )
    try:
        meta = check_metadata(traj.metadata)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    total = meta.get("total_steps")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"{label}: metadata total_steps must be an int >= 1, got {describe(total)}")
    relative = meta.get("relative", False)
    if not isinstance(relative, bool):
        raise ValueError(f"{label}: metadata relative must be true or false, got {describe(relative)}")
    specs = meta.get("schedules") or {}
    override_specs = meta.get("overrides") or {}
    if not isinstance(specs, Mapping) or not isinstance(override_specs, Mapping):
        raise ValueError(f"{label}: metadata schedules and overrides must be JSON objects")
    for group, keys in override_specs.items():
        if not isinstance(keys, Mapping):
            raise ValueError(f"{label}: metadata overrides[{group!r}] must be a JSON object, got {describe(keys)}")

    problems: dict[tuple[str, str | None], str] = {}  # (key, group or None for global) -> why

    def build(spec: Any, key: str, group: str | None) -> Schedule | None:
        try:
            return schedule_from_spec(spec, trust_functions=trust_functions)
        except UntrustedFunctionError as exc:
            problems[(key, group)] = f"function schedule {exc.path!r}; pass trust_functions=True to rebuild"
        except (TypeError, ValueError) as exc:
            where = f"schedules[{key!r}]" if group is None else f"overrides[{group!r}][{key!r}]"
            if strict:
                raise ValueError(f"{label}: metadata {where} cannot be rebuilt: {exc}") from None
            problems[(key, group)] = f"its spec cannot be rebuilt: {exc}"
        return None

    schedules = {key: s for key, spec in specs.items() if (s := build(spec, key, None)) is not None}
    overrides: dict[str, dict[str, Schedule]] = {}
    for group, keys in override_specs.items():
        built = {key: s for key, spec in keys.items() if (s := build(spec, key, group)) is not None}
        if built:
            overrides[group] = built
    labels = _group_labels(meta, traj)
    bases: dict[str, dict[str, float]] = {}
    for entry in meta.get("groups") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("label"), str):
            bases[entry["label"]] = dict(entry.get("base") or {})

    unavailable: dict[str, str] = {}
    for group in labels:
        for key in dict.fromkeys([*specs, *(override_specs.get(group) or {})]):
            in_override = key in (override_specs.get(group) or {})
            why = problems.get((key, group) if in_override else (key, None))
            if why is not None:
                unavailable[series_name(key, group)] = why
    plan = _build_plan(schedules, overrides, labels)
    plan, drift = _with_events(plan, traj.events, trust_functions, unavailable)
    rebuilt = Rebuilt(schedules, overrides, total, relative, bases, (), False, label, unavailable, tuple(plan), drift)
    if not check:
        return rebuilt
    mismatches = tuple(m for name in traj.series if (m := _check_series(rebuilt, traj, name)) is not None)
    return dataclasses.replace(rebuilt, mismatches=mismatches, checked=True)


def from_spec(
    traj: Trajectory,
    *,
    check: bool = True,
    trust_functions: bool | Collection[str] = False,
    strict: bool = True,
) -> Rebuilt:
    """Deprecated name of :func:`rebuild` (it never took a spec: it takes a Trajectory)."""
    warnings.warn(
        "paramsched.replay.from_spec(traj) is now paramsched.replay.rebuild(traj); "
        "the old name will be removed in a later release",
        DeprecationWarning,
        stacklevel=2,
    )
    return rebuild(traj, check=check, trust_functions=trust_functions, strict=strict)


def _group_labels(meta: Mapping[str, Any], traj: Trajectory) -> list[str]:
    groups = [g for g in meta.get("groups") or [] if isinstance(g, Mapping) and isinstance(g.get("label"), str)]
    if groups:
        return [g["label"] for g in sorted(groups, key=lambda g: g.get("index", 0))]
    return list(traj.groups)


def _build_plan(
    schedules: Mapping[str, Schedule], overrides: Mapping[str, Mapping[str, Schedule]], labels: list[str]
) -> list[_plan.PlanEntry]:
    # The plan the scheduler built from the same schedules; keys need not exist
    # in any real param group here.
    groups = [{"name": label} for label in labels]
    known = {label: overrides[label] for label in labels if label in overrides}
    if not schedules and not known:
        return []
    return _plan.build_plan(schedules, known, groups, labels, check_keys=False)


def _with_events(
    plan: list[_plan.PlanEntry],
    events: Sequence[Mapping[str, Any]],
    trust_functions: bool | Collection[str],
    unavailable: dict[str, str],
) -> tuple[list[_plan.PlanEntry], dict[str, dict[int, float]]]:
    """The plan with the log's interventions (and policy decisions) applied, as the scheduler
    applied them, and the drift the log recorded."""
    from paramsched._interventions import with_change

    positions = {entry.series: i for i, entry in enumerate(plan)}
    plan = list(plan)
    drift: dict[str, dict[int, float]] = {}
    for event in events:
        series = event.get("series")
        if series not in positions:
            continue
        if event["kind"] == "drift" and event.get("after") is not None:
            drift.setdefault(series, {})[event["step"]] = float(event["after"])
            continue
        if event["kind"] not in ("intervention", "policy") or series in unavailable:
            continue
        try:
            schedule = schedule_from_spec(event.get("spec") or {}, trust_functions=trust_functions)
        except UntrustedFunctionError as exc:
            unavailable[series] = (
                f"the {event['kind']} at step {event['step']} sets function schedule {exc.path!r}; "
                "pass trust_functions=True to rebuild"
            )
            continue
        except (TypeError, ValueError) as exc:
            unavailable[series] = f"the {event['kind']} at step {event['step']} cannot be rebuilt: {exc}"
            continue
        pos = positions[series]
        plan[pos] = dataclasses.replace(plan[pos], schedule=with_change(plan[pos].schedule, event["step"], schedule))
    return plan, drift


def _check_series(rebuilt: Rebuilt, traj: Trajectory, name: str) -> Mismatch | None:
    key, label = parse_series_name(name)
    if name in rebuilt.unavailable:
        return None  # listed in rebuilt.unavailable, with the reason
    entries = [e for e in rebuilt.plan if e.series == name]
    if not entries:
        return Mismatch(name, None, None, None, f"the metadata has no schedule for key {key!r} (group {label!r})")
    if rebuilt.relative:
        value = rebuilt.bases.get(label, {}).get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Mismatch(name, None, None, None, f"relative=True but the metadata has no base value of {key!r} for group {label!r}")
    steps, values = traj.values(name)
    planned = rebuilt.planned(name, steps)
    for step, used in rebuilt.drift.get(name, {}).items():  # set outside paramsched, and logged so
        planned[steps == step] = used
    differs = planned != values
    if differs.any():
        i = int(np.argmax(differs))
        return Mismatch(name, int(steps[i]), float(planned[i]), float(values[i]), "value differs")
    return None
