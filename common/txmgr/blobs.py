"""Blob sidecars and the pooled (network) encoding of type-3 transactions.

A blob tx is signed without its sidecar; the sidecar only travels with ``eth_sendRawTransaction``:

    v0 (EIP-4844):  0x03 ++ rlp([tx_payload_body, blobs, commitments, blob_proofs])
    v1 (EIP-7594):  0x03 ++ rlp([tx_payload_body, 1, blobs, commitments, cell_proofs])

where ``tx_payload_body`` is the signed 14-field list. v1 carries 128 cell proofs per blob and is used
once the L1 runs Osaka (``txmgr.cell-proof-time`` < now - 12 s). The tx hash is always the keccak of
``0x03 ++ rlp(tx_payload_body)``. KZG math lives in ``common.derive.kzg``, the trusted set-up it is
given in ``common.txmgr.kzg_setup``.

``ckzg`` holds the GIL for a whole call (measured: 0.15 s per blob proof, 0.7 s per blob of cell
proofs, 4 s for the trusted set-up), so a thread would still freeze the event loop: :func:`build_sidecar`
runs the work in a small pool of shared worker processes instead (:data:`KZG_WORKERS`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any

import rlp

from common.derive import kzg
from common.txmgr.config import CELL_PROOF_SAFETY_BUFFER, MAX_UINT64, OSAKA_TIMES
from common.txmgr.kzg_setup import load_trusted_setup

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


def prove_blob(blob: bytes, *, cell_proofs: bool) -> tuple[bytes, tuple[bytes, ...]]:
    """One blob's commitment and proofs (128 cell proofs, or one blob proof); ValueError if invalid."""
    setup = load_trusted_setup()
    commitment = bytes(kzg.blob_to_commitment(blob, setup))
    if cell_proofs:
        cells = tuple(bytes(p) for p in kzg.compute_cell_proofs(blob, setup))
        if len(cells) != CELL_PROOFS_PER_BLOB:
            raise BlobTxError(f"expected {CELL_PROOFS_PER_BLOB} cell proofs, got {len(cells)}")
        return commitment, cells
    return commitment, (bytes(kzg.compute_blob_proof(blob, commitment, setup)),)


def assemble_sidecar(
    blobs: Sequence[bytes], proven: Sequence[tuple[bytes, tuple[bytes, ...]]], *, cell_proofs: bool
) -> BlobSidecar:
    """The sidecar from each blob's :func:`prove_blob` result, in blob order."""
    commitments = tuple(c for c, _ in proven)
    return BlobSidecar(
        version=SIDECAR_VERSION_1 if cell_proofs else SIDECAR_VERSION_0,
        blobs=tuple(bytes(b) for b in blobs),
        commitments=commitments,
        proofs=tuple(p for _, proofs in proven for p in proofs),
        versioned_hashes=tuple(bytes(kzg.versioned_hash(c)) for c in commitments),
    )


def _prove_named(i: int, n: int, blob: bytes, cell_proofs: bool) -> tuple[bytes, tuple[bytes, ...]]:
    try:
        return prove_blob(blob, cell_proofs=cell_proofs)
    except BlobTxError as exc:
        raise BlobTxError(f"blob {i}: {exc}") from exc
    except Exception as exc:
        raise BlobTxError(f"cannot commit to blob {i} of {n}: {exc}") from exc


def make_sidecar(blobs: Sequence[bytes], *, cell_proofs: bool) -> BlobSidecar:
    """Commit to and prove each blob (v1 cell proofs when ``cell_proofs``)."""
    n = len(blobs)
    proven = [_prove_named(i, n, b, cell_proofs) for i, b in enumerate(blobs)]
    return assemble_sidecar(blobs, proven, cell_proofs=cell_proofs)


KZG_WORKERS = max(1, min(2, os.cpu_count() or 1))
"""KZG processes, sized to the blob rate: cell proofs cost ~0.27 s of CPU per blob (precompute 6), so
L1's most (21 blobs per 12 s after BPO2) is ~5.7 s of work every 12 s, half a core; two processes share
a 6-blob tx's proofs (blob by blob) so a backlog's sidecars take half the wall time, and one core is
left free when the machine has only two."""
KZG_PRECOMPUTE = 6
"""ckzg ``precompute`` in the worker: 6 cuts cell proofs from ~0.37 to ~0.27 s per blob for ~25 MB more
memory and ~0.3 s more set-up (8: 0.23 s for ~100 MB)."""
_worker_lock = threading.Lock()
_worker: ProcessPoolExecutor | None = None
PARENT_WATCH_INTERVAL = 0.5
"""Seconds between the KZG worker's checks that the daemon that started it is still alive."""


def _exit_with_parent(parent_pid: int) -> None:
    """Leave as soon as ``parent_pid`` is gone (re-parented: SIGKILL'd daemons run no atexit hooks).

    Polling ``getppid`` works everywhere; ``PR_SET_PDEATHSIG`` would fire when the *thread* that spawned
    the worker exits, which may be any thread here. When the worker exits, the multiprocessing resource
    tracker sees its last writer close and exits too.
    """
    while os.getppid() == parent_pid:
        time.sleep(PARENT_WATCH_INTERVAL)
    os._exit(1)


def _worker_init(parent_pid: int) -> None:
    """KZG worker start-up: watch the parent, then load the trusted set-up."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    load_trusted_setup(precompute=KZG_PRECOMPUTE)


def _warm() -> None:
    """A no-op job (the initializer loaded the set-up) that makes the pool start a process."""
    load_trusted_setup(precompute=KZG_PRECOMPUTE)


def _kzg_worker() -> ProcessPoolExecutor:
    """The shared KZG processes (spawned, so no asyncio or lock state is forked); set-up loaded at start."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ProcessPoolExecutor(
                max_workers=KZG_WORKERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
        return _worker


def prewarm_kzg_worker() -> None:
    """Start the KZG processes and load their trusted set-up now (~3 s), not on the first blob tx."""
    worker = _kzg_worker()
    for _ in range(KZG_WORKERS):  # submitted together, so each finds no idle process and one is started
        worker.submit(_warm)


def shutdown_kzg_worker() -> None:
    """Stop the KZG process (it is also joined at interpreter exit); the next sidecar starts a new one."""
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.shutdown(wait=True, cancel_futures=True)


def _forget_broken_worker(broken: ProcessPoolExecutor) -> None:
    global _worker
    with _worker_lock:
        if _worker is broken:
            _worker = None
    broken.shutdown(wait=False, cancel_futures=True)


async def build_sidecar(blobs: Sequence[bytes], *, cell_proofs: bool) -> BlobSidecar:
    """:func:`make_sidecar` off the event loop, blob by blob across the KZG processes.

    A worker that died (killed, out of memory) is replaced once; should that fail too, the work runs in
    a thread, which is slower for the loop but still produces the sidecar.
    """
    items = tuple(bytes(b) for b in blobs)
    loop = asyncio.get_running_loop()
    for _attempt in range(2):
        worker = _kzg_worker()
        jobs = [
            loop.run_in_executor(worker, _prove_named, i, len(items), b, cell_proofs)
            for i, b in enumerate(items)
        ]
        try:
            proven = await asyncio.gather(*jobs)
        except BrokenProcessPool:
            _forget_broken_worker(worker)
            continue
        return assemble_sidecar(items, proven, cell_proofs=cell_proofs)
    return await asyncio.to_thread(partial(make_sidecar, items, cell_proofs=cell_proofs))


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
