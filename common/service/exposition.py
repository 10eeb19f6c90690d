"""Prometheus text exposition written the way Go's client_golang (expfmt) writes it.

prometheus_client's ``generate_latest`` differs from Go in ways dashboards and ``# TYPE``-aware tooling
notice: floats read ``1.0`` and ``le="1.0"`` where Go writes ``1`` / ``le="1"`` (Go formats every value
and ``le``/``quantile`` label with ``strconv.FormatFloat(f, 'g', -1, 64)``), families come in
registration order where Go sorts them by name, their metrics by label values and each metric's label
pairs by name. Counters are named in the HELP/TYPE lines exactly as their samples are, so a Go counter
without a ``_total`` suffix keeps its name. One difference is kept on purpose: a labelled family with no
children yet still shows its HELP/TYPE lines (Go's gatherer omits it; Prometheus ignores such lines), so
every series a dashboard or alert reads is discoverable on the page from the first scrape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

GO_TYPES = {"counter", "gauge", "histogram", "summary"}
"""Types Go writes on the ``# TYPE`` line; anything else is ``untyped``."""
SHORTEST_EXPONENT_LIMIT = 6
"""strconv's %g switches to exponent form at decimal exponent >= 6 when the precision is shortest."""


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)`` with expfmt's ``+Inf``/``-Inf``/``NaN`` spellings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # decimal point position, as strconv's decimal.dp
    prefix = "-" if sign else ""
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= SHORTEST_EXPONENT_LIMIT:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_sign = "-" if decimal_exponent < 0 else "+"
        return f"{prefix}{mantissa}e{exp_sign}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_value(name: str, value: str) -> str:
    """``le`` and ``quantile`` are floats in Go's model and are written with :func:`go_float`."""
    if name in ("le", "quantile"):
        return go_float(float(value))
    return _escape_label(value)


def _sample_line(sample: Sample) -> str:
    """Go writes label pairs sorted by name, with ``le``/``quantile`` last."""
    names = sorted(k for k in sample.labels if k not in ("le", "quantile"))
    names += [k for k in ("le", "quantile") if k in sample.labels]
    labels = ",".join(f'{k}="{_label_value(k, sample.labels[k])}"' for k in names)
    return (
        f"{sample.name}{{{labels}}} {go_float(sample.value)}"
        if labels
        else f"{sample.name} {go_float(sample.value)}"
    )


def _series_key(sample: Sample) -> tuple[str, ...]:
    """Go sorts a family's metrics by their label values; ``le``/``quantile`` stay in emitted order."""
    return tuple(v for k, v in sorted(sample.labels.items()) if k not in ("le", "quantile"))


def _go_sample_rank(sample: Sample) -> int:
    """Within one metric Go writes buckets or quantiles, then ``_sum``, then ``_count`` (stable sort)."""
    return (
        2
        if sample.name.endswith("_count") and "le" not in sample.labels
        else int(sample.name.endswith("_sum"))
    )


def _family_name(metric: Metric) -> str:
    """Go names a counter family after its samples (``x_total`` or a suffix-less Go name)."""
    if metric.type != "counter":
        return metric.name
    if metric.samples:
        return str(metric.samples[0].name)
    return metric.name if metric.name.endswith(("_total", "_count")) else metric.name + "_total"


def _family_lines(metric: Metric) -> list[str]:
    name = _family_name(metric)
    kind = metric.type if metric.type in GO_TYPES else "untyped"
    groups: dict[tuple[str, ...], list[Sample]] = {}
    for sample in metric.samples:
        groups.setdefault(_series_key(sample), []).append(sample)
    lines = [f"# HELP {name} {_escape_help(metric.documentation)}", f"# TYPE {name} {kind}"]
    for key in sorted(groups):
        lines.extend(_sample_line(sample) for sample in sorted(groups[key], key=_go_sample_rank))
    return lines


def go_exposition(registry: CollectorRegistry | Iterable[Metric]) -> bytes:
    """The text format (version 0.0.4) of every family, sorted by family name as Go gathers."""
    families = registry.collect() if isinstance(registry, CollectorRegistry) else registry
    by_name = {_family_name(m): m for m in families}
    lines = [line for name in sorted(by_name) for line in _family_lines(by_name[name])]
    return ("\n".join(lines) + "\n").encode() if lines else b""
