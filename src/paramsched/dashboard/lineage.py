"""Find families among compared runs: a parent and the runs branched from it.

A branched run's metadata has ``"parent": {"source", "run_id", "fingerprint",
"branch_step", "cooldown", "shape", "keys"}`` (``Trajectory.lineage``). A
child belongs to the compared run that the lineage names, matched in this
order:

1. the parent's run id (an MLflow or W&B run id; also the last part of a
   ``scheme://.../ID`` source, and the id in a W&B ``offline-run-...-ID`` folder);
2. the parent's source: the same URI (query string aside), or the same run
   folder (``values.csv`` / ``run.json`` mean their folder; a relative path
   matches a run whose absolute path ends with it);
3. the fingerprint of the parent's schedules, when exactly one other run has it.

A child whose parent is not among the runs gets a note, not a family.

>>> child = {"source": "runs/parent", "run_id": None, "branch_step": 40}
>>> sorted(lineage_identities(child))
['path:runs/parent']
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from paramsched.dashboard.model import Branch, Family, RunData

_WANDB_RUN_DIR = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[A-Za-z0-9]+)$")
_RUN_FILES = ("values.csv", "run.json")


def source_identities(source: str) -> set[str]:
    """What a source string can be recognised by: ``uri:...``, ``id:...``, ``path:...``."""
    if not source:
        return set()
    if "://" in source:
        base = source.split("?", 1)[0].rstrip("/")
        found = {f"uri:{base}"}
        tail = base.split("://", 1)[1].rsplit("/", 1)[-1]
        if tail:
            found.add(f"id:{tail}")
        return found
    path = PurePath(source)
    if path.name in _RUN_FILES:
        path = path.parent
    found = {f"path:{path.as_posix()}"}
    for part in path.parts:
        match = _WANDB_RUN_DIR.match(part)
        if match:
            found.add(f"id:{match['id']}")
    if path.suffix == ".wandb" and path.stem.startswith("run-"):
        found.add(f"id:{path.stem[len('run-'):]}")
    return found


def lineage_identities(lineage: Mapping[str, Any]) -> set[str]:
    """The identities a child's ``lineage`` names its parent by."""
    found = source_identities(str(lineage.get("source") or ""))
    run_id = lineage.get("run_id")
    if isinstance(run_id, str) and run_id:
        found.add(f"id:{run_id}")
    return found


def find_families(
    runs: list[RunData], fingerprints: Mapping[str, str | None]
) -> tuple[list[Family], list[str]]:
    """The families among ``runs`` (parents in run order) and notes for orphaned children.

    ``fingerprints`` maps a run name to the fingerprint of its rebuilt
    schedules (``None`` when they could not all be rebuilt).
    """
    identities = {run.name: _run_identities(run) for run in runs}
    children: dict[str, list[Branch]] = {}
    notes: list[str] = []
    for run in runs:
        lineage = run.lineage
        if lineage is None:
            continue
        branch = _branch(run, lineage, notes)
        if branch is None:
            continue
        parent = _find_parent(run, lineage, runs, identities, fingerprints)
        if parent is None:
            notes.append(
                f"{run.name}: branched at step {branch.branch_step} from "
                f"{lineage.get('source') or lineage.get('run_id')!s}, which is not among the compared "
                "runs (add it to draw the lineage view)"
            )
            continue
        children.setdefault(parent.name, []).append(branch)
    families = []
    for run in runs:
        if run.name in children:
            branches = sorted(children[run.name], key=lambda b: (b.branch_step, b.child.name))
            keys = [k for b in branches for k in _keys(b.child.lineage)]
            series = _lineage_series(run, keys)
            if series is None:
                notes.append(f"{run.name}: no series to draw its branches on (it records {list(run.series)})")
                continue
            families.append(Family(run, branches, series))
    return families, notes


def _run_identities(run: RunData) -> set[str]:
    found = source_identities(run.source)
    for item in list(found):
        if item.startswith("path:"):
            found.add("path:" + _absolute(item[len("path:"):]))
    run_id = (run.metadata or {}).get("run_id")
    if isinstance(run_id, str) and run_id:
        found.add(f"id:{run_id}")
    return found


def _absolute(text: str) -> str:
    try:
        return Path(os.path.abspath(text)).as_posix()
    except (OSError, ValueError):
        return text


def _find_parent(
    child: RunData,
    lineage: Mapping[str, Any],
    runs: list[RunData],
    identities: Mapping[str, set[str]],
    fingerprints: Mapping[str, str | None],
) -> RunData | None:
    wanted = lineage_identities(lineage)
    ids = {i for i in wanted if i.startswith(("id:", "uri:"))}
    paths = [i[len("path:"):] for i in wanted if i.startswith("path:")]
    others = [run for run in runs if run is not child]
    for run in others:
        if ids & identities[run.name]:
            return run
    for path in paths:
        absolute = "path:" + _absolute(path)
        for run in others:
            if absolute in identities[run.name]:
                return run
        if not PurePath(path).is_absolute():
            suffix = PurePath(path).parts
            for run in others:
                for item in identities[run.name]:
                    parts = PurePath(item[len("path:"):]).parts if item.startswith("path:") else ()
                    if suffix and parts[-len(suffix):] == suffix:
                        return run
    fingerprint = lineage.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint:
        matches = [run for run in others if fingerprints.get(run.name) == fingerprint]
        if len(matches) == 1:
            return matches[0]
    return None


def _branch(run: RunData, lineage: Mapping[str, Any], notes: list[str]) -> Branch | None:
    step = lineage.get("branch_step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        notes.append(f"{run.name}: its lineage has no usable branch_step (got {step!r}); not drawn as a branch")
        return None
    cooldown = lineage.get("cooldown")
    if isinstance(cooldown, bool) or not isinstance(cooldown, int):
        cooldown = None
    shape = lineage.get("shape")
    return Branch(run, step, cooldown, shape if isinstance(shape, str) else None)


def _keys(lineage: Mapping[str, Any] | None) -> list[str]:
    keys = (lineage or {}).get("keys")
    if isinstance(keys, (list, tuple)):
        return [k for k in keys if isinstance(k, str)]
    return []


def _lineage_series(parent: RunData, keys: list[str]) -> str | None:
    """The parent's series to draw: the first lineage key it records (else lr, else its first)."""
    for key in [*keys, "lr"]:
        for series in parent.series.values():
            if series.key == key:
                return series.name
    return next(iter(parent.series), None)
