"""Super-root RPC client: ``superroot_atTimestamp``, served by op-supernode and (single chain) by op-node.

The method takes the timestamp as a hex quantity (``hexutil.Uint64``) and answers
``eth.SuperRootAtTimestampResponse`` (op-service/eth/superroot_at_timestamp.go)::

    {"current_l1": {"hash", "number"}, "safe_timestamp": N, "local_safe_timestamp": N,
     "finalized_timestamp": N, "optimistic_at_timestamp": {...}, "chain_ids": ["901", ...],
     "data": {"verified_required_l1": {...}, "super": SuperV1 JSON, "super_root": "0x…"}}

``data`` is absent while some chain has not derived the timestamp yet. Only what op-proposer reads is kept;
a malformed result raises ``RpcDecodeError`` naming the endpoint, method and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.derive.block_ref import BlockID, hex_to_bytes, json_uint
from common.derive.super_root import SuperV1
from common.rpc.client import RpcClient

METHOD = "superroot_atTimestamp"


@dataclass(frozen=True, slots=True)
class SuperRootData:
    """The super root at the requested timestamp once every chain has it."""

    verified_required_l1: BlockID
    super_root: bytes
    """32 bytes: keccak256(super.marshal()) as the server computed it."""
    super: SuperV1 | None
    """The preimage; None when the server sent none (the proposer then cannot build extraData)."""


@dataclass(frozen=True, slots=True)
class SuperRootAtTimestamp:
    """One ``superroot_atTimestamp`` answer: the server's sync view plus the super root, if known."""

    current_l1: BlockID
    safe_timestamp: int
    local_safe_timestamp: int
    finalized_timestamp: int
    chain_ids: tuple[int, ...]
    data: SuperRootData | None

    @classmethod
    def from_json(cls, obj: Any) -> SuperRootAtTimestamp:
        if not isinstance(obj, dict):
            raise ValueError(f"result: expected an object, got {type(obj).__name__}")
        ids = obj.get("chain_ids") or []
        if not isinstance(ids, list):
            raise ValueError("chain_ids: expected a list")
        return cls(
            current_l1=BlockID.from_json(obj.get("current_l1", {}), "current_l1"),
            safe_timestamp=json_uint(obj.get("safe_timestamp", 0), "safe_timestamp"),
            local_safe_timestamp=json_uint(obj.get("local_safe_timestamp", 0), "local_safe_timestamp"),
            finalized_timestamp=json_uint(obj.get("finalized_timestamp", 0), "finalized_timestamp"),
            chain_ids=tuple(json_uint(v, f"chain_ids[{i}]") for i, v in enumerate(ids)),
            data=_data(obj.get("data")),
        )


def _data(obj: Any) -> SuperRootData | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ValueError("data: expected an object")
    raw_super = obj.get("super")
    return SuperRootData(
        verified_required_l1=BlockID.from_json(
            obj.get("verified_required_l1", {}), "data.verified_required_l1"
        ),
        super_root=hex_to_bytes(obj.get("super_root"), "data.super_root", 32),
        super=None if raw_super is None else SuperV1.from_json(raw_super, "data.super"),
    )


class SuperRootClient(RpcClient):
    """Calls to a super-root RPC (the ``superroot`` namespace)."""

    async def at_timestamp(self, timestamp: int) -> SuperRootAtTimestamp:
        return await self.call_typed(METHOD, [hex(timestamp)], SuperRootAtTimestamp.from_json)
