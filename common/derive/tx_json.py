"""The fast path from an RPC tx object to its signed bytes, for the common typed txs (EIP-2930, EIP-1559).

:func:`~common.derive.transaction.raw_tx_from_json` parses every field to an int, builds a
:class:`~common.derive.transaction.Transaction` and RLP-encodes it generically: ~40 % of loading a
Base-like block. Here the JSON hex quantities go straight to RLP strings (a canonical hex quantity has
no leading zeros, so its bytes are already the minimal big-endian form), with no intermediate objects.
The result is trusted only if it hashes to the node's ``hash``; anything unexpected (a legacy or
set-code tx, a missing hash, a field out of shape, a different chain id, a hash mismatch) returns None
and the caller takes the exact path, which also names what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.derive.transaction import keccak256

_FIELDS = {
    1: ("gasPrice",),
    2: ("maxPriorityFeePerGas", "maxFeePerGas"),
}
"""Fee fields (in RLP order) of the types this path encodes."""


class _Unexpected(Exception):
    """Leave the fast path."""


def _len_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def _string(b: bytes) -> bytes:
    if len(b) == 1 and b[0] < 0x80:
        return b
    return _len_prefix(len(b), 0x80) + b


def _quantity(value: Any) -> bytes:
    """A canonical JSON hex quantity as an RLP string."""
    if type(value) is not str or value[:2] != "0x":
        raise _Unexpected
    digits = value[2:]
    if digits == "0":
        return b"\x80"
    if not digits or digits[0] == "0":
        raise _Unexpected
    raw = bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
    return _string(raw)


def _data(value: Any, length: int | None = None) -> bytes:
    if type(value) is not str or value[:2] != "0x":
        raise _Unexpected
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise _Unexpected
    return _string(raw)


def _access_list(value: Any) -> bytes:
    if not value:
        return b"\xc0"
    entries = []
    for entry in value:
        keys = b"".join(_data(k, 32) for k in entry["storageKeys"] or ())
        body = _data(entry["address"], 20) + _len_prefix(len(keys), 0xC0) + keys
        entries.append(_len_prefix(len(body), 0xC0) + body)
    payload = b"".join(entries)
    return _len_prefix(len(payload), 0xC0) + payload


def fast_raw_tx(obj: Mapping[str, Any], chain_id: int) -> bytes | None:
    """Signed bytes of a type-1/2 tx object, verified against its ``hash``; None: use the exact path."""
    try:
        tx_type = obj.get("type")
        kind = 2 if tx_type == "0x2" else 1 if tx_type == "0x1" else 0
        if not kind or int(obj["chainId"], 16) != chain_id:
            return None
        to = obj.get("to")
        parts = [_quantity(obj["chainId"]), _quantity(obj["nonce"])]
        parts.extend(_quantity(obj[f]) for f in _FIELDS[kind])
        parts.append(_quantity(obj["gas"]))
        parts.append(b"\x80" if to is None or to in ("", "0x") else _data(to, 20))
        parts.append(_quantity(obj.get("value", "0x0")))
        parts.append(_data(obj["input"] if "input" in obj else obj.get("data", "0x")))
        parts.append(_access_list(obj.get("accessList")))
        y = obj.get("yParity", obj.get("v"))
        if y not in ("0x0", "0x1"):
            return None
        parts.extend((_quantity(y), _quantity(obj["r"]), _quantity(obj["s"])))
        payload = b"".join(parts)
        raw = bytes((kind,)) + _len_prefix(len(payload), 0xC0) + payload
        expected = obj["hash"]
        if type(expected) is not str or keccak256(raw).hex() != expected[2:].lower():
            return None
        return raw
    except (_Unexpected, KeyError, TypeError, ValueError, AttributeError):
        return None
