"""The run format: the metadata document every backend stores, and the CSV run directory.

This module is the one place that knows how a run is laid out on disk. The
CSV recorder writes it, ``Trajectory.to_csv`` / :func:`write_run` write it,
and the CSV source reads it; the round-trip test in ``tests/test_runformat.py``
guards it.

**The metadata document** (``run.json``; also ``wandb.config["paramsched"]``
and the MLflow artifact ``paramsched/run.json``) is plain JSON. It never holds
environment variables or credentials::

    {
      "format": "paramsched.run/1",
      "paramsched_version": "0.1.0",
      "created_at": "2026-11-27T01:00:00+00:00",   # UTC, ISO 8601
      "total_steps": 1000,
      "optimizer": "torch.optim.adamw.AdamW",       # module.qualname of the class
      "relative": false,                            # True: values = base * schedule
      "schedules": {"lr": {...spec...}},            # global schedules, by key
      "overrides": {"head": {"lr": {...spec...}}},  # by group label
      "groups": [{"index": 0, "label": "g0", "base": {"lr": 0.001}}],
      "series": ["hp/lr/g0", ...],                  # every series, in column order
      "rank": 0, "world_size": 1,
      "record_ranks": "zero",                       # "all": every rank records its own run
      "resumed_from_step": null                     # int when the scheduler was resumed
    }

**The CSV run directory**:

- ``values.csv``: the header ``step,<series...>`` (the order of
  ``metadata["series"]``), then one row per step. Every float is written
  with ``repr``, so ``float(text)`` gives back the same bits; an empty cell
  means "not logged at this step". Series names are ``hp/<key>/<group>``
  names (:func:`paramsched.naming.check_series_name`), which never hold a
  comma, a quote or a newline.
- ``run.json``: the metadata document, written atomically (temp file,
  fsync, rename).
- ``events.jsonl``: one event record (:mod:`paramsched.events`) per line, in
  the order they happened; read back through ``events.supersede``.
- ``metrics.csv`` (only when metrics are recorded): ``step,name,value`` rows,
  one per metric value, floats as ``repr``.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> header_line(["hp/lr/g0"]), format_row(3, [0.1])
('step,hp/lr/g0', '3,0.1\\n')
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
import operator
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paramsched.checks import describe
from paramsched.naming import STEP_SERIES, check_series_name

__all__ = [
    "EVENTS_FILE",
    "FORMAT",
    "METADATA_FILE",
    "METRICS_FILE",
    "VALUES_FILE",
    "event_line",
    "metric_lines",
    "parse_events",
    "read_events",
    "read_metrics",
    "check_metadata",
    "drop_partial_last_line",
    "format_row",
    "format_rows",
    "header_line",
    "read_header",
    "read_metadata",
    "read_table",
    "utc_now",
    "write_json_atomic",
    "write_run",
]

FORMAT = "paramsched.run/1"
VALUES_FILE = "values.csv"
METADATA_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
METRICS_FILE = "metrics.csv"
STEP_COLUMN = "step"
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])


# -- the metadata document -----------------------------------------------------------


def utc_now() -> str:
    """The current UTC time as ISO 8601 text."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """Raise unless ``metadata`` looks like a run metadata document."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        got = metadata.get("format") if isinstance(metadata, dict) else type(metadata).__name__
        raise ValueError(f"run metadata must have format={FORMAT!r}, got {got!r}")
    return metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metadata document at ``path`` (a ``run.json``), or ``None`` when there is none."""
    path = Path(path)
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


def write_json_atomic(path: str | os.PathLike[str], document: Any, *, durable: bool = True) -> None:
    """Write ``document`` as JSON so that a reader sees the old file or the new one, never half.

    A temp file beside ``path`` is written, fsync'ed (``durable``), renamed over
    ``path``, and the directory fsync'ed, so the new file survives a power cut.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, allow_nan=False)
        handle.write("\n")
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temp, path)
    if durable:
        fsync_directory(path.parent)


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """fsync a directory, so a file created or renamed in it is on disk (POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory
    finally:
        os.close(fd)


# -- rows ---------------------------------------------------------------------------------


def header_line(series: Sequence[str]) -> str:
    """``step,<series...>`` (no newline); every name must be a valid series name."""
    for name in series:
        check_series_name(name)
    return ",".join((STEP_COLUMN, *series))


def format_row(step: int, values: Iterable[float]) -> str:
    """One ``values.csv`` line (with its newline): floats as ``repr``, NaN as an empty cell."""
    floats = list(map(float, values))
    # One C-level repr for the whole row (a list's repr is each float's repr, joined by ", "):
    # about 1.4x faster than a repr per value (8.7 vs 12.6 us for 12 floats), on the training thread.
    text = repr(floats)[1:-1].replace(" ", "")
    if "n" in text:  # "nan" (an empty cell) or "inf" (kept): rare, the cell-by-cell way
        text = ",".join("" if v != v else repr(v) for v in floats)
    return f"{step},{text}\n"


def format_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Many ``values.csv`` lines at once, each row given as ``[step, value, ...]``.

    The text is exactly ``format_row`` of every row. It is made column by column,
    with one C-level ``repr`` per column, and a column whose floats are the very
    same objects as an earlier column's (every group that shares a schedule gets
    the same float) or one object all along (a constant phase) is formatted once:
    the shortest ``repr`` of a float is most of what recording costs. Identity,
    never equality, decides: ``0.0 == -0.0`` but they print differently. Steps
    must be ``int`` and values ``float`` (``format_row`` converts; this does not).

    >>> format_rows([[3, 0.1, 0.1, 2e-05], [4, 0.2, 0.2, float("nan")]])
    '3,0.1,0.1,2e-05\\n4,0.2,0.2,\\n'
    """
    if not rows or len(rows[0]) < 2:
        return "".join(format_row(row[0], row[1:]) for row in rows)
    columns = list(zip(*rows, strict=True))
    texts: list[list[str]] = []
    formatted: dict[int, list[tuple[tuple[Any, ...], list[str]]]] = {}  # by id of the first row's object
    for column in columns:
        candidates = formatted.setdefault(id(column[0]), [])
        same = [cells for earlier, cells in candidates if all(map(operator.is_, column, earlier))]
        if same:
            texts.append(same[0])
        else:
            cells = _column_texts(column)
            candidates.append((column, cells))
            texts.append(cells)
    return "\n".join(map(",".join, zip(*texts))) + "\n"


