"""The throttling input is exact below the controller's saturation point and never changes its decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from batcher.bench.workload import TxFactory, bench_rollup_config, synthetic_blocks
from batcher.channels.config import ChannelFlags, DAConfigSelector, build_channel_configs
from batcher.channels.manager import ChannelManager
from batcher.loading.da_estimate import unsafe_da_bytes
from batcher.throttling.controller import ControllerType, ThrottleConfig, ThrottleController
from common.derive.l2_block import BlockInput


@pytest.fixture(scope="module")
def factory() -> TxFactory:
    return TxFactory(seed=3)


def _fresh(factory: TxFactory, n: int) -> list[BlockInput]:
    """Blocks whose DA estimate has not been computed yet."""
    return synthetic_blocks(factory, n, txs_per_block=(40, 60))


@dataclass
class _QueuedChannel:
    """The three fields of a queued channel the estimate reads (a closed one has frames)."""

    blocks: list[BlockInput]
    frames: list[bytes] = field(default_factory=list)
    output_bytes: int = 0


def test_without_saturation_it_equals_the_channel_managers_exact_value(factory: TxFactory) -> None:
    rollup = bench_rollup_config()
    mgr = ChannelManager(
        rollup, DAConfigSelector(build_channel_configs(rollup, ChannelFlags(da_type="blobs"), now=0))
    )
    blocks = _fresh(factory, 12)
    floors = sum(b.da_size_floor for b in blocks)
    for b in blocks:
        mgr.add_l2_block(b)
    got = unsafe_da_bytes(mgr.blocks[mgr.block_cursor :], mgr.channels, None)
    assert got == mgr.unsafe_da_bytes
    assert got > floors  # FastLZ ran: real txs of ~320 bytes estimate above the 100-byte floor


def test_below_saturation_it_is_exact_and_past_it_fastlz_stops_early(factory: TxFactory) -> None:
    blocks = _fresh(factory, 40)
    closed = _QueuedChannel(blocks=[], frames=[b"x"], output_bytes=5_000)
    opened = _QueuedChannel(blocks=_fresh(factory, 3))
    exact = 5_000 + sum(b.da_size_estimate for b in opened.blocks + blocks)
    assert unsafe_da_bytes(blocks, [closed, opened], exact + 1) == exact

    fresh = _fresh(factory, 40)
    saturation = sum(b.da_size_floor for b in fresh) + 1  # the floors alone just miss it
    got = unsafe_da_bytes(fresh, [], saturation)
    assert got >= saturation
    computed = sum(1 for b in fresh if b._da_size)
    assert 0 < computed < len(fresh)  # FastLZ ran for a few blocks, not all


@pytest.mark.parametrize("kind", [ControllerType.STEP, ControllerType.LINEAR, ControllerType.QUADRATIC])
def test_the_controller_decides_the_same_as_with_the_exact_value(factory: TxFactory, kind: Any) -> None:
    cfg = ThrottleConfig(lower_threshold=20_000, upper_threshold=60_000)
    for n in (1, 3, 8, 20):
        exact_ctl, capped_ctl = ThrottleController(kind, cfg), ThrottleController(kind, cfg)
        blocks = _fresh(factory, n)
        capped = unsafe_da_bytes(blocks, [], capped_ctl.saturation)
        exact = sum(b.da_size_estimate for b in blocks)
        assert capped_ctl.update(capped, 0.0) == exact_ctl.update(exact, 0.0)


def test_pid_has_no_saturation() -> None:
    from batcher.throttling.controller import PIDConfig

    ctl = ThrottleController(ControllerType.PID, ThrottleConfig(), PIDConfig())
    assert ctl.saturation is None
