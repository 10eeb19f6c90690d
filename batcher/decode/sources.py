"""``op-batcher decode`` inputs: what one L1 source (a file, a raw tx, a tx read from L1) holds.

A :class:`SourceRecord` is one calldata payload or one blob, labelled for the report, with the
:class:`~common.derive.channel_bank.BatcherTx` the channel bank ingests (None when it could not be read)
and the problems met. File sources (``--raw-tx``, ``--calldata``, ``--blob``) are read here;
:mod:`batcher.decode.l1` builds records from an L1 node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp

from common.derive.blob import BLOB_SIZE, BlobError, decode_blob
from common.derive.channel_bank import BatcherTx

BLOB_TX_TYPE = 0x03
SET_CODE_TX_TYPE = 0x04
DEPOSIT_TX_TYPE = 0x7E
BLOB_TX_HASHES_INDEX = 10
"""Position of blobVersionedHashes in an EIP-4844 tx payload."""


class SourceError(Exception):
    """An input file or endpoint that cannot be read (exit code 1)."""


class EndpointUnreachableError(SourceError):
    """A transport failure talking to an endpoint: always fatal (exit code 1), never per item."""


@dataclass(slots=True)
class SourceRecord:
    """One L1 input (calldata or blob) with its label and problems."""

    label: str
    kind: str
    l1_block: int
    errors: list[str] = field(default_factory=list)
    tx: BatcherTx | None = None


# --------------------------------------------------------------------------------------- raw L1 tx


@dataclass(frozen=True, slots=True)
class RawL1Tx:
    """The parts of a signed L1 tx the decoder needs."""

    tx_type: int
    to: bytes | None
    data: bytes
    blob_hashes: tuple[bytes, ...]
    blobs: tuple[bytes, ...]
    """Blobs carried in the network (sidecar) form; empty for a bare blob tx."""


def _as_list(item: Any, what: str) -> list[Any]:
    if not isinstance(item, list):
        raise ValueError(f"{what}: expected an RLP list")
    return item


def _as_bytes(item: Any, what: str) -> bytes:
    if not isinstance(item, bytes):
        raise ValueError(f"{what}: expected an RLP string")
    return item


def parse_raw_l1_tx(raw: bytes) -> RawL1Tx:
    """Extract to/data/blobs from a signed L1 tx (legacy, 1, 2, 3 with or without sidecar, 4, 0x7e)."""
    if not raw:
        raise ValueError("empty transaction")
    tx_type = raw[0] if raw[0] < 0xC0 else 0
    try:
        decoded = rlp.decode(raw if tx_type == 0 else raw[1:])
    except rlp.exceptions.DecodingError as exc:
        raise ValueError(f"type {tx_type} tx: invalid RLP: {exc}") from exc
    fields = _as_list(decoded, f"type {tx_type} tx")
    blobs: tuple[bytes, ...] = ()
    if tx_type == BLOB_TX_TYPE and fields and isinstance(fields[0], list):
        # network form: [tx, blobs, commitments, proofs] or [tx, version, blobs, commitments, cell_proofs]
        if len(fields) < 4:
            raise ValueError(f"blob tx network form: only {len(fields)} items")
        blob_list = fields[1] if isinstance(fields[1], list) else fields[2]
        blobs = tuple(_as_bytes(b, "sidecar blob") for b in _as_list(blob_list, "sidecar blobs"))
        fields = fields[0]
    positions = {0: (3, 5), 1: (4, 6), 2: (5, 7), 3: (5, 7), 4: (5, 7), DEPOSIT_TX_TYPE: (2, 7)}
    if tx_type not in positions:
        raise ValueError(f"unsupported L1 transaction type 0x{tx_type:02x}")
    to_i, data_i = positions[tx_type]
    if len(fields) <= (BLOB_TX_HASHES_INDEX if tx_type == BLOB_TX_TYPE else data_i):
        raise ValueError(f"type {tx_type} tx: only {len(fields)} fields")
    to = _as_bytes(fields[to_i], "to") or None
    data = _as_bytes(fields[data_i], "data")
    hashes: tuple[bytes, ...] = ()
    if tx_type == BLOB_TX_TYPE:
        hashes = tuple(
            _as_bytes(h, "blob hash") for h in _as_list(fields[BLOB_TX_HASHES_INDEX], "blobVersionedHashes")
        )
    return RawL1Tx(tx_type, to, data, hashes, blobs)


# ------------------------------------------------------------------------------------------ inputs


def read_source_file(path: str) -> bytes:
    """A file source's bytes, by content: hex (``0x`` and whitespace allowed) or else raw binary.

    Blobs and raw txs are usually saved as binary, hand-made inputs as hex, so both are accepted.
    A file is hex when, after whitespace and a ``0x`` prefix are removed, it holds only hex digits.
    Raises SourceError (unreadable: exit 1) or ValueError (odd hex digit count: an item error).
    """
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    digits = b"".join(content.split())
    digits = digits[2:] if digits[:2] in (b"0x", b"0X") else digits
    if digits.translate(None, _HEX_DIGITS):
        return content
    if len(digits) % 2:
        raise ValueError(f"odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits.decode("ascii"))


_HEX_DIGITS = b"0123456789abcdefABCDEF"


def blob_record(blob: bytes, label: str, l1_block: int, l1_time: int) -> SourceRecord:
    """A record for one blob; a blob that does not decode keeps the record with the error."""
    rec = SourceRecord(label, "blob", l1_block)
    try:
        rec.tx = BatcherTx(l1_block, l1_time, decode_blob(blob), label)
    except BlobError as exc:
        rec.errors.append(f"blob: {exc}")
    return rec


def calldata_record(data: bytes, label: str, l1_block: int, l1_time: int) -> SourceRecord:
    """A record for batcher tx calldata (frames are parsed later, by the report)."""
    rec = SourceRecord(label, "calldata", l1_block)
    rec.tx = BatcherTx(l1_block, l1_time, data, label)
    return rec


def records_from_files(sources: Sequence[tuple[str, str]], l1_time: int) -> list[SourceRecord]:
    """File inputs in command-line order, all in one synthetic L1 block 0."""
    out: list[SourceRecord] = []
    for kind, path in sources:
        try:
            raw = read_source_file(path)
        except ValueError as exc:
            out.append(SourceRecord(path, kind, 0, [f"{path}: {exc}"]))
            continue
        if kind == "calldata":
            out.append(calldata_record(raw, path, 0, l1_time))
        elif kind == "blob":
            if len(raw) != BLOB_SIZE:
                rec = SourceRecord(path, "blob", 0, [f"blob must be {BLOB_SIZE} bytes, got {len(raw)}"])
                out.append(rec)
            else:
                out.append(blob_record(raw, path, 0, l1_time))
        else:
            out.extend(records_from_raw_tx(raw, path, 0, l1_time))
    return out


def records_from_raw_tx(raw: bytes, label: str, l1_block: int, l1_time: int) -> list[SourceRecord]:
    """Records for a signed raw L1 tx: its calldata, or one per sidecar blob."""
    try:
        tx = parse_raw_l1_tx(raw)
    except ValueError as exc:
        return [SourceRecord(label, "raw-tx", l1_block, [f"raw tx: {exc}"])]
    if tx.tx_type == SET_CODE_TX_TYPE:
        return [
            SourceRecord(label, "raw-tx", l1_block, ["set-code (type 4) L1 txs are rejected by derivation"])
        ]
    if tx.tx_type != BLOB_TX_TYPE:
        return [calldata_record(tx.data, label, l1_block, l1_time)]
    if not tx.blobs:
        note = (
            f"blob tx with {len(tx.blob_hashes)} blob(s) and no sidecar: pass the blobs with --blob "
            f"({', '.join('0x' + h.hex() for h in tx.blob_hashes)})"
        )
        return [SourceRecord(label, "raw-tx", l1_block, [note])]
    return [blob_record(b, f"{label}#blob{i}", l1_block, l1_time) for i, b in enumerate(tx.blobs)]
