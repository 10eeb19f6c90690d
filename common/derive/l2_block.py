"""An L2 block as the batcher needs it: parsed once from ``eth_getBlockByNumber(n, true)``.

The L1 origin and sequence number come from the block's first transaction, the L1-info deposit
(wire-formats.md §5); every other deposit is dropped and each remaining tx is re-encoded to its
canonical signed bytes and checked against the node's hash (``transaction.raw_tx_from_json``).

Size estimates (op-batcher.md §4.4), used for DA throttling and backlog metrics:

* ``raw_size_estimate`` = 70 + Σ(len(tx) + 2) over non-deposit txs;
* ``da_size_estimate`` = 70 + Σ op-geth ``EstimatedDASize(tx)`` (FastLZ regression, ≥ 100 per tx),
  computed on first use and cached, since FastLZ in Python costs about 1 µs per byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.derive.block_ref import BlockID, L2BlockRef, hex_to_bytes, json_uint
from common.derive.fastlz import MIN_TRANSACTION_SIZE_SCALED, estimated_da_size
from common.derive.l1_info import L1Info, L1InfoError, parse_l1_info
from common.derive.transaction import (
    BLOB_TX_TYPE,
    DEPOSIT_TX_TYPE,
    TransactionError,
    raw_tx_from_json,
    tx_type_of_json,
)
from common.derive.tx_json import fast_raw_tx

BLOCK_SIZE_OVERHEAD = 70
"""Per-block constant of op-batcher's raw and DA size estimates."""
MIN_TX_DA_SIZE = MIN_TRANSACTION_SIZE_SCALED // 1_000_000
"""op-geth's floor of one tx's DA estimate (100 bytes)."""
TX_SIZE_OVERHEAD = 2
"""Per-tx constant added to the raw size estimate."""

ERR_NOT_DEPOSIT_TX = "first transaction in block is not a deposit tx"
"""op-node ``ErrNotDepositTx`` text."""


class BlockError(ValueError):
    """An L2 block from RPC cannot be turned into batch input."""


@dataclass(frozen=True, slots=True)
class BlockInput:
    """One L2 block reduced to what batches and channel sizing need."""

    number: int
    hash: bytes
    """32-byte block hash."""
    parent_hash: bytes
    timestamp: int
    """Unix seconds."""
    l1_origin: BlockID
    """From the L1-info deposit."""
    sequence_number: int
    """Position in the epoch; 0 for the first L2 block of its L1 origin."""
    transactions: tuple[bytes, ...]
    """Canonical signed bytes of the non-deposit txs, in block order."""
    l1_info: L1Info
    _da_size: list[int] = field(default_factory=list, compare=False, repr=False)
    """Cache cell for ``da_size_estimate`` (empty until computed)."""

    @property
    def id(self) -> BlockID:
        return BlockID(self.hash, self.number)

    @property
    def raw_size_estimate(self) -> int:
        """op-batcher's estimate of this block's share of an uncompressed channel."""
        return BLOCK_SIZE_OVERHEAD + sum(len(tx) + TX_SIZE_OVERHEAD for tx in self.transactions)

    @property
    def da_size_estimate(self) -> int:
        """op-batcher's DA estimate: 70 + Σ EstimatedDASize(tx); computed once, then cached."""
        if not self._da_size:
            self._da_size.append(BLOCK_SIZE_OVERHEAD + sum(estimated_da_size(tx) for tx in self.transactions))
        return self._da_size[0]

    @property
    def da_size_floor(self) -> int:
        """A lower bound of :attr:`da_size_estimate` that runs no FastLZ (each tx counts at least 100
        bytes); the estimate itself once it has been computed."""
        if self._da_size:
            return self._da_size[0]
        return BLOCK_SIZE_OVERHEAD + MIN_TX_DA_SIZE * len(self.transactions)

    def to_l2_block_ref(self) -> L2BlockRef:
        return L2BlockRef(
            self.hash, self.number, self.parent_hash, self.timestamp, self.l1_origin, self.sequence_number
        )


def block_from_rpc(obj: Mapping[str, Any], chain_id: int) -> BlockInput:
    """Parse ``eth_getBlockByNumber(n, true)`` JSON (op-geth or anvil) into a BlockInput.

    Errors name the block number and tx index. Deposits after the first are skipped; a blob tx
    (type 3) is an error because no valid L2 block can contain one.
    """
    if not isinstance(obj, Mapping):
        raise BlockError(f"L2 block: expected a JSON object, got {type(obj).__name__}")
    try:
        number = json_uint(obj.get("number"), "number")
        block_hash = hex_to_bytes(obj.get("hash", ""), "hash", 32)
        parent_hash = hex_to_bytes(obj.get("parentHash", ""), "parentHash", 32)
        timestamp = json_uint(obj.get("timestamp"), "timestamp")
    except ValueError as exc:
        raise BlockError(f"L2 block header: {exc}") from exc
    txs = obj.get("transactions")
    if not isinstance(txs, list):
        raise BlockError(f"L2 block {number}: no transaction list in the block JSON")
    if not txs:
        raise BlockError(f"L2 block {number} has no transactions: {ERR_NOT_DEPOSIT_TX}")
    if not all(isinstance(tx, Mapping) for tx in txs):
        raise BlockError(f"L2 block {number}: transactions are hashes; fetch the block with full txs")
    first = txs[0]
    try:
        first_type = tx_type_of_json(first)
    except ValueError as exc:
        raise BlockError(f"L2 block {number} tx 0: {exc}") from exc
    if first_type != DEPOSIT_TX_TYPE:
        raise BlockError(f"L2 block {number}: {ERR_NOT_DEPOSIT_TX}")
    try:
        calldata = hex_to_bytes(first.get("input", first.get("data", "0x")), "input")
        info = parse_l1_info(calldata)
    except (L1InfoError, ValueError) as exc:
        raise BlockError(f"L2 block {number}: cannot parse the L1-info deposit: {exc}") from exc
    raws = []
    for index, tx in enumerate(txs[1:], start=1):
        fast = fast_raw_tx(tx, chain_id)  # types 1 and 2, checked against the node's hash
        if fast is not None:
            raws.append(fast)
            continue
        where = f"L2 block {number} tx {index}"
        try:
            tx_type = tx_type_of_json(tx)
        except ValueError as exc:
            raise BlockError(f"{where}: {exc}") from exc
        if tx_type == DEPOSIT_TX_TYPE:
            continue
        if tx_type == BLOB_TX_TYPE:
            raise BlockError(f"{where}: blob transactions (type 3) cannot appear in L2 blocks")
        try:
            raws.append(raw_tx_from_json(tx, chain_id, where=where))
        except TransactionError as exc:
            raise BlockError(str(exc)) from exc
    return BlockInput(
        number,
        block_hash,
        parent_hash,
        timestamp,
        BlockID(info.hash, info.number),
        info.sequence_number,
        tuple(raws),
        info,
    )
