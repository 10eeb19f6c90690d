"""RpcClient transport behaviour: HTTP and WebSocket, timeouts, dropped connections, HTTP errors, JSON-RPC
errors, retries, batches, metrics labels and URL redaction.

The failure modes (slow answers, dropped sockets, 503s) cannot be produced on demand by anvil, so these tests
serve JSON-RPC from a small aiohttp server started here (``JsonRpcServer``, reused by the other rpc tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from common.rpc.client import RpcClient, parse_retry_after, within
from common.rpc.errors import (
    RpcClosedError,
    RpcConnectionError,
    RpcDecodeError,
    RpcError,
    RpcHttpError,
    RpcResponseError,
    RpcResponseTooLargeError,
    RpcTimeoutError,
    redact_url,
)


class Fault(Exception):
    """Raised by a test handler to answer with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class HttpStatus(Exception):
    """Raised by a test handler to answer with a bare HTTP status."""

    def __init__(
        self, status: int, body: str = "", json_body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status, self.body, self.json_body = status, body, json_body
        self.headers = headers or {}


class Drop(Exception):
    """Raised by a test handler to close the connection without answering."""


Handler = Callable[[str, Any], Awaitable[Any]]


class JsonRpcServer:
    """JSON-RPC over HTTP POST on ``/`` and WebSocket on ``/ws``, answering through ``handler``."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.calls: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.batch_sizes: list[int] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> JsonRpcServer:
        app = web.Application()
        app.router.add_post("/", self._http)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, shutdown_timeout=0.05)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, item: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(item["method"])
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": item.get("id")}
        try:
            reply["result"] = await self.handler(item["method"], item.get("params"))
        except Fault as fault:
            reply["error"] = {"code": fault.code, "message": fault.message}
            if fault.data is not None:
                reply["error"]["data"] = fault.data
        return reply

    async def _http(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        body = await request.json()
        try:
            if isinstance(body, list):
                self.batch_sizes.append(len(body))
                replies = [await self._answer(item) for item in body]
                return web.json_response(list(reversed(replies)))  # order must not matter: ids do
            return web.json_response(await self._answer(body))
        except HttpStatus as http:
            if http.json_body is not None:
                return web.json_response(http.json_body, status=http.status, headers=http.headers)
            return web.Response(status=http.status, text=http.body, headers=http.headers)
        except Drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            body = json.loads(msg.data)
            try:
                if isinstance(body, list):
                    replies = [await self._answer(item) for item in body]
                    await ws.send_str(json.dumps(list(reversed(replies))))
                else:
                    await ws.send_str(json.dumps(await self._answer(body)))
            except Drop:
                await ws.close()
                break
        return ws


class Script:
    """A handler whose behaviour per method is set by the test; counts calls per method."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.fail_first: dict[str, tuple[int, Exception]] = {}

    async def __call__(self, method: str, params: Any) -> Any:
        count = self.counts.get(method, 0) + 1
        self.counts[method] = count
        if method in self.fail_first:
            times, exc = self.fail_first[method]
            if count <= times:
                raise exc
        if method == "echo":
            return params
        if method == "slow":
            await asyncio.sleep(params[0])
            return "late"
        if method == "slow_once":
            if count == 1:
                await asyncio.sleep(1.0)
            return "fast"
        if method == "fail":
            raise Fault(-32000, "boom", "0xdead")
        if method == "null":
            return None
        return f"ok:{method}"


class Recorder:
    """Collects metric records (the RpcMetrics protocol)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, str]] = []

        self.retries: list[tuple[str, str]] = []

    def record(self, method: str, seconds: float, error_label: str) -> None:
        self.records.append((method, seconds, error_label))

    def record_retry(self, method: str, error_label: str) -> None:
        self.retries.append((method, error_label))


@pytest_asyncio.fixture(loop_scope="function")
async def served() -> AsyncIterator[tuple[JsonRpcServer, Script]]:
    script = Script()
    server = await JsonRpcServer(script).start()
    yield server, script
    await server.stop()


def client_for(url: str, **kw: Any) -> RpcClient:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("backoff", 0.01)
    return RpcClient(url, **kw)


@pytest.mark.parametrize("kind", ["http", "ws"])
async def test_call_returns_the_raw_json_result_over_http_and_websocket(served, kind):
    """A successful call returns the JSON result as sent, over either transport."""
    server, _ = served
    async with client_for(server.url if kind == "http" else server.ws_url) as client:
        assert await client.call("echo", [1, "two", {"three": 3}]) == [1, "two", {"three": 3}]
        assert await client.call("null") is None


@pytest.mark.parametrize("kind", ["http", "ws"])
async def test_json_rpc_errors_keep_code_message_and_data_and_are_not_retried(served, kind):
    """An error object becomes RpcResponseError with the server's code, message and data; no retry."""
    server, script = served
    async with client_for(server.url if kind == "http" else server.ws_url, retries=3) as client:
        with pytest.raises(RpcResponseError) as info:
            await client.call("fail")
    err = info.value
    assert (err.code, err.message, err.data) == (-32000, "boom", "0xdead")
    assert err.method == "fail" and str(server.port) in err.endpoint
    assert "fail at " in str(err) and "boom" in str(err)
    assert script.counts["fail"] == 1


async def test_a_slow_answer_raises_a_timeout_naming_the_limit(served):
    """A call slower than its timeout fails with RpcTimeoutError after roughly the timeout."""
    server, _ = served
    async with client_for(server.url, retries=0) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RpcTimeoutError) as info:
            await client.call("slow", [1.0], timeout=0.1)
        assert loop.time() - started < 0.8
    assert info.value.timeout == 0.1 and "0.1s" in str(info.value)


