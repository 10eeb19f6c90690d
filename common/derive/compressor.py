"""Channel compression: the real stream compressors, op-batcher's three compressor kinds, and the
cheap size estimator the span channel out uses instead of recompressing per block.

Wire forms (wire-formats.md §2.2, op-batcher.md §5.3)::

    zlib:   RFC 1950 stream, level 9 (header 78 da)        any fork
    brotli: 0x01 ++ raw brotli stream, quality 9/10/11     Fjord and later; ``brotli`` = quality 10

zlib is produced by zlib-ng (its level-9 output is a valid RFC 1950 stream, 3-5x faster than C zlib);
Go's output bytes differ anyway, derivation only needs a valid stream.

op-batcher's compressor kinds, used for singular-batch channels (op-batcher.md §5.6):

* ``shadow`` (default): a real and a shadow compressor; the shadow is flushed only once the running
  upper bound (start 51) passes the target, and the write is refused once shadow + 9 (close
  overhead) is over the target — except while the real compressor holds no data yet (PR #18485),
  so an oversized first block still goes in.
* ``ratio``: full once the raw input reaches target / approx-compr-ratio; always zlib.
* ``none``: zlib level 0, flushed before each write; full once the buffered output passes the target.

Span channels use :class:`SizeEstimator` (a fast brotli-5 / zlib-ng-3 shadow, flushed only near
the target) scaled by a :class:`CompressionCalibration` learned from earlier channels' exact sizes.
"""

from __future__ import annotations

import enum
import math
from typing import Protocol

import brotli
from zlib_ng import zlib_ng

from common.derive.channel import CHANNEL_VERSION_BROTLI

ALGO_ZLIB = "zlib"
COMPRESSION_ALGOS = ("zlib", "brotli", "brotli-9", "brotli-10", "brotli-11")
"""Values of ``--compression-algo`` (Go derive.CompressionAlgo)."""
_BROTLI_QUALITY = {"brotli": 10, "brotli-9": 9, "brotli-10": 10, "brotli-11": 11}
ZLIB_BEST_COMPRESSION = 9
"""Go ``zlib.BestCompression``, the level of every zlib channel compressor."""
ZLIB_NO_COMPRESSION = 0
"""Level of the ``none`` compressor."""
SAFE_COMPRESSION_OVERHEAD = 51
"""Shadow compressor's initial upper bound: largest blow-up expected on incompressible input."""
CLOSE_OVERHEAD_ZLIB = 9
"""Bytes the shadow compressor adds to its flushed length for the stream's close (used for brotli too)."""
_BROTLI_LGWIN = 22
"""Default brotli window (Go and C agree); channels are far smaller than 4 MiB."""


class CompressorKind(enum.Enum):
    """``--compressor``: how a singular-batch channel decides it is full."""

    SHADOW = "shadow"
    RATIO = "ratio"
    NONE = "none"


class CompressorError(ValueError):
    """Unknown algorithm or compressor kind, or a compressor used after close."""


def check_algo(algo: str) -> str:
    """Validate a compression algorithm name (Go's flag values)."""
    if algo not in COMPRESSION_ALGOS:
        raise CompressorError(
            f"unknown compression algo {algo!r}; expected one of {', '.join(COMPRESSION_ALGOS)}"
        )
    return algo


def is_brotli(algo: str) -> bool:
    return check_algo(algo) != ALGO_ZLIB


def brotli_quality(algo: str) -> int:
    """Brotli quality of a brotli algo name (``brotli`` means 10)."""
    if not is_brotli(algo):
        raise CompressorError(f"compression algo {algo!r} is not brotli")
    return _BROTLI_QUALITY[algo]


def static_bytes_len(algo: str) -> int:
    """Bytes a fresh channel compressor holds before any input: the 0x01 version byte for brotli."""
    return 1 if is_brotli(algo) else 0


def compress_channel(data: bytes, algo: str, *, quality: int | None = None) -> bytes:
    """One-shot channel bytes for ``data`` (version byte included for brotli); ``quality`` overrides
    the algo's brotli quality (used to squeeze an overshooting channel with quality 11)."""
    if is_brotli(algo):
        q = brotli_quality(algo) if quality is None else quality
        body: bytes = brotli.compress(data, quality=q, lgwin=_BROTLI_LGWIN)
        return bytes([CHANNEL_VERSION_BROTLI]) + body
    return bytes(zlib_ng.compress(data, ZLIB_BEST_COMPRESSION))


