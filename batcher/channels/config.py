"""Channel configurations and the automatic calldata-vs-blobs decision (op-batcher.md §4.9).

A :class:`ChannelConfig` is everything a channel needs to know about its limits: the rollup's sequencing
window and channel timeout, the operator's ``max-channel-duration`` and ``sub-safety-margin``, the frame
size and frames per transaction, the DA type and the compressor. :func:`build_channel_configs` turns the
operator's choices (one :class:`ChannelFlags`, as the flag layer reads them) into the config set the
channel manager starts with (one config for ``calldata`` or ``blobs``; a blob config plus a 120 000-byte
calldata config for ``auto``), running the startup checks with Go's messages. :class:`DAConfigSelector`
makes the per-channel ``auto`` choice from gas prices the driver fetched; the comparison is exact
integer cross-multiplication, as in Go.

Pure: no RPC, no clock. "Now" (for the Ecotone/Fjord startup checks) and gas prices are passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from common.derive.frame import FRAME_OVERHEAD
from common.derive.rollup_config import RollupConfig

if TYPE_CHECKING:
    from common.derive.channel_out import ChannelOutConfig

MAX_BLOB_DATA_SIZE = 130_044
"""Bytes of input one blob carries after OP blob encoding (op-service/eth/blob.go)."""
BLOB_SIZE = 131_072
"""EIP-4844: bytes per blob; also the blob gas one blob costs (GAS_PER_BLOB = 2**17)."""
MAX_BLOBS_PER_BLOB_TX = 9
"""Prague max blobs per block, Go's check on ``target-num-frames`` for blob channels."""
AUTO_CALLDATA_MAX_FRAME_SIZE = 120_000
"""Go hard-codes this calldata frame size in ``auto`` mode, ignoring ``max-l1-tx-size-bytes``."""
TX_GAS = 21_000
"""Intrinsic gas of every transaction (params.TxGas)."""
TOTAL_COST_FLOOR_PER_TOKEN = 10
"""EIP-7623 (Pectra): floor gas per calldata token."""
TOKENS_PER_NONZERO_BYTE = 4
"""EIP-7623: a non-zero calldata byte counts as 4 tokens; compressed channel data is ~all non-zero."""
FLOOR_GAS_PER_CALLDATA_BYTE = TOTAL_COST_FLOOR_PER_TOKEN * TOKENS_PER_NONZERO_BYTE
ALTDA_MAX_INPUT_SIZE = 130_672
"""op-alt-da MaxInputSize: the largest frame an Alt-DA server accepts."""
BATCH_TYPE_SINGULAR = 0
BATCH_TYPE_SPAN = 1
COMPRESSORS = ("shadow", "ratio", "none")
COMPRESSION_ALGOS = ("zlib", "brotli", "brotli-9", "brotli-10", "brotli-11")


class ChannelConfigError(ValueError):
    """An invalid channel configuration; the message is Go's."""


