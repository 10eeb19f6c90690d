"""``op-batcher decode``: read any batcher's txs from L1 (calldata, blobs) and report frames, channels,
batches and L2 blocks.

May import: common only.
"""
