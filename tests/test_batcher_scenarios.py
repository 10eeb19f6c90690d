"""Batcher scenarios on a devnet: L2 reorg, L1 reorg of a batch tx, endpoint outages, a 1000-block backlog.

Each test runs a real ``op-batcher`` child on one module devnet and ends when the devnet rollup node (safe
head moves only by deriving from L1, halts on any mismatch) has derived every L2 block, once, in order.
The sequencer and the anvils are driven directly to make the events happen at a chosen moment.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.derive.frame import parse_frames
from devnet import cli
from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import batch_up_to_head, start_devnet
from tests.outage_proxy import OutageProxy
from tests.test_batcher_acceptance import assert_safe_chain_is_every_block_once_in_order
from tests.test_batcher_e2e import (
    admin,
    batcher_args,
    batcher_txs,
    derivation_paused,
    start_batcher,
    wait_rpc,
    wait_safe_catches_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

OUTAGE_SECONDS = 30.0
"""Endpoint outage length, as the issue asks: the batcher retries every poll interval and keeps no state that
ages meanwhile."""
L1_FAILURES = ("Failed to query L1 tip", "Receipt retrieval failed", "failed to get balance of account")


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("batcher-scenarios"))
    try:
        net.produce_l2_blocks(4)  # the sequencer's setup txs (token deployments) before any snapshot
        yield net
    finally:
        net.stop()


def wait_log(svc: cli.Service, text: str, timeout: float = 30.0, lines: int = 4000) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail(40)
        if text in svc.tail(lines):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the batcher log:\n{svc.tail(40)}")


def loaded_up_to(svc: cli.Service, number: int, timeout: float = 30.0) -> None:
    """Until the batcher logged adding L2 block ``number`` to its state."""
    wait_log(svc, f'msg="Added L2 block to local state" block={number} ', timeout)


def resync_sequencer(dn: Devnet) -> None:
    """After the L2 anvil was reverted: reload the sequencer's head and forget its cached nonces.

    devnet/sequencer.py has no public reset (it never expects a revert); test-only use of its state.
    """
    seq: Any = dn.sequencer
    seq._head = seq._load_head()
    seq._nonces.clear()


ADMIN_FLUSH_ONLY = (
    "--data-availability-type",
    "calldata",
    "--max-channel-duration",
    "0",
    "--rpc.enable-admin",
)
"""Channels stay open until admin_flushBatcher: the test decides when a batch tx goes out."""


def flush_until_safe(dn: Devnet, svc: cli.Service, timeout: float = 60.0, *, mine_l1: bool = False) -> None:
    """admin_flushBatcher every half second until the safe head reaches the unsafe head (a flush that
    arrives while the batcher has no blocks loaded closes nothing, as in Go). ``mine_l1``: an L1 block
    each time too, as a live L1 moves on while L2 waits (the fast devnet's L1 moves only with L2 blocks
    or txs)."""
    assert dn.sequencer is not None and dn.deriver is not None
    deadline = time.monotonic() + timeout
    while dn.deriver.safe.number < dn.sequencer.head.number:
        assert time.monotonic() < deadline, progress_tail(svc)
        assert svc.alive() and dn.deriver.halted is None, dn.deriver.halted or progress_tail(svc)
        admin(svc, "admin_flushBatcher")
        if mine_l1:
            rpc_call(dn.l1_url, "anvil_mine", ["0x1"])
        time.sleep(0.5)


def progress_tail(svc: cli.Service) -> str:
    """The service's last 40 log lines other than the flushes this file's loops request."""
    lines = [line for line in svc.tail(200_000).splitlines() if "Flushing Batch Submitter" not in line]
    return "\n".join(lines[-40:])


@contextlib.contextmanager
def running(svc: cli.Service) -> Iterator[cli.Service]:
    try:
        yield svc
    finally:
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)


def test_an_l2_reorg_of_loaded_unbatched_blocks_is_detected_and_the_new_chain_is_batched(
    dn: Devnet, tmp_path: Path
) -> None:
    """Unsafe blocks the batcher loaded are replaced by others: it logs "Found L2 reorg", clears its
    state, and the safe head reaches the new chain's head."""
    assert dn.sequencer is not None and dn.deriver is not None
    batch_flags = (
        "--data-availability-type",
        "calldata",
        "--max-channel-duration",
        "0",
        "--rpc.enable-admin",
    )
    with running(start_batcher(dn, tmp_path, *batch_flags, name="b-l2reorg")) as svc:
        wait_rpc(svc)
        first_safe = dn.deriver.safe.number
        snap = rpc_call(dn.l2_url, "evm_snapshot")
        dn.produce_l2_blocks(4)
        old_head = dn.sequencer.head
        loaded_up_to(svc, old_head.number)
        rpc_call(dn.l2_url, "evm_revert", [snap])
        resync_sequencer(dn)
        dn.produce_l2_blocks(6, user_txs=False)  # other contents: other hashes at the same heights
        replaced = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(old_head.number), False])
        assert bytes.fromhex(replaced["hash"][2:]) != old_head.hash
        wait_log(svc, 'msg="Found L2 reorg"')
        flush_until_safe(dn, svc)
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)


