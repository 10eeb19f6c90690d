"""Restart recovery of blob channels: blobs from the beacon API (--l1-beacon), fallbacks, the beacon client.

The L1 is a real anvil (it serves ``/eth/v1/beacon/blobs/{block}`` on its RPC port and
``anvil_getBlobsByTransactionHash``); the batcher txs are sent by our tx manager. A plain HTTP server
stands in only where the test needs a beacon behaviour anvil cannot show (a hanging endpoint).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from batcher.batcher_config import parse_batcher_args
from batcher.loading.recovery import BlobTxRef, RecoveryBlobs, channels_on_l1
from batcher.service import BatcherL1Client, BatcherService
from common.derive.batch import rlp_string
from common.derive.blob import encode_blob
from common.derive.block_ref import BlockID, L1BlockRef
from common.derive.frame import Frame, encode_tx_data
from common.derive.rollup_config import RollupConfig
from common.derive.singular_batch import SingularBatch
from common.rpc.beacon import BeaconClient, BeaconResponseError, BeaconUnreachableError
from common.rpc.eth import EthClient
from common.service.rpc_server import RpcServer
from common.txmgr.config import SignerConfig, TxMgrConfig
from common.txmgr.signer import LocalSigner
from common.txmgr.txmgr import TxCandidate, TxManager
from devnet.anvil import DEV_MNEMONIC, AnvilNode, free_port, start_anvil
from devnet.genesis import BATCH_INBOX_ADDRESS, rollup_config

pytestmark = pytest.mark.integration

CHAIN_ID = 900
SIGNER_INDEX = 7
L2_GENESIS_TIME = 1_700_000_000
API_KEY = "0123456789abcdefABCDEF0123"
"""Looks like a provider key in a URL path: redact_url must hide it."""


def _h(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


def _batches_channel(channel_id: bytes, numbers: range, frames: int) -> list[Frame]:
    """A zlib channel of singular batches for L2 blocks ``numbers``, cut into ``frames`` frames."""
    body = b"".join(
        rlp_string(
            SingularBatch(_h(f"l2-{n - 1}"), 0, _h("l1-0"), L2_GENESIS_TIME + 2 * n, (b"\x02\xc0",)).encode()
        )
        for n in numbers
    )
    data = zlib.compress(body)
    cut = [len(data) * i // frames for i in range(frames + 1)]
    return [Frame(channel_id, i, data[cut[i] : cut[i + 1]], i == frames - 1) for i in range(frames)]


@dataclass(frozen=True)
class L1WithChannels:
    node: AnvilNode
    rollup: RollupConfig
    sender: bytes
    blob_tx: bytes
    head: int


async def _send_channels(node: AnvilNode, signer: LocalSigner) -> tuple[bytes, int]:
    """Post a 2-blob channel (blocks 1-3) and a calldata channel (blocks 4-5) with our tx manager."""
    cfg = TxMgrConfig(
        l1_rpc_url=node.url,
        signer=SignerConfig(),
        num_confirmations=1,
        resubmission_timeout=30.0,
        receipt_query_interval=0.1,
        network_timeout=120.0,  # anvil loads its KZG set-up on the first blob tx it verifies
        retry_interval=0.1,
    )
    eth = EthClient(node.url, timeout=120.0)
    mgr = TxManager(cfg, eth, signer, chain_id=CHAIN_ID)
    try:
        blob_frames = _batches_channel(b"\xb1" * 16, range(1, 4), frames=2)
        blobs = tuple(encode_blob(encode_tx_data([f])) for f in blob_frames)
        blob_receipt = await mgr.send(TxCandidate(to=BATCH_INBOX_ADDRESS, blobs=blobs))
        calldata = encode_tx_data(_batches_channel(b"\xca" * 16, range(4, 6), frames=1))
        receipt = await mgr.send(TxCandidate(to=BATCH_INBOX_ADDRESS, data=calldata))
        return blob_receipt.transaction_hash, receipt.block_number
    finally:
        mgr.close()
        await eth.close()


@pytest.fixture(scope="module")
def l1() -> Iterator[L1WithChannels]:
    node = start_anvil(["--hardfork", "prague", "--chain-id", str(CHAIN_ID)])
    try:
        signer = LocalSigner.from_mnemonic(DEV_MNEMONIC, f"m/44'/60'/0'/0/{SIGNER_INDEX}", CHAIN_ID)
        blob_tx, head = asyncio.run(_send_channels(node, signer))
        rollup = rollup_config(
            genesis_l1=L1BlockRef(_h("l1-0"), 0, bytes(32), L2_GENESIS_TIME),
            genesis_l2=BlockID(_h("l2-0"), 0),
            genesis_l2_time=L2_GENESIS_TIME,
            block_time=2,
            batcher=signer.address,
            system_config=b"\x11" * 20,
            isthmus=True,
        )
        yield L1WithChannels(node, rollup, signer.address, blob_tx, head)
    finally:
        node.stop()


def _closed_beacon_url() -> str:
    """A beacon URL with credentials and an API key whose port nothing listens on."""
    return f"http://user:hunter2@127.0.0.1:{free_port()}/v3/{API_KEY}"


def _ranges(found: Any) -> list[tuple[int, int]]:
    return [(c.first_block, c.last_block) for c in found.channels]


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return dict(getattr(record, "go_fields", ()))


@pytest.mark.slow
async def test_blob_channel_is_recovered_through_the_beacon_endpoint(l1: L1WithChannels) -> None:
    """With only the beacon API as blob source, both channels (2-blob and calldata) are recovered."""
    async with EthClient(l1.node.url, timeout=10) as eth, BeaconClient(l1.node.url, timeout=10) as beacon:
        source = RecoveryBlobs(beacon, None)
        found = await channels_on_l1(eth, l1.rollup, l1.sender, 1, l1.head, source)
    assert found.skipped == []
    assert _ranges(found) == [(1, 3), (4, 5)]
    assert found.channels[0].parent_check == _h("l2-0")
    assert source.served == {"beacon": 1, "node": 0, "none": 0}


@pytest.mark.slow
async def test_the_service_l1_client_reads_blobs_from_l1_beacon_as_the_driver_calls_it(
    l1: L1WithChannels,
) -> None:
    """BatcherL1Client with --l1-beacon, passed as the driver passes it, serves the blobs from the beacon."""
    client = BatcherL1Client(l1.node.url, beacon_url=l1.node.url, timeout=10)
    try:
        found = await channels_on_l1(client, l1.rollup, l1.sender, 1, l1.head, client.blobs)
    finally:
        await client.close()
    assert _ranges(found) == [(1, 3), (4, 5)]
    assert client.recovery_blobs.served == {"beacon": 1, "node": 0, "none": 0}


@pytest.mark.slow
async def test_without_l1_beacon_recovery_asks_the_l1_node_as_before(l1: L1WithChannels) -> None:
    """No --l1-beacon: the blobs come from anvil_getBlobsByTransactionHash."""
    client = BatcherL1Client(l1.node.url, timeout=10)
    try:
        found = await channels_on_l1(client, l1.rollup, l1.sender, 1, l1.head, client.blobs)
    finally:
        await client.close()
    assert client.beacon is None
    assert _ranges(found) == [(1, 3), (4, 5)]
    assert client.recovery_blobs.served == {"beacon": 0, "node": 1, "none": 0}


@pytest.mark.slow
async def test_unreachable_beacon_is_named_redacted_and_recovery_falls_back_to_the_node(
    l1: L1WithChannels, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused beacon: one WARN naming the endpoint without secrets, then the L1 node serves the blobs."""
    url = _closed_beacon_url()
    client = BatcherL1Client(l1.node.url, beacon_url=url, timeout=5)
    try:
        found = await channels_on_l1(client, l1.rollup, l1.sender, 1, l1.head, client.blobs)
    finally:
        await client.close()
    assert _ranges(found) == [(1, 3), (4, 5)]
    assert client.recovery_blobs.served == {"beacon": 0, "node": 1, "none": 0}
    [warn] = [r for r in caplog.records if r.getMessage() == "Could not read blobs from the beacon endpoint"]
    err = str(_fields(warn)["err"])
    port = url.split(":")[3].split("/")[0]
    assert f"beacon http://xxxxx@127.0.0.1:{port}/v3/xxxxx: GET /eth/v1/beacon/blobs/" in err
    assert "hunter2" not in caplog.text and API_KEY not in caplog.text
    assert _fields(warn)["fallback"] == "the L1 node"


