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
* real OP Mainnet blocks (``vectors/kona/batch.hex``) in 1, 2, 3 and 6-blob span channels, cold and warm:
  fill, bytes against one-shot brotli-10/11, CPU against one-shot, and that every channel decodes back.

``--fees`` runs only the fee simulator instead (:mod:`batcher.fee_sim`): fee-aware posting against
always-send on blob-fee traces, fees paid and worst safe-head lag.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import itertools
import math
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import brotli

from batcher.vectors import vectors_dir
from common.derive.blob import MAX_BLOB_DATA_SIZE
from common.derive.block_ref import BlockID
from common.derive.channel import read_batch_payloads
from common.derive.channel_out import (
    AddResult,
    ChannelOut,
    ChannelOutConfig,
    EstimatedChannelOut,
    SingularChannelOut,
    new_channel_out,
)
from common.derive.compressor import CompressionCalibration, ShadowCompressor, SizeEstimator
from common.derive.frame import FRAME_OVERHEAD, Frame
from common.derive.l1_info import L1Info
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig
from common.derive.transaction import Transaction, decode_transaction

BLOB_FRAME_SIZE = MAX_BLOB_DATA_SIZE - 1
"""130,043: a blob carries 0x00 ++ one frame."""
BLOBS_PER_CHANNEL = 6
TARGET_6_BLOBS = BLOBS_PER_CHANNEL * (BLOB_FRAME_SIZE - FRAME_OVERHEAD)
"""780,120 compressed bytes: the Go devnet/sepolia blob channel target."""
CHAIN_ID = 901
GENESIS_TIME = 1_700_000_000
BLOCK_TIME = 2
WARMUP = 2
"""Channels the span calibration needs before its steady state."""
KONA_VECTOR = vectors_dir() / "kona" / "batch.hex"

_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

# --------------------------------------------------------------------------------------------
# synthetic chain


def bench_rollup_config() -> RollupConfig:
    """A Fjord-active rollup config (brotli allowed, 100 MB RLP limit)."""
    return RollupConfig(
        genesis_l1=BlockID(b"\x11" * 32, 0),
        genesis_l2=BlockID(b"\x22" * 32, 0),
        genesis_l2_time=GENESIS_TIME,
        system_config=GenesisSystemConfig(batcher_addr=b"\x33" * 20),
        block_time=BLOCK_TIME,
        max_sequencer_drift=1800,
        seq_window_size=3600,
        channel_timeout=300,
        l1_chain_id=900,
        l2_chain_id=CHAIN_ID,
        batch_inbox_address=b"\xff" * 20,
        fork_times={f: 0 for f in ("regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene")},
    )


def _checksum(addr: bytes) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(addr))


