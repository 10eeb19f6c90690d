"""Active-sequencer selection over paired rollup / L2 endpoint lists (op-batcher §4.10, proposer §2.6).

op-node cannot run here, so each "rollup node" is a local aiohttp JSON-RPC server (from
``tests.test_rpc_client``) answering ``admin_sequencerActive`` as the test says. The L2 execution URLs are
never contacted: the tests only check which one the provider hands out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from common.rpc.active import ActiveL2Provider, StaticL2Provider, new_l2_provider, split_urls
from common.rpc.errors import NoActiveSequencerError
from common.rpc.eth import EthClient
from common.rpc.rollup import RollupClient
from tests.test_rpc_client import Fault, JsonRpcServer


class Sequencer:
    """An op-node stand-in whose ``admin_sequencerActive`` answer the test controls."""

    def __init__(self, active: bool | None) -> None:
        self.active = active
        """None answers with a JSON-RPC error (admin API not exposed)."""
        self.checks = 0

    async def __call__(self, method: str, params: Any) -> Any:
        if method != "admin_sequencerActive":
            raise Fault(-32601, "method not found")
        self.checks += 1
        if self.active is None:
            raise Fault(-32601, "the method admin_sequencerActive does not exist/is not available")
        return self.active


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture(loop_scope="function")
async def sequencers() -> AsyncIterator[list[tuple[Sequencer, JsonRpcServer]]]:
    nodes = [Sequencer(False), Sequencer(False), Sequencer(False)]
    servers = [await JsonRpcServer(node).start() for node in nodes]
    yield list(zip(nodes, servers, strict=True))
    for server in servers:
        await server.stop()


def eth_url(i: int) -> str:
    return f"http://127.0.0.1:9/l2-{i}"


def make_provider(servers: list[JsonRpcServer], clock: FakeClock, check: float = 10.0) -> ActiveL2Provider:
    return ActiveL2Provider(
        [s.url for s in servers],
        [eth_url(i) for i in range(len(servers))],
        check_duration=check,
        network_timeout=1.0,
        clock=clock,
        rollup_factory=lambda url: RollupClient(url, timeout=1.0, retries=0),
        eth_factory=lambda url: EthClient(url, timeout=1.0),
    )


async def test_a_single_endpoint_is_static_and_never_asks_the_sequencer(sequencers):
    """One rollup URL gives a static provider: no admin_sequencerActive call is made."""
    node, server = sequencers[0]
    provider = await new_l2_provider(server.url, eth_url(0))
    try:
        assert isinstance(provider, StaticL2Provider)
        assert (await provider.rollup_client()).endpoint == server.url
        assert (await provider.eth_client()).endpoint == eth_url(0)
        assert node.checks == 0
    finally:
        await provider.close()


async def test_the_first_active_sequencer_is_chosen_with_its_paired_l2_client(sequencers, caplog):
    """Inactive nodes are skipped; the paired L2 EL at the same index is handed out."""
    caplog.set_level(logging.DEBUG, logger="op.common.rpc.active")
    sequencers[2][0].active = True
    servers = [s for _, s in sequencers]
    provider = await new_l2_provider(",".join(s.url for s in servers), ",".join(eth_url(i) for i in range(3)))
    try:
        assert isinstance(provider, ActiveL2Provider) and provider.index == 2
        assert (await provider.rollup_client()).endpoint == servers[2].url
        assert (await provider.eth_client()).endpoint == eth_url(2)
    finally:
        await provider.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("Sequencer inactive, trying next.") == 2
    assert "Found new active sequencer." in messages and "Dialing next sequencer." in messages


async def test_checks_happen_at_most_once_per_check_duration(sequencers):
    """Within the check duration the current client is reused without asking again."""
    sequencers[0][0].active = True
    clock = FakeClock()
    provider = make_provider([s for _, s in sequencers], clock, check=10.0)
    try:
        for _ in range(3):
            await provider.rollup_client()
        assert sequencers[0][0].checks == 1
        clock.now += 10.5
        await provider.rollup_client()
        assert sequencers[0][0].checks == 2
    finally:
        await provider.close()


async def test_failover_walks_the_ring_from_the_current_index(sequencers, caplog):
    """When the active node steps down, the next active one in ring order takes over, L2 client too."""
    caplog.set_level(logging.DEBUG, logger="op.common.rpc.active")
    (n0, _), (n1, _), (n2, s2) = sequencers
    n1.active = True
    clock = FakeClock()
    provider = make_provider([s for _, s in sequencers], clock)
    try:
        await provider.rollup_client()
        first_eth = await provider.eth_client()
        assert provider.index == 1 and first_eth.endpoint == eth_url(1)
        n1.active, n0.active = False, True
        n2.active = True  # ring order from index 1 reaches 2 before 0
        clock.now += 60
        assert (await provider.rollup_client()).endpoint == s2.url
        assert (await provider.eth_client()).endpoint == eth_url(2)
        assert n0.checks == 1  # only during the first walk
    finally:
        await provider.close()
    assert "sequencer changed, dialing new eth client" in [r.getMessage() for r in caplog.records]


async def test_errors_are_logged_and_skipped(sequencers, caplog):
    """A node whose admin API fails is warned about and the walk continues to the next one."""
    caplog.set_level(logging.INFO, logger="op.common.rpc.active")
    sequencers[0][0].active = None
    sequencers[1][0].active = True
    provider = make_provider([s for _, s in sequencers], FakeClock())
    try:
        await provider.rollup_client()
        assert provider.index == 1
    finally:
        await provider.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["Error querying active sequencer, trying next."]
    assert "does not exist" in dict(warnings[0].go_fields)["err"]


async def test_no_active_sequencer_fails_with_the_go_message(sequencers):
    """If nobody is active the error lists the URLs tried, as Go's does."""
    servers = [s for _, s in sequencers]
    with pytest.raises(NoActiveSequencerError) as info:
        await new_l2_provider([s.url for s in servers], [eth_url(i) for i in range(3)])
    expected = "failed to find an active sequencer, tried following urls: [" + " ".join(
        s.url for s in servers
    )
    assert str(info.value).startswith(expected + "]")
    assert all(node.checks == 1 for node, _ in sequencers)


