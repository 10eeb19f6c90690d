"""``op-batcher bench``: channel building throughput, scaling, size, blob fill and memory.

Synthetic but realistic L2 blocks: a pool of transactions of the common kinds (ETH transfers,
ERC-20 ``transfer`` calls, contract calls with ABI calldata, a few creations; types 0, 1 and 2) is
signed once with eth_account; every block tx is a pool template with a fresh nonce, value,
recipient/amount and a fresh random signature (r, s), so no two txs repeat byte for byte — as on
a real chain, where repeats would flatter the compression ratio. Signing every tx would take
minutes; the random signature has the same entropy as a real one.

Reported (``--quick`` shrinks every size so the whole run stays well under 20 s):

* throughput of each algorithm x compressor x batch type (MB/s of raw RLP batch bytes),
* CPU per MB of adding 100 blocks at channel sizes 0..700 blocks (span and singular channel outs;
  median over block sets, compressor streams flushed at the end of each slice),
* compressed size and CPU of full channels relative to one-shot brotli-10 of the same content,
* blob fill of full 6-blob channels (130,043-byte frames),
* peak RSS of a child process draining a 1000-block backlog,
* real OP Mainnet blocks (``vectors/kona/batch.hex``) through the real channel manager in 1, 2, 3 and
  6-blob span channels, cold and warm, alone, with blob sharing and with adaptive compression quality
  (``--long``: both together, and the fixed tail guard): fill of every full blob, bytes against one-shot
  brotli-10/11, CPU against one-shot at each channel's quality, the safe-head lag sharing adds, and that
  every blob, read back by the Holocene assembler, decodes to the same blocks (``batcher/bench/fill.py``).

``--fees`` runs only the fee simulator instead (:mod:`batcher.bench.fees`): fee-aware posting against
always-send on blob-fee traces, fees paid and worst safe-head lag.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import brotli

from batcher.bench.add_cost import add_cost_block_sets, bench_add_cost
from batcher.bench.drive import (
    BLOB_FRAME_SIZE,
    BLOBS_PER_CHANNEL,
    TARGET_6_BLOBS,
    WARMUP,
    ChannelRun,
    Row,
    cpu_seconds,
    drain,
)
from batcher.bench.workload import (
    BLOCK_TIME,
    CHAIN_ID,
    GENESIS_TIME,
    KONA_VECTOR,
    TxFactory,
    bench_rollup_config,
    kona_blocks,
    synthetic_blocks,
)
from common.derive.blob import MAX_BLOB_DATA_SIZE
from common.derive.channel import read_batch_payloads
from common.derive.channel_out import (
    ChannelOutConfig,
)
from common.derive.compressor import CompressionCalibration, SizeEstimator
from common.derive.frame import FRAME_OVERHEAD
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig


def bench_throughput(blocks: Sequence[BlockInput], rollup: RollupConfig, quick: bool) -> list[Row]:
    rows = []
    algos = ("zlib", "brotli-10") if quick else ("zlib", "brotli-9", "brotli-10", "brotli-11")
    combos: list[tuple[int, str, str]] = []
    for algo in algos:
        for comp in ("shadow", "ratio", "none"):
            combos.append((0, comp, algo))
        combos.append((1, "-", algo))
    for batch_type, comp, algo in combos:
        subset = blocks if algo != "brotli-11" else blocks[: len(blocks) // 3]
        cfg = ChannelOutConfig(
            TARGET_6_BLOBS,
            batch_type=batch_type,
            compressor=comp if batch_type == 0 else "shadow",
            compression_algo=algo,
            approx_compr_ratio=0.4,
        )
        t0 = cpu_seconds()
        runs = drain(cfg, rollup, subset, calibration=CompressionCalibration(algo))
        dt = max(cpu_seconds() - t0, 1e-9)
        raw = sum(r.input_bytes for r in runs)
        out = sum(r.output_bytes for r in runs)
        kind = "singular" if batch_type == 0 else "span"
        rows.append(
            Row(
                "throughput",
                f"{kind:8} {comp:6} {algo:9}",
                f"{raw / dt / 1e6:7.2f} MB/s",
                f"ratio {out / raw:.3f}, {len(runs)} channels",
            )
        )
    return rows


def bench_full_channels(blocks: Sequence[BlockInput], rollup: RollupConfig, quick: bool) -> list[Row]:
    """Full span and singular blob channels vs one-shot brotli-10 of the same content.

    The span channel out learns its size calibration from the exact sizes of earlier channels;
    the first ``WARMUP`` channels are reported separately from the steady state.
    """
    rows = []
    n_blobs = 1 if quick else BLOBS_PER_CHANNEL
    target = n_blobs * (BLOB_FRAME_SIZE - FRAME_OVERHEAD)
    for batch_type, comp in ((1, "shadow"), (0, "shadow")):
        cfg = ChannelOutConfig(target, batch_type=batch_type, compressor=comp, compression_algo="brotli-10")
        cal = CompressionCalibration("brotli-10")
        ends = [cpu_seconds()]

        def mark(_run: ChannelRun, ends: list[float] = ends) -> None:
            ends.append(cpu_seconds())

        runs = drain(cfg, rollup, blocks, calibration=cal, on_channel=mark)
        cpu = [b - a for a, b in itertools.pairwise(ends)]
        kind = f"{'span' if batch_type == 1 else 'singular'} {n_blobs}-blob"
        full = [i for i, r in enumerate(runs) if r.full]
        if not full:
            rows.append(Row("full-channels", f"{kind} brotli-10", "no full channel", "backlog too small"))
            continue
        ref_cpu = []
        oneshot = []
        for r in runs:
            content = _decompressed(r)
            t0 = cpu_seconds()
            oneshot.append(len(brotli.compress(content, quality=10)) + 1)
            ref_cpu.append(cpu_seconds() - t0)
        warm = [i for i in full if i >= WARMUP] or full
        for label, idx in (("all full channels", full), (f"after {WARMUP} warm-up channels", warm)):
            if label != "all full channels" and (batch_type == 0 or warm == full):
                continue
            size_ratio = sum(runs[i].output_bytes for i in idx) / sum(oneshot[i] for i in idx)
            cpu_ratio = sum(cpu[i] for i in idx) / sum(ref_cpu[i] for i in idx)
            blobs = sum(len(runs[i].frames) for i in idx)
            fill = sum(f.size + 1 for i in idx for f in runs[i].frames) / (blobs * MAX_BLOB_DATA_SIZE)
            over = sum(1 for i in idx if runs[i].output_bytes > target and runs[i].blocks > 1)
            comps = [getattr(runs[i].out, "exact_compressions", 0) for i in idx]
            rows += [
                Row(
                    "full-channels",
                    f"{kind} size / one-shot brotli-10, {label}",
                    f"{size_ratio:.4f}",
                    f"{len(idx)} channels",
                ),
                Row(
                    "full-channels",
                    f"{kind} CPU / one-shot brotli-10 CPU, {label}",
                    f"{cpu_ratio:.3f}",
                    f"{sum(cpu[i] for i in idx):.2f} s vs {sum(ref_cpu[i] for i in idx):.2f} s"
                    + (f", exact compressions per channel {comps}" if batch_type == 1 else ""),
                ),
                Row(
                    "full-channels",
                    f"{kind} blob fill, {label}",
                    f"{fill * 100:.2f} %",
                    f"{blobs} blobs, channels over target: {over}",
                ),
            ]
        if batch_type == 1:
            rows.append(_span_cpu_breakdown(blocks, sum(ref_cpu)))
    return rows


def _span_cpu_breakdown(blocks: Sequence[BlockInput], ref_cpu: float) -> Row:
    """Where span CPU goes besides the one exact compression: the builder and the shadow."""
    from common.derive.span_batch_builder import SpanBatchBuilder

    t0 = cpu_seconds()
    builder = SpanBatchBuilder(GENESIS_TIME, CHAIN_ID)
    for b in blocks:
        builder.append(b)
    build = cpu_seconds() - t0
    t0 = cpu_seconds()
    shadow = SizeEstimator("brotli-10")
    for b in blocks:
        shadow.add(b"".join(b.transactions))
    shadow.size()
    est = cpu_seconds() - t0
    return Row(
        "full-channels",
        "span CPU besides the exact compression",
        f"x{(build + est) / ref_cpu:.3f}",
        f"span batch builder x{build / ref_cpu:.3f}, brotli-5 shadow x{est / ref_cpu:.3f}",
    )


def _decompressed(run: ChannelRun) -> bytes:
    from common.derive.channel import decompress_channel

    return decompress_channel(run.channel_bytes(), max_bytes=100_000_000, fjord=True)


def bench_rss(quick: bool) -> list[Row]:
    """Peak RSS of a fresh process that builds a 1000-block backlog and drains it (span, then singular)."""
    n = 100 if quick else 1000
    code = (
        "import resource\n"
        "from batcher.bench.drive import drain, TARGET_6_BLOBS\n"
        "from batcher.bench.workload import TxFactory, synthetic_blocks, bench_rollup_config\n"
        "from common.derive.channel_out import ChannelOutConfig\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key + ':'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "    return 0\n"
        "def reset_peak():\n"
        "    try:\n"
        "        with open('/proc/self/clear_refs', 'w') as f:\n"
        "            f.write('5')\n"
        "    except OSError:\n"
        "        pass\n"
        "f = TxFactory(templates_per_kind=4)\n"
        f"blocks = synthetic_blocks(f, {n})\n"
        "out = [status('VmRSS'), status('VmHWM')]\n"
        "for bt in (1, 0):\n"
        "    reset_peak()\n"
        "    cfg = ChannelOutConfig(TARGET_6_BLOBS, batch_type=bt, compression_algo='brotli-10')\n"
        "    drain(cfg, bench_rollup_config(), blocks)\n"
        "    out.append(status('VmHWM'))\n"
        "print(*out)\n"
    )
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    now, peak0, peak_span, peak_singular = (int(x) / 2**20 for x in res.stdout.split())
    return [
        Row(
            "memory",
            f"RSS holding a {n}-block backlog",
            f"{now:.1f} MB",
            f"interpreter + libraries + blocks (peak so far {peak0:.1f} MB)",
        ),
        Row("memory", "peak RSS draining it, span brotli-10", f"{peak_span:.1f} MB", "6-blob channels"),
        Row(
            "memory",
            "peak RSS draining it, singular shadow brotli-10",
            f"{peak_singular:.1f} MB",
            "shadow compressor: the span estimator, one exact compression",
        ),
    ]


class FixedTailGuard(CompressionCalibration):
    """The tail guard before it was learned: 32 B + 10 % of the tail's estimated growth, always."""

    def __init__(self, algo: str) -> None:
        super().__init__(algo)
        self.tail_rel_var = (0.10 / 3) ** 2

    def observe_tail(self, real_size: int, predicted_size: float, growth: float) -> None:
        return None


