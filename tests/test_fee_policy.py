"""Fee-aware posting (batcher/publishing/fee_policy.py, fee_gate.py), the throttle's blob-fee input and
``bench --fees``.

The policy is pure, so it is driven with fee samples and real channel managers (fake channel outs, as
in test_channel_manager); the gate is driven with a real manager and a recording blob-fee reader.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batcher.batcher_config import parse_batcher_args
from batcher.metrics import new_batcher_metrics
from batcher.publishing.fee_gate import FeeGate
from batcher.publishing.fee_policy import (
    FeeDecision,
    FeePolicy,
    FeePolicyConfig,
    FeePolicyError,
    FeeSample,
    PendingWork,
    Verdict,
    pending_work,
)
from batcher.throttling.controller import ControllerType, ThrottleConfig, ThrottleController, ThrottleError
from common.derive.block_ref import BlockID
from common.rpc.types import Header
from common.service.flags import ConfigError
from tests.test_batcher_channel import h, make_chain
from tests.test_channel_manager import drain, head, load, manager

CFG = FeePolicyConfig(enabled=True, max_delay=120.0, short_window=2, long_window=8, threshold=0.25)
GWEI = 10**9


def work(
    *, origin: int | None = 100, l2_time: int | None = 0, mid: bool = False, seq: int = 3600
) -> PendingWork:
    return PendingWork(50_000, origin, l2_time, mid, seq, 10, True)


def warmed(cfg: FeePolicyConfig = CFG, fee: int = GWEI, blocks: int = 8) -> FeePolicy:
    """A policy that saw ``blocks`` L1 blocks (12 s apart from t=0) at a flat blob fee."""
    p = FeePolicy(cfg)
    for n in range(blocks):
        p.observe(FeeSample(n, 12 * n, GWEI, fee))
    return p


def step(p: FeePolicy, n: int, blob_fee: int, w: PendingWork | None = None) -> FeeDecision:
    p.observe(FeeSample(n, 12 * n, GWEI, blob_fee))
    return p.decide(w or work(), n, 12 * n)


def test_a_spike_defers_and_posting_resumes_when_the_fee_falls_back():
    """Short mean 10x the median => defer; back at the baseline => send, with a positive saving estimate."""
    p = warmed()
    assert step(p, 8, GWEI).verdict is Verdict.SEND
    d1 = step(p, 9, 20 * GWEI)
    assert d1.verdict is Verdict.DEFER and d1.short_avg > d1.limit
    assert step(p, 10, 20 * GWEI).verdict is Verdict.DEFER
    step(p, 11, GWEI)
    d = step(p, 12, GWEI)
    assert d.verdict is Verdict.SEND
    assert d.saved_wei > 0  # deferred at 20 gwei, sent at 1 gwei
    assert not p.deferring


def test_the_max_delay_forces_a_send_whatever_the_fee():
    """120 s at 12 s per block: the 11th L1 block after the deferral began is a forced send."""
    p = warmed()
    verdicts = [step(p, n, 50 * GWEI, work(l2_time=0)).verdict for n in range(8, 30)]
    first_force = verdicts.index(Verdict.FORCE)
    assert verdicts[:first_force] == [Verdict.DEFER] * first_force
    assert first_force * 12 >= 120 and (first_force - 1) * 12 < 120
    assert Verdict.DEFER not in verdicts[first_force:]  # data that already waited is not held again


def test_data_that_arrived_after_a_forced_send_gets_its_own_max_delay():
    """The deferral clock of newer data starts at its L2 timestamp, not at the old deferral's start."""
    p = warmed()
    for n in range(8, 19):
        step(p, n, 50 * GWEI, work(l2_time=0))
    assert step(p, 19, 50 * GWEI, work(l2_time=0)).verdict is Verdict.FORCE
    newer = work(l2_time=12 * 19)
    assert step(p, 20, 50 * GWEI, newer).verdict is Verdict.DEFER
    assert step(p, 20 + 10, 50 * GWEI, newer).verdict is Verdict.FORCE


