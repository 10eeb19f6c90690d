"""op-proposer end to end on the devnet: the real console entry point as a child process, the real
L2OutputOracle / DisputeGameFactory / dispute games on an anvil L1, and output roots recomputed here from
the L2 chain. The test itself plays the batcher (core encoders) so only the proposer is under test; the
rollup node is the devnet's stand-in (op-node cannot run here) whose safe head moves only by derivation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from Crypto.Hash import keccak

from devnet import cli
from devnet.anvil import free_port, rpc_call
from devnet.contracts import Abi, eth_call
from devnet.network import Devnet
from devnet.pytest_plugin import batch_up_to_head

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MESSAGE_PASSER = "0x4200000000000000000000000000000000000016"
TIMEOUT = 120.0


def recomputed_output_root(dn: Devnet, number: int) -> bytes:
    """keccak(0^32 ++ stateRoot ++ message-passer storage root ++ block hash), read straight from the L2."""
    block = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(number), False])
    proof = rpc_call(dn.l2_url, "eth_getProof", [MESSAGE_PASSER, [], hex(number)])
    assert isinstance(block, dict) and isinstance(proof, dict)
    preimage = b"\x00" * 32 + bytes.fromhex(block["stateRoot"][2:]) + bytes.fromhex(proof["storageHash"][2:])
    preimage += bytes.fromhex(block["hash"][2:])
    return keccak.new(digest_bits=256, data=preimage).digest()


@pytest.fixture
def l1_miner(request) -> Iterator[list[Devnet]]:
    """Mines an L1 block every 0.3 s for the devnets put in the list (confirmations, finality)."""
    nets: list[Devnet] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.3):
            for dn in list(nets):
                with contextlib.suppress(Exception):
                    rpc_call(dn.l1_url, "anvil_mine", [1])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield nets
    stop.set()
    thread.join(5)


def wait_serving(svc: cli.Service, timeout: float = 60.0) -> None:
    """Until the service answers health_status on its RPC port (start-up done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail()
        with contextlib.suppress(OSError):
            rpc_call(f"http://127.0.0.1:{svc.rpc_port}", "health_status")
            return
        time.sleep(0.2)
    raise AssertionError(f"{svc.name} did not start serving: {svc.tail()}")


def keep_safe(dn: Devnet, blocks: int = 2) -> None:
    dn.produce_l2_blocks(blocks)
    batch_up_to_head(dn)


def games(dn: Devnet) -> list[tuple[int, int, str, int, bytes]]:
    """(type, timestamp, proxy, l2 block, root claim) of every game, oldest first."""
    dgf = dn.info()["dgf_address"]
    (count,) = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameCount")
    out = []
    for i in range(count):
        typ, ts, proxy = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameAtIndex", i)
        (l2,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "l2BlockNumber")
        (root,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "rootClaim")
        out.append((int(typ), int(ts), proxy, int(l2), bytes(root)))
    return out


def test_l2oo_proposes_every_interval_and_roots_match_an_independent_recomputation(make_devnet, tmp_path):
    """Three consecutive outputs land at the submission interval, each equal to the recomputed root."""
    dn = make_devnet(proposer="l2oo")
    info = dn.info()
    svc = cli.start_service(
        "proposer", "proposer.cli", cli.proposer_args(dn, free_port(), free_port()), tmp_path
    )
    l2oo = info["l2oo_address"]
    interval = info["l2oo_submission_interval"]
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert svc.alive(), svc.tail()
            (latest,) = eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "latestBlockNumber")
            if latest >= 3 * interval:
                break
            keep_safe(dn)
            time.sleep(0.3)
        assert latest >= 3 * interval, svc.tail()
    finally:
        svc.stop()
    for index in range(3):
        ((root, _ts, l2_block),) = eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "getL2Output", index)
        assert l2_block == (index + 1) * interval
        assert bytes(root) == recomputed_output_root(dn, l2_block)
    assert "Proposer tx successfully published" in svc.tail(200)


@pytest.mark.parametrize("game_type", [0, 1])
def test_dgf_creates_games_of_the_configured_type_with_the_bond(make_devnet, tmp_path, game_type):
    """Permissionless (0) and permissioned (1) games are created for derived outputs, paying initBonds."""
    dn = make_devnet(proposer="dgf")
    info = dn.info()
    args = cli.proposer_args(dn, free_port(), free_port())
    args[args.index("--game-type") + 1] = str(game_type)
    args[args.index("--proposal-interval") + 1] = "1s"
    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and len(games(dn)) < 2:
            assert svc.alive(), svc.tail()
            keep_safe(dn)
            time.sleep(0.5)
    finally:
        svc.stop()
    found = games(dn)
    assert len(found) >= 2, svc.tail()
    (bond,) = eth_call(dn.l1_url, info["dgf_address"], Abi("DisputeGameFactory"), "initBonds", game_type)
    assert bond > 0
    for typ, _ts, proxy, l2_block, root in found:
        assert typ == game_type
        assert root == recomputed_output_root(dn, l2_block)
        # the bond is forwarded to DelayedWETH; the game records it on its root claim (claimData(0).bond)
        (recorded,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "claimData", 0)[3:4]
        assert recorded == bond


