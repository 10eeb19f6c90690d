"""``op-devnet up`` runs, writes its state files, stops everything it started and can run again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error

import pytest

from devnet import cli
from devnet.anvil import rpc_call

pytestmark = pytest.mark.integration


def run_up(state_dir, *extra):
    return subprocess.run(
        [sys.executable, "-m", "devnet.cli", "up", "--state-dir", str(state_dir), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_up_without_services_twice_in_a_row_leaves_nothing_running(tmp_path):
    """Two paced runs in a row both exit 0, print status lines and free their ports."""
    for run in range(2):
        proc = run_up(
            tmp_path, "--no-services", "--duration", "3", "--block-time", "1", "--l1-block-time", "1"
        )
        assert proc.returncode == 0, proc.stderr
        assert "L2 " in proc.stdout and "op-devnet: OK" in proc.stdout, (run, proc.stdout)
        info = json.loads((tmp_path / "devnet.json").read_text())
        rollup = json.loads((tmp_path / "rollup.json").read_text())
        assert rollup["batch_inbox_address"] == info["batch_inbox"]
        for url in (info["l1_rpc"], info["l2_rpc"], info["rollup_rpc"]):
            with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
                rpc_call(url, "eth_chainId", timeout=1)


def test_up_reports_a_missing_service_clearly(tmp_path, monkeypatch, capsys):
    """Without --no-services, a service whose module is missing stops `up` with exit code 2 and its name."""
    monkeypatch.setattr(cli, "service_module", lambda name: None if name == "proposer" else "batcher.cli")
    code = cli.main(["up", "--state-dir", str(tmp_path), "--duration", "1"])
    assert code == cli.EXIT_SERVICE_MISSING
    assert "op-proposer" in capsys.readouterr().err


def test_service_flags_follow_the_go_names(devnet):
    """The batcher/proposer command lines carry the Go flag names and the devnet's endpoints."""
    b = cli.batcher_args(devnet, "blobs", 1, 2)
    for flag in (
        "--l1-eth-rpc",
        "--l2-eth-rpc",
        "--rollup-rpc",
        "--private-key",
        "--data-availability-type",
        "--poll-interval",
        "--num-confirmations",
        "--rpc.port",
        "--metrics.enabled",
    ):
        assert flag in b
    assert b[b.index("--rollup-rpc") + 1] == devnet.rollup_url
    p = cli.proposer_args(devnet, 3, 4)
    assert p[p.index("--l2oo-address") + 1] == devnet.info()["l2oo_address"]
    assert "--game-factory-address" not in p


def test_proposer_flags_in_dispute_game_mode(devnet_dgf):
    """DGF mode passes --game-factory-address, --proposal-interval and --game-type 1."""
    p = cli.proposer_args(devnet_dgf, 3, 4)
    assert p[p.index("--game-factory-address") + 1] == devnet_dgf.info()["dgf_address"]
    assert p[p.index("--game-type") + 1] == "1" and "--proposal-interval" in p


def test_prometheus_flag_without_the_binary_says_so_and_runs_on(tmp_path, monkeypatch, capsys):
    """--prometheus where no 'prometheus' binary is installed: a message naming the flag and the package,
    no server, and the status line carries no alert field."""
    monkeypatch.setattr(cli, "find_binary", lambda: None)
    assert cli.start_devnet_prometheus(tmp_path, []) is None
    err = capsys.readouterr().err
    assert "--prometheus" in err and "apt-get install prometheus" in err and "running without it" in err
    assert cli.alerts_text(None) == ""


@pytest.mark.skipif(cli.find_binary() is None, reason="no 'prometheus' binary (apt-get install prometheus)")
def test_prometheus_flag_starts_a_server_whose_alerts_the_status_line_counts(tmp_path, capsys):
    """The server starts on a free port with the 30 shipped rules and a scrape job per service on its
    metrics port; the status line's field counts firing alerts (none yet: a down target fires
    OpBatcherDown only after the shipped 2m hold)."""
    from devnet.anvil import free_port

    svc = cli.Service("batcher", subprocess.Popen(["true"]), tmp_path / "none.log", 0, free_port())
    svc.process.wait()
    prom = cli.start_devnet_prometheus(tmp_path, [svc])
    assert prom is not None
    try:
        assert prom.url in capsys.readouterr().out
        rules = prom.api("rules")["groups"]
        assert sum(len(g["rules"]) for g in rules) == 34
        deadline = time.monotonic() + 10
        while not (targets := prom.api("targets")["activeTargets"]) and time.monotonic() < deadline:
            time.sleep(0.2)  # discovery hands the static targets to the scrape loop just after ready
        assert [t["labels"]["job"] for t in targets] == ["op-batcher"]
        assert targets[0]["scrapeUrl"] == f"http://127.0.0.1:{svc.metrics_port}/metrics"
        assert cli.alerts_text(prom) == " | alerts firing: 0"
    finally:
        prom.stop()
    assert prom.process.returncode is not None
