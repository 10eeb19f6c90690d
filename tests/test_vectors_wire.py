"""Wire-level shared vectors (../shared/vectors): blobs, frames, channels, L1-info, deposits.

Vector files are discovered by name pattern, so a new ``*/l1_info_*.hex``, ``*/blob*.txt``,
``*/brotli_*_compressed.hex`` or calldata entry with ``derived_here.frames`` is tested too. Every
``asserted_upstream`` value is checked, and the ``derived_here`` values that concern these formats.
Batch-level fields are checked in test_vectors_batches.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from batcher.vectors import require_vectors
from common.derive.batch import decode_batch
from common.derive.blob import (
    BLOB_ENCODING_VERSION,
    BLOB_SIZE,
    MAX_BLOB_DATA_SIZE,
    ROUNDS,
    VERSION_OFFSET,
    BlobError,
    BlobExtraneousDataError,
    BlobExtraneousDataFieldElementError,
    BlobInputTooLargeError,
    BlobInvalidEncodingVersionError,
    BlobInvalidFieldElementError,
    BlobInvalidLengthError,
    blob_from_hex,
    decode_blob,
    encode_blob,
)
from common.derive.channel import decompress_channel, read_batch_payloads, read_channel
from common.derive.frame import Frame, FrameError, force_close_tx_data, parse_frame_sequence, parse_frames
from common.derive.l1_info import (
    DepositTx,
    L1Info,
    l1_info_deposit_source_hash,
    l1_info_deposit_tx_bytes,
    parse_l1_info,
)
from common.derive.singular_batch import SingularBatch

VECTORS = require_vectors()

BLOB_ERRORS: dict[str, type[BlobError]] = {
    "ErrBlobInputTooLarge": BlobInputTooLargeError,
    "ErrBlobInvalidEncodingVersion": BlobInvalidEncodingVersionError,
    "ErrBlobInvalidLength": BlobInvalidLengthError,
    "ErrBlobInvalidFieldElement": BlobInvalidFieldElementError,
    "ErrBlobExtraneousDataFieldElement": BlobExtraneousDataFieldElementError,
    "ErrBlobExtraneousData": BlobExtraneousDataError,
}


def _glob(pattern: str) -> list[Path]:
    return sorted(VECTORS.glob(pattern))


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


@cache
def expected(folder: str) -> dict[str, Any]:
    path = VECTORS / folder / "expected.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return data


def hex_file(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip().removeprefix("0x"))


def entry_for(path: Path) -> dict[str, Any]:
    """The expected.json entry that describes ``path`` (its key names it, or its body does)."""
    entries = expected(path.parent.name)
    if path.name in entries:
        return dict(entries[path.name])
    for key, entry in entries.items():
        if path.name in key or path.name in json.dumps(entry):
            return dict(entry)
    raise AssertionError(f"no expected.json entry mentions {path.name}")


# ------------------------------------------------------------------------------------------ L1 info

L1_INFO_FIELDS = {
    "number": "number",
    "timestamp": "timestamp",
    "time": "timestamp",
    "base_fee": "base_fee",
    "basefee": "base_fee",
    "hash": "hash",
    "block_hash": "hash",
    "sequence_number": "sequence_number",
    "batcher_hash": "batcher_hash",
    "batcher_address": "batcher_address",
    "l1_fee_overhead": "l1_fee_overhead",
    "l1_fee_scalar": "l1_fee_scalar",
    "blob_base_fee": "blob_base_fee",
    "blob_basefee": "blob_base_fee",
    "base_fee_scalar": "base_fee_scalar",
    "blob_base_fee_scalar": "blob_base_fee_scalar",
    "operator_fee_scalar": "operator_fee_scalar",
    "operator_fee_constant": "operator_fee_constant",
    "da_footprint_gas_scalar": "da_footprint_gas_scalar",
    "kind": "fork",
}
L1_INFO_META = {"test", "source_tx", "reencode_equals_input", "source_hash"}


def check_l1_info(info: L1Info, fields: dict[str, Any]) -> int:
    """Compare every known field; unknown keys fail so a new vector's values are never skipped."""
    checked = 0
    for key, want in fields.items():
        if key in L1_INFO_META:
            continue
        assert key in L1_INFO_FIELDS, f"vector field {key!r} is not known to this checker"
        got = getattr(info, L1_INFO_FIELDS[key])
        if isinstance(got, bytes):
            got = got.hex()
            want = str(want).removeprefix("0x").lower()
        assert got == want, f"{key}: got {got!r}, expected {want!r}"
        checked += 1
    return checked


