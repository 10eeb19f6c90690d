"""Span batches: bitlists, uvarints, round trips, the incremental builder, derivation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.batch import BatchError, SpanBatchError, UnsupportedBatchTypeError, decode_batch
from common.derive.bitlist import bits_of, bits_to_int, encode_bitlist, read_bitlist
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import MAX_SPAN_BATCH_ELEMENT_COUNT, SpanBatch
from common.derive.span_batch_builder import SpanBatchBuilder, span_batch_from_blocks
from common.derive.transaction import Authorization, Transaction
from common.derive.uvarint import put_uvarint, read_uvarint, uvarint_size

CHAIN_ID = 901
GENESIS = 1_700_000_000
BLOCK_TIME = 2
U64 = 2**64 - 1
U256 = 2**256 - 1


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    """Any batchable tx (signatures are random: nothing here recovers senders)."""
    tx_type = draw(st.sampled_from([0, 0, 1, 2, 4]))
    protected = tx_type != 0 or draw(st.booleans())
    to = None if tx_type != 4 and draw(st.integers(0, 4)) == 0 else draw(st.binary(min_size=20, max_size=20))
    access = tuple(
        (
            draw(st.binary(min_size=20, max_size=20)),
            tuple(draw(st.lists(st.binary(min_size=32, max_size=32), max_size=2))),
        )
        for _ in range(draw(st.integers(0, 2) if tx_type != 0 else st.just(0)))
    )
    auths = tuple(
        Authorization(
            draw(st.integers(0, 2**64)),
            draw(st.binary(min_size=20, max_size=20)),
            draw(st.integers(0, U64)),
            draw(st.integers(0, 1)),
            draw(st.integers(0, U256)),
            draw(st.integers(0, U256)),
        )
        for _ in range(draw(st.integers(0, 2)) if tx_type == 4 else 0)
    )
    price = draw(st.integers(0, U256))
    return Transaction(
        tx_type=tx_type,
        chain_id=CHAIN_ID if protected else None,
        nonce=draw(st.integers(0, U64)),
        gas_price=price,
        gas_tip_cap=price if tx_type in (0, 1) else draw(st.integers(0, U256)),
        gas=draw(st.integers(0, U64)),
        to=to,
        value=draw(st.integers(0, U256)),
        data=draw(st.binary(max_size=80)),
        access_list=access,
        authorization_list=auths,
        y_parity=draw(st.integers(0, 1)),
        r=draw(st.integers(0, U256)),
        s=draw(st.integers(0, U256)),
    )


@dataclass(frozen=True)
class Chain:
    batches: list[SingularBatch]
    first_seq: int


@st.composite
def chains(draw: st.DrawFn, max_blocks: int = 8) -> Chain:
    """Consecutive L2 blocks: timestamps +2 s, L1 origin advancing by 0 or 1 per block."""
    count = draw(st.integers(1, max_blocks))
    epoch = draw(st.integers(0, 2**40))
    ts = GENESIS + BLOCK_TIME * draw(st.integers(0, 10**6))
    parent = draw(st.binary(min_size=32, max_size=32))
    out = []
    for i in range(count):
        if i > 0:
            epoch += draw(st.integers(0, 1))
            ts += BLOCK_TIME
        txs = tuple(tx.encode() for tx in draw(st.lists(transactions(), max_size=4)))
        epoch_hash = epoch.to_bytes(32, "big")
        out.append(SingularBatch(parent, epoch, epoch_hash, ts, txs))
        parent = draw(st.binary(min_size=32, max_size=32))
    return Chain(out, draw(st.integers(0, 3)))


def _build(chain: Chain) -> SpanBatchBuilder:
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    for i, batch in enumerate(chain.batches):
        builder.append_singular(batch, chain.first_seq if i == 0 else 1)
    return builder


# --- primitives -------------------------------------------------------------------------------


def test_bitlist_element_zero_is_lsb_of_last_byte() -> None:
    """Element 0 is the least-significant bit of the last byte, padded on the left."""
    bits = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # elements 0 and 9 set
    assert encode_bitlist(bits_to_int(bits), 10) == bytes([0b10, 0b1])
    value, end = read_bitlist(bytes([0b10, 0b1]), 0, 10, "t")
    assert bits_of(value, 10) == bits and end == 2


def test_bitlist_with_bits_beyond_its_length_is_rejected() -> None:
    """A set bit at position >= n is invalid, on decode and on encode."""
    with pytest.raises(SpanBatchError, match="beyond its 10 elements"):
        read_bitlist(bytes([0b100, 0]), 0, 10, "origin_bits")
    with pytest.raises(SpanBatchError):
        encode_bitlist(1 << 10, 10)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 300).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.integers(0, 1), min_size=n, max_size=n))
    )
)
def test_bitlists_round_trip(case: tuple[int, list[int]]) -> None:
    """Any bit sequence encodes to ceil(n/8) bytes and decodes back."""
    n, bits = case
    raw = encode_bitlist(bits_to_int(bits), n)
    assert len(raw) == (n + 7) // 8
    value, end = read_bitlist(raw, 0, n, "t")
    assert bits_of(value, n) == bits and end == len(raw)


@given(st.integers(0, U64))
def test_uvarints_round_trip_with_exact_size(value: int) -> None:
    """uvarint encode/decode is the identity and uvarint_size predicts the length."""
    out = bytearray()
    put_uvarint(out, value)
    assert len(out) == uvarint_size(value)
    assert read_uvarint(bytes(out), 0, "t") == (value, len(out))


def test_uvarint_overflow_is_rejected() -> None:
    """More than 64 bits (Go binary.ReadUvarint overflow) is an error."""
    with pytest.raises(SpanBatchError, match="overflows uint64"):
        read_uvarint(b"\xff" * 9 + b"\x02", 0, "rel_timestamp")
    assert read_uvarint(b"\xff" * 9 + b"\x01", 0, "t") == (U64, 10)


# --- round trips ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(chains())
def test_span_batch_decode_of_encode_is_identity(chain: Chain) -> None:
    """decode(encode(x)) == x, and encode(decode(b)) == b."""
    batch = SpanBatch.from_singular_batches(chain.batches, chain.first_seq, GENESIS, CHAIN_ID)
    raw = batch.encode()
    assert SpanBatch.decode(raw) == batch
    assert SpanBatch.decode(raw).encode() == raw


@settings(max_examples=40, deadline=None)
@given(chains())
def test_incremental_builder_matches_from_scratch_encoding(chain: Chain) -> None:
    """Appending block by block gives the same bytes as building in one go, with an exact size."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    for i, batch in enumerate(chain.batches):
        builder.append_singular(batch, chain.first_seq if i == 0 else 1)
        prefix = SpanBatch.from_singular_batches(chain.batches[: i + 1], chain.first_seq, GENESIS, CHAIN_ID)
        encoded = builder.encode()
        assert encoded == prefix.encode()
        assert builder.encoded_size == len(encoded)


