"""Super-root proposals (game types 4/5, ``--superroot-rpcs``) and ``admin_proposeNow``.

Wire level: the SuperV1 preimage and the ``superroot_atTimestamp`` JSON as Go writes them. End to end: our
op-proposer console entry point as a child process with an interop chain's command line (no
``--rollup-rpc``) against the real DisputeGameFactory on an anvil L1; super roots are recomputed here from
the L2 chain. Stand-ins (each says so): op-node cannot run here, so the devnet's rollup-node stand-in serves
``superroot_atTimestamp`` as op-node does for one chain; contracts-bedrock 0.17.3 (the newest npm release)
has no super games, so types 4/5 are backed by devnet/SuperRootGame.sol, which enforces the newest super
games' creation rules (extraData = preimage hashing to the root claim, timestamp past the anchor,
permissioned proposer).
"""

from __future__ import annotations

import time

import pytest
from Crypto.Hash import keccak
from hypothesis import given
from hypothesis import strategies as st

from common.derive.super_root import ChainOutput, InvalidSuperRoot, SuperV1
from common.rpc.superroot import SuperRootAtTimestamp
from devnet import cli
from devnet.anvil import free_port, rpc_call
from devnet.contracts import Abi, eth_call
from devnet.network import Devnet
from tests.test_proposer_e2e import keep_safe, recomputed_output_root, wait_serving

TIMEOUT = 90.0


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


# ---- wire format (pure) ------------------------------------------------------------------------------


def test_super_v1_preimage_layout_sorting_and_round_trip():
    """version 1 ‖ uint64 ts ‖ (uint256 chainId ‖ root)* sorted by chain id; root = keccak(preimage)."""
    a, b = ChainOutput(902, b"\xa2" * 32), ChainOutput(901, b"\xa1" * 32)
    sup = SuperV1.of(1_700_000_030, [a, b])
    raw = sup.marshal()
    assert raw == (
        b"\x01"
        + (1_700_000_030).to_bytes(8, "big")
        + (901).to_bytes(32, "big")
        + b"\xa1" * 32
        + (902).to_bytes(32, "big")
        + b"\xa2" * 32
    )
    assert sup.root() == _keccak(raw)
    assert SuperV1.unmarshal(raw) == sup
    assert SuperV1.from_json(sup.to_json()) == sup
    for bad, why in (
        (b"", "empty"),
        (b"\x02" + raw[1:], "version 2"),
        (raw[:-1], "136 bytes is not"),
        (raw[:9], "9 bytes is not"),
    ):
        with pytest.raises(InvalidSuperRoot, match=why):
            SuperV1.unmarshal(bad)


@given(
    st.integers(0, (1 << 64) - 1),
    st.lists(
        st.tuples(st.integers(0, (1 << 256) - 1), st.binary(min_size=32, max_size=32)), min_size=1, max_size=5
    ),
)
def test_super_v1_round_trips_through_bytes_and_json(timestamp, pairs):
    """Any timestamp and chain set: unmarshal(marshal) and from_json(to_json) give the same super root."""
    sup = SuperV1.of(timestamp, [ChainOutput(cid, root) for cid, root in pairs])
    assert [c.chain_id for c in sup.chains] == sorted(c.chain_id for c in sup.chains)
    assert len(sup.marshal()) == 9 + 64 * len(pairs)
    assert SuperV1.unmarshal(sup.marshal()) == sup == SuperV1.from_json(sup.to_json())
    assert sup.root() == _keccak(sup.marshal())


def test_superroot_at_timestamp_json_in_go_shape_parses_and_bad_fields_are_named():
    """Go's JSON (numbers as numbers, chain ids as decimal strings, data optional) parses; errors name
    the field."""
    sup = SuperV1.of(1000, [ChainOutput(901, b"\x11" * 32)])
    obj = {
        "current_l1": {"hash": "0x" + "22" * 32, "number": 896},
        "safe_timestamp": 990,
        "local_safe_timestamp": 995,
        "finalized_timestamp": 900,
        "optimistic_at_timestamp": {},
        "chain_ids": ["901"],
        "data": {
            "verified_required_l1": {"hash": "0x" + "33" * 32, "number": 890},
            "super": {"timestamp": "0x3e8", "chains": [{"ChainID": "901", "Output": "0x" + "11" * 32}]},
            "super_root": "0x" + sup.root().hex(),
        },
    }
    parsed = SuperRootAtTimestamp.from_json(obj)
    assert (parsed.current_l1.number, parsed.safe_timestamp, parsed.finalized_timestamp) == (896, 990, 900)
    assert parsed.chain_ids == (901,) and parsed.data is not None and parsed.data.super == sup
    assert SuperRootAtTimestamp.from_json({**obj, "data": None}).data is None
    obj["data"]["super"]["chains"][0]["Output"] = "0x11"
    with pytest.raises(ValueError, match=r"data\.super\.chains\[0\]\.Output"):
        SuperRootAtTimestamp.from_json(obj)


