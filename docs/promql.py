"""Extracts the metric names a PromQL expression selects (for checking dashboards and alert rules).

Not a full PromQL parser: it removes what cannot be a metric name (strings, label matchers, range and
subquery brackets, grouping clauses, Grafana ``$variables``, numbers and durations), then keeps every
identifier that is neither a keyword nor a function call. Grafana's ``label_values(metric, label)``
template queries are handled too.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"inf", "nan", "start", "end", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_NUMBER = re.compile(r"(?<![\w:])(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<metric>[^,()]*?)\s*(?:,\s*\w+\s*)?\)\s*$")


def metric_names(expr: str) -> set[str]:
    """Metric names selected by ``expr`` (a PromQL expression or a Grafana ``label_values`` query)."""
    templated = _LABEL_VALUES.match(expr)
    if templated:
        expr = templated.group("metric")
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    while True:
        stripped = _MATCHERS.sub(" ", text)
        stripped = _RANGE.sub(" ", stripped)
        if stripped == text:
            break
        text = stripped
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names
