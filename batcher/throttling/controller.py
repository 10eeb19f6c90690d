"""DA throttling controllers (Go op-batcher/batcher/throttler, op-batcher.md §4.12 and §3).

The driver measures the *unsafe DA bytes* backlog (channel manager ``unsafe_da_bytes``) after block
loads and calls :meth:`ThrottleController.update`; a strategy turns the backlog into an intensity in
[0, 1], and the controller turns intensity into the ``miner_setMaxDASize(max_tx, max_block)`` limits:

* intensity 0: ``max_tx = 0`` (unlimited), ``max_block = block-size-upper-limit``;
* step: intensity is 1 as soon as the backlog exceeds the lower threshold, limits jump to the lower
  limits;
* linear / quadratic: intensity ramps from the lower to the upper threshold (quadratic squares it),
  limits are interpolated between the upper and lower limits and truncated to integers (Go float64
  math, then ``uint64()``);
* pid (experimental): proportional-integral-derivative on ``(backlog - lower) / lower``, updated at
  most once per sample time; time is passed in (seconds, any monotonic origin).

A lower limit of 0 disables that limit (always 0).

Blob-fee input (our addition, off by default): with ``throttle.blob-fee-floor`` > 0, while the blob base
fee is at or below that floor the intensity is multiplied by ``throttle.blob-fee-floor-scale``. A blob
base fee at its floor means blob space is not scarce (OP Mainnet throttled at full strength while it
sat at 1 wei, optimism#18150), so the backlog is not a DA-price problem and squeezing the block builder
helps less. The strategy's own state (PID integral) is untouched: only its output is scaled.

The admin RPC semantics (get/set/reset) and their
error texts are here too, so the RPC layer only parses JSON.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Protocol

from common.service.go_syntax import format_duration, parse_duration


class ThrottleError(ValueError):
    """Invalid throttle configuration or admin request; messages are Go's."""


class ControllerType(enum.Enum):
    """``throttle.controller-type`` values."""

    STEP = "step"
    LINEAR = "linear"
    QUADRATIC = "quadratic"
    PID = "pid"


CONTROLLER_TYPES = tuple(t.value for t in ControllerType)
_GO_TYPE_LIST = "[" + " ".join(CONTROLLER_TYPES) + "]"


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """Thresholds (unsafe DA bytes) and limits (DA bytes) from the ``throttle.*`` flags."""

    lower_threshold: int = 3_200_000
    upper_threshold: int = 12_800_000
    tx_size_lower_limit: int = 150
    tx_size_upper_limit: int = 20_000
    block_size_lower_limit: int = 2_000
    block_size_upper_limit: int = 130_000
    blob_fee_floor: int = 0
    """Wei; 0 = the blob base fee is not an input (Go's behaviour)."""
    blob_fee_floor_scale: float = 0.5
    """Intensity multiplier while the blob base fee is at or below ``blob_fee_floor``."""

    @property
    def enabled(self) -> bool:
        """A lower threshold of 0 disables the throttling loop."""
        return self.lower_threshold > 0

    def check(self, controller: ControllerType) -> None:
        """The flag checks Go runs at startup (batcher CLIConfig.Check)."""
        if self.lower_threshold != 0 and self.upper_threshold <= self.lower_threshold:
            raise ThrottleError("throttle.upper-threshold must be greater than throttle.lower-threshold")
        if self.block_size_lower_limit > 0 and self.block_size_lower_limit >= self.block_size_upper_limit:
            raise ThrottleError(
                "throttle.block-size-lower-limit must be less than throttle.block-size-upper-limit"
            )
        if (
            self.tx_size_lower_limit > 0
            and controller is not ControllerType.STEP
            and self.tx_size_lower_limit >= self.tx_size_upper_limit
        ):
            raise ThrottleError("throttle.tx-size-lower-limit must be less than throttle.tx-size-upper-limit")
        if not 0 <= self.blob_fee_floor_scale <= 1:
            raise ThrottleError("throttle.blob-fee-floor-scale must be between 0 and 1")

    def fee_scaled(self, intensity: float, blob_base_fee: int | None) -> float:
        """The intensity after the blob-fee input (unchanged when off or the fee is unknown)."""
        if self.blob_fee_floor <= 0 or blob_base_fee is None or blob_base_fee > self.blob_fee_floor:
            return intensity
        return intensity * self.blob_fee_floor_scale


