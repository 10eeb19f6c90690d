"""The tx manager's errors (besides the critical send states of ``common.txmgr.send_state``)."""

from __future__ import annotations

from common.txmgr.send_state import AlreadyReservedError, CriticalSendError, TxMgrError


class TxManagerClosedError(TxMgrError):
    """``send`` after ``close()`` (Go ``ErrClosed``)."""

    def __init__(self) -> None:
        super().__init__("transaction manager is closed")


class SendAbortedError(TxMgrError):
    """The send loop gave up: ``aborted tx send due to critical error: <cause>`` (``cause`` kept)."""

    def __init__(self, cause: CriticalSendError) -> None:
        super().__init__(f"aborted tx send due to critical error: {cause}")
        self.cause = cause

    @property
    def already_reserved(self) -> bool:
        """True when geth's pool holds a pending tx of the other kind (send a cancellation)."""
        return isinstance(self.cause, AlreadyReservedError)


class SendTimeoutError(TxMgrError):
    """``txmgr.send-timeout`` elapsed (Go: ``context deadline exceeded``)."""


class TransientPublishError(TxMgrError):
    """A publish error worth retrying after ``retry_interval`` (today only ``nonce too high``)."""


class CraftError(TxMgrError):
    """Crafting failed after all retries: ``failed to create the tx: <last error>``."""


def is_already_reserved(err: BaseException) -> bool:
    """True for a send failure caused by geth's "address already reserved" (blob/non-blob conflict)."""
    return isinstance(err, SendAbortedError) and err.already_reserved
