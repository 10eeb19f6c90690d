"""L2 blocks into the channel manager: the sync side of the batcher driver (op-batcher.md §4.2, §4.11).

Each tick of the driver's state task runs :meth:`BlockLoader.load_step`: the rollup node's sync status ->
:func:`~batcher.channels.sync_actions.compute_sync_actions` (prune what became safe, clear on a reorg, the
range to load) -> the blocks, fetched :data:`FETCH_CONCURRENCY` at a time in chunks of :data:`LOAD_CHUNK`,
with a publish pass between chunks so a backlog starts draining at once. An L2 reorg clears the state and
waits for the node to sync again. After the first load since start, the batcher's own txs past the node's
current L1 are read back and the channels already complete on L1 are marked as submitted.

The loader has no task of its own: it runs inside the driver's state task, the one owner of the
:class:`~batcher.channels.manager.ChannelManager`. Startup uses it too: ``clear_state_with_retry`` and,
with ``--wait-node-sync``, ``wait_node_sync``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable

from batcher.channels.events import ReorgDetected
from batcher.channels.manager import ChannelManager
from batcher.channels.reporter import pending_raw_bytes
from batcher.channels.sync_actions import BlockRange, OutOfSync, compute_sync_actions
from batcher.clients import L1Like, L2Endpoints, TxManagerLike
from batcher.driver_config import DriverConfig
from batcher.loading.da_estimate import unsafe_da_bytes
from batcher.loading.recovery import channels_on_l1, find_recent_tx_block
from batcher.metrics import BatcherMetrics
from batcher.throttling.loop import ThrottleLoop
from common.derive.block_ref import BlockID, L1BlockRef
from common.derive.l2_block import BlockError, BlockInput, block_from_rpc
from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from common.rpc.client import within
from common.rpc.errors import RpcError
from common.service.log import get_logger

log = get_logger("batcher")

LOAD_CHUNK = 100
"""Blocks loaded between publish passes (Go signals publishing every 100 loaded blocks)."""
FETCH_CONCURRENCY = 8
"""L2 blocks fetched at once."""
RECOVERY_MAX_DEPTH = 256
"""L1 blocks read back at most at startup to find the batcher's own channels."""


