"""Branch a run: a cooldown from any checkpoint of a parent run, as a child run with lineage.

Warmup-stable-decay training keeps one long stable phase and cools it down
from several checkpoints to get a family of finished models (Hägele et al.
2024). :func:`branch` builds what the child run's ``ParamScheduler`` needs:

- for steps ``< at_step``: the parent's exact recorded values (replayed), so a
  child started from the parent's checkpoint at ``at_step`` continues it bit
  for bit;
- from ``at_step`` on, for each key in ``keys``: a decay from the parent's
  value at ``at_step`` to ``end`` over ``cooldown`` steps, in any
  ``WarmupStableDecay`` decay shape (``"1-sqrt"``, ``"linear"``,
  ``"cosine"``, ``"sqrt"``);
- for the other keys, ``others``: ``"replay"`` (the parent's recorded values
  on, which the parent must have logged that far), ``"hold"`` (the parent's
  value at ``at_step`` from then on) or ``"plan"`` (the parent's planned values
  from its metadata, past what it recorded);
- ``total_steps = at_step + cooldown``, and the lineage (the parent's source,
  run id, fingerprint, branch step, cooldown, shape) stored in the child's run
  metadata as ``"parent"``: ``traj.lineage`` reads it back, and the parent's
  checkpoint loads into the child's scheduler without ``strict=False``.

>>> import paramsched as ps, pandas as pd
>>> parent = ps.replay.Trajectory.from_wide(pd.DataFrame({"step": range(8), "hp/lr/g0": [1.0] * 8}))
>>> child = ps.branch(parent, at_step=4, cooldown=4, shape="linear")
>>> child.total_steps, [child.schedules[("lr", "g0")](k, 8) for k in range(8)]
(8, [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from paramsched.checks import check_choice, check_positive_int, check_real, describe
from paramsched.naming import parse_series_name
from paramsched.schedules import ReplaySchedule, Schedule, WarmupStableDecay
from paramsched.schedules.composition import Sequence as SequenceSchedule

__all__ = ["Branch", "DECAY_SHAPES", "OTHERS", "branch"]

DECAY_SHAPES = ("linear", "cosine", "sqrt", "1-sqrt")
OTHERS = ("replay", "hold", "plan")


@dataclasses.dataclass(frozen=True)
class Branch:
    """A child run's scheduling: ``ParamScheduler(opt, **child.scheduler_kwargs(), recorders=[...])``."""

    schedules: dict[tuple[str, str], Schedule]
    total_steps: int
    lineage: dict[str, Any]
    parent: Any  # the parent Trajectory

    def scheduler_kwargs(self) -> dict[str, Any]:
        """``schedules``, ``total_steps`` and ``lineage`` for ``ParamScheduler``."""
        return {"schedules": dict(self.schedules), "total_steps": self.total_steps, "lineage": dict(self.lineage)}

    def preview(self) -> Any:
        """The child's values at every step, as a Trajectory (no optimizer needed)."""
        from paramsched.replay.trajectory import Trajectory
        from paramsched.simulate import simulate

        groups = list(dict.fromkeys(group for _, group in self.schedules))
        frame = simulate(self.schedules, self.total_steps, groups=groups)
        metadata = dict(self.parent.metadata or {}, total_steps=self.total_steps, parent=dict(self.lineage))
        return Trajectory(frame, metadata if self.parent.metadata else None, f"branch at {self.lineage['branch_step']}")


