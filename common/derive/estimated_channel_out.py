"""The estimate-driven channel out: O(block) appends, one exact compression per channel.

Span channels (and singular channels with the ``shadow`` compressor) go through
:class:`EstimatedChannelOut`: a block is appended to an incremental batch builder and a cheap shadow
compressor whose size, scaled by a calibration learned from earlier channels' exact sizes, predicts the
channel size; the channel is compressed for real only when the prediction nears the target. This module
also owns the process-wide default calibrations (:func:`default_calibration`).
"""

from __future__ import annotations

from common.derive.batch import SPAN_BATCH_TYPE, BatchError, rlp_string, rlp_string_size
from common.derive.channel_out_base import (
    AddResult,
    ChannelOut,
    ChannelOutConfig,
    ChannelOutError,
    FullReason,
)
from common.derive.compressor import (
    CompressionCalibration,
    OutputBuffer,
    SizeEstimator,
    StreamCompressor,
    brotli_quality,
    compress_channel,
    is_brotli,
    static_bytes_len,
)
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import RollupConfig
from common.derive.singular_batch import SingularBatch
from common.derive.span_batch_builder import SpanBatchBuilder

BROTLI_MAX_QUALITY = 11
"""The last-resort recompression's brotli quality."""
_TRY_SIGMAS = 1.0
"""In the final zone, include the crossing block in the exact compression if the prediction says it
fits with this many standard deviations to spare; otherwise compress without it."""
_MARGINAL_MIN_GUARD = 32
"""Bytes always kept free when a tail block is judged (rounding, the tail's finish)."""
_EXACT_TARGET_MAX = 16 * 1024
"""Targets up to this size: each added block is checked by compressing the whole channel (at most a few
dozen KB), so the target always holds; larger ones use the estimate."""
_SPAN_PREFIX = 64
"""Bytes a span batch adds beyond its blocks (prefix: timestamps, origin, two 20-byte checks; RLP
wrapping). Nearly incompressible and not proportional to the shadow, so it is added to every estimate and
kept out of the calibrated ratio: in a small channel it is a large share of the size."""
_FINISH_OVERHEAD = {True: 2, False: 8}
"""Bytes a flushed stream still gets on close (brotli: the last empty meta-block; zlib: final block and
adler32), keyed by is_brotli; measured 1 and 6."""


class _SpanBatches:
    """The open batch of a span channel: one span batch built incrementally."""

    prefix = _SPAN_PREFIX

    def __init__(self, rollup: RollupConfig) -> None:
        self._builder = SpanBatchBuilder(rollup.genesis_l2_time, rollup.l2_chain_id)

    @property
    def block_count(self) -> int:
        return self._builder.block_count

    @property
    def wire_size(self) -> int:
        n = self._builder.encoded_size
        return rlp_string_size(n) if n else 0

    def wire(self) -> bytes:
        return rlp_string(self._builder.encode())

    def append(self, block: BlockInput) -> bytes:
        """Add ``block``; returns the bytes the shadow estimator sees for it."""
        self._builder.append(block)
        return b"".join(block.transactions)

    def undo_last(self) -> None:
        self._builder.undo_last()

    def reset(self) -> None:
        self._builder.reset()


class _SingularBatches:
    """The open batches of a singular channel: one ``rlp_string(0x00 ++ batch)`` per block."""

    prefix = 0

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.wire_size = 0

    @property
    def block_count(self) -> int:
        return len(self._parts)

    def wire(self) -> bytes:
        return b"".join(self._parts)

    def append(self, block: BlockInput) -> bytes:
        """Add ``block``; returns its batch, which is also what the shadow estimator sees."""
        data = rlp_string(SingularBatch.from_block(block).encode())
        self._parts.append(data)
        self.wire_size += len(data)
        return data

    def undo_last(self) -> None:
        self.wire_size -= len(self._parts.pop())

    def reset(self) -> None:
        self._parts = []
        self.wire_size = 0


