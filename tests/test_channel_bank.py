"""Channel assembly from L1 batcher txs: pre-Holocene channel bank, Holocene rules, timeouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.derive.channel_bank import (
    BatcherTx,
    ChannelBank,
    ChannelBankRules,
    DropReason,
    assemble_channels,
)
from common.derive.frame import Frame, encode_tx_data
from common.derive.rollup_config import GRANITE_CHANNEL_TIMEOUT

A = b"\xaa" * 16
B = b"\xbb" * 16
PRE_HOLOCENE = ChannelBankRules(
    channel_timeout=5, canyon_time=0, fjord_time=0, granite_time=None, holocene_time=None
)
PRE_CANYON = ChannelBankRules(
    channel_timeout=5, canyon_time=None, fjord_time=None, granite_time=None, holocene_time=None
)
HOLOCENE = ChannelBankRules(channel_timeout=5, granite_time=None)


def tx(block: int, *frames: Frame, ts: int | None = None) -> BatcherTx:
    return BatcherTx(block, block * 12 if ts is None else ts, encode_tx_data(frames), f"tx@{block}")


def fr(cid: bytes, n: int, last: bool = False) -> Frame:
    return Frame(cid, n, bytes([n]) * 3, last)


def test_out_of_order_frames_assemble_before_holocene() -> None:
    """Frames 2 (last), 0, 1 in separate blocks give one channel with data in frame order."""
    res = assemble_channels([tx(10, fr(A, 2, True)), tx(11, fr(A, 0)), tx(12, fr(A, 1))], PRE_HOLOCENE)
    assert len(res.channels) == 1
    ch = res.channels[0]
    assert ch.data == b"\x00" * 3 + b"\x01" * 3 + b"\x02" * 3
    assert (ch.open_l1_block, ch.close_l1_block, ch.ready_l1_block) == (10, 10, 12)
    assert not res.dropped_channels and not res.pending


def test_duplicates_and_a_second_closing_frame_are_dropped() -> None:
    """A repeated frame number and a second is_last frame land in dropped_frames."""
    res = assemble_channels(
        [tx(1, fr(A, 0), fr(A, 0), fr(A, 2, True), fr(A, 3, True), fr(A, 1))], PRE_HOLOCENE
    )
    assert [c.id for c in res.channels] == [A]
    reasons = [d.reason for d in res.dropped_frames]
    assert reasons == ["duplicate frame number", "duplicate closing frame"]


def test_closing_frame_prunes_higher_frames() -> None:
    """Frame 3 buffered, then frame 1 closes the channel: 3 is pruned and 0..1 are read."""
    res = assemble_channels([tx(1, fr(A, 0), fr(A, 3)), tx(2, fr(A, 1, True))], PRE_HOLOCENE)
    assert [[rf.frame.number for rf in c.frames] for c in res.channels] == [[0, 1]]


def test_canyon_reads_the_first_ready_channel_pre_canyon_waits_for_the_head() -> None:
    """A (incomplete) then B (complete): Canyon returns B at once; before Canyon B waits behind A."""
    txs = [tx(1, fr(A, 0)), tx(2, fr(B, 0, True)), tx(3, fr(A, 1, True))]
    bank = ChannelBank(PRE_HOLOCENE)
    assert [[c.id for c in bank.ingest(t)] for t in txs] == [[], [B], [A]]
    bank = ChannelBank(PRE_CANYON)
    assert [[c.id for c in bank.ingest(t)] for t in txs] == [[], [], [A, B]]


def test_channel_times_out_after_channel_timeout_blocks() -> None:
    """Open at block 10 with timeout 5: a frame at 15 still counts, at 16 the channel is dropped."""
    ok = assemble_channels([tx(10, fr(A, 0)), tx(15, fr(A, 1, True))], PRE_HOLOCENE)
    assert [c.id for c in ok.channels] == [A]
    late = assemble_channels([tx(10, fr(A, 0)), tx(16, fr(A, 1, True))], PRE_HOLOCENE)
    assert late.channels == ()
    assert [(d.id, d.reason, d.dropped_at_l1_block) for d in late.dropped_channels] == [
        (A, DropReason.TIMED_OUT, 16)
    ]


def test_granite_timeout_is_chosen_by_the_l1_block_timestamp() -> None:
    """With Granite active by L1 time the timeout is 50, not the config's 300."""
    rules = ChannelBankRules(channel_timeout=300, granite_time=1000, holocene_time=None)
    before = assemble_channels([tx(1, fr(A, 0), ts=10), tx(100, fr(A, 1, True), ts=999)], rules)
    assert [c.id for c in before.channels] == [A]
    after = assemble_channels([tx(1, fr(A, 0), ts=10), tx(100, fr(A, 1, True), ts=1000)], rules)
    assert after.channels == () and after.dropped_channels[0].reason is DropReason.TIMED_OUT
    assert rules.timeout_at(1000) == GRANITE_CHANNEL_TIMEOUT


def test_end_l1_applies_timeouts_to_what_is_left() -> None:
    """Closing the walk far in the future times out an incomplete channel."""
    res = assemble_channels([tx(1, fr(A, 0))], PRE_HOLOCENE, end_l1=(50, 600))
    assert res.pending == ()
    assert [d.reason for d in res.dropped_channels] == [DropReason.TIMED_OUT]


