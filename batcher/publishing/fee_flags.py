"""The ``fee-aware.*`` flags (see :mod:`batcher.publishing.fee_gate`), apart from the gate so that ``--help``
and flag
parsing import neither the channel manager nor the metrics."""

from __future__ import annotations

from batcher.publishing.fee_policy import FeePolicyConfig
from common.service.flags import SECOND, Flag, FlagKind, ParsedFlags

ADDITION = "Python addition, not in Go op-batcher."
"""Same opening as ``batcher.flags.PYTHON_ADDITION`` (not imported: flags imports this module)."""


def fee_aware_flags(env_prefix: str) -> tuple[Flag, ...]:
    """The ``fee-aware.*`` flags (registered after Go's, with the other additions)."""

    def env(suffix: str) -> tuple[str, ...]:
        return (f"{env_prefix}_FEE_AWARE_{suffix}",)

    d = FeePolicyConfig()
    return (
        Flag(
            "fee-aware.enabled",
            FlagKind.BOOL,
            f"{ADDITION} Hold ready batcher txs back while the L1 fee (blob base fee for blobs, base "
            "fee for calldata) is high against its recent history; always sent before the max delay or "
            "the sequencing-window deadline.",
            default=False,
            env=env("ENABLED"),
        ),
        Flag(
            "fee-aware.max-delay",
            FlagKind.DURATION,
            f"{ADDITION} Longest time (L1 time) ready data is held back for fees; then it is sent at "
            "any fee.",
            default=int(d.max_delay) * SECOND,
            env=env("MAX_DELAY"),
        ),
        Flag(
            "fee-aware.short-window",
            FlagKind.UINT,
            f"{ADDITION} L1 blocks in the short moving average of the fee.",
            default=d.short_window,
            env=env("SHORT_WINDOW"),
        ),
        Flag(
            "fee-aware.long-window",
            FlagKind.UINT,
            f"{ADDITION} L1 blocks whose median fee is the baseline (greater than the short window; "
            "frozen while a deferral runs).",
            default=d.long_window,
            env=env("LONG_WINDOW"),
        ),
        Flag(
            "fee-aware.threshold",
            FlagKind.FLOAT,
            f"{ADDITION} Posting is deferred while the short average exceeds the baseline by more "
            "than this fraction (the allowance doubles linearly over the max delay).",
            default=d.threshold,
            env=env("THRESHOLD"),
        ),
        Flag(
            "fee-aware.min-fee",
            FlagKind.UINT,
            f"{ADDITION} Fee in wei (per blob gas or per gas) at or below which posting is never deferred.",
            default=d.min_fee,
            env=env("MIN_FEE"),
        ),
    )


def read_fee_aware_config(parsed: ParsedFlags) -> FeePolicyConfig:
    """The config from parsed flags (validated later by :meth:`FeePolicyConfig.check`)."""
    return FeePolicyConfig(
        enabled=parsed.get_bool("fee-aware.enabled"),
        max_delay=parsed.seconds("fee-aware.max-delay"),
        short_window=parsed.get_int("fee-aware.short-window"),
        long_window=parsed.get_int("fee-aware.long-window"),
        threshold=parsed.get_float("fee-aware.threshold"),
        min_fee=parsed.get_int("fee-aware.min-fee"),
    )
