"""batcher.channels.manager: the block queue -> channels -> txs state machine, receipts and resets.

Uses ``FakeChannelOut`` from tests/test_batcher_channel.py (exact sizes, so each test can say which
block fills which channel); see that module's docstring for why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batcher.channels.channel import CloseReason, ConfirmOutcome
from batcher.channels.config import ChannelConfig, ChannelConfigs, DAConfigSelector, DAType, GasPriceCaps
from batcher.channels.events import (
    Blocked,
    BlocksAdded,
    BlockTooLarge,
    ChannelClosed,
    ChannelDropped,
    ChannelFullySubmitted,
    ChannelOnL1,
    ChannelOpened,
    ChannelTimedOut,
    DAChosen,
    DropReason,
    ForceClosed,
    ReorgDetected,
    SeqWindowExpired,
    UnknownTx,
)
from batcher.channels.manager import ChannelManager, block_number_at
from batcher.channels.sync_actions import SyncActions, compute_sync_actions
from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.frame import parse_frames
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig
from common.derive.sync_status import SyncStatus
from tests.test_batcher_channel import FakeBlock, FakeChannelOut, calldata_config, h, make_chain

ROLLUP = RollupConfig(
    genesis_l1=BlockID(h("l1", 0), 0),
    genesis_l2=BlockID(h("a", 0), 0),
    genesis_l2_time=1000,
    system_config=GenesisSystemConfig(b"\x01" * 20),
    block_time=2,
    max_sequencer_drift=600,
    seq_window_size=3600,
    channel_timeout=300,
    l1_chain_id=900,
    l2_chain_id=901,
    batch_inbox_address=b"\xff" * 20,
    fork_times={"ecotone": 0, "fjord": 0},
)


class Factory:
    """Channel-out factory recording what it built; ids are 0x01.., 0x02.., ..."""

    def __init__(self, **kw: Any):
        self.kw = kw
        self.built: list[tuple[ChannelConfig, FakeChannelOut]] = []
        self.counter = 0

    def __call__(self, cfg: ChannelConfig, rollup: RollupConfig, channel_id: bytes) -> FakeChannelOut:
        out = FakeChannelOut(cfg.target_output_size, channel_id, **self.kw)
        self.built.append((cfg, out))
        return out

    def next_id(self) -> bytes:
        self.counter += 1
        return bytes([self.counter]) * 16


def manager(
    cfg: ChannelConfig | None = None, *, configs: ChannelConfigs | None = None, **fake: Any
) -> tuple[ChannelManager, Factory]:
    f = Factory(**fake)
    configs = configs or ChannelConfigs(DAType.CALLDATA, cfg or calldata_config())
    m = ChannelManager(ROLLUP, DAConfigSelector(configs), channel_out_factory=f, new_channel_id=f.next_id)
    return m, f


def load(m: ChannelManager, blocks) -> None:
    for b in blocks:
        m.add_l2_block(b)


def head(n: int) -> BlockID:
    return BlockID(h("l1", n), n)


def drain(m: ChannelManager, l1: int = 100, **kw: Any):
    out = []
    while (r := m.tx_data(head(l1), **kw)).tx is not None:
        out.append(r.tx)
    return out


def kinds(events) -> list[type]:
    return [type(e) for e in events]


def test_blocks_fill_channels_in_order_and_each_frame_goes_out_once():
    """7 blocks of 300 bytes: two full channels of 3 blocks, the 7th block waits in an open channel."""
    m, _ = manager()
    load(m, make_chain(7))
    first = m.tx_data(head(100))
    assert first.tx is not None
    assert kinds(first.events) == [ChannelOpened, BlocksAdded, ChannelClosed]
    closed = first.events[2]
    assert (
        isinstance(closed, ChannelClosed)
        and closed.reason is CloseReason.COMPRESSOR_FULL
        and closed.blocks == 3
    )
    rest = drain(m)
    assert [t.id.channel_id[0] for t in [first.tx, *rest]] == [1, 2]
    assert m.pending_blocks == 0 and len(m.channels) == 3
    assert m.current_channel is not None and len(m.current_channel.blocks) == 1
    frames = [f for t in [first.tx, *rest] for f in parse_frames(t.calldata)]
    assert all(f.is_last for f in frames)


def test_no_blocks_means_no_tx_and_no_channel():
    """Nothing loaded: no channel is opened (never an empty channel)."""
    m, f = manager()
    r = m.tx_data(head(100))
    assert r.tx is None and r.blocked is None and r.events == ()
    assert f.built == []


def test_reorg_is_detected_when_a_block_does_not_extend_the_tip():
    """add_l2_block raises ReorgDetected with Go's text."""
    m, _ = manager()
    load(m, make_chain(3))
    with pytest.raises(ReorgDetected, match="block does not extend existing chain"):
        m.add_l2_block(make_chain(1, start=4, fork="b")[0])