@pytest.mark.parametrize("path", _glob("*/l1_info_*.hex"), ids=_ids(_glob("*/l1_info_*.hex")))
def test_l1_info_calldata_vector(path: Path) -> None:
    """Decode each L1-info vector, check asserted and derived fields, and re-encode it exactly."""
    raw = hex_file(path)
    info = parse_l1_info(raw)
    assert info.encode() == raw
    entry = entry_for(path)
    asserted = entry["asserted_upstream"].get("expected", {})
    derived = entry.get("derived_here", {})
    derived = derived.get("decoded", derived)
    assert check_l1_info(info, asserted) + check_l1_info(info, derived) > 0
    if "source_hash" in asserted:
        assert l1_info_deposit_source_hash(info.hash, info.sequence_number).hex() == asserted["source_hash"]
    if "source_hash_recomputed" in entry.get("derived_here", {}):
        recomputed = l1_info_deposit_source_hash(info.hash, info.sequence_number).hex()
        assert recomputed == entry["derived_here"]["source_hash_recomputed"]


def _deposit_entries() -> list[dict[str, Any]]:
    path = VECTORS / "real-l1-info-deposits" / "deposits.json"
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text())["entries"]
    return entries


@pytest.mark.parametrize(
    "entry",
    _deposit_entries(),
    ids=[f"{e.get('l2_chain_id', '?')}-{e.get('l2_block_number')}" for e in _deposit_entries()],
)
def test_real_l1_info_deposit_envelope(entry: dict[str, Any]) -> None:
    """Each real 0x7e envelope decodes, re-encodes, rebuilds from its L1 info, and has the stated hashes."""
    raw = bytes.fromhex(entry["deposit_tx_hex"])
    tx = DepositTx.decode(raw)
    assert tx.encode() == raw
    derived = entry["derived_here"]
    dep = derived["deposit"]
    assert tx.source_hash.hex() == dep["source_hash"]
    assert tx.from_address.hex() == dep["from_"]
    assert tx.to is not None and tx.to.hex() == dep["to"]
    assert (tx.mint, tx.value, tx.gas, int(tx.is_system_tx)) == (
        dep["mint"],
        dep["value"],
        dep["gas"],
        dep["is_system_tx"],
    )
    assert tx.data.hex() == dep["data"]
    info = parse_l1_info(tx.data)
    assert check_l1_info(info, derived["l1_info"]) > 0
    source_hash = l1_info_deposit_source_hash(info.hash, info.sequence_number)
    assert (source_hash == tx.source_hash) is derived["source_hash_recomputed_matches"]
    assert l1_info_deposit_tx_bytes(info, gas=tx.gas) == raw
    for key in ("tx_hash", "tx_hash_recomputed"):
        if key in derived:
            assert tx.hash.hex() == derived[key]
    asserted = entry.get("asserted_upstream", {})
    if "tx_hash" in asserted:
        assert tx.hash.hex() == asserted["tx_hash"]
    if "sourceHash" in asserted:
        assert source_hash.hex() == asserted["sourceHash"]
    if "gas" in asserted:
        assert tx.gas == asserted["gas"]


# -------------------------------------------------------------------------------- frames / channels


def check_frames_and_channel(tx_data: bytes, derived: dict[str, Any]) -> None:
    """Frames, compression, decompressed length and batch types listed in a derived_here record."""
    frames = parse_frames(tx_data)
    want = derived["frames"]
    got = [
        {
            "channel_id": f.channel_id.hex(),
            "frame_number": f.number,
            "frame_data_length": len(f.data),
            "is_last": f.is_last,
        }
        for f in frames
    ]
    assert got == want
    if "channel_compression" in derived:
        read = read_channel(b"".join(f.data for f in frames), fjord=True)
        assert read.error is None
        assert read.version is not None and read.version.value == derived["channel_compression"]
        assert read.uncompressed_len == derived["decompressed_len"]
        assert [p[0] for p in read.payloads] == derived["batch_types"]


