"""The driver's side of fee-aware posting: flags, metrics, fee reads and one log line per decision.

The rule itself is pure and lives in :mod:`batcher.publishing.fee_policy`. Here the driver's publish step asks
:meth:`FeeGate.allow` before it takes tx data from the channel manager: the gate samples the L1 fees
once per L1 head (base fee from the head the driver just read, blob base fee as the tx manager reads it,
``eth_blobBaseFee``), summarises the manager's unsent data, and records the decision. A flush
(``admin_flushBatcher``) is never held back. Everything here is off unless ``--fee-aware.enabled``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from batcher.channels.manager import ChannelManager
from batcher.publishing.fee_flags import fee_aware_flags as fee_aware_flags
from batcher.publishing.fee_flags import read_fee_aware_config as read_fee_aware_config
from batcher.publishing.fee_policy import (
    FeeDecision,
    FeePolicy,
    FeePolicyConfig,
    FeeSample,
    Verdict,
    pending_work,
)
from common.rpc.types import Header
from common.service.log import get_logger
from common.service.metrics import Factory

log = get_logger("batcher")


BlobFeeReader = Callable[[], Awaitable[int]]
"""Returns the current blob base fee in wei (the tx manager's ``eth_blobBaseFee`` read)."""


class FeeAwareMetrics:
    """The ``fee_aware_*`` series (additions; registered with the batcher's metrics)."""

    def __init__(self, f: Factory) -> None:
        self.decisions = f.counter(
            "fee_aware_decisions_total",
            "Fee-aware posting decisions per L1 head (idle, send, defer, force)",
            ("decision",),
        )
        self.deferred_bytes = f.gauge(
            "fee_aware_deferred_bytes", "DA bytes held back for fees now (0 when not deferring)"
        )
        self.deferred_seconds = f.counter(
            "fee_aware_deferred_seconds_total", "L1 seconds during which ready data was held back for fees"
        )
        self.saved_wei = f.counter(
            "fee_aware_fee_saved_wei_total",
            "Estimated fee saved by deferring: (fee when deferral began - fee at send) x gas of the bytes",
        )

    def record(self, d: FeeDecision) -> None:
        self.decisions.labels(decision=d.verdict.value).inc()
        self.deferred_bytes.set(d.deferred_bytes if d.verdict is Verdict.DEFER else 0)
        if d.step_deferred > 0:
            self.deferred_seconds.inc(d.step_deferred)
        if d.saved_wei > 0:
            self.saved_wei.inc(d.saved_wei)


class FeeGate:
    """One decision per L1 head; ``allow`` is called by the driver's publish step."""

    def __init__(
        self,
        cfg: FeePolicyConfig,
        *,
        metrics: FeeAwareMetrics,
        blob_base_fee: BlobFeeReader,
    ) -> None:
        self.policy = FeePolicy(cfg)
        self.metrics = metrics
        self._blob_base_fee = blob_base_fee
        self._last: tuple[int, FeeDecision] | None = None
        self._last_blob_fee = 0

    async def allow(self, header: Header, mgr: ChannelManager, *, blob_base_fee: int | None = None) -> bool:
        """May the driver take tx data now? Decides once per L1 head (fees are sampled once per head)
        and repeats that answer; an idle look is not repeated, so data loaded later is judged."""
        if self._last is not None and self._last[0] == header.number:
            if self._last[1].verdict is not Verdict.IDLE:
                return self._last[1].sends
            # nothing waited at this head's first look; blocks loaded since must be judged now
        else:
            await self._sample(header, blob_base_fee, need_blob_fee=mgr.default_config.use_blobs)
        cfg = mgr.default_config
        work = pending_work(
            mgr.blocks,
            mgr.block_cursor,
            mgr.channels,
            seq_window_size=cfg.seq_window_size,
            sub_safety_margin=cfg.sub_safety_margin,
            use_blobs=cfg.use_blobs,
        )
        d = self.policy.decide(work, header.number, header.timestamp)
        previous = self._last[1].verdict if self._last is not None else None
        self._last = (header.number, d)
        self.metrics.record(d)
        if d.verdict is not Verdict.SEND or previous is not Verdict.SEND:
            self._log(d, header.number)  # steady sending is not logged every L1 block
        return d.sends

    async def _sample(self, header: Header, blob_base_fee: int | None, *, need_blob_fee: bool) -> None:
        """Add this head's fees; a failed blob-fee read reuses the last value (logged). Calldata posting
        only watches the head's base fee, so the blob fee is not read for it."""
        if blob_base_fee is None and not need_blob_fee:
            blob_base_fee = self._last_blob_fee
        if blob_base_fee is None:
            try:
                blob_base_fee = await self._blob_base_fee()
            except Exception as exc:  # fees only tune timing: never stop posting over a fee read
                log.warn("Fee-aware posting: blob base fee read failed, using last value", err=str(exc))
                blob_base_fee = self._last_blob_fee
        self._last_blob_fee = blob_base_fee
        self.policy.observe(FeeSample(header.number, header.timestamp, header.base_fee or 0, blob_base_fee))

    @staticmethod
    def _log(d: FeeDecision, l1_head: int) -> None:
        if d.verdict is Verdict.IDLE:
            return
        fields: dict[str, Any] = {
            "decision": d.verdict.value,
            "reason": d.reason,
            "l1_head": l1_head,
            "fee": d.fee,
            "short_avg": round(d.short_avg),
            "long_avg": round(d.long_avg),
            "limit": round(d.limit),
            "deferred_bytes": d.deferred_bytes,
            "deferred_for": f"{d.deferred_for:.0f}s",
            "seq_deadline": d.deadline_l1,
        }
        if d.verdict is Verdict.DEFER:
            log.info("Fee-aware posting: deferring batcher txs", **fields)
        elif d.verdict is Verdict.FORCE:
            log.warn("Fee-aware posting: deadline reached, sending at current fee", **fields)
        else:
            log.info("Fee-aware posting: sending", saved_wei_estimate=d.saved_wei, **fields)
