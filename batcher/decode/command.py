"""``op-batcher decode``: show what batcher data on L1 decodes to.

Sources, read in the order given on the command line:

* files: ``--raw-tx FILE`` (a signed raw L1 tx: its calldata, or the blobs of a blob tx in
  network form), ``--calldata FILE`` (batcher tx data), ``--blob FILE`` (one blob; give the blobs
  of a tx in order). Each file is read by its content: hex (``0x`` prefix and whitespace allowed)
  when it holds only hex digits, raw binary otherwise;
* an L1 node: ``--l1-eth-rpc URL`` with ``--tx HASH`` (repeatable), or with ``--start N --end M
  --batch-inbox ADDR --batcher-address ADDR`` (end exclusive, as op-node's batch_decoder).
  Blobs come from ``--l1-beacon URL`` (``GET /eth/v1/beacon/blobs/{block}``) or else from the L1
  node itself (``anvil_getBlobsByTransactionHash``).

The output is one JSON document: frames, channels (complete, dropped or still incomplete),
batches, and each derived L2 block's timestamp, L1 origin, tx count and tx hashes. Span batches
need ``--l2-genesis-time --l2-block-time --l2-chain-id`` or ``--rollup-config rollup.json``.
Bad data is reported in ``errors`` lists next to the frame, channel or batch it concerns. Exit
status: 0 when every input decoded, 3 when the report lists any error (the JSON is still printed),
2 for usage errors and 1 for unreadable files and unreachable sources.

This module is the command line; the work is in :mod:`batcher.decode.sources` (records, file inputs,
raw L1 txs), :mod:`batcher.decode.l1` (L1 node and beacon API inputs) and :mod:`batcher.decode.report`
(records -> frames, channels, batches, blocks: the JSON report).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from batcher.decode.l1 import L1Fetcher
from batcher.decode.report import L2Params, decode_records
from batcher.decode.sources import (
    SourceError,
    SourceRecord,
    parse_raw_l1_tx,
    records_from_files,
)
from common.derive.channel_bank import ChannelBankRules
from common.derive.rollup_config import RollupConfig
from common.rpc.errors import RpcError
from common.service.log import setup_logging

__all__ = ["UsageError", "main", "parse_raw_l1_tx"]

FILE_L1_TIMESTAMP = 2**62
"""L1 timestamp assumed for file inputs: every fork the rollup config schedules is active."""


EXIT_DECODE_ERRORS = 3
"""Exit status when the report lists any error (the JSON is still printed)."""


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


async def _fetch(args: argparse.Namespace) -> list[SourceRecord]:
    """Records from the L1 node named by ``--l1-eth-rpc`` (by ``--tx`` or by block range)."""
    fetcher = L1Fetcher(args.l1_eth_rpc, args.l1_beacon, args.timeout)
    try:
        if args.tx:
            return await fetcher.records_for_hashes(args.tx)
        inbox = _address(args.batch_inbox, "--batch-inbox")
        batcher = _address(args.batcher_address, "--batcher-address")
        return await fetcher.records_for_range(args.start, args.end, inbox, batcher)
    except RpcError as exc:
        raise SourceError(str(exc)) from exc
    finally:
        await fetcher.close()


def _address(value: str | None, flag: str) -> bytes:
    if not value:
        raise UsageError(f"{flag} is required with --start/--end")
    try:
        raw = bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise UsageError(f"{flag}: expected a 20-byte hex address, got {value!r}")
    return raw


class _SourceAction(argparse.Action):
    """Collects --raw-tx/--calldata/--blob into one ordered list of (kind, path)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sources = list(getattr(namespace, "sources", None) or [])
        sources.append((self.const, values))
        namespace.sources = sources


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="op-batcher decode",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    files = p.add_argument_group("file sources (read in command-line order)")
    files.add_argument(
        "--raw-tx",
        action=_SourceAction,
        const="raw-tx",
        dest="sources",
        metavar="FILE",
        help="signed raw L1 transaction (hex or binary)",
    )
    files.add_argument(
        "--calldata",
        action=_SourceAction,
        const="calldata",
        dest="sources",
        metavar="FILE",
        help="batcher transaction data (hex or binary)",
    )
    files.add_argument(
        "--blob",
        action=_SourceAction,
        const="blob",
        dest="sources",
        metavar="FILE",
        help="one blob (hex or binary); give a tx's blobs in order",
    )
    files.add_argument(
        "--l1-timestamp",
        type=int,
        default=None,
        help="L1 timestamp to assume for file sources (default: all scheduled forks active)",
    )
    rpc = p.add_argument_group("L1 RPC sources")
    rpc.add_argument("--l1-eth-rpc", help="L1 execution node JSON-RPC URL")
    rpc.add_argument("--l1-beacon", help="beacon API URL for blobs (default: ask the L1 node)")
    rpc.add_argument("--tx", action="append", default=[], metavar="HASH", help="batcher tx hash (repeatable)")
    rpc.add_argument("--start", type=int, help="first L1 block (inclusive)")
    rpc.add_argument("--end", type=int, help="last L1 block (exclusive)")
    rpc.add_argument("--batch-inbox", help="batch inbox address")
    rpc.add_argument("--batcher-address", help="batcher (sender) address")
    rpc.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    l2 = p.add_argument_group("L2 chain (for span batches)")
    l2.add_argument("--rollup-config", help="op-node rollup.json")
    l2.add_argument("--l2-genesis-time", type=int)
    l2.add_argument("--l2-block-time", type=int)
    l2.add_argument("--l2-chain-id", type=int)
    p.add_argument("--compact", action="store_true", help="print JSON on one line")
    return p


