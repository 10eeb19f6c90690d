"""Issue 4 acceptance on the devnet: ``op-devnet up`` with our services for a pairwise-covering set of
(--da, --proposer, --l1-fork) combinations, the seed tutorial's op-batcher and op-proposer command lines run
unchanged, and two ``up`` runs with services in a row leaving nothing behind.

The runs use the real ``op-devnet`` console script in paced mode (the demo's mode) with 1 s L2 and L1
blocks, so a run that lands proposals fits in about 35 s; the demo defaults (2 s / 4 s, 120 s) are the
same code with longer clocks and are covered by the manual 8-combination matrix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet import cli
from devnet.anvil import rpc_call
from devnet.contracts import Abi, eth_call
from devnet.network import Devnet, DevnetConfig

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

OP_DEVNET = Path(sys.executable).parent / "op-devnet"
"""The installed console script the README's ``make demo`` runs."""
FAST_CLOCKS = ("--block-time", "1", "--l1-block-time", "1")
TUTORIAL_BATCHER_RPC_PORT, TUTORIAL_PROPOSER_RPC_PORT = 8548, 8560
"""Ports the tutorial lines fix (``--rpc.port``); tests/test_proposer_e2e.py uses 8560 too."""
TIMEOUT = 120.0


def up(state_dir: Path, *flags: str, duration: float) -> subprocess.CompletedProcess[str]:
    """Run ``op-devnet up`` to its end and return its exit code and output."""
    assert OP_DEVNET.exists(), f"{OP_DEVNET} missing: install with pip -e '.[dev]' (make setup)"
    return subprocess.run(
        [str(OP_DEVNET), "up", "--state-dir", str(state_dir), "--duration", f"{duration:g}", *flags],
        capture_output=True,
        text=True,
        timeout=duration + 90,
    )


def duration_for(proposer: str) -> float:
    """The shortest --duration at which the judge requires both the safe head and a proposal."""
    cfg = DevnetConfig(state_dir=Path("."), proposer=proposer, block_time=1, l1_block_time=1)
    return cli.required_after(cli.first_proposal_eta(cfg)) + 1


@pytest.mark.parametrize(
    ("da", "proposer", "fork"),
    [("calldata", "l2oo", "prague"), ("blobs", "dgf", "osaka"), ("auto", "l2oo", "osaka")],
)
def test_up_lands_batches_and_proposals_for_each_da_proposer_and_fork(tmp_path, da, proposer, fork):
    """Each --da, --proposer and --l1-fork value: exit 0, safe head followed and proposals landed."""
    flags = ("--da", da, "--proposer", proposer, "--l1-fork", fork, *FAST_CLOCKS)
    proc = up(tmp_path, *flags, duration=duration_for(proposer))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output + "\n" + (tmp_path / "batcher.log").read_text()[-3000:]
    assert "op-devnet: OK" in proc.stdout and "safe head followed" in proc.stdout, output
    assert "proposals landed" in proc.stdout, output
    info = json.loads((tmp_path / "devnet.json").read_text())
    assert (info["proposer_mode"], info["l1_fork"]) == (proposer, fork)
    batches = set(re.findall(r"batch: type (\d), (\d+) blobs", proc.stdout))
    assert batches, proc.stdout
    if da == "calldata":
        assert {blobs for _typ, blobs in batches} == {"0"}, batches
    if da == "blobs":
        assert {typ for typ, _blobs in batches} == {"3"}, batches
    pattern = r"L2OO output @L2 \d+" if proposer == "l2oo" else r"\d+ games, last @L2 \d+"
    assert re.search(pattern, proc.stdout), proc.stdout


def processes_mentioning(*needles: str) -> list[str]:
    """Command lines of running processes that contain any of ``needles`` (leftover children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(n in cmdline for n in needles):
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_up_with_services_twice_in_a_row_leaves_no_processes_or_ports(tmp_path):
    """Two runs with op-batcher/op-proposer in the same state dir both exit 0 (a --duration too short
    for proposals is judged only on L2 blocks, and says so); afterwards no process mentions their
    endpoints and every port they used can be listened on again."""
    for run in range(2):
        proc = up(tmp_path, *FAST_CLOCKS, duration=6)
        assert proc.returncode == 0, (run, proc.stdout, proc.stderr)
        assert "too short to judge" in proc.stdout and "proposals (needs >=" in proc.stdout, proc.stdout
        info = json.loads((tmp_path / "devnet.json").read_text())
        urls = [info["l1_rpc"], info["l2_rpc"], info["rollup_rpc"]]
        service_ports = [
            int(port)
            for name in ("batcher", "proposer")
            for port in re.findall(
                r'msg="Start(?:ing JSON-RPC|ed metrics) server" endpoint=\S*:(\d+)',
                (tmp_path / f"{name}.log").read_text().split("Initializing")[-1],
            )
        ]
        assert len(service_ports) == 4, service_ports
        assert processes_mentioning(*urls) == []
        for port in [int(u.rsplit(":", 1)[1]) for u in urls] + service_ports:
            with socket.socket() as sock:  # SO_REUSEADDR as servers use it: fails only on a listener
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
                sock.listen()


def wait_port_free(port: int, timeout: float = TIMEOUT) -> None:
    """The tutorial fixes its RPC ports; wait while another test (e.g. the proposer one) holds them."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
                sock.listen()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.5)


