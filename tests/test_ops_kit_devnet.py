"""The compose stack's op-batcher and op-proposer, run locally the way their images run them, on the devnet.

The issue's acceptance: "the image's entrypoint command is run locally with the same arguments the compose
file passes". The arguments and environment come from ``docker/docker-compose.yml`` and
``docker/.env.example`` through tests/test_ops_kit.py's own helpers (same interpolation). Only what a
deployment supplies is changed:

* the env file is filled in the way an operator fills it (L1 endpoint, keys, the game factory address);
* what Docker's network provides is emulated: the service names ``op-geth`` / ``op-node`` resolve to the
  devnet's L2 and rollup endpoints, and the container ports (8548/8560 RPC, 7300 metrics) are published
  on free host ports (both services would otherwise share 7300).

Each console script (the image ENTRYPOINT) runs as PID 1 of its own PID namespace (``unshare``), as in a
container, so the image's HEALTHCHECK (docker/healthcheck.py, which finds the service's flags through
``/proc``) is run inside that namespace with the container's environment, exactly as Docker runs it, and
cannot pick up another op-batcher running on this machine. Docker itself is not available here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batcher import service as batcher_service
from devnet.anvil import free_port, rpc_call
from devnet.contracts import Abi, eth_call
from devnet.genesis import L2_CHAIN_ID
from devnet.network import Devnet
from proposer import service as proposer_service
from tests.test_ops_kit import (
    COMPOSE,
    DOCKER,
    ENV_EXAMPLE,
    load_yaml,
    read_env_file,
    service_command,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

SERVICES = ("op-batcher", "op-proposer")
SERVICE_VERSIONS = {"op-batcher": batcher_service.VERSION, "op-proposer": proposer_service.VERSION}
HEALTHCHECK = DOCKER / "healthcheck.py"
UNSHARE, NSENTER = shutil.which("unshare"), shutil.which("nsenter")
CONTAINER_NETWORK_FLAGS = {"l2-eth-rpc", "rollup-rpc", "rpc.port", "metrics.port"}
"""The only compose flags whose values the local run changes (Docker networking, not configuration)."""
STARTUP_TIMEOUT = 20.0
JOB_TIMEOUT = 45.0
STOP_TIMEOUT = 20.0


# ---------------------------------------------------------------------------------------------------
# the compose command and env file, filled in for the devnet


def operator_env(dn: Devnet) -> dict[str, str]:
    """docker/.env as an operator fills it for this chain: endpoints, keys and the game factory only."""
    info = dn.info()
    example = read_env_file(ENV_EXAMPLE)
    filled = {
        "L1_RPC_URL": dn.l1_url,
        "L1_BEACON_URL": dn.l1_url,
        "L2_CHAIN_ID": str(L2_CHAIN_ID),
        "OP_BATCHER_PRIVATE_KEY": info["dev_keys"]["batcher"]["private_key"],
        "OP_PROPOSER_PRIVATE_KEY": info["dev_keys"]["proposer"]["private_key"],
        "OP_PROPOSER_GAME_FACTORY_ADDRESS": info["dgf_address"],
    }
    assert filled.keys() <= example.keys(), f"not env-file variables: {filled.keys() - example.keys()}"
    return {**example, **filled}


def container_environ(env_file: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: this machine's (PATH, the venv) without OP_* leftovers, plus .env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OP_")}
    return {**base, "PYTHONUNBUFFERED": "1", **env_file}


def flag_values(args: list[str]) -> dict[str, str]:
    """``--name=value`` arguments (the compose file's form) by name; bare ``--name`` maps to ''."""
    out: dict[str, str] = {}
    for arg in args:
        assert arg.startswith("--"), f"compose argument {arg!r} is not a --flag"
        name, _, value = arg[2:].partition("=")
        out[name] = value
    return out


def on_this_host(args: list[str], hosts: Mapping[str, str], ports: Mapping[int, int]) -> list[str]:
    """The compose arguments with Docker's networking replaced: service URLs by the devnet endpoints
    they stand for, container ports by the host ports they are published on."""
    out = []
    for arg in args:
        name, _, value = arg[2:].partition("=")
        if value in hosts:
            arg = f"--{name}={hosts[value]}"
        elif name.endswith(".port") and value.isdigit() and int(value) in ports:
            arg = f"--{name}={ports[int(value)]}"
        out.append(arg)
    return out


# ---------------------------------------------------------------------------------------------------
# a console script as PID 1 of its own PID namespace


NAMESPACE_FLAGS = (
    ["--pid", "--fork", "--mount-proc"],
    ["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"],
)
"""unshare flags giving a child its own PID namespace and /proc: as root, else through a user namespace."""


def namespace_flags() -> list[str] | None:
    """The first of NAMESPACE_FLAGS this machine permits, or None (no unshare/nsenter, not allowed)."""
    if UNSHARE is None or NSENTER is None or not Path("/proc/self/ns/pid").exists():
        return None
    for flags in NAMESPACE_FLAGS:
        if subprocess.run([UNSHARE, *flags, "true"], capture_output=True, timeout=10).returncode == 0:
            return flags
    return None


def child_pid(parent: int, timeout: float = 10.0) -> int:
    """The host PID of ``parent``'s only child (unshare forks the service after entering the namespace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"unshare (PID {parent}) started no child within {timeout} s")


@dataclass
class Container:
    """A service process standing in for a container: ``pid`` is the service (PID 1 inside)."""

    name: str
    launcher: subprocess.Popen[bytes]
    pid: int
    args: list[str]
    environ: dict[str, str]
    ns_flags: list[str] | None
    """None: no PID namespace could be made here; the service runs as a plain child process."""
    log_path: Path

    @property
    def rpc_port(self) -> int:
        return int(flag_values(self.args)["rpc.port"])

    def alive(self) -> bool:
        return self.launcher.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The image HEALTHCHECK command, run inside the container's PID and mount namespaces."""
        assert NSENTER is not None and self.ns_flags is not None
        enter = ["--user", "--preserve-credentials"] if "--user" in self.ns_flags else []
        cmd = [NSENTER, f"--target={self.pid}", *enter, "--pid", "--mount", "--"]
        cmd += [sys.executable, str(HEALTHCHECK), self.name]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.environ, timeout=30)

    def stop(self) -> int:
        """SIGTERM to the service by PID (Docker's STOPSIGNAL), SIGKILL after a grace period; the exit
        status. PID 1 leaving ends its namespace, so nothing it started survives."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.launcher.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.launcher.kill()
                self.launcher.wait(timeout=5)
        return self.launcher.returncode


def run_container(
    name: str, args: list[str], environ: dict[str, str], ns: list[str] | None, logs: Path
) -> Container:
    """Start the console script ``name`` (the image ENTRYPOINT) with ``args``: as PID 1 of a new namespace
    where the machine allows one, else as a plain child."""
    exe = Path(sys.executable).with_name(name)
    assert exe.exists(), f"console script {exe} missing (pip install -e .)"
    log_path = logs / f"{name}.log"
    wrapper = [] if ns is None else [str(UNSHARE), *ns, "--kill-child"]
    with open(log_path, "ab") as out:
        launcher = subprocess.Popen(
            [*wrapper, str(exe), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
            start_new_session=True,
        )
    try:
        pid = launcher.pid if ns is None else child_pid(launcher.pid)
    except BaseException:
        launcher.kill()
        launcher.wait(5)
        raise
    return Container(name, launcher, pid, args, environ, ns, log_path)


def get_healthz(port: int) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as resp:
        return resp.status, resp.read()


def wait_healthy(svc: Container, timeout: float = STARTUP_TIMEOUT) -> bytes:
    """Poll ``GET /healthz`` on the published RPC port until it answers 200; the body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), f"{svc.name} exited ({svc.launcher.returncode}):\n{svc.tail()}"
        with contextlib.suppress(OSError):
            status, body = get_healthz(svc.rpc_port)
            if status == 200:
                return body
        time.sleep(0.2)
    raise AssertionError(f"{svc.name} not healthy on /healthz after {timeout} s:\n{svc.tail()}")


