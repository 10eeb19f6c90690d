"""Shared pytest set-up: the devnet fixtures (devnet/pytest_plugin.py) and the ``slow`` marker."""

from pathlib import Path

import pytest

from batcher.vectors import require_vectors

pytest_plugins = ["devnet.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (e.g. loads the KZG trusted setup); still runs")


@pytest.fixture
def shared_vectors() -> Path:
    """The shared vectors folder; a missing one fails the test with where it was looked for."""
    return require_vectors()
