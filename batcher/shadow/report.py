"""``op-batcher shadow`` accounting: both sides' channels, side by side, and what switching would change.

Pure: no I/O, no clock. The shadow service feeds it, per L1 block, the channels the incumbent batcher
completed on L1 (decoded from its txs) and the channels our pipeline made ready (recorded, never sent);
this module keeps the per-channel tallies, the cumulative totals per side, the incumbent's problems
(txs that do not decode, channels dropped, gaps in the L2 blocks it covered) and builds the JSON report.

Costs are compared at the same prices: every tx's L1 fee is what it would pay at the base fee and blob
base fee of the L1 block it is counted in (the incumbent's inclusion block; for ours, the L1 head when
the channel became ready). Calldata txs pay the EIP-7623 floor gas (a data-only tx to an EOA always
pays the floor from Prague on), blob txs 21000 gas plus 131072 blob gas per blob. Tips are left out:
they are a policy, not a cost of the data.

The execution gas and blob gas are reported too: unlike fees they do not depend on the block a channel
is priced at (base fees move between the incumbent's inclusion block and our ready block).

Savings compare the sides per L2 block (the two sides cut channels at different blocks, and one side may
have covered blocks the other has not posted yet): ``1 - ours_per_block / theirs_per_block``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.derive.blob import BLOB_SIZE, MAX_BLOB_DATA_SIZE

INCUMBENT = "incumbent"
SHADOW = "shadow"
SIDES = (INCUMBENT, SHADOW)
"""Metric label values (``side``) and report keys."""

TX_GAS = 21_000
FLOOR_GAS_PER_TOKEN = 10
"""EIP-7623: floor gas per calldata token (a zero byte is 1 token, a non-zero byte 4)."""
MAX_CHANNELS_KEPT = 10_000
"""Channels per side listed in the report (weeks of a busy chain); totals count every channel."""
MAX_PROBLEMS_KEPT = 10_000
"""Problems listed in the report; ``problem_counts`` counts every one."""
GAS_PER_BLOB = BLOB_SIZE
"""EIP-4844: blob gas per blob (131072)."""
MIN_BLOB_BASE_FEE = 1
BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE = 5_007_716
"""EIP-7691 (Prague): the denominator of the blob base fee's exponential."""


def calldata_gas(data: bytes) -> int:
    """Gas a data-only tx with this calldata uses from Prague on: the EIP-7623 floor."""
    zeros = data.count(0)
    return TX_GAS + FLOOR_GAS_PER_TOKEN * (zeros + 4 * (len(data) - zeros))


def blob_base_fee(excess_blob_gas: int, update_fraction: int = BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE) -> int:
    """EIP-4844 ``fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, update_fraction)``."""
    i, output, acc = 1, 0, MIN_BLOB_BASE_FEE * update_fraction
    while acc > 0:
        output += acc
        acc = acc * excess_blob_gas // (update_fraction * i)
        i += 1
    return output // update_fraction


@dataclass(frozen=True, slots=True)
class L1Prices:
    """The prices of one L1 block, in wei."""

    block: int
    timestamp: int
    base_fee: int
    """``baseFeePerGas`` of the block (0 before London)."""
    blob_base_fee: int
    """From the block's ``excessBlobGas`` (MIN_BLOB_BASE_FEE before Cancun)."""

    def calldata_fee(self, data: bytes) -> int:
        return calldata_gas(data) * self.base_fee

    def blob_fee(self, blobs: int) -> int:
        return TX_GAS * self.base_fee + blobs * GAS_PER_BLOB * self.blob_base_fee