@pytest.fixture
def paced_devnet(tmp_path: Path) -> Iterator[Devnet]:
    """The demo's paced devnet (1 s L2 and L1 blocks), sequencer running."""
    dn = Devnet(DevnetConfig(state_dir=tmp_path, block_time=1, l1_block_time=1)).start()
    try:
        dn.start_sequencer_thread()
        yield dn
    finally:
        dn.stop()


def spawn(name: str, args: list[str], state_dir: Path, rpc_port: int) -> cli.Service:
    """The installed ``op-<name>`` console script with exactly ``args``."""
    log_path = state_dir / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / f"op-{name}"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return cli.Service(name, proc, log_path, rpc_port, 0)


def test_seed_tutorial_batcher_and_proposer_lines_run_unchanged_together(paced_devnet, tmp_path):
    """Sections 十二 and 十三 of the deployment tutorial, only URLs, keys and the L2OO address replaced:
    the batcher (default throttling, so it calls miner_setMaxDASize on the devnet's L2 endpoint) moves the
    safe head and the proposer lands an output."""
    dn = paced_devnet
    info = dn.info()
    batcher_line = [
        f"--l2-eth-rpc={dn.l2_url}",
        f"--rollup-rpc={dn.rollup_url}",
        "--poll-interval=1s",
        "--sub-safety-margin=6",
        "--num-confirmations=1",
        "--safe-abort-nonce-too-low-count=3",
        "--resubmission-timeout=30s",
        "--rpc.addr=0.0.0.0",
        "--rpc.port=8548",
        "--rpc.enable-admin",
        "--max-channel-duration=1",
        f"--l1-eth-rpc={dn.l1_url}",
        f"--private-key={info['dev_keys']['batcher']['private_key']}",
    ]
    proposer_line = [
        "--poll-interval=12s",
        "--rpc.port=8560",
        f"--rollup-rpc={dn.rollup_url}",
        f"--l2oo-address={info['l2oo_address']}",
        f"--private-key={info['dev_keys']['proposer']['private_key']}",
        f"--l1-eth-rpc={dn.l1_url}",
    ]
    wait_port_free(TUTORIAL_BATCHER_RPC_PORT)
    wait_port_free(TUTORIAL_PROPOSER_RPC_PORT)
    services = [
        spawn("batcher", batcher_line, tmp_path, TUTORIAL_BATCHER_RPC_PORT),
        spawn("proposer", proposer_line, tmp_path, TUTORIAL_PROPOSER_RPC_PORT),
    ]
    l2oo = info["l2oo_address"]
    try:
        deadline = time.monotonic() + TIMEOUT
        latest = 0
        while time.monotonic() < deadline and latest == 0:
            for svc in services:
                assert svc.alive(), svc.tail(40)
            (latest,) = eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "latestBlockNumber")
            time.sleep(0.5)
        status = rpc_call(dn.rollup_url, "optimism_syncStatus")
        for svc in services:
            assert svc.alive(), svc.tail(40)
        admin = rpc_call(f"http://127.0.0.1:{TUTORIAL_BATCHER_RPC_PORT}", "admin_getThrottleController")
    finally:
        for svc in services:
            svc.stop()
    assert latest == info["l2oo_submission_interval"], [svc.tail(40) for svc in services]
    assert status["safe_l2"]["number"] >= latest, status
    assert dn.deriver is not None and not dn.deriver.halted
    endpoint = dn.l2_endpoint
    assert endpoint is not None and endpoint.endpoint.set_max_da_size_calls > 0
    assert isinstance(admin, dict) and admin.get("type"), admin
    for svc in services:
        key = info["dev_keys"][svc.name]["private_key"][2:]
        assert key.lower() not in svc.log_path.read_text(errors="replace").lower()
