"""Prometheus plumbing shared by the services (op-service/metrics): registry, factory, standard metrics.

Every series lives under ``op_<svc>_default`` (Go's procName is always ``default``). A :class:`Factory`
creates metrics in a dedicated registry (with the standard process collectors) and records each one in a
catalogue, so ``op-<svc> doc metrics`` prints exactly what ``/metrics`` serves. Counters keep their Go
names verbatim: a name that does not end in ``_total`` is exported without one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from common.derive.block_ref import BlockID
from common.service.metrics_config import MetricsConfig as MetricsConfig
from common.service.metrics_config import metrics_flags as metrics_flags
from common.service.metrics_config import read_metrics_config as read_metrics_config

log = logging.getLogger(__name__)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
"""Go exports no ``*_created`` series; without this every counter/histogram would grow one."""

RPC_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""prometheus.DefBuckets, used by the rpc_server/rpc_client duration histograms."""
SUMMARY_MAX_AGE = 600.0
"""prometheus.DefMaxAge: a Go summary's quantiles cover the observations of the last 10 minutes."""
SUMMARY_MAX_SAMPLES = 50_000
"""Bound on the observations a :class:`QuantileSummary` keeps for its window."""


def namespace_for(service: str) -> str:
    """``op-batcher`` / ``op_batcher`` -> ``op_batcher_default``."""
    return service.replace("-", "_") + "_default"


# --------------------------------------------------------------------------------------------------------
# Flags (declared in common.service.metrics_config, re-exported here)


# --------------------------------------------------------------------------------------------------------
# Registry and factory


def new_registry(*, process_collectors: bool = True) -> CollectorRegistry:
    """A fresh registry with the standard process / platform / GC collectors (Go: process + go_*)."""
    registry = CollectorRegistry(auto_describe=True)
    if process_collectors:
        prometheus_client.ProcessCollector(registry=registry)
        prometheus_client.PlatformCollector(registry=registry)
        prometheus_client.GCCollector(registry=registry)
    return registry


@dataclass(frozen=True, slots=True)
class MetricDoc:
    """One row of ``doc metrics``: full series name, Prometheus type, help text, label names."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()


class ExactCounter(Collector):
    """A counter exported under exactly its Go name (for Go counters without a ``_total`` suffix)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        if len(label_values) != len(self.labels):
            raise ValueError(f"counter {self.name} takes labels {self.labels}, got {label_values}")
        self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        return self._values.get(label_values, 0.0)

    def collect(self) -> Iterable[Metric]:
        # Typed counter under the exact Go name; common.service.exposition writes the family under its
        # sample name, so ``tx_publish_error_count`` is not renamed ``..._count_total`` as in Go's output.
        metric = Metric(self.name, self.documentation, "counter")
        values = self._values if self.labels or self._values else {(): 0.0}  # Go exports an unlabelled 0
        for label_values, value in sorted(values.items()):
            metric.add_sample(self.name, dict(zip(self.labels, label_values, strict=True)), value)
        yield metric

    def describe(self) -> Iterable[Metric]:
        # No description: prometheus_client's duplicate check would derive ``<name>_total`` names that
        # collide with Go's sibling gauge (``tx_fee_gwei`` next to ``tx_fee_gwei_total``).
        return ()


class QuantileSummary(Collector):
    """A Go summary with objectives: ``{quantile=...}`` over the last 10 minutes plus ``_sum``/``_count``.

    prometheus_client's Summary has no quantiles. Quantiles here are exact nearest-rank values of the
    window's observations (within every Go objective's error); an empty window reads NaN, as in Go.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        quantiles: Sequence[float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.quantiles = tuple(sorted(quantiles))
        self.clock = clock
        self._window: deque[tuple[float, float]] = deque(maxlen=SUMMARY_MAX_SAMPLES)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        self._window.append((self.clock(), value))
        self._sum += value
        self._count += 1

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile of the observations younger than SUMMARY_MAX_AGE."""
        cutoff = self.clock() - SUMMARY_MAX_AGE
        while self._window and self._window[0][0] < cutoff:
            self._window.popleft()
        values = sorted(v for _, v in self._window)
        if not values:
            return math.nan
        rank = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
        return values[rank]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, "summary")
        for q in self.quantiles:
            metric.add_sample(self.name, {"quantile": str(q)}, self.quantile(q))
        metric.add_sample(f"{self.name}_sum", {}, self._sum)
        metric.add_sample(f"{self.name}_count", {}, float(self._count))
        yield metric

    def describe(self) -> Iterable[Metric]:
        yield Metric(self.name, self.documentation, "summary")


