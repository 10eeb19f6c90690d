"""op-node (rollup node) RPC client: ``optimism_*`` and ``admin_sequencerActive``.

Results are parsed once into ``SyncStatus``, ``OutputResponse`` and ``RollupConfig``; a malformed result
raises ``RpcDecodeError`` naming the endpoint, method and field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from common.derive.block_ref import L2BlockRef
from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from common.rpc.client import Params, RpcClient
from common.rpc.errors import RpcDecodeError
from common.rpc.types import hex_field

T = TypeVar("T")

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
            version=hex_field(obj.get("version"), "version", 32),
            output_root=hex_field(obj.get("outputRoot"), "outputRoot", 32),
            block_ref=L2BlockRef.from_json(obj.get("blockRef"), "blockRef"),
            withdrawal_storage_root=hex_field(obj.get("withdrawalStorageRoot"), "withdrawalStorageRoot", 32),
            state_root=hex_field(obj.get("stateRoot"), "stateRoot", 32),
            sync_status=SyncStatus.from_json(obj.get("syncStatus")),
        )


class RollupClient(RpcClient):
    """Calls to op-node's RPC (the ``optimism`` and ``admin`` namespaces)."""

    async def _typed(self, method: str, params: Params, parse: Callable[[Any], T]) -> T:
        result = await self.call(method, params)
        try:
            return parse(result)
        except ValueError as exc:
            raise RpcDecodeError(f"unexpected result: {exc}", endpoint=self.endpoint, method=method) from None

    async def sync_status(self) -> SyncStatus:
        return await self._typed("optimism_syncStatus", [], SyncStatus.from_json)

    async def output_at_block(self, number: int) -> OutputResponse:
        """The output at L2 block ``number`` (sent as a hex quantity); op-node errors for unknown blocks."""
        return await self._typed("optimism_outputAtBlock", [hex(number)], OutputResponse.from_json)

    async def rollup_config(self) -> RollupConfig:
        return await self._typed("optimism_rollupConfig", [], RollupConfig.from_json)

    async def version(self) -> str:
        def parse(result: Any) -> str:
            if not isinstance(result, str):
                raise ValueError(f"result: expected a string, got {type(result).__name__}")
            return result

        return await self._typed("optimism_version", [], parse)

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