@settings(max_examples=40, deadline=None)
@given(chains(), st.data())
def test_undo_and_restore_return_to_earlier_encodings(chain: Chain, data: st.DataObject) -> None:
    """undo_last / restore(mark) give exactly the bytes of the shorter span batch."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    encodings = []
    for i, batch in enumerate(chain.batches):
        builder.append_singular(batch, chain.first_seq if i == 0 else 1)
        encodings.append(builder.encode())
    keep = data.draw(st.integers(1, len(chain.batches)))
    builder.restore(keep)
    assert builder.encode() == encodings[keep - 1]
    assert builder.encoded_size == len(encodings[keep - 1])
    if keep > 1:
        builder.undo_last()
        assert builder.encode() == encodings[keep - 2]
    for i in range(builder.block_count, len(chain.batches)):
        builder.append_singular(chain.batches[i], 1)
    assert builder.encode() == encodings[-1]


@settings(max_examples=40, deadline=None)
@given(chains())
def test_derived_blocks_equal_the_input_blocks(chain: Chain) -> None:
    """Derivation gives back every block's timestamp, L1 origin number and exact tx bytes."""
    batch = _build(chain).build()
    blocks = batch.derive_blocks(GENESIS, BLOCK_TIME, CHAIN_ID)
    assert [b.timestamp for b in blocks] == [s.timestamp for s in chain.batches]
    assert [b.epoch_num for b in blocks] == [s.epoch_num for s in chain.batches]
    assert [b.transactions for b in blocks] == [s.transactions for s in chain.batches]
    assert batch.parent_check == chain.batches[0].parent_hash[:20]
    assert batch.l1_origin_check == chain.batches[-1].epoch_hash[:20]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_only_raises_batch_errors(junk: bytes) -> None:
    """Random bytes after the type byte either decode or raise a BatchError, never anything else."""
    try:
        batch = SpanBatch.decode(b"\x01" + junk, allow_trailing=True)
    except BatchError:
        return
    assert SpanBatch.decode(batch.encode()) == batch


