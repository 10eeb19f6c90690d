"""Decision rules of the proposer driver, with in-memory fakes for L1, the rollup node and the sender.

The fakes stand in for RPC endpoints only; the end-to-end tests run the same driver against the devnet's
real contracts. No real time passes: every test runs on a virtual event-loop clock (looptime), which jumps
to the next timer whenever all tasks wait.
"""

import asyncio
from dataclasses import dataclass, field

import pytest
from eth_abi.abi import encode

from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.sync_status import SyncStatus
from proposer import contracts as c
from proposer.driver import DriverConfig, Mode, ProposalTx, ProposerDriver, SendResult, Skip

pytestmark = pytest.mark.looptime

ORACLE = b"\x0a" * 20
ME = b"\x0b" * 20
OTHER = b"\x0c" * 20


def l2ref(n: int) -> L2BlockRef:
    return L2BlockRef(
        n.to_bytes(32, "big"), n, max(n - 1, 0).to_bytes(32, "big"), 1000 + 2 * n, BlockID(b"\x01" * 32, 5), 0
    )


def status(safe: int, finalized: int, head_l1: int = 50, current_l1: int = 40) -> SyncStatus:
    base = SyncStatus.from_json({})
    l1 = L1BlockRef(current_l1.to_bytes(32, "big"), current_l1, b"\x00" * 32, 0)
    head = L1BlockRef(head_l1.to_bytes(32, "big"), head_l1, b"\x00" * 32, 0)
    return SyncStatus(
        current_l1=l1,
        current_l1_finalized=base.current_l1_finalized,
        head_l1=head,
        safe_l1=base.safe_l1,
        finalized_l1=base.finalized_l1,
        unsafe_l2=l2ref(safe + 5),
        safe_l2=l2ref(safe),
        finalized_l2=l2ref(finalized),
        pending_safe_l2=l2ref(safe),
        cross_unsafe_l2=l2ref(safe + 5),
        local_safe_l2=l2ref(safe),
    )


@dataclass(frozen=True)
class Output:
    version: bytes
    output_root: bytes
    block_ref: L2BlockRef
    sync_status: SyncStatus


@dataclass
class FakeRollup:
    status: SyncStatus
    embedded: SyncStatus | None = None

    async def sync_status(self) -> SyncStatus:
        return self.status

    async def output_at_block(self, number: int) -> Output:
        return Output(b"\x00" * 32, number.to_bytes(32, "big"), l2ref(number), self.embedded or self.status)


@dataclass
class FakeL1:
    next_block: int = 10
    games: list[tuple[int, int, bytes, bytes]] = field(default_factory=list)  # type, time, proxy, creator
    existing: set[tuple[int, bytes]] = field(default_factory=set)
    head: int = 100
    calls: list[bytes] = field(default_factory=list)
    legacy: set[bytes] = field(default_factory=set)

    async def block_number(self) -> int:
        self.head += 1
        return self.head

    async def call(self, to: bytes, data: bytes) -> bytes:
        self.calls.append(data[:4])
        sel = data[:4]
        if sel == c.selector("nextBlockNumber()"):
            return encode(["uint256"], [self.next_block])
        if sel == c.selector("gameCount()"):
            return encode(["uint256"], [len(self.games)])
        if sel == c.selector("gameAtIndex(uint256)"):
            gt, ts, proxy, _ = self.games[int.from_bytes(data[4:36], "big")]
            return encode(["uint32", "uint64", "address"], [gt, ts, "0x" + proxy.hex()])
        if sel == c.selector("gameCreator()"):
            if to in self.legacy:  # a game that predates gameCreator(): the call reverts
                raise c.CallReverted(b"")
            creator = next(g[3] for g in self.games if g[2] == to)
            return encode(["address"], ["0x" + creator.hex()])
        if sel == c.selector("claimData(uint256)"):
            creator = next(g[3] for g in self.games if g[2] == to)
            fields = [0, "0x" + "00" * 20, "0x" + creator.hex(), 10**16, b"\x99" * 32, 1, 0]
            return encode(
                ["uint32", "address", "address", "uint128", "bytes32", "uint128", "uint128"], fields
            )
        if sel == c.selector("games(uint32,bytes32,bytes)"):
            gt = int.from_bytes(data[4:36], "big")
            root = data[36:68]
            proxy = b"\x0d" * 20 if (gt, root) in self.existing else b"\x00" * 20
            return encode(["address", "uint64"], ["0x" + proxy.hex(), 0])
        if sel == c.selector("initBonds(uint32)"):
            return encode(["uint256"], [10**16])
        raise AssertionError(f"unexpected call {sel.hex()}")


