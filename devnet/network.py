"""Bring up the devnet: L1 and L2 anvils, L1 contracts, rollup.json/devnet.json, sequencer, rollup node.

``Devnet.start()`` does everything except running the batcher and proposer (devnet/cli.py does that).
Fast mode (tests): the L1 automines and moves 12 s per block from a genesis one hour in the past, and the
sequencer produces L2 blocks on demand, mining L1 blocks so that L1 time stays ahead of L2 time. Paced
mode (demo): the L1 mines every ``l1_block_time`` seconds of wall clock and the sequencer runs in a thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.derive.block_ref import BlockID, L1BlockRef
from common.derive.rollup_config import RollupConfig
from devnet.anvil import AnvilNode, ensure_npm_deps, rpc_call, start_anvil
from devnet.contracts import (
    GAME_TYPE_PERMISSIONED_CANNON,
    GAME_TYPE_SUPER_PERMISSIONED,
    INIT_BOND,
    L2OO_SUBMISSION_INTERVAL,
    L1Deployment,
    deploy_l1,
)
from devnet.da_server import DAServer, DAServerThread
from devnet.deriver import Deriver
from devnet.genesis import (
    BATCH_INBOX_ADDRESS,
    L1_CHAIN_ID,
    L2_CHAIN_ID,
    SEQ_WINDOW_SIZE,
    DevKey,
    dev_keys,
    rollup_config,
    write_l2_genesis,
)
from devnet.l2_endpoint import L2Endpoint, L2EndpointThread
from devnet.output_root import fetch_output
from devnet.rollup_node import RollupNode, RollupNodeThread, genesis_block_id
from devnet.sequencer import Sequencer, l1_ref_from_json

log = logging.getLogger("devnet.network")

FAST_L1_BLOCK_TIME = 12
FAST_GENESIS_AGE = 3600
"""Fast mode: the L1 genesis lies this many seconds in the past so that 12 s L1 steps stay behind the
wall clock (the proposer compares game timestamps with its own clock)."""
L1_FORKS = ("prague", "osaka")


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    """What ``op-devnet up`` and the pytest fixture choose."""

    state_dir: Path
    proposer: str = "l2oo"
    l1_fork: str = "prague"
    block_time: int = 2
    """L2 block time in seconds."""
    l1_block_time: int = 4
    """Paced mode only: L1 interval mining in seconds."""
    slots_in_an_epoch: int = 2
    fast: bool = False
    isthmus: bool = True
    """Activate Isthmus (L1-info Isthmus layout, 7702 txs in the mix)."""
    rollup_poll_interval: float = 0.25
    seq_window_size: int = SEQ_WINDOW_SIZE
    """L1 blocks a batch may land after its epoch; tests shrink it to let windows expire."""
    altda: bool = False
    """Run the DA-server stand-in (devnet/da_server.py); the rollup node derives version-1 txs through it."""


class Devnet:
    """A running devnet; ``stop`` ends every process it started."""

    def __init__(self, cfg: DevnetConfig) -> None:
        if cfg.l1_fork not in L1_FORKS:
            raise ValueError(f"--l1-fork: expected one of {L1_FORKS}, got {cfg.l1_fork!r}")
        self.cfg = cfg
        self.keys: dict[str, DevKey] = dev_keys()
        self.l1: AnvilNode | None = None
        self.l2: AnvilNode | None = None
        self.deployment: L1Deployment | None = None
        self.rollup: RollupConfig | None = None
        self.sequencer: Sequencer | None = None
        self.deriver: Deriver | None = None
        self.rollup_node: RollupNodeThread | None = None
        self.l2_endpoint: L2EndpointThread | None = None
        self.da_server: DAServerThread | None = None
        self._seq_stop = threading.Event()
        self._seq_thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Devnet:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg, keys = self.cfg, self.keys
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_npm_deps()
        l1_args = [
            "--hardfork",
            cfg.l1_fork,
            "--chain-id",
            str(L1_CHAIN_ID),
            "--slots-in-an-epoch",
            str(cfg.slots_in_an_epoch),
            "--no-request-size-limit",
        ]
        if cfg.fast:
            l1_args += ["--timestamp", str(int(time.time()) - FAST_GENESIS_AGE)]
        self.l1 = start_anvil(l1_args, log_path=cfg.state_dir / "l1-anvil.log")
        if cfg.fast:
            self.l1.call("anvil_setBlockTimestampInterval", [FAST_L1_BLOCK_TIME])
        genesis_l1 = l1_ref_from_json(_dict(self.l1.call("eth_getBlockByNumber", ["latest", False])))
        genesis_time = genesis_l1.timestamp
        genesis_path = write_l2_genesis(cfg.state_dir / "l2-genesis.json", genesis_time, isthmus=cfg.isthmus)
        l2_args = [
            "--network",
            "optimism",
            "--chain-id",
            str(L2_CHAIN_ID),
            "--init",
            str(genesis_path),
            "--no-mining",
            "--order",
            "fifo",
            "--hardfork",
            "isthmus" if cfg.isthmus else "holocene",
        ]
        self.l2 = start_anvil(l2_args, log_path=cfg.state_dir / "l2-anvil.log")
        self.l2_endpoint = L2EndpointThread(L2Endpoint(self.l2.url))
        self.l2_endpoint.start()
        genesis_l2 = genesis_block_id(self.l2.url)
        self.deployment = deploy_l1(
            self.l1.url,
            proposer_mode=cfg.proposer,
            admin=keys["deployer"].address,
            batcher=keys["batcher"].address,
            proposer=keys["proposer"].address,
            challenger=keys["challenger"].address,
            block_time=cfg.block_time,
            l2_genesis_time=genesis_time,
            l2_genesis_output_root=fetch_output(self.l2.url, 0).root,
            l2_chain_id=L2_CHAIN_ID,
        )
        self.rollup = rollup_config(
            genesis_l1=genesis_l1,
            genesis_l2=genesis_l2,
            genesis_l2_time=genesis_time,
            block_time=cfg.block_time,
            batcher=keys["batcher"].address_bytes,
            system_config=bytes.fromhex(self.deployment.system_config[2:]),
            isthmus=cfg.isthmus,
            seq_window_size=cfg.seq_window_size,
        )
        if not cfg.fast:
            self.l1.call("evm_setIntervalMining", [cfg.l1_block_time])
        users = [keys[r] for r in ("user1", "user2", "user3", "user4", "user5", "user6")]
        self.sequencer = Sequencer(self.l1.url, self.l2.url, self.rollup, users, drive_l1=cfg.fast)
        if cfg.altda:
            self.da_server = DAServerThread(DAServer())
            self.da_server.start()
        self.deriver = Deriver(
            self.l1.url,
            self.l2.url,
            self.rollup,
            engine=self.sequencer,
            da_server_url=self.da_server.url if self.da_server is not None else None,
        )
        node = RollupNode(self.deriver, poll_interval=cfg.rollup_poll_interval)
        self.rollup_node = RollupNodeThread(node)
        self.rollup_node.start()
        self.write_state_files()

    def start_sequencer_thread(self, interval: float | None = None) -> None:
        """Produce L2 blocks in a background thread: paced by the wall clock, or every ``interval`` seconds
        (fast mode, e.g. for end-to-end tests with the services). ``stop_sequencer_thread`` ends it."""
        seq = self._require(self.sequencer, "sequencer")
        self._seq_stop.clear()
        self._seq_thread = threading.Thread(
            target=seq.run,
            args=(self._seq_stop,),
            kwargs={"interval": interval},
            name="sequencer",
            daemon=True,
        )
        self._seq_thread.start()

    def stop_sequencer_thread(self) -> None:
        self._seq_stop.set()
        if self._seq_thread is not None:
            self._seq_thread.join(timeout=10)
            self._seq_thread = None

    def stop(self) -> None:
        """Stop the sequencer thread, the rollup node and both anvils (each by its own handle)."""
        self.stop_sequencer_thread()
        if self.rollup_node is not None:
            self.rollup_node.stop()
            self.rollup_node = None
        if self.l2_endpoint is not None:
            self.l2_endpoint.stop()
            self.l2_endpoint = None
        if self.da_server is not None:
            self.da_server.stop()
            self.da_server = None
        for node in (self.l2, self.l1):
            if node is not None:
                node.stop()
        self.l1 = self.l2 = None

    # ---- facts for services, tests and status lines -------------------------------------------------

    @staticmethod
    def _require(value: Any, what: str) -> Any:
        if value is None:
            raise RuntimeError(f"devnet {what} is not running")
        return value

    @property
    def l1_url(self) -> str:
        return str(self._require(self.l1, "L1 anvil").url)

    @property
    def l2_url(self) -> str:
        """The L2 execution endpoint handed to services: the anvil behind a front that serves
        ``miner_setMaxDASize`` like op-geth (devnet/l2_endpoint.py)."""
        self._require(self.l2, "L2 anvil")
        return str(self._require(self.l2_endpoint, "L2 endpoint").endpoint.url)

    @property
    def l2_anvil_url(self) -> str:
        """The L2 anvil itself (sequencer and rollup node use it)."""
        return str(self._require(self.l2, "L2 anvil").url)

    @property
    def rollup_url(self) -> str:
        return str(self._require(self.rollup_node, "rollup node").node.url)

    def info(self) -> dict[str, Any]:
        """devnet.json: endpoints, addresses, chain ids and dev keys."""
        d = self._require(self.deployment, "deployment")
        rc: RollupConfig = self._require(self.rollup, "rollup config")
        k = self.keys
        return {
            "l1_rpc": self.l1_url,
            "l2_rpc": self.l2_url,
            "rollup_rpc": self.rollup_url,
            "l1_beacon": self.l1_url,
            "da_server": self.da_server.url if self.da_server is not None else None,
            "l1_chain_id": L1_CHAIN_ID,
            "l2_chain_id": L2_CHAIN_ID,
            "l1_fork": self.cfg.l1_fork,
            "proposer_mode": self.cfg.proposer,
            "block_time": self.cfg.block_time,
            "batch_inbox": "0x" + BATCH_INBOX_ADDRESS.hex(),
            "batcher_address": k["batcher"].address,
            "proposer_address": k["proposer"].address,
            "challenger_address": k["challenger"].address,
            "admin_address": k["deployer"].address,
            "l2oo_address": d.l2_output_oracle,
            "l2oo_submission_interval": L2OO_SUBMISSION_INTERVAL,
            "dgf_address": d.dispute_game_factory,
            "game_type": (
                (
                    GAME_TYPE_SUPER_PERMISSIONED
                    if self.cfg.proposer == "super"
                    else GAME_TYPE_PERMISSIONED_CANNON
                )
                if d.dispute_game_factory
                else None
            ),
            "init_bond": INIT_BOND if d.dispute_game_factory else None,
            "anchor_state_registry_address": d.anchor_state_registry,
            "permissioned_game_address": d.permissioned_game,
            "fault_game_address": d.fault_game,
            "super_game_addresses": {str(t): a for t, a in (d.super_games or {}).items()},
            "system_config_address": d.system_config,
            "genesis": {
                "l1": rc.genesis_l1.to_json(),
                "l2": rc.genesis_l2.to_json(),
                "l2_time": rc.genesis_l2_time,
            },
            "rollup_config": str(self.cfg.state_dir / "rollup.json"),
            "dev_keys": {
                role: {"address": key.address, "private_key": key.private_key} for role, key in k.items()
            },
            "mnemonic_path": "m/44'/60'/0'/0/i (anvil default mnemonic)",
        }

    def write_state_files(self) -> None:
        rc: RollupConfig = self._require(self.rollup, "rollup config")
        (self.cfg.state_dir / "rollup.json").write_text(json.dumps(rc.to_json(), indent=2) + "\n")
        (self.cfg.state_dir / "devnet.json").write_text(json.dumps(self.info(), indent=2) + "\n")

    def produce_l2_blocks(self, count: int, *, user_txs: bool = True) -> None:
        self._require(self.sequencer, "sequencer").produce_blocks(count, user_txs=user_txs)

    def derive(self) -> int:
        """Fast mode: run derivation up to the L1 head now; returns the number of L1 blocks read."""
        return int(self._require(self.deriver, "deriver").step())

    def l1_head(self) -> L1BlockRef:
        return l1_ref_from_json(_dict(rpc_call(self.l1_url, "eth_getBlockByNumber", ["latest", False])))

    def genesis_l2(self) -> BlockID:
        rc: RollupConfig = self._require(self.rollup, "rollup config")
        return rc.genesis_l2


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuntimeError(f"expected a JSON object, got {type(value).__name__}")
    return value
