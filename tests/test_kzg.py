"""KZG helpers: commitments, blob and cell proofs, versioned hashes (ckzg, real trusted setup).

Loading the trusted setup costs a few seconds, so all checks share one blob and one load.
"""

from __future__ import annotations

import hashlib

import pytest

from common.derive import kzg
from common.derive.blob import encode_blob
from common.txmgr import kzg_setup

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup() -> kzg.TrustedSetup:
    """The set-up, loaded at the edge (common.txmgr.kzg_setup) and handed to the pure wrappers."""
    return kzg_setup.load_trusted_setup()


@pytest.fixture(scope="module")
def blob() -> bytes:
    return encode_blob(b"kzg test payload " * 100)


def test_commitment_proof_and_versioned_hash_verify(blob: bytes, setup: kzg.TrustedSetup) -> None:
    """A blob's commitment and proof verify; the versioned hash is 0x01 ++ sha256(c)[1:]."""
    data = kzg.blob_sidecar_data(blob, setup, cell_proofs=False)
    assert len(data.commitment) == 48 and len(data.proofs) == 1
    assert kzg.verify_blob_proof(blob, data.commitment, data.proofs[0], setup)
    assert data.versioned_hash == b"\x01" + hashlib.sha256(data.commitment).digest()[1:]


def test_proof_for_another_blob_does_not_verify(blob: bytes, setup: kzg.TrustedSetup) -> None:
    """The proof of one blob fails against a different blob with the same commitment."""
    commitment = kzg.blob_to_commitment(blob, setup)
    proof = kzg.compute_blob_proof(blob, commitment, setup)
    other = encode_blob(b"different")
    assert not kzg.verify_blob_proof(other, commitment, proof, setup)


def test_128_cell_proofs_verify_against_the_commitment(blob: bytes, setup: kzg.TrustedSetup) -> None:
    """EIP-7594: 128 cell proofs of 48 bytes that verify; a tampered set does not."""
    commitment = kzg.blob_to_commitment(blob, setup)
    proofs = kzg.compute_cell_proofs(blob, setup)
    assert len(proofs) == kzg.CELLS_PER_EXT_BLOB and all(len(p) == 48 for p in proofs)
    assert kzg.verify_cell_proofs(blob, commitment, proofs, setup)
    assert not kzg.verify_cell_proofs(blob, commitment, [proofs[1], proofs[0], *proofs[2:]], setup)


def test_trusted_setup_is_loaded_once() -> None:
    """Repeated loads return the very same settings object."""
    assert kzg_setup.load_trusted_setup() is kzg_setup.load_trusted_setup()


def test_malformed_inputs_raise_kzg_error(setup: kzg.TrustedSetup) -> None:
    """Wrong blob and commitment sizes name the field and sizes."""
    with pytest.raises(kzg.KzgError, match="blob must be 131072 bytes, got 3"):
        kzg.blob_to_commitment(b"abc", setup)
    with pytest.raises(kzg.KzgError, match="commitment must be 48 bytes"):
        kzg.versioned_hash(b"\x00" * 47)
    with pytest.raises(kzg.KzgError, match="expected 128 cell proofs"):
        kzg.verify_cell_proofs(bytes(131072), b"\x00" * 48, [], setup)


def test_non_canonical_field_element_is_rejected_by_ckzg(setup: kzg.TrustedSetup) -> None:
    """A blob element ≥ the BLS modulus is refused with a KzgError."""
    bad = b"\xff" * 32 + bytes(131072 - 32)
    with pytest.raises(kzg.KzgError, match="blob to commitment"):
        kzg.blob_to_commitment(bad, setup)
