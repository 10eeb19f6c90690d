"""Span batch (batch type 1, Delta and later): many consecutive L2 blocks in columns.

Layout (wire-formats.md §4, specs ``delta/span-batches.md``)::

    0x01 ++ rel_timestamp ++ l1_origin_num ++ parent_check(20) ++ l1_origin_check(20)
         ++ block_count ++ origin_bits ++ block_tx_counts
         ++ contract_creation_bits ++ y_parity_bits ++ tx_sigs ++ tx_tos ++ tx_datas
         ++ tx_nonces ++ tx_gases ++ protected_bits

Integers are uvarints (LEB128). A bitlist of n elements is the big-endian integer with bit i =
element i, left-padded to ceil(n/8) bytes: element 0 is the least-significant bit of the LAST byte,
and a set bit at or above n is invalid. ``protected_bits`` covers legacy txs only.

Two ways to build one: ``SpanBatch.from_singular_batches`` (from scratch, simple) and
``SpanBatchBuilder`` (incremental: ``append`` costs O(that block), ``encoded_size`` is exact and
O(1), and ``undo_last``/``restore`` revert a block a channel could not take). Tests check that
both produce the same bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.derive.batch import (
    SPAN_BATCH_TYPE,
    SPAN_BATCH_V2_TYPE,
    SPAN_BATCH_V2_UNSUPPORTED,
    SpanBatchError,
    UnsupportedBatchTypeError,
)
from common.derive.rlp import RlpError, item_at
from common.derive.span_tx import (
    SpanTxColumns,
    span_columns_of_raw,
    span_tx_data,
    transaction_from_span_fields,
)
from common.derive.transaction import (
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
    Transaction,
    TransactionError,
    decode_transaction,
    keccak256,
)

if TYPE_CHECKING:
    from common.derive.l2_block import BlockInput
    from common.derive.singular_batch import SingularBatch

MAX_SPAN_BATCH_ELEMENT_COUNT = 10_000_000
"""op-node ``MaxSpanBatchElementCount``: cap on block_count and on the total tx count."""
_UINT64_MAX = (1 << 64) - 1
_SUPPORTED_TX_DATA_TYPES = (0x01, 0x02, SET_CODE_TX_TYPE)


# ---------------------------------------------------------------------------------------------
# primitives


def uvarint_size(value: int) -> int:
    """Bytes taken by ``value`` as a uvarint."""
    return max(1, (value.bit_length() + 6) // 7)


def put_uvarint(out: bytearray, value: int) -> None:
    """Append ``value`` as an unsigned LEB128 varint (Go binary.PutUvarint)."""
    if value < 0 or value > _UINT64_MAX:
        raise SpanBatchError(f"uvarint value {value} is outside uint64")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_uvarint(data: bytes, pos: int, field: str) -> tuple[int, int]:
    """Read a uvarint at ``pos``; returns (value, new position). Rejects uint64 overflow like Go."""
    result = 0
    shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise SpanBatchError(f"span batch {field}: truncated uvarint at byte {pos}")
        b = data[pos + i]
        if b < 0x80:
            if i == 9 and b > 1:
                break
            return result | (b << shift), pos + i + 1
        result |= (b & 0x7F) << shift
        shift += 7
    raise SpanBatchError(f"span batch {field}: uvarint at byte {pos} overflows uint64")


def bitlist_size(n: int) -> int:
    """Bytes of a bitlist of ``n`` elements."""
    return (n + 7) // 8


def encode_bitlist(bits: int, n: int) -> bytes:
    """Bitlist of ``n`` elements from an int whose bit i is element i."""
    if bits >> n:
        raise SpanBatchError(f"bitlist value has bits set at or above its length {n}")
    return bits.to_bytes(bitlist_size(n), "big")


def read_bitlist(data: bytes, pos: int, n: int, field: str) -> tuple[int, int]:
    """Read a bitlist of ``n`` elements; rejects set bits at or above n."""
    end = pos + bitlist_size(n)
    if end > len(data):
        raise SpanBatchError(
            f"span batch {field}: need {end - pos} bytes for {n} bits, {len(data) - pos} left"
        )
    value = int.from_bytes(data[pos:end], "big")
    if value.bit_length() > n:
        raise SpanBatchError(f"span batch {field}: bitlist has bits set beyond its {n} elements")
    return value, end


def bits_of(value: int, n: int) -> list[int]:
    """Elements 0..n-1 of a bitlist int, in O(n) overall."""
    if n == 0:
        return []
    text = bin(value)[2:].zfill(n)
    return [1 if c == "1" else 0 for c in reversed(text)]


def bits_to_int(bits: Iterable[int]) -> int:
    """Inverse of ``bits_of``."""
    text = "".join("1" if b else "0" for b in bits)
    return int(text[::-1], 2) if text else 0


def _tx_data_end(data: bytes, pos: int, index: int) -> int:
    """End offset of ``tx_datas[index]``, whose RLP list starts at ``pos`` (after any type byte)."""
    try:
        _, end, is_list = item_at(data, pos, len(data), "tx_data")
    except RlpError as exc:
        raise SpanBatchError(f"span batch tx_datas[{index}]: {exc}") from exc
    if not is_list:
        raise SpanBatchError(
            f"span batch tx_datas[{index}]: tx_data RLP prefix 0x{data[pos]:02x} is not a list"
        )
    return end


# ---------------------------------------------------------------------------------------------
# decoded form


@dataclass(frozen=True, slots=True)
class SpanBatchPrefix:
    """The fields shared by span batch v1 and v2 before block_count."""

    rel_timestamp: int
    l1_origin_num: int
    parent_check: bytes
    l1_origin_check: bytes


@dataclass(frozen=True, slots=True)
class SpanBatchBlock:
    """One L2 block derived from a span batch."""

    timestamp: int
    epoch_num: int
    """L1 origin number."""
    transactions: tuple[bytes, ...]
    """Full signed txs rebuilt with the L2 chain id."""

    @property
    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(keccak256(tx) for tx in self.transactions)


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """A span batch in wire form: every column as decoded, bitlists as ints (bit i = element i)."""

    rel_timestamp: int
    """First block timestamp minus the L2 genesis time."""
    l1_origin_num: int
    """L1 origin number of the LAST block."""
    parent_check: bytes
    """First 20 bytes of the first block's parent hash."""
    l1_origin_check: bytes
    """First 20 bytes of the last block's L1 origin hash."""
    origin_bits: int
    block_tx_counts: tuple[int, ...]
    contract_creation_bits: int
    y_parity_bits: int
    tx_sigs: tuple[tuple[int, int], ...]
    """(r, s) per tx."""
    tx_tos: tuple[bytes, ...]
    """20-byte recipients of the non-creation txs."""
    tx_datas: tuple[bytes, ...]
    """Per-tx data: legacy = rlp([value, gasPrice, data]); typed = type ++ rlp([...])."""
    tx_nonces: tuple[int, ...]
    tx_gases: tuple[int, ...]
    protected_bits: int
    """One bit per legacy tx."""

    @property
    def block_count(self) -> int:
        return len(self.block_tx_counts)

    @property
    def tx_count(self) -> int:
        return len(self.tx_datas)

    @property
    def tx_types(self) -> tuple[int, ...]:
        return tuple(LEGACY_TX_TYPE if d[0] >= 0xC0 else d[0] for d in self.tx_datas)

    @property
    def legacy_count(self) -> int:
        return sum(1 for d in self.tx_datas if d[0] >= 0xC0)

    @property
    def start_epoch_num(self) -> int:
        """First block's L1 origin number (the span batch sequencing-window check uses it)."""
        return self.l1_origin_num - self.origin_bits.bit_count() + (self.origin_bits & 1)

    def encode_body(self) -> bytes:
        """Body without the type byte."""
        self._check_shape()
        n = self.tx_count
        out = bytearray()
        put_uvarint(out, self.rel_timestamp)
        put_uvarint(out, self.l1_origin_num)
        out += self.parent_check
        out += self.l1_origin_check
        put_uvarint(out, self.block_count)
        out += encode_bitlist(self.origin_bits, self.block_count)
        for count in self.block_tx_counts:
            put_uvarint(out, count)
        out += encode_bitlist(self.contract_creation_bits, n)
        out += encode_bitlist(self.y_parity_bits, n)
        for r, s in self.tx_sigs:
            out += r.to_bytes(32, "big")
            out += s.to_bytes(32, "big")
        for to in self.tx_tos:
            out += to
        for data in self.tx_datas:
            out += data
        for nonce in self.tx_nonces:
            put_uvarint(out, nonce)
        for gas in self.tx_gases:
            put_uvarint(out, gas)
        out += encode_bitlist(self.protected_bits, self.legacy_count)
        return bytes(out)

    def encode(self) -> bytes:
        """Typed batch bytes: 0x01 ++ body."""
        return bytes([SPAN_BATCH_TYPE]) + self.encode_body()

    def _check_shape(self) -> None:
        n = self.tx_count
        if self.block_count < 1:
            raise SpanBatchError("span batch must contain at least one block")
        if sum(self.block_tx_counts) != n:
            raise SpanBatchError(
                f"span batch: block_tx_counts sum to {sum(self.block_tx_counts)}, but there are {n} tx_datas"
            )
        if not (len(self.tx_sigs) == len(self.tx_nonces) == len(self.tx_gases) == n):
            raise SpanBatchError("span batch: tx columns have different lengths")
        if len(self.tx_tos) != n - self.contract_creation_bits.bit_count():
            raise SpanBatchError(
                f"span batch: {len(self.tx_tos)} tx_tos for {n} txs with "
                f"{self.contract_creation_bits.bit_count()} creations"
            )
        if len(self.parent_check) != 20 or len(self.l1_origin_check) != 20:
            raise SpanBatchError("span batch: parent_check and l1_origin_check must be 20 bytes")

    @classmethod
    def decode(cls, payload: bytes, *, allow_trailing: bool = False) -> SpanBatch:
        """Parse typed batch bytes (0x01 ++ body); type 2 gets a clear 'not supported' error."""
        if not payload:
            raise SpanBatchError("span batch: empty payload")
        if payload[0] == SPAN_BATCH_V2_TYPE:
            raise UnsupportedBatchTypeError(SPAN_BATCH_V2_UNSUPPORTED)
        if payload[0] != SPAN_BATCH_TYPE:
            raise SpanBatchError(f"span batch: expected type byte 0x01, got 0x{payload[0]:02x}")
        batch, consumed = decode_span_batch_body(memoryview(payload)[1:])
        if not allow_trailing and consumed != len(payload) - 1:
            raise SpanBatchError(f"span batch: {len(payload) - 1 - consumed} trailing bytes after the body")
        return batch

    @classmethod
    def decode_body(cls, body: bytes) -> SpanBatch:
        """Parse a body without the type byte; it must be consumed exactly."""
        batch, consumed = decode_span_batch_body(body)
        if consumed != len(body):
            raise SpanBatchError(f"span batch: {len(body) - consumed} trailing bytes after the body")
        return batch

    def derive_blocks(self, genesis_time: int, block_time: int, chain_id: int) -> list[SpanBatchBlock]:
        """The L2 blocks this batch describes: timestamps, L1 origin numbers, rebuilt txs."""
        self._check_shape()
        count = self.block_count
        origin = bits_of(self.origin_bits, count)
        epochs = [0] * count
        epochs[-1] = self.l1_origin_num
        for i in range(count - 1, 0, -1):
            epochs[i - 1] = epochs[i] - origin[i]
        if epochs[0] < 0:
            raise SpanBatchError("span batch: origin_bits imply a negative first L1 origin number")
        txs = self.full_transactions(chain_id)
        blocks = []
        offset = 0
        for i, n in enumerate(self.block_tx_counts):
            blocks.append(
                SpanBatchBlock(
                    genesis_time + self.rel_timestamp + i * block_time,
                    epochs[i],
                    tuple(tx.encode() for tx in txs[offset : offset + n]),
                )
            )
            offset += n
        return blocks

    def full_transactions(self, chain_id: int) -> list[Transaction]:
        """Every tx rebuilt from its columns (v from y-parity, protected bit and chain id)."""
        n = self.tx_count
        creations = bits_of(self.contract_creation_bits, n)
        parities = bits_of(self.y_parity_bits, n)
        protected = bits_of(self.protected_bits, self.legacy_count)
        out = []
        to_index = legacy_index = 0
        for i in range(n):
            data = self.tx_datas[i]
            if creations[i]:
                to = None
            else:
                to = self.tx_tos[to_index]
                to_index += 1
            is_protected = True
            if data[0] >= 0xC0:
                is_protected = bool(protected[legacy_index])
                legacy_index += 1
            r, s = self.tx_sigs[i]
            try:
                out.append(
                    transaction_from_span_fields(
                        data,
                        nonce=self.tx_nonces[i],
                        gas=self.tx_gases[i],
                        to=to,
                        r=r,
                        s=s,
                        y_parity=parities[i],
                        protected=is_protected,
                        chain_id=chain_id,
                    )
                )
            except TransactionError as exc:
                raise SpanBatchError(f"span batch tx {i}: {exc}") from exc
        return out

    @classmethod
    def from_singular_batches(
        cls, batches: Sequence[SingularBatch], first_seq_num: int, genesis_time: int, chain_id: int
    ) -> SpanBatch:
        """Build from scratch per op-node AppendSingularBatch (origin bit 0 = first_seq_num == 0)."""
        if not batches:
            raise SpanBatchError("span batch must contain at least one block")
        origin = [1 if first_seq_num == 0 else 0]
        origin += [1 if b.epoch_num > a.epoch_num else 0 for a, b in itertools.pairwise(batches)]
        parsed = [_parse_block_txs(b.transactions, chain_id, b.timestamp) for b in batches]
        txs = [tx for block in parsed for tx in block]
        legacy = [tx for tx in txs if tx.tx_type == LEGACY_TX_TYPE]
        first, last = batches[0], batches[-1]
        if first.timestamp < genesis_time:
            raise SpanBatchError(
                f"block timestamp {first.timestamp} is before L2 genesis time {genesis_time}"
            )
        return cls(
            rel_timestamp=first.timestamp - genesis_time,
            l1_origin_num=last.epoch_num,
            parent_check=first.parent_hash[:20],
            l1_origin_check=last.epoch_hash[:20],
            origin_bits=bits_to_int(origin),
            block_tx_counts=tuple(len(block) for block in parsed),
            contract_creation_bits=bits_to_int(tx.to is None for tx in txs),
            y_parity_bits=bits_to_int(tx.y_parity for tx in txs),
            tx_sigs=tuple((tx.r, tx.s) for tx in txs),
            tx_tos=tuple(tx.to for tx in txs if tx.to is not None),
            tx_datas=tuple(span_tx_data(tx) for tx in txs),
            tx_nonces=tuple(tx.nonce for tx in txs),
            tx_gases=tuple(tx.gas for tx in txs),
            protected_bits=bits_to_int(tx.protected for tx in legacy),
        )


