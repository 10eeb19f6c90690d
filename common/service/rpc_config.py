"""The ``rpc.*`` flag group (op-service/rpc CLIConfig), apart from the RPC server so that ``--help`` and
flag parsing need no aiohttp."""

from __future__ import annotations

from dataclasses import dataclass

from common.service.flags import Flag, FlagKind, ParsedFlags


@dataclass(frozen=True, slots=True)
class RpcConfig:
    """The ``rpc.*`` flags."""

    addr: str = "0.0.0.0"
    port: int = 8545
    enable_admin: bool = False

    def check(self) -> None:
        """op-service rpc CLIConfig.Check."""
        if not 0 <= self.port <= 65535:
            raise ValueError("invalid RPC port")


def rpc_flags(env_prefix: str) -> tuple[Flag, ...]:
    return (
        Flag(
            "rpc.addr",
            FlagKind.STRING,
            "rpc listening address",
            default="0.0.0.0",
            env=(f"{env_prefix}_RPC_ADDR",),
        ),
        Flag("rpc.port", FlagKind.INT, "rpc listening port", default=8545, env=(f"{env_prefix}_RPC_PORT",)),
        Flag(
            "rpc.enable-admin", FlagKind.BOOL, "Enable the admin API", env=(f"{env_prefix}_RPC_ENABLE_ADMIN",)
        ),
    )


def read_rpc_config(parsed: ParsedFlags) -> RpcConfig:
    return RpcConfig(
        parsed.get_str("rpc.addr"), parsed.get_int("rpc.port"), parsed.get_bool("rpc.enable-admin")
    )
