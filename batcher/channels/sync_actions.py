"""What the batcher does with a new sync status (Go computeSyncActions, op-batcher.md §4.3).

Each tick the driver asks op-node for its sync status and calls :func:`compute_sync_actions` with the
blocks and channels it holds. The answer is either :class:`OutOfSync` (do nothing, keep the previous
``current_l1``) or :class:`SyncActions`: optionally clear everything (with the safe head's L1 origin),
prune safe blocks and channels, and load a range of unsafe blocks. ``local_safe_l2`` is the safe
reference (interop-ready; Go's newest default).

Every decision carries a :class:`SyncReason` whose value is Go's log message.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.sync_status import SyncStatus


class ChannelStatus(Protocol):
    """What sync actions read from a channel (batcher.channels.channel.Channel satisfies it)."""

    @property
    def is_fully_submitted(self) -> bool: ...
    @property
    def is_timed_out(self) -> bool: ...
    @property
    def latest_l2(self) -> BlockID: ...
    @property
    def max_inclusion_block(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BlocksInState:
    """The oldest and newest block the channel manager holds (numbers and hashes by position)."""

    oldest_number: int
    hashes: Sequence[bytes]
    """Hash of every block in state, oldest first (contiguous numbers)."""

    @property
    def count(self) -> int:
        return len(self.hashes)

    @property
    def newest_number(self) -> int:
        return self.oldest_number + len(self.hashes) - 1


class SyncReason(enum.Enum):
    """Why these actions were chosen. Values are Go's log messages; ``label`` is a metric label."""

    EMPTY_SYNC_STATUS = "empty BlockRef in sync status"
    CURRENT_L1_REVERSED = "sequencer currentL1 reversed"
    NO_BLOCKS_IN_STATE = "no blocks in state"
    SAFE_BELOW_OLDEST = "next safe block is below oldest block in state"
    SAFE_ABOVE_NEWEST = "safe head above newest block in state, clearing channel manager state"
    SAFE_CHAIN_REORG = "safe chain reorg, clearing channel manager state"
    NO_PROGRESS = "sequencer did not make expected progress"
    HAPPY_PATH = "computed sync actions"

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_warning(self) -> bool:
        """Go logs these at WARN (the rest at INFO/DEBUG)."""
        return self not in (SyncReason.NO_BLOCKS_IN_STATE, SyncReason.HAPPY_PATH)


@dataclass(frozen=True, slots=True)
class BlockRange:
    """Blocks to load, inclusive on both ends."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"[{self.start}, {self.end}]"


@dataclass(frozen=True, slots=True)
class SyncActions:
    """What to do this tick, in order: clear state, prune blocks, prune channels, load blocks."""

    reason: SyncReason
    clear_state: BlockID | None = None
    """If set: clear everything, using this L1 origin as the last submitted channel's origin."""
    blocks_to_prune: int = 0
    channels_to_prune: int = 0
    blocks_to_load: BlockRange | None = None

    def __str__(self) -> str:
        cs = f"{self.clear_state.number}" if self.clear_state else "nil"
        return (
            f"SyncActions{{blocksToPrune: {self.blocks_to_prune}, channelsToPrune: "
            f"{self.channels_to_prune}, clearState: {cs}, blocksToLoad: {self.blocks_to_load or 'nil'}}}"
        )


@dataclass(frozen=True, slots=True)
class OutOfSync:
    """Skip this tick (Go logs ``Sequencer is out of sync, retrying next tick.``)."""

    reason: SyncReason


def _is_zero_l2(ref: L2BlockRef) -> bool:
    return ref == L2BlockRef.zero()


def _is_zero_l1(ref: L1BlockRef) -> bool:
    return ref == L1BlockRef.zero()


def compute_sync_actions(
    status: SyncStatus,
    prev_current_l1: L1BlockRef,
    blocks: BlocksInState | None,
    channels: Sequence[ChannelStatus],
) -> SyncActions | OutOfSync:
    """Go computeSyncActions with ``local_safe_l2`` as the safe head; ``blocks`` None = no blocks."""
    safe = status.local_safe_l2
    if _is_zero_l2(safe) or _is_zero_l2(status.unsafe_l2) or _is_zero_l1(status.head_l1):
        return OutOfSync(SyncReason.EMPTY_SYNC_STATUS)
    if status.current_l1.number < prev_current_l1.number:
        return OutOfSync(SyncReason.CURRENT_L1_REVERSED)

    unsafe = status.unsafe_l2.number
    all_unsafe = BlockRange(safe.number + 1, unsafe) if unsafe > safe.number else None
    if blocks is None or blocks.count == 0:
        return SyncActions(SyncReason.NO_BLOCKS_IN_STATE, blocks_to_load=all_unsafe)

    def start_afresh(reason: SyncReason) -> SyncActions:
        return SyncActions(reason, clear_state=safe.l1_origin, blocks_to_load=all_unsafe)

    next_safe = safe.number + 1
    if next_safe < blocks.oldest_number:
        return start_afresh(SyncReason.SAFE_BELOW_OLDEST)
    to_dequeue = next_safe - blocks.oldest_number
    if to_dequeue > blocks.count:
        return start_afresh(SyncReason.SAFE_ABOVE_NEWEST)
    if to_dequeue > 0 and blocks.hashes[to_dequeue - 1] != safe.hash:
        return start_afresh(SyncReason.SAFE_CHAIN_REORG)
    for ch in channels:
        if (
            ch.is_fully_submitted
            and not ch.is_timed_out
            and status.current_l1.number > ch.max_inclusion_block
            and safe.number < ch.latest_l2.number
        ):
            # Holocene: a channel landed but the safe head did not move past it => derivation dropped it.
            return start_afresh(SyncReason.NO_PROGRESS)

    channels_to_prune = 0
    for ch in channels:
        if ch.latest_l2.number > safe.number:
            break
        channels_to_prune += 1
    newest = blocks.newest_number
    to_load = BlockRange(newest + 1, unsafe) if unsafe > newest else None
    return SyncActions(
        SyncReason.HAPPY_PATH,
        blocks_to_prune=to_dequeue,
        channels_to_prune=channels_to_prune,
        blocks_to_load=to_load,
    )
