"""``op-batcher decode`` L1 sources: batcher txs read from an L1 node, their blobs from a beacon API.

By tx hash (``--tx``) or by block range (``--start``/``--end`` with inbox and sender, end exclusive,
as op-node's batch_decoder). Blobs come from ``--l1-beacon`` (:class:`~common.rpc.beacon.BeaconClient`)
or else from the L1 node itself (``anvil_getBlobsByTransactionHash``, devnets only). A transport failure
is fatal (:class:`EndpointUnreachableError`); anything else wrong with one tx becomes an error on its
record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batcher.decode.sources import (
    BLOB_TX_TYPE,
    SET_CODE_TX_TYPE,
    EndpointUnreachableError,
    SourceError,
    SourceRecord,
    blob_record,
    calldata_record,
)
from common.derive.blob import BlobError, blob_from_hex
from common.rpc.beacon import BeaconClient, BeaconError, BeaconUnreachableError
from common.rpc.client import RpcClient
from common.rpc.errors import RpcResponseError

RPC_BATCH_SIZE = 50
"""Blocks fetched per JSON-RPC batch in range mode."""
SET_CODE_REJECTED = "set-code (type 4) L1 txs are rejected by derivation"


def hex_int(value: Any, what: str) -> int:
    """A JSON-RPC quantity (or a plain int); SourceError names the field."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError:
            pass
    raise SourceError(f"{what}: expected a quantity, got {value!r}")


def hex_bytes(value: Any, what: str) -> bytes:
    """JSON-RPC hex data; SourceError names the field."""
    if not isinstance(value, str):
        raise SourceError(f"{what}: expected hex data, got {type(value).__name__}")
    try:
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    except ValueError as exc:
        raise SourceError(f"{what}: invalid hex") from exc


class L1Fetcher:
    """Reads batcher txs and their blobs from an L1 node (and optionally a beacon endpoint)."""

    def __init__(self, rpc_url: str, beacon_url: str | None, timeout: float) -> None:
        self.rpc = RpcClient(rpc_url, timeout=timeout)
        self.beacon = BeaconClient(beacon_url, timeout=timeout) if beacon_url else None

    async def close(self) -> None:
        await self.rpc.close()
        if self.beacon is not None:
            await self.beacon.close()

    async def _blobs(self, tx: dict[str, Any], block_number: int, block_time: int) -> list[bytes]:
        hashes = tx.get("blobVersionedHashes") or []
        if self.beacon is None:
            try:
                result = await self.rpc.call("anvil_getBlobsByTransactionHash", [tx["hash"]])
            except RpcResponseError as exc:
                raise SourceError(f"L1 node cannot serve blobs ({exc}); pass --l1-beacon URL") from exc
            blobs = [blob_from_hex(b) for b in (result or [])]
        else:
            try:
                blobs = await self.beacon.blobs(block_number, block_time, hashes)
            except BeaconUnreachableError as exc:
                raise EndpointUnreachableError(str(exc)) from exc
            except BeaconError as exc:
                raise SourceError(str(exc)) from exc
        if len(blobs) != len(hashes):
            raise SourceError(
                f"tx {tx['hash']}: {len(hashes)} blob hashes but {len(blobs)} blobs were returned"
            )
        return blobs

    async def records_for_tx(self, tx: dict[str, Any], block: dict[str, Any]) -> list[SourceRecord]:
        """Records for one batcher tx of ``block`` (calldata, or one per blob)."""
        number = hex_int(block["number"], "block number")
        timestamp = hex_int(block["timestamp"], "block timestamp")
        label = str(tx.get("hash"))
        tx_type = hex_int(tx.get("type", "0x0"), "tx type")
        if tx_type == SET_CODE_TX_TYPE:
            return [SourceRecord(label, "calldata", number, [SET_CODE_REJECTED])]
        if tx_type != BLOB_TX_TYPE:
            return [calldata_record(hex_bytes(tx.get("input", "0x"), "tx input"), label, number, timestamp)]
        try:
            blobs = await self._blobs(tx, number, timestamp)
        except EndpointUnreachableError:
            raise
        except (SourceError, BlobError) as exc:
            return [SourceRecord(label, "blob", number, [str(exc)])]
        return [blob_record(b, f"{label}#blob{i}", number, timestamp) for i, b in enumerate(blobs)]

    async def records_for_hashes(self, hashes: Sequence[str]) -> list[SourceRecord]:
        """Records for txs by hash, in the order given (``--tx``)."""
        out: list[SourceRecord] = []
        for h in hashes:
            tx = await self.rpc.call("eth_getTransactionByHash", [h])
            if not isinstance(tx, dict):
                raise SourceError(f"transaction {h} not found on {self.rpc.endpoint}")
            if tx.get("blockNumber") is None:
                out.append(SourceRecord(h, "calldata", -1, ["transaction is still pending"]))
                continue
            block = await self.rpc.call("eth_getBlockByNumber", [tx["blockNumber"], False])
            if not isinstance(block, dict):
                raise SourceError(f"block {tx['blockNumber']} of tx {h} not found")
            out.extend(await self.records_for_tx(tx, block))
        return out

    async def records_for_range(
        self, start: int, end: int, inbox: bytes, batcher: bytes
    ) -> list[SourceRecord]:
        """Records for every tx from ``batcher`` to ``inbox`` in L1 blocks [start, end)."""
        out: list[SourceRecord] = []
        for first in range(start, end, RPC_BATCH_SIZE):
            numbers = range(first, min(first + RPC_BATCH_SIZE, end))
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            for n, block in zip(numbers, blocks, strict=True):
                if not isinstance(block, dict):
                    raise SourceError(f"L1 block {n} not found on {self.rpc.endpoint}")
                for tx in block.get("transactions") or []:
                    to = tx.get("to")
                    sender = tx.get("from")
                    if not to or not sender:
                        continue
                    if hex_bytes(to, "to") == inbox and hex_bytes(sender, "from") == batcher:
                        out.extend(await self.records_for_tx(tx, block))
        return out
