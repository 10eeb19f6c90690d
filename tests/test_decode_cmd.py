"""``op-batcher decode``: file and L1-RPC sources, JSON output, per-item errors, exit codes."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batcher.decode.command import EXIT_DECODE_ERRORS, main, parse_raw_l1_tx
from batcher.vectors import vectors_dir
from common.derive.blob import encode_blob
from common.derive.frame import Frame, encode_tx_data

VECTORS = vectors_dir()
BLOB9 = VECTORS / "hildr" / "blob9.txt"
MAGI_SPAN = VECTORS / "magi" / "batcher_tx_data_span_batch.hex"
MAGI_SINGULAR = VECTORS / "magi" / "batcher_tx_data_single_frame.hex"
OP_SEPOLIA = ["--l2-genesis-time", "1691802540", "--l2-block-time", "2", "--l2-chain-id", "11155420"]
INBOX = "0xff00000000000000000000000000000011155420"

needs_vectors = pytest.mark.usefixtures("shared_vectors")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any] | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def expected_span(folder: str, key: str) -> dict[str, Any]:
    exp: dict[str, Any] = json.loads((VECTORS / folder / "expected.json").read_text())[key]["derived_here"]
    return dict(exp["span_batch"])


def blocks_summary(report: dict[str, Any]) -> list[list[int]]:
    return [[b["timestamp"], b["l1_origin_number"], b["tx_count"]] for b in report["blocks"]]


def all_hashes(report: dict[str, Any]) -> list[str]:
    return [h.removeprefix("0x") for b in report["blocks"] for h in b["tx_hashes"]]


@needs_vectors
def test_hildr_blob_prints_the_expected_blocks_and_tx_hashes(capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance: blob9 with OP Sepolia genesis gives 22 blocks with the expected hashes."""
    code, report, _ = run(capsys, "--blob", str(BLOB9), *OP_SEPOLIA)
    assert code == 0 and report is not None
    exp = expected_span("hildr", "blob9.txt + blob9_decode.txt")
    assert blocks_summary(report) == exp["blocks"]
    assert all_hashes(report) == exp["tx_hashes"]
    assert report["errors"] == []
    assert [c["id"] for c in report["channels"]] == ["2f127415c9cb64ca077f23db3cfa302e"]
    assert report["frames"][0]["data_length"] == 3196
    assert report["batches"][0]["kind"] == "span" and report["batches"][0]["block_count"] == 22


@needs_vectors
def test_magi_span_batch_calldata_prints_the_expected_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance: the magi span batch calldata gives 84 blocks and its 9 tx hashes."""
    code, report, _ = run(capsys, "--calldata", str(MAGI_SPAN), *OP_SEPOLIA)
    assert code == 0 and report is not None
    exp = expected_span("magi", "batcher_tx_data_span_batch.hex")
    assert blocks_summary(report) == exp["blocks"]
    assert all_hashes(report) == exp["tx_hashes"]
    assert report["blocks"][0]["number"] == (exp["blocks"][0][0] - 1691802540) // 2


@needs_vectors
def test_singular_batches_need_no_l2_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    """Singular batches carry their own timestamps and origins: 6 blocks without chain flags."""
    code, report, _ = run(capsys, "--calldata", str(MAGI_SINGULAR))
    assert code == 0 and report is not None
    exp = json.loads((VECTORS / "magi" / "expected.json").read_text())["batcher_tx_data_single_frame.hex"]
    singles = exp["derived_here"]["singular_batches"]
    got = [
        (b["parent_hash"][2:], b["l1_origin_number"], b["l1_origin_hash"][2:], b["timestamp"], b["tx_count"])
        for b in report["blocks"]
    ]
    assert got == [
        (s["parent_hash"], s["epoch_num"], s["epoch_hash"], s["timestamp"], s["tx_count"]) for s in singles
    ]
    assert all(len(b["tx_hashes"]) == b["tx_count"] for b in report["blocks"])


@needs_vectors
def test_span_batch_without_chain_parameters_is_reported_not_fatal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No genesis/block time: the batch is listed with an error saying which flags are needed."""
    code, report, _ = run(capsys, "--blob", str(BLOB9))
    assert code == EXIT_DECODE_ERRORS and report is not None
    assert report["blocks"] == []
    assert any("--l2-genesis-time" in e["error"] for e in report["errors"])


