"""Replay sources: where trajectories come from, resolved through one registry.

A source is a class with a ``name``, ``claims(obj) -> bool`` and
``load(obj, **options) -> Trajectory`` (see :class:`Source`), registered in
:data:`SOURCES` by the entry point group ``paramsched.sources`` (value = the
class; it is called with no arguments) or with :func:`register_source`.
The core ships ``csv``, ``dataframe`` and ``hf`` (a Hugging Face
``trainer_state.json``); ``paramsched-mlflow`` and ``paramsched-wandb`` add
``mlflow`` and ``wandb``.

How :func:`load` picks a source:

1. a string ``"scheme://rest"`` goes to the source named ``scheme``, which
   receives the WHOLE string (``"mlflow://RUN_ID?tracking_uri=..."``); a
   known plugin that is not installed raises
   :class:`~paramsched._registry.BackendNotInstalledError` with its pip line;
2. anything else goes to the first source (by name) whose ``claims(obj)``
   is true;
3. nothing claims it: ``FileNotFoundError`` for a path that does not exist,
   else ``ValueError`` listing the registered sources and what each accepts.

``keymap=`` (foreign logs) is passed only when given; a source that cannot
take it is a ``TypeError`` naming the source. ``gaps=`` and
``before_start=`` are applied by :func:`load` itself, to any source.
"""

from __future__ import annotations

import abc
import inspect
import os
import re
from collections.abc import Callable
from typing import Any, ClassVar

from paramsched._registry import BackendNotInstalledError, Registry
from paramsched.checks import check_choice, describe
from paramsched.replay.trajectory import Trajectory

__all__ = ["SOURCES", "Source", "load", "register_source"]


class Source(abc.ABC):
    """Base class for replay sources (subclassing it is optional; the protocol is what counts).

    ``accepts`` is a one-line description shown when no source claims an object.
    """

    name: ClassVar[str] = ""
    accepts: ClassVar[str] = ""

    @abc.abstractmethod
    def claims(self, obj: Any) -> bool:
        """True if this source can read ``obj`` (cheap: no network, no full read)."""

    @abc.abstractmethod
    def load(self, obj: Any, **options: Any) -> Trajectory:
        """Read ``obj`` into a :class:`Trajectory`."""


