"""A sequencer stand-in that builds OP L2 blocks on ``anvil --network optimism --no-mining --order fifo``.

Anvil enforces no OP block rules, so this module owns them: every block starts with the L1-info deposit
(Ecotone layout, or Isthmus when the rollup config activates Isthmus), the L1 origin advances like
op-node's origin selector (to the next L1 block once the L2 timestamp reaches it, never past the L1 head,
and past the max sequencer drift only empty blocks are made), and the sequence number restarts at 0 with
each new origin. After the deposit come signed user txs of every batchable type (legacy, 2930, 1559,
7702): transfers, ERC-20 (WETH98) calls, contract creations and L2ToL1MessagePasser withdrawals, so
output roots move. Raw-tx RPCs are never called on deposits: anvil 1.7.1 crashes on them.

When the rollup node derives a block the unsafe chain does not have (a forced deposit-only block after
an expired sequencing window), ``rebuild_on`` reorgs the L2 anvil to it, as op-node's engine would.

Fast mode (tests): ``produce_block`` makes one block on demand and, with ``drive_l1``, mines L1 blocks
so that L1 time stays ahead of L2 time. Paced mode: ``run`` produces each block at its wall-clock time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from rlp import encode as rlp_encode

from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.l1_info import L1Info, L1InfoLayout, l1_info_deposit_tx_bytes, parse_l1_info
from common.derive.rollup_config import RollupConfig
from devnet.anvil import rpc_call
from devnet.contracts import Abi
from devnet.genesis import (
    BASE_FEE_SCALAR,
    BLOB_BASE_FEE_SCALAR,
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    DevKey,
    batcher_hash,
)

log = logging.getLogger("devnet.sequencer")

BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE = 5_007_716
"""EIP-7691 update fraction (Prague and Osaka L1s)."""
MIN_BLOB_BASE_FEE = 1
TINY_RUNTIME = bytes.fromhex("602a60005260206000f3")
"""Runtime code returning the word 42; deployed by the contract-creation txs of the mix."""
TINY_INITCODE = bytes.fromhex("69") + TINY_RUNTIME + bytes.fromhex("600052600a6016f3")
"""PUSH10 runtime, MSTORE at 0, RETURN(22, 10)."""
TX_KINDS = (
    "legacy_transfer",
    "erc20_transfer",
    "withdrawal",
    "access_list_transfer",
    "create",
    "setcode",
    "erc20_approve",
    "withdrawal_legacy",
)
"""The user-tx mix, cycled through; 'setcode' (type 4) only when Isthmus is active."""


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844's integer approximation of factor * e ** (numerator / denominator)."""
    i, output, accum = 1, 0, factor * denominator
    while accum > 0:
        output += accum
        accum = (accum * numerator) // (denominator * i)
        i += 1
    return output // denominator


def l1_ref_from_json(block: dict[str, Any]) -> L1BlockRef:
    return L1BlockRef(
        bytes.fromhex(block["hash"][2:]),
        int(block["number"], 16),
        bytes.fromhex(block["parentHash"][2:]),
        int(block["timestamp"], 16),
    )


def l2_ref_from_json(block: dict[str, Any], genesis: L2BlockRef | None = None) -> L2BlockRef:
    """An L2BlockRef from a full-tx block JSON, origin and sequence number from its L1-info deposit."""
    number = int(block["number"], 16)
    txs = block.get("transactions") or []
    if number == 0 and genesis is not None:
        return genesis
    if not txs or not isinstance(txs[0], dict) or txs[0].get("type") != "0x7e":
        raise ValueError(f"L2 block {number}: first transaction is not a deposit tx")
    info = parse_l1_info(bytes.fromhex(txs[0]["input"][2:]))
    return L2BlockRef(
        bytes.fromhex(block["hash"][2:]),
        number,
        bytes.fromhex(block["parentHash"][2:]),
        int(block["timestamp"], 16),
        BlockID(info.hash, info.number),
        info.sequence_number,
    )


