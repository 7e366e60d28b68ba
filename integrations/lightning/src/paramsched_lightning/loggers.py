"""`LoggerRecorder`: a paramsched recorder that writes into a Lightning trainer's own loggers.

Step ``k`` (the k-th optimizer update, the step Lightning gives what
``training_step`` logs for that update) goes to each of ``trainer.loggers``
in the form that logger's replay source reads back exactly, with no keymap:

- ``CSVLogger``: ``log_metrics({"hp/<key>/<group>": v, ...}, step=k)``, rows of
  ``metrics.csv`` (floats as ``repr``); the run metadata as ``run.json`` and
  the events as ``events.jsonl`` beside it. A resumed run that reopens the
  same version directory keeps the earlier run's values before the resumed
  step when it can (see :class:`_CsvWriter`), and says so when it cannot.
- ``WandbLogger``: ``log_metrics({"hp/step": k, "hp/<key>/<group>": v, ...}, step=k)``
  (W&B's own ``_step`` counts rows, not updates); the metadata in
  ``run.config["paramsched"]``.
- ``MLFlowLogger``: ``log_metrics({...}, step=k)`` (MLflow stores float64); the
  metadata as the artifact ``paramsched/run.json``.
- ``TensorBoardLogger``: a paramsched event file of its own in the logger's
  ``log_dir`` (``paramsched_tensorboard.TensorBoardRecorder``: float64
  scalars, metadata, events); without ``paramsched-tensorboard`` installed,
  ``log_metrics`` (TensorBoard's float32) with a warning.
- any other logger: ``log_metrics({"hp/step": k, "hp/<key>/<group>": v, ...}, step=k)``.

A checkpoint (``ParamScheduler.state_dict()``, called by the Lightning
callback's ``state_dict``) calls :meth:`LoggerRecorder.checkpoint`:
``logger.save()`` and an fsync of the files written here.

Only every ``every_n_steps``-th step is written (Lightning's
``log_every_n_steps`` rule: step ``k`` when ``(k + 1) % n == 0``); the
metadata document written says so (``"logged_every_n_steps": n``). With
``n > 1`` the log is a chart, not a record: replaying it needs a fill.

>>> rec = LoggerRecorder(lambda: [], every_n_steps=1)
>>> rec.start({"series": ["hp/lr/g0"]}); rec.record(0, {"hp/lr/g0": 0.1}); rec.close()
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from paramsched.checks import check_positive_int, describe
from paramsched.naming import STEP_SERIES
from paramsched.recording.base import Recorder, RunMetadata

__all__ = ["LoggerRecorder", "logger_writer"]

EVERY_KEY = "logged_every_n_steps"
"""The metadata entry saying how often the logger stream was written."""


class LoggerRecorder(Recorder):
    """Forward every ``every_n_steps``-th step's values to Lightning loggers.

    Args:
        loggers: a callable returning the loggers (``lambda: trainer.loggers``),
            called in ``start()`` (and by ``stores_events``, to see which loggers they are).
        every_n_steps: log step ``k`` when ``(k + 1) % every_n_steps == 0``,
            Lightning's own ``log_every_n_steps`` rule.
    """

    name = "lightning-loggers"

    def __init__(self, loggers: Callable[[], Sequence[Any]], *, every_n_steps: int = 1) -> None:
        if not callable(loggers):
            raise TypeError(f"loggers must be a callable returning the loggers, got loggers={describe(loggers)}")
        self._loggers = loggers
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        self._writers: list[_Writer] = []
        self._state = "new"  # "started", "closed"

    def start(self, metadata: RunMetadata) -> None:
        """Pick a writer per logger and store the run metadata where that logger's reader looks."""
        if self._state != "new":
            raise RuntimeError(f"{self!r}: start() was already called")
        document = {**metadata, EVERY_KEY: self.every_n_steps}
        self._writers = [logger_writer(logger) for logger in self._loggers()]
        self._state = "started"
        for writer in self._writers:
            writer.start(document)

    @property
    def stores_events(self) -> bool:  # type: ignore[override]
        """True when every logger keeps the events where its source reads them (CSVLogger,
        TensorBoardLogger with paramsched-tensorboard)."""
        writers = self._writers or [logger_writer(logger) for logger in self._loggers()]
        return bool(writers) and all(writer.keeps_events for writer in writers)

    def _check_started(self, method: str) -> None:
        if self._state != "started":
            raise RuntimeError(f"{self!r}: {method}() needs start() first and must come before close()")

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Write step ``step`` to every logger when ``(step + 1) % every_n_steps == 0``."""
        if self._state != "started":
            self._check_started("record")
        if (step + 1) % self.every_n_steps:
            return
        for writer in self._writers:
            writer.log(step, values)

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Keep the event where the logger has a place for it (CSVLogger, TensorBoardLogger)."""
        self._check_started("record_event")
        for writer in self._writers:
            writer.event(event)

    def flush(self) -> None:
        """Write what the loggers buffer (``logger.save()``)."""
        for writer in self._writers:
            writer.flush()

    def checkpoint(self, step: int) -> None:
        """Durable up to ``step``: ``logger.save()``, and fsync for the files written here."""
        for writer in self._writers:
            writer.checkpoint(step)

    def close(self) -> None:
        """Write what the loggers buffer; Lightning finalizes the loggers themselves. Idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.close()

    def __repr__(self) -> str:
        return f"LoggerRecorder(every_n_steps={self.every_n_steps})"


# -- one writer per kind of logger -------------------------------------------------------


class _Writer:
    """The generic writer: ``log_metrics`` with ``hp/step``, no metadata."""

    echo_step = True
    keeps_events = False

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def start(self, metadata: RunMetadata) -> None:
        prefix = getattr(self.logger, "_prefix", "")
        if prefix:
            warnings.warn(
                f"paramsched: {type(self.logger).__name__}(prefix={prefix!r}) renames every series to "
                f"'{prefix}-hp/<key>/<group>': replay that log with a dict keymap, or drop the prefix",
                RuntimeWarning,
                stacklevel=4,
            )

    def log(self, step: int, values: Mapping[str, float]) -> None:
        row = {STEP_SERIES: step, **values} if self.echo_step else dict(values)
        self.logger.log_metrics(row, step=step)

    def event(self, event: Mapping[str, Any]) -> None:
        """Loggers without a place for events keep none (the paramsched recorders do)."""

    def flush(self) -> None:
        self.logger.save()

    def checkpoint(self, step: int) -> None:
        """Durable up to ``step``: what the logger buffers is handed over (its own files, its tracker)."""
        self.flush()

    def close(self) -> None:
        self.flush()


class _CsvWriter(_Writer):
    """CSVLogger: the ``step`` column is the step; ``run.json`` / ``events.jsonl`` beside ``metrics.csv``.

    A resumed run (``resumed_from_step=r``) that reopens the version directory
    of the run it resumes keeps that run's ``hp/*`` values before ``r``:
    CSVLogger deletes the ``metrics.csv`` of a directory it opens again, so
    they are read first and logged again. When the logger was opened before
    (a ``Trainer`` opens its loggers before any callback hook), the file is
    gone already: a warning says so.
    """

    echo_step = False
    keeps_events = True

    def start(self, metadata: RunMetadata) -> None:
        from paramsched.runformat import METADATA_FILE, read_metadata, utc_now, write_json_atomic

        super().start(metadata)
        self.folder = Path(self.logger.log_dir)
        resumed = metadata.get("resumed_from_step")
        resumed = resumed if isinstance(resumed, int) and not isinstance(resumed, bool) else None
        document = dict(metadata)
        kept: list[tuple[int, dict[str, float]]] = []
        if resumed is not None:
            earlier = read_metadata(self.folder / METADATA_FILE) if (self.folder / METADATA_FILE).is_file() else None
            if earlier is not None and earlier.get("series") == metadata.get("series"):
                kept = self._rows_before(resumed, metadata.get("series") or [])
                if kept is None:
                    kept = []
                    warnings.warn(
                        f"paramsched: CSVLogger cleared {os.fspath(self.folder / 'metrics.csv')!r} when it "
                        f"reopened that version directory: the hp/* values before the resumed step {resumed} "
                        "are no longer in this logger's log (paramsched's own recorders keep them); give a "
                        "resumed fit a new CSVLogger version to keep each logger log whole",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                document = dict(earlier)
                entry = {"at_step": resumed, "created_at": metadata.get("created_at") or utc_now(), "pid": os.getpid()}
                document["resumes"] = [*document.get("resumes", []), entry]
        self.logger.experiment  # noqa: B018 - creates the log directory (and clears a stale metrics.csv)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / METADATA_FILE, document)
        if resumed is not None:
            self._drop_events_from(resumed)
        for step, values in kept:
            self.logger.log_metrics(values, step=step)

    def _rows_before(self, step: int, series: Sequence[str]) -> list[tuple[int, dict[str, float]]] | None:
        """The ``hp/*`` rows before ``step`` to log again: those of the ``metrics.csv`` that
        opening the logger will delete; none when the open logger still holds them (a second
        fit with the same logger); ``None`` when they are gone."""
        import csv

        path = self.folder / "metrics.csv"
        if not path.is_file():
            return None
        wanted = set(series)
        rows: dict[int, dict[str, float]] = {}
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                values = {k: float(v) for k, v in row.items() if k in wanted and v not in ("", None)}
                if values and row.get("step") not in ("", None) and int(row["step"]) < step:
                    rows.setdefault(int(row["step"]), {}).update(values)
        if getattr(self.logger, "_experiment", None) is not None:  # opened: its file stays as it is
            return [] if rows else None
        return sorted(rows.items())

    def _drop_events_from(self, step: int) -> None:
        """The earlier run's events at or after the resumed step belong to its lost part."""
        from paramsched.runformat import EVENTS_FILE

        path = self.folder / EVENTS_FILE
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) < step]
        if len(kept) != len(lines):
            path.write_text("".join(kept), encoding="utf-8")

    def event(self, event: Mapping[str, Any]) -> None:
        from paramsched.runformat import EVENTS_FILE, event_line

        with open(self.folder / EVENTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(event_line(event))

    def checkpoint(self, step: int) -> None:
        """``logger.save()``, then fsync ``metrics.csv`` and ``events.jsonl``: on disk up to ``step``."""
        from paramsched.runformat import EVENTS_FILE

        self.flush()
        for name in ("metrics.csv", EVENTS_FILE):
            path = self.folder / name
            if path.is_file():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)


class _WandbWriter(_Writer):
    """WandbLogger: rows carry ``hp/step``; the metadata goes to ``run.config["paramsched"]``."""

    def start(self, metadata: RunMetadata) -> None:
        super().start(metadata)
        try:
            from paramsched_wandb.recorder import CONFIG_KEY
        except ImportError:
            CONFIG_KEY = "paramsched"  # noqa: N806 - the same key, without paramsched-wandb installed
        self.logger.experiment.config.update({CONFIG_KEY: dict(metadata)}, allow_val_change=True)


class _MlflowWriter(_Writer):
    """MLFlowLogger: MLflow keeps the step; the metadata is the artifact ``paramsched/run.json``."""

    echo_step = False

    def start(self, metadata: RunMetadata) -> None:
        super().start(metadata)
        try:
            from paramsched_mlflow.recorder import ARTIFACT_PATH
        except ImportError:
            ARTIFACT_PATH = "paramsched/run.json"  # noqa: N806 - the same path, without paramsched-mlflow
        self.logger.experiment.log_text(self.logger.run_id, json.dumps(dict(metadata), indent=2), ARTIFACT_PATH)


class _TensorBoardWriter(_Writer):
    """TensorBoardLogger: a paramsched event file of its own in the logger's ``log_dir``.

    TensorBoard shows every event file of a directory as one run, so the
    ``hp/*`` scalars appear beside the logger's own. Lightning's logger
    writes float32 (``add_scalar``'s default) and a pure-Python CRC per value;
    this file holds float64 at a few microseconds per row.
    """

    keeps_events = True

    def __init__(self, logger: Any, recorder_class: Any) -> None:
        super().__init__(logger)
        self.recorder = recorder_class(os.fspath(logger.log_dir))

    def start(self, metadata: RunMetadata) -> None:
        super().start(metadata)
        self.recorder.start(dict(metadata))

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.recorder.record(step, values)

    def event(self, event: Mapping[str, Any]) -> None:
        self.recorder.record_event(event)

    def flush(self) -> None:
        self.recorder.flush()

    def checkpoint(self, step: int) -> None:
        self.recorder.checkpoint(step)

    def close(self) -> None:
        self.recorder.close()


class _Float32TensorBoardWriter(_Writer):
    """TensorBoardLogger without paramsched-tensorboard: Lightning's float32 scalars, said once."""

    echo_step = False

    def start(self, metadata: RunMetadata) -> None:
        super().start(metadata)
        warnings.warn(
            "paramsched: TensorBoardLogger stores float32 values; install paramsched-tensorboard "
            "(pip install paramsched-tensorboard) to log the exact float64 values and read them back",
            RuntimeWarning,
            stacklevel=4,
        )


def logger_writer(logger: Any) -> _Writer:
    """The writer for one Lightning logger (see the module docstring)."""
    from lightning.pytorch import loggers

    if isinstance(logger, loggers.CSVLogger):
        return _CsvWriter(logger)
    if isinstance(logger, loggers.WandbLogger):
        return _WandbWriter(logger)
    if isinstance(logger, loggers.MLFlowLogger):
        return _MlflowWriter(logger)
    if isinstance(logger, loggers.TensorBoardLogger):
        try:
            from paramsched_tensorboard import TensorBoardRecorder
        except ImportError:
            return _Float32TensorBoardWriter(logger)
        return _TensorBoardWriter(logger, TensorBoardRecorder)
    return _Writer(logger)
