"""TxManager under faults anvil cannot produce, injected by tests/faulty_rpc.py in front of a real anvil.

Mocked here (and only here): geth's tx-pool replacement and reservation rules, fee spikes, RPC errors,
time-outs and dropped connections. Everything else (signing, mining, receipts) is the real anvil.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from common.derive.blob import encode_blob
from common.rpc.eth import EthClient
from common.service.exposition import go_exposition
from common.txmgr.api import txmgr_api
from common.txmgr.metrics import TxMetrics
from common.txmgr.nonce_gaps import lost_nonces
from common.txmgr.send_state import AlreadyReservedError, MempoolDeadlineError, NonceTooLowError, SendState
from common.txmgr.txmgr import (
    CraftError,
    SendAbortedError,
    SendTimeoutError,
    TransientPublishError,
    TxCandidate,
    TxManager,
    TxManagerClosedError,
)
from devnet.anvil import AnvilNode
from tests.faulty_rpc import FaultyRpc
from tests.test_txmgr_anvil import (
    BLOB_TIMEOUT,
    CHAIN_ID,
    INBOX,
    dev_signer,
    fast_config,
    logged,
    mine_while,
    shared_anvil,
    wait_for,
)

pytestmark = pytest.mark.integration
GWEI = 10**9


@pytest.fixture(scope="module")
def anvil() -> AnvilNode:
    return shared_anvil("prague")


class Env:
    def __init__(
        self, node: AnvilNode, proxy: FaultyRpc, mgr: TxManager, registry: CollectorRegistry
    ) -> None:
        self.node, self.proxy, self.mgr, self.registry = node, proxy, mgr, registry

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(f"op_batcher_default_txmgr_{name}", labels or None)
        return 0.0 if value is None else value

    def automine(self, on: bool) -> None:
        self.node.call("evm_setAutomine", [on])


@asynccontextmanager
async def env(node: AnvilNode, account: int, *, craft_retries: int = 3, **cfg: Any) -> AsyncIterator[Env]:
    signer = dev_signer(account)
    node.call("anvil_setBalance", ["0x" + signer.address.hex(), hex(10**21)])  # beyond anvil's 10 funded keys
    proxy = FaultyRpc(node.url)
    url = await proxy.start()
    eth = EthClient(url, timeout=5.0, retries=0)
    registry = CollectorRegistry()
    mgr = TxManager(
        fast_config(url, **{"num_confirmations": 1, **cfg}),
        eth,
        signer,
        TxMetrics("op_batcher_default", registry),
        chain_id=CHAIN_ID,
        craft_retries=craft_retries,
        craft_retry_interval=0.05,
    )
    e = Env(node, proxy, mgr, registry)
    try:
        yield e
    finally:
        mgr.close()
        e.automine(True)
        await eth.close()
        await proxy.stop()


async def accepted_count(proxy: FaultyRpc, n: int, limit: float = 15.0) -> None:
    async def enough() -> bool:
        return len(proxy.accepted) >= n

    await wait_for(enough, limit)


async def test_calldata_bumps_meet_geths_ten_percent_rule(anvil):
    """While unmined, each resubmission raises tip and fee cap by at least 10 %; geth's pool never refuses."""
    async with env(anvil, 10) as e:
        e.automine(False)
        task = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, data=b"\x00bump")))
        await accepted_count(e.proxy, 3)
        e.automine(True)
        receipt = await mine_while(anvil, task)
        versions = {t.hash: t for t in e.proxy.accepted}
        ordered = sorted(versions.values(), key=lambda t: t.fees.tip)
        assert len(ordered) >= 2, "no bump happened"
        for old, new in itertools.pairwise(ordered):
            assert (
                new.fees.tip * 100 >= old.fees.tip * 110 and new.fees.fee_cap * 100 >= old.fees.fee_cap * 110
            )
        assert [why for _tx, why in e.proxy.rejected if why != "already known"] == []  # rebroadcasts
        assert receipt.transaction_hash in versions
        assert e.metric("tx_gas_bump") >= 1


