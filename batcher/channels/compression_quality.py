"""Adaptive compression quality (our addition, opt-in: ``--adaptive-compression``).

brotli-11 makes real channels ~2-3 % smaller than brotli-10 (OP Mainnet blocks: 0.387 vs 0.398 of the raw
bytes) at several times the CPU. A batcher that is keeping up with the chain has that CPU to spare; one
that is behind has not. So each new channel gets a quality from what the batcher measures:

* **backlog**: L2 blocks behind (loaded but not in a channel, plus not yet loaded), in channels' worth
  (blocks per channel of the last closed channel);
* **load**: CPU seconds spent per L2 second of chain, learned per quality from closed channels (process
  CPU between a channel's open and close, over the L2 time its blocks span) and projected to the other
  qualities by the measured cost ratios (before a quality was measured: :data:`RELATIVE_COST`).

brotli-11 when the backlog is under one channel and the projected brotli-11 load leaves ``headroom``
(default: uses at most half the chain's pace); brotli-10 while the backlog is under
:data:`BACKLOG_Q10` channels; brotli-9 beyond, so the batcher never falls behind for the sake of bytes.
Only brotli algorithms adapt; ``zlib`` channels are left alone.

:func:`choose_quality` is the pure decision; :class:`AdaptiveQuality` keeps the measurements (its CPU clock
is injected, so tests drive it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from batcher.channels.config import ChannelConfig

QUALITIES = (9, 10, 11)
RELATIVE_COST = {9: 0.55, 10: 1.0, 11: 3.5}
"""CPU per raw byte relative to brotli-10 before a quality was measured (single-stream brotli on batch
data; brotli-11 is the costliest by far)."""
BACKLOG_Q11 = 1.0
"""Channels of backlog under which brotli-11 may be used."""
BACKLOG_Q10 = 3.0
"""Channels of backlog under which brotli-10 is kept; beyond, brotli-9."""
DEFAULT_HEADROOM = 0.5
"""Projected brotli-11 CPU seconds per L2 second must stay under this."""
_EWMA = 0.3
_MAX_OPEN = 64


class QualityError(ValueError):
    """A bad adaptive-compression setting (names the flag)."""


def choose_quality(backlog_channels: float, load11: float | None, headroom: float) -> int:
    """The brotli quality for the next channel (see the module doc). ``load11`` None: not measured."""
    if backlog_channels < BACKLOG_Q11 and load11 is not None and load11 <= headroom:
        return 11
    if backlog_channels < BACKLOG_Q10:
        return 10
    return 9


def algo_quality(algo: str) -> int | None:
    """The brotli quality of ``--compression-algo`` (``brotli`` is brotli-10), None for zlib."""
    if algo == "brotli":
        return 10
    if algo.startswith("brotli-"):
        return int(algo.removeprefix("brotli-"))
    return None


@dataclass(frozen=True, slots=True)
class QualityChoice:
    """Why a channel got its quality (logged with ``Created channel``)."""

    quality: int
    backlog_channels: float
    load11: float | None


class AdaptiveQuality:
    """Chooses each new channel's brotli quality and learns the CPU cost of each quality."""

    def __init__(
        self,
        *,
        headroom: float = DEFAULT_HEADROOM,
        block_time: int = 2,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        if headroom <= 0:
            raise QualityError(f"--adaptive-compression-headroom must be > 0, got {headroom}")
        self.headroom = headroom
        self.block_time = block_time
        self._clock = cpu_clock
        self._cpu_per_byte: dict[int, float] = {}
        self._bytes_per_l2_second: float | None = None
        self._blocks_per_channel = 0
        """Smoothed blocks per closed channel: the unit of backlog."""
        self._opened_at: dict[int, float] = {}
        self.last: QualityChoice | None = None

    def cost_per_byte(self, quality: int) -> float | None:
        """CPU seconds per raw byte at ``quality``: measured, or projected from a measured one."""
        if quality in self._cpu_per_byte:
            return self._cpu_per_byte[quality]
        for q, c in self._cpu_per_byte.items():
            return c * RELATIVE_COST[quality] / RELATIVE_COST[q]
        return None

    def load(self, quality: int) -> float | None:
        """Projected CPU seconds per L2 second at ``quality`` (None before any channel closed)."""
        cost = self.cost_per_byte(quality)
        if cost is None or self._bytes_per_l2_second is None:
            return None
        return cost * self._bytes_per_l2_second

    def config_for(self, cfg: ChannelConfig, blocks_behind: int) -> ChannelConfig:
        """The config for a new channel: ``cfg`` with the chosen brotli quality (zlib: unchanged)."""
        if algo_quality(cfg.compression_algo) is None:
            return cfg
        if self._blocks_per_channel:
            backlog = blocks_behind / self._blocks_per_channel
        else:  # nothing closed yet: any backlog counts as a channel's worth
            backlog = BACKLOG_Q11 if blocks_behind else 0.0
        choice = QualityChoice(choose_quality(backlog, self.load(11), self.headroom), backlog, self.load(11))
        self.last = choice
        return replace(cfg, compression_algo=f"brotli-{choice.quality}")

    def opened(self, channel_key: int) -> None:
        """A channel with this key (``id(channel)``) was opened: start its CPU reading."""
        if len(self._opened_at) >= _MAX_OPEN:  # channels dropped without closing: forget the oldest
            del self._opened_at[next(iter(self._opened_at))]
        self._opened_at[channel_key] = self._clock()

    def closed(self, channel_key: int, quality: int | None, input_bytes: int, blocks: int) -> None:
        """Learn from a closed channel: CPU per raw byte at its quality, raw bytes per L2 second."""
        start = self._opened_at.pop(channel_key, None)
        if blocks <= 0 or input_bytes <= 0:
            return
        self._blocks_per_channel = round(_ewma(self._blocks_per_channel or None, blocks))
        rate = input_bytes / (blocks * self.block_time)
        self._bytes_per_l2_second = _ewma(self._bytes_per_l2_second, rate)
        if start is None or quality is None:
            return
        cpu = max(0.0, self._clock() - start)
        self._cpu_per_byte[quality] = _ewma(self._cpu_per_byte.get(quality), cpu / input_bytes)


def _ewma(prev: float | None, sample: float) -> float:
    return sample if prev is None else prev + _EWMA * (sample - prev)
