"""The shipped alerts and dashboard, checked by a real Prometheus scraping the devnet under real faults.

One devnet (real anvil L1/L2, real OP contracts; the rollup node is the devnet's stand-in, since op-node
cannot run here), our op-batcher and op-proposer as child processes and Debian's ``prometheus`` server
(devnet/prometheus.py) are shared by the whole module; the tests run in file order against them: first the
quiet period, then one fault after another, each removed before the next. Both services reach L1 and the
rollup node through TCP proxies (tests/outage_proxy.py) so that either endpoint can go down. Prometheus
scrapes and evaluates every second; the rules are the shipped file with every ``for:`` shortened to HOLD
by ``render_rules`` (the expressions stay the shipped ones:
``test_rendered_rules_keep_every_shipped_expression``). Everything is asserted through Prometheus's HTTP
API (``/api/v1/alerts``, ``/api/v1/query``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rlp
import yaml

from devnet import cli
from devnet.anvil import free_port, rpc_call
from devnet.network import Devnet
from devnet.prometheus import SHIPPED_RULES, PrometheusServer, find_binary, render_rules, start_prometheus
from devnet.pytest_plugin import start_devnet
from tests.faulty_rpc import FaultyRpc, decode_raw_tx
from tests.outage_proxy import OutageProxy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.skipif(find_binary() is None, reason="no 'prometheus' binary (apt-get install prometheus)"),
]

DASHBOARD = (
    Path(__file__).resolve().parent.parent / "docker" / "grafana" / "dashboards" / "op-py-services.json"
)
HOLD = "2s"
"""The shortened ``for:`` of every rule that has one (shipped: 1m to 30m)."""
INTERVAL = "1s"
QUIET_SECONDS = 180.0
"""The healthy period watched for alerts: three minutes of L2 blocks every 0.2 s with batches landing and
proposals made (the module runs on one xdist worker while the other takes the rest of the suite)."""
ALERT_TIMEOUT = 45.0
STUCK_TIMEOUT = 120.0
"""The proposer sends only when an output is due (every L2OO submission interval of finalized blocks)."""
RATE_WINDOW = "30s"
"""Grafana's ``$__rate_interval`` for the dashboard queries (several 1 s scrapes)."""
NEEDS_FAULT = {
    'error!="<nil>"': "outgoing RPC errors: none while every call succeeds (the L1 outage fills it)",
    "txmgr_rpc_error_count": "tx-manager RPC errors: the counter has no series before its first error",
    "txmgr_tx_publish_error_count": "publish errors: one series per error kind, none before the first",
}
"""Dashboard queries (by a fragment) that legitimately return nothing on a healthy devnet."""
EXTRA = ["--resubmission-timeout", "3s", "--rpc.enable-admin"]
"""Both services re-publish a tx the pool has not taken every 3 s (Go default 48 s), so a rejecting pool
makes the errors the publish-error alerts count within the test's time; the admin RPC stops them."""
FUNDED = hex(10_000 * 10**18)


