"""``op-batcher bench``: channel-building, fill, fee and end-to-end ingest benchmarks (tables, not tests).

May import: every batcher stage but shadow, the shell (driver, config, metrics, vectors), common.
"""