class OutputBuffer:
    """Compressed output not yet read into frames (a FIFO of bytes with O(1) amortised reads)."""

    __slots__ = ("_buf", "_pos", "total")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.total = 0
        """Bytes ever appended."""

    def append(self, data: bytes) -> None:
        if data:
            self._buf += data
            self.total += len(data)

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def read(self, n: int) -> bytes:
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        if self._pos > 1 << 20 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        return out


class StreamCompressor:
    """A streaming channel compressor (Go ChannelCompressor): write, optional sync flush, close.

    ``len`` is the buffered output not yet read (Go ``Len``); for brotli it starts at 1 (the
    version byte). Output appears as the underlying library produces it.
    """

    def __init__(self, algo: str, *, level: int = ZLIB_BEST_COMPRESSION) -> None:
        self.algo = check_algo(algo)
        self._out = OutputBuffer()
        self.closed = False
        self.bytes_in = 0
        if is_brotli(algo):
            self._brotli: brotli.Compressor | None = brotli.Compressor(
                quality=brotli_quality(algo), lgwin=_BROTLI_LGWIN
            )
            self._zlib = None
            self._out.append(bytes([CHANNEL_VERSION_BROTLI]))
        else:
            self._brotli = None
            self._zlib = zlib_ng.compressobj(level)

    def _check_open(self) -> None:
        if self.closed:
            raise CompressorError(f"{self.algo} compressor used after close")

    def write(self, data: bytes) -> None:
        self._check_open()
        self.bytes_in += len(data)
        if self._brotli is not None:
            self._out.append(self._brotli.process(data))
        else:
            assert self._zlib is not None
            self._out.append(self._zlib.compress(data))

    def flush(self) -> None:
        """Sync flush: everything written so far becomes decodable output (costs ratio)."""
        self._check_open()
        if self._brotli is not None:
            self._out.append(self._brotli.flush())
        else:
            assert self._zlib is not None
            self._out.append(self._zlib.flush(zlib_ng.Z_SYNC_FLUSH))

    def close(self) -> None:
        """Finish the stream (idempotent)."""
        if self.closed:
            return
        if self._brotli is not None:
            self._out.append(self._brotli.finish())
        else:
            assert self._zlib is not None
            self._out.append(self._zlib.flush(zlib_ng.Z_FINISH))
        self.closed = True
        self._brotli = None
        self._zlib = None

    @property
    def len(self) -> int:
        """Output bytes buffered and not yet read."""
        return len(self._out)

    @property
    def total_out(self) -> int:
        """Output bytes produced so far (read or not), version byte included."""
        return self._out.total

    def read(self, n: int) -> bytes:
        return self._out.read(n)


class ChannelCompressor(Protocol):
    """What a singular channel out needs from a compressor kind (Go derive.Compressor)."""

    def write(self, data: bytes) -> bool:
        """Write all of ``data`` or nothing; False means full and nothing was written."""
        ...

    @property
    def full(self) -> bool: ...
    @property
    def len(self) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def read(self, n: int) -> bytes: ...


class _RealStream:
    """The part of every compressor kind that only passes through to its real output stream."""

    _real: StreamCompressor
    _full = False

    @property
    def full(self) -> bool:
        return self._full

    @property
    def len(self) -> int:
        return self._real.len

    def flush(self) -> None:
        self._real.flush()

    def close(self) -> None:
        self._real.close()

    def read(self, n: int) -> bytes:
        return self._real.read(n)


class ShadowCompressor(_RealStream):
    """Go ShadowCompressor: exact upper bound from a shadow compressor flushed only near the target."""

    def __init__(self, algo: str, target_output_size: int) -> None:
        self.target = target_output_size
        self._real = StreamCompressor(algo)
        self._shadow = StreamCompressor(algo)
        self._bound = SAFE_COMPRESSION_OVERHEAD
        self._full = False
        self._has_data = False

    def write(self, data: bytes) -> bool:
        if self._full:
            return False
        self._shadow.write(data)
        new_bound = self._bound + len(data)
        if new_bound > self.target:
            # Flush only when the target may be passed: cheaper, and the shadow's ratio stays
            # close to the real (unflushed) one.
            self._shadow.flush()
            new_bound = self._shadow.total_out + CLOSE_OVERHEAD_ZLIB
            if new_bound > self.target:
                self._full = True
                # PR #18485: refuse only once real data is in (not just brotli's version byte),
                # otherwise a first block over the target would never be written.
                if self._has_data:
                    return False
        self._bound = new_bound
        self._real.write(data)
        self._has_data = True
        return True

    def close(self) -> None:
        self._real.close()
        self._shadow.close()


