"""`FanOut`: one :class:`Recorder` that forwards to several, so the scheduler holds one object.

Every call goes to every recorder, in order, even when one of them raises;
afterwards the error surfaces: the recorder's own exception when one failed,
a :class:`RecorderError` naming each backend when several did. A recorder
decides for itself whether a backend failure raises (``on_error="raise"``)
or only warns (``"warn"``); FanOut never swallows what it raises. A recorder
whose ``start()`` raised is not called again (its error was reported).

>>> fan = FanOut([])
>>> fan.start({"series": []}); fan.record(0, {}); fan.close()
>>> len(fan)
0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..checks import describe
from .base import Recorder, RunMetadata
from .errors import RecorderError
from .registry import resolve_recorder

__all__ = ["FanOut"]


class FanOut(Recorder):
    """Forward ``start`` / ``record`` / ``flush`` / ``close`` to every recorder.

    Args:
        recorders: recorder specs (instances, ``"mlflow"``, ``"csv:runs/a"``);
            strings are resolved through the recorder registry.
    """

    name = "fanout"

    def __init__(self, recorders: Iterable[Recorder | str]) -> None:
        if isinstance(recorders, (str, Recorder)) or not isinstance(recorders, Iterable):
            raise TypeError(
                f"recorders must be a list of recorders or recorder strings, got recorders={describe(recorders)}"
            )
        self.recorders: list[Recorder] = [resolve_recorder(spec) for spec in recorders]
        self._active: list[Recorder] = list(self.recorders)

    def __len__(self) -> int:
        return len(self.recorders)

    @property
    def active(self) -> list[Recorder]:
        """The recorders still in use (a recorder whose ``start()`` raised is dropped)."""
        return list(self._active)

    def checkpoint(self, step: int) -> None:
        """Make every recorder durable up to ``step`` (their ``checkpoint`` or ``flush``)."""

        _raise(self._call_each(lambda rec: rec.checkpoint(step)), "checkpoint")

    def __iter__(self):
        return iter(self.recorders)

    def start(self, metadata: RunMetadata) -> None:
        failed = self._call_each(lambda rec: rec.start(metadata))
        if failed:
            dead = {id(rec) for rec, _ in failed}
            self._active = [rec for rec in self._active if id(rec) not in dead]
            _raise(failed, "start")

    def record(self, step: int, values: Mapping[str, float]) -> None:
        failed: list[tuple[Recorder, Exception]] | None = None
        for rec in self._active:
            try:
                rec.record(step, values)
            except Exception as exc:  # the others still get this step
                failed = (failed or []) + [(rec, exc)]
        if failed:
            _raise(failed, "record")

    def record_event(self, event: Mapping[str, Any]) -> None:
        _raise(self._call_each(lambda rec: rec.record_event(event)), "record_event")

    def record_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        _raise(self._call_each(lambda rec: rec.record_metrics(step, metrics)), "record_metrics")

    def flush(self) -> None:
        _raise(self._call_each(lambda rec: rec.flush()), "flush")

    def close(self) -> None:
        active, self._active = self._active, []
        _raise(self._call_each(lambda rec: rec.close(), active), "close")

    def _call_each(
        self, call: Callable[[Recorder], Any], recorders: list[Recorder] | None = None
    ) -> list[tuple[Recorder, Exception]]:
        failed: list[tuple[Recorder, Exception]] = []
        for rec in self._active if recorders is None else recorders:
            try:
                call(rec)
            except Exception as exc:
                failed.append((rec, exc))
        return failed

    def __repr__(self) -> str:
        return f"FanOut({self.recorders!r})"


def _raise(failed: list[tuple[Recorder, Exception]], what: str) -> None:
    if not failed:
        return
    if len(failed) == 1:
        raise failed[0][1]
    parts = "; ".join(f"{_name(rec)}: {type(exc).__name__}: {exc}" for rec, exc in failed)
    raise RecorderError("fanout", f"{len(failed)} recorders failed in {what}(): {parts}") from failed[0][1]


def _name(rec: Recorder) -> str:
    return str(getattr(rec, "name", type(rec).__name__))
