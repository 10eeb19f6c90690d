"""End to end: the real ``op-batcher`` console entry as a child process against a fast-mode devnet.

The devnet's rollup node moves the safe head only by deriving what the batcher posted and comparing every
derived block with the L2 chain (timestamp, parent, L1 origin, exact tx list); any mismatch halts it. So
"safe head == unsafe head, not halted" proves every block was batched, in order, and decodes exactly.
One devnet serves the whole module; each scenario produces new L2 blocks and checks the safe head catches up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet import cli
from devnet.anvil import free_port, rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

CATCH_UP_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("batcher-e2e"))
    try:
        yield net
    finally:
        net.stop()


def batcher_args(dn: Devnet, *extra: str) -> list[str]:
    info = dn.info()
    return [
        "--l1-eth-rpc", dn.l1_url,
        "--l2-eth-rpc", dn.l2_url,
        "--rollup-rpc", dn.rollup_url,
        "--private-key", info["dev_keys"]["batcher"]["private_key"],
        "--poll-interval", "200ms",
        "--num-confirmations", "1",
        "--txmgr.receipt-query-interval", "100ms",
        "--network-timeout", "30s",
        "--resubmission-timeout", "10s",
        "--max-channel-duration", "1",
        "--sub-safety-margin", "4",
        "--rpc.port", str(free_port()),
        "--metrics.enabled",
        "--metrics.port", str(free_port()),
        "--throttle.unsafe-da-bytes-lower-threshold", "0",
        "--log.level", "debug",
        *extra,
    ]  # fmt: skip


OP_BATCHER = Path(sys.executable).parent / "op-batcher"
"""The installed console script (pyproject ``[project.scripts]``)."""


def start_batcher(dn: Devnet, tmp_path: Path, *extra: str, name: str = "batcher") -> cli.Service:
    """Run the real ``op-batcher`` console script (module entry if the venv has no script)."""
    args = batcher_args(dn, *extra)
    if not OP_BATCHER.exists():
        return cli.start_service(name, "batcher.cli", args, tmp_path)
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(OP_BATCHER), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    rpc_port = int(args[args.index("--rpc.port") + 1])
    metrics_port = int(args[args.index("--metrics.port") + 1])
    return cli.Service(name, proc, log_path, rpc_port, metrics_port)


def wait_safe_catches_up(
    dn: Devnet, svc: cli.Service, timeout: float = CATCH_UP_TIMEOUT, *, mine_l1: bool = False
) -> int:
    """Wait until the derived safe head reaches the current unsafe head; returns it. ``mine_l1``: an L1
    block every 0.2 s meanwhile, as a live L1 moves on (the fast devnet's L1 moves only with L2 blocks or
    txs), so blocks the batcher holds back past their sequencing window get forced by the rollup node."""
    assert dn.sequencer is not None and dn.deriver is not None
    target = dn.sequencer.head.number
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert dn.deriver.halted is None, dn.deriver.halted
        assert svc.alive(), svc.tail(40)
        if dn.deriver.safe.number >= target:
            return target
        if mine_l1:
            rpc_call(dn.l1_url, "anvil_mine", ["0x1"])
        time.sleep(0.2)
    raise AssertionError(f"safe head {dn.deriver.safe.number} < unsafe {target}\n{svc.tail(40)}")


def batcher_txs(dn: Devnet, first_block: int) -> list[dict[str, Any]]:
    """The batcher's L1 txs from ``first_block`` on."""
    batcher = dn.info()["batcher_address"].lower()
    head = int(str(rpc_call(dn.l1_url, "eth_blockNumber")), 16)
    out = []
    for n in range(first_block, head + 1):
        block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(n), True])
        assert isinstance(block, dict)
        out += [tx for tx in block["transactions"] if tx["from"].lower() == batcher]
    return out


