"""A batch as the L2 blocks it describes: the one batch-to-blocks step shared by the decoder
(``op-batcher decode``), the restart recovery and the devnet's deriving rollup node."""

from __future__ import annotations

from dataclasses import dataclass

from common.derive.batch import decode_batch
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch


@dataclass(frozen=True, slots=True)
class DerivedBlock:
    """One L2 block's attributes as a batch describes them."""

    timestamp: int
    epoch_num: int
    epoch_hash_prefix: bytes
    """Full 32-byte epoch hash for singular batches; the 20-byte l1_origin_check for a span's last block;
    b"" (unchecked) for a span's other blocks."""
    parent_hash_prefix: bytes
    """Full parent hash (singular), 20-byte parent_check (first block of a span), or b"" (unchecked)."""
    transactions: tuple[bytes, ...]


def singular_block(batch: SingularBatch) -> DerivedBlock:
    return DerivedBlock(
        batch.timestamp,
        batch.epoch_num,
        bytes(batch.epoch_hash),
        bytes(batch.parent_hash),
        tuple(batch.transactions),
    )


def span_blocks(batch: SpanBatch, genesis_time: int, block_time: int, chain_id: int) -> list[DerivedBlock]:
    """A span's parent_check binds its first block, l1_origin_check its last one's epoch. Raises the span
    batch's errors (SpanBatchError, TransactionError) for a span that does not derive."""
    derived = batch.derive_blocks(genesis_time, block_time, chain_id)
    last = len(derived) - 1
    return [
        DerivedBlock(
            timestamp=blk.timestamp,
            epoch_num=blk.epoch_num,
            epoch_hash_prefix=bytes(batch.l1_origin_check) if i == last else b"",
            parent_hash_prefix=bytes(batch.parent_check) if i == 0 else b"",
            transactions=tuple(blk.transactions),
        )
        for i, blk in enumerate(derived)
    ]


def batch_blocks(
    batch: SingularBatch | SpanBatch, genesis_time: int, block_time: int, chain_id: int
) -> list[DerivedBlock]:
    if isinstance(batch, SingularBatch):
        return [singular_block(batch)]
    return span_blocks(batch, genesis_time, block_time, chain_id)


def payload_blocks(
    payload: bytes, genesis_time: int, block_time: int, chain_id: int, *, allow_trailing: bool = False
) -> list[DerivedBlock]:
    """Decode one batch (type byte ++ body) and derive its blocks (BatchError / span errors on failure)."""
    return batch_blocks(
        decode_batch(payload, allow_trailing=allow_trailing), genesis_time, block_time, chain_id
    )