def test_dgf_never_duplicates_a_game_across_a_kill_and_restart(make_devnet, tmp_path, l1_miner):
    """With the safe head frozen, a proposer killed with SIGKILL and restarted creates no second game."""
    dn = make_devnet(proposer="dgf")
    keep_safe(dn, 6)
    l1_miner.append(dn)
    args = cli.proposer_args(dn, free_port(), free_port())
    args[args.index("--proposal-interval") + 1] = "1s"
    args[args.index("--poll-interval") + 1] = "500ms"
    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not games(dn):
        assert svc.alive(), svc.tail()
        time.sleep(0.3)
    svc.process.kill()
    svc.process.wait(10)
    assert len(games(dn)) == 1
    svc2 = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        time.sleep(5)  # ten ticks with an unchanged safe head
        assert svc2.alive(), svc2.tail()
    finally:
        svc2.stop()
    assert len(games(dn)) == 1, svc2.tail()
    assert "reverted" not in svc2.tail(300)


def test_l2oo_loses_and_repeats_no_output_across_a_kill_and_restart(make_devnet, tmp_path):
    """L2OutputOracle mode: SIGKILL after the first output; the restarted proposer goes on from the
    oracle's latest block, so the outputs stay one per interval, none skipped, none sent twice."""
    dn = make_devnet(proposer="l2oo")
    info = dn.info()
    l2oo, interval = info["l2oo_address"], info["l2oo_submission_interval"]
    args = cli.proposer_args(dn, free_port(), free_port())
    args[args.index("--poll-interval") + 1] = "500ms"

    def latest() -> int:
        (number,) = eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "latestBlockNumber")
        return int(number)

    def run_until(svc: cli.Service, target: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and latest() < target:
            assert svc.alive(), svc.tail()
            keep_safe(dn)
            time.sleep(0.3)
        assert latest() >= target, svc.tail()

    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        run_until(svc, interval)
    finally:
        svc.process.kill()
        svc.process.wait(10)
    at_kill = latest()
    svc2 = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        run_until(svc2, at_kill + interval)
    finally:
        svc2.stop()
    (count,) = eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "nextOutputIndex")
    blocks = [eth_call(dn.l1_url, l2oo, Abi("L2OutputOracle"), "getL2Output", i)[0][2] for i in range(count)]
    assert blocks == [interval * (i + 1) for i in range(count)], blocks
    assert "reverted" not in svc2.tail(300)


def test_bad_flags_fail_fast_with_the_flag_named(tmp_path):
    """Missing or malformed flags exit non-zero before any network call, naming the flag."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "proposer.cli", *args], capture_output=True, text=True, timeout=60
        )

    missing = run("--rollup-rpc", "http://127.0.0.1:1")
    assert missing.returncode != 0 and "l1-eth-rpc" in missing.stdout + missing.stderr
    bad = run("--l1-eth-rpc", "http://127.0.0.1:1", "--poll-interval", "soon")
    assert bad.returncode != 0 and "poll-interval" in bad.stdout + bad.stderr
    both = run(
        "--l1-eth-rpc",
        "http://127.0.0.1:1",
        "--rollup-rpc",
        "http://127.0.0.1:2",
        "--l2oo-address",
        "0x" + "11" * 20,
        "--game-factory-address",
        "0x" + "22" * 20,
        "--proposal-interval",
        "1m",
    )
    assert both.returncode != 0 and "invalid CLI flags" in both.stdout + both.stderr


@pytest.mark.parametrize("endpoint", ["rollup", "l1"])
def test_proposer_survives_an_endpoint_outage_and_resumes(make_devnet, tmp_path, endpoint):
    """Rollup node or L1 RPC unreachable for a while: the proposer keeps running, logs, and proposes after."""
    from tests.outage_proxy import OutageProxy

    dn = make_devnet(proposer="l2oo")
    target = dn.rollup_url if endpoint == "rollup" else dn.l1_url
    proxy = OutageProxy(target)
    args = cli.proposer_args(dn, free_port(), free_port())
    flag = "--rollup-rpc" if endpoint == "rollup" else "--l1-eth-rpc"
    args[args.index(flag) + 1] = proxy.url
    args[args.index("--poll-interval") + 1] = "500ms"
    args += ["--network-timeout", "2s", "--txmgr.receipt-query-interval", "500ms"]
    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        wait_serving(svc)
        proxy.down()
        for _ in range(12):
            keep_safe(dn)  # the chain moves on while the endpoint is away
        time.sleep(6)
        assert svc.alive(), svc.tail()
        assert cli.last_proposal(dn)[0] == 0
        assert "Error getting proposal" in svc.tail(400) or "Failed to send proposal" in svc.tail(400)
        proxy.up()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and cli.last_proposal(dn)[0] == 0:
            assert svc.alive(), svc.tail()
            keep_safe(dn)
            time.sleep(0.5)
        assert cli.last_proposal(dn)[0] == 1, svc.tail(40)
    finally:
        svc.stop()
        proxy.close()
