"""Singular batches (type 0): layout, round trips, malformed input."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from common.derive.batch import SingularBatchError, rlp_string, rlp_string_size
from common.derive.singular_batch import SingularBatch

hashes = st.binary(min_size=32, max_size=32)
singular_batches = st.builds(
    SingularBatch,
    parent_hash=hashes,
    epoch_num=st.integers(0, 2**64 - 1),
    epoch_hash=hashes,
    timestamp=st.integers(0, 2**64 - 1),
    transactions=st.lists(st.binary(min_size=1, max_size=200), max_size=6).map(tuple),
)


@given(singular_batches)
def test_singular_batch_round_trips(batch: SingularBatch) -> None:
    """decode(encode(b)) == b for any field values."""
    assert SingularBatch.decode(batch.encode()) == batch


def test_layout_is_type_byte_then_rlp_list_with_txs_as_strings() -> None:
    """0x00 ++ rlp([parent, epoch, epoch_hash, timestamp, [tx strings]]), typed txs as byte strings."""
    tx = bytes.fromhex("02c0")  # a typed tx's bytes go in as an RLP string, not a list
    batch = SingularBatch(b"\x11" * 32, 0x0102, b"\x22" * 32, 0x0A, (tx,))
    raw = batch.encode()
    assert raw[0] == 0x00
    expected_payload = (
        bytes([0xA0])
        + b"\x11" * 32
        + bytes([0x82, 0x01, 0x02])
        + bytes([0xA0])
        + b"\x22" * 32
        + bytes([0x0A])
        + bytes([0xC3, 0x82, 0x02, 0xC0])
    )
    assert len(expected_payload) == 74
    assert raw[1:] == bytes([0xF8, 74]) + expected_payload


def test_wrong_type_byte_is_rejected() -> None:
    """A singular batch must start with 0x00."""
    with pytest.raises(SingularBatchError, match="expected type byte 0x00, got 0x01"):
        SingularBatch.decode(b"\x01\xc0")


def test_malformed_fields_are_named() -> None:
    """Wrong item count, short hashes, list-valued ints and empty txs each name the problem."""
    with pytest.raises(SingularBatchError, match="5 items"):
        SingularBatch.decode(b"\x00" + rlp.encode([b"\x11" * 32, 1]))
    with pytest.raises(SingularBatchError, match="parent_hash"):
        SingularBatch.decode(b"\x00" + rlp.encode([b"\x11" * 31, 1, b"\x22" * 32, 1, []]))
    with pytest.raises(SingularBatchError, match="epoch_num"):
        SingularBatch.decode(b"\x00" + rlp.encode([b"\x11" * 32, [], b"\x22" * 32, 1, []]))
    with pytest.raises(SingularBatchError, match="transaction 0 is empty"):
        SingularBatch.decode(b"\x00" + rlp.encode([b"\x11" * 32, 1, b"\x22" * 32, 1, [b""]]))
    with pytest.raises(SingularBatchError, match="invalid RLP"):
        SingularBatch.decode(b"\x00\xc5\x01")


@given(st.binary(max_size=70_000))
def test_rlp_string_wrapping_matches_pyrlp_and_predicted_size(payload: bytes) -> None:
    """The channel wrapper of a batch is a plain RLP string; its size is predicted exactly."""
    wrapped = rlp_string(payload)
    assert wrapped == rlp.encode(payload)
    if len(payload) != 1 or payload[0] >= 0x80:
        assert rlp_string_size(len(payload)) == len(wrapped)