# ---- the devnet's super-root RPC and our proposer ---------------------------------------------------------


def expected_preimage(dn: Devnet, timestamp: int) -> bytes:
    """The preimage recomputed from the L2 chain: the last block at ``timestamp`` and its output root."""
    genesis = dn.info()["genesis"]
    number = (timestamp - genesis["l2_time"]) // dn.info()["block_time"] + genesis["l2"]["number"]
    chain_id = dn.info()["l2_chain_id"]
    root = recomputed_output_root(dn, number)
    return b"\x01" + timestamp.to_bytes(8, "big") + chain_id.to_bytes(32, "big") + root


def super_games(dn: Devnet) -> list[tuple[int, bytes, bytes, int]]:
    """(type, root claim, extraData, l2SequenceNumber) of every super game, oldest first."""
    dgf = dn.info()["dgf_address"]
    (count,) = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameCount")
    out = []
    for i in range(count):
        typ, _ts, proxy = eth_call(dn.l1_url, dgf, Abi("DisputeGameFactory"), "gameAtIndex", i)
        if typ not in (4, 5):
            continue
        (root,) = eth_call(dn.l1_url, proxy, Abi("SuperRootGame"), "rootClaim")
        (extra,) = eth_call(dn.l1_url, proxy, Abi("SuperRootGame"), "extraData")
        (seq,) = eth_call(dn.l1_url, proxy, Abi("SuperRootGame"), "l2SequenceNumber")
        out.append((int(typ), bytes(root), bytes(extra), int(seq)))
    return out


def super_args(dn: Devnet, game_type: int) -> tuple[list[str], int]:
    """An interop chain's proposer command line: --superroot-rpcs instead of --rollup-rpc. The first
    super-root URL is a closed port, so every proposal also exercises the fail-over to the next one."""
    rpc_port = free_port()
    args = cli.proposer_args(dn, rpc_port, free_port())  # `op-devnet up --proposer super`'s command line
    assert "--rollup-rpc" not in args and args[args.index("--superroot-rpcs") + 1] == dn.rollup_url
    assert args[args.index("--game-type") + 1] == "5"
    args[args.index("--superroot-rpcs") + 1] = f"http://127.0.0.1:{free_port()},{dn.rollup_url}"
    args[args.index("--game-type") + 1] = str(game_type)
    return args, rpc_port


def rejected_by_the_game(dn: Devnet, game_type: int, root: bytes, extra: bytes) -> bool:
    """Whether ``create`` reverts (eth_call from the proposer, with the type's bond)."""
    info = dn.info()
    (bond,) = eth_call(dn.l1_url, info["dgf_address"], Abi("DisputeGameFactory"), "initBonds", game_type)
    call = {
        "from": info["proposer_address"],
        "to": info["dgf_address"],
        "value": hex(bond),
        "data": "0x" + Abi("DisputeGameFactory").encode_call("create", game_type, root, extra).hex(),
    }
    try:
        rpc_call(dn.l1_url, "eth_call", [call, "latest"])
    except RuntimeError:
        return True
    return False


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("game_type", [4, 5])
def test_interop_command_line_creates_super_root_games_with_preimage_extra_data(
    make_devnet, tmp_path, game_type
):
    """Game type 4 (bond) or 5 (permissioned, no bond) from --superroot-rpcs alone: games land with root =
    recomputed super root and extraData = its preimage; the stand-in RPC answers without data for a
    timestamp not yet safe, and the game rejects the 32-byte timestamp extraData and a wrong root."""
    dn = make_devnet(proposer="super")
    keep_safe(dn, 4)
    head = rpc_call(dn.l2_url, "eth_getBlockByNumber", ["latest", False])
    future = int(head["timestamp"], 16) + 3600
    ahead = rpc_call(dn.rollup_url, "superroot_atTimestamp", [hex(future)])
    assert "data" not in ahead and ahead["chain_ids"] == [str(dn.info()["l2_chain_id"])]
    args, _ = super_args(dn, game_type)
    args[args.index("--proposal-interval") + 1] = "1s"
    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and len(super_games(dn)) < 2:
            assert svc.alive(), svc.tail()
            keep_safe(dn)
            time.sleep(0.5)
    finally:
        svc.stop()
    found = super_games(dn)
    assert len(found) >= 2, svc.tail(60)
    for typ, root, extra, seq in found:
        assert typ == game_type
        assert extra == expected_preimage(dn, seq)
        assert root == _keccak(extra)
    assert len({seq for *_, seq in found}) == len(found)
    assert cli.last_proposal(dn)[1].startswith(f"{len(found)} super-root games")
    log = svc.tail(400)
    assert "reverted" not in log
    assert "Failed to retrieve sync status from supernode" in log  # the dead first URL was tried
    seq = found[-1][3] + 1
    preimage = expected_preimage(dn, seq)
    assert not rejected_by_the_game(dn, game_type, _keccak(preimage), preimage)
    assert rejected_by_the_game(dn, game_type, _keccak(preimage[:9]), seq.to_bytes(32, "big"))
    assert rejected_by_the_game(dn, game_type, b"\x42" * 32, preimage)


