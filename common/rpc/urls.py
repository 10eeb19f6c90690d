"""Endpoint URL lists from flag values, apart from the clients so that flag parsing needs no aiohttp."""

from __future__ import annotations

from collections.abc import Sequence


def split_urls(value: str | Sequence[str]) -> list[str]:
    """Split a comma-separated flag value into URLs (blank entries dropped)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]