@needs_vectors
def test_rollup_config_gives_the_same_blocks_with_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--rollup-config (op-node format) replaces the three chain flags and numbers the blocks."""
    cfg = {
        "genesis": {
            "l1": {"hash": "0x" + "11" * 32, "number": 4071408},
            "l2": {"hash": "0x" + "22" * 32, "number": 0},
            "l2_time": 1691802540,
            "system_config": {"batcherAddr": "0x8f23bb38f531600e5d8fddaaec41f13fab46e98c"},
        },
        "block_time": 2,
        "seq_window_size": 3600,
        "channel_timeout": 300,
        "l1_chain_id": 11155111,
        "l2_chain_id": 11155420,
        "batch_inbox_address": INBOX,
        "canyon_time": 1699981200,
        "delta_time": 1703203200,
        "ecotone_time": 1708534800,
        "fjord_time": 1716998400,
    }
    path = tmp_path / "rollup.json"
    path.write_text(json.dumps(cfg))
    code, report, _ = run(capsys, "--blob", str(BLOB9), "--rollup-config", str(path))
    assert code == 0 and report is not None
    exp = expected_span("hildr", "blob9.txt + blob9_decode.txt")
    assert blocks_summary(report) == exp["blocks"]
    assert report["blocks"][0]["number"] == (1708535410 - 1691802540) // 2


def test_brotli_channel_before_fjord_is_a_channel_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With a rollup config that never schedules Fjord, a brotli channel is rejected per channel."""
    import brotli

    cfg = {
        "genesis": {
            "l1": {"hash": "0x" + "11" * 32, "number": 0},
            "l2": {"hash": "0x" + "22" * 32, "number": 0},
            "l2_time": 0,
        },
        "block_time": 2,
        "seq_window_size": 10,
        "l1_chain_id": 1,
        "l2_chain_id": 2,
        "batch_inbox_address": INBOX,
    }
    (tmp_path / "rollup.json").write_text(json.dumps(cfg))
    channel = b"\x01" + brotli.compress(b"\x83\x00ab")
    (tmp_path / "c.hex").write_text(encode_tx_data([Frame(b"\x07" * 16, 0, channel, True)]).hex())
    code, report, _ = run(
        capsys, "--calldata", str(tmp_path / "c.hex"), "--rollup-config", str(tmp_path / "rollup.json")
    )
    assert code == EXIT_DECODE_ERRORS and report is not None
    assert report["channels"][0]["errors"] == ["cannot accept brotli compressed batch before Fjord"]


def test_malformed_inputs_are_reported_per_item(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A bad frame, a bad blob and a corrupt channel each give an error entry; the JSON is printed, exit 3."""
    (tmp_path / "bad_frame.hex").write_text("00" + "ab" * 10)
    bad_blob = bytearray(encode_blob(b"hello"))
    bad_blob[1] = 1
    (tmp_path / "bad_blob.txt").write_text("0x" + bad_blob.hex())
    corrupt = encode_tx_data([Frame(b"\x05" * 16, 0, b"\x78\xda" + b"\xff" * 20, True)])
    (tmp_path / "corrupt.hex").write_text(corrupt.hex())
    code, report, err = run(
        capsys,
        "--calldata",
        str(tmp_path / "bad_frame.hex"),
        "--blob",
        str(tmp_path / "bad_blob.txt"),
        "--calldata",
        str(tmp_path / "corrupt.hex"),
    )
    assert code == EXIT_DECODE_ERRORS and report is not None and "Traceback" not in err
    messages = [e["error"] for e in report["errors"]]
    assert any("truncated frame header" in m for m in messages)
    assert any("invalid blob encoding version" in m for m in messages)
    assert any("corrupt zlib stream" in m for m in messages)
    assert [s["source"] for s in report["sources"]] == [
        str(tmp_path / n) for n in ("bad_frame.hex", "bad_blob.txt", "corrupt.hex")
    ]


def test_incomplete_channel_is_listed_with_its_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A channel missing its closing frame appears with status 'incomplete'."""
    (tmp_path / "open.hex").write_text(encode_tx_data([Frame(b"\x09" * 16, 0, b"\x78", False)]).hex())
    code, report, _ = run(capsys, "--calldata", str(tmp_path / "open.hex"))
    assert code == EXIT_DECODE_ERRORS and report is not None
    assert [(c["id"], c["status"]) for c in report["channels"]] == [("09" * 16, "incomplete")]


def _signed_type2(data: bytes) -> bytes:
    acct = Account.create()
    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "to": INBOX,
        "value": 0,
        "data": data,
        "gas": 100000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 1,
        "accessList": [],
    }
    return bytes(acct.sign_transaction(tx).raw_transaction)


