"""The proposer's decision loop: when to propose which output root, and to which contract.

Contract: every ``poll_interval`` (first tick one interval after start, as in Go) the driver asks its
mode for a proposal. L2OutputOracle mode proposes ``nextBlockNumber()`` once the rollup node's finalized
head (safe head with ``allow_non_finalized``) has reached it, anchored to the output response's embedded
``current_l1``. DisputeGameFactory mode creates a game at the finalized/safe head once no game of the
configured type created by this proposer is younger than ``proposal_interval``. Every fetch re-reads the
chain, so a failed or timed-out send is simply retried on a later tick with a fresh L1 anchor; before any
``create`` the factory is asked whether the game already exists, so a create that landed after a timeout
is never duplicated.

Proposals come from the rollup node (output roots: sequence number = L2 block number, extraData = that
number as one word) or, for super-root games (types 4/5, ``--superroot-rpcs``), from a ``SuperSource``
(sequence number = the safe/finalized L2 *timestamp* of the whole dependency set, root claim = the super
root, extraData = its preimage; proposer/super_roots.py). ``propose_now`` (admin ``admin_proposeNow``, an
addition) makes one proposal at once, past the interval timer but through every other check.

The driver only talks to small protocols (``L1Reader``, ``RollupSource``, ``SuperSource``,
``ProposalSender``) so tests can give it fakes; the service wires the real RPC clients and tx manager in.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from common.derive.block_ref import L2BlockRef
from common.derive.sync_status import SyncStatus
from common.rpc.client import within
from common.service.log import get_logger
from proposer import contracts
from proposer.super_roots import SuperProposal, SuperSyncView

log = get_logger("proposer")

ZERO_HASH = b"\x00" * 32
PROPOSAL_SEND_TIMEOUT = 600.0
"""Go bounds each proposal send by a 10-minute context."""


class OutputLike(Protocol):
    """The parts of an ``optimism_outputAtBlock`` response the proposer uses."""

    @property
    def version(self) -> bytes: ...
    @property
    def output_root(self) -> bytes: ...
    @property
    def block_ref(self) -> L2BlockRef: ...
    @property
    def sync_status(self) -> SyncStatus: ...


class L1Reader(Protocol):
    async def call(self, to: bytes, data: bytes) -> bytes:
        """``eth_call`` at latest; a revert raises ``contracts.CallReverted``."""
        ...

    async def block_number(self) -> int: ...


class RollupSource(Protocol):
    async def sync_status(self) -> SyncStatus: ...
    async def output_at_block(self, number: int) -> OutputLike: ...


class SuperSource(Protocol):
    """Super roots for post-interop games (proposer/super_roots.py ``SuperRootSource``)."""

    async def sync_view(self, now: int) -> SuperSyncView: ...
    async def proposal_at(self, timestamp: int) -> SuperProposal: ...


@dataclass(frozen=True, slots=True)
class ProposalTx:
    """What the driver asks the tx manager to send."""

    to: bytes
    data: bytes
    value: int = 0


@dataclass(frozen=True, slots=True)
class SendResult:
    tx_hash: bytes
    status: int
    """Receipt status: 1 success, 0 reverted (Go counts a mined revert as a sent proposal)."""
    block_number: int


class ProposalSender(Protocol):
    @property
    def from_address(self) -> bytes: ...
    async def send(self, tx: ProposalTx) -> SendResult: ...


class Mode(enum.Enum):
    L2OO = "l2oo"
    DGF = "dgf"


class Skip(enum.Enum):
    """Why a tick did not propose; values double as log messages."""

    NOT_ELAPSED = "Proposer submission interval has not elapsed"
    NOT_FINALIZED = "Output is not finalized yet"
    RECENT_GAME = "Duration since last game not past proposal interval"
    GENESIS = "Skipping proposal for genesis block"
    GAME_EXISTS = "Skipping proposal: a game with this root claim already exists"


@dataclass(frozen=True, slots=True)
class Proposal:
    """An output root or super root ready to be proposed."""

    root: bytes
    sequence_num: int
    """L2 block number (output roots) or L2 timestamp (super roots)."""
    extra_data: bytes
    """The game's extraData: the block number as one word, or the super-root preimage."""
    current_l1_hash: bytes
    current_l1_number: int
    head_l1_number: int = 0
    block_ref: L2BlockRef | None = None
    """The proposed L2 block (rollup source only; super roots span several chains)."""