@dataclass
class FakeSender:
    sent: list[ProposalTx] = field(default_factory=list)
    from_address: bytes = ME

    async def send(self, tx: ProposalTx) -> SendResult:
        self.sent.append(tx)
        return SendResult(b"\xee" * 32, 1, 123)


def driver(mode: Mode, rollup: FakeRollup, l1: FakeL1, sender: FakeSender, **kw) -> ProposerDriver:
    cfg = DriverConfig(mode=mode, contract=ORACLE, poll_interval=1.0, **kw)
    return ProposerDriver(cfg, l1, rollup, sender, clock=lambda: 10_000.0)


async def test_l2oo_waits_until_finalized_head_reaches_next_block():
    """nextBlockNumber above the finalized head is a skip, not an error."""
    sender = FakeSender()
    d = driver(Mode.L2OO, FakeRollup(status(safe=20, finalized=9)), FakeL1(next_block=10), sender)
    assert await d.tick() is Skip.NOT_ELAPSED
    assert sender.sent == []


async def test_l2oo_allow_non_finalized_uses_the_safe_head():
    """With allow_non_finalized the safe head is enough."""
    sender = FakeSender()
    d = driver(
        Mode.L2OO,
        FakeRollup(status(safe=20, finalized=9)),
        FakeL1(next_block=10),
        sender,
        allow_non_finalized=True,
    )
    result = await d.tick()
    assert isinstance(result, SendResult)
    assert sender.sent[0].data == c.propose_l2_output_calldata(
        (10).to_bytes(32, "big"), 10, (40).to_bytes(32, "big"), 40
    )


async def test_l2oo_rechecks_readiness_with_the_status_embedded_in_the_output():
    """A stale embedded status (finalized below the block) skips the proposal."""
    sender = FakeSender()
    rollup = FakeRollup(status(safe=20, finalized=15), embedded=status(safe=20, finalized=5))
    d = driver(Mode.L2OO, rollup, FakeL1(next_block=10), sender)
    assert await d.tick() is Skip.NOT_FINALIZED
    assert sender.sent == []


async def test_l2oo_anchors_to_embedded_current_l1_and_waits_for_l1_head():
    """The L1 anchor is the embedded current_l1; the driver waits for head > embedded head_l1 + 1."""
    sender = FakeSender()
    l1 = FakeL1(next_block=10, head=45)
    rollup = FakeRollup(
        status(safe=20, finalized=15), embedded=status(safe=20, finalized=15, head_l1=50, current_l1=33)
    )
    d = driver(Mode.L2OO, rollup, l1, sender)
    await d.tick()
    assert l1.head > 51
    assert sender.sent[0].data == c.propose_l2_output_calldata(
        (10).to_bytes(32, "big"), 10, (33).to_bytes(32, "big"), 33
    )
    assert sender.sent[0].value == 0


async def test_dgf_skips_when_our_game_is_recent_and_counts_the_cutoff_as_recent():
    """A game of our type by us created exactly at now - interval still counts as recent."""
    l1 = FakeL1(games=[(1, 10_000 - 600, b"\x21" * 20, ME)])
    sender = FakeSender()
    d = driver(Mode.DGF, FakeRollup(status(20, 15)), l1, sender, proposal_interval=600.0, game_type=1)
    assert await d.tick() is Skip.RECENT_GAME


async def test_dgf_ignores_games_of_other_types_and_other_creators():
    """Only games of the configured type created by this proposer set the interval."""
    l1 = FakeL1(games=[(1, 9_990, b"\x21" * 20, OTHER), (0, 9_995, b"\x22" * 20, ME)])
    sender = FakeSender()
    d = driver(Mode.DGF, FakeRollup(status(20, 15)), l1, sender, proposal_interval=600.0, game_type=1)
    result = await d.tick()
    assert isinstance(result, SendResult)
    tx = sender.sent[0]
    assert tx.value == 10**16
    assert tx.data == c.create_calldata(1, (15).to_bytes(32, "big"), c.output_extra_data(15))


