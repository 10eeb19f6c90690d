"""The fast JSON -> signed-bytes path agrees with the exact one, and declines whatever it cannot vouch for."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from batcher.bench.l2 import tx_json_tail
from batcher.bench.workload import TxFactory
from common.derive.transaction import decode_transaction, raw_tx_from_json
from common.derive.tx_json import fast_raw_tx


@pytest.fixture(scope="module")
def tx_objects() -> list[tuple[bytes, dict[str, object]]]:
    """op-geth-shaped objects (with a real keccak ``hash``) of varied txs of types 0, 1 and 2."""
    factory = TxFactory(seed=11)
    rng = random.Random(5)
    out = []
    for _ in range(300):
        raw = factory.mint()
        out.append(
            (raw, json.loads("{" + tx_json_tail(decode_transaction(raw), raw, rng.randbytes(20)) + "}"))
        )
    return out


def test_every_typed_tx_encodes_to_the_exact_paths_bytes(tx_objects) -> None:
    types = set()
    for raw, obj in tx_objects:
        exact = raw_tx_from_json(obj, 901)
        assert exact == raw
        fast = fast_raw_tx(obj, 901)
        types.add((obj["type"], fast is not None))
        if obj["type"] in ("0x1", "0x2"):
            assert fast == exact
        else:
            assert fast is None  # legacy: the exact path handles v/chain id
    assert ("0x2", True) in types and ("0x1", True) in types and ("0x0", False) in types


def test_access_lists_and_creations_encode_exactly(tx_objects) -> None:
    base = next(decode_transaction(raw) for raw, obj in tx_objects if obj["type"] == "0x2")
    for change in (
        {"access_list": ((b"\x11" * 20, (b"\x22" * 32, b"\x00" * 32)), (b"\x33" * 20, ()))},
        {"to": None},
        {"data": b"\x01" * 70_000},
        {"value": 0, "nonce": 0},
    ):
        tx = dataclasses.replace(base, **change)
        raw = tx.encode()
        obj = json.loads("{" + tx_json_tail(tx, raw, b"\x44" * 20) + "}")
        assert fast_raw_tx(obj, 901) == raw == raw_tx_from_json(obj, 901)


@pytest.mark.parametrize(
    "spoil",
    [
        {"hash": "0x" + "00" * 32},  # our bytes would not hash to it
        {"nonce": "0x01"},  # non-canonical quantity
        {"chainId": "0x1"},  # another chain
        {"yParity": "0x2"},
        {"r": 5},
        {"hash": None},
    ],
)
def test_anything_it_cannot_vouch_for_goes_to_the_exact_path(tx_objects, spoil) -> None:
    _raw, obj = next((r, o) for r, o in tx_objects if o["type"] == "0x2")
    assert fast_raw_tx({**obj, **spoil}, 901) is None
    assert fast_raw_tx(obj, 901) is not None
