"""op-proposer metrics: the Go names under ``op_proposer_default`` plus what Go lacks.

Go series: ``info``, ``up``, ``refs_*{layer,type}`` / ``refs_seqnr{type}`` for the proposed block,
``proposed_sequence_number``, ``balance`` (the service's BalancePoller) and the rpc/txmgr subsystems.
Additions: ``proposal_lag_blocks{head}`` (safe/finalized head minus the last proposed block),
``last_proposal_unix`` and ``seconds_since_last_proposal``, ``proposals_skipped_total{reason}`` (e.g. a game
that already exists), ``proposals_total{status}`` (mined success/reverted).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from common.derive.block_ref import L2BlockRef
from common.derive.sync_status import SyncStatus
from common.service.metrics import Factory, ServiceMetrics
from proposer.driver import Proposal, SendResult, Skip

SKIP_LABELS = {
    Skip.NOT_ELAPSED: "interval_not_elapsed",
    Skip.NOT_FINALIZED: "not_finalized",
    Skip.RECENT_GAME: "recent_game",
    Skip.GENESIS: "genesis",
    Skip.GAME_EXISTS: "game_exists",
}


def hash_as_float(block_hash: bytes) -> float:
    """Go's refs_hash: the first 8 bytes read as a little-endian uint64, as a float."""
    return float(int.from_bytes(block_hash[:8], "little"))


class ProposerMetrics(ServiceMetrics):
    """Implements the driver's hooks; constructed on the service's factory."""

    def __init__(self, factory: Factory, clock: Callable[[], float] = time.time) -> None:
        super().__init__(factory, "op-proposer")
        self.clock = clock
        refs = ("layer", "type")
        self.refs_number = factory.gauge(
            "refs_number", "Gauge representing the different L1/L2 reference block numbers", refs
        )
        self.refs_time = factory.gauge(
            "refs_time", "Gauge representing the different L1/L2 reference block timestamps", refs
        )
        self.refs_hash = factory.gauge(
            "refs_hash",
            "Gauge representing the different L1/L2 reference block hashes truncated to float values",
            refs,
        )
        self.refs_latency = factory.gauge(
            "refs_latency",
            "Gauge representing the different L1/L2 reference block timestamps minus current time, "
            "in seconds",
            refs,
        )
        self.refs_seqnr = factory.gauge(
            "refs_seqnr", "Gauge representing the different L2 reference sequence numbers", ("type",)
        )
        self.proposed_sequence_number = factory.gauge(
            "proposed_sequence_number", "Sequence number (L2 block number) of the last proposal"
        )
        self.proposal_lag = factory.gauge(
            "proposal_lag_blocks",
            "L2 blocks between the rollup node's head and the last proposed block",
            ("head",),
        )
        self.last_proposal = factory.gauge(
            "last_proposal_unix", "Unix time of this proposer's last mined proposal"
        )
        self.since_last = factory.gauge_func(
            "seconds_since_last_proposal",
            "Seconds since this proposer's last mined proposal (0 before the first)",
            self._since_last,
        )
        self.skipped_ticks = factory.counter(
            "proposals_skipped_total", "Ticks that did not propose, by reason", ("reason",)
        )
        self.proposals = factory.counter(
            "proposals_total", "Mined proposal transactions, by receipt status", ("status",)
        )
        self._last_ref: L2BlockRef | None = None
        self._last_time = 0.0
        self._latency_seen: bytes | None = None

    def _since_last(self) -> float:
        return self.clock() - self._last_time if self._last_time else 0.0

    def proposed(self, proposal: Proposal, result: SendResult) -> None:
        ref = proposal.block_ref
        self._last_ref = ref
        self._last_time = self.clock()
        self.last_proposal.set(self._last_time)
        self.proposals.labels("success" if result.status == 1 else "reverted").inc()
        self.proposed_sequence_number.set(ref.number)
        self.refs_number.labels("l2", "proposed").set(ref.number)
        self.refs_time.labels("l2", "proposed").set(ref.timestamp)
        self.refs_hash.labels("l2", "proposed").set(hash_as_float(ref.hash))
        if self._latency_seen != ref.hash:
            self._latency_seen = ref.hash
            self.refs_latency.labels("l2", "proposed").set(ref.timestamp - self.clock())
        self.refs_number.labels("l1_origin", "proposed").set(ref.l1_origin.number)
        self.refs_hash.labels("l1_origin", "proposed").set(hash_as_float(ref.l1_origin.hash))
        self.refs_seqnr.labels("proposed").set(ref.sequence_number)

    def skipped(self, reason: Skip) -> None:
        self.skipped_ticks.labels(SKIP_LABELS[reason]).inc()

    def observed(self, status: SyncStatus) -> None:
        if self._last_ref is None:
            return
        self.proposal_lag.labels("safe").set(status.safe_l2.number - self._last_ref.number)
        self.proposal_lag.labels("finalized").set(status.finalized_l2.number - self._last_ref.number)
