"""The recorder contract (paramsched.testing) over LoggerRecorder writing to Lightning loggers.

CSVLogger: the values go to its ``metrics.csv``, read back with the core CSV
source, which reads the ``run.json`` and ``events.jsonl`` the recorder writes
beside it. A resumed run reopens the same version directory, which CSVLogger
clears: the recorder keeps the earlier run's values before the resumed step.

TensorBoardLogger: the values go to a paramsched event file in the logger's
directory, read back with the TensorBoard source (float64, metadata, events).

Neither has an outage to simulate here (the logger owns its files).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from paramsched.replay.sources.csv import CsvSource
from paramsched.testing import RecorderBackend, RecorderContract
from paramsched_lightning import LoggerRecorder

try:
    from paramsched_tensorboard import TensorBoardSource
except ImportError:  # the TensorBoard case skips
    TensorBoardSource = None


class CsvLoggerBackend(RecorderBackend):
    """A ``CSVLogger`` (version 0 under ``root``); a resumed run opens the same version again,
    as a restarted script with the same ``CSVLogger(..., version=0)`` does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logger: CSVLogger | None = None

    def make_recorder(self, *, resume=False):
        logger = self.logger = CSVLogger(self.root, name="run", version=0)
        return LoggerRecorder(lambda: [logger])

    @property
    def metrics_path(self) -> Path:
        return Path(self.logger.log_dir) / "metrics.csv"

    def load(self):
        return CsvSource().load(self.metrics_path)

    def stored_rows(self):
        with open(self.metrics_path, newline="") as handle:
            return [
                (int(row["step"]), {k: float(v) for k, v in row.items() if k.startswith("hp/") and v != ""})
                for row in csv.DictReader(handle)
            ]


@pytest.mark.filterwarnings("ignore:Experiment logs directory .* exists and is not empty")  # the resume reopens it
class TestLoggerRecorderCsvLogger(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return CsvLoggerBackend(tmp_path)


class TensorBoardLoggerBackend(RecorderBackend):
    """A ``TensorBoardLogger`` (version 0 under ``root``), read with the TensorBoard source: the
    recorder writes a paramsched event file of its own in the logger's directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def make_recorder(self, *, resume=False):
        logger = TensorBoardLogger(self.root, name="run", version=0)
        self.log_dir = logger.log_dir
        return LoggerRecorder(lambda: [logger])

    def load(self):
        return TensorBoardSource().load(self.log_dir)


class TestLoggerRecorderTensorBoardLogger(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path):
        pytest.importorskip("paramsched_tensorboard")
        return TensorBoardLoggerBackend(tmp_path)

    # Does not apply: event files are append-only (see integrations/tensorboard/tests/test_contracts.py).
    test_resume_stores_each_step_once = None
