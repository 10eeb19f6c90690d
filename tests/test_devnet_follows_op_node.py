"""The rollup-node stand-in follows op-node on an L1 reorg under derived batches and on an expired
sequencing window (devnet/rollup_node.py), with the batches posted by hand (devnet.pytest_plugin helpers).

The end-to-end versions with the real batcher are in tests/test_batcher_follows_op_node.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import batch_tx_data, batch_up_to_head, post_calldata

pytestmark = pytest.mark.integration

SMALL_WINDOW = 8
"""A sequencing window the tests can outlast by mining a few L1 blocks."""


def l2_block(dn: Devnet, number: int) -> dict[str, Any]:
    block = rpc_call(dn.l2_anvil_url, "eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict), number
    return block


def test_an_l1_reorg_under_a_derived_batch_rewinds_the_safe_head_and_rederives(make_devnet):
    """The L1 block holding a derived batch is rolled back: the safe head goes back to the block before
    that batch (not halted); posting the batch again brings it back to the same blocks."""
    dn = make_devnet()
    dn.produce_l2_blocks(3)
    before = batch_up_to_head(dn)
    dn.produce_l2_blocks(3)
    first_l1 = dn.l1_head().number + 1
    for data in batch_tx_data(dn, before + 1, dn.sequencer.head.number):
        post_calldata(dn, data)
    dn.derive()
    derived = dn.deriver.safe
    assert derived == dn.sequencer.head and dn.deriver.resets == 0
    rpc_call(dn.l1_url, "anvil_rollback", [dn.l1_head().number - first_l1 + 1])
    rpc_call(dn.l1_url, "anvil_mine", ["0x2"])  # the new branch is longer than the old one
    dn.derive()
    assert dn.deriver.halted is None, dn.deriver.halted
    assert dn.deriver.resets == 1
    assert dn.deriver.safe.number == before
    assert dn.deriver.current_l1 == dn.l1_head()
    assert [ref.number for _, ref in dn.deriver.safe_history][-1] == before
    assert batch_up_to_head(dn) == derived.number
    assert dn.deriver.safe == derived


def test_a_reorg_to_a_shorter_l1_chain_is_noticed_without_a_new_block(make_devnet):
    """The rolled-back chain is not extended: the reset happens on the next step all the same."""
    dn = make_devnet()
    dn.produce_l2_blocks(2)
    before = batch_up_to_head(dn) - 2
    rpc_call(dn.l1_url, "anvil_rollback", [1])  # the block with the only batch tx
    dn.derive()
    assert dn.deriver.resets == 1 and dn.deriver.safe.number == before
    assert dn.deriver.current_l1 == dn.l1_head()


def test_an_expired_sequencing_window_forces_deposit_only_blocks_over_the_unsafe_chain(make_devnet):
    """No batch for SMALL_WINDOW L1 blocks: the stand-in derives op-node's forced empty blocks, the unsafe
    blocks (with user txs) are replaced by them, and the sequencer and a batch carry on on top."""
    dn = make_devnet(seq_window_size=SMALL_WINDOW)
    dn.produce_l2_blocks(3)
    safe = batch_up_to_head(dn)
    dn.produce_l2_blocks(6)
    old = [l2_block(dn, n)["hash"] for n in range(safe + 1, safe + 7)]
    rpc_call(dn.l1_url, "anvil_mine", [hex(SMALL_WINDOW + 2)])
    dn.derive()
    d = dn.deriver
    assert d.halted is None, d.halted
    assert d.forced_blocks > 0 and d.safe.number > safe
    assert d.safe == dn.sequencer.head, "the unsafe head is the last forced block"
    assert [l2_block(dn, n)["hash"] for n in range(safe + 1, safe + 7)] != old
    head_l1 = dn.l1_head().number
    forced = d.safe_history[-d.forced_blocks :]
    for (_, prev), (_, ref) in zip([d.safe_history[-d.forced_blocks - 1], *forced], forced, strict=False):
        assert len(l2_block(dn, ref.number)["transactions"]) == 1, "deposit-only"
        origin = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(ref.l1_origin.number), False])
        following = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(ref.l1_origin.number + 1), False])
        assert ref.timestamp == prev.timestamp + 2 and ref.parent_hash == prev.hash
        assert ref.l1_origin.number + SMALL_WINDOW <= head_l1, "forced only once the window expired"
        assert int(origin["timestamp"], 16) <= ref.timestamp
        new_epoch = ref.l1_origin.number == prev.l1_origin.number + 1
        assert new_epoch or ref.l1_origin == prev.l1_origin
        assert new_epoch or ref.timestamp < int(following["timestamp"], 16)
    last = d.safe
    nxt = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(last.l1_origin.number + 1), False])
    assert last.timestamp + 2 >= int(nxt["timestamp"], 16), "stopped at an epoch end"
    assert last.l1_origin.number + 1 + SMALL_WINDOW > head_l1, "the next epoch's window is still open"
    dn.produce_l2_blocks(3)  # user txs again, on the new chain
    assert batch_up_to_head(dn) == dn.sequencer.head.number
    assert d.halted is None, d.halted
