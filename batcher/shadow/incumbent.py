"""``op-batcher shadow``: the incumbent's side, its L1 txs -> channels -> L2 blocks, as derivation reads them.

Pure: the service reads each L1 block's txs from the shadowed batcher to the batch inbox into
:class:`~batcher.decode.sources.SourceRecord` s with the ``op-batcher decode`` reader
(:mod:`batcher.decode.l1`: calldata, or blobs from the beacon API) and hands them here, block by block.
:class:`IncumbentTracker` runs them through one long-lived channel bank (the same rules as derivation:
Holocene ordering, channel timeout) and decodes each channel that completes with the decode command's
channel decoder (:func:`batcher.decode.report.decode_channel`), giving a :class:`ChannelTally` per
channel.

A tx is counted (bytes, blobs, fee) in the channel of its first frame; a tx that does not decode (no
frames, bad blob, wrong version byte) is a ``undecodable_tx`` problem, a channel that fails to decompress
or decode a ``channel_error``, a channel the bank drops (timed out, replaced: typically one whose first
frames landed before the shadow started) a ``channel_dropped``: all reported, none fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batcher.decode.report import L2Params, decode_channel
from batcher.decode.sources import SourceRecord
from batcher.shadow.report import INCUMBENT, ChannelTally, L1Prices, Problem
from common.derive.channel_bank import AssembledChannel, ChannelBank, ChannelBankRules
from common.derive.frame import FrameError, parse_frames

MAX_OPEN_CHANNELS = 256
"""Incomplete incumbent channels tallied at once; the oldest is forgotten past this (a channel whose
frames the bank refused never completes, and must not grow the shadow's memory)."""


@dataclass(frozen=True, slots=True)
class IncumbentTx:
    """One tx of the shadowed batcher to the batch inbox, as read from L1."""

    tx_hash: str
    calldata: bytes | None
    """The tx input for a calldata tx; None for a blob tx."""
    records: tuple[SourceRecord, ...]
    """Its batcher data: one record (calldata) or one per blob, possibly with errors."""


class IncumbentTracker:
    """Channel bank + decoder over the incumbent's txs; returns finished channels and problems."""

    def __init__(self, rules: ChannelBankRules, params: L2Params) -> None:
        self.rules = rules
        self.params = params
        self.bank = ChannelBank(rules)
        self._open: dict[bytes, ChannelTally] = {}
        """Channels seen on L1 but not complete yet, by id."""
        self._dropped_seen = 0
        self._frames_dropped_seen = 0

    @property
    def open_channels(self) -> int:
        return len(self._open)

    def read_block(
        self, prices: L1Prices, txs: Sequence[IncumbentTx]
    ) -> tuple[list[ChannelTally], list[Problem]]:
        """Feed one L1 block's incumbent txs (in block order); the channels it completed and problems."""
        done: list[ChannelTally] = []
        problems: list[Problem] = []
        ready = self.bank.advance_l1(prices.block, prices.timestamp)
        for tx in txs:
            ready += self._read_tx(tx, prices, problems)
        for ch in ready:
            done.append(self._finish(ch, prices, problems))
        problems += self._dropped(prices.block)
        return done, problems

    def _read_tx(self, tx: IncumbentTx, prices: L1Prices, problems: list[Problem]) -> list[AssembledChannel]:
        ready: list[AssembledChannel] = []
        first_channel: bytes | None = None
        for rec in tx.records:
            if rec.tx is None or rec.errors:
                problems.append(Problem("undecodable_tx", prices.block, "; ".join(rec.errors), rec.label))
                continue
            try:
                frames = parse_frames(rec.tx.data)
            except FrameError as exc:
                problems.append(Problem("undecodable_tx", prices.block, f"frames: {exc}", rec.label))
                continue
            if first_channel is None and frames:
                first_channel = frames[0].channel_id
            ready += self.bank.ingest(rec.tx)
        if first_channel is None:
            return ready  # nothing decodable: no channel to charge it to (the problem names it)
        tally = self._open.setdefault(first_channel, ChannelTally(INCUMBENT, first_channel))
        while len(self._open) > MAX_OPEN_CHANNELS:
            del self._open[next(iter(self._open))]
        if tx.calldata is not None:
            tally.add_calldata_tx(tx.calldata, prices)
        else:
            tally.add_blob_tx([len(r.tx.data) for r in tx.records if r.tx is not None], prices)
        return ready

    def _finish(self, ch: AssembledChannel, prices: L1Prices, problems: list[Problem]) -> ChannelTally:
        tally = self._open.pop(ch.id, None) or ChannelTally(INCUMBENT, ch.id)
        info, blocks = decode_channel(ch, self.rules, prices.timestamp, self.params)
        tally.compressed_bytes = int(info["compressed_length"])
        tally.uncompressed_bytes = int(info["uncompressed_length"])
        tally.l2_blocks = [int(b["number"]) for b in blocks if b.get("number") is not None]
        tally.oldest_l2_time = int(blocks[0]["timestamp"]) if blocks else 0
        tally.finish(prices.block, prices.timestamp)
        for err in info["errors"]:
            tally.errors.append(str(err))
            problems.append(Problem("channel_error", prices.block, str(err), ch.id.hex()))
        return tally

    def _dropped(self, l1_block: int) -> list[Problem]:
        """Channels and frames the bank dropped since the last block (e.g. started before the shadow)."""
        out: list[Problem] = []
        for d in self.bank.dropped_channels[self._dropped_seen :]:
            self._open.pop(d.id, None)
            out.append(Problem("channel_dropped", l1_block, d.reason.value, d.id.hex()))
        for f in self.bank.dropped_frames[self._frames_dropped_seen :]:
            rf = f.frame
            detail = f"frame {rf.frame.number} of channel {rf.frame.channel_id.hex()}: {f.reason}"
            out.append(Problem("frame_dropped", rf.l1_block, detail, rf.source))
        self._dropped_seen = len(self.bank.dropped_channels)
        self._frames_dropped_seen = len(self.bank.dropped_frames)
        return out
