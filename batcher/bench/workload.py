"""The benchmarks' workloads: a synthetic L2 chain of signed txs (``TxFactory``, ``synthetic_blocks``) and
the real OP Mainnet blocks of ``vectors/kona/batch.hex`` (``kona_blocks``), with the rollup config they
run under. Shared by ``op-batcher bench`` (:mod:`batcher.bench.channels`), its fill section
(:mod:`batcher.bench.fill`)
and the fee simulator (:mod:`batcher.bench.fees`)."""

from __future__ import annotations

import dataclasses
import random

from batcher.vectors import vectors_dir
from common.derive.block_ref import BlockID
from common.derive.channel import read_batch_payloads
from common.derive.l1_info import L1Info
from common.derive.l2_block import BlockInput
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig
from common.derive.transaction import Transaction, decode_transaction

CHAIN_ID = 901
GENESIS_TIME = 1_700_000_000
BLOCK_TIME = 2
KONA_VECTOR = vectors_dir() / "kona" / "batch.hex"

_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def bench_rollup_config() -> RollupConfig:
    """A Fjord-active rollup config (brotli allowed, 100 MB RLP limit)."""
    return RollupConfig(
        genesis_l1=BlockID(b"\x11" * 32, 0),
        genesis_l2=BlockID(b"\x22" * 32, 0),
        genesis_l2_time=GENESIS_TIME,
        system_config=GenesisSystemConfig(batcher_addr=b"\x33" * 20),
        block_time=BLOCK_TIME,
        max_sequencer_drift=1800,
        seq_window_size=3600,
        channel_timeout=300,
        l1_chain_id=900,
        l2_chain_id=CHAIN_ID,
        batch_inbox_address=b"\xff" * 20,
        fork_times={f: 0 for f in ("regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene")},
    )


def _checksum(addr: bytes) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(addr))


class TxFactory:
    """Signs a small pool of template txs once, then mints unique variants cheaply."""

    KINDS = ("transfer", "erc20", "call", "create")
    WEIGHTS = (0.30, 0.32, 0.36, 0.02)

    def __init__(self, *, templates_per_kind: int = 12, seed: int = 1) -> None:
        from eth_account import Account

        rng = random.Random(seed)
        self.rng = rng
        self.tokens = [rng.randbytes(20) for _ in range(12)]
        self.contracts = [rng.randbytes(20) for _ in range(30)]
        self.users = [rng.randbytes(20) for _ in range(400)]
        self.selectors = [rng.randbytes(4) for _ in range(25)]
        keys = [bytes([i + 1]) * 32 for i in range(8)]
        self.templates: dict[str, list[Transaction]] = {k: [] for k in self.KINDS}
        for kind in self.KINDS:
            for i in range(templates_per_kind):
                tx = self._template_dict(kind, i)
                signed = Account.sign_transaction(tx, keys[i % len(keys)])
                self.templates[kind].append(decode_transaction(bytes(signed.raw_transaction)))
        self.nonces = [0] * 5000

    def _template_dict(self, kind: str, i: int) -> dict[str, object]:
        rng = self.rng
        style = i % 6  # 0: legacy, 1: access list, else: EIP-1559
        base: dict[str, object] = {"chainId": CHAIN_ID, "nonce": i, "gas": 21_000, "value": 0}
        if style in (0, 1):
            base["gasPrice"] = 1_000_000_000 + rng.randrange(10**8)
        else:
            base["maxFeePerGas"] = 2_000_000_000 + rng.randrange(10**9)
            base["maxPriorityFeePerGas"] = 1_000_000 + rng.randrange(10**6)
        if style == 1:
            base["accessList"] = [
                {"address": _checksum(rng.choice(self.contracts)), "storageKeys": ["0x" + "00" * 31 + "01"]}
            ]
        if kind == "transfer":
            base.update(to=_checksum(rng.choice(self.users)), value=rng.randrange(10**18))
        elif kind == "erc20":
            base.update(to=_checksum(rng.choice(self.tokens)), gas=65_000, data=self.erc20_calldata())
        elif kind == "call":
            base.update(to=_checksum(rng.choice(self.contracts)), gas=250_000, data=self.call_calldata())
        else:
            base.update(gas=1_500_000, data=self.creation_code())
        return base

    def erc20_calldata(self) -> bytes:
        rng = self.rng
        amount = rng.randrange(10 ** rng.randrange(4, 22))
        return bytes.fromhex("a9059cbb") + b"\x00" * 12 + rng.choice(self.users) + amount.to_bytes(32, "big")

    def call_calldata(self) -> bytes:
        """ABI-shaped calldata: a known selector and 32-byte words of addresses, amounts, hashes."""
        rng = self.rng
        words = [rng.choice(self.selectors)]
        for _ in range(rng.choice((2, 3, 4, 6, 8, 10, 14, 20, 30))):
            r = rng.random()
            if r < 0.35:
                words.append(b"\x00" * 12 + rng.choice(self.users + self.tokens + self.contracts))
            elif r < 0.65:
                words.append(rng.randrange(10 ** rng.randrange(1, 24)).to_bytes(32, "big"))
            elif r < 0.85:
                words.append(rng.randbytes(32))
            else:
                words.append(rng.randrange(0, 64).to_bytes(32, "big"))
        return b"".join(words)

    def creation_code(self) -> bytes:
        rng = self.rng
        body = bytearray(bytes.fromhex("6080604052348015600f57600080fd5b50"))
        while len(body) < rng.randrange(1500, 6000):
            op = rng.random()
            if op < 0.5:
                body += bytes([0x60 + rng.randrange(4)]) + rng.randbytes(1 + rng.randrange(3))
            elif op < 0.6:
                body += b"\x73" + rng.choice(self.contracts)
            elif op < 0.7:
                body += b"\x63" + rng.choice(self.selectors)
            else:
                body += bytes(rng.choice((0x52, 0x51, 0x56, 0x57, 0x5B, 0x80, 0x81, 0x90, 0x91, 0x01, 0x03)))
        return bytes(body)

    def mint(self) -> bytes:
        """A fresh, unique tx from a random template."""
        rng = self.rng
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        tpl = rng.choice(self.templates[kind])
        sender = rng.randrange(len(self.nonces))
        self.nonces[sender] += 1
        changes: dict[str, object] = {
            "nonce": self.nonces[sender],
            "r": rng.randrange(1, 1 << 256),
            "s": rng.randrange(1, _SECP256K1_HALF_N),
            "y_parity": rng.randrange(2),
        }
        if kind == "transfer":
            changes.update(to=rng.choice(self.users), value=rng.randrange(10 ** rng.randrange(14, 19)))
        elif kind == "erc20":
            changes["data"] = self.erc20_calldata()
        elif kind == "call":
            changes.update(data=self.call_calldata(), to=rng.choice(self.contracts))
        return dataclasses.replace(tpl, **changes).encode()  # type: ignore[arg-type]


