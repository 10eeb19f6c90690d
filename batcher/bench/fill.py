"""``op-batcher bench``, real-block fill section: the channel manager on real blocks, with and without blob
sharing (``--blob-sharing``) and adaptive compression quality (``--adaptive-compression``).

The real blocks (``vectors/``, decoded with our decoder) are fed to the real channel manager one block at a
time, as a batcher at the chain tip sees them (so the adaptive policy measures a batcher keeping up), at
1, 2, 3 and 6-blob targets, cold (fresh calibrations) and warm (those of a first pass). For each run:

* fill of every full blob: every blob of every full channel; with sharing, every blob but the very last
  tail, which had no next channel to share with because the input ended (a flushed, non-full channel's
  blobs never count);
* bytes of all channels against one-shot brotli-10 and brotli-11 of the same channel contents;
* CPU of the whole run against one-shot compression of the same contents at each channel's quality;
* that every blob, read back in order by the Holocene channel assembler, gives channels that decode to
  exactly the blocks that went in (none dropped);
* added safe-head lag of sharing: the L2 seconds a shared tail waited for the next channel to close.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from batcher.bench.workload import bench_rollup_config, kona_blocks
from batcher.channels.blob_sharing import BlobSharing
from batcher.channels.channel import Channel, CloseReason, TxData
from batcher.channels.compression_quality import AdaptiveQuality, algo_quality
from batcher.channels.config import ChannelConfig, ChannelConfigs, DAConfigSelector, DAType
from batcher.channels.manager import ChannelManager
from common.derive.blob import MAX_BLOB_DATA_SIZE
from common.derive.block_ref import BlockID
from common.derive.channel import decompress_channel, read_batch_payloads
from common.derive.channel_bank import BatcherTx, ChannelBank, ChannelBankRules
from common.derive.channel_out import new_channel_out
from common.derive.compressor import CompressionCalibration, compress_channel
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig
from common.derive.span_batch import SpanBatch

TARGETS = (1, 2, 3, 6)
MODES = ("plain", "sharing", "adaptive", "sharing+adaptive")
DEFAULT_MODES = MODES[:3]
"""Without ``--long``: sharing+adaptive has the fill of sharing and the bytes of adaptive."""
_L1 = BlockID(b"\x01" * 32, 100)


@dataclass(frozen=True, slots=True)
class FillRun:
    """One pass of the manager over the blocks."""

    fills: tuple[float, ...]
    full_channels: int
    channels: int
    output_bytes: int
    b10: int
    b11: int
    cpu: float
    ref_cpu: float
    qualities: tuple[int, ...]
    decodes: bool
    shared: int
    lag_blocks: tuple[int, ...]
    """Per shared tail: L2 blocks that arrived while it waited for the next channel."""


def blob_config(n_blobs: int, algo: str = "brotli-10") -> ChannelConfig:
    return ChannelConfig(
        seq_window_size=3600,
        channel_timeout=300,
        max_channel_duration=0,
        sub_safety_margin=10,
        max_frame_size=MAX_BLOB_DATA_SIZE - 1,
        target_num_frames=n_blobs,
        use_blobs=True,
        batch_type=1,
        compression_algo=algo,
    )


def run_manager(
    cfg: ChannelConfig,
    rollup: RollupConfig,
    blocks: Sequence[BlockInput],
    cals: dict[str, CompressionCalibration],
    *,
    sharing: bool,
    adaptive: AdaptiveQuality | None,
) -> FillRun:
    """Feed ``blocks`` one at a time to a real channel manager; see the module doc for what is measured."""

    def factory(c: ChannelConfig, r: RollupConfig, cid: bytes) -> object:
        cal = cals.setdefault(c.compression_algo, CompressionCalibration(c.compression_algo))
        return new_channel_out(c.channel_out_config(), r, cid, calibration=cal)

    m = ChannelManager(
        rollup,
        DAConfigSelector(ChannelConfigs(DAType.BLOBS, cfg)),
        channel_out_factory=factory,  # type: ignore[arg-type]
        blob_sharing=BlobSharing(1e9) if sharing else None,
        adaptive_quality=adaptive,
    )
    txs: list[TxData] = []
    held_at: dict[bytes, int] = {}
    lags: list[int] = []
    t0 = time.process_time()
    for i, b in enumerate(blocks):
        m.add_l2_block(b)
        while (tx := m.tx_data(_L1, now=0.0).tx) is not None:
            txs.append(tx)
            if tx.shared is not None and tx.id.channel_id in held_at:
                lags.append(i - held_at.pop(tx.id.channel_id))
        held = next((c for c in reversed(m.channels) if c.is_full and c.pending_frames), None)
        if m.holding and held is not None:
            held_at.setdefault(held.id, i)
    while (tx := m.tx_data(_L1, now=2e9).tx) is not None:  # input ended: the held tail goes alone
        txs.append(tx)
    while (tx := m.tx_data(_L1, now=2e9, force_publish=True).tx) is not None:
        txs.append(tx)
    cpu = time.process_time() - t0
    channels = list(m.channels)
    return _measure(txs, channels, blocks, rollup, cpu, lags, sharing)


def _measure(
    txs: Sequence[TxData],
    channels: Sequence[Channel],
    blocks: Sequence[BlockInput],
    rollup: RollupConfig,
    cpu: float,
    lags: Sequence[int],
    sharing: bool,
) -> FillRun:
    full_list = [c.id for c in channels if c.close_reason not in (None, CloseReason.TERMINATED)]
    full = set(full_list)
    end_tail = -1
    if sharing and full_list:  # input ended: the last full channel's tail had nothing to share with
        end_tail = max((i for i, tx in enumerate(txs) if tx.id.channel_id == full_list[-1]), default=-1)
        if end_tail >= 0 and txs[end_tail].shared is not None:
            end_tail = -1
    fills: list[float] = []
    for i, tx in enumerate(txs):
        if tx.id.channel_id not in full:
            continue
        sizes = [len(p) for p in tx.blob_payloads]
        fills += [s / MAX_BLOB_DATA_SIZE for s in (sizes[:-1] if i == end_tail else sizes)]
    contents = [_content(c) for c in channels]
    qualities = tuple(algo_quality(c.config.compression_algo) or 0 for c in channels)
    ref_cpu = sum(_oneshot(content, q)[1] for content, q in zip(contents, qualities, strict=True))
    return FillRun(
        fills=tuple(fills),
        full_channels=len(full),
        channels=len(channels),
        output_bytes=sum(c.output_bytes for c in channels),
        b10=sum(_oneshot(content, 10)[0] for content in contents),
        b11=sum(_oneshot(content, 11)[0] for content in contents),
        cpu=cpu,
        ref_cpu=ref_cpu,
        qualities=qualities,
        decodes=_derives_back(txs, blocks, rollup),
        shared=sum(tx.shared is not None for tx in txs),
        lag_blocks=tuple(lags),
    )


def _content(ch: Channel) -> bytes:
    return decompress_channel(b"".join(f.data for f in ch.frames), max_bytes=100_000_000, fjord=True)


@functools.cache
def _oneshot(content: bytes, quality: int) -> tuple[int, float]:
    """One-shot brotli channel size (version byte included) and the CPU it took; cached, as variants
    that cut the same channels (sharing only re-cuts frames) would measure the same work again."""
    t0 = time.process_time()
    size = len(compress_channel(content, f"brotli-{quality}"))
    return size, time.process_time() - t0


def _derives_back(txs: Sequence[TxData], blocks: Sequence[BlockInput], rollup: RollupConfig) -> bool:
    """Every blob in order through the Holocene assembler; the channels decode to exactly ``blocks``."""
    bank = ChannelBank(ChannelBankRules.from_rollup(rollup))
    got = []
    for i, tx in enumerate(txs):
        for payload in tx.blob_payloads:
            for ch in bank.ingest(BatcherTx(1000 + i, 12 * i, payload)):
                raw = decompress_channel(ch.data, max_bytes=100_000_000, fjord=True)
                for p in read_batch_payloads(raw):
                    for d in SpanBatch.decode(p).derive_blocks(
                        rollup.genesis_l2_time, rollup.block_time, rollup.l2_chain_id
                    ):
                        got.append((d.timestamp, d.epoch_num, tuple(d.transactions)))
    if bank.dropped_frames or bank.dropped_channels or bank.tx_errors or bank.pending():
        return False
    return got == [(b.timestamp, b.l1_origin.number, tuple(b.transactions)) for b in blocks]


def fill_rows(
    name: str,
    blocks: Sequence[BlockInput],
    rollup: RollupConfig,
    targets: Sequence[int],
    modes: Sequence[str],
) -> list[tuple[str, str, str]]:
    """(name, value, note) per target x phase x mode."""
    rows = []
    for n_blobs in targets:
        for mode in modes:
            cals: dict[str, CompressionCalibration] = {}
            adaptive = AdaptiveQuality(block_time=rollup.block_time) if "adaptive" in mode else None
            for phase in ("cold", "warm"):
                r = run_manager(
                    blob_config(n_blobs),
                    rollup,
                    blocks,
                    cals,
                    sharing="sharing" in mode,
                    adaptive=adaptive,
                )
                rows.append((f"{name} {n_blobs}-blob {phase} {mode}", *_describe(r, rollup.block_time)))
    return rows


def _describe(r: FillRun, block_time: int) -> tuple[str, str]:
    fill = (
        f"fill {min(r.fills) * 100:.2f}-{max(r.fills) * 100:.2f} % "
        f"(mean {statistics.mean(r.fills) * 100:.2f})"
        if r.fills
        else "no full channel"
    )
    qs = sorted(set(r.qualities))
    lag = (
        f"; {r.shared} shared, added safe-head lag {statistics.mean(r.lag_blocks) * block_time:.0f} s "
        f"of L2 time (max {max(r.lag_blocks) * block_time} s) unbounded"
        if r.lag_blocks
        else (f"; {r.shared} shared" if r.shared else "")
    )
    ok = "decodes back" if r.decodes else "DECODE MISMATCH"
    return fill, (
        f"{r.full_channels}/{r.channels} full; bytes x{r.output_bytes / r.b10:.4f} of one-shot brotli-10, "
        f"x{r.output_bytes / r.b11:.4f} of brotli-11; CPU x{r.cpu / r.ref_cpu:.2f} of one-shot at the "
        f"channels' qualities {qs}{lag}; {ok}"
    )


def main() -> None:  # pragma: no cover - manual timing aid
    import sys

    rollup = dataclasses.replace(bench_rollup_config(), l2_chain_id=10, genesis_l2_time=0)
    t0 = time.monotonic()
    targets = tuple(int(a) for a in sys.argv[1:]) or TARGETS
    for row in fill_rows("OP Mainnet", kona_blocks(), rollup, targets, MODES):
        print(*row, sep="  ")
    print(f"{time.monotonic() - t0:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
