"""Channel decompression (zlib / brotli), limits against hostile input, and batch reading."""

from __future__ import annotations

import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.channel import (
    ChannelError,
    ChannelVersion,
    channel_version,
    decompress_channel,
    decompress_channel_partial,
    iter_batch_payloads,
    read_batch_payloads,
    read_batch_payloads_partial,
    read_channel,
)


def rlp_string(payload: bytes) -> bytes:
    """Independent RLP byte-string wrapper for building test channels."""
    n = len(payload)
    if n == 1 and payload[0] < 0x80:
        return payload
    if n < 56:
        return bytes([0x80 + n]) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(size)]) + size + payload


def zlib_channel(body: bytes) -> bytes:
    return zlib.compress(body, 9)


def brotli_channel(body: bytes) -> bytes:
    return b"\x01" + bytes(brotli.compress(body, quality=5))


batches_st = st.lists(st.binary(min_size=1, max_size=300).map(lambda b: b"\x00" + b), max_size=6)


@settings(max_examples=60)
@given(batches_st, st.sampled_from(["zlib", "brotli"]))
def test_batches_round_trip_through_both_compressions(batches: list[bytes], algo: str) -> None:
    """read_channel(compress(rlp_str(b1) ++ ...)) gives back b1, b2, ... with no error."""
    body = b"".join(rlp_string(b) for b in batches)
    data = zlib_channel(body) if algo == "zlib" else brotli_channel(body)
    read = read_channel(data, fjord=True)
    assert read.error is None
    assert list(read.payloads) == batches
    assert read.uncompressed_len == len(body)
    assert read.version is ChannelVersion(algo)


@pytest.mark.parametrize(
    ("first", "version"),
    [
        (0x78, ChannelVersion.ZLIB),
        (0x08, ChannelVersion.ZLIB),
        (0x1F, ChannelVersion.ZLIB),
        (0x01, ChannelVersion.BROTLI),
    ],
)
def test_version_detection_by_first_byte(first: int, version: ChannelVersion) -> None:
    """Low nibble 8 or 15 means zlib; exactly 0x01 means brotli."""
    assert channel_version(bytes([first, 0])) is version


@pytest.mark.parametrize("first", [0x00, 0x02, 0x11, 0xFF - 0x0F])
def test_unknown_version_byte_is_rejected_with_its_value(first: int) -> None:
    """Other first bytes are not a known compression; the error shows the byte."""
    with pytest.raises(ChannelError, match=f"0x{first:02x}"):
        channel_version(bytes([first, 0]))


def test_brotli_is_rejected_before_fjord() -> None:
    """A brotli channel before Fjord fails with op-node's message."""
    data = brotli_channel(rlp_string(b"\x00abc"))
    with pytest.raises(ChannelError, match="cannot accept brotli compressed batch before Fjord"):
        decompress_channel(data, max_bytes=1000, fjord=False)
    assert read_channel(data, fjord=False).error == "cannot accept brotli compressed batch before Fjord"


@pytest.mark.parametrize("algo", ["zlib", "brotli"])
def test_zip_bomb_is_cut_at_the_limit_without_inflating_it_all(algo: str) -> None:
    """20 MB of zeros compressed (20 kB): output stops at max_bytes and is flagged limit_reached."""
    body = bytes(20_000_000)
    data = zlib.compress(body, 1) if algo == "zlib" else b"\x01" + brotli.compress(body, quality=1)
    result = decompress_channel_partial(data, max_bytes=1_000_000, fjord=True)
    assert len(result.data) == 1_000_000
    assert result.limit_reached and result.error is None


def test_stream_ending_exactly_at_the_limit_is_not_flagged() -> None:
    """Exactly max_bytes of output with a proper end marker: limit_reached is False."""
    body = rlp_string(b"\x00" + bytes(998))
    result = decompress_channel_partial(zlib_channel(body), max_bytes=len(body), fjord=False)
    assert result.data == body and not result.limit_reached


