"""``op-batcher shadow``: beside a running batcher on the devnet, post nothing, and account for both sides.

The devnet's batcher (our ``op-batcher`` child with Go's defaults: singular batches, zlib, calldata) posts
while a shadow with span batches and brotli runs from the same command line plus
``--shadow.batcher-address``. What the shadow says about the incumbent is checked against what the devnet
itself recorded: the L2 blocks its rollup node derived (``safe_history``, by the L1 block each came from)
and the batcher txs on the L1 chain (their calldata, frames and the blocks' base fees). The saving figures
are recomputed from both sides' totals. A garbage tx from the batcher's address is reported, not fatal.
The pure accounting (fees, gaps, savings) has unit tests at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batcher.decode.report import L2Params
from batcher.decode.sources import SourceRecord, blob_record, calldata_record
from batcher.shadow.flags import parse_shadow_args
from batcher.shadow.incumbent import IncumbentTracker, IncumbentTx
from batcher.shadow.report import (
    INCUMBENT,
    SHADOW,
    ChannelTally,
    L1Prices,
    ShadowReport,
    blob_base_fee,
    calldata_gas,
    saving,
)
from batcher.vectors import require_vectors
from common.derive.channel_bank import ChannelBankRules
from common.derive.frame import Frame, encode_tx_data, parse_frames
from common.service import flag_help
from common.service.flags import ConfigError
from devnet import cli
from devnet.anvil import rpc_call
from devnet.network import Devnet
from devnet.pytest_plugin import post_calldata, start_devnet
from tests.test_batcher_e2e import OP_BATCHER, batcher_args, start_batcher, wait_safe_catches_up

GARBAGE = b"\x00" + b"this is not a frame"
"""Batcher tx data with the right version byte and no valid frame: the incumbent's undecodable tx."""


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("batcher-shadow"))
    try:
        net.produce_l2_blocks(4)  # the sequencer's setup txs before anything is measured
        yield net
    finally:
        net.stop()


def start_shadow(dn: Devnet, tmp_path: Path, da: str) -> cli.Service:
    """``op-batcher shadow`` with the batcher's command line (key included: accepted, never used), switching
    to span batches, brotli and ``da``; its report goes to ``<tmp>/report-<da>.json``."""
    switch_to = ("--batch-type", "1", "--compression-algo", "brotli", "--data-availability-type", da)
    args = [
        "shadow",
        *batcher_args(dn, *switch_to, "--log.level", "info"),
        "--shadow.batcher-address",
        dn.info()["batcher_address"],
        "--shadow.report-path",
        str(tmp_path / f"report-{da}.json"),
    ]
    name = f"shadow-{da}"
    if not OP_BATCHER.exists():
        return cli.start_service(name, "batcher.cli", args, tmp_path)
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [str(OP_BATCHER), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return cli.Service(name, proc, log_path, int(args[args.index("--rpc.port") + 1]),
                       int(args[args.index("--metrics.port") + 1]))  # fmt: skip


def shadow_read_up_to(svc: cli.Service, l1_block: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail(40)
        if f'msg="Shadow L1 block" l1_block={l1_block} ' in svc.tail(4000):
            return
        time.sleep(0.2)
    raise AssertionError(f"the shadow never logged L1 block {l1_block}\n{svc.tail(40)}")


def scrape(svc: cli.Service) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=5).read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("op_batcher_default_shadow_")
    }


