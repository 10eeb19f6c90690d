"""The batcher driver against hand-written fakes of the rollup node, the L1/L2 clients and the tx manager.

Why fakes and not mocks: each fake is a tiny, stateful stand-in (an L2 chain of blocks whose only tx is a
real L1-info deposit, an L1 that records nothing but its head, a tx manager whose receipts the test
resolves), so the driver runs its real code paths (the real channel manager, channel out, compressor,
span/singular batch encoding) while the test decides when txs confirm or fail. The end-to-end file runs
the same driver against real anvils. Most tests call the step methods (``load_step``, ``publish_step``)
so no real time passes; the loop tests run on a virtual event-loop clock (looptime: it jumps to the next
timer whenever every task waits), so their sleeps and poll intervals cost no wall time. One test measures
the real event loop during a real worker-thread compression and runs on the real clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from dataclasses import replace
from typing import Any

import pytest

from batcher.channels.channel import TxID
from batcher.channels.config import ChannelFlags, DAConfigSelector, build_channel_configs
from batcher.channels.manager import ChannelManager
from batcher.channels.verify import decode_channel_blocks, verify_channel
from batcher.driver import BatchDriver, NotRunning, TxpoolState
from batcher.driver_config import DriverConfig
from batcher.loading.recovery import blocks_with_own_txs, channels_on_l1, find_recent_tx_block
from batcher.metrics import new_batcher_metrics
from batcher.publishing.publisher import calldata_floor_gas
from batcher.throttling.controller import ControllerType, ThrottleConfig
from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.frame import Frame, encode_tx_data, parse_frames
from common.derive.l1_info import L1Info, L1InfoLayout
from common.derive.l2_block import block_from_rpc
from common.derive.sync_status import SyncStatus
from common.rpc.errors import RpcResponseError
from common.rpc.types import Header, Receipt
from common.txmgr.fees import FeeSuggestion
from common.txmgr.queue import TxReceipt
from common.txmgr.send_state import AlreadyReservedError
from common.txmgr.txmgr import SendAbortedError, TxCandidate
from devnet.genesis import BATCH_INBOX_ADDRESS, rollup_config

BATCHER = bytes.fromhex("3c44cdddb6a900fa2b585dd299e03d12fa4293bc")

pytestmark = pytest.mark.looptime

GENESIS_TIME = int(time.time()) - 10_000
L1_BLOCK_TIME = 12


def h(tag: str, n: int) -> bytes:
    return hashlib.sha256(f"{tag}{n}".encode()).digest()


def l1_ref(n: int) -> L1BlockRef:
    return L1BlockRef(h("l1", n), n, h("l1", n - 1), GENESIS_TIME + L1_BLOCK_TIME * n)


ROLLUP = rollup_config(
    genesis_l1=l1_ref(0),
    genesis_l2=BlockID(h("l2", 0), 0),
    genesis_l2_time=GENESIS_TIME,
    block_time=2,
    batcher=BATCHER,
    system_config=b"\x11" * 20,
    isthmus=True,
)


class FakeChain:
    """An L2 chain (deposit-only blocks, 6 per L1 origin), the rollup node's view of it, and an L1 head."""

    def __init__(self, tag: str = "l2") -> None:
        self.tag = tag
        self.blocks: list[dict[str, Any]] = []
        self.safe = 0
        self.l1_head = 3
        self.current_l1 = 3
        self.extend(0)

    def block_hash(self, n: int) -> bytes:
        return ROLLUP.genesis_l2.hash if n == 0 else h(self.tag, n)

    def extend(self, upto: int) -> None:
        for n in range(len(self.blocks), upto + 1):
            origin = n // 6
            info = L1Info(
                number=origin,
                timestamp=l1_ref(origin).timestamp,
                base_fee=10**9,
                hash=l1_ref(origin).hash,
                sequence_number=n % 6,
                batcher_hash=b"\x00" * 12 + BATCHER,
                layout=L1InfoLayout.ISTHMUS,
            )
            parent = bytes.fromhex(self.blocks[n - 1]["hash"][2:]) if n else b"\x00" * 32
            self.blocks.append(
                {
                    "number": hex(n),
                    "hash": "0x" + self.block_hash(n).hex(),
                    "parentHash": "0x" + parent.hex(),
                    "timestamp": hex(GENESIS_TIME + 2 * n),
                    "transactions": [{"type": "0x7e", "input": "0x" + info.encode().hex()}],
                }
            )
        self.l1_head = max(self.l1_head, upto // 6 + 2)
        self.current_l1 = self.l1_head

    def l2_ref(self, n: int) -> L2BlockRef:
        b = block_from_rpc(self.blocks[n], ROLLUP.l2_chain_id)
        return L2BlockRef(b.hash, n, b.parent_hash, b.timestamp, b.l1_origin, b.sequence_number)

    def status(self) -> SyncStatus:
        head = l1_ref(self.l1_head)
        unsafe = self.l2_ref(len(self.blocks) - 1)
        safe = self.l2_ref(self.safe)
        cur = l1_ref(self.current_l1)
        return SyncStatus(cur, head, head, head, head, unsafe, safe, safe, safe, unsafe, safe)


class FakeRollup:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    async def sync_status(self) -> SyncStatus:
        return self.chain.status()


class FakeL2Eth:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.fetched: list[int] = []

    async def block_json(self, block: Any = "latest", *, full_txs: bool = True) -> dict[str, Any]:
        self.fetched.append(int(block))
        return self.chain.blocks[int(block)]


class FakeL2:
    def __init__(self, chain: FakeChain) -> None:
        self.rollup = FakeRollup(chain)
        self.eth = FakeL2Eth(chain)

    async def rollup_client(self) -> FakeRollup:
        return self.rollup

    async def eth_client(self) -> FakeL2Eth:
        return self.eth


class FakeL1:
    """L1 head from the chain; nonces/blocks from a list of (block number, calldata) batcher txs."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.txs: list[tuple[int, bytes]] = []

    async def header(self, block: Any = "latest") -> Header:
        n = self.chain.l1_head
        r = l1_ref(n)
        return Header(n, r.hash, r.parent_hash, r.timestamp, 30_000_000, 0, 10**9, 0, 0)

    async def nonce_at(self, address: bytes | str, block: Any = "latest") -> int:
        n = self.chain.l1_head if block == "latest" else int(block)
        return sum(1 for b, _ in self.txs if b <= n)

    async def block_json(self, block: Any = "latest", *, full_txs: bool = True) -> dict[str, Any]:
        n = int(block)
        txs = [
            {
                "type": "0x2",
                "hash": "0x" + h("tx", i).hex(),
                "from": "0x" + BATCHER.hex(),
                "to": "0x" + BATCH_INBOX_ADDRESS.hex(),
                "input": "0x" + data.hex(),
            }
            for i, (b, data) in enumerate(self.txs)
            if b == n
        ]
        return {
            "hash": "0x" + l1_ref(n).hash.hex(),
            "timestamp": hex(l1_ref(n).timestamp),
            "transactions": txs,
        }

    async def blobs(self, tx_hash: bytes) -> list[bytes]:
        raise NotImplementedError("no blobs here")


class FakeTxMgr:
    """Records candidates; each send's receipt is a future the test resolves (or fails)."""

    def __init__(self) -> None:
        self.sent: list[TxCandidate] = []
        self.results: list[asyncio.Future[Receipt]] = []
        self.cancellations: list[bool] = []
        self.closed = False
        self.from_address = BATCHER

    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]:
        self.sent.append(candidate)
        fut: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self.results.append(fut)

        async def wait() -> Receipt:
            return await fut

        return asyncio.get_running_loop().create_task(wait())

    async def send_cancellation(self, to: bytes, *, blocked_blob: bool) -> Receipt:
        self.cancellations.append(blocked_blob)
        return receipt(99)

    async def suggest_gas_price_caps(self, *, for_blob: bool = False) -> FeeSuggestion:
        return FeeSuggestion(tip=10**9, base_fee=10**9, blob_base_fee=1, blob_tip=10**9)


