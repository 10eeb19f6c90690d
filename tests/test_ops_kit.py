"""The operations kit (docker/, Prometheus alerts, Grafana dashboard) is consistent with the services.

Checks: alert rules pass ``promtool`` (when installed) and a schema check; every metric a rule or panel
uses is exported by the services; the compose file is well-formed, pinned and secret-free; the compose
command lines, with the env file, parse through the real flag tables and the real console scripts; the
Dockerfile builds what the compose file runs; the container health probe finds the RPC port and talks to
a real RPC server. Docker itself is not available here, so images are not built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from batcher.batcher_config import build_batcher_config
from batcher.flags import batcher_table
from common.service.rpc_server import RpcServer
from docs import gen_dashboard
from docs.catalogue import all_series, batcher_series, proposer_series
from docs.promql import metric_names
from proposer.flags import build_proposer_config, proposer_table

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
ALERT_TESTS = DOCKER / "prometheus" / "alerts.test.yml"
PROM_CONFIG = DOCKER / "prometheus" / "prometheus.yml"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "op-py-services.json"
DOCKERFILE = DOCKER / "Dockerfile"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMTOOL = shutil.which("promtool") or ""
OUR_SERVICES = {"op-batcher": batcher_table, "op-proposer": proposer_table}
OFFICIAL_IMAGE = re.compile(
    r"^us-docker\.pkg\.dev/oplabs-tools-artifacts/images/op-(geth|node):v\d+\.\d+\.\d+$"
)
PINNED_IMAGE = re.compile(r"^[\w./-]+:(v?\d+(\.\d+)+[\w.-]*)$|@sha256:[0-9a-f]{64}$")
SECRET_PATTERNS = (
    re.compile(r"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])"),  # a raw private key
    re.compile(r"(?i)(private[_-]?key|mnemonic|password|secret)\s*[:=]\s*['\"]?(?![/.$])[^\s'\"]{4,}"),
)


# ---------------------------------------------------------------------------------------------------
# helpers


def looks_secret(line: str) -> bool:
    """A raw 32-byte hex key anywhere, or a literal key/mnemonic/password value (``${VAR}`` references
    and file paths are fine: values then come from the uncommitted .env or a mounted file)."""
    raw_key, literal = SECRET_PATTERNS
    return bool(raw_key.search(line) or literal.search(re.sub(r"\$\{[^}]*\}", "", line)))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def read_env_file(path: Path) -> dict[str, str]:
    """docker compose env-file syntax: KEY=VALUE per line, ``#`` comments, optional quotes."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """docker compose variable substitution: ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``$$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        body = match.group("braced") or match.group("bare")
        for op in (":-", "-", ":?", "?"):
            if op in body:
                name, _, default = body.partition(op)
                value = env.get(name)
                if (op.startswith(":") and not value) or value is None:
                    if "?" in op:
                        raise KeyError(f"required variable {name} is unset: {default}")
                    return default
                return value
        return env.get(body, "")

    return _INTERPOLATION.sub(sub, text)


def compose_variables(text: str) -> set[str]:
    names = set()
    for match in _INTERPOLATION.finditer(text):
        body = match.group("braced") or match.group("bare")
        if body:
            names.add(re.split(r":?[-?]", body, maxsplit=1)[0])
    return names


