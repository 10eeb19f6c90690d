"""Transaction signers: a local private key, a BIP-39 mnemonic + BIP-32 path, or a remote op-signer.

Choice (op-service/txmgr ``SignerFactoryFromConfig``): the remote signer when ``signer.endpoint`` and
``signer.address`` are both set; otherwise exactly one of private key and mnemonic.

A transaction is a dict in web3 / eth_account style (``type``, ``chainId``, ``nonce``, ``to``, ``value``,
``gas``, ``maxFeePerGas``, ``maxPriorityFeePerGas``, ``data``, ``accessList``, and for type 3
``maxFeePerBlobGas`` and ``blobVersionedHashes``); ints may be ints or hex strings, byte fields bytes or hex.
``sign_transaction`` returns the signed EIP-2718 envelope; a blob transaction comes back *without* its
sidecar (the caller attaches blobs, commitments and proofs for the network form), as op-signer does.

Secrets never leave this module: reprs show only the address, and errors raised while parsing a key or a
mnemonic are rebuilt outside the ``except`` block so that neither the message nor ``__context__`` carries
the secret (eth_account quotes the mnemonic words in its own errors).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from common.rpc.client import RpcClient
from common.rpc.errors import RpcError
from common.service.log import get_logger
from common.txmgr.config import SignerConfig

log = get_logger(__name__)

HEALTH_CHECK_TIMEOUT = 3.0
"""Seconds allowed for op-signer's ``health_status`` at start-up (op-service/signer/client.go)."""
DEFAULT_SIGN_TIMEOUT = 10.0
"""Seconds per ``eth_signTransaction`` when the caller gives none (the network-timeout default)."""


class SignerError(Exception):
    """A signer could not be built or could not sign; the message never contains key material."""


@runtime_checkable
class Signer(Protocol):
    """Signs transactions for one address."""

    @property
    def address(self) -> bytes:
        """The 20-byte address transactions are signed for (the ``from`` of every tx)."""
        ...

    async def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """Return the signed transaction envelope (blob txs without sidecar)."""
        ...

    async def close(self) -> None:
        """Release what the signer holds (a remote signer's HTTP session)."""
        ...


def _to_checksum(address: bytes) -> str:
    return str(to_checksum_address(address))


def parse_address(value: str | bytes, field: str) -> bytes:
    """A 20-byte address from hex (with or without 0x) or bytes."""
    if isinstance(value, bytes):
        raw = value
    else:
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise SignerError(f"{field}: invalid address {value!r}") from None
    if len(raw) != 20:
        raise SignerError(f"{field}: expected a 20-byte address, got {len(raw)} bytes")
    return raw


def _check_from(tx: Mapping[str, Any], address: bytes) -> None:
    """Refuse to sign for another account (Go: "attempting to sign for X, expected Y")."""
    sender = tx.get("from")
    if sender is None:
        return
    requested = parse_address(sender, "from")
    if requested != address:
        raise SignerError(
            f"attempting to sign for {_to_checksum(requested)}, expected {_to_checksum(address)}"
        )


def _eth_account_tx(tx: Mapping[str, Any], chain_id: int) -> dict[str, Any]:
    """The dict eth_account signs: no ``from``, ``input`` renamed ``data``, ``chainId`` defaulted."""
    out = {key: value for key, value in tx.items() if key != "from" and value is not None}
    if "input" in out:
        out.setdefault("data", out["input"])
        del out["input"]
    out.setdefault("chainId", chain_id)
    return out


class LocalSigner:
    """Signs with a key held in memory (from ``--private-key`` or ``--mnemonic`` + ``--hd-path``)."""

    __slots__ = ("_account", "_address", "chain_id", "source")

    def __init__(self, account: LocalAccount, chain_id: int, source: str) -> None:
        self._account = account
        self._address = bytes.fromhex(account.address[2:])
        self.chain_id = chain_id
        self.source = source
        """``private key`` or ``mnemonic``: where the key came from (for logs)."""

    @classmethod
    def from_private_key(cls, private_key: str, chain_id: int) -> LocalSigner:
        """Hex secp256k1 key, optional ``0x``."""
        text = private_key.strip()
        text = text[2:] if text.startswith(("0x", "0X")) else text
        problem = ""
        account: LocalAccount | None = None
        try:
            account = Account.from_key(bytes.fromhex(text))
        except Exception as exc:  # eth_account raises many types; keep only the class name
            problem = type(exc).__name__
        if account is None:  # raised outside the except block: no __context__ carrying the key
            raise SignerError(
                f"invalid private key ({len(text)} hex characters; {problem}): expected 64 hex "
                "characters, optionally prefixed with 0x"
            )
        return cls(account, chain_id, "private key")

    @classmethod
    def from_mnemonic(cls, mnemonic: str, hd_path: str, chain_id: int) -> LocalSigner:
        """BIP-39 words (no passphrase) and a BIP-32 path such as ``m/44'/60'/0'/0/0``."""
        if not hd_path:
            raise SignerError("a mnemonic needs an HD path (--hd-path), got an empty path")
        Account.enable_unaudited_hdwallet_features()
        problem = ""
        account: LocalAccount | None = None
        try:
            account = Account.from_mnemonic(mnemonic.strip(), account_path=hd_path)
        except Exception as exc:  # eth_account quotes the words in its messages: keep only the class name
            problem = type(exc).__name__
        if account is None:
            words = len(mnemonic.split())
            raise SignerError(
                f"failed to derive a key from the mnemonic ({words} words) at HD path "
                f"{hd_path!r}: {problem} (check the words and the path)"
            )
        return cls(account, chain_id, "mnemonic")

    @property
    def address(self) -> bytes:
        return self._address

    def __repr__(self) -> str:
        return f"LocalSigner(address={self._account.address}, source={self.source!r})"

    __str__ = __repr__

    async def close(self) -> None:
        """Nothing to release; present so callers can close any signer."""

    async def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        _check_from(tx, self._address)
        try:
            signed = self._account.sign_transaction(_eth_account_tx(tx, self.chain_id))
        except Exception as exc:  # the message is about the tx fields, never the key
            raise SignerError(
                f"signing a type {tx.get('type', 0)} transaction for {self._account.address} failed: {exc}"
            ) from None
        return bytes(signed.raw_transaction)


