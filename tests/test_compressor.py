"""Channel compression: valid zlib/brotli channel bytes and Go's shadow/ratio/none fullness rules."""

from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.channel import CHANNEL_VERSION_BROTLI, decompress_channel
from common.derive.compressor import (
    CLOSE_OVERHEAD_ZLIB,
    COMPRESSION_ALGOS,
    CompressionCalibration,
    CompressorError,
    NoneCompressor,
    RatioCompressor,
    ShadowCompressor,
    SizeEstimator,
    StreamCompressor,
    compress_channel,
    new_compressor,
    static_bytes_len,
)


def _random_text(rng: random.Random, n: int) -> bytes:
    """Compressible but not trivial bytes: words from a small vocabulary plus random numbers."""
    words = [rng.randbytes(rng.randrange(2, 9)) for _ in range(64)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) if rng.random() < 0.8 else rng.randbytes(4)
    return bytes(out[:n])


def _decompress(data: bytes) -> bytes:
    return decompress_channel(data, max_bytes=100_000_000, fjord=True)


@pytest.mark.parametrize("algo", COMPRESSION_ALGOS)
def test_one_shot_channel_bytes_decompress_to_the_input(algo):
    """compress_channel output is a channel H1's decoder reads back exactly, with the right version."""
    data = _random_text(random.Random(1), 50_000)
    out = compress_channel(data, algo)
    assert _decompress(out) == data
    if algo == "zlib":
        assert out[:2] == b"\x78\xda"
    else:
        assert out[0] == CHANNEL_VERSION_BROTLI


@pytest.mark.parametrize("algo", ["zlib", "brotli-10"])
@given(chunks=st.lists(st.binary(max_size=3000), max_size=12), flush_at=st.integers(0, 12))
@settings(max_examples=25, deadline=None)
def test_stream_compressor_round_trips_with_flushes(algo, chunks, flush_at):
    """Written chunks, with a sync flush anywhere, come back after close; zlib is a valid RFC 1950 stream."""
    comp = StreamCompressor(algo)
    for i, chunk in enumerate(chunks):
        comp.write(chunk)
        if i == flush_at:
            comp.flush()
    comp.close()
    out = comp.read(comp.len)
    assert _decompress(out) == b"".join(chunks)
    if algo == "zlib":
        assert zlib.decompress(out) == b"".join(chunks)


def test_stream_compressor_refuses_writes_after_close():
    """A closed compressor names itself in the error."""
    comp = StreamCompressor("brotli")
    comp.close()
    with pytest.raises(CompressorError, match="brotli compressor used after close"):
        comp.write(b"x")


def test_unknown_algo_and_kind_are_rejected_with_the_valid_choices():
    """Bad flag values fail with a message listing what is accepted."""
    with pytest.raises(CompressorError, match="brotli-11"):
        compress_channel(b"x", "gzip")
    with pytest.raises(CompressorError, match="shadow, ratio, none"):
        new_compressor("blind", "zlib", 1000, 0.5)


def test_static_bytes_are_the_brotli_version_byte_only():
    """A fresh brotli compressor already holds 0x01; zlib holds nothing."""
    assert static_bytes_len("zlib") == 0
    assert static_bytes_len("brotli-9") == 1
    assert StreamCompressor("brotli-11").len == 1


@pytest.mark.parametrize("algo", ["zlib", "brotli", "brotli-9"])
def test_shadow_accepts_an_oversized_first_block_then_nothing(algo):
    """PR #18485: the first write over the target goes in (also for brotli), the next is refused."""
    rng = random.Random(2)
    comp = ShadowCompressor(algo, 1000)
    assert comp.write(rng.randbytes(5000)) is True
    assert comp.full
    assert comp.write(b"more") is False
    comp.close()
    assert len(_decompress(comp.read(comp.len))) == 5000