def test_confirming_every_frame_reports_the_channel_fully_submitted():
    """The last confirmation of a full channel yields ChannelFullySubmitted."""
    m, _ = manager()
    load(m, make_chain(4))
    tx = m.tx_data(head(100)).tx
    assert tx is not None
    r = m.tx_confirmed(tx.id, head(101))
    assert r.outcome is ConfirmOutcome.FULLY_SUBMITTED
    assert kinds(r.events) == [ChannelFullySubmitted]


def test_failed_tx_is_resent_from_its_first_frame_in_order():
    """Fail the middle tx of a 3-frame channel: frames 1 and 2 go out again, then nothing."""
    m, _ = manager(calldata_config(target_num_frames=3))
    load(m, make_chain(10))
    txs = drain(m)
    assert [t.frames[0].number for t in txs] == [0, 1, 2]
    assert m.tx_failed(txs[1].id).outcome is None
    again = drain(m)
    assert [t.frames[0].number for t in again] == [1, 2]
    assert all(t.id.channel_id == txs[0].id.channel_id for t in again)


def test_unknown_tx_receipts_are_reported_not_fatal():
    """Receipts for ids the manager never handed out produce UnknownTx events."""
    m, _ = manager()
    load(m, make_chain(4))
    tx = m.tx_data(head(100)).tx
    assert tx is not None
    m.tx_confirmed(tx.id, head(101))
    again = m.tx_confirmed(tx.id, head(101))
    assert again.outcome is ConfirmOutcome.UNKNOWN_TX and kinds(again.events) == [UnknownTx]
    assert kinds(m.tx_failed(tx.id).events) == [UnknownTx]


def test_channel_timeout_on_chain_drops_it_and_newer_channels_and_requeues_blocks():
    """Inclusions 50 blocks apart: channel and the newer one are dropped, blocks rebuilt in a new channel."""
    cfg = calldata_config(target_num_frames=2, channel_timeout=50)
    m, _ = manager(cfg)
    load(m, make_chain(13))  # 6 blocks per channel (1800 of 1954 bytes), 2 frames each; 13th waits
    txs = drain(m)
    assert len(txs) == 4 and m.pending_blocks == 0
    first_channel = txs[0].id.channel_id
    m.tx_confirmed(txs[0].id, head(100))
    r = m.tx_confirmed(txs[1].id, head(150))
    assert r.outcome is ConfirmOutcome.TIMED_OUT
    assert kinds(r.events) == [ChannelTimedOut, ChannelDropped, ChannelDropped, ChannelDropped]
    dropped = [e for e in r.events if isinstance(e, ChannelDropped)]
    assert [d.reason for d in dropped] == [DropReason.TIMED_OUT_ON_CHAIN] + [
        DropReason.NEWER_THAN_INVALIDATED
    ] * 2
    assert m.block_cursor == 0 and m.pending_blocks == 13 and m.channels == []
    rebuilt = drain(m, l1=151)
    assert len(rebuilt) == 4 and rebuilt[0].id.channel_id != first_channel
    # late receipts for the dropped channels change nothing
    assert m.tx_confirmed(txs[2].id, head(152)).events == ()


