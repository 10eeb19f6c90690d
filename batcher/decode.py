"""``op-batcher decode``: show what batcher data on L1 decodes to.

Sources, read in the order given on the command line:

* files: ``--raw-tx FILE`` (a signed raw L1 tx in hex: its calldata, or the blobs of a blob tx
  in network form), ``--calldata FILE`` (batcher tx data in hex), ``--blob FILE`` (one blob in
  hex; give the blobs of a tx in order);
* an L1 node: ``--l1-eth-rpc URL`` with ``--tx HASH`` (repeatable), or with ``--start N --end M
  --batch-inbox ADDR --batcher-address ADDR`` (end exclusive, as op-node's batch_decoder).
  Blobs come from ``--l1-beacon URL`` (``GET /eth/v1/beacon/blobs/{block}``) or else from the L1
  node itself (``anvil_getBlobsByTransactionHash``).

The output is one JSON document: frames, channels (complete, dropped or still incomplete),
batches, and each derived L2 block's timestamp, L1 origin, tx count and tx hashes. Span batches
need ``--l2-genesis-time --l2-block-time --l2-chain-id`` or ``--rollup-config rollup.json``.
Bad data is reported in ``errors`` lists next to the frame, channel or batch it concerns; the
exit code is non-zero only for usage errors (2) and unreachable sources (1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp

from common.derive.batch import BatchError, decode_batch
from common.derive.blob import BlobError, blob_from_hex, decode_blob
from common.derive.channel import (
    ChannelError,
    TruncatedBatchError,
    decompress_channel_partial,
    iter_batch_payloads,
)
from common.derive.channel_bank import (
    AssembledChannel,
    BatcherTx,
    ChannelBank,
    ChannelBankRules,
    DroppedChannel,
)
from common.derive.frame import FrameError, parse_frames
from common.derive.rollup_config import RollupConfig
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch
from common.derive.transaction import keccak256

FILE_L1_TIMESTAMP = 2**62
"""L1 timestamp assumed for file inputs: every fork the rollup config schedules is active."""
BLOB_TX_TYPE = 0x03
SET_CODE_TX_TYPE = 0x04
DEPOSIT_TX_TYPE = 0x7E
RPC_BATCH_SIZE = 50
"""Blocks fetched per JSON-RPC batch in range mode."""


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


class SourceError(Exception):
    """An input file or endpoint that cannot be read (exit code 1)."""


class EndpointUnreachableError(SourceError):
    """A transport failure talking to an endpoint: always fatal (exit code 1), never per item."""


@dataclass(frozen=True, slots=True)
class L2Params:
    """What deriving L2 blocks from span batches needs (and the L2 numbering, when known)."""

    genesis_time: int
    block_time: int
    chain_id: int
    genesis_number: int = 0

    def block_number(self, timestamp: int) -> int | None:
        delta = timestamp - self.genesis_time
        if delta < 0 or delta % self.block_time:
            return None
        return self.genesis_number + delta // self.block_time


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
        blob_list = fields[1] if isinstance(fields[1], list) else fields[2]
        blobs = tuple(_as_bytes(b, "sidecar blob") for b in _as_list(blob_list, "sidecar blobs"))
        fields = fields[0]
    positions = {0: (3, 5), 1: (4, 6), 2: (5, 7), 3: (5, 7), 4: (5, 7), DEPOSIT_TX_TYPE: (2, 7)}
    if tx_type not in positions:
        raise ValueError(f"unsupported L1 transaction type 0x{tx_type:02x}")
    to_i, data_i = positions[tx_type]
    if len(fields) <= data_i:
        raise ValueError(f"type {tx_type} tx: only {len(fields)} fields")
    to = _as_bytes(fields[to_i], "to") or None
    data = _as_bytes(fields[data_i], "data")
    hashes: tuple[bytes, ...] = ()
    if tx_type == BLOB_TX_TYPE:
        hashes = tuple(_as_bytes(h, "blob hash") for h in _as_list(fields[10], "blobVersionedHashes"))
    return RawL1Tx(tx_type, to, data, hashes, blobs)


# ------------------------------------------------------------------------------------------ inputs


def _read_hex_file(path: str) -> bytes:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        return bytes.fromhex("".join(text.split()))
    except ValueError as exc:
        raise SourceError(f"{path}: not hex: {exc}") from exc


def _blob_record(blob: bytes, label: str, l1_block: int, l1_time: int) -> SourceRecord:
    rec = SourceRecord(label, "blob", l1_block)
    try:
        rec.tx = BatcherTx(l1_block, l1_time, decode_blob(blob), label)
    except BlobError as exc:
        rec.errors.append(f"blob: {exc}")
    return rec


def _calldata_record(data: bytes, label: str, l1_block: int, l1_time: int) -> SourceRecord:
    rec = SourceRecord(label, "calldata", l1_block)
    rec.tx = BatcherTx(l1_block, l1_time, data, label)
    return rec


def records_from_files(sources: Sequence[tuple[str, str]], l1_time: int) -> list[SourceRecord]:
    """File inputs in command-line order, all in one synthetic L1 block 0."""
    out: list[SourceRecord] = []
    for kind, path in sources:
        raw = _read_hex_file(path)
        if kind == "calldata":
            out.append(_calldata_record(raw, path, 0, l1_time))
        elif kind == "blob":
            if len(raw) != 131072:
                rec = SourceRecord(path, "blob", 0, [f"blob must be 131072 bytes, got {len(raw)}"])
                out.append(rec)
            else:
                out.append(_blob_record(raw, path, 0, l1_time))
        else:
            out.extend(_records_from_raw_tx(raw, path, 0, l1_time))
    return out


def _records_from_raw_tx(raw: bytes, label: str, l1_block: int, l1_time: int) -> list[SourceRecord]:
    try:
        tx = parse_raw_l1_tx(raw)
    except ValueError as exc:
        return [SourceRecord(label, "raw-tx", l1_block, [f"raw tx: {exc}"])]
    if tx.tx_type == SET_CODE_TX_TYPE:
        return [
            SourceRecord(label, "raw-tx", l1_block, ["set-code (type 4) L1 txs are rejected by derivation"])
        ]
    if tx.tx_type != BLOB_TX_TYPE:
        return [_calldata_record(tx.data, label, l1_block, l1_time)]
    if not tx.blobs:
        note = (
            f"blob tx with {len(tx.blob_hashes)} blob(s) and no sidecar: pass the blobs with --blob "
            f"({', '.join('0x' + h.hex() for h in tx.blob_hashes)})"
        )
        return [SourceRecord(label, "raw-tx", l1_block, [note])]
    return [_blob_record(b, f"{label}#blob{i}", l1_block, l1_time) for i, b in enumerate(tx.blobs)]


# --------------------------------------------------------------------------------------------- RPC


def _hex_int(value: Any, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            pass
    raise SourceError(f"{what}: expected a quantity, got {value!r}")


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise SourceError(f"{what}: expected hex data, got {type(value).__name__}")
    try:
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    except ValueError as exc:
        raise SourceError(f"{what}: invalid hex") from exc


class L1Fetcher:
    """Reads batcher txs and their blobs from an L1 node (and optionally a beacon endpoint)."""

    def __init__(self, rpc_url: str, beacon_url: str | None, timeout: float) -> None:
        from common.rpc.client import RpcClient

        self.rpc = RpcClient(rpc_url, timeout=timeout)
        self.beacon_url = beacon_url.rstrip("/") if beacon_url else None
        self.timeout = timeout

    async def close(self) -> None:
        await self.rpc.close()

    async def _blobs(self, tx: dict[str, Any], block_number: int, block_time: int) -> list[bytes]:
        hashes = tx.get("blobVersionedHashes") or []
        if self.beacon_url is None:
            from common.rpc.errors import RpcResponseError

            try:
                result = await self.rpc.call("anvil_getBlobsByTransactionHash", [tx["hash"]])
            except RpcResponseError as exc:
                raise SourceError(f"L1 node cannot serve blobs ({exc}); pass --l1-beacon URL") from exc
            blobs = [blob_from_hex(b) for b in (result or [])]
        else:
            blobs = await self._beacon_blobs(block_number, block_time, hashes)
        if len(blobs) != len(hashes):
            raise SourceError(
                f"tx {tx['hash']}: {len(hashes)} blob hashes but {len(blobs)} blobs were returned"
            )
        return blobs

    async def _beacon_get(self, path: str) -> tuple[int, Any]:
        """GET a beacon API path; returns (HTTP status, parsed JSON or None)."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{self.beacon_url}{path}", headers={"Accept": "application/json"}) as resp,
            ):
                if resp.status != 200:
                    return resp.status, None
                return resp.status, await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise EndpointUnreachableError(f"beacon {self.beacon_url}: {exc or type(exc).__name__}") from exc
        except ValueError as exc:
            raise SourceError(f"beacon {self.beacon_url}{path}: invalid JSON: {exc}") from exc

    async def _beacon_blobs(self, block_number: int, block_time: int, hashes: list[str]) -> list[bytes]:
        """Blobs by versioned hash from /eth/v1/beacon/blobs/{id}.

        anvil takes the EL block number as the id; a real beacon node takes a slot, so when the
        number does not give the blobs, the slot is computed from the beacon genesis time.
        """
        query = urllib.parse.urlencode({"versioned_hashes": ",".join(hashes)})
        status, doc = await self._beacon_get(f"/eth/v1/beacon/blobs/{block_number}?{query}")
        blobs = _beacon_blob_list(doc)
        if blobs is not None and len(blobs) == len(hashes):
            return blobs
        slot = await self._slot_of(block_time)
        if slot is not None and slot != block_number:
            status, doc = await self._beacon_get(f"/eth/v1/beacon/blobs/{slot}?{query}")
            blobs = _beacon_blob_list(doc)
            if blobs is not None:
                return blobs
        if blobs is None:
            raise SourceError(
                f"beacon {self.beacon_url}: HTTP {status}, no blob list for L1 block {block_number}"
            )
        return blobs

    async def _slot_of(self, block_time: int) -> int | None:
        _, genesis = await self._beacon_get("/eth/v1/beacon/genesis")
        _, spec = await self._beacon_get("/eth/v1/config/spec")
        try:
            genesis_time = int(genesis["data"]["genesis_time"])
            seconds = int(spec["data"]["SECONDS_PER_SLOT"]) if isinstance(spec, dict) else 12
        except (KeyError, TypeError, ValueError):
            return None
        if seconds <= 0 or block_time < genesis_time:
            return None
        return (block_time - genesis_time) // seconds

    async def records_for_tx(self, tx: dict[str, Any], block: dict[str, Any]) -> list[SourceRecord]:
        """Records for one batcher tx of ``block`` (calldata, or one per blob)."""
        number = _hex_int(block["number"], "block number")
        timestamp = _hex_int(block["timestamp"], "block timestamp")
        label = str(tx.get("hash"))
        tx_type = _hex_int(tx.get("type", "0x0"), "tx type")
        if tx_type == SET_CODE_TX_TYPE:
            return [
                SourceRecord(
                    label, "calldata", number, ["set-code (type 4) L1 txs are rejected by derivation"]
                )
            ]
        if tx_type != BLOB_TX_TYPE:
            return [_calldata_record(_hex_bytes(tx.get("input", "0x"), "tx input"), label, number, timestamp)]
        try:
            blobs = await self._blobs(tx, number, timestamp)
        except EndpointUnreachableError:
            raise
        except (SourceError, BlobError) as exc:
            return [SourceRecord(label, "blob", number, [str(exc)])]
        return [_blob_record(b, f"{label}#blob{i}", number, timestamp) for i, b in enumerate(blobs)]

    async def records_for_hashes(self, hashes: Sequence[str]) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for h in hashes:
            tx = await self.rpc.call("eth_getTransactionByHash", [h])
            if not isinstance(tx, dict):
                raise SourceError(f"transaction {h} not found on {self.rpc.endpoint}")
            if tx.get("blockNumber") is None:
                out.append(SourceRecord(h, "calldata", -1, ["transaction is still pending"]))
                continue
            block = await self.rpc.call("eth_getBlockByNumber", [tx["blockNumber"], False])
            if not isinstance(block, dict):
                raise SourceError(f"block {tx['blockNumber']} of tx {h} not found")
            out.extend(await self.records_for_tx(tx, block))
        return out

    async def records_for_range(
        self, start: int, end: int, inbox: bytes, batcher: bytes
    ) -> list[SourceRecord]:
        out: list[SourceRecord] = []
        for first in range(start, end, RPC_BATCH_SIZE):
            numbers = range(first, min(first + RPC_BATCH_SIZE, end))
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            for n, block in zip(numbers, blocks, strict=True):
                if not isinstance(block, dict):
                    raise SourceError(f"L1 block {n} not found on {self.rpc.endpoint}")
                for tx in block.get("transactions") or []:
                    to = tx.get("to")
                    sender = tx.get("from")
                    if not to or not sender:
                        continue
                    if _hex_bytes(to, "to") == inbox and _hex_bytes(sender, "from") == batcher:
                        out.extend(await self.records_for_tx(tx, block))
        return out


