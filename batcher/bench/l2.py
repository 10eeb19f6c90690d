"""The local chain of ``op-batcher bench --e2e``: op-geth, op-node and L1 in one server.

One aiohttp JSON-RPC server, run in its own process (``python -m batcher.bench.l2``) so that serving costs
show up as that process's CPU and not as the batcher's, answers what the batcher asks of its three nodes:

* ``/l2``: ``eth_getBlockByNumber(n, true)`` with op-geth-shaped block and tx objects (header fields,
  ``hash``, ``from``, ``yParity``/``v``, ``accessList``, the L1-info deposit first), ``eth_chainId``, and
  ``miner_setMaxDASize`` (``true``, as op-geth answers the throttle);
* ``/rollup``: ``optimism_syncStatus`` (every block unsafe; the safe head is what the bench set with
  ``bench_setSafeHead``), ``optimism_rollupConfig``;
* ``/l1``: ``eth_getBlockByNumber("latest")``, an L1 head 12 s per block past the blocks' L1 origins.

Profiles (:data:`PROFILES`): ``base`` (Base-like: ~298 txs, ~95 KB a block), ``op-mainnet`` (8-20 txs
a block) from the synthetic tx factory of :mod:`batcher.bench.channels`, and ``vectors`` (the 143 real OP
Mainnet blocks of ``vectors/kona/batch.hex``, chain id 10). A tx pool is minted once; block ``n`` takes the
next slice of it, so a run no longer than the pool never repeats a tx (repeats would flatter the compressor).
Blocks past the pool wrap around (the memory benchmark's 10,000 offered blocks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from common.derive.block_ref import BlockID, L1BlockRef, L2BlockRef
from common.derive.l1_info import L1Info
from common.derive.rollup_config import RollupConfig
from common.derive.sync_status import SyncStatus
from common.derive.transaction import LEGACY_TX_TYPE, Transaction, decode_transaction, keccak256

L1_START = 100
"""L1 number of the first block's origin."""
BLOCKS_PER_EPOCH = 6
L1_BLOCK_TIME = 12
DEPOSIT_FROM = "0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001"
L1_BLOCK_ADDR = "0x4200000000000000000000000000000000000015"


@dataclass(frozen=True, slots=True)
class Profile:
    """A chain shape: txs per block (inclusive range), or the real vector blocks."""

    name: str
    txs_per_block: tuple[int, int]
    real: bool = False


PROFILES = {
    "base": Profile("base", (280, 316)),
    "op-mainnet": Profile("op-mainnet", (8, 20)),
    "vectors": Profile("vectors", (0, 0), real=True),
}


def _hex(n: int) -> str:
    return hex(n)


def _data(b: bytes) -> str:
    return "0x" + b.hex()


def tx_json_tail(tx: Transaction, raw: bytes, sender: bytes) -> str:
    """An op-geth RPCTransaction without its block fields, as JSON text after ``{...,`` (no braces)."""
    obj: dict[str, Any] = {
        "from": _data(sender),
        "gas": _hex(tx.gas),
        "hash": _data(keccak256(raw)),
        "input": _data(tx.data),
        "nonce": _hex(tx.nonce),
        "to": _data(tx.to) if tx.to is not None else None,
        "value": _hex(tx.value),
        "type": _hex(tx.tx_type),
    }
    if tx.tx_type == LEGACY_TX_TYPE:
        obj["gasPrice"] = _hex(tx.gas_price)
        if tx.chain_id is not None:
            obj["chainId"] = _hex(tx.chain_id)
    else:
        obj["chainId"] = _hex(tx.chain_id or 0)
        obj["accessList"] = [
            {"address": _data(a), "storageKeys": [_data(k) for k in keys]} for a, keys in tx.access_list
        ]
        if tx.tx_type == 1:
            obj["gasPrice"] = _hex(tx.gas_price)
        else:
            obj["maxFeePerGas"] = _hex(tx.gas_price)
            obj["maxPriorityFeePerGas"] = _hex(tx.gas_tip_cap)
            obj["gasPrice"] = _hex(tx.gas_tip_cap + 1000)  # op-geth: effective price of the mined tx
        obj["yParity"] = _hex(tx.y_parity)
    obj["v"] = _hex(tx.v)
    obj["r"] = _hex(tx.r)
    obj["s"] = _hex(tx.s)
    return json.dumps(obj, separators=(",", ":"))[1:-1]


