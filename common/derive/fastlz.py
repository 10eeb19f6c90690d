"""FastLZ compressed length and op-geth's Fjord DA-size estimate for one transaction.

op-batcher sizes blocks for DA throttling with op-geth ``RollupCostData.EstimatedDASize``:
``max(L1_COST_INTERCEPT + L1_COST_FASTLZ_COEF * flzCompressLen(tx), MIN_TRANSACTION_SIZE_SCALED) / 1e6``
where ``flzCompressLen`` is the length FastLZ (level 1, as in solady's ``flzCompress``) would
produce. Only the length is computed, never the output.
"""

from __future__ import annotations

L1_COST_INTERCEPT = -42_585_600
"""Fjord linear-regression intercept, scaled by 1e6 (op-geth rollup_cost.go)."""
L1_COST_FASTLZ_COEF = 836_500
"""Fjord linear-regression FastLZ coefficient, scaled by 1e6."""
MIN_TRANSACTION_SIZE_SCALED = 100 * 1_000_000
"""Floor of the estimate: 100 bytes, scaled by 1e6."""

_HASH_MULTIPLIER = 2654435769
_MAX_DISTANCE = 0x1FFF


def _literals_cost(run: int) -> int:
    """Bytes FastLZ spends on ``run`` literal bytes (runs of at most 32 with a 1-byte header)."""
    cost = 0x21 * (run // 0x20)
    rest = run % 0x20
    return cost + (rest + 1 if rest else 0)


def _match_cost(length: int) -> int:
    """Bytes FastLZ spends on one match of encoded length ``length``."""
    length -= 1
    return 3 * (length // 262) + (3 if length % 262 >= 6 else 2)


def flz_compress_len(data: bytes) -> int:
    """Length of ``data`` after FastLZ level-1 compression (op-geth FlzCompressLen)."""
    ib = bytes(data)
    size = len(ib)
    ip_limit = size - 13 if size >= 13 else 0
    if ip_limit <= 2:
        return _literals_cost(size)
    # table[h] is the last position whose 3 bytes hashed to h; seqs[h] keeps those 3 bytes, so
    # Go's ``s == u24(r)`` needs no re-read (position 0 initially, like Go's zeroed table).
    table = [0] * 8192
    seqs = [ib[0] | (ib[1] << 8) | (ib[2] << 16)] * 8192
    mult = _HASH_MULTIPLIER
    n = 0
    anchor = 0
    ip = 2
    while ip < ip_limit:
        ref = 0
        while True:
            seq = ib[ip] | (ib[ip + 1] << 8) | (ib[ip + 2] << 16)
            h = ((mult * seq) & 0xFFFFFFFF) >> 19
            ref = table[h]
            ref_seq = seqs[h]
            table[h] = ip
            seqs[h] = seq
            if ip >= ip_limit:
                break
            ip += 1
            if ip - 1 - ref <= _MAX_DISTANCE and ref_seq == seq:
                break
        if ip >= ip_limit:
            break
        ip -= 1
        if ip > anchor:
            n += _literals_cost(ip - anchor)
        length = _match_length(ib, ref + 3, ip + 3, ip_limit + 9)
        n += _match_cost(length)
        ip += length
        for pos in (ip, ip + 1):
            seq = ib[pos] | (ib[pos + 1] << 8) | (ib[pos + 2] << 16)
            h = ((mult * seq) & 0xFFFFFFFF) >> 19
            table[h] = pos
            seqs[h] = seq
        ip += 2
        anchor = ip
    return n + _literals_cost(size - anchor)


def _match_length(ib: bytes, p: int, q: int, end: int) -> int:
    """op-geth's ``cmp``: 1 + index of the first mismatch of ib[p:] and ib[q:], or end - q if none."""
    limit = end - q
    if limit <= 0:
        return 0
    a = ib[p : p + limit]
    b = ib[q : q + limit]
    if a == b:
        return limit
    # binary search for the first differing byte (slices compare in C)
    lo, hi = 0, limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo + 1


def estimated_da_size(tx: bytes) -> int:
    """op-geth ``RollupCostData.EstimatedDASize`` of a signed tx: FastLZ regression, at least 100."""
    scaled = L1_COST_INTERCEPT + L1_COST_FASTLZ_COEF * flz_compress_len(tx)
    return max(scaled, MIN_TRANSACTION_SIZE_SCALED) // 1_000_000
