"""Which rollup node (and paired L2 execution client) to talk to when several sequencers are configured.

``--rollup-rpc`` and ``--l2-eth-rpc`` may be comma-separated lists of equal length; entry *i* of one is
paired with entry *i* of the other. With one pair the provider is static and never calls
``admin_sequencerActive``. With several, before handing out a client the provider re-checks, at most once per
``check_duration``, that the current rollup node is the active sequencer; if not it walks the list in ring
order from the current index and keeps the first node that answers ``true`` (op-service/dial
active_rollup_provider.go; the log messages are Go's). If none does, the call fails with "failed to find an
active sequencer, tried following urls: [...]" and the caller retries on its next tick.

Clients are created lazily (no network until the first call), so "dialing" is cheap; the previous client is
closed when the provider switches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from common.rpc.errors import NoActiveSequencerError, RpcError, redact_url
from common.rpc.eth import EthClient
from common.rpc.rollup import RollupClient
from common.rpc.urls import split_urls as split_urls
from common.service.log import get_logger

log = get_logger(__name__)

DEFAULT_CHECK_DURATION = 2 * 30.0
"""Seconds (``DefaultActiveSequencerFollowerCheckDuration`` = 2 × the 30 s dial timeout)."""


class L2Provider(Protocol):
    """Hands out the rollup and L2 execution clients to use right now."""

    async def rollup_client(self) -> RollupClient: ...

    async def eth_client(self) -> EthClient: ...

    async def close(self) -> None: ...


RollupFactory = Callable[[str], RollupClient]
EthFactory = Callable[[str], EthClient]


class StaticL2Provider:
    """One rollup node and one L2 execution client; no sequencer checks."""

    def __init__(self, rollup: RollupClient, eth: EthClient | None) -> None:
        self._rollup = rollup
        self._eth = eth

    async def rollup_client(self) -> RollupClient:
        return self._rollup

    async def eth_client(self) -> EthClient:
        if self._eth is None:
            raise RuntimeError("no L2 execution client configured for this provider")
        return self._eth

    async def close(self) -> None:
        await self._rollup.close()
        if self._eth is not None:
            await self._eth.close()


class ActiveL2Provider:
    """Fails over between paired rollup/L2 endpoints, following ``admin_sequencerActive``."""

    def __init__(
        self,
        rollup_urls: Sequence[str],
        eth_urls: Sequence[str] | None,
        *,
        check_duration: float,
        network_timeout: float,
        rollup_factory: RollupFactory,
        eth_factory: EthFactory | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rollup_urls:
            raise ValueError("empty rollup urls list, expected at least one URL")
        if eth_urls is not None and len(eth_urls) != len(rollup_urls):
            raise ValueError(
                f"number of eth urls ({len(eth_urls)}) and rollup urls ({len(rollup_urls)}) mismatch"
            )
        self._rollup_urls = list(rollup_urls)
        self._eth_urls = None if eth_urls is None else list(eth_urls)
        self._check_duration = check_duration
        self._network_timeout = network_timeout
        self._rollup_factory = rollup_factory
        self._eth_factory = eth_factory
        self._clock = clock
        self._index = 0
        self._rollup: RollupClient | None = None
        self._eth: EthClient | None = None
        self._eth_index = -1
        self._next_check = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def index(self) -> int:
        """Index of the endpoint pair in use."""
        return self._index

    async def rollup_client(self) -> RollupClient:
        await self._ensure_active()
        assert self._rollup is not None
        return self._rollup

    async def eth_client(self) -> EthClient:
        """The L2 execution client paired with the active rollup node (re-created when it changes)."""
        await self._ensure_active()
        if self._eth_urls is None or self._eth_factory is None:
            raise RuntimeError("no L2 execution client configured for this provider")
        if self._eth is None or self._eth_index != self._index:
            url = self._eth_urls[self._index]
            if self._eth is not None:
                log.info(
                    "sequencer changed, dialing new eth client",
                    new_index=self._index,
                    new_url=redact_url(url),
                )
                await self._eth.close()
            self._eth = self._eth_factory(url)
            self._eth_index = self._index
        return self._eth

    async def close(self) -> None:
        if self._rollup is not None:
            await self._rollup.close()
        if self._eth is not None:
            await self._eth.close()

    async def _ensure_active(self) -> None:
        # One walk at a time: a second concurrent walk would re-dial and close the client the first is using.
        async with self._lock:
            if self._clock() <= self._next_check and self._rollup is not None:
                return
            await self._find_active()
            self._next_check = self._clock() + self._check_duration

    async def _find_active(self) -> None:
        start = self._index
        errors: list[str] = []
        count = len(self._rollup_urls)
        for offset in range(count):
            index = (start + offset) % count
            url = redact_url(self._rollup_urls[index])
            if offset != 0 or self._rollup is None:
                await self._dial(index)
            assert self._rollup is not None
            try:
                active = await self._rollup.sequencer_active(timeout=self._network_timeout)
            except RpcError as err:
                errors.append(str(err))
                log.warn(
                    "Error querying active sequencer, trying next.",
                    err=str(err),
                    index=index,
                    url=url,
                )
                continue
            if active:
                if offset == 0:
                    log.debug("Current sequencer active.", index=index, url=url)
                else:
                    log.info("Found new active sequencer.", index=index, url=url)
                return
            log.info("Sequencer inactive, trying next.", index=index, url=url)
        raise NoActiveSequencerError([redact_url(u) for u in self._rollup_urls], errors)

    async def _dial(self, index: int) -> None:
        url = self._rollup_urls[index]
        log.info("Dialing next sequencer.", index=index, url=redact_url(url))
        client = self._rollup_factory(url)
        if self._rollup is not None:
            await self._rollup.close()
        self._rollup = client
        self._index = index


async def new_l2_provider(
    rollup_urls: str | Sequence[str],
    eth_urls: str | Sequence[str] | None,
    *,
    check_duration: float = DEFAULT_CHECK_DURATION,
    network_timeout: float = 10.0,
    rollup_factory: RollupFactory | None = None,
    eth_factory: EthFactory | None = None,
) -> StaticL2Provider | ActiveL2Provider:
    """Build the provider for ``--rollup-rpc`` / ``--l2-eth-rpc`` (``eth_urls`` None for the proposer).

    With several endpoints the first active sequencer is looked up here, as Go does at start-up, so a
    misconfiguration fails fast (``NoActiveSequencerError``).
    """
    rollups = split_urls(rollup_urls)
    eths = None if eth_urls is None else split_urls(eth_urls)
    if not rollups:
        raise ValueError("empty rollup urls list, expected at least one URL")
    if eths is not None and len(eths) != len(rollups):
        raise ValueError(f"number of eth urls ({len(eths)}) and rollup urls ({len(rollups)}) mismatch")
    make_rollup = rollup_factory or (lambda url: RollupClient(url, timeout=network_timeout))
    make_eth = eth_factory or (lambda url: EthClient(url, timeout=network_timeout))
    if len(rollups) == 1:
        return StaticL2Provider(make_rollup(rollups[0]), None if eths is None else make_eth(eths[0]))
    provider = ActiveL2Provider(
        rollups,
        eths,
        check_duration=check_duration,
        network_timeout=network_timeout,
        rollup_factory=make_rollup,
        eth_factory=make_eth,
    )
    try:
        await provider.rollup_client()
    except NoActiveSequencerError:
        await provider.close()
        raise
    return provider