@dataclass(slots=True)
class ChannelTally:
    """One channel of one side: what it covered, what it weighed on L1, what it would cost."""

    side: str
    channel_id: bytes
    l2_blocks: list[int] = field(default_factory=list)
    """L2 block numbers the channel carries, in order."""
    oldest_l2_time: int = 0
    """Timestamp of its oldest L2 block (latency start)."""
    compressed_bytes: int = 0
    """Channel bytes (all frame data)."""
    uncompressed_bytes: int = 0
    txs: int = 0
    calldata_bytes: int = 0
    """Calldata of its calldata txs (version byte and frame headers included)."""
    blobs: int = 0
    blob_data_bytes: int = 0
    """Payload bytes carried in its blobs (of at most MAX_BLOB_DATA_SIZE each)."""
    fee_wei: int = 0
    gas: int = 0
    """Execution gas of its txs (calldata floor gas, or 21000 per blob tx): price-independent."""
    blob_gas: int = 0
    first_l1_block: int | None = None
    done_l1_block: int | None = None
    """Theirs: the L1 block that completed it on L1; ours: the L1 head when it became ready."""
    done_l1_time: int = 0
    errors: list[str] = field(default_factory=list)

    def add_calldata_tx(self, data: bytes, prices: L1Prices) -> None:
        self._add_tx(prices)
        self.calldata_bytes += len(data)
        self.fee_wei += prices.calldata_fee(data)
        self.gas += calldata_gas(data)

    def add_blob_tx(self, payload_sizes: Sequence[int], prices: L1Prices) -> None:
        self._add_tx(prices)
        self.blobs += len(payload_sizes)
        self.blob_data_bytes += sum(payload_sizes)
        self.fee_wei += prices.blob_fee(len(payload_sizes))
        self.gas += TX_GAS
        self.blob_gas += len(payload_sizes) * GAS_PER_BLOB

    def _add_tx(self, prices: L1Prices) -> None:
        self.txs += 1
        if self.first_l1_block is None:
            self.first_l1_block = prices.block

    def finish(self, l1_block: int, l1_time: int) -> None:
        self.done_l1_block, self.done_l1_time = l1_block, l1_time

    @property
    def da_bytes(self) -> int:
        """Bytes the channel occupies on L1: calldata plus whole blobs."""
        return self.calldata_bytes + self.blobs * BLOB_SIZE

    @property
    def blob_fill(self) -> float | None:
        """Share of its blobs' capacity that carries data (None for calldata)."""
        return self.blob_data_bytes / (self.blobs * MAX_BLOB_DATA_SIZE) if self.blobs else None

    @property
    def latency_seconds(self) -> int | None:
        """Oldest L2 block's time to ``done_l1_time``; None while no block is known."""
        return self.done_l1_time - self.oldest_l2_time if self.l2_blocks else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.channel_id.hex(),
            "l2_first": self.l2_blocks[0] if self.l2_blocks else None,
            "l2_last": self.l2_blocks[-1] if self.l2_blocks else None,
            "l2_blocks": len(self.l2_blocks),
            "compressed_bytes": self.compressed_bytes,
            "uncompressed_bytes": self.uncompressed_bytes,
            "txs": self.txs,
            "calldata_bytes": self.calldata_bytes,
            "blobs": self.blobs,
            "blob_data_bytes": self.blob_data_bytes,
            "blob_fill": self.blob_fill,
            "da_bytes": self.da_bytes,
            "fee_wei": self.fee_wei,
            "gas": self.gas,
            "blob_gas": self.blob_gas,
            "first_l1_block": self.first_l1_block,
            "done_l1_block": self.done_l1_block,
            "latency_seconds": self.latency_seconds,
            "errors": list(self.errors),
        }