def _go_float(v: float) -> str:
    """Go's ``%f``."""
    return f"{v:f}"


@dataclass(frozen=True, slots=True)
class PIDConfig:
    """``throttle.pid-*`` flags; ``sample_time`` in seconds."""

    kp: float = 0.33
    ki: float = 0.01
    kd: float = 0.05
    integral_max: float = 1000.0
    output_max: float = 1.0
    sample_time: float = 2.0

    def check(self) -> None:
        """Service-init validation (before any dialing), Go's messages."""
        for name, v in (("Kp", self.kp), ("Ki", self.ki), ("Kd", self.kd)):
            if v < 0:
                raise ThrottleError(f"PID {name} gain must be non-negative, got {_go_float(v)}")
        if self.integral_max <= 0:
            raise ThrottleError(f"PID IntegralMax must be positive, got {_go_float(self.integral_max)}")
        if not 0 < self.output_max <= 1:
            raise ThrottleError(f"PID OutputMax must be between 0 and 1, got {_go_float(self.output_max)}")
        if self.sample_time <= 0:
            raise ThrottleError(
                f"PID SampleTime must be positive, got {format_duration(round(self.sample_time * 1e9))}"
            )

    def check_admin(self) -> None:
        """``admin_setThrottleController`` validation, whose messages are shorter."""
        if min(self.kp, self.ki, self.kd) < 0:
            raise ThrottleError("PID gains must be non-negative")
        if self.integral_max <= 0:
            raise ThrottleError("PID IntegralMax must be positive")
        if not 0 < self.output_max <= 1:
            raise ThrottleError("PID OutputMax must be between 0 and 1")
        if self.sample_time <= 0:
            raise ThrottleError("PID SampleTime must be positive")


@dataclass(frozen=True, slots=True)
class ThrottleParams:
    """What goes to ``miner_setMaxDASize``: 0 means "no limit"."""

    max_tx_size: int
    max_block_size: int
    intensity: float


@dataclass(frozen=True, slots=True)
class PIDState:
    """PID internals after an update, for the PID metrics."""

    error: float
    integral: float
    derivative: float


class Strategy(Protocol):
    type: ControllerType

    def update(self, unsafe_bytes: int, now: float) -> float: ...
    def reset(self) -> None: ...


class StepStrategy:
    """Full intensity as soon as the backlog exceeds the threshold."""

    type = ControllerType.STEP

    def __init__(self, lower_threshold: int) -> None:
        self.lower_threshold = lower_threshold

    def update(self, unsafe_bytes: int, now: float) -> float:
        return 1.0 if unsafe_bytes > self.lower_threshold else 0.0

    def reset(self) -> None:
        """Stateless."""


class LinearStrategy:
    """0 at or below the lower threshold, 1 at or above the upper, linear in between."""

    type = ControllerType.LINEAR

    def __init__(self, lower_threshold: int, upper_threshold: int) -> None:
        if upper_threshold <= lower_threshold:
            raise ThrottleError("maxThreshold must be greater than threshold")
        self.lower_threshold = lower_threshold
        self.upper_threshold = upper_threshold

    def update(self, unsafe_bytes: int, now: float) -> float:
        if unsafe_bytes <= self.lower_threshold:
            return 0.0
        if unsafe_bytes >= self.upper_threshold:
            return 1.0
        return (unsafe_bytes - self.lower_threshold) / (self.upper_threshold - self.lower_threshold)

    def reset(self) -> None:
        """Stateless."""


