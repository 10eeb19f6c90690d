"""The account balance gauge (``<ns>_balance``): polled off the hot path, in ether, as op-service does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from common.service.metrics import Factory

log = logging.getLogger(__name__)

BALANCE_POLL_INTERVAL = 10.0
BALANCE_POLL_TIMEOUT = 60.0
WEI_PER_ETHER = 10**18


def wei_to_ether(wei: int) -> float:
    """Exact rational -> nearest float, as Go's big.Rat Float64."""
    return wei / WEI_PER_ETHER


class BalancePoller:
    """Polls ``fetch()`` (wei, e.g. eth_getBalance of the sender) every 10 s into the ``balance`` gauge."""

    def __init__(
        self,
        factory: Factory,
        address: str,
        fetch: Callable[[], Awaitable[int]],
        *,
        interval: float = BALANCE_POLL_INTERVAL,
        timeout: float = BALANCE_POLL_TIMEOUT,
    ) -> None:
        self.gauge = factory.gauge("balance", f"balance (in ether) of account {address}")
        self.address = address
        self._fetch = fetch
        self._interval = interval
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> None:
        """One poll; failures are logged (WARN, like Go) and leave the gauge unchanged."""
        try:
            wei = await asyncio.wait_for(self._fetch(), self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "failed to get balance of account",
                extra={"go_fields": (("err", exc), ("address", self.address))},
            )
            return
        self.gauge.set(wei_to_ether(wei))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll_once()

    def start(self) -> None:
        """Start polling; the first poll happens one interval after start (Go's ticker)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="balance-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            log.info("balance metrics shutting down")
