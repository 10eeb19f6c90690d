"""batcher.channels.sync_actions: every rule of Go's computeSyncActions (op-batcher.md §4.3)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batcher.channels.sync_actions import (
    BlockRange,
    BlocksInState,
    OutOfSync,
    SyncActions,
    SyncReason,
    compute_sync_actions,
)
from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.sync_status import SyncStatus


def h(n: int, tag: str = "a") -> bytes:
    return hashlib.sha256(f"{tag}{n}".encode()).digest()


@dataclass(frozen=True)
class Ch:
    """A channel as sync actions see it."""

    latest: int
    fully_submitted: bool = False
    timed_out: bool = False
    max_incl: int = 0

    @property
    def is_fully_submitted(self) -> bool:
        return self.fully_submitted

    @property
    def is_timed_out(self) -> bool:
        return self.timed_out

    @property
    def latest_l2(self) -> BlockID:
        return BlockID(h(self.latest), self.latest)

    @property
    def max_inclusion_block(self) -> int:
        return self.max_incl


SAFE_ORIGIN = BlockID(h(7, "l1"), 7)


def l2(n: int, *, tag: str = "a", origin: BlockID = SAFE_ORIGIN) -> L2BlockRef:
    return L2BlockRef(h(n, tag), n, h(n - 1, tag), 1000 + n, origin, 0)


def l1(n: int) -> L1BlockRef:
    return L1BlockRef(h(n, "l1"), n, h(n - 1, "l1"), 5000 + n)


def status(
    *,
    safe: int = 101,
    unsafe: int = 109,
    current_l1: int = 2,
    head_l1: int = 3,
    safe_tag: str = "a",
    local_safe: L2BlockRef | None = None,
    safe_l2: L2BlockRef | None = None,
) -> SyncStatus:
    ls = local_safe if local_safe is not None else l2(safe, tag=safe_tag)
    return SyncStatus(
        current_l1=l1(current_l1),
        current_l1_finalized=l1(0),
        head_l1=l1(head_l1) if head_l1 else L1BlockRef.zero(),
        safe_l1=l1(1),
        finalized_l1=l1(0),
        unsafe_l2=l2(unsafe),
        safe_l2=safe_l2 if safe_l2 is not None else ls,
        finalized_l2=l2(100),
        pending_safe_l2=ls,
        cross_unsafe_l2=l2(unsafe),
        local_safe_l2=ls,
    )


def state(first: int, last: int) -> BlocksInState:
    return BlocksInState(first, [h(n) for n in range(first, last + 1)])


def test_empty_head_l1_is_out_of_sync():
    """A zero head_l1 means the node has nothing yet."""
    assert compute_sync_actions(status(head_l1=0), l1(1), state(101, 109), []) == OutOfSync(
        SyncReason.EMPTY_SYNC_STATUS
    )


def test_zero_local_safe_is_out_of_sync():
    """The safe reference is local_safe_l2; a zero one is an empty sync status."""
    got = compute_sync_actions(status(local_safe=L2BlockRef.zero()), l1(1), state(101, 109), [])
    assert got == OutOfSync(SyncReason.EMPTY_SYNC_STATUS)


def test_current_l1_going_backwards_is_out_of_sync():
    """Sequencer restarted behind the previous tick: skip the tick."""
    got = compute_sync_actions(status(current_l1=1), l1(2), state(101, 109), [])
    assert got == OutOfSync(SyncReason.CURRENT_L1_REVERSED)
    assert got.reason.value == "sequencer currentL1 reversed"


def test_no_blocks_in_state_loads_everything_unsafe():
    """Load [safe+1, unsafe]."""
    got = compute_sync_actions(status(), l1(1), None, [])
    assert got == SyncActions(SyncReason.NO_BLOCKS_IN_STATE, blocks_to_load=BlockRange(102, 109))


def test_no_blocks_and_nothing_unsafe_loads_nothing():
    """unsafe == safe: no range."""
    got = compute_sync_actions(status(safe=109), l1(1), None, [])
    assert isinstance(got, SyncActions) and got.blocks_to_load is None and got.clear_state is None


def test_next_safe_block_below_oldest_block_starts_afresh():
    """A gap between the safe head and our oldest block: clear and reload."""
    got = compute_sync_actions(status(safe=101), l1(1), state(103, 109), [])
    assert got == SyncActions(
        SyncReason.SAFE_BELOW_OLDEST, clear_state=SAFE_ORIGIN, blocks_to_load=BlockRange(102, 109)
    )


def test_safe_head_above_newest_block_starts_afresh():
    """Safe head moved past everything we hold (another batcher instance): clear."""
    got = compute_sync_actions(status(safe=109, unsafe=120), l1(1), state(101, 105), [])
    assert got == SyncActions(
        SyncReason.SAFE_ABOVE_NEWEST, clear_state=SAFE_ORIGIN, blocks_to_load=BlockRange(110, 120)
    )


def test_safe_chain_reorg_starts_afresh():
    """Our block at the safe height has another hash."""
    got = compute_sync_actions(status(safe=104, safe_tag="b"), l1(1), state(101, 109), [])
    assert isinstance(got, SyncActions) and got.reason is SyncReason.SAFE_CHAIN_REORG
    assert got.clear_state == SAFE_ORIGIN


def test_fully_submitted_channel_without_safe_progress_starts_afresh():
    """Holocene stall: a landed channel beyond the safe head while current_l1 passed its inclusion."""
    ch = Ch(latest=105, fully_submitted=True, max_incl=1)
    got = compute_sync_actions(status(safe=103, current_l1=2), l1(1), state(101, 109), [ch])
    assert isinstance(got, SyncActions) and got.reason is SyncReason.NO_PROGRESS


@pytest.mark.parametrize(
    "ch",
    [
        Ch(latest=105, fully_submitted=False, max_incl=1),
        Ch(latest=105, fully_submitted=True, timed_out=True, max_incl=1),
        Ch(latest=105, fully_submitted=True, max_incl=2),  # current_l1 has not passed its inclusion yet
        Ch(latest=103, fully_submitted=True, max_incl=1),  # safe head reached it
    ],
)
def test_stall_rule_needs_every_condition(ch):
    """Not submitted, timed out, not yet derived past, or already safe: no reset."""
    got = compute_sync_actions(status(safe=103, current_l1=2), l1(1), state(101, 109), [ch])
    assert isinstance(got, SyncActions) and got.reason is SyncReason.HAPPY_PATH


def test_happy_path_prunes_safe_blocks_and_channels_and_loads_new_blocks():
    """Prune up to the safe head, prune leading safe channels, load above our newest."""
    chans = [Ch(latest=102), Ch(latest=103), Ch(latest=106), Ch(latest=103)]
    got = compute_sync_actions(status(safe=103, unsafe=112), l1(1), state(101, 109), chans)
    assert got == SyncActions(
        SyncReason.HAPPY_PATH, blocks_to_prune=3, channels_to_prune=2, blocks_to_load=BlockRange(110, 112)
    )


def test_happy_path_with_nothing_new_loads_nothing():
    """unsafe == newest in state: no range."""
    got = compute_sync_actions(status(safe=100, unsafe=109), l1(1), state(101, 109), [])
    assert got == SyncActions(SyncReason.HAPPY_PATH, blocks_to_prune=0, channels_to_prune=0)


def test_local_safe_is_the_reference_not_safe_l2():
    """Interop: local_safe_l2 decides; a different safe_l2 is ignored."""
    got = compute_sync_actions(status(safe=103, safe_l2=l2(101)), l1(1), state(101, 109), [])
    assert isinstance(got, SyncActions) and got.blocks_to_prune == 3


def test_reasons_carry_go_messages_and_labels():
    """Values are Go's log texts; labels are metric-friendly."""
    assert SyncReason.NO_PROGRESS.value == "sequencer did not make expected progress"
    assert SyncReason.SAFE_CHAIN_REORG.label == "safe_chain_reorg"
    assert SyncReason.SAFE_CHAIN_REORG.is_warning and not SyncReason.HAPPY_PATH.is_warning