# --- construction rules -----------------------------------------------------------------------


def _plain_chain(epochs: list[int], first_seq: int) -> list[SingularBatch]:
    return [
        SingularBatch(bytes([i + 1]) * 32, e, e.to_bytes(32, "big"), GENESIS + 10 + 2 * i, ())
        for i, e in enumerate(epochs)
    ]


def test_origin_bit_zero_follows_the_first_sequence_number() -> None:
    """Origin bit 0 is set iff the first block opens its epoch (seq 0); later bits mark epoch changes."""
    batches = _plain_chain([5, 5, 6, 6, 7], 0)
    opened = SpanBatch.from_singular_batches(batches, 0, GENESIS, CHAIN_ID)
    assert bits_of(opened.origin_bits, 5) == [1, 0, 1, 0, 1]
    mid_epoch = SpanBatch.from_singular_batches(batches, 3, GENESIS, CHAIN_ID)
    assert bits_of(mid_epoch.origin_bits, 5) == [0, 0, 1, 0, 1]
    assert mid_epoch.start_epoch_num == 5 and opened.start_epoch_num == 5
    assert opened.rel_timestamp == 10 and opened.l1_origin_num == 7


def test_builder_rejects_a_foreign_chain_id_and_stays_unchanged() -> None:
    """A tx for another chain is refused and the builder keeps its previous bytes."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    builder.append_singular(_plain_chain([5], 0)[0], 0)
    before = builder.encode()
    foreign = Transaction(2, 10, 0, 1, 1, 21000, b"\x11" * 20, 0, b"", (), (), 0, 1, 1).encode()
    bad = SingularBatch(b"\x02" * 32, 5, (5).to_bytes(32, "big"), GENESIS + 12, (foreign,))
    with pytest.raises(SpanBatchError, match="chain ID 10, but expected chain ID 901"):
        builder.append_singular(bad, 1)
    assert builder.encode() == before and builder.block_count == 1


def test_builder_rejects_deposits_and_blob_txs() -> None:
    """Deposits and blob txs cannot be represented; the error names the tx."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    for raw in (b"\x7e\xc0", b"\x03\xc0"):
        batch = SingularBatch(b"\x02" * 32, 5, b"\x05" * 32, GENESIS, (raw,))
        with pytest.raises(SpanBatchError, match="tx 0"):
            builder.append_singular(batch, 0)
    assert builder.block_count == 0 and builder.encoded_size == 0


