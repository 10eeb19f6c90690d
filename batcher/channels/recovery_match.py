"""Restart recovery's matching step: which channels found on L1 continue the manager's block queue.

:mod:`batcher.loading.recovery` decodes the batcher's own recent L1 transactions into
:class:`~batcher.channels.events.ChannelOnL1` records; this module decides, without touching the manager,
which of them line up with the pending blocks (by number, parent hash and L1 origin), in order from the
first pending block; :meth:`~batcher.channels.manager.ChannelManager.recover_submitted` then marks them
submitted. Pure: blocks and records in, matches and the reason for stopping out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batcher.channels.channel import L2Block
from batcher.channels.events import ChannelOnL1


@dataclass(frozen=True, slots=True)
class ChannelMatch:
    """A channel on L1 that covers queue indices ``first..last`` (inclusive) of the block queue."""

    channel: ChannelOnL1
    first: int
    last: int


def match_channels_on_l1(
    blocks: Sequence[L2Block], cursor: int, on_l1: Sequence[ChannelOnL1]
) -> tuple[list[ChannelMatch], str | None]:
    """The channels (oldest first) that follow one another from queue index ``cursor``.

    Returns the matches and why matching stopped early (None if every channel matched or was already
    covered). Channels wholly behind the cursor are skipped (an older channel of the same range).
    """
    matches: list[ChannelMatch] = []
    for c in sorted(on_l1, key=lambda c: c.first_block):
        if cursor >= len(blocks):
            return matches, "no pending blocks left"
        base = blocks[0].number
        first, last = c.first_block - base, c.last_block - base
        if first < cursor and last < cursor:
            continue  # already covered (e.g. an older channel of the same range)
        if first != cursor:
            return matches, (
                f"channel {c.channel_id.hex()} starts at block "
                f"{c.first_block}, next pending block is {base + cursor}"
            )
        if last < first or last >= len(blocks):
            return matches, (
                f"channel {c.channel_id.hex()} ends at block {c.last_block}, beyond the newest block in state"
            )
        if not blocks[first].parent_hash.startswith(c.parent_check) or not c.parent_check:
            return matches, f"channel {c.channel_id.hex()} parent check does not match block {c.first_block}"
        if c.l1_origin_check and not blocks[last].l1_origin.hash.startswith(c.l1_origin_check):
            return matches, (
                f"channel {c.channel_id.hex()} L1 origin check does not match block {c.last_block}"
            )
        matches.append(ChannelMatch(c, first, last))
        cursor = last + 1
    return matches, None
