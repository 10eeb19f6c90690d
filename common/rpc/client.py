"""A JSON-RPC 2.0 client on aiohttp: HTTP(S) or WebSocket chosen by the URL scheme.

One ``aiohttp.ClientSession`` per client, created lazily inside the running loop. Each attempt of a call is
bounded by the call's timeout (default: the client's, i.e. ``--network-timeout``); transient failures
(connection refused/reset/dropped, timeouts, HTTP 429/502/503/504) are retried with exponential backoff.
A JSON-RPC error response is an answer, never retried; ``eth_sendRawTransaction`` is not retried unless the
caller passes ``retry=True``, because a resend after a lost reply may hit "already known"/"nonce too low"
and the transaction manager wants to see the first outcome.

Every aiohttp/asyncio failure is converted into ``common.rpc.errors`` here and nowhere else (what a reply
or a transport failure means is read by :mod:`common.rpc.reply`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import aiohttp

from common.rpc.errors import (
    LABEL_OK,
    RETRYABLE_HTTP_STATUSES,
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
from common.rpc.limits import DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES
from common.rpc.reply import describe_failure, is_jsonrpc_error, parse_retry_after, response_error
from common.service.log import get_logger

log = get_logger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds; the ``--network-timeout`` default."""
DEFAULT_RETRIES = 2
"""Extra attempts after a transient failure."""
DEFAULT_BACKOFF = 0.25
"""Seconds before the first retry; doubled for each further retry, capped at ``MAX_BACKOFF``."""
MAX_BACKOFF = 5.0
MAX_RETRY_AFTER = 30.0
"""Seconds: the longest ``Retry-After`` (429/503) honoured; a larger one is cut to this (bounded retries)."""
RESPONSE_CHUNK = 1 << 16
BATCH_METRIC_METHOD = "<batch>"
"""The ``method`` label of a whole batch request (op-service/metrics BatchMethod); elements get their own."""
NO_RETRY_METHODS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})

Params = Sequence[Any] | Mapping[str, Any] | None
T = TypeVar("T")


class RpcMetrics(Protocol):
    """Receives one record per request attempt (the Go ``rpc_client_*`` metrics; H6 implements it).

    ``error_label`` is ``"<nil>"``, ``"rpc_<code>"``, ``"http_<status>"`` or ``"<unknown>"``.
    """

    def record(self, method: str, seconds: float, error_label: str) -> None: ...

    def record_retry(self, method: str, error_label: str) -> None:
        """One retry scheduled after a transient failure labelled ``error_label``."""


def _request_body(request_id: int, method: str, params: Params) -> dict[str, Any]:
    body_params: Any = (
        [] if params is None else (dict(params) if isinstance(params, Mapping) else list(params))
    )
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": body_params}


