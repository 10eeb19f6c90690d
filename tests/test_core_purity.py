"""The protocol core must not reach the network, the event loop, metrics or a clock."""

import re
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("asyncio", "aiohttp", "prometheus_client", "web3", "urllib.request", "http.client")
CLOCK_CALLS = re.compile(r"\b(time\.(time|monotonic|perf_counter|sleep)|datetime\.now|datetime\.utcnow)\(")
CORE = Path(__file__).resolve().parents[1] / "common" / "derive"


def test_importing_every_core_module_pulls_in_nothing_forbidden():
    """Import each core module in a fresh interpreter and list what it loaded."""
    modules = sorted(f"common.derive.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__")
    assert modules, "no core modules found"
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CORE.parents[1]
    )
    assert out.stdout.strip() == "", f"core imports forbidden modules: {out.stdout.strip()}"


def test_core_source_reads_no_clock():
    """Deterministic core: no wall-clock or sleep calls anywhere in common/derive."""
    offenders = [
        f"{p.name}:{i}"
        for p in CORE.glob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if CLOCK_CALLS.search(line)
    ]
    assert offenders == []


EDGE_ONLY = re.compile(
    r"^\s*(import threading|from threading )|\bglobal \w|\bLock\(|\.read_text\(|\.read_bytes\(|\bopen\(|"
    r"ckzg\.load_trusted_setup"
)
"""Locks, process-global state, file reads and the KZG set-up load belong at the I/O edge, not in the core."""


def test_core_source_reads_no_files_and_holds_no_process_global_state():
    """common/derive takes what it needs (e.g. the KZG trusted set-up) as arguments: no file reads, no locks.

    The set-up file read and its per-process cache live in common/txmgr/kzg_setup.py.
    """
    offenders = [
        f"{p.name}:{i}: {line.strip()}"
        for p in CORE.glob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if EDGE_ONLY.search(line)
    ]
    assert offenders == []
