"""Super roots (interop): the commitment to every chain's output root at one L2 timestamp.

Wire format (op-service/eth/super_root.go ``SuperV1.Marshal``; specs "super root"):
``version byte 1 ‖ uint64 timestamp (big-endian) ‖ (uint256 chainId ‖ bytes32 outputRoot)*`` with the chains
sorted by chain id ascending; the super root is keccak256 of that preimage. Super-root dispute games (types 4
SUPER_CANNON, 5 SUPER_PERMISSIONED, 9 SUPER_CANNON_KONA) take the super root as their root claim and the
preimage itself as their extraData, so the game can check one against the other.

JSON (``SuperV1.MarshalJSON``):
``{"timestamp": "0x…", "chains": [{"ChainID": "<decimal>", "Output": "0x…"}]}`` (Go's default field
names: ``ChainIDAndOutput`` has no JSON tags; a ChainID marshals as a decimal string).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from Crypto.Hash import keccak

from common.derive.block_ref import hex_to_bytes, json_uint

SUPER_ROOT_VERSION_V1 = 1
V1_MIN_LENGTH = 1 + 8 + 64
"""Version, timestamp and at least one (chain id, output root) pair."""
MAX_UINT64 = (1 << 64) - 1


class InvalidSuperRoot(ValueError):
    """A preimage or JSON value that is not a well-formed super root; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class ChainOutput:
    """One chain's output root inside a super root."""

    chain_id: int
    output_root: bytes
    """32 bytes."""

    def marshal(self) -> bytes:
        return self.chain_id.to_bytes(32, "big") + self.output_root


@dataclass(frozen=True, slots=True)
class SuperV1:
    """A version-1 super root: ``chains`` are kept sorted by chain id (as Go's ``NewSuperV1`` sorts them)."""

    timestamp: int
    chains: tuple[ChainOutput, ...]

    @classmethod
    def of(cls, timestamp: int, chains: list[ChainOutput] | tuple[ChainOutput, ...]) -> SuperV1:
        """Build one from chains in any order (sorted here, as ``NewSuperV1`` does), validated."""
        return cls._checked(timestamp, tuple(sorted(chains, key=lambda c: c.chain_id)))

    @classmethod
    def _checked(cls, timestamp: int, chains: tuple[ChainOutput, ...]) -> SuperV1:
        """Range checks, so ``marshal`` cannot fail later; the order of ``chains`` is kept."""
        if not 0 <= timestamp <= MAX_UINT64:
            raise InvalidSuperRoot(f"timestamp {timestamp} does not fit in uint64")
        for chain in chains:
            if not 0 <= chain.chain_id < 1 << 256:
                raise InvalidSuperRoot(f"chain id {chain.chain_id} does not fit in uint256")
            if len(chain.output_root) != 32:
                raise InvalidSuperRoot(
                    f"chain {chain.chain_id}: output root is {len(chain.output_root)} bytes"
                )
        return cls(timestamp, chains)

    @property
    def version(self) -> int:
        return SUPER_ROOT_VERSION_V1

    def marshal(self) -> bytes:
        """The preimage: also the extraData of a super-root dispute game."""
        return (
            bytes([SUPER_ROOT_VERSION_V1])
            + self.timestamp.to_bytes(8, "big")
            + b"".join(c.marshal() for c in self.chains)
        )

    def root(self) -> bytes:
        """keccak256 of the preimage: the root claim of a super-root game."""
        return keccak.new(digest_bits=256, data=self.marshal()).digest()

    @classmethod
    def unmarshal(cls, data: bytes) -> SuperV1:
        if not data:
            raise InvalidSuperRoot("invalid super root: empty")
        if data[0] != SUPER_ROOT_VERSION_V1:
            raise InvalidSuperRoot(f"invalid super root version {data[0]}")
        if len(data) < V1_MIN_LENGTH or (len(data) - 9) % 64:
            raise InvalidSuperRoot(f"invalid super root: {len(data)} bytes is not 9 + 64*n (n >= 1)")
        chains = tuple(
            ChainOutput(int.from_bytes(data[i : i + 32], "big"), bytes(data[i + 32 : i + 64]))
            for i in range(9, len(data), 64)
        )
        return cls(int.from_bytes(data[1:9], "big"), chains)

    def to_json(self) -> dict[str, Any]:
        return {
            "timestamp": hex(self.timestamp),
            "chains": [
                {"ChainID": str(c.chain_id), "Output": "0x" + c.output_root.hex()} for c in self.chains
            ],
        }

    @classmethod
    def from_json(cls, obj: Any, field: str = "super") -> SuperV1:
        if not isinstance(obj, dict):
            raise InvalidSuperRoot(f"{field}: expected an object")
        chains_json = obj.get("chains")
        if not isinstance(chains_json, list) or not chains_json:
            raise InvalidSuperRoot(f"{field}.chains: expected a non-empty list")
        chains = []
        for i, item in enumerate(chains_json):
            where = f"{field}.chains[{i}]"
            if not isinstance(item, dict):
                raise InvalidSuperRoot(f"{where}: expected an object")
            chains.append(
                ChainOutput(
                    json_uint(item.get("ChainID"), f"{where}.ChainID"),
                    hex_to_bytes(item.get("Output"), f"{where}.Output", 32),
                )
            )
        # Order kept as sent (Go's UnmarshalJSON does not sort): the preimage must hash to the served root.
        return cls._checked(json_uint(obj.get("timestamp"), f"{field}.timestamp"), tuple(chains))
