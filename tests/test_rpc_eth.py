"""EthClient against a real anvil (Prague): typed headers, fees, nonces, sends, receipts, reverts, proofs and
blobs; plus parsing of shapes anvil does not produce (hex ``baseFeePerBlobGas``, malformed results)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import rlp
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from common.derive import kzg
from common.rpc.errors import ExecutionRevertedError, RpcDecodeError
from common.rpc.eth import ERROR_STRING_SELECTOR, EthClient, decode_revert_reason
from common.rpc.types import FeeHistory, Header, Receipt
from common.txmgr.kzg_setup import load_trusted_setup
from common.txmgr.signer import LocalSigner
from devnet.anvil import DEV_MNEMONIC, AnvilNode, start_anvil

pytestmark = pytest.mark.integration

Account.enable_unaudited_hdwallet_features()
DEV = Account.from_mnemonic(DEV_MNEMONIC, account_path="m/44'/60'/0'/0/0")
RECIPIENT = "0x" + "42" * 20
REVERTER = "0x" + "aa" * 20
CUSTOM_REVERTER = "0x" + "bb" * 20
RETURNER = "0x" + "cc" * 20
CHAIN_ID = 31337


def abi_error_string(reason: str) -> bytes:
    """``Error(string)`` return data, as Solidity's ``revert("...")`` produces."""
    raw = reason.encode()
    padded = raw + b"\x00" * (-len(raw) % 32)
    return ERROR_STRING_SELECTOR + (32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + padded


def code_returning(data: bytes, *, revert: bool) -> str:
    """Runtime code that copies ``data`` (after 12 bytes of code) to memory and returns or reverts it."""
    assert len(data) < 256
    n = len(data).to_bytes(1, "big")
    body = (
        b"\x60" + n + b"\x60\x0c\x60\x00\x39" + b"\x60" + n + b"\x60\x00" + (b"\xfd" if revert else b"\xf3")
    )
    assert len(body) == 12
    return "0x" + (body + data).hex()


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    node = start_anvil(["--hardfork", "prague"])
    node.call("anvil_setCode", [REVERTER, code_returning(abi_error_string("nope, not today"), revert=True)])
    custom = bytes.fromhex("deadbeef") + (7).to_bytes(32, "big")
    node.call("anvil_setCode", [CUSTOM_REVERTER, code_returning(custom, revert=True)])
    node.call("anvil_setCode", [RETURNER, code_returning(b"\x11" * 32, revert=False)])
    yield node
    node.stop()


async def send_transfer(eth: EthClient, value: int) -> bytes:
    nonce = await eth.nonce_at(DEV.address, "pending")
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": RECIPIENT,
        "value": value,
        "gas": 21000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "data": b"",
    }
    raw = bytes(Account.sign_transaction(tx, DEV.key).raw_transaction)
    return await eth.send_raw_transaction(raw)


async def wait_receipt(eth: EthClient, tx_hash: bytes) -> Receipt:
    for _ in range(100):
        receipt = await eth.receipt(tx_hash)
        if receipt is not None:
            return receipt
        await asyncio.sleep(0.05)
    raise AssertionError("no receipt")


async def test_chain_id_block_number_and_headers_are_typed(anvil):
    """Chain id, head number and the header fields parse into ints and 32-byte hashes."""
    async with EthClient(anvil.url) as eth:
        assert await eth.chain_id() == CHAIN_ID
        await eth.call("evm_mine")
        number = await eth.block_number()
        head = await eth.header()
        by_number = await eth.header(number)
        by_hash = await eth.header(head.hash)
    assert head.number == number >= 1
    assert head == by_number == by_hash
    assert len(head.hash) == 32 and len(head.parent_hash) == 32 and head.timestamp > 0
    assert head.base_fee is not None and head.base_fee > 0
    assert head.excess_blob_gas is not None and head.blob_gas_used is not None
    assert head.gas_limit > 0
    assert head.to_l1_block_ref().id == head.id


async def test_unknown_blocks_raise_a_decode_error_naming_the_block(anvil):
    """Asking for a block the node does not have fails with a clear error instead of returning None."""
    async with EthClient(anvil.url) as eth:
        with pytest.raises(RpcDecodeError, match="block 0xf4240 not found"):
            await eth.header(1_000_000)


