"""Fee-aware posting on the devnet: an L1 fee spike holds the real ``op-batcher`` back until the max delay.

Two spikes:

* calldata DA, a real L1 *base fee* spike: ``anvil_setNextBlockBaseFeePerGas`` (EIP-1559 then decays it);
* blob DA, a *blob base fee* spike. anvil has no blob fee market (its blob base fee stays 1 wei,
  shared/reference/devnet.md), so this one is mocked: the batcher reaches L1 through the test's
  fault-injecting JSON-RPC proxy (tests/faulty_rpc.py), which answers ``eth_blobBaseFee`` with the spiked
  value; everything else, including the blob txs, goes to anvil unchanged.

The L1 is mined by hand (``evm_mine``, 12 s of L1 time per block), so the max delay is crossed at a known
L1 block; the rollup node stand-in derives what was posted and must reach the unsafe head.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet
from tests.faulty_rpc import FaultyRpc
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


@pytest.fixture(scope="module")
def blob_fee_proxy(dn: Devnet) -> Iterator[FaultyRpc]:
    """The fault-injecting proxy in front of the L1 anvil (pool rules off: it only rewrites fees)."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="fee-proxy").start()
    proxy = FaultyRpc(dn.l1_url, geth_pool_rules=False)
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def mine(dn: Devnet, pause: float = 0.5) -> int:
    """One L1 block; wait long enough for the batcher (200 ms poll) to see it. Returns its number."""
    rpc_call(dn.l1_url, "evm_mine", [])
    time.sleep(pause)
    return dn.l1_head().number


def base_fee(dn: Devnet, number: int) -> int:
    block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return int(block["baseFeePerGas"], 16)


@pytest.mark.parametrize("da", ["calldata", "blobs"], ids=["calldata-base-fee-spike", "blobs-blob-fee-spike"])
def test_a_fee_spike_defers_posting_and_the_forced_send_fires_at_the_max_delay(
    dn, blob_fee_proxy: FaultyRpc, tmp_path: Path, da: str
):
    extra = ["--l1-eth-rpc", blob_fee_proxy.url] if da == "blobs" else []
    svc = start_batcher(
        dn,
        tmp_path,
        "--data-availability-type", da,
        "--fee-aware.enabled",
        "--fee-aware.short-window", "1",
        "--fee-aware.long-window", "8",
        "--fee-aware.max-delay", f"{MAX_DELAY}s",
        *extra,
    )  # fmt: skip
    try:
        wait_rpc(svc)
        dn.produce_l2_blocks(6)
        wait_safe_catches_up(dn, svc)  # normal fees: posted at once
        for _ in range(4):  # quiet L1 blocks: fee history at the normal level
            mine(dn)
        normal = base_fee(dn, dn.l1_head().number)
        if da == "blobs":
            blob_fee_proxy.overrides["eth_blobBaseFee"] = lambda _r: hex(50 * GWEI)  # from 1 wei
        else:
            rpc_call(dn.l1_url, "anvil_setNextBlockBaseFeePerGas", [hex(max(200 * normal, 50 * GWEI))])
        spike_block = mine(dn)
        if da == "calldata":
            assert base_fee(dn, spike_block) > 100 * normal
        dn.produce_l2_blocks(6)  # new data while the fee is high (the sequencer mines L1 as needed)
        first_pending_l1 = dn.l1_head()
        for _ in range(12):
            if batcher_txs(dn, spike_block + 1):
                break
            mine(dn)
        txs = batcher_txs(dn, spike_block + 1)
        assert txs, "nothing was posted within 12 L1 blocks after the spike\n" + svc.tail(60)
        landed = int(txs[0]["blockNumber"], 16)
        held = _timestamp(dn, landed) - first_pending_l1.timestamp
        log = svc.tail(400)
        assert "Fee-aware posting: deferring batcher txs" in log
        assert "Fee-aware posting: deadline reached, sending at current fee" in log
        assert 'reason="max delay reached"' in log
        # held back for the whole max delay (L1 time), then sent while the fee was still far above normal
        assert MAX_DELAY - 12 <= held <= MAX_DELAY + 3 * 12, (landed, first_pending_l1)
        if da == "calldata":
            assert base_fee(dn, landed) > 10 * normal
        else:
            assert {int(tx["type"], 16) for tx in txs} == {3}
        wait_safe_catches_up(dn, svc)
        assert metric(svc, 'op_batcher_default_fee_aware_decisions_total{decision="force"}') >= 1
        assert metric(svc, 'op_batcher_default_fee_aware_decisions_total{decision="defer"}') >= 3
        assert metric(svc, "op_batcher_default_fee_aware_deferred_seconds_total") >= MAX_DELAY - 12
        assert metric(svc, "op_batcher_default_fee_aware_deferred_bytes") == 0
    finally:
        blob_fee_proxy.overrides.pop("eth_blobBaseFee", None)
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)


def _timestamp(dn: Devnet, number: int) -> int:
    block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return int(block["timestamp"], 16)