class TxFactory:
    """Signs a small pool of template txs once, then mints unique variants cheaply."""

    KINDS = ("transfer", "erc20", "call", "create")
    WEIGHTS = (0.30, 0.32, 0.36, 0.02)

    def __init__(self, *, templates_per_kind: int = 12, seed: int = 1) -> None:
        from eth_account import Account

        rng = random.Random(seed)
        self.rng = rng
        self.tokens = [rng.randbytes(20) for _ in range(12)]
        self.contracts = [rng.randbytes(20) for _ in range(30)]
        self.users = [rng.randbytes(20) for _ in range(400)]
        self.selectors = [rng.randbytes(4) for _ in range(25)]
        keys = [bytes([i + 1]) * 32 for i in range(8)]
        self.templates: dict[str, list[Transaction]] = {k: [] for k in self.KINDS}
        for kind in self.KINDS:
            for i in range(templates_per_kind):
                tx = self._template_dict(kind, i)
                signed = Account.sign_transaction(tx, keys[i % len(keys)])
                self.templates[kind].append(decode_transaction(bytes(signed.raw_transaction)))
        self.nonces = [0] * 5000

    def _template_dict(self, kind: str, i: int) -> dict[str, object]:
        rng = self.rng
        style = i % 6  # 0: legacy, 1: access list, else: EIP-1559
        base: dict[str, object] = {"chainId": CHAIN_ID, "nonce": i, "gas": 21_000, "value": 0}
        if style in (0, 1):
            base["gasPrice"] = 1_000_000_000 + rng.randrange(10**8)
        else:
            base["maxFeePerGas"] = 2_000_000_000 + rng.randrange(10**9)
            base["maxPriorityFeePerGas"] = 1_000_000 + rng.randrange(10**6)
        if style == 1:
            base["accessList"] = [
                {"address": _checksum(rng.choice(self.contracts)), "storageKeys": ["0x" + "00" * 31 + "01"]}
            ]
        if kind == "transfer":
            base.update(to=_checksum(rng.choice(self.users)), value=rng.randrange(10**18))
        elif kind == "erc20":
            base.update(to=_checksum(rng.choice(self.tokens)), gas=65_000, data=self.erc20_calldata())
        elif kind == "call":
            base.update(to=_checksum(rng.choice(self.contracts)), gas=250_000, data=self.call_calldata())
        else:
            base.update(gas=1_500_000, data=self.creation_code())
        return base

    def erc20_calldata(self) -> bytes:
        rng = self.rng
        amount = rng.randrange(10 ** rng.randrange(4, 22))
        return bytes.fromhex("a9059cbb") + b"\x00" * 12 + rng.choice(self.users) + amount.to_bytes(32, "big")

    def call_calldata(self) -> bytes:
        """ABI-shaped calldata: a known selector and 32-byte words of addresses, amounts, hashes."""
        rng = self.rng
        words = [rng.choice(self.selectors)]
        for _ in range(rng.choice((2, 3, 4, 6, 8, 10, 14, 20, 30))):
            r = rng.random()
            if r < 0.35:
                words.append(b"\x00" * 12 + rng.choice(self.users + self.tokens + self.contracts))
            elif r < 0.65:
                words.append(rng.randrange(10 ** rng.randrange(1, 24)).to_bytes(32, "big"))
            elif r < 0.85:
                words.append(rng.randbytes(32))
            else:
                words.append(rng.randrange(0, 64).to_bytes(32, "big"))
        return b"".join(words)

    def creation_code(self) -> bytes:
        rng = self.rng
        body = bytearray(bytes.fromhex("6080604052348015600f57600080fd5b50"))
        while len(body) < rng.randrange(1500, 6000):
            op = rng.random()
            if op < 0.5:
                body += bytes([0x60 + rng.randrange(4)]) + rng.randbytes(1 + rng.randrange(3))
            elif op < 0.6:
                body += b"\x73" + rng.choice(self.contracts)
            elif op < 0.7:
                body += b"\x63" + rng.choice(self.selectors)
            else:
                body += bytes(rng.choice((0x52, 0x51, 0x56, 0x57, 0x5B, 0x80, 0x81, 0x90, 0x91, 0x01, 0x03)))
        return bytes(body)

    def mint(self) -> bytes:
        """A fresh, unique tx from a random template."""
        rng = self.rng
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        tpl = rng.choice(self.templates[kind])
        sender = rng.randrange(len(self.nonces))
        self.nonces[sender] += 1
        changes: dict[str, object] = {
            "nonce": self.nonces[sender],
            "r": rng.randrange(1, 1 << 256),
            "s": rng.randrange(1, _SECP256K1_HALF_N),
            "y_parity": rng.randrange(2),
        }
        if kind == "transfer":
            changes.update(to=rng.choice(self.users), value=rng.randrange(10 ** rng.randrange(14, 19)))
        elif kind == "erc20":
            changes["data"] = self.erc20_calldata()
        elif kind == "call":
            changes.update(data=self.call_calldata(), to=rng.choice(self.contracts))
        return dataclasses.replace(tpl, **changes).encode()  # type: ignore[arg-type]