async def test_a_provider_recovers_on_a_later_tick(sequencers):
    """After a failed walk the next call walks again (the caller retries on its next tick)."""
    clock = FakeClock()
    provider = make_provider([s for _, s in sequencers], clock)
    try:
        with pytest.raises(NoActiveSequencerError):
            await provider.rollup_client()
        sequencers[1][0].active = True
        assert (await provider.rollup_client()).endpoint == sequencers[1][1].url
    finally:
        await provider.close()


async def test_urls_with_credentials_are_redacted_in_errors(sequencers):
    """Basic-auth passwords and API keys in rollup URLs never appear in the failure message."""
    servers = [s for _, s in sequencers]
    urls = [s.url.replace("http://", "http://op:pa55w0rd@") + "/?token=t0ken" for s in servers]
    with pytest.raises(NoActiveSequencerError) as info:
        await new_l2_provider(urls, None)
    assert "pa55w0rd" not in str(info.value) and "t0ken" not in str(info.value)


async def test_mismatched_lists_are_rejected():
    """Different numbers of rollup and L2 URLs fail with Go's message."""
    with pytest.raises(ValueError, match=r"number of eth urls \(1\) and rollup urls \(2\) mismatch"):
        await new_l2_provider("http://a:1,http://b:2", "http://c:3")
    with pytest.raises(ValueError, match="empty rollup urls list"):
        await new_l2_provider(" , ", None)


def test_split_urls_trims_and_drops_blanks():
    """Comma-separated flag values are split, trimmed and blank entries dropped."""
    assert split_urls(" http://a:1 ,http://b:2,, ") == ["http://a:1", "http://b:2"]
    assert split_urls(["http://a:1", " "]) == ["http://a:1"]