async def test_timeouts_are_retried_and_a_later_attempt_can_succeed(served):
    """Timeouts are transient: the retry loop tries again and returns the later answer."""
    server, script = served
    async with client_for(server.url, retries=2) as client:
        assert await client.call("slow_once", timeout=0.1) == "fast"
    assert script.counts["slow_once"] == 2


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_http_statuses_are_retried_with_backoff(served, status):
    """429/502/503/504 are retried; the call succeeds once the server recovers."""
    server, script = served
    script.fail_first["echo"] = (2, HttpStatus(status, "busy"))
    async with client_for(server.url, retries=2) as client:
        assert await client.call("echo", [7]) == [7]
    assert script.counts["echo"] == 3


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_holds_back_every_parallel_call_and_is_counted(served, status, caplog):
    """A rate limit with ``Retry-After: 1`` on 8 parallel calls: each is retried once, none before the
    second is up (they used to retry every 0.25 s, ignoring it); each retry is a metric and a log line."""
    server, script = served
    script.fail_first["echo"] = (8, HttpStatus(status, "slow down", headers={"Retry-After": "1"}))
    recorder = Recorder()
    async with client_for(server.url, retries=3, metrics=recorder) as client:
        started = time.monotonic()
        results = await asyncio.gather(*(client.call("echo", [i]) for i in range(8)))
        elapsed = time.monotonic() - started
    assert results == [[i] for i in range(8)]
    assert elapsed >= 1.0 and script.counts["echo"] == 16
    assert recorder.retries == [("echo", f"http_{status}")] * 8
    retries = [r for r in caplog.records if r.getMessage() == "Retrying RPC after transient error"]
    assert len(retries) == 8 and all(("endpoint", server.url) in r.go_fields for r in retries)