def l1_batcher_txs(dn: Devnet, first: int, last: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(tx, block) of every tx from the batcher to the inbox in L1 blocks first..last."""
    batcher, inbox = dn.info()["batcher_address"].lower(), dn.info()["batch_inbox"].lower()
    out = []
    for n in range(first, last + 1):
        block = rpc_call(dn.l1_url, "eth_getBlockByNumber", [hex(n), True])
        assert isinstance(block, dict)
        out += [
            (tx, block)
            for tx in block["transactions"]
            if tx["from"].lower() == batcher and (tx.get("to") or "").lower() == inbox
        ]
    return out


FRAME_OVERHEAD = 1 + 23
"""Per frame in a calldata tx or blob: the derivation version byte, then id (16), number (2), length (4)
and is_last (1) around the frame data."""
SHADOW_DAS = ("calldata", "blobs")
"""Two shadows run beside the one incumbent: span + brotli in calldata, and in blobs."""


def test_the_shadow_counts_the_incumbents_blocks_and_bytes_as_the_devnet_records_them(
    dn: Devnet, tmp_path: Path
) -> None:
    """Incumbent blocks, calldata, channel bytes and fees equal the devnet's records; ours are framed
    exactly from our channel bytes (calldata or blobs); savings follow from both sides' totals; the
    garbage tx is one reported problem and each shadow exits 0 with its report, having posted nothing."""
    assert dn.deriver is not None and dn.sequencer is not None
    shadows = {da: start_shadow(dn, tmp_path, da) for da in SHADOW_DAS}
    incumbent = None
    try:
        for svc in shadows.values():
            shadow_read_up_to(svc, dn.l1_head().number)
        garbage = post_calldata(dn, GARBAGE)["transactionHash"]  # before the incumbent: no nonce race
        incumbent = start_batcher(
            dn, tmp_path, "--batch-type", "0", "--compression-algo", "zlib", "--data-availability-type",
            "calldata", name="incumbent",
        )  # fmt: skip
        for count in (10, 8):  # two rounds: several channels on each side
            dn.produce_l2_blocks(count)
            wait_safe_catches_up(dn, incumbent)
        for _ in range(3):  # L1 blocks after the last L2 block: both sides close their channels
            rpc_call(dn.l1_url, "evm_mine")
            time.sleep(1.0)
        wait_safe_catches_up(dn, incumbent)
        incumbent.stop()
        last_l1 = dn.l1_head().number
        for svc in shadows.values():
            shadow_read_up_to(svc, last_l1)
        time.sleep(1.0)  # one more tick: nothing new may change the figures now
        metrics = {da: scrape(svc) for da, svc in shadows.items()}
    finally:
        if incumbent is not None:
            incumbent.stop()
        for svc in shadows.values():
            svc.stop()
    for da, svc in shadows.items():
        assert svc.process.returncode == 0, svc.tail(40)
        log = svc.tail(100000)
        assert "Shadow mode: read-only, nothing is signed or sent" in log
        assert dn.info()["dev_keys"]["batcher"]["private_key"][2:] not in log
        report = json.loads((tmp_path / f"report-{da}.json").read_text())
        assert report["l1_blocks"]["last"] == last_l1
        check_incumbent(dn, report, metrics[da], garbage)
        check_ours_and_savings(dn, report, metrics[da], da)


def check_incumbent(dn: Devnet, report: dict[str, Any], metrics: dict[str, float], garbage: str) -> None:
    """The incumbent's side against the devnet's records: derived blocks, and the txs on L1."""
    assert dn.deriver is not None
    first_l1, last_l1 = report["l1_blocks"]["first"], report["l1_blocks"]["last"]
    # the garbage tx: reported by hash, not fatal (the shadow read on and exited 0)
    undecodable = [p for p in report["problems"] if p["kind"] == "undecodable_tx"]
    assert [p["source"] for p in undecodable] == [garbage]
    assert metrics['op_batcher_default_shadow_problems_total{kind="undecodable_tx"}'] == 1

    # incumbent L2 blocks == what the devnet's rollup node derived from the L1 blocks the shadow read
    derived = sorted(b.number for l1, b in dn.deriver.safe_history if first_l1 <= l1 <= last_l1)
    theirs = report["channels"][INCUMBENT]
    covered = sorted(n for ch in theirs for n in range(ch["l2_first"], ch["l2_last"] + 1))
    assert derived and covered == derived
    totals = report["totals"][INCUMBENT]
    assert totals["l2_blocks"] == len(derived)

    # incumbent bytes and fees == the batcher txs on L1 (without the garbage one)
    txs = [(tx, b) for tx, b in l1_batcher_txs(dn, first_l1, last_l1) if tx["hash"] != garbage]
    inputs = [(bytes.fromhex(tx["input"][2:]), int(b["baseFeePerGas"], 16)) for tx, b in txs]
    assert {int(tx["type"], 16) for tx, _ in txs} == {2}  # calldata, as Go's default
    assert totals["txs"] == len(inputs)
    assert totals["calldata_bytes"] == totals["da_bytes"] == sum(len(d) for d, _ in inputs)
    assert totals["fee_wei"] == sum(calldata_gas(d) * fee for d, fee in inputs)
    receipts = [rpc_call(dn.l1_url, "eth_getTransactionReceipt", [tx["hash"]]) for tx, _ in txs]
    assert totals["gas"] == sum(int(r["gasUsed"], 16) for r in receipts)  # the L1's own gas accounting
    frames = [f for d, _ in inputs for f in parse_frames(d)]
    assert totals["compressed_bytes"] == sum(len(f.data) for f in frames)
    assert totals["calldata_bytes"] == totals["compressed_bytes"] + FRAME_OVERHEAD * len(frames)
    assert totals["channels"] == len({f.channel_id for f in frames}) == len(theirs)
    assert len(theirs) >= 2 and all(ch["errors"] == [] for ch in theirs)
    ours = {ch["id"] for ch in report["channels"][SHADOW]}
    assert not ours & {f.channel_id.hex() for f in frames}  # nothing of ours was posted


def check_ours_and_savings(dn: Devnet, report: dict[str, Any], metrics: dict[str, float], da: str) -> None:
    """Our span + brotli channels: consecutive blocks, verified, framed from their bytes; savings."""
    theirs, ours = report["totals"][INCUMBENT], report["channels"][SHADOW]
    assert report["config"]["batch_type"] == 1 and report["config"]["compression_algo"] == "brotli"
    assert len(ours) >= 2 and all(ch["errors"] == [] for ch in ours)
    ours_blocks = [n for ch in ours for n in range(ch["l2_first"], ch["l2_last"] + 1)]
    assert ours_blocks == list(range(ours_blocks[0], ours_blocks[-1] + 1))
    theirs_blocks = {
        n for ch in report["channels"][INCUMBENT] for n in range(ch["l2_first"], ch["l2_last"] + 1)
    }
    assert theirs_blocks <= set(ours_blocks)
    mine = report["totals"][SHADOW]
    assert mine["compressed_bytes"] == sum(ch["compressed_bytes"] for ch in ours)
    assert mine["da_bytes"] == sum(ch["da_bytes"] for ch in ours)
    framed = mine["compressed_bytes"] + FRAME_OVERHEAD * mine["txs"]  # one frame per tx or blob here
    if da == "calldata":
        assert (mine["calldata_bytes"], mine["blobs"]) == (framed, 0)
    else:
        assert (mine["calldata_bytes"], mine["blobs"], mine["blob_data_bytes"]) == (0, mine["txs"], framed)
        assert mine["blob_fill"] == pytest.approx(framed / (mine["blobs"] * 130_044))
        assert mine["da_bytes"] == 131_072 * mine["blobs"]

    # savings are computed from the two sides' real totals, per L2 block
    for measure, key in (
        ("da_bytes", "da_bytes"),
        ("compressed_bytes", "compressed_bytes"),
        ("fee", "fee_wei"),
        ("gas", "gas"),
    ):
        expected = 1 - (mine[key] / mine["l2_blocks"]) / (theirs[key] / theirs["l2_blocks"])
        assert report["savings"][measure] == pytest.approx(expected)
        series = f'op_batcher_default_shadow_saving_ratio{{measure="{measure}"}}'
        assert metrics[series] == pytest.approx(expected)
    # No sign is asserted: on the devnet's tiny blocks, cut into channels at different points on the two
    # sides, span + brotli has come out 2 % behind singular + zlib as well as ahead.

    # the metrics say the same as the report
    for side in (INCUMBENT, SHADOW):
        t = report["totals"][side]
        assert metrics[f'op_batcher_default_shadow_l2_blocks_total{{side="{side}"}}'] == t["l2_blocks"]
        assert metrics[f'op_batcher_default_shadow_da_bytes_total{{side="{side}"}}'] == t["da_bytes"]
        assert metrics[f'op_batcher_default_shadow_channels_total{{side="{side}"}}'] == t["channels"]
        assert (
            metrics[f'op_batcher_default_shadow_channel_latency_seconds_count{{side="{side}"}}']
            == t["channels"]
        )
    if da == "blobs":
        assert metrics['op_batcher_default_shadow_blob_fill_ratio{side="shadow"}'] == pytest.approx(
            mine["blob_fill"]
        )


# ---- the pure accounting ------------------------------------------------------------------------------


OP_SEPOLIA = L2Params(genesis_time=1691802540, block_time=2, chain_id=11155420)
"""OP Sepolia's L2 genesis time, block time and chain id (the hildr blob9 vector is an OP Sepolia blob)."""


def test_a_real_sepolia_blob_tx_is_one_channel_of_22_blocks_with_its_fill_and_fee():
    """hildr blob9 (real OP Sepolia batcher blob: one frame, 3196 bytes of zlib span batch, 22 blocks):
    the incumbent tracker counts its blocks, bytes, fill and fee; a garbage blob in the next tx is a
    reported problem and the channel still completes."""
    blob = bytes.fromhex((require_vectors() / "hildr/blob9.txt").read_text().strip()[2:])
    prices = L1Prices(block=5_335_460, timestamp=1_708_535_000, base_fee=5, blob_base_fee=2)
    tracker = IncumbentTracker(ChannelBankRules(), OP_SEPOLIA)
    bad = SourceRecord("0xbad#blob0", "blob", prices.block, ["blob: invalid encoding"])
    good = blob_record(blob, "0xgood#blob0", prices.block, prices.timestamp)
    done, problems = tracker.read_block(
        prices, [IncumbentTx("0xbad", None, (bad,)), IncumbentTx("0xgood", None, (good,))]
    )
    assert [(p.kind, p.source) for p in problems] == [("undecodable_tx", "0xbad#blob0")]
    (ch,) = done
    rel = 16_732_870  # the span batch's rel_timestamp (expected.json)
    first = rel // OP_SEPOLIA.block_time
    assert ch.channel_id.hex() == "2f127415c9cb64ca077f23db3cfa302e"
    assert ch.l2_blocks == list(range(first, first + 22))
    assert (ch.compressed_bytes, ch.uncompressed_bytes) == (3196, 6095)
    assert (ch.txs, ch.blobs, ch.blob_data_bytes, ch.calldata_bytes) == (1, 1, 3220, 0)
    assert ch.blob_fill == pytest.approx(3220 / 130_044)
    assert ch.fee_wei == 21_000 * 5 + 131_072 * 2
    assert ch.da_bytes == 131_072 and ch.errors == []
    assert ch.latency_seconds == prices.timestamp - (OP_SEPOLIA.genesis_time + rel)


def test_a_channel_that_does_not_decompress_is_a_channel_error():
    """A well-framed channel whose bytes are not zlib/brotli: the channel is counted, with the error."""
    frame = Frame(b"\x07" * 16, 0, b"\xff" * 40, True)
    data = encode_tx_data([frame])
    prices = L1Prices(block=3, timestamp=100, base_fee=1, blob_base_fee=1)
    tracker = IncumbentTracker(ChannelBankRules(), OP_SEPOLIA)
    rec = calldata_record(data, "0xc", 3, 100)
    done, problems = tracker.read_block(prices, [IncumbentTx("0xc", data, (rec,))])
    (ch,) = done
    assert ch.l2_blocks == [] and ch.calldata_bytes == len(data) and ch.errors
    assert [p.kind for p in problems] == ["channel_error"]


PRICES = L1Prices(block=10, timestamp=1000, base_fee=7, blob_base_fee=3)


def test_calldata_pays_the_eip7623_floor_and_blobs_their_blob_gas():
    """4 zero and 6 non-zero bytes: 21000 + 10 x (4 + 24) gas; 2 blobs: 21000 gas + 2 x 131072 blob gas."""
    data = b"\x00" * 4 + b"\x01" * 6
    assert calldata_gas(data) == 21_000 + 280
    assert PRICES.calldata_fee(data) == (21_000 + 280) * 7
    assert PRICES.blob_fee(2) == 21_000 * 7 + 2 * 131_072 * 3
    ch = ChannelTally(SHADOW, b"\x01" * 16)
    ch.add_calldata_tx(data, PRICES)
    ch.add_blob_tx([100, 200], PRICES)
    assert (ch.gas, ch.blob_gas) == (21_280 + 21_000, 2 * 131_072)
    assert ch.fee_wei == PRICES.calldata_fee(data) + PRICES.blob_fee(2)


def test_the_blob_base_fee_follows_the_excess_blob_gas():
    """1 wei at no excess; it grows with the excess (EIP-4844 fake_exponential)."""
    assert blob_base_fee(0) == 1
    assert blob_base_fee(10_000_000) > blob_base_fee(5_000_000) > 1


def _channel(side: str, first: int, last: int, da: bytes) -> ChannelTally:
    ch = ChannelTally(side, bytes([first]) * 16, list(range(first, last + 1)))
    ch.add_calldata_tx(da, PRICES)
    ch.finish(PRICES.block, PRICES.timestamp)
    return ch


def test_a_channel_begun_before_the_shadow_started_is_reported_as_a_dropped_frame():
    """Holocene: frame 1 of a channel whose frame 0 the shadow never saw is dropped, reported, not counted."""
    data = encode_tx_data([Frame(b"\x09" * 16, 1, b"\x01" * 30, True)])
    prices = L1Prices(block=3, timestamp=100, base_fee=1, blob_base_fee=1)
    tracker = IncumbentTracker(ChannelBankRules(), OP_SEPOLIA)
    done, problems = tracker.read_block(
        prices, [IncumbentTx("0xd", data, (calldata_record(data, "0xd", 3, 100),))]
    )
    assert done == []
    assert [(p.kind, p.source) for p in problems] == [("frame_dropped", "0xd")]


def test_a_jump_in_the_incumbents_blocks_is_reported_as_a_gap():
    """Blocks 1-3 then 6-7: blocks 4..5 were never posted; ours is never checked for gaps."""
    r = ShadowReport(shadowed=b"\x11" * 20)
    r.begin_l1_block(10)
    assert r.add_channel(_channel(INCUMBENT, 1, 3, b"\x01" * 100)) == []
    (gap,) = r.add_channel(_channel(INCUMBENT, 6, 7, b"\x01" * 100))
    assert gap.kind == "gap" and "4..5" in gap.detail
    assert r.add_channel(_channel(SHADOW, 9, 9, b"\x01")) == []
    assert r.problem_count("gap") == 1


def test_the_report_keeps_the_newest_channels_and_counts_them_all(monkeypatch):
    """Past the cap the channel list keeps the newest; totals and problem counts cover everything."""
    from batcher.shadow import report as shadow_report

    monkeypatch.setattr(shadow_report, "MAX_CHANNELS_KEPT", 2)
    r = ShadowReport(shadowed=b"\x11" * 20)
    r.begin_l1_block(10)
    for n in range(1, 6):
        r.add_channel(_channel(SHADOW, n, n, b"\x01" * 10))
    assert [c.l2_blocks for c in r.channels[SHADOW]] == [[4], [5]]
    assert r.totals[SHADOW].channels == 5 and r.totals[SHADOW].l2_blocks == 5


def test_savings_compare_the_sides_per_l2_block():
    """Theirs 2 blocks in 200 calldata bytes, ours 4 blocks in 100: 75 % fewer DA bytes per block."""
    r = ShadowReport(shadowed=b"\x11" * 20)
    r.begin_l1_block(10)
    r.add_channel(_channel(INCUMBENT, 1, 2, b"\x01" * 200))
    r.add_channel(_channel(SHADOW, 1, 4, b"\x01" * 100))
    assert r.savings()["da_bytes"] == pytest.approx(0.75)
    assert saving(None, 1.0) is None and saving(0.0, 1.0) is None
    assert json.loads(json.dumps(r.to_json()))["totals"][SHADOW]["l2_blocks"] == 4


BASE_ARGV = ["--l1-eth-rpc", "http://127.0.0.1:1", "--l2-eth-rpc", "http://127.0.0.1:1",
             "--rollup-rpc", "http://127.0.0.1:1"]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "flag shadow.batcher-address is required"),
        (["--shadow.batcher-address", "0x1234"], "--shadow.batcher-address: invalid address"),
    ],
)
def test_the_shadow_needs_the_batcher_address_and_names_a_bad_one(extra, needle):
    """Without --shadow.batcher-address, or with a malformed one, the config error names the flag."""
    with pytest.raises(ConfigError, match=re.escape(needle)):
        parse_shadow_args([*BASE_ARGV, *extra], {}, "v")


