"""Control files: change a running schedule from outside the training process.

``ParamScheduler(..., control="runs/a/control.json")`` looks at the file every
``control_every`` updates (one ``os.stat``; the file is read only when it
changed). A request is JSON (YAML when the name ends in ``.yaml``/``.yml`` and
PyYAML is installed)::

    {"set": {"lr": 1e-4, "hp/weight_decay/head": 0.0},       # numbers, held constant
     "spec": {"betas.0": {"type": "Constant", "value": 0.9}}, # schedule specs
     "reason": "loss spike"}

Targets are keys (every group that schedules them) or series names
``hp/<key>/<group>``. The scheduler applies a new request at the next step
boundary, exactly like ``sched.intervene(...)``, logs an event and
acknowledges it in the file (``"applied_at_step": k``). A bad request
(unknown key, a value out of range anywhere in the rest of the run, a
malformed file) is a warning naming the file and the problem, and changes
nothing. ``paramsched intervene RUN --set lr=1e-4 --reason "..."`` writes the
file.

A spec in a control file may name only schedule types, never a function to
import (``FunctionSchedule`` specs are refused): whoever can write the file
can change values, not run code.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "control.json")
>>> write_request(path, set_values={"lr": 1e-4}, reason="spike")["set"]
{'lr': 0.0001}
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import describe
from paramsched.runformat import utc_now, write_json_atomic

__all__ = ["ControlFile", "ControlRequest", "ControlWarning", "write_request"]

CONTROL_FILE = "control.json"
_REQUEST_FIELDS = ("set", "spec", "reason")


class ControlWarning(UserWarning):
    """A control file could not be applied; the running schedule is unchanged."""


class ControlRequest(dict):
    """A parsed request: ``changes`` ({target: number or spec}), ``reason``, ``id``,
    and ``applied_at_step`` when a run already acknowledged it."""

    @property
    def id(self) -> str:
        return self["id"]


def control_path(path: str | os.PathLike[str]) -> Path:
    """The control file meant by ``path``: a file, or ``<run dir>/control.json``."""
    path = Path(path)
    return path / CONTROL_FILE if path.is_dir() else path


def parse_request(document: Any, where: str) -> ControlRequest:
    """Check a control document; ``ValueError`` naming ``where`` and the problem."""
    if not isinstance(document, Mapping):
        raise ValueError(f"{where}: a control request must be a JSON object, got {describe(document)}")
    unknown = sorted(set(document) - {*_REQUEST_FIELDS, "applied_at_step", "requested_at", "status"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; a request has 'set', 'spec' and 'reason'")
    changes: dict[str, Any] = {}
    for field in ("set", "spec"):
        part = document.get(field) or {}
        if not isinstance(part, Mapping):
            raise ValueError(f"{where}: {field!r} must map keys or series names to values, got {describe(part)}")
        for target, value in part.items():
            if field == "set" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{where}: set[{target!r}] must be a number, got {describe(value)}")
            if field == "spec" and not isinstance(value, Mapping):
                raise ValueError(f"{where}: spec[{target!r}] must be a schedule spec (a JSON object), got {describe(value)}")
            if target in changes:
                raise ValueError(f"{where}: {target!r} appears in both 'set' and 'spec'")
            changes[target] = value
    if not changes:
        raise ValueError(f"{where}: the request changes nothing (no 'set' or 'spec' entries)")
    reason = document.get("reason", "")
    if not isinstance(reason, str):
        raise ValueError(f"{where}: 'reason' must be a string, got {describe(reason)}")
    applied = document.get("applied_at_step")
    if applied is not None and (isinstance(applied, bool) or not isinstance(applied, int) or applied < 0):
        raise ValueError(f"{where}: 'applied_at_step' must be an int >= 0, got {describe(applied)}")
    # The same request written again later (requested_at differs) is a new request.
    identity = {k: document.get(k) for k in (*_REQUEST_FIELDS, "requested_at")}
    canonical = json.dumps(identity, sort_keys=True, default=str)
    request = ControlRequest(
        changes=changes,
        reason=reason,
        id=hashlib.sha256(canonical.encode()).hexdigest()[:16],
        applied_at_step=applied,
    )
    return request


def read_document(path: Path) -> Any:
    """The parsed control file (JSON, or YAML for .yaml/.yml)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{os.fspath(path)}: a YAML control file needs PyYAML (pip install pyyaml)") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


class ControlFile:
    """Watches one control file (see the module docstring); the scheduler owns one.

    ``poll()`` is the cheap part: an ``os.stat``; it reads and parses the file
    only when its size or modification time changed, and returns a new valid
    request, or ``None``. A bad file warns once per version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"control must be a file path (str or os.PathLike), got control={describe(path)}")
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None

    def poll(self) -> ControlRequest | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._seen = None
            return None
        except OSError as exc:
            self._warn(f"cannot be read ({exc})")
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        if version == self._seen:
            return None
        self._seen = version
        try:
            return parse_request(read_document(self.path), os.fspath(self.path))
        except (OSError, ValueError) as exc:
            self._warn(str(exc))
            return None

    def warn_rejected(self, request: ControlRequest, problem: str) -> None:
        """Say that a well-formed request was refused (bad key, value out of range...)."""
        self._warn(f"request {request.id} was not applied: {problem}")

    def acknowledge(self, request: ControlRequest, step: int) -> None:
        """Write ``applied_at_step`` into the file (atomically), keeping the request."""
        try:
            document = read_document(self.path)
        except (OSError, ValueError):
            return  # replaced meanwhile: the new content is the next request
        if not isinstance(document, Mapping):
            return
        try:
            if parse_request(document, os.fspath(self.path)).id != request.id:
                return  # the file holds a newer request now
        except ValueError:
            return
        acknowledged = {**document, "applied_at_step": step, "status": "applied"}
        if self.path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            temp.write_text(yaml.safe_dump(acknowledged, sort_keys=False), encoding="utf-8")
            os.replace(temp, self.path)
        else:
            write_json_atomic(self.path, acknowledged)
        stat = os.stat(self.path)
        self._seen = (stat.st_mtime_ns, stat.st_size)

    def _warn(self, problem: str) -> None:
        warnings.warn(
            f"paramsched: control file {os.fspath(self.path)!r}: {problem}; the running schedule is unchanged",
            ControlWarning,
            stacklevel=4,
        )


def write_request(
    path: str | os.PathLike[str],
    *,
    set_values: Mapping[str, float] | None = None,
    specs: Mapping[str, Mapping[str, Any]] | None = None,
    reason: str = "",
    replace: bool = False,
) -> dict[str, Any]:
    """Write a control request to ``path`` (a file, or a run directory's ``control.json``).

    A request not yet applied is not replaced unless ``replace=True``.
    """
    target = control_path(path)
    document: dict[str, Any] = {}
    if set_values:
        document["set"] = {str(k): float(v) for k, v in set_values.items()}
    if specs:
        document["spec"] = {str(k): dict(v) for k, v in specs.items()}
    if reason:
        document["reason"] = reason
    parse_request(document, os.fspath(target))  # refuse what a run would refuse to read
    if target.exists() and not replace:
        try:
            previous = read_document(target)
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, Mapping) and previous.get("applied_at_step") is None:
            raise FileExistsError(
                f"{os.fspath(target)!r} holds a request not applied yet; pass replace=True "
                "(paramsched intervene --replace) to replace it"
            )
    document["requested_at"] = utc_now()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(target, document)
    return document
