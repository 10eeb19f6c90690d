"""``op-batcher decode`` report: L1 records -> frames, channels, batches and L2 blocks, as one JSON document.

The records go through the protocol core as derivation would read them (channel bank with its timeout
and size rules, decompression limits, the first invalid batch ending a channel); every problem is kept
next to the frame, channel or batch it concerns and copied into the top-level ``errors`` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batcher.decode.sources import SourceRecord
from common.derive.batch import BatchError, decode_batch
from common.derive.channel import (
    ChannelError,
    TruncatedBatchError,
    decompress_channel_partial,
    iter_batch_payloads,
)
from common.derive.channel_bank import AssembledChannel, ChannelBank, ChannelBankRules, DroppedChannel
from common.derive.derived_block import DerivedBlock, singular_block, span_blocks
from common.derive.frame import FrameError, parse_frames
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch import SpanBatch
from common.derive.transaction import keccak256


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
    blk: DerivedBlock,
    params: L2Params | None,
    channel_id: str,
    batch_index: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": blk.timestamp, "l1_origin_number": blk.epoch_num}
    if params is not None:
        out["number"] = params.block_number(blk.timestamp)
    out.update(extra or {})
    out.update(
        {
            "tx_count": len(blk.transactions),
            "tx_hashes": ["0x" + keccak256(tx).hex() for tx in blk.transactions],
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
        blk = singular_block(batch)
        checks = {
            "l1_origin_hash": "0x" + blk.epoch_hash_prefix.hex(),
            "parent_hash": "0x" + blk.parent_hash_prefix.hex(),
        }
        blocks.append(_block_json(blk, params, channel_id, index, checks))
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
        derived = span_blocks(batch, params.genesis_time, params.block_time, params.chain_id)
    except (BatchError, ValueError) as exc:
        info["errors"].append(f"span batch {index} of channel {channel_id}: {exc}")
        return info, False
    blocks.extend(_block_json(b, params, channel_id, index) for b in derived)
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


# ---- one channel at a time (op-batcher shadow reads the incumbent's channels as they complete) ----


def decode_channel(
    ch: AssembledChannel, rules: ChannelBankRules, l1_time: int, params: L2Params | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One complete channel's report (as in ``channels``) and the L2 blocks it derives to."""
    part: dict[str, Any] = {"batches": [], "blocks": []}
    out = _channel_report(ch, rules, l1_time, params, part)
    out["errors"].extend(e for b in part["batches"] for e in b["errors"])
    return out, part["blocks"]


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
