"""BatcherConfig: what op-batcher reads from its flag table, as one typed object, and Go's checks on it.

``build_batcher_config(parsed)`` runs the required-flag check, reads every value of the parsed
:func:`~batcher.flags.batcher_table` into a frozen :class:`BatcherConfig` (channel settings as one
:class:`~batcher.channels.config.ChannelFlags`) and validates it like Go's ``CLIConfig.Check``; errors are
``ConfigError("invalid CLI flags: ...")`` with Go's text. ``parse_batcher_args(argv, environ)`` does all of
it from the command line. Durations are float seconds; ``cfg.unknown_env`` lists ``OP_BATCHER_*`` names to
warn about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from batcher.channels.config import COMPRESSION_ALGOS, ChannelFlags
from batcher.flags import (
    DA_TYPES,
    DEFAULT_VERSION,
    MAX_BLOBS_PER_TX,
    MAX_CHECK_RECENT_TXS_DEPTH,
    MIN_RPC_RESPONSE_BYTES,
    batcher_table,
)
from batcher.publishing.fee_flags import read_fee_aware_config
from batcher.publishing.fee_policy import FeePolicyConfig, FeePolicyError
from batcher.throttling.controller import (
    CONTROLLER_TYPES,
    ControllerType,
    PIDConfig,
    ThrottleConfig,
    ThrottleError,
)
from common.rpc.errors import redact_url
from common.rpc.limits import DEFAULT_MAX_RESPONSE_BYTES
from common.service.flags import (
    ConfigError,
    ParsedFlags,
    format_go_float,
)
from common.service.log import LogConfig, read_log_config
from common.service.metrics_config import MetricsConfig, read_metrics_config
from common.service.pprof import PprofConfig, read_pprof_config
from common.service.rpc_config import RpcConfig, read_rpc_config
from common.txmgr.config import TxMgrConfig
from common.txmgr.flags import build_txmgr_config, check_txmgr_flags


def _check_beacon_url(url: str) -> None:
    """--l1-beacon must be an http(s) URL with a host (the value is not echoed: it may hold a key)."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"l1-beacon must be an http(s) URL, got {redact_url(url)}")


@dataclass(frozen=True, slots=True)
class AltDAConfig:
    """The ``altda.*`` flags (durations in seconds, 0 = none)."""

    enabled: bool = False
    da_server: str = ""
    verify_on_read: bool = True
    da_service: bool = False
    put_timeout: float = 0.0
    get_timeout: float = 0.0
    max_concurrent_da_requests: int = 1
    read_back: bool = False
    """``--altda.read-back`` (Python addition): GET each input back before posting its commitment."""

    def check(self) -> None:
        """Service-init check (op-alt-da CLIConfig.Check), not part of the CLI flag check.

        Go's ``url.Parse`` accepts nearly anything; an HTTP client needs an http(s) URL with a host, so
        that is required here (the value is not echoed: it may hold credentials).
        """
        if not self.enabled:
            return
        if not self.da_server:
            raise ValueError("DA server URL is required when altDA is enabled")
        try:
            parts = urlsplit(self.da_server)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"DA server URL is invalid: --altda.da-server must be an http(s) URL, got "
                f"{redact_url(self.da_server)}"
            )


