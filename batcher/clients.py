"""What the batcher driver needs from its clients (the service wires the real ones; tests pass fakes).

Structural protocols over :mod:`common.rpc` clients and :class:`common.txmgr.txmgr.TxManager`: the rollup
node (sync status), the L2 execution client (blocks as JSON), the static or active-sequencer provider of
both, the L1 client (headers, nonces, blocks, blobs) and the tx manager.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from common.derive.sync_status import SyncStatus
from common.rpc.types import Header, Receipt
from common.txmgr.txmgr import TxCandidate


class RollupLike(Protocol):
    async def sync_status(self) -> SyncStatus: ...


class L2EthLike(Protocol):
    async def block_json(self, block: Any = "latest", *, full_txs: bool = True) -> dict[str, Any]: ...


class L2Endpoints(Protocol):
    """StaticL2Provider / ActiveL2Provider."""

    async def rollup_client(self) -> Any: ...
    async def eth_client(self) -> Any: ...


class L1Like(Protocol):
    async def header(self, block: Any = "latest") -> Header: ...
    async def nonce_at(self, address: bytes | str, block: Any = "latest") -> int: ...
    async def block_json(self, block: Any = "latest", *, full_txs: bool = True) -> dict[str, Any]: ...
    async def blobs(self, tx_hash: bytes) -> list[bytes]: ...


class TxManagerLike(Protocol):
    @property
    def from_address(self) -> bytes: ...
    @property
    def closed(self) -> bool: ...
    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]: ...
    async def send_cancellation(self, to: bytes, *, blocked_blob: bool) -> Receipt: ...
    async def suggest_gas_price_caps(self, *, for_blob: bool = False) -> Any: ...