async def test_a_sent_transfer_has_a_typed_receipt_and_transaction(anvil):
    """send_raw_transaction returns the hash; receipt and transaction lookups parse every field used."""
    async with EthClient(anvil.url) as eth:
        before = await eth.balance(RECIPIENT)
        nonce = await eth.nonce_at(DEV.address)
        tx_hash = await send_transfer(eth, 12345)
        receipt = await wait_receipt(eth, tx_hash)
        tx = await eth.transaction(tx_hash)
        block = await eth.block_json(receipt.block_number)
        assert await eth.balance(RECIPIENT) == before + 12345
        assert await eth.nonce_at(DEV.address) == nonce + 1
    assert receipt.transaction_hash == tx_hash and receipt.succeeded and receipt.type == 2
    assert receipt.gas_used == 21000 and receipt.effective_gas_price > 0 and receipt.logs == ()
    assert receipt.blob_gas_used is None and receipt.contract_address is None
    assert tx is not None and tx.hash == tx_hash and tx.nonce == nonce and tx.value == 12345
    assert tx.sender == bytes.fromhex(DEV.address[2:]) and tx.block_number == receipt.block_number
    assert (
        isinstance(block["transactions"][0], dict)
        and block["transactions"][0]["hash"] == "0x" + tx_hash.hex()
    )


async def test_unknown_transactions_have_no_receipt(anvil):
    """An unknown hash gives None for both the receipt and the transaction."""
    async with EthClient(anvil.url) as eth:
        assert await eth.receipt(b"\x01" * 32) is None
        assert await eth.transaction(b"\x01" * 32) is None


async def test_fee_queries_return_wei(anvil):
    """Tip suggestion, blob base fee and fee history are ints with the documented list lengths."""
    async with EthClient(anvil.url) as eth:
        await eth.call("evm_mine")
        await eth.call("evm_mine")
        tip = await eth.max_priority_fee()
        blob_fee = await eth.blob_base_fee()
        history = await eth.fee_history(2, "latest", [25.0, 75.0])
    assert tip > 0 and blob_fee >= 1
    assert len(history.gas_used_ratio) == 2 and len(history.base_fee_per_gas) == 3
    assert all(len(row) == 2 for row in history.reward)
    assert len(history.base_fee_per_blob_gas) == 3 and all(fee >= 1 for fee in history.base_fee_per_blob_gas)


async def test_estimate_gas_and_eth_call_return_values(anvil):
    """estimate_gas on a transfer is 21000; eth_call returns the contract's return data."""
    async with EthClient(anvil.url) as eth:
        assert await eth.estimate_gas({"from": DEV.address, "to": RECIPIENT, "value": 1}) == 21000
        assert await eth.eth_call({"to": RETURNER, "data": b""}) == b"\x11" * 32


async def test_reverts_surface_the_reason_and_the_raw_data(anvil):
    """A require-style revert is decoded; a custom error keeps its selector and arguments."""
    async with EthClient(anvil.url) as eth:
        with pytest.raises(ExecutionRevertedError) as info:
            await eth.eth_call({"to": REVERTER, "data": b""})
        assert info.value.reason == "nope, not today"
        assert info.value.revert_data == abi_error_string("nope, not today")
        with pytest.raises(ExecutionRevertedError) as custom:
            await eth.eth_call({"to": CUSTOM_REVERTER, "data": "0x"})
        assert custom.value.reason is None
        assert custom.value.revert_data == bytes.fromhex("deadbeef") + (7).to_bytes(32, "big")
        with pytest.raises(ExecutionRevertedError) as est:
            await eth.estimate_gas({"from": DEV.address, "to": REVERTER})
        assert est.value.reason == "nope, not today"
    assert "eth_call at http://127.0.0.1" in str(info.value)


