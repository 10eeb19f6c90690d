"""The op-batcher flag table: names, env vars, defaults, Go validation messages, the tutorial command line."""

from __future__ import annotations

import pytest

from batcher.batcher_config import BatcherConfig, build_batcher_config, parse_batcher_args
from batcher.flags import ENV_PREFIX, IRREGULAR_ENV, PYTHON_ADDITION, batcher_table
from common.service import flag_help
from common.service.flags import ConfigError, FlagKind, UsageError, upper_snake
from common.service.log import DEBUG, LogFormat

# Every flag of op-batcher.md §1.2-§1.7 (reference data, not derived from our table).
REFERENCE_FLAGS = {
    # §1.2 core
    "l1-eth-rpc", "l2-eth-rpc", "rollup-rpc", "sub-safety-margin", "poll-interval", "max-pending-tx",
    "max-channel-duration", "max-l1-tx-size-bytes", "max-blocks-per-span-batch", "target-num-frames",
    "approx-compr-ratio", "compressor", "compression-algo", "stopped", "batch-type", "data-availability-type",
    "active-sequencer-check-duration", "check-recent-txs-depth", "wait-node-sync", "sequencer-hd-path",
    # §1.3 throttle
    "throttle.additional-endpoints", "throttle.tx-size-lower-limit", "throttle.tx-size-upper-limit",
    "throttle.block-size-lower-limit", "throttle.block-size-upper-limit", "throttle.controller-type",
    "throttle.unsafe-da-bytes-lower-threshold", "throttle.unsafe-da-bytes-upper-threshold", "throttle.pid-kp",
    "throttle.pid-ki", "throttle.pid-kd", "throttle.pid-integral-max", "throttle.pid-output-max",
    "throttle.pid-sample-time",
    # §1.4 txmgr
    "mnemonic", "hd-path", "private-key", "num-confirmations", "safe-abort-nonce-too-low-count",
    "fee-limit-multiplier", "txmgr.fee-limit-threshold", "txmgr.min-tip-cap", "txmgr.min-basefee",
    "txmgr.max-tip-cap", "txmgr.max-basefee", "resubmission-timeout", "network-timeout", "txmgr.send-timeout",
    "txmgr.not-in-mempool-timeout", "txmgr.receipt-query-interval", "txmgr.rebroadcast-interval",
    "txmgr.retry-interval", "txmgr.max-retries", "txmgr.already-published-custom-errs",
    "txmgr.cell-proof-time",
    "txmgr.blob-tip-cap-dynamic", "txmgr.blob-tip-cap-percentile", "txmgr.blob-tip-cap-range",
    # §1.5 signer
    "signer.endpoint", "signer.address", "signer.header", "signer.tls.ca", "signer.tls.cert",
    "signer.tls.key",
    # §1.6 rpc / log / metrics / pprof
    "rpc.addr", "rpc.port", "rpc.enable-admin", "log.level", "log.format", "log.color", "log.pid",
    "metrics.enabled", "metrics.addr", "metrics.port", "pprof.enabled", "pprof.addr", "pprof.port",
    "pprof.path",
    "pprof.type",
    # §1.7 alt-da
    "altda.enabled", "altda.da-server", "altda.verify-on-read", "altda.da-service", "altda.put-timeout",
    "altda.get-timeout", "altda.max-concurrent-da-requests",
}  # fmt: skip

PYTHON_ADDITIONS = {
    "l1-beacon",
    "max-rpc-response-bytes",
    "max-unsafe-l2-bytes",
    "altda.read-back",
    "throttle.blob-fee-floor",
    "throttle.blob-fee-floor-scale",
    *(
        f"fee-aware.{n}"
        for n in ("enabled", "max-delay", "short-window", "long-window", "threshold", "min-fee")
    ),
    "blob-sharing",
    "blob-sharing-max-wait",
    "adaptive-compression",
    "adaptive-compression-headroom",
}
"""Flags Go does not have (each marked in its usage text and the docs' "Python vs Go" column)."""

TUTORIAL_ARGV = [
    "--l2-eth-rpc=http://localhost:8545",
    "--rollup-rpc=http://localhost:8547",
    "--poll-interval=1s",
    "--sub-safety-margin=6",
    "--num-confirmations=1",
    "--safe-abort-nonce-too-low-count=3",
    "--resubmission-timeout=30s",
    "--rpc.addr=0.0.0.0",
    "--rpc.port=8548",
    "--rpc.enable-admin",
    "--max-channel-duration=1",
    "--l1-eth-rpc=https://sepolia.example/v2/key",
    "--private-key=0x" + "11" * 32,
]
"""op-stack-deployment-tutorial.zh.md section 十二, with the shell variables expanded."""

