"""The DA throttling loop (op-batcher.md §4.12): unsafe-DA backlog in, ``miner_setMaxDASize`` calls out.

The driver's state task calls :meth:`ThrottleLoop.signal` with the backlog; the loop task turns the newest
value into limits with the :class:`~batcher.throttling.controller.ThrottleController` (recording the metrics)
and hands them to one task per block-builder endpoint. Each queue holds one item, so a slow endpoint only ever
sees the latest limits. An endpoint that answers with a method-not-found-class JSON-RPC error asks the app to
shut down (Go: "either enable it or disable throttling"); other failures are retried every
:data:`THROTTLE_RETRY` seconds or as soon as newer limits arrive. With ``throttle.blob-fee-floor`` set
(our addition) the loop reads the blob base fee (``blob_fee``, the tx manager's ``eth_blobBaseFee``)
before each update and the controller scales the intensity while the fee is at its floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from batcher.metrics import BatcherMetrics
from batcher.throttling.controller import (
    ControllerType,
    PIDConfig,
    ThrottleConfig,
    ThrottleController,
    ThrottleParams,
)
from common.rpc.errors import RpcError, RpcResponseError, redact_url
from common.service.log import get_logger

log = get_logger("batcher")

THROTTLE_RETRY = 10.0
"""Seconds before a failed miner_setMaxDASize is retried."""
JSON_RPC_STANDARD_ERRORS = range(-32699, -32599)
"""Codes -32699..-32600 (invalid request, method not found, invalid params, ...): the endpoint cannot
throttle at all, so Go shuts the batcher down."""

ThrottleCall = Callable[[str, int, int], Awaitable[Any]]
"""(endpoint, max_tx, max_block) -> result of ``miner_setMaxDASize`` (raises RpcError)."""
Spawn = Callable[[Coroutine[Any, Any, None], str], None]


def replace_latest(q: asyncio.Queue[Any], item: Any) -> None:
    """Put ``item`` into a one-slot queue, dropping an unread older item."""
    if q.full():
        q.get_nowait()
    q.put_nowait(item)


class ThrottleLoop:
    """Owns the throttle controller and the per-endpoint tasks; ``signal`` is its only input."""

    def __init__(
        self,
        cfg: ThrottleConfig,
        controller_type: ControllerType,
        pid: PIDConfig | None,
        endpoints: tuple[str, ...],
        *,
        metrics: BatcherMetrics,
        call: ThrottleCall | None,
        close_app: Callable[[BaseException | None], None],
        blob_fee: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.cfg = cfg
        self._blob_fee = blob_fee
        self.endpoints = endpoints
        self.controller = ThrottleController(controller_type, cfg, pid)
        self.metrics = metrics
        self._call = call
        self._close_app = close_app
        self._in: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._last_unsafe = -1

    @property
    def enabled(self) -> bool:
        """Go runs the loop only with a non-zero lower threshold (and we need a way to call endpoints)."""
        return self.cfg.enabled and self._call is not None

    def signal(self, unsafe: int, *, loaded: bool) -> None:
        """Non-blocking: the loop sees the latest backlog (an older unread value is replaced).

        Go signals only after block loads, so an idle chain never lifts its limits; we also signal when
        the backlog changed (e.g. pruned as safe) without a load.
        """
        self.metrics.unsafe_da_bytes.set(unsafe)
        if not loaded and unsafe == self._last_unsafe:
            return
        self._last_unsafe = unsafe
        replace_latest(self._in, unsafe)

    async def run(self, spawn: Spawn) -> None:
        """The loop task: one endpoint task per endpoint (started with ``spawn``), latest limits to each."""
        log.info("Starting DA throttling loop", controller_type=self.controller.type.value)
        queues: list[asyncio.Queue[ThrottleParams]] = []
        for ep in self.endpoints:
            q: asyncio.Queue[ThrottleParams] = asyncio.Queue(maxsize=1)
            queues.append(q)
            spawn(self.endpoint_loop(ep, q), "batcher-throttle-endpoint")
        while True:
            unsafe = await self._in.get()
            params = self.apply(unsafe, blob_base_fee=await self.read_blob_fee())
            for q in queues:
                replace_latest(q, params)

    async def read_blob_fee(self) -> int | None:
        """The blob base fee when it is a throttle input, else None; a failed read is None (no scaling)."""
        if self.cfg.blob_fee_floor <= 0 or self._blob_fee is None:
            return None
        try:
            return await self._blob_fee()
        except Exception as exc:  # the fee only softens throttling: never stop the loop over it
            log.warn("Throttling loop: blob base fee read failed, not scaling intensity", err=str(exc))
            return None

    def apply(self, unsafe: int, *, blob_base_fee: int | None = None) -> ThrottleParams:
        """Update the controller with a backlog and record the metrics; returns the new limits."""
        started = time.perf_counter()
        ctl = self.controller
        params = ctl.update(unsafe, asyncio.get_running_loop().time(), blob_base_fee)
        self.metrics.record_throttle(
            ctl.type.value,
            params.intensity,
            params.max_tx_size,
            params.max_block_size,
            unsafe,
            self.cfg.lower_threshold,
        )
        pid = ctl.pid_state
        if pid is not None:
            self.metrics.record_pid(pid.error, pid.integral, pid.derivative, time.perf_counter() - started)
        if params.intensity > 0:
            log.warn(
                "Throttling loop: unsafe bytes above threshold, "
                "scaling endpoint throttling based on intensity",
                unsafe_bytes=unsafe,
                intensity=params.intensity,
                max_tx_size=params.max_tx_size,
                max_block_size=params.max_block_size,
                **({} if blob_base_fee is None else {"blob_base_fee": blob_base_fee}),
            )
        return params

    async def endpoint_loop(self, endpoint: str, q: asyncio.Queue[ThrottleParams]) -> None:
        """Send the latest limits to one endpoint; retry refusals; stop the app if it cannot throttle."""
        log.info("Starting endpoint throttling loop", endpoint=redact_url(endpoint))
        params = await q.get()
        while True:
            ok = await self._set_max_da_size(endpoint, params)
            if ok is None:
                return
            if ok is False:
                with contextlib.suppress(TimeoutError):
                    params = await asyncio.wait_for(q.get(), THROTTLE_RETRY)
                continue
            params = await q.get()

    async def _set_max_da_size(self, endpoint: str, params: ThrottleParams) -> bool | None:
        """One ``miner_setMaxDASize`` call: its boolean answer, False on failure, None after a shutdown."""
        assert self._call is not None
        try:
            answer = await self._call(endpoint, params.max_tx_size, params.max_block_size)
            return answer is not False
        except RpcResponseError as exc:
            if exc.code not in JSON_RPC_STANDARD_ERRORS:
                return False
            log.error(
                "Critical error detected, attempting batcher shut down",
                endpoint=redact_url(endpoint),
                err=str(exc),
            )
            self._close_app(
                RuntimeError(
                    f"miner_setMaxDASize unavailable at {redact_url(endpoint)}, "
                    "either enable it or disable throttling"
                )
            )
            return None
        except (RpcError, TimeoutError, OSError) as exc:
            log.warn(
                "SetMaxDASize RPC failed for endpoint, retrying.", endpoint=redact_url(endpoint), err=str(exc)
            )
            return False
