"""The channel out: L2 blocks in, frames out (op-batcher.md §4.6, §5.3, §5.6, §5.7).

Contract: ``add_block`` either accepts a block (it will be in this channel) or reports the channel
full (the block stays pending for the next channel). The first block is always accepted, so no
channel is ever empty, and a channel with no block cannot be closed. Once full or closed, frames
come out in order via ``output_frame``; the last one carries ``is_last`` — possibly an empty frame
when the data exactly filled the one before, as in Go.

Two kinds:

* Singular batches (type 0): one ``rlp_string(0x00 ++ batch)`` per block streamed into the Go
  compressor kind (``shadow``/``ratio``/``none``) with Go's fullness rules; frames may be cut before
  the channel closes.
* Span batches (type 1): better than Go, whose span channel out re-encodes and recompresses the
  whole channel per block (optimism#10002). Here a block costs O(block): it is appended to an
  incremental span batch builder and fed to a cheap shadow compressor whose size, scaled by a
  calibration learned from earlier channels' exact sizes, predicts the channel size. Only when
  the prediction nears the target is the channel compressed for real, normally exactly once
  (see :class:`EstimatedChannelOut`). The output never exceeds the target except for an oversized
  first block (a last-resort quality-11 recompression guards against a wildly wrong estimate).

The final compression runs inside the ``add_block`` call that reaches the target (about 1 s for a
6-blob brotli-10 channel); callers that must stay responsive can run channel building in a thread.

Modules: the shared contract and frame emission in :mod:`common.derive.channel_out_base`, the
estimate-driven kind in :mod:`common.derive.estimated_channel_out`; this module holds Go's singular kind
and the factory, and re-exports the contract's names its many callers import from here.
"""

from __future__ import annotations

from common.derive.batch import SPAN_BATCH_TYPE, rlp_string
from common.derive.channel_out_base import AddResult as AddResult
from common.derive.channel_out_base import ChannelOut as ChannelOut
from common.derive.channel_out_base import ChannelOutConfig as ChannelOutConfig
from common.derive.channel_out_base import ChannelOutError as ChannelOutError
from common.derive.channel_out_base import FullReason as FullReason
from common.derive.compressor import (
    ChannelCompressor,
    CompressionCalibration,
    CompressorError,
    CompressorKind,
    new_compressor,
)
from common.derive.estimated_channel_out import EstimatedChannelOut as EstimatedChannelOut
from common.derive.estimated_channel_out import default_calibration as default_calibration
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig
from common.derive.singular_batch import SingularBatch


class SingularChannelOut(ChannelOut):
    """Go SingularChannelOut: one singular batch per block, streamed into a Go compressor kind."""

    def __init__(self, cfg: ChannelOutConfig, rollup: RollupConfig, channel_id: bytes) -> None:
        super().__init__(cfg, rollup, channel_id)
        try:
            self._comp: ChannelCompressor = new_compressor(
                cfg.compressor, cfg.compression_algo, cfg.target_output_size, cfg.approx_compr_ratio
            )
        except CompressorError as exc:
            raise ChannelOutError(str(exc)) from None
        self._rlp_len = 0

    @property
    def input_bytes(self) -> int:
        return self._rlp_len

    @property
    def ready_bytes(self) -> int:
        return self._comp.len

    def _read(self, n: int) -> bytes:
        return self._comp.read(n)

    def add_block(self, block: BlockInput) -> AddResult:
        self._check_open("add_block")
        if self.full_reason is not None:
            return AddResult.REJECTED_FULL
        data = rlp_string(SingularBatch.from_block(block).encode())
        limit = self._block_rlp_limit(block)
        if self._rlp_len + len(data) > limit:
            if self.block_count == 0:
                raise self._first_block_too_big(len(data), limit, block)
            self._mark_full(FullReason.TOO_MANY_RLP_BYTES)
            return AddResult.REJECTED_FULL
        if not self._comp.write(data):
            if self.block_count == 0:
                # Only the ratio compressor can refuse a first block: target / ratio below 1 byte.
                cfg = self.cfg
                raise ChannelOutError(
                    f"channel {self.id.hex()}: the {cfg.compressor} compressor refuses even the first block "
                    f"(target {cfg.target_output_size}, approx ratio {cfg.approx_compr_ratio})"
                )
            self._mark_full(FullReason.COMPRESSOR_FULL)
            return AddResult.REJECTED_FULL
        self._rlp_len += len(data)
        self.block_count += 1
        if self._comp.full:
            self._mark_full(FullReason.COMPRESSOR_FULL)
        return AddResult.ACCEPTED

    def _close(self) -> None:
        self._comp.close()


def new_channel_out(
    cfg: ChannelOutConfig,
    rollup: RollupConfig,
    channel_id: bytes,
    *,
    calibration: CompressionCalibration | None = None,
) -> ChannelOut:
    """A channel out for ``cfg.batch_type`` (Go derive.NewChannelOut)."""
    if cfg.batch_type == SPAN_BATCH_TYPE or cfg.compressor == CompressorKind.SHADOW.value:
        return EstimatedChannelOut(cfg, rollup, channel_id, calibration)
    return SingularChannelOut(cfg, rollup, channel_id)