def test_the_sequencing_window_deadline_forces_a_send_before_the_max_delay():
    """Oldest origin 100, window 20, margin 10: at L1 head 110 the data goes out."""
    p = warmed()
    near = work(origin=100, seq=20)
    assert step(p, 9, 50 * GWEI, near).verdict is Verdict.DEFER
    d = step(p, 110, 50 * GWEI, near)
    assert d.verdict is Verdict.FORCE and d.reason == "sequencing window deadline" and d.deadline_l1 == 110


def test_a_half_posted_channel_is_never_held_back():
    """Its frames must land within the channel timeout of the first: send at any fee."""
    p = warmed()
    d = step(p, 9, 50 * GWEI, work(mid=True))
    assert d.verdict is Verdict.SEND and "partly posted" in d.reason


def test_too_little_history_or_a_fee_at_the_floor_never_defers():
    cold = FeePolicy(CFG)
    assert step(cold, 0, 50 * GWEI).verdict is Verdict.SEND
    floor = warmed(FeePolicyConfig(enabled=True, short_window=2, long_window=8, min_fee=100 * GWEI))
    assert step(floor, 9, 50 * GWEI).verdict is Verdict.SEND


def test_nothing_waiting_is_idle():
    p = warmed()
    assert p.decide(PendingWork(0, None, None, False, 3600, 10, True), 9, 108).verdict is Verdict.IDLE


def test_calldata_posting_watches_the_base_fee_not_the_blob_fee():
    p = warmed()
    p.observe(FeeSample(9, 108, 30 * GWEI, GWEI))
    calldata = PendingWork(50_000, 100, 0, False, 3600, 10, False)
    assert p.decide(calldata, 9, 108).verdict is Verdict.DEFER
    blobs = FeePolicy(CFG)
    for n in range(9):
        blobs.observe(FeeSample(n, 12 * n, 30 * GWEI if n == 8 else GWEI, GWEI))
    assert blobs.decide(work(), 8, 96).verdict is Verdict.SEND


@pytest.mark.parametrize(
    ("kw", "flag"),
    [
        ({"max_delay": 0.0}, "fee-aware.max-delay"),
        ({"short_window": 0}, "fee-aware.short-window"),
        ({"short_window": 8, "long_window": 8}, "fee-aware.long-window"),
        ({"threshold": -0.1}, "fee-aware.threshold"),
    ],
)
def test_bad_config_names_the_flag(kw, flag):
    with pytest.raises(FeePolicyError, match=flag):
        FeePolicyConfig(enabled=True, **kw).check()


@settings(max_examples=60, deadline=None)
@given(
    fees=st.lists(st.integers(1, 100 * GWEI), min_size=10, max_size=80),
    origin=st.integers(60, 200),
)
def test_no_data_is_ever_held_past_either_deadline(fees, origin):
    """Whatever the fees: never DEFER at or past the sequencing deadline, nor after max delay of waiting."""
    p = FeePolicy(CFG)
    w = work(origin=origin, l2_time=0, seq=100)
    deferred_run = 0
    for n, fee in enumerate(fees, start=50):
        p.observe(FeeSample(n, 12 * n, GWEI, fee))
        d = p.decide(w, n, 12 * n)
        if d.verdict is Verdict.DEFER:
            assert w.seq_deadline is not None and n < w.seq_deadline
            assert d.deferred_for < CFG.max_delay
            deferred_run += 1
        else:
            deferred_run = 0
        assert deferred_run * 12 <= CFG.max_delay + 12


# ---- pending work from a real channel manager ---------------------------------------------------


def test_pending_work_reads_waiting_blocks_and_ready_channels():
    """Blocks not yet in a channel and unsent channels count; a channel with frames out is mid-channel."""
    m, _ = manager()
    load(m, make_chain(7))  # 300-byte blocks: channels of 3 blocks (test_channel_manager)
    w = pending_work(
        m.blocks, m.block_cursor, m.channels, seq_window_size=3600, sub_safety_margin=10, use_blobs=False
    )
    assert (w.da_bytes, w.oldest_l1_origin, w.oldest_l2_time, w.mid_channel) == (2100, 100, 1002, False)
    tx = m.tx_data(head(100)).tx
    assert tx is not None
    w = pending_work(
        m.blocks, m.block_cursor, m.channels, seq_window_size=3600, sub_safety_margin=10, use_blobs=False
    )
    assert (w.da_bytes, w.oldest_l1_origin, w.mid_channel) == (1200, 103, False)  # channel 1 handed out
    drain(m)
    w = pending_work(
        m.blocks, m.block_cursor, m.channels, seq_window_size=3600, sub_safety_margin=10, use_blobs=False
    )
    assert w.mid_channel is False and w.oldest_l1_origin == 106  # only the 7th block waits
    m.tx_failed(tx.id)  # the first channel's frame is due again after its later frames went out
    w = pending_work(
        m.blocks, m.block_cursor, m.channels, seq_window_size=3600, sub_safety_margin=10, use_blobs=False
    )
    assert w.oldest_l1_origin == 100 and w.mid_channel is False  # nothing of it confirmed: resend from start