def load_healthcheck() -> ModuleType:
    spec = spec_from_file_location("op_healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    model = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in model["panels"] for t in p.get("targets", [])]
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            queries.append(var["query"]["query"])
    return queries


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def catalogue() -> frozenset[str]:
    return all_series()


def service_command(compose: dict[str, Any], env: Mapping[str, str], service: str) -> list[str]:
    return [interpolate(str(arg), env) for arg in compose["services"][service]["command"]]


# ---------------------------------------------------------------------------------------------------
# PromQL name extraction (the tool the metric checks rely on)


def test_promql_names_skip_functions_labels_keywords_and_numbers():
    """Functions, label names, grouping labels, durations and numbers are not taken for metrics."""
    expr = (
        'histogram_quantile(0.95, sum by (le, method) (rate(foo_bucket{job="a", method=~"eth_.*"}'
        "[$__rate_interval]))) / 1e9 > bool 2.5 unless on (job) bar offset 5m"
    )
    assert metric_names(expr) == {"foo_bucket", "bar"}


def test_promql_names_find_every_selector_in_binary_expressions():
    """Both sides of arithmetic / set operators and bare selectors are found."""
    expr = "time() - max by (job) (a_unix{stage='success'}) > 3600 and b_total or c"
    assert metric_names(expr) == {"a_unix", "b_total", "c"}
    assert metric_names("label_values(op_batcher_default_up, instance)") == {"op_batcher_default_up"}


# ---------------------------------------------------------------------------------------------------
# alert rules


@pytest.mark.skipif(not PROMTOOL, reason="promtool not installed (apt-get install prometheus)")
def test_alert_rules_pass_promtool_check():
    """``promtool check rules`` accepts the rule file."""
    run = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in run.stdout


@pytest.mark.skipif(not PROMTOOL, reason="promtool not installed (apt-get install prometheus)")
def test_alert_rule_unit_tests_pass_promtool():
    """``promtool test rules``: the rules fire (and stay quiet) on the synthetic series as documented."""
    run = subprocess.run(
        [PROMTOOL, "test", "rules", ALERT_TESTS.name], capture_output=True, text=True, cwd=ALERT_TESTS.parent
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(not PROMTOOL, reason="promtool not installed (apt-get install prometheus)")
def test_prometheus_config_passes_promtool(tmp_path):
    """The scrape config is valid once its container rule path points at the repo's rule file."""
    config = load_yaml(PROM_CONFIG)
    config["rule_files"] = [str(ALERTS)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    run = subprocess.run([PROMTOOL, "check", "config", str(local)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_alert_rules_follow_the_schema():
    """groups -> rules, each with alert, expr, labels (severity, service), annotations, valid ``for``."""
    doc = load_yaml(ALERTS)
    assert set(doc) == {"groups"}
    names = set()
    for group in doc["groups"]:
        assert isinstance(group["name"], str) and group["rules"], group
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"]), rule
            assert rule["alert"] not in names, f"duplicate alert {rule['alert']}"
            names.add(rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}
            assert rule["labels"]["service"] in {"op-batcher", "op-proposer"}
            assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])


def test_alerts_cover_the_issue_scenarios():
    """Balance, no batch tx, safe-head lag, DA backlog, stuck/bumped txs, channel timeouts, proposer stall
    and lag, and GameAlreadyExists skips each have a rule."""
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    wanted = {
        "op_batcher_default_balance",
        "op_proposer_default_balance",
        "op_batcher_default_last_batcher_tx_unix",
        "op_batcher_default_safe_head_lag_seconds",
        "op_batcher_default_unsafe_da_bytes",
        "op_batcher_default_txmgr_pending_txs",
        "op_batcher_default_txmgr_tx_gas_bump",
        "op_proposer_default_txmgr_tx_gas_bump",
        "op_batcher_default_channel_total",
        "op_proposer_default_seconds_since_last_proposal",
        "op_proposer_default_proposal_lag_blocks",
        "op_proposer_default_proposals_skipped_total",
    }
    used = set().union(*(metric_names(e) for e in exprs.values()))
    assert wanted <= used, wanted - used
    assert any('reason="game_exists"' in e for e in exprs.values())
    assert any('stage="timed_out"' in e for e in exprs.values())


def test_alert_metric_names_exist_in_the_service_catalogues(catalogue):
    """Every metric an alert expression selects is exported by a service (or synthesised by Prometheus)."""
    for rule in alert_rules():
        unknown = metric_names(rule["expr"]) - catalogue
        assert not unknown, f"{rule['alert']} uses unknown series {sorted(unknown)}"


def test_alert_service_label_matches_the_metrics_it_reads():
    """An alert labelled op-batcher reads op-batcher series (and vice versa), so routing is right."""
    batcher, proposer = batcher_series(), proposer_series()
    for rule in alert_rules():
        own = batcher if rule["labels"]["service"] == "op-batcher" else proposer
        names = {n for n in metric_names(rule["expr"]) if n.startswith("op_")}
        assert names <= own, f"{rule['alert']}: {sorted(names - own)} not exported by {rule['labels']}"


def test_every_alert_links_to_an_existing_runbook_section():
    """runbook_url anchors resolve to headings of docs/operations.md."""
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/operations.md", rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor}"


def test_alert_unit_tests_only_name_existing_alerts():
    """The promtool unit tests reference alerts that exist (a rename cannot orphan them silently)."""
    names = {r["alert"] for r in alert_rules()}
    tested = {
        case["alertname"] for test in load_yaml(ALERT_TESTS)["tests"] for case in test["alert_rule_test"]
    }
    assert tested <= names, tested - names
    assert len(tested) >= 8


# ---------------------------------------------------------------------------------------------------
# dashboard


def test_dashboard_matches_its_generator():
    """The committed dashboard JSON is exactly what ``python -m docs.gen_dashboard`` writes."""
    assert DASHBOARD.read_text() == gen_dashboard.render()
    assert gen_dashboard.main(["--check"]) == 0


def test_dashboard_metric_names_exist_in_the_service_catalogues(catalogue):
    """Every series a panel or template variable queries is exported by a service."""
    queries = dashboard_queries()
    assert len(queries) > 40
    for query in queries:
        names = metric_names(query)
        assert names, f"no metric found in {query!r}"
        assert names <= catalogue, f"unknown series {sorted(names - catalogue)} in {query!r}"


def test_dashboard_is_a_valid_grafana_model():
    """Unique panel ids and refIds, panels inside the 24-column grid, datasource variable used."""
    model = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    assert model["uid"] and model["schemaVersion"] >= 36
    assert model["templating"]["list"][0]["type"] == "datasource"
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"


def test_dashboard_covers_both_services():
    """Both services' namespaces are charted, including the Python-only lag series."""
    names = set().union(*(metric_names(q) for q in dashboard_queries()))
    assert any(n.startswith("op_batcher_default_") for n in names)
    assert any(n.startswith("op_proposer_default_") for n in names)
    assert {"op_batcher_default_safe_head_lag_seconds", "op_proposer_default_proposal_lag_blocks"} <= names


# ---------------------------------------------------------------------------------------------------
# compose file and env file


def test_compose_file_has_the_tutorial_services(compose):
    """op-geth (+ init), op-node, op-batcher and op-proposer, with monitoring behind a profile."""
    services = compose["services"]
    assert {"op-geth-init", "op-geth", "op-node", "op-batcher", "op-proposer"} <= set(services)
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    assert services["op-node"]["depends_on"]["op-geth"]["condition"] == "service_healthy"
    for name in OUR_SERVICES:
        assert services[name]["depends_on"]["op-node"]["condition"] == "service_healthy"


def test_compose_images_are_pinned(compose):
    """Official op-geth/op-node images with exact release tags; no ``latest``; our images built locally."""
    for name, service in compose["services"].items():
        image = service["image"]
        assert PINNED_IMAGE.search(image), f"{name}: image {image!r} is not pinned"
        assert not image.endswith(":latest")
        if name.startswith(("op-geth", "op-node")):
            assert OFFICIAL_IMAGE.match(image), image
    tags = {compose["services"][n]["image"] for n in ("op-geth-init", "op-geth")}
    assert len(tags) == 1, "op-geth-init and op-geth must use the same image"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in OUR_SERVICES:
        service = compose["services"][name]
        assert service["build"]["target"] == name
        assert (DOCKER / ".." / service["build"]["dockerfile"]).resolve() == DOCKERFILE
        assert service["image"].endswith(f":{version}")


def test_compose_services_have_healthchecks_and_restart_policies(compose):
    """Every long-running service has a healthcheck and restarts; the init job runs once."""
    for name, service in compose["services"].items():
        if name == "op-geth-init":
            assert service["restart"] == "no"
            continue
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) >= 2, name
    for name in OUR_SERVICES:
        assert compose["services"][name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "/opt/op/healthcheck.py",
            name,
        ]


def test_compose_ports_are_published_on_loopback_only(compose):
    """RPC/admin and metrics ports are never exposed on all interfaces by default."""
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_batcher_and_proposer_read_the_env_file(compose):
    """Both services get ``.env`` (whose OP_* variables they read natively); other services do not."""
    for name, service in compose["services"].items():
        if name in OUR_SERVICES:
            assert service["env_file"] == [".env"]
        else:
            assert "env_file" not in service, f"{name} must not receive the key-bearing env file"


def test_compose_and_config_files_hold_no_secrets():
    """No raw keys, passwords or mnemonics in the committed compose, env example or Prometheus files."""
    for path in (COMPOSE, ENV_EXAMPLE, PROM_CONFIG, ALERTS, DOCKERFILE, *DOCKER.glob("grafana/**/*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert not looks_secret(line), f"{path.name}:{number} looks like a secret: {line!r}"


def test_secret_scanner_catches_keys():
    """The secret patterns above do flag a key, a mnemonic and a password (so the test can fail)."""
    samples = [
        "OP_BATCHER_PRIVATE_KEY=" + "ab" * 32,
        "mnemonic: test test test junk",
        'GF_SECURITY_ADMIN_PASSWORD: "hunter22"',
    ]
    for sample in samples:
        assert looks_secret(sample), sample
    assert looks_secret("X: ${KEY:-" + "ab" * 32 + "}")
    assert not looks_secret("GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:-admin}")
    assert not looks_secret("      - --authrpc.jwtsecret=/config/jwt.txt")


def test_env_example_key_sources_are_empty(env_example):
    """The example carries no key material: private keys, mnemonics and signer settings are blank."""
    for key, value in env_example.items():
        if key.endswith(("_PRIVATE_KEY", "_MNEMONIC", "_PASSWORD")):
            assert value == "", key


def test_env_example_documents_every_variable():
    """Each variable has a comment directly above it or above its group of consecutive variables."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    documented = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#") and len(stripped) > 2:
            documented = True
        elif not stripped:
            documented = False
        else:
            assert documented, f"undocumented variable: {stripped}"


def test_env_example_op_variables_are_real_flag_env_names(env_example):
    """Every OP_BATCHER_* / OP_PROPOSER_* entry is an env var a flag declares (no typos)."""
    known = batcher_table().env_names() | proposer_table().env_names()
    for key in env_example:
        if key.startswith(("OP_BATCHER_", "OP_PROPOSER_")):
            assert key in known, f"{key} is not an env var of either service"


def test_env_example_defines_every_compose_variable(env_example):
    """Every ``${VAR}`` in the compose file is documented in the env example."""
    used = compose_variables(COMPOSE.read_text())
    assert used, "no variables found"
    assert used <= set(env_example), used - set(env_example)


def test_compose_interpolation_helper_follows_compose_rules():
    """``${A:-d}`` uses d when A is empty or unset, ``${A-d}`` only when unset, ``$$`` escapes."""
    env = {"A": "", "B": "x"}
    assert interpolate("${A:-d}|${A-d}|${B:-d}|${C-d}|$B|$$B", env) == "d||x|d|x|$B"
    with pytest.raises(KeyError, match="required variable C"):
        interpolate("${C:?needed}", env)


# ---------------------------------------------------------------------------------------------------
# the compose command lines through the real flag tables and console scripts


@pytest.mark.parametrize("service", sorted(OUR_SERVICES))
def test_compose_command_parses_through_the_flag_table(compose, env_example, service):
    """The compose ``command:`` plus the env file parse and validate like the service will at startup."""
    args = service_command(compose, env_example, service)
    parsed = OUR_SERVICES[service]().parse(args, env_example)
    assert parsed.args == ()
    assert parsed.unknown_env == (), f"env file has unknown {service} variables {parsed.unknown_env}"
    if service == "op-batcher":
        cfg = build_batcher_config(parsed)
        assert cfg.l2_eth_rpc == ("http://op-geth:8545",)
        assert cfg.poll_interval == 1.0 and cfg.channel.max_channel_duration == 1  # tutorial values, from env
    else:
        pcfg = build_proposer_config(parsed)
        assert pcfg.rollup_rpc == "http://op-node:8547"
        assert pcfg.game_factory_address is not None and pcfg.proposal_interval == 3600.0
    assert parsed.get_bool("metrics.enabled") and parsed.get_int("metrics.port") == 7300
    published = {int(str(p).rsplit(":", 1)[1]) for p in compose["services"][service]["ports"]}
    assert parsed.get_int("rpc.port") in published


@pytest.mark.parametrize("service", sorted(OUR_SERVICES))
def test_entrypoint_accepts_the_compose_arguments(compose, env_example, service):
    """The console script (the image ENTRYPOINT) accepts the compose arguments and env: ``--help`` after
    them exits 0 only if every flag before it parsed."""
    args = service_command(compose, env_example, service)
    exe = Path(sys.executable).with_name(service)
    assert exe.exists(), f"console script {exe} missing (pip install -e .)"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OP_")}, **env_example}
    run = subprocess.run([str(exe), *args, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{service} [global options]" in run.stdout


# ---------------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = match.group(2) or match.group(1)
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


def test_dockerfile_is_multistage_slim_and_installs_the_lock():
    """A build stage that installs exactly uv.lock (runtime closure; test_lock keeps uv pinned alike) and
    a slim runtime from a pinned python:3.11 tag that copies only the built venv."""
    stages = dockerfile_stages()
    assert {"build", "runtime", "op-batcher", "op-proposer"} <= set(stages)
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text())
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), base
    build = " ".join(stages["build"])
    assert "COPY pyproject.toml uv.lock" in build
    assert re.search(r"uv sync --locked --no-editable", build), build
    assert "--extra dev" not in build
    runtime = " ".join(stages["runtime"])
    assert "COPY --from=build /opt/op /opt/op" in runtime
    assert "build-essential" not in runtime
    for stage in stages.values():
        for line in stage:
            if line.upper().startswith("COPY") and "--from" not in line:
                for source in line.split()[1:-1]:
                    assert (ROOT / source).exists(), f"COPY source {source} missing"


def test_dockerfile_service_stages_run_the_console_script_as_non_root():
    """Each target: non-root user (from runtime), exec-form ENTRYPOINT = console script, HEALTHCHECK."""
    stages = dockerfile_stages()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert any(line.startswith("USER op") for line in stages["runtime"])
    for name in OUR_SERVICES:
        lines = stages[name]
        assert lines[0].split()[1] == "runtime"
        assert f'ENTRYPOINT ["{name}"]' in lines
        assert name in scripts
        health = next(line for line in lines if line.startswith("HEALTHCHECK"))
        assert f'CMD ["python", "/opt/op/healthcheck.py", "{name}"]' in health


def test_dockerignore_keeps_keys_and_venv_out_of_the_context():
    """Everything is excluded, only sources are re-included, and .env / node_modules are excluded after
    the re-includes (the last matching rule wins), so they can never enter the build context."""
    rules = [r for r in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines() if r and r[0] != "#"]
    assert rules[0] == "**"
    last_include = max(i for i, r in enumerate(rules) if r.startswith("!"))
    for excluded in ("**/.env", "devnet/node_modules"):
        assert rules.index(excluded) > last_include, excluded
    for source in ("common", "batcher", "proposer", "devnet"):
        assert f"!{source}/**" in rules
    assert "!uv.lock" in rules


# ---------------------------------------------------------------------------------------------------
# container health probe


def test_health_probe_finds_the_service_arguments():
    """The console-script and ``python -m`` forms are recognised; other processes are ignored."""
    hc = load_healthcheck()
    cmdlines = [
        ["/bin/sh"],
        ["/opt/op/bin/python", "/opt/op/bin/op-batcher", "--rpc.port=8548"],
        ["python", "-m", "proposer", "--rpc.port", "8560"],
    ]
    assert hc.service_args(cmdlines, "op-batcher") == ["--rpc.port=8548"]
    assert hc.service_args(cmdlines, "op-proposer") == ["--rpc.port", "8560"]
    assert hc.service_args(cmdlines[:1], "op-batcher") is None


def test_health_probe_reads_the_port_from_flags_then_env():
    """A command-line port beats the env var; the env var beats the default; wildcards map to loopback."""
    hc = load_healthcheck()
    env = {"OP_BATCHER_RPC_PORT": "9000", "OP_PROPOSER_RPC_ADDR": "10.0.0.5"}
    assert hc.rpc_endpoint("op-batcher", ["--rpc.port=8548"], env) == ("127.0.0.1", 8548)
    assert hc.rpc_endpoint("op-batcher", [], env) == ("127.0.0.1", 9000)
    assert hc.rpc_endpoint("op-proposer", [], env) == ("10.0.0.5", 8545)
    assert hc.rpc_endpoint("op-batcher", ["--rpc.port=notaport"], {}) == ("127.0.0.1", 8545)


def test_health_probe_reads_real_process_command_lines():
    """/proc scanning sees this very test process."""
    hc = load_healthcheck()
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("no /proc on this platform")
    mine = Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()
    assert any(argv[0] == mine for argv in hc.read_cmdlines())


async def test_health_probe_talks_to_a_real_rpc_server():
    """Against the services' own RpcServer, /healthz yields the version; a closed port is unhealthy."""
    hc = load_healthcheck()
    server = RpcServer("127.0.0.1", 0, "v9.9.9-test")
    await server.start()
    try:
        port = server.port
        version = await _in_thread(hc.probe, "127.0.0.1", port)
        assert version == "v9.9.9-test"
    finally:
        await server.stop()
    with pytest.raises(OSError):
        await _in_thread(hc.probe, "127.0.0.1", port, 1.0)


async def _in_thread(fn: Any, *args: Any) -> Any:
    """The probe is blocking (urllib); run it off the event loop that serves the RPC server."""
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_health_probe_cli_fails_on_bad_usage_and_dead_endpoint(monkeypatch):
    """Exit 2 on bad usage; exit 1 when nothing answers on the resolved port."""
    hc = load_healthcheck()
    assert hc.main([]) == 2
    assert hc.main(["op-geth"]) == 2
    monkeypatch.setattr(
        hc, "read_cmdlines", lambda: [["op-proposer", "--rpc.addr=127.0.0.1", "--rpc.port=1"]]
    )
    assert hc.main(["op-proposer"]) == 1
