"""Channel assembly from L1 batcher txs: pre-Holocene channel bank, Holocene rules, timeouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.derive.block_ref import BlockID
from common.derive.channel_bank import (
    MAX_CHANNEL_BANK_SIZE_BEDROCK,
    MAX_CHANNEL_BANK_SIZE_FJORD,
    BatcherTx,
    ChannelBank,
    ChannelBankRules,
    DropReason,
    assemble_channels,
)
from common.derive.frame import Frame, encode_tx_data
from common.derive.rollup_config import (
    FORKS,
    GRANITE_CHANNEL_TIMEOUT,
    MAX_RLP_BYTES_PER_CHANNEL_FJORD,
    ForkSchedule,
    GenesisSystemConfig,
    RollupConfig,
)

A = b"\xaa" * 16
B = b"\xbb" * 16


def bank_rules(channel_timeout: int, **times: int | None) -> ChannelBankRules:
    """Bank rules whose schedule has every fork through Holocene at 0 except ``times`` (None: unscheduled)."""
    forks = dict(ForkSchedule.current().fork_times)
    for fork, at in times.items():
        assert fork in FORKS, fork
        if at is None:
            forks.pop(fork, None)
        else:
            forks[fork] = at
    return ChannelBankRules(ForkSchedule(forks, channel_timeout))


PRE_HOLOCENE = bank_rules(5, canyon=0, fjord=0, granite=None, holocene=None)
PRE_CANYON = bank_rules(5, canyon=None, fjord=None, granite=None, holocene=None)
HOLOCENE = bank_rules(5, granite=None)


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
    rules = bank_rules(300, granite=1000, holocene=None)
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
    rules = bank_rules(5, fjord=None, granite=None)
    big = bytes(1_000_000)
    frames = [Frame(A, n, big, n == 10) for n in range(11)]
    res = assemble_channels([tx(1, *frames)], rules)
    assert res.channels == ()
    assert [d.reason for d in res.dropped_channels] == [DropReason.OVERSIZED]


def test_holocene_activation_discards_buffered_channels() -> None:
    """A channel started pre-Holocene is dropped when the L1 time crosses Holocene."""
    rules = bank_rules(50, granite=None, holocene=100)
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
    rules = bank_rules(5, fjord=None, granite=None, holocene=None)
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


# ---- the rules come from the rollup config's fork schedule -------------------------------------------

fork_time = st.one_of(st.none(), st.integers(0, 2_000))


@given(
    canyon=fork_time,
    fjord=fork_time,
    granite=fork_time,
    holocene=fork_time,
    channel_timeout=st.integers(1, 1_000),
    l1_time=st.integers(0, 2_500),
)
def test_bank_rules_from_a_rollup_config_answer_as_the_config_does(
    canyon: int | None,
    fjord: int | None,
    granite: int | None,
    holocene: int | None,
    channel_timeout: int,
    l1_time: int,
) -> None:
    """Every timestamp rule the bank uses equals the rollup config's own answer at that L1 time."""
    times = {"canyon": canyon, "fjord": fjord, "granite": granite, "holocene": holocene}
    cfg = RollupConfig(
        genesis_l1=BlockID(b"\x01" * 32, 0),
        genesis_l2=BlockID(b"\x02" * 32, 0),
        genesis_l2_time=0,
        system_config=GenesisSystemConfig(b"\x03" * 20),
        block_time=2,
        max_sequencer_drift=600,
        seq_window_size=3600,
        channel_timeout=channel_timeout,
        l1_chain_id=900,
        l2_chain_id=901,
        batch_inbox_address=b"\xff" * 20,
        fork_times={fork: at for fork, at in times.items() if at is not None},
    )
    rules = ChannelBankRules.from_rollup(cfg)
    assert rules.timeout_at(l1_time) == cfg.channel_timeout_at(l1_time)
    assert rules.max_rlp_bytes(l1_time) == cfg.max_rlp_bytes_per_channel(l1_time)
    assert (
        rules.is_canyon(l1_time)
        == cfg.is_active("canyon", l1_time)
        == (canyon is not None and l1_time >= canyon)
    )
    assert rules.is_fjord(l1_time) == cfg.is_active("fjord", l1_time)
    assert rules.is_holocene(l1_time) == cfg.is_active("holocene", l1_time)
    expected_bank = (
        MAX_CHANNEL_BANK_SIZE_FJORD
        if fjord is not None and l1_time >= fjord
        else MAX_CHANNEL_BANK_SIZE_BEDROCK
    )
    assert rules.max_bank_size(l1_time) == expected_bank
    assert (rules.timeout_at(l1_time) == GRANITE_CHANNEL_TIMEOUT) == (
        (granite is not None and l1_time >= granite) or channel_timeout == GRANITE_CHANNEL_TIMEOUT
    )


def test_rules_without_a_rollup_config_are_todays_chain() -> None:
    """``op-batcher decode`` without rollup.json: Canyon, Fjord, Granite and Holocene rules from time 0."""
    rules = ChannelBankRules()
    assert rules.is_canyon(0) and rules.is_fjord(0) and rules.is_holocene(0)
    assert rules.timeout_at(0) == GRANITE_CHANNEL_TIMEOUT
    assert rules.max_rlp_bytes(0) == MAX_RLP_BYTES_PER_CHANNEL_FJORD
    assert rules.max_bank_size(0) == MAX_CHANNEL_BANK_SIZE_FJORD
    assert rules.forks.channel_timeout == 300
    assert not rules.forks.is_active("isthmus", 10**12)
    with pytest.raises(ValueError, match="unknown fork 'fjrod'"):
        rules.forks.is_active("fjrod", 0)