def test_a_channel_with_a_confirmed_frame_and_frames_left_is_mid_channel():
    from tests.test_batcher_channel import calldata_config

    m, _ = manager(calldata_config(max_frame_size=200))  # 900-byte channels: several frames each
    load(m, make_chain(4))
    tx = m.tx_data(head(100)).tx
    assert tx is not None
    m.tx_confirmed(tx.id, BlockID(h("l1", 101), 101))
    w = pending_work(
        m.blocks, m.block_cursor, m.channels, seq_window_size=3600, sub_safety_margin=10, use_blobs=False
    )
    assert w.mid_channel is True


# ---- the driver's gate ------------------------------------------------------------------------


def header(n: int, base_fee: int = GWEI) -> Header:
    return Header(n, h("l1", n), h("l1", n - 1), 12 * n, 30_000_000, 0, base_fee, 0, 0)


def test_the_gate_decides_once_per_l1_head_and_records_metrics():
    """Blob posting: a spike in the blob fee the gate reads defers (metrics: decision, deferred bytes); a
    repeat call on the same head reuses the decision without another fee read."""
    from tests.test_batcher_channel import calldata_config

    metrics = new_batcher_metrics(process_collectors=False)
    reads: list[int] = []
    fees = iter([GWEI] * 8 + [40 * GWEI])

    async def blob_fee() -> int:
        reads.append(1)
        return next(fees)

    m, _ = manager(calldata_config(use_blobs=True))
    load(m, make_chain(7))
    gate = FeeGate(CFG, metrics=metrics.fee_aware, blob_base_fee=blob_fee)

    async def run() -> list[bool]:
        out = [await gate.allow(header(n), m) for n in range(8)]
        out.append(await gate.allow(header(8), m))
        out.append(await gate.allow(header(8), m))
        return out

    assert asyncio.run(run()) == [True] * 8 + [False, False]
    assert len(reads) == 9  # one read per head, none for the repeat
    reg = metrics.factory.registry
    assert reg.get_sample_value("op_batcher_default_fee_aware_decisions_total", {"decision": "send"}) == 8
    assert reg.get_sample_value("op_batcher_default_fee_aware_decisions_total", {"decision": "defer"}) == 1
    assert reg.get_sample_value("op_batcher_default_fee_aware_deferred_bytes") == 2100


def test_calldata_posting_reads_no_blob_fee_and_watches_the_head_base_fee():
    metrics = new_batcher_metrics(process_collectors=False)
    reads: list[int] = []

    async def blob_fee() -> int:
        reads.append(1)
        return GWEI

    m, _ = manager()
    load(m, make_chain(7))
    gate = FeeGate(CFG, metrics=metrics.fee_aware, blob_base_fee=blob_fee)

    async def spike() -> list[bool]:
        return [await gate.allow(header(n, GWEI if n < 8 else 40 * GWEI), m) for n in range(9)]

    assert asyncio.run(spike()) == [True] * 8 + [False]
    assert reads == []


# ---- flags -------------------------------------------------------------------------------------

BASE_ARGS = [
    "--l1-eth-rpc=http://l1",
    "--l2-eth-rpc=http://l2",
    "--rollup-rpc=http://r",
    "--private-key=" + "11" * 32,
]


