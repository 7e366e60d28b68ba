"""Masked CRC-32C of many byte strings at once, with numpy.

TensorBoard event files frame every record with a masked CRC-32C (the
TFRecord format). The ``tensorboard`` package computes it in pure Python, a
table look-up per byte: about 0.1 us per byte, which made torch's
``SummaryWriter`` cost ~770 us per step for 12 scalars here. The CRC is
linear over GF(2), so the CRC of a string is a constant for its length
XOR-ed with one table entry per byte, the table indexed by the byte and its
distance from the end. A whole batch of records is then one numpy gather
and one ``bitwise_xor.reduceat``.

Strings longer than ``BLOCK`` bytes are cut into blocks of ``BLOCK`` (the
first one shorter) and combined with Horner's rule, so any length works.

>>> int(masked_crc32c([b"123456789"])[0]) == masked_crc32c_py(b"123456789")
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BLOCK", "crc32c", "masked_crc32c", "masked_crc32c_py"]

BLOCK = 1024
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8


def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _byte_table()
_TABLE_PY = _TABLE.tolist()


def _shift(x: np.ndarray) -> np.ndarray:
    """The CRC register after one more zero byte, ``F(x)``: linear in ``x``."""
    return _TABLE[x & 0xFF] ^ (x >> np.uint32(8))


def _tables() -> tuple[np.ndarray, np.ndarray, list[int]]:
    # _POS[d * 256 + b]: what byte b contributes when d bytes follow it.
    pos = np.empty((BLOCK, 256), dtype=np.uint32)
    pos[0] = _TABLE
    for d in range(1, BLOCK):
        pos[d] = _shift(pos[d - 1])
    # _ZERO[n]: the CRC of n zero bytes (the part that depends on the length only).
    zero = np.empty(BLOCK + 1, dtype=np.uint32)
    state = np.array([0xFFFFFFFF], dtype=np.uint32)
    for n in range(BLOCK + 1):
        zero[n] = state[0] ^ np.uint32(0xFFFFFFFF)
        state = _shift(state)
    # F applied BLOCK times to each bit: a 32 x 32 matrix over GF(2), as 32 columns.
    columns = np.array([1 << j for j in range(32)], dtype=np.uint32)
    for _ in range(BLOCK):
        columns = _shift(columns)
    return pos.reshape(-1), zero, columns.tolist()


_POS: np.ndarray | None = None
_ZERO: np.ndarray | None = None
_SKIP: list[int] = []


def _ensure_tables() -> None:
    global _POS, _ZERO, _SKIP
    if _POS is None:
        _POS, _ZERO, _SKIP = _tables()


_ARANGE = np.arange(0, dtype=np.int64)


def _arange(n: int) -> np.ndarray:
    """``np.arange(n)``, from a cached array (allocating it was a third of the time)."""
    global _ARANGE
    if len(_ARANGE) < n:
        _ARANGE = np.arange(max(n, 2 * len(_ARANGE)), dtype=np.int64)
    return _ARANGE[:n]


def _skip_block(x: int) -> int:
    """``F^BLOCK(x)``: the register ``x`` after ``BLOCK`` more zero bytes."""
    out = 0
    j = 0
    while x:
        if x & 1:
            out ^= _SKIP[j]
        x >>= 1
        j += 1
    return out


def crc32c(data: Sequence[bytes]) -> np.ndarray:
    """The CRC-32C of each byte string in ``data`` (a uint64 array)."""
    _ensure_tables()
    assert _POS is not None and _ZERO is not None
    if not data:
        return np.zeros(0, dtype=np.uint64)
    # Cut each string into blocks: the first holds len % BLOCK bytes (or BLOCK), the rest BLOCK.
    lengths = np.fromiter((len(d) for d in data), dtype=np.int64, count=len(data))
    first = np.where(lengths % BLOCK == 0, np.minimum(lengths, BLOCK), lengths % BLOCK)
    blocks = np.where(lengths == 0, 1, 1 + (lengths - first) // BLOCK)
    block_len = np.full(int(blocks.sum()), BLOCK, dtype=np.int64)
    starts_of_record = np.concatenate(([0], np.cumsum(blocks)[:-1]))
    block_len[starts_of_record] = first
    joined = np.frombuffer(b"".join(data), dtype=np.uint8)
    linear = np.zeros(len(block_len), dtype=np.uint32)
    nonempty = block_len > 0
    if joined.size:
        ends = np.cumsum(block_len)
        # distance of every byte to the end of its block
        index = np.repeat(ends - 1, block_len)
        index -= _arange(joined.size)
        index <<= 8
        index += joined
        gathered = _POS[index]
        starts = ends - block_len
        linear[nonempty] = np.bitwise_xor.reduceat(gathered, starts[nonempty])
    result = (_ZERO[np.minimum(lengths, BLOCK)] ^ linear[starts_of_record]).astype(np.uint64)
    long_ones = np.flatnonzero(lengths > BLOCK)
    if len(long_ones):
        linear_list = linear.tolist()
        for i in long_ones.tolist():
            b0 = int(starts_of_record[i])
            acc = linear_list[b0]
            for b in range(b0 + 1, b0 + int(blocks[i])):  # Horner over the full blocks
                acc = _skip_block(acc) ^ linear_list[b]
            result[i] = _zero_crc(int(lengths[i])) ^ acc
    return result


def _zero_crc(n: int) -> int:
    """The CRC of ``n`` zero bytes for ``n > BLOCK`` (the length-only part)."""
    assert _ZERO is not None
    # register after n zero bytes from 0xFFFFFFFF = F^n(init); F^n = F^(n % BLOCK) then F^BLOCK ...
    rest = n % BLOCK
    state = int(_ZERO[rest]) ^ 0xFFFFFFFF
    for _ in range(n // BLOCK):
        state = _skip_block(state)
    return state ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: Sequence[bytes]) -> np.ndarray:
    """The masked CRC-32C (TFRecord framing) of each byte string in ``data`` (a uint64 array)."""
    crc = crc32c(data)
    rotated = ((crc >> np.uint64(15)) | (crc << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return (rotated + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)


def masked_crc32c_py(data: bytes) -> int:
    """The same for one string, byte by byte (the reference the tests compare against)."""
    crc = 0xFFFFFFFF
    table = _TABLE_PY
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return _mask(crc ^ 0xFFFFFFFF)
