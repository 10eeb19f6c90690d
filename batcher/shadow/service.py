"""``op-batcher shadow``: run beside the production batcher, post nothing, show what switching would change.

Started with the batcher's own command line plus ``--shadow.batcher-address`` (see
:mod:`batcher.shadow.flags`). Two sides are read once per poll interval, for every new L1 block:

* **incumbent**: the L1 block's txs from the shadowed address to the batch inbox are read with the
  ``op-batcher decode`` reader (:class:`~batcher.decode.l1.L1Fetcher`: calldata, blobs from
  ``--l1-beacon``) and decoded into channels and L2 blocks by :mod:`batcher.shadow.incumbent`;
* **shadow** (ours): this batcher's own channel manager, framing and channel verification
  (:func:`batcher.publishing.publisher.next_tx_data`) run on the live L2 chain, from the rollup node's safe
  head at start to its unsafe head, with a publisher that only records: each tx is "confirmed" at once at the
  L1 head it was made at, and a fully recorded channel is pruned. Nothing depends on the incumbent's
  progress or touches its state.

Why our side has its own small loader instead of :class:`~batcher.loading.block_loader.BlockLoader`: the
batcher's sync actions key everything to the rollup node's safe head, which here moves only when the
*incumbent* posts. Our channels "land" at once, so the no-progress rule (a channel landed, the safe head
did not pass it) would clear our state whenever the incumbent lags us, and our blocks would only be pruned
at the incumbent's pace. The shadow loader follows the unsafe head, prunes what it recorded, and restarts
from the safe head only at start and on an L2 reorg (the block does not extend our tip).

Both sides go into a :class:`~batcher.shadow.report.ShadowReport`; each L1 block ends with a
``Shadow L1 block`` log line, the ``op_batcher_default_shadow_*`` metrics are on ``/metrics`` (with the
pipeline's usual op-batcher series), and the JSON report is written to ``--shadow.report-path`` on exit.

Read-only by construction: there is no signer and no tx manager. The RPC methods it calls are
:data:`READ_ONLY_METHODS` (``docs/migration.md`` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from batcher.channels.channel import TxData
from batcher.channels.config import ChannelConfigError, DAConfigSelector, GasPriceCaps, build_channel_configs
from batcher.channels.events import ChannelClosed, ChannelFullySubmitted, ReorgDetected
from batcher.channels.manager import ChannelManager
from batcher.channels.reporter import ChannelEventReporter
from batcher.decode.l1 import L1Fetcher, hex_bytes, hex_int
from batcher.decode.report import L2Params
from batcher.decode.sources import BLOB_TX_TYPE, SourceError
from batcher.metrics import BatcherMetrics, new_batcher_metrics
from batcher.publishing.publisher import TxDataRequest, next_tx_data
from batcher.service import VERSION, SetupError, doc_main
from batcher.shadow.flags import ShadowConfig, build_shadow_config, shadow_table
from batcher.shadow.incumbent import IncumbentTracker, IncumbentTx
from batcher.shadow.metrics import ShadowMetrics
from batcher.shadow.report import SHADOW, ChannelTally, L1Prices, Problem, ShadowReport, blob_base_fee
from common.derive.block_ref import BlockID
from common.derive.channel_bank import ChannelBankRules
from common.derive.l2_block import BlockError, block_from_rpc
from common.derive.rollup_config import RollupConfig
from common.rpc.active import ActiveL2Provider, StaticL2Provider
from common.rpc.errors import RpcError
from common.rpc.eth import EthClient
from common.rpc.rollup import RollupClient
from common.rpc.types import Header
from common.service.lifecycle import CloseApp, service_main
from common.service.log import get_logger
from common.service.metrics import RpcClientMetrics
from common.service.metrics_server import MetricsServer

log = get_logger("shadow")

READ_ONLY_METHODS = (
    "eth_blockNumber",
    "eth_getBlockByNumber",
    "optimism_rollupConfig",
    "optimism_syncStatus",
    "eth_maxPriorityFeePerGas",
    "admin_sequencerActive",
    "anvil_getBlobsByTransactionHash",
    "GET /eth/v1/beacon/blobs/{block_id}",
)
"""Every call the shadow makes: L1 (blocks with txs), L2 (blocks), rollup node (config, sync status;
``admin_sequencerActive`` only with several ``--rollup-rpc``), the L1 tip (``eth_maxPriorityFeePerGas``,
only with ``--data-availability-type=auto``, for the DA choice), blobs (beacon API; the anvil method only
without ``--l1-beacon``). No ``eth_sendRawTransaction``, no signer, no ``miner_*`` or ``admin_*`` writes."""
MAX_L1_BLOCKS_PER_TICK = 64
"""L1 blocks read per tick while catching up (each is one block fetch plus blobs)."""
LOAD_CHUNK = 100
"""L2 blocks loaded between publish passes (as the batcher's loader)."""
FETCH_CONCURRENCY = 8
"""L2 blocks fetched at once."""


def l1_prices(header: Header) -> L1Prices:
    """The prices both sides are charged at in this L1 block."""
    blob_fee = blob_base_fee(header.excess_blob_gas) if header.excess_blob_gas is not None else 1
    return L1Prices(header.number, header.timestamp, header.base_fee or 0, blob_fee)


class ShadowPipeline:
    """Our side: the batcher's channel manager fed from the L2 chain, with a recording publisher."""

    def __init__(
        self, rollup: RollupConfig, manager: ChannelManager, metrics: BatcherMetrics, backlog_fill: bool
    ) -> None:
        self.rollup = rollup
        self.mgr = manager
        self.events = ChannelEventReporter(manager, metrics, rollup)
        self.backlog_fill = backlog_fill
        self.next_l2: int | None = None
        """Next L2 block to load; None until the first sync status (then the safe head + 1)."""
        self._tallies: dict[bytes, ChannelTally] = {}

    def reset(self, safe_number: int, safe_l1_origin: BlockID) -> None:
        """Start (again) from the rollup node's safe head, as the batcher does at start and on reorgs."""
        self.mgr.clear(safe_l1_origin)
        self._tallies.clear()
        self.next_l2 = safe_number + 1

    def add_blocks(self, blocks: list[dict[str, Any]]) -> None:
        for obj in blocks:
            block = block_from_rpc(obj, self.rollup.l2_chain_id)
            self.mgr.add_l2_block(block)  # ReorgDetected: the caller resets
            self.next_l2 = block.number + 1

    async def publish(
        self, head: Header, backlog: int, gas_prices: GasPriceCaps | None = None
    ) -> list[ChannelTally]:
        """Hand out every tx the manager has now; record and "confirm" each; channels fully recorded.

        ``gas_prices`` feed the ``auto`` DA choice (None: keep the last choice), as the driver's do.
        """
        prices = l1_prices(head)
        done: list[ChannelTally] = []
        while True:
            req = TxDataRequest(
                l1_head=BlockID(head.hash, head.number),
                is_throttling=False,
                force_publish=False,
                gas_prices=gas_prices,
                ignore_max_channel_duration=False,
                backlog_blocks=backlog if self.backlog_fill else 0,
            )
            result, self.events.verdicts = await asyncio.to_thread(next_tx_data, self.mgr, self.rollup, req)
            self.events.report(result.events)
            done += self._on_events(result.events, prices)
            if result.tx is None:
                break
            self._record(result.tx, prices)
            receipt = self.mgr.tx_confirmed(result.tx.id, BlockID(head.hash, head.number))
            self.events.report(receipt.events)
            done += self._on_events(receipt.events, prices)
        self._prune()
        return done

    def _tally(self, channel_id: bytes) -> ChannelTally:
        return self._tallies.setdefault(channel_id, ChannelTally(SHADOW, channel_id))

    def _record(self, tx: TxData, prices: L1Prices) -> None:
        tally = self._tally(tx.id.channel_id)
        if tx.as_blob:
            tally.add_blob_tx([len(p) for p in tx.blob_payloads], prices)
        else:
            tally.add_calldata_tx(tx.calldata, prices)

    def _on_events(self, events: Any, prices: L1Prices) -> list[ChannelTally]:
        done: list[ChannelTally] = []
        for ev in events:
            if isinstance(ev, ChannelClosed):
                tally = self._tally(ev.channel_id)
                tally.compressed_bytes, tally.uncompressed_bytes = ev.output_bytes, ev.input_bytes
                tally.l2_blocks = list(range(ev.oldest_l2.number, ev.latest_l2.number + 1))
                tally.oldest_l2_time = self.rollup.genesis_l2_time + self.rollup.block_time * (
                    ev.oldest_l2.number - self.rollup.genesis_l2.number
                )
                if self.events.verify_failed is not None:
                    tally.errors.append(self.events.verify_failed)
                    self.events.verify_failed = None  # nothing is sent: keep measuring
            elif isinstance(ev, ChannelFullySubmitted):
                finished = self._tallies.pop(ev.channel_id, None) or ChannelTally(SHADOW, ev.channel_id)
                finished.finish(prices.block, prices.timestamp)
                done.append(finished)
        return done

    def _prune(self) -> None:
        """Forget fully recorded channels and their blocks (the batcher would once they are safe)."""
        while self.mgr.channels and self.mgr.channels[0].is_fully_submitted and self.mgr.blocks:
            last = self.mgr.channels[0].latest_l2.number
            self.mgr.prune_safe_blocks(
                max(0, min(len(self.mgr.blocks), last - self.mgr.blocks[0].number + 1))
            )
            self.mgr.prune_channels(1)


class ShadowService:
    """Owns the clients, both sides and the report; ``start``/``stop`` for the lifecycle runner."""

    def __init__(self, cfg: ShadowConfig, close_app: CloseApp) -> None:
        self.cfg = cfg
        self.close_app = close_app
        b = cfg.batcher
        self.metrics = new_batcher_metrics()
        self.shadow_metrics = ShadowMetrics(self.metrics.factory)
        self.rpc_metrics = RpcClientMetrics(self.metrics.factory)
        self.timeout = b.txmgr.network_timeout
        self.fetcher = L1Fetcher(b.l1_eth_rpc, b.l1_beacon or None, self.timeout)
        self.l2: StaticL2Provider | ActiveL2Provider | None = None
        self.rollup: RollupConfig | None = None
        self.pipeline: ShadowPipeline | None = None
        self.tracker: IncumbentTracker | None = None
        self.report = ShadowReport(shadowed=cfg.shadowed)
        self.metrics_server: MetricsServer | None = None
        self.next_l1: int | None = None
        self.is_auto_da = False
        self._head: Header | None = None
        """The newest L1 block read (our pipeline's L1 head)."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # ---- setup ------------------------------------------------------------------------------------

    def _l2_provider(self) -> StaticL2Provider | ActiveL2Provider:
        b = self.cfg.batcher
        opts: dict[str, Any] = {
            "timeout": self.timeout,
            "metrics": self.rpc_metrics,
            "max_response_bytes": b.max_rpc_response_bytes,
        }
        if len(b.rollup_rpc) == 1:
            return StaticL2Provider(RollupClient(b.rollup_rpc[0], **opts), EthClient(b.l2_eth_rpc[0], **opts))
        return ActiveL2Provider(
            b.rollup_rpc,
            b.l2_eth_rpc,
            check_duration=b.active_sequencer_check_duration,
            network_timeout=self.timeout,
            rollup_factory=lambda url: RollupClient(url, **opts),
            eth_factory=lambda url: EthClient(url, **opts),
        )

    async def setup(self) -> None:
        b = self.cfg.batcher
        log.info("Shadow mode: read-only, nothing is signed or sent", shadowed="0x" + self.cfg.shadowed.hex())
        if self.cfg.ignored_signer_flags:
            log.info(
                "Ignoring signer flags (the shadow has no key)", flags=",".join(self.cfg.ignored_signer_flags)
            )
        self.l2 = self._l2_provider()
        try:
            self.rollup = rollup = await (await self.l2.rollup_client()).rollup_config()
        except Exception as exc:
            raise SetupError(f"failed to load rollup config from --rollup-rpc: {exc}") from exc
        try:
            configs = build_channel_configs(rollup, b.channel, now=int(time.time()))
        except ChannelConfigError as exc:
            raise SetupError(str(exc)) from None
        c = configs.default
        self.report.config = {
            "data_availability_type": configs.da_type.value,
            "batch_type": c.batch_type,
            "compression_algo": c.compression_algo,
            "compressor": c.compressor,
            "max_channel_duration": c.max_channel_duration,
            "target_num_frames": c.target_num_frames,
            "max_frame_size": c.max_frame_size,
        }
        log.info("Shadow channel config", **self.report.config)
        manager = ChannelManager(rollup, DAConfigSelector(configs))
        self.pipeline = ShadowPipeline(rollup, manager, self.metrics, backlog_fill=True)
        self.is_auto_da = configs.is_auto
        params = L2Params(
            rollup.genesis_l2_time, rollup.block_time, rollup.l2_chain_id, rollup.genesis_l2.number
        )
        self.tracker = IncumbentTracker(ChannelBankRules.from_rollup(rollup), params)
        if b.metrics.enabled:
            self.metrics_server = MetricsServer(self.metrics.factory.registry, b.metrics.addr, b.metrics.port)

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.metrics_server:
            await self.metrics_server.start()
            log.info("Started metrics server", endpoint=self.metrics_server.addr)
        self.metrics.record_info(VERSION)
        self.metrics.record_up()
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="shadow")
        log.info("Shadow started")

    async def stop(self) -> None:
        log.info("Stopping shadow")
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.write_report()
        if self.metrics_server:
            await self.metrics_server.stop()
        await self.close_clients()
        log.info("Shadow stopped")

    async def close_clients(self) -> None:
        await self.fetcher.close()
        if self.l2 is not None:
            await self.l2.close()

    def write_report(self) -> None:
        """The JSON report, written whole then renamed (a reader never sees half a file)."""
        path = self.cfg.report_path
        if not path:
            return
        tmp = Path(f"{path}.tmp")
        try:
            tmp.write_text(json.dumps(self.report.to_json(), indent=2) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            log.error("Could not write the shadow report", path=path, err=str(exc))
            return
        log.info("Wrote shadow report", path=path)

    # ---- the loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (RpcError, SourceError, TimeoutError, OSError, BlockError, ValueError) as exc:
                log.warn("Shadow tick failed, retrying next tick", err=str(exc))
            except Exception as exc:  # a bug or an unexpected reply must not end the shadow
                log.error("Shadow tick failed unexpectedly, retrying next tick", err=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.cfg.batcher.poll_interval)

    async def tick(self) -> None:
        """The incumbent's txs in every new L1 block, then our pipeline at the newest L1 head; a summary
        line per L1 block (the newest one's after our pipeline ran, so it shows our new channels too)."""
        head = hex_int(await self.fetcher.rpc.call("eth_blockNumber", []), "eth_blockNumber")
        if self.next_l1 is None:
            self.next_l1 = head
        first, last = self.next_l1, min(head, self.next_l1 + MAX_L1_BLOCKS_PER_TICK - 1)
        for number in range(first, last + 1):
            await self._incumbent_block(number)
            self.next_l1 = number + 1  # counted once: a later failure never re-reads this block
            if number < last:
                self._summary()
        if self._head is None:
            return
        try:
            await self._shadow_step(self._head)
        finally:
            if last >= first:  # the newest block read this tick gets its line now
                self._summary()

    def _summary(self) -> None:
        self.shadow_metrics.record_block(self.report, self.report.block.l1_block)
        log.info("Shadow L1 block", **self.report.summary_fields())

    async def _incumbent_block(self, number: int) -> None:
        """Read L1 block ``number`` and count the incumbent's txs in it (all reads come first, so a failed
        read leaves nothing half-counted)."""
        block = await self.fetcher.rpc.call("eth_getBlockByNumber", [hex(number), True])
        if not isinstance(block, dict):
            raise SourceError(f"L1 block {number} not found on {self.fetcher.rpc.endpoint}")
        header = Header.from_json(block, f"L1 block {number}")
        txs = await self._incumbent_txs(block)
        if self._head is not None and header.parent_hash != self._head.hash:
            log.warn(
                "L1 reorg: the shadow counted the replaced blocks' batcher txs already",
                block=number,
                parent="0x" + header.parent_hash.hex(),
                previous="0x" + self._head.hash.hex(),
            )
        self.report.begin_l1_block(number)
        assert self.tracker is not None
        channels, problems = self.tracker.read_block(l1_prices(header), txs)
        for p in problems:
            self._problem(p)
        for ch in channels:
            self._channel(ch)
        self._head = header

    async def _incumbent_txs(self, block: dict[str, Any]) -> list[IncumbentTx]:
        assert self.rollup is not None
        inbox = self.rollup.batch_inbox_address
        out: list[IncumbentTx] = []
        for tx in block.get("transactions") or []:
            to, sender = tx.get("to"), tx.get("from")
            if not to or not sender:
                continue
            if hex_bytes(to, "to") != inbox or hex_bytes(sender, "from") != self.cfg.shadowed:
                continue
            records = await self.fetcher.records_for_tx(tx, block)
            is_blob = hex_int(tx.get("type", "0x0"), "tx type") == BLOB_TX_TYPE
            calldata = None if is_blob else hex_bytes(tx.get("input", "0x"), "tx input")
            out.append(IncumbentTx(str(tx.get("hash")), calldata, tuple(records)))
        return out

    def _problem(self, p: Problem) -> None:
        self.report.add_problem(p)
        self.shadow_metrics.record_problem(p.kind)
        log.warn(
            "Incumbent batcher data problem", kind=p.kind, l1_block=p.l1_block, source=p.source, err=p.detail
        )

    def _channel(self, ch: ChannelTally) -> None:
        for gap in self.report.add_channel(ch):
            self.shadow_metrics.record_problem(gap.kind)
            log.warn("Incumbent batcher data problem", kind=gap.kind, l1_block=gap.l1_block, err=gap.detail)
        self.shadow_metrics.record_channel(ch)
        log.info(
            "Shadow channel",
            side=ch.side,
            id=ch.channel_id.hex(),
            l2_first=ch.l2_blocks[0] if ch.l2_blocks else None,
            l2_last=ch.l2_blocks[-1] if ch.l2_blocks else None,
            compressed_bytes=ch.compressed_bytes,
            da_bytes=ch.da_bytes,
            blobs=ch.blobs,
            blob_fill=ch.blob_fill,
            fee_wei=ch.fee_wei,
            latency_s=ch.latency_seconds,
        )

    async def _shadow_step(self, head: Header) -> None:
        """Our pipeline at L1 head ``head``: load the new unsafe L2 blocks, then record what is ready."""
        assert self.l2 is not None and self.pipeline is not None
        pipe = self.pipeline
        status = await (await self.l2.rollup_client()).sync_status()
        safe, unsafe = status.local_safe_l2, status.unsafe_l2
        if pipe.next_l2 is None:
            pipe.reset(safe.number, safe.l1_origin)
            log.info("Shadow pipeline starts after the safe head", safe=safe.number, unsafe=unsafe.number)
        assert pipe.next_l2 is not None
        eth = await self.l2.eth_client()
        prices = await self._gas_prices(head)
        sem = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(n: int) -> dict[str, Any]:
            async with sem:
                return await eth.block_json(n, full_txs=True)

        while pipe.next_l2 <= unsafe.number and not self._stopping.is_set():
            end = min(pipe.next_l2 + LOAD_CHUNK - 1, unsafe.number)
            blocks = await asyncio.gather(*(fetch(n) for n in range(pipe.next_l2, end + 1)))
            try:
                pipe.add_blocks(list(blocks))
            except ReorgDetected as exc:
                log.warn("Shadow pipeline found an L2 reorg, restarting after the safe head", err=str(exc))
                pipe.reset(safe.number, safe.l1_origin)
                return
            for ch in await pipe.publish(head, unsafe.number - end, prices):
                self._channel(ch)
        for ch in await pipe.publish(head, 0, prices):
            self._channel(ch)

    async def _gas_prices(self, head: Header) -> GasPriceCaps | None:
        """For ``auto`` DA: the L1 tip and the head's base and blob base fees (None: keep the last choice)."""
        if not self.is_auto_da:
            return None
        try:
            tip = hex_int(
                await self.fetcher.rpc.call("eth_maxPriorityFeePerGas", []), "eth_maxPriorityFeePerGas"
            )
        except (RpcError, SourceError) as exc:
            log.warn("Error querying gas prices, keeping the last DA choice", err=str(exc))
            return None
        p = l1_prices(head)
        return GasPriceCaps(tip_cap=tip, base_fee=p.base_fee, blob_base_fee=p.blob_base_fee)


def main(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """``op-batcher shadow [batcher flags] --shadow.batcher-address ADDR``."""
    return service_main(
        shadow_table(VERSION),
        argv,
        dict(os.environ) if environ is None else environ,
        build_config=build_shadow_config,
        create=ShadowService,
        init_message="Initializing shadow batcher",
        doc=doc_main,
    )