REAL_TARGET_BLOBS = (1, 2, 3, 6)


def _decodes_back(runs: Sequence[ChannelRun], blocks: Sequence[BlockInput], chain_id: int) -> bool:
    """Every channel, decoded with our decoder, gives back the blocks' timestamps, origins and txs."""
    from common.derive.span_batch import SpanBatch

    got = []
    for r in runs:
        for payload in read_batch_payloads(_decompressed(r)):
            for d in SpanBatch.decode(payload).derive_blocks(0, BLOCK_TIME, chain_id):
                got.append((d.timestamp, d.epoch_num, tuple(d.transactions)))
    return got == [(b.timestamp, b.l1_origin.number, tuple(b.transactions)) for b in blocks]


def bench_real_blocks(rollup: RollupConfig, quick: bool, long: bool = False) -> list[Row]:
    """Fill, bytes and CPU of span channels built from real blocks, at 1, 2, 3 and 6-blob targets.

    The real channel manager, alone (the learned tail guard), with blob sharing and with adaptive
    compression quality (``batcher/bench/fill.py``), cold and warm. ``long`` adds both together, and
    the channel outs alone with the learned tail guard against the fixed one it replaced. Cold: a fresh
    calibration (a restart). Warm: the calibration of a first pass over the same blocks.
    """
    from batcher.bench import fill as bench_fill

    blocks = kona_blocks()
    if not blocks:
        return [Row("real-blocks", "vectors/kona/batch.hex", "missing", str(KONA_VECTOR))]
    cfg_rollup = dataclasses.replace(rollup, l2_chain_id=10, genesis_l2_time=0)
    raw = sum(len(tx) for b in blocks for tx in b.transactions)
    rows = [
        Row(
            "real-blocks",
            "OP Mainnet blocks (kona batch.hex)",
            f"{len(blocks)}",
            f"{raw / 1e6:.2f} MB of txs",
        )
    ]
    targets = (1,) if quick else REAL_TARGET_BLOBS
    modes = ("plain", "sharing") if quick else bench_fill.MODES if long else bench_fill.DEFAULT_MODES
    for name, value, note in bench_fill.fill_rows("manager", blocks, cfg_rollup, targets, modes):
        rows.append(Row("real-blocks", name, value, note))
    if not long:
        return rows
    for n_blobs in REAL_TARGET_BLOBS:
        target = n_blobs * (BLOB_FRAME_SIZE - FRAME_OVERHEAD)
        cfg = ChannelOutConfig(target, batch_type=1, compression_algo="brotli-10")
        for guard, cal_type in (("learned", CompressionCalibration), ("fixed", FixedTailGuard)):
            cal = cal_type("brotli-10")
            for phase in ("cold", "warm"):
                rows.append(_real_row(cfg, cfg_rollup, blocks, cal, f"{n_blobs}-blob {phase} {guard:7}"))
    return rows