@dataclass
class Live:
    dn: Devnet
    prom: PrometheusServer
    l1_proxy: OutageProxy
    rollup_proxy: OutageProxy
    pool: FaultyRpc
    services: dict[str, cli.Service]
    args: dict[str, list[str]]
    state_dir: Path

    def restart(self, name: str) -> None:
        """Start the service again with its arguments (and so its ports)."""
        self.services[name] = cli.start_service(name, f"{name}.cli", self.args[name], self.state_dir)

    def crash(self, name: str) -> None:
        """SIGKILL the service's whole process group by its id (it leads its own session), as a crashed
        container loses every process: the batcher's compression workers too."""
        proc = self.services[name].process
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n{s.tail()}" for n, s in self.services.items()) + f"\n{self.prom.tail()}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The module's devnet, services and Prometheus. Both services reach L1 through the outage proxy and
    the fault-injecting JSON-RPC proxy (geth's pool rules off: it only injects what a test asks for)."""
    state = tmp_path_factory.mktemp("alerts-live")
    dn = start_devnet(state / "devnet")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="faulty-rpc").start()
    pool = FaultyRpc(dn.l1_url, geth_pool_rules=False)
    asyncio.run_coroutine_threadsafe(pool.start(), loop).result(10)
    proxy = OutageProxy(pool.url)
    rollup_proxy = OutageProxy(dn.rollup_url)
    services: dict[str, cli.Service] = {}
    prom = None
    try:
        args = {
            name: via(via(sargs, "--l1-eth-rpc", proxy.url), "--rollup-rpc", rollup_proxy.url)
            for name, sargs in (
                ("batcher", [*cli.batcher_args(dn, "blobs", free_port(), free_port()), *EXTRA]),
                ("proposer", [*cli.proposer_args(dn, free_port(), free_port()), *EXTRA]),
            )
        }
        for name, sargs in args.items():
            services[name] = cli.start_service(name, f"{name}.cli", sargs, state)
        dn.start_sequencer_thread(interval=0.2)
        targets = {f"op-{n}": s.metrics_port for n, s in services.items()}
        prom = start_prometheus(state, targets, interval=INTERVAL, hold=HOLD)
        live = Live(dn, prom, proxy, rollup_proxy, pool, services, args, state)
        warm_up(live)
        yield live
    finally:
        dn.stop_sequencer_thread()
        if prom is not None:
            prom.stop()
        for svc in services.values():
            svc.stop()
        proxy.close()
        rollup_proxy.close()
        asyncio.run_coroutine_threadsafe(pool.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        dn.stop()


def via(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag``'s value replaced."""
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def wait_for(live: Live, what: str, check: Callable[[], bool], timeout: float = ALERT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{what} not seen within {timeout} s; alerts {live.prom.alert_states()}\n{live.tails()}"
    )


def wait_alerts(live: Live, names: set[str], timeout: float = ALERT_TIMEOUT) -> None:
    """Until every alert in ``names`` fires."""
    wait_for(live, f"{sorted(names)} firing", lambda: names <= alerts_in(live, "firing"), timeout)


def wait_resolved(live: Live, names: set[str]) -> None:
    """Until no alert in ``names`` is pending or firing any more."""
    wait_for(live, f"{sorted(names)} resolved", lambda: not names & live.prom.alert_states().keys())


def alerts_in(live: Live, state: str) -> set[str]:
    return {name for name, st in live.prom.alert_states().items() if st == state}


def scalar(live: Live, expr: str) -> float:
    """The one sample of ``expr`` (the test's own queries select exactly one series)."""
    result = live.prom.query(expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def batch_confirmed_after(live: Live, since: float) -> bool:
    result = live.prom.query('op_batcher_default_last_batcher_tx_unix{stage="success"}')
    return bool(result) and float(result[0]["value"][1]) > since


def warm_up(live: Live) -> None:
    """Until the devnet is healthy as Prometheus sees it: both targets up, a confirmed batch tx, both
    balances polled. The balance gauges read 0 until their first poll, 10 s after start (Go's ticker);
    the shipped ``for:`` (1m, 5m) covers that, the shortened HOLD does not, so every test starts after it
    (in the fixture: any test of the module may be the first one a worker runs)."""
    wait_for(live, "both targets up", lambda: len(live.prom.query("up == 1")) == 2)
    wait_for(live, "a confirmed batch tx", lambda: batch_confirmed_after(live, 0))
    balances = '{__name__=~"op_(batcher|proposer)_default_balance"} > 0'
    wait_for(live, "both balances polled", lambda: len(live.prom.query(balances)) == 2)
    time.sleep(float(HOLD.rstrip("s")) + 2)  # alerts raised by the zero gauges have been re-evaluated


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target, with the dashboard variables filled in as Grafana
    would for "All" instances."""
    board = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", RATE_WINDOW)
                out.append((panel.get("title", ""), re.sub(r"\$\{?(batcher|proposer)\}?", ".*", expr)))

    walk(board["panels"])
    return out


def empty_dashboard_queries(live: Live) -> list[tuple[str, str]]:
    return [(title, expr) for title, expr in dashboard_queries() if not live.prom.query(expr)]


# ---------------------------------------------------------------------------------------------------


def test_rendered_rules_keep_every_shipped_expression(tmp_path):
    """The templating step changes ``for:`` only: same rules, same expressions, labels and annotations."""
    shipped = yaml.safe_load(SHIPPED_RULES.read_text())
    rendered = yaml.safe_load(render_rules(SHIPPED_RULES.read_text(), HOLD))
    pairs = [
        (a, b)
        for ga, gb in zip(shipped["groups"], rendered["groups"], strict=True)
        for a, b in zip(ga["rules"], gb["rules"], strict=True)
    ]
    assert len(pairs) == 34
    for a, b in pairs:
        assert {k: v for k, v in a.items() if k != "for"} == {k: v for k, v in b.items() if k != "for"}
        assert ("for" in a) == ("for" in b) and b.get("for", HOLD) == HOLD
    with pytest.raises(ValueError, match="alert hold"):
        render_rules("", "two minutes")


def test_services_are_scraped_and_batch(live):
    """After the warm-up both targets stay up and batches keep landing."""
    since = time.time()
    assert len(live.prom.query("up == 1")) == 2
    wait_for(live, "a batch tx confirmed after the warm-up", lambda: batch_confirmed_after(live, since))


def test_healthy_devnet_fires_no_alert(live):
    """Over QUIET_SECONDS of a healthy run no rule is even pending, and the safe head keeps moving."""
    assert live.dn.deriver is not None
    safe_before = live.dn.deriver.safe.number
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        assert live.prom.alerts() == [], live.prom.alerts()
        time.sleep(1.0)
    assert live.dn.deriver.safe.number > safe_before, live.tails()
    assert scalar(live, "count(ALERTS) or vector(0)") == 0


def test_every_dashboard_query_returns_data_on_the_healthy_devnet(live):
    """Every panel query returns a series, except the ones listed in NEEDS_FAULT (filled by a fault later).
    The proposer's panels need its first proposal, due once an L2OO submission interval is finalized."""

    def unexplained() -> list[tuple[str, str]]:
        empty = empty_dashboard_queries(live)
        return [(t, e) for t, e in empty if not any(f in e for f in NEEDS_FAULT)]

    wait_for(live, "data in every panel but the error panels", lambda: not unexplained(), STUCK_TIMEOUT)


def test_balance_drained_below_the_thresholds(live):
    """anvil sets both accounts below the thresholds: the balance alerts fire; topped up, they resolve."""
    names = {"OpBatcherBalanceLow", "OpBatcherBalanceCritical", "OpProposerBalanceLow"}
    info = live.dn.info()
    for role, wei in (("batcher", 5 * 10**16), ("proposer", 10**17)):
        rpc_call(live.dn.l1_url, "anvil_setBalance", [info[f"{role}_address"], hex(wei)])
    wait_alerts(live, names)
    for role in ("batcher", "proposer"):
        rpc_call(live.dn.l1_url, "anvil_setBalance", [info[f"{role}_address"], FUNDED])
    wait_resolved(live, names)


def test_l1_rpc_down(live):
    """The batcher's L1 endpoint refuses connections: its tx manager's RPC errors raise
    OpBatcherL1RpcErrors and the dashboard's RPC error panel gets data. Back up, batches are confirmed
    again. The alert's ``increase(...[15m])`` keeps it firing for 15 minutes after the outage (the
    window is shipped, not shortened), so its resolution is not waited for here."""
    live.l1_proxy.down()
    try:
        wait_alerts(live, {"OpBatcherL1RpcErrors"})
        filled = ("op_batcher_default_rpc_client", "op_batcher_default_txmgr_rpc_error_count")
        empty = [e for _t, e in empty_dashboard_queries(live) if any(f in e for f in filled)]
        assert empty == [], empty
    finally:
        live.l1_proxy.up()
    back = time.time()
    wait_for(live, "a batch confirmed after the outage", lambda: batch_confirmed_after(live, back))


def test_rollup_node_down(live):
    """The rollup node's endpoint refuses connections (TCP proxy): both services keep running and
    retrying, their failed ``optimism_*`` calls raise OpBatcherRollupNodeErrors and
    OpProposerRollupNodeErrors. Back up, batches land again; the alerts' 5m window keeps them firing
    for 5 minutes after the outage (the window is shipped, not shortened), so that is not waited for."""
    calls = 'sum(op_proposer_default_rpc_client_responses_total{method="optimism_syncStatus"})'
    before = scalar(live, calls)
    # The proposer was restarted over its admin RPC just before: its loop must be ticking again.
    wait_for(live, "the proposer polling the rollup node", lambda: scalar(live, calls) > before)
    live.rollup_proxy.down()
    try:
        wait_alerts(live, {"OpBatcherRollupNodeErrors", "OpProposerRollupNodeErrors"}, timeout=STUCK_TIMEOUT)
        assert len(live.prom.query("up == 1")) == 2
    finally:
        live.rollup_proxy.up()
    back = time.time()
    wait_for(live, "a batch confirmed after the outage", lambda: batch_confirmed_after(live, back))


def test_services_stopped_over_admin_rpc(live):
    """``admin_stopBatcher`` and ``admin_stopProposer``: both services stay up and scraped, their
    ``stopped`` gauge reads 1 and OpBatcherStopped / OpProposerStopped fire; started again over the same
    RPC, both resolve and batches land again."""
    names = {"OpBatcherStopped", "OpProposerStopped"}
    admin = {"batcher": "Batcher", "proposer": "Proposer"}
    for name, what in admin.items():
        rpc_call(admin_url(live, name), f"admin_stop{what}", [], timeout=60)
    try:
        wait_alerts(live, names)
        assert len(live.prom.query("up == 1")) == 2
    finally:
        for name, what in admin.items():
            rpc_call(admin_url(live, name), f"admin_start{what}", [], timeout=60)
    back = time.time()
    wait_resolved(live, names)
    wait_for(live, "a batch confirmed after the restart", lambda: batch_confirmed_after(live, back))


def test_batcher_process_killed(live):
    """SIGKILL the batcher's processes: its target goes down, OpBatcherDown fires; restarted, it resolves."""
    live.crash("batcher")
    wait_alerts(live, {"OpBatcherDown"})
    live.restart("batcher")
    wait_resolved(live, {"OpBatcherDown"})


def test_proposer_process_killed(live):
    """SIGKILL the proposer: OpProposerDown fires; restarted, it resolves."""
    live.crash("proposer")
    wait_alerts(live, {"OpProposerDown"})
    live.restart("proposer")
    wait_resolved(live, {"OpProposerDown"})


def test_tx_stuck_in_the_pool(live):
    """The L1 node's pool refuses txs (the fault-injecting proxy answers ``eth_sendRawTransaction`` with
    geth's "replacement transaction underpriced"): the batcher's sends until OpBatcherPublishErrors fires
    (a count of refusals raced the first scrape: a new error series' first sample is no increase), then the
    pool takes them again (so the safe head, and with it the next output the proposer must propose,
    moves on), and every proposer send until the end of the fault. The publish errors raise
    OpBatcherPublishErrors and OpProposerPublishErrors and fill the dashboard's publish-error panels;
    the proposer, restarted by the test before and so without a successful publish since its start,
    holds a pending tx: OpProposerTxStuck. Once the pool accepts again, the proposer publishes, which
    resolves OpProposerTxStuck; ``increase(...[15m])`` keeps the publish-error alerts firing for 15
    minutes (not waited for)."""
    names = {"OpBatcherPublishErrors", "OpProposerPublishErrors", "OpProposerTxStuck"}
    batcher = bytes.fromhex(live.dn.info()["batcher_address"][2:])
    release = threading.Event()

    def refuse(raw: bytes) -> str | None:
        if release.is_set() and decode_raw_tx(raw).sender == batcher:
            return None
        return "replacement transaction underpriced"

    live.pool.refuse = refuse
    try:
        wait_alerts(live, {"OpBatcherPublishErrors"}, timeout=STUCK_TIMEOUT)
        release.set()
        wait_alerts(live, names, timeout=STUCK_TIMEOUT)
        empty = [e for _t, e in empty_dashboard_queries(live) if "txmgr_tx_publish" in e]
        assert empty == [], empty
    finally:
        live.pool.refuse = None
    back = time.time()
    wait_for(live, "a batch confirmed after the pool fault", lambda: batch_confirmed_after(live, back))
    wait_resolved(live, {"OpProposerTxStuck"})


def test_channel_times_out(live):
    """A channel whose frames land more than Granite's channel timeout (50 L1 blocks) apart: the
    batcher is restarted posting calldata frames of at most 200 bytes, so a channel spans several txs,
    and the fault-injecting proxy refuses every frame but a channel's first ("txpool is full"). Once a
    later frame has been refused, the test mines 51 L1 blocks (anvil) and lifts the refusal: the frame
    lands 51+ blocks after its channel's first one. The batcher counts the channel timed out and
    re-posts its blocks (OpBatcherChannelTimedOut fires on the first timeout: the ``timed_out`` stage is
    exported at 0 before it), the devnet's rollup node drops the channel as op-node does and the safe
    head moves on. The batcher is then restarted with the module's arguments."""
    refused: list[bytes] = []

    def later_frames(raw: bytes) -> str | None:
        frame = calldata_frame(raw)
        if frame is None or int.from_bytes(frame[16:18], "big") == 0:
            return None
        refused.append(frame[:16])
        return "txpool is full"

    original = live.args["batcher"]
    small = [*via(original, "--data-availability-type", "calldata"), "--max-l1-tx-size-bytes", "200"]
    small += ["--max-pending-tx", "4"]
    live.services["batcher"].stop()
    live.args["batcher"] = small
    live.pool.refuse = later_frames
    try:
        live.restart("batcher")
        wait_for(live, "a later frame refused", lambda: bool(refused), timeout=STUCK_TIMEOUT)
        rpc_call(live.dn.l1_url, "anvil_mine", [hex(51)])
        live.pool.refuse = None
        safe = live.dn.deriver.safe.number if live.dn.deriver else 0
        wait_alerts(live, {"OpBatcherChannelTimedOut"}, timeout=STUCK_TIMEOUT)
        wait_for(
            live,
            "the safe head past the timed-out channel",
            lambda: live.dn.deriver is not None and live.dn.deriver.safe.number > safe,
            timeout=STUCK_TIMEOUT,
        )
    finally:
        live.pool.refuse = None
        live.services["batcher"].stop()
        live.args["batcher"] = original
        live.restart("batcher")
    back = time.time()
    wait_for(live, "a batch confirmed after the restart", lambda: batch_confirmed_after(live, back))


def calldata_frame(raw: bytes) -> bytes | None:
    """The frame a type-2 batcher tx carries (derivation version 0, then channel id, frame number, ...),
    or None for any other tx."""
    if raw[:1] != b"\x02":
        return None
    data = rlp.decode(raw[1:])[7]
    return bytes(data[1:]) if data[:1] == b"\x00" and len(data) > 19 else None


def admin_url(live: Live, name: str) -> str:
    return f"http://127.0.0.1:{live.services[name].rpc_port}"


def test_dashboard_queries_left_empty(live):
    """After the faults, the only dashboard query without data is the proposer's tx-manager RPC errors
    (its tx manager had nothing to send during the L1 outage). The restarted proposer's proposal lag has
    a series again once it has read its first proposal, hence the wait."""

    def only_proposer_rpc_errors() -> bool:
        empty = [e for _t, e in empty_dashboard_queries(live)]
        return all("op_proposer_default_txmgr_rpc_error_count" in e for e in empty)

    wait_for(live, "data in every other dashboard query", only_proposer_rpc_errors)