def test_a_report_path_in_a_missing_folder_is_refused_at_start(tmp_path):
    """The report is written on exit; a path that cannot be written is an error now, naming the flag."""
    argv = [*BASE_ARGV, "--shadow.batcher-address", "0x" + "ab" * 20]
    with pytest.raises(ConfigError, match=r"--shadow\.report-path: .*missing is not a writable directory"):
        parse_shadow_args([*argv, "--shadow.report-path", str(tmp_path / "missing" / "r.json")], {}, "v")
    assert parse_shadow_args([*argv, "--shadow.report-path", str(tmp_path / "r.json")], {}, "v").report_path


def test_a_missing_batcher_address_exits_non_zero(capsys):
    """The command itself fails at setup (Go's lifecycle message) instead of running without a target."""
    from batcher.shadow.service import main

    assert main(BASE_ARGV, {}) != 0
    out = capsys.readouterr()
    assert "shadow.batcher-address is required" in out.out + out.err


def test_the_key_flags_are_accepted_and_only_named_as_ignored():
    """The operator's command line works unchanged; the key itself is never kept in the config's log."""
    key = "0x" + "11" * 32
    cfg = parse_shadow_args(
        [*BASE_ARGV, "--private-key", key, "--shadow.batcher-address", "0x" + "ab" * 20], {}, "v"
    )
    assert cfg.shadowed == bytes.fromhex("ab" * 20)
    assert cfg.ignored_signer_flags == ("private-key",)


def test_shadow_help_lists_the_batcher_flags_and_the_shadow_flags():
    """``op-batcher shadow --help`` shows both: the operator's command line is accepted as it is."""
    from batcher.shadow.flags import shadow_table

    text = flag_help.help_text(shadow_table("v"))
    for name in ("--shadow.batcher-address", "--shadow.report-path", "--private-key", "--batch-type"):
        assert name in text
    assert "OP_BATCHER_SHADOW_BATCHER_ADDRESS" in text


def test_the_migration_guide_documents_the_shadow_flags_and_every_rpc_method_it_calls():
    """ "Trying it in shadow mode first" names each shadow flag, its env var and each read-only method."""
    from batcher.shadow.flags import shadow_flags
    from batcher.shadow.service import READ_ONLY_METHODS
    from docs.gen_flags import DOCS_DIR

    text = (DOCS_DIR / "migration.md").read_text()
    section = text[text.index("## Trying it in shadow mode first") :]
    section = section[: section.index("\n## ", 1)]
    for flag in shadow_flags():
        assert f"`--{flag.name}`" in section and all(env in section for env in flag.env), flag.name
    for method in READ_ONLY_METHODS:
        assert f"`{method}`" in section, method