def _signed_blob_tx(
    blobs: list[bytes],
    *,
    sidecar: bool,
    acct: Any = None,
    chain_id: int = 1,
    nonce: int = 0,
    commitments: list[bytes] | None = None,
    proofs: list[bytes] | None = None,
    hashes: list[bytes] | None = None,
) -> bytes:
    acct = acct or Account.create()
    commitments = commitments or [b"\xc0" + bytes(47) for _ in blobs]
    proofs = proofs or [b"\xc0" + bytes(47) for _ in blobs]
    hashes = hashes or [b"\x01" + bytes([i]) * 31 for i in range(len(blobs))]
    tx = {
        "type": 3,
        "chainId": chain_id,
        "nonce": nonce,
        "to": INBOX,
        "value": 0,
        "data": b"",
        "gas": 21000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**9,
        "accessList": [],
        "blobVersionedHashes": hashes,
    }
    raw = bytes(acct.sign_transaction(tx).raw_transaction)
    if not sidecar:
        return raw
    body = rlp.decode(raw[1:])
    return b"\x03" + bytes(rlp.encode([body, blobs, commitments, proofs]))


@needs_vectors
def test_raw_signed_transactions_yield_their_calldata_or_blobs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A signed type-2 tx and a network-form blob tx decode like the bare calldata and blob files."""
    calldata = bytes.fromhex(MAGI_SPAN.read_text().strip())
    blob9 = bytes.fromhex(BLOB9.read_text().strip()[2:])
    (tmp_path / "t2.hex").write_text(_signed_type2(calldata).hex())
    (tmp_path / "t3.hex").write_text("0x" + _signed_blob_tx([blob9], sidecar=True).hex())
    code, report, _ = run(
        capsys, "--raw-tx", str(tmp_path / "t2.hex"), "--raw-tx", str(tmp_path / "t3.hex"), *OP_SEPOLIA
    )
    assert code == 0 and report is not None and report["errors"] == []
    exp = [
        *expected_span("magi", "batcher_tx_data_span_batch.hex")["blocks"],
        *expected_span("hildr", "blob9.txt + blob9_decode.txt")["blocks"],
    ]
    assert blocks_summary(report) == exp


@needs_vectors
def test_binary_files_decode_like_their_hex(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A raw 131,072-byte blob, binary calldata and a binary raw tx are read by content, like hex."""
    calldata = bytes.fromhex(MAGI_SPAN.read_text().strip())
    blob9 = bytes.fromhex(BLOB9.read_text().strip()[2:])
    (tmp_path / "blob.bin").write_bytes(blob9)
    (tmp_path / "data.bin").write_bytes(calldata)
    (tmp_path / "tx.bin").write_bytes(_signed_type2(calldata))
    (tmp_path / "data.hex").write_text(
        "0x" + "\n".join(calldata.hex()[i : i + 64] for i in range(0, 2000, 64))
    )
    code, report, err = run(
        capsys,
        *("--calldata", str(tmp_path / "data.bin"), "--raw-tx", str(tmp_path / "tx.bin")),
        *("--blob", str(tmp_path / "blob.bin"), *OP_SEPOLIA),
    )
    assert code == 0 and report is not None and report["errors"] == [], err
    magi = expected_span("magi", "batcher_tx_data_span_batch.hex")["blocks"]
    assert blocks_summary(report) == [
        *magi,
        *magi,
        *expected_span("hildr", "blob9.txt + blob9_decode.txt")["blocks"],
    ]
    code, report, _ = run(capsys, "--calldata", str(tmp_path / "data.hex"))
    assert code == EXIT_DECODE_ERRORS and report is not None, "a truncated channel is an error"