def _real_row(
    cfg: ChannelOutConfig,
    rollup: RollupConfig,
    blocks: Sequence[BlockInput],
    cal: CompressionCalibration,
    name: str,
) -> Row:
    t0 = cpu_seconds()
    runs = drain(cfg, rollup, blocks, calibration=cal)
    ours = cpu_seconds() - t0
    contents = [_decompressed(r) for r in runs]
    t0 = cpu_seconds()
    b10 = sum(len(brotli.compress(c, quality=10)) + 1 for c in contents)
    ref = cpu_seconds() - t0
    b11 = sum(_brotli11_len(c) for c in contents)
    out = sum(r.output_bytes for r in runs)
    comps = [getattr(r.out, "exact_compressions", 0) for r in runs]
    full = [r for r in runs if r.full]
    fills = [sum(f.size + 1 for f in r.frames) / (len(r.frames) * MAX_BLOB_DATA_SIZE) for r in full]
    fill = (
        f"fill {min(fills) * 100:.2f}-{max(fills) * 100:.2f} % (mean {statistics.mean(fills) * 100:.2f})"
        if fills
        else "no full channel"
    )
    ok = "decodes back" if _decodes_back(runs, blocks, rollup.l2_chain_id) else "DECODE MISMATCH"
    return Row(
        "real-blocks",
        name,
        fill,
        f"{len(full)}/{len(runs)} full; bytes x{out / b10:.4f} of one-shot brotli-10, x{out / b11:.4f} of "
        f"brotli-11; CPU x{ours / ref:.2f} of one-shot, exact compressions {comps}; {ok}",
    )