def test_retry_after_parses_seconds_and_http_dates_and_ignores_junk():
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date; anything else means no hint."""
    soon = email.utils.format_datetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=20))
    assert parse_retry_after("7") == 7.0
    assert 15 < (parse_retry_after(soon) or 0) <= 20
    assert [parse_retry_after(v) for v in (None, "", "-1", "soon", "1.5")] == [None] * 5


async def test_a_bounded_call_that_runs_out_names_endpoint_method_and_timeout(served):
    """``within`` turns a bare TimeoutError (logged as ``err=""``) into one naming what timed out."""
    server, _ = served
    async with client_for(server.url, retries=0) as client:
        with pytest.raises(RpcTimeoutError) as info:
            await within(client.call("slow", [5], timeout=5), 0.2, client, "slow")
    assert str(info.value) == f"slow at {server.url}: no response within 0.2s"


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_refused_without_buffering_it(sized):
    """An 8 MiB answer to a 1 MiB-capped client: an error naming endpoint and method, and the client
    never holds much more than the cap (it used to read any body whole: 50 MB bodies took GBs)."""
    cap, size, chunk = 1 << 20, 8 << 20, b" " * 65536

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if sized:
            resp.content_length = size
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(size // len(chunk)):
                await resp.write(chunk)
        return resp

    app = web.Application()
    app.router.add_post("/", huge)
    runner = web.AppRunner(app, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    tracemalloc.start()
    try:
        async with client_for(url, retries=0, max_response_bytes=cap) as client:
            with pytest.raises(RpcResponseTooLargeError) as info:
                await client.call("eth_getBlockByNumber", ["latest", True])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await runner.cleanup()
    assert str(info.value).startswith(f"eth_getBlockByNumber at {url}: response larger than {cap} bytes")
    assert not info.value.transient and peak < 3 * cap, peak


async def test_retries_stop_after_the_configured_count(served):
    """After ``retries`` extra attempts the last transient error is raised, naming the HTTP status."""
    server, script = served
    script.fail_first["echo"] = (99, HttpStatus(503, "overloaded"))
    async with client_for(server.url, retries=2) as client:
        with pytest.raises(RpcHttpError) as info:
            await client.call("echo", [1])
    assert info.value.status == 503 and info.value.transient and "overloaded" in str(info.value)
    assert script.counts["echo"] == 3


async def test_other_http_errors_are_not_retried(served):
    """A 500 without a JSON-RPC body is an RpcHttpError that is not retried."""
    server, script = served
    script.fail_first["echo"] = (99, HttpStatus(500, "internal"))
    async with client_for(server.url, retries=3) as client:
        with pytest.raises(RpcHttpError) as info:
            await client.call("echo", [1])
    assert info.value.status == 500 and not info.value.transient
    assert script.counts["echo"] == 1


async def test_json_rpc_error_bodies_with_a_4xx_status_are_response_errors(served):
    """Providers that send JSON-RPC errors with HTTP 400 still yield RpcResponseError with the code."""
    server, script = served
    body = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "invalid params"}}
    script.fail_first["echo"] = (99, HttpStatus(400, json_body=body))
    async with client_for(server.url) as client:
        with pytest.raises(RpcResponseError) as info:
            await client.call("echo", [1])
    assert info.value.code == -32602 and script.counts["echo"] == 1


async def test_send_raw_transaction_is_never_retried_unless_asked(served):
    """eth_sendRawTransaction is sent once by default, and retried only with retry=True."""
    server, script = served
    script.fail_first["eth_sendRawTransaction"] = (1, HttpStatus(503))
    async with client_for(server.url, retries=3) as client:
        with pytest.raises(RpcHttpError):
            await client.call("eth_sendRawTransaction", ["0x00"])
        assert script.counts["eth_sendRawTransaction"] == 1
        assert (
            await client.call("eth_sendRawTransaction", ["0x00"], retry=True) == "ok:eth_sendRawTransaction"
        )


async def test_a_dropped_connection_is_a_transient_connection_error(served):
    """A server closing the socket without answering gives RpcConnectionError (after retries)."""
    server, script = served
    script.fail_first["echo"] = (99, Drop())
    async with client_for(server.url, retries=1) as client:
        with pytest.raises(RpcConnectionError) as info:
            await client.call("echo", [1])
    assert info.value.transient and script.counts["echo"] == 2


async def test_connection_refused_names_the_endpoint_without_secrets():
    """Refused connections raise RpcConnectionError whose text has no userinfo or query secrets."""
    async with client_for("http://alice:hunter2@127.0.0.1:1/rpc?apikey=s3cr3t", retries=1) as client:
        with pytest.raises(RpcConnectionError) as info:
            await client.call("eth_chainId")
    text = str(info.value)
    assert "hunter2" not in text and "s3cr3t" not in text and "alice" not in text
    assert "127.0.0.1:1/rpc" in text and "eth_chainId" in text


async def test_websocket_drop_fails_the_pending_call_and_the_next_call_reconnects(served):
    """A dropped WebSocket fails in-flight calls with RpcConnectionError; later calls dial again."""
    server, script = served
    script.fail_first["echo"] = (1, Drop())
    async with client_for(server.ws_url, retries=0) as client:
        with pytest.raises(RpcConnectionError):
            await client.call("echo", [1])
        assert await client.call("echo", [2]) == [2]


async def test_invalid_json_and_missing_result_are_decode_errors(served):
    """Garbage bodies and replies without result/error raise RpcDecodeError, not a crash."""
    server, script = served
    script.fail_first["echo"] = (1, HttpStatus(200, "this is not json"))
    async with client_for(server.url) as client:
        with pytest.raises(RpcDecodeError) as info:
            await client.call("echo", [1])
        assert "this is not json" in str(info.value)
        script.fail_first["other"] = (1, HttpStatus(200, json_body={"jsonrpc": "2.0", "id": 2}))
        with pytest.raises(RpcDecodeError, match="neither result nor error"):
            await client.call("other")


@pytest.mark.parametrize("kind", ["http", "ws"])
async def test_batches_return_results_in_request_order(served, kind):
    """A batch is one request; results come back in call order even if the server reorders them."""
    server, _ = served
    calls = [("echo", [i]) for i in range(5)]
    async with client_for(server.url if kind == "http" else server.ws_url) as client:
        assert await client.batch(calls) == [[i] for i in range(5)]
    if kind == "http":
        assert server.batch_sizes == [5]


async def test_batch_errors_name_the_failing_element(served):
    """``batch`` raises the failing element's error; ``batch_results`` returns it in place."""
    server, _ = served
    async with client_for(server.url) as client:
        results = await client.batch_results([("echo", [1]), ("fail", None), ("null", None)])
        assert results[0] == [1] and results[2] is None
        assert isinstance(results[1], RpcResponseError) and results[1].code == -32000
        with pytest.raises(RpcResponseError) as info:
            await client.batch([("echo", [1]), ("fail", None)])
    assert "fail (batch element 1)" in str(info.value)


