"""The driver's settings, one typed object built from the flags by the service and read by the driver's
tasks and the block loader (which must not import the driver)."""

from __future__ import annotations

from dataclasses import dataclass, field

from batcher.publishing.fee_policy import FeePolicyConfig
from batcher.throttling.controller import ControllerType, PIDConfig, ThrottleConfig


@dataclass(frozen=True, slots=True)
class DriverConfig:
    poll_interval: float = 6.0
    max_pending_tx: int = 1
    network_timeout: float = 10.0
    check_recent_txs_depth: int = 0
    wait_node_sync: bool = False
    is_auto_da: bool = False
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    throttle_controller: ControllerType = ControllerType.QUADRATIC
    pid: PIDConfig | None = None
    throttle_endpoints: tuple[str, ...] = ()
    recover_from_l1: bool = True
    node_sync_poll_interval: float = 12.0
    clear_retry_interval: float = 5.0
    drain_timeout: float = 30.0
    """Seconds a graceful stop waits for in-flight txs before abandoning them."""
    fee_aware: FeePolicyConfig = field(default_factory=FeePolicyConfig)
    """``--fee-aware.*`` (our addition): off by default, then publishing is Go's."""
    max_unsafe_l2_bytes: int = 0
    """``--max-unsafe-l2-bytes``: loading pauses at this many raw bytes loaded but unsafe (0: no limit)."""
    pending_da_gauge: bool = False
    """Keep the ``pending_da_bytes`` gauge (FastLZ DA estimates of every loaded block) up to date; the
    service turns it on with ``--metrics.enabled``, so nothing estimates blocks no one reads about."""