SOURCES: Registry[Source] = Registry("source", "paramsched.sources")
"""Every replay source, entry points included: ``SOURCES.names()``, ``SOURCES.get(name)``."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def register_source(name: str, factory: Callable[[], Source], *, replace: bool = False) -> None:
    """Add a source at run time (same as an entry point in group ``paramsched.sources``).

    >>> class Null(Source):
    ...     name = "null"
    ...     def claims(self, obj): return False
    ...     def load(self, obj, **options): raise NotImplementedError
    >>> register_source("null", Null)
    >>> "null" in SOURCES.names()
    True
    >>> SOURCES.unregister("null")  # an example leaves the registry as it found it
    """
    SOURCES.register(name, factory, replace=replace)


def scheme_of(obj: Any) -> str | None:
    """The ``scheme`` of a ``"scheme://rest"`` string, else None."""
    if isinstance(obj, str):
        match = _SCHEME.match(obj)
        if match:
            return match.group(1).lower()
    return None


def load(
    source: Any,
    *,
    keymap: Any = None,
    gaps: str | None = None,
    before_start: str | None = None,
    **options: Any,
) -> Trajectory:
    """Read a run (CSV run directory, ``"mlflow://RUN_ID"``, an HF checkpoint, a DataFrame, ...).

    ``keymap`` maps the columns of a log that paramsched did not write
    (``"hf"``, ``"lightning"``, ``"timm"``, ``"auto"`` or ``{column: (key,
    group)}``; see :mod:`paramsched.replay.keymaps`); ``options`` go to the
    source's ``load``.

    ``gaps`` (``"previous"`` / ``"linear"``) and ``before_start``
    (``"first"``) fill a sparse log at load, so that every step from 0 (or
    the first logged one) to the last has a value. The filled values are
    interpolated, never the run's own: the notes count them, series by
    series, and the result has no metadata.

    >>> import pandas as pd
    >>> traj = load(pd.DataFrame({"step": [0, 1], "hp/lr/g0": [0.1, 0.2]}))
    >>> traj.frame["hp/lr/g0"].tolist()
    [0.1, 0.2]
    >>> sparse = load(pd.DataFrame({"step": [2, 4], "hp/lr/g0": [0.1, 0.2]}), gaps="previous", before_start="first")
    >>> sparse.frame["hp/lr/g0"].tolist()
    [0.1, 0.1, 0.1, 0.1, 0.2]
    """
    if gaps is not None:
        check_choice("gaps", gaps, ("error", "previous", "linear"))
    if before_start is not None:
        check_choice("before_start", before_start, ("error", "first"))
    scheme = scheme_of(source)
    if scheme is not None:
        chosen = _instantiate(scheme, SOURCES.get(scheme))
    else:
        chosen = _find_claimant(source)
    if keymap is not None:
        options["keymap"] = keymap
        if not _accepts_keyword(chosen.load, "keymap"):
            raise TypeError(f"the source {_name(chosen)!r} does not take keymap=; got keymap={describe(keymap)}")
    result = chosen.load(source, **options)
    if not isinstance(result, Trajectory):
        raise TypeError(f"the source {_name(chosen)!r} returned {describe(result)}, expected a Trajectory")
    if gaps in (None, "error") and before_start in (None, "error"):
        return result
    return _filled(result, gaps, before_start)


def _filled(traj: Trajectory, gaps: str | None, before_start: str | None) -> Trajectory:
    from paramsched.replay._columns import fill_frame

    frame, notes = fill_frame(traj.frame, gaps=gaps, before_start=before_start)
    return Trajectory(
        frame, None, traj.source, notes=[*traj.notes, *notes], events=traj.events, metrics=traj.metrics
    )


def _find_claimant(obj: Any) -> Source:
    unavailable: list[str] = []
    described: list[str] = []
    for name, factory in SOURCES.items():
        try:
            instance = _instantiate(name, factory)
        except BackendNotInstalledError as exc:
            unavailable.append(f"{name} ({exc})")
            continue
        if instance.claims(obj):
            return instance
        accepts = getattr(instance, "accepts", "")
        described.append(f"{name} ({accepts})" if accepts else name)
    if isinstance(obj, (str, os.PathLike)) and not os.path.exists(obj):
        raise FileNotFoundError(f"no run at {os.fspath(obj)!r}: the path does not exist")
    shown = repr(os.fspath(obj)) if isinstance(obj, (str, os.PathLike)) else describe(obj)
    message = f"no replay source can read {shown}; registered sources: {', '.join(described) or 'none'}"
    if unavailable:
        message += f"; unavailable: {', '.join(unavailable)}"
    raise ValueError(message)


def _instantiate(name: str, factory: Callable[[], Source]) -> Source:
    instance = factory()
    for attr in ("claims", "load"):
        if not callable(getattr(instance, attr, None)):
            raise TypeError(f"the source {name!r} ({factory!r}) has no {attr}() method")
    return instance


def _accepts_keyword(func: Callable[..., Any], keyword: str) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _name(source: Source) -> str:
    return getattr(source, "name", "") or type(source).__name__


def _register_core_sources() -> None:
    # The core's own sources are also declared as entry points (pyproject.toml); registering
    # them here too makes a source checkout work before its entry points are (re)installed.
    from paramsched.replay.sources.csv import CsvSource
    from paramsched.replay.sources.dataframe import DataFrameSource
    from paramsched.replay.sources.hf import HFSource
    from paramsched.replay.sources.spool import SpoolSource

    for name, factory in (("csv", CsvSource), ("dataframe", DataFrameSource), ("hf", HFSource),
                          ("spool", SpoolSource)):
        SOURCES.register(name, factory, replace=True)


_register_core_sources()
