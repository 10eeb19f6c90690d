"""Transactions in span-batch columns (wire-formats.md §4 ``tx_datas`` and the per-tx columns).

A span batch stores each tx split up: nonce, gas, to, signature (r, s, y parity) and the legacy
"protected" bit go to their own columns, and ``tx_data`` keeps the rest::

    legacy:   rlp([value, gasPrice, data])
    type 1:   0x01 ++ rlp([value, gasPrice, data, accessList])
    type 2:   0x02 ++ rlp([value, maxPriorityFeePerGas, maxFeePerGas, data, accessList])
    type 4:   0x04 ++ rlp([value, maxPriorityFeePerGas, maxFeePerGas, data, accessList, authList])

``span_tx_data`` / ``transaction_from_span_fields`` map a decoded ``Transaction`` both ways;
``span_columns_of_raw`` is the fast split the incremental span batch builder uses: it scans the
signed bytes with ``common.derive.rlp.list_spans`` and splices the raw field encodings into
``tx_data`` without decoding nested RLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.derive.rlp import (
    UINT64_MAX,
    RlpError,
    Span,
    decode_bytes,
    decode_list,
    decode_uint,
    list_spans,
    rlp_encode,
    rlp_list,
    span_uint,
)
from common.derive.transaction import (
    ACCESS_LIST_TX_TYPE,
    BATCHABLE_TX_TYPES,
    DEPOSIT_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
    TYPED_TX_FIELD_COUNTS,
    Transaction,
    TransactionError,
    UnsupportedTxTypeError,
    check_y_parity,
    decode_access_list,
    decode_authorization_list,
    legacy_chain_id_and_parity,
    tx_type_of_raw,
)

SPAN_TX_DATA_FIELD_COUNTS = {
    LEGACY_TX_TYPE: 3,
    ACCESS_LIST_TX_TYPE: 4,
    DYNAMIC_FEE_TX_TYPE: 5,
    SET_CODE_TX_TYPE: 6,
}
"""Fields of the ``tx_data`` RLP list per tx type."""


# ---------------------------------------------------------------------------------------------
# Transaction <-> tx_data


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
        auths = [a.rlp_fields() for a in tx.authorization_list]
        fields = [tx.value, tx.gas_tip_cap, tx.gas_price, tx.data, access, auths]
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
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"span batch tx_data has unsupported type 0x{tx_type:02x}")
    count = SPAN_TX_DATA_FIELD_COUNTS[tx_type]
    try:
        if tx_type == LEGACY_TX_TYPE:
            f = decode_list(tx_data, "legacy tx_data", count)
            price = decode_uint(f[1], "gasPrice")
            value, data = decode_uint(f[0], "value"), decode_bytes(f[2], "data")
            legacy_id = chain_id if protected else None
            return Transaction(
                tx_type, legacy_id, nonce, price, price, gas, to, value, data, (), (), y_parity, r, s
            )
        f = decode_list(memoryview(tx_data)[1:], f"type {tx_type} tx_data", count)
        value = decode_uint(f[0], "value")
        if tx_type == ACCESS_LIST_TX_TYPE:
            price, data = decode_uint(f[1], "gasPrice"), decode_bytes(f[2], "data")
            access = decode_access_list(f[3])
            return Transaction(
                tx_type, chain_id, nonce, price, price, gas, to, value, data, access, (), y_parity, r, s
            )
        tip, cap = decode_uint(f[1], "maxPriorityFeePerGas"), decode_uint(f[2], "maxFeePerGas")
        data = decode_bytes(f[3], "data")
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    auths = decode_authorization_list(f[5]) if tx_type == SET_CODE_TX_TYPE else ()
    access = decode_access_list(f[4])
    return Transaction(
        tx_type, chain_id, nonce, cap, tip, gas, to, value, data, access, auths, y_parity, r, s
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


def _word(data: bytes, span: Span, field: str) -> bytes:
    """A signature value as the 32-byte big-endian word its column holds."""
    _, s, e, nested = span
    if nested or e - s > 32 or (e > s and data[s] == 0):
        raise TransactionError(f"{field}: expected a canonical integer of at most 32 bytes")
    return bytes(32 - (e - s)) + data[s:e]


def _to(data: bytes, span: Span) -> bytes | None:
    _, s, e, nested = span
    if nested or e - s not in (0, 20):
        raise TransactionError(f"to: expected 20 bytes or empty, got {e - s}")
    return data[s:e] if e > s else None


def _spliced(data: bytes, span: Span, field: str, *, is_list: bool = False) -> bytes:
    """The raw encoding of the field at ``span`` (checked to be a list or a string as expected)."""
    if span[3] != is_list:
        raise TransactionError(f"{field}: expected an RLP {'list' if is_list else 'string'}")
    return data[span[0] : span[2]]


def span_columns_of_raw(raw: bytes) -> SpanTxColumns:
    """Split signed tx bytes into span-batch columns by slicing the RLP (no full decode)."""
    try:
        return _span_columns_of_raw(bytes(raw))
    except RlpError as exc:
        raise TransactionError(str(exc)) from exc


def _span_columns_of_raw(data: bytes) -> SpanTxColumns:
    tx_type = tx_type_of_raw(data)
    if tx_type == LEGACY_TX_TYPE:
        f = list_spans(data, 0, len(data), "legacy tx")
        if len(f) != 9:
            raise TransactionError(f"legacy tx: expected 9 fields, got {len(f)}")
        chain_id, y = legacy_chain_id_and_parity(span_uint(data, f[6], "v"))
        span_uint(data, f[1], "gasPrice")
        span_uint(data, f[4], "value")
        parts: list[bytes] = [
            _spliced(data, f[4], "value"),
            _spliced(data, f[1], "gasPrice"),
            _spliced(data, f[5], "data"),
        ]
        return SpanTxColumns(
            tx_type,
            chain_id,
            span_uint(data, f[0], "nonce", UINT64_MAX),
            span_uint(data, f[2], "gas", UINT64_MAX),
            _to(data, f[3]),
            y,
            _word(data, f[7], "r"),
            _word(data, f[8], "s"),
            rlp_list(parts),
        )
    if tx_type == DEPOSIT_TX_TYPE:
        raise UnsupportedTxTypeError("deposit transactions (type 0x7e) are not batch transactions")
    if tx_type not in BATCHABLE_TX_TYPES:
        raise UnsupportedTxTypeError(f"transaction type 0x{tx_type:02x} cannot be carried in a batch")
    f = list_spans(data, 1, len(data), f"type {tx_type} tx")
    count = TYPED_TX_FIELD_COUNTS[tx_type]
    if len(f) != count:
        raise TransactionError(f"type {tx_type} tx: expected {count} fields, got {len(f)}")
    chain_id = span_uint(data, f[0], "chainId")
    y = check_y_parity(span_uint(data, f[-3], "yParity"))
    if tx_type == ACCESS_LIST_TX_TYPE:
        gas_i, to_i = 3, 4
        span_uint(data, f[2], "gasPrice")
        span_uint(data, f[5], "value")
        parts = [
            _spliced(data, f[5], "value"),
            _spliced(data, f[2], "gasPrice"),
            _spliced(data, f[6], "data"),
            _spliced(data, f[7], "accessList", is_list=True),
        ]
    else:
        gas_i, to_i = 4, 5
        span_uint(data, f[2], "maxPriorityFeePerGas")
        span_uint(data, f[3], "maxFeePerGas")
        span_uint(data, f[6], "value")
        parts = [
            _spliced(data, f[6], "value"),
            _spliced(data, f[2], "maxPriorityFeePerGas"),
            _spliced(data, f[3], "maxFeePerGas"),
            _spliced(data, f[7], "data"),
            _spliced(data, f[8], "accessList", is_list=True),
        ]
        if tx_type == SET_CODE_TX_TYPE:
            parts.append(_spliced(data, f[9], "authorizationList", is_list=True))
    to = _to(data, f[to_i])
    if tx_type == SET_CODE_TX_TYPE and to is None:
        raise TransactionError("set-code (type 4) tx cannot be a contract creation")
    return SpanTxColumns(
        tx_type,
        chain_id,
        span_uint(data, f[1], "nonce", UINT64_MAX),
        span_uint(data, f[gas_i], "gas", UINT64_MAX),
        to,
        y,
        _word(data, f[-2], "r"),
        _word(data, f[-1], "s"),
        bytes((tx_type,)) + rlp_list(parts),
    )