_FILE_CONTENT = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=150).map(lambda b: ("0x" if len(b) % 2 else "") + b.hex()).map(str.encode),
    st.text("0123456789abcdefxX \n", max_size=80).map(str.encode),
    st.sampled_from([b"", b"0x", b"\x03\xc1\xc0", b"\x03\xc2\xc1\xc0", b"\x03" + bytes(rlp.encode([[], 1]))]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["--raw-tx", "--calldata", "--blob"]), content=_FILE_CONTENT)
def test_arbitrary_file_content_never_escapes_and_the_exit_status_matches_the_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, content: bytes
) -> None:
    """Arbitrary bytes or hex to every file source: a JSON report, exit 0 exactly when it lists no error."""
    path = tmp_path / "input"
    path.write_bytes(content)
    code, report, err = run(capsys, kind, str(path))
    assert report is not None and "Traceback" not in err
    assert code == (EXIT_DECODE_ERRORS if report["errors"] else 0)


def test_bare_blob_tx_asks_for_the_blob_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A blob tx without its sidecar is reported with its versioned hashes and a hint."""
    (tmp_path / "t3.hex").write_text(_signed_blob_tx([b"x"], sidecar=False).hex())
    code, report, _ = run(capsys, "--raw-tx", str(tmp_path / "t3.hex"))
    assert code == EXIT_DECODE_ERRORS and report is not None
    assert "pass the blobs with --blob" in report["errors"][0]["error"]
    assert "0x01" + "00" * 31 in report["errors"][0]["error"]


def test_parse_raw_l1_tx_handles_the_v1_cell_proof_wrapper() -> None:
    """Network form with wrapper version 1 ([tx, 1, blobs, commitments, cell_proofs]) yields the blobs."""
    raw = _signed_blob_tx([b"blob"], sidecar=False)
    body = rlp.decode(raw[1:])
    wrapped = b"\x03" + rlp.encode([body, 1, [b"blob"], [b"c" * 48], [b"p" * 48] * 128])
    tx = parse_raw_l1_tx(wrapped)
    assert tx.blobs == (b"blob",) and tx.tx_type == 3 and len(tx.blob_hashes) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no input"),
        (["--calldata", "x", "--l2-genesis-time", "1"], "must be given together"),
        (["--l1-eth-rpc", "http://127.0.0.1:1"], "--tx HASH or --start N --end M"),
        (["--l1-eth-rpc", "http://127.0.0.1:1", "--start", "1", "--end", "2"], "--batch-inbox"),
        (["--calldata", "x", "--l1-eth-rpc", "http://127.0.0.1:1", "--tx", "0x00"], "not both"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad flag combinations print a message on stderr and return 2 without JSON."""
    code, report, err = run(capsys, *argv)
    assert code == 2 and report is None
    assert message in err


