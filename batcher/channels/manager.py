"""The batcher's channel manager: L2 blocks in, batcher transactions out (op-batcher.md §4.5-§4.8).

The loop, as the driver runs it (one task owns the manager; every method is synchronous and fast):

1. ``add_l2_block`` for each newly loaded block (raises :class:`ReorgDetected` if it does not extend
   the tip); ``apply_sync_actions`` each tick (clear, or prune safe blocks and channels).
2. ``tx_data(l1_head, ...)`` until it returns no tx: it fills the current channel from the block queue,
   closes it when full or a deadline passed, and hands out frames of the *oldest* channel that has
   some, in order. For ``auto`` DA it re-decides calldata vs blobs before a channel's first tx and
   rebuilds the channel if the choice changed.
3. ``tx_confirmed`` / ``tx_failed`` for each receipt: a failure rewinds that channel's frame cursor; a
   channel whose frames landed more than the channel timeout apart is dropped with every newer
   channel, and its blocks are queued again.

Blocks stay in the queue (:mod:`batcher.channels.block_queue`) until they are safe (``prune_safe_blocks``);
the cursor marks the first block not yet in a channel, so dropping a channel is just moving the cursor back.

Beyond Go:

* **No empty channels.** A channel is only opened with a block to put in it; a block that does not fit
  even an empty channel is reported (:class:`BlockTooLarge`) instead of looping on empty channels.
* **Backlog fill rule.** The max-channel-duration deadline is waived while the channel's DA estimate
  plus the not-yet-loaded backlog (``backlog_blocks`` x the channel's mean DA bytes per block) would
  reach the channel's target size: a catching-up batcher fills channels instead of closing them
  half-empty (Go issue #18092). The sequencing-window and channel-timeout deadlines always apply.
* **Sequencing-window guard.** A channel whose oldest L1 origin's window closes before the next L1
  block is never handed out (:class:`SeqWindowExpired`): derivation would drop it, so posting it only
  burns funds (Go issue #13150). The sequencer will reorg those blocks and sync actions reset us.
* **Restart recovery.** ``recover_submitted`` marks blocks whose channels are already complete on L1
  as submitted, so a restart does not post them again.
* **Flush** closes the current channel whatever frames it already produced (Go only closes one with no
  frames yet).

* **Deadlines without new blocks.** The open channel's deadlines are checked on every ``tx_data``
  call, not only when a new block arrived (Go returns EOF first).
* **Linear backlog drain.** Channels whose frames all went out are skipped by an index, so draining
  thousands of queued channels costs O(1) per ``tx_data`` (Go rescans the whole queue).

Results are returned as event objects (``events`` on each result, types in
:mod:`batcher.channels.events`) that the driver logs and turns into metrics; nothing here logs, does I/O
or reads a clock.

Driver sketch::

    actions = compute_sync_actions(status, prev_current_l1, m.blocks_in_state(), m.channels)
    rng = m.apply_sync_actions(actions)           # unless OutOfSync
    for n in rng: m.add_l2_block(block_from_rpc(...))   # ReorgDetected => wait for node sync, clear
    while (r := m.tx_data(l1_head, gas_prices=caps, is_throttling=t,
                          backlog_blocks=status.unsafe_l2.number - newest_loaded)).tx is not None:
        send r.tx.calldata or r.tx.blob_payloads
    # per receipt: m.tx_confirmed(tx.id, inclusion_block) or m.tx_failed(tx.id)
    controller.update(m.unsafe_da_bytes, now)     # batcher.throttling.controller
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from batcher.channels.blob_sharing import BlobSharing, SharingHold
from batcher.channels.block_queue import BlockQueue
from batcher.channels.channel import Channel, ChannelOutLike, CloseReason, ConfirmOutcome, L2Block, TxID
from batcher.channels.config import ChannelConfig, DAConfigSelector, GasPriceCaps
from batcher.channels.events import (
    Blocked,
    BlocksAdded,
    BlockTooLarge,
    ChannelClosed,
    ChannelDropped,
    ChannelFullySubmitted,
    ChannelOnL1,
    ChannelOpened,
    ChannelTimedOut,
    DAChosen,
    DropReason,
    ForceClosed,
    ManagerEvent,
    ReceiptResult,
    RecoveryResult,
    SeqWindowExpired,
    TxDataResult,
    UnknownTx,
)
from batcher.channels.recovery_match import match_channels_on_l1
from batcher.channels.sync_actions import BlockRange, BlocksInState, SyncActions
from common.derive.block_ref import BlockID
from common.derive.rollup_config import RollupConfig

if TYPE_CHECKING:
    from batcher.channels.compression_quality import AdaptiveQuality

ChannelOutFactory = Callable[[ChannelConfig, RollupConfig, bytes], ChannelOutLike]
"""Builds a channel out for a config, rollup config and channel id."""

CHANNEL_ID_LENGTH = 16


def block_number_at(rollup: RollupConfig, timestamp: int) -> int:
    """The L2 block number with this timestamp (batches carry timestamps, not numbers)."""
    return rollup.genesis_l2.number + (timestamp - rollup.genesis_l2_time) // rollup.block_time


def _default_channel_out(cfg: ChannelConfig, rollup: RollupConfig, channel_id: bytes) -> ChannelOutLike:
    from common.derive.channel_out import new_channel_out

    out: ChannelOutLike = new_channel_out(cfg.channel_out_config(), rollup, channel_id)
    return out


def _random_channel_id() -> bytes:
    return secrets.token_bytes(CHANNEL_ID_LENGTH)


@dataclass
class _Pass:
    """Events collected during one public call."""

    events: list[ManagerEvent] = field(default_factory=list)

    def add(self, event: ManagerEvent) -> None:
        self.events.append(event)


class ChannelManager:
    """Block queue + cursor, channel queue and tx bookkeeping. Not thread-safe; one owner."""

    def __init__(
        self,
        rollup: RollupConfig,
        selector: DAConfigSelector,
        *,
        channel_out_factory: ChannelOutFactory | None = None,
        new_channel_id: Callable[[], bytes] | None = None,
        initial_prices: GasPriceCaps | None = None,
        blob_sharing: BlobSharing | None = None,
        adaptive_quality: AdaptiveQuality | None = None,
    ) -> None:
        self.rollup = rollup
        self._selector = selector
        self._factory = channel_out_factory or _default_channel_out
        self._new_id = new_channel_id or _random_channel_id
        self.default_config: ChannelConfig = selector.channel_config(initial_prices).config
        self._queue = BlockQueue()
        """Loaded blocks until safe, and the cursor of the first one not in a channel."""
        self.l1_origin_last_submitted = BlockID(b"\x00" * 32, 0)
        self._current: Channel | None = None
        self._channels: list[Channel] = []
        self._scan_from = 0
        """Channels before this index are full with every frame handed out (keeps tx_data O(1))."""
        self._tx_channels: dict[TxID, Channel] = {}
        # -- our additions (None: off, Go's behaviour)
        self.blob_sharing = blob_sharing
        self._hold: SharingHold | None = None
        """Blob sharing: the channel whose last tx waits for the next channel's frame 0."""
        self._shared_parts: dict[TxID, tuple[Channel, TxID]] = {}
        """Blob sharing: tx id -> (next channel, the id of its part riding in that tx)."""
        self.adaptive_quality = adaptive_quality
        self._blocks_behind = 0

    # ---- state --------------------------------------------------------------------------------

    @property
    def blocks(self) -> Sequence[L2Block]:
        return self._queue.blocks

    @property
    def block_cursor(self) -> int:
        return self._queue.cursor

    @property
    def pending_blocks(self) -> int:
        """Blocks loaded but not yet in a channel."""
        return self._queue.pending

    @property
    def channels(self) -> Sequence[Channel]:
        """The channel queue, oldest first (sync-actions input)."""
        return self._channels

    @property
    def current_channel(self) -> Channel | None:
        return self._current

    def blocks_in_state(self) -> BlocksInState | None:
        return self._queue.in_state()

    @property
    def pending_da_bytes(self) -> int:
        """DA estimate of the blocks not yet in a channel (O(1) after the first read)."""
        return self._queue.pending_da_bytes

    @property
    def unsafe_da_bytes(self) -> int:
        """Throttling input (§4.12): pending blocks + each queued channel's estimate or output."""
        return self.pending_da_bytes + sum(ch.unsafe_da_bytes for ch in self._channels)

    # ---- loading and sync ---------------------------------------------------------------------

    def clear(self, l1_origin_last_submitted: BlockID) -> None:
        """Forget everything; duration timeouts restart from ``l1_origin_last_submitted``.

        A zero origin (safe head at L2 genesis) means the rollup's genesis L1 block, as in Go.
        """
        if l1_origin_last_submitted.number == 0:
            l1_origin_last_submitted = self.rollup.genesis_l1
        self._queue.clear()
        self.l1_origin_last_submitted = l1_origin_last_submitted
        self._current = None
        self._channels = []
        self._scan_from = 0
        self._tx_channels = {}
        self._hold = None
        self._shared_parts = {}

    def add_l2_block(self, block: L2Block) -> None:
        """Queue a loaded block; raise :class:`ReorgDetected` if it does not extend the tip."""
        self._queue.append(block)

    def prune_safe_blocks(self, n: int) -> None:
        """Drop ``n`` safe blocks from the front of the queue."""
        self._queue.prune(n)

    def prune_channels(self, n: int) -> None:
        """Drop ``n`` channels (all safe) from the front of the channel queue.

        Their tx ids stay mapped so late receipts (num-confirmations after the safe head moved) are
        still recognised."""
        if n > len(self._channels) or n < 0:
            raise ValueError(f"cannot prune {n} channels: {len(self._channels)} in queue")
        if self._current is not None and self._current in self._channels[:n]:
            self._current = None
        del self._channels[:n]
        self._scan_from = max(0, self._scan_from - n)

    def apply_sync_actions(self, actions: SyncActions) -> BlockRange | None:
        """Clear or prune as the sync actions say; return the block range the driver must load."""
        if actions.clear_state is not None:
            self.clear(actions.clear_state)
        else:
            self.prune_safe_blocks(actions.blocks_to_prune)
            self.prune_channels(actions.channels_to_prune)
        return actions.blocks_to_load

    # ---- publishing ----------------------------------------------------------------------------

    def tx_data(
        self,
        l1_head: BlockID,
        *,
        is_throttling: bool = False,
        force_publish: bool = False,
        gas_prices: GasPriceCaps | None = None,
        ignore_max_channel_duration: bool = False,
        backlog_blocks: int = 0,
        now: float | None = None,
    ) -> TxDataResult:
        """The next batcher tx to send, or none.

        ``gas_prices`` feed the auto-DA decision (None keeps the last choice); ``backlog_blocks`` is
        how many unsafe blocks the driver knows about but has not loaded yet (backlog fill rule);
        ``ignore_max_channel_duration`` is Go's switch for mid-range publishing; ``now`` (monotonic
        seconds) bounds the blob-sharing wait (without it a tail never waits).
        """
        p = _Pass()
        self._blocks_behind = backlog_blocks + self.pending_blocks
        ready, blocked = self._ready_channel(
            p, l1_head, force_publish, ignore_max_channel_duration, backlog_blocks
        )
        if ready is not None and ready.none_submitted and self._selector.is_auto:
            choice = self._selector.channel_config(gas_prices, is_throttling=is_throttling)
            switched = choice.config.use_blobs != self.default_config.use_blobs
            p.add(DAChosen(choice, switched))
            if switched:
                self._invalidate(p, ready, DropReason.DA_TYPE_SWITCH)
                self.default_config = choice.config
                ready, blocked = self._ready_channel(
                    p, l1_head, force_publish, ignore_max_channel_duration, backlog_blocks
                )
        if ready is None:
            return TxDataResult(None, tuple(p.events), blocked)
        if ready.seq_window_expired(l1_head.number):
            assert ready.oldest_l1_origin is not None
            p.add(
                SeqWindowExpired(
                    ready.id, ready.oldest_l1_origin.number, l1_head.number, ready.config.seq_window_size
                )
            )
            return TxDataResult(None, tuple(p.events), Blocked.SEQ_WINDOW_EXPIRED)
        partner: Channel | None = None
        if self.blob_sharing is not None:
            wait, partner = self._sharing_partner(
                p, ready, l1_head, now, force_publish, ignore_max_channel_duration, backlog_blocks
            )
            if wait:
                return TxDataResult(None, tuple(p.events))
        tx = ready.next_tx_data()
        self._tx_channels[tx.id] = ready
        self._note_submitted(ready)
        if partner is not None:
            part = partner.next_tx_data(max_frames=1)
            tx = replace(tx, shared=part)
            self._shared_parts[tx.id] = (partner, part.id)
            self._note_submitted(partner)
        return TxDataResult(tx, tuple(p.events))

    def _note_submitted(self, ch: Channel) -> None:
        latest = ch.latest_l1_origin
        if latest is not None and latest.number > self.l1_origin_last_submitted.number:
            self.l1_origin_last_submitted = latest

    # ---- blob sharing (our addition, batcher/channels/blob_sharing.py) -----------------------------------

    def _sharing_partner(
        self,
        p: _Pass,
        ready: Channel,
        l1_head: BlockID,
        now: float | None,
        force: bool,
        ignore_duration: bool,
        backlog_blocks: int,
    ) -> tuple[bool, Channel | None]:
        """(wait, partner): hold ``ready``'s last tx for the next channel, or send it with the next
        channel's frame 0 in its last blob, or alone (no room, flush, no clock, wait expired)."""
        sharing = self.blob_sharing
        assert sharing is not None
        room = ready.last_blob_room()
        if force or now is None or not sharing.worth_sharing(room):
            self._release_hold(ready)
            return False, None
        nxt = self._next_channel(ready)
        if nxt is not None and nxt.frames:
            fits = (
                nxt.config.use_blobs
                and nxt.frames[0].size <= room
                and nxt.has_tx_data()
                and nxt.pending_frames == len(nxt.frames)
            )
            if fits or nxt.first_frame_size != room:
                self._release_hold(ready)
                return False, nxt if fits else None
        hold = self._hold
        if hold is None or hold.channel_id != ready.id:
            hold = self._hold = SharingHold(ready.id, now, room)
            # N's tail will go out (shared or alone): the next channel's max duration counts from it,
            # not from an older channel, or it would close at once with a block or two.
            self._note_submitted(ready)
        if sharing.expired(hold.since, now):
            self._release_hold(ready)
            return False, None
        if nxt is not None and not nxt.frames:
            nxt.first_frame_size = room
        if self.pending_blocks > 0 or (self._current is not None and not self._current.is_full):
            self._fill_current(p, l1_head, False, ignore_duration, backlog_blocks)
        nxt = self._next_channel(ready)
        if (
            nxt is not None
            and nxt.frames
            and nxt.frames[0].size <= room
            and nxt.has_tx_data()
            and nxt.config.use_blobs
        ):
            self._hold = None
            return False, nxt
        return True, None

    def _next_channel(self, ch: Channel) -> Channel | None:
        idx = self._channels.index(ch) + 1
        return self._channels[idx] if idx < len(self._channels) else None

    def _release_hold(self, ready: Channel) -> None:
        """The tail goes alone: a next channel not cut yet gets a normal frame 0."""
        if self._hold is not None and self._hold.channel_id == ready.id:
            nxt = self._next_channel(ready)
            if nxt is not None and not nxt.frames:
                nxt.first_frame_size = None
        self._hold = None

    @property
    def holding(self) -> bool:
        """Is a channel's last tx waiting for the next channel (blob sharing)?"""
        return self._hold is not None

    def _ready_channel(
        self, p: _Pass, l1_head: BlockID, force: bool, ignore_duration: bool, backlog_blocks: int
    ) -> tuple[Channel | None, Blocked | None]:
        """Go getReadyChannel: the oldest channel with tx data, else fill/close the current one.

        Unlike Go, deadlines of the open channel are checked even when no new block arrived.
        """
        for i in range(self._scan_from, len(self._channels)):
            ch = self._channels[i]
            if ch.has_tx_data():
                return ch, None
            if i == self._scan_from and ch.is_full and ch.pending_frames == 0:
                self._scan_from += 1  # only a failed tx can give this channel frames again
        return self._fill_current(p, l1_head, force, ignore_duration, backlog_blocks)

    def _fill_current(
        self, p: _Pass, l1_head: BlockID, force: bool, ignore_duration: bool, backlog_blocks: int
    ) -> tuple[Channel | None, Blocked | None]:
        """Fill the current channel from the block queue, close it when full or due; it if has tx data."""
        cur = self._current
        if self.pending_blocks > 0:
            cur = self._ensure_channel_with_space(p, l1_head)
            if self._process_blocks(p, cur) == 0 and not cur.blocks:
                # The first block of an empty channel was refused: never emit an empty channel.
                first = self._queue.blocks[self._queue.cursor]
                reason = cur.close_reason or CloseReason.COMPRESSOR_FULL
                p.add(BlockTooLarge(BlockID(first.hash, first.number), reason, cur.rejection or ""))
                self._channels.remove(cur)
                self._scan_from = min(self._scan_from, len(self._channels))
                self._current = None
                return None, Blocked.BLOCK_TOO_LARGE
        if cur is None:
            return None, None
        if force and not cur.is_full:
            p.add(ForceClosed(cur.id))
            cur.terminate()
        elif not cur.is_full:
            ignore = ignore_duration or (
                backlog_blocks > 0
                and cur.max_duration_reached(l1_head.number)
                and self._backlog_fills(cur, backlog_blocks)
            )
            cur.check_timeout(l1_head.number, ignore_max_duration=ignore)
        self._output_frames(p, cur)
        return (cur, None) if cur.has_tx_data() else (None, None)

    def _ensure_channel_with_space(self, p: _Pass, l1_head: BlockID) -> Channel:
        cur = self._current
        if cur is not None and not cur.is_full:
            return cur
        cfg = self.default_config
        if self.adaptive_quality is not None:
            cfg = self.adaptive_quality.config_for(cfg, self._blocks_behind)
        channel_id = self._new_id()
        ch = Channel(cfg, self._factory(cfg, self.rollup, channel_id), self.l1_origin_last_submitted.number)
        if self.adaptive_quality is not None:
            self.adaptive_quality.opened(id(ch))
        if self._hold is not None and self._channels and self._channels[-1].id == self._hold.channel_id:
            ch.first_frame_size = self._hold.room  # blob sharing: its frame 0 fills the held last blob
        self._current = ch
        self._channels.append(ch)
        p.add(ChannelOpened(ch.id, l1_head, self.pending_blocks, self.l1_origin_last_submitted, cfg))
        return ch

    def _process_blocks(self, p: _Pass, ch: Channel) -> int:
        """Move blocks from the cursor into the channel until one is refused or the channel fills."""
        queue = self._queue
        blocks, start = queue.blocks, queue.cursor
        i = start
        try:
            while i < len(blocks):
                if not ch.add_block(blocks[i]):
                    break  # the cursor stays: the refused block goes into the next channel
                i += 1
                if ch.is_full:
                    break
        finally:  # blocks the channel accepted are in it even if a later add raised
            if i != start:
                queue.move_cursor(i)
        added = i - start
        if added:
            p.add(
                BlocksAdded(ch.id, added, self.pending_blocks, ch.input_bytes, ch.ready_bytes, ch.latest_l2)
            )
        return added

    @staticmethod
    def _backlog_fills(ch: Channel, backlog_blocks: int) -> bool:
        """Would the known, not-yet-loaded backlog alone fill this channel? Then ignore max duration."""
        if backlog_blocks <= 0 or not ch.blocks:
            return False
        projected = ch.da_bytes + backlog_blocks * ch.da_bytes // len(ch.blocks)
        return projected >= ch.config.target_output_size

    def _output_frames(self, p: _Pass, ch: Channel) -> None:
        if ch.output_frames():
            assert ch.close_reason is not None
            if self.adaptive_quality is not None:
                from batcher.channels.compression_quality import algo_quality

                q = algo_quality(ch.config.compression_algo)
                self.adaptive_quality.closed(id(ch), q, ch.input_bytes, len(ch.blocks))
            p.add(
                ChannelClosed(
                    ch.id,
                    ch.close_reason,
                    len(ch.blocks),
                    len(ch.frames),
                    ch.input_bytes,
                    ch.output_bytes,
                    self.pending_blocks,
                    self._queue.cursor,
                    ch.oldest_l1_origin,
                    ch.latest_l1_origin,
                    ch.oldest_l2,
                    ch.latest_l2,
                    ch.config.compression_algo,
                )
            )

    # ---- receipts -----------------------------------------------------------------------------

    def tx_confirmed(self, tx_id: TxID, inclusion_block: BlockID) -> ReceiptResult:
        """A batcher tx was included: may complete, or time out (and drop), its channel."""
        p = _Pass()
        ch = self._tx_channels.pop(tx_id, None)
        if ch is None:
            p.add(UnknownTx(tx_id, confirmed=True))
            return ReceiptResult(ConfirmOutcome.UNKNOWN_TX, tuple(p.events))
        outcome = self._confirm(p, ch, tx_id, inclusion_block)
        shared = self._shared_parts.pop(tx_id, None)
        if shared is not None:  # blob sharing: the next channel's frame 0 landed in the same tx
            self._confirm(p, shared[0], shared[1], inclusion_block)
        return ReceiptResult(outcome, tuple(p.events))

    def _confirm(self, p: _Pass, ch: Channel, tx_id: TxID, inclusion_block: BlockID) -> ConfirmOutcome:
        outcome = ch.tx_confirmed(tx_id, inclusion_block)
        if outcome is ConfirmOutcome.FULLY_SUBMITTED:  # recorded even once the safe head pruned it, as Go
            p.add(ChannelFullySubmitted(ch.id, len(ch.blocks)))
        elif outcome is ConfirmOutcome.TIMED_OUT and ch in self._channels:  # pruned or dropped: no requeue
            p.add(ChannelTimedOut(ch.id, ch.min_inclusion_block or 0, ch.max_inclusion_block))
            self._invalidate(p, ch, DropReason.TIMED_OUT_ON_CHAIN)
        return outcome

    def tx_failed(self, tx_id: TxID) -> ReceiptResult:
        """A batcher tx failed for good: its frames (and all later ones) will be sent again."""
        ch = self._tx_channels.pop(tx_id, None)
        if ch is None:
            return ReceiptResult(ConfirmOutcome.UNKNOWN_TX, (UnknownTx(tx_id, confirmed=False),))
        if ch.tx_failed(tx_id) and ch in self._channels:
            self._scan_from = min(self._scan_from, self._channels.index(ch))
        shared = self._shared_parts.pop(tx_id, None)
        if shared is not None:  # blob sharing: the next channel resends from frame 0, after this one
            partner, part_id = shared
            if partner.tx_failed(part_id) and partner in self._channels:
                self._scan_from = min(self._scan_from, self._channels.index(partner))
        return ReceiptResult(None)

    def _invalidate(self, p: _Pass, ch: Channel, reason: DropReason) -> None:
        """Requeue the channel's blocks and drop it with every newer channel (Go handleChannelInvalidated)."""
        if ch.blocks:
            self._queue.move_cursor(min(self._queue.cursor, self._queue.index_of(ch.blocks[0])))
        idx = self._channels.index(ch)
        for i, dropped in enumerate(self._channels[idx:]):
            p.add(
                ChannelDropped(
                    dropped.id, reason if i == 0 else DropReason.NEWER_THAN_INVALIDATED, len(dropped.blocks)
                )
            )
        del self._channels[idx:]
        self._scan_from = min(self._scan_from, idx)
        self._current = None

    # ---- restart recovery ---------------------------------------------------------------------

    def recover_submitted(self, on_l1: Sequence[ChannelOnL1]) -> RecoveryResult:
        """Treat channels already complete on L1 as submitted so their blocks are not posted again.

        Channels must follow one another from the first pending block (the driver passes the
        batcher's own recent channels, oldest first). Each one becomes a fully-submitted entry of the
        channel queue, so sync actions prune it once safe, and reset us if the safe head stalls
        behind it (e.g. derivation rejected it). Stops at the first channel that does not match the
        block queue by number and parent hash.
        """
        if self._current is not None and not self._current.is_full:
            return RecoveryResult(0, 0, "a channel is open")
        matches, stopped = match_channels_on_l1(self._queue.blocks, self._queue.cursor, on_l1)
        skipped = 0
        for m in matches:
            blocks = self._queue.blocks[m.first : m.last + 1]
            ch = Channel.already_on_l1(
                self.default_config, m.channel.channel_id, blocks, m.channel.inclusion_block
            )
            self._channels.append(ch)
            self._queue.move_cursor(m.last + 1)
            if (
                ch.latest_l1_origin is not None
                and ch.latest_l1_origin.number > self.l1_origin_last_submitted.number
            ):
                self.l1_origin_last_submitted = ch.latest_l1_origin
            skipped += len(blocks)
        return RecoveryResult(skipped, len(matches), stopped)