class RatioCompressor(_RealStream):
    """Go RatioCompressor: full once input >= target / approx ratio (always zlib level 9)."""

    def __init__(self, target_output_size: int, approx_compr_ratio: float) -> None:
        if not approx_compr_ratio > 0:
            raise CompressorError(f"approx-compr-ratio must be > 0, got {approx_compr_ratio}")
        self.threshold = int(target_output_size / approx_compr_ratio)
        self._real = StreamCompressor(ALGO_ZLIB)
        self._input = 0

    def write(self, data: bytes) -> bool:
        if self.full:
            return False
        self._input += len(data)
        self._real.write(data)
        return True

    @property
    def full(self) -> bool:
        return self._input >= self.threshold


class NoneCompressor(_RealStream):
    """Go NonCompressor (tests): zlib level 0 flushed before each write; full past the target."""

    def __init__(self, target_output_size: int) -> None:
        self.target = target_output_size
        self._real = StreamCompressor(ALGO_ZLIB, level=ZLIB_NO_COMPRESSION)
        self._full = False

    def write(self, data: bytes) -> bool:
        # Go checks nothing before writing: the write that passes the target is still accepted.
        self._real.flush()
        self._real.write(data)
        if self._real.len > self.target:
            self._full = True
        return True


def new_compressor(
    kind: str, algo: str, target_output_size: int, approx_compr_ratio: float
) -> ChannelCompressor:
    """The compressor ``--compressor`` selects (Go compressor.Kinds)."""
    try:
        k = CompressorKind(kind)
    except ValueError:
        raise CompressorError(
            f"unknown compressor kind {kind!r}; expected one of {', '.join(c.value for c in CompressorKind)}"
        ) from None
    check_algo(algo)
    if k is CompressorKind.SHADOW:
        return ShadowCompressor(algo, target_output_size)
    if k is CompressorKind.RATIO:
        return RatioCompressor(target_output_size, approx_compr_ratio)
    return NoneCompressor(target_output_size)


# ---------------------------------------------------------------------------------------------
# Estimation for span channels: O(new data) per block, one exact compression near the target.

_ESTIMATOR_BROTLI_QUALITY = 5
"""brotli-5 tracks brotli-9..11 within about 0.5 % at ~2 % of brotli-10's CPU (performance runs).

It keeps the channel's window (lgwin 22). Unflushed, it would entropy-code its first meta-block only
at ~1 MiB of literals (~2.7 MB input), one ~15 ms burst; but a span channel flushes it from about
target / ratio of input on (~0.8 MB for 6 blobs), so that never builds up, and a bigger window
would only move the same work to the flush (``op-batcher bench`` add-cost)."""
_ESTIMATOR_ZLIB_LEVEL = 3
"""zlib-ng level 3 as the shadow of zlib level 9."""


class SizeEstimator:
    """A cheap streaming shadow of the channel content; its size scaled by a calibration factor
    predicts the real compressed size.

    Flushing makes the shadow size exact but costs ratio and CPU, so callers use the cheap
    ``upper_bound`` while it is clearly below what matters and flush (``size``) only near it.
    """

    def __init__(self, algo: str) -> None:
        self.algo = check_algo(algo)
        self._brotli: brotli.Compressor | None = None
        self._zlib = None
        if is_brotli(algo):
            self._brotli = brotli.Compressor(quality=_ESTIMATOR_BROTLI_QUALITY, lgwin=_BROTLI_LGWIN)
        else:
            self._zlib = zlib_ng.compressobj(_ESTIMATOR_ZLIB_LEVEL)
        self._out = 0
        self._in = 0
        self._pending = 0
        """Input bytes since the last flush."""

    def add(self, data: bytes) -> None:
        self._in += len(data)
        self._pending += len(data)
        if self._brotli is not None:
            self._out += len(self._brotli.process(data))
        else:
            assert self._zlib is not None
            self._out += len(self._zlib.compress(data))

    @property
    def input_bytes(self) -> int:
        return self._in

    def size(self) -> int:
        """Exact shadow output size: flushes, so every byte added so far is counted."""
        if self._pending:
            if self._brotli is not None:
                self._out += len(self._brotli.flush())
            else:
                assert self._zlib is not None
                self._out += len(self._zlib.flush(zlib_ng.Z_SYNC_FLUSH))
            self._pending = 0
        return self._out

    def upper_bound(self) -> int:
        """A size the flushed shadow cannot exceed, without flushing: unflushed input counted raw
        (plus stored-block overhead), output already produced for part of it counted twice."""
        return self._out + self._pending + (self._pending >> 10) + 16 if self._pending else self._out