async def _fetch(args: argparse.Namespace) -> list[SourceRecord]:
    from common.rpc.errors import RpcError

    fetcher = L1Fetcher(args.l1_eth_rpc, args.l1_beacon, args.timeout)
    try:
        if args.tx:
            return await fetcher.records_for_hashes(args.tx)
        inbox = _address(args.batch_inbox, "--batch-inbox")
        batcher = _address(args.batcher_address, "--batcher-address")
        return await fetcher.records_for_range(args.start, args.end, inbox, batcher)
    except RpcError as exc:
        raise SourceError(str(exc)) from exc
    finally:
        await fetcher.close()


def _beacon_blob_list(doc: Any) -> list[bytes] | None:
    """The blobs of a beacon ``/blobs`` response (hex strings, or objects with a ``blob`` field)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return None
    try:
        return [blob_from_hex(b if isinstance(b, str) else str(b.get("blob", ""))) for b in data]
    except (BlobError, AttributeError) as exc:
        raise SourceError(f"beacon response holds an invalid blob: {exc}") from exc


# ------------------------------------------------------------------------------------------ decoding


def _frame_json(rec_label: str, l1_block: int, f: Any) -> dict[str, Any]:
    return {
        "source": rec_label,
        "l1_block": l1_block,
        "channel_id": f.channel_id.hex(),
        "frame_number": f.number,
        "data_length": len(f.data),
        "is_last": f.is_last,
    }


def _block_json(
    timestamp: int,
    epoch: int,
    txs: Sequence[bytes],
    params: L2Params | None,
    channel_id: str,
    batch_index: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": timestamp, "l1_origin_number": epoch}
    if params is not None:
        out["number"] = params.block_number(timestamp)
    out.update(extra or {})
    out.update(
        {
            "tx_count": len(txs),
            "tx_hashes": ["0x" + keccak256(tx).hex() for tx in txs],
            "channel_id": channel_id,
            "batch_index": batch_index,
        }
    )
    return out


def _decode_batch(
    payload: bytes, index: int, channel_id: str, params: L2Params | None, blocks: list[dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """Report one batch and append its L2 blocks; the flag is False when derivation would reject it."""
    info: dict[str, Any] = {
        "channel_id": channel_id,
        "index": index,
        "type": payload[0],
        "size": len(payload),
        "errors": [],
    }
    try:
        batch = decode_batch(payload, allow_trailing=True)
    except BatchError as exc:
        info["errors"].append(f"batch {index} of channel {channel_id}: {exc}")
        return info, False
    if isinstance(batch, SingularBatch):
        info.update(
            {
                "kind": "singular",
                "parent_hash": "0x" + batch.parent_hash.hex(),
                "epoch_num": batch.epoch_num,
                "epoch_hash": "0x" + batch.epoch_hash.hex(),
                "timestamp": batch.timestamp,
                "tx_count": len(batch.transactions),
            }
        )
        blocks.append(
            _block_json(
                batch.timestamp,
                batch.epoch_num,
                batch.transactions,
                params,
                channel_id,
                index,
                {
                    "l1_origin_hash": "0x" + batch.epoch_hash.hex(),
                    "parent_hash": "0x" + batch.parent_hash.hex(),
                },
            )
        )
        return info, True
    assert isinstance(batch, SpanBatch)
    info.update(
        {
            "kind": "span",
            "rel_timestamp": batch.rel_timestamp,
            "l1_origin_num": batch.l1_origin_num,
            "parent_check": "0x" + batch.parent_check.hex(),
            "l1_origin_check": "0x" + batch.l1_origin_check.hex(),
            "block_count": batch.block_count,
            "tx_count": batch.tx_count,
        }
    )
    if params is None:
        info["errors"].append(
            "span batch blocks need --l2-genesis-time, --l2-block-time and --l2-chain-id (or --rollup-config)"
        )
        return info, True
    try:
        derived = batch.derive_blocks(params.genesis_time, params.block_time, params.chain_id)
    except (BatchError, ValueError) as exc:
        info["errors"].append(f"span batch {index} of channel {channel_id}: {exc}")
        return info, False
    for b in derived:
        blocks.append(_block_json(b.timestamp, b.epoch_num, b.transactions, params, channel_id, index))
    return info, True


def _channel_frames(ch: AssembledChannel | DroppedChannel) -> list[dict[str, Any]]:
    return [
        {
            "frame_number": rf.frame.number,
            "l1_block": rf.l1_block,
            "source": rf.source,
            "data_length": len(rf.frame.data),
            "is_last": rf.frame.is_last,
        }
        for rf in ch.frames
    ]


def decode_records(
    records: Sequence[SourceRecord], rules: ChannelBankRules, params: L2Params | None
) -> dict[str, Any]:
    """The whole report for L1 inputs in L1 order (pure apart from CPU)."""
    report: dict[str, Any] = {
        "sources": [],
        "frames": [],
        "channels": [],
        "batches": [],
        "blocks": [],
        "errors": [],
    }
    bank = ChannelBank(rules)
    l1_times: dict[int, int] = {}
    ready: list[AssembledChannel] = []
    for rec in records:
        src: dict[str, Any] = {
            "source": rec.label,
            "kind": rec.kind,
            "l1_block": rec.l1_block,
            "errors": list(rec.errors),
        }
        report["sources"].append(src)
        if rec.tx is None:
            continue
        l1_times[rec.tx.l1_block] = rec.tx.l1_timestamp
        try:
            frames = parse_frames(rec.tx.data)
        except FrameError as exc:
            src["errors"].append(f"frames: {exc}")
        else:
            src["frame_count"] = len(frames)
            report["frames"].extend(_frame_json(rec.label, rec.l1_block, f) for f in frames)
        ready.extend(bank.ingest(rec.tx))
    for ch in ready:
        report["channels"].append(
            _channel_report(ch, rules, l1_times.get(ch.ready_l1_block, 0), params, report)
        )
    for dropped in [*bank.dropped_channels, *bank.pending()]:
        report["channels"].append(
            {
                "id": dropped.id.hex(),
                "status": dropped.reason.name.lower(),
                "open_l1_block": dropped.open_l1_block,
                "frames": _channel_frames(dropped),
                "errors": [dropped.reason.value],
            }
        )
    by_key = {(f["source"], f["channel_id"], f["frame_number"]): f for f in report["frames"]}
    for dropped_frame in bank.dropped_frames:
        rf = dropped_frame.frame
        entry = by_key.get((rf.source, rf.frame.channel_id.hex(), rf.frame.number))
        if entry is not None:
            entry.setdefault("errors", []).append(f"frame dropped: {dropped_frame.reason}")
    _collect_errors(report)
    return report


def _channel_report(
    ch: AssembledChannel,
    rules: ChannelBankRules,
    l1_time: int,
    params: L2Params | None,
    report: dict[str, Any],
) -> dict[str, Any]:
    """Decompress and decode one complete channel; like op-node, the first bad batch ends it."""
    cid = ch.id.hex()
    data = ch.data
    out: dict[str, Any] = {
        "id": cid,
        "status": "complete",
        "open_l1_block": ch.open_l1_block,
        "close_l1_block": ch.close_l1_block,
        "ready_l1_block": ch.ready_l1_block,
        "frames": _channel_frames(ch),
        "compressed_length": len(data),
        "compression": None,
        "uncompressed_length": 0,
        "batch_count": 0,
        "errors": [],
        "notes": [],
    }
    errors: list[str] = out["errors"]
    notes: list[str] = out["notes"]
    try:
        dec = decompress_channel_partial(
            data, max_bytes=rules.max_rlp_bytes(l1_time), fjord=rules.is_fjord(l1_time)
        )
    except ChannelError as exc:
        errors.append(str(exc))
        return out
    out["compression"] = dec.version.value
    out["uncompressed_length"] = len(dec.data)
    if dec.unterminated:
        notes.append("compressed stream has no end marker (accepted by derivation)")
    if dec.limit_reached:
        notes.append("uncompressed data past MAX_RLP_BYTES_PER_CHANNEL was ignored")
    if dec.error is not None:
        errors.append(f"{dec.version.value}: {dec.error} after {len(dec.data)} uncompressed bytes")
    count = 0
    try:
        for payload in iter_batch_payloads(dec.data):
            info, decoded = _decode_batch(payload, count, cid, params, report["blocks"])
            report["batches"].append(info)
            count += 1
            if not decoded:
                errors.append(f"batch {count - 1} is invalid: derivation drops the rest of the channel")
                break
    except TruncatedBatchError as exc:
        if dec.limit_reached:
            pass  # derivation reads only MAX_RLP_BYTES_PER_CHANNEL; a batch cut there is ignored
        elif dec.error is None:
            errors.append(f"{exc} (compressed stream ended early)" if dec.unterminated else str(exc))
    except ChannelError as exc:
        errors.append(str(exc))
    out["batch_count"] = count
    return out


def _collect_errors(report: dict[str, Any]) -> None:
    """Copy every per-item error into the top-level ``errors`` list, naming where it came from."""
    errors = report["errors"]
    for src in report["sources"]:
        errors.extend({"source": src["source"], "error": e} for e in src["errors"])
    for fr in report["frames"]:
        errors.extend(
            {
                "source": fr["source"],
                "channel_id": fr["channel_id"],
                "frame_number": fr["frame_number"],
                "error": e,
            }
            for e in fr.get("errors", [])
        )
    for ch in report["channels"]:
        errors.extend({"channel_id": ch["id"], "error": e} for e in ch["errors"])
    for b in report["batches"]:
        errors.extend(
            {"channel_id": b["channel_id"], "batch_index": b["index"], "error": e} for e in b["errors"]
        )


# -------------------------------------------------------------------------------------------- CLI


def _address(value: str | None, flag: str) -> bytes:
    if not value:
        raise UsageError(f"{flag} is required with --start/--end")
    try:
        raw = bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise UsageError(f"{flag}: expected a 20-byte hex address, got {value!r}")
    return raw


class _SourceAction(argparse.Action):
    """Collects --raw-tx/--calldata/--blob into one ordered list of (kind, path)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sources = list(getattr(namespace, "sources", None) or [])
        sources.append((self.const, values))
        namespace.sources = sources


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="op-batcher decode",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    files = p.add_argument_group("file sources (read in command-line order)")
    files.add_argument(
        "--raw-tx",
        action=_SourceAction,
        const="raw-tx",
        dest="sources",
        metavar="FILE",
        help="signed raw L1 transaction (hex)",
    )
    files.add_argument(
        "--calldata",
        action=_SourceAction,
        const="calldata",
        dest="sources",
        metavar="FILE",
        help="batcher transaction data (hex)",
    )
    files.add_argument(
        "--blob",
        action=_SourceAction,
        const="blob",
        dest="sources",
        metavar="FILE",
        help="one blob (hex); give a tx's blobs in order",
    )
    files.add_argument(
        "--l1-timestamp",
        type=int,
        default=None,
        help="L1 timestamp to assume for file sources (default: all scheduled forks active)",
    )
    rpc = p.add_argument_group("L1 RPC sources")
    rpc.add_argument("--l1-eth-rpc", help="L1 execution node JSON-RPC URL")
    rpc.add_argument("--l1-beacon", help="beacon API URL for blobs (default: ask the L1 node)")
    rpc.add_argument("--tx", action="append", default=[], metavar="HASH", help="batcher tx hash (repeatable)")
    rpc.add_argument("--start", type=int, help="first L1 block (inclusive)")
    rpc.add_argument("--end", type=int, help="last L1 block (exclusive)")
    rpc.add_argument("--batch-inbox", help="batch inbox address")
    rpc.add_argument("--batcher-address", help="batcher (sender) address")
    rpc.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    l2 = p.add_argument_group("L2 chain (for span batches)")
    l2.add_argument("--rollup-config", help="op-node rollup.json")
    l2.add_argument("--l2-genesis-time", type=int)
    l2.add_argument("--l2-block-time", type=int)
    l2.add_argument("--l2-chain-id", type=int)
    p.add_argument("--compact", action="store_true", help="print JSON on one line")
    return p


