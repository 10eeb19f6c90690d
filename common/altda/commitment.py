"""Alt-DA commitments and the batcher tx data that carries one (op-alt-da ``commitment.go``).

With Alt-DA the L1 batch inbox tx does not carry frames: the frame data (``0x00 ++ frame``, the same bytes
a calldata tx would carry) is stored on a DA server and the tx carries only a commitment to it::

    tx data    = 0x01 (derivation version 1) ++ commitment
    commitment = type(1) ++ payload
                 type 0 keccak256: payload = keccak256(input), 32 bytes, computed by the batcher
                 type 1 generic:   payload = opaque bytes the DA server returned (DA-layer byte first)

The encoded commitment (type byte included) is also the DA server's key: ``/put/0x<commitment>`` and
``/get/0x<commitment>``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from common.derive.transaction import keccak256

DERIVATION_VERSION_1 = 1
"""Batcher tx data version whose payload is an Alt-DA commitment (op-node ``params.DerivationVersion1``)."""
KECCAK256_LENGTH = 32
"""A keccak256 commitment's payload is always 32 bytes."""
MAX_INPUT_SIZE = 130_672
"""op-alt-da ``MaxInputSize``: the largest input a DA server accepts (the batcher's frame cap)."""


class CommitmentError(ValueError):
    """Bytes that are not a valid commitment, or data that does not match one; names what was wrong."""


class CommitmentType(enum.IntEnum):
    """The first byte of an encoded commitment."""

    KECCAK256 = 0
    """The batcher computes keccak256(input); the default (``--altda.da-service=false``)."""
    GENERIC = 1
    """The DA server computes an opaque commitment (``--altda.da-service=true``); op-node never opens it."""

    @property
    def label(self) -> str:
        """Go's names (``KeccakCommitment`` / ``GenericCommitment``), also used as metric/log values."""
        return "KeccakCommitment" if self is CommitmentType.KECCAK256 else "GenericCommitment"


@dataclass(frozen=True, slots=True)
class Commitment:
    """A commitment to one DA input."""

    type: CommitmentType
    payload: bytes
    """keccak256 of the input (32 bytes) for KECCAK256; the server's opaque bytes for GENERIC."""

    def __post_init__(self) -> None:
        if not self.payload:
            raise CommitmentError(f"empty {self.type.label} payload")
        if self.type is CommitmentType.KECCAK256 and len(self.payload) != KECCAK256_LENGTH:
            raise CommitmentError(
                f"keccak256 commitment payload is {len(self.payload)} bytes, expected {KECCAK256_LENGTH}"
            )

    @classmethod
    def keccak256_of(cls, data: bytes) -> Commitment:
        """The commitment the batcher precomputes for ``data`` (Go ``NewKeccak256Commitment``)."""
        return cls(CommitmentType.KECCAK256, keccak256(data))

    def encode(self) -> bytes:
        """``type ++ payload``: the DA server key and the body of a generic ``/put`` reply."""
        return bytes([self.type]) + self.payload

    def tx_data(self) -> bytes:
        """What the L1 batch inbox tx carries: ``0x01 ++ encode()``."""
        return bytes([DERIVATION_VERSION_1]) + self.encode()

    def hex(self) -> str:
        """``0x`` + hex of ``encode()``: the URL path element of ``/put`` and ``/get``."""
        return "0x" + self.encode().hex()

    def verify(self, data: bytes) -> None:
        """Raise unless ``data`` is what this commitment commits to.

        A generic commitment cannot be checked here (the DA server vouches for it), as in Go.
        """
        if self.type is CommitmentType.KECCAK256 and keccak256(data) != self.payload:
            raise CommitmentError(
                f"commitment mismatch: keccak256 of the {len(data)}-byte input is 0x{keccak256(data).hex()}, "
                f"commitment is 0x{self.payload.hex()}"
            )

    def __str__(self) -> str:
        return self.encode().hex()


def decode_commitment(data: bytes) -> Commitment:
    """``type ++ payload`` -> Commitment (Go ``DecodeCommitmentData``); errors name the bad byte or length."""
    if not data:
        raise CommitmentError("invalid commitment: empty")
    try:
        kind = CommitmentType(data[0])
    except ValueError:
        raise CommitmentError(f"invalid commitment: unknown commitment type byte 0x{data[0]:02x}") from None
    return Commitment(kind, bytes(data[1:]))


def decode_tx_data(data: bytes) -> Commitment:
    """Batcher tx data with derivation version 1 -> its commitment (what op-node's Alt-DA source reads)."""
    if not data or data[0] != DERIVATION_VERSION_1:
        first = f"0x{data[0]:02x}" if data else "nothing"
        raise CommitmentError(f"not Alt-DA tx data: version byte is {first}, expected 0x01")
    return decode_commitment(data[1:])
