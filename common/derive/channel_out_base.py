"""The channel-out contract shared by both kinds: config, results, errors and frame emission.

:class:`ChannelOut` owns what every channel out does the same way: the channel id, fullness, closing,
and cutting the compressed output into frames in order (the last one ``is_last``, possibly empty, as in
Go). The two kinds that fill it, :class:`~common.derive.channel_out.SingularChannelOut` (Go's streaming
compressors) and :class:`~common.derive.estimated_channel_out.EstimatedChannelOut` (estimate first,
compress once), subclass it; :func:`~common.derive.channel_out.new_channel_out` picks one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from common.derive.batch import SINGULAR_BATCH_TYPE, SPAN_BATCH_TYPE
from common.derive.compressor import (
    CompressorError,
    check_algo,
)
from common.derive.frame import CHANNEL_ID_LENGTH, FRAME_OVERHEAD, MAX_FRAME_LEN, MAX_FRAME_NUMBER, Frame
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig


class FullReason(enum.Enum):
    """Why a channel takes no more blocks; values are Go's error texts (logged as ``full_reason``)."""

    COMPRESSOR_FULL = "compressor is full"
    TOO_MANY_RLP_BYTES = "batch would cause RLP bytes to go over limit"
    MAX_FRAME_INDEX = "max frame index reached (uint16)"
    MAX_DURATION = "max channel duration reached"
    SEQ_WINDOW = "close to sequencer window timeout"
    CHANNEL_TIMEOUT = "close to channel timeout"
    TERMINATED = "channel terminated"


class AddResult(enum.Enum):
    """Outcome of ``add_block``."""

    ACCEPTED = "accepted"
    REJECTED_FULL = "rejected_full"


class ChannelOutError(ValueError):
    """Misuse of a channel out (closed, empty, bad config) or a block that can never be batched."""


@dataclass(frozen=True, slots=True)
class ChannelOutConfig:
    """What a channel out is built with (from the batcher's channel config)."""

    target_output_size: int
    """Compressed bytes a full channel aims for: target_num_frames x (max_frame_size - 23)."""
    batch_type: int = SINGULAR_BATCH_TYPE
    """0 singular, 1 span (``--batch-type``)."""
    compressor: str = "shadow"
    """``--compressor`` (shadow | ratio | none); singular channels only, as in Go."""
    compression_algo: str = "zlib"
    """``--compression-algo``: zlib | brotli | brotli-9 | brotli-10 | brotli-11."""
    approx_compr_ratio: float = 0.6
    """``--approx-compr-ratio`` for the ratio compressor."""
    max_blocks_per_span_batch: int = 0
    """``--max-blocks-per-span-batch``: seal the span batch after this many blocks (0 = no limit)."""

    def __post_init__(self) -> None:
        if self.batch_type not in (SINGULAR_BATCH_TYPE, SPAN_BATCH_TYPE):
            raise ChannelOutError(f"unrecognized batch type: {self.batch_type} (expected 0 or 1)")
        if self.target_output_size <= 0:
            raise ChannelOutError(f"target output size must be positive, got {self.target_output_size}")
        if self.max_blocks_per_span_batch < 0:
            raise ChannelOutError(
                f"max blocks per span batch must be >= 0, got {self.max_blocks_per_span_batch}"
            )
        try:
            check_algo(self.compression_algo)
        except CompressorError as exc:
            raise ChannelOutError(str(exc)) from None


class ChannelOut:
    """Shared state and frame emission of both channel kinds."""

    def __init__(self, cfg: ChannelOutConfig, rollup: RollupConfig, channel_id: bytes) -> None:
        if len(channel_id) != CHANNEL_ID_LENGTH:
            raise ChannelOutError(f"channel id must be {CHANNEL_ID_LENGTH} bytes, got {len(channel_id)}")
        self.cfg = cfg
        self.rollup = rollup
        self.id = bytes(channel_id)
        self.full_reason: FullReason | None = None
        self.closed = False
        self.fully_output = False
        self.block_count = 0
        self._next_frame = 0

    # -- to be provided by the kinds
    @property
    def input_bytes(self) -> int:
        """Uncompressed RLP bytes in the channel (MAX_RLP_BYTES_PER_CHANNEL applies to it)."""
        raise NotImplementedError

    @property
    def ready_bytes(self) -> int:
        """Compressed bytes that can be cut into frames now."""
        raise NotImplementedError

    def _read(self, n: int) -> bytes:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def add_block(self, block: BlockInput) -> AddResult:
        raise NotImplementedError

    # -- shared
    @property
    def full(self) -> bool:
        return self.full_reason is not None

    @property
    def frames_emitted(self) -> int:
        return self._next_frame

    def _check_open(self, what: str) -> None:
        if self.closed:
            raise ChannelOutError(f"channel {self.id.hex()}: {what} after close")

    def _mark_full(self, reason: FullReason) -> None:
        if self.full_reason is None:
            self.full_reason = reason

    def close(self) -> None:
        """Close the channel: no more blocks; every remaining byte becomes frames. Idempotent."""
        if self.closed:
            return
        if self.block_count == 0:
            raise ChannelOutError(
                f"channel {self.id.hex()} holds no blocks; an empty channel must not be closed into frames"
            )
        self._close()
        self.closed = True

    def output_frame(self, max_frame_size: int) -> Frame | None:
        """The next frame of at most ``max_frame_size`` bytes (data + 23), or None.

        Before close only full-size frames come out; after close the rest, the final one with
        ``is_last``. As in Go, ``is_last`` needs the data to fit strictly, so data that exactly fills
        a frame is followed by an empty last frame.
        """
        if max_frame_size <= FRAME_OVERHEAD:
            raise ChannelOutError(
                f"max frame size {max_frame_size} must exceed the {FRAME_OVERHEAD}-byte frame overhead"
            )
        if self.fully_output:
            return None
        ready = self.ready_bytes
        if not self.closed and ready + FRAME_OVERHEAD < max_frame_size:
            return None
        if self._next_frame > MAX_FRAME_NUMBER:
            raise ChannelOutError(
                f"channel {self.id.hex()}: {ready} bytes left but frame numbers are exhausted "
                f"({MAX_FRAME_NUMBER} is the last uint16)"
            )
        max_data = min(max_frame_size - FRAME_OVERHEAD, MAX_FRAME_LEN)
        is_last = False
        size = max_data
        if max_data > ready:
            size = ready
            is_last = self.closed
        frame = Frame(self.id, self._next_frame, self._read(size), is_last)
        self._next_frame += 1
        if frame.number == MAX_FRAME_NUMBER:
            self._mark_full(FullReason.MAX_FRAME_INDEX)
        if is_last:
            self.fully_output = True
        return frame

    def _block_rlp_limit(self, block: BlockInput) -> int:
        return self.rollup.max_rlp_bytes_per_channel(block.timestamp)

    def _first_block_too_big(self, size: int, limit: int, block: BlockInput) -> ChannelOutError:
        return ChannelOutError(
            f"L2 block {block.number}: its batch alone is {size} RLP bytes, over the "
            f"MAX_RLP_BYTES_PER_CHANNEL limit {limit}; it can never be batched"
        )
