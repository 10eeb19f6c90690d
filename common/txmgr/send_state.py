"""Per-send bookkeeping: publish outcomes, mined hashes and the critical errors that end a send.

One ``SendState`` lives for one logical transaction (all its fee-bumped versions share the nonce). It
mirrors op-service/txmgr ``SendState``: it counts successful publishes and "nonce too low" replies,
remembers which hashes are currently seen mined, and decides when retrying is hopeless. Critical errors
are only reported while nothing is mined, because a mined-but-unconfirmed tx may still confirm.
"""

from __future__ import annotations

from collections.abc import Callable

ERR_NONCE_TOO_LOW = "nonce too low"
ERR_NONCE_TOO_HIGH = "nonce too high"
ERR_ALREADY_RESERVED = "address already reserved"
ERR_ALREADY_KNOWN = "already known"
ERR_ALREADY_IMPORTED = "transaction already imported"
"""anvil's (and reth's) text for geth's "already known"."""
ERR_REPLACE_UNDERPRICED = "replacement transaction underpriced"
ERR_UNDERPRICED = "transaction underpriced"
ERR_CONTEXT_CANCELED = "context canceled"
ERR_MEMPOOL_DEADLINE = "failed to get tx into the mempool"
"""geth txpool / core error texts the send loop matches by substring, and txmgr's own deadline error."""


class TxMgrError(Exception):
    """Base of the transaction manager's errors."""


class CriticalSendError(TxMgrError):
    """A send state that cannot improve by retrying; ``reason`` is the underlying error text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NonceTooLowError(CriticalSendError):
    """The nonce was consumed by another tx (or ours landed unseen)."""


class MempoolDeadlineError(CriticalSendError):
    """No publish attempt succeeded within ``txmgr.not-in-mempool-timeout``."""


class AlreadyReservedError(CriticalSendError):
    """geth refused the tx because a pending tx of the other kind (blob / non-blob) holds the account.

    The batcher reacts by sending a cancellation tx of the other kind at the same nonce
    (``TxManager.send_cancellation``).
    """


def err_contains(err: BaseException | str, needle: str) -> bool:
    """Go's ``errStringMatch``: substring match on the error text (RPC errors only carry text)."""
    return needle in str(err)


def err_already_known(err: BaseException | str) -> bool:
    """The node already holds this exact tx, in any client's words."""
    return err_contains(err, ERR_ALREADY_KNOWN) or err_contains(err, ERR_ALREADY_IMPORTED)


class SendState:
    """Outcome counters of one logical tx, queried by the send loop after every step."""

    def __init__(
        self, safe_abort_nonce_too_low_count: int, not_in_mempool_timeout: float, now: Callable[[], float]
    ) -> None:
        self._safe_abort = safe_abort_nonce_too_low_count
        self._now = now
        self._deadline = now() + not_in_mempool_timeout
        self.successful_publishes = 0
        self.nonce_too_low_count = 0
        self.already_reserved = False
        self.bump_count = 0
        self.bump_fees = False
        """Set by the resubmission ticker or an underpriced reply: bump before the next publish."""
        self.mined: set[bytes] = set()

    def process_send_error(self, err: BaseException | str | None) -> None:
        """Record the result of one ``eth_sendRawTransaction`` (``None`` = accepted)."""
        if err is None:
            self.successful_publishes += 1
        elif err_contains(err, ERR_NONCE_TOO_LOW):
            self.nonce_too_low_count += 1
        elif err_contains(err, ERR_ALREADY_RESERVED):
            self.already_reserved = True

    def tx_mined(self, tx_hash: bytes) -> None:
        """A receipt exists for ``tx_hash`` (not necessarily deep enough yet)."""
        self.mined.add(tx_hash)

    def tx_not_mined(self, tx_hash: bytes) -> None:
        """No receipt for ``tx_hash``; if it had one before, it was reorged out."""
        was_mined = tx_hash in self.mined
        self.mined.discard(tx_hash)
        if was_mined and not self.mined:
            # The nonce is free again: earlier "nonce too low" replies were caused by the reorged tx.
            self.nonce_too_low_count = 0

    @property
    def waiting_for_confirmation(self) -> bool:
        """True while some published version of the tx is mined (publishing again is pointless)."""
        return bool(self.mined)

    def critical_error(self) -> CriticalSendError | None:
        """The reason to abort the send, if any (Go ``SendState.CriticalError``, same order)."""
        if self.mined:
            return None
        if self.nonce_too_low_count >= self._safe_abort:
            return NonceTooLowError(ERR_NONCE_TOO_LOW)
        if self.successful_publishes == 0 and self._now() > self._deadline:
            return MempoolDeadlineError(ERR_MEMPOOL_DEADLINE)
        if self.already_reserved:
            return AlreadyReservedError(ERR_ALREADY_RESERVED)
        if self.successful_publishes == 0 and self.nonce_too_low_count > 0:
            return NonceTooLowError(ERR_NONCE_TOO_LOW)
        return None
