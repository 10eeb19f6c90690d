"""The send loop: publish, classify the node's answer, rebroadcast, bump, and wait for a receipt.

Errors are classified by substring (order matters, as in Go). After each publish that may have reached
the pool, that hash's receipt is watched (older hashes stay watched) and the identical tx is re-sent
every ``rebroadcast_interval``; every ``resubmission_timeout`` the fees are bumped; ``nonce too high``
is retried after ``retry_interval`` at most ``max_retries`` times; the critical errors of ``SendState``
abort. A send whose answer never came (time-out, dropped connection) counts as *possibly published*:
it is watched and re-sent as is, and a later "already known" or "nonce too low" for it means it landed
in the pool, so a slow node can no longer turn a mined tx into an aborted send.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from common.rpc.errors import RpcConnectionError, RpcError, RpcResponseError, RpcTimeoutError
from common.rpc.types import Receipt
from common.txmgr.crafting import Crafting
from common.txmgr.errors import SendAbortedError, TransientPublishError, TxManagerClosedError
from common.txmgr.fees import FeeError
from common.txmgr.nonce_gaps import MAX_FILLS_PER_CHECK, filler_candidate, lost_nonces
from common.txmgr.receipts import ReceiptWatching
from common.txmgr.send_state import (
    ERR_ALREADY_RESERVED,
    ERR_CONTEXT_CANCELED,
    ERR_NONCE_TOO_HIGH,
    ERR_NONCE_TOO_LOW,
    ERR_REPLACE_UNDERPRICED,
    ERR_UNDERPRICED,
    SendState,
    TxMgrError,
    err_already_known,
    err_contains,
)
from common.txmgr.tx import SignedTx, TxCandidate, to_hex, tx_log_fields

MIN_RETRY_WAIT = 1e-9
"""Go waits at least 1 ns after a transient publish error, even with ``retry_interval <= 0``."""


class Publishing(Crafting, ReceiptWatching):
    """The per-tx send loop (``_send_tx``) on top of crafting and receipt watching."""

    async def _send_tx(self, tx: SignedTx) -> Receipt:
        clock = self.clock
        resubmission = max(self.resubmission_timeout, MIN_RETRY_WAIT)
        loop = _SendLoop(
            state=SendState(
                self.cfg.safe_abort_nonce_too_low_count, self.cfg.tx_not_in_mempool_timeout, clock.monotonic
            ),
            receipt=asyncio.get_running_loop().create_future(),
            resubmission=resubmission,
            next_bump=clock.monotonic() + resubmission,
        )
        try:
            while True:
                if not loop.state.waiting_for_confirmation:
                    tx = await self._publish_once(tx, loop)
                crit = loop.state.critical_error()
                if crit is not None:
                    self.log.warn("Aborting transaction submission", **tx_log_fields(tx), err=str(crit))
                    raise SendAbortedError(crit) from crit
                receipt = await self._wait_until_publish_due(tx, loop)
                if receipt is not None:
                    self.metrics.record_gas_bump_count(loop.state.bump_count)
                    self.metrics.tx_confirmed(
                        status=receipt.status,
                        effective_gas_price=receipt.effective_gas_price,
                        gas_used=receipt.gas_used,
                        tx_type=receipt.type,
                    )
                    return receipt
        finally:
            for task in loop.waiters.values():
                task.cancel()
            if loop.waiters:
                await asyncio.gather(*loop.waiters.values(), return_exceptions=True)

    async def _publish_once(self, tx: SignedTx, loop: _SendLoop) -> SignedTx:
        """Publish (or bump and publish), then schedule what comes next: a receipt watch and the
        rebroadcast after a publish that may have reached the pool, a retry after a transient error."""
        if self._closed:
            self.log.warn("TxManager closed, aborting transaction submission", **tx_log_fields(tx))
            raise TxManagerClosedError()
        tx, ok, transient = await self._publish(tx, loop.state, loop.published)
        loop.wake_at = None
        if ok:
            if tx.hash not in loop.waiters:
                loop.waiters[tx.hash] = asyncio.create_task(
                    self._wait_for_tx(tx.hash, loop.state, loop.receipt)
                )
            if self.rebroadcast_interval > 0:
                loop.wake_at = self.clock.monotonic() + self.rebroadcast_interval
            loop.retries = 0
        elif transient is not None:
            if loop.retries >= self.cfg.max_retries:
                self.log.warn(
                    "Aborting transaction submission retry", **tx_log_fields(tx), err=str(transient)
                )
                raise transient
            loop.retries += 1
            loop.wake_at = self.clock.monotonic() + max(self.cfg.retry_interval, MIN_RETRY_WAIT)
            await self._fill_lost_nonces(tx)  # geth refuses gapped blob txs: nonce too high
        return tx

    async def _wait_until_publish_due(self, tx: SignedTx, loop: _SendLoop) -> Receipt | None:
        """The receipt, or None once a publish is due: the bump timer (which flags a fee bump), the
        rebroadcast/retry timer, or a close while nothing waits for confirmation."""
        clock = self.clock
        while True:
            until = min(loop.next_bump, loop.wake_at if loop.wake_at is not None else math.inf)
            await self._wait_any(loop.receipt, until - clock.monotonic())
            if loop.receipt.done():
                return loop.receipt.result()
            now = clock.monotonic()
            due = False
            if now >= loop.next_bump:
                loop.state.bump_fees = True
                while loop.next_bump <= now:
                    loop.next_bump += loop.resubmission
                due = True
                if not loop.state.waiting_for_confirmation:
                    await self._fill_lost_nonces(tx)
            if loop.wake_at is not None and now >= loop.wake_at:
                loop.wake_at = None
                due = True
            if due or (self._closed and not loop.state.waiting_for_confirmation):
                return None

    async def _fill_lost_nonces(self, tx: SignedTx) -> None:
        """Start a filler send for each nonce below ``tx``'s that the node lost (see ``nonce_gaps``).

        ``tx`` itself keeps its nonce: the node may hold it as a queued tx, and a renumbered copy would
        have its data mined twice once the gap closes.
        """
        nonce = tx.tx.nonce
        if self._closed or nonce == 0:
            return
        view = await self._gap_below(nonce)
        if view is None:
            return
        pending, latest = view
        # From here on no await until every filler holds its nonce: no other check can fill them too.
        lost = list(itertools.islice(lost_nonces(nonce, pending, self._in_flight), MAX_FILLS_PER_CHECK))
        if not lost or self._closed:
            return
        self.log.warn(
            "Nonce gap detected, filling the lost nonces",
            expected=pending,
            ours=nonce,
            latest=latest,
            lost=len(lost),
            fill=f"{lost[0]}-{lost[-1]}",
            tx=to_hex(tx.hash),
        )
        candidate = filler_candidate(self.from_address, blob=tx.tx.is_blob)
        for k in lost:
            self._hold_nonce(k)
            task = asyncio.get_running_loop().create_task(self._send_filler(candidate, k))
            self._fillers.add(task)
            task.add_done_callback(self._fillers.discard)
            task.add_done_callback(functools.partial(self._release_filled, k))

    def _release_filled(self, nonce: int, _task: asyncio.Task[None]) -> None:
        self._release_nonce(nonce)

    async def _send_filler(self, candidate: TxCandidate, nonce: int) -> None:
        """Craft, send and confirm one no-op at a lost nonce; a failure is logged (the next check retries)."""
        try:
            filler = await self.craft_tx(candidate, nonce=nonce)
            self.log.info("Sending a no-op transaction at a lost nonce", **tx_log_fields(filler))
            receipt = await self._send_tx(filler)
        except Exception as err:  # e.g. nonce too low: the nonce was taken meanwhile, nothing is lost
            self.log.warn("Failed to fill a lost nonce", nonce=nonce, err=str(err))
            return
        tx_hash = to_hex(receipt.transaction_hash)
        self.log.info("Filled a lost nonce", nonce=nonce, tx=tx_hash, block=receipt.block_number)

    async def _wait_any(self, fut: asyncio.Future[Receipt], timeout: float) -> None:
        """Wait until ``fut`` resolves, ``timeout`` passes, or the manager closes."""
        if fut.done():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, timeout)))
        closer = asyncio.ensure_future(self._closed_event.wait())
        waiting: set[asyncio.Future[Any]] = {fut, sleeper}
        if not self._closed:
            waiting.add(closer)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()
            for aux in (sleeper, closer):
                with contextlib.suppress(asyncio.CancelledError):
                    await aux

    async def _publish(
        self, tx: SignedTx, state: SendState, published: _Published
    ) -> tuple[SignedTx, bool, TransientPublishError | None]:
        """Publish ``tx``, bumping first if flagged: (current tx, published or possibly?, transient error)."""
        self.log.info("Publishing transaction", **tx_log_fields(tx, gas=True))
        while True:
            if state.bump_fees:
                bumped = await self._bump_before_send(tx, state, published)
                if bumped is None:
                    return tx, False, None
                tx = bumped
            send_err = await self._send_raw(tx)
            if send_err is not None and send_err.ambiguous:
                # The request went out but no answer came back: the node may hold the tx already.
                published.possibly(tx.hash)
                self.metrics.rpc_error()
                self.metrics.tx_published("unknown_error")
                self.log.warn(
                    "transaction possibly published, watching it", **tx_log_fields(tx), err=str(send_err)
                )
                return tx, True, None
            published.answered(tx.hash)
            if self._accepted(tx, send_err, state, published):
                return tx, True, None
            assert send_err is not None
            now_published, retry, transient = self._rejected(send_err, state, published, tx)
            if not retry:
                return tx, now_published, transient

    async def _bump_before_send(
        self, tx: SignedTx, state: SendState, published: _Published
    ) -> SignedTx | None:
        """The tx to send when a bump is flagged; None when the bump found the tx waiting for confirmation.

        While ``tx`` is in doubt (its last send got no answer) the bump waits: re-sending the same tx
        first tells whether it reached the pool, where a bump could only meet "nonce too low".
        """
        if tx.hash in published.in_doubt:
            self.log.info("Re-sending a possibly published transaction before bumping", tx=to_hex(tx.hash))
            return tx
        try:
            new_tx = await self.increase_gas_price(tx)
        except (FeeError, RpcError, TxMgrError, ValueError) as bump_err:
            # Re-send the old tx anyway: it may have been dropped from the mempool meanwhile.
            self.log.warn("unable to increase gas, will try to re-publish the tx", err=str(bump_err))
            self.metrics.tx_published("bump_failed")
            return tx
        if state.waiting_for_confirmation:
            return None
        if new_tx is not tx:
            state.bump_count += 1
        state.bump_fees = False
        return new_tx

    def _accepted(
        self, tx: SignedTx, send_err: _RpcErrorText | None, state: SendState, published: _Published
    ) -> bool:
        """The node took ``tx`` now (no error, or an operator-listed "already published" error) or
        before (a re-send of a possibly published tx meets "nonce too low" / "already known")."""
        if send_err is None or any(
            s and err_contains(send_err, s) for s in self.cfg.already_published_custom_errs
        ):
            published.confirmed(tx.hash)
            state.process_send_error(None)
            self.metrics.tx_published("")
            msg = "Transaction successfully published" + ("" if send_err is None else " (custom RPC error)")
            self.log.info(msg, **tx_log_fields(tx))
            return True
        if tx.hash in published.maybe and (
            err_contains(send_err, ERR_NONCE_TOO_LOW) or err_already_known(send_err)
        ):
            published.confirmed(tx.hash)
            state.process_send_error(None)
            self.log.debug("Re-sent transaction already published", **tx_log_fields(tx), err=str(send_err))
            return True
        return False

    def _rejected(
        self, err: _RpcErrorText, state: SendState, published: _Published, tx: SignedTx
    ) -> tuple[bool, bool, TransientPublishError | None]:
        """Classify a refusal (substring order as in Go): (published after all?, retry with a bump now?,
        transient error to retry later)."""
        state.process_send_error(err)
        if err_contains(err, ERR_ALREADY_RESERVED):
            self.log.warn("txpool contains pending tx of incompatible type", err=str(err))
            self.metrics.tx_published("pending_tx_of_incompatible_type")
        elif err_contains(err, ERR_NONCE_TOO_LOW):
            self.log.warn("nonce too low", err=str(err))
            self.metrics.tx_published("nonce_too_low")
        elif err_contains(err, ERR_CONTEXT_CANCELED):
            self.metrics.rpc_error()
            self.log.warn("transaction send canceled", err=str(err))
            self.metrics.tx_published("context_canceled")
        elif err_already_known(err):
            self.log.warn("resubmitted already known transaction", err=str(err))
            self.metrics.tx_published("tx_already_known")
            published.confirmed(tx.hash)
            state.process_send_error(None)
            return True, False, None
        elif err_contains(err, ERR_REPLACE_UNDERPRICED) or err_contains(err, ERR_UNDERPRICED):
            replacement = err_contains(err, ERR_REPLACE_UNDERPRICED)
            self.log.warn(
                "transaction replacement is underpriced" if replacement else "transaction is underpriced",
                err=str(err),
            )
            self.metrics.tx_published("tx_replacement_underpriced" if replacement else "tx_underpriced")
            if not state.bump_fees:
                state.bump_fees = True
                return False, True, None
        elif err_contains(err, ERR_NONCE_TOO_HIGH):
            self.log.error("nonce too high", err=str(err))
            self.metrics.tx_published("nonce_too_high")
            return False, False, TransientPublishError(str(err))
        else:
            self.metrics.rpc_error()
            self.log.error("unable to publish transaction", err=str(err))
            self.metrics.tx_published("unknown_error")
        return False, False, None

    async def _send_raw(self, tx: SignedTx) -> _RpcErrorText | None:
        """``eth_sendRawTransaction`` once (never retried by the client); the error, if any."""
        try:
            await self._call("eth_sendRawTransaction", [to_hex(tx.network_bytes)], retry=False)
        except RpcError as err:
            return _RpcErrorText(err)
        return None


class _RpcErrorText(Exception):
    """An RPC error reduced to the node's message (what Go's substring matching sees)."""

    def __init__(self, err: RpcError) -> None:
        text = err.message if isinstance(err, RpcResponseError) else str(err)
        super().__init__(text)
        self.rpc_error = err

    @property
    def ambiguous(self) -> bool:
        """No answer (time-out, dropped connection): the node may or may not have taken the tx.

        A refused connection lands here too (the client does not tell them apart); treating it as
        possibly published only costs receipt polls for a hash that never shows up.
        """
        return isinstance(self.rpc_error, (RpcTimeoutError, RpcConnectionError))


@dataclass(slots=True)
class _Published:
    """Which versions of one logical tx reached (or may have reached) the node.

    ``maybe`` holds every hash that was accepted or sent without an answer; a later "nonce too low" or
    "already known" for one of them means it is ours that holds the nonce. ``in_doubt`` holds the hashes
    whose latest send got no answer at all.
    """

    maybe: set[bytes] = field(default_factory=set)
    in_doubt: set[bytes] = field(default_factory=set)

    def possibly(self, tx_hash: bytes) -> None:
        """The send got no answer: watch the hash and hold bumps until the node answers for it."""
        self.maybe.add(tx_hash)
        self.in_doubt.add(tx_hash)

    def answered(self, tx_hash: bytes) -> None:
        """The node answered for this hash (whatever it said): bumping may resume."""
        self.in_doubt.discard(tx_hash)

    def confirmed(self, tx_hash: bytes) -> None:
        """The node holds (or held) this hash: "nonce too low" for it later means it was mined."""
        self.maybe.add(tx_hash)


@dataclass(slots=True)
class _SendLoop:
    """One send's mutable state across its publishes and waits (owned by that send's task)."""

    state: SendState
    receipt: asyncio.Future[Receipt]
    resubmission: float
    """Seconds between fee bumps."""
    next_bump: float
    published: _Published = field(default_factory=_Published)
    waiters: dict[bytes, asyncio.Task[None]] = field(default_factory=dict)
    """Receipt watchers, one per hash that may have reached the pool."""
    wake_at: float | None = None
    """When the rebroadcast or the retry after a transient error is due."""
    retries: int = 0
