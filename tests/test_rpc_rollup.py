"""RollupClient parsing of op-node answers.

op-node cannot run here (no Go toolchain or op-node binary), so these tests serve canned op-node JSON from
the local aiohttp server of ``tests.test_rpc_client``; the shapes follow op-service/eth (sync_status.go,
output.go, id.go) and rollup/types.go, with block numbers as JSON numbers and the ``optimism_outputAtBlock``
parameter as a hex quantity.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from common.rpc.errors import RpcDecodeError, RpcResponseError
from common.rpc.rollup import OUTPUT_VERSION_V0, RollupClient
from tests.test_rpc_client import Fault, JsonRpcServer


def l1_ref(n: int) -> dict[str, Any]:
    return {
        "hash": "0x" + f"{n:064x}",
        "number": n,
        "parentHash": "0x" + f"{n - 1:064x}",
        "timestamp": 1_700_000_000 + 12 * n,
    }


def l2_ref(n: int, origin: int, seq: int) -> dict[str, Any]:
    return {
        "hash": "0x" + f"{n + 0xA000:064x}",
        "number": n,
        "parentHash": "0x" + f"{n + 0x9FFF:064x}",
        "timestamp": 1_700_000_000 + 2 * n,
        "l1origin": {"hash": "0x" + f"{origin:064x}", "number": origin},
        "sequenceNumber": seq,
    }


SYNC_STATUS = {
    "current_l1": l1_ref(100),
    "current_l1_finalized": l1_ref(90),
    "head_l1": l1_ref(105),
    "safe_l1": l1_ref(98),
    "finalized_l1": l1_ref(90),
    "unsafe_l2": l2_ref(520, 104, 2),
    "safe_l2": l2_ref(480, 98, 0),
    "finalized_l2": l2_ref(400, 88, 1),
    "pending_safe_l2": l2_ref(481, 98, 1),
    "cross_unsafe_l2": l2_ref(519, 104, 1),
    "local_safe_l2": l2_ref(482, 98, 2),
}
STATE_ROOT = "0x" + "aa" * 32
MESSAGE_PASSER_ROOT = "0x" + "bb" * 32
BLOCK_HASH = "0x" + "cc" * 32
OUTPUT_ROOT = "0x42407e3f5e221c8842bdc0a0ad91840a35b813864435fa556d24673995121da9"
"""keccak256(0^32 ‖ 0xaa.. ‖ 0xbb.. ‖ 0xcc..), from the proposer reference §3.6."""
ROLLUP_CONFIG = {
    "genesis": {
        "l1": {"hash": "0x" + "01" * 32, "number": 10},
        "l2": {"hash": "0x" + "02" * 32, "number": 0},
        "l2_time": 1_700_000_000,
        "system_config": {
            "batcherAddr": "0x" + "3c" * 20,
            "overhead": "0x" + "00" * 32,
            "scalar": "0x" + "00" * 31 + "01",
            "gasLimit": 30_000_000,
        },
    },
    "block_time": 2,
    "max_sequencer_drift": 600,
    "seq_window_size": 3600,
    "channel_timeout": 300,
    "l1_chain_id": 900,
    "l2_chain_id": 901,
    "regolith_time": 0,
    "canyon_time": 0,
    "delta_time": 0,
    "ecotone_time": 0,
    "fjord_time": 0,
    "granite_time": 0,
    "holocene_time": 0,
    "batch_inbox_address": "0x" + "ff" * 20,
    "deposit_contract_address": "0x" + "de" * 20,
    "l1_system_config_address": "0x" + "5c" * 20,
    "some_future_field": {"ignored": True},
}


class OpNode:
    """Canned op-node: answers from ``answers`` and records the parameters it was called with."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {
            "optimism_syncStatus": SYNC_STATUS,
            "optimism_rollupConfig": ROLLUP_CONFIG,
            "optimism_version": "v1.13.4",
            "admin_sequencerActive": True,
        }
        self.params: dict[str, Any] = {}

    async def __call__(self, method: str, params: Any) -> Any:
        self.params[method] = params
        if method == "optimism_outputAtBlock":
            number = int(params[0], 16)
            if number > SYNC_STATUS["unsafe_l2"]["number"]:
                raise Fault(-32000, f"failed to determine L2BlockRef of height {number}: not found")
            return self.answers.get(method) or {
                "version": "0x" + "00" * 32,
                "outputRoot": OUTPUT_ROOT,
                "blockRef": {**l2_ref(number, 98, 0), "hash": BLOCK_HASH},
                "withdrawalStorageRoot": MESSAGE_PASSER_ROOT,
                "stateRoot": STATE_ROOT,
                "syncStatus": SYNC_STATUS,
            }
        if method not in self.answers:
            raise Fault(-32601, f"the method {method} does not exist/is not available")
        return self.answers[method]