BLOB_FILES = [p for p in _glob("*/blob*.txt") if not p.stem.endswith("_decode")]


@pytest.mark.parametrize("path", BLOB_FILES, ids=_ids(BLOB_FILES))
def test_blob_vector(path: Path) -> None:
    """Each full blob decodes as its entry says and re-encodes to the identical blob."""
    blob = blob_from_hex(path.read_text())
    data = decode_blob(blob)
    assert encode_blob(data) == blob
    entry = entry_for(path)
    asserted = entry["asserted_upstream"]
    if "decoded_latin1" in asserted:
        assert data == asserted["decoded_latin1"][path.name].encode("latin-1")
    decoded_file = path.with_name(f"{path.stem}_decode.txt")
    if decoded_file.is_file():
        assert data == hex_file(decoded_file)
    if "decoded_len" in asserted:
        assert len(data) == asserted["decoded_len"]
    derived = entry.get("derived_here")
    if isinstance(derived, dict):
        if "blob_length_field" in derived:
            assert int.from_bytes(blob[2:5], "big") == derived["blob_length_field"]
        if "reencode_equals_blob" in derived:
            assert derived["reencode_equals_blob"] is True
        if "frames" in derived:
            check_frames_and_channel(data, derived)


def _calldata_entries() -> list[tuple[str, str]]:
    out = []
    for folder in sorted(p.name for p in VECTORS.iterdir() if p.is_dir()):
        for key, entry in expected(folder).items():
            derived = entry.get("derived_here")
            if (
                isinstance(derived, dict)
                and "frames" in derived
                and key.endswith(".hex")
                and "calldata" in entry.get("format", "")
            ):
                out.append((folder, key))
    return out


@pytest.mark.parametrize(
    ("folder", "key"), _calldata_entries(), ids=[f"{f}/{k}" for f, k in _calldata_entries()]
)
def test_calldata_vector_frames(folder: str, key: str) -> None:
    """Batcher calldata vectors: upstream frame assertions and derived frames/channel values."""
    data = hex_file(VECTORS / folder / key)
    entry = expected(folder)[key]
    asserted = entry["asserted_upstream"]
    frames = parse_frames(data)
    if "version" in asserted:
        assert data[0] == asserted["version"]
    if "channel_id_decimal" in asserted:
        assert int.from_bytes(frames[0].channel_id, "big") == int(asserted["channel_id_decimal"])
    if "frame_data_len" in asserted:
        assert len(frames[0].data) == asserted["frame_data_len"]
    if "is_last" in asserted:
        assert frames[0].is_last is asserted["is_last"]
    if asserted.get("frame_data") == "data[23:len-1]":
        assert frames[0].data == data[23:-1]
    if "batch_version" in asserted:
        read = read_channel(frames[0].data, fjord=True)
        assert read.payloads[0][0] == asserted["batch_version"]
    check_frames_and_channel(data, entry["derived_here"])


def _channel_entries() -> list[tuple[str, str]]:
    out = []
    for folder in sorted(p.name for p in VECTORS.iterdir() if p.is_dir()):
        for key, entry in expected(folder).items():
            if "compressed channel" in entry.get("format", ""):
                out.append((folder, key))
    return out


@pytest.mark.parametrize(
    ("folder", "key"), _channel_entries(), ids=[f"{f}/{k}" for f, k in _channel_entries()]
)
def test_compressed_channel_vector(folder: str, key: str) -> None:
    """Compressed channel files: decompressed length (asserted) and compression/batch counts (derived)."""
    data = hex_file(VECTORS / folder / key)
    entry = expected(folder)[key]
    read = read_channel(data, fjord=True)
    assert read.error is None
    assert read.uncompressed_len == entry["asserted_upstream"]["decompressed_len"]
    derived = entry["derived_here"]
    assert len(data) == derived["compressed_len"]
    assert read.version is not None and read.version.value == derived["channel_compression"]
    assert len(read.payloads) == derived["batch_count"]
    assert [p[0] for p in read.payloads] == derived["batch_types"]