async def test_dgf_never_duplicates_an_existing_game():
    """A game that already exists (e.g. our create landed after a timeout) is skipped, not re-sent."""
    l1 = FakeL1(existing={(1, (15).to_bytes(32, "big"))})
    sender = FakeSender()
    d = driver(Mode.DGF, FakeRollup(status(20, 15)), l1, sender, proposal_interval=600.0, game_type=1)
    assert await d.tick() is Skip.GAME_EXISTS
    assert sender.sent == []


async def test_dgf_skips_genesis():
    """Nothing is proposed while the finalized head is the genesis block."""
    d = driver(Mode.DGF, FakeRollup(status(0, 0)), FakeL1(), FakeSender(), proposal_interval=60.0)
    assert await d.tick() is Skip.GENESIS


async def test_errors_are_logged_and_retried_next_tick(caplog):
    """A failing RPC does not kill the loop: tick returns None and logs the error."""

    class Broken(FakeRollup):
        async def sync_status(self) -> SyncStatus:
            raise ConnectionError("rollup node down")

    d = driver(Mode.L2OO, Broken(status(1, 1)), FakeL1(), FakeSender())
    assert await d.tick() is None
    assert "Error getting proposal" in caplog.text


async def test_start_stop_can_be_repeated_and_the_restarted_loop_ticks():
    """Unlike Go, stop then start works (the loop ticks again), and a second stop errors clearly."""
    l1 = FakeL1(next_block=10**9)
    d = driver(Mode.L2OO, FakeRollup(status(1, 1)), l1, FakeSender())
    for _ in range(2):
        before = len(l1.calls)
        d.start()
        with pytest.raises(RuntimeError, match="already running"):
            d.start()
        await asyncio.sleep(5.5)  # virtual: five poll intervals of 1 s
        await d.stop()
        assert len(l1.calls) > before, "the loop did not tick"
    with pytest.raises(RuntimeError, match="not running"):
        await d.stop()


async def test_games_without_game_creator_fall_back_to_the_root_claimant():
    """A game whose gameCreator() reverts is attributed by claimData(0).claimant."""
    l1 = FakeL1(games=[(1, 9_990, b"\x21" * 20, ME)], legacy={b"\x21" * 20})
    d = driver(Mode.DGF, FakeRollup(status(20, 15)), l1, FakeSender(), proposal_interval=600.0, game_type=1)
    assert await d.tick() is Skip.RECENT_GAME
    assert c.selector("claimData(uint256)") in l1.calls


async def test_a_transient_error_in_the_creator_lookup_is_not_taken_for_an_old_game():
    """Only a revert selects the claimData fallback; a timeout fails the tick instead."""

    class Slow(FakeL1):
        async def call(self, to: bytes, data: bytes) -> bytes:
            if data[:4] == c.selector("gameCreator()"):
                raise ConnectionError("L1 down")
            return await super().call(to, data)

    l1 = Slow(games=[(1, 9_990, b"\x21" * 20, ME)])
    d = driver(Mode.DGF, FakeRollup(status(20, 15)), l1, FakeSender(), proposal_interval=600.0, game_type=1)
    assert await d.tick() is None
    assert c.selector("claimData(uint256)") not in l1.calls


async def test_ticks_missed_during_a_long_send_collapse_into_one():
    """After a send longer than several intervals the loop re-evaluates at once, not an interval later."""
    d = driver(Mode.L2OO, FakeRollup(status(1, 1)), FakeL1(next_block=10**9), FakeSender())
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks: list[float] = []

    async def slow_tick():
        ticks.append(loop.time() - start)
        if len(ticks) == 1:
            await asyncio.sleep(50.0)  # 50 poll intervals of 1 s
        if len(ticks) == 3:
            d._stopping.set()

    d.tick = slow_tick  # type: ignore[method-assign]
    await d._loop()
    assert ticks == pytest.approx([1.0, 51.0, 52.0]), ticks  # at once after the long tick, then 1 s on
