"""``op-batcher shadow``: run our pipeline beside another batcher without sending anything, and compare.

May import: every batcher stage, common.
"""
