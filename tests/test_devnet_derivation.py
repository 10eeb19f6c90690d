"""The rollup node's safe head moves only when the batcher's L1 data derives the exact L2 chain."""

from __future__ import annotations

import pytest

from common.derive.frame import Frame, encode_tx_data
from devnet.anvil import rpc_call
from devnet.deriver import Deriver
from devnet.pytest_plugin import (
    batch_tx_data,
    batch_up_to_head,
    channel_bytes,
    isolated_l1,
    post_blobs,
    post_calldata,
)

pytestmark = pytest.mark.integration


def unbatched(dn, count):
    """Batch what earlier tests left, then make ``count`` new L2 blocks; return (first, last)."""
    assert batch_up_to_head(dn) == dn.sequencer.head.number, dn.deriver.halted
    first = dn.sequencer.head.number + 1
    dn.produce_l2_blocks(count)
    return first, dn.sequencer.head.number


def test_a_singular_batch_in_calldata_moves_the_safe_head(devnet):
    """Singular batches for four blocks, one calldata frame: safe head = the last of them."""
    first, last = unbatched(devnet, 4)
    for data in batch_tx_data(devnet, first, last, span=False):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == last
    assert (
        devnet.deriver.safe.hash.hex()
        == rpc_call(devnet.l2_url, "eth_getBlockByNumber", [hex(last), False])["hash"][2:]
    )


def test_a_span_batch_over_several_frames_and_txs_moves_the_safe_head(devnet):
    """A span batch split into small frames, one per L1 tx, derives all its blocks (types 0/1/2/4)."""
    first, last = unbatched(devnet, 12)
    datas = batch_tx_data(devnet, first, last, span=True, max_frame_data=400)
    assert len(datas) > 1
    for data in datas:
        post_calldata(devnet, data, tx_type=0 if len(datas) % 2 else 2)
    devnet.derive()
    assert devnet.deriver.safe.number == last
    st = rpc_call(devnet.rollup_url, "optimism_syncStatus")
    assert st["safe_l2"]["number"] == st["local_safe_l2"]["number"] == last
    assert st["current_l1"]["number"] == st["head_l1"]["number"]


@pytest.mark.slow
def test_a_span_batch_in_a_blob_moves_the_safe_head(devnet):
    """Blob DA: the frame is read back with anvil_getBlobsByTransactionHash and decoded."""
    first, last = unbatched(devnet, 5)
    (data,) = batch_tx_data(devnet, first, last, span=True, max_frame_data=130_020)
    receipt = post_blobs(devnet, [data])
    assert receipt["status"] == "0x1"
    devnet.derive()
    assert devnet.deriver.safe.number == last
    assert devnet.deriver.last_batch_tx.blobs == 1


def test_finalized_follows_l1_finalized(devnet):
    """finalized_l2 reaches the safe head once the L1 block that carried its batch is finalized."""
    first, last = unbatched(devnet, 2)
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data)
    devnet.derive()
    st = rpc_call(devnet.rollup_url, "optimism_syncStatus")
    assert st["safe_l2"]["number"] == last and st["finalized_l2"]["number"] < last
    rpc_call(devnet.l1_url, "anvil_mine", [hex(2 * devnet.cfg.slots_in_an_epoch + 1)])
    devnet.derive()
    st = rpc_call(devnet.rollup_url, "optimism_syncStatus")
    assert st["finalized_l2"]["number"] == last


def test_a_batch_from_the_wrong_sender_is_ignored(devnet):
    """A correct batch signed by another key does not move the safe head."""
    first, last = unbatched(devnet, 3)
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data, sender=devnet.keys["user5"])
    devnet.derive()
    assert devnet.deriver.safe.number == first - 1
    for data in batch_tx_data(devnet, first, last):  # then the batcher catches up for the next tests
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == last


def test_a_batch_sent_elsewhere_than_the_inbox_is_ignored(devnet):
    """to != batch inbox: ignored even from the batcher."""
    first, last = unbatched(devnet, 2)
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data, to=b"\xff" * 20)
    devnet.derive()
    assert devnet.deriver.safe.number == first - 1
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == last


def test_out_of_order_frames_are_dropped_under_holocene(devnet):
    """Frame 1 before frame 0: frame 1 is dropped, so the channel never completes."""
    first, last = unbatched(devnet, 3)
    data = channel_bytes(devnet, first, last, span=True)
    cid, half = b"\x42" * 16, len(data) // 2
    post_calldata(devnet, encode_tx_data([Frame(cid, 1, data[half:], True)]))
    post_calldata(devnet, encode_tx_data([Frame(cid, 0, data[:half], False)]))
    devnet.derive()
    assert devnet.deriver.safe.number == first - 1
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == last


def test_a_batch_whose_txs_differ_from_the_chain_halts_the_safe_head(devnet):
    """A well-formed batch with one tx missing is detected: a fresh rollup node halts and stays put."""
    from common.derive.batch import rlp_string
    from common.derive.singular_batch import SingularBatch
    from devnet.pytest_plugin import l2_block_inputs

    first, last = unbatched(devnet, 2)
    (block,) = l2_block_inputs(devnet, first, first)
    assert block.transactions
    bad = SingularBatch.from_block(block)
    bad = SingularBatch(bad.parent_hash, bad.epoch_num, bad.epoch_hash, bad.timestamp, bad.transactions[:-1])
    import zlib

    data = encode_tx_data([Frame(b"\x07" * 16, 0, zlib.compress(rlp_string(bad.encode())), True)])
    with isolated_l1(devnet):
        post_calldata(devnet, data)
        fresh = Deriver(devnet.l1_url, devnet.l2_url, devnet.rollup)
        fresh.step()
        assert fresh.halted is not None and "transactions differ" in fresh.halted
        assert fresh.safe.number == first - 1
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.halted is None and devnet.deriver.safe.number == last


def test_a_batch_that_skips_a_block_is_dropped(devnet):
    """Holocene: a batch whose first block is not safe+1 (a future batch) is dropped, not buffered."""
    first, last = unbatched(devnet, 3)
    for data in batch_tx_data(devnet, first + 1, last):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == first - 1
    assert devnet.deriver.halted is None
    for data in batch_tx_data(devnet, first, last):
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.safe.number == last


def test_an_osaka_l1_devnet_derives_batches(make_devnet):
    """--l1-fork osaka: the devnet starts and calldata batches derive as on prague."""
    dn = make_devnet(l1_fork="osaka")
    assert dn.l1.call("eth_chainId") == "0x384"
    dn.produce_l2_blocks(4)
    for data in batch_tx_data(dn, 1, 4):
        post_calldata(dn, data)
    dn.derive()
    assert dn.deriver.safe.number == 4


@pytest.mark.parametrize(("batch_type", "algo"), [(1, "brotli"), (0, "zlib")])
def test_channels_from_the_batchers_channel_out_derive(devnet, batch_type, algo):
    """Frames from common/derive/channel_out.py (span+brotli, singular+zlib) move the safe head."""
    from devnet.pytest_plugin import channel_out_tx_data

    first, last = unbatched(devnet, 6)
    datas = channel_out_tx_data(
        devnet, first, last, batch_type=batch_type, compression_algo=algo, max_frame_size=600
    )
    for data in datas:
        post_calldata(devnet, data)
    devnet.derive()
    assert devnet.deriver.halted is None, devnet.deriver.halted
    assert devnet.deriver.safe.number == last
