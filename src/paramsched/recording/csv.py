"""`CsvRecorder`: the replay contract, a directory holding ``values.csv`` and ``run.json``.

``values.csv`` has the header ``step,<series...>`` (the order of
``metadata["series"]``) and one row per step, every float written with
``repr(float)`` so that ``float(text)`` gives back the same bits.
``run.json`` holds the run metadata. Rows are buffered and written every
``flush_every`` rows, on ``flush()`` / ``close()`` and at interpreter exit;
each write is one ``os.write`` of whole lines, so a killed process leaves a
readable file that lacks at most the rows recorded since the last write.

Resuming (``metadata["resumed_from_step"]`` set) into a directory that holds
a run appends rows when the header is the same (readers keep the last row of
a duplicated step) and adds ``{"at_step": k, "created_at": ...}`` to the
``"resumes"`` list of ``run.json``. A new, non-resumed run refuses a
directory that already holds one unless ``overwrite=True``.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> meta = {"format": "paramsched.run/1", "series": ["hp/lr/g0"], "resumed_from_step": None}
>>> with CsvRecorder(folder) as rec:
...     rec.start(meta)
...     rec.record(0, {"hp/lr/g0": 0.1})
>>> open(os.path.join(folder, "values.csv")).read()
'step,hp/lr/g0\\n0,0.1\\n'
"""

from __future__ import annotations

import atexit
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import check_choice, check_positive_int, describe
from paramsched.runformat import (
    METADATA_FILE,
    VALUES_FILE,
    drop_partial_last_line,
    format_row,
    header_line,
    read_header,
    utc_now,
    write_json_atomic,
)

from .base import Recorder, RunMetadata
from .errors import RecorderError

__all__ = ["CsvRecorder", "VALUES_FILE", "METADATA_FILE"]


