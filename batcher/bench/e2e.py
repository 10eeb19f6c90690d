"""``op-batcher bench --e2e``: the daemon's own ingest path, end to end, against a local chain.

Each case runs in a fresh child process (so peak RSS is the case's own) and drives the daemon's real
:class:`~batcher.driver.BatchDriver` — the same one ``op-batcher`` builds, with its
:class:`~batcher.loading.block_loader.BlockLoader`, :class:`~common.rpc.eth.EthClient` and
:class:`~common.rpc.rollup.RollupClient` over HTTP, :class:`~batcher.channels.manager.ChannelManager`,
frame and blob encoding (``tx_candidate``) — against :mod:`batcher.bench.l2` (op-geth/op-node/L1 in one
server process). Only the tx manager is a stand-in (:class:`BenchTxManager`): no L1 node can take the
blob txs here, so it builds each blob sidecar in the real KZG worker (``build_sidecar``, Osaka cell
proofs) and confirms at once, as an L1 with room for every tx would.

The clock runs from the driver's start until every block is in a confirmed tx. Reported per case:
blocks/s, raw MB/s (decompressed channel bytes, read back from the blobs, over the wall time), CPU per
stage (``block_from_rpc``; channel building and compression, ``next_tx_data``; blob encoding,
``tx_candidate``; KZG worker; the rest of the event loop: RPC, JSON, sync actions; the server), peak
RSS, and one-shot brotli-10 of the same channel contents, timed in the same process after the run.
Stage CPU is measured by wrapping those module functions with per-thread CPU timers; their code is the
daemon's, unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R")

CASES_FULL = (
    ("base", 1, 6),
    ("base", 1, 1),
    ("base", 0, 6),
    ("base", 0, 1),
    ("op-mainnet", 1, 6),
    ("vectors", 1, 6),
)
"""(profile, batch type, blobs per tx)."""
BLOCKS = {"base": 220, "op-mainnet": 1500, "vectors": 143}
QUICK_BLOCKS = {"base": 50, "op-mainnet": 300, "vectors": 143}


@dataclass
class StageClock:
    """Per-thread CPU seconds spent in each wrapped stage."""

    cpu: dict[str, float] = field(default_factory=dict)

    def wrap(self, name: str, fn: Callable[..., R]) -> Callable[..., R]:
        def timed(*args: Any, **kwargs: Any) -> R:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - t0

        return timed


class BenchTxManager:
    """Stand-in tx manager: real KZG sidecar per blob tx (the daemon's worker), then an instant receipt."""

    def __init__(self, *, cell_proofs: bool = True, prove: bool = True) -> None:
        self.cell_proofs = cell_proofs
        self.prove = prove
        """False (the memory case): no sidecar; the KZG processes' memory is not the daemon's RSS."""
        self.blobs: list[bytes] = []
        self.calldata: list[bytes] = []
        self.sent = 0
        self._block = 1000

    @property
    def from_address(self) -> bytes:
        return b"\x44" * 20

    @property
    def closed(self) -> bool:
        return False

    async def send_async(self, candidate: Any) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(self._send(candidate))

    async def _send(self, candidate: Any) -> Any:
        from common.rpc.types import Receipt
        from common.txmgr.blobs import build_sidecar

        if candidate.blobs:
            if self.prove:
                await build_sidecar(candidate.blobs, cell_proofs=self.cell_proofs)
                self.blobs.extend(candidate.blobs)
        else:
            self.calldata.append(candidate.data)
        self.sent += 1
        self._block += 1
        h = self._block.to_bytes(32, "big")
        return Receipt(h, h, self._block, 0, 1, 3, 21000, 21000, 1, None, None, None, ())

    async def send_cancellation(self, to: bytes, *, blocked_blob: bool) -> Any:
        raise RuntimeError("bench: no cancellation expected")

    async def suggest_gas_price_caps(self, *, for_blob: bool = False) -> Any:
        raise RuntimeError("bench: auto DA not used")


def channel_contents(blobs: Sequence[bytes], calldata: Sequence[bytes]) -> list[bytes]:
    """The decompressed content of every channel in these blobs / calldata txs."""
    from common.derive.blob import decode_blob
    from common.derive.channel import decompress_channel
    from common.derive.frame import parse_frames

    parts: dict[bytes, list[tuple[int, bytes]]] = {}
    for data in [decode_blob(b) for b in blobs] + list(calldata):
        for f in parse_frames(data):
            parts.setdefault(f.channel_id, []).append((f.number, f.data))
    return [
        decompress_channel(b"".join(d for _n, d in sorted(p)), max_bytes=10**9, fjord=True)
        for p in parts.values()
    ]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _kzg_cpu() -> float:
    """CPU seconds of the KZG worker processes so far (Linux ``/proc``; 0 where it cannot be read)."""
    from common.txmgr.blobs import _kzg_worker

    worker = _kzg_worker()
    await asyncio.get_running_loop().run_in_executor(worker, time.process_time)  # the pool is up
    total = 0.0
    for pid in list(getattr(worker, "_processes", {}) or {}):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _server_cpu(client: Any) -> float:
    return float(await client.call("bench_cpu", []))


def _start_server(profile: str, blocks: int) -> tuple[subprocess.Popen[str], int, int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batcher.bench.l2", "--profile", profile, "--blocks", str(blocks)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        proc.kill()
        raise SystemExit(f"bench --e2e: the local L2 server ({profile}) did not start")
    return proc, int(line[1]), int(line[2]), int(line[3])


@dataclass
class BenchDaemon:
    """The daemon's driver wired to a running :mod:`batcher.bench.l2` server (see :func:`bench_daemon`)."""

    driver: Any
    """The :class:`~batcher.driver.BatchDriver`."""
    manager: Any
    """Its :class:`~batcher.channels.manager.ChannelManager`."""
    metrics: Any
    txmgr: BenchTxManager
    control: Any
    """An RpcClient on the server's ``/rollup`` (``bench_setSafeHead``, ``bench_cpu``)."""
    chain_id: int

    async def set_safe_head(self, number: int) -> None:
        await self.control.call("bench_setSafeHead", [number])


@contextlib.asynccontextmanager
async def bench_daemon(
    profile: str,
    blocks: int,
    *,
    batch_type: int = 1,
    blobs: int = 6,
    da_type: str = "blobs",
    unsafe_limit: int = 0,
    prove: bool = True,
) -> AsyncIterator[BenchDaemon]:
    """Start the local chain and build the daemon's driver on it (not started); tear both down after."""
    from batcher import driver
    from batcher.bench.l2 import bench_rollup
    from batcher.channels.config import ChannelFlags, DAConfigSelector, build_channel_configs
    from batcher.channels.manager import ChannelManager
    from batcher.driver_config import DriverConfig
    from batcher.metrics import new_batcher_metrics
    from common.rpc.active import StaticL2Provider
    from common.rpc.client import RpcClient
    from common.rpc.eth import EthClient
    from common.rpc.rollup import RollupClient

    proc, port, chain_id, _total = _start_server(profile, blocks)
    base = f"http://127.0.0.1:{port}"
    l1 = EthClient(base + "/l1", timeout=30)
    l2 = StaticL2Provider(RollupClient(base + "/rollup", timeout=30), EthClient(base + "/l2", timeout=30))
    ctl = RpcClient(base + "/rollup", timeout=30)
    throttle_rpc = RpcClient(base + "/l2", timeout=30)
    try:
        rollup = bench_rollup(chain_id)
        flags = ChannelFlags(
            da_type=da_type,
            target_num_frames=blobs if da_type == "blobs" else 1,
            batch_type=batch_type,
            compression_algo="brotli-10",
        )
        configs = build_channel_configs(rollup, flags, now=int(time.time()))
        mgr = ChannelManager(rollup, DAConfigSelector(configs))
        metrics = new_batcher_metrics(process_collectors=False)

        async def throttle_call(_endpoint: str, max_tx: int, max_block: int) -> Any:
            return await throttle_rpc.call("miner_setMaxDASize", [hex(max_tx), hex(max_block)])

        txmgr = BenchTxManager(prove=prove)
        cfg = DriverConfig(
            poll_interval=0.05,
            max_pending_tx=10,
            recover_from_l1=False,
            throttle_endpoints=(base + "/l2",),
            **({"max_unsafe_l2_bytes": unsafe_limit} if unsafe_limit else {}),  # type: ignore[arg-type]
        )
        d = driver.BatchDriver(
            cfg,
            rollup=rollup,
            l1=l1,
            l2=l2,
            txmgr=txmgr,
            manager=mgr,
            metrics=metrics,
            throttle_call=throttle_call,
        )
        try:
            yield BenchDaemon(d, mgr, metrics, txmgr, ctl, chain_id)
        finally:
            if d.running:
                await d.stop()
    finally:
        for c in (l1, ctl, throttle_rpc):
            await c.close()
        await l2.close()
        proc.kill()
        proc.wait()


async def run_case(
    profile: str,
    batch_type: int,
    blobs: int,
    blocks: int,
    *,
    unsafe_limit: int = 0,
    stuck: bool = False,
    da_type: str = "blobs",
) -> dict[str, Any]:
    """One case; returns the measured numbers (see the module docstring).

    The safe head never moves (the local node's stays at genesis): a case ends once loading has stopped
    (every block loaded, or paused at ``unsafe_limit``) and every channel built is confirmed. ``stuck``
    (the memory case) builds no blob proofs and skips the read-back of the channels.
    """
    from batcher import driver
    from batcher.loading import block_loader
    from common.txmgr.blobs import prewarm_kzg_worker, shutdown_kzg_worker

    clock = StageClock()
    for module, name, stage in (
        (block_loader, "block_from_rpc", "block_from_rpc"),
        (driver, "next_tx_data", "channel (next_tx_data)"),
        (driver, "tx_candidate", "blob encoding"),
    ):
        setattr(module, name, clock.wrap(stage, getattr(module, name)))
    prewarm_kzg_worker()
    async with bench_daemon(
        profile,
        blocks,
        batch_type=batch_type,
        blobs=blobs,
        da_type=da_type,
        unsafe_limit=unsafe_limit,
        prove=not stuck,
    ) as h:
        d, mgr, txmgr = h.driver, h.manager, h.txmgr
        await _kzg_cpu()  # the worker is up (trusted setup loaded) before the clock starts
        kzg0, srv0 = await _kzg_cpu(), await _server_cpu(h.control)
        cpu0, main0 = time.process_time(), time.thread_time()
        t0 = time.perf_counter()
        await d.start()
        flushed = False
        peak_loaded = 0
        while True:
            await asyncio.sleep(0.05)
            peak_loaded = max(peak_loaded, len(mgr.blocks))
            paused = getattr(
                d.loader, "paused", False
            )  # (absent in builds before the limit, for before/after)
            done_loading = mgr.block_cursor >= blocks or (paused and mgr.pending_blocks == 0)
            if done_loading and not flushed:
                d.flush()
                flushed = True
            if flushed and all(ch.is_fully_submitted for ch in mgr.channels):
                break
        wall = time.perf_counter() - t0
        main_cpu = time.thread_time() - main0
        cpu = time.process_time() - cpu0
        kzg, srv = await _kzg_cpu() - kzg0, await _server_cpu(h.control) - srv0
        rss = _rss_mb()
        held = sum(b.raw_size_estimate for b in mgr.blocks)
        loaded = len(mgr.blocks)
        await d.stop()
    shutdown_kzg_worker()
    contents = channel_contents(txmgr.blobs, txmgr.calldata) if not stuck else []
    raw = sum(len(c) for c in contents)
    from common.derive.compressor import compress_channel

    b0, w0 = time.process_time(), time.perf_counter()
    for content in contents:
        compress_channel(content, "brotli-10")
    bare, bare_wall = time.process_time() - b0, time.perf_counter() - w0
    stages = dict(clock.cpu)
    stages["event loop (rpc, json, rest)"] = main_cpu - stages.get("block_from_rpc", 0.0)
    stages["kzg worker"] = kzg
    stages["l2 server"] = srv
    return {
        "profile": profile,
        "batch": "span" if batch_type else "singular",
        "blobs": blobs,
        "blocks": blocks,
        "wall": wall,
        "raw": raw,
        "cpu": cpu,
        "stages": stages,
        "rss_mb": rss,
        "bare_cpu": bare,
        "bare_wall": bare_wall,
        "channels": len(contents),
        "txs": txmgr.sent,
        "peak_loaded_blocks": peak_loaded,
        "loaded_blocks": loaded,
        "loaded_unsafe_bytes": held,
        "unsafe_limit": unsafe_limit,
    }


def format_results(results: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'case':<26} {'blocks/s':>8} {'raw MB/s':>8} {'bare b10':>8} {'ratio':>6} {'RSS MB':>7}  "
        "CPU s per stage"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        mbs = r["raw"] / r["wall"] / 1e6
        bare = r["raw"] / r["bare_wall"] / 1e6 if r["bare_wall"] > 0 else 0.0
        ratio = mbs / bare if bare else 0.0
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        name = f"{r['profile']} {r['batch']} {r['blobs']}b"
        lines.append(
            f"{name:<26} {r['blocks'] / r['wall']:>8.1f} {mbs:>8.2f} {bare:>8.2f} {ratio:>6.0%} "
            f"{r['rss_mb']:>7.0f}  wall {r['wall']:.1f}, {stages}"
        )
    return "\n".join(lines)


def _child(args: argparse.Namespace) -> int:
    from common.service.log import setup_logging

    setup_logging(stream=sys.stderr)  # the daemon's default: info lines, Go logfmt (their cost is measured)
    result = asyncio.run(
        run_case(
            args.profile,
            args.batch_type,
            args.blobs,
            args.blocks,
            unsafe_limit=args.unsafe_limit,
            stuck=args.stuck,
            da_type=args.da,
        )
    )
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_child(profile: str, batch_type: int, blobs: int, blocks: int, *extra: str) -> dict[str, Any]:
    """One case in a fresh interpreter (its own peak RSS, no state from the previous case)."""
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "batcher.bench.e2e", "--child", "--profile", profile]
    cmd += ["--batch-type", str(batch_type), "--blobs", str(blobs), "--blocks", str(blocks), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise SystemExit(f"bench --e2e case {profile}/{batch_type}/{blobs} failed:\n{done.stderr[-3000:]}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="op-batcher bench --e2e")
    ap.add_argument("--e2e", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer blocks per case")
    ap.add_argument("--case", action="append", default=[], help="profile:batch-type:blobs (repeatable)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile", default="base")
    ap.add_argument("--batch-type", type=int, default=1)
    ap.add_argument("--blobs", type=int, default=6)
    ap.add_argument("--blocks", type=int, default=0)
    ap.add_argument("--unsafe-limit", type=int, default=0)
    ap.add_argument("--stuck", action="store_true", help="memory case: skip reading the channels back")
    ap.add_argument("--da", choices=("blobs", "calldata"), default="blobs")
    args = ap.parse_args(argv)
    if args.child:
        return _child(args)
    cases = [tuple(int(x) if i else x for i, x in enumerate(c.split(":"))) for c in args.case] or CASES_FULL
    sizes = QUICK_BLOCKS if args.quick else BLOCKS
    results = []
    for profile, batch_type, blobs in cases:
        n = args.blocks or sizes[str(profile)]
        results.append(run_child(str(profile), int(batch_type), int(blobs), n))
        print(format_results(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(format_results(results))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
