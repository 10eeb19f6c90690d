"""KZG commitments and proofs for blobs (EIP-4844, and EIP-7594 cell proofs for PeerDAS).

Thin typed wrappers over ``ckzg`` (the C library). The only I/O in the protocol core lives here:
the Ethereum KZG ceremony's trusted setup is read once per process, lazily, from the copy that
eth-account ships (about 4 s of work, so it is never done at import time). The file is located
without importing eth_account, which would pull networking modules into the core.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckzg

from common.derive.blob import BLOB_SIZE

BYTES_PER_COMMITMENT = 48
BYTES_PER_PROOF = 48
CELLS_PER_EXT_BLOB = 128
"""EIP-7594: cells (and cell proofs) per extended blob."""
BYTES_PER_CELL = 2048
VERSIONED_HASH_VERSION_KZG = 0x01
"""EIP-4844: first byte of a blob versioned hash."""
TRUSTED_SETUP_RELATIVE_PATH = ("typed_transactions", "blob_transactions", "kzg_trusted_setup.txt")
"""Where eth-account keeps the mainnet trusted setup (eth_account.typed_transactions.base.TRUSTED_SETUP)."""
DEFAULT_PRECOMPUTE = 0
"""ckzg ``precompute`` argument: 0 loads fastest; larger values speed up cell proofs at load cost."""


class KzgError(ValueError):
    """A KZG operation failed (bad blob, commitment or proof length, or trusted setup missing)."""


_lock = threading.Lock()
_settings: Any = None


def default_trusted_setup_path() -> Path:
    """Path of eth-account's trusted setup file, found without importing eth_account."""
    spec = importlib.util.find_spec("eth_account")
    if spec is None or not spec.submodule_search_locations:
        raise KzgError("trusted setup: the eth_account package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*TRUSTED_SETUP_RELATIVE_PATH)
    if not path.is_file():
        raise KzgError(f"trusted setup: {path} does not exist")
    return path


def load_trusted_setup(path: str | Path | None = None, precompute: int = DEFAULT_PRECOMPUTE) -> Any:
    """Load the trusted setup once per process (thread-safe); later calls return the same one."""
    global _settings
    with _lock:
        if _settings is None:
            source = Path(path) if path is not None else default_trusted_setup_path()
            try:
                _settings = ckzg.load_trusted_setup(str(source), precompute)
            except (RuntimeError, ValueError) as exc:
                raise KzgError(f"trusted setup {source}: {exc}") from exc
        return _settings


def _check_blob(blob: bytes) -> None:
    if len(blob) != BLOB_SIZE:
        raise KzgError(f"blob must be {BLOB_SIZE} bytes, got {len(blob)}")


def _check_len(value: bytes, expected: int, what: str) -> None:
    if len(value) != expected:
        raise KzgError(f"{what} must be {expected} bytes, got {len(value)}")


def _ckzg(fn: Any, what: str, *args: Any) -> Any:
    """Call ckzg, turning its exceptions into KzgError that names the operation."""
    try:
        return fn(*args, load_trusted_setup())
    except (RuntimeError, ValueError, TypeError) as exc:
        raise KzgError(f"{what}: {exc}") from exc


def blob_to_commitment(blob: bytes) -> bytes:
    """The 48-byte KZG commitment of a blob."""
    _check_blob(blob)
    commitment: bytes = _ckzg(ckzg.blob_to_kzg_commitment, "blob to commitment", blob)
    return commitment


def compute_blob_proof(blob: bytes, commitment: bytes) -> bytes:
    """EIP-4844 blob proof (one per blob, used in the pre-PeerDAS sidecar)."""
    _check_blob(blob)
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    proof: bytes = _ckzg(ckzg.compute_blob_kzg_proof, "compute blob proof", blob, commitment)
    return proof


def compute_cell_proofs(blob: bytes) -> list[bytes]:
    """EIP-7594 cell proofs (128 per blob) as carried by blob txs from Osaka (wrapper version 1)."""
    _check_blob(blob)
    _cells, proofs = _ckzg(ckzg.compute_cells_and_kzg_proofs, "compute cell proofs", blob)
    return [bytes(p) for p in proofs]


def compute_cells_and_proofs(blob: bytes) -> tuple[list[bytes], list[bytes]]:
    """EIP-7594 cells (128 × 2048 bytes) and their proofs."""
    _check_blob(blob)
    cells, proofs = _ckzg(ckzg.compute_cells_and_kzg_proofs, "compute cells and proofs", blob)
    return [bytes(c) for c in cells], [bytes(p) for p in proofs]


def versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 versioned hash: 0x01 ++ sha256(commitment)[1:]."""
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    return bytes([VERSIONED_HASH_VERSION_KZG]) + hashlib.sha256(commitment).digest()[1:]


def verify_blob_proof(blob: bytes, commitment: bytes, proof: bytes) -> bool:
    """Whether ``proof`` shows ``blob`` matches ``commitment``; malformed inputs raise KzgError."""
    _check_blob(blob)
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    _check_len(proof, BYTES_PER_PROOF, "proof")
    ok: bool = _ckzg(ckzg.verify_blob_kzg_proof, "verify blob proof", blob, commitment, proof)
    return ok


def verify_cell_proofs(blob: bytes, commitment: bytes, proofs: Sequence[bytes]) -> bool:
    """Whether all 128 cell proofs of ``blob`` verify against ``commitment``."""
    _check_len(commitment, BYTES_PER_COMMITMENT, "commitment")
    if len(proofs) != CELLS_PER_EXT_BLOB:
        raise KzgError(f"expected {CELLS_PER_EXT_BLOB} cell proofs, got {len(proofs)}")
    for i, p in enumerate(proofs):
        _check_len(p, BYTES_PER_PROOF, f"cell proof {i}")
    _check_blob(blob)
    cells = _ckzg(ckzg.compute_cells, "compute cells", blob)
    ok: bool = _ckzg(
        ckzg.verify_cell_kzg_proof_batch,
        "verify cell proofs",
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


def blob_sidecar_data(blob: bytes, *, cell_proofs: bool) -> BlobSidecarData:
    """Commitment, proof(s) and versioned hash for one blob (cell proofs for Osaka+ L1s)."""
    commitment = blob_to_commitment(blob)
    proofs = tuple(compute_cell_proofs(blob)) if cell_proofs else (compute_blob_proof(blob, commitment),)
    return BlobSidecarData(blob, commitment, proofs, versioned_hash(commitment))
