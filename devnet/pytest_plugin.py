"""pytest fixtures for tests that need a chain: a session-scoped devnet in fast mode, plus helpers.

Register with ``pytest_plugins = ["devnet.pytest_plugin"]`` (tests/conftest.py does). Fixtures:

* ``devnet`` (session): L1 + L2 anvils, L2OutputOracle + SystemConfig, sequencer (fast, on demand) and the
  rollup node (background derivation every 0.1 s; ``devnet.derive()`` forces it now).
* ``devnet_dgf`` (session, lazily started): the same with DisputeGameFactory + games instead of the L2OO.
* ``make_devnet`` (function): start an extra devnet with other settings; stopped after the test.

Helpers to act as a batcher in tests: ``batch_tx_data`` (L2 blocks -> batcher tx data built with the
protocol core: BlockInput, SingularBatch / SpanBatchBuilder, zlib channel, frames), ``post_calldata`` and
``post_blobs`` (sign and send as the batcher or any dev key), ``isolated_l1`` (run a test on an L1 snapshot
with the shared rollup node paused, then revert, for batches the shared chain must never see).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_utils.address import to_checksum_address

from devnet.anvil import rpc_call
from devnet.contracts import wait_receipt
from devnet.genesis import BATCH_INBOX_ADDRESS, L1_CHAIN_ID, L2_CHAIN_ID, DevKey
from devnet.network import Devnet, DevnetConfig

MAX_CALLDATA_FRAME = 119_999
BLOB_FRAME_DATA_MAX = 130_020


def start_devnet(state_dir: Path, **overrides: Any) -> Devnet:
    """A fast-mode devnet (tests): automining L1 with 12 s blocks, L2 blocks on demand."""
    params: dict[str, Any] = {"fast": True, "rollup_poll_interval": 0.1, **overrides}
    return Devnet(DevnetConfig(state_dir=state_dir, **params)).start()


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """The shared L2OO-mode devnet."""
    dn = start_devnet(tmp_path_factory.mktemp("devnet"))
    try:
        yield dn
    finally:
        dn.stop()


@pytest.fixture(scope="session")
def devnet_dgf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """The shared dispute-game-mode devnet."""
    dn = start_devnet(tmp_path_factory.mktemp("devnet-dgf"), proposer="dgf")
    try:
        yield dn
    finally:
        dn.stop()


@pytest.fixture
def make_devnet(tmp_path: Path) -> Iterator[Callable[..., Devnet]]:
    """Start extra devnets with chosen DevnetConfig overrides; all are stopped after the test."""
    started: list[Devnet] = []

    def make(**overrides: Any) -> Devnet:
        dn = start_devnet(tmp_path / f"devnet{len(started)}", **overrides)
        started.append(dn)
        return dn

    try:
        yield make
    finally:
        for dn in started:
            dn.stop()


# ---- acting as a batcher --------------------------------------------------------------------------------


def l2_block_inputs(dn: Devnet, first: int, last: int) -> list[Any]:
    """BlockInput (common/derive/l2_block.py) for L2 blocks first..last."""
    from common.derive.l2_block import block_from_rpc

    out = []
    for n in range(first, last + 1):
        block = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(n), True])
        out.append(block_from_rpc(block, L2_CHAIN_ID))
    return out


def channel_bytes(dn: Devnet, first: int, last: int, *, span: bool) -> bytes:
    """zlib channel of the batches for L2 blocks first..last (one span batch, or one singular each)."""
    from common.derive.batch import rlp_string
    from common.derive.singular_batch import SingularBatch
    from common.derive.span_batch_builder import SpanBatchBuilder

    blocks = l2_block_inputs(dn, first, last)
    if span:
        assert dn.rollup is not None
        builder = SpanBatchBuilder(dn.rollup.genesis_l2_time, L2_CHAIN_ID)
        for block in blocks:
            builder.append(block)
        payloads = [builder.encode()]
    else:
        payloads = [SingularBatch.from_block(b).encode() for b in blocks]
    return zlib.compress(b"".join(rlp_string(p) for p in payloads), 9)


def batch_tx_data(
    dn: Devnet,
    first: int,
    last: int,
    *,
    span: bool = True,
    max_frame_data: int = MAX_CALLDATA_FRAME,
    channel_id: bytes | None = None,
) -> list[bytes]:
    """Batcher tx data (0x00 ++ one frame each) carrying L2 blocks first..last in one channel."""
    from common.derive.frame import Frame, encode_tx_data

    data = channel_bytes(dn, first, last, span=span)
    cid = channel_id or os.urandom(16)
    chunks = [data[i : i + max_frame_data] for i in range(0, len(data), max_frame_data)] or [b""]
    frames = [Frame(cid, i, chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks)]
    return [encode_tx_data([f]) for f in frames]


def channel_out_tx_data(
    dn: Devnet,
    first: int,
    last: int,
    *,
    batch_type: int = 1,
    compression_algo: str = "zlib",
    max_frame_size: int = MAX_CALLDATA_FRAME + 1,
) -> list[bytes]:
    """Batcher tx data for L2 blocks first..last built by the batcher's own ChannelOut (H3's channel_out)."""
    from common.derive.channel_out import AddResult, ChannelOutConfig, new_channel_out
    from common.derive.frame import encode_tx_data

    assert dn.rollup is not None
    cfg = ChannelOutConfig(
        target_output_size=10 * max_frame_size, batch_type=batch_type, compression_algo=compression_algo
    )
    out = new_channel_out(cfg, dn.rollup, os.urandom(16))
    for block in l2_block_inputs(dn, first, last):
        if out.add_block(block) is not AddResult.ACCEPTED:
            raise RuntimeError(f"channel out refused L2 block {block.number}: {out.full_reason}")
    out.close()
    datas = []
    while (frame := out.output_frame(max_frame_size)) is not None:
        datas.append(encode_tx_data([frame]))
    return datas


def post_calldata(
    dn: Devnet,
    data: bytes,
    *,
    sender: DevKey | None = None,
    to: bytes = BATCH_INBOX_ADDRESS,
    tx_type: int = 2,
) -> dict[str, Any]:
    """Sign and send a batcher calldata tx (default sender: the batcher) and wait for its receipt."""
    key = sender or dn.keys["batcher"]
    nonce = int(str(rpc_call(dn.l1_url, "eth_getTransactionCount", [key.address, "pending"])), 16)
    tx: dict[str, Any] = {
        "chainId": L1_CHAIN_ID,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "value": 0,
        "data": data,
        "gas": 21_000 + 40 * len(data) + 10_000,
    }
    if tx_type == 2:
        tx.update(type=2, maxFeePerGas=50 * 10**9, maxPriorityFeePerGas=10**9)
    else:
        tx.update(gasPrice=50 * 10**9)
    raw = bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)
    tx_hash = rpc_call(dn.l1_url, "eth_sendRawTransaction", ["0x" + raw.hex()])
    return wait_receipt(dn.l1_url, str(tx_hash))


def post_blobs(dn: Devnet, datas: list[bytes], *, sender: DevKey | None = None) -> dict[str, Any]:
    """Send one type-3 tx with a blob per data (EIP-4844 v0 sidecar, common/derive blob + kzg)."""
    from common.derive.blob import encode_blob
    from common.derive.kzg import blob_to_commitment, compute_blob_proof
    from common.txmgr.kzg_setup import load_trusted_setup

    key = sender or dn.keys["batcher"]
    blobs = [encode_blob(d) for d in datas]
    setup = load_trusted_setup()
    commitments = [blob_to_commitment(b, setup) for b in blobs]
    proofs = [compute_blob_proof(b, c, setup) for b, c in zip(blobs, commitments, strict=True)]
    nonce = int(str(rpc_call(dn.l1_url, "eth_getTransactionCount", [key.address, "pending"])), 16)
    tx = {
        "type": 3,
        "chainId": L1_CHAIN_ID,
        "nonce": nonce,
        "to": to_checksum_address(BATCH_INBOX_ADDRESS),
        "value": 0,
        "data": b"",
        "gas": 21_000,
        "maxFeePerGas": 50 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**9,
        "accessList": [],
        "blobVersionedHashes": [b"\x01" + hashlib.sha256(c).digest()[1:] for c in commitments],
    }
    signed = bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)
    body = rlp.decode(signed[1:])
    raw = b"\x03" + rlp.encode([body, blobs, commitments, proofs])
    # anvil loads its own KZG setup on the first blob tx: allow for that on a busy machine
    tx_hash = rpc_call(dn.l1_url, "eth_sendRawTransaction", ["0x" + raw.hex()], timeout=60)
    return wait_receipt(dn.l1_url, str(tx_hash))


def batch_up_to_head(dn: Devnet) -> int:
    """Post (as the batcher) a span batch for every L2 block the rollup node has not derived; derive."""
    assert dn.deriver is not None and dn.sequencer is not None
    dn.derive()
    first, last = dn.deriver.safe.number + 1, dn.sequencer.head.number
    if first <= last:
        for data in batch_tx_data(dn, first, last):
            post_calldata(dn, data)
        dn.derive()
    return dn.deriver.safe.number


@contextlib.contextmanager
def isolated_l1(dn: Devnet) -> Iterator[None]:
    """Pause the shared rollup node and snapshot L1; revert afterwards so the shared chain never saw it.

    Do not produce L2 blocks inside (the fast sequencer would mine L1 blocks that the revert removes).
    """
    assert dn.deriver is not None
    with dn.deriver.lock:
        snap = rpc_call(dn.l1_url, "evm_snapshot")
        try:
            yield
        finally:
            rpc_call(dn.l1_url, "evm_revert", [snap])