@dataclass(slots=True)
class Event:
    """Go metrics.Event: ``<name>_total`` counter + ``last_<name>_unix`` gauge, optionally labelled."""

    total: Counter
    last_time: Gauge
    labelled: bool
    clock: Callable[[], float] = time.time

    def record(self, *label_values: str) -> None:
        now = self.clock()
        if self.labelled:
            self.total.labels(*label_values).inc()
            self.last_time.labels(*label_values).set(now)
        else:
            self.total.inc()
            self.last_time.set(now)

    def prime(self, *label_values: str) -> None:
        """Export the counter of these labels at 0 before its first event: Prometheus's ``increase()``
        counts nothing for a series that appears already at 1, so an alert on the first occurrence (a
        channel timeout) would never fire. The timestamp gauge stays absent (0 would read as 1970)."""
        self.total.labels(*label_values)


@dataclass(slots=True)
class Factory:
    """Creates metrics under one namespace in one registry and keeps the ``doc metrics`` catalogue."""

    namespace: str
    registry: CollectorRegistry = field(default_factory=new_registry)
    docs: list[MetricDoc] = field(default_factory=list)

    def _full(self, name: str, subsystem: str) -> str:
        return "_".join(p for p in (self.namespace, subsystem, name) if p)

    def _doc(self, name: str, subsystem: str, kind: str, help_text: str, labels: Sequence[str]) -> None:
        self.docs.append(MetricDoc(self._full(name, subsystem), kind, help_text, tuple(labels)))

    def counter(self, name: str, help_text: str, labels: Sequence[str] = (), subsystem: str = "") -> Counter:
        """A counter whose Go name ends in ``_total`` (prometheus_client re-adds the suffix)."""
        if not name.endswith("_total"):
            raise ValueError(f"counter {name} does not end in _total; use exact_counter for Go's name")
        self._doc(name, subsystem, "counter", help_text, labels)
        return Counter(
            name, help_text, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry
        )

    def exact_counter(
        self, name: str, help_text: str, labels: Sequence[str] = (), subsystem: str = ""
    ) -> ExactCounter:
        self._doc(name, subsystem, "counter", help_text, labels)
        counter = ExactCounter(self._full(name, subsystem), help_text, labels)
        self.registry.register(counter)
        return counter

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = (), subsystem: str = "") -> Gauge:
        self._doc(name, subsystem, "gauge", help_text, labels)
        return Gauge(
            name, help_text, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry
        )

    def gauge_func(self, name: str, help_text: str, fn: Callable[[], float], subsystem: str = "") -> Gauge:
        """A gauge sampled from ``fn`` at scrape time (Go GaugeFunc)."""
        gauge = self.gauge(name, help_text, subsystem=subsystem)
        gauge.set_function(fn)
        return gauge

    def histogram(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        labels: Sequence[str] = (),
        subsystem: str = "",
    ) -> Histogram:
        self._doc(name, subsystem, "histogram", help_text, labels)
        return Histogram(
            name,
            help_text,
            labels,
            namespace=self.namespace,
            subsystem=subsystem,
            registry=self.registry,
            buckets=tuple(buckets),
        )

    def summary(self, name: str, help_text: str, labels: Sequence[str] = (), subsystem: str = "") -> Summary:
        self._doc(name, subsystem, "summary", help_text, labels)
        return Summary(
            name, help_text, labels, namespace=self.namespace, subsystem=subsystem, registry=self.registry
        )

    def quantile_summary(self, name: str, help_text: str, quantiles: Sequence[float]) -> QuantileSummary:
        """Go NewSummary with Objectives (unlabelled): quantile samples plus ``_sum``/``_count``."""
        self._doc(name, "", "summary", help_text, ())
        summary = QuantileSummary(self._full(name, ""), help_text, quantiles)
        self.registry.register(summary)
        return summary

    def event(self, name: str, display_name: str, labels: Sequence[str] = (), subsystem: str = "") -> Event:
        """Go NewEvent / NewEventVec: ``<name>_total`` and ``last_<name>_unix``."""
        total = self.counter(f"{name}_total", f"Count of {display_name} events", labels, subsystem)
        last = self.gauge(f"last_{name}_unix", f"Timestamp of last {display_name} event", labels, subsystem)
        return Event(total, last, bool(labels))

    def value(self, full_name: str, labels: dict[str, str] | None = None) -> float | None:
        """Current sample value by exported name (tests and debugging)."""
        return self.registry.get_sample_value(full_name, labels or {})


# --------------------------------------------------------------------------------------------------------
# Standard service metrics


class ServiceMetrics:
    """``info{version}`` and ``up`` (op-service opmetrics RecordInfo / RecordUp), and ``stopped`` (ours:
    Go has no series telling a service stopped over its admin RPC from a working one)."""

    def __init__(self, factory: Factory, service: str = "service") -> None:
        self.info = factory.gauge("info", "Pseudo-metric tracking version and config info", ("version",))
        self.up = factory.gauge("up", f"1 if the {service} has finished starting up")
        self.stopped = factory.gauge(
            "stopped", f"1 while the {service}'s work loop is not running (not started yet, or stopped)"
        )
        self.stopped.set(1)

    def record_info(self, version: str) -> None:
        self.info.labels(version).set(1)

    def record_up(self) -> None:
        self.up.set(1)

    def record_stopped(self, stopped: bool) -> None:
        self.stopped.set(1 if stopped else 0)


