"""Channel decompression and reading the batches out of a channel (the derivation direction).

A channel's bytes (all its frames' data concatenated) are one compressed stream
(wire-formats.md §2, specs derivation.md §Channel Format, fjord/derivation.md)::

    channel = zlib(rlp_str(batch_1) ++ rlp_str(batch_2) ++ ...)          any fork
    channel = 0x01 ++ brotli(rlp_str(batch_1) ++ ...)                   Fjord and later

The uncompressed stream is read with a byte limit, MAX_RLP_BYTES_PER_CHANNEL: batches that fit
wholly inside the limit are used and the rest is ignored. Decompression here is streamed in
chunks and stops at the limit, so a hostile channel (a "zip bomb") cannot exhaust memory.

The reader is lenient the way op-node's is: a malformed or truncated batch ends the channel, and
the batches read before it are kept. Functions that return a :class:`ChannelRead` report that
error instead of raising, so a decoder can show what was salvaged and why it stopped.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import brotli

from common.derive.rlp import RlpError, RlpTruncatedError, string_at
from common.derive.rollup_config import MAX_RLP_BYTES_PER_CHANNEL_BEDROCK, MAX_RLP_BYTES_PER_CHANNEL_FJORD

__all__ = [
    "CHANNEL_VERSION_BROTLI",
    "MAX_RLP_BYTES_PER_CHANNEL_BEDROCK",
    "MAX_RLP_BYTES_PER_CHANNEL_FJORD",
    "ChannelError",
    "ChannelRead",
    "ChannelVersion",
    "Decompressed",
    "TruncatedBatchError",
    "channel_version",
    "decompress_channel",
    "decompress_channel_partial",
    "iter_batch_payloads",
    "max_rlp_bytes",
    "read_batch_payloads",
    "read_batch_payloads_partial",
    "read_channel",
]

CHANNEL_VERSION_BROTLI = 0x01
"""Fjord: first byte of a brotli channel (the brotli stream follows it)."""
ZLIB_CM_DEFLATE = 8
"""RFC 1950 CM value of deflate; a zlib channel's first byte has it (or 15) in its low nibble."""
ZLIB_CM_RESERVED = 15
"""RFC 1950 reserved CM value, also classified as zlib by op-node."""

_CHUNK = 1 << 16
"""Compressed input fed to the decompressor per step."""
_OUT_CHUNK = 1 << 20
"""Largest uncompressed output produced per step."""
_UNTERMINATED = "compressed stream ended without its end marker"


class ChannelError(ValueError):
    """A channel that cannot be (fully) decompressed or read."""


class ChannelVersion(enum.Enum):
    """How a channel's bytes are compressed, from its first byte."""

    ZLIB = "zlib"
    BROTLI = "brotli"


def channel_version(data: bytes) -> ChannelVersion:
    """Classify the compression by the first byte, as op-node's BatchReader does."""
    if not data:
        raise ChannelError("empty channel: no compression type byte")
    b0 = data[0]
    if b0 & 0x0F in (ZLIB_CM_DEFLATE, ZLIB_CM_RESERVED):
        return ChannelVersion.ZLIB
    if b0 == CHANNEL_VERSION_BROTLI:
        return ChannelVersion.BROTLI
    raise ChannelError(f"cannot distinguish the compression algo used given type byte 0x{b0:02x}")


@dataclass(frozen=True, slots=True)
class Decompressed:
    """Result of bounded decompression."""

    data: bytes
    """Uncompressed bytes, at most the limit."""
    version: ChannelVersion
    limit_reached: bool
    """True when output was cut at the limit (more data may follow in the stream)."""
    unterminated: bool
    """The compressed stream ended without its end marker. Common in real channels (op-batcher's
    zlib output ends with a sync flush); op-node reads what came out and carries on."""
    error: str | None
    """Why decompression failed part-way (corrupt stream); None otherwise."""


