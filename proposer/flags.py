"""The op-proposer flag table (era C: L2OutputOracle and DisputeGameFactory) and ProposerConfig.

Era C semantics (op-proposer-txmgr.md §1): ``--l2oo-address`` or ``--game-factory-address`` (exactly one),
``--rollup-rpc`` (a comma list selects the active-rollup provider), plus the era-D super-root source
``--superroot-rpcs`` (alias ``--supernode-rpcs``, both env names) for game types 4/5, with the newest
upstream's source rules: at most one of rollup / super-root RPCs, output-root game types need the rollup
RPC, super-root game types need super-root RPCs, every DisputeGameFactory setup needs one of them. The
era-C ``--supervisor-rpcs`` (removed upstream in favour of super-root RPCs) parses, keeps its era-C
conflict and missing-source checks, and is then rejected. The txmgr group is mounted without the
batcher-only ``txmgr.blob-tip-cap-*`` flags.

Entry: ``parse_proposer_args(argv, environ) -> ProposerConfig`` (CliError / ConfigError as in
batcher/flags.py); ``flag_help.help_text(proposer_table(version))`` for ``--help``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from common.rpc.urls import split_urls
from common.service.flags import (
    MINUTE,
    SECOND,
    Command,
    ConfigError,
    Flag,
    FlagKind,
    FlagTable,
    ParsedFlags,
)
from common.service.log import LogConfig, log_flags, read_log_config
from common.service.metrics_config import MetricsConfig, metrics_flags, read_metrics_config
from common.service.pprof import PprofConfig, pprof_flags, read_pprof_config
from common.service.rpc_config import RpcConfig, read_rpc_config, rpc_flags
from common.txmgr.config import TxMgrConfig
from common.txmgr.flags import build_txmgr_config, check_txmgr_flags, legacy_hd_path_flag, txmgr_flags

ENV_PREFIX = "OP_PROPOSER"
MAX_UINT32 = (1 << 32) - 1
"""Go keeps ``--game-type`` as a uint32 (``uint32(cfg.GameType)``): larger values would wrap silently."""
APP_NAME = "op-proposer"
APP_USAGE = "L2Output Submitter"
APP_DESCRIPTION = "Service for generating and submitting L2 Output checkpoints to the L2OutputOracle contract"
DEFAULT_VERSION = "v0.0.0-py"
VERSION = "v1.13.0-py0.1.0"
"""Reported by ``--version``, ``health_status``, ``/healthz`` and ``info{version}``."""
PRE_INTEROP_GAME_TYPES = frozenset({0, 1, 2, 3, 6, 254, 255, 1337})
"""Game types whose proposals are output roots (need ``--rollup-rpc``)."""
POST_INTEROP_GAME_TYPES = frozenset({4, 5})
"""Game types whose proposals are super roots (need supervisor / super-root RPCs)."""
IRREGULAR_ENV = frozenset(
    f"{ENV_PREFIX}_{s}"
    for s in ("TXMGR_FEE_LIMIT_MULTIPLIER", "TXMGR_TX_SEND_TIMEOUT", "TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT")
)
ERR_CONFLICTING_SOURCE = "must not specify both a rollup rpc and supervisor rpc"
"""Era C: ``--rollup-rpc`` with ``--supervisor-rpcs``."""
ERR_CONFLICTING_SUPER_ROOT_SOURCE = "must specify exactly one of rollup rpc or supernode rpc"
"""Newest upstream ``ErrConflictingSource``: ``--rollup-rpc`` with ``--superroot-rpcs``."""
ERR_MISSING_ROLLUP_RPC = "missing rollup rpc"
ERR_MISSING_SUPER_ROOT_RPC = "missing supernode rpc"
"""Upstream ``ErrMissingSuperRootRpc`` (text as last read in upstream source, before the flag rename)."""
ERR_MISSING_SOURCE = "missing proposal source rpc (rollup or supernode)"
ERR_SUPERVISOR_UNSUPPORTED = (
    "--supervisor-rpcs: op-supervisor proposal sources are not supported by this op-proposer "
    "(upstream replaced them with super-root RPCs); use --superroot-rpcs"
)


def _env(suffix: str) -> tuple[str, ...]:
    return (f"{ENV_PREFIX}_{suffix}",)


def _proposer_core_flags() -> tuple[Flag, ...]:
    s, d, b = FlagKind.STRING, FlagKind.DURATION, FlagKind.BOOL
    return (
        Flag("l1-eth-rpc", s, "HTTP provider URL for L1", env=_env("L1_ETH_RPC"), required=True),
        Flag(
            "rollup-rpc",
            s,
            "HTTP provider URL for the rollup node. A comma-separated list enables the active rollup "
            "provider.",
            env=_env("ROLLUP_RPC"),
        ),
        Flag(
            "supervisor-rpcs",
            FlagKind.STRING_SLICE,
            "HTTP provider URLs for supervisors. Post-interop game types only (not supported here: use "
            "--superroot-rpcs).",
            env=_env("SUPERVISOR_RPCS"),
        ),
        Flag(
            "superroot-rpcs",
            FlagKind.STRING_SLICE,
            "HTTP provider URLs serving super roots (superroot_atTimestamp: op-supernode, or op-node for "
            "a single chain). Post-interop game types only; mutually exclusive with --rollup-rpc.",
            env=(*_env("SUPERROOT_RPCS"), *_env("SUPERNODE_RPCS")),
            aliases=("supernode-rpcs",),
        ),
        Flag("l2oo-address", s, "Address of the L2OutputOracle contract", env=_env("L2OO_ADDRESS")),
        Flag(
            "poll-interval",
            d,
            "How frequently to poll L2 for new blocks (legacy L2OO submitter)",
            default=12 * SECOND,
            env=_env("POLL_INTERVAL"),
        ),
        Flag(
            "allow-non-finalized",
            b,
            "Allow the proposer to submit proposals for L2 blocks derived from non-finalized L1 blocks.",
            env=_env("ALLOW_NON_FINALIZED"),
        ),
        Flag(
            "game-factory-address",
            s,
            "Address of the DisputeGameFactory contract",
            env=_env("GAME_FACTORY_ADDRESS"),
        ),
        Flag(
            "proposal-interval",
            d,
            "Interval between submitting L2 output proposals when the dispute game factory address is set",
            default=0,
            env=_env("PROPOSAL_INTERVAL"),
        ),
        Flag(
            "game-type",
            FlagKind.UINT,
            "Dispute game type to create via the configured DisputeGameFactory",
            default=0,
            env=_env("GAME_TYPE"),
        ),
        Flag(
            "active-sequencer-check-duration",
            d,
            "The duration between checks to determine the active sequencer endpoint.",
            default=2 * MINUTE,
            env=_env("ACTIVE_SEQUENCER_CHECK_DURATION"),
        ),
        Flag(
            "wait-node-sync",
            b,
            "Indicates if, during startup, the proposer should wait for the rollup node to sync to the "
            "current L1 tip before proceeding with its driver loop.",
            env=_env("WAIT_NODE_SYNC"),
        ),
        Flag(
            "output-retry-interval",
            d,
            "Accepted for compatibility with early op-proposer versions; ignored.",
            default=12 * SECOND,
            env=_env("OUTPUT_RETRY_INTERVAL"),
            hidden=True,
        ),
        legacy_hd_path_flag("l2-output-hd-path", "OP_PROPOSER_L2_OUTPUT_HD_PATH"),
    )


def proposer_flags() -> tuple[Flag, ...]:
    """Every op-proposer flag in Go registration order."""
    return (
        *_proposer_core_flags(),
        *rpc_flags(ENV_PREFIX),
        *log_flags(ENV_PREFIX),
        *metrics_flags(ENV_PREFIX),
        *pprof_flags(ENV_PREFIX),
        *txmgr_flags(ENV_PREFIX, with_blob_tip_cap=False),
    )


def proposer_table(version: str = DEFAULT_VERSION) -> FlagTable:
    return FlagTable(
        app_name=APP_NAME,
        usage=APP_USAGE,
        description=APP_DESCRIPTION,
        env_prefix=ENV_PREFIX,
        flags=proposer_flags(),
        version=version,
        commands=(Command("doc", ""),),
        irregular_env=IRREGULAR_ENV,
    )


# --------------------------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True, slots=True)
class ProposerConfig:
    """Everything op-proposer reads from flags/env (durations in seconds)."""

    l1_eth_rpc: str
    txmgr: TxMgrConfig
    rollup_rpc: str = ""
    supervisor_rpcs: tuple[str, ...] = ()
    superroot_rpcs: tuple[str, ...] = ()
    l2oo_address: bytes | None = None
    game_factory_address: bytes | None = None
    poll_interval: float = 12.0
    allow_non_finalized: bool = False
    proposal_interval: float = 0.0
    game_type: int = 0
    active_sequencer_check_duration: float = 120.0
    wait_node_sync: bool = False
    rpc: RpcConfig = field(default_factory=RpcConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    pprof: PprofConfig = field(default_factory=PprofConfig)
    unknown_env: tuple[str, ...] = ()
    """``OP_PROPOSER_*`` env names no flag declares; the service logs WARN ``Unknown env var`` for each."""

    @property
    def rollup_rpcs(self) -> tuple[str, ...]:
        """``--rollup-rpc`` split on commas: more than one entry selects the active rollup provider."""
        return tuple(split_urls(self.rollup_rpc))


def _read(parsed: ParsedFlags) -> ProposerConfig:
    g = parsed
    return ProposerConfig(
        l1_eth_rpc=g.get_str("l1-eth-rpc"),
        txmgr=build_txmgr_config(parsed),
        rollup_rpc=g.get_str("rollup-rpc"),
        supervisor_rpcs=g.get_list("supervisor-rpcs"),
        superroot_rpcs=g.get_list("superroot-rpcs"),
        l2oo_address=g.address("l2oo-address"),
        game_factory_address=g.address("game-factory-address"),
        poll_interval=g.seconds("poll-interval"),
        allow_non_finalized=g.get_bool("allow-non-finalized"),
        proposal_interval=g.seconds("proposal-interval"),
        game_type=g.get_int("game-type"),
        active_sequencer_check_duration=g.seconds("active-sequencer-check-duration"),
        wait_node_sync=g.get_bool("wait-node-sync"),
        rpc=read_rpc_config(parsed),
        log=read_log_config(parsed),
        metrics=read_metrics_config(parsed),
        pprof=read_pprof_config(parsed),
        unknown_env=parsed.unknown_env,
    )


def check_proposer_config(cfg: ProposerConfig, parsed: ParsedFlags) -> None:
    """Era C CLIConfig.Check in Go order with the newest source rules; ValueError with Go's text."""
    cfg.rpc.check()
    cfg.metrics.check()
    cfg.pprof.check()
    check_txmgr_flags(parsed)
    dgf, l2oo = cfg.game_factory_address is not None, cfg.l2oo_address is not None
    if not dgf and not l2oo:
        raise ValueError("neither the `DisputeGameFactory` nor `L2OutputOracle` address was provided")
    if dgf and l2oo:
        raise ValueError("both the `DisputeGameFactory` and `L2OutputOracle` addresses were provided")
    if dgf and cfg.proposal_interval == 0:
        raise ValueError(
            "the `DisputeGameFactory` address was provided but the `ProposalInterval` was not set"
        )
    if cfg.proposal_interval != 0 and not dgf:
        raise ValueError(
            "the `ProposalInterval` was provided but the `DisputeGameFactory` address was not set"
        )
    _check_sources(cfg, dgf=dgf, l2oo=l2oo)
    parsed.check_numbers()
    if cfg.poll_interval == 0:
        raise ValueError("--poll-interval must be positive")
    if cfg.game_type > MAX_UINT32:
        raise ValueError(f"--game-type must fit in 32 bits (at most {MAX_UINT32}), got {cfg.game_type}")


