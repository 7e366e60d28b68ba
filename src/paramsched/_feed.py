"""How the runtime feeds its recorders: started lazily, on the recording rank only, never twice.

`ParamScheduler` hands every applied value, event and metric to one
:class:`RecorderFeed`, which owns the recorder objects and the rules:

- recorders are built (so a misspelt name fails at construction) but started
  at the first record, when the distributed rank is known: a scheduler built
  before ``init_process_group`` still records on rank 0 only;
- events that happen before the first record wait for the start;
- a recorder whose ``start()`` raised is reported once and dropped (a
  configuration mistake such as a run directory held by another process);
  the backends themselves decide what an outage does (warn and spool, or
  raise with ``on_error="raise"``);
- ``checkpoint(step)`` makes everything recorded so far durable (the
  scheduler calls it from ``state_dict()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from paramsched._torch_compat import distributed_rank
from paramsched.checks import describe
from paramsched.recording.base import Recorder, RunMetadata

__all__ = ["RecorderFeed"]


class RecorderFeed:
    """The scheduler's link to its recorders (see the module docstring)."""

    def __init__(self, specs: Iterable[Recorder | str] | Recorder | str, record_ranks: str) -> None:
        self.record_ranks = record_ranks
        self._specs = _as_list(specs)
        self.recorder: Recorder | None = None
        if self._specs:
            from paramsched.recording import FanOut, resolve_recorder

            recorders = [resolve_recorder(spec) for spec in self._specs]
            self.recorder = recorders[0] if len(recorders) == 1 else FanOut(recorders)
        self.started = False
        self.rank, self.world_size = 0, 1
        self._pending_events: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return self.recorder is not None

    def record(self, step: int, values: Mapping[str, float], metadata: Callable[[], RunMetadata]) -> None:
        """Record one update's values, starting the recorders first if needed."""
        if not self.started and not self._start(metadata):
            return
        assert self.recorder is not None
        self.recorder.record(step, values)

    def event(self, event: Mapping[str, Any]) -> None:
        """Record an event now, or at the start when the recorders have not started yet."""
        if self.recorder is None:
            return
        if not self.started:
            self._pending_events.append(dict(event))
            return
        self.recorder.record_event(event)

    def metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.recorder is not None and self.started:
            self.recorder.record_metrics(step, metrics)

    def checkpoint(self, step: int) -> None:
        """Make every value recorded so far durable (called at each ``state_dict()``)."""
        if self.recorder is not None and self.started:
            self.recorder.checkpoint(step)

    def flush(self) -> None:
        if self.recorder is not None and self.started:
            self.recorder.flush()

    def close(self) -> None:
        if self.recorder is not None and self.started:
            recorder, self.recorder = self.recorder, None
            recorder.close()

    def detach(self) -> None:
        """Forget the recorders (pickling: they hold files and connections)."""
        self.recorder = None
        self.started = False
        self._pending_events = []

    def _start(self, metadata: Callable[[], RunMetadata]) -> bool:
        self.rank, self.world_size = distributed_rank()
        if self.world_size > 1 and self.record_ranks == "zero" and self.rank != 0:
            self.recorder = None  # never started: nothing to close
            return False
        assert self.recorder is not None
        self.started = True
        try:
            self.recorder.start(metadata())
        except BaseException:
            # Reported once, here; a recorder that could not start records nothing
            # (a fan-out keeps the recorders that did start).
            survivors = getattr(self.recorder, "active", None)
            if survivors:
                self._send_pending()
            else:
                self.recorder = None
            raise
        self._send_pending()
        return True

    def _send_pending(self) -> None:
        assert self.recorder is not None
        pending, self._pending_events = self._pending_events, []
        for event in pending:
            self.recorder.record_event(event)


def _as_list(recorders: Any) -> list[Any]:
    if isinstance(recorders, (str, Recorder)):
        return [recorders]
    if recorders is None:
        return []
    try:
        return list(recorders)
    except TypeError:
        raise TypeError(
            "recorders must be a recorder, a name such as 'csv:runs/a', or a list of them, "
            f"got recorders={describe(recorders)}"
        ) from None
