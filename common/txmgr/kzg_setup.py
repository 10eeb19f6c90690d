"""The KZG trusted set-up, loaded at the I/O edge: the file read and the process-wide cache.

The pure KZG wrappers (:mod:`common.derive.kzg`) take a loaded set-up as an argument; this module owns
finding the Ethereum ceremony's file (the copy eth-account ships, located without importing eth_account,
which would pull in networking modules), reading it once per process (~4 s, so never at import time),
and the lock that makes that once thread-safe.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import ckzg

from common.derive.kzg import KzgError, TrustedSetup

TRUSTED_SETUP_RELATIVE_PATH = ("typed_transactions", "blob_transactions", "kzg_trusted_setup.txt")
"""Where eth-account keeps the mainnet trusted setup (eth_account.typed_transactions.base.TRUSTED_SETUP)."""
DEFAULT_PRECOMPUTE = 0
"""ckzg ``precompute`` argument: 0 loads fastest; larger values speed up cell proofs at load cost."""

_lock = threading.Lock()
_settings: TrustedSetup | None = None


def default_trusted_setup_path() -> Path:
    """Path of eth-account's trusted setup file, found without importing eth_account."""
    spec = importlib.util.find_spec("eth_account")
    if spec is None or not spec.submodule_search_locations:
        raise KzgError("trusted setup: the eth_account package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*TRUSTED_SETUP_RELATIVE_PATH)
    if not path.is_file():
        raise KzgError(f"trusted setup: {path} does not exist")
    return path


def load_trusted_setup(path: str | Path | None = None, precompute: int = DEFAULT_PRECOMPUTE) -> TrustedSetup:
    """Load the trusted setup once per process (thread-safe); later calls return the same one.

    The first caller's ``path`` and ``precompute`` win: a process holds one set-up.
    """
    global _settings
    with _lock:
        if _settings is None:
            source = Path(path) if path is not None else default_trusted_setup_path()
            try:
                _settings = ckzg.load_trusted_setup(str(source), precompute)
            except (RuntimeError, ValueError) as exc:
                raise KzgError(f"trusted setup {source}: {exc}") from exc
        return _settings