class ProposeNowRefused(Exception):
    """``admin_proposeNow`` found nothing to propose; the message says why."""


@dataclass(frozen=True, slots=True)
class DriverConfig:
    mode: Mode
    contract: bytes
    """L2OutputOracle or DisputeGameFactory address."""
    poll_interval: float = 12.0
    network_timeout: float = 10.0
    allow_non_finalized: bool = False
    proposal_interval: float = 0.0
    game_type: int = 0


class DriverHooks(Protocol):
    """Metric sinks the service provides (no-ops in tests)."""

    def proposed(self, proposal: Proposal, result: SendResult) -> None: ...
    def skipped(self, reason: Skip) -> None: ...
    def observed(self, status: SyncStatus) -> None: ...


class NoHooks:
    def proposed(self, proposal: Proposal, result: SendResult) -> None:
        pass

    def skipped(self, reason: Skip) -> None:
        pass

    def observed(self, status: SyncStatus) -> None:
        pass


class ProposerDriver:
    """Owns the proposal loop; start/stop may be called repeatedly (unlike Go, restart works)."""

    def __init__(
        self,
        cfg: DriverConfig,
        l1: L1Reader,
        rollup: RollupSource | None,
        sender: ProposalSender,
        hooks: DriverHooks | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        super_source: SuperSource | None = None,
    ) -> None:
        if (rollup is None) == (super_source is None):
            raise ValueError("exactly one proposal source (rollup node or super-root RPCs) is needed")
        self.cfg = cfg
        self.l1 = l1
        self._rollup = rollup
        self.super_source = super_source
        self.sender = sender
        self.hooks = hooks or NoHooks()
        self.clock = clock
        self.sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._busy = asyncio.Lock()
        """Held while a proposal is fetched and sent, so a tick and ``propose_now`` never race."""

    @property
    def rollup(self) -> RollupSource:
        if self._rollup is None:
            raise RuntimeError("this proposer reads super roots, not a rollup node")
        return self._rollup

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            raise RuntimeError("proposer is already running")
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="proposer-loop")

    async def stop(self) -> None:
        if not self.running or self._task is None:
            raise RuntimeError("proposer is not running")
        self._stopping.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        # A ticker, as in Go: ticks missed during a long send collapse into one immediate re-evaluation,
        # then the normal cadence resumes.
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while not self._stopping.is_set():
            deadline += self.cfg.poll_interval
            await self.sleep(max(0.0, deadline - loop.time()))
            await self.tick()
            deadline = max(deadline, loop.time() - self.cfg.poll_interval)

    async def tick(self) -> SendResult | Skip | None:
        """One evaluation: fetch, decide, maybe send. Errors are logged and retried next tick."""
        async with self._busy:
            return await self._tick()

    async def _tick(self) -> SendResult | Skip | None:
        try:
            found = await (self.fetch_l2oo() if self.cfg.mode is Mode.L2OO else self.fetch_dgf())
        except Exception as exc:  # any RPC or contract failure: the next tick re-derives everything
            log.warn("Error getting proposal", err=str(exc))
            return None
        if isinstance(found, Skip):
            log.debug(found.value)
            self.hooks.skipped(found)
            return found
        try:
            return await asyncio.wait_for(self.propose(found), PROPOSAL_SEND_TIMEOUT)
        except Exception as exc:
            log.error(
                "Failed to send proposal transaction",
                err=str(exc),
                l1blocknum=found.current_l1_number,
                l1blockhash="0x" + found.current_l1_hash.hex(),
            )
            return None

    async def propose_now(self) -> tuple[Proposal, SendResult]:
        """One proposal now (``admin_proposeNow``): the interval timer is skipped, nothing else is.

        DGF: the current safe/finalized head (output root or super root), refused at genesis or when the
        factory already has that game (so a repeated call with nothing new never duplicates); the bond is
        read as for any proposal, and the new game restarts the interval (it is keyed to our newest game).
        L2OO: only ``nextBlockNumber()`` can be proposed, so the call is refused until the head reaches it.
        Errors: ``ProposeNowRefused`` with the reason, or the fetch/send failure itself.
        """
        if self._busy.locked():
            raise ProposeNowRefused("not proposing: a proposal is already being prepared or sent")
        async with self._busy:
            found = await (self.fetch_l2oo() if self.cfg.mode is Mode.L2OO else self.fetch_dgf(now=True))
            if isinstance(found, Skip):
                raise ProposeNowRefused(f"not proposing: {found.value}")
            log.info("Proposing now on admin request", sequenceNum=found.sequence_num)
            result = await asyncio.wait_for(self.propose(found), PROPOSAL_SEND_TIMEOUT)
            return found, result

    # --- L2OutputOracle -------------------------------------------------------------------------------

    async def fetch_l2oo(self) -> Proposal | Skip:
        nxt = contracts.decode_uint(await self._call(contracts.next_block_number_calldata()))
        status = await self.rollup.sync_status()
        self.hooks.observed(status)
        current = status.safe_l2.number if self.cfg.allow_non_finalized else status.finalized_l2.number
        if current < nxt:
            return Skip.NOT_ELAPSED
        output = await self._checked_output(nxt)
        embedded = output.sync_status
        n = output.block_ref.number
        if n > embedded.finalized_l2.number and (
            not self.cfg.allow_non_finalized or n > embedded.safe_l2.number
        ):
            return Skip.NOT_FINALIZED
        return Proposal(
            root=output.output_root,
            sequence_num=n,
            extra_data=contracts.output_extra_data(n),
            current_l1_hash=embedded.current_l1.hash,
            current_l1_number=embedded.current_l1.number,
            head_l1_number=embedded.head_l1.number,
            block_ref=output.block_ref,
        )

    # --- DisputeGameFactory ---------------------------------------------------------------------------

    async def fetch_dgf(self, *, now: bool = False) -> Proposal | Skip:
        """The proposal due at this tick; ``now`` (admin propose-now) skips only the interval check."""
        if not now and await self.has_proposed_since(self.clock() - self.cfg.proposal_interval):
            return Skip.RECENT_GAME
        proposal = await (self._current_super() if self.super_source else self._current_output())
        if isinstance(proposal, Skip):
            return proposal
        if await self.game_exists(proposal):
            return Skip.GAME_EXISTS
        if not now:
            log.info("No proposals found for at least proposal interval, submitting proposal now")
        return proposal

    async def _current_output(self) -> Proposal | Skip:
        """The output root at the rollup node's finalized (or safe) head."""
        status = await self.rollup.sync_status()
        self.hooks.observed(status)
        current = status.safe_l2.number if self.cfg.allow_non_finalized else status.finalized_l2.number
        if current == 0:
            return Skip.GENESIS
        output = await self._checked_output(current)
        return Proposal(
            root=output.output_root,
            sequence_num=current,
            extra_data=contracts.output_extra_data(current),
            current_l1_hash=output.sync_status.current_l1.hash,
            current_l1_number=output.sync_status.current_l1.number,
            head_l1_number=output.sync_status.head_l1.number,
            block_ref=output.block_ref,
        )

    async def _current_super(self) -> Proposal | Skip:
        """The super root at the dependency set's finalized (or safe) timestamp, asked about ``now``."""
        assert self.super_source is not None
        view = await self.super_source.sync_view(int(self.clock()))
        current = view.safe_timestamp if self.cfg.allow_non_finalized else view.finalized_timestamp
        if current == 0:
            return Skip.GENESIS
        found = await self.super_source.proposal_at(current)
        return Proposal(
            root=found.root,
            sequence_num=found.timestamp,
            extra_data=found.extra_data,
            current_l1_hash=found.current_l1.hash,
            current_l1_number=found.current_l1.number,
        )

    async def has_proposed_since(self, cutoff: float) -> bool:
        """Newest-first scan of the factory for a game of our type created by us at or after ``cutoff``."""
        count = contracts.decode_uint(await self._call(contracts.game_count_calldata()))
        me = self.sender.from_address
        for index in range(count - 1, -1, -1):
            game = contracts.decode_game_at_index(await self._call(contracts.game_at_index_calldata(index)))
            if game.timestamp < cutoff:
                return False
            if game.game_type != self.cfg.game_type:
                continue
            if await self._game_creator(game.proxy) == me:
                return True
        return False

    async def _game_creator(self, proxy: bytes) -> bytes:
        try:
            return contracts.decode_address(await self._call(contracts.game_creator_calldata(), proxy))
        except contracts.CallReverted:  # games predating gameCreator(): the root claimant is the creator
            claimant, _ = contracts.decode_claim_data_claimant(
                await self._call(contracts.claim_data_calldata(0), proxy)
            )
            return claimant

    async def game_exists(self, proposal: Proposal) -> bool:
        proxy, _ = contracts.decode_games(
            await self._call(contracts.games_calldata(self.cfg.game_type, proposal.root, proposal.extra_data))
        )
        return proxy != b"\x00" * 20

    # --- sending ------------------------------------------------------------------------------------------

    async def propose(self, proposal: Proposal) -> SendResult:
        if self.cfg.mode is Mode.L2OO:
            await self.wait_for_l1_head(proposal.head_l1_number + 1)
            tx = ProposalTx(
                self.cfg.contract,
                contracts.propose_l2_output_calldata(
                    proposal.root,
                    proposal.sequence_num,
                    proposal.current_l1_hash,
                    proposal.current_l1_number,
                ),
            )
        else:
            bond = contracts.decode_uint(await self._call(contracts.init_bonds_calldata(self.cfg.game_type)))
            tx = ProposalTx(
                self.cfg.contract,
                contracts.create_calldata(self.cfg.game_type, proposal.root, proposal.extra_data),
                bond,
            )
        log.info(
            "Proposing output root",
            output="0x" + proposal.root.hex(),
            sequenceNum=proposal.sequence_num,
            extraData="0x" + proposal.extra_data.hex(),
        )
        result = await self.sender.send(tx)
        fields = {
            "tx_hash": "0x" + result.tx_hash.hex(),
            "l1blocknum": proposal.current_l1_number,
            "l1blockhash": "0x" + proposal.current_l1_hash.hex(),
        }
        if result.status == 1:
            log.info("Proposer tx successfully published", **fields)
        else:
            log.error("Proposer tx successfully published but reverted", **fields)
        self.hooks.proposed(proposal, result)
        return result

    async def wait_for_l1_head(self, target: int) -> None:
        """Go waits until the L1 head is past ``target`` so ``blockhash(l1BlockNumber)`` is visible."""
        while await self.l1.block_number() <= target:
            if self._stopping.is_set():
                raise asyncio.CancelledError
            await self.sleep(self.cfg.poll_interval)

    async def _checked_output(self, number: int) -> OutputLike:
        output = await self.rollup.output_at_block(number)
        if output.version != ZERO_HASH:
            raise ValueError(f"unsupported l2 output version: 0x{output.version.hex()}")
        if output.block_ref.number != number:
            raise ValueError(f"output block number {output.block_ref.number} mismatches requested {number}")
        return output

    async def _call(self, data: bytes, to: bytes | None = None) -> bytes:
        """An eth_call to our contract (or ``to``), bounded by the network timeout like each Go call."""
        target = self.cfg.contract if to is None else to
        return await within(self.l1.call(target, data), self.cfg.network_timeout, self.l1, "eth_call")