class RpcClient:
    """JSON-RPC over HTTP(S) (``http://``, ``https://``) or WebSocket (``ws://``, ``wss://``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        metrics: RpcMetrics | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        self.endpoint = redact_url(url)
        """The URL with credentials and query values stripped: safe for logs and errors."""
        if scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(
                f"unsupported RPC URL scheme {scheme!r} in {self.endpoint} (expected http, https, ws or wss)"
            )
        if timeout <= 0:
            raise ValueError(f"RPC timeout for {self.endpoint} must be positive, got {timeout}")
        self._url = url
        self.max_response_bytes = max_response_bytes
        """Bodies (and WebSocket messages) larger than this are refused, never buffered whole."""
        self._websocket = scheme in ("ws", "wss")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._headers = dict(headers or {})
        self._ssl: ssl_module.SSLContext | bool = True if ssl is None else ssl
        self._metrics = metrics
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._ws_reader: asyncio.Task[None] | None = None
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._not_before = 0.0
        """``time.monotonic()`` before which no attempt is sent (the endpoint sent Retry-After)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the WebSocket and the session; later calls fail with ``RpcClosedError``."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._ws_reader is not None:
            self._ws_reader.cancel()
            self._ws_reader = None
        self._fail_pending(RpcClosedError("client closed", endpoint=self.endpoint, method="<pending>"))
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---------------------------------------------------------------------------------------- public calls

    async def call(
        self, method: str, params: Params = None, *, timeout: float | None = None, retry: bool | None = None
    ) -> Any:
        """Call ``method`` and return its raw JSON ``result`` (``None`` for a JSON ``null``).

        ``timeout`` bounds each attempt; ``retry`` forces (True) or forbids (False) retries of transient
        failures (default: retry, except for transaction submission).
        """
        may_retry = (method not in NO_RETRY_METHODS) if retry is None else retry
        return await self._with_retries(method, lambda: self._call_once(method, params, timeout), may_retry)

    async def call_typed(
        self, method: str, params: Params, parse: Callable[[Any], T], timeout: float | None = None
    ) -> T:
        """``call`` then ``parse`` the result once, at the edge; a shape error names endpoint and method."""
        result = await self.call(method, params, timeout=timeout)
        try:
            return parse(result)
        except ValueError as exc:
            raise RpcDecodeError(f"unexpected result: {exc}", endpoint=self.endpoint, method=method) from None

    async def batch(
        self, calls: Sequence[tuple[str, Params]], *, timeout: float | None = None, retry: bool | None = None
    ) -> list[Any]:
        """Send ``calls`` as one JSON-RPC batch and return the results in order.

        The first element that failed raises its ``RpcResponseError`` (``method`` names it and its index);
        use ``batch_results`` to get per-element errors instead.
        """
        results = await self.batch_results(calls, timeout=timeout, retry=retry)
        for result in results:
            if isinstance(result, RpcResponseError):
                raise result
        return results

    async def batch_results(
        self, calls: Sequence[tuple[str, Params]], *, timeout: float | None = None, retry: bool | None = None
    ) -> list[Any]:
        """Like ``batch`` but each failed element is returned as its ``RpcResponseError``."""
        if not calls:
            return []
        label = f"batch of {len(calls)} [{', '.join(sorted({method for method, _ in calls}))}]"
        may_retry = all(m not in NO_RETRY_METHODS for m, _ in calls) if retry is None else retry
        result: list[Any] = await self._with_retries(
            label, lambda: self._batch_once(calls, label, timeout), may_retry
        )
        return result

    # ------------------------------------------------------------------------------------------- retrying

    async def _with_retries(self, label: str, attempt: Callable[[], Awaitable[Any]], may_retry: bool) -> Any:
        """Run ``attempt`` until it succeeds, fails for good, or retries run out.

        Waits grow exponentially with jitter (parallel callers do not retry in lock-step); a 429/503
        ``Retry-After`` holds back every call to this endpoint, since they share the provider's quota.
        """
        retries_left = self.retries if may_retry else 0
        ceiling = self.backoff
        while True:
            hold = self._not_before - time.monotonic()
            if hold > 0:
                await asyncio.sleep(hold)
            try:
                return await attempt()
            except RpcError as err:
                if not err.transient or retries_left <= 0 or self._closed:
                    raise
                delay = random.uniform(ceiling / 2, ceiling)
                retry_after = getattr(err, "retry_after", None)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
                    self._not_before = max(self._not_before, time.monotonic() + delay)
                log.warn(
                    "Retrying RPC after transient error",
                    endpoint=self.endpoint,
                    method=label,
                    err=str(err),
                    delay=f"{delay:.3g}s",
                )
                if self._metrics is not None:
                    self._metrics.record_retry(label, err.metric_label)
                retries_left -= 1
                await asyncio.sleep(delay)
                ceiling = min(ceiling * 2, MAX_BACKOFF)

    async def _call_once(self, method: str, params: Params, timeout: float | None) -> Any:
        request_id = next(self._ids)
        body = _request_body(request_id, method, params)
        reply, _ = await self._exchange(body, method, method, timeout)
        if not isinstance(reply, dict):
            raise RpcDecodeError(
                f"expected a JSON-RPC response object, got {type(reply).__name__}",
                endpoint=self.endpoint,
                method=method,
            )
        return self._result_of(reply, method)

    async def _batch_once(
        self, calls: Sequence[tuple[str, Params]], label: str, timeout: float | None
    ) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [_request_body(i, m, p) for i, (m, p) in zip(ids, calls, strict=True)]
        reply, seconds = await self._exchange(body, label, BATCH_METRIC_METHOD, timeout)
        if isinstance(reply, dict):  # a whole-batch error (e.g. batch too large)
            self._result_of(reply, label)
        if not isinstance(reply, list):
            raise RpcDecodeError(
                f"expected a JSON array for a batch, got {type(reply).__name__}",
                endpoint=self.endpoint,
                method=label,
            )
        by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
        results: list[Any] = []
        for index, (request_id, (method, _)) in enumerate(zip(ids, calls, strict=True)):
            item = by_id.get(request_id)
            name = f"{method} (batch element {index})"
            if item is None:
                raise RpcDecodeError(
                    f"batch response has no answer for element {index} ({method})",
                    endpoint=self.endpoint,
                    method=label,
                )
            try:
                results.append(self._result_of(item, name))
                self._record(method, seconds, None)
            except RpcResponseError as err:
                results.append(err)
                self._record(method, seconds, err)
        return results

    def _result_of(self, reply: dict[str, Any], method: str) -> Any:
        """Return ``result`` or raise the JSON-RPC error object as ``RpcResponseError``."""
        error = reply.get("error")
        if error is not None:
            raise response_error(error, self.endpoint, method)
        if "result" not in reply:
            raise RpcDecodeError(
                "response has neither result nor error", endpoint=self.endpoint, method=method
            )
        return reply["result"]

    def _record(self, method: str, seconds: float, err: RpcError | None) -> None:
        if self._metrics is not None:
            self._metrics.record(method, seconds, LABEL_OK if err is None else err.metric_label)

    # ------------------------------------------------------------------------------------------ transport

    async def _exchange(
        self, body: Any, method: str, metric_method: str, timeout: float | None
    ) -> tuple[Any, float]:
        """Send one request (object or batch); return the decoded JSON reply and the seconds it took.

        Records one metric under ``metric_method`` (the method, or ``<batch>`` as Go labels batches).
        """
        if self._closed:
            raise RpcClosedError("client is closed", endpoint=self.endpoint, method=method)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                if self._websocket:
                    reply = await self._ws_exchange(body, method)
                else:
                    reply = await self._http_exchange(body, method)
        except TimeoutError:
            err: RpcError = RpcTimeoutError(limit, endpoint=self.endpoint, method=method)
            self._record(metric_method, time.monotonic() - started, err)
            raise err from None
        except RpcError as exc:
            self._record(metric_method, time.monotonic() - started, exc)
            raise
        seconds = time.monotonic() - started
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            self._record(metric_method, seconds, response_error(reply["error"], self.endpoint, method))
        else:
            self._record(metric_method, seconds, None)
        return reply, seconds

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

    async def _http_exchange(self, body: Any, method: str) -> Any:
        session = self._get_session()
        try:
            async with session.post(self._url, json=body) as resp:
                raw = await self._read_body(resp, method)
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientResponseError as exc:
            raise RpcHttpError(exc.status, exc.message, endpoint=self.endpoint, method=method) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RpcConnectionError(describe_failure(exc), endpoint=self.endpoint, method=method) from None
        reply: Any
        try:
            reply = json.loads(raw)  # from bytes: no second, decoded copy of a large body
        except ValueError:
            reply = None
        text = raw[:1000].decode("utf-8", errors="replace") if reply is None or status // 100 != 2 else ""
        del raw
        # Some providers send JSON-RPC errors with a 4xx/5xx status: keep them as answers, except for the
        # statuses that mean "try again later".
        if status // 100 == 2 or (is_jsonrpc_error(reply) and status not in RETRYABLE_HTTP_STATUSES):
            if reply is None:
                raise RpcDecodeError(
                    f"invalid JSON in response: {text.strip()[:200]!r}", endpoint=self.endpoint, method=method
                )
            return reply
        raise RpcHttpError(status, text, endpoint=self.endpoint, method=method, retry_after=retry_after)

    async def _read_body(self, resp: aiohttp.ClientResponse, method: str) -> bytearray:
        """The body, refused (RpcResponseTooLargeError) once it would pass ``max_response_bytes``."""
        cap = self.max_response_bytes
        if resp.content_length is not None and resp.content_length > cap:
            raise RpcResponseTooLargeError(cap, endpoint=self.endpoint, method=method)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(RESPONSE_CHUNK):
            body += chunk
            if len(body) > cap:
                raise RpcResponseTooLargeError(cap, endpoint=self.endpoint, method=method)
        return body

    async def _ws_connect(self, method: str) -> aiohttp.ClientWebSocketResponse:
        async with self._ws_lock:
            if self._ws is not None and not self._ws.closed:
                return self._ws
            session = self._get_session()
            try:
                ws = await session.ws_connect(self._url, max_msg_size=self.max_response_bytes, heartbeat=None)
            except aiohttp.WSServerHandshakeError as exc:
                raise RpcHttpError(exc.status, exc.message, endpoint=self.endpoint, method=method) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise RpcConnectionError(
                    describe_failure(exc), endpoint=self.endpoint, method=method
                ) from None
            self._ws = ws
            self._ws_reader = asyncio.get_running_loop().create_task(self._ws_read(ws))
            return ws

    async def _ws_exchange(self, body: Any, method: str) -> Any:
        ws = await self._ws_connect(method)
        items = body if isinstance(body, list) else [body]
        loop = asyncio.get_running_loop()
        futures = {item["id"]: loop.create_future() for item in items}
        self._pending.update(futures)
        try:
            try:
                await ws.send_str(json.dumps(body))
            except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                raise RpcConnectionError(
                    describe_failure(exc), endpoint=self.endpoint, method=method
                ) from None
            replies = [await fut for fut in futures.values()]
        except RpcError as exc:  # re-label errors raised by the reader for this call's method
            if exc.method == "<pending>":
                raise type(exc)(exc.detail, endpoint=self.endpoint, method=method) from None
            raise
        finally:
            for request_id in futures:
                self._pending.pop(request_id, None)
        return replies if isinstance(body, list) else replies[0]

    async def _ws_read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Dispatch replies to waiting calls by id; fail all pending calls when the socket drops."""
        reason = "websocket closed by the server"
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT or msg.type == aiohttp.WSMsgType.BINARY:
                    self._ws_dispatch(msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    reason = f"websocket error: {describe_failure(ws.exception())}"
                    break
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"websocket dropped: {describe_failure(exc)}"
        finally:
            if self._ws is ws:
                self._ws = None
            self._fail_pending(RpcConnectionError(reason, endpoint=self.endpoint, method="<pending>"))

    def _ws_dispatch(self, data: str | bytes) -> None:
        try:
            decoded = json.loads(data)
        except ValueError:
            log.warn("Ignoring invalid JSON from websocket", endpoint=self.endpoint)
            return
        for item in decoded if isinstance(decoded, list) else [decoded]:
            if not isinstance(item, dict):
                continue
            fut = self._pending.get(item.get("id"))
            if fut is not None and not fut.done():
                fut.set_result(item)

    def _fail_pending(self, err: RpcError) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()


async def within(aw: Awaitable[T], timeout: float, client: object, method: str) -> T:
    """Bound a whole call on ``client``, retries included; running out is an ``RpcTimeoutError`` naming
    the endpoint, the method and the limit (a bare ``TimeoutError`` logs as ``err=""``)."""
    try:
        async with asyncio.timeout(timeout):
            return await aw
    except TimeoutError:
        endpoint = str(getattr(client, "endpoint", type(client).__name__))
        raise RpcTimeoutError(timeout, endpoint=endpoint, method=method) from None
