"""Signers: local key, mnemonic + HD path, and the remote op-signer over mutual TLS; secrets never leak.

op-signer cannot run here, so the remote signer talks to a local aiohttp JSON-RPC server (from
``tests.test_rpc_client``) that requires a client certificate and signs with a local key, recording the
``eth_signTransaction`` arguments it received. Certificates are generated per test module with
``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import rlp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eth_account import Account
from eth_utils.crypto import keccak

from common.rpc.client import RpcClient
from common.rpc.errors import RpcConnectionError, RpcError
from common.txmgr.config import SignerConfig
from common.txmgr.signer import (
    LocalSigner,
    RemoteSigner,
    Signer,
    SignerError,
    from_config,
    transaction_args,
)
from devnet.anvil import DEV_MNEMONIC
from tests.test_rpc_client import Fault, JsonRpcServer

SECRET_KEY = "0x" + "5f3c9a1b7d2e4f60" * 4
SECRET_WORDS = "abandon " * 11 + "about"
"""The BIP-39 test mnemonic; its first account is 0x9858EfFD232B4033E47d90003D41EC34EcaEda94."""
MNEMONIC_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CHAIN_ID = 901
TO = "0x" + "42" * 20


def dynamic_tx(**over: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": 7,
        "to": TO,
        "value": 5,
        "gas": 50_000,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "data": b"\x01\x02",
        "accessList": [],
    }
    tx.update(over)
    return tx


def blob_tx(**over: Any) -> dict[str, Any]:
    return dynamic_tx(type=3, maxFeePerBlobGas=10**9, blobVersionedHashes=[b"\x01" + b"\x33" * 31], **over)


def secret_fragments() -> list[str]:
    key = SECRET_KEY[2:]
    return [key, key[:16], key[-16:], "abandon abandon"]


def assert_no_secret(text: str) -> None:
    lowered = text.lower()
    for fragment in secret_fragments():
        assert fragment.lower() not in lowered, f"secret fragment leaked: {text[:200]!r}"


def error_chain_text(err: BaseException) -> str:
    parts = []
    seen: BaseException | None = err
    while seen is not None:
        parts.append(f"{type(seen).__name__}: {seen!s} {seen!r}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- local signers


async def test_private_key_signer_signs_recoverable_type_2_transactions():
    """With or without 0x, the key signs a 1559 tx that recovers to its address."""
    expected = Account.from_key(SECRET_KEY).address
    for key in (SECRET_KEY, SECRET_KEY[2:]):
        signer = LocalSigner.from_private_key(key, CHAIN_ID)
        assert "0x" + signer.address.hex() == expected.lower()
        raw = await signer.sign_transaction(dynamic_tx())
        assert raw[0] == 2 and Account.recover_transaction(raw) == expected


async def test_mnemonic_signer_derives_the_hd_path_account():
    """anvil's dev mnemonic gives its well-known accounts at m/44'/60'/0'/0/i."""
    first = LocalSigner.from_mnemonic(DEV_MNEMONIC, "m/44'/60'/0'/0/0", CHAIN_ID)
    second = LocalSigner.from_mnemonic(DEV_MNEMONIC, "m/44'/60'/0'/0/1", CHAIN_ID)
    assert Account.recover_transaction(await first.sign_transaction(dynamic_tx())) == ANVIL_0
    assert Account.recover_transaction(await second.sign_transaction(dynamic_tx())) == ANVIL_1
    assert isinstance(first, Signer)


async def test_blob_transactions_are_signed_without_sidecar():
    """A type-3 tx comes back as 0x03 ‖ rlp(14 fields), hashing to the tx hash, recoverable."""
    signer = LocalSigner.from_private_key(SECRET_KEY, CHAIN_ID)
    raw = await signer.sign_transaction(blob_tx())
    fields = rlp.decode(raw[1:])
    assert raw[0] == 3 and len(fields) == 14
    assert fields[10] == [b"\x01" + b"\x33" * 31]  # blobVersionedHashes
    assert Account.recover_transaction(raw) == Account.from_key(SECRET_KEY).address
    assert len(keccak(raw)) == 32


async def test_signing_for_another_account_is_refused():
    """A tx whose ``from`` is not the signer's address fails naming both addresses."""
    signer = LocalSigner.from_mnemonic(DEV_MNEMONIC, "m/44'/60'/0'/0/0", CHAIN_ID)
    with pytest.raises(SignerError, match=f"attempting to sign for {ANVIL_1}, expected {ANVIL_0}"):
        await signer.sign_transaction(dynamic_tx(**{"from": ANVIL_1}))
    raw = await signer.sign_transaction(dynamic_tx(**{"from": ANVIL_0.lower()}))
    assert Account.recover_transaction(raw) == ANVIL_0