class QuadraticStrategy(LinearStrategy):
    """The linear ramp squared: gentle near the lower threshold, steep near the upper."""

    type = ControllerType.QUADRATIC

    def update(self, unsafe_bytes: int, now: float) -> float:
        linear = LinearStrategy.update(self, unsafe_bytes, now)
        return linear * linear


class PIDStrategy:
    """Experimental PID on the normalised backlog error, rate-limited by the sample time."""

    type = ControllerType.PID

    def __init__(self, lower_threshold: int, config: PIDConfig) -> None:
        self.lower_threshold = lower_threshold
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._initialized = False
        self._last_update = 0.0
        self._last_error = 0.0
        self.integral = 0.0
        self.intensity = 0.0
        self.state: PIDState | None = None

    def update(self, unsafe_bytes: int, now: float) -> float:
        if not self._initialized:
            self._initialized = True
            self._last_error = 0.0
            self.integral = 0.0
            dt = 0.0  # the first update is proportional only
        else:
            dt = now - self._last_update
            if dt < self.config.sample_time:
                return self.intensity
        self._last_update = now
        intensity = 0.0
        if unsafe_bytes > self.lower_threshold:
            raw_error = float(unsafe_bytes - self.lower_threshold)
            error = raw_error / float(self.lower_threshold)
            derivative = 0.0
            if dt > 0:
                self.integral = min(self.integral + error * dt, self.config.integral_max)
                derivative = (error - self._last_error) / dt
            out = self.config.kp * error + self.config.ki * self.integral + self.config.kd * derivative
            intensity = max(0.0, min(self.config.output_max, out))
            self._last_error = error
            self.state = PIDState(raw_error, self.integral, derivative)
        else:
            self.integral = 0.0
            self._last_error = 0.0
        self.intensity = intensity
        return intensity


def new_strategy(kind: ControllerType, cfg: ThrottleConfig, pid: PIDConfig | None = None) -> Strategy:
    """Build a strategy; PID needs its config (Go: ``PID configuration is required for PID controller``)."""
    if kind is ControllerType.STEP:
        return StepStrategy(cfg.lower_threshold)
    if kind is ControllerType.LINEAR:
        return LinearStrategy(cfg.lower_threshold, cfg.upper_threshold)
    if kind is ControllerType.QUADRATIC:
        return QuadraticStrategy(cfg.lower_threshold, cfg.upper_threshold)
    if pid is None:
        raise ThrottleError("PID configuration is required for PID controller")
    pid.check()
    return PIDStrategy(cfg.lower_threshold, pid)


def intensity_to_params(kind: ControllerType, intensity: float, cfg: ThrottleConfig) -> ThrottleParams:
    """Clamp intensity to [0, 1] and interpolate the limits (truncating, as Go's uint64 conversion)."""
    intensity = min(1.0, max(0.0, intensity))
    if cfg.tx_size_lower_limit == 0 or intensity == 0:
        max_tx = 0
    elif kind is ControllerType.STEP:
        max_tx = cfg.tx_size_lower_limit
    else:
        max_tx = _trunc(
            cfg.tx_size_upper_limit - intensity * (cfg.tx_size_upper_limit - cfg.tx_size_lower_limit)
        )
    if cfg.block_size_lower_limit == 0:
        max_block = 0
    elif intensity == 0:
        max_block = cfg.block_size_upper_limit
    elif kind is ControllerType.STEP:
        max_block = cfg.block_size_lower_limit
    else:
        span = cfg.block_size_upper_limit - cfg.block_size_lower_limit
        max_block = _trunc(cfg.block_size_upper_limit - intensity * span)
    return ThrottleParams(max_tx, max_block, intensity)


def _trunc(v: float) -> int:
    """float64 -> uint64 as Go converts an in-range value: toward zero, never negative here."""
    return max(0, math.trunc(float(v)))