class DAType(enum.Enum):
    """The ``data-availability-type`` flag values."""

    CALLDATA = "calldata"
    BLOBS = "blobs"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """Limits and encoding choices for one channel (Go batcher.ChannelConfig)."""

    seq_window_size: int
    """Rollup sequencing window in L1 blocks."""
    channel_timeout: int
    """Channel timeout in L1 blocks: 50 once Granite is scheduled, else the rollup config's value."""
    max_channel_duration: int
    """Close a channel this many L1 blocks after the last submitted channel's L1 origin; 0 = off."""
    sub_safety_margin: int
    """L1 blocks subtracted from the sequencing-window and channel-timeout deadlines."""
    max_frame_size: int
    """Largest encoded frame (header included) in bytes."""
    target_num_frames: int
    """Frames a full channel should produce; also blobs per blob transaction."""
    use_blobs: bool
    batch_type: int = BATCH_TYPE_SINGULAR
    compressor: str = "shadow"
    compression_algo: str = "zlib"
    approx_compr_ratio: float = 0.6
    max_blocks_per_span_batch: int = 0

    @property
    def target_output_size(self) -> int:
        """Compressed bytes a full channel aims for: every target frame filled (Go InitCompressorConfig)."""
        return self.target_num_frames * (self.max_frame_size - FRAME_OVERHEAD)

    @property
    def max_frames_per_tx(self) -> int:
        """Calldata txs carry one frame; blob txs one frame per blob, up to ``target_num_frames``."""
        return self.target_num_frames if self.use_blobs else 1

    @property
    def da_label(self) -> str:
        """``blobs`` or ``calldata``, for logs and metric labels."""
        return "blobs" if self.use_blobs else "calldata"

    def channel_out_config(self) -> ChannelOutConfig:
        """The compressor/batch settings a channel out is built with."""
        from common.derive.channel_out import ChannelOutConfig

        return ChannelOutConfig(
            batch_type=self.batch_type,
            compressor=self.compressor,
            compression_algo=self.compression_algo,
            target_output_size=self.target_output_size,
            approx_compr_ratio=self.approx_compr_ratio,
            max_blocks_per_span_batch=self.max_blocks_per_span_batch,
        )

    def check(self) -> None:
        """Go ChannelConfig.Check: reject configs under which every channel would be born timed out."""
        if self.channel_timeout < self.sub_safety_margin:
            raise ChannelConfigError("channel timeout is less than the safety margin")
        if self.max_frame_size < FRAME_OVERHEAD:
            raise ChannelConfigError(
                f"max frame size {self.max_frame_size} is less than the minimum {FRAME_OVERHEAD}"
            )
        if self.batch_type not in (BATCH_TYPE_SINGULAR, BATCH_TYPE_SPAN):
            raise ChannelConfigError(f"unrecognized batch type: {self.batch_type}")
        if self.target_num_frames < 1:
            raise ChannelConfigError("TargetNumFrames must be at least 1")
        if self.use_blobs and self.target_num_frames > MAX_BLOBS_PER_BLOB_TX:
            raise ChannelConfigError(f"too many frames for blob transactions, max {MAX_BLOBS_PER_BLOB_TX}")


@dataclass(frozen=True, slots=True)
class ChannelConfigs:
    """The configs the batcher starts with: ``default`` for the first channel, ``calldata`` only for auto."""

    da_type: DAType
    default: ChannelConfig
    """Blob config for ``blobs`` and ``auto`` (Go starts auto on blobs), calldata config for ``calldata``."""
    calldata: ChannelConfig | None = None
    """The ``auto`` alternative (max frame 120 000, one frame per channel target)."""

    @property
    def is_auto(self) -> bool:
        return self.da_type is DAType.AUTO


@dataclass(frozen=True, slots=True)
class ChannelFlags:
    """The operator's channel choices, as the flags give them: one object from the flag layer to
    :func:`build_channel_configs`, so no caller re-declares the ten settings one by one."""

    da_type: DAType | str = DAType.CALLDATA
    """``--data-availability-type``: calldata, blobs or auto."""
    max_l1_tx_size_bytes: int = 120_000
    """``--max-l1-tx-size-bytes``: the calldata frame is one byte less."""
    target_num_frames: int = 1
    """``--target-num-frames``: frames per full channel, and blobs per blob tx."""
    max_channel_duration: int = 0
    """``--max-channel-duration`` in L1 blocks; 0 = off."""
    sub_safety_margin: int = 10
    """``--sub-safety-margin`` in L1 blocks."""
    batch_type: int = BATCH_TYPE_SINGULAR
    """``--batch-type``: 0 singular, 1 span."""
    compressor: str = "shadow"
    """``--compressor``: shadow, ratio or none."""
    compression_algo: str = "zlib"
    """``--compression-algo``: zlib or a brotli level."""
    approx_compr_ratio: float = 0.6
    """``--approx-compr-ratio`` (ratio compressor only)."""
    max_blocks_per_span_batch: int = 0
    """``--max-blocks-per-span-batch``; 0 = no limit."""

    @property
    def da(self) -> DAType:
        """The DA type as the enum; ValueError for a name that is not one."""
        return DAType(self.da_type) if isinstance(self.da_type, str) else self.da_type


