"""TensorBoard event files: TFRecord framing and the few event shapes paramsched writes.

An event file is a sequence of records, each ``uint64 length | masked
crc32c(length) | data | masked crc32c(data)`` (little-endian), where ``data``
is a serialized ``tensorboard.Event`` protocol buffer. paramsched writes
four shapes of event, encoded here by hand (protocol buffer wire format) so
that writing needs neither protobuf nor the ``tensorboard`` package and a
row costs a few microseconds:

- the file header ``Event(wall_time, file_version="brain.Event:2")``;
- one row of scalars ``Event(wall_time, step, summary=[Value(tag, tensor=
  TensorProto(dtype=DT_DOUBLE, double_val=[v])), ...])``, the shape of
  ``SummaryWriter.add_scalar(..., new_style=True, double_precision=True)``;
  the first row of a file also carries each tag's ``SummaryMetadata``
  (plugin ``scalars``), which TensorBoard reads from a tag's first value;
- a text summary (plugin ``text``, a 1-element ``DT_STRING`` tensor) for the
  run metadata and the events, JSON documents.

The tests decode every shape with tensorboard's own protocol buffers and
read the files with its reader, which checks the CRCs.

>>> enc = RowEncoder(["hp/lr/g0"])
>>> data = frame([enc.encode(3, 1.5, [0.1])])
>>> records, truncated = split_records(data, "example")
>>> len(records), truncated
(1, False)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from paramsched_tensorboard._crc import masked_crc32c

__all__ = [
    "METADATA_TAG",
    "EVENT_TAG",
    "RowDecoder",
    "RowEncoder",
    "file_version_event",
    "frame",
    "split_records",
    "text_event",
    "varint",
]

METADATA_TAG = "paramsched/run"
"""Tag of the text summary holding the run metadata document (JSON)."""
EVENT_TAG = "paramsched/event"
"""Tag of the text summaries holding one event record (JSON) each."""

_DOUBLE = struct.Struct("<d")
_HEADER = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_FILE_VERSION = b"brain.Event:2"
# SummaryMetadata(plugin_data=PluginData(plugin_name="scalars"), data_class=DATA_CLASS_SCALAR)
_SCALAR_METADATA = b"\x0a\x09\x0a\x07scalars\x20\x01"
# SummaryMetadata(plugin_data=PluginData(plugin_name="text"))
_TEXT_METADATA = b"\x0a\x06\x0a\x04text"
# TensorProto(dtype=DT_DOUBLE, double_val=[<8 bytes follow>])
_DOUBLE_TENSOR = b"\x08\x02\x32\x08"
# TensorProto(dtype=DT_STRING, tensor_shape=TensorShapeProto(dim=[Dim(size=1)])), then string_val
_STRING_TENSOR = b"\x08\x07\x12\x04\x12\x02\x08\x01"


def varint(n: int) -> bytes:
    """The protocol buffer varint of ``n >= 0``."""
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _event_head(step: int | None, wall_time: float) -> bytes:
    head = b"\x09" + _DOUBLE.pack(wall_time)
    if step:  # proto3: a zero step is the default and is left out, as protobuf does
        head += b"\x10" + varint(step)
    return head


def file_version_event(wall_time: float) -> bytes:
    """The first event of every file."""
    return _event_head(None, wall_time) + _field(3, _FILE_VERSION)


def text_event(tag: str, text: str, step: int, wall_time: float) -> bytes:
    """A text summary (TensorBoard's Text tab) holding ``text`` at ``step``."""
    tensor = _STRING_TENSOR + _field(8, text.encode("utf-8"))
    value = _field(1, tag.encode("utf-8")) + _field(9, _TEXT_METADATA) + _field(8, tensor)
    return _event_head(step, wall_time) + _field(5, _field(1, value))


class RowEncoder:
    """Encodes rows of float64 scalars for a fixed list of tags.

    The first row encoded carries each tag's metadata (plugin ``scalars``),
    so use one encoder per file.
    """

    def __init__(self, tags: Sequence[str]) -> None:
        self.tags = tuple(tags)
        self._first = self._packer([self._prefix(tag, _SCALAR_METADATA) for tag in self.tags])
        self._plain = self._packer([self._prefix(tag, b"") for tag in self.tags])
        self._started = False

    @staticmethod
    def _prefix(tag: str, metadata: bytes) -> bytes:
        """A ``Summary.value`` entry up to its 8 value bytes, which come last."""
        body = _field(1, tag.encode("utf-8"))
        if metadata:
            body += _field(9, metadata)
        tensor_len = len(_DOUBLE_TENSOR) + 8
        body += b"\x42" + varint(tensor_len) + _DOUBLE_TENSOR
        return b"\x0a" + varint(len(body) + 8) + body

    @staticmethod
    def _packer(prefixes: list[bytes]) -> tuple[struct.Struct, list]:
        """One struct for the whole summary (prefix, value, prefix, value, ...): a single C call
        per row, three times faster than joining the pieces."""
        layout = struct.Struct("<" + "".join(f"{len(p)}sd" for p in prefixes))
        args: list = [None] * (2 * len(prefixes))
        args[0::2] = prefixes
        return layout, args

    def encode(self, step: int, wall_time: float, values: Sequence[float]) -> bytes:
        """One event: ``values[i]`` for ``tags[i]`` at ``step``."""
        layout, args = self._plain if self._started else self._first
        self._started = True
        args[1::2] = values
        summary = layout.pack(*args)
        return _event_head(step, wall_time) + b"\x2a" + varint(len(summary)) + summary


class RowDecoder:
    """Reads back the rows a :class:`RowEncoder` for the same tags wrote after its first,
    without protobuf: the reader's fast path for paramsched's own files.

    ``decode`` returns ``(step, values)``, or ``None`` for any record of another
    shape (the first row, text summaries, another writer's events), which the
    reader then parses with protobuf.

    >>> enc = RowEncoder(["hp/lr/g0"]); _ = enc.encode(0, 1.0, [0.5])
    >>> RowDecoder(["hp/lr/g0"]).decode(enc.encode(300, 1.0, [0.1]))
    (300, (0.1,))
    """

    def __init__(self, tags: Sequence[str]) -> None:
        layout, args = RowEncoder(tags)._plain
        self.tags = tuple(tags)
        self._layout = layout
        self._prefixes = tuple(args[0::2])
        self._tail = b"\x2a" + varint(layout.size)

    def decode(self, record: bytes) -> tuple[int, tuple[float, ...]] | None:
        cut = len(record) - self._layout.size
        head = cut - len(self._tail)
        if head < 9 or record[0] != 0x09 or record[head:cut] != self._tail:
            return None
        step = 0
        if head > 9:  # wall_time (9 bytes), then the step as a varint; step 0 is left out
            if record[9] != 0x10:
                return None
            shift, pos = 0, 10
            while pos < head:
                byte = record[pos]
                step |= (byte & 0x7F) << shift
                shift += 7
                pos += 1
                if not byte & 0x80:
                    break
            if pos != head or record[pos - 1] & 0x80 or step >= 1 << 63:
                return None
        parts = self._layout.unpack_from(record, cut)
        if parts[0::2] != self._prefixes:
            return None
        return step, parts[1::2]


def frame(records: Sequence[bytes]) -> bytes:
    """The records framed for an event file (length, CRCs), joined."""
    n = len(records)
    if not n:
        return b""
    lengths = np.fromiter(map(len, records), dtype=np.uint64, count=n)
    packed = lengths.astype("<u8").tobytes()
    crcs = masked_crc32c([*(packed[8 * i : 8 * i + 8] for i in range(n)), *records]).astype("<u4")
    heads = np.empty(n, dtype=[("length", "<u8"), ("crc", "<u4")])
    heads["length"] = lengths
    heads["crc"] = crcs[:n]
    head_bytes = heads.tobytes()
    foot_bytes = crcs[n:].tobytes()
    out = bytearray()
    for i in range(n):
        out += head_bytes[12 * i : 12 * i + 12]
        out += records[i]
        out += foot_bytes[4 * i : 4 * i + 4]
    return bytes(out)


_CHECK_BYTES = 1 << 22  # CRCs are checked this many bytes at a time (bounds the numpy temporaries)


def split_records(data: bytes, label: str) -> tuple[list[bytes], bool]:
    """The records of an event file's bytes, CRCs checked; ``truncated`` when it ends inside one.

    A CRC that does not match is an error naming ``label`` and the byte
    offset: the file is corrupt. A record cut short at the end (a writer
    killed mid-write) is not returned and sets ``truncated``.
    """
    records: list[bytes] = []
    headers: list[bytes] = []
    expected: list[int] = []
    offsets: list[int] = []
    pos, size = 0, len(data)
    unpack_q, unpack_i = _HEADER.unpack_from, _CRC.unpack_from
    truncated = False
    while pos < size:
        if pos + 12 > size:
            truncated = True
            break
        (length,) = unpack_q(data, pos)
        end = pos + 12 + length + 4
        if end > size:
            truncated = True
            break
        headers.append(data[pos : pos + 8])
        records.append(data[pos + 12 : pos + 12 + length])
        expected.append(unpack_i(data, pos + 8)[0])
        expected.append(unpack_i(data, end - 4)[0])
        offsets.append(pos)
        pos = end
    _check_crcs(headers, records, expected, offsets, label)
    return records, truncated


def _check_crcs(
    headers: list[bytes], records: list[bytes], expected: list[int], offsets: list[int], label: str
) -> None:
    wanted = np.array(expected, dtype=np.uint64).reshape(-1, 2)  # (length crc, data crc) per record
    start = 0
    while start < len(records):
        stop, size = start, 0
        while stop < len(records) and (stop == start or size + len(records[stop]) <= _CHECK_BYTES):
            size += len(records[stop])
            stop += 1
        n = stop - start
        got = masked_crc32c([*headers[start:stop], *records[start:stop]]).reshape(2, n).T
        bad = got != wanted[start:stop]
        if bad.any():
            i = int(np.argmax(bad.any(axis=1)))
            part = "length" if bad[i, 0] else "data"
            raise ValueError(
                f"{label}: the record at byte {offsets[start + i]} fails its {part} CRC check; "
                "the event file is corrupt"
            )
        start = stop
