"""JSON-RPC 2.0 server with geth/op-service semantics, on aiohttp.

Served on ``rpc.addr:rpc.port``: JSON-RPC on path ``/`` only (POST, single or batch), ``GET /healthz``
(and ``/healthz/``) -> ``{"version":"..."}`` plus a newline (Go's json.Encoder), every other path 404. CORS
is ``*``. ``health_status`` and geth's ``rpc_modules`` are always registered; methods registered with
``admin=True`` (and the built-in ``admin_setLogLevel``) exist only when admin is enabled, otherwise they
are "method not found" like in Go.

Handlers are async callables taking the JSON params positionally. Raise :class:`JsonRpcError` for a
specific code; any other exception becomes code -32000 with ``str(exc)`` as the message (Go returns
``err.Error()``). Parameter-count errors use geth's texts (``missing value for required argument 0``,
``too many arguments, want at most 1``, ``non-array args``).
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from common.service import log as golog
from common.service.metrics import RpcServerMetrics
from common.service.rpc_config import RpcConfig as RpcConfig
from common.service.rpc_config import read_rpc_config as read_rpc_config
from common.service.rpc_config import rpc_flags as rpc_flags

logger = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]

MAX_REQUEST_CONTENT_LENGTH = 5 * 1024 * 1024
"""geth's maxRequestContentLength."""
BATCH_REQUEST_LIMIT = 1000
"""geth's default BatchRequestLimit."""
ACCEPTED_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")
RPC_MODULE_VERSION = "1.0"
"""geth's rpc_modules reports every namespace at this version."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000


class JsonRpcError(Exception):
    """An error a handler wants returned with a specific JSON-RPC code (and optional data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            obj["data"] = self.data
        return obj


# --------------------------------------------------------------------------------------------------------
# Flags (declared in common.service.rpc_config, re-exported here)


# --------------------------------------------------------------------------------------------------------
# Dispatch


@dataclass(frozen=True, slots=True)
class _Method:
    fn: Handler
    required: int
    maximum: int | None
    """None: the handler takes *args."""


def _arity(fn: Handler) -> tuple[int, int | None]:
    """(required positional params, maximum positional params or None for *args)."""
    required, maximum = 0, 0
    for param in inspect.signature(fn).parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return required, None
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            maximum += 1
            if param.default is inspect.Parameter.empty:
                required += 1
    return required, maximum


def _error(id_: Any, err: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": err.to_json()}


class RpcServer:
    """An aiohttp JSON-RPC server; register methods, then ``await start()``; ``port`` is the bound port."""

    def __init__(
        self,
        host: str,
        port: int,
        version: str,
        *,
        enable_admin: bool = False,
        metrics: RpcServerMetrics | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.version = version
        self.enable_admin = enable_admin
        self.metrics = metrics
        self._methods: dict[str, _Method] = {}
        self._runner: web.AppRunner | None = None
        self.register("health_status", self._health_status)
        self.register("rpc_modules", self._rpc_modules)
        self.register("admin_setLogLevel", self._set_log_level, admin=True)

    # -- registration ---------------------------------------------------------------------------------

    def register(self, name: str, fn: Handler, *, admin: bool = False) -> None:
        """Expose ``fn`` as ``name``; admin methods are skipped unless admin is enabled."""
        if admin and not self.enable_admin:
            return
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"RPC method {name} must be an async function")
        required, maximum = _arity(fn)
        self._methods[name] = _Method(fn, required, maximum)

    def methods(self) -> tuple[str, ...]:
        return tuple(sorted(self._methods))

    async def _health_status(self) -> str:
        return self.version

    async def _rpc_modules(self) -> dict[str, str]:
        """geth's rpc_modules: every registered namespace (``rpc`` included) at version ``1.0``."""
        return {name.split("_", 1)[0]: RPC_MODULE_VERSION for name in sorted(self._methods)}

    async def _set_log_level(self, level: str) -> None:
        golog.set_level(golog.level_from_string(level))

    # -- JSON-RPC -------------------------------------------------------------------------------------

    async def handle_message(self, msg: Any) -> dict[str, Any] | None:
        """One request object -> response object (None for a notification)."""
        if not isinstance(msg, dict):
            return _error(None, JsonRpcError(INVALID_REQUEST, "invalid request"))
        has_id = "id" in msg  # JSON-RPC 2.0: only a missing id makes a notification
        id_ = msg.get("id")
        method = msg.get("method")
        valid_id = not isinstance(id_, dict | list)
        if msg.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method or not valid_id:
            return _error(id_ if valid_id else None, JsonRpcError(INVALID_REQUEST, "invalid request"))
        started = time.perf_counter()
        try:
            result = await self._call(method, msg.get("params"))
            response: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "result": result}
        except JsonRpcError as err:
            response = _error(id_, err)
        except Exception as exc:  # handler failure -> Go's err.Error() with code -32000
            logger.debug("RPC method failed", extra={"go_fields": (("method", method), ("err", exc))})
            response = _error(id_, JsonRpcError(SERVER_ERROR, str(exc) or type(exc).__name__))
        finally:
            if self.metrics is not None and method in self._methods:  # no label per junk method name
                self.metrics.record(method, time.perf_counter() - started)
        return response if has_id else None

    async def _call(self, method: str, params: Any) -> Any:
        entry = self._methods.get(method)
        if entry is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        if params is None:
            args: list[Any] = []
        elif isinstance(params, list):
            args = params
        else:
            raise JsonRpcError(INVALID_PARAMS, "non-array args")
        if entry.maximum is not None and len(args) > entry.maximum:
            raise JsonRpcError(INVALID_PARAMS, f"too many arguments, want at most {entry.maximum}")
        if len(args) < entry.required:
            raise JsonRpcError(INVALID_PARAMS, f"missing value for required argument {len(args)}")
        return await entry.fn(*args)

    async def handle_body(self, body: bytes) -> Any:
        """A raw POST body -> the JSON reply (object, list, or None when nothing is to be sent)."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(None, JsonRpcError(PARSE_ERROR, "parse error"))
        if isinstance(payload, list):
            if not payload:
                return _error(None, JsonRpcError(INVALID_REQUEST, "empty batch"))
            if len(payload) > BATCH_REQUEST_LIMIT:
                return _error(None, JsonRpcError(INVALID_REQUEST, "batch too large"))
            replies = [await self.handle_message(m) for m in payload]
            return [r for r in replies if r is not None] or None
        return await self.handle_message(payload)

    # -- HTTP -----------------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ("/healthz", "/healthz/"):
            body = json.dumps({"version": self.version}, separators=(",", ":"), ensure_ascii=False) + "\n"
            return web.Response(body=body, content_type="application/json", headers=_cors(request))
        if path != "/":
            return web.Response(status=404, text="404 page not found\n")
        if request.method == "OPTIONS":
            headers = _cors(request) | {
                "Access-Control-Allow-Methods": "POST, GET",
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
            }
            return web.Response(status=200, headers=headers)
        if request.method == "GET" and not request.can_read_body and not request.query_string:
            return web.Response(status=200)
        if request.method != "POST":
            return web.Response(status=405, text="method not allowed\n")
        if (request.content_length or 0) > MAX_REQUEST_CONTENT_LENGTH:
            limit = MAX_REQUEST_CONTENT_LENGTH
            return web.Response(
                status=413, text=f"content length too large ({request.content_length}>{limit})\n"
            )
        if request.content_type not in ACCEPTED_CONTENT_TYPES:
            return web.Response(status=415, text="invalid content type, only application/json is supported\n")
        reply = await self.handle_body(await request.read())
        if reply is None:
            return web.Response(status=200, headers=_cors(request))
        return web.Response(
            body=json.dumps(reply, separators=(",", ":")) + "\n",
            content_type="application/json",
            headers=_cors(request),
        )

    async def start(self) -> None:
        """Bind and serve; with port 0 the chosen port is available as :attr:`port`."""
        app = web.Application(client_max_size=MAX_REQUEST_CONTENT_LENGTH + 1024)
        app.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self._port).start()
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self._port = int(address[1])
                break
        logger.debug("Started JSON-RPC server", extra={"go_fields": (("endpoint", self.endpoint),)})

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self._port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _cors(request: web.Request) -> dict[str, str]:
    """CORS ``*`` (Go wraps the handler with allowed origins ``*``)."""
    return {"Access-Control-Allow-Origin": "*", "Vary": "Origin"} if "Origin" in request.headers else {}
