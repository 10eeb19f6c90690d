"""The Prometheus series each service exports, built from the services' own metric classes.

Dashboards and alert rules may only reference these names (``tests/test_ops_kit.py`` enforces it). A
catalogue is built the way the services build their registries (the proposer like
``proposer/service.py``, the batcher like ``batcher/service.py``), then every collector family is expanded
into the series names a scrape shows (``_total`` for counters, ``_bucket``/``_sum``/``_count`` for
histograms, ``_sum``/``_count`` for summaries).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from common.service.balance import BalancePoller
from common.service.metrics import (
    Factory,
    MetricDoc,
    RpcClientMetrics,
    RpcServerMetrics,
    namespace_for,
    new_registry,
)

PROMETHEUS_SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus itself adds to every scrape target (not exported by the services)."""


async def _no_balance() -> int:
    return 0


def family_series(name: str, kind: str) -> tuple[str, ...]:
    """Series names a family of ``kind`` produces in the text exposition format."""
    match kind:
        case "counter":  # Go's counters without a _total suffix all end in _count (txmgr's two)
            return (name if name.endswith(("_total", "_count")) else name + "_total",)
        case "histogram":
            return (name + "_bucket", name + "_sum", name + "_count")
        case "summary":
            return (name, name + "_sum", name + "_count")
        case _:
            return (name,)


def registry_series(registry: CollectorRegistry) -> frozenset[str]:
    """Every series name the registry's collectors declare (labelled families included, even if empty)."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family_series(family.name, family.type))
    return frozenset(names)


def docs_series(docs: Iterable[MetricDoc]) -> frozenset[str]:
    """Series names of a ``doc metrics`` catalogue."""
    return frozenset(s for doc in docs for s in family_series(doc.name, doc.type))


def batcher_registry() -> tuple[CollectorRegistry, list[MetricDoc]]:
    """The batcher's registry as ``batcher/service.py`` fills it (metrics, RPC server/client, balance)."""
    from batcher.metrics import metric_docs, new_batcher_metrics

    metrics = new_batcher_metrics(process_collectors=True)
    RpcClientMetrics(metrics.factory)
    RpcServerMetrics(metrics.factory)
    BalancePoller(metrics.factory, "<address>", _no_balance)
    return metrics.factory.registry, metric_docs()


def proposer_registry() -> tuple[CollectorRegistry, list[MetricDoc]]:
    """The proposer's registry as ``proposer/service.py`` fills it (``_doc_metrics`` plus collectors)."""
    from common.txmgr.metrics import TxMetrics
    from proposer.metrics import ProposerMetrics

    factory = Factory(namespace_for("op_proposer"), new_registry(process_collectors=True))
    ProposerMetrics(factory)
    RpcClientMetrics(factory)
    RpcServerMetrics(factory)
    BalancePoller(factory, "<address>", _no_balance)
    TxMetrics(factory.namespace, factory.registry)
    return factory.registry, factory.docs


def batcher_series() -> frozenset[str]:
    registry, docs = batcher_registry()
    return registry_series(registry) | docs_series(docs)


def proposer_series() -> frozenset[str]:
    registry, docs = proposer_registry()
    return registry_series(registry) | docs_series(docs)


def all_series() -> frozenset[str]:
    """Everything either service exports, plus the series Prometheus synthesises per target."""
    return batcher_series() | proposer_series() | PROMETHEUS_SYNTHETIC
