"""The channel manager's block queue: loaded L2 blocks, kept until safe, and the cursor into them.

Blocks before the cursor are in a channel; blocks from it on are pending. Dropping a channel only moves
the cursor back, pruning safe blocks drops them from the front. The queue also checks that each loaded
block extends the tip (a break is :class:`~batcher.channels.events.ReorgDetected`) and keeps the pending
blocks' DA estimate sum up to date once first read, so reading it is O(1). Owned by
:class:`~batcher.channels.manager.ChannelManager`; pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from batcher.channels.channel import L2Block
from batcher.channels.events import ReorgDetected
from batcher.channels.sync_actions import BlocksInState


def _da_sum(blocks: Sequence[L2Block]) -> int:
    """Σ of the blocks' DA estimates (op-geth FastLZ regression, cached on each block)."""
    return sum(b.da_size_estimate for b in blocks)


class BlockQueue:
    """Loaded blocks oldest first, the cursor of the first one not in a channel, and the pending DA sum."""

    __slots__ = ("_blocks", "_cursor", "_pending_da", "_tip")

    def __init__(self) -> None:
        self._blocks: list[L2Block] = []
        self._cursor = 0
        self._pending_da: int | None = None
        """Σ DA estimates of the blocks past the cursor, kept up to date once first asked for (None until
        then, so nothing forces FastLZ estimates when no one reads the sum)."""
        self._tip: bytes | None = None

    @property
    def blocks(self) -> Sequence[L2Block]:
        return self._blocks

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def pending(self) -> int:
        """Blocks loaded but not yet in a channel."""
        return len(self._blocks) - self._cursor

    @property
    def pending_da_bytes(self) -> int:
        """DA estimate of the pending blocks: summed on the first read, then kept by each change of the
        queue or the cursor."""
        if self._pending_da is None:
            self._pending_da = _da_sum(self._blocks[self._cursor :])
        return self._pending_da

    def in_state(self) -> BlocksInState | None:
        """The first number and every hash (sync-actions input); None when empty."""
        if not self._blocks:
            return None
        return BlocksInState(self._blocks[0].number, [b.hash for b in self._blocks])

    def clear(self) -> None:
        self._blocks = []
        self._cursor = 0
        self._pending_da = None
        self._tip = None

    def append(self, block: L2Block) -> None:
        """Queue a loaded block; raise :class:`ReorgDetected` if it does not extend the tip."""
        if self._tip is not None and block.parent_hash != self._tip:
            raise ReorgDetected(block.number, block.parent_hash, self._tip)
        self._blocks.append(block)
        if self._pending_da is not None:
            self._pending_da += block.da_size_estimate
        self._tip = block.hash

    def prune(self, n: int) -> None:
        """Drop ``n`` safe blocks from the front."""
        if n > len(self._blocks) or n < 0:
            raise ValueError(f"cannot prune {n} blocks: {len(self._blocks)} in state")
        if self._pending_da is not None and n > self._cursor:  # pending blocks pruned as safe too
            self._pending_da -= _da_sum(self._blocks[self._cursor : n])
        del self._blocks[:n]
        self._cursor = max(0, self._cursor - n)

    def move_cursor(self, cursor: int) -> None:
        """Set the cursor, moving the blocks it passes in or out of the pending DA sum."""
        if self._pending_da is not None:
            if cursor > self._cursor:
                self._pending_da -= _da_sum(self._blocks[self._cursor : cursor])
            else:
                self._pending_da += _da_sum(self._blocks[cursor : self._cursor])
        self._cursor = cursor

    def index_of(self, block: L2Block) -> int:
        """Queue index of a block still in state (0 if it was already pruned as safe)."""
        if not self._blocks:
            return 0
        idx = block.number - self._blocks[0].number
        if idx < 0:
            return 0
        if idx >= len(self._blocks) or self._blocks[idx].hash != block.hash:
            raise ValueError(f"channel block {block.number} (0x{block.hash.hex()}) is not in state")
        return idx