def test_batches_past_the_rlp_limit_are_ignored_silently() -> None:
    """Batches wholly inside MAX_RLP_BYTES are kept; the one straddling it is dropped without error."""
    b1, b2 = b"\x00" + bytes(500), b"\x00" + bytes(500)
    body = rlp_string(b1) + rlp_string(b2)
    read = read_channel(zlib_channel(body), fjord=True, max_bytes=len(rlp_string(b1)) + 10)
    assert read.payloads == (b1,)
    assert read.limit_reached and read.error is None


def test_unterminated_stream_keeps_complete_batches_and_is_noted() -> None:
    """A zlib stream flushed but never finished (as real op-batcher output is) reads fine."""
    comp = zlib.compressobj(9)
    data = comp.compress(rlp_string(b"\x00" + b"x" * 100)) + comp.flush(zlib.Z_SYNC_FLUSH)
    read = read_channel(data, fjord=True)
    assert read.payloads == (b"\x00" + b"x" * 100,)
    assert read.unterminated and read.error is None


def test_stream_cut_inside_a_batch_reports_the_truncated_batch() -> None:
    """Compressed bytes cut short inside batch 1: batch 0 is kept and the error names batch 1."""
    body = rlp_string(b"\x00" + b"a" * 50) + rlp_string(b"\x00" + bytes(range(256)) * 40)
    comp = zlib.compressobj(9)
    full = comp.compress(body) + comp.flush(zlib.Z_SYNC_FLUSH)
    read = read_channel(full[: len(full) // 2], fjord=True)
    assert read.payloads == (b"\x00" + b"a" * 50,)
    assert read.error is not None and "batch 1" in read.error and "truncated" in read.error


def test_corrupt_zlib_is_reported_not_raised_by_read_channel() -> None:
    """Garbage after a valid zlib header gives an error string and no payloads."""
    read = read_channel(b"\x78\xda" + b"\xff" * 40, fjord=True)
    assert read.payloads == () and read.error is not None and "zlib" in read.error
    with pytest.raises(ChannelError, match="corrupt zlib"):
        decompress_channel(b"\x78\xda" + b"\xff" * 40, max_bytes=100, fjord=True)


def test_corrupt_brotli_is_reported() -> None:
    """A broken brotli stream yields an error that names brotli."""
    read = read_channel(b"\x01" + b"\xff" * 30, fjord=True)
    assert read.error is not None and "brotli" in read.error


def test_empty_channel_is_an_error() -> None:
    """No bytes at all: no compression type byte."""
    with pytest.raises(ChannelError, match="empty channel"):
        channel_version(b"")


def test_rlp_reader_stops_at_a_list_and_keeps_earlier_batches() -> None:
    """A list item where a byte string belongs ends reading; the error names the batch index."""
    stream = rlp_string(b"\x00abc") + b"\xc2\x01\x02"
    payloads, err = read_batch_payloads_partial(stream)
    assert payloads == [b"\x00abc"]
    assert err is not None and "batch 1" in str(err) and "list" in str(err)
    assert read_batch_payloads(stream) == [b"\x00abc"]


def test_rlp_reader_rejects_non_canonical_encodings() -> None:
    """Long form for a short string, and a wrapped single byte < 0x80, are non-canonical."""
    for bad in (b"\xb8\x03\x00ab", b"\x81\x05"):
        payloads, err = read_batch_payloads_partial(bad)
        assert payloads == [] and err is not None and "non-canonical" in str(err)


def test_empty_batch_string_ends_the_channel() -> None:
    """An empty RLP string has no batch type byte."""
    payloads, err = read_batch_payloads_partial(rlp_string(b"\x00a") + b"\x80")
    assert payloads == [b"\x00a"] and err is not None and "too short" in str(err)


def test_stream_of_tiny_items_stops_at_the_first_one() -> None:
    """10 MB of zero bytes (ten million 1-byte items) ends at batch 0 at once instead of walking them all."""
    read = read_channel(zlib.compress(bytes(10_000_000), 9), fjord=False)
    assert read.payloads == () and read.error is not None and "batch 0" in read.error


def test_batch_payloads_are_read_lazily() -> None:
    """iter_batch_payloads yields the first batch before looking at a broken second one."""
    stream = rlp_string(b"\x00first") + b"\xc0"
    it = iter_batch_payloads(stream)
    assert next(it) == b"\x00first"
    with pytest.raises(ChannelError, match="batch 1"):
        next(it)
