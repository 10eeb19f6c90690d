"""op-batcher metrics: every Go series under ``op_batcher_default_`` (op-batcher.md §2.1) plus what Go lacks.

The driver records outcomes here; the channel manager (pure) only returns events. Go names, types, labels
and buckets are kept as dashboards expect them. Additions (not in Go):

* ``channel_closed_reason`` works: it holds the 1-based index of the last close reason (Go leaves it 0),
  and ``channel_closed_by_reason_total{reason}`` counts every close by reason.
* ``blob_fill_ratio``: a histogram of the fill of *every* blob (Go's ``blob_used_bytes`` only sees the
  last blob of a tx).
* ``safe_head_lag_blocks`` / ``safe_head_lag_seconds``: unsafe minus safe L2 head, in blocks and seconds.
* ``empty_channels_total``: channels closed with no block (should stay 0: we never post one) and
  ``blocks_too_large_total``: blocks that fit no channel.
* ``seq_window_margin_blocks``: L1 blocks left before the oldest unsafe block's sequencing window closes;
  ``seq_window_expired_total``: channels held back because their batches would land past the window.
* ``channel_verify_failures_total``: channels whose frames did not decode back to their blocks (not sent).
* ``channels_recovered_total`` / ``blocks_recovered_total``: restart recovery from the batcher's own L1 txs.
* ``altda_requests_total{method,result}``, ``altda_read_back_failures_total``, ``altda_requests_in_flight``:
  Alt-DA server requests (:mod:`batcher.publishing.altda`).
* ``fee_aware_*``: fee-aware posting (``--fee-aware.enabled``): decisions, deferred bytes, time deferred and
  the fee saved estimate (:mod:`batcher.publishing.fee_gate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from batcher.channels.channel import CloseReason
from batcher.publishing.altda import AltDAMetrics
from batcher.publishing.fee_gate import FeeAwareMetrics
from common.derive.block_ref import BlockID
from common.service.metrics import Factory, MetricDoc, RefMetrics, ServiceMetrics, new_registry
from common.txmgr.metrics import TxMetrics

NAMESPACE = "op_batcher_default"
MAX_BLOB_DATA_SIZE = 130_044
COMPR_RATIO_BUCKETS = (0.1, 0.2, *[round(0.3 + 0.05 * i, 2) for i in range(14)])
"""Go: 0.1, 0.2, then 0.30 .. 0.95 step 0.05."""
BLOB_USED_BUCKETS = tuple(float(i * (MAX_BLOB_DATA_SIZE // 13)) for i in range(14))
"""Go: 14 linear buckets from 0, width MaxBlobDataSize/13 (integer division)."""
FILL_BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
THROTTLE_TYPES = ("step", "linear", "quadratic", "pid")
CLOSE_REASONS = tuple(CloseReason)


THROTTLE_HISTORY_QUANTILES = (0.5, 0.9, 0.99)
"""The objectives of Go's throttle_intensity_history summary (errors 0.05, 0.01, 0.001)."""


