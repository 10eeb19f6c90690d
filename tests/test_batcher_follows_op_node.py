"""The real batcher against a rollup node that resets on an L1 reorg and forces empty blocks once the
sequencing window expires, as op-node does (the devnet stand-in, devnet/rollup_node.py: op-node cannot run
here). Each test ends when the safe head has derived every L2 block once, in order, and every block the
batcher posted on the canonical L1 is one the L2 chain has, posted once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from common.derive.batch import decode_batch
from common.derive.channel import read_channel
from common.derive.singular_batch import SingularBatch
from devnet import cli
from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet
from tests.outage_proxy import OutageProxy
from tests.test_batcher_acceptance import assert_safe_chain_is_every_block_once_in_order, posted_channels
from tests.test_batcher_e2e import admin, batcher_args, start_batcher, wait_rpc, wait_safe_catches_up
from tests.test_batcher_scenarios import ADMIN_FLUSH_ONLY, flush_until_safe, loaded_up_to, running, wait_log

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SEQ_WINDOW = 12
"""L1 blocks: long enough for the batcher to land every batch in time, short enough to outlast by mining."""


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("follows-op-node"), seq_window_size=SEQ_WINDOW)
    try:
        net.produce_l2_blocks(4)  # the sequencer's setup txs
        yield net
    finally:
        net.stop()


def posted_blocks(dn: Devnet, first_l1: int) -> Counter[tuple[int, tuple[str, ...]]]:
    """(timestamp, tx hashes) of every L2 block in the batcher's complete channels since ``first_l1``."""
    assert dn.rollup is not None
    rc, out = dn.rollup, Counter[tuple[int, tuple[str, ...]]]()
    for data in posted_channels(dn, first_l1)[1].values():
        for payload in read_channel(data, fjord=True).payloads:
            batch = decode_batch(payload, allow_trailing=True)
            if isinstance(batch, SingularBatch):
                blocks = [(batch.timestamp, batch.transactions)]
            else:
                derived = batch.derive_blocks(rc.genesis_l2_time, rc.block_time, rc.l2_chain_id)
                blocks = [(b.timestamp, b.transactions) for b in derived]
            for ts, txs in blocks:
                out[(ts, tuple("0x" + keccak(bytes(tx)).hex() for tx in txs))] += 1
    return out


def assert_posted_once_and_on_the_chain(dn: Devnet, first_l1: int) -> int:
    """Every L2 block posted since ``first_l1`` is posted once and has the chain's txs; returns how many."""
    assert dn.rollup is not None
    posted = posted_blocks(dn, first_l1)
    for (ts, hashes), times in posted.items():
        assert times == 1, f"L2 block at {ts} posted {times} times"
        number = (ts - dn.rollup.genesis_l2_time) // dn.rollup.block_time
        block = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(number), True])
        chain = tuple(tx["hash"] for tx in block["transactions"] if tx["type"] != "0x7e")
        assert chain == hashes, f"posted L2 block {number} is not the chain's"
    return len(posted)


L2_REORG_SEEN = ('msg="Found L2 reorg"', "safe head above newest block in state", "safe chain reorg")
"""The batcher's ways to notice that its loaded blocks were replaced: by the L2 chain, or by the safe head."""


def wait_reorg_seen(svc: cli.Service, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in svc.tail(4000) for text in L2_REORG_SEEN):
        assert svc.alive() and time.monotonic() < deadline, svc.tail(40)
        time.sleep(0.1)


def test_an_l1_reorg_under_a_derived_batch_is_healed_by_the_batcher(dn: Devnet, tmp_path: Path) -> None:
    """The L1 blocks with a batch the rollup node derived are reorged out: its safe head goes back, the
    batcher loads the lost blocks again and re-posts them, and the safe head matches the unsafe chain."""
    assert dn.sequencer is not None and dn.deriver is not None
    with running(start_batcher(dn, tmp_path, *ADMIN_FLUSH_ONLY, name="b-l1reorg-derived")) as svc:
        wait_rpc(svc)
        dn.produce_l2_blocks(2)
        flush_until_safe(dn, svc)
        first_safe, before = dn.deriver.safe_history[0][1].number, dn.deriver.safe.number
        dn.produce_l2_blocks(4)
        loaded_up_to(svc, dn.sequencer.head.number)
        first_l1 = dn.l1_head().number + 1  # no L2 block has an L1 origin from here on
        flush_until_safe(dn, svc)
        lost = dn.deriver.safe
        rpc_call(dn.l1_url, "anvil_rollback", [dn.l1_head().number - first_l1 + 1])
        rpc_call(dn.l1_url, "anvil_mine", ["0x2"])
        deadline = time.monotonic() + 10
        while dn.deriver.resets == 0:
            assert time.monotonic() < deadline, "the rollup node did not notice the L1 reorg"
            time.sleep(0.05)
        assert dn.deriver.safe.number == before < lost.number
        wait_log(svc, f'msg="Added L2 block to local state" block={before + 1} ', lines=400)
        flush_until_safe(dn, svc)
        assert dn.deriver.safe == lost, "the same blocks are safe again"
    assert dn.deriver.resets == 1
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    assert assert_posted_once_and_on_the_chain(dn, first_l1) == lost.number - before


