"""op-proposer as a service: flags -> clients, tx manager, driver, RPC and metrics servers.

Start-up follows Go (op-proposer-txmgr.md §2.1): parse and check flags, logging, metrics, dial L1 and the
rollup node(s), build the tx manager (``eth_chainId``, signer; a remote signer must answer
``health_status``), ask the target contract for ``version()`` (fatal if it fails), start the metrics and
JSON-RPC servers, record ``info``/``up``, then start the driver (after wait-node-sync if asked).
With ``--superroot-rpcs`` the super-root RPCs replace the rollup node as the proposal source (one client
per URL, fail-over in order). Admin namespace: ``admin_startProposer``, ``admin_stopProposer`` (Go) and
``admin_proposeNow`` (an addition: one proposal at once, see ``ProposerDriver.propose_now``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from common.derive.sync_status import SyncStatus
from common.rpc.active import L2Provider, new_l2_provider
from common.rpc.errors import ExecutionRevertedError
from common.rpc.eth import EthClient
from common.rpc.rollup import OutputResponse, RollupClient
from common.rpc.superroot import SuperRootClient
from common.service.balance import BalancePoller
from common.service.lifecycle import CloseApp
from common.service.log import get_logger
from common.service.metrics import (
    Factory,
    MetricDoc,
    RpcClientMetrics,
    RpcServerMetrics,
    namespace_for,
    new_registry,
)
from common.service.metrics_doc import doc_command
from common.service.metrics_server import MetricsServer
from common.service.rpc_server import RpcServer
from common.txmgr.api import txmgr_api
from common.txmgr.metrics import TxMetrics
from common.txmgr.signer import Signer
from common.txmgr.signer import from_config as signer_from_config
from common.txmgr.txmgr import TxCandidate, TxManager
from proposer import contracts
from proposer.driver import DriverConfig, Mode, ProposalTx, ProposerDriver, SendResult
from proposer.flags import VERSION, ProposerConfig
from proposer.metrics import ProposerMetrics
from proposer.super_roots import SuperRootSource

NODE_SYNC_POLL = 12.0
log = get_logger()


class _L1(EthClient):
    """The driver's L1Reader: ``eth_call`` at latest, revert reasons decoded for the log."""

    async def call_contract(self, to: bytes, data: bytes) -> bytes:
        try:
            return await self.eth_call({"to": to, "data": data})
        except ExecutionRevertedError as err:
            raise contracts.CallReverted(err.revert_data) from err


@dataclass
class _Reader:
    eth: _L1

    async def call(self, to: bytes, data: bytes) -> bytes:
        return await self.eth.call_contract(to, data)

    async def block_number(self) -> int:
        return await self.eth.block_number()


@dataclass
class _Rollup:
    provider: L2Provider

    async def sync_status(self) -> SyncStatus:
        return await (await self.provider.rollup_client()).sync_status()

    async def output_at_block(self, number: int) -> OutputResponse:
        return await (await self.provider.rollup_client()).output_at_block(number)


@dataclass
class _Sender:
    txmgr: TxManager

    @property
    def from_address(self) -> bytes:
        return self.txmgr.from_address

    async def send(self, tx: ProposalTx) -> SendResult:
        receipt = await self.txmgr.send(TxCandidate(to=tx.to, data=tx.data, value=tx.value))
        return SendResult(receipt.transaction_hash, receipt.status, receipt.block_number)