def receipt(l1_block: int) -> Receipt:
    return Receipt(h("rcpt", l1_block), l1_ref(l1_block).hash, l1_block, 0, 1, 2, 21_000, 21_000, 10**9, None,
                   None, None, ())  # fmt: skip


def make_driver(
    chain: FakeChain,
    *,
    da: str = "calldata",
    max_l1_tx_size: int = 120_000,
    max_pending: int = 1,
    duration: int = 0,
    batch_type: int = 0,
    throttle: ThrottleConfig | None = None,
    throttle_call: Any = None,
    close_app: Any = None,
    channel_out_factory: Any = None,
) -> tuple[BatchDriver, FakeL1, FakeL2, FakeTxMgr]:
    flags = ChannelFlags(
        da_type=da, max_l1_tx_size_bytes=max_l1_tx_size, max_channel_duration=duration, batch_type=batch_type,
        sub_safety_margin=4,
    )  # fmt: skip
    configs = build_channel_configs(ROLLUP, flags, now=int(time.time()))
    l1, l2, txmgr = FakeL1(chain), FakeL2(chain), FakeTxMgr()
    cfg = DriverConfig(
        poll_interval=0.01,
        max_pending_tx=max_pending,
        is_auto_da=configs.is_auto,
        throttle=throttle or ThrottleConfig(lower_threshold=0),
        throttle_controller=ControllerType.STEP,
        throttle_endpoints=("http://a", "http://b"),
        drain_timeout=1.0,
    )
    driver = BatchDriver(
        cfg, rollup=ROLLUP, l1=l1, l2=l2, txmgr=txmgr,
        manager=ChannelManager(ROLLUP, DAConfigSelector(configs), channel_out_factory=channel_out_factory),
        metrics=new_batcher_metrics(process_collectors=False),
        throttle_call=throttle_call, close_app=close_app,
    )  # fmt: skip
    return driver, l1, l2, txmgr


