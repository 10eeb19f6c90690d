"""The throttling input, estimated only as far as the throttle controller can tell the difference.

Go computes ``unsafe DA bytes`` (op-batcher.md §4.12: the pending blocks' op-geth DA estimates plus each
queued channel's output, or its blocks' estimates before it has frames) in full after every 100 loaded
blocks. The estimate is FastLZ per tx, which in pure Python runs at ~2.6 MB/s, as slow as brotli-10:
while a backlog drains it was a third of the ingest path's CPU. But the step, linear and quadratic
controllers are flat past a saturation point
(:attr:`~batcher.throttling.controller.ThrottleController.saturation`),
and each tx's estimate is at least 100 bytes, so this sums cheap floors first and runs FastLZ only until
the sum is known to be past that point. Below it the result is Go's exact value; past it the result is a
lower bound that is itself past the point, so the controller decides exactly as with the exact value.
A PID controller (no saturation) gets the exact value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _floor(block: Any) -> int:
    floor = getattr(block, "da_size_floor", None)
    return int(floor) if floor is not None else int(block.da_size_estimate)


def unsafe_da_bytes(pending: Sequence[Any], channels: Iterable[Any], saturation: int | None) -> int:
    """Σ DA estimates of ``pending`` blocks + each channel's output (or its blocks' estimates if it has no
    frames yet): exact below ``saturation`` (or when it is None), else some value ≥ ``saturation``."""
    unknown: list[Any] = []
    total = 0
    for ch in channels:
        if ch.frames:
            total += ch.output_bytes
        else:
            unknown.extend(ch.blocks)
    unknown.extend(pending)
    floors = [_floor(b) for b in unknown]
    total += sum(floors)
    for block, floor in zip(unknown, floors, strict=True):
        if saturation is not None and total >= saturation:
            break
        total += block.da_size_estimate - floor  # computed (and cached on the block) only here
    return total
