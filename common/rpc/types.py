"""Execution-layer JSON objects (go-ethereum / anvil shapes), parsed once at the edge into frozen dataclasses.

Quantities are hex strings on the wire (``"0x1a"``); ``json_uint`` also tolerates JSON numbers and decimal
strings, which some providers send (e.g. ``baseFeePerBlobGas`` in ``eth_feeHistory``). Parsing failures raise
``ValueError`` naming the field; ``common.rpc.eth`` turns them into ``RpcDecodeError`` with the endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.derive.block_ref import BlockID, L1BlockRef, hex_to_bytes, json_uint


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{field}: expected an object, got {type(value).__name__}")
    return value


def _opt_uint(obj: dict[str, Any], key: str, field: str) -> int | None:
    value = obj.get(key)
    return None if value is None else json_uint(value, f"{field}.{key}")


def _opt_bytes(obj: dict[str, Any], key: str, field: str, length: int | None = None) -> bytes | None:
    value = obj.get(key)
    return None if value is None else hex_to_bytes(value, f"{field}.{key}", length)


def _list(value: Any, field: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{field}: expected a list, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Header:
    """A block header, as much of it as the services use."""

    number: int
    hash: bytes
    """32-byte block hash as reported by the node (never recomputed: header fields evolve per fork)."""
    parent_hash: bytes
    timestamp: int
    """Unix seconds."""
    gas_limit: int
    gas_used: int
    base_fee: int | None
    """``baseFeePerGas`` in wei; None before London."""
    excess_blob_gas: int | None
    """EIP-4844 ``excessBlobGas``; None before Cancun."""
    blob_gas_used: int | None
    """EIP-4844 ``blobGasUsed``; None before Cancun."""

    @classmethod
    def from_json(cls, value: Any, field: str = "header") -> Header:
        obj = _obj(value, field)
        return cls(
            number=json_uint(obj.get("number"), f"{field}.number"),
            hash=hex_to_bytes(obj.get("hash"), f"{field}.hash", 32),
            parent_hash=hex_to_bytes(obj.get("parentHash"), f"{field}.parentHash", 32),
            timestamp=json_uint(obj.get("timestamp"), f"{field}.timestamp"),
            gas_limit=json_uint(obj.get("gasLimit"), f"{field}.gasLimit"),
            gas_used=json_uint(obj.get("gasUsed", 0), f"{field}.gasUsed"),
            base_fee=_opt_uint(obj, "baseFeePerGas", field),
            excess_blob_gas=_opt_uint(obj, "excessBlobGas", field),
            blob_gas_used=_opt_uint(obj, "blobGasUsed", field),
        )

    @property
    def id(self) -> BlockID:
        return BlockID(self.hash, self.number)

    def to_l1_block_ref(self) -> L1BlockRef:
        return L1BlockRef(self.hash, self.number, self.parent_hash, self.timestamp)


@dataclass(frozen=True, slots=True)
class Log:
    """An event log of a receipt."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    log_index: int | None

    @classmethod
    def from_json(cls, value: Any, field: str = "log") -> Log:
        obj = _obj(value, field)
        topics = tuple(
            hex_to_bytes(t, f"{field}.topics[{i}]", 32)
            for i, t in enumerate(_list(obj.get("topics"), f"{field}.topics"))
        )
        return cls(
            hex_to_bytes(obj.get("address"), f"{field}.address", 20),
            topics,
            hex_to_bytes(obj.get("data", "0x"), f"{field}.data"),
            _opt_uint(obj, "logIndex", field),
        )


