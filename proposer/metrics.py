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
from common.service.metrics import Factory, RefMetrics, ServiceMetrics
from proposer.driver import Proposal, SendResult, Skip

SKIP_LABELS = {
    Skip.NOT_ELAPSED: "interval_not_elapsed",
    Skip.NOT_FINALIZED: "not_finalized",
    Skip.RECENT_GAME: "recent_game",
    Skip.GENESIS: "genesis",
    Skip.GAME_EXISTS: "game_exists",
}


class ProposerMetrics(ServiceMetrics):
    """Implements the driver's hooks; constructed on the service's factory."""

    def __init__(self, factory: Factory, clock: Callable[[], float] = time.time) -> None:
        super().__init__(factory, "op-proposer")
        self.clock = clock
        self.refs = RefMetrics(factory, clock)
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

    def _since_last(self) -> float:
        return self.clock() - self._last_time if self._last_time else 0.0

    def proposed(self, proposal: Proposal, result: SendResult) -> None:
        self._last_time = self.clock()
        self.last_proposal.set(self._last_time)
        self.proposals.labels("success" if result.status == 1 else "reverted").inc()
        # Go: RecordL2Proposal(sequenceNum) always; refs_* only with legacy (rollup-node) data.
        self.proposed_sequence_number.set(proposal.sequence_num)
        ref = proposal.block_ref
        if ref is None:
            return
        self._last_ref = ref
        self.refs.record_l2(
            "proposed", ref.number, ref.timestamp, ref.hash, ref.l1_origin, ref.sequence_number
        )

    def skipped(self, reason: Skip) -> None:
        self.skipped_ticks.labels(SKIP_LABELS[reason]).inc()

    def observed(self, status: SyncStatus) -> None:
        if self._last_ref is None:
            return
        self.proposal_lag.labels("safe").set(status.safe_l2.number - self._last_ref.number)
        self.proposal_lag.labels("finalized").set(status.finalized_l2.number - self._last_ref.number)
