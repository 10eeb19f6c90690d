"""Typed execution-client calls (L1 and L2 ``eth_*``) on top of ``RpcClient``.

Results are parsed once here into ``common.rpc.types``; a malformed result raises ``RpcDecodeError``
naming the endpoint, method and field. A revert of ``eth_call``/``eth_estimateGas`` raises
``ExecutionRevertedError`` with the decoded ``Error(string)`` reason and the raw revert data, so callers
can match custom errors by their 4-byte selector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.derive.block_ref import hex_to_bytes, json_uint
from common.rpc.client import Params, RpcClient
from common.rpc.errors import ExecutionRevertedError, RpcDecodeError, RpcResponseError
from common.rpc.types import AccountProof, FeeHistory, Header, Receipt, Transaction

BlockTag = int | str | bytes
"""A block number, a tag (``latest``, ``pending``, ``safe``, ``finalized``, ...) or a 32-byte hash."""

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
"""``Error(string)``: the ABI encoding of ``require``/``revert`` reasons."""
PANIC_SELECTOR = bytes.fromhex("4e487b71")
"""``Panic(uint256)``: assertion failures, overflows, ... (Solidity >= 0.8)."""
REVERT_ERROR_CODE = 3
"""JSON-RPC error code geth and anvil use for an execution revert carrying return data."""


def quantity(value: int) -> str:
    """Encode an unsigned integer as a JSON-RPC hex quantity."""
    if value < 0:
        raise ValueError(f"quantity must be non-negative, got {value}")
    return hex(value)


def block_param(block: BlockTag) -> str:
    """Encode a block number or tag for ``eth_*`` parameters."""
    if isinstance(block, bool):
        raise ValueError("block: expected a number or tag, got a boolean")
    if isinstance(block, int):
        return quantity(block)
    if isinstance(block, bytes):
        return "0x" + block.hex()
    return block


def _encode_arg(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return quantity(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_encode_arg(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode_arg(v) for k, v in value.items()}
    return value


def call_args(tx: Mapping[str, Any]) -> dict[str, Any]:
    """JSON ``TransactionArgs`` from a dict with Python values (ints -> quantities, bytes -> hex).

    Keys are passed through as given (``from``, ``to``, ``data``/``input``, ``value``, ``gas``, ...).
    """
    return {key: _encode_arg(value) for key, value in tx.items() if value is not None}


def decode_revert_reason(data: bytes) -> str | None:
    """Decode ``Error(string)`` or ``Panic(uint256)`` return data; None for custom errors or garbage."""
    if data[:4] == ERROR_STRING_SELECTOR and len(data) >= 4 + 64:
        body = data[4:]
        offset = int.from_bytes(body[:32], "big")
        if offset + 32 > len(body):
            return None
        length = int.from_bytes(body[offset : offset + 32], "big")
        raw = body[offset + 32 : offset + 32 + length]
        if len(raw) != length:
            return None
        return raw.decode("utf-8", errors="replace")
    if data[:4] == PANIC_SELECTOR and len(data) == 4 + 32:
        return f"panic: 0x{int.from_bytes(data[4:], 'big'):02x}"
    return None


def _revert_data(data: Any) -> bytes | None:
    """Revert bytes from an error's ``data`` (a hex string, or an object with ``data`` in some clients)."""
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return None


def as_revert(err: RpcResponseError) -> RpcResponseError:
    """Turn a JSON-RPC error that reports a revert into ``ExecutionRevertedError``; others pass through."""
    data = _revert_data(err.data)
    if err.code != REVERT_ERROR_CODE and "revert" not in err.message.lower():
        return err
    revert = data or b""
    return ExecutionRevertedError(
        err.code,
        err.message,
        err.data,
        revert_data=revert,
        reason=decode_revert_reason(revert),
        endpoint=err.endpoint,
        method=err.method,
    )


