"""The L2 execution endpoint the devnet hands out: a JSON-RPC front over the L2 anvil.

op-geth serves ``miner_setMaxDASize`` (the batcher's DA throttle); anvil does not, and an op-batcher with
default throttling shuts down when the method is missing. This front answers ``miner_setMaxDASize`` the way
op-geth does (``true``; the limits are recorded, the devnet sequencer does not enforce them) and forwards
every other request, single or batched, byte for byte to the anvil. The sequencer and the rollup node talk
to the anvil directly.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from devnet.server_thread import ServerThread

log = logging.getLogger("devnet.l2_endpoint")

SET_MAX_DA_SIZE = "miner_setMaxDASize"
FORWARD_TIMEOUT = 30.0
"""Seconds a forwarded request may take at the anvil."""
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MaxDASize:
    """The last ``miner_setMaxDASize(maxTxSize, maxBlockSize)`` call; 0 means no limit (as in op-geth)."""

    max_tx_size: int
    max_block_size: int


def parse_max_da_size(params: Any) -> MaxDASize:
    """op-geth's two hexutil.Big arguments; raises ValueError naming the bad one."""
    if not isinstance(params, list) or len(params) != 2:
        raise ValueError(f"{SET_MAX_DA_SIZE}: expected [maxTxSize, maxBlockSize], got {params!r}")
    values = []
    for name, value in zip(("maxTxSize", "maxBlockSize"), params, strict=True):
        if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
            raise ValueError(f"{SET_MAX_DA_SIZE}: {name} must be a 0x-prefixed hex quantity, got {value!r}")
        values.append(int(value, 16))
    return MaxDASize(values[0], values[1])


class L2Endpoint:
    """aiohttp server: serves ``miner_setMaxDASize`` itself and proxies the rest to ``upstream``."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.max_da_size: MaxDASize | None = None
        self.set_max_da_size_calls = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT))
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, body: bytes) -> bytes:
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            return await resp.read()

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")
        try:
            limits = parse_max_da_size(req.get("params"))
        except ValueError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": str(exc)}}
        self.max_da_size = limits
        self.set_max_da_size_calls += 1
        return {"jsonrpc": "2.0", "id": rid, "result": True}

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        ours = _is_ours
        try:
            if isinstance(parsed, dict) and ours(parsed):
                return web.json_response(self._answer(parsed))
            if isinstance(parsed, list) and any(ours(item) for item in parsed):
                return web.json_response(await self._mixed_batch(parsed))
            return web.Response(body=await self._forward(body), content_type="application/json")
        except (aiohttp.ClientError, TimeoutError) as exc:
            rid = parsed.get("id") if isinstance(parsed, dict) else None
            message = f"L2 anvil at {self.upstream} unreachable: {exc}"
            return web.json_response(
                {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": message}}
            )

    async def _mixed_batch(self, batch: list[Any]) -> list[Any]:
        """A batch with miner_setMaxDASize in it: answer those here, forward the rest as one batch."""
        rest = [item for item in batch if not _is_ours(item)]
        forwarded: list[Any] = json.loads(await self._forward(json.dumps(rest).encode())) if rest else []
        if not isinstance(forwarded, list):
            forwarded = [forwarded] * len(rest)
        it = iter(forwarded)
        return [self._answer(item) if _is_ours(item) else next(it, None) for item in batch]


def _is_ours(req: Any) -> bool:
    return isinstance(req, dict) and req.get("method") == SET_MAX_DA_SIZE


class L2EndpointThread(ServerThread):
    """Runs an L2Endpoint on its own event loop in a daemon thread."""

    def __init__(self, endpoint: L2Endpoint) -> None:
        super().__init__(endpoint, "l2-endpoint")
        self.endpoint = endpoint