@pytest.mark.integration
@pytest.mark.e2e
def test_propose_now_makes_one_proposal_and_refuses_a_duplicate(make_devnet, tmp_path):
    """admin_proposeNow with the loop stopped and a 1 h interval: one game at the safe head; again with
    nothing new: refused, no second game; after the safe head moves: one more game, interval or not."""
    dn = make_devnet(proposer="dgf")
    keep_safe(dn, 4)
    rpc_port = free_port()
    args = cli.proposer_args(dn, rpc_port, free_port())
    args[args.index("--proposal-interval") + 1] = "1h"
    args[args.index("--poll-interval") + 1] = "30s"
    args += ["--rpc.enable-admin", "--allow-non-finalized"]
    svc = cli.start_service("proposer", "proposer.cli", args, tmp_path)
    url = f"http://127.0.0.1:{rpc_port}"

    def game_count() -> int:
        (count,) = eth_call(dn.l1_url, dn.info()["dgf_address"], Abi("DisputeGameFactory"), "gameCount")
        return int(count)

    try:
        wait_serving(svc)
        rpc_call(url, "admin_stopProposer")
        assert game_count() == 0
        first = rpc_call(url, "admin_proposeNow", timeout=60)
        assert isinstance(first, dict) and first["status"] == "success", first
        safe = rpc_call(dn.rollup_url, "optimism_syncStatus")["safe_l2"]["number"]
        assert first["l2BlockNumber"] == first["sequenceNumber"] == safe
        assert bytes.fromhex(first["root"][2:]) == recomputed_output_root(dn, safe)
        assert game_count() == 1
        with pytest.raises(Exception, match=r"not proposing: .*already exists"):
            rpc_call(url, "admin_proposeNow", timeout=60)
        assert game_count() == 1
        keep_safe(dn, 2)
        second = rpc_call(url, "admin_proposeNow", timeout=60)
        assert second["l2BlockNumber"] > first["l2BlockNumber"], second
        assert game_count() == 2
    finally:
        svc.stop()


# ---- driver and source logic (fakes for the RPC and the chain, as tests/test_proposer_driver.py) ---------


class FakeSuperRpc:
    """A super-root RPC answering from a fixed view; ``fail`` makes every call raise."""

    def __init__(
        self, current_l1: int, safe: int, finalized: int, *, fail: bool = False, bad_root: bool = False
    ):
        self.current_l1, self.safe, self.finalized = current_l1, safe, finalized
        self.fail, self.bad_root = fail, bad_root
        self.asked: list[int] = []

    async def at_timestamp(self, timestamp: int) -> SuperRootAtTimestamp:
        self.asked.append(timestamp)
        if self.fail:
            raise ConnectionError("connection refused")
        sup = SuperV1.of(timestamp, [ChainOutput(901, timestamp.to_bytes(32, "big"))])
        data = None
        if timestamp <= self.safe:
            root = b"\x42" * 32 if self.bad_root else sup.root()
            data = {"verified_required_l1": {}, "super": sup.to_json(), "super_root": "0x" + root.hex()}
        return SuperRootAtTimestamp.from_json(
            {
                "current_l1": {"hash": "0x" + "01" * 32, "number": self.current_l1},
                "safe_timestamp": self.safe,
                "finalized_timestamp": self.finalized,
                "chain_ids": ["901"],
                "data": data,
            }
        )


