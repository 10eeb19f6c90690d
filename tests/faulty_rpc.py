"""A fault-injecting JSON-RPC proxy in front of anvil, for tx-manager tests.

anvil accepts almost any replacement (+5 % replaces a 1559 tx, +10 % a blob tx, a 1559 tx may replace a
pending blob tx) and has no blob fee market (devnet.md §1). This aiohttp server forwards everything to
anvil but can, on ``eth_sendRawTransaction``, apply geth's tx-pool rules (``replacement transaction
underpriced`` below +10 % / +100 % for blob txs, ``address already reserved`` when a sender mixes blob and
non-blob txs, ``already known``; on request, geth's blob-pool ``nonce too high`` for a gapped nonce), and
can inject faults per method: JSON-RPC errors, delays (time-outs), dropped connections and rewritten
results (fee spikes, a lagging pending nonce). It only exists for tests.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import rlp
from aiohttp import web
from Crypto.Hash import keccak
from eth_account import Account

from common.txmgr.fees import TxFees, is_valid_replacement

ERR_REPLACE_UNDERPRICED = "replacement transaction underpriced"
ERR_ALREADY_RESERVED = "address already reserved"
ERR_ALREADY_KNOWN = "already known"
ERR_NONCE_TOO_HIGH = "nonce too high"


@dataclass(frozen=True, slots=True)
class PoolTx:
    """What the proxy learnt from a raw tx it accepted."""

    hash: bytes
    sender: bytes
    nonce: int
    fees: TxFees
    is_blob: bool
    sidecar_version: int | None
    """None for non-blob txs; 0 or 1 for the pooled blob-tx wrapper."""


def decode_raw_tx(raw: bytes) -> PoolTx:
    """Sender, nonce and fees of a type-2 tx or a pooled type-3 tx (v0 or v1 wrapper)."""
    items: Any = rlp.decode(raw[1:])
    version: int | None = None
    canonical = raw
    if raw[0] == 3 and isinstance(items[0], list):
        version = 1 if len(items) == 5 else 0
        items = items[0]
        canonical = b"\x03" + rlp.encode(items)

    def uint(b: bytes) -> int:
        return int.from_bytes(b, "big")

    nonce, tip, fee_cap = uint(items[1]), uint(items[2]), uint(items[3])
    blob_fee = uint(items[9]) if raw[0] == 3 else 0
    sender = bytes.fromhex(Account.recover_transaction(canonical)[2:])
    tx_hash = keccak.new(digest_bits=256, data=canonical).digest()
    return PoolTx(tx_hash, sender, nonce, TxFees(tip, fee_cap, blob_fee), raw[0] == 3, version)


@dataclass
class Fault:
    """One injected behaviour for a method, used ``times`` times (None = forever)."""

    kind: str
    """``error``, ``delay`` (then forward), ``late`` (forward, then delay the reply), ``drop`` (close the
    connection, nothing forwarded)."""
    times: int | None = 1
    message: str = ""
    code: int = -32000
    seconds: float = 0.0
    forward: bool = False
    """For ``error``: forward to anvil anyway before answering with the error."""


@dataclass
class FaultyRpc:
    """The proxy; ``start()`` returns its URL."""

    upstream: str
    geth_pool_rules: bool = True
    refuse_gapped_nonces: bool = False
    """geth's blob pool rule, for any tx: a nonce above the sender's pending nonce gets ``nonce too high``."""
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    overrides: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    param_overrides: dict[str, Callable[[list[Any], Any], Any]] = field(default_factory=dict)
    """Like ``overrides`` but also given the request's params: ``fn(params, result)``."""
    refuse: Callable[[bytes], str | None] | None = None
    """A pool rule of the test's own: given a raw tx, the error message to refuse it with, or None."""
    calls: Counter[str] = field(default_factory=Counter)
    accepted: list[PoolTx] = field(default_factory=list)
    rejected: list[tuple[PoolTx, str]] = field(default_factory=list)
    _pool: dict[tuple[bytes, int], PoolTx] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ test controls

    def inject(self, method: str, fault: Fault) -> None:
        self.faults.setdefault(method, []).append(fault)

    def inject_error(
        self, method: str, message: str, times: int | None = 1, *, forward: bool = False
    ) -> None:
        self.inject(method, Fault("error", times, message=message, forward=forward))

    def delay(self, method: str, seconds: float, times: int | None = 1) -> None:
        self.inject(method, Fault("delay", times, seconds=seconds))

    def delay_reply(self, method: str, seconds: float, times: int | None = 1) -> None:
        """Forward at once but answer only after ``seconds``: the node has the request, the client waits."""
        self.inject(method, Fault("late", times, seconds=seconds))

    def drop_connection(self, method: str, times: int | None = 1) -> None:
        self.inject(method, Fault("drop", times))

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_tip(self, wei: int | None) -> None:
        """Fee spike (or end of it): ``eth_maxPriorityFeePerGas`` answers ``wei``."""
        if wei is None:
            self.overrides.pop("eth_maxPriorityFeePerGas", None)
        else:
            self.overrides["eth_maxPriorityFeePerGas"] = lambda _r: hex(wei)

    def lag_pending_nonce(self, by: int | None) -> None:
        """A lagging node: ``eth_getTransactionCount(.., "pending")`` answers ``by`` less (None = stop)."""
        if by is None:
            self.param_overrides.pop("eth_getTransactionCount", None)
            return

        def lagging(params: list[Any], result: Any) -> Any:
            if len(params) > 1 and params[1] == "pending":
                return hex(max(0, int(result, 16) - by))
            return result

        self.param_overrides["eth_getTransactionCount"] = lagging

    def accepted_at(self, nonce: int) -> list[PoolTx]:
        return [t for t in self.accepted if t.nonce == nonce]

    # -------------------------------------------------------------------------------------- handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if isinstance(body, list):
            replies = []
            for item in body:
                reply = await self._one(item, request)
                if reply is None:
                    return web.Response()
                replies.append(reply)
            return web.json_response(replies)
        reply = await self._one(body, request)
        if reply is None:
            return web.Response()
        return web.json_response(reply)

    def _next_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
        return fault

    async def _one(self, req: dict[str, Any], request: web.Request) -> dict[str, Any] | None:
        method = str(req.get("method"))
        rid = req.get("id")
        self.calls[method] += 1
        fault = self._next_fault(method)
        if fault is not None:
            if fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                return None
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "error":
                if fault.forward:
                    await self._upstream(req)
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": fault.code, "message": fault.message}}
        if method == "eth_sendRawTransaction" and self.refuse is not None:
            refusal = self.refuse(bytes.fromhex(req["params"][0][2:]))
            if refusal is not None:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": refusal}}
        if method == "eth_sendRawTransaction" and self.geth_pool_rules:
            refusal = await self._check_pool(bytes.fromhex(req["params"][0][2:]))
            if refusal is not None:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": refusal}}
        reply = await self._upstream(req)
        if "result" in reply and method in self.overrides:
            reply["result"] = self.overrides[method](reply["result"])
        if "result" in reply and method in self.param_overrides:
            reply["result"] = self.param_overrides[method](req.get("params") or [], reply["result"])
        if method == "eth_sendRawTransaction" and "result" in reply:
            tx = decode_raw_tx(bytes.fromhex(req["params"][0][2:]))
            self.accepted.append(tx)
            self._pool[(tx.sender, tx.nonce)] = tx
        if fault is not None and fault.kind == "late":
            await asyncio.sleep(fault.seconds)
        return reply

    async def _upstream(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=json.dumps(req), headers={"Content-Type": "application/json"}
        ) as resp:
            reply: dict[str, Any] = await resp.json(content_type=None)
            return reply

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        reply = await self._upstream({"jsonrpc": "2.0", "id": 0, "method": method, "params": params})
        return reply.get("result")

    async def _prune(self, sender: bytes) -> None:
        """Forget pool entries that were mined or dropped by anvil."""
        chain_nonce = int(await self._rpc("eth_getTransactionCount", ["0x" + sender.hex(), "latest"]), 16)
        for key, tx in list(self._pool.items()):
            if key[0] != sender:
                continue
            if (
                tx.nonce < chain_nonce
                or await self._rpc("eth_getTransactionByHash", ["0x" + tx.hash.hex()]) is None
            ):
                del self._pool[key]

    async def _pending_nonce(self, sender: bytes) -> int:
        return int(await self._rpc("eth_getTransactionCount", ["0x" + sender.hex(), "pending"]), 16)

    async def _check_pool(self, raw: bytes) -> str | None:
        """geth's txpool answer for ``raw``, or None when geth would accept it."""
        tx = decode_raw_tx(raw)
        await self._prune(tx.sender)
        mine = [t for (s, _), t in self._pool.items() if s == tx.sender]
        refusal: str | None = None
        if self.refuse_gapped_nonces and tx.nonce > await self._pending_nonce(tx.sender):
            refusal = ERR_NONCE_TOO_HIGH
        elif any(t.is_blob != tx.is_blob for t in mine):
            refusal = ERR_ALREADY_RESERVED
        else:
            old = self._pool.get((tx.sender, tx.nonce))
            if old is not None and old.hash == tx.hash:
                refusal = ERR_ALREADY_KNOWN
            elif old is not None and not is_valid_replacement(old.fees, tx.fees, is_blob=tx.is_blob):
                refusal = ERR_REPLACE_UNDERPRICED
        if refusal is not None:
            self.rejected.append((tx, refusal))
        return refusal
