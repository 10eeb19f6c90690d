"""Transaction-manager settings, as the txmgr flags of op-service describe them.

Built from the parsed flags by ``common.txmgr.flags`` (names, env vars, defaults and validation messages
live there); consumed by ``common.txmgr.txmgr``. Durations are seconds (float); fees are wei.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GWEI = 10**9
MAX_UINT64 = 2**64 - 1
"""The ``txmgr.cell-proof-time`` sentinel meaning "unset: resolve from the L1 chain id"."""

OSAKA_TIMES = {
    1: 1764798551,
    11155111: 1760427360,
    17000: 1759308480,
    560048: 1761677592,
}
"""L1 chain id -> Osaka (Fusaka) activation time, used when ``txmgr.cell-proof-time`` is unset."""
CELL_PROOF_SAFETY_BUFFER = 12
"""Seconds: cell proofs are used only once ``cell_proof_time < now - 12``."""


@dataclass(frozen=True, slots=True)
class SignerConfig:
    """Exactly one key source: a private key, a mnemonic + HD path, or a remote signer endpoint."""

    private_key: str = field(default="", repr=False)
    mnemonic: str = field(default="", repr=False)
    hd_path: str = ""
    endpoint: str = ""
    address: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    tls_ca: str = "tls/ca.crt"
    tls_cert: str = "tls/tls.crt"
    tls_key: str = "tls/tls.key"
    tls_enabled: bool = False
    """True only when a ``signer.tls.*`` flag was set explicitly (defaults alone do not enable TLS)."""


@dataclass(frozen=True, slots=True)
class TxMgrConfig:
    """SimpleTxManager configuration (op-service/txmgr CLIConfig, batcher default set)."""

    l1_rpc_url: str
    signer: SignerConfig
    num_confirmations: int = 10
    safe_abort_nonce_too_low_count: int = 3
    fee_limit_multiplier: int = 5
    fee_limit_threshold: int = 100 * GWEI
    min_tip_cap: int = 1 * GWEI
    max_tip_cap: int = 0
    """0 = no cap."""
    min_base_fee: int = 1 * GWEI
    max_base_fee: int = 0
    """0 = no cap."""
    min_blob_tx_fee: int = 1 * GWEI
    """Floor of the blob fee cap (no flag in Go; fixed default)."""
    resubmission_timeout: float = 48.0
    network_timeout: float = 10.0
    tx_send_timeout: float = 0.0
    """0 = a send never times out (Holocene needs in-order frames)."""
    tx_not_in_mempool_timeout: float = 120.0
    receipt_query_interval: float = 12.0
    rebroadcast_interval: float = 12.0
    retry_interval: float = 1.0
    max_retries: int = 10
    already_published_custom_errs: tuple[str, ...] = ()
    cell_proof_time: int = MAX_UINT64
    blob_tip_cap_dynamic: bool = False
    blob_tip_cap_percentile: int = 60
    blob_tip_cap_range: int = 20