class CsvRecorder(Recorder):
    """Write every value to ``<path>/values.csv`` and the metadata to ``<path>/run.json``.

    Args:
        path: the run directory (created if needed). ``<dir>/values.csv`` is
            accepted too and means ``<dir>``.
        flush_every: rows buffered before they are written; 1 writes every
            row at once (nothing is lost when the process is killed).
        overwrite: let a new (not resumed) run replace a run already in ``path``.
        on_error: what a failed write (disk full, ...) does. ``"warn"``
            (default): training goes on; one warning; the rows stay in memory
            and are written at the next flush that succeeds; at ``close()``,
            rows still unwritten go to a spool CSV in the system temp dir
            (named in a warning). ``"raise"``: :class:`RecorderError` (rows
            are kept for the next attempt).

    ``start()`` always raises :class:`RecorderError` when it cannot create the
    run directory or its files: that is a wrong path, not an outage.
    """

    name = "csv"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_every: int = 100,
        overwrite: bool = False,
        on_error: str = "warn",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"path must be a directory path (str or os.PathLike), got path={describe(path)}")
        folder = Path(path)
        if folder.suffix.lower() == ".csv":
            if folder.name != VALUES_FILE:
                raise ValueError(
                    f"path must be a run directory (or its {VALUES_FILE}), got path={describe(os.fspath(path))}"
                )
            folder = folder.parent
        self.path = folder
        self.flush_every = check_positive_int("flush_every", flush_every)
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be a bool, got overwrite={describe(overwrite)}")
        self.overwrite = overwrite
        self.on_error = check_choice("on_error", on_error, ("warn", "raise"))
        self._fd: int | None = None
        self._buffer: list[str] = []
        self._series: tuple[str, ...] = ()
        self._closed = False
        self._warned = False
        self._failing = False
        self._flush_at = self.flush_every
        self.spool_path: Path | None = None

    @property
    def values_path(self) -> Path:
        """``<path>/values.csv``."""
        return self.path / VALUES_FILE

    @property
    def metadata_path(self) -> Path:
        """``<path>/run.json``."""
        return self.path / METADATA_FILE

    def start(self, metadata: RunMetadata) -> None:
        """Create (or resume into) the run directory and write the header and ``run.json``."""
        if self._fd is not None or self._closed:
            raise RuntimeError(f"csv recorder for {os.fspath(self.path)!r}: start() was already called")
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got metadata={describe(metadata)}")
        series = metadata.get("series")
        if not isinstance(series, (list, tuple)) or not all(isinstance(s, str) for s in series):
            raise ValueError(f"metadata['series'] must be a list of series names, got {describe(series)}")
        self._series = tuple(series)
        header = header_line(self._series)
        resumed = metadata.get("resumed_from_step")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            existing = read_header(self.values_path)
            if existing is not None and (resumed is not None or not self.overwrite):
                if resumed is None:
                    raise ValueError(
                        f"{os.fspath(self.path)!r} already holds a run; use a new directory, resume "
                        "(resumed_from_step set) or pass overwrite=True"
                    )
                if existing != header:
                    raise ValueError(
                        f"cannot resume into {os.fspath(self.values_path)!r}: its header is "
                        f"{existing!r} but this run records {header!r}"
                    )
                _drop_partial_last_line(self.values_path)
                self._fd = os.open(self.values_path, os.O_WRONLY | os.O_APPEND)
                self._add_resume(metadata, resumed)
            else:
                self._fd = os.open(self.values_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
                _write_all(self._fd, (header + "\n").encode())
                write_json_atomic(self.metadata_path, dict(metadata))
        except OSError as exc:
            raise RecorderError("csv", f"cannot write the run in {os.fspath(self.path)!r}: {exc}") from exc
        atexit.register(self._flush_at_exit)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer one row (written every ``flush_every`` rows)."""
        if self._fd is None:
            raise RuntimeError(
                f"csv recorder for {os.fspath(self.path)!r}: record() needs start() first and "
                "must come before close()"
            )
        if tuple(values) != self._series:
            values = self._reorder(values)
        self._buffer.append(format_row(step, values.values()))
        if len(self._buffer) >= self._flush_at:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows with one ``os.write``."""
        self._flush()

    def _flush(self, closing: bool = False) -> None:
        if not self._buffer or self._fd is None:
            return
        data = "".join(self._buffer).encode()
        try:
            before = os.fstat(self._fd).st_size
            _write_all(self._fd, data)
        except OSError as exc:
            try:  # a write cut short leaves no half row behind: the retry writes every row once
                os.ftruncate(self._fd, before)
            except (OSError, UnboundLocalError):
                pass
            self._flush_at = max(2 * len(self._buffer), self.flush_every)  # back off: O(n) in all
            if not closing or self.on_error == "raise":
                self._write_failed(exc)
            return
        self._buffer.clear()
        self._flush_at = self.flush_every
        self._failing = False

    def close(self) -> None:
        """Write what is buffered and close the file."""
        if self._closed:
            return
        self._closed = True
        if self._fd is None:
            return
        atexit.unregister(self._flush_at_exit)
        try:
            self._flush(closing=True)  # what fails here goes to the spool, with one warning
        finally:
            os.close(self._fd)
            self._fd = None
            if self._buffer:
                self._spool_buffer()

    def _write_failed(self, exc: OSError) -> None:
        """Keep the rows; warn once (or raise with ``on_error="raise"``)."""
        self._failing = True
        message = (
            f"cannot write {os.fspath(self.values_path)!r} ({exc}); "
            f"{len(self._buffer)} row(s) are kept in memory and written at the next successful flush"
        )
        if self.on_error == "raise":
            raise RecorderError("csv", message) from exc
        if not self._warned:
            self._warned = True
            warnings.warn(f"paramsched: csv recorder: {message}; training goes on", RuntimeWarning, stacklevel=4)

    def _spool_buffer(self) -> None:
        """At close, rows the run directory refused go to a spool CSV (same format), named in a warning."""
        from .background import default_spool_dir

        rows = len(self._buffer)
        stamp = utc_now().replace(":", "").replace("-", "")[:15]
        spool = default_spool_dir() / f"csv-{stamp}-{os.getpid()}-{id(self):x}.csv"
        try:
            spool.parent.mkdir(parents=True, exist_ok=True)
            with open(spool, "w", encoding="utf-8") as handle:
                handle.write(header_line(self._series) + "\n")
                handle.write("".join(self._buffer))
        except OSError as exc:
            message = (
                f"{rows} row(s) could not be written to {os.fspath(self.values_path)!r} "
                f"nor to a spool ({exc}); they are lost"
            )
        else:
            self.spool_path = spool
            self._buffer.clear()
            message = (
                f"{rows} row(s) could not be written to {os.fspath(self.values_path)!r}; "
                f"they are in the spool file {os.fspath(spool)} (same CSV format)"
            )
        if self.on_error == "raise":
            raise RecorderError("csv", message)
        warnings.warn(f"paramsched: csv recorder: {message}", RuntimeWarning, stacklevel=3)

    def _reorder(self, values: Mapping[str, float]) -> dict[str, float]:
        if set(values) != set(self._series):
            missing = [s for s in self._series if s not in values]
            extra = [s for s in values if s not in self._series]
            raise ValueError(
                f"values must hold exactly the series of metadata['series']; "
                f"missing {missing}, unexpected {extra}"
            )
        return {s: values[s] for s in self._series}

    def _add_resume(self, metadata: Mapping[str, Any], resumed: Any) -> None:
        entry = {"at_step": resumed, "created_at": metadata.get("created_at") or utc_now()}
        try:
            with open(self.metadata_path, encoding="utf-8") as handle:
                document = json.load(handle)
        except FileNotFoundError:
            document = dict(metadata)
        document.setdefault("resumes", []).append(entry)
        write_json_atomic(self.metadata_path, document)

    def _flush_at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # nobody can catch it at exit: say it
            warnings.warn(f"paramsched: csv recorder: flushing at exit failed: {exc}", RuntimeWarning, stacklevel=1)

    def __repr__(self) -> str:
        return f"CsvRecorder({os.fspath(self.path)!r}, flush_every={self.flush_every})"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _drop_partial_last_line(path: Path) -> None:
    """Cut a last line left unfinished by a killed writer, so appended rows start clean."""
    tail = drop_partial_last_line(path)
    if tail is not None:
        warnings.warn(
            f"paramsched: {os.fspath(path)!r} ended with an unfinished row "
            f"({tail!r}) from an interrupted run; it was removed before resuming",
            RuntimeWarning,
            stacklevel=3,
        )
