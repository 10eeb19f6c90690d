"""One channel being built and submitted (Go channel + channel_builder, op-batcher.md §4.5-§4.8).

Life of a channel::

    add_block ...  (until the channel out rejects a block or reports full)
    check_timeout(l1_head)  (a deadline passed => full)
    output_frames()         (full => close and emit every frame; else only the ready ones)
    next_tx_data() ...      (once closed and verified: frames leave in order, 1 per calldata tx, up to
                             N per blob tx)
    tx_confirmed / tx_failed (failure rewinds the frame cursor to the failed tx's first frame)

A channel is *full* once it has a :class:`CloseReason`; it then never takes another block. Its
deadlines are kept apart (max channel duration, sequencing window, channel timeout) so the manager
can waive the duration deadline while draining a backlog without losing the safety deadlines.

Nothing here does I/O or reads a clock: L1 block numbers are passed in.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from batcher.channels.config import ChannelConfig
from common.derive.block_ref import BlockID
from common.derive.channel_out import AddResult, ChannelOutError
from common.derive.frame import DERIVATION_VERSION_0, Frame


class L2Block(Protocol):
    """What the batcher core reads from an L2 block (H2's BlockInput satisfies it)."""

    @property
    def number(self) -> int: ...
    @property
    def hash(self) -> bytes: ...
    @property
    def parent_hash(self) -> bytes: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def l1_origin(self) -> BlockID: ...
    @property
    def da_size_estimate(self) -> int: ...


class ChannelOutLike(Protocol):
    """The slice of H3's ChannelOut a channel drives."""

    @property
    def id(self) -> bytes: ...
    def add_block(self, block: Any, /) -> Any: ...
    @property
    def block_count(self) -> int: ...
    @property
    def full_reason(self) -> Any: ...
    @property
    def input_bytes(self) -> int: ...
    @property
    def ready_bytes(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def fully_output(self) -> bool: ...
    def close(self) -> None: ...
    def output_frame(self, max_frame_size: int, /) -> Frame | None: ...


class CloseReason(enum.Enum):
    """Why a channel stopped taking blocks. Values are Go's error texts; ``label`` is the metric label."""

    COMPRESSOR_FULL = "compressor is full"
    TOO_MANY_RLP_BYTES = "batch would cause RLP bytes to go over limit"
    MAX_FRAME_INDEX = "max frame index reached (uint16)"
    MAX_DURATION = "max channel duration reached"
    SEQ_WINDOW = "close to sequencer window timeout"
    CHANNEL_TIMEOUT = "close to channel timeout"
    TERMINATED = "channel terminated"
    ALREADY_ON_L1 = "channel already on L1"
    """Not Go: a channel rebuilt at startup from the batcher's own L1 transactions."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_channel_out(cls, reason: Any) -> CloseReason:
        """Map the channel out's full reason (an enum carrying Go's text) onto ours."""
        text = getattr(reason, "value", reason)
        for member in cls:
            if member.value == text:
                return member
        return cls.COMPRESSOR_FULL


_TIMEOUT_PRIORITY = (CloseReason.MAX_DURATION, CloseReason.SEQ_WINDOW, CloseReason.CHANNEL_TIMEOUT)
"""Tie order of equal deadlines: Go keeps the first-registered one (duration at open, window on add,
channel timeout on the first confirmation)."""

_tx_serial = itertools.count()


@dataclass(frozen=True, slots=True)
class TxID:
    """A batcher transaction: which frames of which channel it carries.

    ``serial`` makes a resend of the same frames (after a rewind) a different transaction, so the
    receipt of an old attempt never completes the new one. ``str()`` is Go's ``<chID hex>:<n>+<n>...``.
    """

    channel_id: bytes
    first_frame: int
    num_frames: int
    serial: int = field(default_factory=lambda: next(_tx_serial))

    def __str__(self) -> str:
        rest = "".join(f"+{n}" for n in range(self.first_frame + 1, self.first_frame + self.num_frames))
        return f"{self.channel_id.hex()}:{self.first_frame}{rest}"


@dataclass(frozen=True, slots=True)
class TxData:
    """The frames of one batcher transaction and how to put them on L1 (op-batcher.md §5.1)."""

    id: TxID
    frames: tuple[Frame, ...]
    as_blob: bool
    shared: TxData | None = None
    """Blob sharing (our addition, ``--blob-sharing``): the next channel's first frame(s), the first of
    which rides in this tx's last blob right after this channel's closing frame (Holocene accepts a new
    channel's frame 0 after the previous channel's closing frame); further ones get their own blobs."""

    @property
    def calldata(self) -> bytes:
        """``0x00 ++ frame`` for a calldata tx (which carries exactly one frame)."""
        if self.as_blob or len(self.frames) != 1 or self.shared is not None:
            raise ValueError(f"tx {self.id}: calldata needs exactly one frame, have {len(self.frames)}")
        return bytes([DERIVATION_VERSION_0]) + self.frames[0].encode()

    @property
    def blob_payloads(self) -> list[bytes]:
        """One ``0x00 ++ frame`` payload per blob, in frame order (blob-encode each); with a shared
        part, the last blob also carries the next channel's first frame."""
        payloads = [bytes([DERIVATION_VERSION_0]) + f.encode() for f in self.frames]
        if self.shared is not None:
            rest = self.shared.blob_payloads
            payloads[-1] += rest[0][1:]
            payloads += rest[1:]
        return payloads

    @property
    def size(self) -> int:
        """Payload bytes (version bytes included), Go txData.Len."""
        own = sum(f.size + 1 for f in self.frames)
        return own + (self.shared.size - 1 if self.shared is not None else 0)


class ConfirmOutcome(enum.Enum):
    """What a confirmation did to its channel."""

    UNKNOWN_TX = "unknown_tx"
    CONFIRMED = "confirmed"
    FULLY_SUBMITTED = "fully_submitted"
    TIMED_OUT = "timed_out"
    """Go ``channel timed out on chain``: the manager must drop this and newer channels."""


class Channel:
    """Blocks -> channel out -> frames -> txs, with timeouts and receipt bookkeeping."""

    def __init__(
        self, config: ChannelConfig, out: ChannelOutLike | None, l1_origin_last_submitted: int
    ) -> None:
        self.config = config
        self._out = out
        self.id: bytes = out.id if out is not None else b""
        self.blocks: list[L2Block] = []
        self.frames: list[Frame] = []
        self._frame_cursor = 0
        self._pending: dict[TxID, TxData] = {}
        self._confirmed: dict[TxID, BlockID] = {}
        self.min_inclusion_block: int | None = None
        self.max_inclusion_block_number: int | None = None
        self.close_reason: CloseReason | None = None
        self.oldest_l1_origin: BlockID | None = None
        self.latest_l1_origin: BlockID | None = None
        self.input_bytes = 0
        self.output_bytes = 0
        self._da_bytes: int | None = 0
        self.rejection: str | None = None
        """Why the channel out refused a block outright (a block too large for any channel)."""
        self.first_frame_size: int | None = None
        """Blob sharing: the size frame 0 is cut to, to fill the previous channel's last blob."""
        self._deadlines: dict[CloseReason, int] = {}
        if config.max_channel_duration > 0:
            self._deadlines[CloseReason.MAX_DURATION] = l1_origin_last_submitted + config.max_channel_duration

    @classmethod
    def already_on_l1(
        cls, config: ChannelConfig, channel_id: bytes, blocks: Sequence[L2Block], inclusion_block: BlockID
    ) -> Channel:
        """A channel found complete on L1 at startup: fully submitted, nothing left to send."""
        ch = cls(config, None, 0)
        ch.id = channel_id
        ch._deadlines.clear()
        for b in blocks:
            ch._record_block(b)
        ch.close_reason = CloseReason.ALREADY_ON_L1
        tx = TxID(channel_id, 0, 0)
        ch._confirmed[tx] = inclusion_block
        ch.min_inclusion_block = ch.max_inclusion_block_number = inclusion_block.number
        return ch

    # ---- building -------------------------------------------------------------------------------

    @property
    def is_full(self) -> bool:
        return self.close_reason is not None

    def add_block(self, block: L2Block) -> bool:
        """Offer a block; False means it was not taken (the channel is or just became full)."""
        if self.close_reason is not None or self._out is None:
            return False
        try:
            result = self._out.add_block(block)
        except ChannelOutError as exc:
            # Only an oversized first block raises (it can never be batched); report, don't loop.
            self.rejection = str(exc)
            self.close_reason = CloseReason.TOO_MANY_RLP_BYTES
            return False
        if result is not AddResult.ACCEPTED:
            self.close_reason = CloseReason.from_channel_out(self._out.full_reason)
            return False
        self._record_block(block)
        self.input_bytes = self._out.input_bytes
        if self._out.full_reason is not None:
            self.close_reason = CloseReason.from_channel_out(self._out.full_reason)
        return True

    def _record_block(self, block: L2Block) -> None:
        self.blocks.append(block)
        # Computed on demand: the FastLZ estimate is costly and only throttling needs it.
        self._da_bytes = None
        origin = block.l1_origin
        if self.latest_l1_origin is None or origin.number > self.latest_l1_origin.number:
            self.latest_l1_origin = origin
        # Go compares against the latest origin here (a logging quirk); the true minimum is kept.
        if self.oldest_l1_origin is None or origin.number < self.oldest_l1_origin.number:
            self.oldest_l1_origin = origin
            deadline = origin.number + self.config.seq_window_size - self.config.sub_safety_margin
            self._deadlines[CloseReason.SEQ_WINDOW] = deadline

    def deadline(self, *, ignore_max_duration: bool = False) -> tuple[int, CloseReason] | None:
        """The earliest L1 block number at which a timeout closes this channel, and why."""
        best: tuple[int, CloseReason] | None = None
        for reason in _TIMEOUT_PRIORITY:
            if reason is CloseReason.MAX_DURATION and ignore_max_duration:
                continue
            at = self._deadlines.get(reason)
            if at is not None and (best is None or at < best[0]):
                best = (at, reason)
        return best

    def max_duration_reached(self, l1_head: int) -> bool:
        """Has the max-channel-duration deadline (alone) passed?"""
        at = self._deadlines.get(CloseReason.MAX_DURATION)
        return at is not None and l1_head >= at

    def check_timeout(self, l1_head: int, *, ignore_max_duration: bool = False) -> CloseReason | None:
        """Close the channel if ``l1_head`` reached a deadline; returns the reason if it did."""
        if self.close_reason is not None:
            return None
        d = self.deadline(ignore_max_duration=ignore_max_duration)
        if d is not None and l1_head >= d[0]:
            self.close_reason = d[1]
            return d[1]
        return None

    def terminate(self) -> None:
        """Flush: close now with ``channel terminated``."""
        if self.close_reason is None:
            self.close_reason = CloseReason.TERMINATED

    def output_frames(self) -> bool:
        """Pull frames from the channel out; all of them once full.

        Returns True when this call closed the channel (all frames out, compressor released).
        """
        out = self._out
        if out is None:
            return False
        if self.close_reason is None:
            while (frame := out.output_frame(self._next_frame_size())) is not None:
                self._append_frame(frame)
                if out.full_reason is not None:  # e.g. the uint16 frame index ran out
                    self.close_reason = CloseReason.from_channel_out(out.full_reason)
                    break
        if self.close_reason is None:
            return False
        if out.block_count == 0:  # nothing accepted (a block too large): no frames, never an empty channel
            self._out = None
            return True
        if not out.closed:
            out.close()
        while not out.fully_output:
            frame = out.output_frame(self._next_frame_size())
            if frame is None:
                break
            self._append_frame(frame)
        self.input_bytes = out.input_bytes
        self._out = None  # the compressor is done: free it (Go #16597)
        return True

    def _next_frame_size(self) -> int:
        if not self.frames and self.first_frame_size is not None:
            return self.first_frame_size
        return self.config.max_frame_size

    def _append_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.output_bytes += len(frame.data)

    @property
    def da_bytes(self) -> int:
        """Sum of the blocks' DA-size estimates (throttling input before frames exist)."""
        if self._da_bytes is None:
            self._da_bytes = sum(b.da_size_estimate for b in self.blocks)
        return self._da_bytes

    @property
    def ready_bytes(self) -> int:
        return self._out.ready_bytes if self._out is not None else 0

    # ---- submitting -----------------------------------------------------------------------------

    @property
    def pending_frames(self) -> int:
        return len(self.frames) - self._frame_cursor

    def has_tx_data(self) -> bool:
        """Frames leave only once the channel is closed, so every frame is decoded and checked against
        its blocks before it is sent (Go sends ready calldata frames of an open channel; the safe head
        waits for the last frame either way)."""
        return self.is_full and self.pending_frames > 0

    def last_blob_room(self) -> int:
        """Blob sharing: bytes left in the last blob if the next tx is this channel's last one and
        carries its closing frame; 0 otherwise (calldata, several txs to go, or a full last frame)."""
        if not self.config.use_blobs or not self.is_full or not self.frames:
            return 0
        if not 0 < self.pending_frames <= self.config.max_frames_per_tx or not self.frames[-1].is_last:
            return 0
        return max(0, self.config.max_frame_size - self.frames[-1].size)

    def next_tx_data(self, max_frames: int | None = None) -> TxData:
        """Hand out the next frames as one tx and remember them as pending under a fresh TxID."""
        n = min(max_frames or self.config.max_frames_per_tx, self.pending_frames)
        if n <= 0:
            raise ValueError(f"channel {self.id.hex()}: no pending frames")
        frames = tuple(self.frames[self._frame_cursor : self._frame_cursor + n])
        self._frame_cursor += n
        tx = TxData(TxID(self.id, frames[0].number, n), frames, self.config.use_blobs)
        self._pending[tx.id] = tx
        return tx

    def tx_failed(self, tx: TxID) -> bool:
        """Resend from the failed tx's first frame on (Holocene needs frames in order).

        Go sets the cursor to that frame even if it is ahead of the cursor; taking the minimum keeps
        an earlier rewind (from an older failed tx) from being skipped.
        """
        data = self._pending.pop(tx, None)
        if data is None:
            return False
        self._frame_cursor = min(self._frame_cursor, data.frames[0].number)
        return True

    def tx_confirmed(self, tx: TxID, inclusion_block: BlockID) -> ConfirmOutcome:
        """Record an inclusion; start the channel-timeout deadline; detect the on-chain timeout."""
        if self._pending.pop(tx, None) is None:
            return ConfirmOutcome.UNKNOWN_TX
        self._confirmed[tx] = inclusion_block
        n = inclusion_block.number
        self.min_inclusion_block = n if self.min_inclusion_block is None else min(self.min_inclusion_block, n)
        self.max_inclusion_block_number = (
            n if self.max_inclusion_block_number is None else max(self.max_inclusion_block_number, n)
        )
        deadline = n + self.config.channel_timeout - self.config.sub_safety_margin
        prev = self._deadlines.get(CloseReason.CHANNEL_TIMEOUT)
        if prev is None or deadline < prev:
            self._deadlines[CloseReason.CHANNEL_TIMEOUT] = deadline
        if self.is_timed_out:
            return ConfirmOutcome.TIMED_OUT
        if self.is_fully_submitted:
            return ConfirmOutcome.FULLY_SUBMITTED
        return ConfirmOutcome.CONFIRMED

    # ---- status (sync actions, throttling, metrics) -------------------------------------------

    @property
    def is_timed_out(self) -> bool:
        """Go: the channel's frames landed too far apart (max - min inclusion >= channel timeout)."""
        if self.min_inclusion_block is None or self.max_inclusion_block_number is None:
            return False
        return self.max_inclusion_block_number - self.min_inclusion_block >= self.config.channel_timeout

    @property
    def is_fully_submitted(self) -> bool:
        return self.is_full and not self._pending and self.pending_frames == 0

    @property
    def none_submitted(self) -> bool:
        return not self._pending and not self._confirmed

    @property
    def pending_txs(self) -> int:
        return len(self._pending)

    @property
    def confirmed_txs(self) -> int:
        return len(self._confirmed)

    def pending_tx_ids(self) -> list[TxID]:
        return list(self._pending)

    @property
    def max_inclusion_block(self) -> int:
        """Highest L1 inclusion block of a confirmed tx, 0 before any (sync-actions input)."""
        return self.max_inclusion_block_number or 0

    @property
    def latest_l2(self) -> BlockID:
        """The newest L2 block in the channel (zero ID if empty)."""
        if not self.blocks:
            return BlockID(b"\x00" * 32, 0)
        b = self.blocks[-1]
        return BlockID(b.hash, b.number)

    @property
    def oldest_l2(self) -> BlockID:
        if not self.blocks:
            return BlockID(b"\x00" * 32, 0)
        b = self.blocks[0]
        return BlockID(b.hash, b.number)

    @property
    def unsafe_da_bytes(self) -> int:
        """Throttling input (§4.12): compressed output once frames exist, else the blocks' DA estimate."""
        return self.output_bytes if self.frames else self.da_bytes

    def seq_window_expired(self, l1_head: int) -> bool:
        """True if the next L1 block is already past the oldest block's sequencing window.

        Derivation drops a batch included after ``epoch + seq_window_size``; the earliest this
        channel's next tx can land is ``l1_head + 1``.
        """
        if self.oldest_l1_origin is None:
            return False
        return self.oldest_l1_origin.number + self.config.seq_window_size < l1_head + 1

    def __repr__(self) -> str:
        return (
            f"Channel(id={self.id.hex()}, blocks={len(self.blocks)}, frames={len(self.frames)}, "
            f"cursor={self._frame_cursor}, full={self.close_reason}, pending={len(self._pending)}, "
            f"confirmed={len(self._confirmed)})"
        )
