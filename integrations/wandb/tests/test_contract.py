"""The recorder and source contracts (paramsched.testing) over WandbRecorder / WandbSource, offline.

Each case is one or two real offline wandb runs (about a second each), so
the W&B classes run the cases where W&B's own code is on the path. The
outage finishes the run under the recorder (W&B then refuses every row);
it cannot come back, so the values must be in the spool.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paramsched.testing import (
    RecorderBackend,
    RecorderContract,
    SourceBackend,
    SourceContract,
    record_log,
)
from paramsched_wandb import WandbRecorder, WandbSource
from paramsched_wandb.runfiles import FOLDER, PACKED_FILE, read_packed


class WandbBackend(RecorderBackend, SourceBackend):
    """``step_mode="own"`` runs in ``runs``; a resumed recorder re-opens the run id."""

    # flush() waits until the values file holds every row; the run file itself (config,
    # exit record) is written by wandb-core, so a load before close() waits for it a moment.
    readable_before_close = True
    stores_events = WandbRecorder.stores_events
    stores_metrics = WandbRecorder.stores_metrics

    def __init__(self, runs: Path, spool_dir: Path) -> None:
        self.runs = runs
        self.spool_dir = spool_dir
        self.recorders: list[WandbRecorder] = []

    def make_recorder(self, *, resume=False):
        init_kwargs = {"id": self.recorders[0].run.id, "resume": "allow"} if resume else None
        rec = WandbRecorder(
            project="ps-contract", mode="offline", spool_dir=self.spool_dir, init_kwargs=init_kwargs,
            retry_interval=0.05, close_timeout=10,
        )
        if not resume:
            self.recorders.clear()
        self.recorders.append(rec)
        return rec

    def _run_dir(self) -> Path:
        return Path(self.recorders[-1].run.dir).parent

    def load(self):
        return WandbSource().load(self._run_dir())

    def outage(self, recorder):
        recorder.run.finish()  # the run goes away under the recorder: every later log() fails
        recorder.close_timeout = 0.3  # it never comes back: close() need not wait for it

    def restore(self, recorder):
        pass  # a finished run cannot be re-opened by this recorder

    def write(self, rows, metadata, *, events=(), metrics=None):
        record_log(self.make_recorder(), rows, metadata, events=events, metrics=metrics)

    def stored_rows(self):
        """The rows of the newest directory's values.f64, as stored (what W&B keeps once synced:
        each directory of a resumed run uploads its own copy of the file, the newest last)."""
        steps, values, series, _ = read_packed(self._run_dir() / "files" / FOLDER / PACKED_FILE)
        return [(int(k), dict(zip(series, row))) for k, row in zip(steps.tolist(), values.tolist())]

    def cut_last_row(self):
        """Cut the run's values.f64 (what the source reads) inside its last record."""
        packed = self._run_dir() / "files" / FOLDER / PACKED_FILE
        data = packed.read_bytes()
        packed.write_bytes(data[:-5])


class TestWandbRecorder(RecorderContract):
    @pytest.fixture
    def backend(self, wandb_env, tmp_path):
        return WandbBackend(wandb_env, tmp_path / "spool")


class TestWandbSource(SourceContract):
    @pytest.fixture
    def backend(self, wandb_env, tmp_path):
        return WandbBackend(wandb_env, tmp_path / "spool")
