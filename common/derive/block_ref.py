"""Block references as op-node serialises them (op-service/eth/id.go).

Numbers and timestamps inside these objects are plain JSON numbers, not hex quantities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ZERO_HASH = b"\x00" * 32


def hex_to_bytes(value: Any, field: str, length: int | None = None) -> bytes:
    """Decode a 0x-prefixed hex string, naming the field on failure."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a hex string, got {type(value).__name__}")
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"{field}: invalid hex {value[:20]!r}") from exc
    if length is not None and len(raw) != length:
        raise ValueError(f"{field}: expected {length} bytes, got {len(raw)}")
    return raw


def json_uint(value: Any, field: str) -> int:
    """Accept a JSON number or a hex/decimal string (tolerant edge parsing)."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected an unsigned integer, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.startswith(("0x", "0X")) else int(value)
        except ValueError as exc:
            raise ValueError(f"{field}: invalid integer {value!r}") from exc
    else:
        raise ValueError(f"{field}: expected an unsigned integer, got {type(value).__name__}")
    if result < 0:
        raise ValueError(f"{field}: negative value {result}")
    return result


@dataclass(frozen=True, slots=True)
class BlockID:
    """A block by hash and number."""

    hash: bytes
    """32-byte block hash."""
    number: int

    @classmethod
    def from_json(cls, obj: Any, field: str = "block") -> BlockID:
        if not isinstance(obj, dict):
            raise ValueError(f"{field}: expected an object")
        return cls(
            hex_to_bytes(obj.get("hash", "0x" + "00" * 32), f"{field}.hash", 32),
            json_uint(obj.get("number", 0), f"{field}.number"),
        )

    def to_json(self) -> dict[str, Any]:
        return {"hash": "0x" + self.hash.hex(), "number": self.number}


@dataclass(frozen=True, slots=True)
class L1BlockRef:
    """An L1 block header summary (eth.L1BlockRef)."""

    hash: bytes
    number: int
    parent_hash: bytes
    timestamp: int
    """Unix seconds."""

    @property
    def id(self) -> BlockID:
        return BlockID(self.hash, self.number)

    @property
    def is_zero(self) -> bool:
        return self.hash == ZERO_HASH and self.number == 0

    @classmethod
    def zero(cls) -> L1BlockRef:
        return cls(ZERO_HASH, 0, ZERO_HASH, 0)

    @classmethod
    def from_json(cls, obj: Any, field: str = "l1_ref") -> L1BlockRef:
        if obj is None:
            return cls.zero()
        if not isinstance(obj, dict):
            raise ValueError(f"{field}: expected an object")
        return cls(
            hex_to_bytes(obj.get("hash", "0x" + "00" * 32), f"{field}.hash", 32),
            json_uint(obj.get("number", 0), f"{field}.number"),
            hex_to_bytes(obj.get("parentHash", "0x" + "00" * 32), f"{field}.parentHash", 32),
            json_uint(obj.get("timestamp", 0), f"{field}.timestamp"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": "0x" + self.hash.hex(),
            "number": self.number,
            "parentHash": "0x" + self.parent_hash.hex(),
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class L2BlockRef:
    """An L2 block summary with its L1 origin and position in the epoch (eth.L2BlockRef)."""

    hash: bytes
    number: int
    parent_hash: bytes
    timestamp: int
    l1_origin: BlockID
    sequence_number: int
    """Position of the block within its epoch; 0 for the first block of an L1 origin."""

    @property
    def id(self) -> BlockID:
        return BlockID(self.hash, self.number)

    @property
    def is_zero(self) -> bool:
        return self.hash == ZERO_HASH and self.number == 0

    @classmethod
    def zero(cls) -> L2BlockRef:
        return cls(ZERO_HASH, 0, ZERO_HASH, 0, BlockID(ZERO_HASH, 0), 0)

    @classmethod
    def from_json(cls, obj: Any, field: str = "l2_ref") -> L2BlockRef:
        if obj is None:
            return cls.zero()
        if not isinstance(obj, dict):
            raise ValueError(f"{field}: expected an object")
        return cls(
            hex_to_bytes(obj.get("hash", "0x" + "00" * 32), f"{field}.hash", 32),
            json_uint(obj.get("number", 0), f"{field}.number"),
            hex_to_bytes(obj.get("parentHash", "0x" + "00" * 32), f"{field}.parentHash", 32),
            json_uint(obj.get("timestamp", 0), f"{field}.timestamp"),
            BlockID.from_json(obj.get("l1origin", {}), f"{field}.l1origin"),
            json_uint(obj.get("sequenceNumber", 0), f"{field}.sequenceNumber"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": "0x" + self.hash.hex(),
            "number": self.number,
            "parentHash": "0x" + self.parent_hash.hex(),
            "timestamp": self.timestamp,
            "l1origin": self.l1_origin.to_json(),
            "sequenceNumber": self.sequence_number,
        }
