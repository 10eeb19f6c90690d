"""The core's RLP module: codec agrees with pyrlp, strictness, and scanners agree with decoding."""

from __future__ import annotations

from typing import Any

import pytest
import rlp as pyrlp
from hypothesis import given
from hypothesis import strategies as st

from common.derive.rlp import (
    UINT64_MAX,
    RlpError,
    RlpTruncatedError,
    decode_bytes,
    decode_list,
    decode_uint,
    expect_list,
    item_at,
    length_prefix,
    list_spans,
    rlp_decode,
    rlp_encode,
    rlp_list,
    rlp_string,
    rlp_string_size,
    span_bytes,
    span_uint,
    string_at,
)

edge_bytes = st.sampled_from([b"", b"\x00", b"\x7f", b"\x80", bytes(55), bytes(56)])
leaves = st.binary(max_size=70) | st.integers(0, 2**256 - 1) | edge_bytes
items = st.recursive(leaves, lambda children: st.lists(children, max_size=6), max_leaves=25)


def as_decoded(item: Any) -> Any:
    """What decoding returns for an encodable item (ints come back as minimal big-endian bytes)."""
    if isinstance(item, int):
        return item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, list):
        return [as_decoded(x) for x in item]
    return item


def pyrlp_outcome(data: bytes) -> Any:
    """pyrlp's strict decode, or the marker 'error' when it refuses the input."""
    try:
        return pyrlp.decode(data, strict=True)
    except (pyrlp.exceptions.DecodingError, IndexError):
        return "error"


def our_outcome(data: bytes) -> Any:
    try:
        return rlp_decode(data)
    except RlpError:
        return "error"


@given(items)
def test_encoding_matches_pyrlp_and_decodes_back(item: Any) -> None:
    """rlp_encode gives pyrlp's bytes; rlp_decode inverts it; pyrlp decodes it to the same value."""
    encoded = rlp_encode(item)
    assert encoded == pyrlp.encode(item)
    assert rlp_decode(encoded) == as_decoded(item) == pyrlp.decode(encoded)


@given(items, st.data())
def test_decoder_accepts_exactly_what_pyrlp_accepts_on_mutated_input(item: Any, data: st.DataObject) -> None:
    """Flip, drop or insert one byte of a valid encoding: both decoders agree on accept/refuse and value."""
    encoded = bytearray(rlp_encode(item))
    pos = data.draw(st.integers(0, len(encoded) - 1))
    action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    if action == "flip":
        encoded[pos] ^= data.draw(st.integers(1, 255))
    elif action == "drop":
        del encoded[pos]
    else:
        encoded.insert(pos, data.draw(st.integers(0, 255)))
    mutated = bytes(encoded)
    assert our_outcome(mutated) == pyrlp_outcome(mutated)


@given(items)
def test_every_strict_prefix_is_reported_as_truncated(item: Any) -> None:
    """Cutting an encoding short anywhere raises RlpTruncatedError, never a wrong value."""
    encoded = rlp_encode(item)
    for cut in range(len(encoded)):
        with pytest.raises(RlpTruncatedError):
            rlp_decode(encoded[:cut])


@pytest.mark.parametrize(
    "bad,why",
    [
        ("8101", "non-canonical"),  # single byte < 0x80 wrapped as a string
        ("8100", "non-canonical"),
        ("b80100", "non-canonical"),  # long form for a 1-byte string
        ("b8370000", "non-canonical"),  # long form for 55 bytes (the short limit)
        ("b90000" + "00" * 300, "leading zero"),  # length with a leading zero byte
        ("f800", "non-canonical"),  # long list form for an empty list
        ("f90000", "leading zero"),
        ("c10000", "trailing"),  # one item, then a byte outside the list
        ("0000", "trailing"),
        ("c28100", "non-canonical"),  # the wrapped single byte inside a list
    ],
)
def test_non_canonical_and_trailing_encodings_are_refused_like_pyrlp(bad: str, why: str) -> None:
    """Each non-canonical form raises RlpError saying why; pyrlp refuses the same bytes."""
    raw = bytes.fromhex(bad)
    with pytest.raises(RlpError, match=why):
        rlp_decode(raw)
    assert pyrlp_outcome(raw) == "error"


def test_errors_name_the_field_and_keep_it_as_an_attribute() -> None:
    """A field name given to the decoder starts the message and is kept on the exception."""
    with pytest.raises(RlpError, match=r"^parent_hash: ") as info:
        rlp_decode(b"\x81\x01", "parent_hash")
    assert info.value.field == "parent_hash"
    with pytest.raises(RlpError, match=r"^nonce: non-canonical integer"):
        decode_uint(b"\x00\x05", "nonce")
    with pytest.raises(RlpError, match=r"^gas: value 18446744073709551616 out of range"):
        decode_uint((UINT64_MAX + 1).to_bytes(9, "big"), "gas", UINT64_MAX)
    with pytest.raises(RlpError, match=r"^to: expected 20 bytes, got 3"):
        decode_bytes(b"abc", "to", 20)
    with pytest.raises(RlpError, match=r"^txs: expected an RLP list"):
        expect_list(b"abc", "txs")
    with pytest.raises(RlpError, match=r"^legacy tx: expected 9 fields, got 2"):
        decode_list(rlp_encode([1, 2]), "legacy tx", 9)