async def test_underpriced_reply_bumps_immediately_not_after_resubmission_timeout(anvil):
    """``replacement transaction underpriced`` makes the loop bump and re-send at once."""
    async with env(anvil, 12, resubmission_timeout=30.0) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "replacement transaction underpriced")
        start = time.monotonic()
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00under"))
        assert time.monotonic() - start < 5.0
        assert e.metric("tx_publish_error_count", error="tx_replacement_underpriced") == 1
        tx = e.proxy.accepted[-1]
        assert tx.hash == receipt.transaction_hash
        assert tx.fees.tip >= GWEI * 110 // 100


async def test_tip_spike_above_max_tip_cap_fails_crafting_with_go_text(anvil):
    """A suggested tip above --txmgr.max-tip-cap fails every craft attempt; the nonce is not consumed."""
    async with env(anvil, 14, max_tip_cap=100 * GWEI) as e:
        e.proxy.set_tip(500 * GWEI)
        with pytest.raises(
            CraftError, match=f"failed to create the tx: .*tip is too high: {500 * GWEI}, cap:"
        ):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00spike"))
        assert e.proxy.calls["eth_maxPriorityFeePerGas"] == 3
        e.proxy.set_tip(None)
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00calm"))
        assert receipt.status == 1


async def test_bump_over_the_fee_multiplier_fails_and_the_old_tx_is_resent(anvil):
    """Crafted at a 300 gwei spike, the market falls back: the bump is refused, the same tx is re-sent."""
    async with env(anvil, 15) as e:
        e.automine(False)
        e.proxy.set_tip(300 * GWEI)
        task = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, data=b"\x00cap")))
        await accepted_count(e.proxy, 1)
        e.proxy.set_tip(None)

        async def bump_failed() -> bool:
            return e.metric("tx_publish_error_count", error="bump_failed") >= 2

        await wait_for(bump_failed)
        e.automine(True)
        receipt = await mine_while(anvil, task)
        assert {t.hash for t in e.proxy.accepted} == {receipt.transaction_hash}
        assert e.proxy.accepted[0].fees.tip == 300 * GWEI


async def test_receipt_query_timeouts_are_counted_and_survived(anvil):
    """Receipt polls that time out count as RPC errors; the send still confirms."""
    async with env(anvil, 16, network_timeout=0.3) as e:
        e.proxy.delay("eth_getTransactionReceipt", 1.0, times=3)
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00slow"))
        assert receipt.status == 1
        assert e.metric("rpc_error_count") >= 3


async def test_dropped_connection_on_publish_is_retried_at_the_next_tick(anvil):
    """A connection closed mid-request is an unknown publish error; the next resubmission goes through."""
    async with env(anvil, 17) as e:
        e.proxy.drop_connection("eth_sendRawTransaction")
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00drop"))
        assert receipt.status == 1
        assert e.metric("tx_publish_error_count", error="unknown_error") == 1
        assert e.proxy.calls["eth_sendRawTransaction"] >= 2


async def test_publish_answered_after_the_network_timeout_is_watched_and_confirms(anvil):
    """The node takes the tx but answers too late: the send watches it, re-sends it and confirms it.

    Before, the time-out counted as "not published", the bump met "nonce too low" and the send aborted
    although the tx was mined (anvil's slow first blob tx). Timings make the re-send beat the receipt poll.
    """
    async with env(
        anvil,
        28,
        network_timeout=0.5,
        resubmission_timeout=0.3,
        rebroadcast_interval=0.3,
        receipt_query_interval=0.6,
    ) as e:
        e.proxy.delay_reply("eth_sendRawTransaction", 1.5)
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00late reply"))
        first = e.proxy.accepted[0]
        assert receipt.status == 1 and receipt.transaction_hash == first.hash
        assert e.proxy.calls["eth_sendRawTransaction"] >= 2, "the possibly published tx was not re-sent"
        assert {t.hash for t in e.proxy.accepted} == {first.hash}, "a bump reached the pool"
        assert e.metric("tx_publish_error_count", error="unknown_error") == 1