_PRIOR_K = {"zlib": 1.15, "brotli-9": 1.0, "brotli-10": 1.0, "brotli-11": 1.0}
"""Starting real/shadow ratio: conservative (real is usually a little below the shadow)."""
_PRIOR_REL_SD = 0.02
"""Relative error assumed before any observation."""
_FIRST_REL_SD = 0.003
"""Relative error assumed after the first observation."""
_MIN_REL_SD = 0.0005
"""Floor of the tracked relative error."""
_PRIOR_TAIL_REL_SD = 0.015
"""Relative error of a tail's estimated growth assumed before any tail was observed (3 sigma: 4.5 %).

A tail is judged by the ratio the channel's own exact compression just gave, so its error is only how
the tail's blocks differ from the channel's average; real chains measured 0.03-1 %."""
_MIN_TAIL_REL_SD = 0.005
"""Floor of the tracked tail error (3 sigma: 1.5 % of the tail's growth)."""
_MIN_TAIL_GROWTH = 256
"""Tails that grew less than this are not observed: their relative error is mostly rounding."""
_SMALL_CHANNEL_REL_ERR = 1.5
"""Guard floor c / sqrt(target): 3.2 % of a 2 KB channel, 0.42 % of one blob, 0.17 % of six blobs."""


class CompressionCalibration:
    """real / shadow size ratio learned from exact compressions of earlier channels (EMA), with
    the spread of its relative error, from which the safety guard is derived.

    Keep one per (algo, chain) for the batcher's lifetime and pass it to every span channel out:
    the better calibrated, the fuller the channels.
    """

    def __init__(self, algo: str, *, alpha: float = 0.25) -> None:
        check_algo(algo)
        key = "brotli-10" if algo == "brotli" else algo
        self.k = _PRIOR_K[key]
        self.rel_var = _PRIOR_REL_SD**2
        self.alpha = alpha
        self.observations = 0
        self.tail_rel_var = _PRIOR_TAIL_REL_SD**2
        """Mean squared relative error of tail estimates (bias included, so a biased estimate widens it)."""
        self.tail_observations = 0

    @property
    def rel_sd(self) -> float:
        return math.sqrt(self.rel_var)

    def predict(self, shadow_size: int) -> float:
        return self.k * shadow_size

    def guard(self, target: int, *, sigmas: float = 3.0, floor: float = 0.0005) -> int:
        """Bytes kept free below the target when deciding without an exact compression.

        The learned spread describes channels like the earlier ones; a small channel's ratio varies
        more from one channel to the next (a few blocks decide it), hence the size-dependent floor.
        """
        small = _SMALL_CHANNEL_REL_ERR / math.sqrt(max(target, 1))
        return math.ceil(target * max(floor, small, sigmas * self.rel_sd))

    def observe(self, real_size: int, shadow_size: int) -> None:
        """Record an exact (real, shadow) pair of the same content."""
        if shadow_size <= 0 or real_size <= 0:
            return
        k_obs = real_size / shadow_size
        if self.observations == 0:
            # The first exact size replaces the prior outright; its error says nothing about later ones.
            self.k = k_obs
            self.rel_var = _FIRST_REL_SD**2
        else:
            # Running mean over the first few observations, then an exponential moving average.
            a = max(self.alpha, 1.0 / (self.observations + 1))
            err = k_obs / self.k - 1.0
            self.k += a * (k_obs - self.k)
            self.rel_var += a * (err * err - self.rel_var)
            self.rel_var = max(self.rel_var, _MIN_REL_SD**2)
        self.observations += 1

    @property
    def tail_rel_sd(self) -> float:
        return math.sqrt(self.tail_rel_var)

    def tail_guard(self, growth: float, *, sigmas: float = 3.0, min_guard: int = 32) -> int:
        """Bytes kept free when a tail block is judged by its estimated growth since the exact size."""
        return int(min_guard + sigmas * self.tail_rel_sd * max(growth, 0.0))

    def observe_tail(self, real_size: int, predicted_size: float, growth: float) -> None:
        """Record how far a closed channel's real size was from the tail estimate, relative to the
        estimated growth the tail added (the only part the estimate was needed for)."""
        if growth < _MIN_TAIL_GROWTH:
            return
        err = (real_size - predicted_size) / growth
        a = max(self.alpha, 1.0 / (self.tail_observations + 1))
        self.tail_rel_var += a * (err * err - self.tail_rel_var)
        self.tail_rel_var = max(self.tail_rel_var, _MIN_TAIL_REL_SD**2)
        self.tail_observations += 1
