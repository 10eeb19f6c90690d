"""A DA server stand-in speaking op-alt-da's HTTP protocol, for ``op-devnet up --da altda`` and tests.

The Go ``da-server`` (op-alt-da/cmd/daserver) cannot run here (no Go toolchain), so this aiohttp server
serves the same routes with an in-memory store:

* ``POST /put/0x<commitment>``: store the body under the encoded commitment (keccak256 commitments are
  checked against the body, as op-alt-da's server does); 200.
* ``POST /put`` (and ``/put/``): generic commitments; store the body and reply with the commitment
  ``0x01 ++ keccak256(body)`` (what op-alt-da's server returns with generic commitments on).
* ``GET /get/0x<commitment>``: 200 with the body, 404 when unknown.

Faults for tests, switched at run time from any thread: ``set_down(True)`` closes the listening socket
(clients get connection refused, as from a crashed server) until ``set_down(False)`` re-opens it on the
same port; ``drop_data = True`` acknowledges puts but keeps nothing (a server that loses what it stored).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web

from common.altda.commitment import Commitment, CommitmentError, CommitmentType, decode_commitment
from devnet.server_thread import ServerThread

log = logging.getLogger("devnet.da_server")

MAX_BODY = 4 * 1024 * 1024
"""Largest request body accepted (op-alt-da inputs are at most 130 672 bytes)."""


class DAServer:
    """The in-memory DA store behind op-alt-da's routes."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.store: dict[bytes, bytes] = {}
        """Encoded commitment -> input."""
        self.drop_data = False
        self.puts = 0
        self.gets = 0
        self.not_found = 0
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/put", self._put_generic)
        app.router.add_post("/put/", self._put_generic)
        app.router.add_post("/put/{key}", self._put_keyed)
        app.router.add_get("/get/{key}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])

    async def set_down(self, down: bool) -> None:
        """Close (down) or re-open (up) the listening socket; the store survives, like a restarted server."""
        if down and self._site is not None:
            await self._site.stop()
            self._site = None
            assert self._runner is not None and self._runner.server is not None
            for conn in list(self._runner.server.connections):  # keep-alive clients lose theirs too
                conn.force_close()
            log.info("DA server %s is down", self.url)
        elif not down and self._site is None:
            await self._listen()
            log.info("DA server %s is up", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _keep(self, key: bytes, data: bytes) -> None:
        with self._lock:
            self.puts += 1
            if not self.drop_data:
                self.store[key] = data

    async def _put_generic(self, request: web.Request) -> web.Response:
        data = await request.read()
        if not data:
            return web.Response(status=400, text="empty input")
        comm = Commitment(CommitmentType.GENERIC, Commitment.keccak256_of(data).payload)
        self._keep(comm.encode(), data)
        return web.Response(body=comm.encode(), content_type="application/octet-stream")

    async def _put_keyed(self, request: web.Request) -> web.Response:
        data = await request.read()
        try:
            comm = decode_commitment(_key(request))
            comm.verify(data)
        except (CommitmentError, ValueError) as exc:
            return web.Response(status=400, text=f"bad commitment: {exc}")
        self._keep(comm.encode(), data)
        return web.Response(status=200)

    async def _get(self, request: web.Request) -> web.Response:
        try:
            key = _key(request)
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        with self._lock:
            self.gets += 1
            data = self.store.get(key)
            if data is None:
                self.not_found += 1
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="application/octet-stream")


def _key(request: web.Request) -> bytes:
    """The ``0x``-hex commitment in the path."""
    text = request.match_info["key"]
    if not text.startswith("0x"):
        raise ValueError(f"commitment {text!r} is not 0x-prefixed hex")
    return bytes.fromhex(text[2:])


class DAServerThread(ServerThread):
    """The DA server on its own loop thread, with thread-safe fault switches."""

    def __init__(self, server: DAServer) -> None:
        super().__init__(server, "da-server")
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def set_down(self, down: bool) -> None:
        asyncio.run_coroutine_threadsafe(self.server.set_down(down), self._loop).result(timeout=10)
