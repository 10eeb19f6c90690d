"""The daemon's Go-style ``main``: flag table, parsing, lifecycle; the service itself is passed in.

Kept apart from :mod:`proposer.service` so that ``op-proposer --help`` (see :mod:`proposer.cli`) parses
the flags without importing the service and its heavy dependencies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from common.service.lifecycle import CloseApp, ManagedService, service_main
from proposer.flags import VERSION, ProposerConfig, build_proposer_config, proposer_table


def run(
    argv: list[str],
    environ: dict[str, str] | None,
    *,
    create: Callable[[ProposerConfig, CloseApp], ManagedService],
    doc: Callable[[list[str]], int],
) -> int:
    """``op-proposer [flags]`` and ``op-proposer doc ...``."""
    env: dict[str, Any] = dict(os.environ) if environ is None else environ
    return service_main(
        proposer_table(VERSION),
        argv,
        env,
        build_config=build_proposer_config,
        create=create,
        init_message="Initializing L2Output Submitter",
        doc=doc,
    )