async def test_super_source_takes_the_highest_l1_view_and_fails_over_in_order():
    """Sync view: the client with the highest current_l1 wins and a dead one is skipped; proposals: the
    first usable answer in command-line order (dead, then lagging without data, then a good one)."""
    from proposer.super_roots import NoSuperRootSource, SuperRootSource

    dead, lagging, good = (
        FakeSuperRpc(0, 0, 0, fail=True),
        FakeSuperRpc(5, 100, 90),
        FakeSuperRpc(9, 200, 150),
    )
    source = SuperRootSource([dead, lagging, good])
    view = await source.sync_view(1_000)
    assert (view.current_l1.number, view.safe_timestamp, view.finalized_timestamp) == (9, 200, 150)
    found = await source.proposal_at(150)
    assert found.extra_data == SuperV1.of(150, [ChainOutput(901, (150).to_bytes(32, "big"))]).marshal()
    assert lagging.asked[-1] == 150 and good.asked[-1] == 150  # lagging has no data for 150: skipped
    with pytest.raises(NoSuperRootSource, match="no available proposal sources"):
        await SuperRootSource([dead, FakeSuperRpc(9, 200, 150, bad_root=True)]).proposal_at(150)
    with pytest.raises(NoSuperRootSource, match="no available sync status sources"):
        await SuperRootSource([dead]).sync_view(1_000)


async def test_super_driver_proposes_finalized_timestamp_preimage_and_propose_now_resets_interval():
    """DGF over super roots: root = super root at the finalized timestamp, extraData = its preimage; a
    tick inside the interval skips, propose_now does not, and its game restarts the interval; a second
    propose_now with nothing new is refused (the factory already has that game)."""
    from proposer import contracts as c
    from proposer.driver import DriverConfig, Mode, ProposeNowRefused, ProposerDriver, Skip
    from proposer.super_roots import SuperRootSource
    from tests.test_proposer_driver import ME, ORACLE, FakeL1, FakeSender, no_sleep

    l1 = FakeL1(games=[(5, 10_000 - 10, b"\x21" * 20, ME)])

    class Recording(FakeSender):
        async def send(self, tx):  # the new game shows up in the factory, as on chain
            result = await super().send(tx)
            l1.games.append((5, 10_000, b"\x22" * 20, ME))
            root = tx.data[4 + 32 : 4 + 64]
            l1.existing.add((5, root))
            return result

    sender = Recording()
    cfg = DriverConfig(mode=Mode.DGF, contract=ORACLE, proposal_interval=600.0, game_type=5)
    d = ProposerDriver(
        cfg,
        l1,
        None,
        sender,
        clock=lambda: 10_000.0,
        sleep=no_sleep,
        super_source=SuperRootSource([FakeSuperRpc(9, 200, 150)]),
    )
    assert await d.tick() is Skip.RECENT_GAME
    proposal, result = await d.propose_now()
    sup = SuperV1.of(150, [ChainOutput(901, (150).to_bytes(32, "big"))])
    assert (proposal.sequence_num, proposal.root, proposal.extra_data) == (150, sup.root(), sup.marshal())
    assert sender.sent[-1].data == c.create_calldata(5, sup.root(), sup.marshal()) and result.status == 1
    with pytest.raises(ProposeNowRefused, match="already exists"):
        await d.propose_now()
    l1.games = l1.games[1:]  # only the propose-now game is left: it alone keeps the interval running
    assert await d.tick() is Skip.RECENT_GAME
    assert len(sender.sent) == 1


async def test_propose_now_in_l2oo_mode_proposes_only_next_block_number_and_refuses_genesis_in_dgf():
    """L2OO: refused while the head is below nextBlockNumber(), then exactly that block is proposed;
    DGF at genesis: refused, nothing sent."""
    from proposer.driver import Mode, ProposeNowRefused
    from tests.test_proposer_driver import FakeL1, FakeRollup, FakeSender, driver, status

    sender = FakeSender()
    rollup = FakeRollup(status(safe=20, finalized=9))
    d = driver(Mode.L2OO, rollup, FakeL1(next_block=10), sender)
    with pytest.raises(ProposeNowRefused, match="submission interval has not elapsed"):
        await d.propose_now()
    rollup.status = status(safe=20, finalized=12)
    proposal, _ = await d.propose_now()
    assert proposal.sequence_num == 10 and len(sender.sent) == 1
    genesis = driver(Mode.DGF, FakeRollup(status(0, 0)), FakeL1(), sender, proposal_interval=60.0)
    with pytest.raises(ProposeNowRefused, match="genesis"):
        await genesis.propose_now()
    assert len(sender.sent) == 1