BROTLI_FILES = _glob("*/brotli_*_compressed.hex")


@pytest.mark.parametrize("path", BROTLI_FILES, ids=_ids(BROTLI_FILES))
def test_brotli_stream_vector(path: Path) -> None:
    """Raw brotli streams decompress (behind the 0x01 channel byte) to their partner file."""
    partner = next(
        p
        for p in (path.with_name(path.name.replace("_compressed", s)) for s in ("_expected", "_decompressed"))
        if p.is_file()
    )
    out = decompress_channel(b"\x01" + hex_file(path), max_bytes=100_000_000, fjord=True)
    assert out == hex_file(partner)
    derived = expected(path.parent.name).get("brotli_*.hex", {}).get("derived_here", {}).get(partner.stem)
    if derived:
        assert len(out) == derived["len"]
        payloads = read_batch_payloads(out)
        assert len(payloads) == derived["batch_count"]
        assert payloads[0][0] == derived["batch_type"]


FRAMES_TO_BATCH = _glob("*/frames_to_batch_frame*.hex")


def test_kona_frames_to_batch_frames_and_channel() -> None:
    """Two version-less frames parse as derived; their raw brotli channel gives the asserted batch."""
    assert len(FRAMES_TO_BATCH) == 2, f"frames_to_batch vectors missing under {VECTORS}"
    frames = [f for p in FRAMES_TO_BATCH for f in parse_frame_sequence(hex_file(p))]
    entry = expected(FRAMES_TO_BATCH[0].parent.name)["frames_to_batch_*.hex"]
    derived = entry["derived_here"]
    assert [
        {
            "channel_id": f.channel_id.hex(),
            "frame_number": f.number,
            "frame_data_length": len(f.data),
            "is_last": f.is_last,
        }
        for f in frames
    ] == derived["frames"]
    channel = b"".join(f.data for f in frames)
    assert len(channel) == derived["channel_len"]
    body = decompress_channel(b"\x01" + channel, max_bytes=10_000, fjord=True)
    assert len(body) == derived["decompressed_len"]
    assert body == hex_file(FRAMES_TO_BATCH[0].with_name("frames_to_batch_decompressed.hex"))
    batch = decode_batch(body)
    want = entry["asserted_upstream"]["batch"]
    assert isinstance(batch, SingularBatch)
    assert (batch.parent_hash.hex(), batch.epoch_num, batch.epoch_hash.hex(), batch.timestamp) == (
        want["parent_hash"],
        want["epoch_num"],
        want["epoch_hash"],
        want["timestamp"],
    )
    assert [t.hex() for t in batch.transactions] == derived["transactions"]


# ---------------------------------------------------------------------------------- force close


def _force_close() -> dict[str, Any]:
    path = VECTORS / "optimism" / "force_close_frames.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"cases": []}
    return data


@pytest.mark.parametrize("index", range(len(_force_close()["cases"])))
def test_force_close_frames_vector(index: int) -> None:
    """op-node TestForceCloseTxData: exact closing calldata, or an error where it must fail."""
    doc = _force_close()
    case = doc["cases"][index]
    default_id = bytes.fromhex(doc["channel_id"])
    frames = [
        Frame(bytes.fromhex(f["id"]) if "id" in f else default_id, f["frame_number"], b"", f["is_last"])
        for f in case["frames"]
    ]
    if case["errors"]:
        with pytest.raises(FrameError):
            force_close_tx_data(frames)
        return
    out = force_close_tx_data(frames)
    assert out.hex() == case["output"]
    if "decoded_frames" in case:
        got = [
            {"frame_number": f.number, "frame_data_length": len(f.data), "is_last": f.is_last}
            for f in parse_frames(out)
        ]
        assert got == case["decoded_frames"]


# ------------------------------------------------------------------------------- blob codec table