def queued(driver: BatchDriver) -> list[tuple[TxID, TxCandidate]]:
    """Candidates the state task handed to the sender task (drained)."""
    out = []
    while not driver._to_send.empty():
        out.append(driver._to_send.get_nowait())
    return out


def metric(driver: BatchDriver, name: str, labels: dict[str, str] | None = None) -> float:
    return driver.metrics.factory.value(name, labels) or 0.0


async def test_a_tick_loads_the_unsafe_blocks_and_a_flush_queues_one_verified_calldata_tx():
    """Blocks safe+1..unsafe are loaded; the calldata tx decodes back to exactly those blocks."""
    chain = FakeChain()
    chain.extend(10)
    driver, _, l2, _ = make_driver(chain)
    await driver.load_step()
    assert sorted(l2.eth.fetched) == list(range(1, 11))
    assert [b.number for b in driver.mgr.blocks] == list(range(1, 11))
    assert await driver.publish_step(force=True) == 1
    [(tx_id, cand)] = queued(driver)
    assert cand.to == BATCH_INBOX_ADDRESS and not cand.blobs
    assert cand.gas_limit == calldata_floor_gas(cand.data)
    frames = parse_frames(cand.data)
    decoded = decode_channel_blocks(frames, ROLLUP, GENESIS_TIME + 100)
    assert [d.timestamp for d in decoded] == [GENESIS_TIME + 2 * n for n in range(1, 11)]
    assert tx_id.channel_id == frames[0].channel_id