class BlockLoader:
    """Sync status -> sync actions -> L2 blocks into the manager; run by the driver's state task only."""

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
        throttling: ThrottleLoop,
        publish: Callable[[], Awaitable[int]],
        stop_event: Callable[[], asyncio.Event],
    ) -> None:
        self.cfg = cfg
        self.rollup = rollup
        self.l1 = l1
        self.l2 = l2
        self.txmgr = txmgr
        self.mgr = manager
        self.metrics = metrics
        self.throttling = throttling
        self._publish = publish
        """The driver's publish pass between chunks (max channel duration ignored while loading)."""
        self._stop_event = stop_event
        """The driver's current stop event (a new one each start)."""
        self._prev_current_l1 = L1BlockRef.zero()
        self.backlog = 0
        """Blocks of the range being loaded that are not loaded yet (the channel manager fills channels
        while there is a backlog)."""
        self.recover_pending = cfg.recover_from_l1
        """Read own channels back from L1 after the next load (set on each start)."""
        self._sizes: collections.deque[tuple[int, int]] = collections.deque()
        """(number, raw size) of the blocks in the manager, oldest first (pruned as the manager prunes)."""
        self._held = 0
        """Sum of the sizes in ``_sizes``: raw bytes loaded and not yet safe."""
        self.paused = False
        """Loading is paused at ``max_unsafe_l2_bytes``."""
        self._estimate_ahead = cfg.throttle.enabled
        """The fetch computes each block's DA estimate (the last throttle signal was below saturation)."""

    @property
    def _stopping(self) -> asyncio.Event:
        return self._stop_event()

    async def sync_status(self) -> SyncStatus:
        """The rollup node's sync status (through the active sequencer, within the network timeout)."""
        rollup = await self.l2.rollup_client()
        status: SyncStatus = await within(
            rollup.sync_status(),
            self.cfg.network_timeout,
            rollup,
            "optimism_syncStatus",
        )
        return status

    async def clear_state_with_retry(self) -> None:
        """Startup: clear the manager to the node's safe L1 origin, retrying until the node answers."""
        while True:
            try:
                status = await self.sync_status()
            except (RpcError, TimeoutError, OSError) as exc:
                log.warn("Failed to get sync status for clearing state, retrying", err=str(exc))
                await asyncio.sleep(self.cfg.clear_retry_interval)
                continue
            self.clear_state(status.local_safe_l2.l1_origin)
            return

    def clear_state(self, l1_origin: BlockID) -> None:
        """Forget every block and channel (Go clearState); loading restarts from the safe head."""
        log.info("Clearing state")
        log.info("Clearing state with safe L1 origin", origin=l1_origin.number)
        self.mgr.clear(l1_origin)
        self._sizes.clear()
        self._held = 0
        self._prev_current_l1 = L1BlockRef.zero()
        self.metrics.clear_all_state()
        log.info("State cleared")

    async def wait_node_sync(self) -> None:
        """Go §4.11: wait until the rollup node's current L1 reaches the batcher's latest L1 tx (or head)."""
        head = (await self.l1.header("latest")).number
        target = head
        if self.cfg.check_recent_txs_depth > 0:
            log.info("Checking for recently submitted batcher transactions on L1")
            target, found = await find_recent_tx_block(
                self.l1, self.txmgr.from_address, head, self.cfg.check_recent_txs_depth
            )
            log.info(
                "Checked for recently submitted batcher transactions on L1",
                l1_head=head,
                l1_recent=target,
                found=found,
            )
        while not self._stopping.is_set():
            status = await self.sync_status()
            if status.current_l1.number >= target:
                log.info(
                    "rollup current L1 block target reached",
                    current_l1=status.current_l1.number,
                    target=target,
                )
                return
            log.info(
                "rollup current L1 block still behind target, retrying",
                current_l1=status.current_l1.number,
                target=target,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.cfg.node_sync_poll_interval)

    async def load_step(self) -> None:
        """One tick of the block-loading loop (Go §4.2 steps 1-3)."""
        try:
            status = await self.sync_status()
        except (RpcError, TimeoutError, OSError) as exc:
            log.warn("could not get sync status, retrying on next tick", err=str(exc))
            return
        if status.head_l1 == L1BlockRef.zero():
            log.info("Received empty sync status, backing off")
            return
        actions = compute_sync_actions(
            status, self._prev_current_l1, self.mgr.blocks_in_state(), self.mgr.channels
        )
        if isinstance(actions, OutOfSync):
            log.warn("Sequencer is out of sync, retrying next tick.", reason=actions.reason.value)
            return
        self._prev_current_l1 = status.current_l1
        if actions.reason.is_warning:
            log.warn(actions.reason.value, actions=str(actions))
        elif actions.blocks_to_load is not None:
            log.debug(actions.reason.value, actions=str(actions))
        if actions.clear_state is not None:
            self.metrics.clear_all_state()
        block_range = self.mgr.apply_sync_actions(actions)
        self._record_sync(status)
        if block_range is not None and not await self._load_range(block_range):
            return
        if self.recover_pending:
            self.recover_pending = False
            await self._recover(status)
        self._signal_throttle(loaded=block_range is not None)

    def _signal_throttle(self, *, loaded: bool) -> None:
        """The backlog to the throttling loop; the DA estimate (FastLZ) only when throttling is on, and
        only as exact as the controller needs (:mod:`batcher.loading.da_estimate`)."""
        if not self.throttling.cfg.enabled:
            return
        mgr = self.mgr
        pending = mgr.blocks[mgr.block_cursor :]
        saturation = self.throttling.controller.saturation
        unsafe = unsafe_da_bytes(pending, mgr.channels, saturation)
        self._estimate_ahead = saturation is None or unsafe < saturation
        self.throttling.signal(unsafe, loaded=loaded)

    def loaded_unsafe_bytes(self) -> int:
        """Raw bytes of the blocks the manager still holds (loaded, not yet pruned as safe)."""
        blocks = self.mgr.blocks
        if not blocks:
            self._sizes.clear()
            self._held = 0
        else:
            first = blocks[0].number
            while self._sizes and self._sizes[0][0] < first:
                self._held -= self._sizes.popleft()[1]
            while self._sizes and self._sizes[-1][0] > blocks[-1].number:  # a reorg dropped the tip
                self._held -= self._sizes.pop()[1]
        return self._held

    def _unsafe_limit_reached(self) -> bool:
        """True (and the pause logged once) while the loaded-but-unsafe bytes are at the limit.

        Go loads without bound; with ``--max-unsafe-l2-bytes`` the loader stops here and the next tick
        (after the safe head moved and the manager pruned) resumes from the first block not loaded.
        """
        limit = self.cfg.max_unsafe_l2_bytes
        held = self.loaded_unsafe_bytes()
        self.metrics.loaded_unsafe_bytes.set(held)
        reached = limit > 0 and held >= limit
        if reached and not self.paused:
            log.warn(
                "L2 block loading paused: loaded unsafe bytes at the limit",
                loaded_unsafe_bytes=held,
                max_unsafe_l2_bytes=limit,
                blocks=len(self.mgr.blocks),
            )
        elif self.paused and not reached:
            log.info("L2 block loading resumed", loaded_unsafe_bytes=held, max_unsafe_l2_bytes=limit)
        self.paused = reached
        self.metrics.loading_paused.set(1 if reached else 0)
        return reached

    def _record_sync(self, status: SyncStatus) -> None:
        safe, unsafe = status.local_safe_l2, status.unsafe_l2
        self.metrics.record_safe_lag(unsafe.number - safe.number, unsafe.timestamp - safe.timestamp)
        blocks = self.mgr.blocks
        if self.mgr.pending_blocks > 0:
            oldest = blocks[self.mgr.block_cursor].l1_origin.number
            margin = oldest + self.rollup.seq_window_size - status.head_l1.number
            self.metrics.seq_window_margin.set(margin)

    async def _load_range(self, block_range: BlockRange) -> bool:
        """Load [start, end] in chunks, publishing between chunks; False after an error or reorg.

        The next chunk is fetched (RPC, JSON, tx decoding: event-loop work) while this one is published
        (compression in a worker thread, which releases the GIL), so on two cores loading overlaps with
        compressing. Only this task touches the manager: the prefetch returns blocks, it adds none.
        """
        if block_range.end > block_range.start:
            log.info(
                "Loading range of multiple blocks into state", start=block_range.start, end=block_range.end
            )
        start = block_range.start
        ahead: asyncio.Task[list[BlockInput]] | None = None
        try:
            while start <= block_range.end and not self._stopping.is_set():
                if self._unsafe_limit_reached():
                    self.backlog = block_range.end - start + 1
                    return True
                end = min(start + LOAD_CHUNK - 1, block_range.end)
                self.backlog = block_range.end - end
                try:
                    blocks = await (ahead if ahead is not None else self._fetch_blocks(start, end))
                    ahead = None
                    if end < block_range.end:
                        ahead = asyncio.ensure_future(
                            self._fetch_blocks(end + 1, min(end + LOAD_CHUNK, block_range.end))
                        )
                    for block in blocks:
                        self._add_block(block)
                except ReorgDetected as exc:
                    log.warn("Found L2 reorg", block_number=exc.number)
                    log.warn("error loading blocks, clearing state and waiting for node sync", err=str(exc))
                    await self._reset_after_reorg()
                    return False
                except (RpcError, BlockError, TimeoutError, OSError) as exc:
                    log.warn("error loading blocks, retrying on next tick", err=str(exc))
                    return False
                self.metrics.pending_blocks_bytes_current.set(pending_raw_bytes(self.mgr))
                if blocks:
                    last = blocks[-1]
                    self.metrics.record_l2_ref(
                        "loaded", last.number, last.timestamp, last.hash, last.l1_origin, last.sequence_number
                    )
                if end < block_range.end:
                    self._signal_throttle(loaded=True)
                    if not self.recover_pending:  # recovery must see the blocks before any channel opens
                        await self._publish()
                start = end + 1
        finally:
            if ahead is not None:  # stopped, failed or paused: the blocks fetched ahead are dropped
                ahead.cancel()
                ahead.add_done_callback(_consume)
        self.backlog = 0
        return True

    async def _fetch_blocks(self, start: int, end: int) -> list[BlockInput]:
        eth = await self.l2.eth_client()
        sem = asyncio.Semaphore(FETCH_CONCURRENCY)
        chain_id = self.rollup.l2_chain_id

        async def one(n: int) -> BlockInput:
            async with sem:
                obj = await within(
                    eth.block_json(n, full_txs=True),
                    self.cfg.network_timeout,
                    eth,
                    "eth_getBlockByNumber",
                )
            block = block_from_rpc(obj, chain_id)
            if self._estimate_ahead or self.cfg.pending_da_gauge:
                # needed at the next signal or gauge update: computed here, overlapping compression
                _ = block.da_size_estimate
            return block

        return list(await asyncio.gather(*(one(n) for n in range(start, end + 1))))

    def _add_block(self, block: BlockInput) -> None:
        self.mgr.add_l2_block(block)
        size = block.raw_size_estimate
        self._sizes.append((block.number, size))
        self._held += size
        self.metrics.pending_blocks_bytes_total.inc(size)
        log.info(
            "Added L2 block to local state",
            block=f"{block.number}",
            tx_count=len(block.transactions),
            time=block.timestamp,
        )

    async def _reset_after_reorg(self) -> None:
        try:
            await self.wait_node_sync()
        except (RpcError, TimeoutError, OSError) as exc:
            log.warn("error waiting for node sync", err=str(exc))
        try:
            status = await self.sync_status()
            self.clear_state(status.local_safe_l2.l1_origin)
        except (RpcError, TimeoutError, OSError) as exc:
            log.warn("failed to clear state after reorg", err=str(exc))

    async def _recover(self, status: SyncStatus) -> None:
        """Mark channels this batcher already completed on L1 (after the node's current L1) as submitted."""
        head = status.head_l1.number
        first = max(status.current_l1.number + 1, head - RECOVERY_MAX_DEPTH)
        if self.mgr.pending_blocks == 0 or first > head:
            return
        try:
            found = await channels_on_l1(
                self.l1, self.rollup, self.txmgr.from_address, first, head, self.l1.blobs
            )
        except (RpcError, TimeoutError, OSError, ValueError, KeyError) as exc:
            log.warn("Could not read own recent batcher txs, not recovering", err=str(exc))
            return
        for reason in found.skipped:
            log.info("Recovery skipped", reason=reason)
        if not found.channels:
            return
        result = self.mgr.recover_submitted(found.channels)
        self.metrics.channels_recovered.inc(result.channels_recovered)
        self.metrics.blocks_recovered.inc(result.blocks_skipped)
        log.info(
            "Recovered channels already on L1",
            channels=result.channels_recovered,
            blocks=result.blocks_skipped,
            l1_blocks_read=found.l1_blocks_read,
            stopped=result.stopped,
        )


def _consume(task: asyncio.Task[list[BlockInput]]) -> None:
    """Retrieve a dropped prefetch's outcome so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()
