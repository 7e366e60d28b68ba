"""One registry of recorders, for built-ins and plugins alike (entry point group ``paramsched.recorders``).

A recorder spec is a :class:`Recorder` instance, a registered name
(``"wandb"``: the factory is called with no argument) or ``"name:ARG"``
(``"csv:runs/a"``: the factory is called with ``"runs/a"``).

>>> rec = resolve_recorder("csv:runs/a")
>>> type(rec).__name__, str(rec.path)
('CsvRecorder', 'runs/a')
>>> resolve_recorder(rec) is rec
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._registry import BackendNotInstalledError, Registry
from ..checks import describe
from .base import Recorder
from .csv import CsvRecorder

__all__ = ["RECORDERS", "BackendNotInstalledError", "register_recorder", "resolve_recorder"]

RECORDERS: Registry[Recorder] = Registry("recorder", "paramsched.recorders")
# Also declared as an entry point in pyproject.toml; registered here too so that a
# source checkout without installed metadata still finds the built-in backend.
RECORDERS.register("csv", CsvRecorder)


def register_recorder(name: str, factory: Callable[..., Recorder], *, replace: bool = False) -> None:
    """Make ``factory`` available as ``recorders=["name"]`` / ``["name:ARG"]``.

    >>> register_recorder("csv-every-row", lambda path: CsvRecorder(path, flush_every=1))
    >>> resolve_recorder("csv-every-row:runs/b").flush_every
    1
    >>> RECORDERS.unregister("csv-every-row")  # an example leaves the registry as it found it
    """
    RECORDERS.register(name, factory, replace=replace)


def resolve_recorder(spec: Any) -> Recorder:
    """Turn a recorder spec (instance, ``"name"`` or ``"name:ARG"``) into a :class:`Recorder`."""
    if isinstance(spec, Recorder):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            "a recorder must be a Recorder instance or a string such as 'csv:runs/a' or 'mlflow', "
            f"got recorder={describe(spec)}"
        )
    name, sep, arg = spec.partition(":")
    if not name:
        raise ValueError(f"a recorder string must start with a backend name, got recorder={spec!r}")
    factory = RECORDERS.get(name)
    try:
        recorder = factory(arg) if sep else factory()
    except TypeError as exc:
        hint = "" if sep else f"; use '{name}:ARG' if the backend needs an argument (e.g. 'csv:runs/a')"
        raise TypeError(f"cannot build the recorder {spec!r}: {exc}{hint}") from exc
    if not isinstance(recorder, Recorder):
        raise TypeError(
            f"the recorder factory registered as {name!r} must return a Recorder, got {describe(recorder)}"
        )
    return recorder
