"""Assembling frames from L1 batcher transactions into channels (the derivation side).

Batcher transactions are fed in L1 order (``ingest``), each tagged with its L1 block; completed
channels come out as soon as they are ready, together with what was dropped and why. Two rule
sets apply, chosen by the timestamp of the L1 block being read (wire-formats.md §1.3; specs
derivation.md §Channel Bank, holocene/derivation.md):

* pre-Holocene *channel bank*: frames may arrive out of order and across channels; duplicates and
  frames past a closing frame are dropped; channels are read in FIFO order (from Canyon the first
  *ready* one, before Canyon only the head); the bank's size is bounded by pruning the oldest.
* Holocene *channel assembler*: one staging channel; frames must be in order (0, 1, 2, ...);
  a frame 0 replaces an unfinished staging channel; a channel whose size exceeds
  MAX_RLP_BYTES_PER_CHANNEL is dropped. On activation all buffered channels are discarded.

In both, a channel times out when ``current_l1.number > open_l1.number + CHANNEL_TIMEOUT``, the
timeout being the rollup config's before Granite and 50 from Granite (by the L1 block timestamp).

This module is pure: no I/O and no clock; callers own the L1 walk.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.derive.frame import Frame, FrameError, parse_frames
from common.derive.rollup_config import ForkSchedule, RollupConfig

MAX_CHANNEL_BANK_SIZE_BEDROCK = 100_000_000
"""Pre-Fjord bound on the bank's total size (frame data + FRAME_SIZE_OVERHEAD per frame)."""
MAX_CHANNEL_BANK_SIZE_FJORD = 1_000_000_000
"""Fjord raised the channel bank size bound."""
FRAME_SIZE_OVERHEAD = 200
"""Bytes a frame counts for in channel-bank accounting beyond its data (op-node frameOverhead)."""


@dataclass(frozen=True, slots=True)
class ChannelBankRules:
    """What steers channel assembly at an L1 timestamp: the chain's fork schedule (rollup_config.py owns
    the fork rules) plus the bank's own Fjord size bound."""

    forks: ForkSchedule = field(default_factory=ForkSchedule.current)
    """Without a rollup config (``op-batcher decode``): every fork through Holocene active, timeout 300."""

    @classmethod
    def from_rollup(cls, cfg: RollupConfig) -> ChannelBankRules:
        return cls(cfg.forks)

    def timeout_at(self, l1_time: int) -> int:
        return self.forks.channel_timeout_at(l1_time)

    def is_canyon(self, l1_time: int) -> bool:
        return self.forks.is_active("canyon", l1_time)

    def is_fjord(self, l1_time: int) -> bool:
        return self.forks.is_active("fjord", l1_time)

    def is_holocene(self, l1_time: int) -> bool:
        return self.forks.is_active("holocene", l1_time)

    def max_rlp_bytes(self, l1_time: int) -> int:
        return self.forks.max_rlp_bytes_per_channel(l1_time)

    def max_bank_size(self, l1_time: int) -> int:
        return MAX_CHANNEL_BANK_SIZE_FJORD if self.is_fjord(l1_time) else MAX_CHANNEL_BANK_SIZE_BEDROCK


@dataclass(frozen=True, slots=True)
class BatcherTx:
    """One batch-inbox transaction's data (calldata, or one decoded blob) with its L1 position."""

    l1_block: int
    l1_timestamp: int
    data: bytes
    """Batcher transaction data: ``0x00 ++ frames``."""
    source: str = ""
    """Free-form label for reports (tx hash, blob index, file name)."""


class DropReason(enum.Enum):
    """Why a channel was discarded; values double as report labels."""

    TIMED_OUT = "channel timed out"
    REPLACED = "unfinished channel replaced by a new first frame (holocene)"
    OVERSIZED = "channel larger than MAX_RLP_BYTES_PER_CHANNEL (holocene)"
    BANK_FULL = "channel bank over its size limit, oldest channel pruned"
    HOLOCENE_ACTIVATION = "pipeline reset at holocene activation"
    INCOMPLETE = "channel still incomplete at the end of the input"


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame with where it was read from."""

    frame: Frame
    l1_block: int
    source: str


@dataclass(frozen=True, slots=True)
class AssembledChannel:
    """A complete channel, ready to be decompressed."""

    id: bytes
    frames: tuple[ReceivedFrame, ...]
    """Frames in frame-number order."""
    open_l1_block: int
    """L1 block where the channel's first frame (in arrival order) was read."""
    close_l1_block: int
    """L1 block of the closing (``is_last``) frame."""
    ready_l1_block: int
    """L1 block whose frame made the channel complete."""

    @property
    def data(self) -> bytes:
        """The channel's compressed bytes: all frame data in frame-number order."""
        return b"".join(f.frame.data for f in self.frames)


