"""Transactions: RPC JSON -> canonical signed bytes, raw decode/encode, span-batch columns.

Fixtures are signed with eth_account for chain id 901 and turned into the JSON op-geth returns
from ``eth_getBlockByNumber(n, true)``; the expected raw bytes are eth_account's own encoding.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from common.derive.rlp import RlpError, rlp_decode, rlp_encode
from common.derive.span_tx import span_columns_of_raw, span_tx_data, transaction_from_span_fields
from common.derive.transaction import (
    TransactionError,
    TxHashMismatchError,
    UnsupportedTxTypeError,
    decode_transaction,
    is_deposit_json,
    keccak256,
    raw_tx_from_json,
    transaction_from_json,
    tx_type_of_json,
)

CHAIN_ID = 901
KEY = "0x" + "4c" * 32
"""A throwaway test key (not a dev account)."""
TO = "0x" + "35" * 20


def _q(value: int) -> str:
    return hex(value)


def _tx_json(fields: dict[str, Any], signed: Any, *, anvil: bool = False) -> dict[str, Any]:
    """The JSON op-geth (or anvil) returns for ``fields`` signed as ``signed``."""
    tx_type = fields.get("type", 0)
    obj: dict[str, Any] = {
        "blockHash": "0x" + "ab" * 32,
        "blockNumber": "0x5",
        "from": Account.from_key(KEY).address,
        "gas": _q(fields["gas"]),
        "hash": "0x" + signed.hash.hex().removeprefix("0x"),
        "input": fields.get("data", "0x"),
        "nonce": _q(fields["nonce"]),
        "to": fields.get("to"),
        "transactionIndex": "0x1",
        "value": _q(fields["value"]),
        "type": _q(tx_type),
        "v": _q(signed.v),
        "r": _q(signed.r),
        "s": _q(signed.s),
    }
    if tx_type in (0, 1):
        obj["gasPrice"] = _q(fields["gasPrice"])
    else:
        obj["maxFeePerGas"] = _q(fields["maxFeePerGas"])
        obj["maxPriorityFeePerGas"] = _q(fields["maxPriorityFeePerGas"])
        obj["gasPrice"] = _q(fields["maxFeePerGas"])  # effective price, ignored by the encoder
    if "chainId" in fields:
        obj["chainId"] = _q(fields["chainId"])
    if tx_type != 0:
        obj["yParity"] = _q(signed.v)
        obj["accessList"] = [
            {"address": e["address"], "storageKeys": list(e["storageKeys"])}
            for e in fields.get("accessList", [])
        ]
    if tx_type == 4:
        obj["authorizationList"] = [
            {
                "chainId": _q(a.chain_id),
                "address": "0x" + bytes(a.address).hex() if isinstance(a.address, bytes) else a.address,
                "nonce": _q(a.nonce),
                "yParity": _q(a.y_parity),
                "r": _q(a.r),
                "s": _q(a.s),
            }
            for a in fields["authorizationList"]
        ]
    if anvil and tx_type != 0:
        del obj["v"]  # some clients omit v on typed txs; yParity must then be used
    return obj


def signed_fixture(kind: str, nonce: int = 0, data: str = "0x") -> tuple[dict[str, Any], bytes]:
    """(RPC JSON, eth_account raw bytes) for one tx of ``kind``."""
    base: dict[str, Any] = {
        "nonce": nonce,
        "gas": 90_000 + nonce,
        "to": TO,
        "value": 10**15 + nonce,
        "data": data,
    }
    access = [{"address": "0x" + "42" * 20, "storageKeys": ["0x" + "00" * 31 + "07"]}]
    if kind == "legacy_protected":
        fields = {**base, "gasPrice": 2 * 10**9, "chainId": CHAIN_ID}
    elif kind == "legacy_unprotected":
        fields = {**base, "gasPrice": 2 * 10**9}
    elif kind == "creation":
        fields = {**base, "gasPrice": 2 * 10**9, "chainId": CHAIN_ID, "data": "0x6001600155"}
        fields.pop("to")
    elif kind == "access_list":
        fields = {**base, "type": 1, "gasPrice": 3 * 10**9, "chainId": CHAIN_ID, "accessList": access}
    elif kind == "dynamic_fee":
        fields = {
            **base,
            "type": 2,
            "maxFeePerGas": 5 * 10**9,
            "maxPriorityFeePerGas": 10**6,
            "chainId": CHAIN_ID,
            "accessList": access,
        }
    elif kind == "set_code":
        auth = Account.sign_authorization({"chainId": CHAIN_ID, "address": "0x" + "77" * 20, "nonce": 9}, KEY)
        fields = {
            **base,
            "type": 4,
            "maxFeePerGas": 5 * 10**9,
            "maxPriorityFeePerGas": 10**6,
            "chainId": CHAIN_ID,
            "accessList": [],
            "authorizationList": [auth],
        }
    else:
        raise AssertionError(kind)
    signed = Account.sign_transaction(fields, KEY)
    return _tx_json(fields, signed), bytes(signed.raw_transaction)


KINDS = ["legacy_protected", "legacy_unprotected", "creation", "access_list", "dynamic_fee", "set_code"]


def deposit_json(data: str = "0x", *, anvil: bool = False) -> dict[str, Any]:
    """A deposit tx object the way op-geth (isSystemTx bool) or anvil ("0x7E", "0x1") prints it."""
    obj: dict[str, Any] = {
        "type": "0x7E" if anvil else "0x7e",
        "sourceHash": "0x" + "11" * 32,
        "from": "0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001",
        "to": "0x4200000000000000000000000000000000000015",
        "mint": "0x0",
        "value": "0x0",
        "gas": "0xf4240",
        "input": data,
        "nonce": "0x0",
        "v": "0x0",
        "r": "0x0",
        "s": "0x0",
        "hash": "0x" + "99" * 32,
    }
    if anvil:
        obj["isSystemTx"] = "0x1"
    else:
        obj["isSystemTx"] = False
    return obj


@pytest.mark.parametrize("kind", KINDS)
def test_json_reencodes_to_the_signed_bytes(kind: str) -> None:
    """Every batchable tx type re-encodes from op-geth JSON to exactly eth_account's signed bytes."""
    obj, raw = signed_fixture(kind, nonce=3, data="0xdeadbeef" if kind != "creation" else "0x6001600155")
    assert raw_tx_from_json(obj, CHAIN_ID) == raw