MINIMAL = ["--l1-eth-rpc=http://l1", "--l2-eth-rpc=http://l2", "--rollup-rpc=http://rn"]


def _config(*extra: str, env: dict[str, str] | None = None) -> BatcherConfig:
    return parse_batcher_args([*MINIMAL, *extra], env or {})


def _error(*extra: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        _config(*extra, env=env)
    return str(exc.value)


def test_table_lists_every_reference_flag_and_nothing_unknown():
    """The table holds exactly the reference flags plus our additions (no removed legacy names)."""
    names = {f.name for f in batcher_table().flags}
    assert names == REFERENCE_FLAGS | PYTHON_ADDITIONS
    assert not REFERENCE_FLAGS & PYTHON_ADDITIONS


def test_additions_are_marked_and_registered_after_every_go_flag():
    """Only flags Go lacks open their usage with the addition mark, and they come last in the table."""
    flags = batcher_table().flags
    marked = {f.name for f in flags if f.usage.startswith(PYTHON_ADDITION)}
    assert marked == PYTHON_ADDITIONS
    assert {f.name for f in flags[-len(PYTHON_ADDITIONS) :]} == PYTHON_ADDITIONS


def test_l1_beacon_defaults_to_empty_and_is_set_by_flag_or_env():
    """--l1-beacon is empty by default; OP_BATCHER_L1_BEACON sets it and the flag wins over the env."""
    assert _config().l1_beacon == ""
    env = {"OP_BATCHER_L1_BEACON": "http://beacon:5052"}
    assert _config(env=env).l1_beacon == "http://beacon:5052"
    assert _config("--l1-beacon=https://b.example/key", env=env).l1_beacon == "https://b.example/key"
    assert _config("--l1-beacon", "http://spaced:1").l1_beacon == "http://spaced:1"
    assert "OP_BATCHER_L1_BEACON" not in _config(env=env).unknown_env


@pytest.mark.parametrize("url", ["beacon:5052", "ftp://beacon/", "http://"])
def test_l1_beacon_must_be_an_http_url_and_the_error_hides_credentials(url):
    """A non-http(s) or host-less --l1-beacon fails validation; userinfo in it is not echoed."""
    with_secret = url.replace("//", "//user:hunter2@", 1) if "//" in url else url
    message = _error(f"--l1-beacon={with_secret}")
    assert message.startswith("invalid CLI flags: l1-beacon must be an http(s) URL")
    assert "hunter2" not in message


def test_flag_names_are_unique():
    """No two rows (names or aliases) share a name."""
    all_names = [n for f in batcher_table().flags for n in f.names]
    assert len(all_names) == len(set(all_names))


def test_env_vars_follow_prefix_plus_upper_snake():
    """Each flag has one env var, OP_BATCHER_ + UPPER_SNAKE(name), except the three documented txmgr ones."""
    table = batcher_table()
    irregular = set()
    for flag in table.flags:
        assert len(flag.env) == 1, flag.name
        if flag.env[0] != f"{ENV_PREFIX}_{upper_snake(flag.name)}":
            irregular.add(flag.env[0])
    assert (
        irregular
        == set(IRREGULAR_ENV)
        == {
            "OP_BATCHER_TXMGR_FEE_LIMIT_MULTIPLIER",
            "OP_BATCHER_TXMGR_TX_SEND_TIMEOUT",
            "OP_BATCHER_TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT",
        }
    )
    assert table.flag("sequencer-hd-path").env == ("OP_BATCHER_SEQUENCER_HD_PATH",)


def test_tutorial_command_line_parses_unchanged():
    """The deployment tutorial's op-batcher invocation yields the values it asks for."""
    cfg = parse_batcher_args(TUTORIAL_ARGV, {})
    assert cfg.l2_eth_rpc == ("http://localhost:8545",) and cfg.rollup_rpc == ("http://localhost:8547",)
    assert (
        cfg.poll_interval == 1.0
        and cfg.channel.sub_safety_margin == 6
        and cfg.channel.max_channel_duration == 1
    )
    assert cfg.txmgr.num_confirmations == 1 and cfg.txmgr.safe_abort_nonce_too_low_count == 3
    assert cfg.txmgr.resubmission_timeout == 30.0
    assert (cfg.rpc.addr, cfg.rpc.port, cfg.rpc.enable_admin) == ("0.0.0.0", 8548, True)
    assert cfg.l1_eth_rpc == cfg.txmgr.l1_rpc_url == "https://sepolia.example/v2/key"
    assert cfg.txmgr.signer.private_key == "0x" + "11" * 32


def test_defaults_match_the_reference():
    """Unset flags take the Go defaults of op-batcher.md §1.2-§1.7 (durations in seconds)."""
    cfg = _config()
    assert (
        cfg.channel.sub_safety_margin,
        cfg.poll_interval,
        cfg.max_pending_tx,
        cfg.channel.max_channel_duration,
    ) == (
        10,
        6.0,
        1,
        0,
    )
    assert (
        cfg.channel.max_l1_tx_size_bytes,
        cfg.channel.max_blocks_per_span_batch,
        cfg.channel.target_num_frames,
    ) == (120_000, 0, 1)
    assert (cfg.channel.approx_compr_ratio, cfg.channel.compressor, cfg.channel.compression_algo) == (
        0.6,
        "shadow",
        "zlib",
    )
    assert (cfg.channel.batch_type, cfg.channel.da_type, cfg.active_sequencer_check_duration) == (
        0,
        "calldata",
        5.0,
    )
    assert (cfg.check_recent_txs_depth, cfg.wait_node_sync, cfg.stopped) == (0, False, False)
    t = cfg.throttle
    assert (t.lower_threshold, t.upper_threshold) == (3_200_000, 12_800_000)
    assert (
        t.tx_size_lower_limit,
        t.tx_size_upper_limit,
        t.block_size_lower_limit,
        t.block_size_upper_limit,
    ) == (150, 20_000, 2_000, 130_000)
    assert cfg.throttle_controller_type == "quadratic"
    p = cfg.pid
    assert (p.kp, p.ki, p.kd, p.integral_max, p.output_max, p.sample_time) == (
        0.33,
        0.01,
        0.05,
        1000.0,
        1.0,
        2.0,
    )
    x = cfg.txmgr
    assert (x.num_confirmations, x.safe_abort_nonce_too_low_count, x.fee_limit_multiplier) == (10, 3, 5)
    assert (x.fee_limit_threshold, x.min_tip_cap, x.min_base_fee, x.max_tip_cap, x.max_base_fee) == (
        100 * 10**9,
        10**9,
        10**9,
        0,
        0,
    )
    assert (x.resubmission_timeout, x.network_timeout, x.tx_send_timeout, x.tx_not_in_mempool_timeout) == (
        48.0,
        10.0,
        0.0,
        120.0,
    )
    assert (x.receipt_query_interval, x.rebroadcast_interval, x.retry_interval, x.max_retries) == (
        12.0,
        12.0,
        1.0,
        10,
    )
    assert x.cell_proof_time == 2**64 - 1
    assert (x.blob_tip_cap_dynamic, x.blob_tip_cap_percentile, x.blob_tip_cap_range) == (False, 60, 20)
    assert (x.signer.tls_ca, x.signer.tls_cert, x.signer.tls_key, x.signer.tls_enabled) == (
        "tls/ca.crt",
        "tls/tls.crt",
        "tls/tls.key",
        False,
    )
    assert (cfg.rpc.addr, cfg.rpc.port, cfg.rpc.enable_admin) == ("0.0.0.0", 8545, False)
    assert (cfg.metrics.enabled, cfg.metrics.addr, cfg.metrics.port) == (False, "0.0.0.0", 7300)
    assert (cfg.pprof.enabled, cfg.pprof.addr, cfg.pprof.port, cfg.pprof.type) == (False, "0.0.0.0", 6060, "")
    a = cfg.altda
    assert (a.enabled, a.verify_on_read, a.da_service, a.put_timeout, a.max_concurrent_da_requests) == (
        False,
        True,
        False,
        0.0,
        1,
    )
    assert (cfg.log.level, cfg.log.format, cfg.log.color, cfg.log.pid) == (20, LogFormat.TEXT, None, False)


def test_env_vars_configure_the_batcher():
    """OP_BATCHER_* env vars set values; comma lists become L2/rollup endpoint lists."""
    env = {
        "OP_BATCHER_L1_ETH_RPC": "http://l1",
        "OP_BATCHER_L2_ETH_RPC": "http://a,http://b",
        "OP_BATCHER_ROLLUP_RPC": "http://ra, http://rb",
        "OP_BATCHER_TXMGR_FEE_LIMIT_MULTIPLIER": "7",
        "OP_BATCHER_TXMGR_TX_SEND_TIMEOUT": "10m",
        "OP_BATCHER_LOG_LEVEL": "DEBUG",
        "OP_BATCHER_THROTTLE_ADDITIONAL_ENDPOINTS": "http://b,http://builder",
        "OP_BATCHER_NOT_A_FLAG": "x",
    }
    cfg = parse_batcher_args([], env)
    assert cfg.l2_eth_rpc == ("http://a", "http://b") and cfg.rollup_rpc == ("http://ra", "http://rb")
    assert cfg.txmgr.fee_limit_multiplier == 7 and cfg.txmgr.tx_send_timeout == 600.0
    assert cfg.log.level == DEBUG
    assert cfg.throttle_endpoints == ("http://a", "http://b", "http://builder")
    assert cfg.unknown_env == ("OP_BATCHER_NOT_A_FLAG",)


def test_sequencer_hd_path_is_the_hd_path_fallback():
    """The deprecated OP_BATCHER_SEQUENCER_HD_PATH fills the HD path only when --hd-path is empty."""
    env = {"OP_BATCHER_SEQUENCER_HD_PATH": "m/44'/60'/0'/0/1"}
    assert _config("--mnemonic=test junk", env=env).txmgr.signer.hd_path == "m/44'/60'/0'/0/1"
    cfg = _config("--mnemonic=test junk", "--hd-path=m/44'/60'/0'/0/2", env=env)
    assert cfg.txmgr.signer.hd_path == "m/44'/60'/0'/0/2"


def test_gwei_flags_become_wei():
    """Float gwei flags convert to integer wei (truncating like Go's big.Float.Int)."""
    cfg = _config(
        "--txmgr.min-tip-cap=1.5",
        "--txmgr.min-basefee=2.25",
        "--txmgr.fee-limit-threshold=0.1",
        "--txmgr.max-tip-cap=0.000000001",
    )
    assert (cfg.txmgr.min_tip_cap, cfg.txmgr.min_base_fee) == (1_500_000_000, 2_250_000_000)
    assert (cfg.txmgr.fee_limit_threshold, cfg.txmgr.max_tip_cap) == (100_000_000, 1)


def test_signer_tls_enabled_only_when_a_tls_flag_is_set():
    """Defaults never enable TLS; setting any signer.tls.* flag (even to its default) does."""
    base = ["--signer.endpoint=https://signer", "--signer.address=0x" + "ab" * 20]
    assert _config(*base).txmgr.signer.tls_enabled is False
    cfg = _config(*base, "--signer.tls.ca=tls/ca.crt", "--signer.header=X-Api-Key=a=b", "--signer.header=bad")
    assert cfg.txmgr.signer.tls_enabled is True
    assert cfg.txmgr.signer.headers == (("X-Api-Key", "a=b"),)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "flag l1-eth-rpc is required"),
        (["--l1-eth-rpc=x"], "flag l2-eth-rpc is required"),
        (["--l1-eth-rpc=x", "--l2-eth-rpc=y"], "flag rollup-rpc is required"),
    ],
)
def test_required_flags_in_go_order(args, message):
    """Missing required flags are reported one at a time as `flag <name> is required` (no wrapping)."""
    with pytest.raises(ConfigError) as exc:
        parse_batcher_args(args, {})
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--l1-eth-rpc="], "empty L1 RPC URL"),
        (["--rollup-rpc=http://a", "--rollup-rpc=http://b"], "number of rollup and eth URLs must match"),
        (["--poll-interval=0s"], "must set PollInterval"),
        (["--max-l1-tx-size-bytes=1"], "MaxL1TxSize must be greater than 1"),
        (["--target-num-frames=0"], "TargetNumFrames must be at least 1"),
        (
            ["--compressor=ratio", "--approx-compr-ratio=1.5"],
            "invalid ApproxComprRatio 1.5 for ratio compressor",
        ),
        (["--compressor=ratio", "--approx-compr-ratio=0"], "invalid ApproxComprRatio 0 for ratio compressor"),
        (["--batch-type=2"], "unknown batch type: 2"),
        (["--check-recent-txs-depth=129"], "CheckRecentTxsDepth cannot be set higher than 128: 129"),
        (
            ["--data-availability-type=blobs", "--target-num-frames=10"],
            "too many frames for blob transactions, max 9",
        ),
        (
            ["--throttle.unsafe-da-bytes-upper-threshold=100"],
            "throttle.upper-threshold must be greater than throttle.lower-threshold",
        ),
        (
            ["--throttle.block-size-lower-limit=130000"],
            "throttle.block-size-lower-limit must be less than throttle.block-size-upper-limit",
        ),
        (
            ["--throttle.tx-size-lower-limit=20000"],
            "throttle.tx-size-lower-limit must be less than throttle.tx-size-upper-limit",
        ),
        (["--metrics.enabled", "--metrics.port=70000"], "invalid metrics port"),
        (["--pprof.enabled", "--pprof.port=-1"], "invalid pprof port"),
        (["--num-confirmations=0"], "NumConfirmations must not be 0"),
        (["--network-timeout=0s"], "must provide NetworkTimeout"),
        (["--fee-limit-multiplier=0"], "must provide FeeLimitMultiplier"),
        (["--txmgr.min-basefee=0.5"], "minBaseFee smaller than minTipCap, have 0.500000 < 1.000000"),
        (["--resubmission-timeout=0s"], "must provide ResubmissionTimeout"),
        (["--txmgr.receipt-query-interval=0s"], "must provide ReceiptQueryInterval"),
        (["--txmgr.not-in-mempool-timeout=0s"], "must provide TxNotInMempoolTimeout"),
        (["--safe-abort-nonce-too-low-count=0"], "SafeAbortNonceTooLowCount must not be 0"),
        (["--signer.endpoint=http://s"], "signer endpoint and address must both be set or not set"),
        (
            ["--private-key=0x11", "--mnemonic=a b c"],
            "can only provide at most one of: [private key, mnemonic, remote signer]",
        ),
        (
            ["--private-key=0x11", "--signer.endpoint=http://s", "--signer.address=0x1"],
            "can only provide at most one of: [private key, mnemonic, remote signer]",
        ),
        (
            ["--txmgr.blob-tip-cap-dynamic", "--txmgr.blob-tip-cap-percentile=0"],
            "BlobTipCapPercentile must be between 1 and 100",
        ),
        (
            ["--txmgr.blob-tip-cap-dynamic", "--txmgr.blob-tip-cap-range=0"],
            "BlobTipCapRange must be at least 1",
        ),
        (["--rpc.port=65536"], "invalid RPC port"),
    ],
)
def test_validation_messages_are_go_texts(extra, message):
    """Each invalid setting fails with Go's message wrapped as `invalid CLI flags: <err>`."""
    assert _error(*extra) == f"invalid CLI flags: {message}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--poll-interval=-1s"], "--poll-interval must not be negative, got -1s"),
        (["--throttle.pid-sample-time=-2ms"], "--throttle.pid-sample-time must not be negative, got -2ms"),
        (["--max-blocks-per-span-batch=-1"], "--max-blocks-per-span-batch must not be negative, got -1"),
        (["--throttle.pid-kp=Inf"], "--throttle.pid-kp must be a finite non-negative number, got inf"),
    ],
)
def test_numbers_go_would_misuse_are_errors_naming_the_flag(extra: list[str], message: str) -> None:
    """A negative poll interval used to be accepted (and busy-polled); such values now fail validation."""
    assert _error(*extra) == f"invalid CLI flags: {message}"


