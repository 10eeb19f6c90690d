"""Super-root proposal source (``--superroot-rpcs``): what op-proposer proposes for game types 4 and 5.

Mirrors upstream ``SuperRootProposalSource`` (op-proposer/proposer/source/source_superroot.go):

* sync view: ``superroot_atTimestamp(now)`` on every client in parallel; the answer with the highest
  ``current_l1`` wins (a lagging node must not hold back fail-over), failed clients are only logged (WARN
  ``Failed to retrieve sync status from supernode``); the sequence numbers are the answer's
  ``safe_timestamp`` / ``finalized_timestamp``. No client answering is an error.
* proposal at timestamp ``ts``: the clients in order; the first answer with ``data`` holding a version-1
  ``super`` is used: root claim = ``data.super_root``, extraData = the super-root preimage, L1 anchor =
  ``current_l1``. A client without data (its chains have not derived ``ts``) or with another version is
  skipped with a WARN; none left is ``no available proposal sources: …``.

The served root is checked against keccak256 of the served preimage, so a proposal whose extraData does not
hash to its root claim (which a super game rejects at creation) is never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common.derive.block_ref import BlockID
from common.rpc.superroot import SuperRootAtTimestamp
from common.service.log import get_logger

log = get_logger("proposer")


class SuperRootRpc(Protocol):
    async def at_timestamp(self, timestamp: int) -> SuperRootAtTimestamp: ...


@dataclass(frozen=True, slots=True)
class SuperSyncView:
    """How far the super-root servers have derived: the L1 block and the safe/finalized timestamps."""

    current_l1: BlockID
    safe_timestamp: int
    finalized_timestamp: int


@dataclass(frozen=True, slots=True)
class SuperProposal:
    """A super root ready to be proposed."""

    root: bytes
    timestamp: int
    extra_data: bytes
    """The super-root preimage (``SuperV1.marshal``): what the game hashes to check the root claim."""
    current_l1: BlockID


class NoSuperRootSource(Exception):
    """No super-root RPC could answer; the message joins every client's failure."""


class SuperRootSource:
    """Fail-over over several super-root RPCs, in the order given on the command line."""

    def __init__(self, clients: Sequence[SuperRootRpc]) -> None:
        if not clients:
            raise ValueError("no super root clients provided")
        self.clients = tuple(clients)

    async def sync_view(self, now: int) -> SuperSyncView:
        answers = await asyncio.gather(*(c.at_timestamp(now) for c in self.clients), return_exceptions=True)
        best: SuperRootAtTimestamp | None = None
        errors: list[str] = []
        for idx, answer in enumerate(answers):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                log.warn("Failed to retrieve sync status from supernode", idx=idx, err=str(answer))
                errors.append(str(answer))
                continue
            if best is None or answer.current_l1.number > best.current_l1.number:
                best = answer
        if best is None:
            raise NoSuperRootSource("no available sync status sources: " + "; ".join(errors))
        return SuperSyncView(best.current_l1, best.safe_timestamp, best.finalized_timestamp)

    async def proposal_at(self, timestamp: int) -> SuperProposal:
        errors: list[str] = []
        for idx, client in enumerate(self.clients):
            try:
                answer = await client.at_timestamp(timestamp)
            except Exception as exc:
                log.warn("Failed to retrieve proposal from supernode", idx=idx, err=str(exc))
                errors.append(str(exc))
                continue
            problem = _unusable(answer, timestamp)
            if problem:
                log.warn(
                    "Supernode response has no usable super root", idx=idx, timestamp=timestamp, why=problem
                )
                errors.append(f"{problem} from supernode idx {idx}")
                continue
            assert answer.data is not None and answer.data.super is not None
            return SuperProposal(
                answer.data.super_root, timestamp, answer.data.super.marshal(), answer.current_l1
            )
        raise NoSuperRootSource("no available proposal sources: " + "; ".join(errors))


def _unusable(answer: SuperRootAtTimestamp, timestamp: int) -> str:
    """Why an answer cannot be proposed ('' when it can)."""
    data = answer.data
    if data is None:
        return f"super root RPC response has no super root data: timestamp {timestamp}"
    if data.super is None:
        return "super root data missing super value"
    if data.super.version != 1:
        return f"unsupported super root version {data.super.version}"
    if data.super.timestamp != timestamp:
        return f"super root is for timestamp {data.super.timestamp}, not {timestamp}"
    if data.super.root() != data.super_root:
        return "super_root is not keccak256 of the served super preimage"
    return ""