class SlowCloseOut:
    """A real channel out whose closing compression takes ``delay`` seconds without holding the GIL.

    Stands in for the one exact brotli-10 compression of a multi-blob span channel (1-3 s; zlib and
    brotli release the GIL like ``time.sleep`` does), which the fake chain's tiny blocks cannot cost.
    """

    def __init__(self, inner: Any, delay: float) -> None:
        self._inner = inner
        self._delay = delay

    def close(self) -> None:
        time.sleep(self._delay)
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.looptime(False)  # measures the real event loop while a real thread works
async def test_the_event_loop_keeps_running_while_a_channel_is_compressed():
    """publish_step runs the channel fill and compression in a worker thread: other tasks (the RPC
    server, receipts) are served throughout a 1 s compression."""
    from batcher.channels.manager import _default_channel_out

    def slow(cfg: Any, rollup: Any, cid: bytes) -> Any:
        return SlowCloseOut(_default_channel_out(cfg, rollup, cid), 1.0)

    chain = FakeChain()
    chain.extend(12)
    driver, *_ = make_driver(chain, channel_out_factory=slow)
    await driver.load_step()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        assert await driver.publish_step(force=True) == 1
    finally:
        task.cancel()
    assert time.perf_counter() - started >= 1.0
    assert len(gaps) > 50 and max(gaps) < 0.25, max(gaps)
    print(f"1 s compression: {len(gaps)} ticks, max event-loop gap {max(gaps) * 1000:.0f} ms")
    [(_, cand)] = queued(driver)
    assert len(decode_channel_blocks(parse_frames(cand.data), ROLLUP, GENESIS_TIME + 100)) == 12


async def test_max_pending_tx_holds_back_the_next_frame_until_a_receipt_arrives():
    """With max-pending-tx 1 only one tx is out; its confirmation releases the next frame, in order."""
    chain = FakeChain()
    chain.extend(12)
    driver, _, _, _ = make_driver(chain, max_l1_tx_size=300)
    await driver.load_step()
    assert await driver.publish_step(force=True) == 1
    [(first, _)] = queued(driver)
    assert await driver.publish_step() == 0
    driver._on_receipt(TxReceipt(first, receipt(4), None))
    assert await driver.publish_step() == 1
    [(second, _)] = queued(driver)
    assert second != first
    assert metric(driver, "op_batcher_default_batcher_tx_total", {"stage": "success"}) == 1


async def test_a_failed_tx_makes_the_driver_send_the_same_frame_again():
    """A send failure rewinds the channel: the next tx carries the failed tx's frame."""
    chain = FakeChain()
    chain.extend(12)
    driver, _, _, _ = make_driver(chain, max_l1_tx_size=300)
    await driver.load_step()
    await driver.publish_step(force=True)
    [(first, cand)] = queued(driver)
    driver._on_receipt(TxReceipt(first, None, RuntimeError("boom")))
    assert metric(driver, "op_batcher_default_batcher_tx_total", {"stage": "failed"}) == 1
    assert await driver.publish_step() == 1
    [(again, cand2)] = queued(driver)
    assert (again.channel_id, again.first_frame) == (first.channel_id, first.first_frame)
    assert cand2.data == cand.data


async def test_an_l2_reorg_clears_the_state_and_reloads_from_the_safe_head():
    """A loaded block whose parent is not the tip clears the state (no tx goes out for the old chain)."""
    chain = FakeChain()
    chain.extend(8)
    driver, _, _, _ = make_driver(chain)
    await driver.load_step()
    assert len(driver.mgr.blocks) == 8
    fork = FakeChain("fork")
    fork.blocks = chain.blocks[:6]
    fork.extend(12)
    chain.blocks = fork.blocks
    chain.tag = "fork"
    await driver.load_step()
    # blocks 6..8 changed under us: the tip's hash no longer matches and sync actions or the reorg check reset
    await driver.load_step()
    numbers = [b.number for b in driver.mgr.blocks]
    assert numbers == list(range(1, 13))
    assert driver.mgr.blocks[-1].hash == h("fork", 12)


