"""Every metric the Grafana dashboard and the Prometheus alert rules read is on a live /metrics page.

A devnet op-batcher and op-proposer run as child processes with ``--metrics.enabled`` (devnet/cli.py's
command lines); their /metrics pages are scraped over HTTP and parsed with prometheus_client's text parser.
A labelled family without samples yet only shows its HELP/TYPE lines, so a name counts as present when it
is a sample name or one of the series its declared family produces (``_total``, ``_bucket``/``_sum``/
``_count``).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devnet import cli
from devnet.anvil import free_port
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet
from docs.catalogue import PROMETHEUS_SYNTHETIC, family_series
from docs.promql import metric_names

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "docker" / "prometheus" / "alerts.yml"
DASHBOARDS = ROOT / "docker" / "grafana" / "dashboards"
SERVE_TIMEOUT = 60.0
PREFIX = {"batcher": "op_batcher_", "proposer": "op_proposer_"}


def alert_exprs() -> dict[str, str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def dashboard_exprs() -> dict[str, str]:
    """Panel target expressions and templating queries of every dashboard JSON, keyed by where they are."""
    out: dict[str, str] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        model = json.loads(path.read_text())
        panels = list(model.get("panels", []))
        for panel in list(panels):
            panels.extend(panel.get("panels", []))  # panels nested in collapsed rows
        for panel in panels:
            for target in panel.get("targets", []):
                if "expr" in target:
                    out[f"{path.name}: {panel.get('title')} [{target.get('refId')}]"] = target["expr"]
        for var in model.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                out[f"{path.name}: ${var['name']}"] = query
    return out


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def exposed_series(text: str) -> frozenset[str]:
    """Sample names plus the series each declared family (even one without samples) produces."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family_series(family.name, family.type))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


def wait_metrics(svc: cli.Service) -> str:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail()
        with contextlib.suppress(OSError):
            return scrape(svc.metrics_port)
        time.sleep(0.2)
    raise AssertionError(f"op-{svc.name} /metrics not served on {svc.metrics_port}: {svc.tail()}")


def batches_posted(page: str) -> bool:
    with contextlib.suppress(KeyError):
        return sample_value(page, "op_batcher_default_batcher_tx_total", stage="success") > 0
    return False


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Series of a live batcher and proposer on one devnet, scraped after the batcher posted a batch."""
    state = tmp_path_factory.mktemp("metrics-scrape")
    dn: Devnet = start_devnet(state)
    services: list[cli.Service] = []
    try:
        dn.produce_l2_blocks(3)
        services.append(
            cli.start_service(
                "batcher", "batcher.cli", cli.batcher_args(dn, "calldata", free_port(), free_port()), state
            )
        )
        services.append(
            cli.start_service(
                "proposer", "proposer.cli", cli.proposer_args(dn, free_port(), free_port()), state
            )
        )
        for svc in services:
            wait_metrics(svc)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while time.monotonic() < deadline and not batches_posted(wait_metrics(services[0])):
            time.sleep(0.3)
        yield {svc.name: wait_metrics(svc) for svc in services}
    finally:
        for svc in services:
            svc.stop()
        dn.stop()


@pytest.fixture(scope="module")
def scraped(pages: dict[str, str]) -> dict[str, frozenset[str]]:
    return {name: exposed_series(text) for name, text in pages.items()}


def sample_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name{labels}`` on a /metrics page (KeyError if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise KeyError(name)


def check_exprs(exprs: dict[str, str], scraped: dict[str, frozenset[str]]) -> list[str]:
    """Names an expression selects that its service's /metrics page lacks, as readable problems."""
    problems = []
    for where, expr in exprs.items():
        for name in sorted(metric_names(expr)):
            if name in PROMETHEUS_SYNTHETIC:
                continue
            service = next((s for s, p in PREFIX.items() if name.startswith(p)), None)
            if service is None:  # process_*/python_* collectors: both services export them
                missing = [s for s, names in scraped.items() if name not in names]
                if missing:
                    problems.append(f"{where}: {name} missing from the op-{missing[0]} /metrics page")
            elif name not in scraped[service]:
                problems.append(f"{where}: {name} missing from the op-{service} /metrics page")
    return problems


def test_every_alert_rule_metric_is_on_the_live_metrics_pages(scraped):
    """Each metric name in docker/prometheus/alerts.yml is served by the running batcher or proposer."""
    exprs = alert_exprs()
    assert exprs
    assert check_exprs(exprs, scraped) == []


def test_every_dashboard_metric_is_on_the_live_metrics_pages(scraped):
    """Each metric name in the Grafana dashboard's panels and variables is served by a running service."""
    exprs = dashboard_exprs()
    assert len(exprs) > 5
    assert check_exprs(exprs, scraped) == []


def test_the_check_notices_a_metric_the_services_do_not_serve(scraped):
    """A dashboard query naming an unknown series is reported against the right service."""
    problems = check_exprs({"panel": "rate(op_batcher_default_no_such_thing_total[5m]) + up"}, scraped)
    assert problems == [
        "panel: op_batcher_default_no_such_thing_total missing from the op-batcher /metrics page"
    ]


def test_both_services_report_up_and_the_batcher_counted_its_batch(pages):
    """The pages are live service pages: both report up = 1 and the batcher counted the batch it posted."""
    assert sample_value(pages["batcher"], "op_batcher_default_up") == 1
    assert sample_value(pages["proposer"], "op_proposer_default_up") == 1
    assert sample_value(pages["batcher"], "op_batcher_default_batcher_tx_total", stage="success") > 0
