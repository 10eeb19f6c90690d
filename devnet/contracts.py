"""Deploy the real OP L1 contracts (contracts-bedrock 0.17.3 forge artifacts) on the devnet L1.

The initializable contracts lock themselves in their constructors, so each one is deployed as an
implementation behind a ``Proxy`` and initialised with ``upgradeToAndCall`` by the admin. Transactions
go through ``eth_sendTransaction`` from anvil's unlocked dev accounts; the L1 must be on automine while
this runs (the devnet switches to interval mining afterwards).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from devnet.anvil import rpc_call
from devnet.genesis import BASE_FEE_SCALAR, BATCH_INBOX_ADDRESS, BLOB_BASE_FEE_SCALAR, L2_GAS_LIMIT, artifact

GAME_TYPE_CANNON = 0
GAME_TYPE_PERMISSIONED_CANNON = 1
GAME_TYPE_SUPER_CANNON = 4
GAME_TYPE_SUPER_PERMISSIONED = 5
"""Super-root games; their implementation is the devnet's SuperRootGame stand-in (devnet/SuperRootGame.sol):
0.17.3 has no super games. Type 5's bond is 0, as the newest SuperPermissionedDisputeGame requires."""
INIT_BOND = 10**16
"""Bond in wei the factory requires for each new game (both types)."""
ABSOLUTE_PRESTATE = b"\x03" + b"\x00" * 31
MAX_GAME_DEPTH = 73
SPLIT_DEPTH = 30
CLOCK_EXTENSION = 3 * 3600
MAX_CLOCK_DURATION = 302_400
L2OO_SUBMISSION_INTERVAL = 10
"""L2 blocks between two L2OutputOracle outputs."""
FINALIZATION_PERIOD_SECONDS = 12
DELAYED_WETH_DELAY = 3600


def abi_type(param: dict[str, Any]) -> str:
    """Canonical ABI type of a JSON-ABI parameter, expanding tuples (structs)."""
    typ: str = param["type"]
    if typ.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){typ[5:]}"
    return typ


class Abi:
    """Encode calls and decode results for one contract ABI (no web3 contract objects needed)."""

    def __init__(self, name: str) -> None:
        art = artifact(name)
        self.name = name
        self.bytecode = bytes.fromhex(art["bytecode"]["object"].removeprefix("0x"))
        self._fns: dict[str, dict[str, Any]] = {}
        self._ctor: dict[str, Any] = {"inputs": []}
        for item in art["abi"]:
            if item["type"] == "function":
                self._fns.setdefault(item["name"], item)
            elif item["type"] == "constructor":
                self._ctor = item

    def _fn(self, fn: str) -> dict[str, Any]:
        try:
            return self._fns[fn]
        except KeyError:
            raise ValueError(f"{self.name} has no function {fn!r}") from None

    def selector(self, fn: str) -> bytes:
        item = self._fn(fn)
        return keccak(text=f"{fn}({','.join(abi_type(p) for p in item['inputs'])})")[:4]

    def encode_call(self, fn: str, *args: Any) -> bytes:
        types = [abi_type(p) for p in self._fn(fn)["inputs"]]
        return self.selector(fn) + abi_encode(types, list(args))

    def encode_deploy(self, *args: Any) -> bytes:
        types = [abi_type(p) for p in self._ctor["inputs"]]
        return self.bytecode + abi_encode(types, list(args))

    def decode_result(self, fn: str, data: bytes) -> tuple[Any, ...]:
        types = [abi_type(p) for p in self._fn(fn)["outputs"]]
        values = abi_decode(types, data)
        return tuple(
            to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
        )


