"""Fee-aware posting: hold ready batcher data back while the L1 fee spikes, never past a hard deadline.

Our addition (no OP batcher ships it; issue 19, after FuelLabs/fuel-block-committer#158 and Linea's
dynamic gas pricing). Off unless ``--fee-aware.enabled``; with it off the driver never consults this
module and behaviour is Go's.

The rule, evaluated once per L1 head by the driver before it asks the channel manager for tx data:

* The fee that counts is the blob base fee when the manager posts blobs, else the base fee. One sample
  per L1 block goes into a history; the *short* average (mean of the newest ``short_window`` samples)
  is compared with the *baseline*: the median of the newest ``long_window``, frozen while a deferral
  runs (a moving average that a spike cannot drag up, so posting does not resume at a fee still many
  times the normal one).
* Defer while ``short > baseline x (1 + threshold) x (1 + urgency)`` and the fee is above ``min_fee``;
  ``urgency`` grows linearly from 0 to 1 over ``max_delay`` (Linea raises its price ceiling as the
  deadline nears), so a long spike is paid at a falling premium rather than all at the deadline.
* Always send (FORCE) once data has waited ``max_delay`` seconds of L1 time, or once the L1 head
  reaches the oldest unsent block's sequencing-window deadline less the sub-safety margin (the same
  block at which Go's channel builder closes a channel for the window), whatever the fee.
* Never defer while a channel is half posted: its frames must land within the channel timeout of
  the first one, so once a channel's first frame is out the rest follow at any fee.
* With too little history (fewer than ``long_window // 4`` samples, at least ``short_window + 1``)
  the policy sends: a restart never starts by holding data back.

So safety never depends on fees: the deadlines are the ones the channel manager already honours, and
the policy can only delay within them. Time is the L1 head's timestamp, passed in; nothing here does
I/O or reads a clock.
"""

from __future__ import annotations

import enum
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batcher.channels.channel import Channel, L2Block


BLOB_GAS_PER_BYTE = 131_072 / 130_044
"""Blob gas per byte of frame data in a fully used blob (EIP-4844 blob, 130,044 usable bytes)."""
CALLDATA_GAS_PER_BYTE = 40
"""EIP-7623 floor gas per non-zero calldata byte (4 tokens x 10): compressed frames are ~all non-zero."""


class FeePolicyError(ValueError):
    """Invalid ``fee-aware.*`` configuration; the message names the flag."""


