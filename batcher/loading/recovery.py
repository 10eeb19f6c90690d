"""Reading the batcher's own data back from L1: restart recovery and the recent-tx search.

* :func:`find_recent_tx_block` (Go §4.11, ``check-recent-txs-depth``): binary search on the batcher's
  nonce for the newest L1 block holding one of its txs.
* :func:`blocks_with_own_txs`: every L1 block in a range where the batcher's nonce moved, found by
  bisecting on ``eth_getTransactionCount`` (O(k log n) calls for k blocks with txs), so a restart can
  read just those blocks.
* :func:`channels_on_l1`: the batcher's complete channels in an L1 range, decoded with the protocol core
  into :class:`~batcher.channels.events.ChannelOnL1` summaries for the manager's recovery API, so a
  restart resubmits nothing already on L1.
* :class:`RecoveryBlobs`: where recovery reads the blobs of its blob txs: the beacon API
  (``--l1-beacon``, a Python addition), else the L1 node's ``anvil_getBlobsByTransactionHash`` (devnets),
  else nowhere (logged once: blob channels are then resubmitted, as Go does).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from batcher.channels.events import ChannelOnL1
from batcher.channels.manager import block_number_at
from batcher.channels.verify import ChannelDecodeError, decode_channel_blocks
from common.derive.blob import BlobError, decode_blob
from common.derive.block_ref import BlockID, hex_to_bytes, json_uint
from common.derive.frame import Frame, FrameError, parse_frames
from common.derive.rollup_config import RollupConfig
from common.rpc.beacon import BeaconClient, BeaconError
from common.rpc.errors import RpcError, RpcResponseError
from common.service.log import get_logger

log = get_logger("batcher")

BLOB_TX_TYPE = 3
BEACON_RETRY_AFTER = 60.0
"""Seconds recovery leaves an unreachable beacon endpoint alone (each try could cost a full timeout)."""


class NonceSource(Protocol):
    async def nonce_at(self, address: bytes | str, block: Any = "latest") -> int: ...


class L1Reader(NonceSource, Protocol):
    async def block_json(self, block: Any = "latest", *, full_txs: bool = True) -> dict[str, Any]: ...


BlobFetcher = Callable[[bytes], Awaitable[list[bytes]]]
"""tx hash -> the tx's blobs (e.g. ``anvil_getBlobsByTransactionHash``); may raise if unsupported."""


@dataclass(frozen=True, slots=True)
class BlobTxRef:
    """What finding a blob tx's blobs needs: the tx, its L1 block (number and time), its blob hashes."""

    tx_hash: bytes
    block_number: int
    block_time: int
    versioned_hashes: tuple[bytes, ...]


@runtime_checkable
class TxBlobSource(Protocol):
    """Serves the blobs of a blob tx, ordered like its versioned hashes."""

    async def tx_blobs(self, ref: BlobTxRef) -> list[bytes]: ...


class BlobsUnavailableError(RuntimeError):
    """No configured source gave a blob tx's blobs; the message says what each source answered."""


# ---- nonce search ----------------------------------------------------------------------------------------


async def find_recent_tx_block(l1: NonceSource, address: bytes, head: int, depth: int) -> tuple[int, bool]:
    """Go §4.11: (target L1 block, found). Target is the first block in [head-depth, head] whose nonce
    equals the nonce at head (i.e. it holds the batcher's latest tx), or head-depth if none moved."""
    low = max(0, head - depth)
    nonce_head = await l1.nonce_at(address, head)
    if await l1.nonce_at(address, low) == nonce_head:
        return low, False
    lo, hi = low, head  # nonce(lo) < nonce_head == nonce(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if await l1.nonce_at(address, mid) == nonce_head:
            hi = mid
        else:
            lo = mid
    return hi, True


async def blocks_with_own_txs(l1: NonceSource, address: bytes, first: int, last: int) -> list[int]:
    """L1 block numbers in [first, last] that contain a tx from ``address`` (its nonce moved there)."""
    if last < first:
        return []
    cache: dict[int, int] = {}

    async def nonce(n: int) -> int:
        if n not in cache:
            cache[n] = await l1.nonce_at(address, n)
        return cache[n]

    found: list[int] = []

    async def bisect(lo: int, hi: int) -> None:
        """Blocks in (lo, hi] where the nonce moved."""
        if await nonce(lo) == await nonce(hi):
            return
        if hi - lo == 1:
            found.append(hi)
            return
        mid = (lo + hi) // 2
        await bisect(lo, mid)
        await bisect(mid, hi)

    await bisect(max(0, first - 1), last)
    if first == 0 and await nonce(0) > 0:
        found.insert(0, 0)
    return found


# ---- decoding channels -----------------------------------------------------------------------------------


