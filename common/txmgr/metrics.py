"""Transaction-manager metrics with op-service/txmgr's exact series names.

Series are ``<namespace>_txmgr_<name>`` with namespace ``op_batcher_default`` or ``op_proposer_default``.
Two Go counters have no ``_total`` suffix (``tx_publish_error_count``, ``rpc_error_count``), and
``tx_fee_gwei_total`` shares its base name with the ``tx_fee_gwei`` gauge. The Python client appends
``_total`` to every counter and reserves the base name, so these three are exported by
``common.service.metrics.ExactCounter``: counters under the exact Go names.
"""

from __future__ import annotations

import time
from typing import Protocol

from prometheus_client import CollectorRegistry

from common.service.metrics import Factory, MetricDoc

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


class TxMetrics:
    """The txmgr series under ``<namespace>_txmgr_``, each recorded in a ``doc metrics`` catalogue.

    Build it with :meth:`from_factory` so the service's :class:`Factory` catalogue lists the txmgr series
    (labels included, sampled or not); ``docs`` holds this instance's rows either way.
    """

    def __init__(
        self, namespace: str, registry: CollectorRegistry, *, docs: list[MetricDoc] | None = None
    ) -> None:
        factory = Factory(namespace, registry, [] if docs is None else docs)
        self.docs = factory.docs
        """The catalogue the rows were appended to (the factory's when built with ``from_factory``)."""
        sub = SUBSYSTEM
        self.tx_fee_gwei = factory.gauge("tx_fee_gwei", "L1 gas fee for transactions in GWEI", subsystem=sub)
        self.tx_fee_gwei_total = factory.exact_counter(
            "tx_fee_gwei_total", "Sum of fees spent for all transactions in GWEI", subsystem=sub
        )
        self.tx_fee_histogram_gwei = factory.histogram(
            "tx_fee_histogram_gwei", "Tx Fee in GWEI", FEE_GWEI_BUCKETS, subsystem=sub
        )
        self.tx_type = factory.gauge("tx_type", "Transaction type (receipt)", subsystem=sub)
        self.tx_gas_bump = factory.gauge(
            "tx_gas_bump",
            "Number of times a transaction gas needed to be bumped before it got included",
            subsystem=sub,
        )
        self.tx_confirmed_latency_ms = factory.gauge(
            "tx_confirmed_latency_ms", "Latency of a confirmed transaction in milliseconds", subsystem=sub
        )
        self.current_nonce = factory.gauge(
            "current_nonce", "Current nonce of the from address", subsystem=sub
        )
        self.pending_txs = factory.gauge(
            "pending_txs", "Number of transactions pending receipts", subsystem=sub
        )
        self.publish_total = factory.counter("publish_total", "Count of publish events", subsystem=sub)
        self.last_publish_unix = factory.gauge(
            "last_publish_unix", "Timestamp of the last publish", subsystem=sub
        )
        self.tx_publish_error_count = factory.exact_counter(
            "tx_publish_error_count",
            "Count of publish errors. Labels are sanitized error strings",
            ("error",),
            subsystem=sub,
        )
        self.confirm_total = factory.counter(
            "confirm_total", "Count of confirm events", ("status",), subsystem=sub
        )
        self.last_confirm_unix = factory.gauge(
            "last_confirm_unix", "Timestamp of the last confirm", ("status",), subsystem=sub
        )
        self.basefee_wei = factory.gauge("basefee_wei", "Latest L1 baseFee (in Wei)", subsystem=sub)
        self.blob_basefee_wei = factory.gauge(
            "blob_basefee_wei", "Latest Blob baseFee (in Wei)", subsystem=sub
        )
        self.tipcap_wei = factory.gauge("tipcap_wei", "Latest L1 suggested tip cap (in Wei)", subsystem=sub)
        self.rpc_error_count = factory.exact_counter(
            "rpc_error_count", "Temporary: Count of RPC errors", subsystem=sub
        )

    @classmethod
    def from_factory(cls, factory: Factory) -> TxMetrics:
        """The txmgr series in ``factory``'s registry, documented in ``factory.docs``."""
        return cls(factory.namespace, factory.registry, docs=factory.docs)

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
