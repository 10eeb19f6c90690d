"""Channels: pending L2 blocks -> channels -> frames. The pure channel manager and what it owns (the block
queue, its channels and their configs, the sync actions it applies, blob sharing, adaptive compression
quality, matching channels found on L1 at restart), the check that a closed channel decodes back to its
blocks, and the reporting of the manager's events as Go's logs and metrics.

May import: common (and batcher.metrics for event reporting). No I/O, no event loop.
"""
