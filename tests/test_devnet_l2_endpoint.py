"""The devnet's L2 endpoint serves op-geth's miner_setMaxDASize and forwards everything else to anvil."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from devnet.anvil import rpc_call
from devnet.genesis import L2_CHAIN_ID
from devnet.l2_endpoint import MaxDASize, parse_max_da_size

pytestmark = pytest.mark.integration


def post(url: str, body: Any) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_anvil_itself_lacks_miner_set_max_da_size(devnet):
    """The reason for the front: the bare L2 anvil answers 'method not found'."""
    reply = post(
        devnet.l2_anvil_url, {"jsonrpc": "2.0", "id": 1, "method": "miner_setMaxDASize", "params": []}
    )
    assert reply["error"]["code"] == -32601


def test_set_max_da_size_answers_true_and_records_the_limits(devnet):
    """Like op-geth: true, and the last (maxTxSize, maxBlockSize) is kept."""
    assert rpc_call(devnet.l2_url, "miner_setMaxDASize", [hex(1000), hex(20_000)]) is True
    endpoint = devnet.l2_endpoint.endpoint
    assert endpoint.max_da_size == MaxDASize(1000, 20_000)
    assert rpc_call(devnet.l2_url, "miner_setMaxDASize", ["0x0", "0x0"]) is True
    assert endpoint.max_da_size == MaxDASize(0, 0)


def test_set_max_da_size_rejects_malformed_params_naming_the_argument(devnet):
    """A non-hex maxBlockSize is an invalid-params error that names it."""
    reply = post(
        devnet.l2_url, {"jsonrpc": "2.0", "id": 7, "method": "miner_setMaxDASize", "params": ["0x1", 5]}
    )
    assert reply["id"] == 7 and reply["error"]["code"] == -32602
    assert "maxBlockSize" in reply["error"]["message"]


def test_other_methods_and_mixed_batches_reach_the_anvil_in_order(devnet):
    """eth_* calls are forwarded; a batch mixing both kinds keeps its order and ids."""
    assert int(rpc_call(devnet.l2_url, "eth_chainId"), 16) == L2_CHAIN_ID
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "miner_setMaxDASize", "params": ["0x10", "0x20"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []},
    ]
    replies = post(devnet.l2_url, batch)
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert int(replies[0]["result"], 16) == L2_CHAIN_ID and replies[1]["result"] is True
    assert replies[2]["result"] == rpc_call(devnet.l2_anvil_url, "eth_blockNumber")


@pytest.mark.parametrize("params", [[], ["0x1"], ["1", "0x2"], ["0x", "0x2"], "0x1"])
def test_parse_max_da_size_needs_two_hex_quantities(params):
    """Anything but two 0x-prefixed quantities is refused."""
    with pytest.raises(ValueError, match="miner_setMaxDASize"):
        parse_max_da_size(params)
