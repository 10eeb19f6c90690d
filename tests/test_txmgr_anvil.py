"""TxManager against a real anvil L1: confirmations, blobs (v0 and cell proofs), reorgs, drops, nonces."""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import rlp
from eth_utils.address import to_checksum_address

from common.derive.blob import encode_blob
from common.rpc.eth import EthClient
from common.txmgr.blobs import resolve_cell_proof_time, use_cell_proofs
from common.txmgr.config import MAX_UINT64, SignerConfig, TxMgrConfig
from common.txmgr.signer import LocalSigner
from common.txmgr.txmgr import SendAbortedError, TxCandidate, TxManager
from devnet.anvil import DEV_MNEMONIC, AnvilNode, start_anvil

pytestmark = pytest.mark.integration

CHAIN_ID = 900
INBOX = bytes.fromhex("ff00000000000000000000000000000000000901")
BLOB_TIMEOUT = 60.0
"""anvil loads its KZG set-up on the first blob tx it verifies: that submission takes 5-35 s here."""


def dev_signer(index: int, chain_id: int = CHAIN_ID) -> LocalSigner:
    """anvil's dev account ``index`` (derived from its mnemonic, never a hard-coded key)."""
    return LocalSigner.from_mnemonic(DEV_MNEMONIC, f"m/44'/60'/0'/0/{index}", chain_id)


def fast_config(url: str, **overrides: Any) -> TxMgrConfig:
    """Short intervals so each test takes about a second."""
    base = TxMgrConfig(
        l1_rpc_url=url,
        signer=SignerConfig(),
        num_confirmations=3,
        resubmission_timeout=0.5,
        receipt_query_interval=0.1,
        rebroadcast_interval=0.3,
        network_timeout=2.0,
        tx_not_in_mempool_timeout=5.0,
        retry_interval=0.1,
    )
    return replace(base, **overrides)


_SHARED: dict[str, AnvilNode] = {}


def shared_anvil(hardfork: str) -> AnvilNode:
    """One anvil per hardfork per test process, shared by the txmgr test modules (distinct accounts).

    anvil stalls while it loads its KZG set-up for the first blob tx it sees (5-35 s on a busy 2-core
    box); tests in one process run one at a time, so only that blob test waits (hence BLOB_TIMEOUT).
    """
    node = _SHARED.get(hardfork)
    if node is None or node.process.poll() is not None:
        node = start_anvil(["--hardfork", hardfork, "--chain-id", str(CHAIN_ID)])
        atexit.register(node.stop)
        _SHARED[hardfork] = node
    return node


@pytest.fixture(scope="module")
def prague() -> AnvilNode:
    return shared_anvil("prague")


@pytest.fixture(scope="module")
def osaka() -> AnvilNode:
    return shared_anvil("osaka")


class RecordingEth(EthClient):
    """The real client, remembering each raw tx it submitted (to inspect the sidecar wrapper)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=5.0)
        self.sent_raw: list[bytes] = []

    async def call(self, method: str, params: Any = None, **kw: Any) -> Any:
        if method == "eth_sendRawTransaction":
            self.sent_raw.append(bytes.fromhex(params[0][2:]))
        return await super().call(method, params, **kw)


@asynccontextmanager
async def manager(node: AnvilNode, account: int, **cfg: Any) -> AsyncIterator[tuple[TxManager, RecordingEth]]:
    eth = RecordingEth(node.url)
    mgr = TxManager(fast_config(node.url, **cfg), eth, dev_signer(account), chain_id=CHAIN_ID)
    try:
        yield mgr, eth
    finally:
        mgr.close()
        await eth.close()


async def mine_while(
    node: AnvilNode, task: asyncio.Task[Any], every: float = 0.1, limit: float = 20.0
) -> Any:
    """Mine one block every ``every`` seconds until ``task`` finishes; return its result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not task.done():
        assert loop.time() < deadline, "send did not finish in time"
        await asyncio.to_thread(node.call, "anvil_mine", [1])
        await asyncio.sleep(every)
    return task.result()


