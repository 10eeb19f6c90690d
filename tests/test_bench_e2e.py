"""``op-batcher bench --e2e`` runs the daemon's path end to end and reports what it measured.

One real-vector case (the 143 OP Mainnet blocks of ``vectors/kona/batch.hex``) in a child process, as the
command runs it: the local chain server, the daemon's driver, loader and RPC clients, real blob sidecars
from the KZG worker processes (the tx manager is the bench's stand-in, see :mod:`batcher.bench.e2e`).
"""

from __future__ import annotations

from batcher.bench.e2e import format_results, run_child
from batcher.bench.workload import kona_blocks


def test_the_vector_case_posts_every_block_and_times_every_stage() -> None:
    result = run_child("vectors", 1, 6, 143)
    blocks = kona_blocks()
    assert result["loaded_blocks"] == len(blocks) == 143
    assert result["txs"] >= 1 and result["channels"] >= 1
    raw_txs = sum(len(tx) for b in blocks for tx in b.transactions)
    assert 0.5 * raw_txs < result["raw"] < 1.5 * raw_txs  # the channels hold these blocks' txs
    stages = result["stages"]
    for stage in ("block_from_rpc", "channel (next_tx_data)", "kzg worker", "l2 server"):
        assert stages[stage] > 0, stage
    assert result["bare_cpu"] > 0 and result["wall"] > 0
    row = format_results([result]).splitlines()[-1]
    assert row.startswith("vectors span 6b")
