"""The batcher driver: the async shell around the pure channel manager (op-batcher.md §4.1-§4.13).

One task owns the :class:`~batcher.channels.manager.ChannelManager` (the *state* task). Everything else
talks to it through queues of small messages:

* the state task ticks every ``poll_interval``: sync status -> sync actions -> load blocks (fetched
  concurrently, in chunks of 100 with a publish pass between chunks so a backlog starts draining at once)
  -> publish: tx data from the manager -> calldata or blob :class:`TxCandidate` -> the *sender* task;
* the sender task hands candidates to the txmgr :class:`Queue` in order (nonces follow that order);
  results come back as :class:`Receipt` messages on the state task's inbox (``tx_confirmed`` /
  ``tx_failed``, txpool-blocked handling); at most ``max_pending_tx`` txs are out at once;
* the *throttle* task turns the unsafe-DA backlog into ``miner_setMaxDASize`` limits, sent by one
  task per endpoint (latest value wins; method-not-found-class errors shut the service down);
* ``flush`` / ``stop`` arrive as messages too.

The pieces live next door: :mod:`batcher.loading.block_loader` (sync status -> sync actions -> L2 blocks into
the manager, reorgs, recovery of channels already on L1; it runs in the state task),
:mod:`batcher.publishing.publisher`
(tx data -> candidates; the compressing call runs in a worker thread so the RPC server stays responsive
while a multi-blob channel is compressed), :mod:`batcher.channels.reporter` (manager events -> Go's logs and
metrics, closed-channel verification), :mod:`batcher.throttling.loop` (the throttle loop and endpoint calls),
:mod:`batcher.clients` (what the driver needs from the L1/L2/rollup clients and the tx manager),
:mod:`batcher.publishing.altda` (with ``--altda.enabled``: each frame is put to the DA server before its
commitment tx).

Better than Go: every closed channel is decoded back and compared with its blocks (a mismatch stops
publishing with a CRIT log and ``channel_verify_failures_total``: posting it would only burn fees); after
a restart the batcher's own L1 txs past the node's current L1 are read back and the channels already
complete on L1 are not posted again; batches past the sequencing window are held back with an alert; the
manager never emits empty channels and fills channels while draining a backlog; the throttle limits are
re-sent when the backlog shrinks without a block load (Go refreshes them only on loads).

Simplified vs Go: an empty sync status skips the tick (the poll interval is the back-off); frames a
channel streams out before it closes are verified when it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from batcher.channels.channel import TxData, TxID
from batcher.channels.config import GasPriceCaps
from batcher.channels.manager import ChannelManager
from batcher.channels.reporter import ChannelEventReporter
from batcher.clients import L1Like, L2Endpoints, TxManagerLike
from batcher.driver_config import DriverConfig
from batcher.loading.block_loader import BlockLoader
from batcher.metrics import BatcherMetrics
from batcher.publishing.altda import AltDAPoster, DAResult
from batcher.publishing.fee_gate import FeeGate
from batcher.publishing.publisher import TxDataRequest, altda_tx_candidate, next_tx_data, tx_candidate
from batcher.throttling.controller import ThrottleController, ThrottleParams
from batcher.throttling.loop import ThrottleCall, ThrottleLoop
from common.derive.block_ref import BlockID
from common.derive.rollup_config import RollupConfig
from common.rpc.client import within
from common.rpc.errors import RpcError
from common.rpc.types import Header
from common.service.log import get_logger
from common.txmgr.queue import Queue, TxReceipt
from common.txmgr.txmgr import TxCandidate, is_already_reserved

log = get_logger("batcher")

STEP_BUDGET = 16
"""Txs handed out before the state task yields to the event loop (max-pending-tx 0 can mean many)."""


class TxpoolState(enum.Enum):
    GOOD = "good"
    BLOCKED = "blocked"
    CANCEL_PENDING = "cancel_pending"


class AlreadyRunning(RuntimeError):
    def __init__(self) -> None:
        super().__init__("batcher is already running")


class NotRunning(RuntimeError):
    def __init__(self) -> None:
        super().__init__("batcher is not running")


@dataclass(frozen=True, slots=True)
class _Flush:
    pass


@dataclass(frozen=True, slots=True)
class _CancelDone:
    error: BaseException | None


_Msg = TxReceipt[TxID] | _Flush | _CancelDone | DAResult


def _block_id(header: Header) -> BlockID:
    return BlockID(header.hash, header.number)


class BatchDriver:
    """Owns the channel manager and runs the loops; ``start``/``stop``/``flush`` are the admin surface."""

    def __init__(
        self,
        cfg: DriverConfig,
        *,
        rollup: RollupConfig,
        l1: L1Like,
        l2: L2Endpoints,
        txmgr: TxManagerLike,
        manager: ChannelManager,
        metrics: BatcherMetrics,
        throttle_call: ThrottleCall | None = None,
        close_app: Callable[[BaseException | None], None] | None = None,
        clock: Callable[[], float] = time.time,
        altda: AltDAPoster | None = None,
    ) -> None:
        self.cfg = cfg
        self.altda = altda
        """With Alt-DA on: frames go to the DA server first, the inbox tx carries the commitment."""
        self.rollup = rollup
        self.l1 = l1
        self.l2 = l2
        self.txmgr = txmgr
        self.mgr = manager
        self.metrics = metrics
        self._close_app = close_app or (lambda _err: None)
        self.clock = clock
        self.throttling = ThrottleLoop(
            cfg.throttle,
            cfg.throttle_controller,
            cfg.pid,
            cfg.throttle_endpoints,
            metrics=metrics,
            call=throttle_call,
            close_app=self._close_app,
            blob_fee=self._blob_base_fee,
        )
        self.loader = BlockLoader(
            cfg,
            rollup=rollup,
            l1=l1,
            l2=l2,
            txmgr=txmgr,
            manager=manager,
            metrics=metrics,
            throttling=self.throttling,
            publish=lambda: self.publish_step(ignore_max_duration=True),
            stop_event=lambda: self._stopping,
        )
        self.events = ChannelEventReporter(manager, metrics, rollup)
        self.fee_gate: FeeGate | None = None
        if cfg.fee_aware.enabled:  # fee-aware posting (batcher/publishing/fee_gate.py), our addition
            self.fee_gate = FeeGate(
                cfg.fee_aware, metrics=metrics.fee_aware, blob_base_fee=self._blob_base_fee
            )
        self._inbox: asyncio.Queue[_Msg] = asyncio.Queue()
        self._receipts: asyncio.Queue[TxReceipt[TxID]] = asyncio.Queue()
        self._to_send: asyncio.Queue[tuple[TxID, TxCandidate]] = asyncio.Queue()
        self._queue: Queue[TxID] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._stopping = asyncio.Event()
        self._in_flight = 0
        self._as_blob: dict[TxID, bool] = {}
        self._txpool = TxpoolState.GOOD
        self._txpool_blob = False
        self._flush_pending = False

    # ---- lifecycle --------------------------------------------------------------------------------

    @property
    def throttle(self) -> ThrottleController:
        """The throttle controller (admin RPC reads and changes it)."""
        return self.throttling.controller

    def apply_throttle(self, unsafe: int) -> ThrottleParams:
        """Update the controller with a backlog and record the metrics; returns the new limits."""
        return self.throttling.apply(unsafe)

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Go StartBatchSubmitting: clear state, wait for L2 genesis and (optionally) node sync, then loop."""
        if self._running:
            raise AlreadyRunning()
        self._running = True
        self._stopping = asyncio.Event()
        log.info("Starting Batch Submitter")
        try:
            await self.loader.clear_state_with_retry()
            await self._wait_l2_genesis()
            if self.cfg.wait_node_sync:
                await self.loader.wait_node_sync()
        except BaseException:
            self._running = False
            raise
        self.loader.recover_pending = self.cfg.recover_from_l1
        self._queue = Queue(self.txmgr, self.cfg.max_pending_tx)
        self._spawn(self._state_loop(), "batcher-state")
        self._spawn(self._sender_loop(), "batcher-sender")
        self._spawn(self._receipt_forwarder(), "batcher-receipts")
        if self.throttling.enabled:
            self._spawn(self.throttling.run(self._spawn), "batcher-throttle")
        else:
            log.warn(
                "Throttling loop is DISABLED due to 0 throttle-threshold. "
                "This should not be disabled in prod."
            )
        self.metrics.record_stopped(False)
        log.info("Batch Submitter started")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def stop(self) -> None:
        """Stop loops, wait (up to the drain timeout) for in-flight txs; cancelled => abandon them."""
        if not self._running:
            raise NotRunning()
        log.info("Stopping Batch Submitter")
        self._stopping.set()
        state = [t for t in self._tasks if t.get_name() == "batcher-state"]
        try:
            if state:
                await asyncio.wait(state, timeout=self.cfg.drain_timeout)
            if self.altda is not None:  # Go waits for its DA goroutines before the queued txs
                await self.altda.drain(self.cfg.drain_timeout)
            if self._queue is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.wait(), self.cfg.drain_timeout)
            if all(t.done() for t in state):  # else a worker thread may still hold the manager
                self._drain_receipts()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._tasks = []
            if self.altda is not None:
                await self.altda.cancel()
            while not self._to_send.empty():  # never sent: the next start clears the state anyway
                self._to_send.get_nowait()
            self._in_flight = 0
            self._as_blob.clear()
            self._txpool = TxpoolState.GOOD
            self._flush_pending = False
            self._running = False
            self.metrics.record_stopped(True)
        log.info("Batch Submitter stopped")

    def _drain_receipts(self) -> None:
        """Handle results already delivered (the forwarder may have moved some into the inbox)."""
        while not self._receipts.empty():
            self._on_receipt(self._receipts.get_nowait())
        while not self._inbox.empty():
            msg = self._inbox.get_nowait()
            if isinstance(msg, TxReceipt):
                self._on_receipt(msg)

    def flush(self) -> None:
        """admin_flushBatcher: force-close the current channel and publish (non-blocking)."""
        if not self._running:
            raise NotRunning()
        if self._flush_pending:
            log.warn("publishSignal channel is full, skipping signal")
            return
        log.info("Flushing Batch Submitter")
        self._flush_pending = True
        self._inbox.put_nowait(_Flush())

    # ---- startup ----------------------------------------------------------------------------------

    async def _wait_l2_genesis(self) -> None:
        while (wait := self.rollup.genesis_l2_time - self.clock()) > 0:
            log.info("Waiting for L2 genesis", genesis_time=self.rollup.genesis_l2_time)
            await asyncio.sleep(min(wait, 30.0))

    # ---- the state task ---------------------------------------------------------------------------

    async def _state_loop(self) -> None:
        next_tick = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            force = False
            timeout = max(0.0, next_tick - loop.time())
            msg = await self._next_message(timeout)
            try:
                if msg is None:
                    next_tick = loop.time() + self.cfg.poll_interval
                    await self.load_step()
                elif isinstance(msg, _Flush):
                    self._flush_pending = False
                    force = True
                elif isinstance(msg, DAResult):
                    self._on_da_result(msg)
                elif isinstance(msg, _CancelDone):
                    self._txpool = TxpoolState.GOOD
                    log.info("txpool may no longer be blocked", err=str(msg.error) if msg.error else None)
                else:
                    self._on_receipt(msg)
                if not self._stopping.is_set():
                    await self.publish_step(force=force)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or an unexpected reply must not stop the batcher for good
                log.error("Batcher state step failed, retrying on next tick", err=repr(exc))

    async def _next_message(self, timeout: float) -> _Msg | None:
        """An inbox message, or None when ``timeout`` passes (a tick) or stop is requested."""
        get = asyncio.ensure_future(self._inbox.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({get, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not get.done():
                get.cancel()
        # A message that arrived while we stopped waiting is still delivered, never dropped.
        return get.result() if get.done() and not get.cancelled() else None

    async def load_step(self) -> None:
        """One tick of the block-loading loop (Go §4.2 steps 1-3); see :mod:`batcher.loading.block_loader`."""
        await self.loader.load_step()
        self._record_pending_da()

    def _record_pending_da(self) -> None:
        """Set the ``pending_da_bytes`` gauge from the manager (O(1)) after a step that may have changed the
        block queue; the state task is the manager's one owner, so no scrape reads it across threads."""
        if self.cfg.pending_da_gauge:
            self.metrics.record_pending_da(self.mgr.pending_da_bytes)

    # ---- publishing -------------------------------------------------------------------------------

    def _can_send(self) -> bool:
        if self.altda is not None and not self.altda.has_slot():
            return False  # Go requeues the frame when TryGo finds no slot; waiting is the same, minus a spin
        return self.cfg.max_pending_tx == 0 or self._in_flight < self.cfg.max_pending_tx

    async def publish_step(self, *, force: bool = False, ignore_max_duration: bool = False) -> int:
        """Go publishStateToL1: hand out tx data until none is left or max-pending is reached.

        Returns the number of txs queued.
        """
        if self.txmgr.closed:
            log.info("Txmgr is closed, aborting state publishing")
            return 0
        if self._txpool is not TxpoolState.GOOD:
            self._handle_blocked_txpool()
            log.info("txpool state is not good, aborting state publishing")
            return 0
        if self.events.verify_failed is not None:
            log.crit("A channel failed verification; not publishing", err=self.events.verify_failed)
            return 0
        if not self._can_send():
            return 0
        try:
            header = await within(
                self.l1.header("latest"),
                self.cfg.network_timeout,
                self.l1,
                "eth_getBlockByNumber",
            )
        except (RpcError, TimeoutError, OSError) as exc:
            log.warn("Failed to query L1 tip", err=str(exc))
            return 0
        self.metrics.record_latest_l1(header.number, header.timestamp, header.hash)
        prices = await self._gas_prices() if self.cfg.is_auto_da else None
        # ---- fee-aware posting (our addition): hold tx data back while L1 fees spike; a flush never waits
        if self.fee_gate is not None and not force:
            blob_fee = prices.blob_base_fee if prices is not None else None
            if not await self.fee_gate.allow(header, self.mgr, blob_base_fee=blob_fee):
                return 0
        # ---- end fee-aware posting
        queued = 0
        while self._can_send():
            req = TxDataRequest(
                l1_head=_block_id(header),
                is_throttling=self.throttle.params.intensity > 0,
                force_publish=force,
                gas_prices=prices,
                ignore_max_channel_duration=ignore_max_duration,
                backlog_blocks=self.loader.backlog,
                now=asyncio.get_running_loop().time(),
            )
            # Filling a channel compresses (seconds for a multi-blob brotli-10 span channel) and closing
            # one decodes it back; zlib and brotli release the GIL, so a worker thread keeps the RPC
            # server and the other tasks running. Only this task mutates the manager meanwhile.
            result, self.events.verdicts = await asyncio.to_thread(next_tx_data, self.mgr, self.rollup, req)
            force = False
            self.events.report(result.events)
            if self.events.verify_failed is not None or result.tx is None:
                break
            await self._queue_tx(result.tx)
            queued += 1
            if queued % STEP_BUDGET == 0:
                await asyncio.sleep(0)  # let the sender and the RPC server run between batches of txs
        self.metrics.record_channel_queue(len(self.mgr.channels))
        self._record_pending_da()
        return queued

    async def _gas_prices(self) -> GasPriceCaps | None:
        try:
            s = await self.txmgr.suggest_gas_price_caps()
        except Exception as exc:
            log.warn("Error querying gas prices, returning last config", err=str(exc))
            return None
        return GasPriceCaps(tip_cap=s.tip, base_fee=s.base_fee, blob_base_fee=s.blob_base_fee)

    async def _blob_base_fee(self) -> int:
        """The blob base fee as the tx manager reads it (``eth_blobBaseFee``), for the fee gate."""
        return int((await self.txmgr.suggest_gas_price_caps()).blob_base_fee)

    async def _queue_tx(self, tx: TxData) -> None:
        inbox = self.rollup.batch_inbox_address
        if self.altda is not None:  # the candidate is built when the DA server has the frame
            self._in_flight += 1
            self._as_blob[tx.id] = False
            self.altda.submit(tx, self._inbox.put_nowait)
            return
        if tx.as_blob:  # blob encoding of up to 6 x 128 KiB is pure Python: keep it off the loop too
            cand = await asyncio.to_thread(tx_candidate, tx, inbox, self.metrics)
        else:
            cand = tx_candidate(tx, inbox, self.metrics)
        self._in_flight += 1
        self._as_blob[tx.id] = tx.as_blob
        self._to_send.put_nowait((tx.id, cand))

    async def _sender_loop(self) -> None:
        """Hands candidates to the txmgr queue in order (crafting assigns nonces in this order)."""
        assert self._queue is not None
        while True:
            tx_id, cand = await self._to_send.get()
            await self._queue.send(tx_id, cand, self._receipts)

    async def _receipt_forwarder(self) -> None:
        while True:
            self._inbox.put_nowait(await self._receipts.get())

    def _handle_blocked_txpool(self) -> None:
        if self._txpool is TxpoolState.BLOCKED:
            self._txpool = TxpoolState.CANCEL_PENDING
            log.warn("sending a cancellation transaction to unblock txpool", blocked_blob=self._txpool_blob)
            self._spawn(self._cancel(self._txpool_blob), "batcher-cancel")

    async def _cancel(self, blocked_blob: bool) -> None:
        err: BaseException | None = None
        try:
            await self.txmgr.send_cancellation(self.rollup.batch_inbox_address, blocked_blob=blocked_blob)
        except Exception as exc:
            err = exc
        self._inbox.put_nowait(_CancelDone(err))

    # ---- receipts and events ----------------------------------------------------------------------

    def _on_da_result(self, r: DAResult) -> None:
        """A DA submission ended: send the commitment tx, or requeue the frame (Go recordFailedDARequest)."""
        if r.commitment is not None:
            cand = altda_tx_candidate(r.commitment, self.rollup.batch_inbox_address)
            self._to_send.put_nowait((r.tx_id, cand))
            return
        self._in_flight = max(0, self._in_flight - 1)
        self._as_blob.pop(r.tx_id, None)
        log.warn("DA request failed", tx_id=str(r.tx_id), err=r.error)
        self.events.report(self.mgr.tx_failed(r.tx_id).events)
        self._record_pending_da()  # a failed tx may requeue its channel's blocks

    def _on_receipt(self, r: TxReceipt[TxID]) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        as_blob = self._as_blob.pop(r.id, False)
        log.debug("Handling receipt", id=str(r.id))
        if r.error is not None:
            if is_already_reserved(r.error) and self._txpool is TxpoolState.GOOD:
                self._txpool = TxpoolState.BLOCKED
                self._txpool_blob = as_blob
                log.warn("incompatible tx in txpool", is_blob=as_blob)
            log.warn("Transaction failed to send", tx_id=str(r.id), err=str(r.error))
            self.metrics.record_batch_tx_failed()
            self.events.report(self.mgr.tx_failed(r.id).events)
            self._record_pending_da()  # a failed tx may requeue its channel's blocks
        elif r.receipt is not None:
            rc = r.receipt
            log.info(
                "Transaction confirmed",
                tx_id=str(r.id),
                tx="0x" + rc.transaction_hash.hex(),
                block=f"{rc.block_number}",
            )
            self.metrics.record_batch_tx_success()
            self.events.report(self.mgr.tx_confirmed(r.id, BlockID(rc.block_hash, rc.block_number)).events)