@dataclass(slots=True)
class SideTotals:
    """Cumulative figures of one side."""

    channels: int = 0
    l2_blocks: int = 0
    compressed_bytes: int = 0
    uncompressed_bytes: int = 0
    txs: int = 0
    calldata_bytes: int = 0
    blobs: int = 0
    blob_data_bytes: int = 0
    da_bytes: int = 0
    fee_wei: int = 0
    gas: int = 0
    blob_gas: int = 0
    latency_seconds_sum: int = 0

    def add(self, ch: ChannelTally) -> None:
        self.channels += 1
        self.l2_blocks += len(ch.l2_blocks)
        self.compressed_bytes += ch.compressed_bytes
        self.uncompressed_bytes += ch.uncompressed_bytes
        self.txs += ch.txs
        self.calldata_bytes += ch.calldata_bytes
        self.blobs += ch.blobs
        self.blob_data_bytes += ch.blob_data_bytes
        self.da_bytes += ch.da_bytes
        self.fee_wei += ch.fee_wei
        self.gas += ch.gas
        self.blob_gas += ch.blob_gas
        self.latency_seconds_sum += ch.latency_seconds or 0

    @property
    def blob_fill(self) -> float | None:
        return self.blob_data_bytes / (self.blobs * MAX_BLOB_DATA_SIZE) if self.blobs else None

    def per_block(self, value: int) -> float | None:
        return value / self.l2_blocks if self.l2_blocks else None

    def to_json(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "l2_blocks": self.l2_blocks,
            "compressed_bytes": self.compressed_bytes,
            "uncompressed_bytes": self.uncompressed_bytes,
            "txs": self.txs,
            "calldata_bytes": self.calldata_bytes,
            "blobs": self.blobs,
            "blob_data_bytes": self.blob_data_bytes,
            "blob_fill": self.blob_fill,
            "da_bytes": self.da_bytes,
            "fee_wei": self.fee_wei,
            "gas": self.gas,
            "blob_gas": self.blob_gas,
            "da_bytes_per_block": self.per_block(self.da_bytes),
            "compressed_bytes_per_block": self.per_block(self.compressed_bytes),
            "fee_wei_per_block": self.per_block(self.fee_wei),
            "mean_latency_seconds": self.latency_seconds_sum / self.channels if self.channels else None,
        }


def saving(theirs: float | None, ours: float | None) -> float | None:
    """``1 - ours / theirs`` (the share switching would save); None when either side has no figure."""
    if theirs is None or ours is None or theirs == 0:
        return None
    return 1.0 - ours / theirs


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong on the incumbent's side: reported, never fatal."""

    kind: str
    """``undecodable_tx``, ``channel_error``, ``channel_dropped``, ``gap`` or ``frame_dropped``."""
    l1_block: int
    detail: str
    source: str = ""
    """Tx hash (with ``#blobN``) or channel id."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "l1_block": self.l1_block, "source": self.source, "detail": self.detail}


@dataclass(slots=True)
class BlockSummary:
    """What one L1 block changed: the summary log line's fields."""

    l1_block: int
    channels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    problems: int = 0


