"""batcher.channels.channel: one channel's fullness, deadlines, frames out, rewinds and receipts.

Most tests drive the channel with ``FakeChannelOut`` below rather than H3's real ChannelOut: a
stand-in whose "compressed" size is exactly each block's DA estimate, so a test can say precisely
which block fills a channel and how many frames come out. The real ChannelOut is exercised by the
``real_channel_out`` tests (skipped until common/derive/channel_out.py exists).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batcher.channels.channel import Channel, CloseReason, ConfirmOutcome, TxID
from batcher.channels.config import ChannelConfig
from common.derive.block_ref import BlockID
from common.derive.channel_out import AddResult, ChannelOutError, FullReason
from common.derive.frame import FRAME_OVERHEAD, Frame, parse_frames

# ---- shared helpers (also imported by tests/test_channel_manager.py) ----------------------------


def h(tag: str, n: int) -> bytes:
    return hashlib.sha256(f"{tag}{n}".encode()).digest()


@dataclass(frozen=True, slots=True)
class FakeBlock:
    """Just the fields the batcher core reads."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    l1_origin: BlockID
    da_size_estimate: int
    sequence_number: int = 0


def make_chain(
    n: int,
    *,
    start: int = 1,
    size: int = 300,
    origin_every: int = 1,
    origin_base: int = 100,
    fork: str = "a",
    parent: bytes | None = None,
) -> list[FakeBlock]:
    """``n`` linked blocks; every ``origin_every`` blocks share one L1 origin."""
    blocks = []
    prev = parent if parent is not None else h(fork, start - 1)
    for i in range(start, start + n):
        origin_num = origin_base + (i - start) // origin_every
        b = FakeBlock(i, h(fork, i), prev, 1000 + 2 * i, BlockID(h("l1", origin_num), origin_num), size)
        blocks.append(b)
        prev = b.hash
    return blocks


