"""Transactions as the tx manager handles them: the caller's candidate, the unsigned and the signed tx.

A :class:`TxCandidate` is what a caller wants sent; crafting turns it into an :class:`UnsignedTx` (nonce,
fees, gas) and signing into a :class:`SignedTx`, whose ``network_bytes`` carry the blob sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from Crypto.Hash import keccak
from eth_utils.address import to_checksum_address

from common.txmgr.blobs import BlobSidecar, pooled_blob_tx
from common.txmgr.fees import TxFees

DYNAMIC_FEE_TX_TYPE = 2
BLOB_TX_TYPE = 3


@dataclass(frozen=True, slots=True)
class TxCandidate:
    """What a caller wants sent; the tx manager picks nonce, fees and (if 0) the gas limit."""

    to: bytes | None
    """20-byte recipient; None = contract creation (not allowed with blobs)."""
    data: bytes = b""
    gas_limit: int = 0
    """0 = estimate with ``eth_estimateGas``."""
    value: int = 0
    blobs: tuple[bytes, ...] = field(default=(), repr=False)
    """Full 131072-byte blobs; non-empty makes a type-3 tx."""


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    """A type-2 or type-3 transaction before signing."""

    chain_id: int
    nonce: int
    to: bytes | None
    value: int
    data: bytes
    gas: int
    fees: TxFees
    blob_hashes: tuple[bytes, ...] = ()

    @property
    def is_blob(self) -> bool:
        return bool(self.blob_hashes)

    def signer_dict(self) -> dict[str, Any]:
        """The tx in eth-account / ``eth_signTransaction`` form (ints, checksummed address, hex data)."""
        tx: dict[str, Any] = {
            "type": BLOB_TX_TYPE if self.is_blob else DYNAMIC_FEE_TX_TYPE,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "value": self.value,
            "data": "0x" + self.data.hex(),
            "gas": self.gas,
            "maxFeePerGas": self.fees.fee_cap,
            "maxPriorityFeePerGas": self.fees.tip,
            "accessList": [],
        }
        if self.to is not None:
            tx["to"] = to_checksum_address(self.to)
        if self.is_blob:
            tx["maxFeePerBlobGas"] = self.fees.blob_fee_cap
            tx["blobVersionedHashes"] = ["0x" + h.hex() for h in self.blob_hashes]
        return tx


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed tx, its hash and (blob txs) the sidecar sent along with it."""

    tx: UnsignedTx
    raw: bytes = field(repr=False)
    """Canonical signed encoding (no sidecar); ``hash = keccak(raw)``."""
    hash: bytes
    sidecar: BlobSidecar | None = None

    @property
    def network_bytes(self) -> bytes:
        """What ``eth_sendRawTransaction`` gets: the pooled form for blob txs."""
        return self.raw if self.sidecar is None else pooled_blob_tx(self.raw, self.sidecar)


def keccak256(data: bytes) -> bytes:
    """The tx hash function."""
    return keccak.new(digest_bits=256, data=data).digest()


def to_hex(b: bytes) -> str:
    """``0x``-prefixed hex, as JSON-RPC and the logs want it."""
    return "0x" + b.hex()


def tx_log_fields(tx: SignedTx, *, gas: bool = False) -> dict[str, Any]:
    """The log fields naming one tx version (hash, nonce; fees and blobs when relevant)."""
    fields: dict[str, Any] = {"tx": to_hex(tx.hash), "nonce": tx.tx.nonce}
    if gas:
        fields.update(gasTipCap=tx.tx.fees.tip, gasFeeCap=tx.tx.fees.fee_cap, gasLimit=tx.tx.gas)
    if tx.tx.is_blob:
        fields.update(blobs=len(tx.tx.blob_hashes), blobFeeCap=tx.tx.fees.blob_fee_cap)
    return fields


EMPTY_CALLDATA_GAS = 21_000
"""Intrinsic gas of an empty-calldata tx (the batcher's EIP-7623 floor for empty data)."""


def cancellation_candidate(to: bytes, *, blocked_blob: bool) -> TxCandidate:
    """The op-batcher cancellation candidate of the kind that is *not* blocked."""
    if blocked_blob:
        return TxCandidate(to=to, data=b"", gas_limit=EMPTY_CALLDATA_GAS)
    from common.derive.blob import encode_blob

    return TxCandidate(to=to, data=b"", gas_limit=EMPTY_CALLDATA_GAS, blobs=(encode_blob(b"\x00"),))
