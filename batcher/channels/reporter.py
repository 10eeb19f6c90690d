"""What the channel manager reports, turned into Go's logs and metrics (op-batcher.md §2.1, §4.5-§4.9).

The manager is pure: it returns small event values (channel opened / closed / dropped / timed out, DA type
chosen, ...). :class:`ChannelEventReporter` logs each with Go's message and fields and records the metrics.
It also checks every closed channel by decoding it back and comparing with its blocks; a mismatch sets
``verify_failed`` (the driver then stops publishing: posting it would only burn fees). The check may run
ahead of time in the worker thread that built the channel (:func:`channel_verdicts`); its verdict is then
handed in through ``verdicts``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from batcher.channels import events as cm
from batcher.channels.manager import ChannelManager
from batcher.channels.verify import verify_channel
from batcher.metrics import BatcherMetrics
from common.derive.rollup_config import RollupConfig
from common.service.log import get_logger

log = get_logger("batcher")


def pending_raw_bytes(mgr: ChannelManager) -> int:
    """Raw-size estimate of loaded blocks not yet in a channel (Go pending_blocks_bytes_current)."""
    return sum(getattr(b, "raw_size_estimate", 0) for b in mgr.blocks[mgr.block_cursor :])


def channel_verdicts(
    mgr: ChannelManager, events: Sequence[cm.ManagerEvent], rollup: RollupConfig
) -> dict[bytes, str | None]:
    """Decode each channel these events closed and compare with its blocks (None = matches).

    Safe in the worker thread that ran ``tx_data``: the manager is not touched elsewhere meanwhile.
    """
    out: dict[bytes, str | None] = {}
    for ev in events:
        if isinstance(ev, cm.ChannelClosed):
            ch = next((c for c in mgr.channels if c.id == ev.channel_id), None)
            if ch is not None:
                out[ev.channel_id] = verify_channel(ch.frames, ch.blocks, rollup)
    return out


def _quality(algo: str) -> int:
    """Brotli quality of a channel's algorithm; 0 for zlib (log field and metric)."""
    from batcher.channels.compression_quality import algo_quality

    return algo_quality(algo) or 0