def summarize_channel(
    channel_id: bytes, frames: Sequence[Frame], inclusion: BlockID, l1_time: int, rollup: RollupConfig
) -> ChannelOnL1:
    """A complete channel found on L1 -> the summary the channel manager's recovery API takes."""
    blocks = decode_channel_blocks(frames, rollup, l1_time)
    if not blocks:
        raise ChannelDecodeError(f"channel {channel_id.hex()} holds no batch")
    first, last = blocks[0], blocks[-1]
    return ChannelOnL1(
        channel_id=channel_id,
        first_block=block_number_at(rollup, first.timestamp),
        last_block=block_number_at(rollup, last.timestamp),
        parent_check=first.parent_hash_prefix,
        inclusion_block=inclusion,
        l1_origin_check=last.epoch_hash_prefix,
    )


# ---- reading the batcher's txs from L1 -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveredChannels:
    channels: list[ChannelOnL1]
    l1_blocks_read: int
    skipped: list[str]
    """Channels or txs that could not be used, and why."""


def _is_batcher_tx(tx: Any, sender: bytes, inbox: bytes) -> bool:
    if not isinstance(tx, dict) or not tx.get("to") or not tx.get("from"):
        return False
    try:
        return hex_to_bytes(tx["to"], "to") == inbox and hex_to_bytes(tx["from"], "from") == sender
    except ValueError:
        return False


async def _tx_frames(
    tx: dict[str, Any], block_number: int, block_time: int, blobs: TxBlobSource | None
) -> list[Frame]:
    """Frames carried by one batcher tx (calldata, or each blob)."""
    if json_uint(tx.get("type", "0x0"), "type") == BLOB_TX_TYPE:
        if blobs is None:
            raise ValueError("blob tx but no blob source")
        hashes = tuple(
            hex_to_bytes(h, "blobVersionedHashes", 32) for h in tx.get("blobVersionedHashes") or ()
        )
        ref = BlobTxRef(hex_to_bytes(tx["hash"], "hash", 32), block_number, block_time, hashes)
        got = await blobs.tx_blobs(ref)
        if len(got) != len(hashes):
            raise ValueError(f"{len(hashes)} blob hashes but {len(got)} blobs were returned")
        frames: list[Frame] = []
        for blob in got:
            frames.extend(parse_frames(decode_blob(blob)))
        return frames
    return parse_frames(hex_to_bytes(tx.get("input", tx.get("data", "0x")), "input"))


class _ByHash:
    """Adapts a :data:`BlobFetcher` (tx hash -> blobs) to :class:`TxBlobSource`."""

    def __init__(self, fetch: BlobFetcher) -> None:
        self.fetch = fetch

    async def tx_blobs(self, ref: BlobTxRef) -> list[bytes]:
        return await self.fetch(ref.tx_hash)


def blob_source_for(l1: object, fetch_blobs: BlobFetcher | TxBlobSource | None) -> TxBlobSource | None:
    """The source recovery reads blobs from: ``fetch_blobs`` if it is a :class:`TxBlobSource`, else the
    L1 reader itself if it is one (the service's L1 client with ``--l1-beacon``), else ``fetch_blobs``
    by tx hash."""
    if isinstance(fetch_blobs, TxBlobSource):
        return fetch_blobs
    if isinstance(l1, TxBlobSource):
        return l1
    return _ByHash(fetch_blobs) if fetch_blobs is not None else None


async def channels_on_l1(
    l1: L1Reader,
    rollup: RollupConfig,
    sender: bytes,
    first: int,
    last: int,
    fetch_blobs: BlobFetcher | TxBlobSource | None = None,
) -> RecoveredChannels:
    """The batcher's complete channels whose frames lie in L1 blocks [first, last], oldest first.

    Blobs come from :func:`blob_source_for` (``l1``, ``fetch_blobs``); a tx whose data cannot be read is
    listed in ``skipped`` with the reason, and its channel is then incomplete (so it is resubmitted).
    """
    blob_source = blob_source_for(l1, fetch_blobs)
    numbers = await blocks_with_own_txs(l1, sender, first, last)
    frames: dict[bytes, dict[int, Frame]] = {}
    order: list[bytes] = []
    inclusion: dict[bytes, tuple[BlockID, int]] = {}
    skipped: list[str] = []
    for n in numbers:
        block = await l1.block_json(n, full_txs=True)
        block_id = BlockID(hex_to_bytes(block["hash"], "hash", 32), n)
        l1_time = json_uint(block["timestamp"], "timestamp")
        for tx in block.get("transactions", []):
            if not _is_batcher_tx(tx, sender, rollup.batch_inbox_address):
                continue
            try:
                tx_frames = await _tx_frames(tx, n, l1_time, blob_source)
            except (FrameError, BlobError, ValueError, KeyError) as exc:
                skipped.append(f"tx {tx.get('hash')}: {exc}")
                continue
            except Exception as exc:  # e.g. the L1 node cannot serve blobs
                skipped.append(f"tx {tx.get('hash')}: {exc}")
                continue
            for f in tx_frames:
                if f.channel_id not in frames:
                    frames[f.channel_id] = {}
                    order.append(f.channel_id)
                frames[f.channel_id].setdefault(f.number, f)
                inclusion[f.channel_id] = (block_id, l1_time)
    out: list[ChannelOnL1] = []
    for cid in order:
        by_number = frames[cid]
        last_frames = [f for f in by_number.values() if f.is_last]
        if not last_frames or set(by_number) != set(range(last_frames[0].number + 1)):
            skipped.append(f"channel {cid.hex()}: incomplete ({len(by_number)} frames)")
            continue
        seq = [by_number[i] for i in range(len(by_number))]
        block_id, l1_time = inclusion[cid]
        try:
            out.append(summarize_channel(cid, seq, block_id, l1_time, rollup))
        except ChannelDecodeError as exc:
            skipped.append(str(exc))
    out.sort(key=lambda c: c.first_block)
    return RecoveredChannels(out, len(numbers), skipped)