def test_unreadable_file_and_unreachable_node_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A missing file and a refused connection are source errors (exit 1), not tracebacks."""
    code, _, err = run(capsys, "--blob", str(tmp_path / "missing.txt"))
    assert code == 1 and "cannot read" in err
    code, _, err = run(
        capsys, "--l1-eth-rpc", "http://127.0.0.1:9", "--tx", "0x" + "00" * 32, "--timeout", "2"
    )
    assert code == 1 and "Traceback" not in err and err.strip()


# ------------------------------------------------------------------------------------- real anvil L1


@pytest.fixture(scope="module")
def l1_with_batches() -> Iterator[dict[str, Any]]:
    """An anvil L1 holding a calldata batcher tx (magi span batch) and a blob tx (hildr blob9)."""
    from common.derive import kzg
    from common.txmgr.kzg_setup import load_trusted_setup
    from devnet.anvil import DEV_MNEMONIC, rpc_call, start_anvil

    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(DEV_MNEMONIC)
    node = start_anvil(["--hardfork", "prague"])
    try:
        chain_id = int(str(node.call("eth_chainId")), 16)
        calldata = bytes.fromhex(MAGI_SPAN.read_text().strip())
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": 0,
            "to": INBOX,
            "value": 0,
            "data": calldata,
            "gas": 200000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "accessList": [],
        }
        h1 = node.call(
            "eth_sendRawTransaction", ["0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()]
        )
        blob = bytes.fromhex(BLOB9.read_text().strip()[2:])
        side = kzg.blob_sidecar_data(blob, load_trusted_setup(), cell_proofs=False)
        raw = _signed_blob_tx(
            [blob],
            sidecar=True,
            acct=acct,
            chain_id=chain_id,
            nonce=1,
            commitments=[side.commitment],
            proofs=list(side.proofs),
            hashes=[side.versioned_hash],
        )
        # anvil verifies the KZG proof on the first blob tx, which can take a while on a busy machine
        h2 = rpc_call(node.url, "eth_sendRawTransaction", ["0x" + raw.hex()], timeout=120)
        receipt = None
        for _ in range(120):
            receipt = node.call("eth_getTransactionReceipt", [h2])
            if isinstance(receipt, dict):
                break
            time.sleep(0.25)
        assert isinstance(receipt, dict), f"blob tx {h2} was not mined"
        yield {
            "url": node.url,
            "hashes": [h1, h2],
            "batcher": acct.address,
            "last": int(receipt["blockNumber"], 16),
        }
    finally:
        node.stop()


def _expected_both() -> list[list[int]]:
    return [
        *expected_span("magi", "batcher_tx_data_span_batch.hex")["blocks"],
        *expected_span("hildr", "blob9.txt + blob9_decode.txt")["blocks"],
    ]


@pytest.mark.integration
@pytest.mark.slow
@needs_vectors
def test_block_range_from_anvil_finds_calldata_and_blob_batches(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """--start/--end with inbox and batcher reads both txs; blobs come from anvil's RPC."""
    env = l1_with_batches
    code, report, err = run(
        capsys,
        "--l1-eth-rpc",
        env["url"],
        "--start",
        "0",
        "--end",
        str(env["last"] + 1),
        "--batch-inbox",
        INBOX,
        "--batcher-address",
        env["batcher"],
        *OP_SEPOLIA,
    )
    assert code == 0, err
    assert report is not None and report["errors"] == []
    assert blocks_summary(report) == _expected_both()
    assert [s["kind"] for s in report["sources"]] == ["calldata", "blob"]


