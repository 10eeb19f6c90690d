"""Client-side JSON-RPC limits that flag tables need, kept apart from the aiohttp transport so that
``--help`` and flag parsing do not import it."""

from __future__ import annotations

DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024
"""Largest JSON-RPC response body read (``--max-rpc-response-bytes``). A full-tx L2 block at a 150M gas
limit of zero-byte calldata (4 gas each) is 37.5 MB raw, 75 MB as JSON hex: this leaves headroom."""
