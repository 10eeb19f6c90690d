"""Span batch bitlists (wire-formats.md §4, specs ``delta/span-batches.md``).

A bitlist of n elements is the big-endian integer with bit i = element i, left-padded to ceil(n/8)
bytes: element 0 is the least-significant bit of the LAST byte, and a set bit at or above n is invalid.
Span batches carry four: ``origin_bits`` (one per block), ``contract_creation_bits`` and
``y_parity_bits`` (one per tx) and ``protected_bits`` (one per legacy tx).

Decoded bitlists are plain ints; :func:`bits_of` / :func:`bits_to_int` convert to and from element
lists. The incremental builder keeps its bitlists as ASCII '0'/'1' arrays (cheap to append to and to
truncate) and encodes them with :func:`ascii_bits_to_bytes`.
"""

from __future__ import annotations

from collections.abc import Iterable

from common.derive.batch_type import SpanBatchError


def bitlist_size(n: int) -> int:
    """Bytes of a bitlist of ``n`` elements."""
    return (n + 7) // 8


def encode_bitlist(bits: int, n: int) -> bytes:
    """Bitlist of ``n`` elements from an int whose bit i is element i."""
    if bits >> n:
        raise SpanBatchError(f"bitlist value has bits set at or above its length {n}")
    return bits.to_bytes(bitlist_size(n), "big")


def read_bitlist(data: bytes, pos: int, n: int, field: str) -> tuple[int, int]:
    """Read a bitlist of ``n`` elements; rejects set bits at or above n."""
    end = pos + bitlist_size(n)
    if end > len(data):
        raise SpanBatchError(
            f"span batch {field}: need {end - pos} bytes for {n} bits, {len(data) - pos} left"
        )
    value = int.from_bytes(data[pos:end], "big")
    if value.bit_length() > n:
        raise SpanBatchError(f"span batch {field}: bitlist has bits set beyond its {n} elements")
    return value, end


def bits_of(value: int, n: int) -> list[int]:
    """Elements 0..n-1 of a bitlist int, in O(n) overall."""
    if n == 0:
        return []
    text = bin(value)[2:].zfill(n)
    return [1 if c == "1" else 0 for c in reversed(text)]


def bits_to_int(bits: Iterable[int]) -> int:
    """Inverse of ``bits_of``."""
    text = "".join("1" if b else "0" for b in bits)
    return int(text[::-1], 2) if text else 0


def ascii_bits_to_bytes(bits: bytearray) -> bytes:
    """Bitlist bytes from '0'/'1' characters where index i is element i."""
    n = len(bits)
    if n == 0:
        return b""
    return int(bytes(bits[::-1]), 2).to_bytes(bitlist_size(n), "big")
