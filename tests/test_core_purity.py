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
