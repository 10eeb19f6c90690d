"""From the channel manager's tx data to L1 tx candidates (op-batcher.md §4.7).

:func:`next_tx_data` is the one call that compresses: it asks the manager for the next tx data (filling
the current channel on the way) and verifies every channel that closed, so the driver runs it in a worker
thread. :func:`tx_candidate` then builds a calldata candidate (gas = the EIP-7623 floor, which covers the
standard intrinsic gas) or a blob candidate (one blob per frame, 21000 gas), as Go's ``sendTransaction``.
"""

from __future__ import annotations

from dataclasses import dataclass

from batcher.channels.channel import TxData
from batcher.channels.config import GasPriceCaps
from batcher.channels.events import TxDataResult
from batcher.channels.manager import ChannelManager
from batcher.channels.reporter import channel_verdicts
from batcher.metrics import BatcherMetrics
from common.altda.commitment import Commitment
from common.derive.blob import encode_blob
from common.derive.block_ref import BlockID
from common.derive.rollup_config import RollupConfig
from common.service.log import get_logger
from common.txmgr.txmgr import TxCandidate

log = get_logger("batcher")

TX_GAS = 21_000
FLOOR_GAS_PER_TOKEN = 10
"""EIP-7623 floor gas per calldata token (a zero byte is 1 token, a non-zero byte 4)."""


def calldata_floor_gas(data: bytes) -> int:
    """EIP-7623 floor gas of ``data`` (21000 + 10 x tokens); it covers the standard intrinsic gas too."""
    zeros = data.count(0)
    return TX_GAS + FLOOR_GAS_PER_TOKEN * (zeros + 4 * (len(data) - zeros))


@dataclass(frozen=True, slots=True)
class TxDataRequest:
    """The arguments of one ``ChannelManager.tx_data`` call."""

    l1_head: BlockID
    is_throttling: bool
    force_publish: bool
    gas_prices: GasPriceCaps | None
    ignore_max_channel_duration: bool
    backlog_blocks: int
    now: float | None = None
    """Monotonic seconds: bounds the blob-sharing wait (our addition)."""


def next_tx_data(
    mgr: ChannelManager, rollup: RollupConfig, req: TxDataRequest
) -> tuple[TxDataResult, dict[bytes, str | None]]:
    """The manager's next tx data and the verification verdict of each channel it closed.

    Blocking and CPU-heavy (compression, decoding); run it in a worker thread while nothing else mutates
    the manager.
    """
    result = mgr.tx_data(
        req.l1_head,
        is_throttling=req.is_throttling,
        force_publish=req.force_publish,
        gas_prices=req.gas_prices,
        ignore_max_channel_duration=req.ignore_max_channel_duration,
        backlog_blocks=req.backlog_blocks,
        now=req.now,
    )
    return result, channel_verdicts(mgr, result.events, rollup)


def tx_candidate(tx: TxData, inbox: bytes, metrics: BatcherMetrics) -> TxCandidate:
    """A blob or calldata candidate for ``tx`` to the batch inbox (logs Go's "Building ..." line)."""
    if tx.as_blob:
        payloads = tx.blob_payloads
        log.info(
            "Building Blob transaction candidate",
            size=tx.size,
            last_size=len(payloads[-1]),
            num_blobs=len(payloads),
        )
        metrics.record_blob_sizes([len(p) for p in payloads])
        if tx.shared is not None:
            metrics.blobs_shared.inc()
        return TxCandidate(
            to=inbox, data=b"", gas_limit=TX_GAS, blobs=tuple(encode_blob(p) for p in payloads)
        )
    data = tx.calldata
    log.info("Building Calldata transaction candidate", size=len(data))
    return TxCandidate(to=inbox, data=data, gas_limit=calldata_floor_gas(data))


def altda_tx_candidate(comm: Commitment, inbox: bytes) -> TxCandidate:
    """The Alt-DA inbox tx: calldata ``0x01 ++ commitment`` (Go ``calldataTxCandidate(comm.TxData())``)."""
    data = comm.tx_data()
    log.info("Building Calldata transaction candidate", size=len(data))
    return TxCandidate(to=inbox, data=data, gas_limit=calldata_floor_gas(data))