async def test_headers_are_sent_with_every_request(served):
    """Custom headers (e.g. auth for a provider) reach the server."""
    server, _ = served
    async with client_for(server.url, headers={"X-Api-Key": "k1"}) as client:
        await client.call("echo", [])
    assert server.headers[-1]["X-Api-Key"] == "k1"


async def test_metrics_receive_the_go_error_labels(served):
    """Each attempt is recorded with <nil>, rpc_<code>, http_<status> or <unknown>."""
    server, script = served
    recorder = Recorder()
    script.fail_first["flaky"] = (1, HttpStatus(503))
    async with client_for(server.url, metrics=recorder, retries=1) as client:
        await client.call("echo", [])
        with pytest.raises(RpcResponseError):
            await client.call("fail")
        await client.call("flaky")
        with pytest.raises(RpcTimeoutError):
            await client.call("slow", [1.0], timeout=0.05, retry=False)
    labels = [(method, label) for method, _, label in recorder.records]
    assert labels == [
        ("echo", "<nil>"),
        ("fail", "rpc_-32000"),
        ("flaky", "http_503"),
        ("flaky", "<nil>"),
        ("slow", "<unknown>"),
    ]
    assert all(seconds >= 0 for _, seconds, _ in recorder.records)


async def test_batches_are_recorded_as_batch_and_per_element(served):
    """A batch counts once under <batch> and once per element with the element's own outcome (as Go)."""
    server, _ = served
    recorder = Recorder()
    async with client_for(server.url, metrics=recorder) as client:
        await client.batch_results([("echo", [1]), ("fail", None)])
    labels = [(method, label) for method, _, label in recorder.records]
    assert labels == [("<batch>", "<nil>"), ("echo", "<nil>"), ("fail", "rpc_-32000")]


