"""The ``pprof.*`` flag group (op-service/oppprof). Python has no pprof; the flags are accepted so Go
command lines keep working, and validated with Go's messages. A service may log that profiling is
unavailable when ``pprof.enabled`` is set."""

from __future__ import annotations

from dataclasses import dataclass

from common.service.flags import Flag, FlagKind, FlagValue, ParsedFlags

PROFILE_TYPES = ("cpu", "heap", "goroutine", "threadcreate", "block", "mutex", "allocs")


@dataclass(frozen=True, slots=True)
class PprofConfig:
    """The ``pprof.*`` flags."""

    enabled: bool = False
    addr: str = "0.0.0.0"
    port: int = 6060
    path: str = ""
    type: str = ""

    def check(self) -> None:
        """oppprof CLIConfig.Check."""
        if self.enabled and not 0 <= self.port <= 65535:
            raise ValueError("invalid pprof port")


def _check_type(value: FlagValue) -> None:
    if value not in PROFILE_TYPES:
        raise ValueError(f'unknown profile type: "{value}"')


def pprof_flags(env_prefix: str) -> tuple[Flag, ...]:
    p = env_prefix
    return (
        Flag("pprof.enabled", FlagKind.BOOL, "Enable the pprof server", env=(f"{p}_PPROF_ENABLED",)),
        Flag(
            "pprof.addr",
            FlagKind.STRING,
            "pprof listening address",
            default="0.0.0.0",
            env=(f"{p}_PPROF_ADDR",),
        ),
        Flag("pprof.port", FlagKind.INT, "pprof listening port", default=6060, env=(f"{p}_PPROF_PORT",)),
        Flag(
            "pprof.path",
            FlagKind.PATH,
            "pprof file path. If it is a directory, the path is {dir}/{profileType}.prof",
            env=(f"{p}_PPROF_PATH",),
        ),
        Flag(
            "pprof.type",
            FlagKind.ENUM,
            "pprof profile type. One of " + ", ".join(PROFILE_TYPES),
            env=(f"{p}_PPROF_TYPE",),
            choices=PROFILE_TYPES,
            validator=_check_type,
        ),
    )


def read_pprof_config(parsed: ParsedFlags) -> PprofConfig:
    return PprofConfig(
        parsed.get_bool("pprof.enabled"),
        parsed.get_str("pprof.addr"),
        parsed.get_int("pprof.port"),
        parsed.get_str("pprof.path"),
        parsed.get_str("pprof.type"),
    )