def build_channel_configs(
    rollup: RollupConfig, flags: ChannelFlags, *, now: int, alt_da: bool = False
) -> ChannelConfigs:
    """Go BatcherService.initChannelConfig: build and check the startup config(s).

    ``now`` is the wall-clock unix time the Ecotone (blobs) and Fjord (brotli) checks use; Go compares
    the rollup fork times against wall time, not against any L2 block.
    """
    f = flags
    da = f.da
    base = ChannelConfig(
        seq_window_size=rollup.seq_window_size,
        channel_timeout=rollup.effective_channel_timeout(),
        max_channel_duration=f.max_channel_duration,
        sub_safety_margin=f.sub_safety_margin,
        max_frame_size=f.max_l1_tx_size_bytes - 1,
        target_num_frames=f.target_num_frames,
        use_blobs=False,
        batch_type=f.batch_type,
        compressor=f.compressor,
        compression_algo=f.compression_algo,
        approx_compr_ratio=f.approx_compr_ratio,
        max_blocks_per_span_batch=f.max_blocks_per_span_batch,
    )
    calldata: ChannelConfig | None = None
    if da is DAType.CALLDATA:
        default = base
    else:
        if alt_da:
            raise ChannelConfigError("cannot use data availability type blobs or auto with Alt-DA")
        default = replace(base, max_frame_size=MAX_BLOB_DATA_SIZE - 1, use_blobs=True)
        if da is DAType.AUTO:
            calldata = replace(
                default, target_num_frames=1, max_frame_size=AUTO_CALLDATA_MAX_FRAME_SIZE, use_blobs=False
            )
    if alt_da and default.max_frame_size > ALTDA_MAX_INPUT_SIZE:
        raise ChannelConfigError(
            f"max frame size {default.max_frame_size} exceeds altDA max input size {ALTDA_MAX_INPUT_SIZE}"
        )
    if default.use_blobs and not rollup.is_active("ecotone", now):
        raise ChannelConfigError("cannot use Blobs before Ecotone")
    if f.compression_algo.startswith("brotli") and not rollup.is_active("fjord", now):
        raise ChannelConfigError("cannot use brotli compression before Fjord")
    for cfg in (default, calldata):
        if cfg is None:
            continue
        try:
            cfg.check()
        except ChannelConfigError as exc:
            raise ChannelConfigError(f"invalid channel configuration: {exc}") from None
    return ChannelConfigs(da_type=da, default=default, calldata=calldata)


@dataclass(frozen=True, slots=True)
class GasPriceCaps:
    """What txmgr's SuggestGasPriceCaps returns (wei), min-fee floors already applied."""

    tip_cap: int
    base_fee: int
    blob_base_fee: int


class DAChoiceReason(enum.Enum):
    """Why a DA type was chosen; values are Go's log messages, ``label`` a metric-friendly name."""

    THROTTLING = "Using blob channel config while throttling is in progress"
    BLOBS_CHEAPER = "Using blob channel config"
    CALLDATA_CHEAPER = "Using calldata channel config"
    NO_GAS_PRICES = "Error querying gas prices, returning last config"
    HYSTERESIS = "Keeping the current DA type: the other is not cheaper by the hysteresis margin"
    """Not Go: an optional margin that stops flapping between DA types near the break-even price."""
    FIXED = "DA type is not auto"

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class DAChoice:
    """The outcome of one DA decision, with the numbers Go logs alongside it."""

    config: ChannelConfig
    reason: DAChoiceReason
    calldata_cost: int = 0
    """Wei for one full calldata tx: (21000 + bytes x 40) x (base fee + tip)."""
    blob_cost: int = 0
    """Wei for one blob tx: 131072 x N x blob base fee + 21000 x (base fee + tip)."""
    calldata_bytes: int = 0
    blob_data_bytes: int = 0

    @property
    def cost_ratio(self) -> float:
        """Blob cost per byte over calldata cost per byte (Go's ``cost_ratio`` log field); 0 if unknown."""
        denom = self.calldata_cost * self.blob_data_bytes
        return float(Fraction(self.blob_cost * self.calldata_bytes, denom)) if denom else 0.0


