"""L2 transactions as batches carry them: canonical signed EIP-2718 bytes.

The batcher reads L2 blocks as ``eth_getBlockByNumber(n, true)`` JSON (op-geth or anvil) and must
re-create each non-deposit transaction's exact signed encoding, because that is what singular
batches carry and what span batches split into columns. ``raw_tx_from_json`` does that and checks
``keccak256(raw) == hash`` so a field we misread can never reach L1 silently.

Supported types (what a batch may carry, wire-formats.md §3-§4):

* 0 legacy ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])``, EIP-155 protected or not;
* 1 EIP-2930 ``0x01 ++ rlp([chainId, nonce, gasPrice, gas, to, value, data, accessList, y, r, s])``;
* 2 EIP-1559 ``0x02 ++ rlp([chainId, nonce, tip, feeCap, gas, to, value, data, accessList, y, r, s])``;
* 4 EIP-7702 ``0x04 ++ rlp([chainId, nonce, tip, feeCap, gas, to, value, data, accessList,
  authorizationList, y, r, s])`` with authorizations ``[chainId, address, nonce, y, r, s]``.

Deposits (0x7e) are recognised so callers can skip them; blob txs (3) are rejected: neither can
appear in a batch.

Sections: the ``Transaction`` dataclass and raw decoding, then RPC JSON -> raw (with the hash
check). RLP comes from ``common.derive.rlp``; the span-batch column mapping lives in
``common.derive.span_tx``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from Crypto.Hash import keccak

from common.derive.block_ref import hex_to_bytes, json_uint
from common.derive.rlp import (
    UINT64_MAX,
    RlpError,
    decode_bytes,
    decode_list,
    decode_uint,
    expect_list,
    rlp_encode,
)

LEGACY_TX_TYPE = 0x00
ACCESS_LIST_TX_TYPE = 0x01
"""EIP-2930 (Berlin)."""
DYNAMIC_FEE_TX_TYPE = 0x02
"""EIP-1559 (London)."""
BLOB_TX_TYPE = 0x03
"""EIP-4844; never allowed in L2 blocks or batches."""
SET_CODE_TX_TYPE = 0x04
"""EIP-7702 (Prague); allowed in batches from Isthmus."""
DEPOSIT_TX_TYPE = 0x7E
"""OP Stack deposit; never put in batches."""

BATCHABLE_TX_TYPES = frozenset({LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE, SET_CODE_TX_TYPE})

TYPED_TX_FIELD_COUNTS = {ACCESS_LIST_TX_TYPE: 11, DYNAMIC_FEE_TX_TYPE: 12, SET_CODE_TX_TYPE: 13}
"""Fields of the signed RLP list per typed tx (legacy has 9)."""


class TransactionError(ValueError):
    """A transaction could not be parsed, encoded or verified."""


class UnsupportedTxTypeError(TransactionError):
    """The transaction type cannot be carried in a batch (blob, unknown)."""


class TxHashMismatchError(TransactionError):
    """Our re-encoding does not hash to the hash the node reported."""


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak-256."""
    digest: bytes = keccak.new(digest_bits=256, data=data).digest()
    return digest


AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
"""((20-byte address, (32-byte storage key, ...)), ...)."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """One signed EIP-7702 authorization tuple."""

    chain_id: int
    address: bytes
    """20-byte delegate address."""
    nonce: int
    y_parity: int
    r: int
    s: int

    def rlp_fields(self) -> list[Any]:
        return [self.chain_id, self.address, self.nonce, self.y_parity, self.r, self.s]


@dataclass(frozen=True, slots=True)
class Transaction:
    """A signed, batchable transaction (types 0, 1, 2, 4) with every field explicit."""

    tx_type: int
    chain_id: int | None
    """None only for an unprotected (pre-EIP-155) legacy tx."""
    nonce: int
    gas_price: int
    """Legacy and 2930: gasPrice. 1559 and 7702: maxFeePerGas."""
    gas_tip_cap: int
    """1559 and 7702: maxPriorityFeePerGas; equal to gas_price for legacy and 2930."""
    gas: int
    to: bytes | None
    """20-byte recipient; None for contract creation."""
    value: int
    data: bytes
    access_list: AccessList
    authorization_list: tuple[Authorization, ...]
    y_parity: int
    """0 or 1, the signature's recovery bit (for legacy txs derived from v)."""
    r: int
    s: int

    @property
    def protected(self) -> bool:
        """True unless this is a pre-EIP-155 legacy tx (v = 27/28)."""
        return self.chain_id is not None

    @property
    def v(self) -> int:
        """The signature value as stored on the wire."""
        if self.tx_type != LEGACY_TX_TYPE:
            return self.y_parity
        if self.chain_id is None:
            return 27 + self.y_parity
        return 2 * self.chain_id + 35 + self.y_parity

    def encode(self) -> bytes:
        """Canonical signed EIP-2718 bytes (legacy: the bare RLP list)."""
        to = self.to if self.to is not None else b""
        access = [[addr, list(keys)] for addr, keys in self.access_list]
        if self.tx_type == LEGACY_TX_TYPE:
            fields: list[Any] = [self.nonce, self.gas_price, self.gas, to, self.value, self.data]
            return rlp_encode([*fields, self.v, self.r, self.s])
        if self.tx_type == ACCESS_LIST_TX_TYPE:
            fields = [self.chain_id, self.nonce, self.gas_price, self.gas, to, self.value, self.data, access]
        elif self.tx_type == DYNAMIC_FEE_TX_TYPE:
            fields = [
                self.chain_id,
                self.nonce,
                self.gas_tip_cap,
                self.gas_price,
                self.gas,
                to,
                self.value,
                self.data,
                access,
            ]
        elif self.tx_type == SET_CODE_TX_TYPE:
            auths = [a.rlp_fields() for a in self.authorization_list]
            fields = [
                self.chain_id,
                self.nonce,
                self.gas_tip_cap,
                self.gas_price,
                self.gas,
                to,
                self.value,
                self.data,
                access,
                auths,
            ]
        else:
            raise UnsupportedTxTypeError(f"cannot encode transaction type 0x{self.tx_type:02x}")
        return bytes([self.tx_type]) + rlp_encode([*fields, self.y_parity, self.r, self.s])

    @property
    def hash(self) -> bytes:
        return keccak256(self.encode())


# ---------------------------------------------------------------------------------------------
# raw bytes -> Transaction


def tx_type_of_raw(raw: bytes) -> int:
    """EIP-2718 type of raw tx bytes: a first byte >= 0xc0 is a legacy RLP list."""
    if not raw:
        raise TransactionError("empty transaction bytes")
    first = raw[0]
    if first >= 0xC0:
        return LEGACY_TX_TYPE
    if first > 0x7F:
        raise TransactionError(f"transaction bytes start with 0x{first:02x}: neither a type nor an RLP list")
    return first


def decode_to(item: Any, field: str = "to") -> bytes | None:
    """A recipient field: 20 bytes, or empty for a contract creation."""
    raw = decode_bytes(item, field)
    if not raw:
        return None
    if len(raw) != 20:
        raise RlpError(field, f"expected 20 bytes or empty, got {len(raw)}")
    return raw


def legacy_chain_id_and_parity(v: int) -> tuple[int | None, int]:
    """(chain id or None if unprotected, y parity) from a legacy tx's v (27/28 or EIP-155)."""
    if v in (27, 28):
        return None, v - 27
    if v >= 35:
        return (v - 35) // 2, (v - 35) % 2
    raise TransactionError(f"legacy tx: invalid v {v}")


def check_y_parity(v: int, field: str = "yParity") -> int:
    """A typed tx's signature parity must be 0 or 1."""
    if v not in (0, 1):
        raise TransactionError(f"{field}: expected 0 or 1, got {v}")
    return v


def decode_access_list(item: Any) -> AccessList:
    """Parse an RLP access list [[address, [key, ...]], ...]."""
    try:
        out = []
        for i, entry in enumerate(expect_list(item, "accessList")):
            pair = expect_list(entry, f"accessList[{i}]", 2)
            keys = expect_list(pair[1], f"accessList[{i}].storageKeys")
            out.append(
                (
                    decode_bytes(pair[0], f"accessList[{i}].address", 20),
                    tuple(decode_bytes(k, f"accessList[{i}].storageKeys", 32) for k in keys),
                )
            )
        return tuple(out)
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc


def decode_authorization_list(item: Any) -> tuple[Authorization, ...]:
    """Parse an RLP EIP-7702 authorization list [[chainId, address, nonce, y, r, s], ...]."""
    try:
        out = []
        for i, entry in enumerate(expect_list(item, "authorizationList")):
            name = f"authorizationList[{i}]"
            f = expect_list(entry, name, 6)
            out.append(
                Authorization(
                    decode_uint(f[0], f"{name}.chainId"),
                    decode_bytes(f[1], f"{name}.address", 20),
                    decode_uint(f[2], f"{name}.nonce", UINT64_MAX),
                    decode_uint(f[3], f"{name}.yParity", 0xFF),
                    decode_uint(f[4], f"{name}.r"),
                    decode_uint(f[5], f"{name}.s"),
                )
            )
        return tuple(out)
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc


def decode_transaction(raw: bytes) -> Transaction:
    """Parse canonical signed tx bytes of a batchable type."""
    try:
        return _decode_transaction(raw)
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc


def _decode_transaction(raw: bytes) -> Transaction:
    tx_type = tx_type_of_raw(raw)
    if tx_type == LEGACY_TX_TYPE:
        f = decode_list(raw, "legacy tx", 9)
        chain_id, y = legacy_chain_id_and_parity(decode_uint(f[6], "v"))
        gas_price = decode_uint(f[1], "gasPrice")
        return Transaction(
            LEGACY_TX_TYPE,
            chain_id,
            decode_uint(f[0], "nonce", UINT64_MAX),
            gas_price,
            gas_price,
            decode_uint(f[2], "gas", UINT64_MAX),
            decode_to(f[3]),
            decode_uint(f[4], "value"),
            decode_bytes(f[5], "data"),
            (),
            (),
            y,
            decode_uint(f[7], "r"),
            decode_uint(f[8], "s"),
        )
    if tx_type == DEPOSIT_TX_TYPE:
        raise UnsupportedTxTypeError("deposit transactions (type 0x7e) are not batch transactions")
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx_type:02x} cannot be carried in a batch")
    f = decode_list(memoryview(raw)[1:], f"type {tx_type} tx", TYPED_TX_FIELD_COUNTS[tx_type])
    chain_id = decode_uint(f[0], "chainId")
    nonce = decode_uint(f[1], "nonce", UINT64_MAX)
    y = check_y_parity(decode_uint(f[-3], "yParity"))
    r, s = decode_uint(f[-2], "r"), decode_uint(f[-1], "s")
    if tx_type == ACCESS_LIST_TX_TYPE:
        price = decode_uint(f[2], "gasPrice")
        return Transaction(
            tx_type,
            chain_id,
            nonce,
            price,
            price,
            decode_uint(f[3], "gas", UINT64_MAX),
            decode_to(f[4]),
            decode_uint(f[5], "value"),
            decode_bytes(f[6], "data"),
            decode_access_list(f[7]),
            (),
            y,
            r,
            s,
        )
    tip, cap = decode_uint(f[2], "maxPriorityFeePerGas"), decode_uint(f[3], "maxFeePerGas")
    auths = decode_authorization_list(f[9]) if tx_type == SET_CODE_TX_TYPE else ()
    to = decode_to(f[5])
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    return Transaction(
        tx_type,
        chain_id,
        nonce,
        cap,
        tip,
        decode_uint(f[4], "gas", UINT64_MAX),
        to,
        decode_uint(f[6], "value"),
        decode_bytes(f[7], "data"),
        decode_access_list(f[8]),
        auths,
        y,
        r,
        s,
    )


# ---------------------------------------------------------------------------------------------
# RPC JSON -> raw bytes


def tx_type_of_json(obj: Mapping[str, Any]) -> int:
    """The type of an RPC tx object (``"0x7e"`` and anvil's ``"0x7E"`` both work; absent = legacy)."""
    value = obj.get("type")
    if value is None:
        return LEGACY_TX_TYPE
    return json_uint(value, "type")


def is_deposit_json(obj: Mapping[str, Any]) -> bool:
    """True for a deposit (0x7e) tx object; callers skip these when building batches."""
    return tx_type_of_json(obj) == DEPOSIT_TX_TYPE


def _json_opt_to(obj: Mapping[str, Any]) -> bytes | None:
    value = obj.get("to")
    if value is None or value in ("", "0x"):
        return None
    return hex_to_bytes(value, "to", 20)


def _json_data(obj: Mapping[str, Any]) -> bytes:
    value = obj.get("input", obj.get("data", "0x"))
    return hex_to_bytes(value if value is not None else "0x", "input")


def _json_req(obj: Mapping[str, Any], key: str) -> Any:
    if key not in obj or obj[key] is None:
        raise TransactionError(f"transaction JSON has no {key!r} field")
    return obj[key]


def _json_access_list(obj: Mapping[str, Any]) -> AccessList:
    out = []
    for i, entry in enumerate(obj.get("accessList") or ()):
        keys = tuple(
            hex_to_bytes(k, f"accessList[{i}].storageKeys", 32) for k in entry.get("storageKeys") or ()
        )
        out.append((hex_to_bytes(entry["address"], f"accessList[{i}].address", 20), keys))
    return tuple(out)


def _json_y_parity(obj: Mapping[str, Any], field: str = "yParity") -> int:
    value = obj.get("yParity", obj.get("v"))
    if value is None:
        raise TransactionError(f"{field}: transaction JSON has neither 'yParity' nor 'v'")
    return check_y_parity(json_uint(value, field), field)