async def test_get_proof_sends_full_word_keys(anvil):
    """Storage keys given as ints go out as 32-byte words and the slot value comes back."""
    target = "0x" + "dd" * 20
    anvil.call("anvil_setStorageAt", [target, "0x0", "0x" + (99).to_bytes(32, "big").hex()])
    async with EthClient(anvil.url) as eth:
        proof = await eth.get_proof(target, [0, b"\x01"])
    assert proof.address == bytes.fromhex("dd" * 20)
    assert [p.key for p in proof.storage_proof] == [b"\x00" * 32, b"\x00" * 31 + b"\x01"]
    assert [p.value for p in proof.storage_proof] == [99, 0]
    assert len(proof.storage_hash) == 32 and proof.account_proof


async def test_blob_transactions_report_blob_gas_and_their_blobs(anvil):
    """A type-3 tx (signed without sidecar by LocalSigner, wrapped here) has blob receipt fields and blobs."""
    blob = b"\x00" + b"\x07" * 31 + b"\x00" * (131072 - 32)
    setup = load_trusted_setup()  # seconds, once per process
    commitment = kzg.blob_to_commitment(blob, setup)
    proof = kzg.compute_blob_proof(blob, commitment, setup)
    versioned_hash = kzg.versioned_hash(commitment)
    signer = LocalSigner.from_mnemonic(DEV_MNEMONIC, "m/44'/60'/0'/0/0", CHAIN_ID)
    # anvil loads its own trusted setup on the first blob tx: allow for a busy machine.
    async with EthClient(anvil.url, timeout=90.0) as eth:
        nonce = await eth.nonce_at(DEV.address, "pending")
        tx = {
            "type": 3,
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "to": RECIPIENT,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerBlobGas": 10**9,
            "data": b"",
            "blobVersionedHashes": [versioned_hash],
        }
        raw = await signer.sign_transaction(tx)
        assert raw[0] == 3
        network = b"\x03" + rlp.encode([rlp.decode(raw[1:]), [blob], [commitment], [proof]])
        tx_hash = await eth.send_raw_transaction(network)
        receipt = await wait_receipt(eth, tx_hash)
        blobs = await eth.blobs(tx_hash)
        fetched = await eth.transaction(tx_hash)
    assert tx_hash == keccak(raw)
    assert receipt.type == 3 and receipt.blob_gas_used == 131072 and receipt.blob_gas_price is not None
    assert blobs == [blob]
    assert fetched is not None and fetched.blob_versioned_hashes == (versioned_hash,)


async def test_the_websocket_transport_serves_the_same_typed_calls(anvil):
    """EthClient over ws:// gives the same answers as over http://."""
    async with EthClient(anvil.ws_url) as ws, EthClient(anvil.url) as http:
        assert await ws.chain_id() == await http.chain_id()
        assert await ws.header(0) == await http.header(0)


def test_fee_history_accepts_hex_string_blob_fees():
    """baseFeePerBlobGas may come as hex strings (or numbers); both parse to ints."""
    history = FeeHistory.from_json(
        {
            "oldestBlock": "0x10",
            "baseFeePerGas": ["0x3b9aca00", "0x3b9aca01"],
            "gasUsedRatio": [0.5],
            "reward": [["0x1", "0x2"]],
            "baseFeePerBlobGas": ["0x1", 2],
            "blobGasUsedRatio": [0],
        }
    )
    assert history.oldest_block == 16 and history.base_fee_per_blob_gas == (1, 2)
    assert history.reward == ((1, 2),) and history.blob_gas_used_ratio == (0.0,)


def test_malformed_headers_name_the_field():
    """A header with a short hash fails with a message naming ``header.hash``."""
    with pytest.raises(ValueError, match=r"header\.hash: expected 32 bytes"):
        Header.from_json(
            {
                "number": "0x1",
                "hash": "0x1234",
                "parentHash": "0x" + "00" * 32,
                "timestamp": "0x1",
                "gasLimit": "0x1",
            }
        )


@given(st.text(max_size=200))
def test_error_string_revert_data_round_trips(reason):
    """Any Error(string) payload decodes back to its reason."""
    assert decode_revert_reason(abi_error_string(reason)) == reason


def test_panics_and_garbage_revert_data():
    """Panic(uint256) is named by code; short or unknown data decodes to None."""
    assert decode_revert_reason(bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")) == "panic: 0x11"
    assert decode_revert_reason(ERROR_STRING_SELECTOR + b"\x00" * 10) is None
    assert decode_revert_reason(b"") is None
