"""op-batcher as a service: flags -> clients, tx manager, channel config, driver, RPC and metrics servers.

Start-up follows Go (op-batcher.md §4.1): parse and check flags, logging, unknown-env warnings, metrics,
PID validation, L1 client, L2 endpoint provider (static, or active-sequencer with several endpoints),
``optimism_rollupConfig``, tx manager (``eth_chainId``, signer), channel config with Go's startup checks,
balance poller, metrics server, driver, JSON-RPC server (admin namespace with ``--rpc.enable-admin``),
``info``/``up``; then ``Starting batcher`` and, unless ``--stopped``, the driver. SIGINT/SIGTERM stop it
gracefully (tx manager closed first, in-flight txs awaited); a second signal forces the stop.

The L1 client is a :class:`BatcherL1Client`: restart recovery (``batcher.loading.recovery.channels_on_l1``,
called by the driver with this client) reads the blobs of the batcher's own blob txs through its ``tx_blobs``:
``--l1-beacon`` (a Python addition) first, then ``anvil_getBlobsByTransactionHash``.
"""

from __future__ import annotations

import time
from typing import Any

from batcher.admin import register_admin
from batcher.batcher_config import BatcherConfig
from batcher.channels.config import ChannelConfigError, DAConfigSelector, DAType, build_channel_configs
from batcher.channels.manager import ChannelManager
from batcher.driver import BatchDriver
from batcher.driver_config import DriverConfig
from batcher.flags import VERSION as VERSION
from batcher.loading.recovery import BlobTxRef, RecoveryBlobs
from batcher.metrics import BatcherMetrics, metric_docs, new_batcher_metrics
from batcher.publishing.altda import AltDAPoster
from batcher.throttling.controller import ControllerType, ThrottleError
from common.altda.client import DAClient
from common.derive.rollup_config import RollupConfig
from common.rpc.active import ActiveL2Provider, StaticL2Provider
from common.rpc.beacon import BeaconClient
from common.rpc.client import DEFAULT_MAX_RESPONSE_BYTES, RpcClient
from common.rpc.eth import EthClient
from common.rpc.rollup import RollupClient
from common.service.balance import BalancePoller
from common.service.lifecycle import CloseApp
from common.service.log import get_logger
from common.service.metrics import RpcClientMetrics, RpcServerMetrics
from common.service.metrics_doc import doc_command
from common.service.metrics_server import MetricsServer
from common.service.rpc_server import RpcServer
from common.txmgr.api import txmgr_api
from common.txmgr.blobs import prewarm_kzg_worker
from common.txmgr.signer import Signer
from common.txmgr.signer import from_config as signer_from_config
from common.txmgr.txmgr import TxManager

log = get_logger()


class SetupError(RuntimeError):
    """A service-init failure with Go's message prefix."""


