"""Interventions: a running schedule replaced from some update on, kept replayable.

An intervention at step ``k`` replaces the schedule of some series from update
``k`` on. The scheduler keeps its original plan and the list of interventions;
the plan in force wraps each changed schedule in :class:`Intervened`, which
picks, at each step, the last change made at or before that step. The
changed schedules are evaluated at the global step (``schedule(step,
total_steps)``), like every schedule of the plan.

``replay.rebuild`` reads the intervention events of a log and builds the same
``Intervened`` schedules, so a rebuilt run of an intervened run is ``==`` to
its log.
"""

from __future__ import annotations

import bisect
import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paramsched.checks import describe
from paramsched.naming import parse_series_name, series_name
from paramsched.schedules import Constant, Schedule, as_schedule, schedule_from_spec
from paramsched.schedules._math import inner_steps

__all__ = ["Intervened", "Intervention", "resolve_changes", "in_force"]


@dataclasses.dataclass(frozen=True, repr=False)
class Intervened(Schedule):
    """``base`` until the first change, then each ``(step, schedule)`` change from its step on.

    >>> from paramsched.schedules import Constant, Linear
    >>> s = Intervened(Linear(1.0, 0.0), ((2, Constant(0.1)), (3, Constant(0.2))))
    >>> [s(k, 4) for k in range(4)]
    [1.0, 0.75, 0.1, 0.2]
    """

    _register = False  # a runtime construct: its spec is the base plus the events

    base: Schedule
    changes: tuple[tuple[int, Schedule], ...]
    # The change steps, derived from ``changes`` for the bisect of every call.
    _steps: tuple[int, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple(at for at, _ in self.changes)
        if list(steps) != sorted(steps):
            raise ValueError(f"changes must be sorted by step, got steps {list(steps)}")
        object.__setattr__(self, "_steps", steps)

    def __call__(self, step: int, total_steps: int) -> float:
        i = bisect.bisect_right(self._steps, step)
        schedule = self.base if i == 0 else self.changes[i - 1][1]
        return schedule(step, total_steps)

    def schedule_at(self, step: int) -> Schedule:
        """The schedule in force at ``step`` (the base, or the last change made by then)."""
        i = bisect.bisect_right(self._steps, step)
        return self.base if i == 0 else self.changes[i - 1][1]

    def validate(self, total_steps: int) -> None:
        super().validate(total_steps)
        self.base.validate(total_steps)
        for _, schedule in self.changes:
            schedule.validate(total_steps)

    def phase_boundaries(self, total_steps: int) -> tuple[int, ...]:
        points = list(self.base.phase_boundaries(total_steps))
        for at, schedule in self.changes:
            points.append(at)
            points.extend(schedule.phase_boundaries(total_steps))
        return inner_steps(total_steps, *points)

    def __repr__(self) -> str:
        return f"Intervened({self.base!r}, changes={list(self.changes)!r})"


def in_force(schedule: Schedule, step: int) -> Schedule:
    """The schedule actually in force at ``step`` (unwrapping interventions)."""
    return schedule.schedule_at(step) if isinstance(schedule, Intervened) else schedule


def with_change(schedule: Schedule, step: int, new: Schedule) -> Intervened:
    """``schedule`` with ``new`` in force from ``step`` on (a later change at the same step wins)."""
    if isinstance(schedule, Intervened):
        kept = tuple((at, s) for at, s in schedule.changes if at < step)
        return Intervened(schedule.base, (*kept, (step, new)))
    return Intervened(schedule, ((step, new),))


@dataclasses.dataclass(frozen=True)
class Intervention:
    """One change of a running plan: from update ``step`` on, each series of ``changes``
    follows its new schedule. ``kind`` is ``"intervention"`` or ``"policy"``."""

    step: int
    changes: tuple[tuple[str, Schedule], ...]
    reason: str = ""
    kind: str = "intervention"
    time: str = ""

    def to_state(self) -> dict[str, Any]:
        """A plain-data form for ``state_dict()`` (full specs: a resume rebuilds the schedules)."""
        return {
            "step": self.step,
            "kind": self.kind,
            "reason": self.reason,
            "time": self.time,
            "changes": {series: schedule.to_spec() for series, schedule in self.changes},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], where: str) -> Intervention:
        """The inverse of :meth:`to_state`; ``ValueError`` naming ``where`` when malformed."""
        if not isinstance(state, Mapping):
            raise ValueError(f"{where} must be a dict, got {describe(state)}")
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"{where}['step'] must be an int >= 0, got {describe(step)}")
        changes = state.get("changes")
        if not isinstance(changes, Mapping) or not changes:
            raise ValueError(f"{where}['changes'] must map series names to schedule specs, got {describe(changes)}")
        built = []
        for series, spec in changes.items():
            try:
                parse_series_name(series)
                # A checkpoint is the user's own file (torch.load runs its pickles anyway).
                built.append((series, schedule_from_spec(spec, trust_functions=True)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}['changes'][{series!r}]: {exc}") from None
        kind = state.get("kind", "intervention")
        if kind not in ("intervention", "policy"):
            raise ValueError(f"{where}['kind'] must be 'intervention' or 'policy', got {describe(kind)}")
        return cls(step, tuple(built), str(state.get("reason", "")), kind, str(state.get("time", "")))


def target_series(target: Any, scheduled: Sequence[str], argname: str) -> list[str]:
    """The series a change names: ``"lr"`` (every group), ``("lr", "head")`` or ``"hp/lr/head"``."""
    if isinstance(target, tuple):
        if len(target) != 2 or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in target):
            raise TypeError(f"{argname}: a (key, group) target must be a pair of strings, got {describe(target)}")
        key, group = target
        group = f"g{group}" if isinstance(group, int) else group
        names = [series_name(str(key), group)]
    elif isinstance(target, str) and target.startswith("hp/"):
        names = [target]
    elif isinstance(target, str):
        names = [s for s in scheduled if parse_series_name(s)[0] == target]
        if not names:
            keys = sorted({parse_series_name(s)[0] for s in scheduled})
            raise ValueError(f"{argname} names key {target!r}, which is not scheduled; scheduled keys: {keys}")
    else:
        raise TypeError(
            f"{argname} must be a key ('lr'), a (key, group) pair or a series name 'hp/<key>/<group>', "
            f"got {describe(target)}"
        )
    unknown = [name for name in names if name not in scheduled]
    if unknown:
        raise ValueError(f"{argname} names series {unknown}, which are not scheduled; scheduled series: {list(scheduled)}")
    return names