def test_validation_runs_in_go_order():
    """With several problems, the one Go checks first is reported (poll interval before frames, etc.)."""
    assert _error("--poll-interval=0s", "--target-num-frames=0", "--num-confirmations=0") == (
        "invalid CLI flags: must set PollInterval"
    )
    assert (
        _error("--num-confirmations=0", "--rpc.port=-5")
        == "invalid CLI flags: NumConfirmations must not be 0"
    )
    assert _error("--metrics.enabled", "--metrics.port=-1", "--network-timeout=0s") == (
        "invalid CLI flags: invalid metrics port"
    )


def test_checks_that_only_apply_conditionally():
    """Blob-tip bounds need dynamic mode, ratio bounds need the ratio compressor, a zero threshold skips
    the upper-threshold check, and the step controller ignores the tx-size limits."""
    _config("--txmgr.blob-tip-cap-percentile=0", "--approx-compr-ratio=5")
    _config("--throttle.unsafe-da-bytes-lower-threshold=0", "--throttle.unsafe-da-bytes-upper-threshold=0")
    _config("--throttle.controller-type=step", "--throttle.tx-size-lower-limit=30000")
    _config("--data-availability-type=calldata", "--target-num-frames=10")


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        (
            "--data-availability-type=foo",
            'invalid value "foo" for flag -data-availability-type: unknown data-availability type: "foo"',
        ),
        (
            "--compression-algo=lz4",
            'invalid value "lz4" for flag -compression-algo: unknown compression algo type: "lz4"',
        ),
        ("--compressor=zstd", "unsupported compressor: zstd"),
        (
            "--throttle.controller-type=fast",
            "throttle.controller-type must be one of [step linear quadratic pid], got fast",
        ),
        ("--throttle.pid-kp=-1", "throttle-pid-kp must be >= 0, got -1.000000"),
        ("--throttle.pid-integral-max=0", "throttle-pid-integral-max must be > 0, got 0.000000"),
        ("--throttle.pid-output-max=2", "throttle-pid-output-max must be between 0 and 1, got 2.000000"),
        ("--log.level=loud", 'invalid value "loud" for flag -log.level: unknown level: loud'),
        ("--log.format=xml", 'invalid value "xml" for flag -log.format: unrecognized log-format: "xml"'),
        ("--pprof.type=disk", 'invalid value "disk" for flag -pprof.type: unknown profile type: "disk"'),
        ("--target-l1-tx-size-bytes=100", "flag provided but not defined: -target-l1-tx-size-bytes"),
        ("--throttle-interval=1s", "flag provided but not defined: -throttle-interval"),
        ("--txmgr.enable-cell-proofs", "flag provided but not defined: -txmgr.enable-cell-proofs"),
    ],
)
def test_flags_validated_at_parse_time(arg, message):
    """Enum-like flags fail while parsing (GenericFlag / Action texts); removed legacy names are undefined."""
    with pytest.raises(UsageError) as exc:
        parse_batcher_args([*MINIMAL, arg], {})
    assert str(exc.value) == message