@pytest.mark.parametrize("algo", ["zlib", "brotli-10"])
@given(sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=40), seed=st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_shadow_output_stays_under_target_unless_one_write(algo, sizes, seed):
    """Go's bound: after close the output is <= target whenever more than one write was accepted."""
    rng = random.Random(seed)
    target = 6000
    comp = ShadowCompressor(algo, target)
    accepted = []
    for n in sizes:
        chunk = _random_text(rng, n) if rng.random() < 0.5 else rng.randbytes(n)
        if not comp.write(chunk):
            assert comp.full
            break
        accepted.append(chunk)
    comp.close()
    out = comp.read(comp.len)
    assert _decompress(out) == b"".join(accepted)
    if len(accepted) > 1:
        assert len(out) <= target


def test_shadow_bound_uses_the_close_overhead_before_refusing():
    """The refusal happens when flushed shadow + 9 passes the target, not on raw size alone."""
    data = b"a" * 10_000  # compresses to a few dozen bytes
    comp = ShadowCompressor("zlib", 200)
    assert comp.write(data) is True
    assert comp.write(data) is True  # raw bound is way over, but the flushed shadow is tiny
    assert not comp.full
    assert CLOSE_OVERHEAD_ZLIB == 9


def test_ratio_compressor_is_full_once_input_reaches_target_over_ratio():
    """The crossing write is accepted; the next one is refused; output is zlib whatever the algo."""
    comp = new_compressor("ratio", "brotli-10", 1000, 0.5)
    assert isinstance(comp, RatioCompressor)
    assert comp.threshold == 2000
    assert comp.write(b"x" * 1999) is True
    assert not comp.full
    assert comp.write(b"y" * 10) is True
    assert comp.full
    assert comp.write(b"z") is False
    comp.close()
    out = comp.read(comp.len)
    assert out[:2] == b"\x78\xda"
    assert zlib.decompress(out) == b"x" * 1999 + b"y" * 10


def test_none_compressor_marks_full_after_passing_target_but_keeps_the_write():
    """Go NonCompressor: level 0, flushed *before* each write, so a write's bytes count at the next one."""
    rng = random.Random(3)
    comp = NoneCompressor(1000)
    assert comp.write(rng.randbytes(900)) is True
    assert comp.write(rng.randbytes(200)) is True
    assert not comp.full  # the 200 bytes are still inside the deflate stream
    assert comp.write(rng.randbytes(10)) is True
    assert comp.full
    assert comp.len > 1000


@pytest.mark.parametrize("algo", ["zlib", "brotli-10"])
@given(chunks=st.lists(st.tuples(st.integers(0, 5000), st.booleans()), min_size=1, max_size=15))
@settings(max_examples=20, deadline=None)
def test_size_estimator_upper_bound_holds_without_flushing(algo, chunks):
    """upper_bound() never undercuts the exact (flushed) shadow size, for any mix of data."""
    est = SizeEstimator(algo)
    rng = random.Random(len(chunks))
    for n, noisy in chunks:
        est.add(rng.randbytes(n) if noisy else _random_text(rng, n))
        bound = est.upper_bound()
        if rng.random() < 0.5:
            assert est.size() <= bound


def test_size_estimator_exact_size_counts_every_byte_added():
    """size() is the flushed shadow length; incompressible data grows it by about its length."""
    est = SizeEstimator("brotli-10")
    rng = random.Random(4)
    est.add(_random_text(rng, 20_000))
    first = est.size()
    assert 0 < first < 20_000
    est.add(rng.randbytes(5000))
    assert est.size() >= first + 4900


def test_calibration_converges_and_tightens_its_guard():
    """Repeated (real, shadow) pairs at ratio 0.9 move k there and shrink the guard."""
    cal = CompressionCalibration("brotli-10")
    before = cal.guard(780_000)
    for i in range(20):
        cal.observe(90_000 + (i % 3), 100_000)
    assert cal.k == pytest.approx(0.9, rel=1e-3)
    assert cal.guard(780_000) < before / 5
    assert cal.predict(200_000) == pytest.approx(180_000, rel=1e-3)
