"""Acceptance: every DA type x batch type x compression algo gets every L2 block derived, in order, once.

One devnet serves the module; for each of the 12 combinations a fresh ``op-batcher`` child runs with those
flags, new L2 blocks are produced, and the test waits until the devnet rollup node, which moves its safe head
only by deriving what is on L1, has reached the unsafe head. It then checks, from the deriver's record of
every safe-head step, that the safe chain is each block once and in order (numbers consecutive, each the
child of the one before, the same hashes as the L2 chain), and reads back the batcher's L1 txs to prove that
the combination really was used: tx types for the DA type, the channels' compression byte and batch types.

The last test scrapes ``/metrics`` of a running batcher for every Go series name of op-batcher.md §2.1-§2.3.
"""

from __future__ import annotations

import itertools
import time
import urllib.request
from pathlib import Path

import pytest

from common.derive.blob import decode_blob
from common.derive.channel import ChannelVersion, read_channel
from common.derive.frame import Frame, parse_frames
from devnet import cli
from devnet.anvil import rpc_call
from devnet.network import Devnet
from tests.test_batcher_e2e import batcher_txs, dn, start_batcher, wait_rpc, wait_safe_catches_up

__all__ = ["dn"]  # the module-scoped devnet fixture of test_batcher_e2e, shared here

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

BLOCKS_PER_COMBO = 8
"""L2 blocks produced for each combination (more than one L1 block's worth, so channels time out)."""
DA_TX_TYPES = {"calldata": {2}, "blobs": {3}, "auto": {2, 3}}
ALGO_VERSION = {"zlib": ChannelVersion.ZLIB, "brotli": ChannelVersion.BROTLI}


def assert_safe_chain_is_every_block_once_in_order(dn: Devnet, first: int) -> None:
    """The deriver's safe-head steps: consecutive numbers, parent links, L2-chain hashes from ``first`` on."""
    assert dn.deriver is not None and dn.sequencer is not None
    assert dn.deriver.halted is None, dn.deriver.halted
    refs = [ref for _l1, ref in dn.deriver.safe_history]
    numbers = [r.number for r in refs]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "a block skipped or repeated"
    for parent, child in itertools.pairwise(refs):
        assert child.parent_hash == parent.hash, f"L2 block {child.number} is not the child of the one before"
    assert refs[-1].number == dn.sequencer.head.number
    assert refs[-1].hash == dn.sequencer.head.hash
    for ref in refs[first:]:
        block = rpc_call(dn.l2_url, "eth_getBlockByNumber", [hex(ref.number), False])
        assert bytes.fromhex(block["hash"][2:]) == ref.hash, f"safe L2 block {ref.number} is not the chain's"


def posted_channels(dn: Devnet, first_l1: int) -> tuple[set[int], dict[bytes, bytes]]:
    """The batcher's tx types since ``first_l1`` and each complete channel's bytes (frames in order)."""
    tx_types: set[int] = set()
    frames: dict[bytes, list[Frame]] = {}
    for tx in batcher_txs(dn, first_l1):
        tx_type = int(tx["type"], 16)
        tx_types.add(tx_type)
        if tx_type == 3:
            blobs = rpc_call(dn.l1_url, "anvil_getBlobsByTransactionHash", [tx["hash"]])
            datas = [decode_blob(bytes.fromhex(b[2:])) for b in blobs]
        else:
            datas = [bytes.fromhex(tx["input"][2:])]
        for data in datas:
            for f in parse_frames(data):
                frames.setdefault(f.channel_id, []).append(f)
    channels = {}
    for cid, fs in frames.items():
        fs.sort(key=lambda f: f.number)
        assert fs[-1].is_last and [f.number for f in fs] == list(range(len(fs))), f"channel {cid.hex()}"
        channels[cid] = b"".join(f.data for f in fs)
    return tx_types, channels


COMBOS = [
    (da, bt, algo) for da in ("calldata", "blobs", "auto") for bt in (0, 1) for algo in ("zlib", "brotli")
]