def test_fee_aware_flags_and_env_vars_reach_the_config():
    cfg = parse_batcher_args(
        [*BASE_ARGS, "--fee-aware.enabled", "--fee-aware.max-delay=5m", "--throttle.blob-fee-floor=1"],
        {"OP_BATCHER_FEE_AWARE_LONG_WINDOW": "96", "OP_BATCHER_THROTTLE_BLOB_FEE_FLOOR_SCALE": "0.25"},
    )
    assert cfg.fee_aware == FeePolicyConfig(enabled=True, max_delay=300.0, long_window=96)
    assert (cfg.throttle.blob_fee_floor, cfg.throttle.blob_fee_floor_scale) == (1, 0.25)
    off = parse_batcher_args(BASE_ARGS, {})
    assert off.fee_aware.enabled is False and off.throttle.blob_fee_floor == 0


def test_an_invalid_fee_aware_flag_fails_naming_it():
    with pytest.raises(ConfigError, match=r"fee-aware\.long-window must be greater"):
        parse_batcher_args([*BASE_ARGS, "--fee-aware.enabled", "--fee-aware.long-window=2"], {})
    with pytest.raises(ConfigError, match=r"throttle\.blob-fee-floor-scale must be between 0 and 1"):
        parse_batcher_args([*BASE_ARGS, "--throttle.blob-fee-floor-scale=2"], {})


# ---- throttling with the blob base fee as an input -----------------------------------------------


def test_throttle_intensity_is_scaled_while_the_blob_fee_sits_at_its_floor():
    cfg = ThrottleConfig(blob_fee_floor=1, blob_fee_floor_scale=0.25)
    c = ThrottleController(ControllerType.STEP, cfg)
    assert c.update(cfg.lower_threshold + 1, 0, blob_base_fee=1).intensity == 0.25
    assert c.update(cfg.lower_threshold + 1, 0, blob_base_fee=2).intensity == 1.0
    assert c.update(cfg.lower_threshold + 1, 0, blob_base_fee=None).intensity == 1.0
    go = ThrottleController(ControllerType.STEP, ThrottleConfig())
    assert go.update(cfg.lower_threshold + 1, 0, blob_base_fee=1).intensity == 1.0  # off by default
    with pytest.raises(ThrottleError, match="blob-fee-floor-scale"):
        ThrottleConfig(blob_fee_floor_scale=1.5).check(ControllerType.STEP)


def test_scaled_intensity_gives_looser_limits_on_the_linear_controller():
    cfg = ThrottleConfig(blob_fee_floor=1, blob_fee_floor_scale=0.5)
    unsafe = cfg.upper_threshold
    full = ThrottleController(ControllerType.LINEAR, cfg).update(unsafe, 0, blob_base_fee=10)
    half = ThrottleController(ControllerType.LINEAR, cfg).update(unsafe, 0, blob_base_fee=1)
    assert (full.intensity, half.intensity) == (1.0, 0.5)
    assert half.max_block_size > full.max_block_size and half.max_tx_size > full.max_tx_size


# ---- the fee simulator -------------------------------------------------------------------------


def test_quick_fee_bench_posts_everything_and_pays_less_on_the_spiky_trace():
    """``op-batcher bench --fees --quick``: no misses; fee-aware pays less on spikes, the same when calm,
    and both modes post exactly the same data."""
    from batcher.bench.fees import format_fee_table, run_fee_bench

    rows = run_fee_bench(quick=True)
    spiky, calm = rows
    assert spiky.always.misses == spiky.aware.misses == 0
    assert spiky.aware.blobs == spiky.always.blobs and spiky.aware.channels == spiky.always.channels
    assert spiky.aware.fees_wei < spiky.always.fees_wei
    assert spiky.aware.worst_lag < spiky.lag_limit
    assert spiky.aware.longest_deferral <= spiky.max_delay
    assert calm.aware.fees_wei <= calm.always.fees_wei * 1.01
    table = format_fee_table(rows)
    assert "fee-aware posting vs always-send" in table and "spiky" in table and "calm" in table


