"""Blob sidecars and the pooled (network) encoding of type-3 transactions.

A blob tx is signed without its sidecar; the sidecar only travels with ``eth_sendRawTransaction``:

    v0 (EIP-4844):  0x03 ++ rlp([tx_payload_body, blobs, commitments, blob_proofs])
    v1 (EIP-7594):  0x03 ++ rlp([tx_payload_body, 1, blobs, commitments, cell_proofs])

where ``tx_payload_body`` is the signed 14-field list. v1 carries 128 cell proofs per blob and is used
once the L1 runs Osaka (``txmgr.cell-proof-time`` < now - 12 s). The tx hash is always the keccak of
``0x03 ++ rlp(tx_payload_body)``. KZG math lives in ``common.derive.kzg``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp

from common.derive import kzg
from common.txmgr.config import CELL_PROOF_SAFETY_BUFFER, MAX_UINT64, OSAKA_TIMES

BLOB_TX_TYPE = 3
CELL_PROOFS_PER_BLOB = 128
"""EIP-7594 CELLS_PER_EXT_BLOB: one proof per cell of the extended blob."""
SIDECAR_VERSION_0 = 0
SIDECAR_VERSION_1 = 1
"""EIP-7594 wrapper version (cell proofs)."""


class BlobTxError(ValueError):
    """A blob transaction or sidecar that cannot be built or parsed."""


@dataclass(frozen=True, slots=True, repr=False)
class BlobSidecar:
    """Blobs, commitments and proofs of one blob tx (``version`` 0 = blob proofs, 1 = cell proofs)."""

    version: int
    blobs: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    proofs: tuple[bytes, ...]
    """One 48-byte proof per blob (v0), or 128 cell proofs per blob (v1), blob by blob."""
    versioned_hashes: tuple[bytes, ...]

    def __repr__(self) -> str:
        return f"BlobSidecar(version={self.version}, blobs={len(self.blobs)})"


def make_sidecar(blobs: Sequence[bytes], *, cell_proofs: bool) -> BlobSidecar:
    """Commit to and prove each blob (v1 cell proofs when ``cell_proofs``)."""
    commitments: list[bytes] = []
    proofs: list[bytes] = []
    for i, blob in enumerate(blobs):
        try:
            commitment = bytes(kzg.blob_to_commitment(blob))
            if cell_proofs:
                cells = [bytes(p) for p in kzg.compute_cell_proofs(blob)]
                if len(cells) != CELL_PROOFS_PER_BLOB:
                    raise BlobTxError(
                        f"blob {i}: expected {CELL_PROOFS_PER_BLOB} cell proofs, got {len(cells)}"
                    )
                proofs.extend(cells)
            else:
                proofs.append(bytes(kzg.compute_blob_proof(blob, commitment)))
        except BlobTxError:
            raise
        except Exception as exc:
            raise BlobTxError(f"cannot commit to blob {i} of {len(blobs)}: {exc}") from exc
        commitments.append(commitment)
    return BlobSidecar(
        version=SIDECAR_VERSION_1 if cell_proofs else SIDECAR_VERSION_0,
        blobs=tuple(bytes(b) for b in blobs),
        commitments=tuple(commitments),
        proofs=tuple(proofs),
        versioned_hashes=tuple(bytes(kzg.versioned_hash(c)) for c in commitments),
    )


def strip_sidecar(raw: bytes) -> bytes:
    """The canonical signed tx (``0x03 ++ rlp(body)``) from either the canonical or the pooled form.

    Signers may hand back either; remote signers in particular are free to include the sidecar.
    """
    if not raw or raw[0] != BLOB_TX_TYPE:
        return raw
    try:
        items: Any = rlp.decode(raw[1:])
    except Exception as exc:
        raise BlobTxError(f"signed blob tx is not valid RLP: {exc}") from exc
    if items and isinstance(items[0], list):
        return bytes([BLOB_TX_TYPE]) + bytes(rlp.encode(items[0]))
    return raw


def pooled_blob_tx(signed: bytes, sidecar: BlobSidecar) -> bytes:
    """Wrap a canonical signed blob tx with its sidecar for ``eth_sendRawTransaction``."""
    if not signed or signed[0] != BLOB_TX_TYPE:
        raise BlobTxError(f"expected a type-3 transaction, got type byte {signed[:1].hex() or 'none'}")
    body: Any = rlp.decode(signed[1:])
    blobs, commitments, proofs = list(sidecar.blobs), list(sidecar.commitments), list(sidecar.proofs)
    if sidecar.version == SIDECAR_VERSION_0:
        wrapper: list[Any] = [body, blobs, commitments, proofs]
    else:
        wrapper = [body, sidecar.version, blobs, commitments, proofs]
    return bytes([BLOB_TX_TYPE]) + bytes(rlp.encode(wrapper))


def resolve_cell_proof_time(configured: int, l1_chain_id: int) -> int:
    """Replace the MaxUint64 "unset" sentinel by the Osaka time of a known L1 (else never)."""
    if configured != MAX_UINT64:
        return configured
    return OSAKA_TIMES.get(l1_chain_id, MAX_UINT64)


def use_cell_proofs(cell_proof_time: int, now_unix: float) -> bool:
    """Cell proofs once ``cell_proof_time < now - 12 s`` (0 forces them, e.g. on devnets)."""
    return cell_proof_time < now_unix - CELL_PROOF_SAFETY_BUFFER