def test_flush_terminates_the_open_channel():
    """force_publish closes a not-full channel with reason 'channel terminated'."""
    m, _ = manager()
    load(m, make_chain(2))
    assert m.tx_data(head(100)).tx is None
    r = m.tx_data(head(100), force_publish=True)
    assert r.tx is not None
    assert ForceClosed in kinds(r.events)
    closed = next(e for e in r.events if isinstance(e, ChannelClosed))
    assert closed.reason is CloseReason.TERMINATED and closed.blocks == 2


def test_flush_with_only_new_blocks_closes_the_channel_built_from_them():
    """A flush right after loading still closes the freshly filled channel."""
    m, _ = manager()
    load(m, make_chain(1))
    r = m.tx_data(head(100), force_publish=True)
    assert r.tx is not None and r.tx.frames[0].is_last


def test_max_channel_duration_closes_a_half_empty_channel_without_backlog():
    """No backlog: the duration deadline (last submitted origin + duration) closes the channel."""
    m, _ = manager(calldata_config(max_channel_duration=5))
    m.clear(BlockID(h("l1", 90), 90))
    load(m, make_chain(1, origin_base=95))
    assert m.tx_data(head(94)).tx is None
    r = m.tx_data(head(95))
    assert r.tx is not None
    assert next(e for e in r.events if isinstance(e, ChannelClosed)).reason is CloseReason.MAX_DURATION


def test_backlog_that_would_fill_the_channel_waives_the_duration_deadline():
    """100 known, unloaded blocks would fill the channel: it stays open past max duration."""
    m, _ = manager(calldata_config(max_channel_duration=5))
    m.clear(BlockID(h("l1", 90), 90))
    load(m, make_chain(1, origin_base=95))
    assert m.tx_data(head(200), backlog_blocks=100).tx is None
    assert m.current_channel is not None and not m.current_channel.is_full
    # a backlog too small to fill it does not waive the deadline
    assert m.tx_data(head(200), backlog_blocks=1).tx is not None


def test_go_ignore_max_channel_duration_switch_is_honoured():
    """The driver's mid-range flag waives the duration deadline as in Go."""
    m, _ = manager(calldata_config(max_channel_duration=5))
    load(m, make_chain(1, origin_base=95))
    assert m.tx_data(head(200), ignore_max_channel_duration=True).tx is None
    assert m.tx_data(head(200)).tx is not None


def test_backlog_never_waives_the_sequencer_window_deadline():
    """Seq-window closing still happens while draining a backlog."""
    m, _ = manager(calldata_config(max_channel_duration=5, seq_window_size=100, sub_safety_margin=10))
    load(m, make_chain(1, origin_base=100))
    r = m.tx_data(head(190), backlog_blocks=1000)
    assert r.tx is not None
    assert next(e for e in r.events if isinstance(e, ChannelClosed)).reason is CloseReason.SEQ_WINDOW


def test_channel_past_its_sequencing_window_is_not_sent():
    """Origin 100, window 20: at L1 head 120 the data would be dropped by derivation, so nothing is sent."""
    m, _ = manager(calldata_config(seq_window_size=20, sub_safety_margin=5))
    load(m, make_chain(1, origin_base=100))
    r = m.tx_data(head(120))
    assert r.tx is None and r.blocked is Blocked.SEQ_WINDOW_EXPIRED
    alert = next(e for e in r.events if isinstance(e, SeqWindowExpired))
    assert (alert.oldest_l1_origin, alert.l1_head, alert.seq_window_size) == (100, 120, 20)


def test_seq_window_guard_allows_the_last_valid_l1_block():
    """At head 119 the next block (120 = origin + window) is still inside the window."""
    m, _ = manager(calldata_config(seq_window_size=20, sub_safety_margin=5))
    load(m, make_chain(1, origin_base=100))
    r = m.tx_data(head(119))
    assert r.tx is not None and r.blocked is None


def test_a_block_too_large_for_any_channel_is_reported_and_no_empty_channel_is_built():
    """First block refused by an empty channel: alert, no channel left in the queue."""
    m, _ = manager(reject_all=True)
    load(m, make_chain(2))
    r = m.tx_data(head(100))
    assert r.tx is None and r.blocked is Blocked.BLOCK_TOO_LARGE
    alert = next(e for e in r.events if isinstance(e, BlockTooLarge))
    assert alert.block.number == 1 and alert.reason is CloseReason.TOO_MANY_RLP_BYTES
    assert "can never be batched" in alert.detail
    assert m.channels == [] and m.current_channel is None and m.pending_blocks == 2