async def test_possibly_published_tx_left_unmined_is_rebroadcast_then_bumped(anvil):
    """Without mining, a tx sent without an answer is re-sent ("already known"), then bumped as usual."""
    async with env(anvil, 29, network_timeout=0.5, resubmission_timeout=0.4, rebroadcast_interval=0.3) as e:
        e.automine(False)
        e.proxy.delay_reply("eth_sendRawTransaction", 1.0)
        task = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, data=b"\x00doubt")))

        async def bumped() -> bool:
            return len({t.hash for t in e.proxy.accepted}) >= 2

        await wait_for(bumped)
        assert [why for _tx, why in e.proxy.rejected][:1] == ["already known"]
        e.automine(True)
        receipt = await mine_while(anvil, task)
        assert receipt.status == 1


async def test_nonce_too_high_is_retried_after_retry_interval(anvil):
    """Two ``nonce too high`` replies are retried every retry-interval, then the tx is published."""
    async with env(anvil, 18, retry_interval=0.2, resubmission_timeout=30.0, rebroadcast_interval=30.0) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "nonce too high", times=2)
        start = time.monotonic()
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00gap"))
        assert receipt.status == 1
        assert e.proxy.calls["eth_sendRawTransaction"] == 3
        assert 0.4 <= time.monotonic() - start < 10.0
        assert e.metric("tx_publish_error_count", error="nonce_too_high") == 2


async def test_nonce_too_high_beyond_max_retries_fails_the_send(anvil):
    """With max-retries 2 the third consecutive ``nonce too high`` ends the send with that error."""
    async with env(anvil, 19, retry_interval=0.05, max_retries=2, resubmission_timeout=30.0) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "nonce too high", times=None)
        with pytest.raises(TransientPublishError, match="nonce too high"):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00gap"))
        assert e.proxy.calls["eth_sendRawTransaction"] == 3


async def test_never_reaching_the_mempool_aborts_after_not_in_mempool_timeout(anvil):
    """Every publish fails: after tx-not-in-mempool-timeout the send aborts with Go's text."""
    async with env(anvil, 20, tx_not_in_mempool_timeout=1.0, resubmission_timeout=0.3) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "internal error", times=None)
        start = time.monotonic()
        with pytest.raises(SendAbortedError, match="failed to get tx into the mempool"):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00never"))
        assert time.monotonic() - start >= 1.0


async def test_custom_already_published_error_counts_as_published(anvil):
    """An error containing an already-published-custom-errs substring is a successful publish."""
    async with env(anvil, 21, already_published_custom_errs=("tx already in pool",)) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "rpc: tx already in pool (custom)", forward=True)
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00custom"))
        assert receipt.status == 1
        assert e.metric("tx_publish_error_count", error="unknown_error") == 0
        assert e.metric("publish_total") >= 1


async def test_send_timeout_ends_the_send_and_resets_the_nonce(anvil):
    """With txmgr.send-timeout 1 s and no mining, send fails after ~1 s and the nonce cache is cleared."""
    async with env(anvil, 22, tx_send_timeout=1.0) as e:
        e.automine(False)
        start = time.monotonic()
        with pytest.raises(SendTimeoutError, match="context deadline exceeded"):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00late"))
        assert 1.0 <= time.monotonic() - start < 3.0
        assert e.mgr._nonce is None


async def test_close_stops_a_send_that_is_not_mined(anvil):
    """close() makes a pending, unmined send stop promptly with "transaction manager is closed"."""
    async with env(anvil, 23, resubmission_timeout=30.0, rebroadcast_interval=30.0) as e:
        e.automine(False)
        task = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, data=b"\x00close")))
        await accepted_count(e.proxy, 1)
        start = time.monotonic()
        e.mgr.close()
        with pytest.raises(TxManagerClosedError, match="transaction manager is closed"):
            await task
        assert time.monotonic() - start < 1.0
        with pytest.raises(TxManagerClosedError):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00after"))


