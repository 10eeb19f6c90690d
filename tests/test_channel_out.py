"""Channel out: blocks in, frames out, decoded back with our own channel/frame/batch decoders.

Blocks here carry structurally valid signed txs with random signatures (no signing: the channel
out never recovers senders, and random r/s have the entropy of real ones), so the tests are fast.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from batcher.vectors import require_vectors
from common.derive.batch import decode_batch
from common.derive.block_ref import BlockID
from common.derive.channel import decompress_channel as h1_decompress
from common.derive.channel import read_batch_payloads
from common.derive.channel_out import (
    AddResult,
    ChannelOut,
    ChannelOutConfig,
    ChannelOutError,
    FullReason,
    new_channel_out,
)
from common.derive.compressor import CompressionCalibration
from common.derive.frame import FRAME_OVERHEAD, MAX_FRAME_NUMBER, Frame, encode_tx_data, parse_frames
from common.derive.l1_info import L1Info
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch
from common.derive.transaction import Transaction, keccak256

CHAIN_ID = 901
GENESIS = 1_700_000_000
BLOCK_TIME = 2
FRAME = 2_000
"""Small frames so channels span several of them."""


def rollup(**overrides: object) -> RollupConfig:
    cfg = RollupConfig(
        genesis_l1=BlockID(b"\x11" * 32, 0),
        genesis_l2=BlockID(b"\x22" * 32, 0),
        genesis_l2_time=GENESIS,
        system_config=GenesisSystemConfig(batcher_addr=b"\x33" * 20),
        block_time=BLOCK_TIME,
        max_sequencer_drift=1800,
        seq_window_size=3600,
        channel_timeout=300,
        l1_chain_id=900,
        l2_chain_id=CHAIN_ID,
        batch_inbox_address=b"\xff" * 20,
        fork_times={"delta": 0, "ecotone": 0, "fjord": 0},
    )
    return dataclasses.replace(cfg, **overrides)  # type: ignore[arg-type]


class SmallRlpLimitRollup(RollupConfig):
    """Test double: the MAX_RLP_BYTES_PER_CHANNEL lookup returns a tiny limit (real ones need 10 MB)."""

    def max_rlp_bytes_per_channel(self, timestamp: int) -> int:
        return 6_000


def make_tx(rng: random.Random, data_len: int, *, random_data: bool, kind: int) -> bytes:
    data = rng.randbytes(data_len) if random_data else (b"\xa9\x05\x9c\xbb" + b"\x00" * 12) * (data_len // 16)
    tx = Transaction(
        tx_type=kind,
        chain_id=CHAIN_ID,
        nonce=rng.randrange(1000),
        gas_price=10**9 + rng.randrange(10**6),
        gas_tip_cap=10**6 if kind == 2 else 10**9,
        gas=21_000 + data_len * 16,
        to=None if rng.random() < 0.05 else bytes([rng.randrange(4)]) * 20,
        value=rng.randrange(10**18),
        data=data,
        access_list=(),
        authorization_list=(),
        y_parity=rng.randrange(2),
        r=rng.randrange(1, 1 << 256),
        s=rng.randrange(1, 1 << 255),
    )
    if kind == 0:
        tx = dataclasses.replace(tx, gas_tip_cap=tx.gas_price)
    return tx.encode()


def make_blocks(
    seed: int, sizes: Sequence[tuple[int, int]], *, random_data: bool = False, start: int = 1
) -> list[BlockInput]:
    """Blocks with (tx count, calldata bytes per tx); a new L1 origin every 3 blocks."""
    rng = random.Random(seed)
    blocks = []
    parent = b"\x22" * 32
    for i, (ntx, dlen) in enumerate(sizes):
        number = start + i
        l1_num = 50 + number // 3
        l1_hash = keccak256(l1_num.to_bytes(8, "big"))
        seq = number % 3
        info = L1Info(l1_num, GENESIS + 12 * l1_num, 10**9, l1_hash, seq, b"\x00" * 32)
        txs = tuple(
            make_tx(rng, dlen, random_data=random_data, kind=rng.choice((0, 2, 2))) for _ in range(ntx)
        )
        h = keccak256(number.to_bytes(8, "big") + parent)
        blocks.append(
            BlockInput(
                number, h, parent, GENESIS + BLOCK_TIME * number, BlockID(l1_hash, l1_num), seq, txs, info
            )
        )
        parent = h
    return blocks


def drain(out: ChannelOut, blocks: Sequence[BlockInput], frame_size: int = FRAME) -> tuple[int, list[Frame]]:
    """Add blocks until rejected, close, collect every frame; returns (#accepted, frames)."""
    frames: list[Frame] = []
    n = 0
    for b in blocks:
        if out.add_block(b) is AddResult.REJECTED_FULL:
            break
        n += 1
        while (f := out.output_frame(frame_size)) is not None:
            frames.append(f)
        if out.full_reason is not None:
            break
    out.close()
    while (f := out.output_frame(frame_size)) is not None:
        frames.append(f)
    return n, frames


def decode_frames(frames: Sequence[Frame], cfg: RollupConfig) -> list[tuple[int, int, tuple[bytes, ...]]]:
    """Our own decoders: tx data -> frames -> channel -> batches -> (timestamp, epoch, tx hashes)."""
    parsed = [g for f in frames for g in parse_frames(encode_tx_data([f]))]
    data = b"".join(f.data for f in parsed)
    raw = h1_decompress(data, max_bytes=cfg.max_rlp_bytes_per_channel(0), fjord=True)
    out = []
    for payload in read_batch_payloads(raw):
        batch = decode_batch(payload)
        if isinstance(batch, SingularBatch):
            out.append((batch.timestamp, batch.epoch_num, tuple(keccak256(t) for t in batch.transactions)))
        else:
            assert isinstance(batch, SpanBatch)
            for blk in batch.derive_blocks(cfg.genesis_l2_time, cfg.block_time, cfg.l2_chain_id):
                out.append((blk.timestamp, blk.epoch_num, blk.tx_hashes))
    return out


def expected(blocks: Sequence[BlockInput]) -> list[tuple[int, int, tuple[bytes, ...]]]:
    return [(b.timestamp, b.l1_origin.number, tuple(keccak256(t) for t in b.transactions)) for b in blocks]


def check_frames(frames: Sequence[Frame], channel_id: bytes, frame_size: int) -> None:
    assert [f.number for f in frames] == list(range(len(frames)))
    assert [f.is_last for f in frames] == [False] * (len(frames) - 1) + [True]
    assert all(f.channel_id == channel_id and f.size <= frame_size for f in frames)


CONFIGS = [
    (0, "shadow", "zlib"),
    (0, "shadow", "brotli"),
    (0, "ratio", "zlib"),
    (0, "none", "zlib"),
    (1, "shadow", "zlib"),
    (1, "shadow", "brotli-9"),
    (1, "shadow", "brotli-10"),
]


@pytest.mark.parametrize(("batch_type", "compressor", "algo"), CONFIGS)
def test_blocks_round_trip_through_frames_and_our_decoders(batch_type, compressor, algo):
    """Every accepted block decodes back with its timestamp, L1 origin and tx hashes, in order."""
    cfg = rollup()
    blocks = make_blocks(7, [(random.Random(i).randrange(0, 6), 120) for i in range(40)])
    co = ChannelOutConfig(
        2_500, batch_type=batch_type, compressor=compressor, compression_algo=algo, approx_compr_ratio=0.5
    )
    remaining = list(blocks)
    decoded = []
    channels = 0
    while remaining:
        out = new_channel_out(co, cfg, bytes([channels + 1]) * 16, calibration=CompressionCalibration(algo))
        n, frames = drain(out, remaining)
        assert n == out.block_count >= 1
        check_frames(frames, out.id, FRAME)
        decoded += decode_frames(frames, cfg)
        remaining = remaining[n:]
        channels += 1
    assert decoded == expected(blocks)
    assert channels >= 2  # the target really cut the backlog into several channels


block_sizes = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 900)), min_size=1, max_size=25)


