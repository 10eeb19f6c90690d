"""A typed client for the beacon API's blob endpoint, where blobs live once the EL has pruned its sidecars.

    client = BeaconClient("http://beacon:5052", timeout=10)
    blobs = await client.blobs(block_number, block_time, versioned_hashes)  # ordered like the hashes
    await client.close()

``GET /eth/v1/beacon/blobs/{block_id}?versioned_hashes=...`` takes a slot (or ``head``/root) as the id. A
real beacon node indexes by slot; anvil serves the same endpoint on its RPC port keyed by the EL block
number. So the block number is tried first and, when it does not give the blobs, the slot of the block
is computed from ``/eth/v1/beacon/genesis`` and ``/eth/v1/config/spec`` (both cached) and asked for.

Errors name the endpoint with secrets stripped (:func:`common.rpc.errors.redact_url`) and the path::

    BeaconError                 anything that went wrong
    ├── BeaconUnreachableError  refused, reset, timed out, closed: no HTTP answer (``transient``)
    └── BeaconResponseError     an HTTP answer without the blobs: non-200 status, bad JSON, bad blob
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp

from common.derive.blob import BlobError, blob_from_hex
from common.rpc.errors import redact_url

BLOBS_PATH = "/eth/v1/beacon/blobs/{block_id}"
GENESIS_PATH = "/eth/v1/beacon/genesis"
SPEC_PATH = "/eth/v1/config/spec"
DEFAULT_SECONDS_PER_SLOT = 12
"""Mainnet ``SECONDS_PER_SLOT``; used when the node does not publish its spec."""


class BeaconError(Exception):
    """Base of the client's errors; ``endpoint`` is redacted, ``path`` has no query string."""

    transient = False

    def __init__(self, detail: str, *, endpoint: str, path: str) -> None:
        self.detail = detail
        self.endpoint = endpoint
        self.path = path
        super().__init__(f"beacon {endpoint}: GET {path}: {detail}")


class BeaconUnreachableError(BeaconError):
    """No HTTP answer: connection refused or reset, timeout, or the client was closed."""

    transient = True


