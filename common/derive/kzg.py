"""KZG commitments and proofs for blobs (EIP-4844, and EIP-7594 cell proofs for PeerDAS).

Thin typed wrappers over ``ckzg`` (the C library). Pure: every call takes the loaded trusted set-up
(:data:`TrustedSetup`) as an argument. Reading the set-up file and caching it per process, with its
lock, is I/O and lives at the edge, in :mod:`common.txmgr.kzg_setup`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import ckzg

from common.derive.blob import BLOB_SIZE

BYTES_PER_COMMITMENT = 48
BYTES_PER_PROOF = 48
CELLS_PER_EXT_BLOB = 128
"""EIP-7594: cells (and cell proofs) per extended blob."""
BYTES_PER_CELL = 2048
VERSIONED_HASH_VERSION_KZG = 0x01
"""EIP-4844: first byte of a blob versioned hash."""
TrustedSetup: TypeAlias = Any
"""A loaded ``ckzg.KZGSettings`` (ckzg ships no type stubs)."""


class KzgError(ValueError):
    """A KZG operation failed (bad blob, commitment or proof length, or trusted setup missing)."""


def _check_blob(blob: bytes) -> None:
    if len(blob) != BLOB_SIZE:
        raise KzgError(f"blob must be {BLOB_SIZE} bytes, got {len(blob)}")


def _check_len(value: bytes, expected: int, what: str) -> None:
    if len(value) != expected:
        raise KzgError(f"{what} must be {expected} bytes, got {len(value)}")


def _ckzg(fn: Any, what: str, setup: TrustedSetup, *args: Any) -> Any:
    """Call ckzg with the set-up, turning its exceptions into KzgError that names the operation."""
    try:
        return fn(*args, setup)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise KzgError(f"{what}: {exc}") from exc


def blob_to_commitment(blob: bytes, setup: TrustedSetup) -> bytes:
    """The 48-byte KZG commitment of a blob."""
    _check_blob(blob)
    commitment: bytes = _ckzg(ckzg.blob_to_kzg_commitment, "blob to commitment", setup, blob)
    return commitment


def compute_blob_proof(blob: bytes, commitment: bytes, setup: TrustedSetup) -> bytes:
    """EIP-4844 blob proof (one per blob, used in the pre-PeerDAS sidecar)."""
    _check_blob(blob)
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    proof: bytes = _ckzg(ckzg.compute_blob_kzg_proof, "compute blob proof", setup, blob, commitment)
    return proof


def compute_cell_proofs(blob: bytes, setup: TrustedSetup) -> list[bytes]:
    """EIP-7594 cell proofs (128 per blob) as carried by blob txs from Osaka (wrapper version 1)."""
    _check_blob(blob)
    _cells, proofs = _ckzg(ckzg.compute_cells_and_kzg_proofs, "compute cell proofs", setup, blob)
    return [bytes(p) for p in proofs]


def compute_cells_and_proofs(blob: bytes, setup: TrustedSetup) -> tuple[list[bytes], list[bytes]]:
    """EIP-7594 cells (128 × 2048 bytes) and their proofs."""
    _check_blob(blob)
    cells, proofs = _ckzg(ckzg.compute_cells_and_kzg_proofs, "compute cells and proofs", setup, blob)
    return [bytes(c) for c in cells], [bytes(p) for p in proofs]


def versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 versioned hash: 0x01 ++ sha256(commitment)[1:]."""
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    return bytes([VERSIONED_HASH_VERSION_KZG]) + hashlib.sha256(commitment).digest()[1:]


def verify_blob_proof(blob: bytes, commitment: bytes, proof: bytes, setup: TrustedSetup) -> bool:
    """Whether ``proof`` shows ``blob`` matches ``commitment``; malformed inputs raise KzgError."""
    _check_blob(blob)
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    _check_len(proof, BYTES_PER_PROOF, "proof")
    ok: bool = _ckzg(ckzg.verify_blob_kzg_proof, "verify blob proof", setup, blob, commitment, proof)
    return ok


def verify_cell_proofs(blob: bytes, commitment: bytes, proofs: Sequence[bytes], setup: TrustedSetup) -> bool:
    """Whether all 128 cell proofs of ``blob`` verify against ``commitment``."""
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    if len(proofs) != CELLS_PER_EXT_BLOB:
        raise KzgError(f"expected {CELLS_PER_EXT_BLOB} cell proofs, got {len(proofs)}")
    for i, p in enumerate(proofs):
        _check_len(p, BYTES_PER_PROOF, f"cell proof {i}")
    _check_blob(blob)
    cells = _ckzg(ckzg.compute_cells, "compute cells", setup, blob)
    ok: bool = _ckzg(
        ckzg.verify_cell_kzg_proof_batch,
        "verify cell proofs",
        setup,
        [commitment] * CELLS_PER_EXT_BLOB,
        list(range(CELLS_PER_EXT_BLOB)),
        cells,
        list(proofs),
    )
    return ok


@dataclass(frozen=True, slots=True)
class BlobSidecarData:
    """What a blob tx carries per blob: the blob, its commitment, proofs and versioned hash."""

    blob: bytes
    commitment: bytes
    proofs: tuple[bytes, ...]
    """One EIP-4844 blob proof, or 128 EIP-7594 cell proofs."""
    versioned_hash: bytes


def blob_sidecar_data(blob: bytes, setup: TrustedSetup, *, cell_proofs: bool) -> BlobSidecarData:
    """Commitment, proof(s) and versioned hash for one blob (cell proofs for Osaka+ L1s)."""
    commitment = blob_to_commitment(blob, setup)
    proofs = (
        tuple(compute_cell_proofs(blob, setup))
        if cell_proofs
        else (compute_blob_proof(blob, commitment, setup),)
    )
    return BlobSidecarData(blob, commitment, proofs, versioned_hash(commitment))
