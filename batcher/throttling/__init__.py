"""Throttling: the DA-throttle controllers (pure) and the loop that sends their limits
(``miner_setMaxDASize``).

May import: common, batcher.metrics.
"""
