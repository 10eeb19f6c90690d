"""``op-proposer`` entry point (``op-proposer doc metrics`` prints the metric catalogue).

Only the flag table is imported before the flags are parsed, so ``--help``, ``--version`` and usage errors
answer without loading the service (eth_account, aiohttp, prometheus_client); ``tests/test_startup.py``
checks it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.service.lifecycle import CloseApp
    from proposer.flags import ProposerConfig
    from proposer.service import ProposerService


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return run_service(args)


def run_service(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """The daemon (and ``doc``): Go-style flag parsing first, the service's heavy imports only at setup."""
    from proposer.launch import run

    return run(argv, environ, create=_create, doc=_doc)


def _create(cfg: ProposerConfig, close: CloseApp) -> ProposerService:
    from proposer.service import create_service

    return create_service(cfg, close)


def _doc(args: list[str]) -> int:
    from proposer.service import doc_main

    return doc_main(args)


if __name__ == "__main__":
    sys.exit(main())
