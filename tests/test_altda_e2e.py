"""End to end: ``op-batcher --altda.enabled`` against a fast-mode devnet with a DA-server stand-in.

The Go DA server (op-alt-da/cmd/daserver) cannot run here (no Go toolchain), so devnet/da_server.py serves
op-alt-da's HTTP protocol (``/put/0x<commitment>``, ``/put``, ``/get/0x<commitment>``) from memory; it is
the only stand-in in these tests. The rollup-node stand-in derives version-1 inbox txs through it: it GETs
each commitment's input (keccak256-verified) and stops at an L1 block whose input it cannot fetch, so the
safe head reaching the unsafe head proves every frame went to the DA server and can be read back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from common.altda.commitment import CommitmentType, decode_tx_data
from devnet.network import Devnet
from devnet.pytest_plugin import start_devnet
from tests.test_batcher_e2e import batcher_txs, derivation_paused, metric, start_batcher, wait_safe_catches_up

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

ALTDA = ("--data-availability-type", "calldata", "--altda.enabled")


@pytest.fixture(scope="module")
def dn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = start_devnet(tmp_path_factory.mktemp("altda-e2e"), altda=True)
    try:
        yield net
    finally:
        net.stop()


def da_args(dn: Devnet, *extra: str) -> tuple[str, ...]:
    assert dn.da_server is not None
    return (*ALTDA, "--altda.da-server", dn.da_server.url, *extra)


def wait_for(cond, timeout: float, what: str, svc) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.alive(), svc.tail(40)
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{svc.tail(40)}")


def test_blocks_derive_through_alt_da_with_keccak_and_generic_commitments(dn, tmp_path):
    """Every inbox tx is calldata 0x01 ++ commitment; the rollup node fetches each input and the safe head
    reaches the unsafe head, first with keccak256 commitments, then with server-made generic ones."""
    assert dn.da_server is not None
    for generic, kind in ((False, CommitmentType.KECCAK256), (True, CommitmentType.GENERIC)):
        first_l1 = dn.l1_head().number + 1
        puts = dn.da_server.server.puts
        extra = ("--altda.da-service",) if generic else ()
        svc = start_batcher(dn, tmp_path, *da_args(dn, *extra), name=f"altda-{kind.name}")
        try:
            dn.produce_l2_blocks(8)
            wait_safe_catches_up(dn, svc)
            assert metric(svc, 'op_batcher_default_altda_requests_total{method="put",result="success"}') > 0
        finally:
            svc.stop()
        assert svc.process.returncode == 0, svc.tail(40)
        txs = batcher_txs(dn, first_l1)
        assert txs
        comms = [decode_tx_data(bytes.fromhex(tx["input"][2:])) for tx in txs]
        assert {c.type for c in comms} == {kind}
        stored = dn.da_server.server.store
        assert all(stored[c.encode()][:1] == b"\x00" for c in comms)  # the input is 0x00 ++ frame
        assert dn.da_server.server.puts - puts >= len(txs)
        assert "Set altda input" in svc.tail(400)


def test_a_da_server_outage_is_ridden_out_without_losing_data(dn, tmp_path):
    """DA server down while blocks arrive: puts fail and are requeued, nothing reaches L1; once it is back
    every block is derived. Then a commitment already on L1 whose input the server cannot serve holds
    the safe head until the server is back."""
    assert dn.da_server is not None and dn.deriver is not None
    svc = start_batcher(dn, tmp_path, *da_args(dn, "--altda.put-timeout", "2s"), name="altda-outage")
    try:
        dn.produce_l2_blocks(2)
        wait_safe_catches_up(dn, svc)
        # 1. put side: the batcher cannot store frames, so it posts nothing and loses nothing
        dn.da_server.set_down(True)
        first_l1 = dn.l1_head().number + 1
        dn.produce_l2_blocks(8)
        wait_for(
            lambda: metric(svc, 'op_batcher_default_altda_requests_total{method="put",result="error"}') >= 2,
            20,
            "failed puts",
            svc,
        )
        assert batcher_txs(dn, first_l1) == []
        assert "Failed to post input to Alt DA" in svc.tail(400)
        dn.da_server.set_down(False)
        wait_safe_catches_up(dn, svc)
        # 2. derivation side: the data is on L1 only as commitments; the node waits for the DA server
        with derivation_paused(dn):  # until the next inputs are posted and the server is down
            stalls = dn.deriver.da_stalls
            first_l1 = dn.l1_head().number + 1
            dn.produce_l2_blocks(4)
            wait_for(lambda: len(batcher_txs(dn, first_l1)) >= 1, 20, "a commitment tx", svc)
            dn.da_server.set_down(True)
        target = dn.sequencer.head.number  # type: ignore[union-attr]
        wait_for(lambda: dn.deriver.da_stalls > stalls, 10, "a derivation stall", svc)
        assert dn.deriver.safe.number < target
        dn.da_server.set_down(False)
        wait_safe_catches_up(dn, svc)
    finally:
        dn.da_server.set_down(False)
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)


def test_read_back_refuses_to_post_a_commitment_the_server_cannot_serve(dn, tmp_path):
    """--altda.read-back with a DA server that acknowledges puts but keeps nothing: no commitment reaches
    L1, the frame is requeued; once the server keeps data again every block is derived."""
    assert dn.da_server is not None
    server = dn.da_server.server
    svc = start_batcher(dn, tmp_path, *da_args(dn, "--altda.read-back"), name="altda-read-back")
    try:
        dn.produce_l2_blocks(2)
        wait_safe_catches_up(dn, svc)
        server.drop_data = True
        first_l1 = dn.l1_head().number + 1
        dn.produce_l2_blocks(6)
        wait_for(
            lambda: metric(svc, "op_batcher_default_altda_read_back_failures_total") >= 2,
            20,
            "read-back failures",
            svc,
        )
        assert batcher_txs(dn, first_l1) == []
        assert "Alt-DA server did not return the input it stored" in svc.tail(400)
        server.drop_data = False
        wait_safe_catches_up(dn, svc)
        assert metric(svc, 'op_batcher_default_altda_requests_total{method="get",result="success"}') > 0
    finally:
        server.drop_data = False
        svc.stop()
    assert svc.process.returncode == 0, svc.tail(40)


def test_op_devnet_up_da_altda_points_the_batcher_at_the_devnet_da_server(dn):
    """``op-devnet up --da altda``: the batcher command line enables Alt-DA on calldata with this DA server,
    and the op-batcher flag parser accepts it."""
    from batcher.batcher_config import parse_batcher_args
    from devnet import cli

    assert cli.parser().parse_args(["up", "--da", "altda"]).da == "altda"
    args = cli.batcher_args(dn, "altda", 1, 2)
    cfg = parse_batcher_args(args, {})
    assert dn.da_server is not None
    assert cfg.altda.enabled and cfg.altda.da_server == dn.da_server.url == dn.info()["da_server"]
    assert cfg.channel.da_type == "calldata"
    assert not parse_batcher_args(cli.batcher_args(dn, "blobs", 1, 2), {}).altda.enabled
