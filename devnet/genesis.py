"""Chain parameters, dev keys, the L2 genesis file and the rollup.json of the local devnet.

The L2 genesis holds the two predeploys the batcher and proposer depend on: L1Block (read by nobody here
but written by every L1-info deposit) and L2ToL1MessagePasser (its storage root is part of every output
root). Everything else (chain ids, batch inbox, roles of the dev accounts) is fixed so that a devnet.json
from one run reads like the next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from common.derive.block_ref import BlockID, L1BlockRef
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig
from devnet.anvil import CONTRACTS_ARTIFACTS, DEV_MNEMONIC

L1_CHAIN_ID = 900
L2_CHAIN_ID = 901
BATCH_INBOX_ADDRESS = bytes.fromhex("ff00000000000000000000000000000000000901")
"""Old superchain convention: 0xff00… followed by the L2 chain id written in decimal digits."""
L1_BLOCK_ADDRESS = bytes.fromhex("4200000000000000000000000000000000000015")
L2_TO_L1_MESSAGE_PASSER_ADDRESS = bytes.fromhex("4200000000000000000000000000000000000016")
L1_INFO_DEPOSITOR_ADDRESS = bytes.fromhex("deaddeaddeaddeaddeaddeaddeaddeaddead0001")
L2_GAS_LIMIT = 30_000_000
SEQ_WINDOW_SIZE = 3600
"""Sequencing window in L1 blocks (standard chains use 3600)."""
CHANNEL_TIMEOUT = 300
"""Pre-Granite channel timeout; Granite (active here) replaces it with 50."""
MAX_SEQUENCER_DRIFT = 1800
"""Fjord constant (seconds)."""
BASE_FEE_SCALAR = 1368
BLOB_BASE_FEE_SCALAR = 810949
"""Ecotone fee scalars of OP Mainnet, written into SystemConfig and every L1-info deposit."""

ECOTONE_SETTER_SELECTOR = bytes.fromhex("440a5e20")
ISTHMUS_SETTER_SELECTOR = bytes.fromhex("098999be")

ROLES = (
    "deployer",
    "batcher",
    "proposer",
    "challenger",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
    "user6",
)
"""Role of anvil dev account i (m/44'/60'/0'/0/i). The deployer is also the L1 owner/admin."""


@dataclass(frozen=True, slots=True)
class DevKey:
    """A dev account: role, checksummed address and its private key (never logged)."""

    role: str
    address: str
    private_key: str = ""

    def __repr__(self) -> str:
        return f"DevKey(role={self.role!r}, address={self.address!r})"

    @property
    def address_bytes(self) -> bytes:
        return bytes.fromhex(self.address[2:])


@cache
def dev_keys() -> dict[str, DevKey]:
    """Derive anvil's dev accounts from its default mnemonic, keyed by role."""
    Account.enable_unaudited_hdwallet_features()
    out: dict[str, DevKey] = {}
    for i, role in enumerate(ROLES):
        acct: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        out[role] = DevKey(role, acct.address, "0x" + bytes(acct.key).hex())
    return out


DEVNET_ARTIFACTS = {"SuperRootGame": Path(__file__).with_name("SuperRootGame.json")}
"""Stand-ins compiled for the devnet (source beside the artifact) for what contracts-bedrock 0.17.3 lacks."""


@cache
def artifact(name: str) -> dict[str, Any]:
    """One forge artifact (ABI + bytecode) from the pinned contracts-bedrock package (cached; read-only)."""
    path = DEVNET_ARTIFACTS.get(name) or CONTRACTS_ARTIFACTS / f"{name}.sol" / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except OSError as exc:
        raise RuntimeError(f"forge artifact {name} not found at {path}: {exc}") from exc
    return data


def l1_block_runtime(isthmus: bool) -> str:
    """L1Block runtime code; for Isthmus the Isthmus selector also reaches the Ecotone setter.

    contracts-bedrock 0.17.3 predates ``setL1BlockValuesIsthmus``. The Isthmus calldata is the Ecotone
    layout plus 12 trailing bytes (operator fee) that the assembly setter never reads. The dispatcher is
    a binary search, so a selector cannot just be swapped: the 5-byte prologue (``mstore(0x40, 0x80)``)
    becomes ``PUSH2 t JUMP JUMPDEST`` and a trampoline appended at ``t`` redoes the prologue, sends the
    Isthmus selector to the Ecotone setter's entry and everything else back to offset 4.
    """
    code = bytes.fromhex(artifact("L1Block")["deployedBytecode"]["object"].removeprefix("0x"))
    if not isthmus:
        return "0x" + code.hex()
    prologue = bytes.fromhex("6080604052")
    entry_pattern = b"\x80\x63" + ECOTONE_SETTER_SELECTOR + b"\x14\x61"
    at = code.find(entry_pattern)
    if not code.startswith(prologue) or at < 0 or code.count(entry_pattern) != 1:
        raise RuntimeError("L1Block runtime: unexpected dispatcher layout, cannot add the Isthmus selector")
    setter_entry = code[at + len(entry_pattern) : at + len(entry_pattern) + 2]
    padded = code + b"\x00" * 33  # ends any PUSH data the metadata may leave open
    tramp_at = len(padded).to_bytes(2, "big")
    trampoline = (
        b"\x5b"
        + prologue  # JUMPDEST; mstore(0x40, 0x80)
        + bytes.fromhex("60003560e01c")  # selector = calldataload(0) >> 224
        + b"\x80\x63"
        + ISTHMUS_SETTER_SELECTOR
        + b"\x14\x61"
        + setter_entry
        + b"\x57"  # to the setter
        + bytes.fromhex("50600456")
    )  # POP; JUMP to offset 4
    patched = b"\x61" + tramp_at + b"\x56\x5b" + padded[5:] + trampoline
    return "0x" + patched.hex()


def l2_genesis(timestamp: int, *, isthmus: bool, chain_id: int = L2_CHAIN_ID) -> dict[str, Any]:
    """A geth-style genesis for ``anvil --network optimism --init``; anvil keeps its funded dev accounts."""
    forks = {
        "bedrockBlock": 0,
        "regolithTime": 0,
        "canyonTime": 0,
        "ecotoneTime": 0,
        "fjordTime": 0,
        "graniteTime": 0,
        "holoceneTime": 0,
    }
    if isthmus:
        forks["isthmusTime"] = 0
        forks["pragueTime"] = 0
    config = {
        "chainId": chain_id,
        "homesteadBlock": 0,
        "eip150Block": 0,
        "eip155Block": 0,
        "eip158Block": 0,
        "byzantiumBlock": 0,
        "constantinopleBlock": 0,
        "petersburgBlock": 0,
        "istanbulBlock": 0,
        "berlinBlock": 0,
        "londonBlock": 0,
        "mergeNetsplitBlock": 0,
        "terminalTotalDifficulty": 0,
        "shanghaiTime": 0,
        "cancunTime": 0,
        **forks,
    }
    passer = artifact("L2ToL1MessagePasser")["deployedBytecode"]["object"]
    return {
        "config": config,
        "timestamp": hex(timestamp),
        "gasLimit": hex(L2_GAS_LIMIT),
        "baseFeePerGas": hex(10**9),
        "difficulty": "0x0",
        "extraData": "0x",
        "alloc": {
            L1_BLOCK_ADDRESS.hex(): {"code": l1_block_runtime(isthmus), "balance": "0x0"},
            L2_TO_L1_MESSAGE_PASSER_ADDRESS.hex(): {"code": passer, "balance": "0x0"},
        },
    }


def write_l2_genesis(path: Path, timestamp: int, *, isthmus: bool) -> Path:
    path.write_text(json.dumps(l2_genesis(timestamp, isthmus=isthmus), indent=1))
    return path


def batcher_hash(batcher: bytes) -> bytes:
    """SystemConfig batcherHash: version 0 ++ 11 zero bytes ++ address."""
    return b"\x00" * 12 + batcher


def rollup_config(
    *,
    genesis_l1: L1BlockRef,
    genesis_l2: BlockID,
    genesis_l2_time: int,
    block_time: int,
    batcher: bytes,
    system_config: bytes,
    isthmus: bool,
    seq_window_size: int = SEQ_WINDOW_SIZE,
) -> RollupConfig:
    """The devnet's rollup.json: every fork up to Holocene (and Isthmus if chosen) active from genesis."""
    forks = {f: 0 for f in ("regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene")}
    if isthmus:
        forks["isthmus"] = 0
    scalar = (
        b"\x01" + b"\x00" * 23 + BLOB_BASE_FEE_SCALAR.to_bytes(4, "big") + BASE_FEE_SCALAR.to_bytes(4, "big")
    )
    return RollupConfig(
        genesis_l1=genesis_l1.id,
        genesis_l2=genesis_l2,
        genesis_l2_time=genesis_l2_time,
        system_config=GenesisSystemConfig(batcher_addr=batcher, scalar=scalar, gas_limit=L2_GAS_LIMIT),
        block_time=block_time,
        max_sequencer_drift=MAX_SEQUENCER_DRIFT,
        seq_window_size=seq_window_size,
        channel_timeout=CHANNEL_TIMEOUT,
        l1_chain_id=L1_CHAIN_ID,
        l2_chain_id=L2_CHAIN_ID,
        batch_inbox_address=BATCH_INBOX_ADDRESS,
        l1_system_config_address=system_config,
        fork_times=forks,
    )
