"""Fee-aware posting on the devnet: an L1 fee spike holds the real ``op-batcher`` back until the max delay.

anvil keeps the blob base fee at 1 wei (shared/reference/devnet.md), so the spike is an L1 *base fee* spike
(``anvil_setNextBlockBaseFeePerGas``) with calldata DA, which the policy watches for calldata exactly as it
watches the blob base fee for blobs. The L1 is mined by hand here (``evm_mine``, 12 s of L1 time per
block), so the max delay is crossed at a known L1 block; the rollup node stand-in derives what was posted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet
from tests.test_batcher_e2e import batcher_txs, metric, start_batcher, wait_rpc, wait_safe_catches_up

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

MAX_DELAY = 60
"""Seconds of L1 time: 5 L1 blocks."""
GWEI = 10**9


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("fee-aware"))
    try:
        yield net
    finally:
        net.stop()


def mine(dn: Devnet, pause: float = 0.6) -> int:
    """One L1 block; wait long enough for the batcher (200 ms poll) to see it. Returns its number."""
    rpc_call(dn.l1_url, "evm_mine", [])
    time.sleep(pause)
    return dn.l1_head().number


def base_fee(dn: Devnet, number: int) -> int:
    block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return int(block["baseFeePerGas"], 16)


def test_a_base_fee_spike_defers_posting_and_the_forced_send_fires_at_the_max_delay(dn, tmp_path: Path):
    svc = start_batcher(
        dn,
        tmp_path,
        "--data-availability-type", "calldata",
        "--fee-aware.enabled",
        "--fee-aware.short-window", "1",
        "--fee-aware.long-window", "8",
        "--fee-aware.max-delay", f"{MAX_DELAY}s",
    )  # fmt: skip
    try:
        wait_rpc(svc)
        dn.produce_l2_blocks(6)
        wait_safe_catches_up(dn, svc)  # normal fees: posted at once
        for _ in range(6):  # quiet L1 blocks: fee history at the normal level
            mine(dn)
        normal = base_fee(dn, dn.l1_head().number)
        rpc_call(dn.l1_url, "anvil_setNextBlockBaseFeePerGas", [hex(max(200 * normal, 50 * GWEI))])
        spike_block = mine(dn)
        assert base_fee(dn, spike_block) > 100 * normal
        dn.produce_l2_blocks(6)  # new data while the fee is high (the sequencer mines L1 as needed)
        first_pending_l1 = dn.l1_head()
        posted_at = None
        for _ in range(12):
            if batcher_txs(dn, spike_block + 1):
                break
            posted_at = mine(dn)
        txs = batcher_txs(dn, spike_block + 1)
        assert txs, "nothing was posted within 12 L1 blocks after the spike\n" + svc.tail(60)
        landed = int(txs[0]["blockNumber"], 16)
        landed_time = _timestamp(dn, landed)
        log = svc.tail(400)
        assert "Fee-aware posting: deferring batcher txs" in log
        assert "Fee-aware posting: deadline reached, sending at current fee" in log
        assert "max delay reached" in log
        # held back for the whole max delay (L1 time), then sent while the fee was still far above normal
        assert landed_time - first_pending_l1.timestamp >= MAX_DELAY - 12, (
            landed,
            first_pending_l1,
            posted_at,
        )
        assert landed_time - first_pending_l1.timestamp <= MAX_DELAY + 3 * 12
        assert base_fee(dn, landed) > 10 * normal
        wait_safe_catches_up(dn, svc)
        assert metric(svc, 'op_batcher_default_fee_aware_decisions_total{decision="force"}') >= 1
        assert metric(svc, 'op_batcher_default_fee_aware_decisions_total{decision="defer"}') >= 3
        assert metric(svc, "op_batcher_default_fee_aware_deferred_seconds_total") >= MAX_DELAY - 12
        assert metric(svc, "op_batcher_default_fee_aware_deferred_bytes") == 0
    finally:
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)


def _timestamp(dn: Devnet, number: int) -> int:
    block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return int(block["timestamp"], 16)