@dataclass(frozen=True, slots=True)
class FeePolicyConfig:
    """The ``fee-aware.*`` flags."""

    enabled: bool = False
    max_delay: float = 600.0
    """Seconds of L1 time ready data may be held back (``--fee-aware.max-delay``)."""
    short_window: int = 3
    """L1 blocks in the short moving average (``--fee-aware.short-window``)."""
    long_window: int = 48
    """L1 blocks in the long moving average (``--fee-aware.long-window``)."""
    threshold: float = 0.25
    """How far (fraction) the short average may exceed the long one before posting is deferred."""
    min_fee: int = 0
    """Wei: a fee at or below this is always paid (``--fee-aware.min-fee``)."""

    def check(self) -> None:
        """Startup validation, naming the flag at fault."""
        if self.max_delay <= 0:
            raise FeePolicyError("fee-aware.max-delay must be positive")
        if self.short_window < 1:
            raise FeePolicyError("fee-aware.short-window must be at least 1")
        if self.long_window <= self.short_window:
            raise FeePolicyError("fee-aware.long-window must be greater than fee-aware.short-window")
        if self.threshold < 0:
            raise FeePolicyError("fee-aware.threshold must not be negative")
        if self.min_fee < 0:
            raise FeePolicyError("fee-aware.min-fee must not be negative")

    @property
    def min_history(self) -> int:
        """Samples needed before the averages are trusted enough to defer."""
        return max(self.short_window + 1, self.long_window // 4)


@dataclass(frozen=True, slots=True)
class FeeSample:
    """The L1 fees of one block."""

    l1_block: int
    timestamp: int
    """Unix seconds of that L1 block."""
    base_fee: int
    """Wei per gas."""
    blob_base_fee: int
    """Wei per blob gas."""


@dataclass(frozen=True, slots=True)
class PendingWork:
    """What waits to be posted, as the policy needs it (read from the channel manager)."""

    da_bytes: int
    """DA estimate (or compressed size, once framed) of everything not yet handed to the tx manager."""
    oldest_l1_origin: int | None
    """L1 origin number of the oldest block not yet handed out; None if nothing waits."""
    oldest_l2_time: int | None
    """L2 timestamp of that block: when it started waiting, for the max-delay bound."""
    mid_channel: bool
    """A channel has frames on L1 (or in flight) and frames left: its channel-timeout clock runs."""
    seq_window_size: int
    sub_safety_margin: int
    use_blobs: bool

    @property
    def seq_deadline(self) -> int | None:
        """L1 block at which the policy must send (the channel builder's sequencing-window close)."""
        if self.oldest_l1_origin is None:
            return None
        return self.oldest_l1_origin + self.seq_window_size - self.sub_safety_margin


class Verdict(enum.Enum):
    """The outcome of one decision; the values are the ``decision`` metric label."""

    IDLE = "idle"
    """Nothing waits."""
    SEND = "send"
    """The fee is acceptable (or no basis to defer)."""
    DEFER = "defer"
    FORCE = "force"
    """A deadline was reached: sent at whatever fee."""


@dataclass(frozen=True, slots=True)
class FeeDecision:
    verdict: Verdict
    reason: str
    fee: int
    """The fee that counts (wei per blob gas or per gas)."""
    short_avg: float
    long_avg: float
    limit: float
    """The short average above which posting is deferred now."""
    deferred_for: float
    """Seconds the oldest waiting data has been held back so far."""
    step_deferred: float
    """Seconds since the previous decision if that one deferred (the time-deferred counter)."""
    deferred_bytes: int
    saved_wei: int
    """On the send that ends a deferral: (fee when it began - fee now) x gas of the waiting bytes, >= 0."""
    deadline_l1: int | None

    @property
    def sends(self) -> bool:
        return self.verdict is not Verdict.DEFER


def pending_work(
    blocks: Sequence[L2Block],
    cursor: int,
    channels: Sequence[Channel],
    *,
    seq_window_size: int,
    sub_safety_margin: int,
    use_blobs: bool,
) -> PendingWork:
    """Summarise the channel manager's unsent data (its ``blocks``, ``block_cursor`` and ``channels``)."""
    waiting = blocks[cursor:]
    da = sum(b.da_size_estimate for b in waiting)
    origins = [b.l1_origin.number for b in waiting[:1]]
    times = [b.timestamp for b in waiting[:1]]
    mid = False
    for ch in channels:
        if ch.is_full and not ch.has_tx_data():
            continue  # every frame handed out: nothing of it waits
        if not ch.none_submitted:
            mid = True
            continue
        da += ch.unsafe_da_bytes
        if ch.oldest_l1_origin is not None:
            origins.append(ch.oldest_l1_origin.number)
        if ch.blocks:
            times.append(ch.blocks[0].timestamp)
    return PendingWork(
        da,
        min(origins) if origins else None,
        min(times) if times else None,
        mid,
        seq_window_size,
        sub_safety_margin,
        use_blobs,
    )


class FeePolicy:
    """Fee history plus the deferral in progress; owned by the driver's state task."""

    def __init__(self, cfg: FeePolicyConfig) -> None:
        cfg.check()
        self.cfg = cfg
        self._samples: deque[FeeSample] = deque(maxlen=cfg.long_window)
        self._since: int | None = None
        """L1 timestamp at which the current deferral began (kept through forced sends)."""
        self._fee_at_start = 0
        self._baseline: float | None = None
        """The long median when the current deferral began."""
        self._last: tuple[int, Verdict] | None = None
        """(timestamp, verdict) of the previous decision, for the time-deferred counter."""

    @property
    def deferring(self) -> bool:
        return self._since is not None

    def observe(self, sample: FeeSample) -> None:
        """Add one L1 block's fees; a block already seen (or older) replaces nothing."""
        if self._samples and sample.l1_block <= self._samples[-1].l1_block:
            return
        self._samples.append(sample)

    def averages(self, use_blobs: bool) -> tuple[float, float]:
        """(short mean, baseline): the baseline is the long median, frozen while a deferral runs so a
        long spike cannot drag it up and end the deferral at a fee still many times the normal one."""
        short, median = self.window_stats(use_blobs)
        if self._since is not None and self._baseline is not None:
            return short, self._baseline
        return short, median

    def window_stats(self, use_blobs: bool) -> tuple[float, float]:
        """(short mean, long median) of the fee that counts; (0, 0) with no samples.

        The long side is the window's median, not its mean: a spike shorter than half the window
        does not drag the baseline up, so posting does not resume while the fee is still elevated.
        """
        fees = [s.blob_base_fee if use_blobs else s.base_fee for s in self._samples]
        if not fees:
            return 0.0, 0.0
        short = fees[-self.cfg.short_window :]
        return sum(short) / len(short), float(statistics.median(fees))

    def waited(self, work: PendingWork, now: int) -> float:
        """Seconds the oldest waiting data has been held back: since the deferral began or, for data
        that arrived later (its L2 timestamp), since it arrived. A forced send does not restart the
        clock for data that was already waiting, so no block waits more than ``max_delay``."""
        if self._since is None:
            return 0.0
        start = self._since if work.oldest_l2_time is None else max(self._since, work.oldest_l2_time)
        return float(max(0, now - start))

    def decide(self, work: PendingWork, l1_head: int, now: int) -> FeeDecision:
        """Send, defer or force for L1 head ``l1_head`` (timestamp ``now``), given the unsent ``work``."""
        verdict, reason = self._verdict(work, l1_head, now)
        short, long_ = self.averages(work.use_blobs)
        fee = self._fee(work.use_blobs)
        waited = self.waited(work, now)
        limit = self._limit(long_, waited)
        step = 0.0
        if self._last is not None and self._last[1] is Verdict.DEFER:
            step = float(max(0, now - self._last[0]))
        saved = 0
        ends_deferral = self._last is not None and self._last[1] is Verdict.DEFER
        if verdict is not Verdict.DEFER and ends_deferral:  # counted once per deferral
            gas_per_byte = BLOB_GAS_PER_BYTE if work.use_blobs else CALLDATA_GAS_PER_BYTE
            saved = max(0, int((self._fee_at_start - fee) * gas_per_byte * work.da_bytes))
        if verdict is Verdict.DEFER and self._since is None:
            self._since, self._fee_at_start, self._baseline = now, fee, long_
        elif verdict is Verdict.IDLE or (verdict is Verdict.SEND and not work.mid_channel):
            self._since = None  # the fee is fine again; a half-posted channel keeps the clock running
        self._last = (now, verdict)
        return FeeDecision(
            verdict, reason, fee, short, long_, limit, waited, step, work.da_bytes, saved, work.seq_deadline
        )

    def _fee(self, use_blobs: bool) -> int:
        if not self._samples:
            return 0
        latest = self._samples[-1]
        return latest.blob_base_fee if use_blobs else latest.base_fee

    def _limit(self, long_avg: float, waited: float) -> float:
        """The deferral ceiling: rises from ``long x (1 + threshold)`` to twice that over max delay."""
        urgency = min(1.0, waited / self.cfg.max_delay)
        return long_avg * (1 + self.cfg.threshold) * (1 + urgency)

    def _verdict(self, work: PendingWork, l1_head: int, now: int) -> tuple[Verdict, str]:
        """The rules of the module docstring, deadlines first."""
        if work.da_bytes == 0 and work.oldest_l1_origin is None and not work.mid_channel:
            return Verdict.IDLE, "nothing to post"
        if work.mid_channel:
            return Verdict.SEND, "a channel is partly posted (its channel timeout runs)"
        deadline = work.seq_deadline
        if deadline is not None and l1_head >= deadline:
            return Verdict.FORCE, "sequencing window deadline"
        if self._since is not None and self.waited(work, now) >= self.cfg.max_delay:
            return Verdict.FORCE, "max delay reached"
        if len(self._samples) < self.cfg.min_history:
            return Verdict.SEND, "not enough fee history"
        fee = self._fee(work.use_blobs)
        if fee <= self.cfg.min_fee:
            return Verdict.SEND, "fee at or below min fee"
        short, long_ = self.averages(work.use_blobs)
        waited = self.waited(work, now)
        if short <= self._limit(long_, waited):
            return Verdict.SEND, "fee within its recent average"
        return Verdict.DEFER, "fee above its recent average"