@given(oldest=st.integers(1, 50), count=st.integers(1, 30), safe=st.integers(0, 90), extra=st.integers(0, 20))
def test_happy_path_never_prunes_more_than_held_and_loads_contiguously(oldest, count, safe, extra):
    """Whatever the numbers: pruning fits the state and the load range starts right after it."""
    newest = oldest + count - 1
    unsafe = max(safe, newest) + extra
    got = compute_sync_actions(status(safe=safe, unsafe=unsafe), l1(1), state(oldest, newest), [])
    assert isinstance(got, SyncActions)
    if got.clear_state is None:
        assert 0 <= got.blocks_to_prune <= count
        assert got.blocks_to_prune == safe + 1 - oldest
        if got.blocks_to_load is not None:
            assert got.blocks_to_load.start == newest + 1 and got.blocks_to_load.end == unsafe
    else:
        assert safe + 1 < oldest or safe + 1 - oldest > count
        assert got.blocks_to_load == (BlockRange(safe + 1, unsafe) if unsafe > safe else None)


def test_batcher_core_modules_import_nothing_async_networked_or_clocked():
    """The state machines stay pure: no asyncio/aiohttp/prometheus/web3 and no clock reads."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    modules = [
        "batcher.channels.channel",
        "batcher.channels.config",
        "batcher.channels.manager",
        "batcher.channels.sync_actions",
        "batcher.throttling.controller",
    ]
    forbidden = ("asyncio", "aiohttp", "prometheus_client", "web3", "socket")
    code = (
        f"import sys\nfor m in {modules!r}: __import__(m)\n"
        f"print(','.join(m for m in {forbidden!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == ""
    clock = re.compile(r"\b(time\.(time|monotonic|perf_counter|sleep)|datetime\.now|datetime\.utcnow)\(")
    sources = [root / (m.replace(".", "/") + ".py") for m in modules]
    assert [str(p) for p in sources if clock.search(p.read_text())] == []
