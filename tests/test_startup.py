"""Start-up cost: ``--help``, ``--version`` and usage errors load only the flag tables.

Checked by the modules a fresh interpreter holds after the call (not by timing, which depends on the
machine's load): none of the heavy ones the services need at run time may be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("eth_account", "eth_keys", "web3", "ckzg", "aiohttp", "prometheus_client", "brotli", "Crypto")

PROBE = """
import contextlib, io, json, sys
from {pkg}.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main({argv!r})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print(json.dumps({{"rc": rc, "out": out.getvalue(), "heavy": heavy}}))
"""


def _probe(pkg: str, argv: list[str]) -> dict[str, object]:
    code = PROBE.format(pkg=pkg, argv=argv, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("pkg", "argv", "rc", "text"),
    [
        ("batcher", ["--help"], 0, "op-batcher - Batch Submitter Service"),
        ("batcher", ["-h"], 0, "--max-channel-duration"),
        ("batcher", ["--version"], 0, "op-batcher version"),
        ("batcher", ["--no-such-flag"], 1, "Incorrect Usage"),
        ("proposer", ["--help"], 0, "op-proposer"),
        ("proposer", ["--version"], 0, "op-proposer version"),
    ],
)
def test_help_version_and_usage_errors_import_no_heavy_module(
    pkg: str, argv: list[str], rc: int, text: str
) -> None:
    """The answer is the real one (help text, exit code) and no heavy module was loaded to give it."""
    result = _probe(pkg, argv)
    assert result["rc"] == rc
    assert text in str(result["out"])
    assert result["heavy"] == []


def test_the_probe_sees_heavy_modules_when_the_service_is_loaded() -> None:
    """The check can fail: importing the service module itself does pull the heavy modules in."""
    code = (
        "import json, sys\nimport batcher.service, proposer.service\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"eth_account", "aiohttp", "ckzg"} <= loaded
