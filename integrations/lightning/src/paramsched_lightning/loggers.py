"""`LoggerRecorder`: a paramsched recorder that writes into a Lightning trainer's own loggers.

Every recorded step ``k`` goes to ``logger.log_metrics({"hp/<key>/<group>": value, ...},
step=k)`` for each of ``trainer.loggers`` (CSVLogger, WandbLogger, MLFlowLogger,
TensorBoardLogger, ...). ``k`` is the optimizer update, the same index Lightning
uses for what ``training_step`` logs, so the values line up with the loss.

>>> rec = LoggerRecorder(lambda: [], every_n_steps=1)
>>> rec.start({"series": ["hp/lr/g0"]}); rec.record(0, {"hp/lr/g0": 0.1}); rec.close()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paramsched.checks import check_positive_int, describe
from paramsched.recording.base import Recorder, RunMetadata

__all__ = ["LoggerRecorder"]


class LoggerRecorder(Recorder):
    """Forward every ``every_n_steps``-th step's values to Lightning loggers.

    Args:
        loggers: a callable returning the loggers (``lambda: trainer.loggers``),
            read at each record so a logger swapped between fits is followed.
        every_n_steps: log step ``k`` when ``(k + 1) % every_n_steps == 0``,
            Lightning's own ``log_every_n_steps`` rule.
    """

    name = "lightning-loggers"

    def __init__(self, loggers: Callable[[], Sequence[Any]], *, every_n_steps: int = 1) -> None:
        if not callable(loggers):
            raise TypeError(f"loggers must be a callable returning the loggers, got loggers={describe(loggers)}")
        self._loggers = loggers
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)

    def start(self, metadata: RunMetadata) -> None:
        """Nothing to open: the trainer owns its loggers."""

    def record(self, step: int, values: Mapping[str, float]) -> None:
        if (step + 1) % self.every_n_steps:
            return
        for logger in self._loggers():
            logger.log_metrics(dict(values), step=step)

    def flush(self) -> None:
        for logger in self._loggers():
            logger.save()

    def close(self) -> None:
        """Write what the loggers buffer; Lightning finalizes them itself."""
        self.flush()

    def __repr__(self) -> str:
        return f"LoggerRecorder(every_n_steps={self.every_n_steps})"