def _column_texts(column: tuple[Any, ...]) -> list[str]:
    if all(map(operator.is_, column, itertools.repeat(column[0]))):  # one object all along
        text = repr(column[0])
        return [("" if text == "nan" else text)] * len(column)
    text = repr(column)[1:-1]
    cells = text.split(", ")  # a float's repr never holds ", "
    if "n" in text:  # "nan" is an empty cell ("inf" stays)
        cells = ["" if cell == "nan" else cell for cell in cells]
    return cells


def read_header(path: str | os.PathLike[str]) -> str | None:
    """The header line of an existing, non-empty values file, else ``None``."""
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.readline()
    except FileNotFoundError:
        return None
    return line.rstrip("\n") or None


def drop_partial_last_line(path: str | os.PathLike[str]) -> bytes | None:
    """Cut a last line left unfinished by a killed writer; return what was cut (or ``None``)."""
    with open(path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        keep = size
        while keep > 0:  # scan back, block by block, to the last newline
            block = min(keep, 1 << 16)
            handle.seek(keep - block)
            chunk = handle.read(block)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = keep - block + newline + 1
                break
            keep -= block
        handle.seek(keep)
        tail = handle.read(80)
        handle.truncate(keep)
        return tail


def read_table(path: str | os.PathLike[str], label: str) -> tuple[pd.DataFrame, list[str]]:
    """Read a ``values.csv`` (or any CSV log) into a raw table, and notes on what was skipped.

    Only an empty cell is missing (``"nan"`` text is kept, so the caller can
    report it); floats parse exactly; a row longer than the header is an
    error; an unfinished last line (no newline) is not read and is noted; a
    row shorter than the header is read with its missing cells empty, noted.
    """
    data = Path(path).read_bytes()
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
    header_text = data[: data.find(b"\n")].decode("utf-8", errors="replace")
    header = next(csv.reader([header_text]))
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
    short = _short_rows(data, len(header))
    if short is not None:
        count, line, cells = short
        notes.append(
            f"{count} row(s) have fewer cells than the header's {len(header)} (first: line {line}, "
            f"{cells} cell(s)): their missing cells were read as not logged"
        )
    return table, notes


def _short_rows(data: bytes, width: int) -> tuple[int, int, int] | None:
    """``(count, first line number, its cell count)`` of the non-blank rows with fewer than
    ``width`` cells, or ``None``. ``data`` ends with a newline."""
    if b'"' in data:  # quoted cells may hold commas: let the csv module split them
        text = data.decode("utf-8", errors="replace").split("\n")[:-1]
        lengths = [(i, len(row)) for i, row in enumerate(csv.reader(text)) if i > 0 and any(row)]
        short = [(i, n) for i, n in lengths if n < width]
        return (len(short), short[0][0] + 1, short[0][1]) if short else None
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    commas = np.flatnonzero(arr == 44)
    per_line = np.diff(np.searchsorted(commas, ends))  # lines 2.. (the header is line 1)
    lengths = np.diff(ends)  # each line's length, its newline included
    blank = (lengths <= 1) | ((lengths == 2) & (arr[ends[1:] - 1] == 13))
    short = (per_line + 1 < width) & ~blank
    if not short.any():
        return None
    i = int(np.argmax(short))
    return int(short.sum()), i + 2, int(per_line[i]) + 1


# -- whole runs -----------------------------------------------------------------------------


def run_folder(path: str | os.PathLike[str]) -> Path:
    """The run directory meant by ``path``: the directory itself, or the parent of its ``values.csv``."""
    folder = Path(path)
    return folder.parent if folder.name == VALUES_FILE else folder


def write_run(
    path: str | os.PathLike[str],
    frame: pd.DataFrame,
    metadata: Mapping[str, Any] | None,
    *,
    events: Sequence[Mapping[str, Any]] = (),
    metrics: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``frame`` (a trajectory frame: index ``step``, one column per series) as a CSV run.

    ``values.csv`` gets every row; ``run.json`` the metadata, ``events.jsonl``
    the events and ``metrics.csv`` the metrics (a stale file of each is
    removed when there is nothing to write). Every file is replaced atomically.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a directory path, got path={describe(path)}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got overwrite={describe(overwrite)}")
    folder = run_folder(path)
    values_path = folder / VALUES_FILE
    if values_path.exists() and not overwrite:
        raise FileExistsError(f"{os.fspath(values_path)!r} already exists; pass overwrite=True to replace it")
    names = [str(c) for c in frame.columns if str(c) != STEP_SERIES]
    header = header_line(names)
    folder.mkdir(parents=True, exist_ok=True)
    steps = frame.index.to_numpy().tolist()
    matrix = frame[names].to_numpy(dtype=np.float64)
    lines = [header + "\n"]
    lines.extend(format_row(step, row) for step, row in zip(steps, matrix.tolist(), strict=True))
    temp = values_path.with_name(f".{VALUES_FILE}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write("".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, values_path)
    meta_path = folder / METADATA_FILE
    if metadata is not None:
        write_json_atomic(meta_path, dict(metadata))
    elif meta_path.exists():
        meta_path.unlink()  # overwrite=True: a stale run.json would describe another run
    _replace_text(folder / EVENTS_FILE, "".join(event_line(e) for e in events))
    text = ""
    if metrics is not None and len(metrics.columns):
        text = "step,name,value\n"
        for step, row in zip(metrics.index.tolist(), metrics.to_dict("records"), strict=True):
            text += metric_lines(step, {k: v for k, v in row.items() if v == v})
    _replace_text(folder / METRICS_FILE, text)
    return folder


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, or remove ``path`` when ``text`` is empty."""
    if not text:
        if path.exists():
            path.unlink()
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


# -- events and metrics -----------------------------------------------------------------


def event_line(event: Mapping[str, Any]) -> str:
    """One ``events.jsonl`` line (with its newline)."""
    return json.dumps(dict(event), allow_nan=False, separators=(",", ":")) + "\n"


def read_events(path: str | os.PathLike[str], label: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The events of an ``events.jsonl`` (superseded ones dropped), and notes; none if no file.

    A last line cut short by a killed writer is skipped with a note; any
    other malformed line is an error naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        return [], []
    return parse_events(path.read_bytes(), path.name, label)


def parse_events(data: bytes | str, name: str, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The events of the text of an ``events.jsonl`` (a file, an artifact), as :func:`read_events`;
    ``name`` is what the messages call it.

    >>> parse_events('{"step": 3, "kind": "drift"}\\n{"step"', "events.jsonl", "runs/a")[1]
    ['events.jsonl: an unfinished last line (the writer was interrupted) was not read']
    """
    from paramsched.events import check_event, supersede

    if isinstance(data, str):
        data = data.encode("utf-8")
    notes: list[str] = []
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        notes.append(f"{name}: an unfinished last line (the writer was interrupted) was not read")
        data = data[:cut]
    events = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{label}: {name} line {number} is not JSON: {exc}") from None
        events.append(check_event(item, f"{label}: {name} line {number}"))
    return supersede(events), notes


def metric_lines(step: int, metrics: Mapping[str, float]) -> str:
    """The ``metrics.csv`` lines of one step (names are checked by the caller)."""
    return "".join(f"{step},{name},{float(value)!r}\n" for name, value in metrics.items())


def read_metrics(path: str | os.PathLike[str], label: str) -> pd.DataFrame | None:
    """A ``metrics.csv`` as a wide frame (index ``step``, one float64 column per metric), or None.

    The last value written for a (step, name) wins, as for values.
    """
    path = Path(path)
    if not path.is_file():
        return None
    table, _ = read_table(path, f"{label}: {METRICS_FILE}")
    missing = [c for c in ("step", "name", "value") if c not in table.columns]
    if missing:
        raise ValueError(f"{label}: {METRICS_FILE} needs columns step,name,value; missing {missing}")
    if not len(table):
        return None
    try:
        steps = table["step"].astype(np.int64)
        values = table["value"].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: {METRICS_FILE} holds a non-numeric step or value: {exc}") from None
    long = pd.DataFrame({"step": steps, "name": table["name"].astype(str), "value": values})
    wide = long.drop_duplicates(["step", "name"], keep="last").pivot(index="step", columns="name", values="value")
    wide = wide.sort_index()
    wide.index = wide.index.astype(np.int64)
    wide.index.name = STEP_COLUMN
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = None
    return wide.astype(np.float64)
