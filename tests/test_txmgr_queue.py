"""The send queue (common/txmgr/queue.py): max pending, nonce order, ids, group cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from common.rpc.eth import EthClient
from common.rpc.types import Receipt
from common.txmgr.queue import GroupCancelledError, Queue, TxReceipt
from common.txmgr.send_state import TxMgrError
from common.txmgr.txmgr import SendAbortedError, TxCandidate, TxManager
from devnet.anvil import AnvilNode
from tests.faulty_rpc import FaultyRpc
from tests.test_txmgr_anvil import (
    CHAIN_ID,
    INBOX,
    dev_signer,
    fast_config,
    mine_while,
    shared_anvil,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def anvil() -> AnvilNode:
    return shared_anvil("prague")


@asynccontextmanager
async def queue_env(node: AnvilNode, account: int, max_pending: int, **cfg: Any) -> AsyncIterator[Any]:
    signer = dev_signer(account)
    node.call("anvil_setBalance", ["0x" + signer.address.hex(), hex(10**21)])
    proxy = FaultyRpc(node.url)
    url = await proxy.start()
    eth = EthClient(url, timeout=5.0, retries=0)
    mgr = TxManager(fast_config(url, **{"num_confirmations": 1, **cfg}), eth, signer, chain_id=CHAIN_ID)
    try:
        yield Queue[str](mgr, max_pending), proxy, mgr
    finally:
        mgr.close()
        node.call("evm_setAutomine", [True])
        await eth.close()
        await proxy.stop()


async def collect(receipts: asyncio.Queue[TxReceipt[str]], n: int) -> dict[str, TxReceipt[str]]:
    out: dict[str, TxReceipt[str]] = {}
    while len(out) < n:
        r = await asyncio.wait_for(receipts.get(), 20.0)
        out[r.id] = r
    return out


async def test_send_blocks_at_max_pending_and_nonces_follow_send_order(anvil):
    """With max pending 2 the third send waits for a slot; results carry the ids, nonces follow send order."""
    async with queue_env(anvil, 30, 2) as (queue, proxy, _mgr):
        receipts: asyncio.Queue[TxReceipt[str]] = asyncio.Queue()
        anvil.call("evm_setAutomine", [False])
        await queue.send("a", TxCandidate(to=INBOX, data=b"\x00a"), receipts)
        await queue.send("b", TxCandidate(to=INBOX, data=b"\x00b"), receipts)
        assert queue.pending == 2
        assert not await queue.try_send("x", TxCandidate(to=INBOX, data=b"\x00x"), receipts)
        third = asyncio.create_task(queue.send("c", TxCandidate(to=INBOX, data=b"\x00c"), receipts))
        await asyncio.sleep(0.5)
        assert not third.done(), "send did not wait for a free slot"
        anvil.call("evm_setAutomine", [True])
        results = await mine_while(anvil, asyncio.create_task(collect(receipts, 3)))
        await third
        await queue.wait()
        assert set(results) == {"a", "b", "c"}
        nonces = []
        for key in ("a", "b", "c"):
            r = results[key]
            assert r.error is None and r.receipt is not None
            tx = anvil.call("eth_getTransactionByHash", ["0x" + r.receipt.transaction_hash.hex()])
            assert isinstance(tx, dict) and tx["input"] == "0x00" + key.encode().hex()
            nonces.append(int(tx["nonce"], 16))
        assert nonces == sorted(nonces) and nonces[2] - nonces[0] == 2
        assert proxy.calls["eth_sendRawTransaction"] >= 3


async def test_unlimited_queue_never_blocks(anvil):
    """max pending 0 admits every send at once (try_send always succeeds)."""
    async with queue_env(anvil, 31, 0) as (queue, _proxy, _mgr):
        receipts: asyncio.Queue[TxReceipt[str]] = asyncio.Queue()
        anvil.call("evm_setAutomine", [False])
        for i in range(4):
            assert await queue.try_send(str(i), TxCandidate(to=INBOX, data=bytes([0, i])), receipts)
        assert queue.pending == 4
        anvil.call("evm_setAutomine", [True])
        results = await mine_while(anvil, asyncio.create_task(collect(receipts, 4)))
        assert all(r.error is None for r in results.values())


async def test_a_failed_send_cancels_its_group_and_the_next_send_starts_a_new_one(anvil):
    """B fails ("address already reserved"): pending A is cancelled, then C goes through in a new group."""
    async with queue_env(anvil, 32, 0, resubmission_timeout=30.0, rebroadcast_interval=30.0) as (
        queue,
        proxy,
        _m,
    ):
        receipts: asyncio.Queue[TxReceipt[str]] = asyncio.Queue()
        anvil.call("evm_setAutomine", [False])
        await queue.send("a", TxCandidate(to=INBOX, data=b"\x00a"), receipts)

        async def a_published() -> bool:
            return len(proxy.accepted) >= 1

        await wait_for(a_published)
        proxy.inject_error("eth_sendRawTransaction", "address already reserved")
        await queue.send("b", TxCandidate(to=INBOX, data=b"\x00b"), receipts)
        first = await collect(receipts, 2)
        assert isinstance(first["b"].error, SendAbortedError) and first["b"].error.already_reserved
        assert isinstance(first["a"].error, GroupCancelledError)
        assert "context canceled" in str(first["a"].error)
        anvil.call("evm_setAutomine", [True])
        await queue.send("c", TxCandidate(to=INBOX, data=b"\x00c"), receipts)
        last = await mine_while(anvil, asyncio.create_task(collect(receipts, 1)))
        assert last["c"].error is None and last["c"].receipt is not None


class FakeSender:
    """Only ``send_async`` (the queue's ``AsyncSender`` protocol): crafting fails for ``b"bad"`` data."""

    def __init__(self) -> None:
        self.crafted: list[bytes] = []

    async def send_async(self, candidate: TxCandidate) -> asyncio.Task[Receipt]:
        if candidate.data == b"bad":
            raise TxMgrError("failed to create the tx: fake")
        self.crafted.append(candidate.data)
        return asyncio.create_task(self._never_mined())

    async def _never_mined(self) -> Receipt:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_fake_sender_satisfies_the_queue_protocol_and_a_craft_failure_cancels_its_group():
    """The queue takes any ``send_async`` implementation; a crafting error cancels in-flight siblings."""
    sender = FakeSender()
    queue: Queue[int] = Queue(sender, 0)
    receipts: asyncio.Queue[TxReceipt[int]] = asyncio.Queue()
    await queue.send(1, TxCandidate(to=INBOX, data=b"ok"), receipts)
    await queue.send(2, TxCandidate(to=INBOX, data=b"bad"), receipts)
    results = {r.id: r for r in [await receipts.get(), await receipts.get()]}
    assert isinstance(results[2].error, TxMgrError) and "fake" in str(results[2].error)
    assert isinstance(results[1].error, GroupCancelledError)
    await queue.wait()
    assert sender.crafted == [b"ok"] and queue.pending == 0