def wait_receipt(url: str, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll until the tx is mined (anvil may answer null for a moment even on automine)."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = rpc_call(url, "eth_getTransactionReceipt", [tx_hash])
        if isinstance(receipt, dict):
            return receipt
        if time.monotonic() > deadline:
            raise TimeoutError(f"tx {tx_hash} not mined at {url} within {timeout}s")
        time.sleep(0.02)


def send(
    url: str, sender: str, to: str | None, data: bytes, value: int = 0, what: str = "tx"
) -> dict[str, Any]:
    """Send from an unlocked anvil account, wait for the receipt and fail loudly on a revert."""
    tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
    if to is not None:
        tx["to"] = to
    tx_hash = rpc_call(url, "eth_sendTransaction", [tx])
    receipt = wait_receipt(url, str(tx_hash))
    if receipt.get("status") != "0x1":
        raise RuntimeError(f"{what} from {sender} reverted (tx {tx_hash})")
    return receipt


def eth_call(url: str, to: str, abi: Abi, fn: str, *args: Any, block: str = "latest") -> tuple[Any, ...]:
    """A read-only contract call, decoded."""
    out = rpc_call(url, "eth_call", [{"to": to, "data": "0x" + abi.encode_call(fn, *args).hex()}, block])
    return abi.decode_result(fn, bytes.fromhex(str(out)[2:]))


@dataclass(frozen=True, slots=True)
class L1Deployment:
    """Addresses of what was deployed (checksummed); None when not part of the chosen proposer mode."""

    system_config: str
    l2_output_oracle: str | None
    dispute_game_factory: str | None
    anchor_state_registry: str | None
    permissioned_game: str | None
    fault_game: str | None
    delayed_weth: str | None
    mips: str | None
    preimage_oracle: str | None
    super_games: dict[int, str] | None = None
    """Game type (4, 5) -> SuperRootGame implementation."""


class Deployer:
    """Deploys contracts from one admin account on an automining L1."""

    def __init__(self, url: str, admin: str) -> None:
        self.url = url
        self.admin = admin

    def deploy(self, name: str, *args: Any) -> str:
        receipt = send(self.url, self.admin, None, Abi(name).encode_deploy(*args), what=f"deploy {name}")
        return to_checksum_address(receipt["contractAddress"])

    def behind_proxy(self, name: str, impl_args: tuple[Any, ...], init_args: tuple[Any, ...]) -> str:
        """Implementation + Proxy(admin) + upgradeToAndCall(impl, initialize(...))."""
        impl = self.deploy(name, *impl_args)
        proxy = self.deploy("Proxy", self.admin)
        init = Abi(name).encode_call("initialize", *init_args)
        send(
            self.url,
            self.admin,
            proxy,
            Abi("Proxy").encode_call("upgradeToAndCall", impl, init),
            what=f"initialize {name} proxy",
        )
        return proxy

    def call(self, to: str, name: str, fn: str, *args: Any, value: int = 0) -> dict[str, Any]:
        return send(self.url, self.admin, to, Abi(name).encode_call(fn, *args), value, what=f"{name}.{fn}")


def deploy_system_config(d: Deployer, batcher: str) -> str:
    resource = (20_000_000, 10, 8, 10**9, 1_000_000, 2**128 - 1)
    zero = "0x" + "00" * 20
    return d.behind_proxy(
        "SystemConfig",
        (),
        (
            d.admin,
            BASE_FEE_SCALAR,
            BLOB_BASE_FEE_SCALAR,
            b"\x00" * 12 + bytes.fromhex(batcher[2:]),
            L2_GAS_LIMIT,
            d.admin,
            resource,
            to_checksum_address(BATCH_INBOX_ADDRESS),
            (zero,) * 7,
        ),
    )


def deploy_l2_output_oracle(
    d: Deployer, *, block_time: int, starting_timestamp: int, proposer: str, challenger: str
) -> str:
    return d.behind_proxy(
        "L2OutputOracle",
        (),
        (
            L2OO_SUBMISSION_INTERVAL,
            block_time,
            0,
            starting_timestamp,
            proposer,
            challenger,
            FINALIZATION_PERIOD_SECONDS,
        ),
    )


def deploy_dispute_games(
    d: Deployer,
    *,
    anchor_root: bytes,
    l2_chain_id: int,
    proposer: str,
    challenger: str,
    anchor_timestamp: int = 0,
) -> dict[str, str]:
    """DGF + ASR (anchors for types 0 and 1 at L2 genesis) + DelayedWETH + PDG (1) + FDG (0, real MIPS),
    and the SuperRootGame stand-in for types 4 (permissionless) and 5 (only ``proposer``), anchored at the
    L2 genesis timestamp."""
    dgf = d.behind_proxy("DisputeGameFactory", (), (d.admin,))
    anchors = [(GAME_TYPE_CANNON, (anchor_root, 0)), (GAME_TYPE_PERMISSIONED_CANNON, (anchor_root, 0))]
    asr = d.behind_proxy("AnchorStateRegistry", (dgf,), (anchors,))
    weth = d.deploy("DelayedWETH", DELAYED_WETH_DELAY)
    oracle = d.deploy("PreimageOracle", 0, 0)
    mips = d.deploy("MIPS", oracle)
    common = (
        ABSOLUTE_PRESTATE,
        MAX_GAME_DEPTH,
        SPLIT_DEPTH,
        CLOCK_EXTENSION,
        MAX_CLOCK_DURATION,
        mips,
        weth,
        asr,
        l2_chain_id,
    )
    pdg = d.deploy("PermissionedDisputeGame", GAME_TYPE_PERMISSIONED_CANNON, *common, proposer, challenger)
    fdg = d.deploy("FaultDisputeGame", GAME_TYPE_CANNON, *common)
    for game_type, impl in ((GAME_TYPE_PERMISSIONED_CANNON, pdg), (GAME_TYPE_CANNON, fdg)):
        d.call(dgf, "DisputeGameFactory", "setImplementation", game_type, impl)
        d.call(dgf, "DisputeGameFactory", "setInitBond", game_type, INIT_BOND)
    supers = {}
    for game_type, only, bond in (
        (GAME_TYPE_SUPER_CANNON, "0x" + "00" * 20, INIT_BOND),
        (GAME_TYPE_SUPER_PERMISSIONED, proposer, 0),
    ):
        supers[game_type] = d.deploy("SuperRootGame", game_type, only, anchor_timestamp)
        d.call(dgf, "DisputeGameFactory", "setImplementation", game_type, supers[game_type])
        d.call(dgf, "DisputeGameFactory", "setInitBond", game_type, bond)
    games = {"dgf": dgf, "asr": asr, "weth": weth, "oracle": oracle, "mips": mips, "pdg": pdg, "fdg": fdg}
    return games | {f"super{t}": a for t, a in supers.items()}


def deploy_l1(
    url: str,
    *,
    proposer_mode: str,
    admin: str,
    batcher: str,
    proposer: str,
    challenger: str,
    block_time: int,
    l2_genesis_time: int,
    l2_genesis_output_root: bytes,
    l2_chain_id: int,
) -> L1Deployment:
    """Deploy what ``proposer_mode`` ('l2oo', or 'dgf' / 'super': dispute games) needs plus SystemConfig."""
    if proposer_mode not in ("l2oo", "dgf", "super"):
        raise ValueError(f"--proposer: expected l2oo, dgf or super, got {proposer_mode!r}")
    d = Deployer(url, admin)
    system_config = deploy_system_config(d, batcher)
    if proposer_mode == "l2oo":
        l2oo = deploy_l2_output_oracle(
            d,
            block_time=block_time,
            starting_timestamp=l2_genesis_time,
            proposer=proposer,
            challenger=challenger,
        )
        return L1Deployment(system_config, l2oo, None, None, None, None, None, None, None)
    g = deploy_dispute_games(
        d,
        anchor_root=l2_genesis_output_root,
        l2_chain_id=l2_chain_id,
        proposer=proposer,
        challenger=challenger,
        anchor_timestamp=l2_genesis_time,
    )
    supers = {t: g[f"super{t}"] for t in (GAME_TYPE_SUPER_CANNON, GAME_TYPE_SUPER_PERMISSIONED)}
    return L1Deployment(
        system_config, None, g["dgf"], g["asr"], g["pdg"], g["fdg"], g["weth"], g["mips"], g["oracle"], supers
    )