class ThrottleController:
    """Strategy + limits + the current params; owned by the driver's throttling task."""

    def __init__(self, kind: ControllerType, config: ThrottleConfig, pid: PIDConfig | None = None) -> None:
        self.config = config
        self.strategy = new_strategy(kind, config, pid)
        self.params = self._idle_params()

    def _idle_params(self) -> ThrottleParams:
        return ThrottleParams(0, self.config.block_size_upper_limit, 0.0)

    @property
    def type(self) -> ControllerType:
        return self.strategy.type

    def update(self, unsafe_bytes: int, now: float, blob_base_fee: int | None = None) -> ThrottleParams:
        """New limits for this backlog (and blob base fee, if it is an input); sent to every endpoint."""
        intensity = self.config.fee_scaled(self.strategy.update(unsafe_bytes, now), blob_base_fee)
        self.params = intensity_to_params(self.type, intensity, self.config)
        return self.params

    @property
    def saturation(self) -> int | None:
        """Unsafe DA bytes past which the intensity no longer changes (step: above the lower threshold,
        linear/quadratic: the upper one), so a larger backlog need not be estimated exactly; None for
        PID, whose output grows with the backlog."""
        kind = self.type
        if kind is ControllerType.STEP:
            return self.config.lower_threshold + 1
        if kind in (ControllerType.LINEAR, ControllerType.QUADRATIC):
            return self.config.upper_threshold
        return None

    @property
    def pid_state(self) -> PIDState | None:
        return self.strategy.state if isinstance(self.strategy, PIDStrategy) else None

    # ---- admin RPC ------------------------------------------------------------------------------

    def admin_get(self, current_load: int) -> dict[str, Any]:
        """``admin_getThrottleController`` result (current_load = unsafe DA bytes now)."""
        return {
            "type": self.type.value,
            "lower_threshold": self.config.lower_threshold,
            "upper_threshold": self.config.upper_threshold,
            "current_load": current_load,
            "intensity": self.params.intensity,
            "max_tx_size": self.params.max_tx_size,
            "max_block_size": self.params.max_block_size,
        }

    def admin_set(self, kind: str, pid_config: dict[str, Any] | None) -> None:
        """``admin_setThrottleController``: replace the strategy (fresh state) and idle the params."""
        try:
            new_kind = ControllerType(kind)
        except ValueError:
            raise ThrottleError(
                f"invalid controller type '{kind}', must be one of: {_GO_TYPE_LIST}"
            ) from None
        pid: PIDConfig | None = None
        if new_kind is ControllerType.PID:
            if pid_config is None:
                raise ThrottleError("cannot set PID controller type without configuration")
            pid = pid_config_from_json(pid_config)
            pid.check_admin()
        self.strategy = new_strategy(new_kind, self.config, pid)
        self.params = self._idle_params()

    def admin_reset(self) -> None:
        """``admin_resetThrottleController``: strategy state and params back to idle."""
        self.strategy.reset()
        self.params = self._idle_params()


def pid_config_from_json(obj: dict[str, Any]) -> PIDConfig:
    """The admin RPC's PID object; ``sample_time`` is a Go duration string or integer nanoseconds."""
    if not isinstance(obj, dict):
        raise ThrottleError("pidConfig: expected an object")
    try:
        raw_st = obj.get("sample_time", 0)
        sample = parse_duration(raw_st) / 1e9 if isinstance(raw_st, str) else float(raw_st) / 1e9
        return PIDConfig(
            kp=float(obj.get("kp", 0.0)),
            ki=float(obj.get("ki", 0.0)),
            kd=float(obj.get("kd", 0.0)),
            integral_max=float(obj.get("integral_max", 0.0)),
            output_max=float(obj.get("output_max", 0.0)),
            sample_time=sample,
        )
    except (TypeError, ValueError) as exc:
        raise ThrottleError(f"pidConfig: {exc}") from None