def test_all_compression_algos_and_da_types_are_accepted():
    """Every documented enum value parses."""
    for algo in ("zlib", "brotli", "brotli-9", "brotli-10", "brotli-11"):
        assert _config(f"--compression-algo={algo}").channel.compression_algo == algo
    for da in ("calldata", "blobs", "auto"):
        assert _config(f"--data-availability-type={da}").channel.da_type == da


def test_help_lists_every_flag_with_its_env_var():
    """--help shows each flag name and `$OP_BATCHER_...` hint, the `singular` batch type and DA default."""
    table = batcher_table("v1.2.3")
    text = flag_help.help_text(table)
    for flag in table.flags:
        placeholder = "" if flag.kind is FlagKind.BOOL else " value"
        assert f"   --{flag.name}{placeholder}" in text, flag.name
        assert f"[${flag.env[0]}]" in text, flag.name
    assert "(default: singular)" in text and "(default: calldata)" in text and "(default: 2m0s)" in text
    assert "NAME:\n   op-batcher - Batch Submitter Service" in text
    assert "Service for generating and submitting L2 tx batches to L1" in text


def test_build_from_parsed_flags_matches_one_shot_parse():
    """The two entry points (table.parse + build_batcher_config, parse_batcher_args) agree."""
    parsed = batcher_table().parse(TUTORIAL_ARGV, {})
    assert build_batcher_config(parsed) == parse_batcher_args(TUTORIAL_ARGV, {})


def test_private_key_never_appears_in_the_config_repr():
    """repr(BatcherConfig) (e.g. in a debug log) does not contain the private key."""
    assert "11" * 32 not in repr(parse_batcher_args(TUTORIAL_ARGV, {}))


def test_op_batcher_help_lists_every_go_flag_of_the_reference(capsys):
    """The console entry's ``--help`` shows every flag of op-batcher.md §1.2-§1.7 and its env var."""
    from batcher import cli

    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    shown = {line.split()[0][2:].rstrip(",") for line in text.splitlines() if line.lstrip().startswith("--")}
    assert shown >= REFERENCE_FLAGS, sorted(REFERENCE_FLAGS - shown)
    irregular = {  # Go's env vars that do not follow the flag name (op-batcher.md §1.4)
        "fee-limit-multiplier": "TXMGR_FEE_LIMIT_MULTIPLIER",
        "txmgr.send-timeout": "TXMGR_TX_SEND_TIMEOUT",
        "txmgr.not-in-mempool-timeout": "TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT",
    }
    for name in REFERENCE_FLAGS:
        assert f"[$OP_BATCHER_{irregular.get(name, upper_snake(name))}" in text, name
