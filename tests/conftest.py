"""Shared pytest set-up: the devnet fixtures (devnet/pytest_plugin.py) and the ``slow`` marker."""

import pytest

pytest_plugins = ["devnet.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (e.g. loads the KZG trusted setup); still runs")