def synthetic_blocks(
    factory: TxFactory, count: int, *, txs_per_block: tuple[int, int] = (5, 25), start: int = 1
) -> list[BlockInput]:
    """``count`` consecutive L2 blocks (2 s apart, a new L1 origin every 6 blocks)."""
    rng = factory.rng
    blocks = []
    parent = b"\x22" * 32
    for number in range(start, start + count):
        l1_num = 100 + number // 6
        l1_hash = l1_num.to_bytes(8, "big") * 4
        info = L1Info(
            l1_num, GENESIS_TIME + 12 * l1_num, 10**9, l1_hash, number % 6, b"\x00" * 12 + b"\x33" * 20
        )
        txs = tuple(factory.mint() for _ in range(rng.randint(*txs_per_block)))
        block_hash = rng.randbytes(32)
        blocks.append(
            BlockInput(
                number,
                block_hash,
                parent,
                GENESIS_TIME + BLOCK_TIME * number,
                BlockID(l1_hash, l1_num),
                number % 6,
                txs,
                info,
            )
        )
        parent = block_hash
    return blocks


def kona_blocks() -> list[BlockInput]:
    """The 143 real OP Mainnet blocks of ``vectors/kona/batch.hex``, decoded with our decoder
    (chain id 10, genesis time 0); empty if the vector is missing."""
    if not KONA_VECTOR.exists():
        return []
    from common.derive.channel import decompress_channel
    from common.derive.span_batch import SpanBatch

    raw = decompress_channel(bytes.fromhex(KONA_VECTOR.read_text().strip()), max_bytes=10**8, fjord=True)
    derived = SpanBatch.decode(read_batch_payloads(raw)[0]).derive_blocks(0, 2, 10)
    blocks = []
    parent = b"\x01" * 32
    for i, b in enumerate(derived):
        h = (i + 7).to_bytes(32, "big")
        l1_hash = b.epoch_num.to_bytes(32, "big")
        info = L1Info(b.epoch_num, 0, 0, l1_hash, 0, b"\x00" * 32)
        blocks.append(
            BlockInput(i + 1, h, parent, b.timestamp, BlockID(l1_hash, b.epoch_num), 0, b.transactions, info)
        )
        parent = h
    return blocks