class FakeChannelOut:
    """A channel out whose compressed size is the sum of the blocks' DA estimates.

    Full once that reaches ``target``; the first block is always accepted (as Go's compressors do)
    unless ``reject_all`` (then it raises like H3 for a block over the RLP limit); with
    ``streaming`` whole frames become ready before the channel closes, like a singular channel out.
    """

    def __init__(self, target: int, channel_id: bytes, *, streaming: bool = False, reject_all: bool = False):
        self.id = channel_id
        self.target = target
        self.streaming = streaming
        self.reject_all = reject_all
        self._data = bytearray()
        self._offset = 0
        self._next_frame = 0
        self.full_reason: FullReason | None = None
        self.closed = False
        self.fully_output = False
        self.block_count = 0

    def add_block(self, block: Any) -> AddResult:
        if self.reject_all:  # as H3 does for a first block over MAX_RLP_BYTES_PER_CHANNEL
            raise ChannelOutError(
                f"L2 block {block.number}: its batch alone is too big; it can never be batched"
            )
        if self.full_reason is not None:
            return AddResult.REJECTED_FULL
        size = getattr(block, "fake_size", None) or block.da_size_estimate
        if self.block_count > 0 and len(self._data) + size > self.target:
            self.full_reason = FullReason.COMPRESSOR_FULL
            return AddResult.REJECTED_FULL
        self._data += (block.hash * (size // 32 + 1))[:size]
        self.block_count += 1
        if len(self._data) >= self.target:
            self.full_reason = FullReason.COMPRESSOR_FULL
        return AddResult.ACCEPTED

    @property
    def input_bytes(self) -> int:
        return len(self._data)

    @property
    def ready_bytes(self) -> int:
        return len(self._data) - self._offset if (self.closed or self.streaming) else 0

    def close(self) -> None:
        self.closed = True

    def output_frame(self, max_frame_size: int) -> Frame | None:
        room = max_frame_size - FRAME_OVERHEAD
        if self.fully_output:
            return None
        if not self.closed and not (self.streaming and self.ready_bytes >= room):
            return None
        chunk = bytes(self._data[self._offset : self._offset + room])
        self._offset += len(chunk)
        last = self.closed and self._offset >= len(self._data)
        frame = Frame(self.id, self._next_frame, chunk, last)
        self._next_frame += 1
        self.fully_output = last
        return frame


def calldata_config(**kw: Any) -> ChannelConfig:
    base: dict[str, Any] = dict(
        seq_window_size=3600,
        channel_timeout=300,
        max_channel_duration=0,
        sub_safety_margin=10,
        max_frame_size=1000,
        target_num_frames=1,
        use_blobs=False,
    )
    base.update(kw)
    return ChannelConfig(**base)


def new_channel(
    cfg: ChannelConfig, *, last_submitted: int = 0, streaming: bool = False, channel_id: bytes = b"\x11" * 16
) -> Channel:
    return Channel(
        cfg, FakeChannelOut(cfg.target_output_size, channel_id, streaming=streaming), last_submitted
    )


# ---- tests ------------------------------------------------------------------------------------


def test_channel_fills_when_the_next_block_would_overflow_the_target():
    """Three 300-byte blocks fit a 977-byte target; the fourth is refused and the channel is full."""
    ch = new_channel(calldata_config())
    blocks = make_chain(4)
    assert [ch.add_block(b) for b in blocks] == [True, True, True, False]
    assert ch.close_reason is CloseReason.COMPRESSOR_FULL
    assert len(ch.blocks) == 3
    assert ch.latest_l2 == BlockID(blocks[2].hash, 3)


def test_full_channel_outputs_every_frame_and_the_last_is_marked():
    """Closing emits frames of max_frame_size - 23 payload bytes, is_last on the final one."""
    cfg = calldata_config(target_num_frames=3)
    ch = new_channel(cfg)
    for b in make_chain(10):
        ch.add_block(b)
    assert ch.output_frames() is True
    assert [len(f.data) for f in ch.frames] == [977, 977, 746]
    assert [f.is_last for f in ch.frames] == [False, False, True]
    assert ch.output_bytes == 2700


def test_not_full_channel_emits_ready_frames_but_sends_none_before_close():
    """A streaming channel out hands over whole frames before close, never a last frame; none of them
    leaves before the channel is closed (and so verified)."""
    ch = new_channel(calldata_config(target_num_frames=5), streaming=True)
    for b in make_chain(4):
        ch.add_block(b)
    assert ch.output_frames() is False
    assert [len(f.data) for f in ch.frames] == [977]
    assert not ch.frames[0].is_last
    assert not ch.has_tx_data()
    ch.terminate()
    assert ch.output_frames() is True
    assert ch.has_tx_data() and ch.next_tx_data().frames[0] == ch.frames[0]


def test_calldata_tx_carries_one_frame_prefixed_with_the_version_byte():
    """Calldata = 0x00 ++ frame, which parse_frames reads back."""
    ch = new_channel(calldata_config(target_num_frames=3))
    for b in make_chain(10):
        ch.add_block(b)
    ch.output_frames()
    tx = ch.next_tx_data()
    assert len(tx.frames) == 1
    assert parse_frames(tx.calldata) == [ch.frames[0]]
    assert str(tx.id) == f"{ch.id.hex()}:0"


def test_blob_channel_holds_ready_frames_until_closed():
    """An open blob channel holds its ready frames; once closed they go out target_num_frames per tx."""
    cfg = calldata_config(use_blobs=True, target_num_frames=3)
    ch = new_channel(cfg, streaming=True)
    for b in make_chain(7):  # 2100 bytes: two ready frames of 977
        ch.add_block(b)
    ch.output_frames()
    assert ch.pending_frames == 2 and not ch.has_tx_data()
    ch.terminate()
    ch.output_frames()
    assert ch.has_tx_data()
    tx = ch.next_tx_data()
    assert len(tx.frames) == 3 and tx.as_blob
    assert [p[0] for p in tx.blob_payloads] == [0, 0, 0]
    assert str(tx.id) == f"{ch.id.hex()}:0+1+2"


def test_failed_tx_rewinds_to_its_first_frame_and_resends_in_order():
    """Frames of the failed tx and every later frame go out again, in order."""
    ch = new_channel(calldata_config(target_num_frames=3))
    for b in make_chain(10):
        ch.add_block(b)
    ch.output_frames()
    t0, t1, _t2 = (ch.next_tx_data() for _ in range(3))
    assert ch.tx_failed(t1.id)
    resent = [ch.next_tx_data().frames[0].number for _ in range(ch.pending_frames)]
    assert resent == [1, 2]
    assert ch.tx_confirmed(t0.id, BlockID(h("l1", 5), 5)) is ConfirmOutcome.CONFIRMED


def test_an_older_failure_is_not_skipped_by_a_newer_one():
    """Rewinds take the minimum frame, so a later failure cannot jump over an earlier rewind."""
    ch = new_channel(calldata_config(target_num_frames=3))
    for b in make_chain(10):
        ch.add_block(b)
    ch.output_frames()
    _, t1, t2 = (ch.next_tx_data() for _ in range(3))
    ch.tx_failed(t1.id)
    ch.tx_failed(t2.id)
    assert ch.next_tx_data().frames[0].number == 1


def test_resent_frames_get_a_new_tx_id():
    """A resend is a different tx: the old attempt's receipt cannot complete it."""
    ch = new_channel(calldata_config(target_num_frames=3))
    for b in make_chain(10):
        ch.add_block(b)
    ch.output_frames()
    t0 = ch.next_tx_data()
    ch.tx_failed(t0.id)
    again = ch.next_tx_data()
    assert str(again.id) == str(t0.id) and again.id != t0.id
    assert ch.tx_confirmed(t0.id, BlockID(h("l1", 1), 1)) is ConfirmOutcome.UNKNOWN_TX


def test_fully_submitted_after_every_frame_is_confirmed():
    """Full, no pending frames and no pending txs."""
    ch = new_channel(calldata_config())
    for b in make_chain(4):
        ch.add_block(b)
    ch.output_frames()
    tx = ch.next_tx_data()
    assert not ch.is_fully_submitted
    assert ch.tx_confirmed(tx.id, BlockID(h("l1", 7), 7)) is ConfirmOutcome.FULLY_SUBMITTED
    assert ch.is_fully_submitted and ch.max_inclusion_block == 7


def test_channel_times_out_on_chain_when_inclusions_are_a_timeout_apart():
    """max - min inclusion >= channel timeout => timed out."""
    ch = new_channel(calldata_config(target_num_frames=3, channel_timeout=50))
    for b in make_chain(10):
        ch.add_block(b)
    ch.output_frames()
    t0, t1, t2 = (ch.next_tx_data() for _ in range(3))
    assert ch.tx_confirmed(t0.id, BlockID(h("l1", 100), 100)) is ConfirmOutcome.CONFIRMED
    assert ch.tx_confirmed(t1.id, BlockID(h("l1", 149), 149)) is ConfirmOutcome.CONFIRMED
    assert ch.tx_confirmed(t2.id, BlockID(h("l1", 150), 150)) is ConfirmOutcome.TIMED_OUT
    assert ch.is_timed_out


def test_max_channel_duration_counts_from_the_last_submitted_origin():
    """Deadline = l1OriginLastSubmittedChannel + max-channel-duration, in L1 block numbers."""
    ch = new_channel(calldata_config(max_channel_duration=10), last_submitted=90)
    ch.add_block(make_chain(1, origin_base=95)[0])
    assert ch.check_timeout(99) is None
    assert ch.check_timeout(100) is CloseReason.MAX_DURATION


def test_sequencer_window_deadline_uses_the_oldest_origin_minus_margin():
    """Deadline = oldest L1 origin + seq window - sub-safety margin."""
    ch = new_channel(calldata_config(seq_window_size=100, sub_safety_margin=10))
    for b in make_chain(3, origin_base=200):  # origins 200, 201, 202
        ch.add_block(b)
    assert ch.deadline() == (290, CloseReason.SEQ_WINDOW)
    assert ch.check_timeout(289) is None
    assert ch.check_timeout(290) is CloseReason.SEQ_WINDOW


def test_channel_timeout_deadline_starts_at_the_first_inclusion():
    """Deadline = first inclusion + channel timeout - sub-safety margin."""
    ch = new_channel(
        calldata_config(target_num_frames=3, channel_timeout=50, sub_safety_margin=10), streaming=True
    )
    for b in make_chain(7):
        ch.add_block(b)
    ch.output_frames()
    tx = ch.next_tx_data()
    ch.tx_confirmed(tx.id, BlockID(h("l1", 300), 300))
    assert ch.deadline() == (340, CloseReason.CHANNEL_TIMEOUT)
    assert ch.check_timeout(340) is CloseReason.CHANNEL_TIMEOUT


def test_ignoring_max_duration_keeps_the_safety_deadlines():
    """The waiver only removes the duration deadline."""
    ch = new_channel(calldata_config(max_channel_duration=5, seq_window_size=50, sub_safety_margin=10))
    ch.add_block(make_chain(1, origin_base=0)[0])
    assert ch.deadline(ignore_max_duration=True) == (40, CloseReason.SEQ_WINDOW)
    assert ch.check_timeout(39, ignore_max_duration=True) is None
    assert ch.check_timeout(40, ignore_max_duration=True) is CloseReason.SEQ_WINDOW


def test_seq_window_expiry_looks_at_the_next_l1_block():
    """Inclusion is allowed up to origin + window; the next tx lands at head + 1 at the earliest."""
    ch = new_channel(calldata_config(seq_window_size=20))
    ch.add_block(make_chain(1, origin_base=100)[0])
    assert not ch.seq_window_expired(119)
    assert ch.seq_window_expired(120)


def test_unsafe_da_bytes_switch_from_estimates_to_output_once_frames_exist():
    """Before frames: DA estimates; after: compressed output bytes."""
    ch = new_channel(calldata_config())
    for b in make_chain(2, size=400):
        ch.add_block(b)
    assert ch.unsafe_da_bytes == 800
    ch.terminate()
    ch.output_frames()
    assert ch.unsafe_da_bytes == ch.output_bytes == 800


def test_close_reasons_are_go_texts_with_metric_labels():
    """Enum values are Go's error strings; labels are snake case."""
    assert CloseReason.SEQ_WINDOW.value == "close to sequencer window timeout"
    assert CloseReason.TERMINATED.label == "terminated"
    assert CloseReason.from_channel_out(FullReason.TOO_MANY_RLP_BYTES) is CloseReason.TOO_MANY_RLP_BYTES


def test_tx_id_string_matches_go_format():
    """``<chID hex>:<first>+<next>...``."""
    assert str(TxID(b"\xab" * 16, 4, 3)) == "ab" * 16 + ":4+5+6"


@settings(max_examples=150, deadline=None)
@given(
    last_submitted=st.integers(0, 1000),
    duration=st.integers(0, 200),
    seq_window=st.integers(20, 3600),
    margin=st.integers(0, 19),
    channel_timeout=st.integers(20, 300),
    origins=st.lists(st.integers(0, 2000), min_size=1, max_size=5),
    inclusion=st.one_of(st.none(), st.integers(0, 3000)),
    head=st.integers(0, 5000),
    ignore=st.booleans(),
)
def test_timeouts_close_exactly_at_the_earliest_applicable_deadline(
    last_submitted, duration, seq_window, margin, channel_timeout, origins, inclusion, head, ignore
):
    """Fuzz (as Go's channel_builder_test): full iff head >= min(deadlines), reason = first of the ties."""
    cfg = calldata_config(
        max_channel_duration=duration,
        seq_window_size=seq_window,
        sub_safety_margin=margin,
        channel_timeout=channel_timeout,
        target_num_frames=50,
    )
    ch = new_channel(cfg, last_submitted=last_submitted, streaming=True)
    for i, o in enumerate(origins):
        ch.add_block(FakeBlock(i, h("b", i), h("b", i - 1), i, BlockID(h("l1", o), o), 1000))
    candidates: list[tuple[int, int, CloseReason]] = []
    if duration > 0 and not ignore:
        candidates.append((last_submitted + duration, 0, CloseReason.MAX_DURATION))
    candidates.append((min(origins) + seq_window - margin, 1, CloseReason.SEQ_WINDOW))
    if inclusion is not None:
        ch.output_frames()
        tx = ch.next_tx_data()
        ch.tx_confirmed(tx.id, BlockID(h("l1", inclusion), inclusion))
        candidates.append((inclusion + channel_timeout - margin, 2, CloseReason.CHANNEL_TIMEOUT))
    at, _, reason = min(candidates)
    got = ch.check_timeout(head, ignore_max_duration=ignore)
    if head >= at:
        assert got is reason and ch.close_reason is reason
    else:
        assert got is None and not ch.is_full
