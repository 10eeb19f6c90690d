"""Run an asyncio server (``start()``/``stop()`` coroutines) on its own loop in a daemon thread.

The devnet's rollup node and L2 front are aiohttp servers driven from blocking code (the CLI, pytest).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol


class AsyncServer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class ServerThread:
    def __init__(self, server: AsyncServer, name: str) -> None:
        self._server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
