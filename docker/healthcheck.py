"""Container health probe: ``GET /healthz`` on the service's own JSON-RPC port.

Usage (Dockerfile HEALTHCHECK / compose healthcheck)::

    python /opt/op/healthcheck.py op-batcher

The port is not hard-coded: the probe reads the running service's command line from ``/proc`` and parses
it, with the container environment, through the service's own flag table, so ``--rpc.port=8548`` on the
command line or ``OP_BATCHER_RPC_PORT`` in the env file are both honoured. A wildcard bind address is
probed on loopback. Exit status 0 = healthy (HTTP 200 with a ``version``), 1 = unhealthy.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

SERVICES = ("op-batcher", "op-proposer")
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
DEFAULT_RPC_PORT = 8545
TIMEOUT_SECONDS = 3.0


def read_cmdlines(proc: Path = Path("/proc")) -> list[list[str]]:
    """argv of every visible process, PID 1 first (the ENTRYPOINT unless an init wraps it)."""
    pids = sorted((p for p in proc.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    out: list[list[str]] = []
    for pid in pids:
        try:
            raw = (pid / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            out.append([part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")])
    return out


def service_args(cmdlines: Iterable[Sequence[str]], service: str) -> list[str] | None:
    """The arguments after the ``service`` executable (console script or ``python -m`` form), if running."""
    module = {"op-batcher": "batcher", "op-proposer": "proposer"}[service]
    for argv in cmdlines:
        for index, part in enumerate(argv):
            if os.path.basename(part) == service:
                return list(argv[index + 1 :])
            if part == "-m" and index + 1 < len(argv) and argv[index + 1] in (module, f"{module}.cli"):
                return list(argv[index + 2 :])
    return None


def rpc_endpoint(service: str, args: Sequence[str], environ: Mapping[str, str]) -> tuple[str, int]:
    """(host, port) the service's RPC server listens on, by its flag table; defaults if unparsable."""
    if service == "op-batcher":
        from batcher.flags import batcher_table as table_for
    else:
        from proposer.flags import proposer_table as table_for
    try:
        parsed = table_for().parse(list(args), environ)
        host, port = parsed.get_str("rpc.addr"), parsed.get_int("rpc.port")
    except Exception:
        host, port = "", DEFAULT_RPC_PORT
    return ("127.0.0.1" if host in WILDCARD_HOSTS else host), port


def probe(host: str, port: int, timeout: float = TIMEOUT_SECONDS) -> str:
    """The version reported by ``/healthz``; raises OSError/ValueError when unhealthy."""
    bracketed = f"[{host}]" if ":" in host else host
    with urllib.request.urlopen(f"http://{bracketed}:{port}/healthz", timeout=timeout) as resp:
        if resp.status != 200:
            raise ValueError(f"/healthz on {host}:{port} answered HTTP {resp.status}")
        body = json.loads(resp.read())
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str):
        raise ValueError(f"/healthz on {host}:{port} returned no version: {body!r}")
    return version


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in SERVICES:
        print(f"usage: healthcheck.py {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    service = args[0]
    service_argv = service_args(read_cmdlines(), service) or []
    host, port = rpc_endpoint(service, service_argv, os.environ)
    try:
        version = probe(host, port)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(f"{service} unhealthy: {host}:{port}/healthz: {exc}", file=sys.stderr)
        return 1
    print(f"{service} healthy: version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