def test_builder_rejects_non_increasing_timestamps() -> None:
    """A v1 span batch cannot hold two blocks with the same timestamp."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    batch = _plain_chain([5], 0)[0]
    builder.append_singular(batch, 0)
    with pytest.raises(SpanBatchError, match="increasing timestamps"):
        builder.append_singular(batch, 1)


# --- decode limits ----------------------------------------------------------------------------


def _prefix(block_count: int) -> bytearray:
    out = bytearray(b"\x01")
    put_uvarint(out, 1)
    put_uvarint(out, 1)
    out += b"\x00" * 40
    put_uvarint(out, block_count)
    return out


def test_empty_span_batch_is_rejected() -> None:
    """block_count 0 is invalid."""
    with pytest.raises(SpanBatchError, match="block_count is 0"):
        SpanBatch.decode(bytes(_prefix(0)))


def test_block_count_above_the_element_limit_is_rejected() -> None:
    """block_count > MAX_SPAN_BATCH_ELEMENT_COUNT is refused before any allocation."""
    with pytest.raises(SpanBatchError, match="exceeds 10000000"):
        SpanBatch.decode(bytes(_prefix(MAX_SPAN_BATCH_ELEMENT_COUNT + 1)))


def test_total_tx_count_above_the_element_limit_is_rejected() -> None:
    """The sum of block_tx_counts is capped as well."""
    raw = _prefix(2) + b"\x00"
    put_uvarint(raw, MAX_SPAN_BATCH_ELEMENT_COUNT)
    put_uvarint(raw, 1)
    with pytest.raises(SpanBatchError, match="total tx count exceeds"):
        SpanBatch.decode(bytes(raw))


def test_truncated_and_trailing_data_are_reported() -> None:
    """Missing bytes and bytes after the body are errors (trailing bytes optional like op-node)."""
    batch = SpanBatch.from_singular_batches(_plain_chain([5, 6], 0), 0, GENESIS, CHAIN_ID)
    raw = batch.encode()
    with pytest.raises(SpanBatchError):
        SpanBatch.decode(raw[:-1])
    with pytest.raises(SpanBatchError, match="1 trailing bytes"):
        SpanBatch.decode(raw + b"\x00")
    assert SpanBatch.decode(raw + b"\x00", allow_trailing=True) == batch


def test_unsupported_tx_type_in_tx_datas_is_rejected() -> None:
    """A tx_data that starts with type 3 (blob) cannot be decoded."""
    tx = Transaction(2, CHAIN_ID, 0, 1, 1, 21000, b"\x11" * 20, 0, b"", (), (), 0, 1, 1)
    batch = SpanBatch.from_singular_batches(
        [SingularBatch(b"\x01" * 32, 1, b"\x01" * 32, GENESIS, (tx.encode(),))], 0, GENESIS, CHAIN_ID
    )
    raw = bytearray(batch.encode())
    index = raw.index(bytes([2]) + batch.tx_datas[0][1:])
    raw[index] = 3
    with pytest.raises(SpanBatchError, match="unsupported tx type 0x03"):
        SpanBatch.decode(bytes(raw))


def test_span_batch_v2_is_rejected_with_a_clear_message() -> None:
    """Batch type 2 is not supported, with the agreed message, from both entry points."""
    with pytest.raises(UnsupportedBatchTypeError, match=r"span batch v2 \(batch type 2\) is not supported"):
        decode_batch(b"\x02\x0a")
    with pytest.raises(UnsupportedBatchTypeError, match="not supported"):
        SpanBatch.decode(b"\x02\x0a")


def test_decode_batch_dispatches_on_the_type_byte() -> None:
    """0 gives a SingularBatch, 1 a SpanBatch, anything else an error naming the byte."""
    single = _plain_chain([5], 0)[0]
    assert decode_batch(single.encode()) == single
    span = SpanBatch.from_singular_batches([single], 0, GENESIS, CHAIN_ID)
    assert decode_batch(span.encode()) == span
    with pytest.raises(UnsupportedBatchTypeError, match="0x07"):
        decode_batch(b"\x07")
    with pytest.raises(BatchError, match="empty"):
        decode_batch(b"")


def test_derivation_rebuilds_v_for_each_legacy_kind() -> None:
    """Protected legacy txs get v = 2*chainId+35+y and unprotected ones v = 27+y after derivation."""
    txs = [
        Transaction(0, chain, 1, 5, 5, 21000, b"\x22" * 20, 3, b"\x01", (), (), y, 7, 8)
        for chain, y in ((CHAIN_ID, 1), (None, 0), (None, 1))
    ]
    single = SingularBatch(b"\x01" * 32, 1, b"\x01" * 32, GENESIS, tuple(t.encode() for t in txs))
    span = SpanBatch.from_singular_batches([single], 0, GENESIS, CHAIN_ID)
    assert bits_of(span.protected_bits, 3) == [1, 0, 0]
    assert span.legacy_count == 3
    derived = span.full_transactions(CHAIN_ID)
    assert [t.v for t in derived] == [2 * CHAIN_ID + 36, 27, 28]


def test_span_batch_from_blocks_uses_each_blocks_origin_and_sequence_number() -> None:
    """BlockInputs go in as their L1 origin and sequence number say; derivation returns them."""
    from common.derive.block_ref import BlockID
    from common.derive.l1_info import L1Info
    from common.derive.l2_block import BlockInput

    tx = Transaction(2, CHAIN_ID, 4, 9, 1, 21000, b"\x11" * 20, 5, b"\x01\x02", (), (), 1, 3, 4).encode()
    blocks = []
    for i, (epoch, seq) in enumerate([(7, 2), (7, 3), (8, 0)]):
        info = L1Info(epoch, 0, 0, bytes([epoch]) * 32, seq, b"\x00" * 32)
        blocks.append(
            BlockInput(
                10 + i,
                bytes([i + 1]) * 32,
                bytes([i]) * 32,
                GENESIS + 20 + 2 * i,
                BlockID(info.hash, epoch),
                seq,
                (tx,) * i,
                info,
            )
        )
    span = span_batch_from_blocks(blocks, GENESIS, CHAIN_ID)
    assert bits_of(span.origin_bits, 3) == [0, 0, 1]
    assert span.parent_check == b"\x00" * 20 and span.l1_origin_check == b"\x08" * 20
    derived = span.derive_blocks(GENESIS, BLOCK_TIME, CHAIN_ID)
    assert [(b.timestamp, b.epoch_num, b.transactions) for b in derived] == [
        (blk.timestamp, blk.l1_origin.number, blk.transactions) for blk in blocks
    ]


def test_set_code_creation_cannot_be_derived() -> None:
    """A type-4 tx whose creation bit is set is invalid when the block is derived."""
    tx = Transaction(4, CHAIN_ID, 0, 1, 1, 21000, b"\x11" * 20, 0, b"", (), (), 0, 1, 1)
    single = SingularBatch(b"\x01" * 32, 1, b"\x01" * 32, GENESIS, (tx.encode(),))
    span = SpanBatch.from_singular_batches([single], 0, GENESIS, CHAIN_ID)
    broken = dataclasses.replace(span, contract_creation_bits=1, tx_tos=())
    with pytest.raises(SpanBatchError, match="tx 0: set-code"):
        broken.derive_blocks(GENESIS, BLOCK_TIME, CHAIN_ID)


def test_builder_rejects_l1_origin_jumps_and_reversals() -> None:
    """Between blocks the L1 origin may only stay or advance by one (all origin_bits can say)."""
    builder = SpanBatchBuilder(GENESIS, CHAIN_ID)
    first, second = _plain_chain([5, 7], 0)
    builder.append_singular(first, 0)
    with pytest.raises(SpanBatchError, match="7 after 5"):
        builder.append_singular(second, 0)
    backwards = dataclasses.replace(second, epoch_num=4)
    with pytest.raises(SpanBatchError, match="4 after 5"):
        builder.append_singular(backwards, 0)
    assert builder.block_count == 1
