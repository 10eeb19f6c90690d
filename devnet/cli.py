"""``op-devnet up``: a local OP devnet with our op-batcher and op-proposer as child processes.

It starts an L1 anvil (blobs, moving safe/finalized), an OP L2 anvil, deploys the real L1 contracts, writes
``rollup.json`` and ``devnet.json`` into the state dir, runs the sequencer and rollup-node stand-ins in
this process and the services as children with Go-style flags, and prints one status line per L1 block.
Ctrl-C or the end of ``--duration`` stops every child by its PID. With ``--duration`` the exit code is 0
only if L2 blocks were made and, with services, the safe head followed the unsafe head and proposals
landed; each of the last two is required only when ``--duration`` gave it time (``first_safe_eta``,
``first_proposal_eta``: the demo's 120 s with the default clocks requires both), and a skipped check is
printed. The batcher gets the devnet's L2 endpoint, which serves ``miner_setMaxDASize`` like op-geth, so
it runs with default DA throttling. ``--prometheus`` adds a Prometheus server (devnet/prometheus.py)
scraping both services with the shipped alert rules; the status line then counts the firing alerts.
``--da altda`` runs the DA-server stand-in (devnet/da_server.py: op-alt-da's HTTP protocol; the Go
da-server cannot run here) and starts the batcher with ``--altda.enabled --altda.da-server <it>`` on
calldata; the rollup node derives the commitment txs through it (status line: ``altda: ...``).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.anvil import free_port, rpc_call
from devnet.contracts import (
    GAME_TYPE_SUPER_CANNON,
    GAME_TYPE_SUPER_PERMISSIONED,
    L2OO_SUBMISSION_INTERVAL,
    Abi,
    eth_call,
)
from devnet.network import Devnet, DevnetConfig
from devnet.prometheus import INSTALL_HINT, PrometheusServer, find_binary, start_prometheus

log = logging.getLogger("devnet.cli")

SERVICE_START_GRACE = 3.0
"""Seconds a service must survive after start to count as running."""
MAX_CHANNEL_DURATION = 2
"""op-batcher --max-channel-duration (L1 blocks): a channel is posted at least this often."""
PROPOSER_POLL_SECONDS = 2
DGF_PROPOSAL_INTERVAL = "20s"
SERVICE_WARMUP_SECONDS = 10.0
"""Allowance for a service's first cycle on a busy machine: the batcher loads the KZG trusted setup and
computes its first blob (cell) proofs before its first tx is published."""
ETA_SLACK_FACTOR, ETA_SLACK_SECONDS = 1.25, 5.0
"""--duration judging: an outcome is required once the run lasted its estimated time x factor + seconds."""
PROMETHEUS_INTERVAL = "5s"
"""--prometheus scrape and rule-evaluation interval (the devnet's clocks are seconds, not minutes)."""
EXIT_OK, EXIT_FAILED, EXIT_SERVICE_MISSING = 0, 1, 2


@dataclass
class Service:
    """A child process (op-batcher / op-proposer) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    rpc_port: int
    metrics_port: int

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM by PID (the service's graceful stop), SIGKILL after 15 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def service_module(name: str) -> str | None:
    """The importable CLI module of a service ('batcher' -> 'batcher.cli'), or None when it is missing."""
    module = f"{name}.cli"
    try:
        return module if importlib.util.find_spec(module) is not None else None
    except ModuleNotFoundError:
        return None


def _da_args(dn: Devnet, da: str) -> list[str]:
    """The batcher's DA flags: a data-availability type, or Alt-DA (calldata) to the devnet's DA server."""
    if da != "altda":
        return ["--data-availability-type", da]
    url = dn.info()["da_server"]
    return ["--data-availability-type", "calldata", "--altda.enabled", "--altda.da-server", str(url)]


def batcher_args(dn: Devnet, da: str, rpc_port: int, metrics_port: int) -> list[str]:
    info = dn.info()
    return [
        "--l1-eth-rpc",
        dn.l1_url,
        "--l2-eth-rpc",
        dn.l2_url,
        "--rollup-rpc",
        dn.rollup_url,
        "--private-key",
        info["dev_keys"]["batcher"]["private_key"],
        *_da_args(dn, da),
        "--poll-interval",
        "1s",
        "--num-confirmations",
        "1",
        # Go's 12 s default matches mainnet slots; poll receipts once per devnet L1 block instead
        "--txmgr.receipt-query-interval",
        f"{1 if dn.cfg.fast else dn.cfg.l1_block_time}s",
        "--max-channel-duration",
        str(MAX_CHANNEL_DURATION),
        "--batch-type",
        "1",
        "--sub-safety-margin",
        "4",
        "--rpc.port",
        str(rpc_port),
        "--metrics.enabled",
        "--metrics.port",
        str(metrics_port),
        "--txmgr.cell-proof-time",
        "0" if dn.cfg.l1_fork == "osaka" else "18446744073709551615",
        "--log.level",
        "info",
    ]


def proposer_args(dn: Devnet, rpc_port: int, metrics_port: int) -> list[str]:
    info = dn.info()
    args = [
        "--l1-eth-rpc",
        dn.l1_url,
        "--rollup-rpc",
        dn.rollup_url,
        "--private-key",
        info["dev_keys"]["proposer"]["private_key"],
        "--poll-interval",
        f"{PROPOSER_POLL_SECONDS}s",
        "--num-confirmations",
        "1",
        # Go's 12 s default matches mainnet slots; poll receipts once per devnet L1 block instead
        "--txmgr.receipt-query-interval",
        f"{1 if dn.cfg.fast else dn.cfg.l1_block_time}s",
        "--rpc.port",
        str(rpc_port),
        "--metrics.enabled",
        "--metrics.port",
        str(metrics_port),
        "--log.level",
        "info",
    ]
    if info["l2oo_address"]:
        return [*args, "--l2oo-address", info["l2oo_address"]]
    if info["proposer_mode"] == "super":  # an interop chain's command line: super roots, not the rollup node
        args[args.index("--rollup-rpc") : args.index("--rollup-rpc") + 2] = [
            "--superroot-rpcs",
            dn.rollup_url,
        ]
    return [
        *args,
        "--game-factory-address",
        info["dgf_address"],
        "--proposal-interval",
        DGF_PROPOSAL_INTERVAL,
        "--game-type",
        str(info["game_type"]),
    ]


def start_service(name: str, module: str, args: list[str], state_dir: Path) -> Service:
    log_path = state_dir / f"{name}.log"
    cmd = [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())", *args]
    out = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out.close()
    rpc_port = int(args[args.index("--rpc.port") + 1])
    metrics_port = int(args[args.index("--metrics.port") + 1])
    return Service(name, proc, log_path, rpc_port, metrics_port)


SUPER_GAME_TYPES = (GAME_TYPE_SUPER_CANNON, GAME_TYPE_SUPER_PERMISSIONED)


def last_proposal(dn: Devnet) -> tuple[int, str]:
    """(count, description) of proposals on L1: L2OO outputs or dispute games."""
    info = dn.info()
    try:
        if info["l2oo_address"]:
            (latest,) = eth_call(dn.l1_url, info["l2oo_address"], Abi("L2OutputOracle"), "latestBlockNumber")
            return (1 if latest else 0), (f"L2OO output @L2 {latest}" if latest else "none")
        (count,) = eth_call(dn.l1_url, info["dgf_address"], Abi("DisputeGameFactory"), "gameCount")
        if not count:
            return 0, "none"
        typ, _ts, proxy = eth_call(
            dn.l1_url, info["dgf_address"], Abi("DisputeGameFactory"), "gameAtIndex", count - 1
        )
        if typ in SUPER_GAME_TYPES:
            (timestamp,) = eth_call(dn.l1_url, proxy, Abi("SuperRootGame"), "l2SequenceNumber")
            return int(count), f"{count} super-root games, last @L2 time {timestamp}"
        (l2_block,) = eth_call(dn.l1_url, proxy, Abi("FaultDisputeGame"), "l2BlockNumber")
        return int(count), f"{count} games, last @L2 {l2_block}"
    except (RuntimeError, OSError, ValueError) as exc:
        return 0, f"? ({exc})"


def alerts_text(prom: PrometheusServer | None) -> str:
    """The status line's alert field: firing alerts on the devnet's Prometheus (empty without one)."""
    if prom is None:
        return ""
    try:
        return f" | alerts firing: {prom.firing_count()}"
    except (OSError, RuntimeError, ValueError):
        return " | alerts firing: ?"


def status_line(dn: Devnet, prom: PrometheusServer | None = None) -> tuple[str, dict[str, Any]]:
    st = rpc_call(dn.rollup_url, "optimism_syncStatus")
    assert isinstance(st, dict)
    deriver = dn.deriver
    batch = deriver.last_batch_tx if deriver else None
    btxt = (
        f"type {batch.tx_type}, {batch.blobs} blobs, {batch.data_bytes} B @L1 {batch.l1_block}"
        if batch
        else "none"
    )
    _, ptxt = last_proposal(dn)
    followed = ""
    if deriver and (deriver.resets or deriver.forced_blocks):
        followed = f" | L1 reorg resets: {deriver.resets}, forced blocks: {deriver.forced_blocks}"
    if dn.da_server is not None:  # Alt-DA: inputs stored, and derivation steps that waited for one
        srv = dn.da_server.server
        waits = deriver.da_stalls if deriver else 0
        followed += f" | altda: {srv.puts} puts, {len(srv.store)} stored, {waits} waits"
    halted = f" HALTED: {deriver.halted}" if deriver and deriver.halted else ""
    line = (
        f"L1 {st['head_l1']['number']}/{st['safe_l1']['number']}/{st['finalized_l1']['number']} | "
        f"L2 {st['unsafe_l2']['number']}/{st['safe_l2']['number']}/{st['finalized_l2']['number']} | "
        f"batch: {btxt} | proposal: {ptxt}{followed}{alerts_text(prom)}{halted}"
    )
    return line, st


def run_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    services: list[Service] = []
    prom: PrometheusServer | None = None
    modules = {name: service_module(name) for name in ("batcher", "proposer")}
    if not args.no_services:
        missing = [n for n, m in modules.items() if m is None]
        if missing:
            print(
                f"op-devnet: service(s) not available: {', '.join('op-' + m for m in missing)} "
                f"({', '.join(m + '/cli.py' for m in missing)} missing or not importable); "
                "use --no-services to run the devnet alone",
                file=sys.stderr,
            )
            return EXIT_SERVICE_MISSING
    cfg = DevnetConfig(
        state_dir=state_dir,
        proposer=args.proposer,
        l1_fork=args.l1_fork,
        block_time=args.block_time,
        l1_block_time=args.l1_block_time,
        altda=args.da == "altda",
    )
    dn = Devnet(cfg)
    stop_requested = False

    def on_signal(_sig: int, _frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        dn.start()
        print(
            f"op-devnet: L1 {dn.l1_url}  L2 {dn.l2_url}  rollup {dn.rollup_url}  state {state_dir}"
            + (f"  DA server {dn.da_server.url}" if dn.da_server is not None else ""),
            flush=True,
        )
        dn.start_sequencer_thread()
        if not args.no_services:
            for name in ("batcher", "proposer"):
                rpc_port, metrics_port = free_port(), free_port()
                sargs = (
                    batcher_args(dn, args.da, rpc_port, metrics_port)
                    if name == "batcher"
                    else proposer_args(dn, rpc_port, metrics_port)
                )
                services.append(start_service(name, str(modules[name]), sargs, state_dir))
            time.sleep(SERVICE_START_GRACE)
            for svc in services:
                if not svc.alive():
                    print(
                        f"op-devnet: op-{svc.name} exited (code {svc.process.returncode}) right after start "
                        f"(log {svc.log_path}):\n{svc.tail()}",
                        file=sys.stderr,
                    )
                    return EXIT_SERVICE_MISSING
            if args.prometheus:
                prom = start_devnet_prometheus(state_dir, services)
        return watch(dn, services, args, lambda: stop_requested, prom)
    finally:
        if prom is not None:
            prom.stop()
        for svc in services:
            svc.stop()
        dn.stop()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def start_devnet_prometheus(state_dir: Path, services: list[Service]) -> PrometheusServer | None:
    """--prometheus: a Prometheus server scraping the services with the shipped alerts; its URL is
    printed. Without the binary (or if it fails to start) the devnet runs on without it."""
    if find_binary() is None:
        print(
            f"op-devnet: --prometheus: no 'prometheus' binary on PATH ({INSTALL_HINT}); running without it",
            file=sys.stderr,
        )
        return None
    targets = {f"op-{svc.name}": svc.metrics_port for svc in services}
    try:
        prom = start_prometheus(state_dir, targets, interval=PROMETHEUS_INTERVAL)
    except (OSError, RuntimeError) as exc:
        print(f"op-devnet: --prometheus: could not start it ({exc}); running without it", file=sys.stderr)
        return None
    print(
        f"op-devnet: Prometheus {prom.url} (rules docker/prometheus/alerts.yml, data {prom.data_dir})",
        flush=True,
    )
    return prom


def watch(
    dn: Devnet,
    services: list[Service],
    args: argparse.Namespace,
    stopping: Any,
    prom: PrometheusServer | None = None,
) -> int:
    """Print a status line per L1 block until Ctrl-C or --duration; judge the run at the end."""
    deadline = time.monotonic() + args.duration if args.duration else None
    last_l1 = -1
    st: dict[str, Any] = {}
    while not stopping() and (deadline is None or time.monotonic() < deadline):
        for svc in services:
            if not svc.alive():
                print(
                    f"op-devnet: op-{svc.name} died with code {svc.process.returncode}:\n{svc.tail()}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
        try:
            head = int(str(rpc_call(dn.l1_url, "eth_blockNumber")), 16)
            if head != last_l1:
                line, st = status_line(dn, prom)
                print(time.strftime("%H:%M:%S ") + line, flush=True)
                last_l1 = head
        except (OSError, RuntimeError) as exc:
            print(f"op-devnet: status unavailable: {exc}", file=sys.stderr)
        time.sleep(0.25)
    if deadline is None:
        return EXIT_OK
    return judge(dn, services, st, float(args.duration))


def first_safe_eta(cfg: DevnetConfig) -> float:
    """Seconds after the services start until the safe head first moves: the batcher closes a channel
    within --max-channel-duration L1 blocks, its tx lands in the next block and the rollup node reads it."""
    return SERVICE_WARMUP_SECONDS + (MAX_CHANNEL_DURATION + 2) * cfg.l1_block_time + 1.0


def first_proposal_eta(cfg: DevnetConfig) -> float:
    """Seconds after the services start until the first proposal lands. The proposer proposes finalized
    L2 blocks only: the L2OO's first output block (the submission interval) or, for games, any block past
    genesis must be made, batched, derived and then finalized (anvil finalizes two epochs behind its head),
    and the proposer's tx needs a poll, an inclusion and a confirmation."""
    first_block = L2OO_SUBMISSION_INTERVAL if cfg.proposer == "l2oo" else 1
    finality = 2 * cfg.slots_in_an_epoch * cfg.l1_block_time
    return (
        first_block * cfg.block_time
        + first_safe_eta(cfg)
        + finality
        + PROPOSER_POLL_SECONDS
        + 2 * cfg.l1_block_time
    )


def required_after(eta: float) -> float:
    """The run length from which an outcome estimated at ``eta`` seconds is required (with slack)."""
    return eta * ETA_SLACK_FACTOR + ETA_SLACK_SECONDS


def max_safe_lag_blocks(cfg: DevnetConfig) -> int:
    """How far the safe head may trail the unsafe head at the end: one batching cycle of L2 blocks
    (--max-channel-duration plus inclusion and derivation) with 50% slack, plus a few blocks."""
    cycle = (MAX_CHANNEL_DURATION + 3) * cfg.l1_block_time / cfg.block_time
    return math.ceil(cycle * 1.5) + 4


def judge(dn: Devnet, services: list[Service], st: dict[str, Any], duration: float) -> int:
    """--duration verdict: L2 advanced; with services also the safe head followed the unsafe head and
    proposals landed, each required only when ``duration`` gave it time (see ``first_*_eta``)."""
    if not st:
        print("op-devnet: FAILED: no status was ever read", file=sys.stderr)
        return EXIT_FAILED
    unsafe, safe = st["unsafe_l2"]["number"], st["safe_l2"]["number"]
    problems, skipped, verdicts = [], [], []
    if unsafe == 0:
        problems.append("no L2 blocks were produced")
    if services:
        cfg = dn.cfg
        if dn.deriver and dn.deriver.halted:
            problems.append(f"derivation halted: {dn.deriver.halted}")
        if duration >= required_after(first_safe_eta(cfg)):
            lag = max_safe_lag_blocks(cfg)
            if safe == 0 or unsafe - safe > lag:
                problems.append(f"safe head did not follow (unsafe {unsafe}, safe {safe}, allowed lag {lag})")
            else:
                verdicts.append(f"safe head followed (lag {unsafe - safe} <= {lag})")
        else:
            skipped.append(f"safe head (needs >= {required_after(first_safe_eta(cfg)):.0f} s)")
        count, desc = last_proposal(dn)
        if duration >= required_after(first_proposal_eta(cfg)):
            if count == 0:
                problems.append(f"no proposal landed ({desc})")
            else:
                verdicts.append(f"proposals landed ({desc})")
        else:
            skipped.append(
                f"proposals (needs >= {required_after(first_proposal_eta(cfg)):.0f} s; so far: {desc})"
            )
    if skipped:
        print(f"op-devnet: --duration {duration:g} s too short to judge: " + "; ".join(skipped), flush=True)
    if problems:
        print("op-devnet: FAILED: " + "; ".join(problems), file=sys.stderr)
        return EXIT_FAILED
    print(
        f"op-devnet: OK: unsafe {unsafe}, safe {safe}, finalized {st['finalized_l2']['number']}"
        + "".join(f"; {v}" for v in verdicts),
        flush=True,
    )
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="op-devnet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the devnet (and op-batcher/op-proposer)")
    up.add_argument(
        "--da",
        choices=("calldata", "blobs", "auto", "altda"),
        default="blobs",
        help="batcher data-availability type; altda: frames go to a DA-server stand-in (op-alt-da's HTTP "
        "protocol), calldata txs carry the commitments",
    )
    up.add_argument(
        "--proposer",
        choices=("l2oo", "dgf", "super"),
        default="l2oo",
        help="L2OutputOracle, dispute games, or super-root games (type 5 from --superroot-rpcs)",
    )
    up.add_argument("--l1-fork", choices=("prague", "osaka"), default="prague")
    up.add_argument("--block-time", type=int, default=2, help="L2 block time in seconds")
    up.add_argument("--l1-block-time", type=int, default=4, help="L1 block time in seconds")
    up.add_argument(
        "--duration", type=float, default=0, help="stop after this many seconds and judge the run"
    )
    up.add_argument("--state-dir", default=".devnet", help="where rollup.json, devnet.json and logs go")
    up.add_argument(
        "--no-services", action="store_true", help="run the devnet without op-batcher/op-proposer"
    )
    up.add_argument(
        "--prometheus",
        action="store_true",
        help="also run a Prometheus server (the 'prometheus' binary) scraping the services with the "
        "shipped alert rules; the status line shows how many alerts fire",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.block_time < 1 or args.l1_block_time < 1:
        print("op-devnet: --block-time and --l1-block-time must be at least 1 second", file=sys.stderr)
        return EXIT_FAILED
    return run_up(args)


if __name__ == "__main__":
    sys.exit(main())
