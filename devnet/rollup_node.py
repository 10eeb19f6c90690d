"""A rollup-node stand-in: op-node's RPC over the L2 anvil, with a safe head that moves only by derivation.

``RollupNode`` serves optimism_syncStatus, optimism_outputAtBlock, optimism_rollupConfig,
optimism_version, admin_sequencerActive and superroot_atTimestamp (devnet/superroot.py) over aiohttp,
op-node JSON shapes (numbers as JSON numbers). Derivation itself is :class:`devnet.deriver.Deriver`;
output roots are read by :mod:`devnet.output_root`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from common.derive.block_ref import BlockID
from devnet import superroot
from devnet.anvil import rpc_call
from devnet.deriver import Deriver
from devnet.output_root import OUTPUT_VERSION_V0, fetch_output
from devnet.sequencer import l2_ref_from_json
from devnet.server_thread import ServerThread

log = logging.getLogger("devnet.rollup_node")

ROLLUP_NODE_VERSION = "v0.0.0-py-devnet"


class RpcMethodError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RollupNode:
    """The aiohttp JSON-RPC server around a Deriver; derives in the background every ``poll_interval``."""

    def __init__(
        self, deriver: Deriver, *, host: str = "127.0.0.1", port: int = 0, poll_interval: float = 0.25
    ) -> None:
        self.deriver = deriver
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        if self.poll_interval > 0:
            self._task = asyncio.create_task(self._derive_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None:
            await self._runner.cleanup()

    async def _derive_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.deriver.step)
            except Exception as exc:
                log.warning("derivation step failed: %s", exc)
            await asyncio.sleep(self.poll_interval)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": ROLLUP_NODE_VERSION})

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        if isinstance(body, list):
            return web.json_response([await self._dispatch(item) for item in body])
        return web.json_response(await self._dispatch(body))

    async def _dispatch(self, req: Any) -> dict[str, Any]:
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict) or not isinstance(req.get("method"), str):
                raise RpcMethodError(-32600, "invalid request")
            result = await asyncio.to_thread(self.call, req["method"], req.get("params") or [])
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except RpcMethodError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": str(exc)}}

    def call(self, method: str, params: list[Any]) -> Any:
        """Blocking method dispatch (also usable in-process by tests)."""
        if method == "optimism_syncStatus":
            return self.deriver.sync_status().to_json()
        if method == "optimism_outputAtBlock":
            if len(params) != 1 or not isinstance(params[0], str):
                raise RpcMethodError(-32602, "optimism_outputAtBlock: expected one hex block number")
            return self.output_at_block(int(params[0], 16))
        if method == "optimism_rollupConfig":
            return self.deriver.rollup.to_json()
        if method == "optimism_version":
            return ROLLUP_NODE_VERSION
        if method == "admin_sequencerActive":
            return True
        if method == "superroot_atTimestamp":
            if len(params) != 1 or not isinstance(params[0], str):
                raise RpcMethodError(-32602, "superroot_atTimestamp: expected one hex timestamp")
            return superroot.at_timestamp(self, int(params[0], 16))
        raise RpcMethodError(-32601, f"the method {method} does not exist/is not available")

    def output_at_block(self, number: int) -> dict[str, Any]:
        status = self.deriver.sync_status()
        if number > status.unsafe_l2.number:
            raise RpcMethodError(
                -32000,
                f"failed to get L2 block ref: block {number} not found "
                f"(unsafe head {status.unsafe_l2.number})",
            )
        out = fetch_output(self.deriver.l2_url, number)
        ref = l2_ref_from_json(out.block, self.deriver.genesis_l2)
        return {
            "version": "0x" + OUTPUT_VERSION_V0.hex(),
            "outputRoot": "0x" + out.root.hex(),
            "blockRef": ref.to_json(),
            "withdrawalStorageRoot": "0x" + out.withdrawal_storage_root.hex(),
            "stateRoot": "0x" + out.state_root.hex(),
            "syncStatus": status.to_json(),
        }


class RollupNodeThread(ServerThread):
    """Runs a RollupNode on its own event loop in a daemon thread (for the CLI and for pytest)."""

    def __init__(self, node: RollupNode) -> None:
        super().__init__(node, "rollup-node")
        self.node = node


def genesis_block_id(l2_url: str) -> BlockID:
    block = rpc_call(l2_url, "eth_getBlockByNumber", ["0x0", False])
    if not isinstance(block, dict):
        raise RuntimeError(f"L2 genesis block not found at {l2_url}")
    return BlockID(bytes.fromhex(block["hash"][2:]), 0)