# ---- where recovery reads blobs -------------------------------------------------------------------------


class RecoveryBlobs:
    """Blobs of the batcher's own blob txs for restart recovery, from the first source that has them:

    1. the beacon API (``--l1-beacon``): block of the tx + its versioned hashes. A failure is logged
       (WARN once per outage, naming the redacted endpoint); after a transport failure the endpoint is
       left alone for ``retry_after`` seconds, so a black-holed beacon cannot stall start-up per tx;
    2. the L1 node (``anvil_getBlobsByTransactionHash``): only anvil serves it; a JSON-RPC error answer
       (a real EL: method not found) disables it for good;
    3. none: logged once (WARN ``Blob channels cannot be recovered``); the tx is skipped, so its channel
       is resubmitted as Go would.

    ``served`` counts the txs each source served (``beacon``, ``node``) and those none could (``none``).
    """

    def __init__(
        self,
        beacon: BeaconClient | None,
        node_blobs: BlobFetcher | None,
        *,
        retry_after: float = BEACON_RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.beacon = beacon
        self.node_blobs = node_blobs
        self.retry_after = retry_after
        self.clock = clock
        self.served = {"beacon": 0, "node": 0, "none": 0}
        self._beacon_resting_until = 0.0
        self._beacon_failing = False
        self._warned_unrecoverable = False

    async def tx_blobs(self, ref: BlobTxRef) -> list[bytes]:
        """The tx's blobs, ordered like its versioned hashes; BlobsUnavailableError if no source has them."""
        reasons: list[str] = []
        want = len(ref.versioned_hashes)
        if self.beacon is not None:
            blobs = await self._from_beacon(self.beacon, ref, reasons)
            if blobs is not None:
                self.served["beacon"] += 1
                return blobs
        if self.node_blobs is not None:
            try:
                blobs = await self.node_blobs(ref.tx_hash)
            except RpcResponseError as exc:
                self.node_blobs = None
                reasons.append(f"the L1 node cannot serve blobs ({exc})")
            except (RpcError, TimeoutError, OSError) as exc:  # transport trouble: ask again next time
                reasons.append(f"the L1 node did not answer ({exc})")
            else:
                if len(blobs) == want:
                    self.served["node"] += 1
                    return blobs
                reasons.append(f"the L1 node returned {len(blobs)} of {want} blobs")
        self.served["none"] += 1
        if not reasons:
            reasons.append("no blob source: set --l1-beacon")
        detail = "; ".join(reasons)
        if not self._warned_unrecoverable:
            self._warned_unrecoverable = True
            log.warn(
                "Blob channels cannot be recovered from L1, they will be resubmitted",
                err=detail,
                hint="set --l1-beacon to a beacon API endpoint",
            )
        raise BlobsUnavailableError(detail)

    async def _from_beacon(
        self, beacon: BeaconClient, ref: BlobTxRef, reasons: list[str]
    ) -> list[bytes] | None:
        """The blobs from the beacon endpoint, or None (with the reason appended) to try the next source."""
        now = self.clock()
        if now < self._beacon_resting_until:
            reasons.append(f"beacon {beacon.endpoint} skipped: unreachable in the last {self.retry_after:g}s")
            return None
        try:
            blobs = await beacon.blobs(ref.block_number, ref.block_time, ref.versioned_hashes)
        except BeaconError as exc:
            if exc.transient:
                self._beacon_resting_until = now + self.retry_after
            self._beacon_failed(str(exc))
            reasons.append(str(exc))
            return None
        if len(blobs) != len(ref.versioned_hashes):
            msg = (
                f"beacon {beacon.endpoint}: {len(blobs)} of {len(ref.versioned_hashes)} blobs "
                f"for L1 block {ref.block_number}"
            )
            self._beacon_failed(msg)
            reasons.append(msg)
            return None
        if self._beacon_failing:
            self._beacon_failing = False
            log.info("Beacon endpoint serves blobs again", endpoint=beacon.endpoint)
        return blobs

    def _beacon_failed(self, detail: str) -> None:
        if self._beacon_failing:
            log.debug("Could not read blobs from the beacon endpoint", err=detail)
            return
        self._beacon_failing = True
        fallback = "the L1 node" if self.node_blobs is not None else "no other source"
        log.warn("Could not read blobs from the beacon endpoint", err=detail, fallback=fallback)
