"""Blob sidecars built in the KZG worker process (common/txmgr/blobs.py build_sidecar)."""

from __future__ import annotations

import pytest

from common.derive.blob import BLOB_SIZE, encode_blob
from common.txmgr.blobs import BlobTxError, build_sidecar, make_sidecar, prewarm_kzg_worker


@pytest.mark.slow
async def test_the_worker_builds_the_same_sidecar_as_the_caller_would():
    """Commitments, proofs and versioned hashes from the worker equal an in-process make_sidecar."""
    prewarm_kzg_worker()
    blobs = (encode_blob(b"\x00worker a"), encode_blob(b"\x00worker b"))
    remote = await build_sidecar(blobs, cell_proofs=False)
    assert remote == make_sidecar(blobs, cell_proofs=False)
    assert remote.version == 0 and len(remote.proofs) == 2 and remote.blobs == blobs


@pytest.mark.slow
async def test_a_bad_blob_fails_in_the_worker_with_the_blob_error_naming_the_blob():
    """A blob whose field elements exceed the modulus raises BlobTxError across the process boundary."""
    bad = b"\xff" * BLOB_SIZE
    with pytest.raises(BlobTxError, match="cannot commit to blob 1 of 2"):
        await build_sidecar((encode_blob(b"\x00fine"), bad), cell_proofs=False)