@pytest.mark.parametrize(("batch_type", "algo"), [(1, "brotli-10"), (1, "zlib"), (0, "brotli-10")])
@given(sizes=block_sizes, seed=st.integers(0, 2**16), target=st.integers(300, 9000), noisy=st.booleans())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # a span channel estimated under the target that came out 4 bytes over (now judged exactly)
    sizes=[(6, 828), (0, 593), (1, 800), (8, 72), (8, 262), (4, 24), (2, 479), (4, 762), (7, 8), (1, 140)],
    seed=14286,
    target=961,
    noisy=True,
)
@example(sizes=[(4, 267), (5, 566), (0, 756), (4, 19), (0, 543)], seed=63095, target=3304, noisy=True)
def test_channels_never_exceed_target_except_a_lone_first_block(batch_type, algo, sizes, seed, target, noisy):
    """Random block sizes and (in)compressible data: no empty channel, target kept, frames contiguous."""
    cfg = rollup()
    blocks = make_blocks(seed, sizes, random_data=noisy)
    co = ChannelOutConfig(target, batch_type=batch_type, compression_algo=algo)
    cal = CompressionCalibration(algo)
    remaining = list(blocks)
    decoded = []
    serial = 0
    while remaining:
        serial += 1
        out = new_channel_out(co, cfg, serial.to_bytes(16, "big"), calibration=cal)
        n, frames = drain(out, remaining, frame_size=700)
        assert n >= 1
        check_frames(frames, out.id, 700)
        size = sum(len(f.data) for f in frames)
        if n > 1:
            assert size <= target, f"{n} blocks in {size} bytes, target {target}"
        decoded += decode_frames(frames, cfg)
        remaining = remaining[n:]
    assert decoded == expected(blocks)


