"""batcher.channels.compression_quality: brotli 11/10/9 per channel from the measured backlog and CPU
headroom.

Pure parts with hypothesis; the policy in the real channel manager with real span channel outs over the
real OP Mainnet blocks of ``vectors/kona/batch.hex`` (the CPU clock is a counter the test advances, so
the load it measures is chosen by the test).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batcher.bench.workload import bench_rollup_config, kona_blocks
from batcher.channels.compression_quality import (
    BACKLOG_Q10,
    AdaptiveQuality,
    QualityError,
    algo_quality,
    choose_quality,
)
from batcher.channels.config import ChannelConfig, ChannelConfigs, DAConfigSelector, DAType
from batcher.channels.events import ChannelClosed
from batcher.channels.manager import ChannelManager
from common.derive.block_ref import BlockID

loads = st.one_of(st.none(), st.floats(0, 10))


@given(st.floats(0, 50), st.floats(0, 50), loads, st.floats(0.01, 2))
def test_quality_never_rises_as_the_backlog_grows(b1, b2, load, headroom):
    lo, hi = sorted((b1, b2))
    assert choose_quality(hi, load, headroom) <= choose_quality(lo, load, headroom)


@given(st.floats(0, 50), st.floats(0, 5), st.floats(0, 5), st.floats(0.01, 2))
def test_quality_never_rises_as_the_load_grows(backlog, l1, l2, headroom):
    lo, hi = sorted((l1, l2))
    assert choose_quality(backlog, hi, headroom) <= choose_quality(backlog, lo, headroom)


def test_thresholds():
    assert choose_quality(0, 0.1, 0.5) == 11
    assert choose_quality(0, None, 0.5) == 10  # not measured yet: no brotli-11
    assert choose_quality(0, 0.6, 0.5) == 10  # no headroom
    assert choose_quality(BACKLOG_Q10 - 0.01, 0.0, 0.5) == 10
    assert choose_quality(BACKLOG_Q10, 0.0, 0.5) == 9
    assert [algo_quality(a) for a in ("zlib", "brotli", "brotli-9", "brotli-11")] == [None, 10, 9, 11]
    with pytest.raises(QualityError, match="--adaptive-compression-headroom"):
        AdaptiveQuality(headroom=0)


class Cpu:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_manager_compresses_at_11_when_keeping_up_and_falls_back_with_the_backlog():
    blocks = kona_blocks()
    assert blocks, "vectors/kona/batch.hex is missing"
    rollup = dataclasses.replace(bench_rollup_config(), l2_chain_id=10, genesis_l2_time=0)
    cfg = ChannelConfig(3600, 300, 0, 10, 20_000, 2, True, batch_type=1, compression_algo="brotli-10")
    cpu = Cpu()
    policy = AdaptiveQuality(cpu_clock=cpu)
    m = ChannelManager(rollup, DAConfigSelector(ChannelConfigs(DAType.BLOBS, cfg)), adaptive_quality=policy)
    closed: list[ChannelClosed] = []

    def step(i: int, backlog: int) -> None:
        m.add_l2_block(blocks[i])
        cpu.t += 0.001  # a cheap channel: far under the chain's pace
        r = m.tx_data(BlockID(b"\x01" * 32, 100), backlog_blocks=backlog)
        closed.extend(e for e in r.events if isinstance(e, ChannelClosed))
        while (r := m.tx_data(BlockID(b"\x01" * 32, 100), backlog_blocks=backlog)).tx is not None:
            closed.extend(e for e in r.events if isinstance(e, ChannelClosed))

    for i in range(60):  # keeping up: one block at a time, nothing behind
        step(i, 0)
    q_tip = [c.compression_algo for c in closed]
    assert q_tip[0] == "brotli-10" and "brotli-11" in q_tip[1:]
    n = len(closed)
    for i in range(60, 143):  # far behind: hundreds of unloaded blocks
        step(i, 500)
    assert {c.compression_algo for c in closed[n + 1 :]} == {"brotli-9"}
    assert policy.last is not None and policy.last.quality == 9
    assert policy.load(11) is not None and policy.load(9) is not None


def test_flags_env_and_bad_values_name_the_flag():
    """--blob-sharing / --adaptive-compression: off by default, set by flag or OP_BATCHER_* env,
    bad values rejected with the flag's name."""
    from batcher.batcher_config import parse_batcher_args
    from common.service.flags import ConfigError

    base = ["--l1-eth-rpc=http://l1", "--l2-eth-rpc=http://l2", "--rollup-rpc=http://rn"]
    cfg = parse_batcher_args(base, {})
    assert not cfg.blob_sharing and cfg.blob_sharing_max_wait == 60.0 and not cfg.adaptive_compression
    cfg = parse_batcher_args(
        [*base, "--blob-sharing", "--blob-sharing-max-wait=12s", "--compression-algo=brotli-10"],
        {"OP_BATCHER_ADAPTIVE_COMPRESSION": "true", "OP_BATCHER_ADAPTIVE_COMPRESSION_HEADROOM": "0.25"},
    )
    assert cfg.blob_sharing and cfg.blob_sharing_max_wait == 12.0
    assert cfg.adaptive_compression and cfg.adaptive_compression_headroom == 0.25
    with pytest.raises(ConfigError, match="--adaptive-compression needs a brotli --compression-algo"):
        parse_batcher_args([*base, "--adaptive-compression"], {})
    with pytest.raises(ConfigError, match="--adaptive-compression-headroom must be > 0"):
        parse_batcher_args([*base, "--adaptive-compression-headroom=0"], {})