async def test_an_already_reserved_nonce_sends_one_cancellation_of_the_other_kind_before_publishing_again():
    """geth's blob/non-blob conflict: publishing stops, a cancellation goes out, then publishing resumes."""
    chain = FakeChain()
    chain.extend(6)
    driver, _, _, txmgr = make_driver(chain, max_l1_tx_size=300)
    await driver.load_step()
    await driver.publish_step(force=True)
    [(first, _)] = queued(driver)
    err = SendAbortedError(AlreadyReservedError("address already reserved"))
    driver._on_receipt(TxReceipt(first, None, err))
    assert driver._txpool is TxpoolState.BLOCKED
    assert await driver.publish_step() == 0
    await asyncio.sleep(0.01)
    assert txmgr.cancellations == [False]  # the refused tx was calldata: a blob tx is stuck
    assert await driver.publish_step() == 0
    assert txmgr.cancellations == [False]


async def test_a_channel_past_its_sequencing_window_is_held_back_with_an_alert():
    """If the batch would land after its window, nothing is sent and the expiry counter moves."""
    chain = FakeChain()
    chain.extend(6)
    driver, _, _, _ = make_driver(chain)
    await driver.load_step()
    chain.l1_head = ROLLUP.seq_window_size + 5
    assert await driver.publish_step(force=True) == 0
    assert queued(driver) == []
    assert metric(driver, "op_batcher_default_seq_window_expired_total") >= 1


async def test_the_running_loops_post_after_a_flush_and_stop_waits_for_the_in_flight_tx():
    """A started driver posts nothing without a deadline; a flush posts; stop waits for the receipt."""
    chain = FakeChain()
    chain.extend(6)
    driver, _, _, txmgr = make_driver(chain)
    with pytest.raises(NotRunning, match="batcher is not running"):
        await driver.stop()
    await driver.start()
    with pytest.raises(RuntimeError, match="batcher is already running"):
        await driver.start()
    await asyncio.sleep(0.1)
    assert txmgr.sent == []
    driver.flush()
    for _ in range(100):
        if txmgr.sent:
            break
        await asyncio.sleep(0.01)
    assert len(txmgr.sent) == 1
    txmgr.results[0].set_result(receipt(4))
    await driver.stop()
    assert not driver.running
    assert metric(driver, "op_batcher_default_batcher_tx_total", {"stage": "success"}) == 1


async def test_throttling_reaches_every_endpoint_and_a_method_not_found_error_shuts_the_service_down():
    """Each endpoint gets miner_setMaxDASize; JSON-RPC -32601 from one asks the app to close."""
    chain = FakeChain()
    chain.extend(30)
    calls: list[tuple[str, int, int]] = []
    closed: list[BaseException | None] = []

    async def throttle_call(ep: str, max_tx: int, max_block: int) -> bool:
        calls.append((ep, max_tx, max_block))
        if ep == "http://b":
            raise RpcResponseError(-32601, "the method miner_setMaxDASize does not exist", endpoint=ep,
                                   method="miner_setMaxDASize")  # fmt: skip
        return True

    driver, *_ = make_driver(
        chain, throttle=ThrottleConfig(lower_threshold=1, upper_threshold=10**9),
        throttle_call=throttle_call, close_app=closed.append,
    )  # fmt: skip
    await driver.start()
    for _ in range(200):
        if closed and any(c[0] == "http://a" for c in calls):
            break
        await asyncio.sleep(0.01)
    await driver.stop()
    assert {c[0] for c in calls} == {"http://a", "http://b"}
    assert calls[0][1] == 150 and calls[0][2] == 2000  # step controller at intensity 1: the lower limits
    assert closed and "miner_setMaxDASize unavailable at http://b" in str(closed[0])
    assert metric(driver, "op_batcher_default_throttle_intensity", {"type": "step"}) == 1


# ---- recovery helpers -------------------------------------------------------------------------------------