async def test_a_closed_client_refuses_calls(served):
    """After close() calls fail with RpcClosedError instead of opening a new session."""
    server, _ = served
    client = client_for(server.url)
    await client.call("echo", [])
    await client.close()
    with pytest.raises(RpcClosedError):
        await client.call("echo", [])


def test_unsupported_schemes_are_rejected_with_the_redacted_url():
    """A non-HTTP/WS URL fails at construction, naming the scheme but not the password."""
    with pytest.raises(ValueError, match="unsupported RPC URL scheme 'ftp'") as info:
        RpcClient("ftp://bob:pw@example.com/x")
    assert "pw" not in str(info.value).replace("ftp://", "")


@settings(max_examples=50, deadline=None)
@given(
    user=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12),
    secret=st.text(st.characters(categories=["L", "N"]), min_size=6, max_size=24),
)
def test_redact_url_never_shows_userinfo_or_query_values(user, secret):
    """Whatever the credentials, the redacted URL keeps host, port and path but no secret."""
    shown = redact_url(f"https://{user}:{secret}@node.example:8545/v1?key={secret}&other={secret}")
    assert shown == "https://xxxxx@node.example:8545/v1?key=xxxxx&other=xxxxx"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://eth-mainnet.g.alchemy.com/v2/abcdefghijklmnopqrstuvwxyzAB",
            "https://eth-mainnet.g.alchemy.com/v2/xxxxx",
        ),
        ("https://host/v2/KEY", "https://host/v2/xxxxx"),
        ("https://host/v3/shortkey/", "https://host/v3/xxxxx/"),
        ("https://x.quiknode.pro/Abcdefghijklmnopqrstu/", "https://x.quiknode.pro/xxxxx/"),
        ("http://beacon:5052/eth/v1/beacon/blobs/1", "http://beacon:5052/eth/v1/beacon/blobs/1"),
    ],
)
def test_path_api_keys_are_redacted_whatever_their_letters(url, shown):
    """A key at the end of a versioned path, or any long token segment, is hidden (a letters-only
    Alchemy-style key used to be shown in full); beacon API paths stay readable."""
    assert redact_url(url) == shown


async def test_retry_and_error_lines_never_show_a_path_key(caplog):
    """The retry WARN line and the final error of a refused connection name the endpoint without its key."""
    key = "abcdefghijklmnopqrstuvwxyzAB"
    async with client_for(f"http://127.0.0.1:9/v2/{key}", retries=1) as client:
        with pytest.raises(RpcConnectionError) as info:
            await client.call("eth_chainId")
    lines = [str(r.go_fields) for r in caplog.records] + [str(info.value)]
    assert any("127.0.0.1:9/v2/xxxxx" in line for line in lines) and not any(key in line for line in lines)


async def test_aiohttp_exceptions_do_not_escape_the_transport(served):
    """Whatever fails below, callers see only RpcError subclasses (never aiohttp types)."""
    server, script = served
    failures: list[BaseException] = []
    for exc in (Drop(), HttpStatus(502), HttpStatus(404, "nope")):
        script.fail_first["echo"] = (script.counts.get("echo", 0) + 1, exc)
        async with client_for(server.url, retries=0) as client:
            try:
                await client.call("echo", [])
            except Exception as err:  # the point is to see every type
                failures.append(err)
    assert len(failures) == 3
    assert all(isinstance(err, RpcError) and not isinstance(err, aiohttp.ClientError) for err in failures)


def test_api_keys_in_url_paths_are_redacted_but_ordinary_paths_are_kept():
    """Provider URLs like /v3/<key> must not print the key; short ordinary segments stay readable."""
    from common.rpc.errors import redact_url

    key = "9aa3d95b3bc440fa88ea12eaa4456161"
    shown = redact_url(f"https://mainnet.infura.io/v3/{key}")
    assert key not in shown and shown.startswith("https://mainnet.infura.io/v3/")
    assert redact_url("http://127.0.0.1:8545/rpc/v1") == "http://127.0.0.1:8545/rpc/v1"
