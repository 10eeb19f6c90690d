"""``op-<svc> doc metrics``: the catalogue of every metric the service registers, as markdown or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from common.service.metrics import MetricDoc


def doc_metrics_markdown(docs: Sequence[MetricDoc]) -> str:
    """The ``doc metrics`` table (Go tablewriter layout: METRIC | DESCRIPTION | LABELS | TYPE)."""
    rows = [("METRIC", "DESCRIPTION", "LABELS", "TYPE")]
    rows += [(d.name, d.help, ",".join(d.labels), d.type) for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def doc_metrics_json(docs: Sequence[MetricDoc]) -> str:
    """``doc metrics --format json``: a list of {type, name, help, labels}."""
    return (
        json.dumps([{"type": d.type, "name": d.name, "help": d.help, "labels": list(d.labels)} for d in docs])
        + "\n"
    )


def doc_metrics(docs: Sequence[MetricDoc], fmt: str = "markdown") -> str:
    """Render the catalogue; unknown formats fail with Go's ``invalid format: X``."""
    if fmt == "markdown":
        return doc_metrics_markdown(docs)
    if fmt == "json":
        return doc_metrics_json(docs)
    raise ValueError(f"invalid format: {fmt}")


def doc_command(app: str, args: Sequence[str], docs: Callable[[], Sequence[MetricDoc]]) -> int:
    """``<app> doc metrics [--format markdown|json]``: print the metric catalogue; exit code."""
    if not args or args[0] != "metrics":
        sys.stderr.write(f"usage: {app} doc metrics [--format markdown|json]\n")
        return 1
    fmt, rest = "markdown", list(args[1:])
    for i, arg in enumerate(rest):
        if arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg == "--format" and i + 1 < len(rest):
            fmt = rest[i + 1]
    try:
        sys.stdout.write(doc_metrics(docs(), fmt))
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0