def test_l1_origin_of_last_submitted_channel_advances_on_hand_out():
    """Handing out a tx bumps l1OriginLastSubmittedChannel to the channel's newest origin."""
    m, _ = manager()
    load(m, make_chain(4, origin_base=300))
    m.tx_data(head(400))
    assert m.l1_origin_last_submitted.number == 302


def auto_configs(target_num_frames: int = 1) -> ChannelConfigs:
    blob = ChannelConfig(
        seq_window_size=3600,
        channel_timeout=50,
        max_channel_duration=0,
        sub_safety_margin=10,
        max_frame_size=130_043,
        target_num_frames=target_num_frames,
        use_blobs=True,
    )
    return ChannelConfigs(
        DAType.AUTO, blob, replace(blob, max_frame_size=120_000, target_num_frames=1, use_blobs=False)
    )


CHEAP_CALLDATA = GasPriceCaps(tip_cap=1, base_fee=1, blob_base_fee=10**12)
CHEAP_BLOBS = GasPriceCaps(tip_cap=10**9, base_fee=10**10, blob_base_fee=1)


def test_da_switch_rebuilds_an_unsent_channel_with_the_cheaper_config():
    """Auto mode starts on blobs; cheap calldata => the blob channel is dropped and rebuilt as calldata."""
    m, f = manager(configs=auto_configs())
    load(m, make_chain(3, size=50_000))  # 2 blocks fill a blob channel
    r = m.tx_data(head(100), gas_prices=CHEAP_CALLDATA)
    assert r.tx is not None and not r.tx.as_blob
    chosen = next(e for e in r.events if isinstance(e, DAChosen))
    assert chosen.switched and not chosen.choice.config.use_blobs
    assert any(isinstance(e, ChannelDropped) and e.reason is DropReason.DA_TYPE_SWITCH for e in r.events)
    assert [cfg.use_blobs for cfg, _ in f.built] == [True, False]
    assert m.default_config.max_frame_size == 120_000


def test_da_decision_is_not_revisited_once_a_channel_has_sent_something():
    """Only channels with no tx submitted are re-evaluated (Go behaviour kept)."""
    m, _ = manager(configs=auto_configs())
    load(m, make_chain(2, size=300_000))  # first block alone: 3 blob frames, one per tx
    first = m.tx_data(head(100), gas_prices=CHEAP_BLOBS)
    assert first.tx is not None and first.tx.as_blob
    r = m.tx_data(head(100), gas_prices=CHEAP_CALLDATA)
    assert r.tx is not None and r.tx.as_blob and r.tx.frames[0].number == 1
    assert not any(isinstance(e, DAChosen) for e in r.events)


def test_throttling_forces_the_blob_config_in_auto_mode():
    """is_throttling => blobs whatever the prices say."""
    m, _ = manager(configs=auto_configs())
    load(m, make_chain(3, size=50_000))
    r = m.tx_data(head(100), gas_prices=CHEAP_CALLDATA, is_throttling=True)
    assert r.tx is not None and r.tx.as_blob


def test_unsafe_da_bytes_count_pending_blocks_open_channels_and_channel_output():
    """Pending estimates + open-channel estimates + closed-channel output (§4.12)."""
    m, _ = manager()
    load(m, make_chain(7))
    assert m.unsafe_da_bytes == m.pending_da_bytes == 2100
    drain(m)  # two closed channels of 900 output bytes, one open channel with 300 estimated bytes
    assert m.pending_da_bytes == 0
    assert m.unsafe_da_bytes == 900 + 900 + 300