class BatcherL1Client(EthClient):
    """The batcher's L1 client; also the blob source of restart recovery (``tx_blobs``).

    With ``beacon_url`` the blobs come from that beacon API, else (or when it fails) from the node's
    ``anvil_getBlobsByTransactionHash``; see :class:`~batcher.loading.recovery.RecoveryBlobs`.
    """

    def __init__(
        self,
        url: str,
        *,
        beacon_url: str = "",
        timeout: float,
        metrics: RpcClientMetrics | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__(url, timeout=timeout, metrics=metrics, max_response_bytes=max_response_bytes)
        self.beacon = BeaconClient(beacon_url, timeout=timeout) if beacon_url else None
        self.recovery_blobs = RecoveryBlobs(self.beacon, self.blobs)

    async def tx_blobs(self, ref: BlobTxRef) -> list[bytes]:
        return await self.recovery_blobs.tx_blobs(ref)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self.beacon is not None:
                await self.beacon.close()


class BatcherService:
    """Owns every component; ``start``/``stop`` are what the lifecycle runner calls."""

    def __init__(self, cfg: BatcherConfig, close_app: CloseApp) -> None:
        self.cfg = cfg
        self.close_app = close_app
        self.metrics: BatcherMetrics = new_batcher_metrics()
        self.rpc_metrics = RpcClientMetrics(self.metrics.factory)
        timeout = cfg.txmgr.network_timeout
        self.l1 = BatcherL1Client(
            cfg.l1_eth_rpc,
            beacon_url=cfg.l1_beacon,
            timeout=timeout,
            metrics=self.rpc_metrics,
            max_response_bytes=cfg.max_rpc_response_bytes,
        )
        self.l2: StaticL2Provider | ActiveL2Provider | None = None
        self.rollup: RollupConfig | None = None
        self.txmgr: TxManager | None = None
        self.driver: BatchDriver | None = None
        self.rpc: RpcServer | None = None
        self.metrics_server: MetricsServer | None = None
        self.balance: BalancePoller | None = None
        self._throttle_clients: dict[str, RpcClient] = {}
        self.altda: AltDAPoster | None = None

    # ---- setup ------------------------------------------------------------------------------------

    def _l2_provider(self) -> StaticL2Provider | ActiveL2Provider:
        cfg, m = self.cfg, self.rpc_metrics
        opts: dict[str, Any] = {
            "timeout": cfg.txmgr.network_timeout,
            "metrics": m,
            "max_response_bytes": cfg.max_rpc_response_bytes,
        }
        if len(cfg.rollup_rpc) == 1:
            return StaticL2Provider(
                RollupClient(cfg.rollup_rpc[0], **opts), EthClient(cfg.l2_eth_rpc[0], **opts)
            )
        return ActiveL2Provider(
            cfg.rollup_rpc,
            cfg.l2_eth_rpc,
            check_duration=cfg.active_sequencer_check_duration,
            network_timeout=cfg.txmgr.network_timeout,
            rollup_factory=lambda url: RollupClient(url, **opts),
            eth_factory=lambda url: EthClient(url, **opts),
        )

    async def setup(self) -> None:
        """Go BatcherService.initFromCLIConfig, phase by phase, in Go's order (errors name the phase)."""
        controller = self._throttle_controller()
        rollup = await self._load_rollup()
        signer = await self._init_txmgr()
        self._init_altda()
        manager, is_auto = self._channel_manager(rollup)
        if self.cfg.channel.da_type != "calldata":
            # Load the KZG trusted setup (seconds, holding the GIL) in the sidecar worker process now,
            # not inside the first blob tx and not on this event loop.
            prewarm_kzg_worker()
        self._init_observability(signer)
        self.driver = self._build_driver(rollup, manager, is_auto=is_auto, controller=controller)
        self.rpc = self._build_rpc(self.driver)

    def _throttle_controller(self) -> ControllerType:
        """The configured throttle controller; the PID one is checked here and warned about as in Go."""
        cfg = self.cfg
        controller = ControllerType(cfg.throttle_controller_type)
        if controller is ControllerType.PID:
            try:
                cfg.pid.check()
            except ThrottleError as exc:
                raise SetupError(str(exc)) from None
            log.warn("EXPERIMENTAL PID CONTROLLER CONFIGURED")
        return controller

    async def _load_rollup(self) -> RollupConfig:
        """Build the L2 endpoint provider and fetch the rollup config from the (first active) rollup node."""
        kind = "active" if len(self.cfg.rollup_rpc) > 1 else "static"
        try:
            self.l2 = self._l2_provider()
        except Exception as exc:
            raise SetupError(f"failed to build {kind} L2 endpoint provider: {exc}") from exc
        try:
            rollup_client = await self.l2.rollup_client()
            self.rollup = rollup = await rollup_client.rollup_config()
        except Exception as exc:
            raise SetupError(f"failed to load rollup config: {exc}") from exc
        log.info(
            "Rollup Config",
            l2_chain_id=rollup.l2_chain_id,
            l1_chain_id=rollup.l1_chain_id,
            genesis_l2_time=rollup.genesis_l2_time,
            batch_inbox="0x" + rollup.batch_inbox_address.hex(),
            seq_window_size=rollup.seq_window_size,
            channel_timeout=rollup.channel_timeout,
        )
        return rollup

    async def _init_txmgr(self) -> Signer:
        """The signer (for the L1 chain id) and the tx manager; returns the signer for the balance poller."""
        cfg = self.cfg
        try:
            chain_id = await self.l1.chain_id()
            signer = await signer_from_config(cfg.txmgr.signer, chain_id)
            self.txmgr = TxManager(cfg.txmgr, self.l1, signer, self.metrics.txmgr, chain_id=chain_id)
            await self.txmgr.init()
        except Exception as exc:
            raise SetupError(f"failed to init Tx manager: {exc}") from exc
        return signer

    def _init_altda(self) -> None:
        """Check the Alt-DA flags and build the poster (None when Alt-DA is off)."""
        try:
            self.cfg.altda.check()
        except ValueError as exc:
            raise SetupError(str(exc)) from None
        self.altda = self._altda_poster()

    def _init_observability(self, signer: Signer) -> None:
        """Balance poller and metrics server (when metrics are on), and the start-up notes on beacon/pprof."""
        cfg = self.cfg
        if cfg.metrics.enabled:
            sender = "0x" + signer.address.hex()
            self.balance = BalancePoller(
                self.metrics.factory, sender, lambda: self.l1.balance(signer.address)
            )
            self.metrics_server = MetricsServer(
                self.metrics.factory.registry, cfg.metrics.addr, cfg.metrics.port
            )
        if self.l1.beacon is not None:
            log.info("Restart recovery reads blobs from the beacon API", endpoint=self.l1.beacon.endpoint)
        if cfg.pprof.enabled:
            log.warn("pprof is not available in the Python op-batcher; ignoring pprof.enabled")

    def _build_driver(
        self, rollup: RollupConfig, manager: ChannelManager, *, is_auto: bool, controller: ControllerType
    ) -> BatchDriver:
        """The driver, from the one DriverConfig this layer derives from the flags."""
        cfg = self.cfg
        assert self.l2 is not None and self.txmgr is not None  # set by the earlier phases
        return BatchDriver(
            DriverConfig(
                poll_interval=cfg.poll_interval,
                max_pending_tx=cfg.max_pending_tx,
                network_timeout=cfg.txmgr.network_timeout,
                check_recent_txs_depth=cfg.check_recent_txs_depth,
                wait_node_sync=cfg.wait_node_sync,
                is_auto_da=is_auto,
                throttle=cfg.throttle,
                throttle_controller=controller,
                pid=cfg.pid,
                throttle_endpoints=cfg.throttle_endpoints,
                fee_aware=cfg.fee_aware,
                max_unsafe_l2_bytes=cfg.max_unsafe_l2_bytes,
                pending_da_gauge=cfg.metrics.enabled,
            ),
            rollup=rollup,
            l1=self.l1,
            l2=self.l2,
            txmgr=self.txmgr,
            manager=manager,
            metrics=self.metrics,
            throttle_call=self._set_max_da_size,
            close_app=self.close_app,
            altda=self.altda,
        )

    def _build_rpc(self, driver: BatchDriver) -> RpcServer:
        """The RPC server with the admin namespace (registered only when ``rpc.enable-admin``)."""
        cfg, txmgr = self.cfg, self.txmgr
        assert txmgr is not None
        rpc = RpcServer(
            cfg.rpc.addr,
            cfg.rpc.port,
            VERSION,
            enable_admin=cfg.rpc.enable_admin,
            metrics=RpcServerMetrics(self.metrics.factory),
        )
        register_admin(rpc, driver, txmgr_api(txmgr))
        return rpc

    def _altda_poster(self) -> AltDAPoster | None:
        """Go's Alt-DA client setup: the DA-server client and the bounded poster (None when disabled)."""
        a = self.cfg.altda
        if not a.enabled:
            return None
        log.warn(
            "Alt-DA Mode is a Beta feature of the MIT licensed OP Stack.  While it has received "
            "initial review from core contributors, it is still undergoing testing, and may have bugs "
            "or other issues."
        )
        client = DAClient(
            a.da_server,
            verify_on_read=a.verify_on_read,
            generic=a.da_service,
            put_timeout=a.put_timeout,
            get_timeout=a.get_timeout,
        )
        log.info(
            "Alt-DA enabled",
            da_server=client.endpoint,
            commitment="GenericCommitment" if a.da_service else "KeccakCommitment",
            max_concurrent_da_requests=a.max_concurrent_da_requests,
            read_back=a.read_back,
        )
        return AltDAPoster(
            client,
            self.metrics.altda,
            max_concurrent=a.max_concurrent_da_requests,
            read_back=a.read_back,
        )

    def _channel_manager(self, rollup: RollupConfig) -> tuple[ChannelManager, bool]:
        cfg = self.cfg
        try:
            configs = build_channel_configs(
                rollup, cfg.channel, now=int(time.time()), alt_da=cfg.altda.enabled
            )
        except ChannelConfigError as exc:
            raise SetupError(str(exc)) from None
        c = configs.default
        if configs.da_type is DAType.CALLDATA and rollup.is_active("ecotone", int(time.time())):
            log.warn("Ecotone upgrade is active, but batcher is not configured to use Blobs!")
        log.info(
            "Initialized channel-config",
            da_type=configs.da_type.value,
            use_alt_da=cfg.altda.enabled,
            max_frame_size=c.max_frame_size,
            target_num_frames=c.target_num_frames,
            compressor=c.compressor,
            compression_algo=c.compression_algo,
            batch_type=c.batch_type,
            max_channel_duration=c.max_channel_duration,
            channel_timeout=c.channel_timeout,
            sub_safety_margin=c.sub_safety_margin,
        )
        return ChannelManager(rollup, DAConfigSelector(configs), **self._additions(rollup)), configs.is_auto

    def _additions(self, rollup: RollupConfig) -> dict[str, Any]:
        """Our channel-manager additions (blob sharing, adaptive compression), off unless flagged."""
        from batcher.channels.blob_sharing import BlobSharing
        from batcher.channels.compression_quality import AdaptiveQuality

        cfg = self.cfg
        out: dict[str, Any] = {}
        if cfg.blob_sharing:
            out["blob_sharing"] = BlobSharing(cfg.blob_sharing_max_wait)
            log.info("Blob sharing on", max_wait=cfg.blob_sharing_max_wait)
        if cfg.adaptive_compression:
            out["adaptive_quality"] = AdaptiveQuality(
                headroom=cfg.adaptive_compression_headroom, block_time=rollup.block_time
            )
            log.info("Adaptive compression quality on", headroom=cfg.adaptive_compression_headroom)
        return out

    async def _set_max_da_size(self, endpoint: str, max_tx: int, max_block: int) -> Any:
        client = self._throttle_clients.get(endpoint)
        if client is None:
            client = RpcClient(
                endpoint,
                timeout=self.cfg.txmgr.network_timeout,
                metrics=self.rpc_metrics,
                max_response_bytes=self.cfg.max_rpc_response_bytes,
            )
            self._throttle_clients[endpoint] = client
        return await client.call("miner_setMaxDASize", [hex(max_tx), hex(max_block)])

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        assert self.rpc is not None and self.driver is not None
        if self.balance:
            self.balance.start()
        if self.metrics_server:
            await self.metrics_server.start()
            log.info("Started metrics server", endpoint=self.metrics_server.addr)
        else:
            log.info("Metrics disabled")
        if self.cfg.rpc.enable_admin:
            log.info("Admin RPC enabled")
        await self.rpc.start()
        log.info("Starting JSON-RPC server", endpoint=self.rpc.endpoint)
        self.metrics.record_info(VERSION)
        self.metrics.record_up()
        log.info("Starting batcher", notSubmittingOnStart=self.cfg.stopped)
        if not self.cfg.stopped:
            await self.driver.start()

    async def stop(self) -> None:
        log.info("Stopping batcher")
        if self.txmgr:
            self.txmgr.close()
        if self.driver and self.driver.running:
            await self.driver.stop()
        if self.rpc:
            await self.rpc.stop()
        if self.balance:
            await self.balance.stop()
        if self.metrics_server:
            await self.metrics_server.stop()
        await self.close_clients()
        log.info("Batch Submitter stopped")

    async def close_clients(self) -> None:
        await self.l1.close()
        if self.txmgr is not None:
            await self.txmgr.signer.close()  # a remote signer owns an HTTP session
        if self.l2 is not None:
            await self.l2.close()
        for client in self._throttle_clients.values():
            await client.close()
        if self.altda is not None:
            await self.altda.client.close()


def main(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """The daemon (:mod:`batcher.cli` runs the same, importing this module only at setup)."""
    from batcher.launch import run

    return run(argv, environ, create=BatcherService, doc=doc_main)


def doc_main(args: list[str]) -> int:
    """``op-batcher doc metrics [--format markdown|json]``."""
    return doc_command("op-batcher", args, metric_docs)