def synthetic_blocks(
    factory: TxFactory, count: int, *, txs_per_block: tuple[int, int] = (5, 25), start: int = 1
) -> list[BlockInput]:
    """``count`` consecutive L2 blocks (2 s apart, a new L1 origin every 6 blocks)."""
    rng = factory.rng
    blocks = []
    parent = b"\x22" * 32
    for number in range(start, start + count):
        l1_num = 100 + number // 6
        l1_hash = l1_num.to_bytes(8, "big") * 4
        info = L1Info(
            l1_num, GENESIS_TIME + 12 * l1_num, 10**9, l1_hash, number % 6, b"\x00" * 12 + b"\x33" * 20
        )
        txs = tuple(factory.mint() for _ in range(rng.randint(*txs_per_block)))
        block_hash = rng.randbytes(32)
        blocks.append(
            BlockInput(
                number,
                block_hash,
                parent,
                GENESIS_TIME + BLOCK_TIME * number,
                BlockID(l1_hash, l1_num),
                number % 6,
                txs,
                info,
            )
        )
        parent = block_hash
    return blocks


# --------------------------------------------------------------------------------------------
# driving channel outs like the channel manager does


@dataclass
class ChannelRun:
    """One channel built from a block backlog."""

    blocks: int
    input_bytes: int
    frames: list[Frame]
    full: bool
    out: ChannelOut

    @property
    def output_bytes(self) -> int:
        return sum(len(f.data) for f in self.frames)

    def channel_bytes(self) -> bytes:
        return b"".join(f.data for f in self.frames)


def drain(
    cfg: ChannelOutConfig,
    rollup: RollupConfig,
    blocks: Sequence[BlockInput],
    *,
    max_frame_size: int = BLOB_FRAME_SIZE,
    calibration: CompressionCalibration | None = None,
    on_channel: Callable[[ChannelRun], None] | None = None,
) -> list[ChannelRun]:
    """Put every block into consecutive channels; a rejected block opens the next channel."""
    runs = []
    i = 0
    serial = 0
    while i < len(blocks):
        serial += 1
        out = new_channel_out(cfg, rollup, serial.to_bytes(16, "big"), calibration=calibration)
        frames: list[Frame] = []
        while i < len(blocks):
            if out.add_block(blocks[i]) is AddResult.REJECTED_FULL:
                break
            i += 1
            while (f := out.output_frame(max_frame_size)) is not None:
                frames.append(f)
            if out.full_reason is not None:
                break
        full = out.full_reason is not None
        out.close()
        while (f := out.output_frame(max_frame_size)) is not None:
            frames.append(f)
        run = ChannelRun(out.block_count, out.input_bytes, frames, full, out)
        runs.append(run)
        if on_channel is not None:
            on_channel(run)
    return runs


def _cpu() -> float:
    return time.process_time()


# --------------------------------------------------------------------------------------------
# measurements


@dataclass
class Row:
    section: str
    name: str
    value: str
    note: str = ""


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
        t0 = _cpu()
        runs = drain(cfg, rollup, subset, calibration=CompressionCalibration(algo))
        dt = max(_cpu() - t0, 1e-9)
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


ADD_COST_STEP = 100
"""Blocks per measured slice of a growing channel (the target's "+100 blocks")."""
ADD_COST_STEPS = 7
"""Slices measured: channel sizes 0-100 .. 600-700 blocks."""
ADD_COST_SETS = {1: 4, 0: 3}
"""Block sets measured per batch type in the full run (singular costs ~6 s of brotli-10 per set)."""
ADD_COST_ROUNDS = {1: 3, 0: 1}
"""Channels built per block set: span channels cost ~0.3 s each, and 12 samples per slice instead of
4 steady its ratio from 0.82-1.16 to 1.01-1.06 over repeated runs here."""


