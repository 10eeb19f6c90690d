"""Alt-DA in the batcher: each frame goes to the DA server, the L1 tx carries only its commitment.

Go's path (op-batcher ``driver.go`` ``publishToAltDAAndL1``), which this follows: with Alt-DA a tx data holds
exactly one frame and is never a blob tx; ``0x00 ++ frame`` is put to the DA server in a background task, at
most ``--altda.max-concurrent-da-requests`` at once (0 = unlimited); on success INFO ``Set altda input``
and a calldata tx with ``0x01 ++ commitment`` goes to the inbox; on failure ERROR ``Failed to post input
to Alt DA`` and the frame is requeued (the driver calls the manager's ``tx_failed``), so nothing is lost.

Different from Go:

* No free DA slot: Go's ``TryGo`` fails and the frame is requeued at once (and fetched again by the same
  publishing loop); here the driver simply stops handing out tx data until a DA request finishes.
* Read-back (``--altda.read-back``, a Python addition, off by default): after a put, ``GET /get`` the
  commitment and compare with what was put; a server that cannot serve it back gets no commitment on L1
  (ERROR ``Alt-DA server did not return the input it stored``, frame requeued).
* After a failed submission no new one starts for ``RETRY_DELAY`` seconds (Go retries at once).
* A 503 reply (op-alt-da's ``ErrAltDADown``, "failover to eth DA") is requeued like any failure, as
  the Go batcher versions read for this port do; there is no failover to L1 DA.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from batcher.channels.channel import TxData, TxID
from common.altda.client import DAClient, DAError
from common.altda.commitment import Commitment
from common.service.log import get_logger
from common.service.metrics import Factory

log = get_logger("batcher")

RETRY_DELAY = 1.0
"""Seconds after a failed DA submission before the next one starts (the requeued frame goes first)."""


class AltDAMetrics:
    """Python additions (Go's batcher records no Alt-DA series)."""

    def __init__(self, f: Factory) -> None:
        self.requests = f.counter(
            "altda_requests_total",
            "Requests to the Alt-DA server, by method (put, get) and result (success, error)",
            ("method", "result"),
        )
        self.read_back_failures = f.counter(
            "altda_read_back_failures_total",
            "Inputs the Alt-DA server stored but did not return intact "
            "(commitment not posted; frame requeued)",
        )
        self.in_flight = f.gauge("altda_requests_in_flight", "Alt-DA put requests in progress")


@dataclass(frozen=True, slots=True)
class DAResult:
    """The outcome of one frame's DA submission, delivered to the driver's state task."""

    tx_id: TxID
    commitment: Commitment | None
    """None when the submission failed (the frame must be requeued)."""
    error: str | None = None


class AltDAPoster:
    """Runs the DA submissions of tx data in background tasks, bounded by the max-concurrent flag."""

    def __init__(
        self,
        client: DAClient,
        metrics: AltDAMetrics,
        *,
        max_concurrent: int = 1,
        read_back: bool = False,
        retry_delay: float = RETRY_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.max_concurrent = max_concurrent
        self.read_back = read_back
        self.retry_delay = retry_delay
        self.clock = clock
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def has_slot(self) -> bool:
        """Whether another put may start: a free slot (``--altda.max-concurrent-da-requests``, 0 =
        unlimited) and no failure within the last ``retry_delay`` seconds (a down server is not hammered)."""
        if self.clock() < self._retry_at:
            return False
        return self.max_concurrent == 0 or len(self._tasks) < self.max_concurrent

    def submit(self, tx: TxData, done: Callable[[DAResult], None]) -> None:
        """Start putting ``tx``'s frame to the DA server; ``done`` gets the result (never raises)."""
        if len(tx.frames) != 1:
            log.crit("Unexpected number of frames in calldata tx", num_frames=len(tx.frames))
        if tx.as_blob:
            log.crit("Unexpected blob txdata with AltDA enabled")
        task = asyncio.get_running_loop().create_task(self._submit(tx, done), name=f"altda-{tx.id}")
        self._tasks.add(task)
        self.metrics.in_flight.set(len(self._tasks))
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.metrics.in_flight.set(len(self._tasks))

    async def _submit(self, tx: TxData, done: Callable[[DAResult], None]) -> None:
        data = tx.calldata  # 0x00 ++ frame: what a calldata tx would carry
        try:
            comm = await self.client.put(data)
        except DAError as exc:
            self.metrics.requests.labels("put", "error").inc()
            log.error("Failed to post input to Alt DA", error=str(exc))
            self._retry_at = self.clock() + self.retry_delay
            done(DAResult(tx.id, None, str(exc)))
            return
        self.metrics.requests.labels("put", "success").inc()
        if self.read_back and (err := await self._read_back(comm, data)) is not None:
            self._retry_at = self.clock() + self.retry_delay
            done(DAResult(tx.id, None, err))
            return
        log.info("Set altda input", commitment=str(comm), tx=str(tx.id))
        done(DAResult(tx.id, comm))

    async def _read_back(self, comm: Commitment, data: bytes) -> str | None:
        """None when the server returns exactly ``data`` for ``comm``; else why not (logged, counted)."""
        try:
            got = await self.client.get(comm)
        except DAError as exc:
            self.metrics.requests.labels("get", "error").inc()
            err = str(exc)
        else:
            self.metrics.requests.labels("get", "success").inc()
            if got == data:
                return None
            err = (
                f"DA server {self.client.endpoint} /get: returned {len(got)} bytes "
                f"that differ from the {len(data)} bytes put"
            )
        self.metrics.read_back_failures.inc()
        log.error("Alt-DA server did not return the input it stored", commitment=str(comm), error=err)
        return err

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for the running submissions, as Go waits for its DA goroutines."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def cancel(self) -> None:
        """Abandon running submissions (their frames are re-derived after the next start's state clear)."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.metrics.in_flight.set(0)