def choose_da(blob: ChannelConfig, calldata: ChannelConfig, prices: GasPriceCaps) -> DAChoice:
    """Compare per-byte costs of a full blob tx and a full calldata tx (EIP-7623 floor pricing).

    Calldata wins only if it is strictly cheaper per byte: blob_cost x calldata_bytes >
    calldata_cost x blob_bytes, compared exactly as integers; a tie keeps blobs, as in Go.
    """
    calldata_bytes = calldata.max_frame_size + 1  # + the derivation version byte
    price = prices.base_fee + prices.tip_cap
    calldata_cost = (TX_GAS + calldata_bytes * FLOOR_GAS_PER_CALLDATA_BYTE) * price
    n = blob.target_num_frames
    blob_cost = BLOB_SIZE * n * prices.blob_base_fee + TX_GAS * price
    blob_bytes = MAX_BLOB_DATA_SIZE * n
    use_calldata = blob_cost * calldata_bytes > calldata_cost * blob_bytes
    return DAChoice(
        config=calldata if use_calldata else blob,
        reason=DAChoiceReason.CALLDATA_CHEAPER if use_calldata else DAChoiceReason.BLOBS_CHEAPER,
        calldata_cost=calldata_cost,
        blob_cost=blob_cost,
        calldata_bytes=calldata_bytes,
        blob_data_bytes=blob_bytes,
    )


class DAConfigSelector:
    """Go's ChannelConfigProvider: fixed for calldata/blobs, cost-driven for auto; remembers its pick."""

    def __init__(self, configs: ChannelConfigs, *, hysteresis_percent: int = 0) -> None:
        """``hysteresis_percent`` > 0 (not Go): switch DA type only if the other is that much cheaper
        per byte, so a price hovering at break-even does not rebuild channels back and forth."""
        if hysteresis_percent < 0:
            raise ChannelConfigError(f"DA hysteresis must be >= 0 percent, got {hysteresis_percent}")
        self._configs = configs
        self._last = configs.default
        self._hysteresis = hysteresis_percent

    @property
    def last(self) -> ChannelConfig:
        return self._last

    @property
    def is_auto(self) -> bool:
        return self._configs.calldata is not None

    def channel_config(self, prices: GasPriceCaps | None, *, is_throttling: bool = False) -> DAChoice:
        """The config for the next channel.

        ``prices`` is None when the driver could not get gas prices (Go then keeps the last config).
        While throttling, auto mode forces blobs: throttling means a DA backlog, and blobs carry more.
        """
        calldata = self._configs.calldata
        if calldata is None:
            return DAChoice(self._configs.default, DAChoiceReason.FIXED)
        if is_throttling:
            choice = DAChoice(self._configs.default, DAChoiceReason.THROTTLING)
        elif prices is None:
            choice = DAChoice(self._last, DAChoiceReason.NO_GAS_PRICES)
        else:
            choice = choose_da(self._configs.default, calldata, prices)
            if (
                self._hysteresis
                and choice.config.use_blobs != self._last.use_blobs
                and not self._clear_win(choice)
            ):
                choice = replace(choice, config=self._last, reason=DAChoiceReason.HYSTERESIS)
        self._last = choice.config
        return choice

    def _clear_win(self, c: DAChoice) -> bool:
        """Is the newly chosen DA type cheaper per byte by at least the hysteresis margin?"""
        blob_side = c.blob_cost * c.calldata_bytes  # blob cost per byte, scaled by both byte counts
        calldata_side = c.calldata_cost * c.blob_data_bytes
        cheaper, dearer = (blob_side, calldata_side) if c.config.use_blobs else (calldata_side, blob_side)
        return cheaper * (100 + self._hysteresis) <= dearer * 100
