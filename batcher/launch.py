"""The daemon's Go-style ``main``: flag table, parsing, lifecycle; the service itself is passed in.

Kept apart from :mod:`batcher.service` so that ``op-batcher --help`` (see :mod:`batcher.cli`) parses the
flags without importing the service and its heavy dependencies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from batcher.batcher_config import BatcherConfig, build_batcher_config
from batcher.flags import VERSION, batcher_table
from common.service.lifecycle import CloseApp, ManagedService, service_main


def run(
    argv: list[str],
    environ: dict[str, str] | None,
    *,
    create: Callable[[BatcherConfig, CloseApp], ManagedService],
    doc: Callable[[list[str]], int],
) -> int:
    """``op-batcher [flags]`` and ``op-batcher doc ...``."""
    env: dict[str, Any] = dict(os.environ) if environ is None else environ
    return service_main(
        batcher_table(VERSION),
        argv,
        env,
        build_config=build_batcher_config,
        create=create,
        init_message="Initializing Batch Submitter",
        doc=doc,
    )