def decompress_channel_partial(data: bytes, *, max_bytes: int, fjord: bool) -> Decompressed:
    """Decompress up to ``max_bytes``; on a corrupt or truncated stream keep what came out first."""
    version = channel_version(data)
    if version is ChannelVersion.BROTLI:
        if not fjord:
            raise ChannelError("cannot accept brotli compressed batch before Fjord")
        out, limited, err = _brotli_bounded(memoryview(data)[1:], max_bytes)
    else:
        out, limited, err = _zlib_bounded(memoryview(data), max_bytes)
    unterminated = err is _UNTERMINATED
    return Decompressed(out, version, limited, unterminated, None if unterminated else err)


def decompress_channel(data: bytes, *, max_bytes: int, fjord: bool) -> bytes:
    """Decompress a channel, at most ``max_bytes`` of output; ChannelError if the stream is corrupt.

    Output past the limit is not an error (derivation reads only the first ``max_bytes``), nor is
    a stream without its end marker (see ``Decompressed.unterminated``).
    """
    result = decompress_channel_partial(data, max_bytes=max_bytes, fjord=fjord)
    if result.error is not None:
        raise ChannelError(
            f"{result.version.value} channel: {result.error} (after {len(result.data)} uncompressed bytes)"
        )
    return result.data


def _zlib_bounded(src: memoryview, max_bytes: int) -> tuple[bytes, bool, str | None]:
    """Stream-inflate ``src`` until the end of the stream, an error or ``max_bytes`` of output.

    One byte beyond the limit is produced (then dropped) to tell "stream ends exactly at the
    limit" from "the limit cut the stream".
    """
    dec = zlib.decompressobj()
    target = max_bytes + 1
    parts: list[bytes] = []
    produced = 0
    pos = 0
    pending = b""
    try:
        while produced < target:
            if not pending and pos < len(src):
                pending = bytes(src[pos : pos + _CHUNK])
                pos += len(pending)
            out = dec.decompress(pending, min(target - produced, _OUT_CHUNK))
            pending = dec.unconsumed_tail
            parts.append(out)
            produced += len(out)
            if dec.eof:
                break
            if not out and not pending and pos >= len(src):
                return b"".join(parts), False, _UNTERMINATED
    except zlib.error as exc:
        return b"".join(parts), False, f"corrupt zlib stream: {exc}"
    data = b"".join(parts)
    if len(data) > max_bytes:
        return data[:max_bytes], True, None
    return data, False, None


def _brotli_bounded(src: memoryview, max_bytes: int) -> tuple[bytes, bool, str | None]:
    """Stream-decompress brotli ``src`` until its end, an error or ``max_bytes`` of output."""
    dec = brotli.Decompressor()
    target = max_bytes + 1
    parts: list[bytes] = []
    produced = 0
    pos = 0
    try:
        while produced < target and not dec.is_finished():
            if dec.can_accept_more_data():
                if pos >= len(src):
                    return b"".join(parts), False, _UNTERMINATED
                chunk = bytes(src[pos : pos + _CHUNK])
                pos += len(chunk)
            else:
                chunk = b""
            out = dec.process(chunk, output_buffer_limit=min(target - produced, _OUT_CHUNK))
            parts.append(out)
            produced += len(out)
    except brotli.error as exc:
        return b"".join(parts), False, f"corrupt brotli stream: {exc}"
    data = b"".join(parts)
    if len(data) > max_bytes:
        return data[:max_bytes], True, None
    return data, False, None


class TruncatedBatchError(ChannelError):
    """The uncompressed stream ends inside a batch's RLP string."""


