"""op-node's ``optimism_syncStatus`` result (op-service/eth/sync_status.go), parsed once at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.derive.block_ref import L1BlockRef, L2BlockRef


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Where the rollup node's derivation pipeline stands. Missing newer keys parse as zero refs."""

    current_l1: L1BlockRef
    """L1 block the pipeline is at; safe L2 is derived up to (excluding) it."""
    current_l1_finalized: L1BlockRef
    head_l1: L1BlockRef
    safe_l1: L1BlockRef
    finalized_l1: L1BlockRef
    unsafe_l2: L2BlockRef
    safe_l2: L2BlockRef
    finalized_l2: L2BlockRef
    pending_safe_l2: L2BlockRef
    cross_unsafe_l2: L2BlockRef
    local_safe_l2: L2BlockRef

    _L1_KEYS = ("current_l1", "current_l1_finalized", "head_l1", "safe_l1", "finalized_l1")
    _L2_KEYS = ("unsafe_l2", "safe_l2", "finalized_l2", "pending_safe_l2", "cross_unsafe_l2", "local_safe_l2")

    @classmethod
    def from_json(cls, obj: Any) -> SyncStatus:
        if not isinstance(obj, dict):
            raise ValueError("optimism_syncStatus: expected an object")

        def l1(key: str) -> L1BlockRef:
            return L1BlockRef.from_json(obj.get(key), key)

        def l2(key: str, fallback: str | None = None) -> L2BlockRef:
            # Older nodes lack local_safe_l2 / cross_unsafe_l2: fall back to the closest older field.
            if key not in obj and fallback is not None:
                key = fallback
            return L2BlockRef.from_json(obj.get(key), key)

        return cls(
            current_l1=l1("current_l1"),
            current_l1_finalized=l1("current_l1_finalized"),
            head_l1=l1("head_l1"),
            safe_l1=l1("safe_l1"),
            finalized_l1=l1("finalized_l1"),
            unsafe_l2=l2("unsafe_l2"),
            safe_l2=l2("safe_l2"),
            finalized_l2=l2("finalized_l2"),
            pending_safe_l2=l2("pending_safe_l2"),
            cross_unsafe_l2=l2("cross_unsafe_l2", "unsafe_l2"),
            local_safe_l2=l2("local_safe_l2", "safe_l2"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k).to_json() for k in self._L1_KEYS}
        out.update({k: getattr(self, k).to_json() for k in self._L2_KEYS})
        return out
