"""L2 blocks from RPC JSON: L1 origin from the L1-info deposit, canonical txs, size estimates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.block_ref import BlockID
from common.derive.fastlz import estimated_da_size, flz_compress_len
from common.derive.l1_info import L1Info, L1InfoLayout, l1_info_deposit_tx_bytes
from common.derive.l2_block import BlockError, block_from_rpc
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch_builder import SpanBatchBuilder
from tests.test_transaction import CHAIN_ID, KINDS, deposit_json, signed_fixture

L1_HASH = bytes.fromhex("c0" * 32)
INFO = L1Info(
    number=4321,
    timestamp=1_700_000_000,
    base_fee=7,
    hash=L1_HASH,
    sequence_number=3,
    batcher_hash=b"\x00" * 12 + b"\xba" * 20,
    layout=L1InfoLayout.ECOTONE,
    blob_base_fee=1,
    base_fee_scalar=1368,
    blob_base_fee_scalar=810949,
)

# op-geth core/types/rollup_cost_test.go TestFlzCompressLen vectors
FLZ_EMPTY_TX = bytes.fromhex("dd80808094095e7baea6a6c7c4c2dfeb977efac326af552d878080808080")
FLZ_CONTRACT_CALL_TX = bytes.fromhex(
    "02f901550a758302df1483be21b88304743f94f80e51afb613d764fa61751affd3313c190a86bb870151bd62fd12adb8"
    "e41ef24f3f0000000000000000000000000000000000000000000000000000000000000000006e00000000000000000000"
    "0000af88d065e77c8cc2239327c5edb3a432268e5831000000000000000000000000000000000000000000000000000000"
    "000003c1e5000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000a0000000000000000000000000000000000000000000000000000000000000"
    "00148c89ed219d02f1a5be012c689b4f5b731827bebe000000000000000000000000c001a033fd89cb37c31b2cba46b6466e"
    "040c61fc9b2a3675a7f5f493ebd5ad77c497f8a07cdf65680e238392693019b4092f610222e71b7cec06449cb922b93b6a12"
    "744e"
)


def block_json(
    txs: list[dict[str, Any]], *, number: int = 5, info: L1Info = INFO, anvil: bool = False
) -> dict[str, Any]:
    """An ``eth_getBlockByNumber(n, true)`` result whose first tx is the L1-info deposit."""
    first = deposit_json("0x" + info.encode().hex(), anvil=anvil)
    return {
        "number": hex(number),
        "hash": "0x" + "b1" * 32,
        "parentHash": "0x" + "b0" * 32,
        "timestamp": hex(1_700_000_010),
        "gasLimit": "0x1c9c380",
        "transactions": [first, *txs],
    }


def test_block_from_rpc_keeps_non_deposit_txs_in_order() -> None:
    """All batchable tx types come out as their signed bytes; deposits (first and later) are dropped."""
    fixtures = [signed_fixture(kind, nonce=i) for i, kind in enumerate(KINDS)]
    txs = [obj for obj, _ in fixtures]
    txs.insert(2, deposit_json("0x"))  # a user deposit in the middle of the block
    block = block_from_rpc(block_json(txs), CHAIN_ID)
    assert block.transactions == tuple(raw for _, raw in fixtures)
    assert block.l1_origin == BlockID(L1_HASH, 4321)
    assert block.sequence_number == 3
    assert block.l1_info == INFO
    assert (block.number, block.timestamp) == (5, 1_700_000_010)
    assert block.parent_hash == bytes.fromhex("b0" * 32)


def test_anvil_style_json_is_accepted() -> None:
    """anvil's "0x7E" deposit type and "0x1" isSystemTx spellings parse the same way."""
    obj, raw = signed_fixture("dynamic_fee")
    block = block_from_rpc(block_json([obj], anvil=True), CHAIN_ID)
    assert block.transactions == (raw,)
    assert block.l1_origin.number == 4321


def test_first_tx_must_be_a_deposit() -> None:
    """op-node's ErrNotDepositTx text, with the block number."""
    obj, _ = signed_fixture("dynamic_fee")
    payload = block_json([])
    payload["transactions"] = [obj]
    with pytest.raises(BlockError, match="L2 block 5: first transaction in block is not a deposit tx"):
        block_from_rpc(payload, CHAIN_ID)


def test_empty_and_hash_only_blocks_are_rejected() -> None:
    """A block without txs, or fetched without full txs, cannot be batched."""
    payload = block_json([])
    payload["transactions"] = []
    with pytest.raises(BlockError, match="has no transactions"):
        block_from_rpc(payload, CHAIN_ID)
    payload["transactions"] = ["0x" + "11" * 32]
    with pytest.raises(BlockError, match="full txs"):
        block_from_rpc(payload, CHAIN_ID)