@pytest.mark.parametrize(("da", "batch_type", "algo"), COMBOS, ids=[f"{d}-{b}-{a}" for d, b, a in COMBOS])
def test_every_da_batch_type_and_algo_gets_every_block_derived_in_order_once(
    dn: Devnet, tmp_path: Path, da: str, batch_type: int, algo: str
) -> None:
    """The safe head follows the unsafe head through a batcher with this DA type, batch type and algo."""
    assert dn.deriver is not None
    first_safe = dn.deriver.safe.number
    first_l1 = dn.l1_head().number + 1
    flags = ("--data-availability-type", da, "--batch-type", str(batch_type), "--compression-algo", algo)
    svc = start_batcher(dn, tmp_path, *flags, "--log.level", "info", name=f"batcher-{da}-{batch_type}-{algo}")
    try:
        dn.produce_l2_blocks(BLOCKS_PER_COMBO)
        wait_safe_catches_up(dn, svc)
    finally:
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)
    assert_safe_chain_is_every_block_once_in_order(dn, first_safe)
    tx_types, channels = posted_channels(dn, first_l1)
    assert tx_types and tx_types <= DA_TX_TYPES[da], tx_types
    assert channels
    for cid, data in channels.items():
        read = read_channel(data, fjord=True)
        assert read.error is None, f"channel {cid.hex()}: {read.error}"
        assert read.version is ALGO_VERSION[algo]
        assert read.payloads and {p[0] for p in read.payloads} == {batch_type}


# ---- /metrics of a running batcher --------------------------------------------------------------------

GO_METRICS = {
    # §2.1 batcher
    "info", "up", "balance", "refs_number", "refs_time", "refs_hash", "refs_latency", "refs_seqnr",
    "channel_total", "last_channel_unix", "batcher_tx_total", "last_batcher_tx_unix", "pending_blocks_count",
    "pending_blocks_bytes_total", "pending_blocks_bytes_current", "pending_da_bytes", "unsafe_da_bytes",
    "blocks_added_count", "input_bytes", "ready_bytes", "output_bytes", "channel_closed_reason",
    "channel_num_frames", "channel_compr_ratio", "input_bytes_total", "output_bytes_total",
    "channel_queue_length", "blob_used_bytes", "throttle_intensity", "throttle_intensity_history",
    "throttle_max_tx_size", "throttle_max_block_size", "throttle_controller_type", "unsafe_bytes_ratio",
    "pid_controller_error", "pid_controller_integral", "pid_controller_derivative", "pid_response_time",
    # §2.2 txmgr
    "txmgr_tx_fee_gwei", "txmgr_tx_fee_gwei_total", "txmgr_tx_fee_histogram_gwei", "txmgr_tx_type",
    "txmgr_tx_gas_bump", "txmgr_tx_confirmed_latency_ms", "txmgr_current_nonce", "txmgr_pending_txs",
    "txmgr_tx_publish_error_count", "txmgr_confirm_total", "txmgr_last_confirm_unix", "txmgr_publish_total",
    "txmgr_last_publish_unix", "txmgr_basefee_wei", "txmgr_blob_basefee_wei", "txmgr_tipcap_wei",
    "txmgr_rpc_error_count",
    # §2.3 rpc
    "rpc_server_requests_total", "rpc_server_request_duration_seconds", "rpc_client_requests_total",
    "rpc_client_request_duration_seconds", "rpc_client_responses_total",
}  # fmt: skip
"""Every Go series of op-batcher.md §2.1-§2.3 (reference data), without the op_batcher_default_ prefix."""


def scrape(svc: cli.Service) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def declared_names(text: str) -> set[str]:
    """Series names that have a # TYPE line (labelled families without samples still declare one)."""
    prefix = "# TYPE op_batcher_default_"
    names = set()
    for line in text.splitlines():
        if line.startswith(prefix):
            name, kind = line[len(prefix) :].split(" ")[:2]
            names.add(name)
            if kind == "counter" and name.endswith("_total"):
                names.add(name)  # prometheus_client declares counters with their _total name
            elif kind == "counter":
                names.add(name + "_total")
    return names


def test_a_running_batcher_exposes_every_go_metric_name(dn: Devnet, tmp_path: Path) -> None:
    """After posting a channel, /metrics declares every Go series name (with HELP/TYPE) under the prefix."""
    svc = start_batcher(dn, tmp_path, "--data-availability-type", "calldata", name="batcher-metrics")
    try:
        wait_rpc(svc)
        dn.produce_l2_blocks(BLOCKS_PER_COMBO)
        wait_safe_catches_up(dn, svc)
        deadline = time.monotonic() + 10
        text = scrape(svc)
        while "op_batcher_default_txmgr_tx_fee_gwei " not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            text = scrape(svc)
    finally:
        svc.stop()
    missing = sorted(GO_METRICS - declared_names(text))
    assert not missing, missing
    for name in ("up", "txmgr_tx_type", "channel_num_frames"):
        assert f"op_batcher_default_{name} " in text, name  # sampled, not only declared
    assert "op_batcher_default_up 1\n" in text
