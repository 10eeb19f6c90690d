"""Writes the Grafana dashboard ``docker/grafana/dashboards/op-py-services.json`` from a compact spec.

Panels are declared as (title, unit, [(PromQL, legend)]) below; this module lays them out on the grid and
emits Grafana's JSON model (schema 39). Only series from the services' catalogues may appear in a query
(``tests/test_ops_kit.py`` checks that, and that the committed JSON equals this output).

    python -m docs.gen_dashboard          # rewrite the JSON
    python -m docs.gen_dashboard --check  # exit 1 when the committed JSON is stale
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASHBOARD = (
    Path(__file__).resolve().parent.parent / "docker" / "grafana" / "dashboards" / "op-py-services.json"
)
UID = "op-py-services"
DS = {"type": "prometheus", "uid": "${datasource}"}
B = 'job="op-batcher", instance=~"$batcher"'
P = 'job="op-proposer", instance=~"$proposer"'
WIDTH = 24


@dataclass(frozen=True, slots=True)
class Panel:
    """A time series (default) or stat panel."""

    title: str
    unit: str
    targets: Sequence[tuple[str, str]]
    kind: str = "timeseries"
    description: str = ""
    width: int = 8
    thresholds: Sequence[tuple[float | None, str]] = ()


@dataclass(frozen=True, slots=True)
class Row:
    title: str
    panels: Sequence[Panel] = field(default_factory=tuple)


def _stat(title: str, unit: str, expr: str, thresholds: Sequence[tuple[float | None, str]] = ()) -> Panel:
    return Panel(title, unit, [(expr, "{{instance}}")], kind="stat", width=4, thresholds=thresholds)


ROWS: tuple[Row, ...] = (
    Row(
        "Overview",
        (
            _stat("Batcher up", "none", f"op_batcher_default_up{{{B}}}", ((None, "red"), (1, "green"))),
            _stat("Proposer up", "none", f"op_proposer_default_up{{{P}}}", ((None, "red"), (1, "green"))),
            _stat(
                "Batcher balance",
                "ETH",
                f"op_batcher_default_balance{{{B}}}",
                ((None, "red"), (0.1, "orange"), (1, "green")),
            ),
            _stat(
                "Proposer balance",
                "ETH",
                f"op_proposer_default_balance{{{P}}}",
                ((None, "red"), (0.1, "orange"), (0.5, "green")),
            ),
            _stat(
                "Since last confirmed batch tx",
                "s",
                f'time() - op_batcher_default_last_batcher_tx_unix{{{B}, stage="success"}}',
                ((None, "green"), (1800, "orange"), (3600, "red")),
            ),
            _stat(
                "Since last proposal",
                "s",
                f"op_proposer_default_seconds_since_last_proposal{{{P}}}",
                ((None, "green"), (5400, "orange"), (7200, "red")),
            ),
        ),
    ),
    Row(
        "Batch submission",
        (
            Panel(
                "Batch txs by stage (per hour)",
                "short",
                [(f"increase(op_batcher_default_batcher_tx_total{{{B}}}[1h])", "{{stage}}")],
                description="`submitted` counts confirmations (Go quirk, kept).",
            ),
            Panel(
                "Channels by stage (per hour)",
                "short",
                [(f"increase(op_batcher_default_channel_total{{{B}}}[1h])", "{{stage}}")],
            ),
            Panel(
                "Channel close reasons (per hour)",
                "short",
                [(f"increase(op_batcher_default_channel_closed_by_reason_total{{{B}}}[1h])", "{{reason}}")],
            ),
            Panel(
                "Compression ratio (closed channels)",
                "percentunit",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(op_batcher_default_channel_compr_ratio_bucket{{{B}}}[$__rate_interval])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.9, sum by (le) "
                        f"(rate(op_batcher_default_channel_compr_ratio_bucket{{{B}}}[$__rate_interval])))",
                        "p90",
                    ),
                ],
            ),
            Panel(
                "Blob fill ratio (every blob)",
                "percentunit",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(op_batcher_default_blob_fill_ratio_bucket{{{B}}}[$__rate_interval])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.1, sum by (le) "
                        f"(rate(op_batcher_default_blob_fill_ratio_bucket{{{B}}}[$__rate_interval])))",
                        "p10",
                    ),
                ],
            ),
            Panel(
                "Channel output",
                "short",
                [
                    (f"op_batcher_default_channel_num_frames{{{B}}}", "frames (last closed)"),
                    (f"op_batcher_default_channel_queue_length{{{B}}}", "channels in memory"),
                ],
            ),
        ),
    ),
    Row(
        "Backlog and lag",
        (
            Panel(
                "DA backlog",
                "bytes",
                [
                    (f"op_batcher_default_unsafe_da_bytes{{{B}}}", "unsafe DA bytes (throttling input)"),
                    (f"op_batcher_default_pending_da_bytes{{{B}}}", "pending DA bytes (not in a channel)"),
                    (f"op_batcher_default_pending_blocks_bytes_current{{{B}}}", "pending raw bytes"),
                ],
            ),
            Panel(
                "Safe head lag",
                "s",
                [(f"op_batcher_default_safe_head_lag_seconds{{{B}}}", "unsafe - safe")],
            ),
            Panel(
                "Sequencing window margin",
                "short",
                [(f"op_batcher_default_seq_window_margin_blocks{{{B}}}", "L1 blocks left")],
                thresholds=((None, "red"), (300, "orange"), (1000, "green")),
            ),
            Panel(
                "L2 blocks",
                "short",
                [
                    (f'op_batcher_default_refs_number{{{B}, layer="l2"}}', "{{type}}"),
                    (f"op_batcher_default_pending_blocks_count{{{B}}}", "pending at {{stage}}"),
                ],
            ),
            Panel(
                "L1 head seen by the batcher",
                "short",
                [(f'op_batcher_default_refs_number{{{B}, layer="l1", type="latest"}}', "l1 latest")],
            ),
        ),
    ),
    Row(
        "Throttling",
        (
            Panel(
                "Throttle intensity",
                "percentunit",
                [(f"op_batcher_default_throttle_intensity{{{B}}}", "{{type}}")],
            ),
            Panel(
                "Throttle limits",
                "bytes",
                [
                    (f"op_batcher_default_throttle_max_tx_size{{{B}}}", "max tx DA size (0 = none)"),
                    (f"op_batcher_default_throttle_max_block_size{{{B}}}", "max block DA size"),
                ],
            ),
            Panel(
                "Unsafe bytes / lower threshold",
                "percentunit",
                [(f"op_batcher_default_unsafe_bytes_ratio{{{B}}}", "{{type}}")],
            ),
        ),
    ),
    Row(
        "Transactions (txmgr)",
        (
            Panel(
                "Pending txs",
                "short",
                [
                    (f"op_batcher_default_txmgr_pending_txs{{{B}}}", "batcher"),
                    (f"op_proposer_default_txmgr_pending_txs{{{P}}}", "proposer"),
                ],
            ),
            Panel(
                "Fee bumps of the last confirmed tx",
                "short",
                [
                    (f"op_batcher_default_txmgr_tx_gas_bump{{{B}}}", "batcher"),
                    (f"op_proposer_default_txmgr_tx_gas_bump{{{P}}}", "proposer"),
                ],
            ),
            Panel(
                "Publish errors (per 15m)",
                "short",
                [
                    (
                        f"increase(op_batcher_default_txmgr_tx_publish_error_count{{{B}}}[15m])",
                        "batcher {{error}}",
                    ),
                    (
                        f"increase(op_proposer_default_txmgr_tx_publish_error_count{{{P}}}[15m])",
                        "proposer {{error}}",
                    ),
                ],
            ),
            Panel(
                "Confirmations (per hour)",
                "short",
                [
                    (f"increase(op_batcher_default_txmgr_confirm_total{{{B}}}[1h])", "batcher {{status}}"),
                    (f"increase(op_proposer_default_txmgr_confirm_total{{{P}}}[1h])", "proposer {{status}}"),
                ],
            ),
            Panel(
                "L1 fees seen by the batcher",
                "short",
                [
                    (f"op_batcher_default_txmgr_basefee_wei{{{B}}} / 1e9", "base fee (gwei)"),
                    (f"op_batcher_default_txmgr_blob_basefee_wei{{{B}}} / 1e9", "blob base fee (gwei)"),
                    (f"op_batcher_default_txmgr_tipcap_wei{{{B}}} / 1e9", "tip cap (gwei)"),
                ],
            ),
            Panel(
                "Fee paid (last tx, gwei)",
                "short",
                [
                    (f"op_batcher_default_txmgr_tx_fee_gwei{{{B}}}", "batcher"),
                    (f"op_proposer_default_txmgr_tx_fee_gwei{{{P}}}", "proposer"),
                ],
            ),
            Panel(
                "Confirmation latency (last tx)",
                "ms",
                [
                    (f"op_batcher_default_txmgr_tx_confirmed_latency_ms{{{B}}}", "batcher"),
                    (f"op_proposer_default_txmgr_tx_confirmed_latency_ms{{{P}}}", "proposer"),
                ],
            ),
            Panel(
                "L1 RPC errors in the tx manager (per 15m)",
                "short",
                [
                    (f"increase(op_batcher_default_txmgr_rpc_error_count{{{B}}}[15m])", "batcher"),
                    (f"increase(op_proposer_default_txmgr_rpc_error_count{{{P}}}[15m])", "proposer"),
                ],
            ),
        ),
    ),
    Row(
        "Proposer",
        (
            Panel(
                "Proposal lag",
                "short",
                [(f"op_proposer_default_proposal_lag_blocks{{{P}}}", "{{head}} head - last proposed")],
            ),
            Panel(
                "Proposals (per hour)",
                "short",
                [(f"increase(op_proposer_default_proposals_total{{{P}}}[1h])", "{{status}}")],
            ),
            Panel(
                "Skipped ticks (per hour)",
                "short",
                [(f"increase(op_proposer_default_proposals_skipped_total{{{P}}}[1h])", "{{reason}}")],
                description="`game_exists` repeating means the proposable head is stuck (check the batcher).",
            ),
            Panel(
                "Last proposed L2 block",
                "short",
                [(f"op_proposer_default_proposed_sequence_number{{{P}}}", "proposed")],
            ),
        ),
    ),
    Row(
        "RPC and process",
        (
            Panel(
                "Outgoing RPC p95 latency",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, method) (rate("
                        f"op_batcher_default_rpc_client_request_duration_seconds_bucket{{{B}}}[$__rate_interval])))",
                        "batcher {{method}}",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le, method) (rate("
                        f"op_proposer_default_rpc_client_request_duration_seconds_bucket{{{P}}}[$__rate_interval])))",
                        "proposer {{method}}",
                    ),
                ],
            ),
            Panel(
                "Outgoing RPC errors",
                "reqps",
                [
                    (
                        "sum by (method, error) (rate(op_batcher_default_rpc_client_responses_total"
                        f'{{{B}, error!="<nil>"}}[$__rate_interval]))',
                        "batcher {{method}} {{error}}",
                    ),
                    (
                        "sum by (method, error) (rate(op_proposer_default_rpc_client_responses_total"
                        f'{{{P}, error!="<nil>"}}[$__rate_interval]))',
                        "proposer {{method}} {{error}}",
                    ),
                ],
            ),
            Panel(
                "Resident memory",
                "bytes",
                [
                    (f"process_resident_memory_bytes{{{B}}}", "batcher"),
                    (f"process_resident_memory_bytes{{{P}}}", "proposer"),
                ],
            ),
        ),
    ),
)


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> dict[str, Any]:
    if not steps:
        steps = ((None, "green"),)
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def _panel(panel: Panel, panel_id: int, x: int, y: int, height: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DS,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": _thresholds(panel.thresholds)},
            "overrides": [],
        },
        "targets": [
            {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    if panel.description:
        out["description"] = panel.description
    if panel.kind == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    else:
        out["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        }
    return out


def _variable(name: str, label: str, metric: str) -> dict[str, Any]:
    query = f"label_values({metric}, instance)"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    """The full Grafana dashboard model."""
    panels: list[dict[str, Any]] = []
    y, next_id = 0, 1
    for row in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        for panel in row.panels:
            height = 4 if panel.kind == "stat" else 8
            if x + panel.width > WIDTH:
                x, y = 0, y + height
            panels.append(_panel(panel, next_id, x, y, height))
            next_id += 1
            x += panel.width
        y += 4 if row.panels and row.panels[-1].kind == "stat" else 8
    return {
        "uid": UID,
        "title": "OP Stack batcher and proposer (Python)",
        "description": "op-batcher / op-proposer: liveness, balances, batch submission, DA backlog, "
        "throttling, tx manager, proposals. Runbooks: docs/operations.md.",
        "tags": ["op-stack", "op-batcher", "op-proposer"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "graphTooltip": 1,
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                _variable("batcher", "Batcher", "op_batcher_default_up"),
                _variable("proposer", "Proposer", "op_proposer_default_up"),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = render()
    if args == ["--check"]:
        if DASHBOARD.read_text() != text:
            print(f"{DASHBOARD} is stale; run `python -m docs.gen_dashboard`", file=sys.stderr)
            return 1
        return 0
    DASHBOARD.parent.mkdir(parents=True, exist_ok=True)
    DASHBOARD.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