class NonceChain:
    def __init__(self, tx_blocks: list[int]) -> None:
        self.tx_blocks = tx_blocks
        self.calls = 0

    async def nonce_at(self, address: bytes | str, block: Any = "latest") -> int:
        self.calls += 1
        return sum(1 for b in self.tx_blocks if b <= int(block))


async def test_the_nonce_search_finds_the_newest_block_with_a_batcher_tx_or_reports_none():
    """Go §4.11: target = first block whose nonce equals the head's; none in range => head - depth."""
    assert await find_recent_tx_block(NonceChain([5, 90, 97]), BATCHER, 100, 10) == (97, True)
    assert await find_recent_tx_block(NonceChain([5]), BATCHER, 100, 10) == (90, False)


async def test_bisecting_on_the_nonce_finds_every_block_with_own_txs_in_few_calls():
    """k blocks with txs among 1000 cost O(k log n) nonce reads, not 1000."""
    chain = NonceChain([3, 400, 401, 999])
    assert await blocks_with_own_txs(chain, BATCHER, 1, 1000) == [3, 400, 401, 999]
    assert chain.calls < 100


async def test_channels_already_on_l1_are_found_and_summarised_by_block_range():
    """A complete channel posted as two calldata txs is decoded back to its first/last L2 block."""
    chain = FakeChain()
    chain.extend(12)
    driver, l1, _, _ = make_driver(chain, max_l1_tx_size=300)
    await driver.load_step()
    await driver.publish_step(force=True)
    datas = []
    while True:
        q = queued(driver)
        if not q:
            break
        datas.append(q[0][1].data)
        driver._on_receipt(TxReceipt(q[0][0], receipt(4), None))
        await driver.publish_step(force=True)
    assert len(datas) >= 2
    l1.txs = [(5 + i, d) for i, d in enumerate(datas)]
    found = await channels_on_l1(l1, ROLLUP, BATCHER, 1, 5 + len(datas), None)
    assert found.skipped == []
    chans = found.channels
    assert chans[0].first_block == 1 and chans[-1].last_block == 12
    assert all(a.last_block + 1 == b.first_block for a, b in itertools.pairwise(chans))
    assert chans[0].parent_check == ROLLUP.genesis_l2.hash
    l1.txs.append((30, encode_tx_data([Frame(b"\x07" * 16, 0, b"partial", False)])))
    partial = await channels_on_l1(l1, ROLLUP, BATCHER, 1, 40, None)
    assert partial.channels == chans
    assert len(partial.skipped) == 1 and "incomplete" in partial.skipped[0]


async def test_verification_rejects_frames_that_do_not_decode_to_the_blocks_put_in():
    """Frames of one channel checked against another channel's blocks fail; against their own, pass."""
    chain = FakeChain()
    chain.extend(8)
    driver, _, _, _ = make_driver(chain)
    await driver.load_step()
    await driver.publish_step(force=True)
    [ch] = driver.mgr.channels
    assert verify_channel(ch.frames, ch.blocks, ROLLUP) is None
    assert "decodes to 8 blocks, 7 were put in" in (verify_channel(ch.frames, ch.blocks[1:], ROLLUP) or "")
    f = ch.frames[0]
    mid = len(f.data) // 2
    bad = [Frame(f.channel_id, 0, f.data[:mid] + bytes([f.data[mid] ^ 0xFF]) + f.data[mid + 1 :], True)]
    assert verify_channel(bad, ch.blocks, ROLLUP) is not None