def test_a_head_first_seen_with_nothing_waiting_is_judged_again_once_blocks_arrive():
    """The devnet case: the L1 head of a fee spike is first seen idle, then blocks load within it."""
    metrics = new_batcher_metrics(process_collectors=False)
    reads: list[int] = []

    async def blob_fee() -> int:
        reads.append(1)
        return GWEI if len(reads) <= 8 else 40 * GWEI

    from tests.test_batcher_channel import calldata_config

    m, _ = manager(calldata_config(use_blobs=True))
    gate = FeeGate(CFG, metrics=metrics.fee_aware, blob_base_fee=blob_fee)

    async def run() -> tuple[bool, bool]:
        for n in range(8):
            await gate.allow(header(n), m)
        idle = await gate.allow(header(8), m)  # the blob fee spikes
        load(m, make_chain(3))
        return idle, await gate.allow(header(8), m)

    assert asyncio.run(run()) == (True, False)
    assert len(reads) == 9  # the fees of head 8 were read once


# ---- the real driver (test_batcher_driver's fakes: L1/L2/rollup/txmgr, real manager and channel outs) ----


async def test_the_driver_holds_tx_data_back_during_a_spike_but_a_flush_is_never_held():
    """With ``fee_aware`` on, publish_step queues nothing while the L1 base fee spikes; admin flush does."""
    from batcher.channels.config import ChannelFlags, DAConfigSelector, build_channel_configs
    from batcher.channels.manager import ChannelManager
    from batcher.driver import BatchDriver, DriverConfig
    from tests.test_batcher_driver import ROLLUP, FakeChain, FakeL1, FakeL2, FakeTxMgr, l1_ref, queued

    class SpikyL1(FakeL1):
        fee = GWEI

        async def header(self, block: object = "latest") -> Header:
            n = self.chain.l1_head
            r = l1_ref(n)
            return Header(n, r.hash, r.parent_hash, r.timestamp, 30_000_000, 0, self.fee, 0, 0)

    chain = FakeChain()
    configs = build_channel_configs(
        ROLLUP, ChannelFlags(da_type="calldata", max_channel_duration=1, sub_safety_margin=4), now=0
    )
    l1 = SpikyL1(chain)
    fee_cfg = FeePolicyConfig(enabled=True, short_window=1, long_window=8, max_delay=600.0)
    driver = BatchDriver(
        DriverConfig(poll_interval=0.01, max_pending_tx=0, fee_aware=fee_cfg),
        rollup=ROLLUP, l1=l1, l2=FakeL2(chain), txmgr=FakeTxMgr(),
        manager=ChannelManager(ROLLUP, DAConfigSelector(configs)),
        metrics=new_batcher_metrics(process_collectors=False),
    )  # fmt: skip
    assert driver.fee_gate is not None
    for n in range(1, 9):  # history at 1 gwei; each head's channel goes out at once
        chain.extend(6 * n)
        chain.l1_head = n + 3
        await driver.load_step()
        await driver.publish_step()
    assert queued(driver)
    l1.fee = 30 * GWEI
    chain.extend(6 * 10)
    chain.l1_head = 13
    await driver.load_step()
    assert await driver.publish_step() == 0 and queued(driver) == []
    assert driver.mgr.pending_blocks > 0
    assert await driver.publish_step(force=True) >= 1  # a flush posts at any fee
    assert queued(driver)


async def test_the_throttle_loop_reads_the_blob_fee_only_when_it_is_an_input():
    """Floor set: the loop's fee read feeds the controller; a failed read leaves intensity unscaled."""
    from batcher.throttling.loop import ThrottleLoop

    calls: list[int] = []

    async def fee() -> int:
        calls.append(1)
        return 1

    async def broken() -> int:
        raise OSError("l1 down")

    def loop(cfg: ThrottleConfig, reader) -> ThrottleLoop:  # type: ignore[no-untyped-def]
        m = new_batcher_metrics(process_collectors=False)
        return ThrottleLoop(
            cfg, ControllerType.STEP, None, (), metrics=m, call=None, close_app=print, blob_fee=reader
        )

    on = ThrottleConfig(blob_fee_floor=1, blob_fee_floor_scale=0.0)
    t = loop(on, fee)
    assert t.apply(on.lower_threshold + 1, blob_base_fee=await t.read_blob_fee()).intensity == 0.0
    t = loop(on, broken)
    assert t.apply(on.lower_threshold + 1, blob_base_fee=await t.read_blob_fee()).intensity == 1.0
    calls.clear()
    assert await loop(ThrottleConfig(), fee).read_blob_fee() is None and calls == []