class ShadowReport:
    """Both sides' channels and totals, the incumbent's problems, and the L2 coverage of each side."""

    def __init__(self, *, shadowed: bytes, config: dict[str, Any] | None = None) -> None:
        self.shadowed = shadowed
        self.config = dict(config or {})
        self.channels: dict[str, list[ChannelTally]] = {s: [] for s in SIDES}
        self.totals: dict[str, SideTotals] = {s: SideTotals() for s in SIDES}
        self.problems: list[Problem] = []
        self.problem_counts: dict[str, int] = {}
        """Every problem ever seen, by kind (the list keeps the newest MAX_PROBLEMS_KEPT)."""
        self.first_l1_block: int | None = None
        self.last_l1_block: int | None = None
        self._next_l2: dict[str, int | None] = dict.fromkeys(SIDES)
        """The L2 block each side's next channel should start at (gap detection)."""
        self.block = BlockSummary(0)

    # ---- feeding -----------------------------------------------------------------------------------

    def begin_l1_block(self, number: int) -> None:
        """Start counting what L1 block ``number`` brings (for its summary line)."""
        if self.first_l1_block is None:
            self.first_l1_block = number
        self.last_l1_block = number
        self.block = BlockSummary(number)

    def add_channel(self, ch: ChannelTally) -> list[Problem]:
        """Count a finished channel; for the incumbent, a jump past the next expected L2 block is a gap."""
        kept = self.channels[ch.side]
        kept.append(ch)
        if len(kept) > MAX_CHANNELS_KEPT:  # the totals stay cumulative; the list keeps the newest
            del kept[: len(kept) - MAX_CHANNELS_KEPT]
        self.totals[ch.side].add(ch)
        self.block.channels[ch.side] += 1
        found: list[Problem] = []
        if ch.l2_blocks:
            expected = self._next_l2[ch.side]
            first = ch.l2_blocks[0]
            if ch.side == INCUMBENT and expected is not None and first > expected:
                found.append(
                    Problem(
                        "gap",
                        ch.done_l1_block or 0,
                        f"L2 blocks {expected}..{first - 1} were not posted before channel "
                        f"{ch.channel_id.hex()} (starts at {first})",
                        ch.channel_id.hex(),
                    )
                )
            self._next_l2[ch.side] = max(expected or 0, ch.l2_blocks[-1] + 1)
        for p in found:
            self.add_problem(p)
        return found

    def add_problem(self, problem: Problem) -> None:
        self.problems.append(problem)
        if len(self.problems) > MAX_PROBLEMS_KEPT:
            del self.problems[: len(self.problems) - MAX_PROBLEMS_KEPT]
        self.problem_counts[problem.kind] = self.problem_counts.get(problem.kind, 0) + 1
        self.block.problems += 1

    # ---- reading -----------------------------------------------------------------------------------

    def last(self, side: str) -> ChannelTally | None:
        chans = self.channels[side]
        return chans[-1] if chans else None

    def problem_count(self, kind: str) -> int:
        return self.problem_counts.get(kind, 0)

    def savings(self) -> dict[str, float | None]:
        """Per-L2-block savings of switching (positive: ours costs less)."""
        theirs, ours = self.totals[INCUMBENT], self.totals[SHADOW]
        return {
            "da_bytes": saving(theirs.per_block(theirs.da_bytes), ours.per_block(ours.da_bytes)),
            "compressed_bytes": saving(
                theirs.per_block(theirs.compressed_bytes), ours.per_block(ours.compressed_bytes)
            ),
            "fee": saving(theirs.per_block(theirs.fee_wei), ours.per_block(ours.fee_wei)),
            "gas": saving(theirs.per_block(theirs.gas), ours.per_block(ours.gas)),
        }

    def summary_fields(self) -> dict[str, Any]:
        """The per-L1-block log line: channels this block, running totals and savings."""
        theirs, ours = self.totals[INCUMBENT], self.totals[SHADOW]
        s = self.savings()
        return {
            "l1_block": self.block.l1_block,
            "new_incumbent_channels": self.block.channels[INCUMBENT],
            "new_shadow_channels": self.block.channels[SHADOW],
            "incumbent_blocks": theirs.l2_blocks,
            "shadow_blocks": ours.l2_blocks,
            "incumbent_da_bytes": theirs.da_bytes,
            "shadow_da_bytes": ours.da_bytes,
            "incumbent_fee_wei": theirs.fee_wei,
            "shadow_fee_wei": ours.fee_wei,
            "saving_da": _pct(s["da_bytes"]),
            "saving_fee": _pct(s["fee"]),
            "problems": sum(self.problem_counts.values()),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "shadowed_batcher": "0x" + self.shadowed.hex(),
            "config": self.config,
            "l1_blocks": {"first": self.first_l1_block, "last": self.last_l1_block},
            "totals": {s: self.totals[s].to_json() for s in SIDES},
            "savings": self.savings(),
            "channels": {s: [c.to_json() for c in self.channels[s]] for s in SIDES},
            "problem_counts": dict(self.problem_counts),
            "problems": [p.to_json() for p in self.problems],
        }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
