"""``superroot_atTimestamp`` for the devnet's single L2 chain, as op-node serves it for a non-interop chain.

op-node (``superrootAPI.atTimestamp``, PR #20581) answers for its one chain: the L2 block at the timestamp
is ``(ts - genesis.l2_time) // block_time + genesis.l2.number``; the sync view comes from the node's
SyncStatus (``current_l1``, safe/local-safe/finalized head *timestamps*); the chain's output root and the
super root are only given once that block is (locally) safe, and the L1 block at which it became safe is
its ``required_l1`` (op-node's SafeDB; here the rollup-node stand-in's safe-head history). Before that the
answer has no ``data`` (and no optimistic entry), exactly like op-node/op-supernode.

Super root (common/derive/super_root.py): keccak256(0x01 ‖ uint64 ts ‖ uint256 chainId ‖ outputRoot).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from common.derive.block_ref import BlockID, L2BlockRef
from common.derive.rollup_config import RollupConfig
from common.derive.super_root import ChainOutput, SuperV1
from common.derive.sync_status import SyncStatus
from devnet.anvil import rpc_call


class _Deriver(Protocol):
    """What the super root reads from the rollup node's deriver (devnet/deriver.py)."""

    rollup: RollupConfig
    genesis_l2: L2BlockRef
    l1_url: str

    @property
    def safe_history(self) -> Sequence[tuple[int, L2BlockRef]]: ...

    def sync_status(self) -> SyncStatus: ...


class RollupNode(Protocol):
    """The rollup node serving ``superroot_atTimestamp`` for its one chain."""

    @property
    def deriver(self) -> _Deriver: ...

    def output_at_block(self, number: int) -> dict[str, Any]: ...


def target_block_number(node: RollupNode, timestamp: int) -> int:
    """op-node ``rollup.Config.TargetBlockNumber``: the last L2 block at or before ``timestamp``."""
    rollup = node.deriver.rollup
    if timestamp < rollup.genesis_l2_time:
        raise ValueError(
            f"target block number for timestamp {timestamp}: before L2 genesis time {rollup.genesis_l2_time}"
        )
    return (timestamp - rollup.genesis_l2_time) // rollup.block_time + rollup.genesis_l2.number


def _block_id_json(block: BlockID) -> dict[str, Any]:
    return {"hash": "0x" + block.hash.hex(), "number": block.number}


def _required_l1(node: RollupNode, number: int) -> BlockID:
    """The first L1 block after which L2 block ``number`` was safe (genesis: L1 block 0, as op-node)."""
    if number == node.deriver.genesis_l2.number:
        return BlockID(b"\x00" * 32, 0)
    for l1_number, ref in node.deriver.safe_history:
        if ref.number >= number:
            block = rpc_call(node.deriver.l1_url, "eth_getBlockByNumber", [hex(l1_number), False])
            if isinstance(block, dict):
                return BlockID(bytes.fromhex(block["hash"][2:]), l1_number)
    raise LookupError(f"L2 block {number} is safe but not in the safe-head history")


def at_timestamp(node: RollupNode, timestamp: int) -> dict[str, Any]:
    """The ``eth.SuperRootAtTimestampResponse`` JSON for this chain at ``timestamp``."""
    status = node.deriver.sync_status()
    chain_id = node.deriver.rollup.l2_chain_id
    response: dict[str, Any] = {
        "current_l1": _block_id_json(BlockID(status.current_l1.hash, status.current_l1.number)),
        "safe_timestamp": status.safe_l2.timestamp,
        "local_safe_timestamp": status.local_safe_l2.timestamp,
        "finalized_timestamp": status.finalized_l2.timestamp,
        "optimistic_at_timestamp": {},
        "chain_ids": [str(chain_id)],
    }
    number = target_block_number(node, timestamp)
    if number > status.local_safe_l2.number:
        return response  # not derived yet: op-node omits the chain and the data
    output = node.output_at_block(number)
    required = _required_l1(node, number)
    root = bytes.fromhex(output["outputRoot"][2:])
    response["optimistic_at_timestamp"][str(chain_id)] = {
        "output": output,
        "output_root": output["outputRoot"],
        "required_l1": _block_id_json(required),
    }
    sup = SuperV1.of(timestamp, [ChainOutput(chain_id, root)])
    response["data"] = {
        "verified_required_l1": _block_id_json(required),
        "super": sup.to_json(),
        "super_root": "0x" + sup.root().hex(),
    }
    return response