def _json_authorizations(obj: Mapping[str, Any]) -> tuple[Authorization, ...]:
    out = []
    for i, a in enumerate(obj.get("authorizationList") or ()):
        name = f"authorizationList[{i}]"
        out.append(
            Authorization(
                json_uint(_json_req(a, "chainId"), f"{name}.chainId"),
                hex_to_bytes(_json_req(a, "address"), f"{name}.address", 20),
                json_uint(_json_req(a, "nonce"), f"{name}.nonce"),
                json_uint(a.get("yParity", a.get("v")), f"{name}.yParity"),
                json_uint(_json_req(a, "r"), f"{name}.r"),
                json_uint(_json_req(a, "s"), f"{name}.s"),
            )
        )
    return tuple(out)


def transaction_from_json(obj: Mapping[str, Any]) -> Transaction:
    """Build a Transaction from an RPC tx object (op-geth or anvil field names)."""
    tx_type = tx_type_of_json(obj)
    if tx_type == DEPOSIT_TX_TYPE:
        raise UnsupportedTxTypeError("deposit transactions (type 0x7e) are not batch transactions")
    if tx_type == BLOB_TX_TYPE:
        raise UnsupportedTxTypeError("blob transactions (type 3) are not allowed in L2 blocks")
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx_type:02x} cannot be carried in a batch")
    nonce = json_uint(_json_req(obj, "nonce"), "nonce")
    gas = json_uint(_json_req(obj, "gas"), "gas")
    value = json_uint(obj.get("value", 0), "value")
    r, s = json_uint(_json_req(obj, "r"), "r"), json_uint(_json_req(obj, "s"), "s")
    to, data = _json_opt_to(obj), _json_data(obj)
    if tx_type == LEGACY_TX_TYPE:
        legacy_chain_id, y = legacy_chain_id_and_parity(json_uint(_json_req(obj, "v"), "v"))
        price = json_uint(_json_req(obj, "gasPrice"), "gasPrice")
        return Transaction(
            tx_type, legacy_chain_id, nonce, price, price, gas, to, value, data, (), (), y, r, s
        )
    chain_id = json_uint(_json_req(obj, "chainId"), "chainId")
    y = _json_y_parity(obj)
    access = _json_access_list(obj)
    if tx_type == ACCESS_LIST_TX_TYPE:
        price = json_uint(_json_req(obj, "gasPrice"), "gasPrice")
        return Transaction(tx_type, chain_id, nonce, price, price, gas, to, value, data, access, (), y, r, s)
    tip = json_uint(_json_req(obj, "maxPriorityFeePerGas"), "maxPriorityFeePerGas")
    cap = json_uint(_json_req(obj, "maxFeePerGas"), "maxFeePerGas")
    auths = _json_authorizations(obj) if tx_type == SET_CODE_TX_TYPE else ()
    return Transaction(tx_type, chain_id, nonce, cap, tip, gas, to, value, data, access, auths, y, r, s)


def raw_tx_from_json(obj: Mapping[str, Any], chain_id: int, *, where: str = "") -> bytes:
    """Canonical signed bytes of a non-deposit RPC tx object, verified against its ``hash`` (if given).

    ``where`` (e.g. "block 12 tx 3") prefixes every error so the failing tx can be found.
    Raises UnsupportedTxTypeError for deposits, blob txs and unknown types, TransactionError for
    a chain id other than ``chain_id`` (a span batch could not carry it) and TxHashMismatchError
    when the re-encoding does not hash to the reported hash.
    """
    prefix = f"{where}: " if where else ""
    try:
        tx = transaction_from_json(obj)
    except TransactionError as exc:
        raise type(exc)(f"{prefix}{exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TransactionError(f"{prefix}{exc}") from exc
    if tx.chain_id is not None and tx.chain_id != chain_id:
        raise TransactionError(
            f"{prefix}transaction chain id {tx.chain_id} differs from L2 chain id {chain_id}"
        )
    raw = tx.encode()
    reported = obj.get("hash")
    if reported is not None:
        expected = hex_to_bytes(reported, f"{prefix}hash", 32)
        actual = keccak256(raw)
        if actual != expected:
            raise TxHashMismatchError(
                f"{prefix}re-encoded type {tx.tx_type} transaction hashes to 0x{actual.hex()}, "
                f"but the node reported 0x{expected.hex()}"
            )
    return raw


def transactions_from_raw(raws: Sequence[bytes]) -> list[Transaction]:
    """Decode several raw txs, naming the index of the first bad one."""
    out = []
    for i, raw in enumerate(raws):
        try:
            out.append(decode_transaction(raw))
        except TransactionError as exc:
            raise type(exc)(f"tx {i}: {exc}") from exc
    return out
