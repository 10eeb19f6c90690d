"""A channel decoded back to the L2 blocks it carries (frames -> channel -> batches -> blocks): every closed
channel is checked against the blocks put in before it is sent, and restart recovery reads its own channels
on L1 the same way."""

from __future__ import annotations

from collections.abc import Sequence

from batcher.channels.channel import L2Block
from common.derive.batch import BatchError
from common.derive.channel import read_channel
from common.derive.derived_block import DerivedBlock, payload_blocks
from common.derive.frame import Frame
from common.derive.rollup_config import RollupConfig
from common.derive.transaction import TransactionError


class ChannelDecodeError(ValueError):
    """A channel's data did not decode to batches."""


def decode_channel_blocks(frames: Sequence[Frame], rollup: RollupConfig, l1_time: int) -> list[DerivedBlock]:
    """Frames of one channel (in order) -> the L2 blocks its batches describe."""
    for i, f in enumerate(frames):
        if f.number != i:
            raise ChannelDecodeError(f"frame {i} of channel {f.channel_id.hex()} has number {f.number}")
    if not frames or not frames[-1].is_last:
        raise ChannelDecodeError("channel is not closed (no last frame)")
    data = b"".join(f.data for f in frames)
    read = read_channel(data, fjord=rollup.is_active("fjord", l1_time))
    if read.error is not None:
        raise ChannelDecodeError(f"channel {frames[0].channel_id.hex()}: {read.error}")
    out: list[DerivedBlock] = []
    for payload in read.payloads:
        try:
            out.extend(payload_blocks(payload, rollup.genesis_l2_time, rollup.block_time, rollup.l2_chain_id))
        except (BatchError, TransactionError, ValueError) as exc:
            raise ChannelDecodeError(str(exc)) from exc
    return out


def verify_channel(frames: Sequence[Frame], blocks: Sequence[L2Block], rollup: RollupConfig) -> str | None:
    """Decode ``frames`` and compare with ``blocks``; None if they match, else what differs."""
    if not blocks:
        return "channel has no blocks"
    try:
        decoded = decode_channel_blocks(frames, rollup, blocks[-1].timestamp)
    except ChannelDecodeError as exc:
        return str(exc)
    if len(decoded) != len(blocks):
        return f"channel decodes to {len(decoded)} blocks, {len(blocks)} were put in"
    for d, b in zip(decoded, blocks, strict=True):
        where = f"block {b.number}"
        if d.timestamp != b.timestamp:
            return f"{where}: timestamp {d.timestamp} decoded, {b.timestamp} put in"
        if d.epoch_num != b.l1_origin.number:
            return f"{where}: L1 origin {d.epoch_num} decoded, {b.l1_origin.number} put in"
        if d.parent_hash_prefix and not b.parent_hash.startswith(d.parent_hash_prefix):
            return (
                f"{where}: parent hash 0x{d.parent_hash_prefix.hex()} decoded, 0x{b.parent_hash.hex()} put in"
            )
        if d.epoch_hash_prefix and not b.l1_origin.hash.startswith(d.epoch_hash_prefix):
            return f"{where}: L1 origin hash 0x{d.epoch_hash_prefix.hex()} decoded"
        txs = getattr(b, "transactions", None)
        if txs is not None and tuple(txs) != d.transactions:
            return f"{where}: {len(d.transactions)} txs decoded differ from the {len(txs)} put in"
    return None
