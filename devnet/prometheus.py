"""A real Prometheus server scraping the devnet's op-batcher and op-proposer with the shipped alert rules.

``op-devnet up --prometheus`` and the live alert tests run Debian's ``prometheus`` binary on a free
loopback port with its own data dir, a scrape config generated for the services' metrics ports (job
names ``op-batcher`` / ``op-proposer``, as docker/prometheus/prometheus.yml, which the rules and the
dashboard select on) and ``docker/prometheus/alerts.yml``. ``render_rules`` is the documented templating
step that shortens every rule's ``for:`` (the shipped 1-10 minute holds) for short runs; it never touches an
expression, label or annotation. The HTTP API helpers read ``/api/v1/alerts`` and ``/api/v1/query``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.anvil import free_port

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "docker" / "prometheus" / "alerts.yml"
PROMETHEUS_BINARY = "prometheus"
INSTALL_HINT = "apt-get install prometheus (Debian's package ships the server and promtool)"
FOR_LINE = re.compile(r"^(\s+for:\s*)\S+$", re.MULTILINE)
DURATION = re.compile(r"(\d+(ms|s|m|h))+")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def find_binary() -> str | None:
    """The Prometheus server on PATH, or None."""
    return shutil.which(PROMETHEUS_BINARY)


def render_rules(shipped: str, hold: str | None) -> str:
    """The shipped rules file with every rule's ``for:`` line set to ``hold`` (None: unchanged).

    A line edit, so every other byte (expressions, labels, annotations) is the shipped text; rules
    without a ``for:`` fire on their first true evaluation as shipped.
    """
    if hold is None:
        return shipped
    if not DURATION.fullmatch(hold):
        raise ValueError(f"alert hold {hold!r}: expected a Prometheus duration such as 5s")
    return FOR_LINE.sub(lambda m: f"{m.group(1)}{hold}", shipped)


def scrape_config(targets: dict[str, int], interval: str, rules_file: Path) -> dict[str, Any]:
    """prometheus.yml for metrics ports on 127.0.0.1, one job per service name (``op-batcher`` ...)."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file)],
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_timeout": interval,
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
            for job, port in targets.items()
        ],
    }


@dataclass
class PrometheusServer:
    """A running Prometheus child process and its HTTP API."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` of a successful answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) of ``expr`` now."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]

    def alerts(self) -> list[dict[str, Any]]:
        """Every pending or firing alert (name in ``labels.alertname``, ``state``)."""
        return list(self.api("alerts")["alerts"])

    def alert_states(self) -> dict[str, str]:
        """alertname -> 'firing' if any of its series fires, else 'pending'."""
        out: dict[str, str] = {}
        for alert in self.alerts():
            name = alert["labels"]["alertname"]
            out[name] = "firing" if "firing" in (alert["state"], out.get(name)) else alert["state"]
        return out

    def firing_count(self) -> int:
        return sum(1 for a in self.alerts() if a["state"] == "firing")

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after a grace period."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_ready(server: PrometheusServer, timeout: float = READY_TIMEOUT) -> None:
    """Poll ``/-/ready`` until the server has loaded its config and rules."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prometheus exited ({server.process.returncode}):\n{server.tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"prometheus not ready after {timeout} s:\n{server.tail()}")


def start_prometheus(
    state_dir: Path,
    targets: dict[str, int],
    *,
    interval: str = "1s",
    hold: str | None = None,
    binary: str | None = None,
) -> PrometheusServer:
    """Write the rules and scrape config under ``state_dir/prometheus`` and start the server on a free
    loopback port with its own data dir (so nothing is shared with a system-wide Prometheus)."""
    exe = binary or find_binary()
    if exe is None:
        raise FileNotFoundError(f"no '{PROMETHEUS_BINARY}' binary on PATH; {INSTALL_HINT}")
    home = state_dir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    rules_file, config_file = home / "alerts.yml", home / "prometheus.yml"
    rules_file.write_text(render_rules(SHIPPED_RULES.read_text(), hold))
    # JSON is YAML: no YAML library is needed at run time
    config_file.write_text(json.dumps(scrape_config(targets, interval, rules_file), indent=1))
    port = free_port()
    log_path = home / "prometheus.log"
    cmd = [
        exe,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = PrometheusServer(proc, f"http://127.0.0.1:{port}", home / "data", log_path)
    wait_ready(server)
    return server