async def wait_for(predicate: Any, limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def find_tx_from(node: AnvilNode, address: bytes) -> tuple[dict[str, Any], str]:
    """The latest block holding a tx sent by ``address``, and that tx's hash."""
    head = int(str(node.call("eth_blockNumber")), 16)
    for number in range(head, max(-1, head - 10), -1):
        block = node.call("eth_getBlockByNumber", [hex(number), True])
        assert isinstance(block, dict)
        for tx in block["transactions"]:
            if tx["from"].lower() == "0x" + address.hex():
                return block, tx["hash"]
    raise AssertionError("no tx from the account in the last 10 blocks")


def chain_nonce(node: AnvilNode, address: bytes) -> int:
    return int(str(node.call("eth_getTransactionCount", ["0x" + address.hex(), "latest"])), 16)


async def test_calldata_tx_is_returned_only_once_num_confirmations_deep(prague):
    """The receipt comes back only when receipt block + 3 <= head + 1, and carries our calldata."""
    async with manager(prague, 1) as (mgr, _eth):
        task = asyncio.create_task(mgr.send(TxCandidate(to=INBOX, data=b"\x00hello")))
        addr = mgr.from_address
        start_nonce = chain_nonce(prague, addr)
        await wait_for(lambda: asyncio.to_thread(lambda: chain_nonce(prague, addr) > start_nonce))
        await asyncio.sleep(0.5)
        assert not task.done(), "returned before the confirmation depth"
        receipt = await mine_while(prague, task)
        head = int(str(prague.call("eth_blockNumber")), 16)
        assert receipt.status == 1 and receipt.type == 2
        assert receipt.block_number + 3 <= head + 1
        tx = prague.call("eth_getTransactionByHash", ["0x" + receipt.transaction_hash.hex()])
        assert isinstance(tx, dict) and tx["input"] == "0x0068656c6c6f"


async def test_reorged_out_tx_is_resent_and_confirmed_in_the_new_chain(prague):
    """anvil_reorg drops the including block; the tx is re-published and confirmed in another block."""
    async with manager(prague, 4, num_confirmations=2) as (mgr, _eth):
        addr = mgr.from_address
        start_nonce = chain_nonce(prague, addr)
        task = asyncio.create_task(mgr.send(TxCandidate(to=INBOX, data=b"\x00reorg")))
        await wait_for(lambda: asyncio.to_thread(lambda: chain_nonce(prague, addr) > start_nonce))
        first_block, tx_hash = find_tx_from(prague, addr)
        depth = int(str(prague.call("eth_blockNumber")), 16) - int(first_block["number"], 16) + 1
        prague.call("anvil_reorg", [depth, []])
        assert prague.call("eth_getTransactionReceipt", [tx_hash]) is None, "reorg did not drop the tx"
        receipt = await mine_while(prague, task, every=0.2)
        assert receipt.status == 1
        assert receipt.block_hash.hex() != first_block["hash"][2:]
        assert chain_nonce(prague, addr) == start_nonce + 1


async def test_dropped_pending_tx_is_rebroadcast_and_mined(prague):
    """With automine off, anvil_dropAllTransactions empties the pool; the rebroadcast puts the tx back."""
    async with manager(prague, 5, num_confirmations=1) as (mgr, _eth):
        prague.call("evm_setAutomine", [False])
        try:
            task = asyncio.create_task(mgr.send(TxCandidate(to=INBOX, data=b"\x00drop")))

            async def pending() -> bool:
                status = await asyncio.to_thread(prague.call, "txpool_status")
                return isinstance(status, dict) and int(str(status["pending"]), 16) > 0

            await wait_for(pending)
            prague.call("anvil_dropAllTransactions")
            assert not await pending()
            await wait_for(pending)  # re-sent by the manager
        finally:
            prague.call("evm_setAutomine", [True])
        receipt = await mine_while(prague, task)
        assert receipt.status == 1


async def test_nonce_consumed_elsewhere_fails_once_then_recovers(prague):
    """Another tx takes the cached nonce: that send fails with nonce too low, the next one works."""
    async with manager(prague, 6, num_confirmations=1) as (mgr, _eth):
        first = await mgr.send(TxCandidate(to=INBOX, data=b"\x00one"))
        assert first.status == 1
        signer = dev_signer(6)
        nonce = chain_nonce(prague, mgr.from_address)
        other = await signer.sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": nonce,
                "to": to_checksum_address(INBOX),
                "value": 0,
                "data": "0x",
                "gas": 21000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "accessList": [],
            }
        )
        prague.call("eth_sendRawTransaction", ["0x" + other.hex()])
        with pytest.raises(SendAbortedError, match="nonce too low"):
            await mgr.send(TxCandidate(to=INBOX, data=b"\x00two"))
        again = await mgr.send(TxCandidate(to=INBOX, data=b"\x00three"))
        assert again.status == 1
        assert chain_nonce(prague, mgr.from_address) == nonce + 2


async def test_logs_never_contain_the_private_key(prague, caplog):
    """A full send logged at DEBUG, plus the signer's repr, contains no key material."""
    caplog.set_level(logging.DEBUG)
    signer = dev_signer(7)
    key_hex = signer._account.key.hex()
    key_hex = key_hex[2:] if key_hex.startswith("0x") else key_hex
    async with manager(prague, 7, num_confirmations=1) as (mgr, _eth):
        await mgr.send(TxCandidate(to=INBOX, data=b"\x00log"))
        text = caplog.text + repr(mgr.signer) + repr(mgr.cfg)
        for record in caplog.records:
            text += repr(record.__dict__)
    assert "Transaction confirmed" in caplog.text
    assert key_hex.lower() not in text.lower()