@pytest_asyncio.fixture(loop_scope="function")
async def node() -> AsyncIterator[tuple[OpNode, RollupClient]]:
    op_node = OpNode()
    server = await JsonRpcServer(op_node).start()
    client = RollupClient(server.url, timeout=2.0, backoff=0.01)
    yield op_node, client
    await client.close()
    await server.stop()


async def test_sync_status_parses_every_ref(node):
    """All L1 and L2 refs of optimism_syncStatus land in the matching SyncStatus fields."""
    _, client = node
    status = await client.sync_status()
    assert status.current_l1.number == 100 and status.head_l1.number == 105
    assert status.safe_l2.number == 480 and status.finalized_l2.number == 400
    assert status.unsafe_l2.l1_origin.number == 104 and status.unsafe_l2.sequence_number == 2
    assert status.local_safe_l2.number == 482 and status.cross_unsafe_l2.number == 519
    assert status.to_json() == SYNC_STATUS


async def test_output_at_block_sends_a_hex_quantity_and_parses_the_output(node):
    """The block number goes out as 0x-hex; the output root, roots, block ref and status come back."""
    op_node, client = node
    output = await client.output_at_block(480)
    assert op_node.params["optimism_outputAtBlock"] == ["0x1e0"]
    assert output.version == OUTPUT_VERSION_V0
    assert output.output_root == bytes.fromhex(OUTPUT_ROOT[2:])
    assert output.state_root == b"\xaa" * 32 and output.withdrawal_storage_root == b"\xbb" * 32
    assert output.block_ref.number == 480 and output.block_ref.hash == b"\xcc" * 32
    assert output.sync_status.safe_l2.number == 480


async def test_output_root_matches_the_v0_preimage(node):
    """The canned output root is keccak(version ‖ state root ‖ message-passer root ‖ block hash)."""
    from eth_utils.crypto import keccak

    _, client = node
    output = await client.output_at_block(1)
    preimage = output.version + output.state_root + output.withdrawal_storage_root + output.block_ref.hash
    assert keccak(preimage) == output.output_root


async def test_output_of_an_unknown_block_is_a_response_error(node):
    """op-node's error for a block above the unsafe head reaches the caller with its message."""
    _, client = node
    with pytest.raises(RpcResponseError, match="not found") as info:
        await client.output_at_block(10_000)
    assert info.value.method == "optimism_outputAtBlock"


async def test_malformed_outputs_name_the_field(node):
    """A short outputRoot is an RpcDecodeError naming the field and the method."""
    op_node, client = node
    bad = {
        "version": "0x" + "00" * 32,
        "outputRoot": "0x1234",
        "blockRef": l2_ref(1, 1, 0),
        "withdrawalStorageRoot": MESSAGE_PASSER_ROOT,
        "stateRoot": STATE_ROOT,
        "syncStatus": SYNC_STATUS,
    }
    op_node.answers["optimism_outputAtBlock"] = bad
    with pytest.raises(RpcDecodeError, match="outputRoot: expected 32 bytes") as info:
        await client.output_at_block(1)
    assert "optimism_outputAtBlock at http://127.0.0.1" in str(info.value)


async def test_rollup_config_parses_and_ignores_unknown_fields(node):
    """optimism_rollupConfig becomes a RollupConfig; unknown newer fields do not break parsing."""
    _, client = node
    cfg = await client.rollup_config()
    assert cfg.l2_chain_id == 901 and cfg.block_time == 2 and cfg.batch_inbox_address == b"\xff" * 20
    assert cfg.genesis_l1.number == 10 and cfg.is_active("holocene", 1_700_000_000)


async def test_rollup_config_missing_a_field_is_a_decode_error(node):
    """A config without block_time fails naming the missing field."""
    op_node, client = node
    broken = copy.deepcopy(ROLLUP_CONFIG)
    del broken["block_time"]
    op_node.answers["optimism_rollupConfig"] = broken
    with pytest.raises(RpcDecodeError, match="block_time"):
        await client.rollup_config()


async def test_version_and_sequencer_active(node):
    """optimism_version is a string; admin_sequencerActive must be a boolean."""
    op_node, client = node
    assert await client.version() == "v1.13.4"
    assert await client.sequencer_active() is True
    op_node.answers["admin_sequencerActive"] = False
    assert await client.sequencer_active() is False
    op_node.answers["admin_sequencerActive"] = "yes"
    with pytest.raises(RpcDecodeError, match="expected a boolean"):
        await client.sequencer_active()


async def test_older_nodes_without_newer_sync_fields_still_parse(node):
    """A syncStatus without local_safe_l2/cross_unsafe_l2 falls back to safe_l2/unsafe_l2."""
    op_node, client = node
    old = {k: v for k, v in SYNC_STATUS.items() if k not in ("local_safe_l2", "cross_unsafe_l2")}
    op_node.answers["optimism_syncStatus"] = old
    status = await client.sync_status()
    assert status.local_safe_l2 == status.safe_l2 and status.cross_unsafe_l2 == status.unsafe_l2
