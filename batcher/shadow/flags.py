"""``op-batcher shadow`` flags: every op-batcher flag (the operator's own command line) plus ``shadow.*``.

The batcher flags are parsed and checked exactly as ``op-batcher`` does (same table, env vars, defaults,
Go's messages), so the shadow builds channels with the configuration the operator would switch to. The
key and signer flags are accepted and ignored: the shadow never signs or sends (it logs that it ignores
them, never their values). ``shadow.batcher-address`` names the incumbent batcher (the sender of its L1
txs); ``shadow.report-path`` is where the JSON report is written on exit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from batcher.batcher_config import BatcherConfig, build_batcher_config
from batcher.flags import APP_NAME, ENV_PREFIX, IRREGULAR_ENV, PYTHON_ADDITION, batcher_flags
from common.service.flags import ConfigError, Flag, FlagKind, FlagTable, ParsedFlags
from common.service.log import LogConfig

SHADOW_APP = f"{APP_NAME} shadow"
SHADOW_USAGE = "Run beside a batcher, post nothing, and show what switching would change"
SHADOW_DESCRIPTION = (
    "Builds channels from the live L2 chain with this batcher's pipeline (recorded, never sent), decodes "
    "the shadowed batcher's L1 txs, and reports both sides' blocks, bytes, blob fill, fees and latency "
    "per channel and cumulatively (metrics op_batcher_default_shadow_*, a log line per L1 block, a JSON "
    "report on exit). Needs no key; read-only RPC calls only."
)
DEFAULT_REPORT_PATH = "op-batcher-shadow-report.json"
SIGNER_FLAGS = ("private-key", "mnemonic", "hd-path", "signer.endpoint", "signer.address")
"""Accepted for command-line compatibility; never used (the shadow has no key)."""


def shadow_flags() -> tuple[Flag, ...]:
    """The flags only ``op-batcher shadow`` has (after all of op-batcher's)."""
    return (
        Flag(
            "shadow.batcher-address",
            FlagKind.STRING,
            f"{PYTHON_ADDITION} Address of the batcher to shadow: the sender of the batch-inbox txs "
            "whose channels are decoded and compared with ours.",
            env=(f"{ENV_PREFIX}_SHADOW_BATCHER_ADDRESS",),
            required=True,
        ),
        Flag(
            "shadow.report-path",
            FlagKind.STRING,
            f"{PYTHON_ADDITION} File the JSON report (both sides' channels, totals, savings, problems) is "
            "written to on exit. Empty: no file.",
            default=DEFAULT_REPORT_PATH,
            env=(f"{ENV_PREFIX}_SHADOW_REPORT_PATH",),
        ),
    )


def shadow_table(version: str) -> FlagTable:
    return FlagTable(
        app_name=SHADOW_APP,
        usage=SHADOW_USAGE,
        description=SHADOW_DESCRIPTION,
        env_prefix=ENV_PREFIX,
        flags=(*batcher_flags(), *shadow_flags()),
        version=version,
        irregular_env=IRREGULAR_ENV,
    )


def shadow_only_table(version: str = "") -> FlagTable:
    """Only the ``shadow.*`` flags (the docs' table; the rest is op-batcher's own table)."""
    return FlagTable(
        app_name=SHADOW_APP,
        usage=SHADOW_USAGE,
        description=SHADOW_DESCRIPTION,
        env_prefix=ENV_PREFIX,
        flags=shadow_flags(),
        version=version,
    )


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """The batcher's config (as ``op-batcher`` would run) plus the shadow's own flags."""

    batcher: BatcherConfig
    shadowed: bytes
    """20-byte address of the incumbent batcher."""
    report_path: str
    ignored_signer_flags: tuple[str, ...] = ()
    """Signer flags that were set (names only): the shadow logs that it ignores them."""

    @property
    def log(self) -> LogConfig:
        return self.batcher.log

    @property
    def unknown_env(self) -> tuple[str, ...]:
        return self.batcher.unknown_env


def build_shadow_config(parsed: ParsedFlags) -> ShadowConfig:
    """op-batcher's checks, then the shadow's; errors are ConfigError naming the flag."""
    batcher_cfg = build_batcher_config(parsed)
    try:
        shadowed = parsed.address("shadow.batcher-address")
    except ValueError as exc:
        raise ConfigError(f"invalid CLI flags: {exc}") from None
    if shadowed is None:  # check_required ran: only an explicitly empty value gets here
        raise ConfigError("flag shadow.batcher-address is required")
    report = parsed.get_str("shadow.report-path")
    folder = Path(report).resolve().parent
    if report and not (folder.is_dir() and os.access(folder, os.W_OK)):
        raise ConfigError(f"invalid CLI flags: --shadow.report-path: {folder} is not a writable directory")
    if batcher_cfg.altda.enabled:
        raise ConfigError("invalid CLI flags: --altda.enabled: Alt-DA is not supported by this op-batcher")
    ignored = tuple(n for n in SIGNER_FLAGS if parsed.is_set(n))
    return ShadowConfig(batcher_cfg, shadowed, report, ignored)


def parse_shadow_args(argv: Sequence[str], environ: Mapping[str, str], version: str) -> ShadowConfig:
    """argv (after ``shadow``) + environ -> ShadowConfig; raises CliError or ConfigError."""
    return build_shadow_config(shadow_table(version).parse(argv, environ))