def branch(
    parent: Any,
    *,
    at_step: int,
    cooldown: int | float,
    shape: str = "1-sqrt",
    end: float = 0.0,
    keys: Sequence[str] = ("lr",),
    others: str = "replay",
    **load_options: Any,
) -> Branch:
    """A cooldown of ``parent`` from ``at_step`` (see the module docstring).

    Args:
        parent: anything ``paramsched.replay.load`` takes (``load_options`` go
            to it), or a Trajectory.
        at_step: the first step of the cooldown (the parent's checkpoint step), >= 1.
        cooldown: its length: steps (int >= 1) or a fraction of ``at_step`` (float in (0, 1]).
        shape: the decay shape (``WarmupStableDecay``'s ``decay_shape``).
        end: the value every key of ``keys`` decays to.
        keys: the keys to cool down; each must be recorded in the parent.
        others: what the parent's other keys do from ``at_step`` on.
    """
    from paramsched.replay import load
    from paramsched.replay.trajectory import Trajectory

    traj = parent if isinstance(parent, Trajectory) else load(parent, **load_options)
    label = traj.source or "parent"
    k = check_positive_int("at_step", at_step)
    length = _cooldown_steps(cooldown, k)
    shape = check_choice("shape", shape, DECAY_SHAPES)
    end = check_real("end", end)
    others = check_choice("others", others, OTHERS)
    if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
        raise TypeError(f"keys must be a non-empty list of keys such as ['lr'], got keys={describe(keys)}")
    missing = [key for key in keys if key not in traj.keys]
    if missing:
        raise ValueError(f"{label}: keys {missing} are not recorded in the parent; it records {traj.keys}")
    total = k + length
    planned = None
    schedules: dict[tuple[str, str], Schedule] = {}
    for name in traj.series:
        key, group = parse_series_name(name)
        before = _recorded(traj, name, 0, k + 1, label)  # steps 0..k: the value at k starts the decay
        if key in keys:
            decay = WarmupStableDecay(
                float(before[k]), warmup=0, decay=length, start=float(before[k]), end=end, decay_shape=shape
            )
            schedules[(key, group)] = SequenceSchedule([ReplaySchedule(before[:k]), decay], boundaries=[k])
        elif others == "replay":
            schedules[(key, group)] = ReplaySchedule(_recorded(traj, name, 0, total, label))
        elif others == "hold":
            schedules[(key, group)] = ReplaySchedule([*before, *[before[k]] * (length - 1)])
        else:
            if planned is None:
                from paramsched.replay.rebuild import rebuild

                planned = rebuild(traj, check=False)
            tail = planned.planned(name, np.arange(k, total))
            schedules[(key, group)] = ReplaySchedule([*before[:k], *tail.tolist()])
    lineage = {
        "source": label,
        "run_id": _run_id(label),
        "fingerprint": parent_fingerprint(traj),
        "branch_step": k,
        "cooldown": length,
        "shape": shape,
        "end": end,
        "keys": list(keys),
        "others": others,
    }
    return Branch(schedules, total, lineage, traj)


def _cooldown_steps(cooldown: Any, at_step: int) -> int:
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)):
        raise TypeError(
            f"cooldown must be a step count (int >= 1) or a fraction of at_step (float in (0, 1]), "
            f"got cooldown={describe(cooldown)}"
        )
    if isinstance(cooldown, float):
        if not 0.0 < cooldown <= 1.0:
            raise ValueError(f"cooldown as a fraction of at_step must be in (0, 1], got cooldown={cooldown!r}")
        return max(1, round(cooldown * at_step))
    return check_positive_int("cooldown", cooldown)


def _recorded(traj: Any, name: str, start: int, stop: int, label: str) -> list[float]:
    """The parent's recorded values of steps ``start..stop-1``; every one must be there."""
    column = traj.frame[name].reindex(range(start, stop)).to_numpy()
    missing = np.flatnonzero(np.isnan(column))
    if missing.size:
        first = start + int(missing[0])
        hint = "" if first < traj.frame.index[-1] else " (the parent's log ends before it: others='hold' or 'plan')"
        raise ValueError(f"{label}: series {name!r} has no recorded value at step {first}{hint}")
    return column.tolist()


def parent_fingerprint(traj: Any) -> str | None:
    """The fingerprint a checkpoint of ``traj``'s run carries (from its metadata), or None."""
    metadata = traj.metadata or {}
    if isinstance(metadata.get("fingerprint"), str):
        return metadata["fingerprint"]
    schedules, overrides = metadata.get("schedules"), metadata.get("overrides") or {}
    if not isinstance(schedules, Mapping) or not isinstance(metadata.get("series"), list):
        return None
    specs = {}
    for name in metadata["series"]:  # the same digest as paramsched._plan.fingerprint
        key, group = parse_series_name(name)
        spec = (overrides.get(group) or {}).get(key, schedules.get(key))
        if spec is None:
            return None
        specs[name] = spec
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()[:16]


def _run_id(source: str) -> str | None:
    if source.startswith("mlflow://"):
        return source[len("mlflow://"):].split("?", 1)[0] or None
    match = re.search(r"(?:offline-)?run-\d{8}_\d{6}-([a-z0-9]+)$", source.rstrip("/"))
    match = match or re.search(r"(?:^|/)run-([a-z0-9]+)\.wandb$", source)  # a W&B offline run file
    if match:
        return match.group(1)
    if source.startswith("wandb://"):
        return source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return None