def test_sync_actions_prune_safe_blocks_and_channels():
    """Safe head past the first channel: its blocks and the channel are pruned."""
    m, _ = manager()
    blocks = make_chain(7)
    load(m, blocks)
    drain(m)
    safe = blocks[2]
    status = _status(safe_num=3, safe_hash=safe.hash, unsafe_num=7, current_l1=105)
    actions = compute_sync_actions(status, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
    assert isinstance(actions, SyncActions)
    assert m.apply_sync_actions(actions) is None
    assert len(m.blocks) == 4 and m.block_cursor == 4 and len(m.channels) == 2


def test_a_channel_pruned_by_the_safe_head_is_still_reported_fully_submitted():
    """The safe head outruns the receipt: the late confirmation still yields ChannelFullySubmitted (Go)."""
    m, _ = manager()
    blocks = make_chain(4)
    load(m, blocks)
    tx = m.tx_data(head(100)).tx
    assert tx is not None
    status = _status(safe_num=4, safe_hash=blocks[3].hash, unsafe_num=4, current_l1=105)
    actions = compute_sync_actions(status, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
    assert isinstance(actions, SyncActions)
    m.apply_sync_actions(actions)
    assert not m.channels
    r = m.tx_confirmed(tx.id, head(101))
    assert r.outcome is ConfirmOutcome.FULLY_SUBMITTED
    assert kinds(r.events) == [ChannelFullySubmitted]


def test_sync_actions_clear_state_resets_everything():
    """A start-afresh action clears the queue and sets the last submitted origin."""
    m, _ = manager()
    blocks = make_chain(4)
    load(m, blocks)
    drain(m)
    status = _status(safe_num=2, safe_hash=h("x", 2), unsafe_num=4, current_l1=105)
    actions = compute_sync_actions(status, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
    assert isinstance(actions, SyncActions)
    rng = m.apply_sync_actions(actions)
    assert rng is not None and (rng.start, rng.end) == (3, 4)
    assert m.blocks == [] and m.channels == [] and m.l1_origin_last_submitted.number == 50


def test_pruning_more_than_held_is_an_error():
    """Go panics; we raise with the numbers involved."""
    m, _ = manager()
    load(m, make_chain(2))
    with pytest.raises(ValueError, match="cannot prune 3 blocks: 2 in state"):
        m.prune_safe_blocks(3)


def _on_l1(blocks, first: int, last: int, cid: int, incl: int) -> ChannelOnL1:
    return ChannelOnL1(
        bytes([cid]) * 16,
        blocks[first - 1].number,
        blocks[last - 1].number,
        blocks[first - 1].parent_hash[:20],
        head(incl),
    )


def test_recovery_skips_blocks_already_on_l1_and_tracks_them_as_submitted_channels():
    """Two complete channels on L1 cover blocks 1-6: only 7-10 are batched again."""
    m, _ = manager()
    blocks = make_chain(10)
    load(m, blocks)
    res = m.recover_submitted([_on_l1(blocks, 4, 6, 2, 99), _on_l1(blocks, 1, 3, 1, 98)])
    assert (res.blocks_skipped, res.channels_recovered, res.stopped) == (6, 2, None)
    assert m.block_cursor == 6 and all(ch.is_fully_submitted for ch in m.channels)
    tx = m.tx_data(head(100)).tx
    assert tx is not None and m.channels[-1].oldest_l2.number == 7
    # once safe past block 6, sync actions prune both recovered channels
    status = _status(safe_num=6, safe_hash=blocks[5].hash, unsafe_num=10, current_l1=100)
    actions = compute_sync_actions(status, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
    assert actions.channels_to_prune == 2  # type: ignore[union-attr]


def test_recovery_stops_at_a_channel_that_does_not_match_the_queue():
    """Wrong parent hash: nothing after it is skipped."""
    m, _ = manager()
    blocks = make_chain(6)
    load(m, blocks)
    bad = replace(_on_l1(blocks, 4, 6, 2, 99), parent_check=b"\x00" * 20)
    res = m.recover_submitted([_on_l1(blocks, 1, 3, 1, 98), bad])
    assert (res.blocks_skipped, res.channels_recovered) == (3, 1)
    assert res.stopped is not None and "parent check" in res.stopped


def test_recovered_channel_that_stalls_the_safe_head_triggers_a_reset():
    """Holocene stall rule covers recovered channels: safe head behind a landed channel => start afresh."""
    m, _ = manager()
    blocks = make_chain(6)
    load(m, blocks)
    m.recover_submitted([_on_l1(blocks, 1, 3, 1, 98)])
    status = _status(safe_num=0, safe_hash=h("a", 0), unsafe_num=6, current_l1=120)
    actions = compute_sync_actions(status, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
    assert actions.clear_state is not None  # type: ignore[union-attr]


def test_block_number_at_inverts_the_rollup_timestamp_rule():
    """Batches carry timestamps; numbers come from genesis time and block time."""
    assert block_number_at(ROLLUP, ROLLUP.timestamp_for_block(42)) == 42


def _status(*, safe_num: int, safe_hash: bytes, unsafe_num: int, current_l1: int) -> SyncStatus:
    l1 = L1BlockRef(h("l1", current_l1), current_l1, h("l1", current_l1 - 1), 0)
    safe = L2BlockRef(safe_hash, safe_num, h("p", safe_num), 0, BlockID(h("l1", 50), 50), 0)
    unsafe = L2BlockRef(
        h("a", unsafe_num), unsafe_num, h("a", unsafe_num - 1), 0, BlockID(h("l1", 60), 60), 0
    )
    return SyncStatus(
        current_l1=l1,
        current_l1_finalized=l1,
        head_l1=l1,
        safe_l1=l1,
        finalized_l1=l1,
        unsafe_l2=unsafe,
        safe_l2=safe,
        finalized_l2=safe,
        pending_safe_l2=safe,
        cross_unsafe_l2=unsafe,
        local_safe_l2=safe,
    )


# ---- with H3's real ChannelOut, proven by decoding -----------------------------------------------


def real_blocks(n: int, *, txs_per_block: int = 2, tx_size: int = 1000, seed: int = 7) -> list[Any]:
    """BlockInputs with incompressible tx bytes (opaque to singular batches)."""
    import random

    from common.derive.l1_info import L1Info
    from common.derive.l2_block import BlockInput

    rng = random.Random(seed)
    out = []
    prev = h("a", 0)
    for i in range(1, n + 1):
        origin = 100 + i // 3
        info = L1Info(origin, 5000 + origin * 12, 10**9, h("l1", origin), i % 3, b"\x00" * 32)
        txs = tuple(b"\x02" + rng.randbytes(tx_size) for _ in range(txs_per_block))
        b = BlockInput(
            i, h("a", i), prev, ROLLUP.timestamp_for_block(i), BlockID(info.hash, origin), i % 3, txs, info
        )
        out.append(b)
        prev = b.hash
    return out


def decode_posted(txs) -> dict[bytes, list[Any]]:
    """Reassemble posted frames per channel and decode the batches with our own decoder."""
    from common.derive.batch import decode_batch
    from common.derive.channel import read_channel

    frames: dict[bytes, list[Any]] = {}
    for t in txs:
        for f in parse_frames(t.calldata):
            frames.setdefault(f.channel_id, []).append(f)
    decoded = {}
    for cid, fs in frames.items():
        assert [f.number for f in fs] == list(range(len(fs))) and fs[-1].is_last
        read = read_channel(b"".join(f.data for f in fs), fjord=True)
        assert read.error is None
        decoded[cid] = [decode_batch(p) for p in read.payloads]
    return decoded


def test_real_singular_channels_round_trip_every_block_in_order():
    """50 blocks through real compressors: every block decodes back, in order, once."""
    cfg = calldata_config(max_frame_size=10_000, target_num_frames=2)
    m = ChannelManager(ROLLUP, DAConfigSelector(ChannelConfigs(DAType.CALLDATA, cfg)))
    blocks = real_blocks(50)
    load(m, blocks)
    txs = drain(m) + drain(m, force_publish=True)
    assert m.pending_blocks == 0 and all(ch.is_full for ch in m.channels)
    decoded = decode_posted(txs)
    batches = [b for cid in decoded for b in decoded[cid]]
    assert [b.timestamp for b in batches] == [blk.timestamp for blk in blocks]
    assert [b.parent_hash for b in batches] == [blk.parent_hash for blk in blocks]
    assert all(len(bs) > 0 for bs in decoded.values())  # no empty channel
    full = [ch for ch in m.channels if ch.close_reason is CloseReason.COMPRESSOR_FULL]
    assert full and all(ch.output_bytes <= cfg.target_output_size for ch in full)


def test_real_span_channel_round_trips_and_survives_a_failed_tx():
    """Span batches: fail a tx, the resent frames still reassemble into the same batch."""
    cfg = calldata_config(max_frame_size=2_000, target_num_frames=4, batch_type=1)
    m = ChannelManager(ROLLUP, DAConfigSelector(ChannelConfigs(DAType.CALLDATA, cfg)))
    load(m, real_blocks(6, txs_per_block=0))
    first = m.tx_data(head(100), force_publish=True).tx
    assert first is not None
    m.tx_failed(first.id)
    txs = drain(m)
    assert txs[0].frames[0].number == 0
    decoded = decode_posted(txs)
    (batches,) = decoded.values()
    assert len(batches) == 1 and batches[0].parent_check == h("a", 0)[:20]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_event_sequences_keep_the_queue_consistent_and_frames_gapless(data):
    """Loads, hand-outs, confirmations, failures and pruning in any order keep the invariants:
    channels are non-empty and cover consecutive blocks up to the cursor, and a channel never hands
    out a frame beyond the next one it owes (no gaps after rewinds)."""
    cfg = calldata_config(
        target_num_frames=data.draw(st.integers(1, 3)),
        channel_timeout=30,
        max_channel_duration=data.draw(st.integers(0, 8)),
    )
    m, _ = manager(cfg)
    chain = make_chain(120, size=data.draw(st.sampled_from([250, 400, 1500])))
    loaded, l1, in_flight = 0, 100, []
    sent_max: dict[bytes, int] = {}
    for _ in range(data.draw(st.integers(5, 40))):
        op = data.draw(st.sampled_from(["load", "tx", "tx", "confirm", "fail", "safe", "l1"]))
        if op == "load" and loaded < len(chain):
            k = data.draw(st.integers(1, 6))
            load(m, chain[loaded : loaded + k])
            loaded = min(len(chain), loaded + k)
        elif op == "tx":
            r = m.tx_data(head(l1), force_publish=data.draw(st.booleans()))
            if r.tx is not None:
                nums = [f.number for f in r.tx.frames]
                assert nums == list(range(nums[0], nums[0] + len(nums)))
                cid = r.tx.id.channel_id
                assert nums[0] <= sent_max.get(cid, -1) + 1
                sent_max[cid] = max(sent_max.get(cid, -1), nums[-1])
                in_flight.append(r.tx.id)
        elif op in ("confirm", "fail") and in_flight:
            tx_id = in_flight.pop(data.draw(st.integers(0, len(in_flight) - 1)))
            if op == "confirm":
                m.tx_confirmed(tx_id, head(l1))
            else:
                m.tx_failed(tx_id)
                sent_max[tx_id.channel_id] = min(sent_max[tx_id.channel_id], tx_id.first_frame - 1)
        elif op == "safe" and m.channels and m.channels[0].is_fully_submitted:
            latest = m.channels[0].latest_l2
            st_ = _status(safe_num=latest.number, safe_hash=latest.hash, unsafe_num=loaded, current_l1=l1)
            actions = compute_sync_actions(st_, L1BlockRef.zero(), m.blocks_in_state(), m.channels)
            assert isinstance(actions, SyncActions)
            m.apply_sync_actions(actions)
        elif op == "l1":
            l1 += data.draw(st.integers(1, 20))
        assert 0 <= m.block_cursor <= len(m.blocks)
        numbers = [b.number for ch in m.channels for b in ch.blocks]
        assert all(ch.blocks for ch in m.channels)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
        if numbers and m.block_cursor:
            assert numbers[-1] == m.blocks[m.block_cursor - 1].number


def test_a_failed_tx_in_an_older_channel_is_resent_before_newer_data():
    """After newer channels went out, a failure in the oldest one is served first again."""
    m, _ = manager()
    load(m, make_chain(10))
    txs = drain(m)
    assert len({t.id.channel_id for t in txs}) == 3
    m.tx_failed(txs[0].id)
    again = m.tx_data(head(100)).tx
    assert again is not None and again.id.channel_id == txs[0].id.channel_id and again.frames[0].number == 0


class CountingBlock:
    """Wraps a block and counts DA-estimate reads (costly for real blocks: FastLZ over every tx)."""

    def __init__(self, inner: FakeBlock):
        self._inner = inner
        self.fake_size = inner.da_size_estimate  # what FakeChannelOut sizes the block by
        self.estimates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def da_size_estimate(self) -> int:
        self.estimates += 1
        return self._inner.da_size_estimate


def test_da_estimates_are_only_computed_when_throttling_asks():
    """Building and sending channels never reads the DA estimate; unsafe_da_bytes does."""
    m, _ = manager()
    blocks = [CountingBlock(b) for b in make_chain(3)]
    for b in blocks:
        m.add_l2_block(b)
    assert m.tx_data(head(100)).tx is None  # channel open, not full
    assert sum(b.estimates for b in blocks) == 0
    assert m.unsafe_da_bytes == 900
    assert sum(b.estimates for b in blocks) == 3
    assert m.tx_data(head(100), force_publish=True).tx is not None
    assert m.unsafe_da_bytes == 900  # now the channel's output bytes


def test_real_channel_timed_out_on_chain_is_rebuilt_and_decodes_to_the_same_blocks():
    """Real ChannelOut: on-chain timeout drops the channel; the rebuilt one carries the same blocks."""
    cfg = calldata_config(max_frame_size=1_500, target_num_frames=3, channel_timeout=50)
    m = ChannelManager(ROLLUP, DAConfigSelector(ChannelConfigs(DAType.CALLDATA, cfg)))
    blocks = real_blocks(8, txs_per_block=1, tx_size=400)
    load(m, blocks)
    first = drain(m, force_publish=True)
    assert len(first) >= 2
    m.tx_confirmed(first[0].id, head(100))
    r = m.tx_confirmed(first[1].id, head(150))
    assert r.outcome is ConfirmOutcome.TIMED_OUT and m.block_cursor == 0
    rebuilt = drain(m, l1=151, force_publish=True)
    assert {t.id.channel_id for t in rebuilt}.isdisjoint({t.id.channel_id for t in first})
    batches = [b for bs in decode_posted(rebuilt).values() for b in bs]
    assert [b.timestamp for b in batches] == [blk.timestamp for blk in blocks]


def test_pending_da_sum_is_kept_through_every_queue_and_cursor_change():
    """The O(1) pending DA sum matches a fresh sum after adds, channel fills, a requeue, a prune and a clear.

    Block estimates differ (300 + number), so a block counted twice or missed changes the sum.
    """
    cfg = calldata_config(target_num_frames=2, channel_timeout=50)
    m, _ = manager(cfg)

    def fresh() -> int:
        return sum(b.da_size_estimate for b in m.blocks[m.block_cursor :])

    blocks = [replace(b, da_size_estimate=300 + b.number) for b in make_chain(13)]
    assert m.pending_da_bytes == 0  # first read: tracking starts on the empty queue
    load(m, blocks)
    assert m.pending_da_bytes == fresh() == sum(300 + n for n in range(1, 14))
    txs = drain(m)
    assert m.pending_da_bytes == fresh() and m.block_cursor > 0
    m.tx_confirmed(txs[0].id, head(100))
    m.tx_confirmed(txs[1].id, head(150))  # timed out on chain: its blocks go back behind the cursor
    assert m.block_cursor == 0 and m.pending_da_bytes == fresh() == sum(300 + n for n in range(1, 14))
    m.prune_safe_blocks(4)  # pending blocks pruned as safe leave the sum
    assert m.pending_da_bytes == fresh() == sum(300 + n for n in range(5, 14))
    drain(m, l1=151)
    m.prune_safe_blocks(2)
    assert m.pending_da_bytes == fresh()
    m.clear(head(1))
    assert m.pending_da_bytes == 0