def span_batch_from_blocks(blocks: Sequence[BlockInput], genesis_time: int, chain_id: int) -> SpanBatch:
    """A span batch of consecutive L2 blocks (origin bit 0 from the first block's sequence number)."""
    builder = SpanBatchBuilder(genesis_time, chain_id)
    for block in blocks:
        builder.append(block)
    return builder.build()


def decode_span_batch_prefix(body: bytes) -> tuple[SpanBatchPrefix, int]:
    """Read rel_timestamp, l1_origin_num, parent_check, l1_origin_check (same in v1 and v2)."""
    rel_timestamp, pos = read_uvarint(body, 0, "rel_timestamp")
    l1_origin_num, pos = read_uvarint(body, pos, "l1_origin_num")
    if pos + 40 > len(body):
        raise SpanBatchError("span batch: truncated parent_check / l1_origin_check")
    prefix = SpanBatchPrefix(
        rel_timestamp, l1_origin_num, bytes(body[pos : pos + 20]), bytes(body[pos + 20 : pos + 40])
    )
    return prefix, pos + 40


def decode_span_batch_body(body: bytes | memoryview) -> tuple[SpanBatch, int]:
    """Parse a span batch body (no type byte); returns the batch and the bytes consumed."""
    data = bytes(body)
    prefix, pos = decode_span_batch_prefix(data)
    block_count, pos = read_uvarint(data, pos, "block_count")
    if block_count < 1:
        raise SpanBatchError("span batch: block_count is 0 (a span batch must not be empty)")
    if block_count > MAX_SPAN_BATCH_ELEMENT_COUNT:
        raise SpanBatchError(f"span batch: block_count {block_count} exceeds {MAX_SPAN_BATCH_ELEMENT_COUNT}")
    origin_bits, pos = read_bitlist(data, pos, block_count, "origin_bits")
    counts = []
    total = 0
    for i in range(block_count):
        count, pos = read_uvarint(data, pos, f"block_tx_counts[{i}]")
        total += count
        if total > MAX_SPAN_BATCH_ELEMENT_COUNT:
            raise SpanBatchError(f"span batch: total tx count exceeds {MAX_SPAN_BATCH_ELEMENT_COUNT}")
        counts.append(count)
    n = total
    creation_bits, pos = read_bitlist(data, pos, n, "contract_creation_bits")
    y_bits, pos = read_bitlist(data, pos, n, "y_parity_bits")
    sig_end = pos + 64 * n
    if sig_end > len(data):
        raise SpanBatchError(f"span batch tx_sigs: need {64 * n} bytes, {len(data) - pos} left")
    sigs = tuple(
        (int.from_bytes(data[p : p + 32], "big"), int.from_bytes(data[p + 32 : p + 64], "big"))
        for p in range(pos, sig_end, 64)
    )
    pos = sig_end
    to_count = n - creation_bits.bit_count()
    to_end = pos + 20 * to_count
    if to_end > len(data):
        raise SpanBatchError(f"span batch tx_tos: need {20 * to_count} bytes, {len(data) - pos} left")
    tos = tuple(data[p : p + 20] for p in range(pos, to_end, 20))
    pos = to_end
    datas = []
    legacy = 0
    for i in range(n):
        if pos >= len(data):
            raise SpanBatchError(f"span batch tx_datas[{i}]: truncated")
        first = data[pos]
        if first >= 0xC0:
            legacy += 1
            end = _tx_data_end(data, pos, i)
        elif first in _SUPPORTED_TX_DATA_TYPES:
            end = _tx_data_end(data, pos + 1, i)
        else:
            raise SpanBatchError(f"span batch tx_datas[{i}]: unsupported tx type 0x{first:02x}")
        datas.append(data[pos:end])
        pos = end
    nonces = []
    for i in range(n):
        nonce, pos = read_uvarint(data, pos, f"tx_nonces[{i}]")
        nonces.append(nonce)
    gases = []
    for i in range(n):
        gas, pos = read_uvarint(data, pos, f"tx_gases[{i}]")
        gases.append(gas)
    protected_bits, pos = read_bitlist(data, pos, legacy, "protected_bits")
    batch = SpanBatch(
        prefix.rel_timestamp,
        prefix.l1_origin_num,
        prefix.parent_check,
        prefix.l1_origin_check,
        origin_bits,
        tuple(counts),
        creation_bits,
        y_bits,
        sigs,
        tos,
        tuple(datas),
        tuple(nonces),
        tuple(gases),
        protected_bits,
    )
    return batch, pos


