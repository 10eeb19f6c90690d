"""The DA-server HTTP client (op-alt-da ``daclient.go``): store an input, read it back by its commitment.

Protocol (op-alt-da's DA server):

* keccak256 commitments (``--altda.da-service=false``): the client computes the commitment and
  ``POST /put/0x<commitment>`` with the input as body; 200 = stored.
* generic commitments (``--altda.da-service=true``): ``POST /put`` with the input; the 200 reply body is
  the encoded commitment (type byte 0x01 first); 503 = the DA server says it is down.
* ``GET /get/0x<commitment>`` (``?l1_inclusion_block_number=N`` when known); 200 = the input, 404 = not
  found. With ``--altda.verify-on-read`` a keccak256 commitment is checked against what came back.

``--altda.put-timeout`` / ``--altda.get-timeout`` bound each request (0 = none). Every aiohttp/asyncio
failure becomes a :class:`DAError` here, naming the endpoint (``/put``, ``/get``) and the server URL.
"""

from __future__ import annotations

import asyncio

import aiohttp

from common.altda.commitment import Commitment, CommitmentError, decode_commitment
from common.rpc.errors import redact_url

ERROR_BODY_BYTES = 200
"""How much of an error reply's body goes into the error message."""


class DAError(Exception):
    """A failed DA-server request; the message names the endpoint, the server and what went wrong."""


class DANotFound(DAError):
    """``GET /get``: the server does not have the input (HTTP 404)."""


class DADown(DAError):
    """``POST /put``: the server answered 503 (op-alt-da ``ErrAltDADown``)."""


class DAClient:
    """One aiohttp session to one DA server; ``put``/``get`` are safe to call concurrently."""

    def __init__(
        self,
        url: str,
        *,
        verify_on_read: bool = True,
        generic: bool = False,
        put_timeout: float = 0.0,
        get_timeout: float = 0.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.verify_on_read = verify_on_read
        self.generic = generic
        """``--altda.da-service``: the server computes the commitment (generic), else keccak256 here."""
        self.put_timeout = put_timeout
        self.get_timeout = get_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        """The server URL with any credentials removed, for logs and errors."""
        return redact_url(self.url)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def put(self, data: bytes) -> Commitment:
        """Store ``data``; returns its commitment (computed here, or by the server with ``generic``)."""
        if not data:
            raise DAError(f"DA server {self.endpoint} /put: invalid input: empty")
        if not self.generic:
            comm = Commitment.keccak256_of(data)
            await self._request("POST", f"/put/{comm.hex()}", data, self.put_timeout, "/put")
            return comm
        body = await self._request("POST", "/put", data, self.put_timeout, "/put")
        try:
            comm = decode_commitment(body)
        except CommitmentError as exc:
            raise DAError(f"DA server {self.endpoint} /put: bad commitment in reply: {exc}") from None
        return comm  # Go accepts any decodable commitment type here too

    async def get(self, comm: Commitment, l1_inclusion_block: int = 0) -> bytes:
        """The input ``comm`` commits to; verified against a keccak256 commitment with verify-on-read."""
        path = f"/get/{comm.hex()}"
        if l1_inclusion_block:
            path += f"?l1_inclusion_block_number={l1_inclusion_block}"
        data = await self._request("GET", path, None, self.get_timeout, "/get")
        if self.verify_on_read:
            try:
                comm.verify(data)
            except CommitmentError as exc:
                raise DAError(f"DA server {self.endpoint} /get: {exc}") from None
        return data

    async def _request(
        self, method: str, path: str, body: bytes | None, timeout: float, endpoint: str
    ) -> bytes:
        where = f"DA server {self.endpoint} {endpoint}"
        t = aiohttp.ClientTimeout(total=timeout if timeout > 0 else None)
        headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
        try:
            async with self._get_session().request(
                method, self.url + path, data=body, timeout=t, headers=headers
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except TimeoutError:
            flag = "--altda.put-timeout" if endpoint == "/put" else "--altda.get-timeout"
            raise DAError(f"{where}: no reply within {timeout:g}s ({flag})") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise DAError(f"{where}: {type(exc).__name__}: {exc}") from None
        if status == 200:
            return payload
        text = payload[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        detail = f"HTTP {status}" + (f": {text}" if text else "")
        if status == 404 and endpoint == "/get":
            raise DANotFound(f"{where}: not found ({detail})")
        if status == 503 and endpoint == "/put":
            raise DADown(f"{where}: alt DA is down ({detail})")
        raise DAError(f"{where}: {detail}")
