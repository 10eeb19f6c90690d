"""Transaction-manager metrics with op-service/txmgr's exact series names.

Series are ``<namespace>_txmgr_<name>`` with namespace ``op_batcher_default`` or ``op_proposer_default``.
Two Go counters have no ``_total`` suffix (``tx_publish_error_count``, ``rpc_error_count``), and
``tx_fee_gwei_total`` shares its base name with the ``tx_fee_gwei`` gauge. The Python client appends
``_total`` to every counter and reserves the base name, so these three are exported by a small collector
as untyped series under the exact Go names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

SUBSYSTEM = "txmgr"
FEE_GWEI_BUCKETS = (0.5, 1, 2, 5, 10, 20, 40, 60, 80, 100, 200, 400, 800, 1600)
PUBLISH_ERROR_LABELS = (
    "bump_failed",
    "pending_tx_of_incompatible_type",
    "nonce_too_low",
    "context_canceled",
    "tx_already_known",
    "tx_replacement_underpriced",
    "tx_underpriced",
    "nonce_too_high",
    "unknown_error",
)
"""The fixed ``error`` label values of ``tx_publish_error_count``."""


class TxMetricer(Protocol):
    """What the tx manager records; :class:`TxMetrics` and :class:`NoopTxMetrics` implement it."""

    def record_nonce(self, nonce: int) -> None: ...
    def record_pending_tx(self, pending: int) -> None: ...
    def record_gas_bump_count(self, count: int) -> None: ...
    def record_tx_confirmation_latency(self, ms: int) -> None: ...
    def tx_confirmed(
        self, *, status: int | None, effective_gas_price: int, gas_used: int, tx_type: int
    ) -> None: ...
    def tx_published(self, error_label: str) -> None: ...
    def record_base_fee(self, wei: int) -> None: ...
    def record_blob_base_fee(self, wei: int) -> None: ...
    def record_tip_cap(self, wei: int) -> None: ...
    def rpc_error(self) -> None: ...


class _ExactNameCounter(Collector):
    """A labelled counter exported under its exact name (no ``_total`` appended)."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self._name = name
        self._doc = documentation
        self._labels = labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[label_values] = self._values.get(label_values, 0.0) + amount

    def value(self, *label_values: str) -> float:
        with self._lock:
            return self._values.get(label_values, 0.0)

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self._name, self._doc, "unknown")
        with self._lock:
            items = sorted(self._values.items())
        for values, count in items:
            metric.add_sample(self._name, dict(zip(self._labels, values, strict=True)), count)
        yield metric


