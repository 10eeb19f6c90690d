"""Span batch (batch type 1, Delta and later): many consecutive L2 blocks in columns.

Layout (wire-formats.md §4, specs ``delta/span-batches.md``)::

    0x01 ++ rel_timestamp ++ l1_origin_num ++ parent_check(20) ++ l1_origin_check(20)
         ++ block_count ++ origin_bits ++ block_tx_counts
         ++ contract_creation_bits ++ y_parity_bits ++ tx_sigs ++ tx_tos ++ tx_datas
         ++ tx_nonces ++ tx_gases ++ protected_bits

Integers are uvarints (:mod:`common.derive.uvarint`), the ``*_bits`` fields bitlists
(:mod:`common.derive.bitlist`; ``protected_bits`` covers legacy txs only), and each tx is split into
columns as :mod:`common.derive.span_tx` describes.

This module holds the wire form, :class:`SpanBatch`: encode, decode (with op-node's limits), the L2
blocks it derives, and ``SpanBatch.from_singular_batches`` (built from scratch, simple). The batcher
fills channels with the incremental :class:`~common.derive.span_batch_builder.SpanBatchBuilder`
instead; tests check that both produce the same bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from common.derive.batch_type import (
    SPAN_BATCH_TYPE,
    SPAN_BATCH_V2_TYPE,
    SPAN_BATCH_V2_UNSUPPORTED,
    SpanBatchError,
    UnsupportedBatchTypeError,
)
from common.derive.bitlist import bits_of, bits_to_int, encode_bitlist, read_bitlist
from common.derive.rlp import RlpError, item_at
from common.derive.span_tx import span_tx_data, transaction_from_span_fields
from common.derive.transaction import (
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
    Transaction,
    TransactionError,
    decode_transaction,
    keccak256,
)
from common.derive.uvarint import put_uvarint, read_uvarint

if TYPE_CHECKING:
    from common.derive.singular_batch import SingularBatch

MAX_SPAN_BATCH_ELEMENT_COUNT = 10_000_000
"""op-node ``MaxSpanBatchElementCount``: cap on block_count and on the total tx count."""
_SUPPORTED_TX_DATA_TYPES = (0x01, 0x02, SET_CODE_TX_TYPE)


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
        parsed = [parse_block_txs(b.transactions, chain_id, b.timestamp, decode_transaction) for b in batches]
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


class _HasChainId(Protocol):
    @property
    def chain_id(self) -> int | None: ...


_Tx = TypeVar("_Tx", bound=_HasChainId)


def parse_block_txs(
    raws: Sequence[bytes], chain_id: int, timestamp: int, parse: Callable[[bytes], _Tx]
) -> list[_Tx]:
    """Parse a block's txs with ``parse`` and check each can go into a span batch for ``chain_id``."""
    out = []
    for i, raw in enumerate(raws):
        try:
            tx = parse(raw)
        except TransactionError as exc:
            raise SpanBatchError(f"block at timestamp {timestamp}, tx {i}: {exc}") from exc
        if tx.chain_id is not None and tx.chain_id != chain_id:
            raise SpanBatchError(
                f"block at timestamp {timestamp}, tx {i}: protected tx has chain ID "
                f"{tx.chain_id}, but expected chain ID {chain_id}"
            )
        out.append(tx)
    return out
