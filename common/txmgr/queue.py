"""A bounded queue of concurrent sends, with results delivered under the caller's id (op-service Queue).

``send`` blocks while ``max_pending`` sends are in flight (0 = unlimited), then crafts and signs the tx
before returning, so nonces strictly follow the order of ``send`` calls (Go's ``SendAsync`` does the
same); publishing and confirmation continue in a task, whose outcome is put on the caller's
``asyncio.Queue`` as a :class:`TxReceipt`.

Group semantics (as in Go's errgroup-based queue): sends belong to the current group; when one of them
fails, the other in-flight sends of that group are cancelled (their results carry
:class:`GroupCancelledError`, "context canceled"), and the next ``send`` waits for the failed group to
drain before it starts a new group. A failure usually means the nonce sequence broke, so later txs of the
same group would only fail or land out of order. Pass ``cancel_group_on_error=False`` to keep siblings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from common.rpc.types import Receipt
from common.txmgr.send_state import TxMgrError
from common.txmgr.tx import TxCandidate

T = TypeVar("T")


class AsyncSender(Protocol):
    """What the queue needs from a tx manager (``TxManager`` satisfies it; tests pass fakes)."""

    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]:
        """Craft and sign now (raising on failure); publish and confirm in the returned task."""
        ...


class GroupCancelledError(TxMgrError):
    """Cancelled because another send of the same group failed (Go: ``context canceled``)."""


@dataclass(frozen=True, slots=True)
class TxReceipt(Generic[T]):
    """The outcome of one queued send: a receipt or an error, under the caller's ``id``."""

    id: T
    receipt: Receipt | None
    error: BaseException | None


@dataclass(eq=False)
class _Group:
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    inner: set[asyncio.Task[Receipt]] = field(default_factory=set)
    failed: bool = False


class Queue(Generic[T]):
    """Sends through ``txmgr`` with at most ``max_pending`` txs in flight (0 = no limit)."""

    def __init__(self, txmgr: AsyncSender, max_pending: int, *, cancel_group_on_error: bool = True) -> None:
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0, got {max_pending}")
        self._txmgr = txmgr
        self._max_pending = max_pending
        self._slots = asyncio.Semaphore(max_pending) if max_pending > 0 else None
        self._cancel_group = cancel_group_on_error
        self._group = _Group()
        self._all: set[asyncio.Task[None]] = set()
        self._order = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Sends in flight (crafting, publishing or waiting for confirmations)."""
        return len(self._all)

    async def send(self, id: T, candidate: TxCandidate, receipts: asyncio.Queue[TxReceipt[T]]) -> None:
        """Wait for a free slot, craft and sign the tx, and leave the rest to a task."""
        async with self._order:
            await self._drain_failed_group()
            if self._slots is not None:
                await self._slots.acquire()
            await self._start(id, candidate, receipts)

    async def try_send(self, id: T, candidate: TxCandidate, receipts: asyncio.Queue[TxReceipt[T]]) -> bool:
        """Like ``send`` but returns False at once when no slot is free (or a failed group drains)."""
        if self._order.locked() or self._group.failed:
            return False
        if self._slots is not None and self._slots.locked():
            return False
        await self.send(id, candidate, receipts)
        return True

    async def wait(self) -> None:
        """Wait until every send started so far has delivered its result."""
        while self._all:
            await asyncio.gather(*list(self._all), return_exceptions=True)

    async def _drain_failed_group(self) -> None:
        if self._group.failed:
            if self._group.tasks:
                await asyncio.gather(*list(self._group.tasks), return_exceptions=True)
            self._group = _Group()

    async def _start(self, id: T, candidate: TxCandidate, receipts: asyncio.Queue[TxReceipt[T]]) -> None:
        group = self._group
        try:
            inner = await self._txmgr.send_async(candidate)
        except Exception as err:
            self._release()
            self._fail(group)
            await receipts.put(TxReceipt(id, None, err))
            return
        group.inner.add(inner)
        task = asyncio.create_task(self._deliver(id, inner, receipts, group))
        group.tasks.add(task)
        self._all.add(task)
        task.add_done_callback(self._all.discard)
        task.add_done_callback(group.tasks.discard)

    async def _deliver(
        self, id: T, inner: asyncio.Task[Receipt], receipts: asyncio.Queue[TxReceipt[T]], group: _Group
    ) -> None:
        try:
            try:
                receipt = await asyncio.shield(inner)
            except asyncio.CancelledError:
                if not inner.cancelled():
                    inner.cancel()  # the delivering task itself was cancelled: stop the send too
                    raise
                cancelled = GroupCancelledError("context canceled: another tx of the group failed")
                await receipts.put(TxReceipt(id, None, cancelled))
            except Exception as err:
                self._fail(group)
                await receipts.put(TxReceipt(id, None, err))
            else:
                await receipts.put(TxReceipt(id, receipt, None))
        finally:
            group.inner.discard(inner)
            self._release()

    def _fail(self, group: _Group) -> None:
        group.failed = True
        if self._cancel_group:
            for other in list(group.inner):
                other.cancel()

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()