async def test_admin_api_min_priority_fee_raises_the_next_tip_and_metrics_use_go_names(anvil):
    """txmgr_setMinPriorityFee (JSON number, wei) applies to the next tx; series carry the Go names."""
    async with env(anvil, 24) as e:
        api = txmgr_api(e.mgr)
        assert await api["txmgr_getMinPriorityFee"]() == GWEI
        await api["txmgr_setMinPriorityFee"](3 * GWEI)
        assert await api["txmgr_getMinPriorityFee"]() == 3 * GWEI
        await api["txmgr_setBumpFeeRetryTime"](2_000_000_000)
        assert await api["txmgr_getBumpFeeRetryTime"]() == 2_000_000_000
        assert e.mgr.resubmission_timeout == 2.0
        await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00api"))
        assert e.proxy.accepted[-1].fees.tip == 3 * GWEI
        text = go_exposition(e.registry).decode()
        for series in (
            "publish_total 1\n",
            'confirm_total{status="success"} 1\n',
            "current_nonce",
            "tx_fee_gwei_total",
            "pending_txs 0\n",
            "tipcap_wei",
            "basefee_wei",
        ):
            assert f"op_batcher_default_txmgr_{series}" in text, series
        assert "op_batcher_default_txmgr_tx_publish_error_count_total" not in text


@pytest.mark.slow
async def test_blob_bumps_double_all_three_fees(anvil):
    """Blob replacements pay at least 2x tip, fee cap and blob fee cap (geth's +100 % rule)."""
    blob = encode_blob(b"\x00blob bump")
    async with env(anvil, 11, network_timeout=BLOB_TIMEOUT) as e:
        e.automine(False)
        task = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, blobs=(blob,))))
        await wait_for(lambda: _distinct_versions(e.proxy, 2), 40.0)
        e.automine(True)
        receipt = await mine_while(anvil, task)
        versions = sorted({t.hash: t for t in e.proxy.accepted}.values(), key=lambda t: t.fees.blob_fee_cap)
        for old, new in itertools.pairwise(versions):
            assert new.fees.tip >= 2 * old.fees.tip and new.fees.fee_cap >= 2 * old.fees.fee_cap
            assert new.fees.blob_fee_cap >= 2 * old.fees.blob_fee_cap
        assert [why for _tx, why in e.proxy.rejected if why != "already known"] == []  # rebroadcasts
        assert receipt.type == 3


async def _distinct_versions(proxy: FaultyRpc, n: int) -> bool:
    return len({t.hash for t in proxy.accepted}) >= n


@pytest.mark.slow
async def test_already_reserved_aborts_and_cancellation_tx_unblocks_the_account(anvil):
    """A stuck calldata tx blocks a blob tx ("address already reserved"); the cancellation replaces it."""
    async with env(anvil, 13, network_timeout=BLOB_TIMEOUT) as e:
        e.automine(False)
        stuck = asyncio.create_task(e.mgr.send(TxCandidate(to=INBOX, data=b"\x00stuck")))
        await accepted_count(e.proxy, 1)
        stuck.cancel()  # the sender gave up; the tx stays in the pool
        with pytest.raises(asyncio.CancelledError):
            await stuck
        blob = encode_blob(b"\x00blocked")
        with pytest.raises(SendAbortedError, match="address already reserved") as info:
            await e.mgr.send(TxCandidate(to=INBOX, blobs=(blob,)))
        assert info.value.already_reserved
        assert e.metric("tx_publish_error_count", error="pending_tx_of_incompatible_type") == 1
        cancel = asyncio.create_task(e.mgr.send_cancellation(INBOX, blocked_blob=True))
        nonce = e.proxy.accepted[0].nonce
        await wait_for(lambda: _has_versions_at(e.proxy, nonce, 2))
        e.automine(True)
        receipt = await mine_while(anvil, cancel)
        mined = anvil.call("eth_getTransactionByHash", ["0x" + receipt.transaction_hash.hex()])
        assert isinstance(mined, dict) and int(mined["nonce"], 16) == nonce and mined["input"] == "0x"
        assert (await e.mgr.send(TxCandidate(to=INBOX, blobs=(blob,)))).type == 3


async def _has_versions_at(proxy: FaultyRpc, nonce: int, n: int) -> bool:
    return len({t.hash for t in proxy.accepted_at(nonce)}) >= n


async def test_preset_gas_limit_is_checked_with_eth_call_and_fails_crafting(anvil):
    """A preset limit below the intrinsic gas makes the eth_call check fail: ``failed to call: ...``."""
    async with env(anvil, 25) as e:
        with pytest.raises(CraftError, match=r"failed to create the tx: failed to call: .*intrinsic gas"):
            await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00", gas_limit=20_000))
        assert e.proxy.calls["eth_call"] >= 1 and e.proxy.calls["eth_sendRawTransaction"] == 0
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00", gas_limit=21_016))
        assert receipt.status == 1 and receipt.gas_used <= 21_016


