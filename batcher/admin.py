"""The batcher's admin JSON-RPC namespace (op-batcher.md §3), registered only with ``--rpc.enable-admin``.

``admin_startBatcher`` / ``admin_stopBatcher`` / ``admin_flushBatcher`` drive the :class:`BatchDriver`;
``admin_get/set/resetThrottleController`` the driver's throttle controller; ``txmgr_*`` come from the tx
manager. Errors are raised with Go's texts and reach the caller as JSON-RPC error -32000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from batcher.driver import BatchDriver
from common.service.rpc_server import RpcServer


def register_admin(
    server: RpcServer, driver: BatchDriver, txmgr_api: dict[str, Callable[..., Awaitable[Any]]]
) -> None:
    """Register ``admin_*`` batcher methods and ``txmgr_*`` (no-ops unless admin is enabled)."""

    async def start_batcher() -> None:
        await driver.start()

    async def stop_batcher() -> None:
        await driver.stop()

    async def flush_batcher() -> None:
        driver.flush()

    async def get_throttle_controller() -> dict[str, Any]:
        return driver.throttle.admin_get(driver.mgr.unsafe_da_bytes)

    async def set_throttle_controller(kind: str, pid_config: dict[str, Any] | None = None) -> None:
        driver.throttle.admin_set(kind, pid_config)
        driver.metrics.record_controller_type(driver.throttle.type.value)

    async def reset_throttle_controller() -> None:
        driver.throttle.admin_reset()
        p = driver.throttle.params
        cfg = driver.cfg.throttle
        driver.metrics.record_throttle(
            driver.throttle.type.value,
            0.0,
            p.max_tx_size,
            p.max_block_size,
            driver.mgr.unsafe_da_bytes,
            cfg.lower_threshold,
        )

    methods: dict[str, Callable[..., Awaitable[Any]]] = {
        "admin_startBatcher": start_batcher,
        "admin_stopBatcher": stop_batcher,
        "admin_flushBatcher": flush_batcher,
        "admin_getThrottleController": get_throttle_controller,
        "admin_setThrottleController": set_throttle_controller,
        "admin_resetThrottleController": reset_throttle_controller,
        **txmgr_api,
    }
    for name, fn in methods.items():
        server.register(name, fn, admin=True)