@pytest.mark.parametrize(
    ("argv", "env", "endpoint"),
    [
        ([], {}, None),
        ([], {"OP_BATCHER_L1_BEACON": "http://beacon:5052"}, "http://beacon:5052"),
        ([f"--l1-beacon=https://b.example/{API_KEY}"], {}, "https://b.example/xxxxx"),
    ],
)
async def test_the_service_wires_l1_beacon_into_its_l1_client(
    argv: list[str], env: dict[str, str], endpoint: str | None
) -> None:
    """--l1-beacon / OP_BATCHER_L1_BEACON give the service's L1 client a beacon (redacted endpoint)."""
    base = ["--l1-eth-rpc=http://l1:8545", "--l2-eth-rpc=http://l2", "--rollup-rpc=http://rn"]
    service = BatcherService(parse_batcher_args([*base, *argv], env), lambda _err: None)
    try:
        assert isinstance(service.l1, BatcherL1Client)
        got = service.l1.beacon.endpoint if service.l1.beacon is not None else None
        assert got == endpoint
        assert service.l1.recovery_blobs.beacon is service.l1.beacon
    finally:
        await service.close_clients()


async def _node_without_blob_api() -> RpcServer:
    """A real JSON-RPC server that, like a production EL, does not know anvil_getBlobsByTransactionHash."""
    server = RpcServer("127.0.0.1", 0, "test")
    await server.start()
    return server