@pytest.mark.parametrize(("blob_base_fee", "expect_blobs"), [(1, True), (10**15, False)])
async def test_auto_da_posts_blobs_when_cheap_and_calldata_when_blob_gas_is_dear(blob_base_fee, expect_blobs):
    """auto: the first tx of a channel follows the cheaper DA at the current gas prices."""
    chain = FakeChain()
    chain.extend(6)
    driver, _, _, txmgr = make_driver(chain, da="auto")

    async def prices(*, for_blob: bool = False) -> FeeSuggestion:
        return FeeSuggestion(tip=10**9, base_fee=10**9, blob_base_fee=blob_base_fee, blob_tip=10**9)

    txmgr.suggest_gas_price_caps = prices  # type: ignore[method-assign]
    await driver.load_step()
    assert await driver.publish_step(force=True) == 1
    [(_, cand)] = queued(driver)
    assert bool(cand.blobs) is expect_blobs
    if expect_blobs:
        assert cand.data == b"" and cand.gas_limit == 21_000
    else:
        assert cand.gas_limit == calldata_floor_gas(cand.data)


async def test_wait_node_sync_waits_until_the_node_has_read_the_batchers_latest_l1_tx():
    """check-recent-txs-depth: the target is the block of the newest own tx, reached by current_l1."""
    chain = FakeChain()
    chain.extend(6)
    driver, l1, _, _ = make_driver(chain)
    loader = driver.loader
    loader.cfg = replace(loader.cfg, check_recent_txs_depth=10, node_sync_poll_interval=0.01)
    chain.l1_head = 20
    l1.txs = [(14, b"x")]
    chain.current_l1 = 12
    task = asyncio.create_task(loader.wait_node_sync())
    await asyncio.sleep(0.05)
    assert not task.done()
    chain.current_l1 = 14
    await asyncio.wait_for(task, 1.0)


