"""What the channel manager reports: its events, its results, and the reorg it raises.

:class:`~batcher.channels.manager.ChannelManager` logs nothing and touches no metric; each call returns
one of the results here (``tx_data`` a :class:`TxDataResult`, a receipt a :class:`ReceiptResult`,
restart recovery a :class:`RecoveryResult`) carrying :data:`ManagerEvent` objects that the driver's
reporter (:mod:`batcher.channels.reporter`) turns into Go's log lines and metrics. Frozen value types only:
this module imports the channel and config types and nothing that does work.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from batcher.channels.channel import CloseReason, ConfirmOutcome, TxData, TxID
from batcher.channels.config import ChannelConfig, DAChoice
from common.derive.block_ref import BlockID


class ReorgDetected(Exception):
    """Go ErrReorg: a loaded block's parent is not the tip of the queue."""

    def __init__(self, number: int, parent_hash: bytes, tip: bytes) -> None:
        super().__init__(
            f"block does not extend existing chain: block {number} has parent "
            f"0x{parent_hash.hex()}, tip is 0x{tip.hex()}"
        )
        self.number = number
        self.parent_hash = parent_hash
        self.tip = tip


# ---- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """Go ``Created channel``."""

    channel_id: bytes
    l1_head: BlockID
    blocks_pending: int
    l1_origin_last_submitted: BlockID
    config: ChannelConfig


@dataclass(frozen=True, slots=True)
class BlocksAdded:
    """Blocks moved from the queue into the current channel (Go RecordL2BlocksAdded)."""

    channel_id: bytes
    count: int
    blocks_pending: int
    input_bytes: int
    ready_bytes: int
    latest_l2: BlockID


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """Go ``Channel closed``: the channel is full and all its frames exist."""

    channel_id: bytes
    reason: CloseReason
    blocks: int
    frames: int
    input_bytes: int
    output_bytes: int
    blocks_pending: int
    block_cursor: int
    oldest_l1_origin: BlockID | None
    latest_l1_origin: BlockID | None
    oldest_l2: BlockID
    latest_l2: BlockID
    compression_algo: str = ""
    """The channel's algorithm (with ``--adaptive-compression``: the quality chosen for it)."""

    @property
    def compr_ratio(self) -> float:
        return self.output_bytes / self.input_bytes if self.input_bytes else 0.0


@dataclass(frozen=True, slots=True)
class ForceClosed:
    """Go ``Force-closing channel and creating frames`` (flush)."""

    channel_id: bytes


class DropReason(enum.Enum):
    """Why a channel was dropped and its blocks queued again."""

    TIMED_OUT_ON_CHAIN = "channel timed out on chain"
    DA_TYPE_SWITCH = "Recomputing optimal ChannelConfig: changing DA type and requeing blocks..."
    NEWER_THAN_INVALIDATED = "newer than an invalidated channel"

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class ChannelDropped:
    """Go ``Dropped channel``."""

    channel_id: bytes
    reason: DropReason
    blocks: int


@dataclass(frozen=True, slots=True)
class DAChosen:
    """An auto-DA decision (Go logs ``Using blob/calldata channel config`` with the costs)."""

    choice: DAChoice
    switched: bool


@dataclass(frozen=True, slots=True)
class ChannelTimedOut:
    """Go ``Channel timed out`` (WARN) + metric ``channel_timed_out``."""

    channel_id: bytes
    min_inclusion_block: int
    max_inclusion_block: int


@dataclass(frozen=True, slots=True)
class ChannelFullySubmitted:
    """Go ``Channel is fully submitted``."""

    channel_id: bytes
    blocks: int


@dataclass(frozen=True, slots=True)
class UnknownTx:
    """Go ``transaction from unknown channel marked as failed/confirmed``."""

    tx_id: TxID
    confirmed: bool


@dataclass(frozen=True, slots=True)
class SeqWindowExpired:
    """Alert: the ready channel's oldest block is past its sequencing window; nothing was sent."""

    channel_id: bytes
    oldest_l1_origin: int
    l1_head: int
    seq_window_size: int


@dataclass(frozen=True, slots=True)
class BlockTooLarge:
    """Alert: a block does not fit even an empty channel (e.g. over the RLP limit); nothing was sent."""

    block: BlockID
    reason: CloseReason
    detail: str = ""
    """The channel out's error text, naming the sizes involved."""


ManagerEvent = (
    ChannelOpened
    | BlocksAdded
    | ChannelClosed
    | ForceClosed
    | ChannelDropped
    | DAChosen
    | ChannelTimedOut
    | ChannelFullySubmitted
    | UnknownTx
    | SeqWindowExpired
    | BlockTooLarge
)


class Blocked(enum.Enum):
    """Why ``tx_data`` handed out nothing although data exists (the driver alerts on these)."""

    SEQ_WINDOW_EXPIRED = "seq_window_expired"
    BLOCK_TOO_LARGE = "block_too_large"


@dataclass(frozen=True, slots=True)
class TxDataResult:
    """``tx`` None means "nothing to send now" (Go io.EOF), ``blocked`` says if that is an alert."""

    tx: TxData | None
    events: tuple[ManagerEvent, ...] = ()
    blocked: Blocked | None = None


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    """What a receipt (or failure) did."""

    outcome: ConfirmOutcome | None
    """None for failures; UNKNOWN_TX if the id was not ours."""
    events: tuple[ManagerEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelOnL1:
    """A channel the batcher already completed on L1, as decoded from its own recent transactions.

    ``parent_check`` is a prefix of the parent hash of ``first_block`` (20 bytes from a span batch's
    parent_check, or the full 32 from a singular batch); ``l1_origin_check`` optionally a prefix of the
    last block's L1 origin hash (a span batch's l1_origin_check).
    """

    channel_id: bytes
    first_block: int
    last_block: int
    parent_check: bytes
    inclusion_block: BlockID
    l1_origin_check: bytes = b""


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    blocks_skipped: int
    channels_recovered: int
    stopped: str | None = None
    """Why recovery stopped before the end of the given channels (None if all matched)."""