RECEIPT_STATUS_FAILED = 0
RECEIPT_STATUS_SUCCESSFUL = 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """A transaction receipt (``eth_getTransactionReceipt``)."""

    transaction_hash: bytes
    block_hash: bytes
    block_number: int
    transaction_index: int
    status: int
    """1 = success, 0 = reverted."""
    type: int
    """EIP-2718 type: 0 legacy, 1, 2 (1559), 3 (4844 blob), 4 (7702)."""
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    """Wei per gas actually paid."""
    blob_gas_used: int | None
    """Blob txs only."""
    blob_gas_price: int | None
    """Wei per blob gas; blob txs only."""
    contract_address: bytes | None
    logs: tuple[Log, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == RECEIPT_STATUS_SUCCESSFUL

    @classmethod
    def from_json(cls, value: Any, field: str = "receipt") -> Receipt:
        obj = _obj(value, field)
        return cls(
            transaction_hash=hex_to_bytes(obj.get("transactionHash"), f"{field}.transactionHash", 32),
            block_hash=hex_to_bytes(obj.get("blockHash"), f"{field}.blockHash", 32),
            block_number=json_uint(obj.get("blockNumber"), f"{field}.blockNumber"),
            transaction_index=json_uint(obj.get("transactionIndex", 0), f"{field}.transactionIndex"),
            status=json_uint(obj.get("status"), f"{field}.status"),
            type=json_uint(obj.get("type", 0), f"{field}.type"),
            gas_used=json_uint(obj.get("gasUsed"), f"{field}.gasUsed"),
            cumulative_gas_used=json_uint(obj.get("cumulativeGasUsed", 0), f"{field}.cumulativeGasUsed"),
            effective_gas_price=json_uint(obj.get("effectiveGasPrice", 0), f"{field}.effectiveGasPrice"),
            blob_gas_used=_opt_uint(obj, "blobGasUsed", field),
            blob_gas_price=_opt_uint(obj, "blobGasPrice", field),
            contract_address=_opt_bytes(obj, "contractAddress", field, 20),
            logs=tuple(
                Log.from_json(item, f"{field}.logs[{i}]")
                for i, item in enumerate(_list(obj.get("logs"), f"{field}.logs"))
            ),
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction as ``eth_getTransactionByHash`` returns it (block fields None while pending)."""

    hash: bytes
    type: int
    nonce: int
    sender: bytes
    """``from``."""
    to: bytes | None
    value: int
    gas: int
    input: bytes
    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    max_fee_per_blob_gas: int | None
    blob_versioned_hashes: tuple[bytes, ...]
    chain_id: int | None
    block_hash: bytes | None
    block_number: int | None

    @classmethod
    def from_json(cls, value: Any, field: str = "transaction") -> Transaction:
        obj = _obj(value, field)
        hashes = _list(obj.get("blobVersionedHashes"), f"{field}.blobVersionedHashes")
        return cls(
            hash=hex_to_bytes(obj.get("hash"), f"{field}.hash", 32),
            type=json_uint(obj.get("type", 0), f"{field}.type"),
            nonce=json_uint(obj.get("nonce"), f"{field}.nonce"),
            sender=hex_to_bytes(obj.get("from"), f"{field}.from", 20),
            to=_opt_bytes(obj, "to", field, 20),
            value=json_uint(obj.get("value", 0), f"{field}.value"),
            gas=json_uint(obj.get("gas"), f"{field}.gas"),
            input=hex_to_bytes(obj.get("input", "0x"), f"{field}.input"),
            gas_price=_opt_uint(obj, "gasPrice", field),
            max_fee_per_gas=_opt_uint(obj, "maxFeePerGas", field),
            max_priority_fee_per_gas=_opt_uint(obj, "maxPriorityFeePerGas", field),
            max_fee_per_blob_gas=_opt_uint(obj, "maxFeePerBlobGas", field),
            blob_versioned_hashes=tuple(
                hex_to_bytes(h, f"{field}.blobVersionedHashes[{i}]", 32) for i, h in enumerate(hashes)
            ),
            chain_id=_opt_uint(obj, "chainId", field),
            block_hash=_opt_bytes(obj, "blockHash", field, 32),
            block_number=_opt_uint(obj, "blockNumber", field),
        )


@dataclass(frozen=True, slots=True)
class FeeHistory:
    """``eth_feeHistory``: per-block fee data for ``[oldest_block, oldest_block + len(gas_used_ratio))``.

    ``base_fee_per_gas`` and ``base_fee_per_blob_gas`` have one more entry than there are blocks (the next
    block's value).
    """

    oldest_block: int
    base_fee_per_gas: tuple[int, ...]
    gas_used_ratio: tuple[float, ...]
    reward: tuple[tuple[int, ...], ...]
    """Per block, the priority fee at each requested percentile (empty without percentiles)."""
    base_fee_per_blob_gas: tuple[int, ...]
    blob_gas_used_ratio: tuple[float, ...]

    @classmethod
    def from_json(cls, value: Any, field: str = "feeHistory") -> FeeHistory:
        obj = _obj(value, field)

        def uints(key: str) -> tuple[int, ...]:
            return tuple(json_uint(v, f"{field}.{key}[{i}]") for i, v in enumerate(_list(obj.get(key), key)))

        def floats(key: str) -> tuple[float, ...]:
            out = []
            for i, v in enumerate(_list(obj.get(key), key)):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise ValueError(f"{field}.{key}[{i}]: expected a number, got {v!r}")
                out.append(float(v))
            return tuple(out)

        rewards = tuple(
            tuple(json_uint(v, f"{field}.reward[{i}][{j}]") for j, v in enumerate(_list(row, "reward")))
            for i, row in enumerate(_list(obj.get("reward"), "reward"))
        )
        return cls(
            json_uint(obj.get("oldestBlock"), f"{field}.oldestBlock"),
            uints("baseFeePerGas"),
            floats("gasUsedRatio"),
            rewards,
            uints("baseFeePerBlobGas"),
            floats("blobGasUsedRatio"),
        )


@dataclass(frozen=True, slots=True)
class StorageProof:
    key: bytes
    """The slot as a full 32-byte word."""
    value: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AccountProof:
    """``eth_getProof`` (EIP-1186)."""

    address: bytes
    balance: int
    nonce: int
    code_hash: bytes
    storage_hash: bytes
    """The account's storage root (e.g. the L2ToL1MessagePasser root of an output)."""
    account_proof: tuple[bytes, ...]
    storage_proof: tuple[StorageProof, ...]

    @classmethod
    def from_json(cls, value: Any, field: str = "proof") -> AccountProof:
        obj = _obj(value, field)
        nodes = tuple(
            hex_to_bytes(n, f"{field}.accountProof[{i}]")
            for i, n in enumerate(_list(obj.get("accountProof"), "accountProof"))
        )
        slots = []
        for i, item in enumerate(_list(obj.get("storageProof"), "storageProof")):
            entry = _obj(item, f"{field}.storageProof[{i}]")
            key = hex_to_bytes(entry.get("key"), f"{field}.storageProof[{i}].key")
            slots.append(
                StorageProof(
                    key.rjust(32, b"\x00"),
                    json_uint(entry.get("value", 0), f"{field}.storageProof[{i}].value"),
                    tuple(
                        hex_to_bytes(n, f"{field}.storageProof[{i}].proof")
                        for n in _list(entry.get("proof"), "proof")
                    ),
                )
            )
        return cls(
            address=hex_to_bytes(obj.get("address"), f"{field}.address", 20),
            balance=json_uint(obj.get("balance", 0), f"{field}.balance"),
            nonce=json_uint(obj.get("nonce", 0), f"{field}.nonce"),
            code_hash=hex_to_bytes(obj.get("codeHash"), f"{field}.codeHash", 32),
            storage_hash=hex_to_bytes(obj.get("storageHash"), f"{field}.storageHash", 32),
            account_proof=nodes,
            storage_proof=tuple(slots),
        )