class BenchChain:
    """Block ``n`` (1-based) of a profile: its hash, parent, origin, and op-geth JSON, made on demand."""

    def __init__(self, profile: Profile, blocks: int, *, seed: int = 7) -> None:
        self.profile = profile
        self.count = blocks
        self._pool: list[str] = []
        self._sizes: list[int] = []
        self._per_block: list[tuple[int, int]] = []
        if profile.real:
            self._load_vectors()
        else:
            self._mint(blocks, seed)

    def _mint(self, blocks: int, seed: int) -> None:
        import random

        from batcher.bench.workload import TxFactory

        factory = TxFactory(seed=seed)
        rng = random.Random(seed)
        lo, hi = self.profile.txs_per_block
        pool_blocks = min(blocks, 400)
        for _ in range(pool_blocks):
            n = rng.randint(lo, hi)
            start = len(self._pool)
            for _ in range(n):
                raw = factory.mint()
                self._pool.append(tx_json_tail(decode_transaction(raw), raw, rng.randbytes(20)))
                self._sizes.append(len(raw))
            self._per_block.append((start, n))
        self.chain_id = 901

    def _load_vectors(self) -> None:
        from batcher.bench.workload import kona_blocks

        for b in kona_blocks():
            start = len(self._pool)
            for raw in b.transactions:
                sender = keccak256(raw)[:20]
                self._pool.append(tx_json_tail(decode_transaction(raw), raw, sender))
                self._sizes.append(len(raw))
            self._per_block.append((start, len(b.transactions)))
        if not self._per_block:
            raise SystemExit("bench_l2: the vectors profile needs vectors/kona/batch.hex (see OP_PY_VECTORS)")
        self.chain_id = 10

    # ---- chain shape ---------------------------------------------------------------------------

    def block_hash(self, n: int) -> bytes:
        return b"\x22" * 32 if n == 0 else b"\xb1" + n.to_bytes(31, "big")

    def timestamp(self, n: int, genesis_time: int, block_time: int) -> int:
        return genesis_time + block_time * n

    @staticmethod
    def origin(n: int) -> BlockID:
        num = L1_START + n // BLOCKS_PER_EPOCH
        return BlockID(num.to_bytes(8, "big") * 4, num)

    def l2_ref(self, n: int, rollup: RollupConfig) -> L2BlockRef:
        if n == 0:
            return L2BlockRef(
                rollup.genesis_l2.hash, 0, b"\x00" * 32, rollup.genesis_l2_time, rollup.genesis_l1, 0
            )
        return L2BlockRef(
            self.block_hash(n),
            n,
            self.block_hash(n - 1),
            self.timestamp(n, rollup.genesis_l2_time, rollup.block_time),
            self.origin(n),
            n % BLOCKS_PER_EPOCH,
        )

    def raw_bytes(self, n: int) -> int:
        start, count = self._slot(n)
        return sum(self._sizes[(start + i) % len(self._sizes)] for i in range(count))

    def _slot(self, n: int) -> tuple[int, int]:
        return self._per_block[(n - 1) % len(self._per_block)]

    def block_json(self, n: int, rollup: RollupConfig) -> str:
        """``eth_getBlockByNumber(n, true)``'s result as JSON text."""
        ref = self.l2_ref(n, rollup)
        bh, bn = _data(ref.hash), _hex(n)
        origin = ref.l1_origin
        info = L1Info(
            origin.number,
            L1_BLOCK_TIME * origin.number,
            10**9,
            origin.hash,
            ref.sequence_number,
            b"\x00" * 32,
        )
        head = f'"blockHash":"{bh}","blockNumber":"{bn}","transactionIndex":"'
        deposit = (
            f'{{{head}0x0","from":"{DEPOSIT_FROM}","gas":"0xf4240","hash":"{_data(keccak256(bn.encode()))}",'
            f'"input":"{_data(info.encode())}","mint":"0x0","nonce":"{bn}","sourceHash":"{bh}",'
            f'"to":"{L1_BLOCK_ADDR}","value":"0x0","type":"0x7e","isSystemTx":false,"gasPrice":"0x0",'
            f'"v":"0x0","r":"0x0","s":"0x0","depositReceiptVersion":"0x1"}}'
        )
        start, count = self._slot(n)
        pool = self._pool
        txs = [deposit]
        txs.extend(f'{{{head}{_hex(i + 1)}",{pool[(start + i) % len(pool)]}}}' for i in range(count))
        header = {
            "baseFeePerGas": "0x3b9aca00",
            "blobGasUsed": "0x0",
            "difficulty": "0x0",
            "excessBlobGas": "0x0",
            "extraData": "0x",
            "gasLimit": "0x17d78400",
            "gasUsed": _hex(21_000 * (count + 1)),
            "hash": bh,
            "logsBloom": "0x" + "00" * 256,
            "miner": "0x4200000000000000000000000000000000000011",
            "mixHash": _data(origin.hash),
            "nonce": "0x0000000000000000",
            "number": bn,
            "parentBeaconBlockRoot": _data(origin.hash),
            "parentHash": _data(ref.parent_hash),
            "receiptsRoot": _data(b"\x56" * 32),
            "sha3Uncles": _data(b"\x1d" * 32),
            "size": _hex(self.raw_bytes(n) + 600),
            "stateRoot": _data(b"\x57" * 32),
            "timestamp": _hex(ref.timestamp),
            "transactionsRoot": _data(b"\x58" * 32),
            "uncles": [],
            "withdrawals": [],
            "withdrawalsRoot": _data(b"\x59" * 32),
        }
        return json.dumps(header, separators=(",", ":"))[:-1] + ',"transactions":[' + ",".join(txs) + "]}"


