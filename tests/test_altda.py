"""Alt-DA units: the commitment wire format, the DA-server client's error paths, the batcher's poster.

The client tests run against the devnet's DA-server stand-in (devnet/da_server.py, op-alt-da's HTTP
protocol; the Go da-server cannot run here) and small aiohttp servers that misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import web

from batcher.batcher_config import AltDAConfig
from batcher.channels.channel import TxData, TxID
from batcher.publishing.altda import AltDAMetrics, AltDAPoster, DAResult
from common.altda.client import DAClient, DADown, DAError, DANotFound
from common.altda.commitment import (
    Commitment,
    CommitmentError,
    CommitmentType,
    decode_commitment,
    decode_tx_data,
)
from common.derive.frame import Frame
from common.derive.transaction import keccak256
from common.service.metrics import Factory, new_registry
from devnet.anvil import free_port
from devnet.da_server import DAServer

# ---- commitment encoding ---------------------------------------------------------------------------------


def test_keccak_commitment_encodes_type_byte_then_hash_and_tx_data_adds_version_1():
    """keccak256: encode = 0x00 ++ keccak256(input); tx data = 0x01 ++ encode (op-alt-da commitment.go)."""
    data = b"\x00frame bytes"
    c = Commitment.keccak256_of(data)
    assert c.encode() == b"\x00" + keccak256(data)
    assert c.tx_data() == b"\x01\x00" + keccak256(data)
    assert c.hex() == "0x00" + keccak256(data).hex()
    assert decode_tx_data(c.tx_data()) == c
    assert decode_commitment(c.encode()) == c
    c.verify(data)
    with pytest.raises(CommitmentError, match="commitment mismatch"):
        c.verify(data + b"x")


def test_generic_commitment_is_opaque_and_never_fails_verification():
    """Generic commitments keep the server's bytes; op-node cannot check them, so verify accepts anything."""
    c = decode_commitment(b"\x01\x0c" + b"cert")
    assert c.type is CommitmentType.GENERIC and c.payload == b"\x0ccert"
    assert c.tx_data() == b"\x01\x01\x0ccert"
    c.verify(b"anything")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"\x02abc", "unknown commitment type byte 0x02"),
        (b"\x00" + b"\x11" * 31, "31 bytes, expected 32"),
        (b"\x01", "empty GenericCommitment payload"),
    ],
)
def test_bad_commitments_are_rejected_naming_the_problem(raw, message):
    with pytest.raises(CommitmentError, match=message):
        decode_commitment(raw)


def test_tx_data_without_version_1_is_not_alt_da():
    with pytest.raises(CommitmentError, match="version byte is 0x00, expected 0x01"):
        decode_tx_data(b"\x00" + b"\x00" * 33)
    with pytest.raises(CommitmentError, match="version byte is nothing"):
        decode_tx_data(b"")


def test_the_commitment_module_is_pure():
    """The wire format imports no network, event loop or metrics code (like common/derive)."""
    code = (
        "import sys, common.altda.commitment\n"
        "print(','.join(m for m in ('asyncio','aiohttp','prometheus_client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---- flag check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("", "DA server URL is required when altDA is enabled"),
        ("localhost:3100", "DA server URL is invalid: --altda.da-server must be an http"),
        ("ftp://user:secret@h/x", "DA server URL is invalid"),
    ],
)
def test_altda_config_check_names_the_flag(server, message):
    with pytest.raises(ValueError, match=message) as exc:
        AltDAConfig(enabled=True, da_server=server).check()
    assert "secret" not in str(exc.value)
    AltDAConfig(enabled=False, da_server="").check()
    AltDAConfig(enabled=True, da_server="http://da:3100").check()