class ProposerService:
    """Owns every component; ``start``/``stop`` are what the lifecycle runner calls."""

    def __init__(self, cfg: ProposerConfig, factory: Factory | None) -> None:
        self.cfg = cfg
        self.factory = factory
        self.metrics = ProposerMetrics(factory) if factory else None
        rpc_metrics = RpcClientMetrics(factory) if factory else None
        timeout = cfg.txmgr.network_timeout
        self.rpc_metrics = rpc_metrics
        self.l1 = _L1(cfg.l1_eth_rpc, timeout=timeout, metrics=rpc_metrics)
        self.rollup: L2Provider | None = None
        self.super_clients: list[SuperRootClient] = []
        self.super_source: SuperRootSource | None = None
        self.signer: Signer | None = None
        self.txmgr: TxManager | None = None
        self.driver: ProposerDriver | None = None
        self.rpc: RpcServer | None = None
        self.metrics_server: MetricsServer | None = None
        self.balance: BalancePoller | None = None

    async def setup(self) -> None:
        cfg = self.cfg
        if cfg.pprof.enabled:
            log.warn("pprof is not available in the Python op-proposer; ignoring pprof.enabled")
        timeout = cfg.txmgr.network_timeout
        if cfg.superroot_rpcs:
            self.super_clients = [
                SuperRootClient(url, timeout=timeout, metrics=self.rpc_metrics) for url in cfg.superroot_rpcs
            ]
            self.super_source = SuperRootSource(self.super_clients)
        else:
            # With several --rollup-rpc URLs the active sequencer is looked up now: a bad list fails start-up.
            self.rollup = await new_l2_provider(
                cfg.rollup_rpcs,
                None,
                check_duration=cfg.active_sequencer_check_duration,
                network_timeout=timeout,
                rollup_factory=lambda url: RollupClient(url, timeout=timeout, metrics=self.rpc_metrics),
            )
        chain_id = await self.l1.chain_id()
        signer = self.signer = await signer_from_config(cfg.txmgr.signer, chain_id)
        tx_metrics = TxMetrics.from_factory(self.factory) if self.factory else None
        self.txmgr = TxManager(cfg.txmgr, self.l1, signer, tx_metrics, chain_id=chain_id)
        await self.txmgr.init()
        mode, address = (
            (Mode.DGF, cfg.game_factory_address)
            if cfg.game_factory_address
            else (Mode.L2OO, cfg.l2oo_address)
        )
        if address is None:
            raise ValueError("neither the `DisputeGameFactory` nor `L2OutputOracle` address was provided")
        name = "DisputeGameFactory" if mode is Mode.DGF else "L2OutputOracle"
        try:
            version = contracts.decode_string(
                await self.l1.call_contract(address, contracts.version_calldata())
            )
        except Exception as exc:
            raise RuntimeError(f"failed to query {name} version at 0x{address.hex()}: {exc}") from exc
        log.info(f"Connected to {name}", address="0x" + address.hex(), version=version)
        self.driver = ProposerDriver(
            DriverConfig(
                mode=mode,
                contract=address,
                poll_interval=cfg.poll_interval,
                network_timeout=cfg.txmgr.network_timeout,
                allow_non_finalized=cfg.allow_non_finalized,
                proposal_interval=cfg.proposal_interval,
                game_type=cfg.game_type,
            ),
            _Reader(self.l1),
            _Rollup(self.rollup) if self.rollup is not None else None,
            _Sender(self.txmgr),
            self.metrics,
            super_source=self.super_source,
        )
        if self.factory and self.metrics:
            sender = "0x" + signer.address.hex()
            self.balance = BalancePoller(self.factory, sender, lambda: self.l1.balance(signer.address))
            self.metrics_server = MetricsServer(self.factory.registry, cfg.metrics.addr, cfg.metrics.port)
        self.rpc = RpcServer(
            cfg.rpc.addr,
            cfg.rpc.port,
            VERSION,
            enable_admin=cfg.rpc.enable_admin,
            metrics=RpcServerMetrics(self.factory) if self.factory else None,
        )
        self.rpc.register("admin_startProposer", self.admin_start, admin=True)
        self.rpc.register("admin_stopProposer", self.admin_stop, admin=True)
        self.rpc.register("admin_proposeNow", self.admin_propose_now, admin=True)
        for method, fn in txmgr_api(self.txmgr).items():
            self.rpc.register(method, fn, admin=True)

    async def start(self) -> None:
        assert self.rpc is not None
        if self.balance:
            self.balance.start()
        if self.metrics_server:
            await self.metrics_server.start()
            log.info("Started metrics server", endpoint=f"{self.metrics_server.addr}")
        else:
            log.info("Metrics disabled")
        await self.rpc.start()
        log.info("Starting JSON-RPC server", endpoint=self.rpc.endpoint)
        if self.metrics:
            self.metrics.record_info(VERSION)
            self.metrics.record_up()
        await self.admin_start()

    async def admin_start(self) -> None:
        """``admin_startProposer``: wait for node sync if asked, then start the loop."""
        assert self.driver is not None
        if self.driver.running:
            raise RuntimeError("proposer is already running")
        log.info("Starting Proposer")
        if self.cfg.wait_node_sync:
            await self._wait_node_sync()
        self.driver.start()
        if self.metrics:
            self.metrics.record_stopped(False)

    async def admin_stop(self) -> None:
        assert self.driver is not None
        log.info("Stopping Proposer")
        await self.driver.stop()
        if self.metrics:
            self.metrics.record_stopped(True)

    async def admin_propose_now(self) -> dict[str, object]:
        """``admin_proposeNow``: one proposal now; the result names what was proposed and the tx.

        Refusals (nothing new, genesis, a send already in flight) and failures are JSON-RPC errors whose
        message says why (``not proposing: ...``).
        """
        assert self.driver is not None
        proposal, result = await self.driver.propose_now()
        return {
            "sequenceNumber": proposal.sequence_num,
            "l2BlockNumber": proposal.block_ref.number if proposal.block_ref is not None else None,
            "root": "0x" + proposal.root.hex(),
            "extraData": "0x" + proposal.extra_data.hex(),
            "txHash": "0x" + result.tx_hash.hex(),
            "l1BlockNumber": result.block_number,
            "status": "success" if result.status == 1 else "reverted",
        }

    async def _current_l1_number(self) -> int:
        """How far the proposal source has derived L1 (wait-node-sync)."""
        if self.super_source is not None:
            return (await self.super_source.sync_view(int(time.time()))).current_l1.number
        assert self.rollup is not None
        return (await _Rollup(self.rollup).sync_status()).current_l1.number

    async def _wait_node_sync(self) -> None:
        target = await self.l1.block_number()
        while True:
            current = await self._current_l1_number()
            if current >= target:
                log.info("Rollup node synced to L1 target", target=target)
                return
            log.info("Waiting for rollup node to sync", current_l1=current, target=target)
            await asyncio.sleep(NODE_SYNC_POLL)

    async def stop(self) -> None:
        log.info("Stopping Proposer service")
        if self.driver and self.driver.running:
            await self.driver.stop()
        if self.rpc:
            await self.rpc.stop()
        if self.balance:
            await self.balance.stop()
        if self.txmgr:
            self.txmgr.close()
        if self.metrics_server:
            await self.metrics_server.stop()
        await self.close_clients()
        log.info("Proposer service stopped")

    async def close_clients(self) -> None:
        await self.l1.close()
        if self.rollup is not None:
            await self.rollup.close()
        for client in self.super_clients:
            await client.close()
        if self.signer is not None:
            await self.signer.close()


def main(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """The daemon (:mod:`proposer.cli` runs the same, importing this module only at setup)."""
    from proposer.launch import run

    return run(argv, environ, create=create_service, doc=doc_main)


def doc_main(args: list[str]) -> int:
    """``op-proposer doc metrics [--format markdown|json]``."""
    return doc_command("op-proposer", args, _metric_docs)


def create_service(cfg: ProposerConfig, close: CloseApp) -> ProposerService:
    """The service for ``cfg`` (called by the lifecycle once the flags are parsed)."""
    return _create(cfg, close)


def _create(cfg: ProposerConfig, close: CloseApp) -> ProposerService:
    factory = Factory(namespace_for("op_proposer"), new_registry()) if cfg.metrics.enabled else None
    return ProposerService(cfg, factory)


def _metric_docs() -> list[MetricDoc]:
    factory = Factory(namespace_for("op_proposer"), new_registry(process_collectors=False))
    ProposerMetrics(factory)
    RpcClientMetrics(factory)
    RpcServerMetrics(factory)
    BalancePoller(factory, "<address>", _no_balance)
    TxMetrics.from_factory(factory)
    return factory.docs


async def _no_balance() -> int:
    return 0
