"""The txmgr and remote-signer flag groups (op-service/txmgr cli.go, op-service/signer) and their config.

Both services mount :func:`txmgr_flags`; only op-batcher passes ``with_blob_tip_cap=True`` (Go's
``CLIFlagsWithBTO``, PR #19061), so op-proposer rejects the ``txmgr.blob-tip-cap-*`` flags as undefined.
:func:`check_txmgr_flags` runs Go's ``CLIConfig.Check`` (same order, same texts) and
:func:`build_txmgr_config` turns the parsed flags into :class:`TxMgrConfig` (gwei floats -> wei ints,
durations -> seconds). The ``l1-eth-rpc`` flag itself belongs to the service table.
"""

from __future__ import annotations

import math

from common.service.flags import (
    MAX_UINT64,
    MINUTE,
    SECOND,
    Flag,
    FlagKind,
    ParsedFlags,
)
from common.txmgr.config import SignerConfig, TxMgrConfig

L1_RPC_FLAG = "l1-eth-rpc"
IRREGULAR_ENV_SUFFIXES = frozenset(
    {"TXMGR_FEE_LIMIT_MULTIPLIER", "TXMGR_TX_SEND_TIMEOUT", "TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT"}
)
"""Go env suffixes that are not the upper-snake flag name (upstream flag tests skip these three)."""
SIGNER_TLS_FLAGS = ("signer.tls.ca", "signer.tls.cert", "signer.tls.key")
LEGACY_HD_PATH_FLAGS = ("sequencer-hd-path", "l2-output-hd-path")


def _env(prefix: str, suffix: str) -> tuple[str, ...]:
    return (f"{prefix}_{suffix}",)