@dataclass(frozen=True, slots=True)
class ChannelRead:
    """The batches read from one channel and why reading stopped, if not at a clean end."""

    payloads: tuple[bytes, ...]
    """Each batch as ``batch_type ++ body`` (unwrapped from its RLP string)."""
    version: ChannelVersion | None
    uncompressed_len: int
    limit_reached: bool
    """The uncompressed stream went past MAX_RLP_BYTES_PER_CHANNEL; the rest was ignored."""
    unterminated: bool
    """The compressed stream had no end marker (harmless when every batch was complete)."""
    error: str | None
    """What ended the channel early: corrupt stream, malformed or cut-off batch (earlier batches kept)."""


MIN_BATCH_PAYLOAD = 2
"""A batch is its type byte plus a non-empty body; anything shorter fails to decode in op-node,
which ends the channel. Stopping there also bounds the work a hostile stream of tiny items causes."""


def iter_batch_payloads(rlp_stream: bytes) -> Iterator[bytes]:
    """Yield each batch payload lazily; raise ChannelError (naming the batch) where reading stops.

    Lazy so a caller that stops at the first undecodable batch, as op-node does, never walks the
    rest of a hostile channel.
    """
    view = memoryview(rlp_stream)
    index = 0
    pos = 0
    while pos < len(view):
        try:
            start, end = string_at(view, pos, len(view), f"batch {index}")
        except RlpTruncatedError as exc:
            raise TruncatedBatchError(str(exc)) from None
        except RlpError as exc:
            raise ChannelError(str(exc)) from None
        if end - start < MIN_BATCH_PAYLOAD:
            raise ChannelError(f"batch {index} at offset {pos}: {end - start}-byte batch data is too short")
        yield bytes(view[start:end])
        index += 1
        pos = end


def read_batch_payloads_partial(rlp_stream: bytes) -> tuple[list[bytes], ChannelError | None]:
    """Unwrap consecutive RLP byte strings; stop at the first bad or truncated one, returning why."""
    out: list[bytes] = []
    try:
        for payload in iter_batch_payloads(rlp_stream):
            out.append(payload)
    except ChannelError as exc:
        return out, exc
    return out, None


def read_batch_payloads(rlp_stream: bytes) -> list[bytes]:
    """Batches of an uncompressed channel (type byte ++ body each); lenient like op-node."""
    return read_batch_payloads_partial(rlp_stream)[0]


def max_rlp_bytes(fjord: bool) -> int:
    """MAX_RLP_BYTES_PER_CHANNEL for the pipeline's fork."""
    return MAX_RLP_BYTES_PER_CHANNEL_FJORD if fjord else MAX_RLP_BYTES_PER_CHANNEL_BEDROCK


def read_channel(data: bytes, *, fjord: bool, max_bytes: int | None = None) -> ChannelRead:
    """Decompress a channel and read its batches, never raising: problems land in ``error``.

    A batch cut off by MAX_RLP_BYTES_PER_CHANNEL is ignored silently, as derivation does; one cut
    off because the compressed stream ended or broke is reported.
    """
    limit = max_rlp_bytes(fjord) if max_bytes is None else max_bytes
    try:
        dec = decompress_channel_partial(data, max_bytes=limit, fjord=fjord)
    except ChannelError as exc:
        return ChannelRead((), None, 0, False, False, str(exc))
    payloads, rlp_error = read_batch_payloads_partial(dec.data)
    problems = []
    if dec.error is not None:
        problems.append(f"{dec.version.value}: {dec.error} after {len(dec.data)} uncompressed bytes")
    if rlp_error is not None:
        if isinstance(rlp_error, TruncatedBatchError) and dec.limit_reached:
            pass  # the rlp input limit: derivation ignores the rest of the channel
        elif isinstance(rlp_error, TruncatedBatchError) and dec.unterminated:
            problems.append(f"{rlp_error} (compressed stream ended early)")
        elif not (isinstance(rlp_error, TruncatedBatchError) and dec.error is not None):
            problems.append(str(rlp_error))
    error = "; ".join(problems) or None
    return ChannelRead(
        tuple(payloads), dec.version, len(dec.data), dec.limit_reached, dec.unterminated, error
    )
