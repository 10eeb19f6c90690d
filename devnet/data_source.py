"""op-node's data sources for the devnet deriver: which L1 transactions are batcher data, and their bytes.

A transaction counts if it goes to the batch inbox, from the SystemConfig batcher, with an accepted type;
its data is the calldata (fetched from the Alt-DA server for a version-1 commitment, keccak256 verified),
or each blob of a type-3 tx (from ``anvil_getBlobsByTransactionHash``, OP blob-decoded). Blocking HTTP,
called from the deriver's step.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from common.altda.commitment import DERIVATION_VERSION_1, CommitmentError, decode_tx_data
from common.derive.blob import decode_blob
from devnet.anvil import rpc_call

log = logging.getLogger("devnet.rollup_node")
"""The rollup node's logger, so the stand-in's log lines keep their name."""

L1_BATCHER_TX_TYPES = frozenset({0, 1, 2, 3})
"""L1 tx types derivation accepts from the batcher (plus 0x7e, which an L1 anvil never has)."""
BLOB_TX_TYPE = 3


@dataclass(frozen=True, slots=True)
class BatchTxInfo:
    """The last batcher transaction seen on L1, for status lines."""

    l1_block: int
    tx_hash: str
    tx_type: int
    blobs: int
    data_bytes: int


class DAInputUnavailable(Exception):
    """An Alt-DA commitment on L1 whose input the DA server did not return (intact); derivation waits."""


DA_GET_TIMEOUT = 5.0


def fetch_da_input(da_server_url: str, tx_data: bytes, l1_number: int) -> bytes:
    """op-node's Alt-DA source: ``GET /get/0x<commitment>`` for version-1 tx data, keccak256 verified.

    A commitment that does not decode is not batcher data op-node could use: it is returned unchanged and
    the channel bank drops it as an unknown version. Anything else that fails raises DAInputUnavailable.
    """
    try:
        comm = decode_tx_data(tx_data)
    except CommitmentError as exc:
        log.warning("L1 block %d: Alt-DA tx data ignored: %s", l1_number, exc)
        return tx_data
    url = f"{da_server_url.rstrip('/')}/get/{comm.hex()}?l1_inclusion_block_number={l1_number}"
    try:
        with urllib.request.urlopen(url, timeout=DA_GET_TIMEOUT) as resp:
            data = bytes(resp.read())
    except (OSError, urllib.error.URLError) as exc:
        raise DAInputUnavailable(f"GET /get/{comm.hex()[:18]}...: {exc}") from None
    try:
        comm.verify(data)
    except CommitmentError as exc:
        raise DAInputUnavailable(str(exc)) from None
    return data


def batcher_data(
    tx: dict[str, Any],
    l1_number: int,
    *,
    inbox: bytes,
    batcher: bytes,
    l1_url: str,
    da_server_url: str | None,
) -> tuple[list[bytes], BatchTxInfo | None]:
    """The tx's batcher data (calldata, or each decoded blob) if it counts for derivation, with its
    status-line summary (None when it does not count)."""
    to = tx.get("to")
    if not to or bytes.fromhex(to[2:]) != inbox:
        return [], None
    tx_type = int(tx.get("type", "0x0"), 16)
    if tx_type not in L1_BATCHER_TX_TYPES:
        log.warning(
            "L1 block %d tx %s: type %d to the batch inbox is not accepted",
            l1_number,
            tx["hash"],
            tx_type,
        )
        return [], None
    if bytes.fromhex(tx["from"][2:]) != batcher:
        log.warning(
            "L1 block %d tx %s: sender %s is not the batcher: ignored", l1_number, tx["hash"], tx["from"]
        )
        return [], None
    if tx_type != BLOB_TX_TYPE:
        data = bytes.fromhex(tx["input"][2:])
        info = BatchTxInfo(l1_number, tx["hash"], tx_type, 0, len(data))
        if data[:1] == bytes([DERIVATION_VERSION_1]) and da_server_url is not None:
            return [fetch_da_input(da_server_url, data, l1_number)], info
        return [data], info
    blobs = rpc_call(l1_url, "anvil_getBlobsByTransactionHash", [tx["hash"]])
    out: list[bytes] = []
    for i, blob_hex in enumerate(blobs if isinstance(blobs, list) else []):
        try:
            out.append(decode_blob(bytes.fromhex(str(blob_hex)[2:])))
        except ValueError as exc:
            log.warning("L1 block %d tx %s blob %d: undecodable, ignored: %s", l1_number, tx["hash"], i, exc)
    return out, BatchTxInfo(l1_number, tx["hash"], tx_type, len(out), sum(len(d) for d in out))