def test_an_oversized_first_block_is_accepted_and_fills_the_channel():
    """The first block always goes in, even far over the target; the channel is then full."""
    blocks = make_blocks(3, [(10, 800)] * 3, random_data=True)
    for batch_type in (0, 1):
        co = ChannelOutConfig(1000, batch_type=batch_type, compression_algo="brotli-10")
        out = new_channel_out(co, rollup(), b"\x05" * 16, calibration=CompressionCalibration("brotli-10"))
        assert out.add_block(blocks[0]) is AddResult.ACCEPTED
        assert out.full_reason is FullReason.COMPRESSOR_FULL
        assert out.add_block(blocks[1]) is AddResult.REJECTED_FULL
        _, frames = drain(out, [])
        assert sum(len(f.data) for f in frames) > 1000
        assert decode_frames(frames, rollup()) == expected(blocks[:1])


def test_an_empty_channel_cannot_be_closed():
    """Zero blocks: close() refuses instead of emitting an empty channel."""
    for batch_type in (0, 1):
        out = new_channel_out(ChannelOutConfig(10_000, batch_type=batch_type), rollup(), b"\x01" * 16)
        with pytest.raises(ChannelOutError, match="holds no blocks"):
            out.close()
        assert out.output_frame(FRAME) is None


def test_adding_after_close_is_an_error_and_full_channels_reject():
    """A closed channel refuses blocks loudly; a full one answers REJECTED_FULL."""
    blocks = make_blocks(4, [(3, 100)] * 3)
    out = new_channel_out(ChannelOutConfig(100_000, batch_type=1), rollup(), b"\x02" * 16)
    assert out.add_block(blocks[0]) is AddResult.ACCEPTED
    out.close()
    with pytest.raises(ChannelOutError, match="after close"):
        out.add_block(blocks[1])


