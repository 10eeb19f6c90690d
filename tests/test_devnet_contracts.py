"""The devnet deploys the real OP L1 contracts and they are readable and usable."""

from __future__ import annotations

import json

import eth_abi
import pytest

from devnet.anvil import rpc_call
from devnet.contracts import (
    GAME_TYPE_CANNON,
    GAME_TYPE_PERMISSIONED_CANNON,
    INIT_BOND,
    L2OO_SUBMISSION_INTERVAL,
    Abi,
    eth_call,
    send,
)
from devnet.genesis import BATCH_INBOX_ADDRESS, L1_CHAIN_ID, L2_CHAIN_ID
from devnet.output_root import fetch_output

pytestmark = pytest.mark.integration

REQUIRED_KEYS = (
    "l1_rpc",
    "l2_rpc",
    "rollup_rpc",
    "batcher_address",
    "proposer_address",
    "batch_inbox",
    "l2oo_address",
    "dgf_address",
    "l1_chain_id",
    "l2_chain_id",
)


def test_devnet_json_lists_endpoints_addresses_and_keys(devnet):
    """devnet.json holds every required key; the mode's missing contract is null."""
    info = json.loads((devnet.cfg.state_dir / "devnet.json").read_text())
    assert all(k in info for k in REQUIRED_KEYS)
    assert info["dgf_address"] is None and info["l2oo_address"]
    assert (info["l1_chain_id"], info["l2_chain_id"]) == (L1_CHAIN_ID, L2_CHAIN_ID)
    assert info["dev_keys"]["batcher"]["address"] == info["batcher_address"]
    assert int(str(rpc_call(info["l1_rpc"], "eth_chainId")), 16) == L1_CHAIN_ID


def test_l2_output_oracle_is_initialised_for_the_devnet(devnet):
    """The L2OO proxy answers with the devnet's interval, block time, proposer and start time."""
    l2oo, abi = devnet.info()["l2oo_address"], Abi("L2OutputOracle")
    assert eth_call(devnet.l1_url, l2oo, abi, "submissionInterval") == (L2OO_SUBMISSION_INTERVAL,)
    assert eth_call(devnet.l1_url, l2oo, abi, "l2BlockTime") == (devnet.cfg.block_time,)
    assert eth_call(devnet.l1_url, l2oo, abi, "proposer")[0] == devnet.keys["proposer"].address
    assert eth_call(devnet.l1_url, l2oo, abi, "startingTimestamp") == (devnet.rollup.genesis_l2_time,)
    assert eth_call(devnet.l1_url, l2oo, abi, "nextBlockNumber") == (L2OO_SUBMISSION_INTERVAL,)
    assert eth_call(devnet.l1_url, l2oo, abi, "version")[0].count(".") == 2


def test_system_config_holds_the_batcher_hash_and_inbox(devnet):
    """SystemConfig.batcherHash is the batcher address left-padded; batchInbox is the rollup's inbox."""
    sc, abi = devnet.info()["system_config_address"], Abi("SystemConfig")
    (bh,) = eth_call(devnet.l1_url, sc, abi, "batcherHash")
    assert bh == b"\x00" * 12 + devnet.keys["batcher"].address_bytes
    assert eth_call(devnet.l1_url, sc, abi, "batchInbox")[0].lower() == "0x" + BATCH_INBOX_ADDRESS.hex()
    assert devnet.rollup.l1_system_config_address.hex() == sc[2:].lower()


def test_dispute_game_factory_has_both_game_types_and_bonds(devnet_dgf):
    """DGF mode: implementations for types 0 and 1 and their init bonds are set; L2OO is absent."""
    info, abi = devnet_dgf.info(), Abi("DisputeGameFactory")
    assert info["l2oo_address"] is None
    for game_type, impl_key in (
        (GAME_TYPE_PERMISSIONED_CANNON, "permissioned_game_address"),
        (GAME_TYPE_CANNON, "fault_game_address"),
    ):
        assert (
            eth_call(devnet_dgf.l1_url, info["dgf_address"], abi, "gameImpls", game_type)[0] == info[impl_key]
        )
        assert eth_call(devnet_dgf.l1_url, info["dgf_address"], abi, "initBonds", game_type) == (INIT_BOND,)


def test_proposer_can_create_a_permissioned_game_for_an_output_root(devnet_dgf):
    """A type-1 game created by the proposer records the L2 block number and root claim."""
    dn = devnet_dgf
    dn.produce_l2_blocks(2)
    root = fetch_output(dn.l2_url, 2).root
    info, abi = dn.info(), Abi("DisputeGameFactory")
    send(
        dn.l1_url,
        info["proposer_address"],
        info["dgf_address"],
        abi.encode_call("create", GAME_TYPE_PERMISSIONED_CANNON, root, eth_abi.encode(["uint256"], [2])),
        INIT_BOND,
        what="create game",
    )
    (count,) = eth_call(dn.l1_url, info["dgf_address"], abi, "gameCount")
    _, _, proxy = eth_call(dn.l1_url, info["dgf_address"], abi, "gameAtIndex", count - 1)
    game = Abi("PermissionedDisputeGame")
    assert eth_call(dn.l1_url, proxy, game, "l2BlockNumber") == (2,)
    assert eth_call(dn.l1_url, proxy, game, "rootClaim") == (root,)


def test_a_non_proposer_cannot_create_a_permissioned_game(devnet_dgf):
    """The permissioned game rejects a creator other than the configured proposer."""
    dn = devnet_dgf
    dn.produce_l2_blocks(1)
    head = dn.sequencer.head.number
    info = dn.info()
    data = Abi("DisputeGameFactory").encode_call(
        "create", GAME_TYPE_PERMISSIONED_CANNON, b"\x01" * 32, eth_abi.encode(["uint256"], [head])
    )
    with pytest.raises(RuntimeError, match="reverted"):
        send(dn.l1_url, info["admin_address"], info["dgf_address"], data, INIT_BOND, what="create game")


def test_an_output_served_by_the_rollup_node_can_be_proposed_to_the_l2oo(devnet):
    """outputAtBlock(10) + its embedded current_l1, sent as the proposer, lands in the L2OutputOracle."""
    from devnet.pytest_plugin import batch_up_to_head

    dn, abi = devnet, Abi("L2OutputOracle")
    l2oo = dn.info()["l2oo_address"]
    (n,) = eth_call(dn.l1_url, l2oo, abi, "nextBlockNumber")
    if dn.sequencer.head.number < n:
        dn.produce_l2_blocks(n - dn.sequencer.head.number)
    assert batch_up_to_head(dn) >= n
    out = rpc_call(dn.rollup_url, "optimism_outputAtBlock", [hex(n)])
    cur = out["syncStatus"]["current_l1"]
    rpc_call(dn.l1_url, "anvil_mine", ["0x2"])  # blockhash(current_l1) must be visible, as op-proposer waits
    root = bytes.fromhex(out["outputRoot"][2:])
    data = abi.encode_call("proposeL2Output", root, n, bytes.fromhex(cur["hash"][2:]), cur["number"])
    send(dn.l1_url, dn.keys["proposer"].address, l2oo, data, what="proposeL2Output")
    (index,) = eth_call(dn.l1_url, l2oo, abi, "getL2OutputIndexAfter", n)
    ((stored_root, _ts, block),) = eth_call(dn.l1_url, l2oo, abi, "getL2Output", index)
    assert (stored_root, block) == (root, n)
