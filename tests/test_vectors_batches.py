"""Batch-level shared vectors (../shared/vectors): every asserted_upstream value, plus derived_here.

Channels, frames and blobs are read with H1's frame/channel/blob modules; everything from the
batch type byte down is ours.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import pytest
from eth_account import Account

from batcher.vectors import require_vectors
from common.derive.batch import UnsupportedBatchTypeError, decode_batch
from common.derive.bitlist import bits_of, read_bitlist
from common.derive.blob import decode_blob
from common.derive.channel import read_channel
from common.derive.frame import parse_frame, parse_frames
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch, decode_span_batch_prefix
from common.derive.span_batch_builder import SpanBatchBuilder
from common.derive.transaction import decode_transaction
from common.derive.uvarint import read_uvarint

VECTORS = require_vectors()

OP_MAINNET_GENESIS, OP_MAINNET_CHAIN_ID = 1686068903, 10


@cache
def expected(folder: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / folder / "expected.json").read_text())
    return data


def _hex_file(path: str) -> bytes:
    text = (VECTORS / path).read_text().strip()
    return bytes.fromhex(text.removeprefix("0x"))


def _single_span_batch_from_channel(channel: bytes) -> tuple[SpanBatch, int]:
    read = read_channel(channel, fjord=True)
    assert read.error is None
    assert len(read.payloads) == 1
    batch = decode_batch(read.payloads[0])
    assert isinstance(batch, SpanBatch)
    return batch, read.uncompressed_len


def check_span_fields(batch: SpanBatch, exp: dict[str, Any]) -> None:
    """Compare a decoded span batch with a derived_here.span_batch record."""
    assert batch.rel_timestamp == exp["rel_timestamp"]
    assert batch.l1_origin_num == exp["l1_origin_num"]
    assert batch.parent_check.hex() == exp["parent_check"]
    assert batch.l1_origin_check.hex() == exp["l1_origin_check"]
    assert batch.block_count == exp["block_count"]
    assert batch.tx_count == exp["tx_count"]
    assert "".join(map(str, bits_of(batch.origin_bits, batch.block_count))) == exp["origin_bits"]
    assert list(batch.block_tx_counts) == exp["block_tx_counts"]
    types: dict[str, int] = {}
    for t in batch.tx_types:
        types[str(t)] = types.get(str(t), 0) + 1
    assert types == exp["tx_type_counts"]
    assert batch.contract_creation_bits.bit_count() == exp["contract_creation_count"]
    assert batch.legacy_count == exp["legacy_count"]
    assert batch.protected_bits.bit_count() == exp["protected_legacy_count"]
    assert len(batch.encode_body()) == exp["encoded_len_without_type_byte"]


def check_derived_blocks(batch: SpanBatch, exp: dict[str, Any], genesis: int, chain_id: int) -> None:
    """Timestamps, L1 origins, tx counts (and tx hashes when listed) of every derived block."""
    blocks = batch.derive_blocks(genesis, 2, chain_id)
    assert [[b.timestamp, b.epoch_num, len(b.transactions)] for b in blocks] == exp["blocks"]
    first, last = exp["first_block"], exp["last_block"]
    assert (blocks[0].timestamp, blocks[0].epoch_num, len(blocks[0].transactions)) == (
        first["timestamp"],
        first["epoch_num"],
        first["tx_count"],
    )
    assert (blocks[-1].timestamp, blocks[-1].epoch_num, len(blocks[-1].transactions)) == (
        last["timestamp"],
        last["epoch_num"],
        last["tx_count"],
    )
    if "tx_hashes" in exp:
        assert [h.hex() for b in blocks for h in b.tx_hashes] == exp["tx_hashes"]


# --- V3: hildr blob9, real OP Sepolia blob through the whole pipeline -------------------------


def test_hildr_sepolia_blob_decodes_to_the_expected_span_batch() -> None:
    """blob -> data (asserted 3220 bytes = blob9_decode) -> frame -> zlib -> 22-block span batch."""
    exp = expected("hildr")["blob9.txt + blob9_decode.txt"]
    data = decode_blob(_hex_file("hildr/blob9.txt"))
    assert data == _hex_file("hildr/blob9_decode.txt")
    assert len(data) == exp["asserted_upstream"]["decoded_len"]
    frames = parse_frames(data)
    assert [(f.channel_id.hex(), f.number, len(f.data), f.is_last) for f in frames] == [
        (f["channel_id"], f["frame_number"], f["frame_data_length"], f["is_last"])
        for f in exp["derived_here"]["frames"]
    ]
    batch, uncompressed = _single_span_batch_from_channel(frames[0].data)
    assert uncompressed == exp["derived_here"]["decompressed_len"]
    span = exp["derived_here"]["span_batch"]
    check_span_fields(batch, span)
    chain = exp["derived_here"]["chain_assumed"]
    check_derived_blocks(batch, span, chain["l2_genesis_time"], chain["l2_chain_id"])


# --- V4 / V5: magi batcher calldata ------------------------------------------------------------


def test_magi_span_batch_calldata() -> None:
    """Asserted: a version-1 batch whose tx count equals sum(block_tx_counts); derived fields and hashes."""
    exp = expected("magi")["batcher_tx_data_span_batch.hex"]
    frames = parse_frames(_hex_file("magi/batcher_tx_data_span_batch.hex"))
    assert len(frames) == 1 and frames[0].is_last
    read = read_channel(frames[0].data, fjord=True)
    assert read.error is None and read.payloads[0][0] == exp["asserted_upstream"]["batch_version"]
    batch = decode_batch(read.payloads[0])
    assert isinstance(batch, SpanBatch)
    assert batch.tx_count == sum(batch.block_tx_counts)
    span = exp["derived_here"]["span_batch"]
    check_span_fields(batch, span)
    chain = exp["derived_here"]["chain_assumed"]
    check_derived_blocks(batch, span, chain["l2_genesis_time"], chain["l2_chain_id"])


def test_magi_singular_batches_calldata() -> None:
    """Asserted frame header values, then the 6 singular batches field by field."""
    exp = expected("magi")["batcher_tx_data_single_frame.hex"]
    up = exp["asserted_upstream"]
    data = _hex_file("magi/batcher_tx_data_single_frame.hex")
    assert data[0] == up["version"]
    (frame,) = parse_frames(data)
    assert int.from_bytes(frame.channel_id, "big") == int(up["channel_id_decimal"])
    assert len(frame.data) == up["frame_data_len"] and frame.is_last is up["is_last"]
    assert frame.data == data[23 : len(data) - 1]
    read = read_channel(frame.data, fjord=False)
    assert read.error is None and read.uncompressed_len == exp["derived_here"]["decompressed_len"]
    batches = [decode_batch(p) for p in read.payloads]
    assert all(isinstance(b, SingularBatch) for b in batches)
    got = [
        {
            "parent_hash": b.parent_hash.hex(),
            "epoch_num": b.epoch_num,
            "epoch_hash": b.epoch_hash.hex(),
            "timestamp": b.timestamp,
            "tx_count": len(b.transactions),
        }
        for b in batches
        if isinstance(b, SingularBatch)
    ]
    assert got == exp["derived_here"]["singular_batches"]
    for b in batches:
        assert isinstance(b, SingularBatch)
        assert b.encode() == read.payloads[batches.index(b)]
        for raw in b.transactions:
            assert decode_transaction(raw).encode() == raw


# --- V6: kona batch.hex ------------------------------------------------------------------------


def test_kona_channel_span_batch_decodes_fast_and_fills_the_channel() -> None:
    """Asserted: the one batch consumes all 1409463 uncompressed bytes and is a span batch."""
    exp = expected("kona")["batch.hex"]
    read = read_channel(_hex_file("kona/batch.hex"), fjord=True)
    assert read.error is None
    assert read.uncompressed_len == exp["asserted_upstream"]["decompressed_len"]
    assert len(read.payloads) == 1
    started = time.perf_counter()
    batch = decode_batch(read.payloads[0])
    elapsed = time.perf_counter() - started
    assert isinstance(batch, SpanBatch)
    assert elapsed < 1.0, f"decoding the 1.4 MB span batch took {elapsed:.3f}s"
    span = exp["derived_here"]["span_batch"]
    check_span_fields(batch, span)
    check_derived_blocks(batch, span, OP_MAINNET_GENESIS, OP_MAINNET_CHAIN_ID)
    assert batch.encode() == read.payloads[0]


def test_kona_span_batch_rebuilds_identically_through_the_incremental_builder() -> None:
    """Derive the 143 blocks, append them one by one, and get the original bytes back."""
    read = read_channel(_hex_file("kona/batch.hex"), fjord=True)
    batch = decode_batch(read.payloads[0])
    assert isinstance(batch, SpanBatch)
    blocks = batch.derive_blocks(OP_MAINNET_GENESIS, 2, OP_MAINNET_CHAIN_ID)
    builder = SpanBatchBuilder(OP_MAINNET_GENESIS, OP_MAINNET_CHAIN_ID)
    parent = batch.parent_check + b"\x00" * 12
    first_seq = 0 if batch.origin_bits & 1 else 1
    started = time.perf_counter()
    for i, block in enumerate(blocks):
        epoch_hash = batch.l1_origin_check + b"\x00" * 12 if i == len(blocks) - 1 else b"\x00" * 32
        builder.append_fields(
            parent,
            block.epoch_num,
            epoch_hash,
            block.timestamp,
            block.transactions,
            first_seq if i == 0 else 1,
        )
    elapsed = time.perf_counter() - started
    assert builder.encoded_size == len(read.payloads[0])
    assert builder.encode() == read.payloads[0]
    assert elapsed < 5.0, f"appending 143 blocks / 1766 txs took {elapsed:.3f}s"


# --- V7: nethermind, every field asserted -----------------------------------------------------


def test_nethermind_span_batch_every_asserted_field() -> None:
    """All of DecodeSingleSpanBatch's assertions, including the bitlists' bit order."""
    exp = expected("nethermind")["span_batch_v1.hex"]
    up = exp["asserted_upstream"]["expected"]
    raw = _hex_file("nethermind/span_batch_v1.hex")
    batch = decode_batch(raw)
    assert isinstance(batch, SpanBatch)
    assert batch.rel_timestamp == up["RelTimestamp"]
    assert batch.l1_origin_num == up["L1OriginNum"]
    assert batch.parent_check.hex() == up["ParentCheck"]
    assert batch.l1_origin_check.hex() == up["L1OriginCheck"]
    assert batch.block_count == up["BlockCount"]
    assert batch.origin_bits == 0b1011
    assert list(batch.block_tx_counts) == up["BlockTxCounts"]
    assert batch.contract_creation_bits == 0b10
    assert batch.y_parity_bits == 0b100
    assert [[str(r), str(s)] for r, s in batch.tx_sigs] == up["Signatures_r_s_decimal"]
    assert [to.hex() for to in batch.tx_tos] == up["Tos"]
    names = {0: "Legacy", 1: "AccessList", 2: "EIP1559", 4: "SetCode"}
    assert [names[t] for t in batch.tx_types] == up["Types"]
    assert batch.legacy_count == up["TotalLegacyTxCount"]
    assert list(batch.tx_nonces) == up["Nonces"]
    assert list(batch.tx_gases) == up["Gases"]
    assert batch.protected_bits == 0b10
    assert [d.hex() for d in batch.tx_datas] == exp["derived_here"]["tx_datas_with_type_byte"]
    check_span_fields(batch, exp["derived_here"]["span_batch"])
    assert batch.encode() == raw


# --- V8 / V9: round-trip vectors --------------------------------------------------------------


@pytest.mark.parametrize(
    "path,key",
    [("kona/raw_batch.bin", "raw_batch.bin"), ("hildr/spanbatchoriginbits.txt", "spanbatchoriginbits.txt")],
)
def test_raw_span_batch_bodies_round_trip_byte_for_byte(path: str, key: str) -> None:
    """Asserted: decode then encode reproduces the body exactly; derived fields match."""
    folder = path.split("/")[0]
    body = (VECTORS / path).read_bytes() if path.endswith(".bin") else _hex_file(path)
    batch = SpanBatch.decode_body(body)
    assert batch.encode_body() == body
    check_span_fields(batch, expected(folder)[key]["derived_here"]["span_batch"])


def test_hildr_origin_bits_vector_rebuilds_txs_for_chain_28() -> None:
    """Every tx of the 2233 rebuilds with chain id 28 and re-splits into the same columns."""
    body = _hex_file("hildr/spanbatchoriginbits.txt")
    batch = SpanBatch.decode_body(body)
    txs = batch.full_transactions(28)
    assert len(txs) == 2233
    assert sum(1 for t in txs if t.tx_type == 0 and not t.protected) == 1117 - 558


# --- V10: hildr span batch from singular batches ----------------------------------------------


def test_hildr_span_batch_from_singular_batches() -> None:
    """Asserted testSpanBatchDerive: 27 blocks, checks, and every derived block equals its input."""
    exp = expected("hildr")["spanbatchfromsingular.txt"]["derived_here"]
    lines = (VECTORS / "hildr/spanbatchfromsingular.txt").read_text().split()
    singles = [SingularBatch.decode_body(bytes.fromhex(line.removeprefix("0x"))) for line in lines]
    chain_id = 589
    genesis = singles[0].timestamp + 1 - 128
    builder = SpanBatchBuilder(genesis, chain_id)
    for i, single in enumerate(singles):
        builder.append_singular(single, 0 if i == 0 else 1)
    raw = builder.encode()
    assert raw == SpanBatch.from_singular_batches(singles, 0, genesis, chain_id).encode()
    batch = decode_batch(raw)
    assert isinstance(batch, SpanBatch)
    assert batch.block_count == 27 == exp["count"]
    assert batch.parent_check == singles[0].parent_hash[:20]
    assert batch.l1_origin_check == singles[-1].epoch_hash[:20]
    blocks = batch.derive_blocks(genesis, 2, chain_id)
    assert [b.timestamp for b in blocks] == [s.timestamp for s in singles] == exp["timestamps"]
    assert [b.epoch_num for b in blocks] == [s.epoch_num for s in singles] == exp["epoch_nums"]
    assert [b.transactions for b in blocks] == [s.transactions for s in singles]
    assert [len(b.transactions) for b in blocks] == exp["tx_counts"]


# --- V11: span batch v2 -----------------------------------------------------------------------


def test_span_batch_v2_is_rejected_but_its_golden_values_are_reachable() -> None:
    """Type 2 gets the clear error; splicing out same_ts_bits gives the asserted elements and txs."""
    exp = expected("optimism")["raw_batch_v2.hex"]
    up = exp["asserted_upstream"]
    raw = _hex_file("optimism/raw_batch_v2.hex")
    assert raw[0] == 0x02
    with pytest.raises(UnsupportedBatchTypeError, match=r"span batch v2 \(batch type 2\) is not supported"):
        decode_batch(raw)
    prefix, pos = decode_span_batch_prefix(raw[1:])
    args = up["derive_args"]
    assert args["genesis_time"] + prefix.rel_timestamp == up["elements_timestamp_txcount"][0][0]
    assert prefix.l1_origin_num == up["singular_batch_fields"]["epoch_num"]
    assert prefix.parent_check.hex() == up["singular_batch_fields"]["parent_hash"][:40]
    assert prefix.l1_origin_check.hex() == up["singular_batch_fields"]["epoch_hash"][:40]
    # v2 = v1 with same_ts_bits right after origin_bits: cut it out and read the rest as v1.
    body = raw[1:]
    count, p = read_uvarint(body, pos, "block_count")
    _, p = read_bitlist(body, p, count, "origin_bits")
    same_ts, q = read_bitlist(body, p, count, "same_ts_bits")
    assert bits_of(same_ts, count) == up["same_ts_bits"]
    v1 = SpanBatch.decode(b"\x01" + body[:p] + body[q:])
    timestamps = []
    ts = up["parent_timestamp"]
    for bit in bits_of(same_ts, count):
        ts += 0 if bit else args["block_time"]
        timestamps.append(ts)
    assert timestamps == up["derived_timestamps"]
    assert [[t, n] for t, n in zip(timestamps, v1.block_tx_counts, strict=True)] == up[
        "elements_timestamp_txcount"
    ]
    txs = [tx.encode() for tx in v1.full_transactions(args["chain_id"])]
    derived = exp["derived_here"]
    senders = [Account.recover_transaction(tx).lower().removeprefix("0x") for tx in txs]
    assert senders == derived["all_tx_senders"]
    from common.derive.transaction import keccak256

    assert [keccak256(tx).hex() for tx in txs] == derived["span_batch"]["tx_hashes"]


# --- V14 / V15: singular batches inside kona's brotli vectors ---------------------------------


def test_kona_brotli_channel_body_holds_the_expected_singular_batch() -> None:
    """The decompressed brotli vector is one RLP-wrapped singular batch with the derived fields."""
    exp = expected("kona")["brotli_*.hex"]["derived_here"]["brotli_batch_decompressed"]
    channel = b"\x01" + _hex_file("kona/brotli_batch_compressed.hex")
    read = read_channel(channel, fjord=True)
    assert read.error is None and read.uncompressed_len == exp["len"]
    assert len(read.payloads) == exp["batch_count"]
    batch = decode_batch(read.payloads[0])
    assert isinstance(batch, SingularBatch)
    want = exp["singular_batch"]
    assert (
        batch.parent_hash.hex(),
        batch.epoch_num,
        batch.epoch_hash.hex(),
        batch.timestamp,
        len(batch.transactions),
    ) == (want["parent_hash"], want["epoch_num"], want["epoch_hash"], want["timestamp"], want["tx_count"])
    assert batch.encode() == read.payloads[0]


def test_kona_frames_to_batch_singular_batch_and_its_txs() -> None:
    """Asserted: SingleBatch{parent 0, epoch 1, hash 0, timestamp 1} with two 1559 txs (chain 10, ...)."""
    exp = expected("kona")["frames_to_batch_*.hex"]
    up = exp["asserted_upstream"]["batch"]
    frame0, _ = parse_frame(_hex_file("kona/frames_to_batch_frame0.hex"))
    frame1, _ = parse_frame(_hex_file("kona/frames_to_batch_frame1.hex"))
    assert not frame0.is_last and frame1.is_last
    decompressed = _hex_file("kona/frames_to_batch_decompressed.hex")
    batch = SingularBatch.decode(decompressed)  # no RLP-string wrapper in this non-conformant example
    assert batch.parent_hash.hex() == up["parent_hash"] and batch.epoch_hash.hex() == up["epoch_hash"]
    assert (batch.epoch_num, batch.timestamp) == (up["epoch_num"], up["timestamp"])
    assert [tx.hex() for tx in batch.transactions] == exp["derived_here"]["transactions"]
    txs = [decode_transaction(raw) for raw in batch.transactions]
    assert [
        (t.tx_type, t.chain_id, t.nonce, t.gas_price, t.gas_tip_cap, t.gas, t.value, t.data) for t in txs
    ] == [(2, 10, 2, 3, 4, 5, 7, b"\x08")] * 2
    assert [t.to for t in txs] == [b"\x00" * 19 + b"\x06", b"\x00" * 19 + b"\x07"]