@dataclass(frozen=True, slots=True)
class DroppedChannel:
    """A channel discarded (or, from ``pending()``, still incomplete) with the frames it held."""

    id: bytes
    frames: tuple[ReceivedFrame, ...]
    """Buffered frames in frame-number order."""
    open_l1_block: int
    dropped_at_l1_block: int
    """L1 block being read when it was dropped (for pending ones: the last block read)."""
    reason: DropReason


@dataclass(frozen=True, slots=True)
class DroppedFrame:
    """A frame refused by the bank or assembler; the channel it names may live on."""

    frame: ReceivedFrame
    reason: str
    """op-node's reason, e.g. "duplicate frame number" or an out-of-order message."""


@dataclass(frozen=True, slots=True)
class TxError:
    """A batcher transaction whose data did not parse; all its frames are ignored."""

    l1_block: int
    source: str
    error: str


@dataclass(slots=True)
class _Channel:
    id: bytes
    open_l1_block: int
    in_order: bool
    frames: dict[int, ReceivedFrame] = field(default_factory=dict)
    end_number: int | None = None
    close_l1_block: int = 0
    size: int = 0

    def add(self, rf: ReceivedFrame) -> str | None:
        """Add a frame; returns why it was refused, or None (op-node Channel.AddFrame rules)."""
        f = rf.frame
        if f.channel_id != self.id:
            return f"frame of channel {f.channel_id.hex()} does not belong to staging channel {self.id.hex()}"
        if self.end_number is not None and f.is_last:
            return "duplicate closing frame"
        if f.number in self.frames:
            return "duplicate frame number"
        if self.end_number is not None and f.number >= self.end_number:
            return f"frame number {f.number} at or past the closing frame {self.end_number}"
        if self.in_order and f.number != len(self.frames):
            return f"out-of-order frame: expected number {len(self.frames)}, got {f.number}"
        if f.is_last:
            self.end_number = f.number
            self.close_l1_block = rf.l1_block
            for n in [n for n in self.frames if n >= f.number]:
                self.size -= len(self.frames.pop(n).frame.data) + FRAME_SIZE_OVERHEAD
        self.frames[f.number] = rf
        self.size += len(f.data) + FRAME_SIZE_OVERHEAD
        return None

    @property
    def ready(self) -> bool:
        return self.end_number is not None and len(self.frames) == self.end_number + 1

    def timed_out(self, l1_block: int, timeout: int) -> bool:
        return self.open_l1_block + timeout < l1_block

    def assembled(self, ready_l1_block: int) -> AssembledChannel:
        ordered = tuple(self.frames[n] for n in sorted(self.frames))
        return AssembledChannel(self.id, ordered, self.open_l1_block, self.close_l1_block, ready_l1_block)

    def dropped(self, l1_block: int, reason: DropReason) -> DroppedChannel:
        ordered = tuple(self.frames[n] for n in sorted(self.frames))
        return DroppedChannel(self.id, ordered, self.open_l1_block, l1_block, reason)


@dataclass(frozen=True, slots=True)
class ChannelBankResult:
    """Everything one pass over a sequence of batcher txs produced."""

    channels: tuple[AssembledChannel, ...]
    dropped_channels: tuple[DroppedChannel, ...]
    dropped_frames: tuple[DroppedFrame, ...]
    tx_errors: tuple[TxError, ...]
    pending: tuple[DroppedChannel, ...]
    """Channels still incomplete after the last transaction (reason: what would happen next)."""


