"""Read a W&B offline run (``wandb/offline-run-*/run-<id>.wandb``) without a server.

wandb 0.31 has no public reader for these files, so this module parses them
itself. The format, checked against files written by wandb 0.31::

    file   := header block-data
    header := ":W&B" (4 bytes) + magic 0xBEE1 (uint16, little-endian) + version 0 (uint8)
    the file is cut into 32 KiB blocks, counted from byte 0 (the header sits
    in the first block); a block holds records, and a block tail shorter than
    a record header (7 bytes) is zero padding;
    record := crc (uint32 LE) + length (uint16 LE) + type (uint8) + data[length]
    type   := 1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST  (a message longer than a
              block is split into FIRST, MIDDLE..., LAST fragments)
    crc    := CRC-32 (zlib's, unmasked) of the type byte followed by data

Each reassembled message is a ``wandb.proto.wandb_internal_pb2.Record``.
History values are JSON text (``value_json``), or typed scalars when the run
set ``x_history_value_encoding="typed"``. JSON is parsed with
:func:`json.loads` only: nothing read from a file is unpickled or evaluated.

A file read while wandb-core is still writing it, or left by a process
that stopped mid-write, ends inside a record: the complete records before it
are returned, ``truncated`` is set and a warning says how much was read.
:func:`wait_settled` waits (bounded) for a run still being written.

>>> run = read_offline_run("wandb/latest-run")          # doctest: +SKIP
>>> run.run_id, run.config["paramsched"]["total_steps"]  # doctest: +SKIP
('3k2j9x1a', 1000)
>>> run.history[0]["hp/lr/g0"]                           # doctest: +SKIP
0.0003
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "OfflineRun",
    "find_run_file",
    "is_finished",
    "iter_records",
    "read_offline_run",
    "read_run_record",
    "wait_finished",
    "wait_settled",
]

MAGIC = b":W&B"
HEADER = struct.Struct("<4sHB")  # ident, magic, version
MAGIC_NUMBER = 0xBEE1
VERSION = 0
BLOCK_SIZE = 32 * 1024
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclasses.dataclass
class OfflineRun:
    """What an offline run file holds, decoded.

    Attributes:
        path: the ``.wandb`` file read.
        run_id, name, project, entity, group: from the run record ("" when absent).
        config: the run config as plain JSON values (later updates applied).
        history: one dict per history row, key -> value; nested keys are
            joined with ``"."`` (as W&B shows them); includes ``_step``.
        truncated: the file ended inside a record (a run killed while writing).
        finished: the file ends with the run's exit record. Note that
            ``run.finish()`` can return a few milliseconds before wandb's
            core has written it.
    """

    path: Path
    run_id: str = ""
    name: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    truncated: bool = False
    finished: bool = False


def find_run_file(path: str | os.PathLike[str]) -> Path:
    """The ``run-*.wandb`` file of a run directory, or ``path`` itself if it is a file.

    Raises ``FileNotFoundError`` naming the path when there is no such file,
    and ``ValueError`` when a directory holds several.
    """
    target = Path(path)
    if target.is_file():
        return target
    if not target.is_dir():
        raise FileNotFoundError(f"no W&B offline run at path={os.fspath(path)!r}: no such file or directory")
    files = sorted(target.glob("*.wandb"))
    if not files:
        raise FileNotFoundError(
            f"no W&B offline run at path={os.fspath(path)!r}: expected a run-<id>.wandb file "
            "or a wandb/offline-run-* directory holding one"
        )
    if len(files) > 1:
        names = ", ".join(f.name for f in files)
        raise ValueError(f"path={os.fspath(path)!r} holds several .wandb files ({names}); pass one of them")
    return files[0]


def iter_records(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Yield each ``wandb_internal_pb2.Record`` of an offline run file, in order.

    At the end, ``StopIteration.value`` is True when the file was cut short
    (use :func:`read_offline_run` for a warning and a flag).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    file = find_run_file(path)
    data = file.read_bytes()
    _check_header(file, data)
    truncated = False
    for payload in _messages(file, data):
        if payload is None:
            truncated = True
            break
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except Exception as exc:  # protobuf's DecodeError
            raise ValueError(f"{os.fspath(file)!r}: a record is not a valid W&B protobuf Record ({exc})") from exc
        yield record
    return truncated


def read_offline_run(path: str | os.PathLike[str], *, warn: bool = True) -> OfflineRun:
    """Decode an offline run: ids, config and every history row.

    ``path`` is a ``run-<id>.wandb`` file or the run directory holding it.
    ``warn=False``: a file that ends inside a record sets ``truncated``
    without a warning (for a caller that words its own).
    """
    file = find_run_file(path)
    run = OfflineRun(path=file)
    records = iter_records(file)
    count = 0
    while True:
        try:
            record = next(records)
        except StopIteration as stop:
            run.truncated = bool(stop.value)
            break
        count += 1
        kind = record.WhichOneof("record_type")
        run.finished = kind == "exit"
        if kind == "run":
            _read_run_record(run, record.run)
        elif kind == "config":
            _apply_config(run.config, record.config.update, record.config.remove)
        elif kind == "history":
            run.history.append({_item_key(item): _item_value(item) for item in record.history.item})
    if run.truncated and warn:
        warnings.warn(
            f"W&B offline run {os.fspath(file)!r} ends inside a record (it is still being "
            f"written, or its writer stopped mid-record); read the {count} complete record(s) before it",
            RuntimeWarning,
            stacklevel=2,
        )
    return run


def is_finished(path: str | os.PathLike[str]) -> bool:
    """True when the run file ends with its exit record; reads only the last block.

    A block always starts at a record boundary (possibly inside a split
    message), so the last complete message can be found from there.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    file = find_run_file(path)
    with open(file, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size <= HEADER.size:
            return False
        start = ((size - 1) // BLOCK_SIZE) * BLOCK_SIZE
        handle.seek(start)
        tail = handle.read()
    last: bytes | None = None
    parts: list[bytes] | None = None
    pos = HEADER.size if start == 0 else 0
    while pos + RECORD_HEADER.size <= len(tail):
        crc, length, kind = RECORD_HEADER.unpack_from(tail, pos)
        chunk = tail[pos + RECORD_HEADER.size : pos + RECORD_HEADER.size + length]
        if len(chunk) < length or zlib.crc32(bytes((kind,)) + chunk) != crc:
            return False  # still being written (or torn): no exit record yet
        pos += RECORD_HEADER.size + length
        if kind == FULL:
            last, parts = chunk, None
        elif kind == FIRST:
            parts = [chunk]
        elif parts is not None:  # a MIDDLE / LAST whose FIRST is in this block
            parts.append(chunk)
            if kind == LAST:
                last, parts = b"".join(parts), None
        else:  # the continuation of a message that began in an earlier block
            last = None
    if last is None or parts is not None:
        return False
    record = pb.Record()
    try:
        record.ParseFromString(last)
    except Exception:
        return False
    return record.WhichOneof("record_type") == "exit"


def read_run_record(path: str | os.PathLike[str], *, limit: int = 1 << 20) -> OfflineRun | None:
    """The ids and group of an offline run from its run record (read from the file's first
    ``limit`` bytes only), or ``None`` when they hold none.

    ``path`` is a run file, its directory, or a folder inside the run
    directory (such as ``files/paramsched``).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    target = Path(path)
    for candidate in (target, target.parent, target.parent.parent):
        try:
            file = find_run_file(candidate)
            break
        except (FileNotFoundError, ValueError):
            continue
    else:
        return None
    with open(file, "rb") as handle:
        data = handle.read(limit)
    _check_header(file, data)
    for payload in _messages(file, data):
        if payload is None:
            return None
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "run":
            run = OfflineRun(path=file)
            _read_run_record(run, record.run)
            return run
    return None


def wait_settled(path: str | os.PathLike[str], timeout: float, *, quiet: float = 1.0) -> str:
    """Wait (at most ``timeout`` s) for the run's exit record; say what is known.

    Returns ``"finished"`` (the exit record is there), ``"idle"`` (no exit
    record, and the file did not change for ``quiet`` s: nothing is writing
    it now: the run is open but idle, or its process ended without finishing
    it) or ``"writing"`` (it was still changing when ``timeout`` ran out).
    """
    import time

    file = find_run_file(path)
    deadline = time.monotonic() + timeout
    seen = None
    since = time.monotonic()
    while True:
        try:
            if is_finished(file):
                return "finished"
            stat = os.stat(file)
        except (OSError, ValueError):
            stat = None
        now = time.monotonic()
        state = (stat.st_size, stat.st_mtime_ns) if stat is not None else None
        if state != seen:
            seen, since = state, now
            if stat is not None:  # a file untouched for `quiet` s before we looked is idle too
                since = min(now, now - (time.time() - stat.st_mtime_ns / 1e9))
        if now - since >= quiet:
            return "idle"
        if now >= deadline:
            return "writing"
        time.sleep(0.01)


def wait_finished(path: str | os.PathLike[str], timeout: float) -> bool:
    """Wait (at most ``timeout`` s) until :func:`is_finished`; return whether it is."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            if is_finished(path):
                return True
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


# -- low level ----------------------------------------------------------------------------


def _check_header(file: Path, data: bytes) -> None:
    if len(data) < HEADER.size:
        raise ValueError(
            f"{os.fspath(file)!r} is not a W&B run file: {len(data)} bytes, shorter than the "
            f"{HEADER.size}-byte ':W&B' header"
        )
    ident, magic, version = HEADER.unpack_from(data, 0)
    if ident != MAGIC or magic != MAGIC_NUMBER:
        raise ValueError(
            f"{os.fspath(file)!r} is not a W&B run file: it starts with {data[:6]!r}, "
            f"expected {MAGIC!r} followed by the magic number 0x{MAGIC_NUMBER:X}"
        )
    if version != VERSION:
        raise ValueError(
            f"{os.fspath(file)!r} uses W&B log format version {version}; this reader knows version {VERSION}"
        )


def _messages(file: Path, data: bytes) -> Iterator[bytes | None]:
    """Reassembled record payloads; a final ``None`` means the file was cut short."""
    pos = HEADER.size
    end = len(data)
    parts: list[bytes] | None = None  # fragments of a FIRST..LAST message
    while pos < end:
        room = BLOCK_SIZE - pos % BLOCK_SIZE
        if room < RECORD_HEADER.size:  # block trailer: zero padding
            pos += room
            continue
        if pos + RECORD_HEADER.size > end:
            yield None
            return
        crc, length, kind = RECORD_HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0 and crc == 0:  # zeroed (preallocated) rest of a block
            pos += room
            continue
        start = pos + RECORD_HEADER.size
        stop = start + length
        if length > room - RECORD_HEADER.size or kind not in (FULL, FIRST, MIDDLE, LAST):
            raise ValueError(
                f"{os.fspath(file)!r}: corrupt record header at byte {pos} "
                f"(type {kind}, length {length}, {room - RECORD_HEADER.size} bytes left in its block)"
            )
        if stop > end:
            yield None
            return
        chunk = data[start:stop]
        if zlib.crc32(bytes((kind,)) + chunk) != crc:
            if stop == end:  # the last record, torn by a kill
                yield None
                return
            raise ValueError(f"{os.fspath(file)!r}: checksum mismatch in the record at byte {pos}")
        pos = stop
        if kind == FULL:
            if parts is not None:
                raise ValueError(f"{os.fspath(file)!r}: a record at byte {pos - length - 7} interrupts a split record")
            yield chunk
        elif kind == FIRST:
            if parts is not None:
                raise ValueError(f"{os.fspath(file)!r}: a record at byte {pos - length - 7} interrupts a split record")
            parts = [chunk]
        else:
            if parts is None:
                raise ValueError(
                    f"{os.fspath(file)!r}: a continuation record at byte {pos - length - 7} has no first part"
                )
            parts.append(chunk)
            if kind == LAST:
                yield b"".join(parts)
                parts = None
    if parts is not None:
        yield None


def _read_run_record(run: OfflineRun, record: Any) -> None:
    run.run_id = record.run_id or run.run_id
    run.name = record.display_name or run.name
    run.project = record.project or run.project
    run.entity = record.entity or run.entity
    run.group = record.run_group or run.group
    _apply_config(run.config, record.config.update, record.config.remove)


def _apply_config(config: dict[str, Any], updates: Any, removes: Any) -> None:
    for item in updates:
        path = list(item.nested_key) or [item.key]
        value = _json(item.value_json)
        target = config
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[path[-1]] = value
    for item in removes:
        path = list(item.nested_key) or [item.key]
        target = config
        for part in path[:-1]:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(path[-1], None)


def _item_key(item: Any) -> str:
    if item.nested_key:
        return ".".join(item.nested_key)
    return item.key


def _json(text: str) -> Any:
    """``json.loads``, keeping the sign of a zero written as ``-0`` (W&B's core writes -0.0 so)."""
    return json.loads(text, parse_int=_parse_int)


def _parse_int(text: str) -> int | float:
    return -0.0 if text == "-0" else int(text)


def _item_value(item: Any) -> Any:
    if item.value_json:
        return _json(item.value_json)
    kind = item.WhichOneof("value")
    if kind is None or kind == "none":
        return None
    if kind == "json":
        return _json(item.json)
    return getattr(item, kind)  # boolean, integer, number, text