# ---- client against the DA-server stand-in ---------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="function")
async def da_server() -> AsyncIterator[DAServer]:
    server = DAServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def client_for() -> AsyncIterator[Callable[..., DAClient]]:
    made: list[DAClient] = []

    def make(url: str, **kw: object) -> DAClient:
        made.append(DAClient(url, **kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for c in made:
        await c.close()


async def test_keccak_put_then_get_round_trips_through_the_server(da_server, client_for):
    client = client_for(da_server.url)
    comm = await client.put(b"\x00frame")
    assert comm == Commitment.keccak256_of(b"\x00frame")
    assert da_server.store[comm.encode()] == b"\x00frame"
    assert await client.get(comm) == b"\x00frame"


async def test_generic_put_returns_the_server_commitment(da_server, client_for):
    client = client_for(da_server.url + "/", generic=True)
    comm = await client.put(b"\x00frame")
    assert comm.type is CommitmentType.GENERIC
    assert await client.get(comm) == b"\x00frame"


async def test_get_of_an_unknown_commitment_is_not_found(da_server, client_for):
    client = client_for(da_server.url)
    with pytest.raises(DANotFound, match=r"/get: not found \(HTTP 404"):
        await client.get(Commitment.keccak256_of(b"never put"))


async def test_empty_input_is_refused_before_any_request(da_server, client_for):
    with pytest.raises(DAError, match="invalid input: empty"):
        await client_for(da_server.url).put(b"")
    assert da_server.puts == 0


async def test_connection_refused_names_the_server_and_endpoint(client_for):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DAError, match=rf"DA server {url} /put: ClientConnectorError"):
        await client_for(url).put(b"\x00x")


# ---- client against misbehaving servers ------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest_asyncio.fixture(loop_scope="function")
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for r in runners:
        await r.cleanup()


async def test_put_timeout_names_the_flag(serve, client_for):
    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    client = client_for(await serve(slow), put_timeout=0.2)
    with pytest.raises(DAError, match=r"/put: no reply within 0.2s \(--altda.put-timeout\)"):
        await client.put(b"\x00x")


async def test_get_timeout_names_the_flag(serve, client_for):
    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    client = client_for(await serve(slow), get_timeout=0.2)
    with pytest.raises(DAError, match=r"/get: no reply within 0.2s \(--altda.get-timeout\)"):
        await client.get(Commitment.keccak256_of(b"x"))


async def test_503_on_put_is_da_down_and_500_carries_the_body(serve, client_for):
    async def down(_r: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    async def broken(_r: web.Request) -> web.Response:
        return web.Response(status=500, text="disk full")

    with pytest.raises(DADown, match=r"alt DA is down \(HTTP 503: maintenance\)"):
        await client_for(await serve(down), generic=True).put(b"\x00x")
    with pytest.raises(DAError, match=r"/put: HTTP 500: disk full"):
        await client_for(await serve(broken)).put(b"\x00x")


async def test_generic_put_with_an_undecodable_reply_is_an_error(serve, client_for):
    async def bad(_r: web.Request) -> web.Response:
        return web.Response(body=b"\x07junk")

    with pytest.raises(DAError, match=r"bad commitment in reply: .*type byte 0x07"):
        await client_for(await serve(bad), generic=True).put(b"\x00x")


async def test_verify_on_read_rejects_data_that_does_not_match_the_commitment(serve, client_for):
    async def wrong(_r: web.Request) -> web.Response:
        return web.Response(body=b"other data")

    url = await serve(wrong)
    comm = Commitment.keccak256_of(b"\x00x")
    with pytest.raises(DAError, match="/get: commitment mismatch"):
        await client_for(url).get(comm)
    assert await client_for(url, verify_on_read=False).get(comm) == b"other data"


# ---- the batcher's poster --------------------------------------------------------------------------------


def tx_data(n: int) -> TxData:
    frame = Frame(bytes([n]) * 16, 0, b"channel data %d" % n, True)
    return TxData(TxID(bytes([n]) * 16, 0, 1), (frame,), False)


def poster(client: DAClient, **kw: object) -> AltDAPoster:
    return AltDAPoster(client, AltDAMetrics(Factory("t", new_registry(process_collectors=False))), **kw)  # type: ignore[arg-type]


async def collect(p: AltDAPoster, txs: list[TxData]) -> list[DAResult]:
    results: list[DAResult] = []
    for tx in txs:
        p.submit(tx, results.append)
    await p.drain(10)
    return results


async def test_poster_puts_the_calldata_bytes_and_reports_the_commitment(da_server, client_for):
    p = poster(client_for(da_server.url), max_concurrent=0)
    txs = [tx_data(1), tx_data(2)]
    results = await collect(p, txs)
    assert {r.tx_id for r in results} == {t.id for t in txs}
    for tx in txs:
        comm = Commitment.keccak256_of(tx.calldata)
        assert da_server.store[comm.encode()] == tx.calldata
        assert DAResult(tx.id, comm) in results


async def test_poster_bounds_concurrent_puts(serve, client_for):
    """--altda.max-concurrent-da-requests: with 2, never more than 2 puts reach the server at once."""
    live, peak = 0, 0

    async def slow(_r: web.Request) -> web.Response:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.1)
        live -= 1
        return web.Response()

    p = poster(client_for(await serve(slow)), max_concurrent=2)
    results: list[DAResult] = []
    submitted = 0
    while submitted < 6:
        if p.has_slot():
            submitted += 1
            p.submit(tx_data(submitted), results.append)
        else:
            await asyncio.sleep(0.01)
    await p.drain(10)
    assert len(results) == 6 and all(r.commitment is not None for r in results)
    assert peak == 2


async def test_poster_failure_is_reported_for_requeue_and_delays_the_next_put(client_for):
    now = [100.0]
    p = poster(client_for(f"http://127.0.0.1:{free_port()}"), retry_delay=1.0, clock=lambda: now[0])
    (result,) = await collect(p, [tx_data(1)])
    assert result.commitment is None and "ClientConnectorError" in str(result.error)
    assert not p.has_slot()
    now[0] += 1.0
    assert p.has_slot()


async def test_read_back_refuses_a_commitment_the_server_does_not_return(da_server, client_for):
    da_server.drop_data = True
    p = poster(client_for(da_server.url), read_back=True)
    (result,) = await collect(p, [tx_data(1)])
    assert result.commitment is None and "not found" in str(result.error)
    assert p.metrics.read_back_failures._value.get() == 1
    da_server.drop_data = False
    p._retry_at = 0.0
    (result,) = await collect(p, [tx_data(1)])
    assert result.commitment == Commitment.keccak256_of(tx_data(1).calldata)


# ---- the driver's Alt-DA path (driver fakes from test_batcher_driver; the DA server is the stand-in) ----


async def test_the_driver_puts_each_frame_and_queues_only_the_commitment_calldata(da_server, client_for):
    """publish_step hands the frame to the DA server; the candidate the sender gets is 0x01 ++ commitment,
    and what the server stored decodes back to exactly the loaded blocks."""
    from batcher.channels.verify import decode_channel_blocks
    from common.derive.frame import parse_frames
    from tests.test_batcher_driver import GENESIS_TIME, ROLLUP, FakeChain, make_driver, queued

    chain = FakeChain()
    chain.extend(6)
    driver, _, _, _ = make_driver(chain)
    driver.altda = p = poster(client_for(da_server.url))
    await driver.load_step()
    assert await driver.publish_step(force=True) == 1
    assert queued(driver) == []  # nothing goes to L1 before the DA server has the frame
    await p.drain(10)
    driver._on_da_result(driver._inbox.get_nowait())
    [(tx_id, cand)] = queued(driver)
    comm = decode_tx_data(cand.data)
    stored = da_server.store[comm.encode()]
    assert comm == Commitment.keccak256_of(stored)
    frames = parse_frames(stored)
    assert tx_id.channel_id == frames[0].channel_id
    decoded = decode_channel_blocks(frames, ROLLUP, GENESIS_TIME + 100)
    assert [d.timestamp for d in decoded] == [GENESIS_TIME + 2 * n for n in range(1, 7)]


async def test_a_failed_put_requeues_the_frame_and_the_next_put_carries_it_again(client_for):
    from tests.test_batcher_driver import FakeChain, make_driver, queued

    chain = FakeChain()
    chain.extend(4)
    driver, _, _, _ = make_driver(chain)
    driver.altda = p = poster(client_for(f"http://127.0.0.1:{free_port()}"), retry_delay=0.0)
    await driver.load_step()
    assert await driver.publish_step(force=True) == 1
    await p.drain(10)
    first = driver._inbox.get_nowait()
    assert isinstance(first, DAResult) and first.commitment is None
    driver._on_da_result(first)
    assert driver._in_flight == 0 and queued(driver) == []
    assert await driver.publish_step() == 1  # the rewound channel hands out the same frame
    await p.drain(10)
    again = driver._inbox.get_nowait()
    assert (again.tx_id.channel_id, again.tx_id.first_frame) == (
        first.tx_id.channel_id,
        first.tx_id.first_frame,
    )


# ---- service start-up --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--data-availability-type", "blobs"],
            "cannot use data availability type blobs or auto with Alt-DA",
        ),
        (["--max-l1-tx-size-bytes", "200000"], "max frame size 199999 exceeds altDA max input size 130672"),
    ],
)
def test_alt_da_channel_config_startup_checks_use_gos_messages(args, message):
    from batcher.batcher_config import parse_batcher_args
    from batcher.service import BatcherService, SetupError
    from tests.test_batcher_driver import ROLLUP
    from tests.test_batcher_service import base_args

    altda = ["--altda.enabled", "--altda.da-server", "http://127.0.0.1:1"]
    cfg = parse_batcher_args([*base_args("http://127.0.0.1:1"), *altda, *args], {})
    with pytest.raises(SetupError, match=message):
        BatcherService(cfg, lambda _err: None)._channel_manager(ROLLUP)


def test_the_service_builds_the_poster_from_the_altda_flags():
    from batcher.batcher_config import parse_batcher_args
    from batcher.service import BatcherService
    from tests.test_batcher_service import base_args

    flags = ["--altda.enabled", "--altda.da-server", "http://da:3100/", "--altda.da-service",
             "--altda.put-timeout", "3s", "--altda.get-timeout", "2s", "--altda.verify-on-read=false",
             "--altda.max-concurrent-da-requests", "4", "--altda.read-back"]  # fmt: skip
    svc = BatcherService(parse_batcher_args([*base_args("http://127.0.0.1:1"), *flags], {}), lambda _e: None)
    p = svc._altda_poster()
    assert p is not None and p.max_concurrent == 4 and p.read_back
    c = p.client
    assert (c.url, c.generic, c.put_timeout, c.get_timeout, c.verify_on_read) == (
        "http://da:3100",
        True,
        3,
        2,
        False,
    )
    assert (
        BatcherService(parse_batcher_args(base_args("http://x"), {}), lambda _e: None)._altda_poster() is None
    )
