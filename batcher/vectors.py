"""Where the shared real-chain vectors live: ``../shared/vectors`` beside the repository root.

The vectors (real batches, blobs and L1-info txs from mainnets and testnets) are not part of the repository;
they sit next to its checkout. The tests and ``op-batcher bench`` find them here, in one place, relative to
this source tree, so any clone in any folder finds them. ``OP_PY_VECTORS`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VECTORS_ENV = "OP_PY_VECTORS"


def vectors_dir() -> Path:
    """The vectors folder: ``$OP_PY_VECTORS`` if set, else ``<repo>/../shared/vectors``."""
    override = os.environ.get(VECTORS_ENV)
    return Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"


def require_vectors() -> Path:
    """The vectors folder, or an error saying where it was looked for (tests fail rather than skip)."""
    path = vectors_dir()
    if not path.is_dir():
        raise FileNotFoundError(
            f"shared vectors not found at {path}: expected ../shared/vectors beside the repository root "
            f"({REPO_ROOT}), or set {VECTORS_ENV}"
        )
    return path