def test_blob_tx_in_block_names_block_and_index() -> None:
    """A type-3 tx is refused with the block number and the tx index."""
    obj, _ = signed_fixture("dynamic_fee")
    obj["type"] = "0x3"
    with pytest.raises(BlockError, match=r"L2 block 5 tx 1: blob transactions \(type 3\)"):
        block_from_rpc(block_json([obj]), CHAIN_ID)


def test_hash_mismatch_names_block_and_index() -> None:
    """A tx whose fields do not hash to the reported hash is reported with its position."""
    a, _ = signed_fixture("legacy_protected", nonce=0)
    b, _ = signed_fixture("dynamic_fee", nonce=1)
    b["nonce"] = "0x2"
    with pytest.raises(BlockError, match="L2 block 5 tx 2: re-encoded type 2 transaction hashes to"):
        block_from_rpc(block_json([a, b]), CHAIN_ID)


def test_bad_l1_info_is_reported() -> None:
    """An L1-info deposit whose calldata has an unknown selector cannot give an L1 origin."""
    payload = block_json([])
    payload["transactions"][0]["input"] = "0x12345678"
    with pytest.raises(BlockError, match="cannot parse the L1-info deposit"):
        block_from_rpc(payload, CHAIN_ID)


def test_raw_size_estimate_is_70_plus_tx_sizes_plus_2_each() -> None:
    """raw = 70 + Σ(len(tx) + 2) over non-deposit txs."""
    fixtures = [signed_fixture(kind) for kind in ("legacy_protected", "set_code")]
    block = block_from_rpc(block_json([obj for obj, _ in fixtures]), CHAIN_ID)
    assert block.raw_size_estimate == 70 + sum(len(raw) + 2 for _, raw in fixtures)
    empty = block_from_rpc(block_json([]), CHAIN_ID)
    assert empty.raw_size_estimate == 70 and empty.da_size_estimate == 70


def test_fastlz_length_matches_op_geth_vectors() -> None:
    """op-geth TestFlzCompressLen: empty 0, 1000×0x01 21, 1000×0x00 21, empty tx 31, contract call 202."""
    assert flz_compress_len(b"") == 0
    assert flz_compress_len(b"\x01" * 1000) == 21
    assert flz_compress_len(bytes(1000)) == 21
    assert flz_compress_len(FLZ_EMPTY_TX) == 31
    assert flz_compress_len(FLZ_CONTRACT_CALL_TX) == 202


def test_da_estimate_uses_the_fjord_regression_with_a_100_byte_floor() -> None:
    """EstimatedDASize = max(-42_585_600 + 836_500·flz, 100e6) / 1e6."""
    assert estimated_da_size(FLZ_CONTRACT_CALL_TX) == (-42_585_600 + 836_500 * 202) // 1_000_000 == 126
    assert estimated_da_size(FLZ_EMPTY_TX) == 100


def test_da_size_estimate_sums_per_tx_estimates() -> None:
    """A block's DA estimate is 70 + Σ EstimatedDASize and is stable when read twice."""
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(13))  # incompressible
    fixtures = [signed_fixture(kind, data="0x" + noise.hex()) for kind in ("access_list", "dynamic_fee")]
    block = block_from_rpc(block_json([obj for obj, _ in fixtures]), CHAIN_ID)
    expected = 70 + sum(estimated_da_size(raw) for _, raw in fixtures)
    assert expected > 270
    assert block.da_size_estimate == expected == block.da_size_estimate


def test_to_l2_block_ref_carries_origin_and_sequence_number() -> None:
    """The L2BlockRef has the block's identity, L1 origin and sequence number."""
    block = block_from_rpc(block_json([]), CHAIN_ID)
    ref = block.to_l2_block_ref()
    assert ref.hash == bytes.fromhex("b1" * 32) and ref.number == 5
    assert ref.l1_origin == BlockID(L1_HASH, 4321) and ref.sequence_number == 3


def test_singular_batch_from_block_uses_the_l1_origin() -> None:
    """SingularBatch.from_block copies parent hash, epoch, timestamp and the canonical txs."""
    obj, raw = signed_fixture("access_list")
    block = block_from_rpc(block_json([obj]), CHAIN_ID)
    batch = SingularBatch.from_block(block)
    assert batch == SingularBatch(bytes.fromhex("b0" * 32), 4321, L1_HASH, 1_700_000_010, (raw,))


