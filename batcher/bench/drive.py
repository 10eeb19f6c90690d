"""The benchmark's channel driver: channel outs fed a block backlog as the channel manager feeds them.

Shared by every ``op-batcher bench`` section (:mod:`batcher.bench.channels`, :mod:`batcher.bench.add_cost`):
the blob frame size and channel target the sections measure at, :func:`drain` (consecutive channels from a
backlog, frames cut as they appear), the CPU clock, and the :class:`Row` each section reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.derive.blob import MAX_BLOB_DATA_SIZE
from common.derive.channel_out import (
    AddResult,
    ChannelOut,
    ChannelOutConfig,
    new_channel_out,
)
from common.derive.compressor import CompressionCalibration
from common.derive.frame import FRAME_OVERHEAD, Frame
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig

BLOB_FRAME_SIZE = MAX_BLOB_DATA_SIZE - 1
"""130,043: a blob carries 0x00 ++ one frame."""
BLOBS_PER_CHANNEL = 6
TARGET_6_BLOBS = BLOBS_PER_CHANNEL * (BLOB_FRAME_SIZE - FRAME_OVERHEAD)
"""780,120 compressed bytes: the Go devnet/sepolia blob channel target."""
WARMUP = 2
"""Channels the span calibration needs before its steady state."""


@dataclass
class ChannelRun:
    """One channel built from a block backlog."""

    blocks: int
    input_bytes: int
    frames: list[Frame]
    full: bool
    out: ChannelOut

    @property
    def output_bytes(self) -> int:
        return sum(len(f.data) for f in self.frames)

    def channel_bytes(self) -> bytes:
        return b"".join(f.data for f in self.frames)


def drain(
    cfg: ChannelOutConfig,
    rollup: RollupConfig,
    blocks: Sequence[BlockInput],
    *,
    max_frame_size: int = BLOB_FRAME_SIZE,
    calibration: CompressionCalibration | None = None,
    on_channel: Callable[[ChannelRun], None] | None = None,
) -> list[ChannelRun]:
    """Put every block into consecutive channels; a rejected block opens the next channel."""
    runs = []
    i = 0
    serial = 0
    while i < len(blocks):
        serial += 1
        out = new_channel_out(cfg, rollup, serial.to_bytes(16, "big"), calibration=calibration)
        frames: list[Frame] = []
        while i < len(blocks):
            if out.add_block(blocks[i]) is AddResult.REJECTED_FULL:
                break
            i += 1
            while (f := out.output_frame(max_frame_size)) is not None:
                frames.append(f)
            if out.full_reason is not None:
                break
        full = out.full_reason is not None
        out.close()
        while (f := out.output_frame(max_frame_size)) is not None:
            frames.append(f)
        run = ChannelRun(out.block_count, out.input_bytes, frames, full, out)
        runs.append(run)
        if on_channel is not None:
            on_channel(run)
    return runs


def cpu_seconds() -> float:
    """Process CPU seconds (all threads): what the benchmark rows charge."""
    return time.process_time()


@dataclass
class Row:
    section: str
    name: str
    value: str
    note: str = ""
