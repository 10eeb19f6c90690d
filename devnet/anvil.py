"""Start and stop anvil nodes from the pinned npm package (devnet/package.json).

Used by the devnet, by the integration tests and by nothing in the services. Each node gets a free port
chosen here (anvil's own "Listening on" line can arrive seconds late when piped) and is polled until it
answers ``eth_chainId``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVNET_DIR = Path(__file__).resolve().parent
NODE_MODULES = DEVNET_DIR / "node_modules"
ANVIL_BIN = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
CONTRACTS_ARTIFACTS = NODE_MODULES / "@eth-optimism" / "contracts-bedrock" / "forge-artifacts"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's default mnemonic; accounts are m/44'/60'/0'/0/i."""


def ensure_npm_deps() -> None:
    """Install the pinned npm packages on first use (a fresh clone has no node_modules)."""
    if ANVIL_BIN.exists() and CONTRACTS_ARTIFACTS.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required to install anvil and the OP contracts (devnet/package.json)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(DEVNET_DIR)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not ANVIL_BIN.exists():
        raise RuntimeError(f"npm ci did not install anvil at {ANVIL_BIN}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """A blocking JSON-RPC call for process management and test set-up (not for the services)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method} at {url}: {reply['error']}")
    return reply.get("result")


@dataclass
class AnvilNode:
    """A running anvil process."""

    process: subprocess.Popen[bytes]
    port: int
    args: list[str]
    log_path: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        return rpc_call(self.url, method, params)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_anvil(
    args: list[str], log_path: Path | None = None, port: int | None = None, ready_timeout: float = 20.0
) -> AnvilNode:
    """Start anvil with ``args`` (without --port) and wait until it answers."""
    ensure_npm_deps()
    port = port or free_port()
    cmd = [str(ANVIL_BIN), "--port", str(port), "--host", "127.0.0.1", *args]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "NO_COLOR": "1"}
    )
    node = AnvilNode(proc, port, cmd, log_path)
    deadline = time.monotonic() + ready_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited with code {proc.returncode}: {' '.join(cmd)}")
        try:
            node.call("eth_chainId")
            return node
        except OSError:
            if time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(f"anvil did not answer on port {port} within {ready_timeout}s") from None
            time.sleep(0.05)