async def test_from_config_picks_the_configured_source():
    """Private key, mnemonic + path, and the conflicting/empty cases behave as Go's factory."""
    by_key = await from_config(SignerConfig(private_key=SECRET_KEY), CHAIN_ID)
    by_words = await from_config(SignerConfig(mnemonic=SECRET_WORDS, hd_path="m/44'/60'/0'/0/0"), CHAIN_ID)
    assert by_key.address == bytes.fromhex(Account.from_key(SECRET_KEY).address[2:])
    assert "0x" + by_words.address.hex() == MNEMONIC_ADDRESS.lower()
    with pytest.raises(SignerError, match="cannot specify both a private key and a mnemonic"):
        await from_config(
            SignerConfig(private_key=SECRET_KEY, mnemonic=SECRET_WORDS, hd_path="m/0"), CHAIN_ID
        )
    with pytest.raises(SignerError, match="no signer configured"):
        await from_config(SignerConfig(), CHAIN_ID)
    with pytest.raises(SignerError, match="needs an HD path"):
        await from_config(SignerConfig(mnemonic=SECRET_WORDS), CHAIN_ID)


# ------------------------------------------------------------------------------------------ secrets hygiene


async def test_reprs_errors_and_logs_never_contain_the_key_or_mnemonic(caplog):
    """Reprs, str(), error messages (and their chains) and all log records are free of key material."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    key_signer = LocalSigner.from_private_key(SECRET_KEY, CHAIN_ID)
    word_signer = LocalSigner.from_mnemonic(SECRET_WORDS, "m/44'/60'/0'/0/0", CHAIN_ID)
    texts += [repr(key_signer), str(key_signer), repr(word_signer), str(word_signer)]
    texts += [repr(SignerConfig(private_key=SECRET_KEY, mnemonic=SECRET_WORDS))]
    bad_inputs: list[Callable[[], object]] = [
        lambda: LocalSigner.from_private_key(SECRET_KEY[:-2], CHAIN_ID),  # one byte short
        lambda: LocalSigner.from_private_key(SECRET_KEY[:-1] + "z", CHAIN_ID),  # not hex
        lambda: LocalSigner.from_mnemonic(SECRET_WORDS.replace("about", "abandon"), "m/44'/60'/0'/0/0", 1),
        lambda: LocalSigner.from_mnemonic(SECRET_WORDS + " zebra", "m/44'/60'/0'/0/0", 1),
        lambda: LocalSigner.from_mnemonic(SECRET_WORDS, "not-a-path", 1),
    ]
    for make in bad_inputs:
        with pytest.raises(SignerError) as info:
            make()
        texts.append(error_chain_text(info.value))
    with pytest.raises(SignerError) as bad_tx:
        await key_signer.sign_transaction(dynamic_tx(maxFeePerGas="lots"))
    texts.append(error_chain_text(bad_tx.value))
    with pytest.raises(SignerError) as wrong_from:
        await word_signer.sign_transaction(dynamic_tx(**{"from": ANVIL_0}))
    texts.append(error_chain_text(wrong_from.value))
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    for text in texts:
        assert_no_secret(text)
    assert "invalid private key" in texts[5] and "mnemonic (12 words)" in texts[7]


# ------------------------------------------------------------------------------------- remote signer (mTLS)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str, issuer_key: Any, issuer: x509.Name, *, ca: bool, server: bool, key: Any | None = None
) -> tuple[Any, x509.Certificate]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def _write(directory: Path, name: str, key: Any, cert: x509.Certificate) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A CA, a server cert for 127.0.0.1, a client cert from the CA and one from a rogue CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    _, ca_cert = _issue("test ca", ca_key, _name("test ca"), ca=True, server=False, key=ca_key)
    server_key, server_cert = _issue("op-signer", ca_key, ca_cert.subject, ca=False, server=True)
    client_key, client_cert = _issue("batcher", ca_key, ca_cert.subject, ca=False, server=False)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    other_key, other_cert = _issue("intruder", rogue_key, _name("rogue ca"), ca=False, server=False)
    paths = {"ca": _write(directory, "ca", ca_key, ca_cert)[0]}
    paths["server_cert"], paths["server_key"] = _write(directory, "server", server_key, server_cert)
    paths["client_cert"], paths["client_key"] = _write(directory, "client", client_key, client_cert)
    paths["rogue_cert"], paths["rogue_key"] = _write(directory, "rogue", other_key, other_cert)
    yield paths


class OpSigner:
    """op-signer stand-in: health_status, and eth_signTransaction signing the args with ``key``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.args: list[dict[str, Any]] = []
        self.healthy = True

    async def __call__(self, method: str, params: Any) -> Any:
        if method == "health_status":
            if not self.healthy:
                raise Fault(-32000, "signer is unhealthy")
            return "v1.5.0"
        if method != "eth_signTransaction":
            raise Fault(-32601, "method not found")
        args = params[0]
        self.args.append(args)
        tx = {
            "type": 3 if args.get("blobVersionedHashes") else 2,
            "chainId": int(args["chainId"], 16),
            "nonce": int(args["nonce"], 16),
            "to": args["to"],
            "value": int(args["value"], 16),
            "gas": int(args["gas"], 16),
            "maxFeePerGas": int(args["maxFeePerGas"], 16),
            "maxPriorityFeePerGas": int(args["maxPriorityFeePerGas"], 16),
            "data": args["input"],
            "accessList": args["accessList"],
        }
        if args.get("blobVersionedHashes"):
            tx["blobVersionedHashes"] = args["blobVersionedHashes"]
            tx["maxFeePerBlobGas"] = int(args["maxFeePerBlobGas"], 16)
        return "0x" + bytes(Account.sign_transaction(tx, self.key).raw_transaction).hex()