class EthClient(RpcClient):
    """``eth_*`` calls of the L1 and L2 execution clients, with typed results."""

    async def _uint(self, method: str, params: Params = None) -> int:
        return await self.call_typed(method, params, lambda r: json_uint(r, "result"))

    async def chain_id(self) -> int:
        return await self._uint("eth_chainId")

    async def block_number(self) -> int:
        return await self._uint("eth_blockNumber")

    async def block_json(self, block: BlockTag = "latest", *, full_txs: bool = True) -> dict[str, Any]:
        """The raw block object (transactions as objects when ``full_txs``); the batcher converts it in the
        core. Raises ``RpcDecodeError`` when the node does not know the block."""
        method = "eth_getBlockByHash" if isinstance(block, bytes) else "eth_getBlockByNumber"
        result = await self.call(method, [block_param(block), full_txs])
        if not isinstance(result, dict):
            what = "not found" if result is None else f"not an object ({type(result).__name__})"
            raise RpcDecodeError(f"block {block_param(block)} {what}", endpoint=self.endpoint, method=method)
        return result

    async def header(self, block: BlockTag = "latest") -> Header:
        """The header of ``block`` (by number, tag or hash)."""
        obj = await self.block_json(block, full_txs=False)
        method = "eth_getBlockByHash" if isinstance(block, bytes) else "eth_getBlockByNumber"
        try:
            return Header.from_json(obj)
        except ValueError as exc:
            raise RpcDecodeError(f"unexpected result: {exc}", endpoint=self.endpoint, method=method) from None

    async def nonce_at(self, address: bytes | str, block: BlockTag = "latest") -> int:
        return await self._uint("eth_getTransactionCount", [_address(address), block_param(block)])

    async def balance(self, address: bytes | str, block: BlockTag = "latest") -> int:
        return await self._uint("eth_getBalance", [_address(address), block_param(block)])

    async def code(self, address: bytes | str, block: BlockTag = "latest") -> bytes:
        return await self.call_typed(
            "eth_getCode", [_address(address), block_param(block)], lambda r: hex_to_bytes(r, "result")
        )

    async def max_priority_fee(self) -> int:
        """Suggested tip in wei (``eth_maxPriorityFeePerGas``)."""
        return await self._uint("eth_maxPriorityFeePerGas")

    async def blob_base_fee(self) -> int:
        """Current blob base fee in wei (``eth_blobBaseFee``)."""
        return await self._uint("eth_blobBaseFee")

    async def fee_history(
        self, block_count: int, newest: BlockTag = "latest", percentiles: Sequence[float] = ()
    ) -> FeeHistory:
        return await self.call_typed(
            "eth_feeHistory",
            [quantity(block_count), block_param(newest), list(percentiles)],
            FeeHistory.from_json,
        )

    async def estimate_gas(self, tx: Mapping[str, Any], block: BlockTag | None = None) -> int:
        """Gas estimate; a revert raises ``ExecutionRevertedError``."""
        params: list[Any] = [call_args(tx)] + ([] if block is None else [block_param(block)])
        try:
            return await self._uint("eth_estimateGas", params)
        except RpcResponseError as err:
            raise as_revert(err) from None

    async def eth_call(
        self, tx: Mapping[str, Any], block: BlockTag = "latest", *, timeout: float | None = None
    ) -> bytes:
        """Return data of a call; a revert raises ``ExecutionRevertedError``."""
        try:
            return await self.call_typed(
                "eth_call", [call_args(tx), block_param(block)], lambda r: hex_to_bytes(r, "result"), timeout
            )
        except RpcResponseError as err:
            raise as_revert(err) from None

    async def send_raw_transaction(
        self, raw: bytes, *, retry: bool = False, timeout: float | None = None
    ) -> bytes:
        """Submit a signed transaction and return its hash (never retried unless ``retry``)."""
        result = await self.call("eth_sendRawTransaction", ["0x" + raw.hex()], retry=retry, timeout=timeout)
        try:
            return hex_to_bytes(result, "result", 32)
        except ValueError as exc:
            raise RpcDecodeError(
                f"unexpected result: {exc}", endpoint=self.endpoint, method="eth_sendRawTransaction"
            ) from None

    async def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt, or None while the transaction is not mined (or unknown)."""
        return await self.call_typed(
            "eth_getTransactionReceipt",
            ["0x" + tx_hash.hex()],
            lambda r: None if r is None else Receipt.from_json(r),
        )

    async def transaction(self, tx_hash: bytes) -> Transaction | None:
        """The transaction, or None when the node does not know it."""
        return await self.call_typed(
            "eth_getTransactionByHash",
            ["0x" + tx_hash.hex()],
            lambda r: None if r is None else Transaction.from_json(r),
        )

    async def get_proof(
        self, address: bytes | str, storage_keys: Sequence[bytes | int], block: BlockTag = "latest"
    ) -> AccountProof:
        """``eth_getProof``; keys are sent as full 32-byte words (some nodes reject short keys)."""
        keys = [
            "0x" + (k if isinstance(k, bytes) else k.to_bytes(32, "big")).rjust(32, b"\x00").hex()
            for k in storage_keys
        ]
        return await self.call_typed(
            "eth_getProof", [_address(address), keys, block_param(block)], AccountProof.from_json
        )

    async def blobs(self, tx_hash: bytes) -> list[bytes]:
        """The blobs of a blob transaction (anvil's ``anvil_getBlobsByTransactionHash``; devnet only)."""

        def parse(result: Any) -> list[bytes]:
            if result is None:
                return []
            if not isinstance(result, list):
                raise ValueError(f"result: expected a list, got {type(result).__name__}")
            return [hex_to_bytes(b, f"result[{i}]") for i, b in enumerate(result)]

        return await self.call_typed("anvil_getBlobsByTransactionHash", ["0x" + tx_hash.hex()], parse)


def _address(address: bytes | str) -> str:
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ValueError(f"address: expected 20 bytes, got {len(address)}")
        return "0x" + address.hex()
    return address