def txmgr_flags(env_prefix: str, *, with_blob_tip_cap: bool = False) -> tuple[Flag, ...]:
    """The txmgr group in Go registration order (batcher default values), then the signer group."""
    p = env_prefix
    s, k, f, d, u, sl = (
        FlagKind.STRING,
        FlagKind.BOOL,
        FlagKind.FLOAT,
        FlagKind.DURATION,
        FlagKind.UINT,
        FlagKind.STRING_SLICE,
    )
    flags = [
        Flag(
            "mnemonic",
            s,
            "The mnemonic used to derive the wallets for either the service",
            env=_env(p, "MNEMONIC"),
            secret=True,
        ),
        Flag(
            "hd-path",
            s,
            "The HD path used to derive the sequencer wallet from the mnemonic. "
            "The mnemonic flag must also be set.",
            env=_env(p, "HD_PATH"),
        ),
        Flag(
            "private-key",
            s,
            "The private key to use with the service. Must not be used with mnemonic.",
            env=_env(p, "PRIVATE_KEY"),
            secret=True,
        ),
        Flag(
            "num-confirmations",
            u,
            "Number of confirmations which we will wait after sending a transaction",
            default=10,
            env=_env(p, "NUM_CONFIRMATIONS"),
        ),
        Flag(
            "safe-abort-nonce-too-low-count",
            u,
            "Number of ErrNonceTooLow observations required to give "
            "up on a tx at a particular nonce without receiving confirmation",
            default=3,
            env=_env(p, "SAFE_ABORT_NONCE_TOO_LOW_COUNT"),
        ),
        Flag(
            "fee-limit-multiplier",
            u,
            "The multiplier applied to fee suggestions to put a hard limit on fee increases",
            default=5,
            env=_env(p, "TXMGR_FEE_LIMIT_MULTIPLIER"),
        ),
        Flag(
            "txmgr.fee-limit-threshold",
            f,
            "The minimum threshold (in GWei) at which fee bumping starts to "
            "be capped. Allows arbitrary fee bumps below this threshold.",
            default=100.0,
            env=_env(p, "TXMGR_FEE_LIMIT_THRESHOLD"),
        ),
        Flag(
            "txmgr.min-tip-cap",
            f,
            "Enforces a minimum tip cap (in GWei) to use when determining tx fees. 1 GWei by default.",
            default=1.0,
            env=_env(p, "TXMGR_MIN_TIP_CAP"),
        ),
        Flag(
            "txmgr.max-tip-cap",
            f,
            "Enforces a maximum tip cap (in GWei) to use when determining tx fees, "
            "0 by default (no maximum).",
            default=0.0,
            env=_env(p, "TXMGR_MAX_TIP_CAP"),
        ),
        Flag(
            "txmgr.min-basefee",
            f,
            "Enforces a minimum base fee (in GWei) to assume when determining tx fees. 1 GWei by default.",
            default=1.0,
            env=_env(p, "TXMGR_MIN_BASEFEE"),
        ),
        Flag(
            "txmgr.max-basefee",
            f,
            "Enforces a maximum base fee (in GWei) to assume when determining tx "
            "fees, 0 by default (no maximum).",
            default=0.0,
            env=_env(p, "TXMGR_MAX_BASEFEE"),
        ),
        Flag(
            "txmgr.rebroadcast-interval",
            d,
            "Interval at which a published but not yet mined transaction "
            "is re-sent unchanged. 0 disables rebroadcasting.",
            default=12 * SECOND,
            env=_env(p, "TXMGR_REBROADCAST_INTERVAL"),
        ),
        Flag(
            "resubmission-timeout",
            d,
            "Duration we will wait before resubmitting a transaction to L1",
            default=48 * SECOND,
            env=_env(p, "RESUBMISSION_TIMEOUT"),
        ),
        Flag(
            "network-timeout",
            d,
            "Timeout for all network operations",
            default=10 * SECOND,
            env=_env(p, "NETWORK_TIMEOUT"),
        ),
        Flag(
            "txmgr.retry-interval",
            d,
            "Duration we will wait before retrying to publish a transaction after a transient error",
            default=1 * SECOND,
            env=_env(p, "TXMGR_RETRY_INTERVAL"),
        ),
        Flag(
            "txmgr.max-retries",
            u,
            "Maximum number of consecutive transient-error retries for a transaction. 0 disables retries.",
            default=10,
            env=_env(p, "TXMGR_MAX_RETRIES"),
        ),
        Flag(
            "txmgr.send-timeout",
            d,
            "Timeout for sending transactions. If 0 it is disabled.",
            default=0,
            env=_env(p, "TXMGR_TX_SEND_TIMEOUT"),
        ),
        Flag(
            "txmgr.not-in-mempool-timeout",
            d,
            "Timeout for aborting a tx send if the tx does not make it to the mempool.",
            default=2 * MINUTE,
            env=_env(p, "TXMGR_TX_NOT_IN_MEMPOOL_TIMEOUT"),
        ),
        Flag(
            "txmgr.receipt-query-interval",
            d,
            "Frequency to poll for receipts",
            default=12 * SECOND,
            env=_env(p, "TXMGR_RECEIPT_QUERY_INTERVAL"),
        ),
        Flag(
            "txmgr.already-published-custom-errs",
            sl,
            "Custom error messages from the L1 RPC that mean the transaction was already published",
            env=_env(p, "TXMGR_ALREADY_PUBLISHED_CUSTOM_ERRS"),
        ),
        Flag(
            "txmgr.cell-proof-time",
            u,
            "Unix time from which blob transactions carry EIP-7594 cell proofs. "
            "Unset: resolved from the L1 chain id (Osaka time of known chains).",
            default=MAX_UINT64,
            env=_env(p, "TXMGR_CELL_PROOF_TIME"),
        ),
    ]
    if with_blob_tip_cap:
        flags += [
            Flag(
                "txmgr.blob-tip-cap-dynamic",
                k,
                "Take the blob transaction tip from recent blob transactions on L1 instead of the static tip",
                default=False,
                env=_env(p, "TXMGR_BLOB_TIP_CAP_DYNAMIC"),
            ),
            Flag(
                "txmgr.blob-tip-cap-percentile",
                FlagKind.INT,
                "Percentile of recent blob transaction tips used when txmgr.blob-tip-cap-dynamic is set",
                default=60,
                env=_env(p, "TXMGR_BLOB_TIP_CAP_PERCENTILE"),
            ),
            Flag(
                "txmgr.blob-tip-cap-range",
                FlagKind.INT,
                "Number of recent L1 blocks sampled when txmgr.blob-tip-cap-dynamic is set",
                default=20,
                env=_env(p, "TXMGR_BLOB_TIP_CAP_RANGE"),
            ),
        ]
    return (*flags, *signer_flags(env_prefix))


