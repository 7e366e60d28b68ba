"""`CsvSource`: read a CSV run (``<dir>/values.csv`` + ``<dir>/run.json``) or any CSV log.

The CSV run format (written by ``CsvRecorder`` and ``Trajectory.to_csv``):
``values.csv`` has the header ``step,<series...>`` and one row per step, each
float written with ``repr``; ``run.json`` holds the run metadata. Reading:

- floats are parsed exactly (``float(repr(x)) == x`` bit for bit);
- a step that appears twice (a resumed run appends rows) keeps its LAST row;
  steps out of order are sorted; both are listed in ``Trajectory.notes``;
- an unfinished last line (no newline at the end: the writer was killed
  mid-write) is not read, and is listed in the notes;
- an empty cell means "not logged at this step";
- a non-numeric or non-finite value is an error naming the file, the series
  and the step; nothing is ever unpickled or evaluated.

A directory without ``run.json`` (or a ``.csv`` file not named
``values.csv``) gives ``metadata=None``. Logs written by other tools (a
Lightning ``CSVLogger`` ``metrics.csv``) are read with ``keymap=``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "values.csv").write_text("step,hp/lr/g0\\n0,0.1\\n1,0.30000000000000004\\n")
>>> CsvSource().load(folder).frame["hp/lr/g0"].tolist()
[0.1, 0.30000000000000004]
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paramsched._validate import describe
from paramsched.recording.metadata import check_metadata
from paramsched.replay._columns import row_locator, table_columns
from paramsched.replay.sources import Source
from paramsched.replay.trajectory import Trajectory

__all__ = ["CsvSource", "write_csv_run", "VALUES_FILE", "METADATA_FILE"]

VALUES_FILE = "values.csv"
METADATA_FILE = "run.json"
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])


class CsvSource(Source):
    """A CSV run directory, its ``values.csv``, or any ``.csv`` log (``csv://path`` too)."""

    name = "csv"
    accepts = "a CSV run directory holding values.csv, or a .csv file"

    def claims(self, obj: Any) -> bool:
        if isinstance(obj, str) and "://" in obj:
            return False
        if not isinstance(obj, (str, os.PathLike)):
            return False
        path = Path(obj)
        if path.is_dir():
            return (path / VALUES_FILE).is_file()
        return path.is_file() and path.suffix.lower() == ".csv"

    def load(
        self,
        obj: str | os.PathLike[str],
        *,
        keymap: Any = None,
        step_column: str | None = None,
    ) -> Trajectory:
        """Read the run at ``obj`` (a directory, ``values.csv``, any ``.csv`` or ``csv://path``)."""
        if not isinstance(obj, (str, os.PathLike)):
            raise TypeError(f"the csv source reads a path, got {describe(obj)}")
        text = os.fspath(obj)
        if text.startswith("csv://"):
            text = text[len("csv://"):]
        path = Path(text)
        if path.is_dir():
            values_path = path / VALUES_FILE
            if not values_path.is_file():
                raise FileNotFoundError(f"{text!r} is a directory without {VALUES_FILE}: not a CSV run")
        elif path.exists():
            values_path = path
        else:
            raise FileNotFoundError(f"no run at {text!r}: the path does not exist")
        label = os.fspath(values_path)
        metadata = None
        if values_path.name == VALUES_FILE:
            metadata = _read_metadata(values_path.parent / METADATA_FILE)
        table, notes = _read_table(values_path, label)
        frame, more = table_columns(
            table, source=label, keymap=keymap, step_column=step_column, locate=row_locator("line", 2)
        )
        return Trajectory(frame, metadata, label, notes=notes + list(more))


def _read_metadata(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON: {exc}") from None
    try:
        return check_metadata(document)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


def _read_table(path: Path, label: str) -> tuple[pd.DataFrame, list[str]]:
    data = path.read_bytes()
    notes: list[str] = []
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if cut == 0:
            raise ValueError(f"{label}: the file holds only an unfinished header line {tail[:80]!r}")
        notes.append(f"an unfinished last line (the writer was interrupted) was not read: {tail[:80]!r}")
        data = data[:cut]
    if not data.strip():
        raise ValueError(f"{label}: the file is empty (no header 'step,<series...>')")
    header_line = data[: data.find(b"\n")].decode("utf-8", errors="replace")
    header = next(csv.reader([header_line]))
    if len(set(header)) != len(header):
        dup = sorted({c for c in header if header.count(c) > 1})
        raise ValueError(f"{label}: column(s) {dup} appear more than once in the header")
    options: dict[str, Any] = {
        "keep_default_na": False,  # only an empty cell is missing; 'nan' text is reported
        "na_values": [""],
    }
    if _PANDAS_MAJOR < 3:  # pandas >= 3 parses exactly by default (and deprecates the option)
        options["float_precision"] = "round_trip"
    try:
        with warnings.catch_warnings():
            # A row longer than the header would be cut silently: make it an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(io.BytesIO(data), index_col=False, **options)
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
        raise ValueError(f"{label}: not a readable CSV table: {exc}") from None
    table.columns = [str(c) for c in table.columns]
    return table, notes


def write_csv_run(
    path: str | os.PathLike[str],
    frame: pd.DataFrame,
    metadata: Mapping[str, Any] | None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``frame`` (a trajectory frame) as a CSV run: ``values.csv`` (+ ``run.json``).

    Values are written with ``repr(float)`` and a missing value as an empty
    cell, so reading the directory back gives the same frame.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a directory path, got path={describe(path)}")
    folder = Path(path)
    if folder.suffix.lower() == ".csv" and folder.name == VALUES_FILE:
        folder = folder.parent
    values_path = folder / VALUES_FILE
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got overwrite={describe(overwrite)}")
    if values_path.exists() and not overwrite:
        raise FileExistsError(f"{os.fspath(values_path)!r} already exists; pass overwrite=True to replace it")
    names = [str(c) for c in frame.columns]
    for name in names:
        if "," in name or "\n" in name or '"' in name:
            raise ValueError(f"series names may not contain ',', '\"' or newlines, got {name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    steps = frame.index.to_numpy().tolist()
    matrix = frame.to_numpy(dtype=np.float64)
    lines = [",".join(["step", *names]) + "\n"]
    holes = np.isnan(matrix).any(axis=1).tolist()
    for step, row, has_hole in zip(steps, matrix.tolist(), holes, strict=True):
        cells = ["" if v != v else repr(v) for v in row] if has_hole else map(repr, row)
        lines.append(f"{step},{','.join(cells)}\n")
    temp = values_path.with_name(VALUES_FILE + ".tmp")
    temp.write_text("".join(lines), encoding="utf-8")
    os.replace(temp, values_path)
    meta_path = folder / METADATA_FILE
    if metadata is not None:
        temp = meta_path.with_name(METADATA_FILE + ".tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(dict(metadata), handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(temp, meta_path)
    elif meta_path.exists():
        meta_path.unlink()  # overwrite=True: a stale run.json would describe another run
    return folder
