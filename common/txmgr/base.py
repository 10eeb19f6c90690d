"""Shared state of the tx manager and the interfaces it runs on (L1 RPC caller, clock)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Protocol

from common.service.log import Logger, get_logger
from common.txmgr.blobs import resolve_cell_proof_time
from common.txmgr.config import TxMgrConfig
from common.txmgr.fees import FeeSettings
from common.txmgr.metrics import NoopTxMetrics, TxMetricer
from common.txmgr.signer import Signer

_log = get_logger("txmgr")

CRAFT_RETRIES = 30
"""Attempts to craft a tx (fee suggestion, estimation, signing) before ``send`` fails (Go: 30)."""
CRAFT_RETRY_INTERVAL = 2.0
"""Seconds between crafting attempts (Go: fixed 2 s)."""


class RpcCaller(Protocol):
    """The part of ``common.rpc.eth.EthClient`` used here: raw JSON-RPC calls with a timeout."""

    async def call(
        self, method: str, params: Any = None, *, timeout: float | None = None, retry: bool | None = None
    ) -> Any: ...


class Clock(Protocol):
    """Time source of the send loop (monotonic deadlines, unix times, sleeping)."""

    def monotonic(self) -> float: ...
    def unix(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def unix(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class TxManagerBase:
    """The state every part of the tx manager shares: config, clients, fee knobs, nonce and lifecycle.

    ``TxManager`` is this plus crafting (``common.txmgr.crafting``), receipt watching
    (``common.txmgr.receipts``) and the send loop (``common.txmgr.publishing``).
    """

    def __init__(
        self,
        cfg: TxMgrConfig,
        eth: RpcCaller,
        signer: Signer,
        metrics: TxMetricer | None = None,
        *,
        chain_id: int | None = None,
        clock: Clock | None = None,
        name: str = "",
        craft_retries: int = CRAFT_RETRIES,
        craft_retry_interval: float = CRAFT_RETRY_INTERVAL,
    ) -> None:
        self.cfg = cfg
        self.eth = eth
        self.signer = signer
        self.metrics: TxMetricer = metrics or NoopTxMetrics()
        self.clock: Clock = clock or SystemClock()
        self.name = name
        self.log: Logger = _log.new(service=name) if name else _log
        self.craft_retries = craft_retries
        self.craft_retry_interval = craft_retry_interval
        self.settings = FeeSettings(
            min_tip_cap=cfg.min_tip_cap,
            min_base_fee=cfg.min_base_fee,
            max_tip_cap=cfg.max_tip_cap,
            max_base_fee=cfg.max_base_fee,
            min_blob_tx_fee=cfg.min_blob_tx_fee,
            fee_limit_multiplier=cfg.fee_limit_multiplier,
            fee_limit_threshold=cfg.fee_limit_threshold,
        )
        """Runtime-mutable fee knobs (the ``txmgr_*`` admin API writes these)."""
        self.resubmission_timeout = cfg.resubmission_timeout
        self.rebroadcast_interval = cfg.rebroadcast_interval
        self.blob_tip_cap_dynamic = cfg.blob_tip_cap_dynamic
        self._chain_id = chain_id
        self._cell_proof_time = (
            resolve_cell_proof_time(cfg.cell_proof_time, chain_id) if chain_id is not None else None
        )
        self._init_lock = asyncio.Lock()
        self._nonce: int | None = None
        self._nonce_lock = asyncio.Lock()
        self._pending = 0
        self._closed = False
        self._closed_event = asyncio.Event()
        self._blob_tip_cache: dict[int, list[int]] = {}
        self._in_flight: Counter[int] = Counter()
        """Nonce -> sends in flight with it (signed, not yet confirmed or failed), fillers included."""
        self._fillers: set[asyncio.Task[None]] = set()
        """Background sends filling nonces the node lost (``common.txmgr.nonce_gaps``)."""

    # ------------------------------------------------------------------------------------------ basics

    @property
    def from_address(self) -> bytes:
        return self.signer.address

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def chain_id(self) -> int | None:
        return self._chain_id

    def close(self) -> None:
        """Refuse new sends; sends not waiting for a mined tx stop with ``TxManagerClosedError``.

        The L1 client is not closed here: its owner (the service) closes it after the drivers stop.
        """
        self._closed = True
        self._closed_event.set()
        for filler in self._fillers:
            filler.cancel()

    async def init(self) -> None:
        """Read the L1 chain id (``eth_chainId``) and resolve ``txmgr.cell-proof-time`` from it."""
        async with self._init_lock:
            if self._chain_id is None:
                self._chain_id = int(await self._call("eth_chainId", []), 16)
            if self._cell_proof_time is None:
                self._cell_proof_time = resolve_cell_proof_time(self.cfg.cell_proof_time, self._chain_id)

    async def block_number(self) -> int:
        return int(await self._call("eth_blockNumber", []), 16)

    def reset_nonce(self) -> None:
        """Forget the cached nonce; the next tx reads ``eth_getTransactionCount(latest)`` again."""
        self._nonce = None

    async def _call(self, method: str, params: list[Any], *, retry: bool | None = None) -> Any:
        return await self.eth.call(method, params, timeout=self.cfg.network_timeout, retry=retry)
