"""Shared helpers: a contract adapter for the TensorBoard recorder and source."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paramsched.testing import FullDiskOutage, RecorderBackend, SourceBackend
from paramsched.testing.helpers import Row, record_log
from paramsched_tensorboard import TensorBoardRecorder, TensorBoardSource
from paramsched_tensorboard.source import find_event_files


class TensorBoardBackend(FullDiskOutage, RecorderBackend, SourceBackend):
    """TensorBoardRecorder and TensorBoardSource on one log directory.

    The outage is a full disk for the open event file (:class:`FullDiskOutage`).
    """

    stores_events = True
    stores_metrics = True

    def __init__(self, path: str | os.PathLike[str], **recorder_options: Any) -> None:
        self.path = Path(path)
        self.recorder_options = recorder_options

    def make_recorder(self, *, resume: bool = False) -> TensorBoardRecorder:
        return TensorBoardRecorder(self.path, **self.recorder_options)

    def load(self):
        return TensorBoardSource().load(self.path)

    def write(
        self,
        rows: Sequence[Row],
        metadata: Mapping[str, Any],
        *,
        events: Sequence[Mapping[str, Any]] = (),
        metrics: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        record_log(self.make_recorder(), rows, metadata, events=events, metrics=metrics)

    def cut_last_row(self) -> None:
        (file,) = find_event_files(self.path)
        data = file.read_bytes()
        file.write_bytes(data[:-7])  # inside the last record (the last row: 12 values, ~350 bytes)

    def __repr__(self) -> str:
        return f"TensorBoardBackend({os.fspath(self.path)!r})"