@pytest.mark.integration
def test_real_anvil_blocks_rebuild_every_tx_type() -> None:
    """anvil --network optimism: a block with the L1-info deposit and txs of types 0,1,2,4 parses exactly."""
    from devnet.anvil import start_anvil

    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's public dev key 0
    sender = Account.from_key(key)
    node = start_anvil(
        ["--network", "optimism", "--chain-id", str(CHAIN_ID), "--no-mining", "--order", "fifo"]
    )
    try:
        deposit = l1_info_deposit_tx_bytes(INFO)
        node.call("eth_sendRawTransaction", ["0x" + deposit.hex()])
        base = {"to": "0x" + "35" * 20, "value": 1, "gas": 100_000, "data": "0x01"}
        fee = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**6, "chainId": CHAIN_ID}
        auth = Account.sign_authorization({"chainId": CHAIN_ID, "address": "0x" + "77" * 20, "nonce": 5}, key)
        requests = [
            {**base, "nonce": 0, "gasPrice": 10**10, "chainId": CHAIN_ID},
            {**base, "nonce": 1, "gasPrice": 10**10},
            {
                **base,
                "nonce": 2,
                "type": 1,
                "gasPrice": 10**10,
                "chainId": CHAIN_ID,
                "accessList": [{"address": "0x" + "42" * 20, "storageKeys": ["0x" + "00" * 32]}],
            },
            {**base, "nonce": 3, "type": 2, **fee},
            {**base, "nonce": 4, "type": 4, **fee, "accessList": [], "authorizationList": [auth]},
        ]
        raws = []
        for tx in requests:
            raw = bytes(sender.sign_transaction(tx).raw_transaction)
            node.call("eth_sendRawTransaction", ["0x" + raw.hex()])
            raws.append(raw)
        node.call("evm_mine")
        obj = node.call("eth_getBlockByNumber", ["0x1", True])
        assert isinstance(obj, dict)
        json.dumps(obj)  # plain JSON, as the RPC client would hand it over
        block = block_from_rpc(obj, CHAIN_ID)
        assert block.transactions == tuple(raws)
        assert block.l1_origin == BlockID(L1_HASH, 4321) and block.sequence_number == 3
        builder = SpanBatchBuilder(block.timestamp - 10, CHAIN_ID)
        builder.append(block)
        derived = builder.build().derive_blocks(block.timestamp - 10, 2, CHAIN_ID)
        assert derived[0].transactions == tuple(raws)
    finally:
        node.stop()


def _reference_flz_len(ib: bytes) -> int:
    """A literal, unoptimised reading of op-geth's FlzCompressLen, to cross-check the fast one."""
    n = 0
    ht = [0] * 8192

    def u24(i: int) -> int:
        return ib[i] | (ib[i + 1] << 8) | (ib[i + 2] << 16)

    def cmp(p: int, q: int, e: int) -> int:
        length = 0
        e -= q
        while length < e:
            if ib[p + length] != ib[q + length]:
                e = 0
            length += 1
        return length

    def literals(r: int) -> int:
        return 0x21 * (r // 0x20) + ((r % 0x20) + 1 if r % 0x20 else 0)

    def match(length: int) -> int:
        length -= 1
        return 3 * (length // 262) + (3 if length % 262 >= 6 else 2)

    def h(v: int) -> int:
        return (((2654435769 * v) & 0xFFFFFFFF) >> 19) & 0x1FFF

    a = 0
    ip_limit = len(ib) - 13 if len(ib) >= 13 else 0
    ip = a + 2
    while ip < ip_limit:
        r = d = 0
        while True:
            s = u24(ip)
            r = ht[h(s)]
            ht[h(s)] = ip
            d = ip - r
            if ip >= ip_limit:
                break
            ip += 1
            if d <= 0x1FFF and s == u24(r):
                break
        if ip >= ip_limit:
            break
        ip -= 1
        if ip > a:
            n += literals(ip - a)
        length = cmp(r + 3, ip + 3, ip_limit + 9)
        n += match(length)
        ip += length
        ht[h(u24(ip))] = ip
        ht[h(u24(ip + 1))] = ip + 1
        ip += 2
        a = ip
    return n + literals(len(ib) - a)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=40), st.binary(min_size=1, max_size=3).map(lambda b: b * 50)),
        max_size=20,
    ).map(b"".join)
)
def test_fast_fastlz_equals_a_literal_reading_of_op_geth(data: bytes) -> None:
    """Random and highly repetitive inputs give the same length as the straightforward version."""
    assert flz_compress_len(data) == _reference_flz_len(data)
