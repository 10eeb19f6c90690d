"""Singular batch (batch type 0): one L2 block per batch (wire-formats.md §3).

``0x00 ++ rlp([parent_hash, epoch_num, epoch_hash, timestamp, [tx, ...]])``: each tx is the
canonical EIP-2718 encoding of a non-deposit tx, carried as an RLP byte string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.derive.batch_type import SINGULAR_BATCH_TYPE, SingularBatchError
from common.derive.rlp import UINT64_MAX, RlpError, decode_uint, rlp_decode, rlp_encode

if TYPE_CHECKING:
    from common.derive.l2_block import BlockInput


def _uint64(item: Any, field: str) -> int:
    try:
        return decode_uint(item, field, UINT64_MAX)
    except RlpError as exc:
        raise SingularBatchError(f"singular batch {exc}") from exc


def _hash(item: Any, field: str) -> bytes:
    if not isinstance(item, bytes) or len(item) != 32:
        raise SingularBatchError(f"singular batch {field}: expected a 32-byte string")
    return item


@dataclass(frozen=True, slots=True)
class SingularBatch:
    """One L2 block's batch data."""

    parent_hash: bytes
    """32-byte hash of the previous L2 block."""
    epoch_num: int
    """L1 origin block number."""
    epoch_hash: bytes
    """32-byte L1 origin block hash."""
    timestamp: int
    """L2 block timestamp (unix seconds)."""
    transactions: tuple[bytes, ...]
    """Canonical signed bytes of the block's non-deposit txs, in block order."""

    @classmethod
    def from_block(cls, block: BlockInput) -> SingularBatch:
        """The batch op-batcher's ChannelOut builds for a block (deposits already removed)."""
        return cls(
            block.parent_hash,
            block.l1_origin.number,
            block.l1_origin.hash,
            block.timestamp,
            tuple(block.transactions),
        )

    def encode_body(self) -> bytes:
        """The RLP list without the type byte."""
        body = [self.parent_hash, self.epoch_num, self.epoch_hash, self.timestamp, list(self.transactions)]
        return rlp_encode(body)

    def encode(self) -> bytes:
        """Typed batch bytes: 0x00 ++ rlp list."""
        return bytes([SINGULAR_BATCH_TYPE]) + self.encode_body()

    @classmethod
    def decode(cls, payload: bytes) -> SingularBatch:
        """Parse typed batch bytes (must start with 0x00)."""
        if not payload or payload[0] != SINGULAR_BATCH_TYPE:
            first = f"0x{payload[0]:02x}" if payload else "nothing"
            raise SingularBatchError(f"singular batch: expected type byte 0x00, got {first}")
        return cls.decode_body(payload[1:])

    @classmethod
    def decode_body(cls, body: bytes) -> SingularBatch:
        """Parse the RLP list of a singular batch (no type byte)."""
        try:
            items = rlp_decode(body)
        except RlpError as exc:
            raise SingularBatchError(f"singular batch: invalid RLP: {exc}") from exc
        if not isinstance(items, list) or len(items) != 5:
            raise SingularBatchError("singular batch: expected an RLP list of 5 items")
        txs = items[4]
        if not isinstance(txs, list) or not all(isinstance(t, bytes) for t in txs):
            raise SingularBatchError("singular batch transactions: expected a list of byte strings")
        for i, tx in enumerate(txs):
            if not tx:
                raise SingularBatchError(f"singular batch transaction {i} is empty")
        return cls(
            _hash(items[0], "parent_hash"),
            _uint64(items[1], "epoch_num"),
            _hash(items[2], "epoch_hash"),
            _uint64(items[3], "timestamp"),
            tuple(txs),
        )
