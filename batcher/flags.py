"""The op-batcher flag table (op-batcher/flags/flags.go + mounted op-service groups).

Entry points for ``batcher/cli.py``::

    table = batcher_table(version)
    parsed = table.parse(argv, environ)  # UsageError / EnvError / HelpRequested / VersionRequested
    cfg = build_batcher_config(parsed)  # batcher.batcher_config; ConfigError("flag l1-eth-rpc is required")

The config the table is read into, and Go's checks on it, live in :mod:`batcher.batcher_config`. Go runs
the last step inside the lifecycle setup, so the operator finally sees
``Application failed message="failed to setup: invalid CLI flags: ..."``.
"""

from __future__ import annotations

from batcher.channels.config import COMPRESSION_ALGOS, COMPRESSORS
from batcher.publishing.fee_flags import fee_aware_flags
from batcher.throttling.controller import CONTROLLER_TYPES, ThrottleConfig
from common.rpc.limits import DEFAULT_MAX_RESPONSE_BYTES
from common.service.flags import (
    SECOND,
    Command,
    Flag,
    FlagKind,
    FlagTable,
    FlagValue,
    Validator,
    choice_validator,
)
from common.service.log import log_flags
from common.service.metrics_config import metrics_flags
from common.service.pprof import pprof_flags
from common.service.rpc_config import rpc_flags
from common.txmgr.flags import legacy_hd_path_flag, txmgr_flags

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
    """The blob-fee input of the throttle controllers (Python addition, see
    ``batcher/throttling/controller.py``)."""
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