def server_tls(pki: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection
    return context


@pytest_asyncio.fixture(loop_scope="function")
async def op_signer(pki) -> AsyncIterator[tuple[OpSigner, JsonRpcServer]]:
    backend = OpSigner(SECRET_KEY)
    server = await JsonRpcServer(backend, ssl_context=server_tls(pki)).start()
    yield backend, server
    await server.stop()


def remote_config(pki: dict[str, str], url: str, **over: Any) -> SignerConfig:
    values: dict[str, Any] = {
        "endpoint": url,
        "address": Account.from_key(SECRET_KEY).address,
        "tls_enabled": True,
        "tls_ca": pki["ca"],
        "tls_cert": pki["client_cert"],
        "tls_key": pki["client_key"],
        "headers": (("X-Signer-Auth", "token-1"),),
    }
    values.update(over)
    return SignerConfig(**values)


async def test_remote_signer_signs_over_mutual_tls_with_op_signer_args(pki, op_signer):
    """Health is checked, then eth_signTransaction gets the TransactionArgs shape and the result is used."""
    backend, server = op_signer
    signer = await from_config(remote_config(pki, server.url), CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    try:
        assert signer.status == "ok [version=v1.5.0]"
        raw = await signer.sign_transaction(dynamic_tx())
        assert Account.recover_transaction(raw) == Account.from_key(SECRET_KEY).address
        blob_raw = await signer.sign_transaction(blob_tx())
        assert blob_raw[0] == 3
    finally:
        await signer.close()
    address = Account.from_key(SECRET_KEY).address.lower()
    assert backend.args[0] == {
        "from": address,
        "to": TO,
        "gas": "0xc350",
        "gasPrice": None,
        "maxFeePerGas": "0xb2d05e00",
        "maxPriorityFeePerGas": "0x3b9aca00",
        "value": "0x5",
        "nonce": "0x7",
        "data": None,
        "input": "0x0102",
        "accessList": [],
        "chainId": "0x385",
    }
    assert backend.args[1]["blobVersionedHashes"] == ["0x01" + "33" * 31]
    assert backend.args[1]["maxFeePerBlobGas"] == "0x3b9aca00"
    assert all(h.get("X-Signer-Auth") == "token-1" for h in server.headers)


async def test_the_server_refuses_clients_without_a_certificate(pki, op_signer):
    """A client that trusts the CA but presents no certificate (or one from another CA) is refused."""
    _, server = op_signer
    no_cert = ssl.create_default_context(cafile=pki["ca"])
    async with RpcClient(server.url, ssl=no_cert, retries=0, timeout=3.0) as client:
        with pytest.raises(RpcConnectionError):
            await client.call("health_status")
    with pytest.raises(SignerError, match=f"remote signer at {server.url} failed its health check"):
        await from_config(
            remote_config(pki, server.url, tls_cert=pki["rogue_cert"], tls_key=pki["rogue_key"]), CHAIN_ID
        )


async def test_an_unhealthy_or_unreachable_signer_is_fatal_at_start(pki, op_signer):
    """health_status failing or the endpoint being down stops start-up with an error naming the endpoint."""
    backend, server = op_signer
    backend.healthy = False
    with pytest.raises(SignerError, match=r"failed its health check.*signer is unhealthy"):
        await from_config(remote_config(pki, server.url), CHAIN_ID)
    with pytest.raises(SignerError, match=r"remote signer at https://127\.0\.0\.1:1 failed its health check"):
        await from_config(remote_config(pki, "https://127.0.0.1:1"), CHAIN_ID)


async def test_missing_tls_files_are_named(pki, tmp_path):
    """An unreadable CA/cert path fails before any connection, naming the flag and the file."""
    missing = str(tmp_path / "nope.crt")
    with pytest.raises(SignerError, match=f"signer.tls.ca: file {missing} not found"):
        await from_config(remote_config(pki, "https://127.0.0.1:1", tls_ca=missing), CHAIN_ID)


async def test_a_result_signed_by_the_wrong_key_is_rejected(pki, op_signer):
    """If op-signer signs with another key, the result is refused instead of being broadcast."""
    backend, server = op_signer
    backend.key = "0x" + "07" * 32
    signer = await from_config(remote_config(pki, server.url), CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    try:
        with pytest.raises(SignerError, match="signed by 0x"):
            await signer.sign_transaction(dynamic_tx())
    finally:
        await signer.close()


def test_transaction_args_accept_hex_strings_and_creation():
    """Hex-string quantities and data are normalised; no ``to`` means contract creation (null)."""
    args = transaction_args(
        {"nonce": "0x2", "gas": 21000, "maxFeePerGas": "100", "maxPriorityFeePerGas": 1, "data": "0xabcd"},
        b"\x11" * 20,
        5,
    )
    assert args["to"] is None and args["nonce"] == "0x2" and args["maxFeePerGas"] == "0x64"
    assert args["input"] == "0xabcd" and args["chainId"] == "0x5" and "blobVersionedHashes" not in args


async def test_a_rotated_client_certificate_is_used_by_the_next_signature(pki, op_signer, tmp_path):
    """Replacing the cert/key files on disk takes effect without a restart (Go's certman behaviour)."""
    _, server = op_signer
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"

    def install(cert_src: str, key_src: str, bump: int) -> None:
        cert.write_bytes(Path(cert_src).read_bytes())
        key.write_bytes(Path(key_src).read_bytes())
        for path in (cert, key):  # distinct mtimes even on coarse-grained filesystems
            os.utime(path, ns=(bump * 10**9, bump * 10**9))

    install(pki["client_cert"], pki["client_key"], 1_000)
    signer = await from_config(remote_config(pki, server.url, tls_cert=str(cert), tls_key=str(key)), CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    try:
        await signer.sign_transaction(dynamic_tx())
        install(pki["rogue_cert"], pki["rogue_key"], 2_000)  # a cert the server does not trust
        with pytest.raises(SignerError, match="eth_signTransaction failed"):
            await signer.sign_transaction(dynamic_tx())
        install(pki["client_cert"], pki["client_key"], 3_000)
        raw = await signer.sign_transaction(dynamic_tx())
        assert Account.recover_transaction(raw) == Account.from_key(SECRET_KEY).address
    finally:
        await signer.close()


# ---- closing: the remote signer owns an HTTP session ------------------------------------------------


def remote_session(signer: RemoteSigner) -> Any:
    """The aiohttp session behind the signer's RPC client (private: no public handle exists)."""
    return signer._client._session


async def test_remote_signer_close_closes_its_http_session(pki, op_signer):
    """close() closes the aiohttp session the health check opened; a later signature fails, naming the
    call, instead of silently opening a new session."""
    _, server = op_signer
    signer = await from_config(remote_config(pki, server.url), CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    session = remote_session(signer)
    assert session is not None and not session.closed
    await signer.sign_transaction(dynamic_tx())
    await signer.close()
    assert session.closed
    with pytest.raises(SignerError, match="eth_signTransaction failed"):
        await signer.sign_transaction(dynamic_tx())
    assert remote_session(signer) is None


async def test_a_rotated_certificate_closes_the_previous_session(pki, op_signer, tmp_path):
    """Rebuilding the TLS client for a rotated certificate closes the old session (no leaked pool)."""
    _, server = op_signer
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(Path(pki["client_cert"]).read_bytes())
    key.write_bytes(Path(pki["client_key"]).read_bytes())
    signer = await from_config(remote_config(pki, server.url, tls_cert=str(cert), tls_key=str(key)), CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    try:
        first = remote_session(signer)
        for path in (cert, key):
            os.utime(path, ns=(5_000 * 10**9, 5_000 * 10**9))
        await signer.sign_transaction(dynamic_tx())
        assert first.closed
        assert not remote_session(signer).closed
    finally:
        await signer.close()


def service_args(service: str, pki: dict[str, str], url: str) -> list[str]:
    """Minimal flags for ``service`` with the remote signer over mutual TLS (endpoints are never dialled)."""
    args = [
        "--l1-eth-rpc=http://127.0.0.1:1",
        "--rollup-rpc=http://127.0.0.1:1",
        f"--signer.endpoint={url}",
        f"--signer.address={Account.from_key(SECRET_KEY).address}",
        f"--signer.tls.ca={pki['ca']}",
        f"--signer.tls.cert={pki['client_cert']}",
        f"--signer.tls.key={pki['client_key']}",
    ]
    if service == "op-batcher":
        return [*args, "--l2-eth-rpc=http://127.0.0.1:1"]
    return [*args, "--game-factory-address=0x" + "11" * 20, "--proposal-interval=1h"]


@pytest.mark.parametrize("service", ["op-batcher", "op-proposer"])
async def test_service_shutdown_closes_the_remote_signer_session(pki, op_signer, service):
    """stop() of each service closes the remote signer built from its flags, as setup wires it.

    Unit level: setup needs an L1 and a rollup node, so the signer and tx manager it would build are built
    here with the same calls (``from_config`` on the parsed signer config, ``TxManager``) and assigned.
    """
    from batcher.batcher_config import build_batcher_config
    from batcher.flags import batcher_table
    from batcher.service import BatcherService
    from common.txmgr.txmgr import TxManager
    from proposer.flags import build_proposer_config, proposer_table
    from proposer.service import ProposerService

    _, server = op_signer
    args = service_args(service, pki, server.url)
    svc: BatcherService | ProposerService
    if service == "op-batcher":
        svc = BatcherService(build_batcher_config(batcher_table().parse(args, {})), lambda _err: None)
    else:
        svc = ProposerService(build_proposer_config(proposer_table().parse(args, {})), None)
    signer = await from_config(svc.cfg.txmgr.signer, CHAIN_ID)
    assert isinstance(signer, RemoteSigner)
    session = remote_session(signer)
    svc.txmgr = TxManager(svc.cfg.txmgr, svc.l1, signer, chain_id=CHAIN_ID)
    if isinstance(svc, ProposerService):
        svc.signer = signer
    assert not session.closed
    await svc.stop()
    assert session.closed


async def test_a_signer_that_dies_mid_run_fails_the_signature_naming_it_and_recovers(pki, op_signer):
    """Healthy at start, then unreachable (a TCP outage proxy stands in for op-signer dying): the signature
    fails with an error naming the endpoint, nothing hangs, and signing works again once it is back."""
    from tests.outage_proxy import OutageProxy

    _, server = op_signer
    proxy = OutageProxy(server.url)
    url = proxy.url.replace("http://", "https://")
    signer = await from_config(remote_config(pki, url), CHAIN_ID)
    try:
        assert await signer.sign_transaction(dynamic_tx())
        proxy.down()
        with pytest.raises((SignerError, RpcError)) as info:
            await asyncio.wait_for(signer.sign_transaction(dynamic_tx()), 30)
        assert proxy.url.removeprefix("http://") in str(info.value), info.value
        proxy.up()
        raw = await signer.sign_transaction(dynamic_tx())
        assert Account.recover_transaction(raw) == Account.from_key(SECRET_KEY).address
    finally:
        await signer.close()
        proxy.close()