class FakeClock:
    """A settable clock for SendState (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_send_state_aborts_at_the_nonce_too_low_limit_only_while_nothing_is_mined():
    """Three "nonce too low" replies abort, unless a published version is seen mined."""
    clock = FakeClock()
    state = SendState(3, 120.0, clock)
    state.process_send_error(None)
    for _ in range(3):
        state.process_send_error(RuntimeError("nonce too low"))
    state.tx_mined(b"h1")
    assert state.critical_error() is None
    state.tx_not_mined(b"h1")  # reorged out: counter reset
    assert state.critical_error() is None and state.nonce_too_low_count == 0
    for _ in range(3):
        state.process_send_error("nonce too low")
    assert isinstance(state.critical_error(), NonceTooLowError)


def test_send_state_nonce_too_low_before_any_publish_is_immediately_critical():
    """PR #11614: the first reply already being "nonce too low" aborts at once."""
    state = SendState(3, 120.0, FakeClock())
    state.process_send_error("nonce too low")
    assert isinstance(state.critical_error(), NonceTooLowError)


def test_send_state_mempool_deadline_applies_only_without_a_successful_publish():
    """After not-in-mempool-timeout with zero successful publishes: "failed to get tx into the mempool"."""
    clock = FakeClock()
    state = SendState(3, 120.0, clock)
    state.process_send_error("internal error")
    clock.now += 119.0
    assert state.critical_error() is None
    clock.now += 2.0
    err = state.critical_error()
    assert isinstance(err, MempoolDeadlineError) and str(err) == "failed to get tx into the mempool"
    published = SendState(3, 120.0, clock)
    published.process_send_error(None)
    clock.now += 500.0
    assert published.critical_error() is None


def test_send_state_already_reserved_is_critical():
    """geth's "address already reserved" ends the send with AlreadyReservedError."""
    state = SendState(3, 120.0, FakeClock())
    state.process_send_error(RuntimeError("address already reserved"))
    assert isinstance(state.critical_error(), AlreadyReservedError)


@pytest.mark.slow
async def test_dynamic_blob_tip_follows_recent_blob_txs_and_falls_back_to_min_tip(anvil):
    """With blob-tip-cap-dynamic, blob txs take the percentile of recent blob-tx tips (no min floor)."""
    blob = encode_blob(b"\x00tip source")
    async with env(anvil, 26, network_timeout=BLOB_TIMEOUT, min_tip_cap=7 * GWEI) as e:
        await e.mgr.send(TxCandidate(to=INBOX, blobs=(blob,)))
    dynamic = {"blob_tip_cap_dynamic": True, "blob_tip_cap_range": 1, "blob_tip_cap_percentile": 100}
    async with env(anvil, 27, min_tip_cap=10 * GWEI, **dynamic) as e:
        s = await e.mgr.suggest_gas_price_caps(for_blob=True)
        assert s.blob_tip == 7 * GWEI and s.tip >= 10 * GWEI  # the oracle's tip gets no min floor
        anvil.call("anvil_mine", [3])
        s = await e.mgr.suggest_gas_price_caps(for_blob=True)
        assert s.blob_tip == 10 * GWEI  # no blob tx in range: min-tip-cap


