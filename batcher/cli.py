"""``op-batcher`` entry point: the service and the ``decode``, ``bench`` (``--e2e``: the daemon's ingest
path against a local chain, :mod:`batcher.bench.e2e`), ``shadow``, ``doc`` subcommands.

Only the flag table is imported before the flags are parsed: ``--help``, ``--version`` and usage errors
answer without loading the service (eth_account, aiohttp, ckzg, prometheus_client), which
``tests/test_startup.py`` checks. The service module is imported once setup starts.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batcher.batcher_config import BatcherConfig
    from batcher.service import BatcherService
    from common.service.lifecycle import CloseApp


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "decode":
        from batcher.decode.command import main as decode_main

        return decode_main(args[1:])
    if args[:1] == ["bench"] and "--e2e" in args:
        from batcher.bench.e2e import main as bench_e2e_main

        return bench_e2e_main(args[1:])
    if args and args[0] == "bench":
        from batcher.bench.channels import main as bench_main

        return bench_main(args[1:])
    if args and args[0] == "shadow":  # op-batcher shadow (batcher/shadow/service.py)
        from batcher.shadow.service import main as shadow_main

        return shadow_main(args[1:])
    return run_service(args)


def run_service(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """The daemon (and ``doc``): Go-style flag parsing first, the service's heavy imports only at setup."""
    from batcher.launch import run

    return run(argv, environ, create=_create, doc=_doc)


def _create(cfg: BatcherConfig, close: CloseApp) -> BatcherService:
    from batcher.service import BatcherService

    return BatcherService(cfg, close)


def _doc(args: list[str]) -> int:
    from batcher.service import doc_main

    return doc_main(args)


if __name__ == "__main__":
    sys.exit(main())