async def test_admin_rpc_methods_follow_gos_errors_and_shapes():
    """admin_* over the JSON-RPC dispatcher: not-running errors, throttle get/set/reset."""
    from batcher.admin import register_admin
    from common.service.rpc_server import RpcServer

    chain = FakeChain()
    driver, *_ = make_driver(chain)
    server = RpcServer("127.0.0.1", 0, "v-test", enable_admin=True)
    register_admin(server, driver, {})

    async def call(method: str, *params: Any) -> dict[str, Any]:
        reply = await server.handle_message(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        assert reply is not None
        return reply

    assert (await call("admin_flushBatcher"))["error"]["message"] == "batcher is not running"
    assert (await call("admin_stopBatcher"))["error"]["message"] == "batcher is not running"
    got = (await call("admin_getThrottleController"))["result"]
    assert got["type"] == "step" and got["max_tx_size"] == 0 and got["current_load"] == 0
    err = (await call("admin_setThrottleController", "bogus", None))["error"]["message"]
    assert err == "invalid controller type 'bogus', must be one of: [step linear quadratic pid]"
    assert "result" in await call("admin_setThrottleController", "linear", None)
    assert (await call("admin_getThrottleController"))["result"]["type"] == "linear"
    assert "result" in await call("admin_resetThrottleController")
    assert metric(driver, "op_batcher_default_throttle_controller_type", {"type": "linear"}) == 1


async def test_a_second_flush_while_one_is_pending_is_dropped_with_gos_warning(caplog):
    """Go's 1-slot publish signal: a flush arriving before the previous one was handled is skipped."""
    chain = FakeChain()
    driver, *_ = make_driver(chain)
    driver._running = True  # the loops are not needed: only the inbox is observed
    driver.flush()
    driver.flush()
    assert driver._inbox.qsize() == 1
    assert "publishSignal channel is full, skipping signal" in caplog.text


async def test_after_a_restart_blocks_already_batched_on_l1_are_not_posted_again():
    """A new driver reads its own L1 txs past the node's current L1 and posts only the newer blocks."""
    chain = FakeChain()
    chain.extend(12)
    first, _, _, _ = make_driver(chain, max_l1_tx_size=300)
    await first.load_step()
    datas = []
    await first.publish_step(force=True)
    while q := queued(first):
        datas.append(q[0][1].data)
        first._on_receipt(TxReceipt(q[0][0], receipt(4), None))
        await first.publish_step(force=True)
    chain.l1_head = 5 + len(datas)
    chain.current_l1 = 4  # the rollup node has not read the batcher's txs yet
    second, l1b, _, _ = make_driver(chain, max_l1_tx_size=300)
    l1b.txs = [(5 + i, d) for i, d in enumerate(datas)]
    await second.load_step()
    assert metric(second, "op_batcher_default_blocks_recovered_total") == 12
    assert await second.publish_step(force=True) == 0
    chain.extend(13)
    chain.l1_head, chain.current_l1 = 5 + len(datas), 4
    await second.load_step()
    assert await second.publish_step(force=True) == 1
    [(_, cand)] = queued(second)
    decoded = decode_channel_blocks(parse_frames(cand.data), ROLLUP, GENESIS_TIME + 100)
    assert [d.timestamp for d in decoded] == [GENESIS_TIME + 26]


async def test_the_running_loop_returns_to_publishing_once_the_cancellation_tx_is_done():
    """Blocked -> cancellation sent -> its result arrives -> the next frame goes out again."""
    chain = FakeChain()
    chain.extend(6)
    driver, _, _, txmgr = make_driver(chain)
    await driver.start()
    try:
        await asyncio.sleep(0.1)  # let the first tick load the blocks
        driver.flush()
        for _ in range(100):
            if txmgr.sent:
                break
            await asyncio.sleep(0.01)
        txmgr.results[0].set_exception(SendAbortedError(AlreadyReservedError("address already reserved")))
        for _ in range(200):
            if txmgr.cancellations and len(txmgr.sent) == 2:
                break
            await asyncio.sleep(0.01)
        assert txmgr.cancellations == [False]
        assert len(txmgr.sent) == 2 and txmgr.sent[1].data == txmgr.sent[0].data
        assert driver._txpool is TxpoolState.GOOD
        txmgr.results[1].set_result(receipt(5))
    finally:
        await driver.stop()


async def test_a_refused_max_da_size_is_retried_and_a_newer_limit_replaces_the_old_one():
    """miner_setMaxDASize answering false is retried; the endpoint task always sends the latest limits."""
    chain = FakeChain()
    calls: list[tuple[int, int]] = []
    answers = iter([False])

    async def throttle_call(ep: str, max_tx: int, max_block: int) -> bool:
        calls.append((max_tx, max_block))
        return next(answers, True)

    driver, *_ = make_driver(chain, throttle=ThrottleConfig(lower_threshold=1000, upper_threshold=10**6),
                             throttle_call=throttle_call)  # fmt: skip
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    task = asyncio.create_task(driver.throttling.endpoint_loop("http://a", queue))
    try:
        queue.put_nowait(driver.apply_throttle(10))  # below threshold: idle limits
        for _ in range(50):
            if calls:
                break
            await asyncio.sleep(0.01)
        queue.put_nowait(driver.apply_throttle(10**6))  # refused call is retried with the newer value
        for _ in range(50):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert calls[0] == (0, 130_000)
    assert calls[1] == (150, 2_000)


async def test_pending_da_gauge_is_set_by_the_state_task_not_computed_by_a_scrape():
    """pending_da_bytes follows the steps that change the block queue; a scrape only reads the last value."""
    name = "op_batcher_default_pending_da_bytes"
    chain = FakeChain()
    chain.extend(10)
    driver, *_ = make_driver(chain)
    driver.cfg = driver.loader.cfg = replace(driver.cfg, pending_da_gauge=True)
    await driver.load_step()
    expected = sum(b.da_size_estimate for b in driver.mgr.blocks)
    assert expected > 0 and metric(driver, name) == expected == driver.mgr.pending_da_bytes
    driver.mgr.clear(BlockID(b"\x00" * 32, 0))  # a change no step made: a scrape still reads the last value
    assert driver.mgr.pending_da_bytes == 0 and metric(driver, name) == expected
    await driver.publish_step()
    assert metric(driver, name) == 0
