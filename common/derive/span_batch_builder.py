"""The incremental span batch builder: what a channel fills block by block (wire-formats.md §4).

``SpanBatchBuilder.append`` costs O(that block): each tx is split into its span columns straight from
its signed bytes (:func:`common.derive.span_tx.span_columns_of_raw`) and the columns are kept already
encoded. ``encoded_size`` is exact and O(1), so a channel can tell whether the next block still fits;
``undo_last`` / ``restore`` revert a block the channel could not take. ``encode`` returns the same
bytes as :meth:`SpanBatch.encode` of ``SpanBatch.from_singular_batches`` for the same blocks (tests
check it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.derive.batch_type import SPAN_BATCH_TYPE, SpanBatchError
from common.derive.bitlist import ascii_bits_to_bytes, bitlist_size
from common.derive.span_batch import SpanBatch, parse_block_txs
from common.derive.span_tx import span_columns_of_raw
from common.derive.transaction import LEGACY_TX_TYPE
from common.derive.uvarint import put_uvarint, uvarint_size

if TYPE_CHECKING:
    from common.derive.l2_block import BlockInput
    from common.derive.singular_batch import SingularBatch


@dataclass(frozen=True, slots=True)
class _BlockMark:
    """Column lengths and tracking state before a block was appended (for undo)."""

    tx_counts_len: int
    tx_count: int
    sigs_len: int
    tos_len: int
    datas_len: int
    nonces_len: int
    gases_len: int
    legacy_count: int
    prev_epoch_num: int
    prev_epoch_hash: bytes
    prev_timestamp: int


class SpanBatchBuilder:
    """A growing span batch: append a block in O(block), read the exact encoded size in O(1).

    Columns are kept as byte arrays (uvarints and fixed-width fields already encoded) and the
    bitlists as ASCII '0'/'1' arrays, element i at index i; ``encode`` joins them. ``undo_last``
    (or ``restore(mark)``) truncates the columns back, so a channel can drop the block that made it
    too big without rebuilding.
    """

    def __init__(self, genesis_time: int, chain_id: int) -> None:
        self.genesis_time = genesis_time
        self.chain_id = chain_id
        self.reset()

    def reset(self) -> None:
        """Forget every block."""
        self._marks: list[_BlockMark] = []
        self._rel_timestamp = 0
        self._parent_check = b""
        self._epoch_num = 0
        self._epoch_hash = b""
        self._timestamp = 0
        self._origin_bits = bytearray()
        self._tx_counts = bytearray()
        self._creation_bits = bytearray()
        self._y_bits = bytearray()
        self._sigs = bytearray()
        self._tos = bytearray()
        self._datas = bytearray()
        self._nonces = bytearray()
        self._gases = bytearray()
        self._protected_bits = bytearray()

    @property
    def block_count(self) -> int:
        return len(self._marks)

    @property
    def tx_count(self) -> int:
        return len(self._creation_bits)

    @property
    def encoded_size(self) -> int:
        """Exact length of ``encode()`` (type byte included); 0 when empty."""
        blocks = len(self._marks)
        if blocks == 0:
            return 0
        n = len(self._creation_bits)
        return (
            1
            + uvarint_size(self._rel_timestamp)
            + uvarint_size(self._epoch_num)
            + 40
            + uvarint_size(blocks)
            + bitlist_size(blocks)
            + len(self._tx_counts)
            + 2 * bitlist_size(n)
            + len(self._sigs)
            + len(self._tos)
            + len(self._datas)
            + len(self._nonces)
            + len(self._gases)
            + bitlist_size(len(self._protected_bits))
        )

    def append(self, block: BlockInput) -> None:
        """Add the next L2 block (its txs exclude deposits)."""
        self.append_fields(
            block.parent_hash,
            block.l1_origin.number,
            block.l1_origin.hash,
            block.timestamp,
            block.transactions,
            block.sequence_number,
        )

    def append_singular(self, batch: SingularBatch, seq_num: int) -> None:
        """Add a singular batch; ``seq_num`` is its block's L1-info sequence number."""
        self.append_fields(
            batch.parent_hash, batch.epoch_num, batch.epoch_hash, batch.timestamp, batch.transactions, seq_num
        )

    def append_fields(
        self,
        parent_hash: bytes,
        epoch_num: int,
        epoch_hash: bytes,
        timestamp: int,
        transactions: Sequence[bytes],
        seq_num: int,
    ) -> None:
        """Append one block; on error nothing changes."""
        first = not self._marks
        if first and timestamp < self.genesis_time:
            raise SpanBatchError(f"block timestamp {timestamp} is before L2 genesis time {self.genesis_time}")
        if not first and timestamp <= self._timestamp:
            raise SpanBatchError(
                f"span batch blocks must have increasing timestamps: {timestamp} after {self._timestamp}"
            )
        if not first and not self._epoch_num <= epoch_num <= self._epoch_num + 1:
            # origin_bits can only express "same origin" or "next origin" between blocks
            raise SpanBatchError(
                f"span batch L1 origin must stay or advance by one: {epoch_num} after {self._epoch_num}"
            )
        columns = parse_block_txs(transactions, self.chain_id, timestamp, span_columns_of_raw)
        # Encode every column of this block before touching state, so a bad tx leaves no trace.
        sigs, tos, datas, nonces, gases = bytearray(), bytearray(), bytearray(), bytearray(), bytearray()
        creation, parity, protected = bytearray(), bytearray(), bytearray()
        for tx in columns:
            datas += tx.tx_data
            sigs += tx.r
            sigs += tx.s
            if tx.to is None:
                creation.append(0x31)
            else:
                creation.append(0x30)
                tos += tx.to
            parity.append(0x31 if tx.y_parity else 0x30)
            if tx.tx_type == LEGACY_TX_TYPE:
                protected.append(0x30 if tx.chain_id is None else 0x31)
            put_uvarint(nonces, tx.nonce)
            put_uvarint(gases, tx.gas)
        self._marks.append(
            _BlockMark(
                len(self._tx_counts),
                len(self._creation_bits),
                len(self._sigs),
                len(self._tos),
                len(self._datas),
                len(self._nonces),
                len(self._gases),
                len(self._protected_bits),
                self._epoch_num,
                self._epoch_hash,
                self._timestamp,
            )
        )
        if first:
            self._rel_timestamp = timestamp - self.genesis_time
            self._parent_check = bytes(parent_hash[:20])
            self._origin_bits.append(0x31 if seq_num == 0 else 0x30)
        else:
            self._origin_bits.append(0x31 if epoch_num > self._epoch_num else 0x30)
        self._epoch_num = epoch_num
        self._epoch_hash = bytes(epoch_hash)
        self._timestamp = timestamp
        put_uvarint(self._tx_counts, len(columns))
        self._creation_bits += creation
        self._y_bits += parity
        self._sigs += sigs
        self._tos += tos
        self._datas += datas
        self._nonces += nonces
        self._gases += gases
        self._protected_bits += protected

    def mark(self) -> int:
        """A restore point: the current block count."""
        return len(self._marks)

    def restore(self, mark: int) -> None:
        """Drop every block appended after ``mark`` was taken."""
        if mark < 0 or mark > len(self._marks):
            raise SpanBatchError(f"cannot restore span batch to {mark} blocks; it has {len(self._marks)}")
        if mark == len(self._marks):
            return
        if mark == 0:
            self.reset()
            return
        m = self._marks[mark]
        del self._marks[mark:]
        del self._origin_bits[mark:]
        del self._tx_counts[m.tx_counts_len :]
        del self._creation_bits[m.tx_count :]
        del self._y_bits[m.tx_count :]
        del self._sigs[m.sigs_len :]
        del self._tos[m.tos_len :]
        del self._datas[m.datas_len :]
        del self._nonces[m.nonces_len :]
        del self._gases[m.gases_len :]
        del self._protected_bits[m.legacy_count :]
        self._epoch_num = m.prev_epoch_num
        self._epoch_hash = m.prev_epoch_hash
        self._timestamp = m.prev_timestamp

    def undo_last(self) -> None:
        """Remove the most recently appended block."""
        if not self._marks:
            raise SpanBatchError("span batch builder has no block to undo")
        self.restore(len(self._marks) - 1)

    def encode(self) -> bytes:
        """Typed batch bytes 0x01 ++ body; O(size)."""
        blocks = len(self._marks)
        if blocks == 0:
            raise SpanBatchError("span batch must contain at least one block")
        out = bytearray([SPAN_BATCH_TYPE])
        put_uvarint(out, self._rel_timestamp)
        put_uvarint(out, self._epoch_num)
        out += self._parent_check
        out += self._epoch_hash[:20]
        put_uvarint(out, blocks)
        out += ascii_bits_to_bytes(self._origin_bits)
        out += self._tx_counts
        out += ascii_bits_to_bytes(self._creation_bits)
        out += ascii_bits_to_bytes(self._y_bits)
        out += self._sigs
        out += self._tos
        out += self._datas
        out += self._nonces
        out += self._gases
        out += ascii_bits_to_bytes(self._protected_bits)
        return bytes(out)

    def build(self) -> SpanBatch:
        """The decoded form of what ``encode`` returns."""
        return SpanBatch.decode(self.encode())


def span_batch_from_blocks(blocks: Sequence[BlockInput], genesis_time: int, chain_id: int) -> SpanBatch:
    """A span batch of consecutive L2 blocks (origin bit 0 from the first block's sequence number)."""
    builder = SpanBatchBuilder(genesis_time, chain_id)
    for block in blocks:
        builder.append(block)
    return builder.build()
