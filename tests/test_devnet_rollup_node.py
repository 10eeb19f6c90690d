"""The rollup-node stand-in serves op-node's RPC shapes over the devnet chains."""

from __future__ import annotations

import json

import pytest
from eth_utils import keccak
from web3 import Web3

from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from devnet.anvil import rpc_call

pytestmark = pytest.mark.integration

L1_KEYS = ("current_l1", "current_l1_finalized", "head_l1", "safe_l1", "finalized_l1")
L2_KEYS = ("unsafe_l2", "safe_l2", "finalized_l2", "pending_safe_l2", "cross_unsafe_l2", "local_safe_l2")


def test_sync_status_has_every_field_with_numbers_as_json_numbers(devnet):
    """All op-node SyncStatus keys are present; numbers and timestamps are ints, not hex strings."""
    devnet.produce_l2_blocks(2)
    st = rpc_call(devnet.rollup_url, "optimism_syncStatus")
    assert set(L1_KEYS + L2_KEYS) <= set(st)
    for key in L1_KEYS + L2_KEYS:
        assert isinstance(st[key]["number"], int) and isinstance(st[key]["timestamp"], int), key
    for key in L2_KEYS:
        assert isinstance(st[key]["l1origin"]["number"], int) and isinstance(st[key]["sequenceNumber"], int)
    parsed = SyncStatus.from_json(st)
    assert parsed.unsafe_l2.number == devnet.sequencer.head.number
    assert parsed.head_l1.number >= parsed.safe_l1.number >= parsed.finalized_l1.number


def test_unsafe_head_reports_origin_and_sequence_number_of_the_sequencer(devnet):
    """unsafe_l2 carries the L1 origin and sequence number the sequencer chose."""
    ref = devnet.sequencer.produce_block()
    st = SyncStatus.from_json(rpc_call(devnet.rollup_url, "optimism_syncStatus"))
    assert st.unsafe_l2 == ref


def test_output_at_block_matches_an_independent_recomputation(devnet):
    """outputRoot = keccak(0^32 ++ stateRoot ++ message-passer storage root ++ block hash), via web3."""
    devnet.produce_l2_blocks(3)
    n = devnet.sequencer.head.number
    out = rpc_call(devnet.rollup_url, "optimism_outputAtBlock", [hex(n)])
    w3 = Web3(Web3.HTTPProvider(devnet.l2_url))
    block = w3.eth.get_block(n)
    proof = w3.eth.get_proof("0x4200000000000000000000000000000000000016", [], n)
    expected = keccak(
        b"\x00" * 32 + bytes(block["stateRoot"]) + bytes(proof["storageHash"]) + bytes(block["hash"])
    )
    assert out["outputRoot"] == "0x" + expected.hex()
    assert out["version"] == "0x" + "00" * 32
    assert out["blockRef"]["number"] == n and out["blockRef"]["hash"] == "0x" + bytes(block["hash"]).hex()
    assert out["withdrawalStorageRoot"] == "0x" + bytes(proof["storageHash"]).hex()
    assert SyncStatus.from_json(out["syncStatus"]).unsafe_l2.number >= n


def test_output_at_a_block_above_the_unsafe_head_is_an_error(devnet):
    """Like op-node, asking for an unknown block fails instead of answering zeros."""
    n = devnet.sequencer.head.number + 100
    with pytest.raises(RuntimeError, match="not found"):
        rpc_call(devnet.rollup_url, "optimism_outputAtBlock", [hex(n)])


def test_rollup_config_rpc_equals_rollup_json(devnet):
    """optimism_rollupConfig serves exactly the rollup.json written to the state dir."""
    served = rpc_call(devnet.rollup_url, "optimism_rollupConfig")
    on_disk = json.loads((devnet.cfg.state_dir / "rollup.json").read_text())
    assert served == on_disk
    rc = RollupConfig.from_json(served)
    assert rc.is_active("holocene", rc.genesis_l2_time) and rc.is_active("isthmus", rc.genesis_l2_time)
    assert rc.system_config.batcher_addr == devnet.keys["batcher"].address_bytes


def test_version_and_sequencer_active_and_unknown_methods(devnet):
    """optimism_version and admin_sequencerActive answer; an unknown method is a -32601 error."""
    assert isinstance(rpc_call(devnet.rollup_url, "optimism_version"), str)
    assert rpc_call(devnet.rollup_url, "admin_sequencerActive") is True
    with pytest.raises(RuntimeError, match="-32601"):
        rpc_call(devnet.rollup_url, "optimism_noSuchMethod")