class BenchNodes:
    """The three endpoints over one :class:`BenchChain`."""

    def __init__(self, chain: BenchChain, rollup: RollupConfig) -> None:
        self.chain = chain
        self.rollup = rollup
        self.safe = 0
        self.started = time.monotonic()
        self.l1_base = BenchChain.origin(chain.count).number + 2

    def l1_head(self) -> L1BlockRef:
        num = self.l1_base + int((time.monotonic() - self.started) / L1_BLOCK_TIME)
        return L1BlockRef(
            num.to_bytes(8, "big") * 4, num, (num - 1).to_bytes(8, "big") * 4, L1_BLOCK_TIME * num
        )

    def sync_status(self) -> dict[str, Any]:
        head = self.l1_head()
        unsafe = self.chain.l2_ref(self.chain.count, self.rollup)
        safe = self.chain.l2_ref(self.safe, self.rollup)
        return SyncStatus(head, head, head, head, head, unsafe, safe, safe, safe, unsafe, safe).to_json()

    def call(self, path: str, method: str, params: Sequence[Any]) -> str:
        """The JSON text of the result (raises KeyError for an unknown method)."""
        if path == "/l2" and method == "eth_getBlockByNumber":
            tag = params[0]
            n = self.chain.count if tag in ("latest", "safe", "finalized") else int(tag, 16)
            if not 0 < n <= self.chain.count:
                return "null"
            return self.chain.block_json(n, self.rollup)
        if path == "/l1" and method == "eth_getBlockByNumber":
            h = self.l1_head()
            return json.dumps(
                {
                    "number": _hex(h.number),
                    "hash": _data(h.hash),
                    "parentHash": _data(h.parent_hash),
                    "timestamp": _hex(h.timestamp),
                    "gasLimit": "0x2aea540",
                    "gasUsed": "0x0",
                    "baseFeePerGas": "0x3b9aca00",
                    "excessBlobGas": "0x0",
                    "blobGasUsed": "0x0",
                }
            )
        if method == "eth_chainId":
            return json.dumps(_hex(self.chain.chain_id if path == "/l2" else self.rollup.l1_chain_id))
        if method == "miner_setMaxDASize":
            return "true"
        if method == "optimism_syncStatus":
            return json.dumps(self.sync_status())
        if method == "optimism_rollupConfig":
            return json.dumps(self.rollup.to_json())
        if method == "bench_setSafeHead":
            self.safe = min(int(params[0]), self.chain.count)
            return "true"
        if method == "bench_cpu":
            return json.dumps(time.process_time())
        raise KeyError(method)

    async def handle(self, request: web.Request) -> web.Response:
        req = json.loads(await request.read())
        batch = isinstance(req, list)
        out = []
        for r in req if batch else [req]:
            rid = json.dumps(r.get("id"))
            try:
                result = self.call(request.path, r["method"], r.get("params") or [])
                out.append(f'{{"jsonrpc":"2.0","id":{rid},"result":{result}}}')
            except KeyError as exc:
                err = f'{{"code":-32601,"message":"the method {exc.args[0]} does not exist"}}'
                out.append(f'{{"jsonrpc":"2.0","id":{rid},"error":{err}}}')
        body = ("[" + ",".join(out) + "]") if batch else out[0]
        return web.Response(body=body.encode(), content_type="application/json")


def bench_rollup(chain_id: int) -> RollupConfig:
    from dataclasses import replace

    from batcher.bench.workload import bench_rollup_config

    return replace(bench_rollup_config(), l2_chain_id=chain_id)


async def serve(profile: str, blocks: int, port: int) -> None:
    chain = BenchChain(PROFILES[profile], blocks)
    nodes = BenchNodes(chain, bench_rollup(chain.chain_id))
    app = web.Application(client_max_size=1 << 24)
    app.router.add_post("/{tail:.*}", nodes.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    total = sum(chain.raw_bytes(n) for n in range(1, blocks + 1))
    print(f"ready {bound} {chain.chain_id} {total}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m batcher.bench.l2")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="base")
    ap.add_argument("--blocks", type=int, default=200)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    asyncio.run(serve(args.profile, args.blocks, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