@pytest.mark.integration
@pytest.mark.slow
@needs_vectors
def test_tx_hashes_with_beacon_blobs_from_anvil(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """--tx for each hash with --l1-beacon (anvil serves /eth/v1/beacon/blobs) gives the same blocks."""
    env = l1_with_batches
    argv = ["--l1-eth-rpc", env["url"], "--l1-beacon", env["url"], *OP_SEPOLIA]
    for h in env["hashes"]:
        argv += ["--tx", h]
    code, report, err = run(capsys, *argv)
    assert code == 0, err
    assert report is not None and report["errors"] == []
    assert blocks_summary(report) == _expected_both()


@pytest.mark.integration
@pytest.mark.slow
def test_other_senders_are_ignored_in_range_mode(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """A batcher address that sent nothing yields no sources and no blocks."""
    env = l1_with_batches
    code, report, _ = run(
        capsys,
        "--l1-eth-rpc",
        env["url"],
        "--start",
        "0",
        "--end",
        str(env["last"] + 1),
        "--batch-inbox",
        INBOX,
        "--batcher-address",
        "0x" + "12" * 20,
    )
    assert code == 0 and report is not None
    assert report["sources"] == [] and report["blocks"] == []


class _SlotBeacon(http.server.BaseHTTPRequestHandler):
    """A stand-in for a real beacon node, which cannot run here: blobs are indexed by slot, not EL number.

    Class attributes are set by the test: ``genesis_time`` and ``blobs_by_slot`` ({slot: [hex, ...]}).
    """

    genesis_time = 0
    blobs_by_slot: ClassVar[dict[int, list[str]]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/eth/v1/beacon/genesis":
            body: Any = {"data": {"genesis_time": str(self.genesis_time)}}
        elif path == "/eth/v1/config/spec":
            body = {"data": {"SECONDS_PER_SLOT": "12"}}
        elif path.startswith("/eth/v1/beacon/blobs/"):
            body = {"data": self.blobs_by_slot.get(int(path.rsplit("/", 1)[1]), [])}
        else:
            self.send_error(404)
            return
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.integration
@pytest.mark.slow
@needs_vectors
def test_beacon_blobs_by_slot_when_the_block_number_finds_nothing(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """A beacon that indexes by slot: the decoder maps the L1 block timestamp to the slot via genesis."""
    env = l1_with_batches
    from devnet.anvil import rpc_call

    tx = rpc_call(env["url"], "eth_getTransactionByHash", [env["hashes"][1]])
    assert isinstance(tx, dict)
    block = rpc_call(env["url"], "eth_getBlockByNumber", [tx["blockNumber"], False])
    assert isinstance(block, dict)
    block_time = int(block["timestamp"], 16)
    _SlotBeacon.genesis_time = block_time - 12 * 1000
    _SlotBeacon.blobs_by_slot = {1000: [BLOB9.read_text().strip()]}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlotBeacon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, report, err = run(
            capsys, "--l1-eth-rpc", env["url"], "--l1-beacon", url, "--tx", env["hashes"][1], *OP_SEPOLIA
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err
    assert report is not None and report["errors"] == []
    assert blocks_summary(report) == expected_span("hildr", "blob9.txt + blob9_decode.txt")["blocks"]


@pytest.mark.integration
@pytest.mark.slow
def test_unreachable_beacon_exits_1(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """A refused beacon connection is a source failure (exit 1), not a per-tx error."""
    env = l1_with_batches
    code, report, err = run(
        capsys,
        "--l1-eth-rpc",
        env["url"],
        "--l1-beacon",
        "http://127.0.0.1:9",
        "--tx",
        env["hashes"][1],
        "--timeout",
        "3",
    )
    assert code == 1 and report is None
    assert "beacon http://127.0.0.1:9" in err


@pytest.mark.integration
@pytest.mark.slow
def test_unreachable_beacon_error_hides_its_credentials(
    capsys: pytest.CaptureFixture[str], l1_with_batches: dict[str, Any]
) -> None:
    """The exit-1 message names the beacon endpoint and path with userinfo and API key redacted."""
    env = l1_with_batches
    key = "0123456789abcdefABCDEF0123"
    beacon = f"http://user:hunter2@127.0.0.1:9/v3/{key}"
    code, report, err = run(
        capsys, "--l1-eth-rpc", env["url"], "--l1-beacon", beacon, "--tx", env["hashes"][1], "--timeout", "3"
    )
    assert code == 1 and report is None
    assert "beacon http://xxxxx@127.0.0.1:9/v3/xxxxx: GET /eth/v1/beacon/blobs/" in err
    assert "hunter2" not in err and key not in err


def test_first_invalid_batch_ends_the_channel_as_derivation_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Good singular batch, a type-2 batch, then another good one: only the first yields a block."""
    import zlib

    from common.derive.batch import rlp_string
    from common.derive.singular_batch import SingularBatch

    good = SingularBatch(b"\x01" * 32, 7, b"\x02" * 32, 1000, (b"\x02\xc0",)).encode()
    body = rlp_string(good) + rlp_string(b"\x02" + bytes(40)) + rlp_string(good)
    data = encode_tx_data([Frame(b"\x0a" * 16, 0, zlib.compress(body), True)])
    (tmp_path / "c.hex").write_text(data.hex())
    code, report, _ = run(capsys, "--calldata", str(tmp_path / "c.hex"))
    assert code == EXIT_DECODE_ERRORS and report is not None
    assert [(b["timestamp"], b["l1_origin_number"], b["tx_count"]) for b in report["blocks"]] == [
        (1000, 7, 1)
    ]
    assert report["channels"][0]["batch_count"] == 2
    assert "not supported" in report["batches"][1]["errors"][0]
    assert any("drops the rest of the channel" in e for e in report["channels"][0]["errors"])
