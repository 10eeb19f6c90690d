"""The ``metrics.*`` flag group (op-service/metrics CLIConfig), apart from the metrics server so that
``--help`` and flag parsing need neither prometheus_client nor aiohttp."""

from __future__ import annotations

from dataclasses import dataclass

from common.service.flags import Flag, FlagKind, ParsedFlags


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The ``metrics.*`` flags."""

    enabled: bool = False
    addr: str = "0.0.0.0"
    port: int = 7300

    def check(self) -> None:
        """op-service metrics CLIConfig.Check (only when enabled)."""
        if self.enabled and not 0 <= self.port <= 65535:
            raise ValueError("invalid metrics port")


def metrics_flags(env_prefix: str) -> tuple[Flag, ...]:
    return (
        Flag(
            "metrics.enabled",
            FlagKind.BOOL,
            "Enable the metrics server",
            env=(f"{env_prefix}_METRICS_ENABLED",),
        ),
        Flag(
            "metrics.addr",
            FlagKind.STRING,
            "Metrics listening address",
            default="0.0.0.0",
            env=(f"{env_prefix}_METRICS_ADDR",),
        ),
        Flag(
            "metrics.port",
            FlagKind.INT,
            "Metrics listening port",
            default=7300,
            env=(f"{env_prefix}_METRICS_PORT",),
        ),
    )


def read_metrics_config(parsed: ParsedFlags) -> MetricsConfig:
    return MetricsConfig(
        parsed.get_bool("metrics.enabled"), parsed.get_str("metrics.addr"), parsed.get_int("metrics.port")
    )
