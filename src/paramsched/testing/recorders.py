"""`ListRecorder`: a real in-memory recorder, for tests that need to see what a scheduler recorded.

>>> import torch, paramsched as ps
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
>>> rec = ListRecorder()
>>> with ps.ParamScheduler(opt, {"lr": ps.Linear(1.0, 0.0)}, total_steps=4, recorders=[rec]) as sched:
...     for _ in range(4):
...         opt.step()
...         sched.step()
>>> [(step, values["hp/lr/g0"]) for step, values in rec.rows]
[(0, 1.0), (1, 0.75), (2, 0.5), (3, 0.25)]
>>> rec.closed
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paramsched.checks import describe
from paramsched.events import check_event
from paramsched.recording.base import Recorder, RunMetadata

if TYPE_CHECKING:
    from paramsched.replay.trajectory import Trajectory

__all__ = ["ListRecorder"]


class ListRecorder(Recorder):
    """Keeps everything it is given, in order: ``metadata``, ``rows``, ``events``, ``metrics``.

    It follows the recorder lifecycle strictly (``record`` before ``start``
    or after ``close`` is a ``RuntimeError``; ``close`` twice is a no-op), so
    a test using it also checks that the caller drives a recorder correctly.

    Attributes:
        metadata: the document given to ``start()`` (None before).
        rows: ``[(step, {series: value})]`` in the order recorded.
        events: the event records (:mod:`paramsched.events`) in the order recorded.
        metrics: ``[(step, {name: value})]`` in the order recorded.
        closed: True once ``close()`` ran.
    """

    name = "list"
    stores_events = True
    stores_metrics = True

    def __init__(self) -> None:
        self.metadata: RunMetadata | None = None
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.events: list[dict[str, Any]] = []
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.closed = False

    def start(self, metadata: RunMetadata) -> None:
        if self.metadata is not None or self.closed:
            raise RuntimeError("list recorder: start() was already called")
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got metadata={describe(metadata)}")
        self.metadata = dict(metadata)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        self._check_open("record")
        self.rows.append((step, dict(values)))

    def record_event(self, event: Mapping[str, Any]) -> None:
        self._check_open("record_event")
        self.events.append(check_event(event, "list recorder"))

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self._check_open("record_metrics")
        self.metrics.append((step, {str(k): float(v) for k, v in metrics.items()}))

    def close(self) -> None:
        self.closed = True

    def values(self) -> dict[int, dict[str, float]]:
        """``{step: {series: value}}``; a step recorded twice keeps its last row."""
        return {step: values for step, values in self.rows}

    def trajectory(self, source: str = "list recorder") -> Trajectory:
        """What was recorded, as a :class:`~paramsched.replay.Trajectory` (a step recorded
        twice keeps its last row, with a note; events through ``supersede``)."""
        from paramsched.testing.backends import rows_trajectory

        return rows_trajectory(self.rows, self.metadata, source, events=self.events, metrics=self.metrics)

    def _check_open(self, what: str) -> None:
        if self.metadata is None or self.closed:
            raise RuntimeError(f"list recorder: {what}() needs start() first and must come before close()")

    def __repr__(self) -> str:
        return f"ListRecorder(rows={len(self.rows)}, events={len(self.events)}, metrics={len(self.metrics)})"