class ChannelEventReporter:
    """Logs and metrics for manager events; remembers the first channel that failed verification."""

    def __init__(self, mgr: ChannelManager, metrics: BatcherMetrics, rollup: RollupConfig) -> None:
        self.mgr = mgr
        self.metrics = metrics
        self.rollup = rollup
        self.verify_failed: str | None = None
        self.verdicts: dict[bytes, str | None] = {}
        """Verification results computed ahead of time, by channel id (consumed on ChannelClosed)."""

    def report(self, events: Sequence[cm.ManagerEvent]) -> None:
        for ev in events:
            handler = _EVENT_HANDLERS.get(type(ev))
            if handler is not None:
                handler(self, ev)

    def _ev_opened(self, ev: cm.ChannelOpened) -> None:
        c = ev.config
        log.info(
            "Created channel",
            id=ev.channel_id.hex(),
            l1Head=ev.l1_head.number,
            blocks_pending=ev.blocks_pending,
            l1OriginLastSubmittedChannel=ev.l1_origin_last_submitted.number,
            batch_type=c.batch_type,
            compression_algo=c.compression_algo,
            target_num_frames=c.target_num_frames,
            max_frame_size=c.max_frame_size,
            use_blobs=c.use_blobs,
        )
        self.metrics.record_channel_opened(ev.blocks_pending)

    def _ev_added(self, ev: cm.BlocksAdded) -> None:
        blocks = self.mgr.blocks
        pending_raw = pending_raw_bytes(self.mgr)
        self.metrics.record_blocks_added(
            ev.count, ev.blocks_pending, ev.input_bytes, ev.ready_bytes, pending_raw
        )
        idx = ev.latest_l2.number - blocks[0].number if blocks else -1
        if 0 <= idx < len(blocks):
            b = blocks[idx]
            seq = getattr(b, "sequence_number", 0)
            self.metrics.record_l2_ref("added", b.number, b.timestamp, b.hash, b.l1_origin, seq)

    def _ev_closed(self, ev: cm.ChannelClosed) -> None:
        log.info(
            "Channel closed",
            id=ev.channel_id.hex(),
            blocks_pending=ev.blocks_pending,
            block_cursor=ev.block_cursor,
            blocks_len=ev.blocks,
            num_frames=ev.frames,
            input_bytes=ev.input_bytes,
            output_bytes=ev.output_bytes,
            oldest_l1_origin=ev.oldest_l1_origin.number if ev.oldest_l1_origin else None,
            l1_origin=ev.latest_l1_origin.number if ev.latest_l1_origin else None,
            oldest_l2=ev.oldest_l2.number,
            latest_l2=ev.latest_l2.number,
            full_reason=ev.reason.value,
            compr_ratio=ev.compr_ratio,
            compression_quality=_quality(ev.compression_algo),
        )
        self.metrics.record_channel_quality(_quality(ev.compression_algo))
        self.metrics.record_channel_closed(
            ev.reason, ev.blocks, ev.frames, ev.input_bytes, ev.output_bytes, ev.blocks_pending
        )
        if ev.channel_id in self.verdicts:
            problem = self.verdicts.pop(ev.channel_id)
        else:
            ch = next((c for c in self.mgr.channels if c.id == ev.channel_id), None)
            if ch is None:
                return
            problem = verify_channel(ch.frames, ch.blocks, self.rollup)
        if problem is not None:
            self.metrics.channel_verify_failures.inc()
            self.verify_failed = f"channel {ev.channel_id.hex()}: {problem}"
            log.crit("Channel failed verification, refusing to send it", id=ev.channel_id.hex(), err=problem)

    def _ev_force_closed(self, ev: cm.ForceClosed) -> None:
        log.info("Force-closing channel and creating frames", id=ev.channel_id.hex())

    def _ev_dropped(self, ev: cm.ChannelDropped) -> None:
        if ev.reason is cm.DropReason.DA_TYPE_SWITCH:
            log.info(ev.reason.value)
        log.warn("Dropped channel", id=ev.channel_id.hex(), reason=ev.reason.label, blocks=ev.blocks)

    def _ev_da(self, ev: cm.DAChosen) -> None:
        c = ev.choice
        fields = dict(cost_ratio=c.cost_ratio, calldata_cost=c.calldata_cost, blob_cost=c.blob_cost)
        if ev.switched:
            log.info(c.reason.value, **fields)
        else:
            log.debug(c.reason.value, **fields)

    def _ev_timed_out(self, ev: cm.ChannelTimedOut) -> None:
        log.warn(
            "Channel timed out",
            id=ev.channel_id.hex(),
            min_inclusion_block=ev.min_inclusion_block,
            max_inclusion_block=ev.max_inclusion_block,
        )
        self.metrics.record_channel_timed_out()

    def _ev_fully_submitted(self, ev: cm.ChannelFullySubmitted) -> None:
        log.info("Channel is fully submitted", id=ev.channel_id.hex(), blocks=ev.blocks)
        self.metrics.record_channel_fully_submitted()

    def _ev_unknown(self, ev: cm.UnknownTx) -> None:
        what = "confirmed" if ev.confirmed else "failed"
        log.warn(f"transaction from unknown channel marked as {what}", id=str(ev.tx_id))

    def _ev_seq_window(self, ev: cm.SeqWindowExpired) -> None:
        self.metrics.seq_window_expired.inc()
        log.error(
            "Channel is past its sequencing window, not sending it",
            id=ev.channel_id.hex(),
            oldest_l1_origin=ev.oldest_l1_origin,
            l1_head=ev.l1_head,
            seq_window_size=ev.seq_window_size,
        )

    def _ev_too_large(self, ev: cm.BlockTooLarge) -> None:
        self.metrics.blocks_too_large.inc()
        log.error(
            "L2 block does not fit any channel", block=ev.block.number, reason=ev.reason.value, err=ev.detail
        )


_EVENT_HANDLERS: dict[type, Callable[[ChannelEventReporter, Any], None]] = {
    cm.ChannelOpened: ChannelEventReporter._ev_opened,
    cm.BlocksAdded: ChannelEventReporter._ev_added,
    cm.ChannelClosed: ChannelEventReporter._ev_closed,
    cm.ForceClosed: ChannelEventReporter._ev_force_closed,
    cm.ChannelDropped: ChannelEventReporter._ev_dropped,
    cm.DAChosen: ChannelEventReporter._ev_da,
    cm.ChannelTimedOut: ChannelEventReporter._ev_timed_out,
    cm.ChannelFullySubmitted: ChannelEventReporter._ev_fully_submitted,
    cm.UnknownTx: ChannelEventReporter._ev_unknown,
    cm.SeqWindowExpired: ChannelEventReporter._ev_seq_window,
    cm.BlockTooLarge: ChannelEventReporter._ev_too_large,
}
