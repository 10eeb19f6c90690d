"""The OP Stack protocol core: pure, synchronous, I/O-free.

Everything between an L2 block (as returned by ``eth_getBlockByNumber``) and the bytes the batcher posts
to L1, and back: L1-info deposits, singular and span batches, channel compression, frames, blobs; plus the
rollup-config and sync-status types the services parse once at the RPC edge. Nothing here may import
asyncio, aiohttp, prometheus_client or read a clock (``tests/test_core_purity.py`` enforces it).
"""
