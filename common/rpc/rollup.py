"""op-node (rollup node) RPC client: ``optimism_*`` and ``admin_sequencerActive``.

Results are parsed once into ``SyncStatus``, ``OutputResponse`` and ``RollupConfig``; a malformed result
raises ``RpcDecodeError`` naming the endpoint, method and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.derive.block_ref import L2BlockRef, hex_to_bytes
from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from common.rpc.client import RpcClient
from common.rpc.errors import RpcDecodeError

OUTPUT_VERSION_V0 = b"\x00" * 32
"""The only output-root version (op-service/eth/output.go OutputVersionV0)."""


@dataclass(frozen=True, slots=True)
class OutputResponse:
    """``optimism_outputAtBlock``: the output root of an L2 block and the node's sync status at that time."""

    version: bytes
    """32 bytes; must be ``OUTPUT_VERSION_V0`` for the proposer to use it."""
    output_root: bytes
    """keccak256(version ‖ state_root ‖ withdrawal_storage_root ‖ block_ref.hash)."""
    block_ref: L2BlockRef
    withdrawal_storage_root: bytes
    """Storage root of the L2ToL1MessagePasser."""
    state_root: bytes
    sync_status: SyncStatus

    @classmethod
    def from_json(cls, obj: Any) -> OutputResponse:
        if not isinstance(obj, dict):
            raise ValueError(f"result: expected an object, got {type(obj).__name__}")
        return cls(
            version=hex_to_bytes(obj.get("version"), "version", 32),
            output_root=hex_to_bytes(obj.get("outputRoot"), "outputRoot", 32),
            block_ref=L2BlockRef.from_json(obj.get("blockRef"), "blockRef"),
            withdrawal_storage_root=hex_to_bytes(
                obj.get("withdrawalStorageRoot"), "withdrawalStorageRoot", 32
            ),
            state_root=hex_to_bytes(obj.get("stateRoot"), "stateRoot", 32),
            sync_status=SyncStatus.from_json(obj.get("syncStatus")),
        )


class RollupClient(RpcClient):
    """Calls to op-node's RPC (the ``optimism`` and ``admin`` namespaces)."""

    async def sync_status(self) -> SyncStatus:
        return await self.call_typed("optimism_syncStatus", [], SyncStatus.from_json)

    async def output_at_block(self, number: int) -> OutputResponse:
        """The output at L2 block ``number`` (sent as a hex quantity); op-node errors for unknown blocks."""
        return await self.call_typed("optimism_outputAtBlock", [hex(number)], OutputResponse.from_json)

    async def rollup_config(self) -> RollupConfig:
        return await self.call_typed("optimism_rollupConfig", [], RollupConfig.from_json)

    async def version(self) -> str:
        def parse(result: Any) -> str:
            if not isinstance(result, str):
                raise ValueError(f"result: expected a string, got {type(result).__name__}")
            return result

        return await self.call_typed("optimism_version", [], parse)

    async def sequencer_active(self, *, timeout: float | None = None) -> bool:
        """``admin_sequencerActive``: whether this node is the sequencer currently producing blocks."""
        result = await self.call("admin_sequencerActive", [], timeout=timeout)
        if not isinstance(result, bool):
            raise RpcDecodeError(
                f"unexpected result: expected a boolean, got {result!r}",
                endpoint=self.endpoint,
                method="admin_sequencerActive",
            )
        return result
