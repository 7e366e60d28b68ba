"""The `Recorder` base class: what every backend (CSV, W&B, MLflow, ...) implements.

Lifecycle: ``start(metadata)`` once, ``record(step, values)`` once per
optimizer update, ``record_event(event)`` when something besides the
schedules changed a value (an intervention, drift, a resume: see
:mod:`paramsched.events`), ``record_metrics(step, metrics)`` for training
metrics the user asked to keep, ``flush()`` whenever durability matters
(every checkpoint), ``close()`` once. Constructors only store configuration;
files, network and SDK calls start in ``start()``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from paramsched.checks import describe

RunMetadata = dict[str, Any]
"""The JSON document describing a run (see ``paramsched.runformat``)."""


class Recorder(abc.ABC):
    """Receives every applied value, per series, per step.

    ``values`` maps series names (``hp/<key>/<group>``) to plain Python floats;
    every series appears at every step. Subclasses implement ``start``,
    ``record`` and ``close``; ``flush`` defaults to doing nothing.

    A backend that keeps events sets ``stores_events = True`` and implements
    ``record_event``; one that keeps training metrics sets ``stores_metrics``
    and implements ``record_metrics``. The defaults keep nothing (a backend
    that cannot store them says so with those flags, which the contract
    suite in :mod:`paramsched.testing` reads).
    """

    #: True when ``record_event`` stores the event where the backend's source reads it back.
    stores_events: bool = False
    #: True when ``record_metrics`` stores the metrics where the backend's source reads them back.
    stores_metrics: bool = False

    @abc.abstractmethod
    def start(self, metadata: RunMetadata) -> None:
        """Open files / runs / connections and store the run metadata."""

    @abc.abstractmethod
    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Record the values in effect during optimizer update ``step``."""

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Keep one event record (:mod:`paramsched.events`); events arrive in the order they happen."""

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Keep training metrics (``{"loss": 0.42}``) logged after optimizer update ``step``."""

    def flush(self) -> None:
        """Push buffered values to the backend: after it returns, everything recorded so
        far is durable (on disk, in the spool or accepted by the tracker)."""

    def checkpoint(self, step: int) -> None:
        """The run was checkpointed at ``step``: make everything recorded so far durable.

        ``ParamScheduler.state_dict()`` calls it, so that a run resumed from that
        checkpoint after a crash finds every earlier step in the log. The default
        is :meth:`flush`; the CSV recorder also fsyncs and notes the step.
        """
        self.flush()

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything; called once, at the end of the run."""

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metadata_series(metadata: Any) -> tuple[str, ...]:
    """The ``series`` a recorder's ``start(metadata)`` is given, checked: its columns, in order.

    >>> metadata_series({"series": ["hp/lr/g0", "hp/lr/g1"]})
    ('hp/lr/g0', 'hp/lr/g1')
    """
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, got metadata={describe(metadata)}")
    series = metadata.get("series")
    if not isinstance(series, (list, tuple)) or not all(isinstance(s, str) for s in series):
        raise ValueError(f"metadata['series'] must be a list of series names, got {describe(series)}")
    return tuple(series)
