"""Errors raised by the JSON-RPC clients, each naming the endpoint (secrets stripped) and the method.

    RpcError                      anything that went wrong talking to an endpoint
    ├── RpcTransportError         the request did not produce a JSON-RPC answer
    │   ├── RpcConnectionError    refused, reset, dropped, TLS failure        (transient)
    │   ├── RpcTimeoutError       no answer within the per-call timeout       (transient)
    │   ├── RpcHttpError          non-2xx HTTP status (429/502/503/504 transient)
    │   ├── RpcResponseTooLargeError  the body passed the response-size cap
    │   └── RpcClosedError        the client was closed
    ├── RpcDecodeError            the answer is not valid JSON-RPC, or a result has the wrong shape
    ├── RpcResponseError          the server answered with a JSON-RPC error object (code, message, data)
    │   └── ExecutionRevertedError  eth_call / eth_estimateGas reverted (reason and raw revert data)
    └── NoActiveSequencerError    none of several rollup nodes is the active sequencer (common.rpc.active)

aiohttp and asyncio exceptions are converted into this tree exactly once, in ``common.rpc.client``; nothing
above the transport sees an aiohttp type. ``transient`` tells the client's retry loop (and callers) whether
trying again could help; a JSON-RPC error response is never transient.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "xxxxx"

LABEL_OK = "<nil>"
LABEL_NOT_FOUND = "<not found>"
LABEL_UNKNOWN = "<unknown>"
"""Values of the ``error`` label of ``rpc_client_responses_total`` (op-service/metrics/rpc_metrics.go)."""

RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})
"""HTTP statuses worth retrying: rate limiting and gateway/proxy trouble in front of the node."""
RETRY_AFTER_STATUSES = frozenset({429, 503})
"""Statuses whose ``Retry-After`` header the client honours (RFC 9110 §10.2.3)."""


_SECRET_SEGMENT = re.compile(r"[A-Za-z0-9_-]{16,}")
"""A path segment that may be a provider API key: 16 or more token characters (``/<key>/``)."""
_VERSION_SEGMENT = re.compile(r"v\d+")
"""``/v2/``, ``/v3/``: hosted providers end the path with the API key right after it, whatever its length."""


def _redact_path(path: str) -> str:
    segments = path.split("/")
    last = max((i for i, seg in enumerate(segments) if seg), default=-1)
    shown = []
    for i, seg in enumerate(segments):
        key_slot = i == last and i > 0 and _VERSION_SEGMENT.fullmatch(segments[i - 1]) is not None
        secret = key_slot or _SECRET_SEGMENT.fullmatch(seg) is not None
        shown.append(REDACTED if secret else seg)
    return "/".join(shown)


def redact_url(url: str) -> str:
    """Strip userinfo, query-string values and API-key path segments before a URL is shown."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    if parts.username is not None or parts.password is not None:
        netloc = f"{REDACTED}@{netloc}"
    query = parts.query
    if query:
        query = urlencode([(key, REDACTED) for key, _ in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, _redact_path(parts.path), query, ""))


class RpcError(Exception):
    """Base of every client error; ``endpoint`` is already redacted."""

    transient = False

    def __init__(self, detail: str, *, endpoint: str, method: str) -> None:
        self.detail = detail
        self.endpoint = endpoint
        self.method = method
        super().__init__(f"{method} at {endpoint}: {detail}")

    @property
    def metric_label(self) -> str:
        """The ``error`` label value for ``rpc_client_responses_total``."""
        return LABEL_UNKNOWN


class RpcTransportError(RpcError):
    """The request did not produce a JSON-RPC answer."""


class RpcConnectionError(RpcTransportError):
    """Connection refused, reset or dropped, or the TLS handshake failed."""

    transient = True


class RpcTimeoutError(RpcTransportError):
    """No answer within the timeout."""

    transient = True

    def __init__(self, timeout: float, *, endpoint: str, method: str) -> None:
        self.timeout = timeout
        super().__init__(f"no response within {timeout:g}s", endpoint=endpoint, method=method)


class RpcHttpError(RpcTransportError):
    """A non-2xx HTTP status without a JSON-RPC error body."""

    def __init__(
        self, status: int, body: str, *, endpoint: str, method: str, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after if status in RETRY_AFTER_STATUSES else None
        """Seconds the server asked us to wait (``Retry-After`` on 429/503), else None."""
        snippet = body.strip()[:200]
        super().__init__(
            f"HTTP {status}" + (f": {snippet}" if snippet else ""), endpoint=endpoint, method=method
        )

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return self.status in RETRYABLE_HTTP_STATUSES

    @property
    def metric_label(self) -> str:
        return f"http_{self.status}"


class RpcResponseTooLargeError(RpcTransportError):
    """The response body passed the client's cap (``--max-rpc-response-bytes``); reading stopped there."""

    def __init__(self, cap: int, *, endpoint: str, method: str) -> None:
        self.cap = cap
        super().__init__(
            f"response larger than {cap} bytes (raise --max-rpc-response-bytes if this is legitimate)",
            endpoint=endpoint,
            method=method,
        )


class RpcClosedError(RpcTransportError):
    """The client was closed before or during the call."""


class RpcDecodeError(RpcError):
    """The answer is not valid JSON-RPC, or a result does not have the expected shape."""


class RpcResponseError(RpcError):
    """The server answered with a JSON-RPC error object; ``code``, ``message``, ``data`` are kept as sent."""

    def __init__(self, code: int, message: str, data: Any = None, *, endpoint: str, method: str) -> None:
        self.code = code
        self.message = message
        self.data = data
        detail = f"{message} (code {code})"
        if data is not None:
            detail += f", data {str(data)[:300]}"
        super().__init__(detail, endpoint=endpoint, method=method)

    @property
    def metric_label(self) -> str:
        return f"rpc_{self.code}"


class ExecutionRevertedError(RpcResponseError):
    """An ``eth_call``/``eth_estimateGas`` reverted; ``reason`` is the decoded ``Error(string)``, if any.

    ``revert_data`` keeps the raw return data so callers can match custom errors by selector.
    """

    def __init__(
        self,
        code: int,
        message: str,
        data: Any,
        *,
        revert_data: bytes,
        reason: str | None,
        endpoint: str,
        method: str,
    ) -> None:
        self.revert_data = revert_data
        self.reason = reason
        super().__init__(code, message, data, endpoint=endpoint, method=method)


class NoActiveSequencerError(RpcError):
    """None of the configured rollup nodes answered ``admin_sequencerActive`` with ``true``.

    ``urls`` are redacted; ``errors`` are the failures met on the way (a ``false`` answer adds none).
    """

    def __init__(self, urls: list[str], errors: list[str]) -> None:
        self.urls = urls
        self.errors = errors
        self.detail = f"failed to find an active sequencer, tried following urls: [{' '.join(urls)}]"
        if errors:
            self.detail += "; errs: " + "; ".join(errors)
        self.endpoint = ",".join(urls)
        self.method = "admin_sequencerActive"
        Exception.__init__(self, self.detail)