def _l2_setup(args: argparse.Namespace) -> tuple[L2Params | None, ChannelBankRules]:
    manual = (args.l2_genesis_time, args.l2_block_time, args.l2_chain_id)
    if args.rollup_config:
        try:
            cfg = RollupConfig.load(args.rollup_config)
        except ValueError as exc:
            raise UsageError(f"--rollup-config: {exc}") from exc
        params = L2Params(cfg.genesis_l2_time, cfg.block_time, cfg.l2_chain_id, cfg.genesis_l2.number)
        return params, ChannelBankRules.from_rollup(cfg)
    if all(v is None for v in manual):
        return None, ChannelBankRules()
    if any(v is None for v in manual):
        raise UsageError("--l2-genesis-time, --l2-block-time and --l2-chain-id must be given together")
    if args.l2_block_time <= 0:
        raise UsageError(f"--l2-block-time must be positive, got {args.l2_block_time}")
    return L2Params(args.l2_genesis_time, args.l2_block_time, args.l2_chain_id), ChannelBankRules()


def _check_sources(args: argparse.Namespace) -> None:
    files = bool(getattr(args, "sources", None))
    if args.l1_eth_rpc is None:
        if not files:
            raise UsageError("no input: give --raw-tx/--calldata/--blob files or --l1-eth-rpc")
        if args.tx or args.start is not None or args.end is not None:
            raise UsageError("--tx and --start/--end need --l1-eth-rpc")
        return
    if files:
        raise UsageError("use either file sources or --l1-eth-rpc, not both")
    if args.tx and (args.start is not None or args.end is not None):
        raise UsageError("use either --tx or --start/--end")
    if not args.tx:
        if args.start is None or args.end is None:
            raise UsageError("--l1-eth-rpc needs --tx HASH or --start N --end M")
        if args.end < args.start or args.start < 0:
            raise UsageError(f"invalid block range --start {args.start} --end {args.end}")
        _address(args.batch_inbox, "--batch-inbox")
        _address(args.batcher_address, "--batcher-address")


def main(argv: list[str]) -> int:
    """Entry point of ``op-batcher decode``; prints the JSON report on stdout."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        _check_sources(args)
        params, rules = _l2_setup(args)
        if args.l1_eth_rpc is None:
            l1_time = FILE_L1_TIMESTAMP if args.l1_timestamp is None else args.l1_timestamp
            records = records_from_files(args.sources, l1_time)
        else:
            records = asyncio.run(_fetch(args))
    except UsageError as exc:
        print(f"op-batcher decode: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"op-batcher decode: {exc}", file=sys.stderr)
        return 1
    report = decode_records(records, rules, params)
    print(json.dumps(report, indent=None if args.compact else 2))
    return 0