def admin(svc: cli.Service, method: str, params: list[Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{svc.rpc_port}/", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def metric(svc: cli.Service, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_rpc(svc: cli.Service, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail(40)
        try:
            admin(svc, "health_status")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(svc.tail(40))


@pytest.mark.parametrize(
    ("da", "extra", "tx_type"),
    [
        ("calldata", ("--batch-type", "0", "--compression-algo", "zlib"), 2),
        ("blobs", ("--batch-type", "1", "--compression-algo", "brotli"), 3),
        ("auto", ("--batch-type", "1", "ACTIVE_SEQUENCER"), None),
    ],
    ids=["calldata-singular-zlib", "blobs-span-brotli", "auto-active-sequencer"],
)
def test_batcher_posts_every_block_and_the_safe_head_reaches_the_unsafe_head(
    dn, tmp_path, da, extra, tx_type
):
    """With each DA type the rollup node derives every L2 block from what the batcher posted."""
    first_l1 = dn.l1_head().number + 1
    if "ACTIVE_SEQUENCER" in extra:  # two endpoint pairs: the active-sequencer provider picks one
        extra = (*extra[:-1], "--l2-eth-rpc", dn.l2_url, "--rollup-rpc", dn.rollup_url)
    svc = start_batcher(dn, tmp_path, "--data-availability-type", da, *extra)
    try:
        dn.produce_l2_blocks(12)
        wait_safe_catches_up(dn, svc)
        dn.produce_l2_blocks(6)
        wait_safe_catches_up(dn, svc)
        assert metric(svc, "op_batcher_default_batcher_tx_total") > 0
        assert metric(svc, "op_batcher_default_channel_verify_failures_total") == 0
    finally:
        svc.stop()
    txs = batcher_txs(dn, first_l1)
    assert txs
    if tx_type is not None:
        assert {int(tx["type"], 16) for tx in txs} == {tx_type}
    assert svc.process.returncode == 0, svc.tail(40)
    assert "Batch Submitter stopped" in svc.tail(400)


@contextlib.contextmanager
def derivation_paused(dn: Devnet) -> Iterator[None]:
    """Stop the devnet rollup node deriving (its loop calls ``deriver.step``); sync status still answers."""
    assert dn.deriver is not None
    dn.deriver.step = lambda: 0  # type: ignore[method-assign]
    try:
        yield
    finally:
        del dn.deriver.step


def frame_counts(dn: Devnet, first_l1: int) -> dict[str, int]:
    """How often each (channel id, frame number) was posted in calldata since ``first_l1``."""
    from common.derive.frame import parse_frames

    counts: dict[str, int] = {}
    for tx in batcher_txs(dn, first_l1):
        for f in parse_frames(bytes.fromhex(tx["input"][2:])):
            key = f"{f.channel_id.hex()}:{f.number}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_batcher_killed_mid_channel_restarts_without_losing_or_reposting_blocks(dn, tmp_path):
    """SIGKILL with channels on L1 not yet derived: the restart reads its own txs back, posts none of those
    frames again, and the safe head still reaches the unsafe head."""
    small = ("--data-availability-type", "calldata", "--max-l1-tx-size-bytes", "2000", "--compressor", "none")
    first_l1 = dn.l1_head().number + 1
    with derivation_paused(dn):
        svc = start_batcher(dn, tmp_path, *small, name="b1")
        try:
            dn.produce_l2_blocks(12)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(batcher_txs(dn, first_l1)) < 5:
                assert svc.alive(), svc.tail(40)
                time.sleep(0.02)
        finally:
            svc.process.send_signal(signal.SIGKILL)
            svc.process.wait(10)
        posted_before = len(batcher_txs(dn, first_l1))
        assert posted_before >= 5, svc.tail(40)
        svc2 = start_batcher(dn, tmp_path, *small, name="b2")
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "Recovered channels already on L1" not in svc2.tail(400):
                assert svc2.alive(), svc2.tail(40)
                time.sleep(0.05)
            assert "Recovered channels already on L1" in svc2.tail(400), svc2.tail(60)
        except BaseException:
            svc2.stop()
            raise
    try:
        wait_safe_catches_up(dn, svc2)
    finally:
        svc2.stop()
    counts = frame_counts(dn, first_l1)
    assert counts and max(counts.values()) == 1, counts


def session_pids(sid: int) -> set[int]:
    """Live (not zombie) processes of session ``sid``: they keep it when re-parented to PID 1."""
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.add(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigkill_of_a_blob_batcher_takes_its_kzg_worker_down_too(dn, tmp_path):
    """kill -9 of a blob-mode batcher: its KZG worker and the multiprocessing resource tracker exit
    (they used to live on under PID 1); the batcher runs in its own session, which finds them."""
    svc = start_batcher(dn, tmp_path, "--data-availability-type", "blobs", name="kzg")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(session_pids(svc.process.pid)) < 3:
            assert svc.alive(), svc.tail(40)
            time.sleep(0.1)
        children = session_pids(svc.process.pid) - {svc.process.pid}
        assert len(children) >= 2, (children, svc.tail(40))  # the worker and the resource tracker
    finally:
        svc.process.send_signal(signal.SIGKILL)
        svc.process.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and session_pids(svc.process.pid):
        time.sleep(0.1)
    left = session_pids(svc.process.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"children outlived the SIGKILLed batcher: {left}"


def test_admin_stop_start_and_flush_control_submission(dn, tmp_path):
    """admin_stopBatcher halts posting, admin_startBatcher resumes it, admin_flushBatcher posts at once."""
    svc = start_batcher(
        dn,
        tmp_path,
        "--data-availability-type",
        "calldata",
        "--rpc.enable-admin",
        "--stopped",
        "--max-channel-duration",
        "0",
    )
    try:
        wait_rpc(svc)
        assert admin(svc, "admin_stopBatcher")["error"]["message"] == "batcher is not running"
        dn.produce_l2_blocks(4)
        time.sleep(1.0)
        assert dn.deriver.safe.number < dn.sequencer.head.number
        assert "error" not in admin(svc, "admin_startBatcher")
        assert admin(svc, "admin_startBatcher")["error"]["message"] == "batcher is already running"
        time.sleep(1.0)
        assert dn.deriver.safe.number < dn.sequencer.head.number  # channel stays open: no duration limit
        assert "error" not in admin(svc, "admin_flushBatcher")
        wait_safe_catches_up(dn, svc, timeout=30)
        assert "error" not in admin(svc, "admin_stopBatcher")
        throttle = admin(svc, "admin_getThrottleController")["result"]
        assert throttle["type"] == "quadratic"
    finally:
        svc.stop()
