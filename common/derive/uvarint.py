"""Unsigned LEB128 varints, the integer encoding of span batches (wire-formats.md §4).

The same encoding as Go's ``binary.PutUvarint`` / ``binary.ReadUvarint``: 7 bits per byte, least
significant group first, the high bit set on every byte but the last. Values are uint64: a tenth byte
above 1 is an overflow, as in Go. Errors are :class:`SpanBatchError` naming the span batch field.
"""

from __future__ import annotations

from common.derive.batch_type import SpanBatchError

_UINT64_MAX = (1 << 64) - 1


def uvarint_size(value: int) -> int:
    """Bytes taken by ``value`` as a uvarint."""
    return max(1, (value.bit_length() + 6) // 7)


def put_uvarint(out: bytearray, value: int) -> None:
    """Append ``value`` as an unsigned LEB128 varint (Go binary.PutUvarint)."""
    if value < 0 or value > _UINT64_MAX:
        raise SpanBatchError(f"uvarint value {value} is outside uint64")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_uvarint(data: bytes, pos: int, field: str) -> tuple[int, int]:
    """Read a uvarint at ``pos``; returns (value, new position). Rejects uint64 overflow like Go."""
    result = 0
    shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise SpanBatchError(f"span batch {field}: truncated uvarint at byte {pos}")
        b = data[pos + i]
        if b < 0x80:
            if i == 9 and b > 1:
                break
            return result | (b << shift), pos + i + 1
        result |= (b & 0x7F) << shift
        shift += 7
    raise SpanBatchError(f"span batch {field}: uvarint at byte {pos} overflows uint64")
