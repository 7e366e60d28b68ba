"""Events: what changed a run's values besides its schedules, in one record shape for every backend.

An event is a plain JSON object::

    {"step": 5000,                       # the first update the change applies to
     "kind": "intervention",             # "intervention" | "drift" | "resume" | "policy"
     "series": "hp/lr/g0",               # the series it changed (None for a resume)
     "before": 0.0003, "after": 0.0001,  # the value at `step` without / with the change
     "spec": {...},                      # the schedule in force from `step` on (None for drift)
     "reason": "loss spike",             # free text ("" when none was given)
     "time": "2026-11-27T01:00:00+00:00"}

- ``intervention``: ``sched.intervene(...)``, a control file, or adopted drift;
- ``policy``: a decision of a metric-driven policy (``ps.policies``), which is
  an intervention too (its ``spec`` is the new schedule);
- ``drift``: some other code path changed the value before update ``step``;
  ``before`` is the planned value, ``after`` the one the optimizer used (and
  the one recorded);
- ``resume``: a run resumed from a checkpoint at ``step``.

Recorders store events (CSV: ``events.jsonl``; MLflow and W&B: see their
packages) and replay sources read them back into ``Trajectory.events``.
Reading events is plain JSON: nothing in them is ever imported or evaluated.

>>> event = make_event(3, "intervention", series="hp/lr/g0", before=0.1, after=0.05,
...                    spec={"type": "Constant", "value": 0.05}, reason="spike", time="t")
>>> check_event(event, "example") == event
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from paramsched.checks import describe
from paramsched.runformat import utc_now

__all__ = ["EVENT_FIELDS", "EVENT_KINDS", "check_event", "make_event", "supersede"]

EVENT_KINDS = ("intervention", "drift", "resume", "policy")
EVENT_FIELDS = ("step", "kind", "series", "before", "after", "spec", "reason", "time")
Event = dict[str, Any]


def make_event(
    step: int,
    kind: str,
    *,
    series: str | None = None,
    before: float | None = None,
    after: float | None = None,
    spec: Mapping[str, Any] | None = None,
    reason: str = "",
    time: str | None = None,
) -> Event:
    """An event record (see the module docstring); ``time`` defaults to now (UTC)."""
    event = {
        "step": step,
        "kind": kind,
        "series": series,
        "before": None if before is None else float(before),
        "after": None if after is None else float(after),
        "spec": None if spec is None else dict(spec),
        "reason": reason,
        "time": time or utc_now(),
    }
    return check_event(event, "event")


def check_event(obj: Any, where: str) -> Event:
    """``obj`` as an event record, or ``ValueError`` naming ``where`` and what is wrong."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: an event must be a JSON object, got {describe(obj)}")
    unknown = sorted(set(obj) - set(EVENT_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown event field(s) {unknown}; expected {list(EVENT_FIELDS)}")
    step = obj.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{where}: event step must be an int >= 0, got step={describe(step)}")
    kind = obj.get("kind")
    if kind not in EVENT_KINDS:
        raise ValueError(f"{where}: event kind must be one of {list(EVENT_KINDS)}, got kind={describe(kind)}")
    series = obj.get("series")
    if series is not None and not isinstance(series, str):
        raise ValueError(f"{where}: event series must be a series name or null, got series={describe(series)}")
    for name in ("before", "after"):
        value = obj.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise ValueError(f"{where}: event {name} must be a finite number or null, got {name}={describe(value)}")
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        raise ValueError(f"{where}: event spec must be a schedule spec (JSON object) or null, got spec={describe(spec)}")
    for name in ("reason", "time"):
        if not isinstance(obj.get(name, ""), str):
            raise ValueError(f"{where}: event {name} must be a string, got {name}={describe(obj.get(name))}")
    return {
        "step": step,
        "kind": kind,
        "series": series,
        "before": None if obj.get("before") is None else float(obj["before"]),
        "after": None if obj.get("after") is None else float(obj["after"]),
        "spec": None if spec is None else dict(spec),
        "reason": obj.get("reason", ""),
        "time": obj.get("time", ""),
    }


def supersede(events: Iterable[Mapping[str, Any]]) -> list[Event]:
    """The events of a log in the order written, without those a resume made void.

    A run that crashed and resumed from a checkpoint at step ``r`` writes a
    ``resume`` event at ``r``; events written before it at steps ``>= r``
    belong to the part of the run that was lost (the resumed run makes its
    own), so they are dropped, as a resumed run's rows replace the crashed
    run's rows of the same steps.

    >>> log = [make_event(5, "intervention", time="t"), make_event(9, "drift", time="t"),
    ...        make_event(7, "resume", time="t")]
    >>> [(e["step"], e["kind"]) for e in supersede(log)]
    [(5, 'intervention'), (7, 'resume')]
    """
    kept: list[Event] = []
    for event in events:
        if event["kind"] == "resume":
            kept = [e for e in kept if e["step"] < event["step"]]
        kept.append(dict(event))
    return kept