class EstimatedChannelOut(ChannelOut):
    """Channel out with O(block) appends and one exact compression per channel (span channels, and
    singular channels with the ``shadow`` compressor).

    Phases: (1) blocks go into an incremental span batch builder and a cheap shadow compressor;
    accepted while ``calibrated shadow size + guard <= target``. (2) At the first block that the
    estimate cannot vouch for, the whole channel is compressed for real once, as a stream that is
    flushed (not closed), giving its exact size. If that overshoots, the block is dropped and the
    rest compressed one-shot. (3) If it leaves room for more blocks, they form a small tail span
    batch judged by the (now tiny) marginal estimate; at the end the tail is fed to the same stream
    and the stream closed. Should the result still pass the target, everything is recompressed
    one-shot (which also drops the flush's cost), then with brotli quality 11. Small channels (target
    up to ``_EXACT_TARGET_MAX``) skip the estimate: each block is judged by an exact compression.
    Singular channels run the same phases on their per-block batches (the tail is just more of
    them), so their bytes go through one real compression instead of Go's two streams, and frames
    come out once the channel is full or closed.
    """

    def __init__(
        self,
        cfg: ChannelOutConfig,
        rollup: RollupConfig,
        channel_id: bytes,
        calibration: CompressionCalibration | None = None,
    ) -> None:
        super().__init__(cfg, rollup, channel_id)
        self.algo = cfg.compression_algo
        self.target = cfg.target_output_size
        self._builder: _SpanBatches | _SingularBatches = (
            _SpanBatches(rollup) if cfg.batch_type == SPAN_BATCH_TYPE else _SingularBatches()
        )
        self._prefix = self._builder.prefix
        self._sealed: list[bytes] = []
        """RLP-wrapped span batches that no longer change (the open one is in the builder)."""
        self._sealed_len = 0
        self._estimator = SizeEstimator(self.algo)
        if calibration is None:
            calibration = default_calibration(self.algo, self.target, cfg.batch_type)
        self.calibration = calibration
        self._static = static_bytes_len(self.algo)
        self._finish_overhead = _FINISH_OVERHEAD[is_brotli(self.algo)]
        self._stream: StreamCompressor | None = None
        """Tail phase: the real compressor holding the flushed main part."""
        self._streamed = 0
        """How many of ``_sealed`` are already in ``_stream``."""
        self._base: tuple[int, int] = (0, 0)
        """Tail phase: (exact size incl. finish overhead, shadow size) when the main part was flushed."""
        self._out: OutputBuffer | None = None
        self._final_input = 0
        self.exact_compressions = 0
        """Whole-channel compressions done (1 in the common case)."""
        self.overshoot = False
        """True if even the fallbacks could not bring a multi-block channel under the target."""

    # -- sizes
    @property
    def input_bytes(self) -> int:
        if self._out is not None:
            return self._final_input
        return self._sealed_len + self._builder.wire_size

    @property
    def ready_bytes(self) -> int:
        return len(self._out) if self._out is not None else 0

    def _read(self, n: int) -> bytes:
        assert self._out is not None
        return self._out.read(n)

    def _open_parts(self) -> list[bytes]:
        """The RLP-wrapped batches not yet in the stream (all of them before the tail phase)."""
        parts = self._sealed[self._streamed :]
        if self._builder.block_count:
            parts.append(self._builder.wire())
        return parts

    def _content(self) -> bytes:
        """The whole uncompressed channel."""
        return b"".join(self._sealed[: self._streamed] + self._open_parts())

    def _estimate(self, shadow: int) -> float:
        if self._stream is not None:
            size, at = self._base
            return size + self._prefix + self.calibration.k * (shadow - at)
        return self._static + self._finish_overhead + self._prefix + self.calibration.predict(shadow)

    def _guard(self, shadow: int) -> int:
        if self._stream is not None:
            return self.calibration.tail_guard(self._growth(shadow), min_guard=_MARGINAL_MIN_GUARD)
        return self.calibration.guard(self.target)

    def _growth(self, shadow: int) -> float:
        """Tail phase: the estimated compressed bytes added since the exact compression."""
        return self.calibration.k * max(0, shadow - self._base[1])

    # -- adding
    def add_block(self, block: BlockInput) -> AddResult:
        self._check_open("add_block")
        if self.full_reason is not None:
            return AddResult.REJECTED_FULL
        limit = self._block_rlp_limit(block)
        first = self.block_count == 0
        max_blocks = self.cfg.max_blocks_per_span_batch
        if max_blocks and self.cfg.batch_type == SPAN_BATCH_TYPE and self._builder.block_count >= max_blocks:
            self._seal()
        try:
            shadow_data = self._builder.append(block)
        except BatchError as exc:
            raise ChannelOutError(f"L2 block {block.number} cannot go into a span batch: {exc}") from exc
        rlp_total = self.input_bytes
        if rlp_total > limit:
            self._builder.undo_last()
            if first:
                raise self._first_block_too_big(rlp_total, limit, block)
            self._mark_full(FullReason.TOO_MANY_RLP_BYTES)
            return AddResult.REJECTED_FULL
        if self.target <= _EXACT_TARGET_MAX:
            return self._decide_exactly(first)
        return self._decide(shadow_data, first)

    def _decide_exactly(self, first: bool) -> AddResult:
        """Small channels: every block is judged by an exact compression (cheap at this size; an
        estimate learned from other channels is least reliable here)."""
        self.block_count += 1
        if len(self._compress_once(self._content(), -1)) <= self.target:
            return AddResult.ACCEPTED
        if not first:
            self._drop_last()
        self._finish(self._compress_once(self._content(), -1))
        self._mark_full(FullReason.COMPRESSOR_FULL)
        return AddResult.ACCEPTED if first else AddResult.REJECTED_FULL

    def _decide(self, content: bytes, first: bool) -> AddResult:
        """Accept on the estimate while clearly below the target; near it, compress exactly."""
        est = self._estimator
        # Cheap test first: even if everything unflushed and this block were incompressible, would
        # the prediction stay below target - guard? Then no flush and no exact compression.
        bound_after = est.upper_bound() + len(content) + (len(content) >> 10) + 16
        near = self._estimate(bound_after) + self._guard(bound_after) > self.target
        shadow_before = est.size() if near else -1
        est.add(content)
        self.block_count += 1
        if not near:
            return AddResult.ACCEPTED
        shadow_with = est.size()
        predicted = self._estimate(shadow_with)
        if predicted + self._guard(shadow_with) <= self.target:
            return AddResult.ACCEPTED
        if self._stream is not None:
            # Tail phase: the marginal estimate says this block does not fit.
            self._drop_last()
            self._finish_tail(shadow_before)
            return AddResult.REJECTED_FULL
        try_margin = _TRY_SIGMAS * self.calibration.rel_sd * self.target
        if first or predicted + try_margin <= self.target:
            stream, size = self._compress_flushed(shadow_with)
            if first or size <= self.target:
                avg_block = size / self.block_count
                if self.target - size > avg_block + self._prefix + _MARGINAL_MIN_GUARD:
                    # Room for more: keep the stream open and fill a tail span batch.
                    self._start_tail(stream, size, shadow_with)
                    return AddResult.ACCEPTED
                stream.close()
                self._finish(stream.read(stream.len))
                self._mark_full(FullReason.COMPRESSOR_FULL)
                return AddResult.ACCEPTED
        # Without this block: drop it again and compress what stays, once.
        self._drop_last()
        out = self._compress_once(self._content(), shadow_before)
        self._finish(out if len(out) <= self.target else self._squeeze(out))
        self._mark_full(FullReason.COMPRESSOR_FULL)
        return AddResult.REJECTED_FULL

    def _drop_last(self) -> None:
        self._builder.undo_last()
        self.block_count -= 1

    def _seal(self) -> None:
        """Max blocks per span batch reached: the span batch becomes a fixed part of the channel."""
        data = self._builder.wire()
        self._sealed.append(data)
        self._sealed_len += len(data)
        self._builder.reset()

    def _compress_flushed(self, shadow: int) -> tuple[StreamCompressor, int]:
        """Compress the whole channel into a stream left open after a sync flush; the size it will
        have once closed (calibration learns from it)."""
        stream = StreamCompressor(self.algo)
        for part in self._open_parts():
            stream.write(part)
        stream.flush()
        self.exact_compressions += 1
        size = stream.total_out + self._finish_overhead
        self.calibration.observe(size - self._static - self._finish_overhead - self._prefix, shadow)
        return stream, size

    def _compress_once(self, content: bytes, shadow: int) -> bytes:
        out = compress_channel(content, self.algo)
        self.exact_compressions += 1
        if shadow > 0:
            self.calibration.observe(len(out) - self._static - self._prefix, shadow)
        return out

    def _start_tail(self, stream: StreamCompressor, size: int, shadow: int) -> None:
        if self._builder.block_count:
            self._seal()
        self._stream = stream
        self._streamed = len(self._sealed)
        self._base = (size, shadow)

    def _finish_tail(self, shadow: int) -> None:
        """Feed the tail to the open stream and close it; the calibration learns the tail estimate's
        error from the result (``shadow``: the exact shadow size of the channel's content). Falls
        back to one-shot if over target."""
        stream = self._stream
        assert stream is not None
        for part in self._open_parts():
            stream.write(part)
        stream.close()
        out = stream.read(stream.len)
        self.calibration.observe_tail(len(out), self._estimate(shadow), self._growth(shadow))
        self._stream = None
        if len(out) > self.target:
            better = self._compress_once(self._content(), -1)
            out = better if len(better) < len(out) else out
            if len(out) > self.target:
                out = self._squeeze(out)
        self._finish(out)
        self._mark_full(FullReason.COMPRESSOR_FULL)

    def _squeeze(self, out: bytes) -> bytes:
        """Last resort for a multi-block channel over the target: brotli quality 11."""
        if self.block_count > 1 and is_brotli(self.algo) and brotli_quality(self.algo) < BROTLI_MAX_QUALITY:
            better = compress_channel(self._content(), self.algo, quality=BROTLI_MAX_QUALITY)
            self.exact_compressions += 1
            if len(better) < len(out):
                out = better
        if len(out) > self.target and self.block_count > 1:
            self.overshoot = True
        return out

    def _finish(self, data: bytes) -> None:
        """Freeze the channel bytes; the builder's memory is released."""
        self._final_input = self.input_bytes
        self._out = OutputBuffer()
        self._out.append(data)
        self._builder.reset()
        self._sealed = []
        self._streamed = 0

    def _close(self) -> None:
        if self._out is not None:
            return
        if self._stream is not None:
            self._finish_tail(self._estimator.size())
            return
        out = self._compress_once(self._content(), -1)
        self._finish(out if len(out) <= self.target else self._squeeze(out))


_DEFAULT_CALIBRATIONS: dict[tuple[str, int, int], CompressionCalibration] = {}


def default_calibration(algo: str, target_output_size: int, batch_type: int) -> CompressionCalibration:
    """The process-wide calibration for ``algo``, channel size and batch type, used when a caller
    passes none.

    The real/shadow ratio drifts with channel size and differs between span and singular batches,
    hence one per pair. Calibration only tunes how full channels get; the target is kept whatever
    it says.
    """
    key = (algo, target_output_size, batch_type)
    cal = _DEFAULT_CALIBRATIONS.get(key)
    if cal is None:
        cal = _DEFAULT_CALIBRATIONS[key] = CompressionCalibration(algo)
    return cal
