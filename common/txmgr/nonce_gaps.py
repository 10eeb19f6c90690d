"""Nonce gaps: nonces the L1 node forgot (a reorg removed our mined tx and the node dropped it).

geth puts the txs of a reorged-out block back into its pool; anvil (``anvil_rollback``/``anvil_reorg``)
and a node that lost its pool do not. The cached nonce then stays above the chain's, and every later tx
of the account waits behind the gap forever. A nonce ``k`` counts as *lost* when the node's pending nonce
(``eth_getTransactionCount(pending)``, which stops at the first gap) is at most ``k``, ``k`` is below the
nonce we are about to use or are waiting on, and no send of ours in flight holds ``k``.

Two cures, both without ever posting a tx's data twice:

* a tx not yet signed takes the node's pending nonce when no send of ours is in flight;
* a tx already published keeps its nonce (the node may hold it as a queued tx, which would be mined
  after a renumbered copy), and each lost nonce below it gets a no-op self-transfer (``filler``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from common.rpc.errors import RpcError
from common.txmgr.base import TxManagerBase
from common.txmgr.tx import TxCandidate, cancellation_candidate, to_hex

MAX_FILLS_PER_CHECK = 16
"""Lost nonces filled per check; a node answering a wildly low pending nonce cannot cause a flood (any
further gap is seen at the next check)."""


def lost_nonces(ours: int, pending: int, in_flight: Collection[int]) -> Iterator[int]:
    """The nonces below ``ours`` that the node lacks (from ``pending`` on) and no send of ours holds."""
    return (k for k in range(pending, ours) if k not in in_flight)


def filler_candidate(sender: bytes, *, blob: bool) -> TxCandidate:
    """A no-op self-transfer of the stuck tx's kind (a pool may refuse the other kind from one sender)."""
    return cancellation_candidate(sender, blocked_blob=not blob)


class NonceGaps(TxManagerBase):
    """Which nonces are held by sends in flight, and the node's view of the account's nonce."""

    @property
    def in_flight_nonces(self) -> frozenset[int]:
        """Nonces of the txs being sent now (signed and not yet confirmed or failed), fillers included."""
        return frozenset(self._in_flight)

    def _hold_nonce(self, nonce: int) -> None:
        self._in_flight[nonce] += 1

    def _release_nonce(self, nonce: int) -> None:
        self._in_flight[nonce] -= 1
        if self._in_flight[nonce] <= 0:
            del self._in_flight[nonce]

    async def _node_nonce(self, tag: str) -> int | None:
        """``eth_getTransactionCount(from, tag)``; None when the node does not answer (checked later)."""
        try:
            return int(await self._call("eth_getTransactionCount", [to_hex(self.from_address), tag]), 16)
        except (RpcError, ValueError, TypeError) as err:
            self.metrics.rpc_error()
            self.log.debug("Nonce gap check failed", tag=tag, err=str(err))
            return None

    def _first_free_nonce(self, nonce: int) -> int:
        """``nonce`` or the first one above it that no send of ours holds."""
        while nonce in self._in_flight:
            nonce += 1
        return nonce

    async def _gap_below(self, nonce: int) -> tuple[int, int] | None:
        """(pending, latest) of the node if it lacks nonces below ``nonce``; None if it does not, does not
        answer, or gives an inconsistent view (pending < latest, e.g. load-balanced backends)."""
        pending = await self._node_nonce("pending")
        if pending is None or pending >= nonce:
            return None
        latest = await self._node_nonce("latest")
        if latest is None or pending < latest:
            return None
        return pending, latest

    async def _healed_next_nonce(self, nonce: int) -> int:
        """The nonce an unsigned tx should take instead of ``nonce`` (the cached nonce + 1).

        Only checked while nothing of ours is in flight: then every nonce below ``nonce`` belonged to a
        confirmed tx, so a pending nonce below it means the node lost them, and the new tx (never sent
        yet, so no copy of it can be mined) takes the first lost nonce.
        """
        if self._in_flight:
            return nonce
        view = await self._gap_below(nonce)
        if view is None:
            return nonce
        pending, latest = view
        self.log.warn(
            "Nonce gap detected, resetting nonce",
            expected=pending,
            ours=nonce,
            latest=latest,
            lost=nonce - pending,
        )
        return pending