def _load_rollup_config(path: str) -> RollupConfig:
    """Read op-node's rollup.json (the file read stays here, out of the pure core)."""
    try:
        return RollupConfig.from_json(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"rollup config {path}: {exc}") from exc


def _l2_setup(args: argparse.Namespace) -> tuple[L2Params | None, ChannelBankRules]:
    manual = (args.l2_genesis_time, args.l2_block_time, args.l2_chain_id)
    if args.rollup_config:
        try:
            cfg = _load_rollup_config(args.rollup_config)
        except ValueError as exc:
            raise UsageError(f"--rollup-config: {exc}") from exc
        params = L2Params(cfg.genesis_l2_time, cfg.block_time, cfg.l2_chain_id, cfg.genesis_l2.number)
        return params, ChannelBankRules.from_rollup(cfg)
    if all(v is None for v in manual):
        return None, ChannelBankRules()
    if any(v is None for v in manual):
        raise UsageError("--l2-genesis-time, --l2-block-time and --l2-chain-id must be given together")
    if args.l2_block_time <= 0:
        raise UsageError(f"--l2-block-time must be positive, got {args.l2_block_time}")
    return L2Params(args.l2_genesis_time, args.l2_block_time, args.l2_chain_id), ChannelBankRules()


def _check_sources(args: argparse.Namespace) -> None:
    files = bool(getattr(args, "sources", None))
    if args.l1_eth_rpc is None:
        if not files:
            raise UsageError("no input: give --raw-tx/--calldata/--blob files or --l1-eth-rpc")
        if args.tx or args.start is not None or args.end is not None:
            raise UsageError("--tx and --start/--end need --l1-eth-rpc")
        return
    if files:
        raise UsageError("use either file sources or --l1-eth-rpc, not both")
    if args.tx and (args.start is not None or args.end is not None):
        raise UsageError("use either --tx or --start/--end")
    if not args.tx:
        if args.start is None or args.end is None:
            raise UsageError("--l1-eth-rpc needs --tx HASH or --start N --end M")
        if args.end < args.start or args.start < 0:
            raise UsageError(f"invalid block range --start {args.start} --end {args.end}")
        _address(args.batch_inbox, "--batch-inbox")
        _address(args.batcher_address, "--batcher-address")


def main(argv: list[str]) -> int:
    """Entry point of ``op-batcher decode``; prints the JSON report on stdout."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        _check_sources(args)
        params, rules = _l2_setup(args)
        if args.l1_eth_rpc is None:
            l1_time = FILE_L1_TIMESTAMP if args.l1_timestamp is None else args.l1_timestamp
            records = records_from_files(args.sources, l1_time)
        else:
            # stdout carries the JSON report: the RPC client's retry lines go to stderr, in Go's format.
            setup_logging(stream=sys.stderr)
            records = asyncio.run(_fetch(args))
    except UsageError as exc:
        print(f"op-batcher decode: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:
        print(f"op-batcher decode: {exc}", file=sys.stderr)
        return 1
    report = decode_records(records, rules, params)
    print(json.dumps(report, indent=None if args.compact else 2))
    return EXIT_DECODE_ERRORS if report["errors"] else 0