@dataclass
class _Head:
    """The sequencer's view of the unsafe head and its L1 origin (with timestamp)."""

    ref: L2BlockRef
    origin: L1BlockRef
    base_fee: int


class Sequencer:
    """Builds L2 blocks one by one; thread-safe for one producer thread plus readers."""

    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        rollup: RollupConfig,
        users: list[DevKey],
        *,
        drive_l1: bool = False,
        txs_per_block: int = 3,
    ) -> None:
        self.l1_url = l1_url
        self.l2_url = l2_url
        self.rollup = rollup
        self.users = users
        self.drive_l1 = drive_l1
        self.txs_per_block = txs_per_block
        self.isthmus = rollup.is_active("isthmus", rollup.genesis_l2_time)
        self.layout = L1InfoLayout.ISTHMUS if self.isthmus else L1InfoLayout.ECOTONE
        self._lock = threading.Lock()
        self._nonces: dict[str, int] = {}
        self._kind_index = 0
        self._token: str | None = None
        self._tiny: str | None = None
        self._head = self._load_head()

    # ---- chain access -------------------------------------------------------------------------------

    def _l1_block(self, tag: int | str) -> dict[str, Any] | None:
        arg = hex(tag) if isinstance(tag, int) else tag
        block = rpc_call(self.l1_url, "eth_getBlockByNumber", [arg, False])
        return block if isinstance(block, dict) else None

    def _l2_block(self, tag: int | str, full: bool = True) -> dict[str, Any]:
        arg = hex(tag) if isinstance(tag, int) else tag
        block = rpc_call(self.l2_url, "eth_getBlockByNumber", [arg, full])
        if not isinstance(block, dict):
            raise RuntimeError(f"L2 block {tag} not found at {self.l2_url}")
        return block

    def _load_head(self) -> _Head:
        block = self._l2_block("latest")
        g = self.rollup.genesis_l1
        if int(block["number"], 16) == 0:
            l1 = self._l1_block(g.number)
            if l1 is None:
                raise RuntimeError(f"genesis L1 block {g.number} missing at {self.l1_url}")
            origin = l1_ref_from_json(l1)
            ref = L2BlockRef(
                bytes.fromhex(block["hash"][2:]),
                0,
                bytes.fromhex(block["parentHash"][2:]),
                int(block["timestamp"], 16),
                origin.id,
                0,
            )
        else:
            ref = l2_ref_from_json(block)
            l1 = self._l1_block(ref.l1_origin.number)
            if l1 is None:
                raise RuntimeError(f"L1 origin {ref.l1_origin.number} of L2 head missing at {self.l1_url}")
            origin = l1_ref_from_json(l1)
        return _Head(ref, origin, int(block.get("baseFeePerGas", "0x3b9aca00"), 16))

    @property
    def head(self) -> L2BlockRef:
        return self._head.ref

    # ---- origin selection ---------------------------------------------------------------------------

    def _ensure_l1_time(self, timestamp: int) -> None:
        """Fast mode: mine L1 blocks until the L1 head is at least as new as ``timestamp``."""
        while True:
            head = self._l1_block("latest")
            if head is None or int(head["timestamp"], 16) >= timestamp:
                return
            rpc_call(self.l1_url, "anvil_mine", ["0x1"])

    def _next_origin(self, timestamp: int) -> tuple[L1BlockRef, bool]:
        """(origin, may_include_txs) for a block at ``timestamp``, like op-node's L1OriginSelector."""
        current = self._head.origin
        nxt = self._l1_block(current.number + 1)
        if nxt is not None and timestamp >= int(nxt["timestamp"], 16):
            return l1_ref_from_json(nxt), True
        within_drift = timestamp <= current.timestamp + self.rollup.max_sequencer_drift
        if not within_drift:
            log.warning(
                "L2 block at %d is past the max sequencer drift of L1 origin %d: empty block",
                timestamp,
                current.number,
            )
        return current, within_drift

    def _l1_info(self, origin: L1BlockRef, seq: int) -> L1Info:
        block = self._l1_block(origin.number)
        if block is None:
            raise RuntimeError(f"L1 origin block {origin.number} vanished")
        excess = int(block.get("excessBlobGas", "0x0"), 16)
        return L1Info(
            number=origin.number,
            timestamp=origin.timestamp,
            base_fee=int(block.get("baseFeePerGas", "0x0"), 16),
            hash=origin.hash,
            sequence_number=seq,
            batcher_hash=batcher_hash(self.rollup.system_config.batcher_addr),
            layout=self.layout,
            blob_base_fee=fake_exponential(MIN_BLOB_BASE_FEE, excess, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE),
            base_fee_scalar=BASE_FEE_SCALAR,
            blob_base_fee_scalar=BLOB_BASE_FEE_SCALAR,
        )

    # ---- block production ---------------------------------------------------------------------------

    def produce_block(self, txs: list[bytes] | None = None, *, user_txs: bool = True) -> L2BlockRef:
        """Build and mine the next L2 block: L1-info deposit, then ``txs`` (raw signed) or the user mix."""
        with self._lock:
            head = self._head
            timestamp = head.ref.timestamp + self.rollup.block_time
            if self.drive_l1:
                self._ensure_l1_time(timestamp)
            origin, may_include = self._next_origin(timestamp)
            raws = list(txs or [])
            if txs is None and user_txs and may_include:
                raws = self._user_txs(head.base_fee)
            elif raws and not may_include:
                raise RuntimeError(f"L2 block at {timestamp} is past the sequencer drift: it must be empty")
            return self._mine(head.ref, origin, timestamp, raws)

    def rebuild_on(self, parent: L2BlockRef, timestamp: int, origin: L1BlockRef) -> L2BlockRef:
        """op-node's engine reorg to a derived deposit-only block: drop every L2 block above ``parent``
        and mine the derived one there; later blocks build on it.

        The L2 is anvil, so the reorg is ``anvil_rollback`` to ``parent`` (op-geth would keep the dropped
        blocks' txs in its pool; anvil forgets them, so cached nonces are dropped too).
        """
        with self._lock:
            latest = int(self._l2_block("latest", full=False)["number"], 16)
            if latest > parent.number:
                rpc_call(self.l2_url, "anvil_rollback", [latest - parent.number])
                rpc_call(self.l2_url, "anvil_dropAllTransactions", [])
                self._forget_rolled_back_state()
            got = self._l2_block(parent.number, full=False)
            if bytes.fromhex(got["hash"][2:]) != parent.hash:
                raise RuntimeError(
                    f"L2 block {parent.number} is {got['hash']}, not the parent 0x{parent.hash.hex()} "
                    "of the derived block"
                )
            return self._mine(parent, origin, timestamp, [])

    def _forget_rolled_back_state(self) -> None:
        """After a rollback: re-read nonces, and redo the setup txs if the token deployment is gone."""
        self._nonces.clear()
        if self._token is not None and rpc_call(self.l2_url, "eth_getCode", [self._token, "latest"]) == "0x":
            self._token = self._tiny = None

    def _mine(self, parent: L2BlockRef, origin: L1BlockRef, timestamp: int, raws: list[bytes]) -> L2BlockRef:
        """Mine a block on ``parent``: the L1-info deposit of ``origin``, then ``raws``; the new head."""
        seq = 0 if origin.number != parent.l1_origin.number else parent.sequence_number + 1
        deposit = l1_info_deposit_tx_bytes(self._l1_info(origin, seq))
        for raw in [deposit, *raws]:
            rpc_call(self.l2_url, "eth_sendRawTransaction", ["0x" + raw.hex()])
        rpc_call(self.l2_url, "evm_mine", [timestamp])
        block = self._l2_block("latest", full=False)
        mined = len(block["transactions"])
        if mined != 1 + len(raws) or int(block["timestamp"], 16) != timestamp:
            rpc_call(self.l2_url, "anvil_dropAllTransactions", [])
            raise RuntimeError(
                f"L2 block {int(block['number'], 16)} has {mined} txs at "
                f"{int(block['timestamp'], 16)}; expected {1 + len(raws)} at {timestamp}"
            )
        ref = L2BlockRef(
            bytes.fromhex(block["hash"][2:]), int(block["number"], 16), parent.hash, timestamp, origin.id, seq
        )
        self._head = _Head(ref, origin, int(block.get("baseFeePerGas", "0x0"), 16))
        return ref

    def produce_blocks(self, count: int, *, user_txs: bool = True) -> list[L2BlockRef]:
        return [self.produce_block(user_txs=user_txs) for _ in range(count)]

    def run(self, stop: threading.Event, *, interval: float | None = None) -> None:
        """Produce blocks until ``stop``: at their wall-clock times, or every ``interval`` seconds (fast)."""
        while not stop.is_set():
            due = self._head.ref.timestamp + self.rollup.block_time
            wait = interval if interval is not None else due - time.time()
            if stop.wait(max(0.0, wait)):
                return
            try:
                self.produce_block()
            except Exception as exc:
                log.error("sequencer: producing L2 block at %d failed: %s", due, exc)
                stop.wait(1.0)

    # ---- user transactions --------------------------------------------------------------------------

    def _nonce(self, key: DevKey) -> int:
        if key.address not in self._nonces:
            got = rpc_call(self.l2_url, "eth_getTransactionCount", [key.address, "pending"])
            self._nonces[key.address] = int(str(got), 16)
        n = self._nonces[key.address]
        self._nonces[key.address] = n + 1
        return n

    def _sign(self, key: DevKey, tx: dict[str, Any]) -> bytes:
        tx.setdefault("chainId", self.rollup.l2_chain_id)
        tx["nonce"] = self._nonce(key)
        return bytes(Account.sign_transaction(tx, key.private_key).raw_transaction)

    def _fees(self, tx_type: int, base_fee: int) -> dict[str, Any]:
        tip = 1_000_000
        cap = 2 * base_fee + tip
        if tx_type in (0, 1):
            return {"gasPrice": cap}
        return {"maxFeePerGas": cap, "maxPriorityFeePerGas": tip}

    def _setup_txs(self, base_fee: int) -> list[bytes]:
        """First user block: deploy the WETH98 token and the tiny contract, fund the token."""
        owner = self.users[0]
        token_nonce = self._nonces.get(owner.address)
        if token_nonce is None:
            token_nonce = int(
                str(rpc_call(self.l2_url, "eth_getTransactionCount", [owner.address, "pending"])), 16
            )
        self._token = to_checksum_address(keccak(rlp_encode([owner.address_bytes, token_nonce]))[12:])
        self._tiny = to_checksum_address(keccak(rlp_encode([owner.address_bytes, token_nonce + 1]))[12:])
        weth = Abi("WETH98")
        out = [
            self._sign(
                owner,
                {
                    "type": 2,
                    "to": b"",
                    "value": 0,
                    "gas": 1_500_000,
                    "data": weth.bytecode,
                    **self._fees(2, base_fee),
                },
            ),
            self._sign(
                owner,
                {
                    "type": 2,
                    "to": b"",
                    "value": 0,
                    "gas": 200_000,
                    "data": TINY_INITCODE,
                    **self._fees(2, base_fee),
                },
            ),
        ]
        for user in self.users[:3]:
            out.append(
                self._sign(
                    user,
                    {
                        "type": 2,
                        "to": self._token,
                        "value": 10**18,
                        "gas": 100_000,
                        "data": weth.encode_call("deposit"),
                        **self._fees(2, base_fee),
                    },
                )
            )
        return out

    def _user_txs(self, base_fee: int) -> list[bytes]:
        if self._token is None:
            return self._setup_txs(base_fee)
        out: list[bytes] = []
        while len(out) < self.txs_per_block:
            kind = TX_KINDS[self._kind_index % len(TX_KINDS)]
            self._kind_index += 1
            if kind == "setcode" and not self.isthmus:
                continue
            out.append(self._build(kind, base_fee))
        return out

    def _build(self, kind: str, base_fee: int) -> bytes:
        """One signed user tx of ``kind``; senders rotate over the first three users."""
        i = self._kind_index
        sender, peer = self.users[i % 3], self.users[(i + 1) % 3]
        weth = Abi("WETH98")
        passer = to_checksum_address(L2_TO_L1_MESSAGE_PASSER_ADDRESS)
        withdraw = Abi("L2ToL1MessagePasser").encode_call(
            "initiateWithdrawal", peer.address, 100_000, b"devnet" + i.to_bytes(4, "big")
        )
        if kind == "legacy_transfer":
            return self._sign(
                sender, {"to": peer.address, "value": 1000 + i, "gas": 21_000, **self._fees(0, base_fee)}
            )
        if kind == "access_list_transfer":
            access = [{"address": passer, "storageKeys": ["0x" + "00" * 32]}]
            return self._sign(
                sender,
                {
                    "type": 1,
                    "to": peer.address,
                    "value": 7,
                    "gas": 30_000,
                    "accessList": access,
                    **self._fees(1, base_fee),
                },
            )
        if kind == "erc20_transfer":
            data = weth.encode_call("transfer", peer.address, 1 + i)
            return self._sign(
                sender,
                {
                    "type": 2,
                    "to": self._token,
                    "value": 0,
                    "gas": 80_000,
                    "data": data,
                    **self._fees(2, base_fee),
                },
            )
        if kind == "erc20_approve":
            data = weth.encode_call("approve", peer.address, 2**255 + i)
            return self._sign(
                sender,
                {
                    "type": 2,
                    "to": self._token,
                    "value": 0,
                    "gas": 80_000,
                    "data": data,
                    **self._fees(2, base_fee),
                },
            )
        if kind == "withdrawal":
            return self._sign(
                sender,
                {
                    "type": 2,
                    "to": passer,
                    "value": 12345,
                    "gas": 200_000,
                    "data": withdraw,
                    **self._fees(2, base_fee),
                },
            )
        if kind == "withdrawal_legacy":
            return self._sign(
                sender,
                {"to": passer, "value": 1, "gas": 200_000, "data": withdraw, **self._fees(0, base_fee)},
            )
        if kind == "create":
            return self._sign(
                sender,
                {
                    "type": 2,
                    "to": b"",
                    "value": 0,
                    "gas": 200_000,
                    "data": TINY_INITCODE,
                    **self._fees(2, base_fee),
                },
            )
        if kind == "setcode":
            return self._setcode_tx(sender, base_fee)
        raise ValueError(f"unknown tx kind {kind!r}")

    def _setcode_tx(self, sender: DevKey, base_fee: int) -> bytes:
        """A type-4 tx whose authority (the last user) delegates its code to the tiny contract."""
        authority = self.users[-1]
        auth_nonce = self._nonce(authority)
        auth = Account.sign_authorization(
            {"chainId": self.rollup.l2_chain_id, "address": self._tiny or "", "nonce": auth_nonce},
            authority.private_key,
        )
        call = abi_encode(["uint256"], [auth_nonce])
        return self._sign(
            sender,
            {
                "type": 4,
                "to": authority.address,
                "value": 0,
                "gas": 100_000,
                "data": call,
                "accessList": [],
                "authorizationList": [auth],
                **self._fees(2, base_fee),
            },
        )
