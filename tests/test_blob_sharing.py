"""Blob sharing (``--blob-sharing``): a channel's last blob also carries the next channel's frame 0.

Real components: the real channel manager with real span channel outs (zlib, so the test is quick) over
the real OP Mainnet blocks of ``vectors/kona/batch.hex``; every blob sent is read back by the real
channel bank under Holocene rules (the derivation stand-in's and ``op-batcher decode``'s assembler) and
decoded to the blocks that went in. Blob frames are 20 KB here instead of 130 KB so channels are small
and many; nothing in the sharing logic depends on the frame size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batcher.bench.workload import bench_rollup_config, kona_blocks
from batcher.channels.blob_sharing import BlobSharing, BlobSharingError
from batcher.channels.channel import TxData
from batcher.channels.config import ChannelConfig, ChannelConfigs, DAConfigSelector, DAType
from batcher.channels.events import ChannelFullySubmitted
from batcher.channels.manager import ChannelManager
from batcher.channels.verify import verify_channel
from common.derive.block_ref import BlockID
from common.derive.channel_bank import BatcherTx, ChannelBank, ChannelBankRules, DropReason
from common.derive.frame import FRAME_OVERHEAD, Frame, encode_tx_data, parse_frames
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig
from tests.test_batcher_channel import FakeChannelOut, make_chain
from tests.test_channel_manager import ROLLUP

FRAME = 20_000
MAX_WAIT = 30.0


@pytest.fixture(scope="module")
def blocks() -> list[BlockInput]:
    got = kona_blocks()
    assert got, "vectors/kona/batch.hex is missing"
    return got


@pytest.fixture(scope="module")
def rollup() -> RollupConfig:
    return dataclasses.replace(bench_rollup_config(), l2_chain_id=10, genesis_l2_time=0)


def config(target_frames: int = 2) -> ChannelConfig:
    return ChannelConfig(
        seq_window_size=3600,
        channel_timeout=300,
        max_channel_duration=0,
        sub_safety_margin=10,
        max_frame_size=FRAME,
        target_num_frames=target_frames,
        use_blobs=True,
        batch_type=1,
        compression_algo="zlib",
    )


def manager(rollup: RollupConfig, sharing: BlobSharing | None, target_frames: int = 2) -> ChannelManager:
    selector = DAConfigSelector(ChannelConfigs(DAType.BLOBS, config(target_frames)))
    return ChannelManager(rollup, selector, blob_sharing=sharing)


def l1(n: int) -> BlockID:
    return BlockID(n.to_bytes(32, "big"), n)


def drain(m: ChannelManager, now: float, **kw: object) -> list[TxData]:
    out = []
    while (r := m.tx_data(l1(100), now=now, **kw)).tx is not None:  # type: ignore[arg-type]
        out.append(r.tx)
    return out


def send_all(m: ChannelManager, blocks: Sequence[BlockInput]) -> list[TxData]:
    """Load every block and drain: sharing waits at the end (no next channel), then the wait expires,
    then a flush closes the last channel."""
    for b in blocks:
        m.add_l2_block(b)
    txs = drain(m, 0.0)
    txs += drain(m, MAX_WAIT - 0.1)
    txs += drain(m, MAX_WAIT + 0.1)
    txs += drain(m, MAX_WAIT + 1, force_publish=True)
    return txs


def derive(txs: Sequence[TxData], rollup: RollupConfig, blocks: Sequence[BlockInput]) -> int:
    """Feed every blob, in order, to a Holocene channel bank; check nothing is dropped and the channels
    decode back to exactly ``blocks``. Returns the number of channels."""
    bank = ChannelBank(ChannelBankRules.from_rollup(rollup))
    channels = []
    for i, tx in enumerate(txs):
        for payload in tx.blob_payloads:
            channels += bank.ingest(BatcherTx(1000 + i, 10_000 + 12 * i, payload, f"tx{i}"))
    assert not bank.dropped_frames and not bank.dropped_channels and not bank.tx_errors
    assert not bank.pending()
    start = 0
    for ch in channels:
        frames = [rf.frame for rf in ch.frames]
        n = next(
            k
            for k in range(1, len(blocks) - start + 1)
            if verify_channel(frames, blocks[start : start + k], rollup) is None
        )
        start += n
    assert start == len(blocks)
    return len(channels)


def test_settings_are_checked_and_tiny_rooms_are_not_worth_a_wait():
    with pytest.raises(BlobSharingError, match="--blob-sharing-max-wait"):
        BlobSharing(-1)
    s = BlobSharing(5)
    assert not s.worth_sharing(FRAME_OVERHEAD + s.min_data - 1)
    assert s.worth_sharing(FRAME_OVERHEAD + s.min_data)
    assert not s.expired(10.0, 14.9) and s.expired(10.0, 15.0)


def test_shared_blobs_are_full_and_derive_back_to_the_same_blocks(blocks, rollup):
    plain = send_all(manager(rollup, None), blocks)
    shared = send_all(manager(rollup, BlobSharing(MAX_WAIT)), blocks)
    assert all(tx.shared is None for tx in plain)
    n_shared = sum(tx.shared is not None for tx in shared)
    assert n_shared >= 5
    n_plain, n_with = derive(plain, rollup, blocks), derive(shared, rollup, blocks)
    assert n_plain >= 6 and n_with >= 6
    # Every blob of a shared tx is exactly full; without sharing each channel's last blob is not.
    for tx in shared:
        if tx.shared is not None:
            assert [len(p) for p in tx.blob_payloads] == [FRAME + 1] * len(tx.blob_payloads)
            last = parse_frames(tx.blob_payloads[-1])
            assert [f.is_last for f in last] == [True, last[1].is_last] and last[1].number == 0

    def blobs(txs: list[TxData]) -> list[int]:
        return [len(p) for tx in txs for p in tx.blob_payloads]

    # Only the tail that went alone at the end and the flushed last channel's last blob are not full.
    assert sum(n < FRAME + 1 for n in blobs(shared)) <= 2
    assert sum(n < FRAME + 1 for n in blobs(plain)) >= n_plain - 1
    assert len(blobs(shared)) <= len(blobs(plain))


def test_the_wait_is_bounded_then_the_tail_goes_alone(blocks, rollup):
    m = manager(rollup, BlobSharing(MAX_WAIT))
    for b in blocks[:40]:  # a few channels; the last one stays open
        m.add_l2_block(b)
    first = drain(m, 100.0)
    assert first and m.holding  # the newest full channel's last tx waits for the open one
    assert drain(m, 100.0 + MAX_WAIT - 1) == [] and m.holding
    alone = drain(m, 100.0 + MAX_WAIT)
    assert len(alone) == 1 and alone[0].shared is None and not m.holding
    assert parse_frames(alone[0].blob_payloads[-1])[-1].is_last
    # The open channel, flushed later, starts with a normal-size frame 0.
    rest = drain(m, 200.0, force_publish=True)
    assert rest and rest[0].frames[0].number == 0
    assert rest[0].frames[0].size == FRAME or rest[0].frames[0].is_last
    derive(first + alone + rest, rollup, blocks[:40])


def test_a_failed_shared_tx_requeues_both_channels_in_order(blocks, rollup):
    m = manager(rollup, BlobSharing(MAX_WAIT))
    for b in blocks[:60]:
        m.add_l2_block(b)
    sent: list[TxData] = []
    while (r := m.tx_data(l1(100), now=0.0)).tx is not None:
        sent.append(r.tx)
        if r.tx.shared is not None:
            break
    tx = sent[-1]
    assert tx.shared is not None
    m.tx_failed(tx.id)
    again = m.tx_data(l1(100), now=1.0).tx
    assert again is not None and again.shared is not None and again.id != tx.id
    assert again.frames == tx.frames and again.shared.frames == tx.shared.frames
    assert again.blob_payloads == tx.blob_payloads
    # Confirming the resent tx completes the first channel and confirms the second's frame 0.
    events: list[object] = []
    for t in [*sent[:-1], again]:
        events += m.tx_confirmed(t.id, l1(101)).events
    done = [e for e in events if isinstance(e, ChannelFullySubmitted)]
    assert done and done[-1].channel_id == tx.frames[0].channel_id
    nxt = m.tx_data(l1(101), now=1.0).tx
    assert nxt is not None and nxt.frames[0].channel_id == tx.shared.frames[0].channel_id
    assert nxt.frames[0].number == 1  # frame 0 already landed with the shared tx


def test_holocene_keeps_a_shared_blob_in_order_and_drops_a_misordered_one(rollup):
    a, b = b"\xaa" * 16, b"\xbb" * 16
    a0, a1 = Frame(a, 0, b"x" * 10, False), Frame(a, 1, b"y" * 10, True)
    b0, b1 = Frame(b, 0, b"z" * 10, False), Frame(b, 1, b"w" * 10, True)
    rules = ChannelBankRules.from_rollup(rollup)

    def run(*txs: bytes) -> tuple[ChannelBank, list[bytes]]:
        bank = ChannelBank(rules)
        ready = [c.id for i, t in enumerate(txs) for c in bank.ingest(BatcherTx(10 + i, 100 + i, t))]
        return bank, ready

    good, ready = run(encode_tx_data([a0]), encode_tx_data([a1, b0]), encode_tx_data([b1]))
    assert ready == [a, b] and not good.dropped_frames
    # The next channel's frame 0 before the closing frame: the unclosed channel is discarded (op-node
    # pruneFrameQueue / ChannelAssembler), and its closing frame then has no channel.
    bad, ready = run(encode_tx_data([a0]), encode_tx_data([b0, a1]), encode_tx_data([b1]))
    assert ready == [b]
    assert [d.reason for d in bad.dropped_channels] == [DropReason.REPLACED]
    assert [d.frame.frame for d in bad.dropped_frames] == [a1]
    # A non-first frame of the next channel right after the closing frame is dropped.
    skip, ready = run(encode_tx_data([a0]), encode_tx_data([a1, b1]))
    assert ready == [a] and [d.frame.frame for d in skip.dropped_frames] == [b1]


@pytest.mark.integration
def test_shared_blobs_derive_on_the_devnet_after_a_failed_shared_tx(devnet):
    """The devnet's rollup node (Holocene channel assembler) derives every block from blobs that each
    carry two channels' frames; the first shared tx "fails" (is never sent) and is requeued with both
    channels' frames in order. Small frames (600 B) so the devnet's small blocks make many channels."""
    from devnet.pytest_plugin import batch_up_to_head, l2_block_inputs, post_blobs

    assert batch_up_to_head(devnet) == devnet.sequencer.head.number, devnet.deriver.halted
    first = devnet.sequencer.head.number + 1
    devnet.produce_l2_blocks(24)
    last = devnet.sequencer.head.number
    cfg = dataclasses.replace(config(), max_frame_size=600)
    m = ChannelManager(
        devnet.rollup, DAConfigSelector(ChannelConfigs(DAType.BLOBS, cfg)), blob_sharing=BlobSharing(MAX_WAIT)
    )
    for b in l2_block_inputs(devnet, first, last):
        m.add_l2_block(b)
    failed = False
    posted = shared = 0
    for now, force in ((0.0, False), (MAX_WAIT, False), (MAX_WAIT, True)):
        while (tx := m.tx_data(l1(1), now=now, force_publish=force).tx) is not None:
            if tx.shared is not None and not failed:
                failed = True
                m.tx_failed(tx.id)
                continue
            shared += tx.shared is not None
            assert all(len(p) <= 601 for p in tx.blob_payloads)
            assert post_blobs(devnet, tx.blob_payloads)["status"] == "0x1"
            posted += 1
    assert failed and shared >= 2 and posted >= 4
    devnet.derive()
    assert devnet.deriver.safe.number == last, devnet.deriver.halted


def test_op_batcher_decode_reads_shared_blobs_and_reports_a_misordered_one(blocks, rollup, tmp_path, capsys):
    """``op-batcher decode`` on the blob files: every channel of shared blobs is complete and the blocks
    come back in order; swapping the two frames of a shared blob gets the older channel dropped."""
    import json

    from batcher.decode.command import main
    from common.derive.blob import encode_blob

    txs = send_all(manager(rollup, BlobSharing(MAX_WAIT)), blocks[:50])
    assert any(tx.shared is not None for tx in txs)
    payloads = [p for tx in txs for p in tx.blob_payloads]
    args = []
    for i, p in enumerate(payloads):
        (tmp_path / f"{i}.hex").write_text(encode_blob(p).hex())
        args += ["--blob", str(tmp_path / f"{i}.hex")]
    chain = ["--l2-genesis-time", "0", "--l2-block-time", "2", "--l2-chain-id", "10", "--compact"]
    assert main(args + chain) == 0
    report = json.loads(capsys.readouterr().out)
    assert {c["status"] for c in report["channels"]} == {"complete"}
    assert [b["timestamp"] for b in report["blocks"]] == [b.timestamp for b in blocks[:50]]
    # The first shared blob with its two frames swapped: frame 0 of the next channel first.
    k = next(i for i, p in enumerate(payloads) if len(parse_frames(p)) == 2)
    a, b = parse_frames(payloads[k])
    (tmp_path / f"{k}.hex").write_text(encode_blob(encode_tx_data([b, a])).hex())
    assert main(args + chain) != 0
    report = json.loads(capsys.readouterr().out)
    statuses = {c["id"]: c["status"] for c in report["channels"]}
    assert statuses[a.channel_id.hex()] == "replaced" and statuses[b.channel_id.hex()] == "complete"


# ---- property: any channel sizes, frames per tx and failures derive back in order ---------------


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(50, 2500), min_size=2, max_size=40),
    frames=st.integers(1, 3),
    fail_every=st.sampled_from((0, 2, 3, 4)),
)
def test_any_mix_of_sizes_and_failures_derives_every_channel_in_order(sizes, frames, fail_every):
    """FakeChannelOut (exact sizes, tests/test_batcher_channel.py) in the real manager: the txs that
    did not fail, read in order by the Holocene assembler, complete every channel with nothing dropped,
    and every blob but the tail that went alone at the end and the flushed channel's is full or ends with
    a whole small channel."""
    cfg = dataclasses.replace(config(frames), max_frame_size=1000)

    def factory(c: ChannelConfig, r: RollupConfig, cid: bytes) -> FakeChannelOut:
        return FakeChannelOut(c.target_output_size, cid)

    m = ChannelManager(
        ROLLUP,
        DAConfigSelector(ChannelConfigs(DAType.BLOBS, cfg)),
        channel_out_factory=factory,
        blob_sharing=BlobSharing(MAX_WAIT),
    )
    chain = [
        dataclasses.replace(b, da_size_estimate=s) for b, s in zip(make_chain(len(sizes)), sizes, strict=True)
    ]
    for b in chain:
        m.add_l2_block(b)
    landed: list[TxData] = []
    must_fill: list[bytes] = []
    n = 0
    for phase, (now, force) in enumerate(((0.0, False), (MAX_WAIT, False), (MAX_WAIT, True))):
        while (tx := m.tx_data(l1(100), now=now, force_publish=force).tx) is not None:
            n += 1
            if fail_every and n % fail_every == 0:
                m.tx_failed(tx.id)
                continue
            landed.append(tx)
            m.tx_confirmed(tx.id, l1(101))
            # phase 1: the tail that went alone after the wait; phase 2: the flushed last channel
            must_fill += tx.blob_payloads if phase == 0 else tx.blob_payloads[:-1] if phase == 1 else []
    bank = ChannelBank(ChannelBankRules.from_rollup(ROLLUP))
    done = []
    for i, tx in enumerate(landed):
        for p in tx.blob_payloads:
            assert len(p) <= 1001
            done += bank.ingest(BatcherTx(10 + i, 100 + i, p))
    assert not bank.dropped_frames and not bank.dropped_channels and not bank.pending()
    assert [c.id for c in done] == [c.id for c in m.channels]
    assert all(c.is_fully_submitted for c in m.channels)
    assert b"".join(c.data for c in done) == b"".join(
        (b.hash * (b.da_size_estimate // 32 + 1))[: b.da_size_estimate] for b in chain
    )
    # Full, unless the room was too small to wait for, or the next channel was so small it fit whole
    # into the shared room (sharing pairs two channels per blob, it does not chain a third).
    for p in must_fill:
        f = parse_frames(p)
        too_small = not BlobSharing(MAX_WAIT).worth_sharing(1001 - len(p))  # not worth a wait
        assert len(p) == 1001 or too_small or (len(f) == 2 and f[1].number == 0 and f[1].is_last), f


def test_the_next_channel_gets_its_full_duration_while_the_tail_waits():
    """A held tail counts as submitted: the next channel's max-duration deadline runs from the held
    channel's newest L1 origin, so it does not close at once with a single block."""
    cfg = dataclasses.replace(config(1), max_frame_size=1000, max_channel_duration=5)
    m = ChannelManager(
        ROLLUP,
        DAConfigSelector(ChannelConfigs(DAType.BLOBS, cfg)),
        channel_out_factory=lambda c, r, cid: FakeChannelOut(c.target_output_size, cid),
        blob_sharing=BlobSharing(MAX_WAIT),
    )
    chain = make_chain(3, size=400, origin_base=100)
    for b in chain:
        m.add_l2_block(b)
    assert m.tx_data(l1(104), now=0.0).tx is None and m.holding
    cur = m.current_channel
    assert cur is not None and not cur.is_full and len(cur.blocks) == 1
    deadline = cur.deadline()
    assert deadline is not None and deadline[0] == chain[1].l1_origin.number + 5