class TxMetrics:
    """The txmgr series on ``registry`` under ``namespace`` (e.g. ``op_batcher_default``)."""

    def __init__(self, namespace: str, registry: CollectorRegistry) -> None:
        ns, sub, reg = namespace, SUBSYSTEM, registry
        self.tx_fee_gwei = Gauge(
            "tx_fee_gwei", "L1 gas fee for transactions in GWEI", namespace=ns, subsystem=sub, registry=reg
        )
        self.tx_fee_histogram_gwei = Histogram(
            "tx_fee_histogram_gwei",
            "Tx Fee in GWEI",
            namespace=ns,
            subsystem=sub,
            buckets=FEE_GWEI_BUCKETS,
            registry=reg,
        )
        self.tx_type = Gauge(
            "tx_type", "Transaction type (receipt)", namespace=ns, subsystem=sub, registry=reg
        )
        self.tx_gas_bump = Gauge(
            "tx_gas_bump",
            "Number of times a transaction gas needed to be bumped before it got included",
            namespace=ns,
            subsystem=sub,
            registry=reg,
        )
        self.tx_confirmed_latency_ms = Gauge(
            "tx_confirmed_latency_ms",
            "Latency of a confirmed transaction in milliseconds",
            namespace=ns,
            subsystem=sub,
            registry=reg,
        )
        self.current_nonce = Gauge(
            "current_nonce", "Current nonce of the from address", namespace=ns, subsystem=sub, registry=reg
        )
        self.pending_txs = Gauge(
            "pending_txs",
            "Number of transactions pending receipts",
            namespace=ns,
            subsystem=sub,
            registry=reg,
        )
        self.publish_total = Counter(
            "publish_total", "Count of publish events", namespace=ns, subsystem=sub, registry=reg
        )
        self.last_publish_unix = Gauge(
            "last_publish_unix", "Timestamp of the last publish", namespace=ns, subsystem=sub, registry=reg
        )
        self.confirm_total = Counter(
            "confirm_total", "Count of confirm events", ["status"], namespace=ns, subsystem=sub, registry=reg
        )
        self.last_confirm_unix = Gauge(
            "last_confirm_unix",
            "Timestamp of the last confirm",
            ["status"],
            namespace=ns,
            subsystem=sub,
            registry=reg,
        )
        self.basefee_wei = Gauge(
            "basefee_wei", "Latest L1 baseFee (in Wei)", namespace=ns, subsystem=sub, registry=reg
        )
        self.blob_basefee_wei = Gauge(
            "blob_basefee_wei", "Latest Blob baseFee (in Wei)", namespace=ns, subsystem=sub, registry=reg
        )
        self.tipcap_wei = Gauge(
            "tipcap_wei", "Latest L1 suggested tip cap (in Wei)", namespace=ns, subsystem=sub, registry=reg
        )
        prefix = f"{ns}_{sub}_"
        self.tx_publish_error_count = _ExactNameCounter(
            prefix + "tx_publish_error_count",
            "Count of publish errors. Labels are sanitized error strings",
            ("error",),
        )
        self.tx_fee_gwei_total = _ExactNameCounter(
            prefix + "tx_fee_gwei_total", "Sum of fees spent for all transactions in GWEI", ()
        )
        self.rpc_error_count = _ExactNameCounter(
            prefix + "rpc_error_count", "Temporary: Count of RPC errors", ()
        )
        reg.register(self.tx_publish_error_count)
        reg.register(self.rpc_error_count)
        reg.register(self.tx_fee_gwei_total)

    def record_nonce(self, nonce: int) -> None:
        self.current_nonce.set(nonce)

    def record_pending_tx(self, pending: int) -> None:
        self.pending_txs.set(pending)

    def record_gas_bump_count(self, count: int) -> None:
        self.tx_gas_bump.set(count)

    def record_tx_confirmation_latency(self, ms: int) -> None:
        self.tx_confirmed_latency_ms.set(ms)

    def tx_confirmed(
        self, *, status: int | None, effective_gas_price: int, gas_used: int, tx_type: int
    ) -> None:
        """Confirm event + fee series; the fee is integer gwei as in Go (division before float)."""
        label = {1: "success", 0: "failed"}.get(status if status is not None else -1, "unknown_status")
        self.confirm_total.labels(label).inc()
        self.last_confirm_unix.labels(label).set(time.time())
        fee_gwei = float(effective_gas_price * gas_used // 10**9)
        self.tx_fee_gwei.set(fee_gwei)
        self.tx_fee_gwei_total.inc(amount=fee_gwei)
        self.tx_fee_histogram_gwei.observe(fee_gwei)
        self.tx_type.set(tx_type)

    def tx_published(self, error_label: str) -> None:
        """``""`` = a successful publish; otherwise one of :data:`PUBLISH_ERROR_LABELS`."""
        if error_label:
            self.tx_publish_error_count.inc(error_label)
        else:
            self.publish_total.inc()
            self.last_publish_unix.set(time.time())

    def record_base_fee(self, wei: int) -> None:
        self.basefee_wei.set(wei)

    def record_blob_base_fee(self, wei: int) -> None:
        self.blob_basefee_wei.set(wei)

    def record_tip_cap(self, wei: int) -> None:
        self.tipcap_wei.set(wei)

    def rpc_error(self) -> None:
        self.rpc_error_count.inc()


class NoopTxMetrics:
    """Records nothing (metrics disabled)."""

    def record_nonce(self, nonce: int) -> None:
        pass

    def record_pending_tx(self, pending: int) -> None:
        pass

    def record_gas_bump_count(self, count: int) -> None:
        pass

    def record_tx_confirmation_latency(self, ms: int) -> None:
        pass

    def tx_confirmed(
        self, *, status: int | None, effective_gas_price: int, gas_used: int, tx_type: int
    ) -> None:
        pass

    def tx_published(self, error_label: str) -> None:
        pass

    def record_base_fee(self, wei: int) -> None:
        pass

    def record_blob_base_fee(self, wei: int) -> None:
        pass

    def record_tip_cap(self, wei: int) -> None:
        pass

    def rpc_error(self) -> None:
        pass