def test_a_batch_tx_removed_by_an_l1_reorg_is_sent_again(dn: Devnet, tmp_path: Path) -> None:
    """The L1 block with a confirmed batch tx is rolled back before the rollup node read it; once the
    node's L1 passes that height without progress the batcher clears its state and posts the blocks again.

    The devnet rollup node is paused while the tx lands so that it never reads it; the reorg of a batch it
    has derived is tests/test_batcher_follows_op_node.py."""
    assert dn.sequencer is not None and dn.deriver is not None
    with running(start_batcher(dn, tmp_path, *ADMIN_FLUSH_ONLY, name="b-l1reorg")) as svc:
        wait_rpc(svc)
        first_safe = dn.deriver.safe.number
        with derivation_paused(dn):
            dn.produce_l2_blocks(4)
            loaded_up_to(svc, dn.sequencer.head.number)
            first_l1 = dn.l1_head().number + 1
            admin(svc, "admin_flushBatcher")
            wait_log(svc, 'msg="Channel is fully submitted"')
            [tx] = batcher_txs(dn, first_l1)
            removed = parse_frames(bytes.fromhex(tx["input"][2:]))[0].channel_id
            depth = dn.l1_head().number - int(tx["blockNumber"], 16) + 1
            rpc_call(dn.l1_url, "anvil_rollback", [depth])
            assert rpc_call(dn.l1_url, "eth_getTransactionReceipt", [tx["hash"]]) is None
            # anvil drops the rolled-back tx (geth would put it back in its pool and mine it again): the
            # batcher's next tx finds its cached nonce above the chain's and must heal the gap itself.
        dn.produce_l2_blocks(6)  # moves L1 on: the node passes the removed tx's block without progress
        # If the batcher posts the new blocks at the lost nonce before it sees the missing progress, that tx
        # lands in the L1 head block and the node drops it (a future batch); only a later L1 block lets
        # the node's L1 pass that tx's block, which is what shows the missing progress.
        flush_until_safe(dn, svc, mine_l1=True)
        assert "sequencer did not make expected progress" in svc.tail(4000)
        assert "Nonce gap detected" in svc.tail(20_000)
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    inbox = batcher_txs(dn, first_l1)
    assert inbox[0]["nonce"] == tx["nonce"], "the removed tx's nonce was not reused"
    inbox = [t for t in inbox if t["input"] != "0x"]  # a no-op filling the lost nonce, if one was needed
    reposted = [parse_frames(bytes.fromhex(t["input"][2:]))[0].channel_id for t in inbox]
    assert reposted and removed not in reposted