class ChannelBank:
    """Incremental channel assembly over L1 batcher transactions, in L1 order."""

    def __init__(self, rules: ChannelBankRules) -> None:
        self.rules = rules
        self._channels: dict[bytes, _Channel] = {}
        """Pre-Holocene bank, in FIFO (insertion) order."""
        self._staging: _Channel | None = None
        """Holocene: the one channel being assembled."""
        self._l1_block = -1
        self._l1_time = 0
        self._holocene = False
        self.dropped_channels: list[DroppedChannel] = []
        self.dropped_frames: list[DroppedFrame] = []
        self.tx_errors: list[TxError] = []

    def advance_l1(self, l1_block: int, l1_timestamp: int) -> list[AssembledChannel]:
        """Move the L1 origin forward: applies Holocene activation and channel timeouts."""
        if l1_block < self._l1_block:
            raise ValueError(f"L1 block went backwards: {l1_block} after {self._l1_block}")
        self._l1_block, self._l1_time = l1_block, l1_timestamp
        holocene = self.rules.is_holocene(l1_timestamp)
        if holocene and not self._holocene:
            for ch in self._channels.values():
                self.dropped_channels.append(ch.dropped(l1_block, DropReason.HOLOCENE_ACTIVATION))
            self._channels.clear()
        self._holocene = holocene
        return self._read_ready()

    def ingest(self, tx: BatcherTx) -> list[AssembledChannel]:
        """Read one batcher transaction; returns channels that became ready (in read order)."""
        out = self.advance_l1(tx.l1_block, tx.l1_timestamp) if tx.l1_block != self._l1_block else []
        try:
            frames = parse_frames(tx.data)
        except FrameError as exc:
            self.tx_errors.append(TxError(tx.l1_block, tx.source, str(exc)))
            return out
        for frame in frames:
            rf = ReceivedFrame(frame, tx.l1_block, tx.source)
            if self._holocene:
                out.extend(self._ingest_holocene(rf))
            else:
                self._ingest_bank(rf)
                out.extend(self._read_ready())
        return out

    def _timeout(self) -> int:
        return self.rules.timeout_at(self._l1_time)

    def _ingest_bank(self, rf: ReceivedFrame) -> None:
        f = rf.frame
        ch = self._channels.get(f.channel_id)
        if ch is None:
            ch = self._channels[f.channel_id] = _Channel(f.channel_id, rf.l1_block, in_order=False)
        if ch.timed_out(self._l1_block, self._timeout()):
            self.dropped_frames.append(DroppedFrame(rf, "channel is timed out, frame ignored"))
            return
        refused = ch.add(rf)
        if refused is not None:
            self.dropped_frames.append(DroppedFrame(rf, refused))
            return
        self._prune_bank()

    def _prune_bank(self) -> None:
        limit = self.rules.max_bank_size(self._l1_time)
        total = sum(c.size for c in self._channels.values())
        while total > limit and self._channels:
            oldest = next(iter(self._channels))
            ch = self._channels.pop(oldest)
            total -= ch.size
            self.dropped_channels.append(ch.dropped(self._l1_block, DropReason.BANK_FULL))

    def _read_ready(self) -> list[AssembledChannel]:
        """Channel-bank reads: drop timed-out heads; return ready channels in FIFO order."""
        if self._holocene:
            ch = self._staging
            if ch is not None and ch.timed_out(self._l1_block, self._timeout()):
                self.dropped_channels.append(ch.dropped(self._l1_block, DropReason.TIMED_OUT))
                self._staging = None
            return []
        out: list[AssembledChannel] = []
        while self._channels:
            head = next(iter(self._channels.values()))
            if head.timed_out(self._l1_block, self._timeout()):
                del self._channels[head.id]
                self.dropped_channels.append(head.dropped(self._l1_block, DropReason.TIMED_OUT))
                continue
            candidates = list(self._channels.values()) if self.rules.is_canyon(self._l1_time) else [head]
            found = next(
                (c for c in candidates if c.ready and not c.timed_out(self._l1_block, self._timeout())), None
            )
            if found is None:
                break
            del self._channels[found.id]
            out.append(found.assembled(self._l1_block))
        return out

    def _ingest_holocene(self, rf: ReceivedFrame) -> list[AssembledChannel]:
        self._read_ready()
        f = rf.frame
        if f.number == 0:
            if self._staging is not None:
                self.dropped_channels.append(self._staging.dropped(self._l1_block, DropReason.REPLACED))
            self._staging = _Channel(f.channel_id, rf.l1_block, in_order=True)
        ch = self._staging
        if ch is None:
            self.dropped_frames.append(DroppedFrame(rf, "non-first frame without a staging channel"))
            return []
        refused = ch.add(rf)
        if refused is not None:
            self.dropped_frames.append(DroppedFrame(rf, refused))
            return []
        if ch.size > self.rules.max_rlp_bytes(self._l1_time):
            self.dropped_channels.append(ch.dropped(self._l1_block, DropReason.OVERSIZED))
            self._staging = None
            return []
        if ch.ready:
            self._staging = None
            return [ch.assembled(self._l1_block)]
        return []

    def pending(self) -> list[DroppedChannel]:
        """Incomplete channels still buffered, oldest first."""
        chans = [self._staging] if self._holocene and self._staging else list(self._channels.values())
        return [c.dropped(self._l1_block, DropReason.INCOMPLETE) for c in chans if c is not None]


def assemble_channels(
    txs: Iterable[BatcherTx], rules: ChannelBankRules | None = None, *, end_l1: tuple[int, int] | None = None
) -> ChannelBankResult:
    """Run a channel bank over ``txs`` (L1 order); ``end_l1`` = (number, timestamp) to close at."""
    bank = ChannelBank(rules or ChannelBankRules())
    channels: list[AssembledChannel] = []
    for tx in txs:
        channels.extend(bank.ingest(tx))
    if end_l1 is not None:
        channels.extend(bank.advance_l1(*end_l1))
    return ChannelBankResult(
        tuple(channels),
        tuple(bank.dropped_channels),
        tuple(bank.dropped_frames),
        tuple(bank.tx_errors),
        tuple(bank.pending()),
    )
