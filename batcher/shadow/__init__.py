"""``op-batcher shadow``: run our pipeline beside another batcher without sending anything, and compare.

May import: every batcher stage but bench, the shell (flags, config, service, metrics), common.
"""