@pytest.mark.parametrize("kind", ["access_list", "dynamic_fee", "set_code"])
def test_typed_json_without_v_uses_y_parity(kind: str) -> None:
    """Typed tx JSON that only carries yParity still re-encodes exactly."""
    fields_obj, raw = signed_fixture(kind)
    fields_obj.pop("v")
    assert raw_tx_from_json(fields_obj, CHAIN_ID) == raw


@pytest.mark.parametrize("kind", KINDS)
def test_raw_decode_then_encode_is_identity(kind: str) -> None:
    """Decoding canonical bytes and encoding them again gives the same bytes and hash."""
    _, raw = signed_fixture(kind, nonce=1)
    tx = decode_transaction(raw)
    assert tx.encode() == raw
    assert tx.hash == keccak256(raw)


@pytest.mark.parametrize("kind", KINDS)
def test_span_columns_rebuild_the_tx(kind: str) -> None:
    """tx_data + nonce/gas/to/signature/protected bit + chain id rebuild the exact signed tx."""
    _, raw = signed_fixture(kind, nonce=2)
    tx = decode_transaction(raw)
    rebuilt = transaction_from_span_fields(
        span_tx_data(tx),
        nonce=tx.nonce,
        gas=tx.gas,
        to=tx.to,
        r=tx.r,
        s=tx.s,
        y_parity=tx.y_parity,
        protected=tx.protected,
        chain_id=CHAIN_ID,
    )
    assert rebuilt.encode() == raw


def test_legacy_protection_is_read_from_v() -> None:
    """EIP-155 v = 2*chainId+35+y marks a legacy tx protected; v = 27/28 unprotected."""
    _, protected_raw = signed_fixture("legacy_protected")
    _, plain_raw = signed_fixture("legacy_unprotected")
    protected, plain = decode_transaction(protected_raw), decode_transaction(plain_raw)
    assert protected.protected and protected.chain_id == CHAIN_ID
    assert protected.v == 2 * CHAIN_ID + 35 + protected.y_parity
    assert not plain.protected and plain.v in (27, 28)


def test_hash_mismatch_names_the_tx() -> None:
    """A JSON hash that our encoding does not reproduce raises with the caller's location."""
    obj, _ = signed_fixture("dynamic_fee")
    obj["value"] = hex(int(obj["value"], 16) + 1)
    with pytest.raises(TxHashMismatchError, match="block 7 tx 2"):
        raw_tx_from_json(obj, CHAIN_ID, where="block 7 tx 2")


def test_wrong_chain_id_is_rejected() -> None:
    """A tx signed for another chain cannot go into this chain's span batches."""
    obj, _ = signed_fixture("dynamic_fee")
    with pytest.raises(TransactionError, match="chain id 901 differs from L2 chain id 10"):
        raw_tx_from_json(obj, 10)


def test_deposits_are_recognised_in_both_spellings() -> None:
    """op-geth's "0x7e" and anvil's "0x7E" both mark a deposit, which cannot be re-encoded."""
    assert is_deposit_json(deposit_json())
    assert is_deposit_json(deposit_json(anvil=True))
    assert tx_type_of_json({"nonce": "0x0"}) == 0
    with pytest.raises(UnsupportedTxTypeError, match="deposit"):
        transaction_from_json(deposit_json(anvil=True))