def test_a_batcher_cut_off_past_the_sequencing_window_follows_the_forced_blocks(
    dn: Devnet, tmp_path: Path
) -> None:
    """The batcher cannot reach L1 while more than a sequencing window of L1 blocks pass: the rollup node
    derives forced deposit-only blocks over the unsafe blocks the batcher had loaded; the batcher sees the
    L2 reorg, and once L1 is back it posts none of the replaced blocks, only blocks of the new chain. (How
    many it posts depends on timing: blocks built on the forced ones inherit L1 origins that may already
    be past their window; the batcher holds those back and the node forces them in turn.)"""
    assert dn.sequencer is not None and dn.deriver is not None
    proxy = OutageProxy(dn.l1_url)
    try:
        args = batcher_args(dn, "--data-availability-type", "calldata", "--rpc.enable-admin")
        args[args.index("--l1-eth-rpc") + 1] = proxy.url
        with running(cli.start_service("b-window", "batcher.cli", args, tmp_path)) as svc:
            wait_rpc(svc)
            dn.produce_l2_blocks(2)
            wait_safe_catches_up(dn, svc)
            first_safe = dn.deriver.safe_history[0][1].number
            proxy.down()
            safe = dn.deriver.safe
            dn.produce_l2_blocks(6)  # user txs: the blocks the forced ones replace
            replaced = dn.sequencer.head
            loaded_up_to(svc, replaced.number)
            first_l1 = dn.l1_head().number + 1
            expire_at = safe.l1_origin.number + SEQ_WINDOW + 2
            rpc_call(dn.l1_url, "anvil_mine", [hex(expire_at - dn.l1_head().number)])
            deadline = time.monotonic() + 10
            while dn.deriver.current_l1.number < expire_at:
                assert time.monotonic() < deadline, "the rollup node did not read the new L1 blocks"
                time.sleep(0.05)
            assert dn.deriver.halted is None, dn.deriver.halted
            assert dn.deriver.forced_blocks > 0 and dn.deriver.safe.number > safe.number
            now = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(replaced.number), False])
            assert now is None or bytes.fromhex(now["hash"][2:]) != replaced.hash
            while dn.sequencer.head.timestamp + 2 <= dn.l1_head().timestamp:  # catch up with L1 time
                dn.produce_l2_blocks(1, user_txs=False)
            dn.produce_l2_blocks(2)
            wait_reorg_seen(svc)
            proxy.up()
            # The blocks built on the forced ones have L1 origins as old as the L2 chain is behind L1 time;
            # those already past their window are held back by the batcher and forced again by the node.
            wait_safe_catches_up(dn, svc, mine_l1=True)
            admin(svc, "admin_stopBatcher")
    finally:
        proxy.close()
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    assert_posted_once_and_on_the_chain(dn, first_l1)  # a replaced block posted would not be the chain's


def test_a_batcher_stopped_past_the_sequencing_window_restarts_on_the_forced_blocks(
    dn: Devnet, tmp_path: Path
) -> None:
    """The batcher process is stopped while more than a sequencing window of L1 blocks pass: the rollup
    node derives forced deposit-only blocks over the unsafe blocks nobody posted. Restarted with the same
    command line, the batcher starts from the new safe head and posts the new chain only, each block once."""
    assert dn.sequencer is not None and dn.deriver is not None
    args = batcher_args(dn, "--data-availability-type", "calldata", "--rpc.enable-admin")
    with running(cli.start_service("b-window-stop", "batcher.cli", args, tmp_path)) as svc:
        wait_rpc(svc)
        dn.produce_l2_blocks(2)
        wait_safe_catches_up(dn, svc)
    first_safe, safe, forced = dn.deriver.safe.number, dn.deriver.safe, dn.deriver.forced_blocks
    dn.produce_l2_blocks(6)  # user txs: the blocks the forced ones replace
    replaced = dn.sequencer.head
    first_l1 = dn.l1_head().number + 1
    expire_at = safe.l1_origin.number + SEQ_WINDOW + 2
    rpc_call(dn.l1_url, "anvil_mine", [hex(expire_at - dn.l1_head().number)])
    deadline = time.monotonic() + 10
    while dn.deriver.current_l1.number < expire_at:
        assert time.monotonic() < deadline, "the rollup node did not read the new L1 blocks"
        time.sleep(0.05)
    assert dn.deriver.halted is None, dn.deriver.halted
    assert dn.deriver.forced_blocks > forced and dn.deriver.safe.number > safe.number
    now = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(replaced.number), False])
    assert now is None or bytes.fromhex(now["hash"][2:]) != replaced.hash
    while dn.sequencer.head.timestamp + 2 <= dn.l1_head().timestamp:  # catch up with L1 time
        dn.produce_l2_blocks(1, user_txs=False)
    dn.produce_l2_blocks(2)
    with running(cli.start_service("b-window-restart", "batcher.cli", args, tmp_path)) as svc:
        wait_rpc(svc)
        wait_safe_catches_up(dn, svc)
        admin(svc, "admin_stopBatcher")
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    assert assert_posted_once_and_on_the_chain(dn, first_l1) > 0