# ---------------------------------------------------------------------------------------------------
# the stack


def games(dn: Devnet) -> list[tuple[int, str]]:
    """(game type, proxy) of every game in the factory, oldest first."""
    dgf = dn.info()["dgf_address"]
    (count,) = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameCount")
    out = []
    for index in range(count):
        typ, _ts, proxy = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameAtIndex", index)
        out.append((int(typ), str(proxy)))
    return out


def l1_nonce(dn: Devnet, role: str) -> int:
    address = dn.info()[f"{role}_address"]
    return int(str(rpc_call(dn.l1_url, "eth_getTransactionCount", [address, "latest"])), 16)


def published_ports(compose: dict[str, Any], name: str, args: list[str]) -> dict[int, int]:
    """Container port -> a free host port, for the compose ``ports:`` and the (unpublished) metrics port."""
    container_ports = [int(str(p).rsplit(":", 1)[1]) for p in compose["services"][name]["ports"]]
    container_ports.append(int(flag_values(args)["metrics.port"]))
    return {port: free_port() for port in container_ports}


def finalized_l2(dn: Devnet) -> int:
    """The rollup node's finalized L2 block number (what the proposer proposes without
    allow-non-finalized, as in the env file)."""
    status: Any = rpc_call(dn.rollup_url, "optimism_syncStatus")
    return int(status["finalized_l2"]["number"])


def local_commands(
    compose: dict[str, Any], env_file: Mapping[str, str], hosts: Mapping[str, str]
) -> dict[str, tuple[list[str], list[str]]]:
    """Per service: (the compose arguments as tests/test_ops_kit.py computes them, the local arguments)."""
    out = {}
    for name in SERVICES:
        args = service_command(compose, env_file, name)
        out[name] = (args, on_this_host(args, hosts, published_ports(compose, name, args)))
    return out