class BeaconResponseError(BeaconError):
    """An HTTP answer that does not hold the blobs (status, JSON shape or blob size)."""

    def __init__(self, detail: str, *, endpoint: str, path: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(detail, endpoint=endpoint, path=path)


@dataclass(frozen=True, slots=True)
class BeaconGenesis:
    """What mapping an L1 timestamp to a slot needs."""

    genesis_time: int
    seconds_per_slot: int

    def slot_at(self, timestamp: int) -> int | None:
        """The slot of ``timestamp``, or None before genesis."""
        if timestamp < self.genesis_time:
            return None
        return (timestamp - self.genesis_time) // self.seconds_per_slot


def _hash_hex(h: bytes | str) -> str:
    return "0x" + h.hex() if isinstance(h, bytes) else h


def parse_blob_list(doc: Any) -> list[bytes] | None:
    """The blobs of a ``/blobs`` response: ``data`` holds hex strings (or objects with a ``blob`` field).

    None when the document has no ``data`` list; raises BlobError for an item that is not a blob's hex
    (blob_from_hex checks the 131072-byte size).
    """
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return None
    out = []
    for item in data:
        text = item if isinstance(item, str) else item.get("blob") if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise BlobError(f"expected a hex blob, got {type(item).__name__}")
        out.append(blob_from_hex(text))
    return out


class BeaconClient:
    """Reads blobs from one beacon API endpoint over a reused aiohttp session."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.endpoint = redact_url(self.url)
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._genesis: BeaconGenesis | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"BeaconClient({self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url_for(self, path: str, query: dict[str, str] | None) -> str:
        """``path`` under the endpoint's path, keeping a query the endpoint URL carries (e.g. an API key)."""
        base = urllib.parse.urlsplit(self.url)
        params = urllib.parse.parse_qsl(base.query, keep_blank_values=True) + list((query or {}).items())
        return urllib.parse.urlunsplit(
            base._replace(path=base.path.rstrip("/") + path, query=urllib.parse.urlencode(params))
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"Accept": "application/json"})
        return self._session

    async def get_json(
        self, path: str, query: dict[str, str] | None = None, *, timeout: float | None = None
    ) -> tuple[int, Any]:
        """GET ``path``: (HTTP status, parsed JSON body, or None when the status is not 200)."""
        if self._closed:
            raise BeaconUnreachableError("client is closed", endpoint=self.endpoint, path=path)
        url = self._url_for(path, query)
        limit = aiohttp.ClientTimeout(total=self.timeout if timeout is None else timeout)
        try:
            async with self._get_session().get(url, timeout=limit) as resp:
                if resp.status != 200:
                    return resp.status, None
                return resp.status, await resp.json(content_type=None)
        except TimeoutError:
            detail = f"no response within {limit.total:g}s"
            raise BeaconUnreachableError(detail, endpoint=self.endpoint, path=path) from None
        except aiohttp.ClientError as exc:
            detail = _describe(exc).replace(self.url, self.endpoint)  # aiohttp may quote the whole URL
            raise BeaconUnreachableError(detail, endpoint=self.endpoint, path=path) from None
        except ValueError as exc:  # JSON decoding
            raise BeaconResponseError(f"invalid JSON: {exc}", endpoint=self.endpoint, path=path) from None

    async def genesis(self) -> BeaconGenesis | None:
        """Genesis time and slot length (cached); None when the node does not say."""
        if self._genesis is not None:
            return self._genesis
        _, genesis = await self.get_json(GENESIS_PATH)
        _, spec = await self.get_json(SPEC_PATH)
        try:
            genesis_time = int(genesis["data"]["genesis_time"])
            seconds = DEFAULT_SECONDS_PER_SLOT
            if isinstance(spec, dict):
                seconds = int(spec["data"]["SECONDS_PER_SLOT"])
        except (KeyError, TypeError, ValueError):
            return None
        if seconds <= 0:
            return None
        self._genesis = BeaconGenesis(genesis_time, seconds)
        return self._genesis

    async def _blobs_at(self, block_id: int, hashes: list[str]) -> tuple[int, list[bytes] | None]:
        path = BLOBS_PATH.format(block_id=block_id)
        status, doc = await self.get_json(path, {"versioned_hashes": ",".join(hashes)})
        try:
            return status, parse_blob_list(doc)
        except BlobError as exc:
            raise BeaconResponseError(
                f"invalid blob in the response: {exc}", endpoint=self.endpoint, path=path, status=status
            ) from None

    async def blobs(
        self, block_number: int, block_time: int, versioned_hashes: Sequence[bytes | str]
    ) -> list[bytes]:
        """The blobs with ``versioned_hashes`` of the L1 block ``block_number`` (timestamp ``block_time``).

        Returns what the node gave (possibly fewer blobs than hashes: callers compare the counts);
        raises BeaconResponseError when neither the block number nor the slot gives a blob list.
        """
        hashes = [_hash_hex(h) for h in versioned_hashes]
        if not hashes:
            return []
        status, blobs = await self._blobs_at(block_number, hashes)
        if blobs is not None and len(blobs) == len(hashes):
            return blobs
        genesis = await self.genesis()
        slot = genesis.slot_at(block_time) if genesis is not None else None
        if slot is not None and slot != block_number:
            status, slot_blobs = await self._blobs_at(slot, hashes)
            if slot_blobs is not None:
                return slot_blobs
        if blobs is None:
            raise BeaconResponseError(
                f"HTTP {status}, no blob list for L1 block {block_number}"
                + (f" (slot {slot})" if slot is not None else ""),
                endpoint=self.endpoint,
                path=BLOBS_PATH.format(block_id=block_number),
                status=status,
            )
        return blobs


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure (aiohttp messages can be empty)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
