"""The `Recorder` base class: what every backend (CSV, W&B, MLflow, ...) implements.

Lifecycle: ``start(metadata)`` once, ``record(step, values)`` once per
optimizer update, ``flush()`` whenever durability matters, ``close()`` once.
Constructors only store configuration; files, network and SDK calls start in
``start()``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

RunMetadata = dict[str, Any]
"""The JSON document describing a run (see ``paramsched.runformat``)."""


class Recorder(abc.ABC):
    """Receives every applied value, per series, per step.

    ``values`` maps series names (``hp/<key>/<group>``) to plain Python floats;
    every series appears at every step. Subclasses implement ``start``,
    ``record`` and ``close``; ``flush`` defaults to doing nothing.
    """

    @abc.abstractmethod
    def start(self, metadata: RunMetadata) -> None:
        """Open files / runs / connections and store the run metadata."""

    @abc.abstractmethod
    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Record the values in effect during optimizer update ``step``."""

    def flush(self) -> None:
        """Push buffered values to the backend."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything; called once, at the end of the run."""

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