@pytest.mark.parametrize("endpoint", ["rollup", "l1"])
def test_an_endpoint_outage_is_ridden_out_and_the_safe_head_catches_up(
    dn: Devnet, tmp_path: Path, endpoint: str
) -> None:
    """The rollup node or the L1 RPC goes away for a while: the batcher keeps running, logs the
    failures, and once the endpoint is back the safe head reaches the unsafe head."""
    assert dn.sequencer is not None and dn.deriver is not None
    proxy = OutageProxy(dn.rollup_url if endpoint == "rollup" else dn.l1_url)
    flag = "--rollup-rpc" if endpoint == "rollup" else "--l1-eth-rpc"
    try:
        args = batcher_args(dn, "--data-availability-type", "calldata")
        args[args.index(flag) + 1] = proxy.url
        svc = cli.start_service(f"b-{endpoint}", "batcher.cli", args, tmp_path)
        with running(svc):
            wait_rpc(svc)
            first_safe = dn.deriver.safe.number
            dn.produce_l2_blocks(6)
            wait_safe_catches_up(dn, svc)
            proxy.down()
            stuck_at = dn.deriver.safe.number
            end = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < end:
                dn.produce_l2_blocks(1)  # the chain moves on while the endpoint is away
                time.sleep(0.5)
            assert svc.alive(), svc.tail(40)
            assert dn.deriver.safe.number == stuck_at  # nothing reached L1 meanwhile
            # With a tx in flight and max-pending-tx reached the batcher does not ask for the L1 tip (like
            # Go, whose queue blocks); the receipt and balance pollers then show the outage instead.
            failures = L1_FAILURES if endpoint == "l1" else ("could not get sync status",)
            logged = svc.tail(20_000)
            assert any(f in logged for f in failures), svc.tail(40)
            proxy.up()
            started = time.monotonic()
            wait_safe_catches_up(dn, svc)
            recovery = time.monotonic() - started
    finally:
        proxy.close()
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    print(f"{endpoint} outage {OUTAGE_SECONDS:.0f}s: safe head caught up {recovery:.1f}s after it ended")


BACKLOG_BLOCKS = 1000
BACKLOG_TX_SIZE = 2_000
"""Small L1 txs so that 1000 deposit-only blocks in singular batches (~40 incompressible bytes each: the
parent and epoch hashes) fill many channels, one frame per calldata tx. Blocks with user txs cost the
sequencer 50 ms each to sign and mine; these cost a fraction of that."""


def test_a_backlog_of_1000_blocks_drains_in_full_channels(dn: Devnet, tmp_path: Path) -> None:
    """1000 L2 blocks made while no batcher runs: the batcher posts them in channels filled to the frame
    size (not closed half-empty on the 2-block max-channel-duration), and the safe head catches up."""
    assert dn.sequencer is not None and dn.deriver is not None
    first_safe = batch_up_to_head(dn)  # the backlog is exactly the new blocks
    started = time.monotonic()
    dn.produce_l2_blocks(BACKLOG_BLOCKS, user_txs=False)
    produced = time.monotonic() - started
    first_l1 = dn.l1_head().number + 1
    flags = ("--data-availability-type", "calldata", "--max-channel-duration", "2", "--max-pending-tx", "10",
             "--batch-type", "0",
             "--max-l1-tx-size-bytes", str(BACKLOG_TX_SIZE), "--log.level", "info")  # fmt: skip
    started = time.monotonic()
    with running(start_batcher(dn, tmp_path, *flags, name="b-backlog")) as svc:
        wait_safe_catches_up(dn, svc, timeout=180)
        drained = time.monotonic() - started
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    sizes = [len(bytes.fromhex(tx["input"][2:])) for tx in batcher_txs(dn, first_l1)]
    full = sizes[:-1]  # the last tx carries the rest of the backlog
    fill = [s / BACKLOG_TX_SIZE for s in full]
    assert len(sizes) >= 5, sizes
    assert min(fill) > 0.9, sorted(fill)[:5]
    reasons = re.findall(r'msg="Channel closed" .* full_reason="([^"]+)"', svc.tail(20_000))
    assert len(reasons) == len(sizes) and set(reasons[:-1]) == {"compressor is full"}, reasons
    print(
        f"backlog {BACKLOG_BLOCKS} blocks: produced in {produced:.1f}s, drained in {drained:.1f}s, "
        f"{len(sizes)} txs, fill min {min(fill):.3f} mean {sum(fill) / len(fill):.3f}"
    )