def signer_flags(env_prefix: str) -> tuple[Flag, ...]:
    """op-service/signer CLI flags: remote signer endpoint, address, headers and mutual-TLS files."""
    p = env_prefix + "_SIGNER"
    s = FlagKind.STRING
    return (
        Flag("signer.endpoint", s, "Signer endpoint the client will connect to", env=_env(p, "ENDPOINT")),
        Flag("signer.address", s, "Address the signer is signing requests for", env=_env(p, "ADDRESS")),
        Flag(
            "signer.header",
            FlagKind.STRING_SLICE,
            "Headers to pass to the remote signer. Format "
            "`key=value`. Value can contain any character allowed in a HTTP header. When using env vars, "
            "split with commas. When using flags one key value pair per flag.",
            env=_env(p, "HEADER"),
        ),
        Flag("signer.tls.ca", FlagKind.PATH, "tls ca cert path", default="tls/ca.crt", env=_env(p, "TLS_CA")),
        Flag(
            "signer.tls.cert", FlagKind.PATH, "tls cert path", default="tls/tls.crt", env=_env(p, "TLS_CERT")
        ),
        Flag("signer.tls.key", FlagKind.PATH, "tls key path", default="tls/tls.key", env=_env(p, "TLS_KEY")),
    )


def legacy_hd_path_flag(name: str, env: str) -> Flag:
    """The deprecated per-service HD-path alias (``sequencer-hd-path`` / ``l2-output-hd-path``)."""
    return Flag(
        name,
        FlagKind.STRING,
        "DEPRECATED: The HD path used to derive the wallet from the mnemonic. "
        "The mnemonic flag must also be set.",
        env=(env,),
    )


def _gwei_to_wei(gwei: float, flag: str) -> int:
    """eth.GweiToWei: float64 product rounded like big.Float (53 bits), then truncated."""
    if math.isnan(gwei) or math.isinf(gwei):
        raise ValueError(f"invalid {flag}: invalid gwei value: {gwei}")
    return int(gwei * 1e9)


def _go_f(value: float) -> str:
    """Go's ``%f``."""
    return f"{value:f}"


def _signer_tls_enabled(parsed: ParsedFlags) -> bool:
    """TLS is on only if a signer.tls.* flag was set explicitly (defaults alone do not enable it)."""
    return any(parsed.is_set(name) for name in SIGNER_TLS_FLAGS)


def check_txmgr_flags(parsed: ParsedFlags) -> None:
    """Go's txmgr ``CLIConfig.Check`` then the signer check, raising ``ValueError(go_text)``."""
    if not parsed.get_str(L1_RPC_FLAG):
        raise ValueError("must provide a L1 RPC url")
    if parsed.get_int("num-confirmations") == 0:
        raise ValueError("NumConfirmations must not be 0")
    if parsed.duration_ns("network-timeout") == 0:
        raise ValueError("must provide NetworkTimeout")
    if parsed.get_int("fee-limit-multiplier") == 0:
        raise ValueError("must provide FeeLimitMultiplier")
    min_base, min_tip = parsed.get_float("txmgr.min-basefee"), parsed.get_float("txmgr.min-tip-cap")
    if min_base < min_tip:
        raise ValueError(f"minBaseFee smaller than minTipCap, have {_go_f(min_base)} < {_go_f(min_tip)}")
    if parsed.duration_ns("resubmission-timeout") == 0:
        raise ValueError("must provide ResubmissionTimeout")
    if parsed.duration_ns("txmgr.receipt-query-interval") == 0:
        raise ValueError("must provide ReceiptQueryInterval")
    if parsed.duration_ns("txmgr.not-in-mempool-timeout") == 0:
        raise ValueError("must provide TxNotInMempoolTimeout")
    if parsed.get_int("safe-abort-nonce-too-low-count") == 0:
        raise ValueError("SafeAbortNonceTooLowCount must not be 0")
    if _signer_tls_enabled(parsed) and not all(parsed.get_str(n) for n in SIGNER_TLS_FLAGS):
        raise ValueError("all tls flags must be set if at least one is set")
    endpoint, address = parsed.get_str("signer.endpoint"), parsed.get_str("signer.address")
    if bool(endpoint) != bool(address):
        raise ValueError("signer endpoint and address must both be set or not set")
    sources = [
        bool(parsed.get_str("private-key")),
        bool(parsed.get_str("mnemonic")),
        bool(endpoint and address),
    ]
    if sum(sources) > 1:
        raise ValueError("can only provide at most one of: [private key, mnemonic, remote signer]")
    if _has(parsed, "txmgr.blob-tip-cap-dynamic") and parsed.get_bool("txmgr.blob-tip-cap-dynamic"):
        if not 1 <= parsed.get_int("txmgr.blob-tip-cap-percentile") <= 100:
            raise ValueError("BlobTipCapPercentile must be between 1 and 100")
        if parsed.get_int("txmgr.blob-tip-cap-range") < 1:
            raise ValueError("BlobTipCapRange must be at least 1")
    parsed.address("signer.address")