def hash_as_float(block_hash: bytes) -> float:
    """Go's refs_hash: the first 8 bytes read as a little-endian uint64, as a float."""
    return float(int.from_bytes(block_hash[:8], "little"))


class RefMetrics:
    """op-service RefMetrics: ``refs_{number,time,hash,latency}{layer,type}`` and ``refs_seqnr{type}``."""

    def __init__(self, factory: Factory, clock: Callable[[], float] = time.time) -> None:
        refs = ("layer", "type")
        self.clock = clock
        self.number = factory.gauge(
            "refs_number", "Gauge representing the different L1/L2 reference block numbers", refs
        )
        self.time = factory.gauge(
            "refs_time", "Gauge representing the different L1/L2 reference block timestamps", refs
        )
        self.hash = factory.gauge(
            "refs_hash",
            "Gauge representing the different L1/L2 reference block hashes truncated to float values",
            refs,
        )
        self.latency = factory.gauge(
            "refs_latency",
            "Gauge representing the different L1/L2 reference block timestamps minus current time, "
            "in seconds",
            refs,
        )
        self.seqnr = factory.gauge(
            "refs_seqnr", "Gauge representing the different L2 reference sequence numbers", ("type",)
        )
        self._seen: dict[tuple[str, str], bytes] = {}

    def record(self, layer: str, kind: str, number: int, timestamp: int, block_hash: bytes) -> None:
        """Latency is set only on the first sighting of a hash, as Go does."""
        self.number.labels(layer, kind).set(number)
        self.time.labels(layer, kind).set(timestamp)
        self.hash.labels(layer, kind).set(hash_as_float(block_hash))
        if self._seen.get((layer, kind)) != block_hash:
            self._seen[(layer, kind)] = block_hash
            self.latency.labels(layer, kind).set(timestamp - self.clock())

    def record_l2(
        self, kind: str, number: int, timestamp: int, block_hash: bytes, l1_origin: BlockID, seq: int
    ) -> None:
        """An L2 ref plus its L1 origin (layer ``l1_origin``: number and hash only)."""
        self.record("l2", kind, number, timestamp, block_hash)
        self.number.labels("l1_origin", kind).set(l1_origin.number)
        self.hash.labels("l1_origin", kind).set(hash_as_float(l1_origin.hash))
        self.seqnr.labels(kind).set(seq)


class RpcServerMetrics:
    """``rpc_server_requests_total{method}`` and ``rpc_server_request_duration_seconds{method}``."""

    def __init__(self, factory: Factory) -> None:
        self.requests = factory.counter(
            "requests_total", "Total requests to the RPC server", ("method",), "rpc_server"
        )
        self.duration = factory.histogram(
            "request_duration_seconds",
            "Histogram of RPC server request durations",
            RPC_DURATION_BUCKETS,
            ("method",),
            "rpc_server",
        )

    def record(self, method: str, seconds: float) -> None:
        self.requests.labels(method).inc()
        self.duration.labels(method).observe(seconds)


class RpcClientMetrics:
    """``rpc_client_*`` series; implements common.rpc.client.RpcMetrics (``record(method, s, label)``)."""

    def __init__(self, factory: Factory) -> None:
        self.requests = factory.counter(
            "requests_total", "Total RPC requests initiated by the RPC client", ("method",), "rpc_client"
        )
        self.duration = factory.histogram(
            "request_duration_seconds",
            "Histogram of RPC client request durations",
            RPC_DURATION_BUCKETS,
            ("method",),
            "rpc_client",
        )
        self.responses = factory.counter(
            "responses_total",
            "Total RPC request responses received by the RPC client",
            ("method", "error"),
            "rpc_client",
        )
        self.retries = factory.counter(
            "retries_total",
            "Retries after transient RPC client failures (HTTP 429/5xx, timeouts, dropped connections)",
            ("method", "error"),
            "rpc_client",
        )

    def record(self, method: str, seconds: float, error_label: str) -> None:
        """One finished request; ``error_label`` is ``<nil>``, ``rpc_<code>``, ``http_<status>``, ..."""
        self.requests.labels(method).inc()
        self.duration.labels(method).observe(seconds)
        self.responses.labels(method, error_label).inc()

    def record_retry(self, method: str, error_label: str) -> None:
        """One retry after a transient failure (our addition: ``rpc_client_retries_total``)."""
        self.retries.labels(method, error_label).inc()
