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

Sections: a small strict RLP codec (pyrlp would pull ``socket`` into the pure core), the
``Transaction`` dataclass and raw decoding, RPC JSON -> raw (with the hash check), span-batch
``tx_data`` <-> Transaction, and ``span_columns_of_raw``, the fast split the incremental span
batch builder uses (RLP slicing, no nested decode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from Crypto.Hash import keccak

from common.derive.block_ref import hex_to_bytes, json_uint

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

_UINT256_MAX = (1 << 256) - 1
_UINT64_MAX = (1 << 64) - 1


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


# ---------------------------------------------------------------------------------------------
# RLP (a small strict codec: pyrlp pulls in importlib.metadata -> socket, which the pure core avoids)


class RlpError(ValueError):
    """Malformed or non-canonical RLP."""


RlpItem = bytes | list[Any]


def _rlp_length_prefix(length: int, short_base: int) -> bytes:
    if length < 56:
        return bytes([short_base + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([short_base + 55 + len(size)]) + size


def rlp_encode(item: Any) -> bytes:
    """Encode bytes, non-negative ints (minimal big-endian) and (nested) lists/tuples of them."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        raw = bytes(item)
        if len(raw) == 1 and raw[0] < 0x80:
            return raw
        return _rlp_length_prefix(len(raw), 0x80) + raw
    if isinstance(item, bool):
        raise RlpError("RLP: booleans are not encoded here")
    if isinstance(item, int):
        if item < 0:
            raise RlpError(f"RLP: cannot encode negative integer {item}")
        return rlp_encode(item.to_bytes((item.bit_length() + 7) // 8, "big"))
    if isinstance(item, (list, tuple)):
        payload = b"".join(rlp_encode(x) for x in item)
        return _rlp_length_prefix(len(payload), 0xC0) + payload
    raise RlpError(f"RLP: cannot encode {type(item).__name__}")


def _rlp_item(data: bytes, pos: int, end: int) -> tuple[int, int, bool]:
    """(payload start, payload end, is list) of the canonical RLP item at ``pos``, within ``end``."""
    if pos >= end:
        raise RlpError(f"RLP: item expected at offset {pos}, data ends")
    b = data[pos]
    if b < 0x80:
        return pos, pos + 1, False
    if b < 0xB8:
        start, size, is_list = pos + 1, b - 0x80, False
        if size == 1 and start < end and data[start] < 0x80:
            raise RlpError(f"RLP: non-canonical single byte at offset {pos}")
    elif b < 0xC0 or b >= 0xF8:
        is_list = b >= 0xF8
        ll = b - (0xF7 if is_list else 0xB7)
        if pos + 1 + ll > end or data[pos + 1] == 0:
            raise RlpError(f"RLP: bad long length at offset {pos}")
        size = int.from_bytes(data[pos + 1 : pos + 1 + ll], "big")
        if size < 56:
            raise RlpError(f"RLP: non-canonical long length at offset {pos}")
        start = pos + 1 + ll
    else:
        start, size, is_list = pos + 1, b - 0xC0, True
    if start + size > end:
        raise RlpError(f"RLP: item at offset {pos} runs past the end of its list")
    return start, start + size, is_list


def _rlp_decode_at(data: bytes, pos: int, end: int) -> tuple[RlpItem, int]:
    start, stop, is_list = _rlp_item(data, pos, end)
    if not is_list:
        return data[start:stop], stop
    items: list[Any] = []
    p = start
    while p < stop:
        item, p = _rlp_decode_at(data, p, stop)
        items.append(item)
    return items, stop


def rlp_decode(data: bytes) -> RlpItem:
    """Decode one canonical RLP item that spans all of ``data`` (strings -> bytes, lists -> lists)."""
    raw = bytes(data)
    item, end = _rlp_decode_at(raw, 0, len(raw))
    if end != len(raw):
        raise RlpError(f"RLP: {len(raw) - end} trailing bytes after the item")
    return item


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


def _uint(item: Any, field: str, limit: int = _UINT256_MAX) -> int:
    """Canonical RLP unsigned integer (no leading zeros) within ``limit``."""
    if not isinstance(item, bytes):
        raise TransactionError(f"{field}: expected an RLP string, got a list")
    if item[:1] == b"\x00":
        raise TransactionError(f"{field}: non-canonical integer with leading zero bytes")
    value = int.from_bytes(item, "big")
    if value > limit:
        raise TransactionError(f"{field}: value {value} out of range")
    return value


def _bytes(item: Any, field: str, length: int | None = None) -> bytes:
    if not isinstance(item, bytes):
        raise TransactionError(f"{field}: expected an RLP string, got a list")
    if length is not None and len(item) != length:
        raise TransactionError(f"{field}: expected {length} bytes, got {len(item)}")
    return item


def _to(item: Any, field: str = "to") -> bytes | None:
    raw = _bytes(item, field)
    if not raw:
        return None
    if len(raw) != 20:
        raise TransactionError(f"{field}: expected 20 bytes or empty, got {len(raw)}")
    return raw


def _list(item: Any, field: str, length: int | None = None) -> list[Any]:
    if not isinstance(item, list):
        raise TransactionError(f"{field}: expected an RLP list")
    if length is not None and len(item) != length:
        raise TransactionError(f"{field}: expected {length} items, got {len(item)}")
    return item


def decode_access_list(item: Any) -> AccessList:
    """Parse an RLP access list [[address, [key, ...]], ...]."""
    out = []
    for i, entry in enumerate(_list(item, "accessList")):
        pair = _list(entry, f"accessList[{i}]", 2)
        keys = tuple(_bytes(k, f"accessList[{i}].storageKeys", 32) for k in _list(pair[1], "storageKeys"))
        out.append((_bytes(pair[0], f"accessList[{i}].address", 20), keys))
    return tuple(out)


def decode_authorization_list(item: Any) -> tuple[Authorization, ...]:
    """Parse an RLP EIP-7702 authorization list [[chainId, address, nonce, y, r, s], ...]."""
    out = []
    for i, entry in enumerate(_list(item, "authorizationList")):
        f = _list(entry, f"authorizationList[{i}]", 6)
        name = f"authorizationList[{i}]"
        out.append(
            Authorization(
                _uint(f[0], f"{name}.chainId"),
                _bytes(f[1], f"{name}.address", 20),
                _uint(f[2], f"{name}.nonce", _UINT64_MAX),
                _uint(f[3], f"{name}.yParity", 0xFF),
                _uint(f[4], f"{name}.r"),
                _uint(f[5], f"{name}.s"),
            )
        )
    return tuple(out)


def _rlp_decode(payload: bytes, what: str) -> list[Any]:
    try:
        items = rlp_decode(payload)
    except RlpError as exc:
        raise TransactionError(f"{what}: invalid RLP: {exc}") from exc
    if not isinstance(items, list):
        raise TransactionError(f"{what}: expected an RLP list")
    return items


def _y_parity(v: int, field: str = "yParity") -> int:
    if v not in (0, 1):
        raise TransactionError(f"{field}: expected 0 or 1, got {v}")
    return v


def decode_transaction(raw: bytes) -> Transaction:
    """Parse canonical signed tx bytes of a batchable type."""
    tx_type = tx_type_of_raw(raw)
    if tx_type == LEGACY_TX_TYPE:
        f = _rlp_decode(bytes(raw), "legacy tx")
        if len(f) != 9:
            raise TransactionError(f"legacy tx: expected 9 fields, got {len(f)}")
        v = _uint(f[6], "v")
        if v in (27, 28):
            chain_id: int | None = None
            y = v - 27
        elif v >= 35:
            chain_id, y = (v - 35) // 2, (v - 35) % 2
        else:
            raise TransactionError(f"legacy tx: invalid v {v}")
        gas_price = _uint(f[1], "gasPrice")
        return Transaction(
            LEGACY_TX_TYPE,
            chain_id,
            _uint(f[0], "nonce", _UINT64_MAX),
            gas_price,
            gas_price,
            _uint(f[2], "gas", _UINT64_MAX),
            _to(f[3]),
            _uint(f[4], "value"),
            _bytes(f[5], "data"),
            (),
            (),
            y,
            _uint(f[7], "r"),
            _uint(f[8], "s"),
        )
    if tx_type == DEPOSIT_TX_TYPE:
        raise UnsupportedTxTypeError("deposit transactions (type 0x7e) are not batch transactions")
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx_type:02x} cannot be carried in a batch")
    f = _rlp_decode(bytes(raw[1:]), f"type {tx_type} tx")
    expected = {ACCESS_LIST_TX_TYPE: 11, DYNAMIC_FEE_TX_TYPE: 12, SET_CODE_TX_TYPE: 13}[tx_type]
    if len(f) != expected:
        raise TransactionError(f"type {tx_type} tx: expected {expected} fields, got {len(f)}")
    chain_id = _uint(f[0], "chainId")
    nonce = _uint(f[1], "nonce", _UINT64_MAX)
    y, r, s = _y_parity(_uint(f[-3], "yParity")), _uint(f[-2], "r"), _uint(f[-1], "s")
    if tx_type == ACCESS_LIST_TX_TYPE:
        price = _uint(f[2], "gasPrice")
        return Transaction(
            tx_type,
            chain_id,
            nonce,
            price,
            price,
            _uint(f[3], "gas", _UINT64_MAX),
            _to(f[4]),
            _uint(f[5], "value"),
            _bytes(f[6], "data"),
            decode_access_list(f[7]),
            (),
            y,
            r,
            s,
        )
    tip, cap = _uint(f[2], "maxPriorityFeePerGas"), _uint(f[3], "maxFeePerGas")
    auths = decode_authorization_list(f[9]) if tx_type == SET_CODE_TX_TYPE else ()
    to = _to(f[5])
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    return Transaction(
        tx_type,
        chain_id,
        nonce,
        cap,
        tip,
        _uint(f[4], "gas", _UINT64_MAX),
        to,
        _uint(f[6], "value"),
        _bytes(f[7], "data"),
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
    return _y_parity(json_uint(value, field), field)


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
        v = json_uint(_json_req(obj, "v"), "v")
        if v in (27, 28):
            chain_id: int | None = None
            y = v - 27
        elif v >= 35:
            chain_id, y = (v - 35) // 2, (v - 35) % 2
        else:
            raise TransactionError(f"legacy tx: invalid v {v}")
        price = json_uint(_json_req(obj, "gasPrice"), "gasPrice")
        return Transaction(tx_type, chain_id, nonce, price, price, gas, to, value, data, (), (), y, r, s)
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


# ---------------------------------------------------------------------------------------------
# span-batch columns <-> Transaction (wire-formats.md §4 "tx_datas")


def span_tx_data(tx: Transaction) -> bytes:
    """The span-batch ``tx_data`` of a tx: nonce, gas, to, chain id and signature stripped out."""
    if tx.tx_type == LEGACY_TX_TYPE:
        return rlp_encode([tx.value, tx.gas_price, tx.data])
    access = [[addr, list(keys)] for addr, keys in tx.access_list]
    if tx.tx_type == ACCESS_LIST_TX_TYPE:
        fields: list[Any] = [tx.value, tx.gas_price, tx.data, access]
    elif tx.tx_type == DYNAMIC_FEE_TX_TYPE:
        fields = [tx.value, tx.gas_tip_cap, tx.gas_price, tx.data, access]
    elif tx.tx_type == SET_CODE_TX_TYPE:
        fields = [
            tx.value,
            tx.gas_tip_cap,
            tx.gas_price,
            tx.data,
            access,
            [a.rlp_fields() for a in tx.authorization_list],
        ]
    else:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx.tx_type:02x} cannot be put in a span batch")
    return bytes([tx.tx_type]) + rlp_encode(fields)


def transaction_from_span_fields(
    tx_data: bytes,
    *,
    nonce: int,
    gas: int,
    to: bytes | None,
    r: int,
    s: int,
    y_parity: int,
    protected: bool,
    chain_id: int,
) -> Transaction:
    """Rebuild a full signed tx from its span-batch columns and the L2 chain id."""
    tx_type = tx_type_of_raw(tx_data)
    if tx_type == LEGACY_TX_TYPE:
        f = _rlp_decode(bytes(tx_data), "legacy tx_data")
        if len(f) != 3:
            raise TransactionError(f"legacy tx_data: expected 3 fields, got {len(f)}")
        price = _uint(f[1], "gasPrice")
        return Transaction(
            LEGACY_TX_TYPE,
            chain_id if protected else None,
            nonce,
            price,
            price,
            gas,
            to,
            _uint(f[0], "value"),
            _bytes(f[2], "data"),
            (),
            (),
            y_parity,
            r,
            s,
        )
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"span batch tx_data has unsupported type 0x{tx_type:02x}")
    f = _rlp_decode(bytes(tx_data[1:]), f"type {tx_type} tx_data")
    expected = {ACCESS_LIST_TX_TYPE: 4, DYNAMIC_FEE_TX_TYPE: 5, SET_CODE_TX_TYPE: 6}[tx_type]
    if len(f) != expected:
        raise TransactionError(f"type {tx_type} tx_data: expected {expected} fields, got {len(f)}")
    value = _uint(f[0], "value")
    if tx_type == ACCESS_LIST_TX_TYPE:
        price = _uint(f[1], "gasPrice")
        return Transaction(
            tx_type,
            chain_id,
            nonce,
            price,
            price,
            gas,
            to,
            value,
            _bytes(f[2], "data"),
            decode_access_list(f[3]),
            (),
            y_parity,
            r,
            s,
        )
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    auths = decode_authorization_list(f[5]) if tx_type == SET_CODE_TX_TYPE else ()
    return Transaction(
        tx_type,
        chain_id,
        nonce,
        _uint(f[2], "maxFeePerGas"),
        _uint(f[1], "maxPriorityFeePerGas"),
        gas,
        to,
        value,
        _bytes(f[3], "data"),
        decode_access_list(f[4]),
        auths,
        y_parity,
        r,
        s,
    )


# ---------------------------------------------------------------------------------------------
# fast path for span-batch building: split raw bytes into columns without decoding nested RLP


@dataclass(frozen=True, slots=True)
class SpanTxColumns:
    """One tx split into span-batch columns, straight from its raw bytes."""

    tx_type: int
    chain_id: int | None
    """None for an unprotected legacy tx."""
    nonce: int
    gas: int
    to: bytes | None
    y_parity: int
    r: bytes
    """32-byte big-endian r."""
    s: bytes
    """32-byte big-endian s."""
    tx_data: bytes


def _rlp_list_spans(data: bytes, pos: int, count: int, what: str) -> list[tuple[int, int, int, bool]]:
    """Items of the list at ``pos``, which must end the data: (item start, payload start, end, is list)."""
    start, end, is_list = _rlp_item(data, pos, len(data))
    if not is_list or end != len(data):
        raise TransactionError(f"{what}: expected one RLP list spanning the whole tx")
    spans = []
    p = start
    while p < end:
        s, e, nested = _rlp_item(data, p, end)
        spans.append((p, s, e, nested))
        p = e
    if len(spans) != count:
        raise TransactionError(f"{what}: expected {count} fields, got {len(spans)}")
    return spans


def _span_uint(data: bytes, span: tuple[int, int, int, bool], field: str, limit: int = _UINT64_MAX) -> int:
    _, s, e, nested = span
    if nested:
        raise TransactionError(f"{field}: expected an RLP string, got a list")
    if e > s and data[s] == 0:
        raise TransactionError(f"{field}: non-canonical integer with leading zero bytes")
    value = int.from_bytes(data[s:e], "big")
    if value > limit:
        raise TransactionError(f"{field}: value {value} out of range")
    return value


def _span_word(data: bytes, span: tuple[int, int, int, bool], field: str) -> bytes:
    _, s, e, nested = span
    if nested or e - s > 32 or (e > s and data[s] == 0):
        raise TransactionError(f"{field}: expected a canonical integer of at most 32 bytes")
    return bytes(32 - (e - s)) + data[s:e]


def _span_to(data: bytes, span: tuple[int, int, int, bool]) -> bytes | None:
    _, s, e, nested = span
    if nested or e - s not in (0, 20):
        raise TransactionError(f"to: expected 20 bytes or empty, got {e - s}")
    return data[s:e] if e > s else None


def _list_bytes(data: bytes, spans: list[tuple[int, int, int, bool]], kinds: str) -> bytes:
    """RLP list of the raw items ``spans``; ``kinds`` says per item 'i' uint, 'b' bytes, 'l' list."""
    parts = []
    for (p, _s, e, nested), kind in zip(spans, kinds, strict=True):
        if nested != (kind == "l"):
            raise TransactionError(f"RLP: field at offset {p} has the wrong kind (expected {kind})")
        parts.append(data[p:e])
    payload = b"".join(parts)
    n = len(payload)
    if n < 56:
        return bytes([0xC0 + n]) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def span_columns_of_raw(raw: bytes) -> SpanTxColumns:
    """Split signed tx bytes into span-batch columns by slicing the RLP (no full decode)."""
    try:
        return _span_columns_of_raw(raw)
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc


def _span_columns_of_raw(raw: bytes) -> SpanTxColumns:
    data = bytes(raw)
    tx_type = tx_type_of_raw(data)
    if tx_type == LEGACY_TX_TYPE:
        f = _rlp_list_spans(data, 0, 9, "legacy tx")
        v = _span_uint(data, f[6], "v", _UINT256_MAX)
        if v in (27, 28):
            chain_id: int | None = None
            y = v - 27
        elif v >= 35:
            chain_id, y = (v - 35) // 2, (v - 35) % 2
        else:
            raise TransactionError(f"legacy tx: invalid v {v}")
        _span_uint(data, f[1], "gasPrice", _UINT256_MAX)
        _span_uint(data, f[4], "value", _UINT256_MAX)
        tx_data = _list_bytes(data, [f[4], f[1], f[5]], "iib")
        return SpanTxColumns(
            tx_type,
            chain_id,
            _span_uint(data, f[0], "nonce"),
            _span_uint(data, f[2], "gas"),
            _span_to(data, f[3]),
            y,
            _span_word(data, f[7], "r"),
            _span_word(data, f[8], "s"),
            tx_data,
        )
    if tx_type == DEPOSIT_TX_TYPE:
        raise UnsupportedTxTypeError("deposit transactions (type 0x7e) are not batch transactions")
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx_type:02x} cannot be carried in a batch")
    count = {ACCESS_LIST_TX_TYPE: 11, DYNAMIC_FEE_TX_TYPE: 12, SET_CODE_TX_TYPE: 13}[tx_type]
    f = _rlp_list_spans(data, 1, count, f"type {tx_type} tx")
    chain_id = _span_uint(data, f[0], "chainId", _UINT256_MAX)
    y = _y_parity(_span_uint(data, f[-3], "yParity"))
    if tx_type == ACCESS_LIST_TX_TYPE:
        gas_i, to_i = 3, 4
        fee_spans, kinds = [f[5], f[2], f[6], f[7]], "iibl"
    else:
        gas_i, to_i = 4, 5
        fee_spans = [f[6], f[2], f[3], f[7], f[8]]
        kinds = "iiibl"
        if tx_type == SET_CODE_TX_TYPE:
            fee_spans.append(f[9])
            kinds += "l"
    for span, kind in zip(fee_spans, kinds, strict=True):
        if kind == "i":
            _span_uint(data, span, "fee/value field", _UINT256_MAX)
    to = _span_to(data, f[to_i])
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    tx_data = bytes([tx_type]) + _list_bytes(data, fee_spans, kinds)
    return SpanTxColumns(
        tx_type,
        chain_id,
        _span_uint(data, f[1], "nonce"),
        _span_uint(data, f[gas_i], "gas"),
        to,
        y,
        _span_word(data, f[-2], "r"),
        _span_word(data, f[-1], "s"),
        tx_data,
    )