def _has(parsed: ParsedFlags, name: str) -> bool:
    try:
        parsed.table.flag(name)
    except KeyError:
        return False
    return True


def _headers(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``key=value`` pairs split on the first ``=``; entries without ``=`` are ignored, as in Go."""
    out = []
    for item in values:
        key, eq, value = item.partition("=")
        if eq:
            out.append((key, value))
    return tuple(out)


def build_signer_config(parsed: ParsedFlags) -> SignerConfig:
    """Key material from the flags; the HD path falls back to the service's deprecated alias."""
    hd_path = parsed.get_str("hd-path")
    for legacy in LEGACY_HD_PATH_FLAGS:
        if not hd_path and _has(parsed, legacy):
            hd_path = parsed.get_str(legacy)
    return SignerConfig(
        private_key=parsed.get_str("private-key"),
        mnemonic=parsed.get_str("mnemonic"),
        hd_path=hd_path,
        endpoint=parsed.get_str("signer.endpoint"),
        address=parsed.get_str("signer.address"),
        headers=_headers(parsed.get_list("signer.header")),
        tls_ca=parsed.get_str("signer.tls.ca"),
        tls_cert=parsed.get_str("signer.tls.cert"),
        tls_key=parsed.get_str("signer.tls.key"),
        tls_enabled=_signer_tls_enabled(parsed),
    )


def build_txmgr_config(parsed: ParsedFlags) -> TxMgrConfig:
    """TxMgrConfig from already-checked flags (call :func:`check_txmgr_flags` first)."""
    bto = _has(parsed, "txmgr.blob-tip-cap-dynamic")
    defaults = TxMgrConfig(l1_rpc_url="", signer=SignerConfig())
    return TxMgrConfig(
        l1_rpc_url=parsed.get_str(L1_RPC_FLAG),
        signer=build_signer_config(parsed),
        num_confirmations=parsed.get_int("num-confirmations"),
        safe_abort_nonce_too_low_count=parsed.get_int("safe-abort-nonce-too-low-count"),
        fee_limit_multiplier=parsed.get_int("fee-limit-multiplier"),
        fee_limit_threshold=_gwei_to_wei(
            parsed.get_float("txmgr.fee-limit-threshold"), "fee limit threshold"
        ),
        min_tip_cap=_gwei_to_wei(parsed.get_float("txmgr.min-tip-cap"), "min tip cap"),
        max_tip_cap=_gwei_to_wei(parsed.get_float("txmgr.max-tip-cap"), "max tip cap"),
        min_base_fee=_gwei_to_wei(parsed.get_float("txmgr.min-basefee"), "min base fee"),
        max_base_fee=_gwei_to_wei(parsed.get_float("txmgr.max-basefee"), "max base fee"),
        min_blob_tx_fee=defaults.min_blob_tx_fee,
        resubmission_timeout=parsed.seconds("resubmission-timeout"),
        network_timeout=parsed.seconds("network-timeout"),
        tx_send_timeout=parsed.seconds("txmgr.send-timeout"),
        tx_not_in_mempool_timeout=parsed.seconds("txmgr.not-in-mempool-timeout"),
        receipt_query_interval=parsed.seconds("txmgr.receipt-query-interval"),
        rebroadcast_interval=parsed.seconds("txmgr.rebroadcast-interval"),
        retry_interval=parsed.seconds("txmgr.retry-interval"),
        max_retries=parsed.get_int("txmgr.max-retries"),
        already_published_custom_errs=parsed.get_list("txmgr.already-published-custom-errs"),
        cell_proof_time=parsed.get_int("txmgr.cell-proof-time"),
        blob_tip_cap_dynamic=parsed.get_bool("txmgr.blob-tip-cap-dynamic") if bto else False,
        blob_tip_cap_percentile=(
            parsed.get_int("txmgr.blob-tip-cap-percentile") if bto else defaults.blob_tip_cap_percentile
        ),
        blob_tip_cap_range=parsed.get_int("txmgr.blob-tip-cap-range") if bto else defaults.blob_tip_cap_range,
    )