def _parse_block_txs(raws: Sequence[bytes], chain_id: int, timestamp: int) -> list[Transaction]:
    """Parse a block's txs and check each can be represented in a span batch for ``chain_id``."""
    out = []
    for i, raw in enumerate(raws):
        try:
            tx = decode_transaction(raw)
        except TransactionError as exc:
            raise SpanBatchError(f"block at timestamp {timestamp}, tx {i}: {exc}") from exc
        if tx.chain_id is not None and tx.chain_id != chain_id:
            raise SpanBatchError(
                f"block at timestamp {timestamp}, tx {i}: protected tx has chain ID "
                f"{tx.chain_id}, but expected chain ID {chain_id}"
            )
        out.append(tx)
    return out


def _split_block_txs(raws: Sequence[bytes], chain_id: int, timestamp: int) -> list[SpanTxColumns]:
    """Split a block's txs into span columns, checking each belongs to ``chain_id``."""
    out = []
    for i, raw in enumerate(raws):
        try:
            tx = span_columns_of_raw(raw)
        except TransactionError as exc:
            raise SpanBatchError(f"block at timestamp {timestamp}, tx {i}: {exc}") from exc
        if tx.chain_id is not None and tx.chain_id != chain_id:
            raise SpanBatchError(
                f"block at timestamp {timestamp}, tx {i}: protected tx has chain ID "
                f"{tx.chain_id}, but expected chain ID {chain_id}"
            )
        out.append(tx)
    return out


# ---------------------------------------------------------------------------------------------
# incremental builder


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
        columns = _split_block_txs(transactions, self.chain_id, timestamp)
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
        out += _ascii_bits_to_bytes(self._origin_bits)
        out += self._tx_counts
        out += _ascii_bits_to_bytes(self._creation_bits)
        out += _ascii_bits_to_bytes(self._y_bits)
        out += self._sigs
        out += self._tos
        out += self._datas
        out += self._nonces
        out += self._gases
        out += _ascii_bits_to_bytes(self._protected_bits)
        return bytes(out)

    def build(self) -> SpanBatch:
        """The decoded form of what ``encode`` returns."""
        return SpanBatch.decode(self.encode())


def _ascii_bits_to_bytes(bits: bytearray) -> bytes:
    """Bitlist bytes from '0'/'1' characters where index i is element i."""
    n = len(bits)
    if n == 0:
        return b""
    return int(bytes(bits[::-1]), 2).to_bytes(bitlist_size(n), "big")
