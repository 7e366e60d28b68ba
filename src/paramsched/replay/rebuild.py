"""Rebuild a run's original schedule objects from its metadata and check them against its log.

A run recorded by paramsched stores its schedule specs, ``total_steps``,
``relative`` and each group's base values. :func:`from_spec` turns those back
into ``Schedule`` objects and (``check=True``) evaluates them at every
logged step exactly as ``ParamScheduler`` does (``s(min(step, total_steps -
1), total_steps)``, times the group's base value when ``relative``),
comparing with ``==``. Mismatches are reported, not raised: a log that was
written by other schedules than the metadata says is worth seeing step by step.

>>> import paramsched as ps, pandas as pd
>>> from paramsched.replay.trajectory import Trajectory
>>> meta = {"format": "paramsched.run/1", "total_steps": 4, "relative": False,
...         "schedules": {"lr": ps.Linear(1.0, 0.0).to_spec()}, "overrides": {},
...         "groups": [{"index": 0, "label": "g0", "base": {"lr": 1.0}}], "series": ["hp/lr/g0"]}
>>> traj = Trajectory.from_wide(pd.DataFrame({"step": [0, 1, 2, 3], "hp/lr/g0": [1.0, 0.75, 0.5, 0.25]}), meta)
>>> rebuilt = from_spec(traj)
>>> rebuilt.ok, rebuilt.schedules["lr"]
(True, Linear(start=1.0, end=0.0))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paramsched._validate import describe
from paramsched.recording.metadata import check_metadata
from paramsched.recording.naming import parse_series_name
from paramsched.schedules._base import Schedule, schedule_from_spec

if TYPE_CHECKING:
    from paramsched.replay.trajectory import Trajectory

__all__ = ["Mismatch", "Rebuilt", "from_spec"]


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
    """

    schedules: dict[str, Schedule]
    overrides: dict[str, dict[str, Schedule]]
    total_steps: int
    relative: bool
    bases: dict[str, dict[str, float]]
    mismatches: tuple[Mismatch, ...]
    checked: bool
    source: str = ""

    @property
    def ok(self) -> bool:
        """Checked, and every logged value equals its rebuilt value."""
        return self.checked and not self.mismatches

    def schedule_for(self, key: str, label: str) -> Schedule:
        """The schedule that drove ``key`` in group ``label``."""
        found = self.overrides.get(label, {}).get(key, self.schedules.get(key))
        if found is None:
            raise ValueError(f"{self.source or 'run'}: no schedule for key {key!r} in group {label!r}")
        return found

    def scheduler_kwargs(self) -> dict[str, Any]:
        """``schedules``, ``overrides``, ``total_steps`` and ``relative`` for ``ParamScheduler``."""
        return {
            "schedules": dict(self.schedules),
            "overrides": {label: dict(keys) for label, keys in self.overrides.items()},
            "total_steps": self.total_steps,
            "relative": self.relative,
        }

    def report(self) -> str:
        """One line per mismatch, or a line saying everything matched."""
        if not self.checked:
            return f"{self.source or 'run'}: not checked (check=False)"
        if not self.mismatches:
            return f"{self.source or 'run'}: every logged value equals its rebuilt schedule"
        return "\n".join(str(m) for m in self.mismatches)


def from_spec(traj: Trajectory, *, check: bool = True) -> Rebuilt:
    """Rebuild the schedules of ``traj``'s run from its metadata; ``check`` compares with ``==``."""
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
    schedules = {key: _rebuild(spec, f"{label}: metadata schedules[{key!r}]") for key, spec in specs.items()}
    overrides: dict[str, dict[str, Schedule]] = {}
    for group, keys in override_specs.items():
        if not isinstance(keys, Mapping):
            raise ValueError(f"{label}: metadata overrides[{group!r}] must be a JSON object, got {describe(keys)}")
        overrides[group] = {
            key: _rebuild(spec, f"{label}: metadata overrides[{group!r}][{key!r}]") for key, spec in keys.items()
        }
    bases: dict[str, dict[str, float]] = {}
    for entry in meta.get("groups") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("label"), str):
            bases[entry["label"]] = dict(entry.get("base") or {})
    rebuilt = Rebuilt(schedules, overrides, total, relative, bases, (), False, label)
    if not check:
        return rebuilt
    mismatches = tuple(m for name in traj.series if (m := _check_series(rebuilt, traj, name)) is not None)
    return dataclasses.replace(rebuilt, mismatches=mismatches, checked=True)


def _rebuild(spec: Any, where: str) -> Schedule:
    try:
        return schedule_from_spec(spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be rebuilt: {exc}") from None


def _check_series(rebuilt: Rebuilt, traj: Trajectory, name: str) -> Mismatch | None:
    key, label = parse_series_name(name)
    schedule = rebuilt.overrides.get(label, {}).get(key, rebuilt.schedules.get(key))
    if schedule is None:
        return Mismatch(name, None, None, None, f"the metadata has no schedule for key {key!r} (group {label!r})")
    base = 1.0
    if rebuilt.relative:
        value = rebuilt.bases.get(label, {}).get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Mismatch(name, None, None, None, f"relative=True but the metadata has no base value of {key!r} for group {label!r}")
        base = float(value)
    total = rebuilt.total_steps
    last = total - 1
    steps, values = traj.values(name)
    for step, recorded in zip(steps.tolist(), values.tolist(), strict=True):
        k = step if step < total else last
        expected = schedule(k, total) * base if rebuilt.relative else schedule(k, total)
        if expected != recorded:
            return Mismatch(name, step, expected, recorded, "value differs")
    return None