@pytest.mark.slow
async def test_unreachable_beacon_and_no_blob_api_skip_blob_channels_and_log_once(
    l1: L1WithChannels, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing serves blobs: the blob channel is skipped with the redacted reason, calldata still counts,
    `cannot be recovered` is logged once over two recoveries, and the refused beacon is rested."""
    server = await _node_without_blob_api()
    other_l1 = EthClient(server.endpoint, timeout=5)
    eth = EthClient(l1.node.url, timeout=10)
    beacon = BeaconClient(_closed_beacon_url(), timeout=5)
    source = RecoveryBlobs(beacon, other_l1.blobs)
    try:
        first = await channels_on_l1(eth, l1.rollup, l1.sender, 1, l1.head, source)
        second = await channels_on_l1(eth, l1.rollup, l1.sender, 1, l1.head, source)
    finally:
        await beacon.close()
        await eth.close()
        await other_l1.close()
        await server.stop()
    for found in (first, second):
        assert _ranges(found) == [(4, 5)]
    blob_hash = "0x" + l1.blob_tx.hex()
    [reason] = [s for s in first.skipped if blob_hash in s]
    assert "beacon http://xxxxx@127.0.0.1:" in reason and "/v3/xxxxx" in reason
    assert "the L1 node cannot serve blobs" in reason and "anvil_getBlobsByTransactionHash" in reason
    [again] = [s for s in second.skipped if blob_hash in s]
    assert "skipped: unreachable in the last 60s" in again
    assert source.served == {"beacon": 0, "node": 0, "none": 2}
    unrecoverable = [
        r for r in caplog.records if r.getMessage().startswith("Blob channels cannot be recovered")
    ]
    assert len(unrecoverable) == 1
    assert "hunter2" not in caplog.text and API_KEY not in caplog.text


async def test_without_any_blob_source_the_reason_names_the_flag() -> None:
    """No beacon and no node fallback: BlobsUnavailableError tells the operator to set --l1-beacon."""
    source = RecoveryBlobs(None, None)
    with pytest.raises(RuntimeError, match="no blob source: set --l1-beacon"):
        await source.tx_blobs(BlobTxRef(b"\x01" * 32, 5, 60, (b"\x01" + bytes(31),)))
    assert source.served["none"] == 1


# ---- the beacon client -----------------------------------------------------------------------------------


class _HangingBeacon(http.server.BaseHTTPRequestHandler):
    """Stands in for a beacon node that stops answering (cannot be made of anvil): genesis answers at
    once over keep-alive connections (their client ports are recorded), blobs hang."""

    protocol_version = "HTTP/1.1"
    client_ports: ClassVar[set[int]] = set()

    def do_GET(self) -> None:
        type(self).client_ports.add(self.client_address[1])
        if self.path.startswith("/eth/v1/beacon/blobs/") and not self.path.startswith(
            "/eth/v1/beacon/blobs/404?"
        ):
            time.sleep(2)
            return
        raw = b'{"data": {"genesis_time": "100"}}' if self.path.endswith("/genesis") else b"{}"
        self.send_response(200 if self.path.endswith("/genesis") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hanging_beacon() -> Iterator[str]:
    _HangingBeacon.client_ports = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HangingBeacon)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_beacon_client_reuses_its_connection_and_times_out_per_call(hanging_beacon: str) -> None:
    """Several calls share one keep-alive connection; a hanging call fails after the per-call timeout."""
    async with BeaconClient(hanging_beacon, timeout=1.0) as client:
        for _ in range(3):
            status, doc = await client.get_json("/eth/v1/beacon/genesis")
            assert status == 200 and doc["data"]["genesis_time"] == "100"
        assert len(_HangingBeacon.client_ports) == 1
        started = time.monotonic()
        with pytest.raises(BeaconUnreachableError) as exc:
            await client.blobs(5, 160, ["0x01" + "00" * 31])
        assert time.monotonic() - started < 4.0
        assert str(exc.value) == f"beacon {hanging_beacon}: GET /eth/v1/beacon/blobs/5: no response within 1s"
        assert exc.value.transient


async def test_beacon_http_error_is_a_response_error_naming_endpoint_and_block(hanging_beacon: str) -> None:
    """A 404 for the block's blobs, with no slot to retry (block time before genesis), is a
    BeaconResponseError naming the endpoint, the path, the status and the block."""
    async with BeaconClient(hanging_beacon + "/", timeout=2) as client:
        with pytest.raises(BeaconResponseError) as exc:
            await client.blobs(404, 50, [b"\x01" + bytes(31)])
    assert exc.value.status == 404 and not exc.value.transient
    assert str(exc.value) == (
        f"beacon {hanging_beacon}: GET /eth/v1/beacon/blobs/404: HTTP 404, no blob list for L1 block 404"
    )


async def test_refused_beacon_is_unreachable_and_never_shows_credentials() -> None:
    """Connection refused: BeaconUnreachableError (transient); endpoint, message and repr are redacted."""
    async with BeaconClient(_closed_beacon_url(), timeout=2) as client:
        assert "hunter2" not in repr(client) and API_KEY not in repr(client)
        with pytest.raises(BeaconUnreachableError) as refused:
            await client.blobs(7, 0, [b"\x01" + bytes(31)])
    assert refused.value.transient
    assert refused.value.endpoint.startswith("http://xxxxx@127.0.0.1:")
    assert refused.value.endpoint.endswith("/v3/xxxxx")
    assert "hunter2" not in str(refused.value) and API_KEY not in str(refused.value)


async def test_anvil_beacon_answer_without_the_hashes_is_returned_short(l1: L1WithChannels) -> None:
    """anvil answers a block without the requested hashes with an empty list: the client returns it for
    the caller to compare counts; a closed client fails as unreachable without a request."""
    client = BeaconClient(l1.node.url, timeout=5)
    assert await client.blobs(0, 0, [b"\x01" + bytes(31)]) == []
    await client.close()
    with pytest.raises(BeaconUnreachableError, match="client is closed"):
        await client.get_json("/eth/v1/beacon/genesis")


def test_beacon_paths_go_under_the_endpoint_path_and_keep_its_query_key() -> None:
    """An endpoint with a path prefix and an API key in its query: the API path goes under the prefix and
    the key stays in the query, next to the call's own parameters."""
    client = BeaconClient("https://beacon.example/v1/abc/?key=SECRET")
    url = client._url_for("/eth/v1/beacon/blobs/5", {"versioned_hashes": "0x01"})
    assert url == "https://beacon.example/v1/abc/eth/v1/beacon/blobs/5?key=SECRET&versioned_hashes=0x01"
    assert BeaconClient("http://b:5052")._url_for("/eth/v1/beacon/genesis", None) == (
        "http://b:5052/eth/v1/beacon/genesis"
    )