def test_local_arguments_differ_from_the_compose_command_only_in_networking():
    """Same flags in the same order as the compose command; only service URLs and container ports change,
    each port to a distinct host port."""
    compose = load_yaml(COMPOSE)
    env_file = read_env_file(ENV_EXAMPLE)
    hosts = {"http://op-geth:8545": "http://127.0.0.1:1", "http://op-node:8547": "http://127.0.0.1:2"}
    ports: set[str] = set()
    for name, (args, local) in local_commands(compose, env_file, hosts).items():
        theirs, ours = flag_values(args), flag_values(local)
        assert list(theirs) == list(ours), name
        changed = {flag for flag in theirs if theirs[flag] != ours[flag]}
        assert changed == CONTAINER_NETWORK_FLAGS & set(theirs), (name, changed)
        endpoints = {ours[flag] for flag in ("l2-eth-rpc", "rollup-rpc") if flag in ours}
        assert endpoints and endpoints <= set(hosts.values()), endpoints
        ports |= {ours["rpc.port"], ours["metrics.port"]}
    assert len(ports) == 4, ports


def test_compose_entrypoints_run_healthy_do_their_jobs_and_stop(devnet_dgf, make_devnet, tmp_path):
    """op-batcher and op-proposer, started as their images start them with the compose arguments and a
    filled-in env file: /healthz and the image HEALTHCHECK pass, the batcher's batches move the safe head,
    the proposer creates a game of the env file's type with the rollup node's output root, and SIGTERM by
    PID stops both with status 0 and nothing left running."""
    ns = namespace_flags()  # None: no namespaces here; everything but the in-container probe still runs
    game_type = int(read_env_file(ENV_EXAMPLE)["OP_PROPOSER_GAME_TYPE"])
    dn = devnet_dgf
    if any(typ == game_type for typ, _ in games(dn)):  # the proposer would wait the 1 h proposal interval
        dn = make_devnet(proposer="dgf")
    assert dn.deriver is not None and dn.sequencer is not None
    env_file = operator_env(dn)
    environ = container_environ(env_file)
    hosts = {"http://op-geth:8545": dn.l2_url, "http://op-node:8547": dn.rollup_url}
    start_games = len(games(dn))
    start_nonces = {role: l1_nonce(dn, role) for role in ("batcher", "proposer")}
    dn.produce_l2_blocks(4)
    start_safe, target = dn.deriver.safe.number, dn.sequencer.head.number
    assert start_safe < target
    services: dict[str, Container] = {}
    try:
        for name, (_args, local) in local_commands(load_yaml(COMPOSE), env_file, hosts).items():
            services[name] = run_container(name, local, environ, ns, tmp_path)
        for name, svc in services.items():
            version = SERVICE_VERSIONS[name]
            assert json.loads(wait_healthy(svc))["version"] == version
            if ns is not None:  # the probe scans /proc: only inside the namespace is the service PID 1
                check = svc.healthcheck()
                assert check.returncode == 0, f"{check.stdout}{check.stderr}\n{svc.tail()}"
                assert check.stdout.strip() == f"{name} healthy: version {version}", check.stdout

        batcher, proposer = services["op-batcher"], services["op-proposer"]
        deadline = time.monotonic() + JOB_TIMEOUT
        while time.monotonic() < deadline:
            assert batcher.alive(), batcher.tail()
            assert proposer.alive(), proposer.tail()
            assert dn.deriver.halted is None, dn.deriver.halted
            if len(games(dn)) > start_games:
                break
            if dn.deriver.safe.number < target:
                dn.produce_l2_blocks(1)  # moves L1 as needed: channels close, batches land
            elif finalized_l2(dn) < target:
                rpc_call(dn.l1_url, "anvil_mine", [1])  # L1 time passes until the batches' blocks finalize
            time.sleep(0.3)
        assert dn.deriver.safe.number >= target, f"safe head stuck:\n{batcher.tail()}"
        assert l1_nonce(dn, "batcher") > start_nonces["batcher"], "the safe head moved without our batcher"
        assert l1_nonce(dn, "proposer") > start_nonces["proposer"], "a game appeared without our proposer"
        new = games(dn)[start_games:]
        assert new, f"no game after {JOB_TIMEOUT} s:\n{proposer.tail()}"
    finally:
        statuses = {name: svc.stop() for name, svc in services.items()}
    for name, svc in services.items():
        assert statuses[name] == 0, f"{name} exited {statuses[name]}:\n{svc.tail()}"
        assert not Path(f"/proc/{svc.pid}").exists(), f"{name} PID {svc.pid} still present"
        assert not Path(f"/proc/{svc.launcher.pid}").exists()
    typ, proxy = new[0]
    assert typ == game_type
    (l2_block,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "l2BlockNumber")
    (root,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "rootClaim")
    output: Any = rpc_call(dn.rollup_url, "optimism_outputAtBlock", [hex(l2_block)])
    assert "0x" + bytes(root).hex() == output["outputRoot"]
    assert 0 < l2_block <= dn.deriver.safe.number