def resolve_value(value: Any, current: Schedule, argname: str) -> Schedule:
    """What a change gives: a Schedule, a spec dict, a number (held constant), or a function
    of the schedule in force (``lambda s: s * 0.5``, called at once; its result must be a
    Schedule or a number)."""
    if isinstance(value, bool):
        raise TypeError(f"{argname} must be a schedule, a number or a function of the current schedule, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{argname} must be finite, got {argname}={value!r}")
        return Constant(float(value))
    if isinstance(value, (Schedule, Mapping)):
        return as_schedule(value, argname)
    if callable(value) and _takes_one_argument(value):
        result = value(current)
        if isinstance(result, bool) or not isinstance(result, (Schedule, int, float)):
            raise TypeError(
                f"{argname} is a function of the current schedule and must return a Schedule or a "
                f"number, got {describe(result)}"
            )
        return resolve_value(result, current, argname)
    return as_schedule(value, argname)


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1 and not any(p.kind is p.VAR_POSITIONAL for p in params)


def resolve_changes(
    changes: Mapping[Any, Any],
    scheduled: Sequence[str],
    current: Callable[[str], Schedule],
    argname: str = "changes",
) -> list[tuple[str, Schedule]]:
    """``{target: value}`` resolved to ``[(series, schedule), ...]`` (see :func:`target_series`
    and :func:`resolve_value`); ``current(series)`` is the schedule in force."""
    if not isinstance(changes, Mapping) or not changes:
        raise TypeError(
            f"{argname} must be a non-empty dict {{key or (key, group): schedule or number}}, got {describe(changes)}"
        )
    resolved: dict[str, Schedule] = {}
    for target, value in changes.items():
        where = f"{argname}[{target!r}]"
        for name in target_series(target, scheduled, where):
            resolved[name] = resolve_value(value, current(name), where)
    return list(resolved.items())
