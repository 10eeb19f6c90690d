"""Channels: pending L2 blocks -> channels -> frames (the pure channel manager, its configs, blob sharing,
adaptive compression quality) and the reporting of its events as Go's logs and metrics.

May import: common (and batcher.metrics for event reporting). No I/O, no event loop.
"""
