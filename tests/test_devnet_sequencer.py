"""The sequencer stand-in builds OP-shaped L2 blocks: L1-info deposit first, sane origins, a real tx mix."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from common.derive.l1_info import L1InfoLayout, parse_l1_info
from devnet.anvil import rpc_call
from devnet.contracts import Abi, eth_call
from devnet.genesis import L1_BLOCK_ADDRESS, L1_INFO_DEPOSITOR_ADDRESS
from devnet.output_root import fetch_output

pytestmark = pytest.mark.integration


def blocks(dn, first, last):
    return [rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(n), True]) for n in range(first, last + 1)]


@pytest.fixture(scope="module")
def made(devnet):
    """Thirty fresh L2 blocks on the shared devnet: (first, last) numbers."""
    first = devnet.sequencer.head.number + 1
    devnet.produce_l2_blocks(30)
    return first, devnet.sequencer.head.number


def test_every_block_starts_with_the_isthmus_l1_info_deposit(devnet, made):
    """Tx 0 of each block is a 0x7e deposit from the depositor to L1Block with Isthmus calldata."""
    for block in blocks(devnet, *made):
        tx0 = block["transactions"][0]
        assert tx0["type"] == "0x7e"
        assert bytes.fromhex(tx0["from"][2:]) == L1_INFO_DEPOSITOR_ADDRESS
        assert bytes.fromhex(tx0["to"][2:]) == L1_BLOCK_ADDRESS
        assert parse_l1_info(bytes.fromhex(tx0["input"][2:])).layout is L1InfoLayout.ISTHMUS
        assert all(tx["type"] != "0x7e" for tx in block["transactions"][1:])


def test_l1_origins_progress_like_op_node(devnet, made):
    """Origins are canonical L1 blocks, not newer than the L2 time, advance by at most one, and the
    sequence number restarts at 0 on each new origin."""
    first, last = made
    prev = (
        parse_l1_info(bytes.fromhex(blocks(devnet, first - 1, first - 1)[0]["transactions"][0]["input"][2:]))
        if first > 1
        else None
    )
    advanced = 0
    for block in blocks(devnet, first, last):
        info = parse_l1_info(bytes.fromhex(block["transactions"][0]["input"][2:]))
        l1 = rpc_call(devnet.l1_url, "eth_getBlockByNumber", [hex(info.number), False])
        assert bytes.fromhex(l1["hash"][2:]) == info.hash
        assert int(l1["timestamp"], 16) == info.timestamp <= int(block["timestamp"], 16)
        if prev is not None:
            assert info.number - prev.number in (0, 1)
            expected_seq = 0 if info.number != prev.number else prev.sequence_number + 1
            assert info.sequence_number == expected_seq
            advanced += info.number != prev.number
        prev = info
    assert advanced >= 3


def test_timestamps_follow_the_block_time(devnet, made):
    """Block n has timestamp genesis + n * block_time."""
    for block in blocks(devnet, *made):
        assert int(block["timestamp"], 16) == devnet.rollup.timestamp_for_block(int(block["number"], 16))


def test_l1_block_predeploy_holds_the_latest_origin(devnet, made):
    """The L1-info deposit really executes: L1Block.number/hash/sequenceNumber match the head's deposit."""
    head = blocks(devnet, made[1], made[1])[0]
    info = parse_l1_info(bytes.fromhex(head["transactions"][0]["input"][2:]))
    abi, addr = Abi("L1Block"), "0x" + L1_BLOCK_ADDRESS.hex()
    at = head["number"]
    assert eth_call(devnet.l2_url, addr, abi, "number", block=at) == (info.number,)
    assert eth_call(devnet.l2_url, addr, abi, "hash", block=at) == (info.hash,)
    assert eth_call(devnet.l2_url, addr, abi, "sequenceNumber", block=at) == (info.sequence_number,)


def test_user_txs_cover_every_batchable_type_and_all_succeed(devnet, made):
    """Legacy, 2930, 1559 and 7702 txs, creations and withdrawals appear and none reverts."""
    kinds: Counter[str] = Counter()
    for block in blocks(devnet, *made):
        for tx in block["transactions"][1:]:
            kinds[tx["type"]] += 1
            kinds["create"] += tx["to"] is None
            kinds["withdrawal"] += (tx["to"] or "").lower() == "0x4200000000000000000000000000000000000016"
            receipt = rpc_call(devnet.l2_url, "eth_getTransactionReceipt", [tx["hash"]])
            assert receipt["status"] == "0x1", tx
    assert all(kinds[k] > 0 for k in ("0x0", "0x1", "0x2", "0x4", "create", "withdrawal")), kinds


def test_withdrawals_change_the_message_passer_storage_root(devnet, made):
    """Output roots move: the L2ToL1MessagePasser storage root differs between the first and last block."""
    first, last = made
    assert (
        fetch_output(devnet.l2_url, first - 1).withdrawal_storage_root
        != fetch_output(devnet.l2_url, last).withdrawal_storage_root
    )


def test_explicit_txs_replace_the_mix_and_blocks_can_be_empty(devnet):
    """produce_block(txs=[]) makes a deposit-only block; the head advances by one."""
    before = devnet.sequencer.head
    ref = devnet.sequencer.produce_block([])
    block = blocks(devnet, ref.number, ref.number)[0]
    assert ref.number == before.number + 1 and ref.parent_hash == before.hash
    assert len(block["transactions"]) == 1


def test_without_isthmus_the_ecotone_layout_is_used_and_no_setcode_txs(make_devnet):
    """isthmus=False: Ecotone L1-info calldata, no type-4 txs, rollup.json without isthmus_time."""
    dn = make_devnet(isthmus=False)
    dn.produce_l2_blocks(10)
    types = set()
    for block in blocks(dn, 1, 10):
        assert (
            parse_l1_info(bytes.fromhex(block["transactions"][0]["input"][2:])).layout is L1InfoLayout.ECOTONE
        )
        types |= {tx["type"] for tx in block["transactions"][1:]}
    assert "0x4" not in types and {"0x0", "0x1", "0x2"} <= types
    assert not dn.rollup.is_active("isthmus", dn.rollup.genesis_l2_time)


def test_background_production_in_fast_mode(devnet):
    """start_sequencer_thread(interval) keeps producing blocks until stopped."""
    before = devnet.sequencer.head.number
    devnet.start_sequencer_thread(interval=0.05)
    try:
        deadline = time.monotonic() + 20
        while devnet.sequencer.head.number < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        devnet.stop_sequencer_thread()
    stopped_at = devnet.sequencer.head.number
    assert stopped_at >= before + 3
    time.sleep(0.2)
    assert devnet.sequencer.head.number == stopped_at