@functools.cache
def _brotli11_len(content: bytes) -> int:
    """One-shot brotli-11 channel size (cached: most variants cut the same channels)."""
    return len(brotli.compress(content, quality=11)) + 1


def format_table(rows: Sequence[Row]) -> str:
    w_name = max(len(r.name) for r in rows)
    w_val = max(len(r.value) for r in rows)
    lines = []
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            lines.append(f"== {section}")
        lines.append(f"  {r.name:<{w_name}}  {r.value:>{w_val}}  {r.note}")
    return "\n".join(lines)


def run(quick: bool, long: bool = False) -> list[Row]:
    rollup = bench_rollup_config()
    factory = TxFactory(templates_per_kind=4 if quick else 12)
    n_blocks = 120 if quick else 3000
    blocks = synthetic_blocks(factory, n_blocks)
    raw = sum(b.raw_size_estimate for b in blocks)
    rows = [
        Row(
            "data",
            "synthetic blocks",
            f"{n_blocks}",
            f"{raw / 1e6:.2f} MB raw, {sum(len(b.transactions) for b in blocks)} txs",
        )
    ]
    rows += bench_throughput(blocks[:30] if quick else blocks[:600], rollup, quick)
    rows += bench_add_cost(add_cost_block_sets(blocks, factory, quick), rollup)
    rows += bench_full_channels(blocks, rollup, quick)
    rows += bench_rss(quick)
    rows += bench_real_blocks(rollup, quick, long)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="op-batcher bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 20 s), for tests")
    parser.add_argument(
        "--fees", action="store_true", help="only the fee simulator: fee-aware posting vs always-send"
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="also sharing+adaptive together, and the channel outs alone with the fixed tail guard",
    )
    parser.add_argument(
        "--only-real", action="store_true", help="only the real-block section (fill, sharing, quality)"
    )
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    if args.fees:  # batcher/bench/fees.py
        from batcher.bench.fees import format_fee_table, run_fee_bench

        print(format_fee_table(run_fee_bench(args.quick)))
        print(f"(fee bench took {time.monotonic() - t0:.1f} s)")
        return 0
    if args.only_real:
        rows = bench_real_blocks(bench_rollup_config(), args.quick, args.long)
    else:
        rows = run(args.quick, args.long)
    print(format_table(rows))
    print(
        f"(bench took {time.monotonic() - t0:.1f} s; peak RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    return 0
