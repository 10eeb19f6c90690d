"""What a JSON-RPC reply or a failed exchange means, for the client (:mod:`common.rpc.client`).

Pure interpretation, no I/O: an error object becomes an :class:`~common.rpc.errors.RpcResponseError`
(tolerating odd shapes), a transport exception a short description without the URL (which may hold
secrets), and a ``Retry-After`` header a delay in seconds.
"""

from __future__ import annotations

import email.utils
import ssl as ssl_module
import time
from typing import Any

import aiohttp

from common.rpc.errors import RpcResponseError


def is_jsonrpc_error(reply: Any) -> bool:
    return isinstance(reply, dict) and isinstance(reply.get("error"), dict)


def response_error(error: Any, endpoint: str, method: str) -> RpcResponseError:
    """Build ``RpcResponseError`` from a JSON-RPC error object, tolerating odd shapes."""
    if not isinstance(error, dict):
        return RpcResponseError(0, str(error), None, endpoint=endpoint, method=method)
    code = error.get("code", 0)
    return RpcResponseError(
        code if isinstance(code, int) and not isinstance(code, bool) else 0,
        str(error.get("message", "")),
        error.get("data"),
        endpoint=endpoint,
        method=method,
    )


def describe_failure(exc: BaseException | None) -> str:
    """A short description of a transport exception without the URL (which may hold secrets)."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "response payload incomplete (connection dropped)"
    if isinstance(exc, ssl_module.SSLError):
        return f"TLS error: {exc.reason or exc}"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); junk -> None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