def test_blob_tx_is_rejected_clearly() -> None:
    """Type 3 never appears in L2 blocks: the error says so."""
    obj, _ = signed_fixture("dynamic_fee")
    obj["type"] = "0x3"
    with pytest.raises(UnsupportedTxTypeError, match="blob transactions"):
        raw_tx_from_json(obj, CHAIN_ID)


def test_non_canonical_integers_are_rejected() -> None:
    """Leading zero bytes in an RLP integer are not canonical and are refused."""
    import rlp

    bad = rlp.encode([b"\x00\x01", 1, 21000, b"\x11" * 20, 0, b"", 37, 1, 1])
    with pytest.raises(TransactionError, match="nonce: non-canonical"):
        decode_transaction(bad)


def test_missing_field_is_named() -> None:
    """A JSON tx without a required field names that field."""
    obj, _ = signed_fixture("dynamic_fee")
    del obj["maxFeePerGas"]
    with pytest.raises(TransactionError, match="maxFeePerGas"):
        raw_tx_from_json(obj, CHAIN_ID)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["legacy_protected", "legacy_unprotected", "access_list", "dynamic_fee"]),
    nonce=st.integers(0, 2**20),
    data=st.binary(max_size=300),
)
def test_any_signed_tx_round_trips_through_json_and_columns(kind: str, nonce: int, data: bytes) -> None:
    """Random payloads: JSON -> raw equals the signed bytes, and span columns rebuild them."""
    obj, raw = signed_fixture(kind, nonce=nonce, data="0x" + data.hex())
    assert raw_tx_from_json(obj, CHAIN_ID) == raw
    tx = decode_transaction(raw)
    again = transaction_from_span_fields(
        span_tx_data(tx),
        nonce=tx.nonce,
        gas=tx.gas,
        to=tx.to,
        r=tx.r,
        s=tx.s,
        y_parity=tx.y_parity,
        protected=tx.protected,
        chain_id=CHAIN_ID,
    )
    assert again.encode() == raw


@pytest.mark.parametrize("kind", KINDS)
def test_fast_column_split_equals_the_decoded_split(kind: str) -> None:
    """span_columns_of_raw (RLP slicing) gives the same columns as decode + span_tx_data."""
    _, raw = signed_fixture(kind, nonce=5, data="0x" + "00ff" * 40)
    tx = decode_transaction(raw)
    cols = span_columns_of_raw(raw)
    assert cols.tx_data == span_tx_data(tx)
    assert (cols.tx_type, cols.chain_id, cols.nonce, cols.gas, cols.to, cols.y_parity) == (
        tx.tx_type,
        tx.chain_id,
        tx.nonce,
        tx.gas,
        tx.to,
        tx.y_parity,
    )
    assert (int.from_bytes(cols.r, "big"), int.from_bytes(cols.s, "big")) == (tx.r, tx.s)
    assert len(cols.r) == len(cols.s) == 32


def test_fast_column_split_rejects_what_decode_rejects() -> None:
    """Deposits, blob txs, wrong field counts and non-canonical integers fail in the fast path too."""
    import rlp

    with pytest.raises(UnsupportedTxTypeError):
        span_columns_of_raw(b"\x7e\xc0")
    with pytest.raises(UnsupportedTxTypeError):
        span_columns_of_raw(b"\x03\xc0")
    with pytest.raises(TransactionError, match="expected 9 fields"):
        span_columns_of_raw(rlp.encode([1, 2, 3]))
    with pytest.raises(TransactionError, match="nonce: non-canonical"):
        span_columns_of_raw(rlp.encode([b"\x00\x01", 1, 21000, b"\x11" * 20, 0, b"", 37, 1, 1]))
    with pytest.raises(TransactionError, match="runs past"):
        span_columns_of_raw(bytes.fromhex("02c3830102"))


rlp_items = st.recursive(
    st.binary(max_size=80) | st.integers(0, 2**256 - 1),
    lambda children: st.lists(children, max_size=5),
    max_leaves=20,
)


def _as_decoded(item: Any) -> Any:
    """What decoding gives back for an encodable item (ints come back as minimal bytes)."""
    if isinstance(item, int):
        return item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, list):
        return [_as_decoded(x) for x in item]
    return item


@given(rlp_items)
def test_own_rlp_codec_matches_pyrlp(item: Any) -> None:
    """The core's RLP codec (no pyrlp, to keep the core free of socket imports) agrees with pyrlp."""
    import rlp

    encoded = rlp_encode(item)
    assert encoded == rlp.encode(item)
    assert rlp_decode(encoded) == _as_decoded(item)


def test_own_rlp_decoder_is_strict() -> None:
    """Non-canonical lengths, wrapped single bytes and trailing bytes are refused."""
    for bad in ("8101", "b80100", "c10000", "f800", "8201", "0000"):
        with pytest.raises(RlpError):
            rlp_decode(bytes.fromhex(bad))