@pytest.mark.slow
async def test_blob_tx_on_prague_uses_the_v0_sidecar_and_lands(prague):
    """Without cell-proof time (chain 900 is unknown), the pooled tx has 4 fields and the blob is stored."""
    blob = encode_blob(b"\x00frame bytes")
    async with manager(prague, 2, num_confirmations=1, network_timeout=BLOB_TIMEOUT) as (mgr, eth):
        receipt = await mgr.send(TxCandidate(to=INBOX, blobs=(blob,)))
        assert receipt.type == 3 and receipt.status == 1
        wrapper = rlp.decode(eth.sent_raw[-1][1:])
        assert eth.sent_raw[-1][0] == 3 and len(wrapper) == 4 and len(wrapper[3]) == 1
        stored = prague.call("anvil_getBlobsByTransactionHash", ["0x" + receipt.transaction_hash.hex()])
        assert isinstance(stored, list) and bytes.fromhex(stored[0][2:]) == blob


@pytest.mark.slow
async def test_blob_tx_on_osaka_with_cell_proof_time_zero_uses_cell_proofs(osaka):
    """cell-proof-time 0 forces the EIP-7594 wrapper (version 1, 128 proofs per blob); anvil accepts it."""
    blob = encode_blob(b"\x00cells")
    async with manager(osaka, 3, num_confirmations=1, cell_proof_time=0, network_timeout=BLOB_TIMEOUT) as (
        mgr,
        eth,
    ):
        receipt = await mgr.send(TxCandidate(to=INBOX, blobs=(blob,)))
        assert receipt.type == 3 and receipt.status == 1
        wrapper = rlp.decode(eth.sent_raw[-1][1:])
        assert len(wrapper) == 5 and wrapper[1] == b"\x01" and len(wrapper[4]) == 128
        stored = osaka.call("anvil_getBlobsByTransactionHash", ["0x" + receipt.transaction_hash.hex()])
        assert isinstance(stored, list) and bytes.fromhex(stored[0][2:]) == blob


def test_cell_proof_time_sentinel_resolves_from_the_l1_chain_id():
    """MaxUint64 becomes the Osaka time of a known L1, stays "never" elsewhere; explicit values are kept."""
    assert resolve_cell_proof_time(MAX_UINT64, 1) == 1764798551
    assert resolve_cell_proof_time(MAX_UINT64, 11155111) == 1760427360
    assert resolve_cell_proof_time(MAX_UINT64, CHAIN_ID) == MAX_UINT64
    assert resolve_cell_proof_time(0, 1) == 0


def test_cell_proofs_start_twelve_seconds_after_the_cell_proof_time():
    """Cell proofs iff cell_proof_time < now - 12 s; 0 forces them, the sentinel never enables them."""
    assert not use_cell_proofs(1000, 1012.0)
    assert use_cell_proofs(1000, 1012.5)
    assert use_cell_proofs(0, 1e9)
    assert not use_cell_proofs(MAX_UINT64, 1e10)


@pytest.mark.slow
async def test_crafting_a_cell_proof_blob_tx_leaves_the_event_loop_responsive(prague):
    """A ticker keeps ticking while six blobs get their cell proofs in the KZG worker pool (~0.3 s of CPU
    each; in-process ckzg would hold the GIL that long per blob)."""
    blobs = tuple(encode_blob(b"\x00ticker " + bytes([i])) for i in range(6))
    gaps: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def ticker() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    async with manager(prague, 8, cell_proof_time=0, network_timeout=BLOB_TIMEOUT) as (mgr, _eth):
        ticking = asyncio.create_task(ticker())
        start = loop.time()
        tx = await mgr.craft_tx(TxCandidate(to=INBOX, blobs=blobs))
        crafting = loop.time() - start
        stop.set()
        await ticking
    assert tx.sidecar is not None and tx.sidecar.version == 1 and len(tx.sidecar.proofs) == 6 * 128
    assert crafting > 0.3, "too fast to tell (six blobs' cell proofs take ~0.8 s over two workers)"
    assert max(gaps) < 0.3, f"event loop stalled for {max(gaps):.2f}s during {crafting:.2f}s of crafting"
    assert len(gaps) >= crafting / 0.05