def _quantity(value: Any, field: str) -> str:
    """A hex quantity from an int or a hex/decimal string (op-signer's hexutil.Big / Uint64)."""
    if isinstance(value, str):
        try:
            value = int(value, 16) if value.startswith(("0x", "0X")) else int(value)
        except ValueError:
            raise SignerError(f"transaction field {field}: invalid number {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SignerError(f"transaction field {field}: expected a non-negative integer, got {value!r}")
    return hex(value)


def _hex_bytes(value: Any, field: str) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    raise SignerError(f"transaction field {field}: expected bytes or hex, got {type(value).__name__}")


def transaction_args(tx: Mapping[str, Any], sender: bytes, chain_id: int) -> dict[str, Any]:
    """op-signer's ``TransactionArgs`` JSON for ``eth_signTransaction`` (op-service/signer).

    Nil pointers without ``omitempty`` serialise as ``null`` (``gasPrice``, ``data``); ``input`` carries the
    calldata; ``accessList`` is always present; blob fields only for blob transactions.
    """
    to = tx.get("to")
    args: dict[str, Any] = {
        "from": "0x" + sender.hex(),
        "to": None if to in (None, "", b"") else "0x" + parse_address(to, "to").hex(),
        "gas": _quantity(tx.get("gas", 0), "gas"),
        "gasPrice": None,
        "maxFeePerGas": _quantity(tx.get("maxFeePerGas", 0), "maxFeePerGas"),
        "maxPriorityFeePerGas": _quantity(tx.get("maxPriorityFeePerGas", 0), "maxPriorityFeePerGas"),
        "value": _quantity(tx.get("value", 0), "value"),
        "nonce": _quantity(tx.get("nonce", 0), "nonce"),
        "data": None,
        "input": _hex_bytes(tx.get("data", tx.get("input", b"")), "data"),
        "accessList": list(tx.get("accessList") or []),
        "chainId": _quantity(tx.get("chainId", chain_id), "chainId"),
    }
    hashes = tx.get("blobVersionedHashes")
    if hashes:
        args["blobVersionedHashes"] = [_hex_bytes(h, "blobVersionedHashes") for h in hashes]
        args["maxFeePerBlobGas"] = _quantity(tx.get("maxFeePerBlobGas", 0), "maxFeePerBlobGas")
    return args


def tls_context(cfg: SignerConfig) -> ssl.SSLContext:
    """Mutual-TLS client context: TLS 1.3 minimum, the configured CA, and our client certificate."""
    for name, path in (
        ("signer.tls.ca", cfg.tls_ca),
        ("signer.tls.cert", cfg.tls_cert),
        ("signer.tls.key", cfg.tls_key),
    ):
        if not path:
            raise SignerError(f"{name} must be set when signer TLS is enabled")
        if not Path(path).is_file():
            raise SignerError(f"{name}: file {path} not found")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        context.load_verify_locations(cafile=cfg.tls_ca)
    except (ssl.SSLError, OSError) as exc:
        raise SignerError(f"failed to read tls.ca {cfg.tls_ca}: {exc}") from None
    try:
        context.load_cert_chain(certfile=cfg.tls_cert, keyfile=cfg.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise SignerError(f"failed to read tls cert {cfg.tls_cert} or key {cfg.tls_key}: {exc}") from None
    return context


class RemoteSigner:
    """Signs through op-signer's ``eth_signTransaction`` over HTTP(S), optionally with mutual TLS.

    Like Go's certman, a client certificate or key replaced on disk is picked up by the next signature
    (the TLS context and connection pool are rebuilt when their modification times change).
    """

    def __init__(self, cfg: SignerConfig, address: bytes, chain_id: int, *, timeout: float) -> None:
        self._cfg = cfg
        self._address = address
        self.chain_id = chain_id
        self.timeout = timeout
        self.status = ""
        """``ok [version=...]`` after a successful health check."""
        self._tls_stamp = self._current_tls_stamp()
        self._client = self._new_client()

    def _new_client(self) -> RpcClient:
        context = tls_context(self._cfg) if self._cfg.tls_enabled else None
        return RpcClient(
            self._cfg.endpoint, timeout=self.timeout, headers=dict(self._cfg.headers), ssl=context
        )

    def _current_tls_stamp(self) -> tuple[int, int]:
        if not self._cfg.tls_enabled:
            return (0, 0)
        try:
            return (os.stat(self._cfg.tls_cert).st_mtime_ns, os.stat(self._cfg.tls_key).st_mtime_ns)
        except OSError:
            return (0, 0)  # a file being replaced: keep the current client, tls_context reports problems

    async def _reload_if_rotated(self) -> None:
        stamp = self._current_tls_stamp()
        if stamp == self._tls_stamp or stamp == (0, 0):
            return
        log.info("reloading signer TLS client certificate", cert=self._cfg.tls_cert, key=self._cfg.tls_key)
        client = self._new_client()
        old, self._client, self._tls_stamp = self._client, client, stamp
        await old.close()

    @classmethod
    async def connect(
        cls,
        cfg: SignerConfig,
        chain_id: int,
        *,
        timeout: float = DEFAULT_SIGN_TIMEOUT,
        health_timeout: float = HEALTH_CHECK_TIMEOUT,
    ) -> RemoteSigner:
        """Build the client and check ``health_status``; an unreachable or unhealthy signer is fatal."""
        address = parse_address(cfg.address, "signer.address")
        if cfg.tls_enabled:
            log.info("tlsConfig specified, loading tls config")
        else:
            log.info("no tlsConfig specified, using default http client")
        signer = cls(cfg, address, chain_id, timeout=timeout)
        try:
            version = await signer._client.call("health_status", [], timeout=health_timeout, retry=False)
        except RpcError as err:
            await signer.close()
            raise SignerError(f"remote signer at {signer.endpoint} failed its health check: {err}") from None
        signer.status = f"ok [version={version}]"
        return signer

    @property
    def address(self) -> bytes:
        return self._address

    @property
    def endpoint(self) -> str:
        return self._client.endpoint

    def __repr__(self) -> str:
        return f"RemoteSigner(address={_to_checksum(self._address)}, endpoint={self._client.endpoint!r})"

    __str__ = __repr__

    async def close(self) -> None:
        await self._client.close()

    async def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        _check_from(tx, self._address)
        args = transaction_args(tx, self._address, self.chain_id)
        await self._reload_if_rotated()
        try:
            result = await self._client.call("eth_signTransaction", [args], timeout=self.timeout)
        except RpcError as err:
            raise SignerError(f"eth_signTransaction failed: {err}") from err
        if not isinstance(result, str) or not result.startswith("0x"):
            raise SignerError(
                f"eth_signTransaction at {self.endpoint}: expected hex bytes, got {result!r:.80}"
            )
        try:
            raw = bytes.fromhex(result[2:])
        except ValueError:
            raise SignerError(f"eth_signTransaction at {self.endpoint}: invalid hex in result") from None
        self._check_signature(raw)
        return raw

    def _check_signature(self, raw: bytes) -> None:
        """The signer must have signed for our address; a tx from another account would never confirm."""
        try:
            recovered = Account.recover_transaction(raw)
        except Exception as exc:
            raise SignerError(
                f"eth_signTransaction at {self.endpoint}: result is not a signed transaction "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if recovered.lower() != "0x" + self._address.hex():
            raise SignerError(
                f"eth_signTransaction at {self.endpoint}: signed by {recovered}, "
                f"expected {_to_checksum(self._address)}"
            )


async def from_config(cfg: SignerConfig, chain_id: int, *, timeout: float = DEFAULT_SIGN_TIMEOUT) -> Signer:
    """Build the signer ``cfg`` describes (remote first, then private key XOR mnemonic)."""
    if cfg.endpoint and cfg.address:
        return await RemoteSigner.connect(cfg, chain_id, timeout=timeout)
    if cfg.private_key and cfg.mnemonic:
        raise SignerError("cannot specify both a private key and a mnemonic")
    if cfg.private_key:
        return LocalSigner.from_private_key(cfg.private_key, chain_id)
    if cfg.mnemonic:
        return await asyncio.to_thread(LocalSigner.from_mnemonic, cfg.mnemonic, cfg.hd_path, chain_id)
    raise SignerError(
        "no signer configured: set --private-key, --mnemonic with --hd-path, or "
        "--signer.endpoint with --signer.address"
    )