def test_rlp_limit_rejects_the_block_and_names_an_unbatchable_first_block():
    """Over MAX_RLP_BYTES_PER_CHANNEL: later blocks are rejected with Go's reason; a lone block raises."""
    base = rollup()
    small = SmallRlpLimitRollup(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    blocks = make_blocks(5, [(4, 500)] * 6)
    for batch_type in (0, 1):
        out = new_channel_out(ChannelOutConfig(10**6, batch_type=batch_type), small, b"\x03" * 16)
        n, frames = drain(out, blocks)
        assert 1 <= n < len(blocks)
        assert out.full_reason is FullReason.TOO_MANY_RLP_BYTES
        assert out.input_bytes <= 6_000
        assert decode_frames(frames, base) == expected(blocks[:n])
    huge = make_blocks(6, [(5, 2000)])
    with pytest.raises(ChannelOutError, match="can never be batched"):
        new_channel_out(ChannelOutConfig(10**6, batch_type=1), small, b"\x04" * 16).add_block(huge[0])


def test_max_blocks_per_span_batch_seals_span_batches_inside_one_channel():
    """With M=3, ten blocks become span batches of 3, 3, 3 and 1 in the same channel."""
    cfg = rollup()
    blocks = make_blocks(8, [(2, 60)] * 10)
    co = ChannelOutConfig(10**6, batch_type=1, compression_algo="brotli", max_blocks_per_span_batch=3)
    out = new_channel_out(co, cfg, b"\x06" * 16)
    n, frames = drain(out, blocks)
    assert n == 10
    raw = h1_decompress(b"".join(f.data for f in frames), max_bytes=10**8, fjord=True)
    batches = [decode_batch(p) for p in read_batch_payloads(raw)]
    assert [b.block_count for b in batches if isinstance(b, SpanBatch)] == [3, 3, 3, 1]
    assert decode_frames(frames, cfg) == expected(blocks)
    assert out.input_bytes == len(raw)


def test_data_exactly_filling_a_frame_is_followed_by_an_empty_last_frame():
    """Go edge case: is_last needs the rest to fit strictly, so an exact fit adds an empty closing frame."""
    blocks = make_blocks(9, [(3, 200)] * 4)
    for batch_type in (0, 1):
        out = new_channel_out(ChannelOutConfig(10**6, batch_type=batch_type), rollup(), b"\x07" * 16)
        for b in blocks:
            out.add_block(b)
        out.close()
        ready = out.ready_bytes
        first = out.output_frame(ready + FRAME_OVERHEAD)
        last = out.output_frame(ready + FRAME_OVERHEAD)
        assert first is not None and last is not None
        assert (len(first.data), first.is_last) == (ready, False)
        assert (last.number, last.data, last.is_last) == (1, b"", True)
        assert out.fully_output and out.output_frame(FRAME) is None


def test_frame_numbers_stop_at_the_uint16_limit():
    """Frame 65535 marks the channel full (Go ErrMaxFrameIndex); needing frame 65536 is an error."""
    blocks = make_blocks(10, [(12, 1000)] * 7, random_data=True)
    out = new_channel_out(ChannelOutConfig(10**7, compressor="none"), rollup(), b"\x08" * 16)
    for b in blocks:
        assert out.add_block(b) is AddResult.ACCEPTED
    out.close()
    assert out.ready_bytes > MAX_FRAME_NUMBER + 1
    for _ in range(MAX_FRAME_NUMBER + 1):
        frame = out.output_frame(FRAME_OVERHEAD + 1)
        assert frame is not None and not frame.is_last
    assert out.full_reason is FullReason.MAX_FRAME_INDEX
    with pytest.raises(ChannelOutError, match="frame numbers are exhausted"):
        out.output_frame(FRAME_OVERHEAD + 1)


def test_singular_channels_cut_full_frames_before_close():
    """Singular channels of Go's streaming compressor kinds (ratio, none) hand out full-size frames
    as soon as the compressor has the bytes (Go)."""
    blocks = make_blocks(11, [(10, 800)] * 30, random_data=True)
    out = new_channel_out(ChannelOutConfig(10**6, compressor="ratio"), rollup(), b"\x09" * 16)
    early = []
    for b in blocks:
        out.add_block(b)
        while (f := out.output_frame(FRAME)) is not None:
            early.append(f)
    assert early and all(f.size == FRAME and not f.is_last for f in early)
    assert not out.closed


def test_span_channel_compresses_once_per_channel_once_calibrated():
    """The O(block) design: after the first channel the whole channel is compressed about once."""
    cfg = rollup()
    rng = random.Random(12)
    blocks = make_blocks(12, [(rng.randrange(2, 8), rng.randrange(50, 400)) for _ in range(400)])
    co = ChannelOutConfig(20_000, batch_type=1, compression_algo="brotli-10")
    cal = CompressionCalibration("brotli-10")
    remaining = list(blocks)
    counts: list[int] = []
    sizes: list[int] = []
    while remaining:
        out = new_channel_out(co, cfg, bytes([len(counts) + 1]) * 16, calibration=cal)
        n, frames = drain(out, remaining, frame_size=5_000)
        counts.append(out.exact_compressions)  # type: ignore[attr-defined]
        sizes.append(sum(len(f.data) for f in frames))
        remaining = remaining[n:]
    steady = counts[2:-1]
    assert len(steady) >= 4
    assert sum(steady) <= len(steady) + 1
    assert all(s <= 20_000 for s in sizes)
    assert sum(sizes[2:-1]) / (20_000 * len(steady)) > 0.97


def test_config_is_validated_with_the_offending_value():
    """Bad batch type, algo or target fail at construction and say what was wrong."""
    with pytest.raises(ChannelOutError, match="unrecognized batch type: 2"):
        ChannelOutConfig(1000, batch_type=2)
    with pytest.raises(ChannelOutError, match="unknown compression algo 'lz4'"):
        ChannelOutConfig(1000, compression_algo="lz4")
    with pytest.raises(ChannelOutError, match="unknown compressor kind 'blind'"):
        new_channel_out(ChannelOutConfig(1000, compressor="blind"), rollup(), b"\x01" * 16)
    with pytest.raises(ChannelOutError, match="channel id must be 16 bytes"):
        new_channel_out(ChannelOutConfig(1000), rollup(), b"\x01")


def test_quick_bench_prints_every_section_of_the_table(capsys):
    """``op-batcher bench --quick`` runs end to end, reports each metric row, and its add-cost ratios
    are those of the slice costs it prints."""
    import re

    from batcher.bench.add_cost import line_ratio
    from batcher.bench.channels import main

    assert main(["--quick"]) == 0
    table = capsys.readouterr().out
    for section in (
        "== data",
        "== throughput",
        "== add-cost",
        "== full-channels",
        "== memory",
        "== real-blocks",
    ):
        assert section in table
    for row in (
        "span     -      brotli-10",
        "singular shadow zlib",
        "singular ratio  brotli-10",
        "singular none   zlib",
        "span     brotli-10 blocks 600-700",
        "singular brotli-10 blocks 0-100",
        "span     brotli-10 600-700 / 0-100",
        "singular brotli-10 600-700 / 0-100",
        "span     brotli-10 close after 700 blocks",
        "size / one-shot brotli-10",
        "CPU / one-shot brotli-10 CPU",
        "blob fill, all full channels",
        "peak RSS draining it",
    ):
        assert row in table, row
    assert "no full channel" not in table

    def number(pattern: str) -> float:
        found = re.search(pattern, table)
        assert found is not None, pattern
        return float(found.group(1))

    for kind in ("span    ", "singular"):
        first = number(rf"{kind} brotli-10 blocks 0-100 +([0-9.]+) ms/MB")
        last = number(rf"{kind} brotli-10 blocks 600-700 +([0-9.]+) ms/MB")
        ratio = number(rf"{kind} brotli-10 600-700 / 0-100 +x([0-9.]+)")
        assert ratio == pytest.approx(last / first, abs=0.011), kind
    # The robust line: exact on a straight line, unmoved by one wild slice.
    assert line_ratio([[10.0 + 2 * step, 10.0 + 2 * step] for step in range(7)]) == pytest.approx(2.2)
    assert line_ratio([[10.0, 10.0, 10.0]] * 6 + [[10.0, 10.0, 90.0]]) == pytest.approx(1.0)


def test_room_left_after_the_exact_compression_is_filled_by_a_tail_span_batch():
    """An uncalibrated (pessimistic) estimate leaves room: more blocks go into a second span batch
    appended to the same flushed stream, still with a single whole-channel compression."""
    cfg = rollup()
    rng = random.Random(13)
    blocks = make_blocks(13, [(rng.randrange(2, 8), rng.randrange(50, 400)) for _ in range(200)])
    out = new_channel_out(
        ChannelOutConfig(20_000, batch_type=1, compression_algo="brotli-10"),
        cfg,
        b"\x0a" * 16,
        calibration=CompressionCalibration("brotli-10"),
    )
    n, frames = drain(out, blocks, frame_size=5_000)
    raw = h1_decompress(b"".join(f.data for f in frames), max_bytes=10**8, fjord=True)
    spans = [decode_batch(p) for p in read_batch_payloads(raw)]
    assert len(spans) == 2
    assert out.exact_compressions == 1  # type: ignore[attr-defined]
    assert 0.98 * 20_000 < sum(len(f.data) for f in frames) <= 20_000
    assert decode_frames(frames, cfg) == expected(blocks[:n])


def test_a_ratio_compressor_that_refuses_the_first_block_is_an_error_not_an_empty_channel():
    """target / ratio below one byte: Go would loop on empty channels; we name the settings."""
    blocks = make_blocks(14, [(2, 50)])
    out = new_channel_out(
        ChannelOutConfig(1, compressor="ratio", approx_compr_ratio=10.0), rollup(), b"\x0b" * 16
    )
    with pytest.raises(ChannelOutError, match="refuses even the first block"):
        out.add_block(blocks[0])
    assert out.block_count == 0


def test_the_mainnet_like_span_batch_vector_rebatches_and_decodes_back():
    """The 143 real blocks of vectors/kona/batch.hex, re-batched into 1-blob span channels, decode
    back to the same timestamps, L1 origins and tx hashes (the vector's own chain id 10)."""
    import zlib

    raw = zlib.decompress(bytes.fromhex((require_vectors() / "kona" / "batch.hex").read_text().strip()))
    span = SpanBatch.decode(read_batch_payloads(raw)[0])
    cfg = rollup(l2_chain_id=10, genesis_l2_time=0)
    derived = span.derive_blocks(0, BLOCK_TIME, 10)
    blocks = []
    parent = b"\x01" * 32
    for i, d in enumerate(derived):
        l1_hash = keccak256(d.epoch_num.to_bytes(8, "big"))
        info = L1Info(d.epoch_num, 0, 0, l1_hash, 0, b"\x00" * 32)
        h = keccak256(parent)
        blocks.append(
            BlockInput(i + 1, h, parent, d.timestamp, BlockID(l1_hash, d.epoch_num), 0, d.transactions, info)
        )
        parent = h
    co = ChannelOutConfig(130_020, batch_type=1, compression_algo="brotli-9")
    cal = CompressionCalibration("brotli-9")
    remaining = list(blocks)
    decoded: list[tuple[int, int, tuple[bytes, ...]]] = []
    sizes: list[int] = []
    while remaining:
        out = new_channel_out(co, cfg, bytes([len(sizes) + 1]) * 16, calibration=cal)
        n, frames = drain(out, remaining, frame_size=130_043)
        check_frames(frames, out.id, 130_043)
        sizes.append(sum(len(f.data) for f in frames))
        decoded += decode_frames(frames, cfg)
        remaining = remaining[n:]
    assert decoded == expected(blocks)
    assert len(decoded) == 143 and sum(len(d[2]) for d in decoded) == 1766
    assert all(s <= 130_020 for s in sizes) and len(sizes) >= 4


@pytest.mark.parametrize("batch_type", [1, 0])
@given(
    sizes=st.lists(st.tuples(st.integers(1, 6), st.integers(50, 1500)), min_size=20, max_size=60),
    seed=st.integers(0, 2**16),
    target=st.integers(17_000, 30_000),
    noisy=st.booleans(),
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_estimated_channels_with_a_learned_tail_keep_the_target_and_decode_back(
    batch_type, sizes, seed, target, noisy
):
    """Span and singular (shadow) channels above the exact-judging size (so the estimate, the exact
    compression and the tail all run), one calibration carried from channel to channel: every
    multi-block channel stays within its target and the channels decode back to the same blocks."""
    cfg = rollup()
    blocks = make_blocks(seed, sizes, random_data=noisy)
    co = ChannelOutConfig(target, batch_type=batch_type, compression_algo="brotli-10")
    cal = CompressionCalibration("brotli-10")
    remaining = list(blocks)
    decoded = []
    serial = 0
    while remaining:
        serial += 1
        out = new_channel_out(co, cfg, serial.to_bytes(16, "big"), calibration=cal)
        n, frames = drain(out, remaining, frame_size=6_000)
        check_frames(frames, out.id, 6_000)
        if n > 1:
            assert sum(len(f.data) for f in frames) <= target
        decoded += decode_frames(frames, cfg)
        remaining = remaining[n:]
    assert decoded == expected(blocks)


def test_the_tail_guard_is_learned_from_the_tail_estimates_error():
    """Tails judged by the marginal estimate teach the calibration its error: the guard shrinks from
    the prior to near the floor (the fixed 10 % of the tail's growth it replaced left ~1 % of every
    cold blob empty), and channels still keep the target."""
    cfg = rollup()
    rng = random.Random(21)
    blocks = make_blocks(21, [(rng.randrange(2, 8), rng.randrange(50, 400)) for _ in range(500)])
    cal = CompressionCalibration("brotli-10")
    prior = cal.tail_guard(10_000)
    remaining = list(blocks)
    for serial in range(1, 5):
        out = new_channel_out(
            ChannelOutConfig(20_000, batch_type=1, compression_algo="brotli-10"),
            cfg,
            serial.to_bytes(16, "big"),
            calibration=cal,
        )
        n, frames = drain(out, remaining, frame_size=5_000)
        assert sum(len(f.data) for f in frames) <= 20_000
        remaining = remaining[n:]
    assert cal.tail_observations >= 1
    assert cal.tail_guard(10_000) < prior < 32 + 0.10 * 10_000
    assert cal.tail_guard(10_000) <= 32 + 0.03 * 10_000


def test_singular_shadow_channels_compress_once_per_channel_once_calibrated():
    """Singular channels with the shadow compressor use the span estimator: after the first channel
    calibrates it, each full channel is compressed for real once (Go streams every byte through two
    compressors), stays within its target and decodes back to singular batches."""
    cfg = rollup()
    rng = random.Random(23)
    blocks = make_blocks(23, [(rng.randrange(2, 8), rng.randrange(50, 400)) for _ in range(400)])
    co = ChannelOutConfig(20_000, batch_type=0, compressor="shadow", compression_algo="brotli-10")
    cal = CompressionCalibration("brotli-10")
    remaining = list(blocks)
    counts = []
    while len(counts) < 4:
        out = new_channel_out(co, cfg, bytes([len(counts) + 1]) * 16, calibration=cal)
        n, frames = drain(out, remaining, frame_size=5_000)
        assert out.full and 0.95 * 20_000 < sum(len(f.data) for f in frames) <= 20_000
        raw = h1_decompress(b"".join(f.data for f in frames), max_bytes=10**8, fjord=True)
        assert all(isinstance(decode_batch(p), SingularBatch) for p in read_batch_payloads(raw))
        assert decode_frames(frames, cfg) == expected(remaining[:n])
        counts.append(out.exact_compressions)  # type: ignore[attr-defined]
        remaining = remaining[n:]
    assert counts[1:] == [1, 1, 1]