def _codec() -> dict[str, Any]:
    path = VECTORS / "optimism" / "blob_codec_vectors.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return data


def _blob_with_prefix(prefix_hex: str) -> bytes:
    prefix = bytes.fromhex(prefix_hex)
    return prefix + bytes(BLOB_SIZE - len(prefix))


@pytest.mark.parametrize("case", _codec().get("decode_vectors", []), ids=lambda c: c["comment"][:40])
def test_blob_decode_table(case: dict[str, Any]) -> None:
    """op-node TestDecodeTestVectors: output bytes, output length, or the named error."""
    blob = _blob_with_prefix(case["blob_prefix_hex"])
    if "error" in case:
        with pytest.raises(BLOB_ERRORS[case["error"]]):
            decode_blob(blob)
        return
    out = decode_blob(blob)
    if case.get("output_hex") is not None:
        assert out.hex() == case["output_hex"]
    if "output_len" in case:
        assert len(out) == case["output_len"]
    if case.get("output_all_zero"):
        assert out == bytes(len(out))


@pytest.mark.parametrize("case", _codec().get("encode_vectors", []), ids=lambda c: c["comment"][:40])
def test_blob_encode_table(case: dict[str, Any]) -> None:
    """op-node TestEncodeTestVectors: exact blob prefix (rest zero), or ErrBlobInputTooLarge."""
    data = bytes.fromhex(case["input_hex"]) if "input_hex" in case else bytes(case["input_len"])
    if "error" in case:
        with pytest.raises(BLOB_ERRORS[case["error"]]):
            encode_blob(data)
        return
    assert encode_blob(data) == _blob_with_prefix(case["blob_prefix_hex"])


def test_blob_round_trip_strings() -> None:
    """op-node TestBlobEncodeDecode strings survive encode then decode."""
    strings = _codec().get("roundtrip_strings_latin1", [])
    assert strings
    for s in strings:
        data = s.encode("latin-1")
        assert decode_blob(encode_blob(data)) == data


@pytest.mark.parametrize("case", _codec().get("invalid_mutations", []), ids=lambda c: c["comment"][-30:])
def test_blob_invalid_mutation_table(case: dict[str, Any]) -> None:
    """op-node TestInvalidBlobDecoding: the mutated blob raises the named error."""
    # the first case quotes the string encoded; later ones say "same"
    comments = [c["comment"] for c in _codec()["invalid_mutations"]]
    text = next(m.group(1) for c in [case["comment"], *comments] if (m := re.search(r"'([^']*)'", c)))
    blob = bytearray(encode_blob(text.encode()))
    for offset, value in case["mutate"].items():
        blob[int(offset)] = int(value, 16)
    with pytest.raises(BLOB_ERRORS[case["error"]]):
        decode_blob(bytes(blob))


def test_blob_extraneous_data_table() -> None:
    """op-node TestExtraneousData: prefixes with stray bits, and a lone 0x01 before/after byte 128."""
    cases = _codec().get("extraneous_data", [])
    assert cases
    for case in cases:
        if "blob_prefix_hex" in case:
            with pytest.raises(BLOB_ERRORS[case["error"]]):
                decode_blob(_blob_with_prefix(case["blob_prefix_hex"]))
    for i in sorted({5, 31, 32, 64, 127, 128, 129, BLOB_SIZE - 1, *range(5, BLOB_SIZE, 4099)}):
        blob = bytearray(BLOB_SIZE)
        blob[i] = 1
        want = BlobExtraneousDataFieldElementError if i < 128 else BlobExtraneousDataError
        with pytest.raises(want):
            decode_blob(bytes(blob))


def test_blob_constants_match_the_table() -> None:
    """BlobSize, MaxBlobDataSize, EncodingVersion, VersionOffset and Rounds as op-node defines them."""
    constants = _codec()["constants"]
    assert constants == {
        "BlobSize": BLOB_SIZE,
        "MaxBlobDataSize": MAX_BLOB_DATA_SIZE,
        "EncodingVersion": BLOB_ENCODING_VERSION,
        "VersionOffset": VERSION_OFFSET,
        "Rounds": ROUNDS,
    }
