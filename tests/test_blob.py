"""OP blob encoding v0: round trips, capacity, bijectivity checks and speed."""

from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.blob import (
    BLOB_SIZE,
    MAX_BLOB_DATA_SIZE,
    BlobError,
    BlobExtraneousDataError,
    BlobExtraneousDataFieldElementError,
    BlobInputTooLargeError,
    BlobInvalidEncodingVersionError,
    BlobInvalidFieldElementError,
    BlobInvalidLengthError,
    blob_from_hex,
    decode_blob,
    encode_blob,
)


def reference_encode(data: bytes) -> bytes:
    """Straightforward per-round encoder written from the spec, to cross-check the sliced one."""
    stream = b"\x00" + len(data).to_bytes(3, "big") + data
    out = bytearray(BLOB_SIZE)
    for r in range(1024):
        chunk = stream[127 * r : 127 * r + 127].ljust(127, b"\x00")
        if 127 * r >= len(stream):
            break
        x, y, z = chunk[31], chunk[63], chunk[95]
        base = 128 * r
        out[base] = x & 0x3F
        out[base + 1 : base + 32] = chunk[0:31]
        out[base + 32] = (y & 0x0F) | ((x & 0xC0) >> 2)
        out[base + 33 : base + 64] = chunk[32:63]
        out[base + 64] = z & 0x3F
        out[base + 65 : base + 96] = chunk[64:95]
        out[base + 96] = ((z & 0xC0) >> 2) | ((y & 0xF0) >> 4)
        out[base + 97 : base + 128] = chunk[96:127]
    return bytes(out)


@settings(max_examples=150)
@given(st.binary(max_size=3000))
def test_small_data_round_trips_and_matches_the_reference_encoder(data: bytes) -> None:
    """decode(encode(x)) == x and the sliced encoder equals a per-round spec encoder."""
    blob = encode_blob(data)
    assert len(blob) == BLOB_SIZE
    assert blob == reference_encode(data)
    assert decode_blob(blob) == data


@settings(max_examples=10)
@given(st.integers(MAX_BLOB_DATA_SIZE - 600, MAX_BLOB_DATA_SIZE), st.integers(0, 2**32))
def test_near_capacity_data_round_trips(size: int, seed: int) -> None:
    """Random data of up to 130044 bytes round trips and every field element stays below 2**254."""
    data = random.Random(seed).randbytes(size)
    blob = encode_blob(data)
    assert all(blob[i] < 0x40 for i in range(0, BLOB_SIZE, 32))
    assert decode_blob(blob) == data


def test_capacity_is_130044_bytes() -> None:
    """MAX_BLOB_DATA_SIZE = (4*31+3)*1024 - 4; one more byte is refused."""
    assert MAX_BLOB_DATA_SIZE == 130044
    encode_blob(bytes(MAX_BLOB_DATA_SIZE))
    with pytest.raises(BlobInputTooLargeError, match="130045 bytes exceeds"):
        encode_blob(bytes(MAX_BLOB_DATA_SIZE + 1))


def test_28_ff_bytes_spill_high_bits_into_bytes_0_and_32() -> None:
    """op-node vector: 28×0xFF → 3f 00 00001c ff×27 | 30 ..."""
    blob = encode_blob(b"\xff" * 28)
    assert blob[:33].hex() == "3f0000001c" + "ff" * 27 + "30"


def _valid_blob() -> bytearray:
    return bytearray(encode_blob(b"this is a test of invalid blob decoding"))


@pytest.mark.parametrize(
    ("offset", "value", "error"),
    [
        (32, 0x80, BlobInvalidFieldElementError),
        (32, 0x40, BlobInvalidFieldElementError),
        (1, 0x01, BlobInvalidEncodingVersionError),
        (2, 0xFF, BlobInvalidLengthError),
    ],
)
def test_mutated_blobs_fail_with_the_matching_error(offset: int, value: int, error: type[BlobError]) -> None:
    """op-node's invalid-mutation table: each mutation maps to one typed error."""
    blob = _valid_blob()
    blob[offset] = value
    with pytest.raises(error):
        decode_blob(bytes(blob))


def test_nonzero_byte_after_the_length_in_the_last_round_is_extraneous() -> None:
    """A 0x01 anywhere in [5, 128) of an empty blob breaks bijectivity inside the round."""
    for i in (5, 31, 33, 64, 127):
        blob = bytearray(BLOB_SIZE)
        blob[i] = 1
        with pytest.raises(BlobExtraneousDataFieldElementError):
            decode_blob(bytes(blob))


def test_nonzero_byte_after_the_last_round_is_extraneous_data() -> None:
    """A 0x01 at or past byte 128 of an empty blob is data outside the used elements."""
    for i in (128, 4096, BLOB_SIZE - 1):
        blob = bytearray(BLOB_SIZE)
        blob[i] = 1
        with pytest.raises(BlobExtraneousDataError, match=f"offset {i}"):
            decode_blob(bytes(blob))


def test_high_bits_in_the_first_byte_spill_into_the_length_check() -> None:
    """Prefix 30 00 000000: x = 0x30 lands after the zero length → extraneous data in the round."""
    blob = bytearray(BLOB_SIZE)
    blob[0] = 0x30
    with pytest.raises(BlobExtraneousDataFieldElementError):
        decode_blob(bytes(blob))


def test_wrong_blob_size_and_bad_hex_are_blob_errors() -> None:
    """A short blob and non-hex text are rejected with the size or the hex problem named."""
    with pytest.raises(BlobError, match="131072 bytes, got 100"):
        decode_blob(bytes(100))
    with pytest.raises(BlobError, match="not valid hex"):
        blob_from_hex("0xzz")
    with pytest.raises(BlobError, match="131072 bytes"):
        blob_from_hex("0x00")


def test_full_blob_encode_and_decode_each_take_under_20_ms() -> None:
    """Median of 20 runs on a full random blob stays under 20 ms each way (sliced implementation)."""
    data = os.urandom(MAX_BLOB_DATA_SIZE)
    enc, dec = [], []
    for _ in range(20):
        t0 = time.perf_counter()
        blob = encode_blob(data)
        t1 = time.perf_counter()
        decode_blob(blob)
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    assert sorted(enc)[10] < 0.020, f"encode median {sorted(enc)[10] * 1000:.2f} ms"
    assert sorted(dec)[10] < 0.020, f"decode median {sorted(dec)[10] * 1000:.2f} ms"


def test_first_byte_top_bits_are_ignored_as_op_node_does() -> None:
    """op-node never checks element 0's top bits (they only feed x's low 6 bits): 0xC0 decodes as empty."""
    blob = bytearray(BLOB_SIZE)
    blob[0] = 0xC0
    assert decode_blob(bytes(blob)) == b""
    blob[32] = 0xC0
    with pytest.raises(BlobInvalidFieldElementError, match="field element 1"):
        decode_blob(bytes(blob))