async def test_a_slow_tx_above_our_own_pending_tx_is_not_renumbered_when_the_node_lags(anvil, caplog):
    """The node's pending nonce lags below two unmined txs of ours: no filler, no renumbering, both land."""
    caplog.set_level(logging.INFO)
    async with env(anvil, 42) as e:
        e.automine(False)
        b = await e.mgr.send_async(TxCandidate(to=INBOX, data=b"\x00slow B"))
        c = await e.mgr.send_async(TxCandidate(to=INBOX, data=b"\x00slow C"))
        await accepted_count(e.proxy, 2)
        first = min(t.nonce for t in e.proxy.accepted)
        e.proxy.lag_pending_nonce(2)  # "pending" = B's nonce: C seems to wait on a gap that B holds
        checks = e.proxy.calls["eth_getTransactionCount"]

        async def checked_and_bumped() -> bool:  # resubmission ticks of 0.5 s, each one checks for gaps
            checked = e.proxy.calls["eth_getTransactionCount"] >= checks + 3
            return checked and len({t.hash for t in e.proxy.accepted}) >= 4

        await wait_for(checked_and_bumped)
        assert {t.nonce for t in e.proxy.accepted} == {first, first + 1}
        assert e.mgr.in_flight_nonces == {first, first + 1}
        e.automine(True)
        receipts = await mine_while(anvil, asyncio.ensure_future(asyncio.gather(b, c)))
        assert [r.status for r in receipts] == [1, 1]
        assert {t.nonce for t in e.proxy.accepted} == {first, first + 1}
        landed = [anvil.call("eth_getTransactionByHash", ["0x" + r.transaction_hash.hex()]) for r in receipts]
        assert [(int(t["nonce"], 16), t["input"]) for t in landed] == [
            (first, "0x" + b"\x00slow B".hex()),
            (first + 1, "0x" + b"\x00slow C".hex()),
        ]
    assert not [r for r in caplog.records if r.getMessage().startswith("Nonce gap detected")]


@given(
    ours=st.integers(0, 40),
    pending=st.integers(0, 40),
    in_flight=st.frozensets(st.integers(0, 40), max_size=10),
)
def test_lost_nonces_lie_between_the_node_and_our_tx_and_are_held_by_no_send_of_ours(
    ours, pending, in_flight
):
    """Every nonce in [pending, ours) not in flight is lost, nothing else; a held nonce is never refilled."""
    lost = list(lost_nonces(ours, pending, in_flight))
    assert lost == sorted(lost)
    assert set(lost) == {k for k in range(pending, ours) if k not in in_flight}
    assert not set(lost) & in_flight


async def test_a_tx_refused_as_nonce_too_high_above_a_lost_nonce_is_unblocked_by_a_filler(anvil, caplog):
    """A rolled-back nonce makes the pool refuse our pending tx as gapped: a no-op fills it, the tx lands."""
    caplog.set_level(logging.INFO)
    async with env(
        anvil, 43, resubmission_timeout=30.0, rebroadcast_interval=0.3, retry_interval=0.1, max_retries=30
    ) as e:
        a = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00high A"))
        a_nonce = e.proxy.accepted[-1].nonce
        e.automine(False)
        b = await e.mgr.send_async(TxCandidate(to=INBOX, data=b"\x00high B"))
        await accepted_count(e.proxy, 2)
        e.proxy.refuse_gapped_nonces = True
        head = int(str(anvil.call("eth_blockNumber")), 16)
        anvil.call("anvil_rollback", [head - a.block_number + 1])  # anvil forgets A, then prunes B
        e.automine(True)
        receipt = await mine_while(anvil, b)  # no bump tick within 30 s: only the nonce-too-high path heals
        landed = anvil.call("eth_getTransactionByHash", ["0x" + receipt.transaction_hash.hex()])
        assert isinstance(landed, dict) and int(landed["nonce"], 16) == a_nonce + 1
        assert e.metric("tx_publish_error_count", error="nonce_too_high") >= 1
        [filler] = [t for t in e.proxy.accepted if t.nonce == a_nonce and t.hash != a.transaction_hash]
        mined = anvil.call("eth_getTransactionByHash", ["0x" + filler.hash.hex()])
        assert isinstance(mined, dict) and mined["blockNumber"] is not None and mined["input"] == "0x"
        assert mined["to"] == "0x" + e.mgr.from_address.hex()
    assert [f["nonce"] for f in logged(caplog, "Filled a lost nonce")] == [a_nonce]


async def test_anvils_transaction_already_imported_counts_as_already_known(anvil):
    """anvil's "transaction already imported" is geth's "already known": the tx counts as published."""
    async with env(anvil, 57, resubmission_timeout=30.0, rebroadcast_interval=30.0) as e:
        e.proxy.inject_error("eth_sendRawTransaction", "transaction already imported", forward=True)
        receipt = await e.mgr.send(TxCandidate(to=INBOX, data=b"\x00imported"))
        assert receipt.status == 1
        assert e.metric("tx_publish_error_count", error="tx_already_known") == 1
        assert e.proxy.calls["eth_sendRawTransaction"] == 1
