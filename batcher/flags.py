"""The op-batcher flag table (op-batcher/flags/flags.go + mounted op-service groups) and BatcherConfig.

Entry points for ``batcher/cli.py``::

    table = batcher_table(version)
    parsed = table.parse(argv, environ)  # UsageError / EnvError / HelpRequested / VersionRequested
    cfg = build_batcher_config(parsed)  # ConfigError("flag l1-eth-rpc is required" / "invalid CLI flags: ..")

or simply ``parse_batcher_args(argv, environ)``. Go runs the last step inside the lifecycle setup, so the
operator finally sees ``Application failed message="failed to setup: invalid CLI flags: ..."``.
Durations in the config are float seconds; ``cfg.unknown_env`` lists ``OP_BATCHER_*`` names to warn about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from batcher.channel_config import COMPRESSION_ALGOS, COMPRESSORS, ChannelFlags
from batcher.fee_flags import fee_aware_flags, read_fee_aware_config
from batcher.fee_policy import FeePolicyConfig, FeePolicyError
from batcher.throttle import CONTROLLER_TYPES, ControllerType, PIDConfig, ThrottleConfig, ThrottleError
from common.rpc.errors import redact_url
from common.rpc.limits import DEFAULT_MAX_RESPONSE_BYTES
from common.service.flags import (
    SECOND,
    Command,
    ConfigError,
    Flag,
    FlagKind,
    FlagTable,
    FlagValue,
    ParsedFlags,
    Validator,
    choice_validator,
    format_go_float,
)
from common.service.log import LogConfig, log_flags, read_log_config
from common.service.metrics_config import MetricsConfig, metrics_flags, read_metrics_config
from common.service.pprof import PprofConfig, pprof_flags, read_pprof_config
from common.service.rpc_config import RpcConfig, read_rpc_config, rpc_flags
from common.txmgr.config import TxMgrConfig
from common.txmgr.flags import build_txmgr_config, check_txmgr_flags, legacy_hd_path_flag, txmgr_flags

ENV_PREFIX = "OP_BATCHER"
APP_NAME = "op-batcher"
APP_USAGE = "Batch Submitter Service"
APP_DESCRIPTION = "Service for generating and submitting L2 tx batches to L1"
DEFAULT_VERSION = "v0.0.0-py"
VERSION = "v1.16.2-py0.1.0"
"""Reported by ``--version``, ``health_status``, ``/healthz`` and ``info{version}``."""
DA_TYPES = ("calldata", "blobs", "auto")
MAX_CHECK_RECENT_TXS_DEPTH = 128
MAX_BLOBS_PER_TX = 9
"""Prague max blobs per block: the cap on target-num-frames for blob/auto DA."""
IRREGULAR_ENV = frozenset(
    f"{ENV_PREFIX}_{s}"
    for s in ("TXMGR_FEE_LIMIT_MULTIPLIER", "TXMGR_TX_SEND_TIMEOUT", "TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT")
)


def _env(suffix: str) -> tuple[str, ...]:
    return (f"{ENV_PREFIX}_{suffix}",)


def _non_negative(name: str) -> Validator:
    def check(value: FlagValue) -> None:
        assert isinstance(value, float | int)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {float(value):f}")

    return check


def _check_integral_max(value: FlagValue) -> None:
    assert isinstance(value, float | int)
    if value <= 0:
        raise ValueError(f"throttle-pid-integral-max must be > 0, got {float(value):f}")


def _check_output_max(value: FlagValue) -> None:
    assert isinstance(value, float | int)
    if not 0 < value <= 1:
        raise ValueError(f"throttle-pid-output-max must be between 0 and 1, got {float(value):f}")


def _core_flags() -> tuple[Flag, ...]:
    s, u, i, d, b, f, sl, e = (
        FlagKind.STRING,
        FlagKind.UINT,
        FlagKind.INT,
        FlagKind.DURATION,
        FlagKind.BOOL,
        FlagKind.FLOAT,
        FlagKind.STRING_SLICE,
        FlagKind.ENUM,
    )
    return (
        Flag("l1-eth-rpc", s, "HTTP provider URL for L1", env=_env("L1_ETH_RPC"), required=True),
        Flag(
            "l2-eth-rpc",
            sl,
            "HTTP provider URL for L2 execution engine. A comma-separated list enables the "
            "active L2 endpoint provider. Such a list needs to match the number of rollup-rpcs provided.",
            env=_env("L2_ETH_RPC"),
            required=True,
        ),
        Flag(
            "rollup-rpc",
            sl,
            "HTTP provider URL for Rollup node. A comma-separated list enables the active L2 "
            "endpoint provider. Such a list needs to match the number of l2-eth-rpcs provided.",
            env=_env("ROLLUP_RPC"),
            required=True,
        ),
        Flag(
            "sub-safety-margin",
            u,
            "The batcher tx submission safety margin (in #L1-blocks) to subtract from a "
            "channel's timeout and sequencing window, to guarantee safe inclusion of a channel on L1.",
            default=10,
            env=_env("SUB_SAFETY_MARGIN"),
        ),
        Flag(
            "poll-interval",
            d,
            "How frequently to poll L2 for new blocks",
            default=6 * SECOND,
            env=_env("POLL_INTERVAL"),
        ),
        Flag(
            "max-pending-tx",
            u,
            "The maximum number of pending transactions. 0 for no limit.",
            default=1,
            env=_env("MAX_PENDING_TX"),
        ),
        Flag(
            "max-channel-duration",
            u,
            "The maximum duration of L1-blocks to keep a channel open. 0 to disable.",
            default=0,
            env=_env("MAX_CHANNEL_DURATION"),
        ),
        Flag(
            "max-l1-tx-size-bytes",
            u,
            "The maximum size of a batch tx submitted to L1. Ignored for blobs, "
            "where max blob size will be used.",
            default=120_000,
            env=_env("MAX_L1_TX_SIZE_BYTES"),
        ),
        Flag(
            "max-blocks-per-span-batch",
            i,
            "Maximum number of blocks to add to a span batch. Default is 0 - no maximum.",
            default=0,
            env=_env("MAX_BLOCKS_PER_SPAN_BATCH"),
        ),
        Flag(
            "target-num-frames",
            i,
            "The target number of frames to create per channel. Controls number of "
            "blobs per blob tx, if using Blob DA.",
            default=1,
            env=_env("TARGET_NUM_FRAMES"),
        ),
        Flag(
            "approx-compr-ratio",
            f,
            "Only relevant for ratio compressor. The approximate compression ratio (<= 1.0).",
            default=0.6,
            env=_env("APPROX_COMPR_RATIO"),
        ),
        Flag(
            "compressor",
            e,
            "The type of compressor. Valid options: " + ", ".join(COMPRESSORS),
            default="shadow",
            env=_env("COMPRESSOR"),
            choices=COMPRESSORS,
            validate_on_set=False,
            validator=choice_validator("unsupported compressor: {value}", COMPRESSORS),
        ),
        Flag(
            "stopped",
            b,
            "Initialize the batcher in a stopped state. The batcher can be started using the "
            "admin_startBatcher RPC",
            env=_env("STOPPED"),
        ),
        legacy_hd_path_flag("sequencer-hd-path", "OP_BATCHER_SEQUENCER_HD_PATH"),
        Flag(
            "batch-type",
            u,
            "The batch type. 0 for SingularBatch and 1 for SpanBatch.",
            default=0,
            env=_env("BATCH_TYPE"),
            default_text="singular",
        ),
        Flag(
            "data-availability-type",
            e,
            "The data availability type to use for submitting batches to the L1. "
            "Valid options: " + ", ".join(DA_TYPES),
            default="calldata",
            env=_env("DATA_AVAILABILITY_TYPE"),
            choices=DA_TYPES,
            validator=choice_validator("unknown data-availability type: {quoted}", DA_TYPES),
        ),
        Flag(
            "active-sequencer-check-duration",
            d,
            "The duration between checks to determine the active sequencer endpoint.",
            default=5 * SECOND,
            env=_env("ACTIVE_SEQUENCER_CHECK_DURATION"),
        ),
        Flag(
            "compression-algo",
            e,
            "The compression algorithm to use. Valid values: " + ", ".join(COMPRESSION_ALGOS),
            default="zlib",
            env=_env("COMPRESSION_ALGO"),
            choices=COMPRESSION_ALGOS,
            validator=choice_validator("unknown compression algo type: {quoted}", COMPRESSION_ALGOS),
        ),
        Flag(
            "check-recent-txs-depth",
            i,
            "Indicates how many blocks back the batcher should look during startup "
            "for a recent batch tx on L1. This can speed up waiting for node sync. It should be set to the "
            "verifier confirmation depth of the sequencer (e.g. 4).",
            default=0,
            env=_env("CHECK_RECENT_TXS_DEPTH"),
        ),
        Flag(
            "wait-node-sync",
            b,
            "Indicates if, during startup, the batcher should wait for a recent batcher tx "
            "on L1 to finalize (via more block confirmations). This should help avoid duplicate batcher txs.",
            env=_env("WAIT_NODE_SYNC"),
        ),
    )


def _throttle_flags() -> tuple[Flag, ...]:
    u, f = FlagKind.UINT, FlagKind.FLOAT
    return (
        Flag(
            "throttle.additional-endpoints",
            FlagKind.STRING_SLICE,
            "Comma-separated list of endpoints to "
            "distribute throttling configuration to (in addition to the L2 endpoints specified with "
            "--l2-eth-rpc).",
            env=_env("THROTTLE_ADDITIONAL_ENDPOINTS"),
        ),
        Flag(
            "throttle.tx-size-lower-limit",
            u,
            "The limit on the DA size of transactions when we are at maximum "
            "throttle intensity. 0 means no limits will ever be applied, so consider 1 the smallest "
            "effective limit.",
            default=150,
            env=_env("THROTTLE_TX_SIZE_LOWER_LIMIT"),
        ),
        Flag(
            "throttle.tx-size-upper-limit",
            u,
            "The limit on the DA size of transactions when we are at 0+ "
            "throttle intensity (limit of the intensity as it approaches 0 from positive values). Not "
            "applied when throttling is inactive.",
            default=20_000,
            env=_env("THROTTLE_TX_SIZE_UPPER_LIMIT"),
        ),
        Flag(
            "throttle.block-size-lower-limit",
            u,
            "The limit on the DA size of blocks when we are at maximum "
            "throttle intensity (linear and quadratic controllers only). 0 means no limits will ever be "
            "applied, so consider 1 the smallest effective limit.",
            default=2_000,
            env=_env("THROTTLE_BLOCK_SIZE_LOWER_LIMIT"),
        ),
        Flag(
            "throttle.block-size-upper-limit",
            u,
            "The limit on the DA size of blocks when we are at 0 "
            "throttle intensity (applied when throttling is inactive).",
            default=130_000,
            env=_env("THROTTLE_BLOCK_SIZE_UPPER_LIMIT"),
        ),
        Flag(
            "throttle.controller-type",
            FlagKind.ENUM,
            "Type of throttle controller to use: " + ", ".join(CONTROLLER_TYPES) + " (EXPERIMENTAL)",
            default="quadratic",
            env=_env("THROTTLE_CONTROLLER_TYPE"),
            choices=CONTROLLER_TYPES,
            validate_on_set=False,
            validator=choice_validator(
                "throttle.controller-type must be one of [" + " ".join(CONTROLLER_TYPES) + "], got {value}",
                CONTROLLER_TYPES,
            ),
        ),
        Flag(
            "throttle.unsafe-da-bytes-lower-threshold",
            u,
            "The threshold on unsafe_da_bytes beyond which the "
            "batcher will start to throttle the block builder. Zero disables throttling.",
            default=3_200_000,
            env=_env("THROTTLE_UNSAFE_DA_BYTES_LOWER_THRESHOLD"),
        ),
        Flag(
            "throttle.unsafe-da-bytes-upper-threshold",
            u,
            "Threshold on unsafe_da_bytes at which throttling "
            "has the maximum intensity (linear and quadratic controllers only)",
            default=12_800_000,
            env=_env("THROTTLE_UNSAFE_DA_BYTES_UPPER_THRESHOLD"),
        ),
        Flag(
            "throttle.pid-kp",
            f,
            "EXPERIMENTAL: Proportional gain for PID controller",
            default=0.33,
            env=_env("THROTTLE_PID_KP"),
            validate_on_set=False,
            validator=_non_negative("throttle-pid-kp"),
        ),
        Flag(
            "throttle.pid-ki",
            f,
            "EXPERIMENTAL: Integral gain for PID controller",
            default=0.01,
            env=_env("THROTTLE_PID_KI"),
            validate_on_set=False,
            validator=_non_negative("throttle-pid-ki"),
        ),
        Flag(
            "throttle.pid-kd",
            f,
            "EXPERIMENTAL: Derivative gain for PID controller",
            default=0.05,
            env=_env("THROTTLE_PID_KD"),
            validate_on_set=False,
            validator=_non_negative("throttle-pid-kd"),
        ),
        Flag(
            "throttle.pid-integral-max",
            f,
            "EXPERIMENTAL: Maximum integral windup for PID controller",
            default=1000.0,
            env=_env("THROTTLE_PID_INTEGRAL_MAX"),
            validate_on_set=False,
            validator=_check_integral_max,
        ),
        Flag(
            "throttle.pid-output-max",
            f,
            "EXPERIMENTAL: Maximum output for PID controller",
            default=1.0,
            env=_env("THROTTLE_PID_OUTPUT_MAX"),
            validate_on_set=False,
            validator=_check_output_max,
        ),
        Flag(
            "throttle.pid-sample-time",
            FlagKind.DURATION,
            "EXPERIMENTAL: Sample time for PID controller",
            default=2 * SECOND,
            env=_env("THROTTLE_PID_SAMPLE_TIME"),
        ),
    )


def _altda_flags() -> tuple[Flag, ...]:
    b, d = FlagKind.BOOL, FlagKind.DURATION
    return (
        Flag(
            "altda.enabled",
            b,
            "Enable Alt-DA mode. Alt-DA Mode is a Beta feature of the MIT licensed OP Stack.",
            default=False,
            env=_env("ALTDA_ENABLED"),
        ),
        Flag("altda.da-server", FlagKind.STRING, "HTTP address of a DA Server", env=_env("ALTDA_DA_SERVER")),
        Flag(
            "altda.verify-on-read",
            b,
            "Verify input data matches the commitments from the DA storage service",
            default=True,
            env=_env("ALTDA_VERIFY_ON_READ"),
        ),
        Flag(
            "altda.da-service",
            b,
            "Use DA service type where commitments are generated by Alt-DA server",
            default=False,
            env=_env("ALTDA_DA_SERVICE"),
        ),
        Flag(
            "altda.put-timeout",
            d,
            "Timeout for put requests. 0 means no timeout.",
            default=0,
            env=_env("ALTDA_PUT_TIMEOUT"),
        ),
        Flag(
            "altda.get-timeout",
            d,
            "Timeout for get requests. 0 means no timeout.",
            default=0,
            env=_env("ALTDA_GET_TIMEOUT"),
        ),
        Flag(
            "altda.max-concurrent-da-requests",
            FlagKind.UINT,
            "Maximum number of concurrent requests to the DA server",
            default=1,
            env=_env("ALTDA_MAX_CONCURRENT_DA_REQUESTS"),
        ),
    )


PYTHON_ADDITION = "Python addition, not in Go op-batcher."
"""Opens the usage text of every flag Go does not have (the docs' "Python vs Go" column repeats it)."""


MIN_RPC_RESPONSE_BYTES = 1 << 16
"""Below this even a header or a sync status might not fit."""


def _addition_flags() -> tuple[Flag, ...]:
    """Flags of this implementation that Go does not have; registered after all of Go's."""
    return (
        Flag(
            "l1-beacon",
            FlagKind.STRING,
            f"{PYTHON_ADDITION} Beacon API URL that restart recovery reads the blobs of the batcher's own "
            "blob txs from (GET /eth/v1/beacon/blobs), so blob channels already on L1 are not posted "
            "again. Empty: ask the L1 node (anvil_getBlobsByTransactionHash, devnets only).",
            default="",
            env=_env("L1_BEACON"),
        ),
        Flag(
            "max-rpc-response-bytes",
            FlagKind.UINT,
            f"{PYTHON_ADDITION} Largest JSON-RPC response body read from any endpoint (L1, L2, rollup "
            "node, signer); a larger one is an error naming the endpoint and method, never buffered whole. "
            "The default fits a full-tx L2 block at a 150M gas limit.",
            default=DEFAULT_MAX_RESPONSE_BYTES,
            env=_env("MAX_RPC_RESPONSE_BYTES"),
        ),
        Flag(
            "blob-sharing",
            FlagKind.BOOL,
            f"{PYTHON_ADDITION} A channel's partly filled last blob also carries the next channel's first "
            "frame (Holocene derivation accepts a new channel's frame 0 after the previous channel's "
            "closing frame): fuller blobs, at the price of holding that last blob until the next channel "
            "closes, for at most --blob-sharing-max-wait.",
            default=False,
            env=_env("BLOB_SHARING"),
        ),
        Flag(
            "blob-sharing-max-wait",
            FlagKind.DURATION,
            f"{PYTHON_ADDITION} With --blob-sharing: longest a channel's last blob waits for the next "
            "channel; after it the blob goes alone.",
            default=60 * SECOND,
            env=_env("BLOB_SHARING_MAX_WAIT"),
        ),
        Flag(
            "adaptive-compression",
            FlagKind.BOOL,
            f"{PYTHON_ADDITION} With a brotli --compression-algo: compress each channel at brotli-11 while "
            "the batcher keeps up with the chain (backlog under a channel, projected brotli-11 CPU under "
            "--adaptive-compression-headroom of the chain's pace), at 10 while the backlog is under 3 "
            "channels, else at 9.",
            default=False,
            env=_env("ADAPTIVE_COMPRESSION"),
        ),
        Flag(
            "adaptive-compression-headroom",
            FlagKind.FLOAT,
            f"{PYTHON_ADDITION} With --adaptive-compression: brotli-11 only while its projected CPU seconds "
            "per L2 second stay at or under this.",
            default=0.5,
            env=_env("ADAPTIVE_COMPRESSION_HEADROOM"),
        ),
        Flag(
            "altda.read-back",
            FlagKind.BOOL,
            f"{PYTHON_ADDITION} With Alt-DA: after each put, read the input back from the DA server "
            "(GET /get) and post its commitment to L1 only if the server returns it intact; otherwise "
            "the frame is requeued and put again.",
            default=False,
            env=_env("ALTDA_READ_BACK"),
        ),
        Flag(
            "max-unsafe-l2-bytes",
            FlagKind.UINT,
            f"{PYTHON_ADDITION} Most raw bytes of L2 blocks held loaded but not yet safe; at the limit the "
            "batcher loads no more blocks (WARN `L2 block loading paused`) until the safe head moves. "
            "0 for no limit (Go's behaviour: a stuck safe head grows memory without bound).",
            default=0,
            env=_env("MAX_UNSAFE_L2_BYTES"),
        ),
    )


def _throttle_fee_flags() -> tuple[Flag, ...]:
    """The blob-fee input of the throttle controllers (Python addition, see ``batcher/throttle.py``)."""
    return (
        Flag(
            "throttle.blob-fee-floor",
            FlagKind.UINT,
            f"{PYTHON_ADDITION} Blob base fee (wei) at or below which blob space counts as plentiful and "
            "the throttle intensity is scaled by throttle.blob-fee-floor-scale. 0 disables this input.",
            default=0,
            env=_env("THROTTLE_BLOB_FEE_FLOOR"),
        ),
        Flag(
            "throttle.blob-fee-floor-scale",
            FlagKind.FLOAT,
            f"{PYTHON_ADDITION} Multiplier (0..1) of the throttle intensity while the blob base fee is at "
            "or below throttle.blob-fee-floor.",
            default=ThrottleConfig().blob_fee_floor_scale,
            env=_env("THROTTLE_BLOB_FEE_FLOOR_SCALE"),
        ),
    )


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


def batcher_flags() -> tuple[Flag, ...]:
    """Every op-batcher flag in Go registration order, then this implementation's additions."""
    return (
        *_core_flags(),
        *_throttle_flags(),
        *rpc_flags(ENV_PREFIX),
        *log_flags(ENV_PREFIX),
        *metrics_flags(ENV_PREFIX),
        *pprof_flags(ENV_PREFIX),
        *txmgr_flags(ENV_PREFIX, with_blob_tip_cap=True),
        *_altda_flags(),
        *_addition_flags(),
        *_throttle_fee_flags(),
        *fee_aware_flags(ENV_PREFIX),
    )


def batcher_table(version: str = DEFAULT_VERSION) -> FlagTable:
    return FlagTable(
        app_name=APP_NAME,
        usage=APP_USAGE,
        description=APP_DESCRIPTION,
        env_prefix=ENV_PREFIX,
        flags=batcher_flags(),
        version=version,
        commands=(Command("doc", ""),),
        irregular_env=IRREGULAR_ENV,
    )


# --------------------------------------------------------------------------------------------------------
# Config


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
