"""``op-batcher shadow`` metrics: ``op_batcher_default_shadow_*``, one series per side (``side`` label).

``side="incumbent"`` is the shadowed batcher (decoded from its L1 txs), ``side="shadow"`` is this
pipeline (recorded, never sent). Registered by :func:`batcher.metrics.metric_docs` too, so ``op-batcher
doc metrics`` lists them; the shadow service records them from :mod:`batcher.shadow.report` tallies.
"""

from __future__ import annotations

from batcher.shadow.report import SIDES, ChannelTally, ShadowReport
from common.service.metrics import Factory

SUBSYSTEM = "shadow"
LATENCY_BUCKETS = (12.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
"""Seconds from a channel's oldest L2 block to its L1 inclusion (theirs) or to ready (ours)."""
PROBLEM_KINDS = ("undecodable_tx", "channel_error", "channel_dropped", "frame_dropped", "gap")
SAVING_MEASURES = ("da_bytes", "compressed_bytes", "fee", "gas")


class ShadowMetrics:
    """The shadow's series on the service's factory."""

    def __init__(self, f: Factory) -> None:
        s, side = SUBSYSTEM, ("side",)
        self.channels = f.counter("channels_total", "Channels completed, per side.", side, s)
        self.l2_blocks = f.counter("l2_blocks_total", "L2 blocks carried by completed channels.", side, s)
        self.compressed = f.counter(
            "compressed_bytes_total", "Compressed channel bytes (frame data) of completed channels.", side, s
        )
        self.calldata = f.counter("calldata_bytes_total", "Calldata bytes of batcher txs.", side, s)
        self.blobs = f.counter("blobs_total", "Blobs of batcher txs.", side, s)
        self.blob_data = f.counter("blob_data_bytes_total", "Payload bytes carried in blobs.", side, s)
        self.da = f.counter("da_bytes_total", "L1 DA bytes: calldata plus 131072 per blob.", side, s)
        self.fee = f.counter(
            "fee_wei_total",
            "L1 fee in wei at the observed base and blob base fees (tips excluded).",
            side,
            s,
        )
        self.blob_fill = f.gauge("blob_fill_ratio", "Cumulative blob fill (payload / capacity).", side, s)
        self.last_compressed = f.gauge(
            "last_channel_compressed_bytes", "Compressed bytes of the last channel.", side, s
        )
        self.last_da = f.gauge("last_channel_da_bytes", "L1 DA bytes of the last channel.", side, s)
        self.last_fill = f.gauge(
            "last_channel_blob_fill", "Blob fill of the last channel (0: calldata).", side, s
        )
        self.last_fee = f.gauge("last_channel_fee_wei", "L1 fee in wei of the last channel.", side, s)
        self.last_blocks = f.gauge("last_channel_l2_blocks", "L2 blocks of the last channel.", side, s)
        self.latency = f.histogram(
            "channel_latency_seconds",
            "Oldest L2 block time to L1 inclusion (incumbent) or to ready (shadow).",
            LATENCY_BUCKETS,
            side,
            s,
        )
        self.problems = f.counter(
            "problems_total",
            "Incumbent problems, reported not fatal: undecodable txs, channel errors, dropped channels "
            "or frames, gaps in the L2 blocks posted.",
            ("kind",),
            s,
        )
        self.saving = f.gauge(
            "saving_ratio",
            "1 - shadow/incumbent per L2 block (positive: switching saves), by measure "
            "(da_bytes, compressed_bytes, fee, gas).",
            ("measure",),
            s,
        )
        self.l1_block = f.gauge("l1_block", "Last L1 block the shadow read.", subsystem=s)
        for side_value in SIDES:  # export 0s from the start, so rate() and increase() work at once
            for c in (self.channels, self.l2_blocks, self.compressed, self.da, self.fee):
                c.labels(side_value)
        for kind in PROBLEM_KINDS:
            self.problems.labels(kind)

    def record_channel(self, ch: ChannelTally) -> None:
        side = ch.side
        self.channels.labels(side).inc()
        self.l2_blocks.labels(side).inc(len(ch.l2_blocks))
        self.compressed.labels(side).inc(ch.compressed_bytes)
        self.calldata.labels(side).inc(ch.calldata_bytes)
        self.blobs.labels(side).inc(ch.blobs)
        self.blob_data.labels(side).inc(ch.blob_data_bytes)
        self.da.labels(side).inc(ch.da_bytes)
        self.fee.labels(side).inc(ch.fee_wei)
        self.last_compressed.labels(side).set(ch.compressed_bytes)
        self.last_da.labels(side).set(ch.da_bytes)
        self.last_fill.labels(side).set(ch.blob_fill or 0.0)
        self.last_fee.labels(side).set(ch.fee_wei)
        self.last_blocks.labels(side).set(len(ch.l2_blocks))
        if (latency := ch.latency_seconds) is not None:
            self.latency.labels(side).observe(latency)

    def record_block(self, report: ShadowReport, l1_block: int) -> None:
        """After an L1 block: cumulative fill, savings, problems by kind, the block number."""
        self.l1_block.set(l1_block)
        for side in SIDES:
            fill = report.totals[side].blob_fill
            if fill is not None:
                self.blob_fill.labels(side).set(fill)
        for measure, value in report.savings().items():
            if value is not None:
                self.saving.labels(measure).set(value)

    def record_problem(self, kind: str) -> None:
        self.problems.labels(kind).inc()
