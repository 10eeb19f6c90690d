"""The JSON-RPC server over real HTTP on 127.0.0.1 (port 0): healthz, admin gating, errors, batches, CORS."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from common.service.log import DEBUG, INFO, current_level, set_level
from common.service.metrics import Factory, RpcServerMetrics, new_registry
from common.service.rpc_server import JsonRpcError, RpcConfig, RpcServer

VERSION = "v1.2.3-test"


async def _echo(a: str, b: int = 2) -> list[object]:
    return [a, b]


async def _boom() -> None:
    raise ValueError("batcher is not running")


async def _custom() -> None:
    raise JsonRpcError(-32001, "custom failure", {"why": "test"})


async def _start(enable_admin: bool = False, metrics: RpcServerMetrics | None = None) -> RpcServer:
    server = RpcServer("127.0.0.1", 0, VERSION, enable_admin=enable_admin, metrics=metrics)
    server.register("test_echo", _echo)
    server.register("test_boom", _boom)
    server.register("test_custom", _custom)
    server.register("admin_secret", _echo, admin=True)
    await server.start()
    return server


async def _post(server: RpcServer, payload: object, **kwargs) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.endpoint + "/", json=payload, **kwargs) as r,
    ):
        text = await r.text()
        return r.status, (await r.json(content_type=None)) if text.strip() else None


async def _call(server: RpcServer, method: str, params: object = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    status, reply = await _post(server, body)
    assert status == 200
    assert isinstance(reply, dict)
    return reply


@pytest.fixture(autouse=True)
def _restore_level():
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


async def test_healthz_returns_the_version():
    """GET /healthz and /healthz/ answer Go's bytes ``{"version":"..."}`` + newline; port 0 is reported."""
    server = await _start()
    try:
        assert server.port > 0
        async with aiohttp.ClientSession() as session:
            for path in ("/healthz", "/healthz/"):
                async with session.get(server.endpoint + path) as r:
                    assert r.status == 200 and r.content_type == "application/json"
                    assert await r.read() == b'{"version":"' + VERSION.encode() + b'"}\n'
            async with session.post(server.endpoint + "/other", json={}) as r:
                assert r.status == 404
    finally:
        await server.stop()


async def test_rpc_modules_lists_every_namespace_like_geth():
    """rpc_modules answers each registered namespace (``rpc`` included) at 1.0; admin only when enabled."""
    for admin, expected in ((False, {"health", "rpc", "test"}), (True, {"admin", "health", "rpc", "test"})):
        server = await _start(enable_admin=admin)
        try:
            reply = await _call(server, "rpc_modules")
            assert reply["result"] == dict.fromkeys(sorted(expected), "1.0")
        finally:
            await server.stop()


async def test_health_status_and_positional_params():
    """health_status returns the version; handlers get JSON params positionally with defaults."""
    server = await _start()
    try:
        assert (await _call(server, "health_status"))["result"] == VERSION
        assert (await _call(server, "test_echo", ["x"]))["result"] == ["x", 2]
        reply = await _call(server, "test_echo", ["x", 5])
        assert reply == {"jsonrpc": "2.0", "id": 1, "result": ["x", 5]}
    finally:
        await server.stop()


async def test_admin_methods_only_exist_when_enabled():
    """Without --rpc.enable-admin, admin_* (and admin_setLogLevel) are `method not found`."""
    server = await _start(enable_admin=False)
    try:
        reply = await _call(server, "admin_setLogLevel", ["debug"])
        assert reply["error"] == {
            "code": -32601,
            "message": "the method admin_setLogLevel does not exist/is not available",
        }
        assert (await _call(server, "admin_secret", ["x"]))["error"]["code"] == -32601
        assert "admin_secret" not in server.methods()
    finally:
        await server.stop()


async def test_admin_set_log_level_changes_the_level():
    """With admin enabled, admin_setLogLevel switches the level; a bad level is a -32000 Go-text error."""
    server = await _start(enable_admin=True)
    try:
        set_level(INFO)
        assert (await _call(server, "admin_setLogLevel", ["DEBUG"]))["result"] is None
        assert current_level() == DEBUG
        reply = await _call(server, "admin_setLogLevel", ["loud"])
        assert reply["error"] == {"code": -32000, "message": "unknown level: loud"}
        assert (await _call(server, "admin_secret", ["y"]))["result"] == ["y", 2]
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("test_boom", [], {"code": -32000, "message": "batcher is not running"}),
        ("test_custom", [], {"code": -32001, "message": "custom failure", "data": {"why": "test"}}),
        (
            "nope_method",
            [],
            {"code": -32601, "message": "the method nope_method does not exist/is not available"},
        ),
        ("test_echo", [], {"code": -32602, "message": "missing value for required argument 0"}),
        ("test_echo", ["a", 1, 2], {"code": -32602, "message": "too many arguments, want at most 2"}),
        ("test_echo", {"a": 1}, {"code": -32602, "message": "non-array args"}),
    ],
)
async def test_errors_are_json_rpc_errors_with_go_texts(method, params, error):
    """Handler failures, unknown methods and parameter mistakes come back as JSON-RPC errors."""
    server = await _start()
    try:
        reply = await _call(server, method, params)
        assert reply["error"] == error and reply["id"] == 1 and "result" not in reply
    finally:
        await server.stop()


