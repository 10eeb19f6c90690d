"""SimpleTxManager: craft, sign, publish, bump and confirm L1 transactions (op-service/txmgr semantics).

The contract, per ``send(candidate)``:

1. *Craft* (retried ``CRAFT_RETRIES`` x ``CRAFT_RETRY_INTERVAL``): fee suggestion with floors and caps
   (``fees.suggest_fees``), fee cap ``tip + 2*baseFee``, blob sidecar (v0 or cell proofs), gas from
   ``eth_estimateGas`` when the candidate's limit is 0 (else the limit is checked with ``eth_call``), then
   sign with the next nonce: ``eth_getTransactionCount(latest)`` once, then cached + 1.
2. *Send loop*: publish; classify errors by substring (order matters); after each publish that may have
   reached the pool
   watch that hash's receipt (older hashes stay watched: a pre-bump version may be the one that lands)
   and re-send the identical tx every ``rebroadcast_interval``; every ``resubmission_timeout`` bump the
   fees; retry ``nonce too high`` after ``retry_interval`` at most ``max_retries`` times; abort on the
   critical errors of ``SendState``; return the first receipt ``num_confirmations`` deep.
3. Any failure resets the cached nonce so the next tx re-reads it from the chain.
4. Nonces the L1 node lost (a reorged-out tx it did not put back in its pool) are healed
   (``nonce_gaps``): an unsigned tx takes the chain's pending nonce; a published tx stuck above a gap
   keeps its nonce and each lost nonce gets a no-op self-transfer. Go has no such step.

Times come from an injectable :class:`Clock`, so tests can run the loop without real waits.

The parts live in one module per concept: ``tx`` (candidate, unsigned and signed tx), ``errors``,
``base`` (shared state, RPC caller and clock protocols), ``nonce_gaps`` (lost nonces), ``crafting``
(fees, gas, nonce, signing), ``publishing`` (the send loop and gap fillers) and ``receipts``. This module
assembles :class:`TxManager` and re-exports the public names, so ``from common.txmgr.txmgr import ...``
keeps working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from common.rpc.types import Receipt
from common.txmgr.base import CRAFT_RETRIES, CRAFT_RETRY_INTERVAL, Clock, RpcCaller, SystemClock
from common.txmgr.errors import (
    CraftError,
    SendAbortedError,
    SendTimeoutError,
    TransientPublishError,
    TxManagerClosedError,
    is_already_reserved,
)
from common.txmgr.publishing import MIN_RETRY_WAIT, Publishing
from common.txmgr.send_state import AlreadyReservedError, CriticalSendError, TxMgrError
from common.txmgr.signer import Signer
from common.txmgr.tx import (
    BLOB_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    EMPTY_CALLDATA_GAS,
    SignedTx,
    TxCandidate,
    UnsignedTx,
    cancellation_candidate,
    keccak256,
)

__all__ = [
    "BLOB_TX_TYPE",
    "CRAFT_RETRIES",
    "CRAFT_RETRY_INTERVAL",
    "DYNAMIC_FEE_TX_TYPE",
    "EMPTY_CALLDATA_GAS",
    "MIN_RETRY_WAIT",
    "AlreadyReservedError",
    "Clock",
    "CraftError",
    "CriticalSendError",
    "RpcCaller",
    "SendAbortedError",
    "SendFn",
    "SendTimeoutError",
    "SignedTx",
    "Signer",
    "SystemClock",
    "TransientPublishError",
    "TxCandidate",
    "TxManager",
    "TxManagerClosedError",
    "TxMgrError",
    "UnsignedTx",
    "cancellation_candidate",
    "is_already_reserved",
    "keccak256",
]


class TxManager(Publishing):
    """Sends transactions from one account; safe for concurrent ``send`` calls (nonce lock).

    Constructed as ``TxManager(cfg, eth, signer, metrics=None, *, chain_id=None, clock=None, name="",
    craft_retries=CRAFT_RETRIES, craft_retry_interval=CRAFT_RETRY_INTERVAL)`` (see ``TxManagerBase``).
    """

    async def send(self, candidate: TxCandidate) -> Receipt:
        """Send ``candidate`` until a receipt is ``num_confirmations`` deep (reverted receipts included)."""
        task = await self.send_async(candidate)
        return await task

    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]:
        """Craft and sign now (so nonces follow call order), then publish and confirm in a task.

        Go ``SendAsync``: a crafting failure raises here; later failures surface from the task.
        """
        if self._closed:
            raise TxManagerClosedError()
        self._pending += 1
        self.metrics.record_pending_tx(self._pending)
        deadline = self.clock.monotonic() + self.cfg.tx_send_timeout if self.cfg.tx_send_timeout > 0 else None
        try:
            tx: SignedTx = await self._bounded(self._prepare(candidate), deadline)
        except BaseException:
            self.reset_nonce()
            self._pending -= 1
            self.metrics.record_pending_tx(self._pending)
            raise
        # No await since signing released the nonce lock: the nonce is held before another send can
        # look for gaps below its own. Released by a done callback (runs even if cancelled unstarted).
        nonce = tx.tx.nonce
        self._hold_nonce(nonce)
        task = asyncio.get_running_loop().create_task(self._send_prepared(tx, deadline))
        task.add_done_callback(lambda _task: self._release_nonce(nonce))
        return task

    async def _send_prepared(self, tx: SignedTx, deadline: float | None) -> Receipt:
        try:
            receipt: Receipt = await self._bounded(self._send_tx(tx), deadline)
            return receipt
        except BaseException:
            self.reset_nonce()
            raise
        finally:
            self._pending -= 1
            self.metrics.record_pending_tx(self._pending)

    async def _bounded(self, aw: Awaitable[Any], deadline: float | None) -> Any:
        if deadline is None:
            return await aw
        remaining = deadline - self.clock.monotonic()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                return await aw
        except TimeoutError:
            raise SendTimeoutError(
                f"context deadline exceeded (txmgr.send-timeout {self.cfg.tx_send_timeout:g}s)"
            ) from None

    async def send_cancellation(self, to: bytes, *, blocked_blob: bool) -> Receipt:
        """Unblock geth's pool after ``AlreadyReservedError`` (op-batcher ``cancelBlockingTx``).

        ``blocked_blob`` tells whether the *refused* tx was a blob tx, i.e. a non-blob tx is stuck. The
        cancellation is of the other kind than the refused tx (the stuck tx's kind): an empty-calldata tx
        when ``blocked_blob``, else a 1-blob tx whose blob carries ``0x00``. The failed send reset the
        cached nonce, so it takes the stuck nonce from the chain and replaces the stuck tx (an
        underpriced reply makes the send loop bump at once).
        """
        return await self.send(cancellation_candidate(to, blocked_blob=blocked_blob))


SendFn = Callable[[TxCandidate], Awaitable[Receipt]]
"""A ``send``-like callable (``TxManager.send``), for callers that take one."""