@given(st.lists(items, max_size=8))
def test_list_spans_agree_with_full_decoding(elements: list[Any]) -> None:
    """Each span re-decodes to the element full decoding gives, and string spans hold its payload."""
    encoded = b"\x01" + rlp_encode(elements)  # behind a type byte, as typed txs are
    spans = list_spans(encoded, 1, len(encoded))
    decoded = rlp_decode(encoded[1:])
    assert isinstance(decoded, list) and len(spans) == len(decoded)
    for (item_start, start, stop, is_list), value in zip(spans, decoded, strict=True):
        assert rlp_decode(encoded[item_start:stop]) == value
        assert is_list == isinstance(value, list)
        if not is_list:
            assert span_bytes(encoded, (item_start, start, stop, is_list), "f") == value
    assert rlp_list(encoded[s[0] : s[2]] for s in spans) == encoded[1:]


@given(st.lists(st.integers(0, 2**256 - 1), max_size=8))
def test_span_uint_reads_the_integers_full_decoding_reads(values: list[int]) -> None:
    """span_uint over list_spans gives back the encoded integers."""
    encoded = rlp_encode(values)
    spans = list_spans(encoded, 0, len(encoded))
    assert [span_uint(encoded, span, f"v{i}") for i, span in enumerate(spans)] == values
    assert [decode_uint(x, "v") for x in expect_list(rlp_decode(encoded), "values")] == values


def test_span_uint_and_list_spans_refuse_what_decoding_refuses() -> None:
    """Leading zeros, a list where an integer belongs, a string where a list belongs, bytes after the list."""
    data = bytes.fromhex("c4820001c0")
    spans = list_spans(data, 0, len(data))
    with pytest.raises(RlpError, match="leading zero"):
        span_uint(data, spans[0], "nonce")
    with pytest.raises(RlpError, match="got a list"):
        span_uint(data, spans[1], "gas")
    with pytest.raises(RlpError, match="found a string"):
        list_spans(b"\x83abc", 0, 4)
    with pytest.raises(RlpError, match="1 bytes after the RLP list"):
        list_spans(b"\xc0\x00", 0, 2)


@given(st.lists(st.binary(min_size=0, max_size=120), max_size=6))
def test_string_at_walks_a_stream_of_strings_like_pyrlp(payloads: list[bytes]) -> None:
    """Walking concatenated rlp_string()s with string_at recovers each payload (memoryview input too)."""
    stream = b"".join(rlp_string(p) for p in payloads)
    for buf in (stream, memoryview(stream)):
        pos, found = 0, []
        while pos < len(buf):
            start, stop = string_at(buf, pos, len(buf))
            found.append(bytes(buf[start:stop]))
            assert found[-1] == pyrlp.decode(stream[pos:stop])
            pos = stop
        assert found == payloads


def test_string_at_refuses_lists_and_reports_truncation_separately() -> None:
    """A list is malformed (RlpError), a cut-off string is RlpTruncatedError naming the field."""
    with pytest.raises(RlpError, match="found a list") as info:
        string_at(b"\xc2\x01\x02", 0, 3, "batch 0")
    assert not isinstance(info.value, RlpTruncatedError)
    with pytest.raises(RlpTruncatedError, match=r"^batch 1: truncated"):
        string_at(b"\x83ab", 0, 3, "batch 1")
    with pytest.raises(RlpTruncatedError, match="truncated RLP length"):
        string_at(b"\xb9\x01", 0, 2)


@given(st.binary(max_size=300))
def test_rlp_string_size_predicts_the_wrapped_length(payload: bytes) -> None:
    """rlp_string is pyrlp's string encoding; rlp_string_size matches it except for one byte < 0x80."""
    wrapped = rlp_string(payload)
    assert wrapped == pyrlp.encode(payload)
    if not (len(payload) == 1 and payload[0] < 0x80):
        assert rlp_string_size(len(payload)) == len(wrapped)


@given(st.integers(0, 2**64 - 1), st.sampled_from([0x80, 0xC0]))
def test_length_prefix_decodes_to_its_length(length: int, offset: int) -> None:
    """item_at reads back the length a prefix announces; a huge one without its payload is truncated."""
    with pytest.raises(RlpError, match="limited to 8 bytes"):
        length_prefix(2**64, offset)
    prefix = length_prefix(length, offset)
    if length > 1000:
        with pytest.raises(RlpTruncatedError):
            item_at(prefix, 0, len(prefix))
        return
    data = prefix + b"\x80" * length  # 0x80 payload bytes, so a 1-byte string stays canonical
    start, stop, is_list = item_at(data, 0, len(data))
    assert (start, stop - start, is_list) == (len(prefix), length, offset == 0xC0)


def test_encoder_refuses_what_has_no_rlp_form() -> None:
    """Negative ints, booleans and text are errors rather than guessed encodings."""
    for bad in (-1, True, "text", 1.5):
        with pytest.raises(RlpError):
            rlp_encode(bad)
    assert rlp_encode(bytearray(b"\x05")) == b"\x05"
    assert rlp_encode((1, [b""])) == bytes.fromhex("c301c180")