class BatcherMetrics(ServiceMetrics):
    """All batcher series on one factory; the txmgr series share its registry."""

    def __init__(self, factory: Factory, clock: Callable[[], float] = time.time) -> None:
        super().__init__(factory, "op-batcher")
        self.factory = factory
        self.clock = clock
        f = factory
        self.refs = RefMetrics(f, clock)
        self.channel_evs = f.event("channel", "Channel", ("stage",))
        self.batcher_tx_evs = f.event("batcher_tx", "BatcherTx", ("stage",))
        self.channel_evs.prime("timed_out")  # the stages the shipped alerts count from their first event
        self.batcher_tx_evs.prime("failed")
        self.pending_blocks_count = f.gauge(
            "pending_blocks_count", "Number of pending blocks, not added to a channel yet.", ("stage",)
        )
        self.pending_blocks_bytes_total = f.counter(
            "pending_blocks_bytes_total",
            "Total size of transactions in pending blocks as they are fetched from L2",
        )
        self.pending_blocks_bytes_current = f.gauge(
            "pending_blocks_bytes_current",
            "Current size of transactions in the pending (fetched from L2 but not in a channel) stage.",
        )
        self.pending_da_bytes = f.gauge(
            "pending_da_bytes",
            "The estimated amount of data currently pending to be written to the DA layer "
            "(from blocks fetched from L2 "
            "but not yet in a channel).",
        )
        """Set by the driver's state task after each step that changes the block queue (not at scrape)."""
        self.unsafe_da_bytes = f.gauge(
            "unsafe_da_bytes", "The estimated number of unsafe DA bytes (throttling input)"
        )
        self.blocks_added_count = f.gauge(
            "blocks_added_count", "Total number of blocks added to current channel."
        )
        self.input_bytes = f.gauge("input_bytes", "Number of input bytes to a channel.", ("stage",))
        self.ready_bytes = f.gauge("ready_bytes", "Number of bytes ready in the compression buffer.")
        self.output_bytes = f.gauge("output_bytes", "Number of compressed output bytes from a channel.")
        self.channel_closed_reason = f.gauge(
            "channel_closed_reason", "Reason why the latest channel was closed (1-based index, see doc)."
        )
        self.channel_num_frames = f.gauge("channel_num_frames", "Total number of frames of closed channel.")
        self.channel_compr_ratio = f.histogram(
            "channel_compr_ratio",
            "Compression ratios of closed channel.",
            COMPR_RATIO_BUCKETS,
        )
        self.input_bytes_total = f.exact_counter("input_bytes_total", "Total number of bytes to a channel.")
        self.output_bytes_total = f.exact_counter(
            "output_bytes_total", "Total number of compressed output bytes from a channel."
        )
        self.channel_queue_length = f.gauge(
            "channel_queue_length", "The number of channels currently in memory."
        )
        self.blob_used_bytes = f.histogram(
            "blob_used_bytes", "Blob size in bytes (of last blob only for multi-blob txs).", BLOB_USED_BUCKETS
        )
        self.throttle_intensity = f.gauge(
            "throttle_intensity", "Current throttling intensity (0.0 to 1.0)", ("type",)
        )
        self.throttle_intensity_history = f.quantile_summary(
            "throttle_intensity_history", "Throttling intensity over time", THROTTLE_HISTORY_QUANTILES
        )
        self.throttle_max_tx_size = f.gauge(
            "throttle_max_tx_size", "Current maximum transaction size for throttling"
        )
        self.throttle_max_block_size = f.gauge(
            "throttle_max_block_size", "Current maximum block size for throttling"
        )
        self.throttle_controller_type = f.gauge(
            "throttle_controller_type", "Type of throttle controller in use", ("type",)
        )
        self.unsafe_bytes_ratio = f.gauge(
            "unsafe_bytes_ratio",
            "Current unsafe DA bytes divided by the throttling lower threshold",
            ("type",),
        )
        self.pid_error = f.gauge("pid_controller_error", "Current PID controller error")
        self.pid_integral = f.gauge("pid_controller_integral", "Current PID controller integral term")
        self.pid_derivative = f.gauge("pid_controller_derivative", "Current PID controller derivative term")
        self.pid_response_time = f.histogram(
            "pid_response_time",
            "PID controller response time in seconds",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        # ---- additions ----
        self.channel_closed_by_reason = f.counter(
            "channel_closed_by_reason_total", "Channels closed, by close reason", ("reason",)
        )
        self.blob_fill_ratio = f.histogram(
            "blob_fill_ratio", "Fill of every blob sent (data bytes / 130044)", FILL_BUCKETS
        )
        self.safe_head_lag_blocks = f.gauge(
            "safe_head_lag_blocks", "Unsafe L2 head minus safe L2 head, in blocks"
        )
        self.safe_head_lag_seconds = f.gauge(
            "safe_head_lag_seconds", "Unsafe L2 head time minus safe L2 head time, in seconds"
        )
        self.empty_channels = f.counter(
            "empty_channels_total", "Channels closed without any block (never posted)"
        )
        self.blocks_too_large = f.counter(
            "blocks_too_large_total", "L2 blocks that fit no channel (not posted)"
        )
        self.seq_window_margin = f.gauge(
            "seq_window_margin_blocks",
            "L1 blocks left before the sequencing window of the oldest unsafe block closes "
            "(negative: past it)",
        )
        self.seq_window_expired = f.counter(
            "seq_window_expired_total",
            "Channels held back because their batches would land past the sequencing window",
        )
        self.channel_verify_failures = f.counter(
            "channel_verify_failures_total",
            "Channels whose frames did not decode back to their blocks (not sent)",
        )
        self.channels_recovered = f.counter(
            "channels_recovered_total", "Channels found complete on L1 at startup and not posted again"
        )
        self.blocks_recovered = f.counter(
            "blocks_recovered_total", "L2 blocks found batched on L1 at startup and not posted again"
        )
        self.altda = AltDAMetrics(f)
        self.fee_aware = FeeAwareMetrics(f)
        self.channel_compression_quality = f.gauge(
            "channel_compression_quality",
            "Brotli quality of the latest closed channel (0: zlib; varies with --adaptive-compression)",
        )
        self.channels_by_quality = f.counter(
            "channels_by_compression_quality_total", "Channels closed, by brotli quality", ("quality",)
        )
        self.blobs_shared = f.counter(
            "blobs_shared_total",
            "Blob txs whose last blob also carries the next channel's first frame (--blob-sharing)",
        )
        self.loading_paused = f.gauge(
            "loading_paused",
            "1 while L2 block loading is paused at --max-unsafe-l2-bytes (safe head not moving), else 0",
        )
        self.loaded_unsafe_bytes = f.gauge(
            "loaded_unsafe_bytes", "Raw bytes of the L2 blocks loaded and not yet safe (held in memory)"
        )
        self.txmgr = TxMetrics.from_factory(factory)

    # ---- refs --------------------------------------------------------------------------------------

    def record_latest_l1(self, number: int, timestamp: int, block_hash: bytes) -> None:
        self.refs.record("l1", "latest", number, timestamp, block_hash)

    def record_l2_ref(
        self, kind: str, number: int, timestamp: int, block_hash: bytes, l1_origin: BlockID, seq: int
    ) -> None:
        """``kind`` is ``loaded`` or ``added``: layer l2 plus its l1_origin (timestamp unknown: 0)."""
        self.refs.record_l2(kind, number, timestamp, block_hash, l1_origin, seq)

    # ---- blocks and channels -------------------------------------------------------------------

    def record_pending_da(self, pending_da_bytes: int) -> None:
        self.pending_da_bytes.set(pending_da_bytes)

    def record_channel_opened(self, pending_blocks: int) -> None:
        self.channel_evs.record("opened")
        self.pending_blocks_count.labels("opened").set(pending_blocks)
        self.blocks_added_count.set(0)

    def record_blocks_added(
        self, count: int, pending_blocks: int, input_bytes: int, ready_bytes: int, pending_raw_bytes: int
    ) -> None:
        self.pending_blocks_count.labels("added").set(pending_blocks)
        self.blocks_added_count.inc(count)
        self.input_bytes.labels("added").set(input_bytes)
        self.ready_bytes.set(ready_bytes)
        self.pending_blocks_bytes_current.set(pending_raw_bytes)

    def record_channel_closed(
        self,
        reason: CloseReason,
        blocks: int,
        frames: int,
        input_bytes: int,
        output_bytes: int,
        pending_blocks: int,
    ) -> None:
        self.channel_evs.record("closed")
        self.pending_blocks_count.labels("closed").set(pending_blocks)
        self.channel_num_frames.set(frames)
        self.input_bytes.labels("closed").set(input_bytes)
        self.output_bytes.set(output_bytes)
        self.input_bytes_total.inc(amount=input_bytes)
        self.output_bytes_total.inc(amount=output_bytes)
        self.channel_closed_reason.set(CLOSE_REASONS.index(reason) + 1)
        self.channel_closed_by_reason.labels(reason.label).inc()
        if input_bytes:
            self.channel_compr_ratio.observe(output_bytes / input_bytes)
        if blocks == 0:
            self.empty_channels.inc()

    def record_channel_quality(self, quality: int) -> None:
        self.channel_compression_quality.set(quality)
        self.channels_by_quality.labels(str(quality)).inc()

    def record_channel_fully_submitted(self) -> None:
        self.channel_evs.record("fully_submitted")

    def record_channel_timed_out(self) -> None:
        self.channel_evs.record("timed_out")

    def record_channel_queue(self, length: int) -> None:
        self.channel_queue_length.set(length)

    def clear_all_state(self) -> None:
        """Go ClearAllStateMetrics."""
        self.channel_queue_length.set(0)
        self.pending_blocks_bytes_current.set(0)

    # ---- txs -----------------------------------------------------------------------------------

    def record_batch_tx_success(self) -> None:
        """Go counts ``submitted`` on confirmation too (quirk kept for dashboards)."""
        self.batcher_tx_evs.record("submitted")
        self.batcher_tx_evs.record("success")

    def record_batch_tx_failed(self) -> None:
        self.batcher_tx_evs.record("failed")

    def record_blob_sizes(self, sizes: list[int]) -> None:
        """``blob_used_bytes`` for the last blob (Go) and ``blob_fill_ratio`` for every blob."""
        if sizes:
            self.blob_used_bytes.observe(sizes[-1])
        for size in sizes:
            self.blob_fill_ratio.observe(size / MAX_BLOB_DATA_SIZE)

    # ---- sync and alerts -----------------------------------------------------------------------

    def record_safe_lag(self, blocks: int, seconds: int) -> None:
        self.safe_head_lag_blocks.set(blocks)
        self.safe_head_lag_seconds.set(seconds)

    # ---- throttling ----------------------------------------------------------------------------

    def record_throttle(
        self,
        kind: str,
        intensity: float,
        max_tx: int,
        max_block: int,
        unsafe_bytes: int,
        lower_threshold: int,
    ) -> None:
        self.unsafe_da_bytes.set(unsafe_bytes)
        for t in THROTTLE_TYPES:
            self.throttle_intensity.labels(t).set(intensity if t == kind else 0)
            self.throttle_controller_type.labels(t).set(1 if t == kind else 0)
            ratio = unsafe_bytes / lower_threshold if lower_threshold > 0 else 0.0
            self.unsafe_bytes_ratio.labels(t).set(ratio if t == kind else 0)
        self.throttle_intensity_history.observe(intensity)
        self.throttle_max_tx_size.set(max_tx)
        self.throttle_max_block_size.set(max_block)

    def record_controller_type(self, kind: str) -> None:
        for t in THROTTLE_TYPES:
            self.throttle_controller_type.labels(t).set(1 if t == kind else 0)

    def record_pid(self, error: float, integral: float, derivative: float, seconds: float) -> None:
        self.pid_error.set(error)
        self.pid_integral.set(integral)
        self.pid_derivative.set(derivative)
        self.pid_response_time.observe(seconds)


def new_batcher_metrics(*, process_collectors: bool = True) -> BatcherMetrics:
    """Metrics on a fresh registry under ``op_batcher_default``."""
    return BatcherMetrics(Factory(NAMESPACE, new_registry(process_collectors=process_collectors)))


def metric_docs() -> list[MetricDoc]:
    """Every documented series (batcher, txmgr, rpc), for ``op-batcher doc metrics``."""
    from common.service.balance import BalancePoller
    from common.service.metrics import RpcClientMetrics, RpcServerMetrics

    m = new_batcher_metrics(process_collectors=False)
    RpcServerMetrics(m.factory)
    RpcClientMetrics(m.factory)
    BalancePoller(m.factory, "<address>", _no_balance)  # created by the service when metrics are on
    from batcher.shadow.metrics import ShadowMetrics  # `op-batcher shadow` series (batcher/shadow/service.py)

    ShadowMetrics(m.factory)
    return list(m.factory.docs)


async def _no_balance() -> int:
    return 0