@dataclass(frozen=True, slots=True)
class BatcherConfig:
    """Everything op-batcher reads from flags/env, validated like Go's ``CLIConfig.Check``."""

    l1_eth_rpc: str
    l2_eth_rpc: tuple[str, ...]
    rollup_rpc: tuple[str, ...]
    txmgr: TxMgrConfig
    channel: ChannelFlags = field(default_factory=ChannelFlags)
    """The ten channel flags, handed whole to ``build_channel_configs``."""
    poll_interval: float = 6.0
    max_pending_tx: int = 1
    stopped: bool = False
    active_sequencer_check_duration: float = 5.0
    check_recent_txs_depth: int = 0
    wait_node_sync: bool = False
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    throttle_controller_type: str = "quadratic"
    throttle_additional_endpoints: tuple[str, ...] = ()
    pid: PIDConfig = field(default_factory=PIDConfig)
    rpc: RpcConfig = field(default_factory=RpcConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    pprof: PprofConfig = field(default_factory=PprofConfig)
    altda: AltDAConfig = field(default_factory=AltDAConfig)
    l1_beacon: str = ""
    """``--l1-beacon`` (Python addition): beacon API URL for restart recovery's blob reads; empty = none."""
    max_rpc_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    """``--max-rpc-response-bytes`` (Python addition): the RPC clients' response-body cap."""
    fee_aware: FeePolicyConfig = field(default_factory=FeePolicyConfig)
    """``--fee-aware.*`` (Python addition): fee-aware posting, off by default."""
    blob_sharing: bool = False
    """``--blob-sharing`` (Python addition): a last blob also carries the next channel's frame 0."""
    blob_sharing_max_wait: float = 60.0
    """``--blob-sharing-max-wait`` (Python addition): seconds a last blob may wait for the next channel."""
    adaptive_compression: bool = False
    """``--adaptive-compression`` (Python addition): brotli 11/10/9 per channel by measured headroom."""
    adaptive_compression_headroom: float = 0.5
    """``--adaptive-compression-headroom`` (Python addition): brotli-11 CPU per L2 second allowed."""
    max_unsafe_l2_bytes: int = 0
    """``--max-unsafe-l2-bytes`` (Python addition): loaded-but-unsafe raw L2 bytes at which loading
    pauses; 0 = no limit."""
    unknown_env: tuple[str, ...] = ()
    """``OP_BATCHER_*`` env names no flag declares; the service logs WARN ``Unknown env var`` for each."""

    @property
    def throttle_endpoints(self) -> tuple[str, ...]:
        """L2 ELs plus additional endpoints, de-duplicated in order (all get miner_setMaxDASize)."""
        return tuple(dict.fromkeys((*self.l2_eth_rpc, *self.throttle_additional_endpoints)))


def _read(parsed: ParsedFlags) -> BatcherConfig:
    g = parsed
    return BatcherConfig(
        l1_eth_rpc=g.get_str("l1-eth-rpc"),
        l2_eth_rpc=g.get_list("l2-eth-rpc"),
        rollup_rpc=g.get_list("rollup-rpc"),
        txmgr=build_txmgr_config(parsed),
        channel=ChannelFlags(
            da_type=g.get_str("data-availability-type"),
            max_l1_tx_size_bytes=g.get_int("max-l1-tx-size-bytes"),
            target_num_frames=g.get_int("target-num-frames"),
            max_channel_duration=g.get_int("max-channel-duration"),
            sub_safety_margin=g.get_int("sub-safety-margin"),
            batch_type=g.get_int("batch-type"),
            compressor=g.get_str("compressor"),
            compression_algo=g.get_str("compression-algo"),
            approx_compr_ratio=g.get_float("approx-compr-ratio"),
            max_blocks_per_span_batch=g.get_int("max-blocks-per-span-batch"),
        ),
        poll_interval=g.seconds("poll-interval"),
        max_pending_tx=g.get_int("max-pending-tx"),
        stopped=g.get_bool("stopped"),
        active_sequencer_check_duration=g.seconds("active-sequencer-check-duration"),
        check_recent_txs_depth=g.get_int("check-recent-txs-depth"),
        wait_node_sync=g.get_bool("wait-node-sync"),
        throttle=ThrottleConfig(
            lower_threshold=g.get_int("throttle.unsafe-da-bytes-lower-threshold"),
            upper_threshold=g.get_int("throttle.unsafe-da-bytes-upper-threshold"),
            tx_size_lower_limit=g.get_int("throttle.tx-size-lower-limit"),
            tx_size_upper_limit=g.get_int("throttle.tx-size-upper-limit"),
            block_size_lower_limit=g.get_int("throttle.block-size-lower-limit"),
            block_size_upper_limit=g.get_int("throttle.block-size-upper-limit"),
            blob_fee_floor=g.get_int("throttle.blob-fee-floor"),
            blob_fee_floor_scale=g.get_float("throttle.blob-fee-floor-scale"),
        ),
        throttle_controller_type=g.get_str("throttle.controller-type"),
        throttle_additional_endpoints=g.get_list("throttle.additional-endpoints"),
        pid=PIDConfig(
            kp=g.get_float("throttle.pid-kp"),
            ki=g.get_float("throttle.pid-ki"),
            kd=g.get_float("throttle.pid-kd"),
            integral_max=g.get_float("throttle.pid-integral-max"),
            output_max=g.get_float("throttle.pid-output-max"),
            sample_time=g.seconds("throttle.pid-sample-time"),
        ),
        rpc=read_rpc_config(parsed),
        log=read_log_config(parsed),
        metrics=read_metrics_config(parsed),
        pprof=read_pprof_config(parsed),
        altda=AltDAConfig(
            enabled=g.get_bool("altda.enabled"),
            da_server=g.get_str("altda.da-server"),
            verify_on_read=g.get_bool("altda.verify-on-read"),
            da_service=g.get_bool("altda.da-service"),
            put_timeout=g.seconds("altda.put-timeout"),
            get_timeout=g.seconds("altda.get-timeout"),
            max_concurrent_da_requests=g.get_int("altda.max-concurrent-da-requests"),
            read_back=g.get_bool("altda.read-back"),
        ),
        l1_beacon=g.get_str("l1-beacon"),
        max_rpc_response_bytes=g.get_int("max-rpc-response-bytes"),
        fee_aware=read_fee_aware_config(parsed),
        blob_sharing=g.get_bool("blob-sharing"),
        blob_sharing_max_wait=g.seconds("blob-sharing-max-wait"),
        adaptive_compression=g.get_bool("adaptive-compression"),
        adaptive_compression_headroom=g.get_float("adaptive-compression-headroom"),
        max_unsafe_l2_bytes=g.get_int("max-unsafe-l2-bytes"),
        unknown_env=parsed.unknown_env,
    )


def check_batcher_config(cfg: BatcherConfig, parsed: ParsedFlags) -> None:
    """op-batcher CLIConfig.Check in Go order; raises ValueError with Go's text (unwrapped)."""
    if not cfg.l1_eth_rpc:
        raise ValueError("empty L1 RPC URL")
    if not cfg.l2_eth_rpc:
        raise ValueError("empty L2 RPC URL")
    if not cfg.rollup_rpc:
        raise ValueError("empty rollup RPC URL")
    if len(cfg.rollup_rpc) != len(cfg.l2_eth_rpc):
        raise ValueError("number of rollup and eth URLs must match")
    ch = cfg.channel
    if cfg.poll_interval == 0:
        raise ValueError("must set PollInterval")
    if ch.max_l1_tx_size_bytes <= 1:
        raise ValueError("MaxL1TxSize must be greater than 1")
    if ch.target_num_frames < 1:
        raise ValueError("TargetNumFrames must be at least 1")
    if ch.compressor == "ratio" and not 0 < ch.approx_compr_ratio <= 1:
        raise ValueError(
            f"invalid ApproxComprRatio {format_go_float(ch.approx_compr_ratio)} for ratio compressor"
        )
    if ch.compression_algo not in COMPRESSION_ALGOS:
        raise ValueError(f"invalid compression algo {ch.compression_algo}")
    if ch.batch_type > 1:
        raise ValueError(f"unknown batch type: {ch.batch_type}")
    if cfg.check_recent_txs_depth > MAX_CHECK_RECENT_TXS_DEPTH:
        raise ValueError(f"CheckRecentTxsDepth cannot be set higher than 128: {cfg.check_recent_txs_depth}")
    if ch.da_type not in DA_TYPES:
        raise ValueError(f'unknown data availability type: "{ch.da_type}"')
    if ch.da_type != "calldata" and ch.target_num_frames > MAX_BLOBS_PER_TX:
        raise ValueError(f"too many frames for blob transactions, max {MAX_BLOBS_PER_TX}")
    if cfg.throttle_controller_type not in CONTROLLER_TYPES:
        raise ValueError(f"invalid throttle controller type: {cfg.throttle_controller_type}")
    try:
        cfg.throttle.check(ControllerType(cfg.throttle_controller_type))
    except ThrottleError as exc:
        raise ValueError(str(exc)) from None
    cfg.metrics.check()
    cfg.pprof.check()
    check_txmgr_flags(parsed)
    cfg.rpc.check()
    _check_beacon_url(cfg.l1_beacon)
    if (cap := cfg.max_rpc_response_bytes) < MIN_RPC_RESPONSE_BYTES:
        raise ValueError(f"--max-rpc-response-bytes must be at least {MIN_RPC_RESPONSE_BYTES}, got {cap}")
    if cfg.fee_aware.enabled:
        try:
            cfg.fee_aware.check()
        except FeePolicyError as exc:
            raise ValueError(str(exc)) from None
    if cfg.blob_sharing_max_wait < 0:
        raise ValueError(f"--blob-sharing-max-wait must be >= 0, got {cfg.blob_sharing_max_wait}s")
    if (headroom := cfg.adaptive_compression_headroom) <= 0:
        raise ValueError(f"--adaptive-compression-headroom must be > 0, got {format_go_float(headroom)}")
    if cfg.adaptive_compression and not ch.compression_algo.startswith("brotli"):
        raise ValueError(
            f"--adaptive-compression needs a brotli --compression-algo, got {ch.compression_algo}"
        )
    parsed.check_numbers()


def build_batcher_config(parsed: ParsedFlags) -> BatcherConfig:
    """Required-flag check, config build and validation; errors are ConfigError with Go's text."""
    parsed.check_required()
    cfg = _read(parsed)
    try:
        check_batcher_config(cfg, parsed)
    except ValueError as exc:
        raise ConfigError(f"invalid CLI flags: {exc}") from None
    return cfg


def parse_batcher_args(
    argv: Sequence[str], environ: Mapping[str, str], version: str = DEFAULT_VERSION
) -> BatcherConfig:
    """argv (without program name) + environ -> BatcherConfig; raises CliError or ConfigError."""
    return build_batcher_config(batcher_table(version).parse(argv, environ))
