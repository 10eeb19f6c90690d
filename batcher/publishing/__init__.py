"""Publishing: frames -> tx candidates (calldata, blobs, Alt-DA commitments) and the opt-in fee-aware posting
gate.

May import: batcher.channels, batcher.metrics, common.
"""