def add_cost_block_sets(
    backlog: Sequence[BlockInput], factory: TxFactory, quick: bool
) -> list[list[BlockInput]]:
    """Disjoint 700-block runs: windows of the realistic backlog, or small blocks for ``--quick``."""
    n = ADD_COST_STEP * ADD_COST_STEPS
    if quick:
        backlog = synthetic_blocks(factory, 2 * n, txs_per_block=(1, 1), start=10_000)
    return [list(backlog[i * n : (i + 1) * n]) for i in range(len(backlog) // n)]


def _settle(out: ChannelOut) -> None:
    """Sync-flush every compressor stream of ``out``, so the work a stream defers is done now.

    brotli compresses its input in blocks of up to 256 KiB and entropy-codes a meta-block only
    every ~1 MiB of literals, or at a flush: without this the work for a slice's bytes lands in
    whichever later slice (or close) crosses such a boundary. The span channel out flushes its
    estimator itself whenever the channel nears its target. (The channel outs keep these streams
    private: only a measurement needs to flush them.)
    """
    if isinstance(out, EstimatedChannelOut):
        out._estimator.size()
    elif isinstance(out, SingularChannelOut):
        comp = out._comp
        comp.flush()
        if isinstance(comp, ShadowCompressor):
            comp._shadow.flush()


def _slice_costs(
    cfg: ChannelOutConfig, rollup: RollupConfig, blocks: Sequence[BlockInput]
) -> tuple[list[float], list[int], ChannelOut]:
    """CPU seconds and block-data bytes of each slice of ``blocks`` added to one new channel."""
    gc.collect()
    out = new_channel_out(cfg, rollup, b"\x01" * 16, calibration=CompressionCalibration(cfg.compression_algo))
    cpu, size = [], []
    for step in range(ADD_COST_STEPS):
        part = blocks[step * ADD_COST_STEP : (step + 1) * ADD_COST_STEP]
        t0 = _cpu()
        for b in part:
            out.add_block(b)
        _settle(out)
        cpu.append(_cpu() - t0)
        size.append(sum(len(tx) for b in part for tx in b.transactions))
    return cpu, size, out


def line_ratio(per_step: Sequence[Sequence[float]]) -> float:
    """Last step / first step of a Theil-Sen line through every (step, value) point: the median of
    the pairwise slopes, then the median intercept; a few outlying slices barely move it."""
    points = [(step, v) for step, values in enumerate(per_step) for v in values]
    slopes = [(y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in itertools.combinations(points, 2) if x2 != x1]
    slope = statistics.median(slopes)
    intercept = statistics.median(y - slope * x for x, y in points)
    if intercept <= 0:
        return math.inf
    return (intercept + slope * (len(per_step) - 1)) / intercept


def bench_add_cost(block_sets: Sequence[Sequence[BlockInput]], rollup: RollupConfig) -> list[Row]:
    """CPU of each +100 blocks while a brotli-10 channel grows to 700 blocks (performance.md target:
    cost at 600-700 / cost at 0-100 <= 1.2; Go's span channel out, re-encoding and recompressing the
    whole channel per block, 5.4).

    How, and why so:

    * Realistic blocks (5-25 txs, ~4.5 KB; 100 blocks ~0.45 MB, 700 ~3 MB): with 1-3 txs per block
      a whole channel fits in brotli's first input blocks and the slices measure buffering, not cost.
    * Each slice ends with a sync flush of every compressor stream of the channel (``_settle``),
      timed with the slice: brotli defers work (input blocks of up to 256 KiB, a meta-block per
      ~1 MiB of literals), so unflushed slices swing 4x and the deferred rest lands in one late slice or in
      close. Settled, slice k costs T(100(k+1)) - T(100k) of a channel whose streams are flushed
      every 100 blocks, at one channel per block set instead of seven. The flushes add ~13 % to
      singular channels, evenly per slice, so not to the ratio; the span channel out flushes its
      estimator itself once near its target (first at ~0.8 MB raw for 6 blobs, so the estimator's
      meta-block at ~2.7 MB of input that unflushed slice 600-700 shows never builds up there).
    * CPU per MB of block data (tx bytes) added, not per slice: slices of 100 random blocks differ
      by ±10 % in bytes, and compression cost follows bytes.
    * The median over channels of disjoint block sets (700-block windows of the backlog; span
      channels, being cheap, three rounds over them), not the minimum over repeats of one set: CPU
      time on a shared 2-core VM swings ±20 % per slice and whole channels by ±30 %, and one set's
      quirks repeat in every repeat. The ratio row also gives a Theil-Sen line through every slice
      of every channel, read at the two slices.
    * The span channel's one exact compression (at close here; the 50 MB target is never reached)
      is reported on its own: it runs once per channel, never per block, and is one-shot brotli-10.
    * Singular channels formerly (Go's design: every byte through two streamed brotli-10 compressors) grew
      ~1.3x: brotli-10's match search costs more per byte as its history grows (up to the 4 MiB
      window). Measured on the same slices: one stream x1.36 at 600-700, a fresh compressor per
      slice x0.98. That is the compressor, not the channel out.
    """
    rows = []
    target = 50_000_000  # never reached: no exact compression while the channel grows
    for batch_type in (1, 0):
        kind = "span" if batch_type == 1 else "singular"
        cfg = ChannelOutConfig(
            target, batch_type=batch_type, compressor="shadow", compression_algo="brotli-10"
        )
        sets = list(block_sets[: ADD_COST_SETS[batch_type]])
        per_mb: list[list[float]] = [[] for _ in range(ADD_COST_STEPS)]
        per_slice: list[list[float]] = [[] for _ in range(ADD_COST_STEPS)]
        close = 0.0
        closed_mb = 0.0
        for i, blocks in enumerate(sets * ADD_COST_ROUNDS[batch_type]):
            cpu, size, out = _slice_costs(cfg, rollup, blocks)
            for step in range(ADD_COST_STEPS):
                per_mb[step].append(cpu[step] / size[step] * 1e6)
                per_slice[step].append(cpu[step])
            if i == 0:
                t0 = _cpu()
                out.close()
                close = _cpu() - t0
                closed_mb = sum(size) / 1e6
        med = [statistics.median(v) for v in per_mb]
        for step in range(ADD_COST_STEPS):
            rows.append(
                Row(
                    "add-cost",
                    f"{kind:8} brotli-10 blocks {step * ADD_COST_STEP}-{(step + 1) * ADD_COST_STEP}",
                    f"{med[step] * 1000:7.1f} ms/MB",
                    f"x{med[step] / med[0]:.2f} of 0-100; {statistics.median(per_slice[step]) * 1000:.1f} ms "
                    f"per {ADD_COST_STEP} blocks",
                )
            )
        last = ADD_COST_STEPS - 1
        rows.append(
            Row(
                "add-cost",
                f"{kind:8} brotli-10 {last * ADD_COST_STEP}-{ADD_COST_STEPS * ADD_COST_STEP} / 0-100",
                f"x{med[last] / med[0]:.2f}",
                f"of the medians over {len(per_mb[0])} channels of {len(sets)} block sets; "
                f"Theil-Sen line x{line_ratio(per_mb):.2f}; target <= 1.2 (Go span: 5.4)",
            )
        )
        if batch_type == 1:
            rows.append(_span_exact_compression_row(cfg, rollup, sets[0], close, closed_mb))
        else:
            rows.append(
                Row(
                    "add-cost",
                    f"{kind:8} brotli-10 close after {ADD_COST_STEP * ADD_COST_STEPS} blocks",
                    f"{close * 1000:7.1f} ms",
                    "the one exact compression (shadow compressor: the span estimator)",
                )
            )
    return rows


def _span_exact_compression_row(
    cfg: ChannelOutConfig, rollup: RollupConfig, blocks: Sequence[BlockInput], close: float, close_mb: float
) -> Row:
    """The span channel's one exact compression (its close here), per MB after 700 and after 100 blocks."""
    out = new_channel_out(cfg, rollup, b"\x02" * 16, calibration=CompressionCalibration(cfg.compression_algo))
    part = blocks[:ADD_COST_STEP]
    for b in part:
        out.add_block(b)
    mb = sum(len(tx) for b in part for tx in b.transactions) / 1e6
    t0 = _cpu()
    out.close()
    small = _cpu() - t0
    n = ADD_COST_STEP * ADD_COST_STEPS
    return Row(
        "add-cost",
        f"span     brotli-10 close after {n} blocks",
        f"{close * 1000:7.1f} ms",
        f"the one exact compression (one-shot brotli-10, once per channel): "
        f"{close / close_mb * 1000:.0f} ms/MB; after {ADD_COST_STEP} blocks {small / mb * 1000:.0f} ms/MB",
    )


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
        ends = [_cpu()]

        def mark(_run: ChannelRun, ends: list[float] = ends) -> None:
            ends.append(_cpu())

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
            t0 = _cpu()
            oneshot.append(len(brotli.compress(content, quality=10)) + 1)
            ref_cpu.append(_cpu() - t0)
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

    t0 = _cpu()
    builder = SpanBatchBuilder(GENESIS_TIME, CHAIN_ID)
    for b in blocks:
        builder.append(b)
    build = _cpu() - t0
    t0 = _cpu()
    shadow = SizeEstimator("brotli-10")
    for b in blocks:
        shadow.add(b"".join(b.transactions))
    shadow.size()
    est = _cpu() - t0
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
        "from batcher.bench import TxFactory, synthetic_blocks, bench_rollup_config, drain, TARGET_6_BLOBS\n"
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


def kona_blocks() -> list[BlockInput]:
    """The 143 real OP Mainnet blocks of ``vectors/kona/batch.hex``, decoded with our decoder
    (chain id 10, genesis time 0); empty if the vector is missing."""
    if not KONA_VECTOR.exists():
        return []
    from common.derive.channel import decompress_channel
    from common.derive.span_batch import SpanBatch

    raw = decompress_channel(bytes.fromhex(KONA_VECTOR.read_text().strip()), max_bytes=10**8, fjord=True)
    derived = SpanBatch.decode(read_batch_payloads(raw)[0]).derive_blocks(0, 2, 10)
    blocks = []
    parent = b"\x01" * 32
    for i, b in enumerate(derived):
        h = (i + 7).to_bytes(32, "big")
        l1_hash = b.epoch_num.to_bytes(32, "big")
        info = L1Info(b.epoch_num, 0, 0, l1_hash, 0, b"\x00" * 32)
        blocks.append(
            BlockInput(i + 1, h, parent, b.timestamp, BlockID(l1_hash, b.epoch_num), 0, b.transactions, info)
        )
        parent = h
    return blocks


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


def bench_real_blocks(rollup: RollupConfig, quick: bool) -> list[Row]:
    """Fill, bytes and CPU of span channels built from real blocks, at 1, 2, 3 and 6-blob targets.

    Cold: a fresh calibration (a restart). Warm: the calibration of a first pass over the same
    blocks. Each is measured with the learned tail guard and with the fixed one it replaced, side by
    side; fill counts every blob of every full channel (a channel can only end on a block boundary,
    so up to one compressed block per channel stays empty whatever the estimate).
    """
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
    for n_blobs in (1, 2) if quick else REAL_TARGET_BLOBS:
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
    t0 = _cpu()
    runs = drain(cfg, rollup, blocks, calibration=cal)
    ours = _cpu() - t0
    contents = [_decompressed(r) for r in runs]
    t0 = _cpu()
    b10 = sum(len(brotli.compress(c, quality=10)) + 1 for c in contents)
    ref = _cpu() - t0
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


def run(quick: bool) -> list[Row]:
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
    rows += bench_real_blocks(rollup, quick)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="op-batcher bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 20 s), for tests")
    parser.add_argument(
        "--fees", action="store_true", help="only the fee simulator: fee-aware posting vs always-send"
    )
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    if args.fees:  # batcher/fee_sim.py
        from batcher.fee_sim import format_fee_table, run_fee_bench

        print(format_fee_table(run_fee_bench(args.quick)))
        print(f"(fee bench took {time.monotonic() - t0:.1f} s)")
        return 0
    rows = run(args.quick)
    print(format_table(rows))
    print(
        f"(bench took {time.monotonic() - t0:.1f} s; peak RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    return 0