def txs_from(node: AnvilNode, address: bytes, first_block: int) -> list[dict[str, Any]]:
    """Every tx sent by ``address`` in blocks ``first_block``..head, in chain order."""
    head = int(str(node.call("eth_blockNumber")), 16)
    out: list[dict[str, Any]] = []
    for number in range(first_block, head + 1):
        block = node.call("eth_getBlockByNumber", [hex(number), True])
        assert isinstance(block, dict)
        out += [t for t in block["transactions"] if t["from"].lower() == "0x" + address.hex()]
    return out


def logged(caplog: pytest.LogCaptureFixture, msg: str) -> list[dict[str, Any]]:
    """The fields of each record logged with ``msg``."""
    return [dict(getattr(r, "go_fields", ())) for r in caplog.records if r.getMessage() == msg]


def pool_size(node: AnvilNode) -> int:
    status = node.call("txpool_status")
    assert isinstance(status, dict)
    return int(str(status["pending"]), 16) + int(str(status["queued"]), 16)


def rollback_past(node: AnvilNode, block_number: int) -> None:
    """``anvil_rollback`` to the parent of ``block_number``: anvil forgets the txs it held."""
    node.call("anvil_rollback", [int(str(node.call("eth_blockNumber")), 16) - block_number + 1])


async def test_a_tx_sent_after_its_predecessor_was_rolled_back_takes_the_freed_nonce(prague, caplog):
    """A confirmed tx is rolled back and forgotten; the next send heals the gap and reuses A's nonce."""
    caplog.set_level(logging.INFO)
    async with manager(prague, 9, num_confirmations=1) as (mgr, _eth):
        addr = mgr.from_address
        a = await mgr.send(TxCandidate(to=INBOX, data=b"\x00gap A"))
        a_nonce = chain_nonce(prague, addr) - 1
        rollback_past(prague, a.block_number)
        assert prague.call("eth_getTransactionReceipt", ["0x" + a.transaction_hash.hex()]) is None
        assert chain_nonce(prague, addr) == a_nonce
        b = await asyncio.wait_for(mgr.send(TxCandidate(to=INBOX, data=b"\x00gap B")), 10.0)
        tx = prague.call("eth_getTransactionByHash", ["0x" + b.transaction_hash.hex()])
        assert isinstance(tx, dict) and int(tx["nonce"], 16) == a_nonce and b.status == 1
        assert chain_nonce(prague, addr) == a_nonce + 1
        assert pool_size(prague) == 0, "a copy of B at another nonce waits in the pool"
    [warned] = logged(caplog, "Nonce gap detected, resetting nonce")
    assert (warned["expected"], warned["ours"], warned["lost"]) == (a_nonce, a_nonce + 1, 1)


async def test_txs_in_flight_above_a_lost_nonce_keep_their_nonces_and_a_no_op_fills_it(prague, caplog):
    """B and C are pending when A's block is rolled back: a no-op takes A's nonce, B and C land once each."""
    caplog.set_level(logging.INFO)
    async with manager(prague, 40, num_confirmations=1) as (mgr, _eth):
        addr = mgr.from_address
        prague.call("anvil_setBalance", ["0x" + addr.hex(), hex(10**21)])
        a = await mgr.send(TxCandidate(to=INBOX, data=b"\x00gap A"))
        a_nonce = chain_nonce(prague, addr) - 1
        prague.call("evm_setAutomine", [False])
        try:
            b = await mgr.send_async(TxCandidate(to=INBOX, data=b"\x00gap B"))
            c = await mgr.send_async(TxCandidate(to=INBOX, data=b"\x00gap C"))
            await wait_for(lambda: asyncio.to_thread(lambda: pool_size(prague) == 2))
            rollback_past(prague, a.block_number)
        finally:
            prague.call("evm_setAutomine", [True])
        receipts = await mine_while(prague, asyncio.ensure_future(asyncio.gather(b, c)), every=0.2)
        assert [r.status for r in receipts] == [1, 1]
        mined = txs_from(prague, addr, a.block_number)
        assert [int(t["nonce"], 16) for t in mined] == [a_nonce, a_nonce + 1, a_nonce + 2]
        filler, *rest = mined
        assert filler["to"] == "0x" + addr.hex() and filler["input"] == "0x" and int(filler["value"], 16) == 0
        assert [t["input"] for t in rest] == ["0x" + b"\x00gap B".hex(), "0x" + b"\x00gap C".hex()]
        await wait_for(lambda: asyncio.sleep(0, not mgr.in_flight_nonces))
        assert chain_nonce(prague, addr) == a_nonce + 3
    [warned] = logged(caplog, "Nonce gap detected, filling the lost nonces")
    assert (warned["expected"], warned["lost"]) == (a_nonce, 1) and warned["ours"] in (
        a_nonce + 1,
        a_nonce + 2,
    )
    assert [f["nonce"] for f in logged(caplog, "Filled a lost nonce")] == [a_nonce]