async def test_batch_requests_keep_order_and_skip_notifications():
    """A batch returns one reply per call in order; notifications (no id) get no reply."""
    server = await _start()
    try:
        batch = [
            {"jsonrpc": "2.0", "id": "a", "method": "test_echo", "params": ["1"]},
            {"jsonrpc": "2.0", "method": "test_echo", "params": ["notify"]},
            {"jsonrpc": "2.0", "id": 7, "method": "test_boom"},
            {"jsonrpc": "1.0", "id": 8, "method": "test_echo"},
        ]
        status, reply = await _post(server, batch)
        assert status == 200
        assert reply == [
            {"jsonrpc": "2.0", "id": "a", "result": ["1", 2]},
            {"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": "batcher is not running"}},
            {"jsonrpc": "2.0", "id": 8, "error": {"code": -32600, "message": "invalid request"}},
        ]
        assert await _post(server, []) == (
            200,
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "empty batch"}},
        )
    finally:
        await server.stop()


async def test_http_level_errors():
    """Malformed JSON is a parse error; a wrong content type is 415; GET / with no body is a 200 probe."""
    server = await _start()
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": "application/json"}
            async with session.post(server.endpoint + "/", data=b"{not json", headers=headers) as r:
                assert await r.json() == {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32700, "message": "parse error"},
                }
            async with session.post(
                server.endpoint + "/", data=b"{}", headers={"Content-Type": "text/plain"}
            ) as r:
                assert r.status == 415
            async with session.get(server.endpoint + "/") as r:
                assert r.status == 200
    finally:
        await server.stop()


async def test_cors_allows_any_origin():
    """Requests carrying an Origin get `Access-Control-Allow-Origin: *`, preflight included."""
    server = await _start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {"jsonrpc": "2.0", "id": 1, "method": "health_status"}
            async with session.post(server.endpoint + "/", json=body, headers={"Origin": "http://ui"}) as r:
                assert r.headers["Access-Control-Allow-Origin"] == "*"
            async with session.options(server.endpoint + "/", headers={"Origin": "http://ui"}) as r:
                assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    finally:
        await server.stop()


async def test_requests_are_counted_in_rpc_server_metrics():
    """Each call increments rpc_server_requests_total{method} and observes the duration histogram."""
    factory = Factory("op_test_default", new_registry(process_collectors=False))
    server = await _start(metrics=RpcServerMetrics(factory))
    try:
        await _call(server, "health_status")
        await _call(server, "health_status")
        await _call(server, "test_boom")
        labels = {"method": "health_status"}
        assert factory.value("op_test_default_rpc_server_requests_total", labels) == 2
        assert factory.value("op_test_default_rpc_server_request_duration_seconds_count", labels) == 2
        assert factory.value("op_test_default_rpc_server_requests_total", {"method": "test_boom"}) == 1
    finally:
        await server.stop()


def test_rpc_port_check():
    """rpc.port outside 0..65535 is rejected with `invalid RPC port`."""
    RpcConfig(port=0).check()
    with pytest.raises(ValueError, match=r"^invalid RPC port$"):
        RpcConfig(port=65536).check()


def test_sync_handlers_are_refused():
    """Only async handlers can be registered (the server awaits every method)."""
    server = RpcServer("127.0.0.1", 0, VERSION)

    def sync_handler() -> None:
        return None

    with pytest.raises(TypeError, match="test_sync"):
        server.register("test_sync", sync_handler)  # type: ignore[arg-type]


async def test_unknown_methods_create_no_metric_series_and_null_ids_get_replies():
    """Junk method names must not grow the registry; ``"id": null`` is a request, not a notification."""
    from common.service.metrics import Factory, RpcServerMetrics, new_registry
    from common.service.rpc_server import RpcServer

    factory = Factory("op_test_default", new_registry(process_collectors=False))
    server = RpcServer("127.0.0.1", 0, "v1", metrics=RpcServerMetrics(factory))
    for i in range(3):
        reply = await server.handle_message({"jsonrpc": "2.0", "id": i, "method": f"junk_{i}"})
        assert reply is not None and reply["error"]["code"] == -32601
    ok = await server.handle_message({"jsonrpc": "2.0", "id": None, "method": "health_status"})
    assert ok == {"jsonrpc": "2.0", "id": None, "result": "v1"}
    methods = {s.labels.get("method") for m in factory.registry.collect() for s in m.samples}
    assert methods == {"health_status"}