def test_incomplete_channel_is_reported_as_pending() -> None:
    """Without an end block, an open channel is listed in pending with its frames."""
    res = assemble_channels([tx(1, fr(A, 0), fr(A, 1))], HOLOCENE)
    assert [(p.id, len(p.frames), p.reason) for p in res.pending] == [(A, 2, DropReason.INCOMPLETE)]


def test_holocene_drops_out_of_order_frames_and_keeps_the_channel() -> None:
    """Frames 0, 2 then 1, 2(last): the first 2 is dropped, the channel completes in order."""
    res = assemble_channels([tx(1, fr(A, 0), fr(A, 2)), tx(2, fr(A, 1), fr(A, 2, True))], HOLOCENE)
    assert [[rf.frame.number for rf in c.frames] for c in res.channels] == [[0, 1, 2]]
    assert [d.reason for d in res.dropped_frames] == ["out-of-order frame: expected number 1, got 2"]


def test_holocene_first_frame_replaces_the_staging_channel() -> None:
    """B's frame 0 while A is open drops A (REPLACED); B then completes."""
    res = assemble_channels([tx(1, fr(A, 0)), tx(2, fr(B, 0)), tx(3, fr(B, 1, True))], HOLOCENE)
    assert [c.id for c in res.channels] == [B]
    assert [(d.id, d.reason) for d in res.dropped_channels] == [(A, DropReason.REPLACED)]


def test_holocene_drops_frames_of_another_channel_and_without_staging() -> None:
    """A frame of B while A is staged, and a non-first frame with nothing staged, are dropped."""
    res = assemble_channels([tx(1, fr(B, 1)), tx(2, fr(A, 0), fr(B, 1)), tx(3, fr(A, 1, True))], HOLOCENE)
    assert [c.id for c in res.channels] == [A]
    assert res.dropped_frames[0].reason == "non-first frame without a staging channel"
    assert "does not belong to staging channel" in res.dropped_frames[1].reason


def test_holocene_drops_a_channel_over_max_rlp_bytes() -> None:
    """Pre-Fjord limit 10 MB: eleven 1 MB frames make the channel oversized and it is dropped."""
    rules = ChannelBankRules(channel_timeout=5, fjord_time=None, granite_time=None)
    big = bytes(1_000_000)
    frames = [Frame(A, n, big, n == 10) for n in range(11)]
    res = assemble_channels([tx(1, *frames)], rules)
    assert res.channels == ()
    assert [d.reason for d in res.dropped_channels] == [DropReason.OVERSIZED]


def test_holocene_activation_discards_buffered_channels() -> None:
    """A channel started pre-Holocene is dropped when the L1 time crosses Holocene."""
    rules = ChannelBankRules(channel_timeout=50, granite_time=None, holocene_time=100)
    res = assemble_channels([tx(1, fr(A, 0), ts=50), tx(2, fr(A, 1, True), ts=100)], rules)
    assert res.channels == ()
    assert [d.reason for d in res.dropped_channels] == [DropReason.HOLOCENE_ACTIVATION]
    assert [d.reason for d in res.dropped_frames] == ["non-first frame without a staging channel"]


def test_unparseable_tx_is_reported_and_others_still_count() -> None:
    """A tx with a bad frame is listed in tx_errors; the next tx's channel still assembles."""
    bad = BatcherTx(1, 12, b"\x00" + b"\x01" * 10, "bad")
    res = assemble_channels([bad, tx(2, fr(A, 0, True))], HOLOCENE)
    assert [c.id for c in res.channels] == [A]
    assert res.tx_errors[0].source == "bad" and "truncated frame header" in res.tx_errors[0].error


def test_l1_blocks_must_not_go_backwards() -> None:
    """Feeding an older L1 block after a newer one is a caller bug."""
    bank = ChannelBank(HOLOCENE)
    bank.ingest(tx(5, fr(A, 0)))
    with pytest.raises(ValueError, match="backwards"):
        bank.ingest(tx(4, fr(A, 1)))


@given(st.permutations(range(6)))
def test_any_arrival_order_gives_the_same_channel_before_holocene(order: list[int]) -> None:
    """Pre-Holocene, any permutation of one channel's frames in one block reassembles identically."""
    frames = [fr(A, n, n == 5) for n in range(6)]
    res = assemble_channels([tx(1, *(frames[i] for i in order))], PRE_HOLOCENE)
    assert len(res.channels) == 1
    assert res.channels[0].data == b"".join(f.data for f in frames)


@pytest.mark.slow
def test_bank_over_its_size_limit_prunes_the_oldest_channel() -> None:
    """Pre-Fjord bank limit 100 MB: A (50 × 1 MB) is pruned when B's 50th frame pushes the total over."""
    rules = ChannelBankRules(channel_timeout=5, fjord_time=None, granite_time=None, holocene_time=None)
    bank = ChannelBank(rules)
    chunk = bytes(1_000_000)
    for n in range(50):
        bank.ingest(BatcherTx(1, 12, encode_tx_data([Frame(A, n, chunk, False)])))
    for n in range(49):
        bank.ingest(BatcherTx(1, 12, encode_tx_data([Frame(B, n, chunk, False)])))
    assert bank.dropped_channels == []  # 99 × (1 MB + 200) is still under 100 MB
    bank.ingest(BatcherTx(1, 12, encode_tx_data([Frame(B, 49, chunk, False)])))
    assert [(d.id, d.reason, len(d.frames)) for d in bank.dropped_channels] == [(A, DropReason.BANK_FULL, 50)]
    assert [p.id for p in bank.pending()] == [B]