def _check_sources(cfg: ProposerConfig, *, dgf: bool, l2oo: bool) -> None:
    """Which proposal source the contract and game type need (config.go Check, era C + newest)."""
    rollup, super_roots, supervisor = (
        bool(cfg.rollup_rpc),
        bool(cfg.superroot_rpcs),
        bool(cfg.supervisor_rpcs),
    )
    if rollup and supervisor:
        raise ValueError(ERR_CONFLICTING_SOURCE)
    if rollup and super_roots:
        raise ValueError(ERR_CONFLICTING_SUPER_ROOT_SOURCE)
    if l2oo and not rollup:
        raise ValueError(ERR_MISSING_ROLLUP_RPC)
    if dgf and cfg.game_type in PRE_INTEROP_GAME_TYPES and not rollup:
        raise ValueError(ERR_MISSING_ROLLUP_RPC)
    if dgf and cfg.game_type in POST_INTEROP_GAME_TYPES and not (super_roots or supervisor):
        raise ValueError(ERR_MISSING_SUPER_ROOT_RPC)
    if not (rollup or super_roots or supervisor):
        raise ValueError(ERR_MISSING_SOURCE)
    if supervisor:
        raise ValueError(ERR_SUPERVISOR_UNSUPPORTED)


def build_proposer_config(parsed: ParsedFlags) -> ProposerConfig:
    """Required-flag check, config build and validation; errors are ConfigError with Go's text."""
    parsed.check_required()
    try:
        cfg = _read(parsed)
        check_proposer_config(cfg, parsed)
    except ValueError as exc:
        raise ConfigError(f"invalid CLI flags: {exc}") from None
    return cfg


def parse_proposer_args(
    argv: Sequence[str], environ: Mapping[str, str], version: str = DEFAULT_VERSION
) -> ProposerConfig:
    """argv (without program name) + environ -> ProposerConfig; raises CliError or ConfigError."""
    return build_proposer_config(proposer_table(version).parse(argv, environ))
