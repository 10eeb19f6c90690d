"""``--max-unsafe-l2-bytes``: with the safe head stuck, loading pauses at the limit and resumes when it moves.

Runs the daemon's real driver, loader, ``EthClient``/``RollupClient`` over HTTP and channel manager against
the local chain of ``op-batcher bench --e2e`` (:mod:`batcher.bench.l2`, a real JSON-RPC server in its own
process serving op-geth-shaped blocks and an op-node sync status whose safe head the test sets). Only the
tx manager is a stand-in (:class:`batcher.bench.e2e.BenchTxManager`, calldata here: it confirms each tx
at once), because no L1 node can take the txs in this test.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from batcher.bench.e2e import bench_daemon

BLOCKS = 240
LIMIT = 150_000
"""Raw bytes: about 30 op-mainnet-like blocks (8-20 txs of ~320 bytes)."""


async def _until(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _chunk_bytes(blocks: list[int]) -> int:
    return max(blocks) * 100  # LOAD_CHUNK blocks of at most the largest size seen


async def test_a_stuck_safe_head_pauses_loading_at_the_limit_and_a_moving_one_resumes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Loaded-but-unsafe bytes stop within one chunk past the limit; after the safe head moves, more load."""
    caplog.set_level(logging.INFO)
    async with bench_daemon("op-mainnet", BLOCKS, da_type="calldata", unsafe_limit=LIMIT) as h:
        loader, mgr, m = h.driver.loader, h.manager, h.metrics
        await h.driver.start()
        await _until(lambda: loader.paused, "loading to pause")
        sizes = [b.raw_size_estimate for b in mgr.blocks]
        held = loader.loaded_unsafe_bytes()
        assert held == sum(sizes)
        assert LIMIT <= held < LIMIT + _chunk_bytes(sizes)
        assert mgr.blocks[-1].number < BLOCKS
        assert m.loading_paused._value.get() == 1
        assert m.loaded_unsafe_bytes._value.get() == held
        assert any("L2 block loading paused" in r.getMessage() for r in caplog.records)
        first_tip = mgr.blocks[-1].number
        await asyncio.sleep(0.5)  # several ticks: nothing more is loaded while the safe head stands still
        assert mgr.blocks[-1].number == first_tip

        h.driver.flush()
        await _until(lambda: all(ch.is_fully_submitted for ch in mgr.channels), "every channel to confirm")
        await h.set_safe_head(first_tip)
        await _until(lambda: bool(mgr.blocks) and mgr.blocks[-1].number > first_tip, "loading to resume")
        assert mgr.blocks[0].number > first_tip  # the safe blocks were pruned, so their bytes are free
        assert any("L2 block loading resumed" in r.getMessage() for r in caplog.records)
        await _until(lambda: loader.paused or mgr.blocks[-1].number == BLOCKS, "the next pause")
        assert loader.loaded_unsafe_bytes() < LIMIT + _chunk_bytes([b.raw_size_estimate for b in mgr.blocks])


async def test_without_a_limit_every_offered_block_is_loaded() -> None:
    """The default (0) keeps Go's behaviour: a stuck safe head does not stop loading."""
    async with bench_daemon("op-mainnet", BLOCKS, da_type="calldata") as h:
        await h.driver.start()
        await _until(lambda: bool(h.manager.blocks) and h.manager.blocks[-1].number == BLOCKS, "all blocks")
        assert not h.driver.loader.paused
        assert h.metrics.loading_paused._value.get() == 0
        assert h.driver.loader.loaded_unsafe_bytes() == sum(b.raw_size_estimate for b in h.manager.blocks)
