"""batcher.throttling.controller: controller strategies, intensity -> limits, PID timing and the admin
semantics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batcher.throttling.controller import (
    ControllerType,
    PIDConfig,
    PIDStrategy,
    ThrottleConfig,
    ThrottleController,
    ThrottleError,
    ThrottleParams,
    intensity_to_params,
    pid_config_from_json,
)
from common.service.go_syntax import format_duration

CFG = ThrottleConfig()  # flag defaults: 3.2 MB / 12.8 MB, tx 150..20000, block 2000..130000
L, U = CFG.lower_threshold, CFG.upper_threshold


def ctl(kind: str, cfg: ThrottleConfig = CFG, pid: PIDConfig | None = None) -> ThrottleController:
    return ThrottleController(ControllerType(kind), cfg, pid)


def test_initial_params_before_any_update_are_idle():
    """maxTx 0 (unlimited), maxBlock = upper limit, intensity 0."""
    assert ctl("quadratic").params == ThrottleParams(0, 130_000, 0.0)


def test_step_switches_fully_just_above_the_lower_threshold():
    """At the threshold nothing; one byte above it the lower limits."""
    c = ctl("step")
    assert c.update(L, 0) == ThrottleParams(0, 130_000, 0.0)
    assert c.update(L + 1, 0) == ThrottleParams(150, 2_000, 1.0)


def test_linear_ramps_between_thresholds():
    """Midpoint => intensity 0.5 and limits half way."""
    c = ctl("linear")
    assert c.update(L, 0).intensity == 0.0
    assert c.update((L + U) // 2, 0) == ThrottleParams(10_075, 66_000, 0.5)
    assert c.update(U, 0) == ThrottleParams(150, 2_000, 1.0)
    assert c.update(10 * U, 0) == ThrottleParams(150, 2_000, 1.0)


def test_quadratic_squares_the_linear_ramp_and_truncates_limits():
    """Midpoint => 0.25; 20000 - 0.25 x 19850 = 15037.5 truncates to 15037."""
    assert ctl("quadratic").update((L + U) // 2, 0) == ThrottleParams(15_037, 98_000, 0.25)


def test_limits_truncate_toward_zero():
    """i = 1/3: 13383.33 -> 13383 and 87333.33 -> 87333."""
    p = ctl("linear").update(L + (U - L) // 3, 0)
    assert (p.max_tx_size, p.max_block_size) == (13_383, 87_333)


def test_zero_lower_limits_disable_that_limit():
    """tx-size-lower-limit 0 => maxTx always 0; block-size-lower-limit 0 => maxBlock always 0."""
    cfg = ThrottleConfig(tx_size_lower_limit=0, block_size_lower_limit=0)
    assert ctl("linear", cfg).update(U, 0) == ThrottleParams(0, 0, 1.0)
    assert ctl("linear", cfg).update(0, 0) == ThrottleParams(0, 0, 0.0)


def test_out_of_range_intensity_is_clamped():
    """Strategies never exceed [0, 1]; the conversion clamps anyway."""
    assert intensity_to_params(ControllerType.LINEAR, 7.0, CFG) == ThrottleParams(150, 2_000, 1.0)
    assert intensity_to_params(ControllerType.LINEAR, -1.0, CFG) == ThrottleParams(0, 130_000, 0.0)


@given(st.integers(0, 4 * U))
def test_limits_move_monotonically_with_backlog(u):
    """More backlog never loosens the limits (quadratic)."""
    a = intensity_to_params(ControllerType.QUADRATIC, ctl("quadratic").update(u, 0).intensity, CFG)
    b = intensity_to_params(ControllerType.QUADRATIC, ctl("quadratic").update(u + 1000, 0).intensity, CFG)
    assert b.intensity >= a.intensity and b.max_block_size <= a.max_block_size
    if a.intensity > 0:
        assert b.max_tx_size <= a.max_tx_size


def test_pid_first_update_is_proportional_only_and_respects_sample_time():
    """t=0: kp x e; t=1 (< 2 s): previous value; t=2: P + I + D with dt = 2 s."""
    c = ctl("pid", pid=PIDConfig())
    assert c.update(2 * L, 0.0).intensity == pytest.approx(0.33)  # e = 1
    assert c.update(4 * L, 1.0).intensity == pytest.approx(0.33)  # too soon: unchanged
    p = c.update(3 * L, 2.0)  # e = 2, integral = 4, derivative = (2 - 1) / 2
    assert p.intensity == pytest.approx(0.33 * 2 + 0.01 * 4 + 0.05 * 0.5)
    state = c.pid_state
    assert state is not None and state.integral == pytest.approx(4.0) and state.error == 2 * L


def test_pid_output_and_integral_are_capped_and_reset_below_threshold():
    """output-max caps intensity; integral-max caps windup; below threshold everything resets."""
    c = ctl("pid", pid=PIDConfig(kp=0.0, ki=1.0, kd=0.0, integral_max=3.0, output_max=0.5, sample_time=1.0))
    c.update(2 * L, 0.0)
    assert c.update(11 * L, 1.0).intensity == 0.5  # integral 10 capped to 3, x ki = 3 -> 0.5
    assert c.pid_state is not None and c.pid_state.integral == 3.0
    assert c.update(L, 2.0) == ThrottleParams(0, 130_000, 0.0)
    c.update(2 * L, 3.0)
    assert c.pid_state.integral == pytest.approx(1.0)


def test_admin_get_reports_type_thresholds_load_and_params():
    """admin_getThrottleController shape."""
    c = ctl("linear")
    c.update(U, 0)
    assert c.admin_get(current_load=U) == {
        "type": "linear",
        "lower_threshold": L,
        "upper_threshold": U,
        "current_load": U,
        "intensity": 1.0,
        "max_tx_size": 150,
        "max_block_size": 2_000,
    }


def test_admin_set_replaces_the_strategy_and_idles_params():
    """A new controller starts fresh."""
    c = ctl("step")
    c.update(U, 0)
    c.admin_set("quadratic", None)
    assert c.type is ControllerType.QUADRATIC and c.params == ThrottleParams(0, 130_000, 0.0)
    c.admin_set(
        "pid", {"kp": 1, "ki": 0, "kd": 0, "integral_max": 10, "output_max": 1, "sample_time": "500ms"}
    )
    assert isinstance(c.strategy, PIDStrategy) and c.strategy.config.sample_time == 0.5


@pytest.mark.parametrize(
    "kind,pid,message",
    [
        ("cubic", None, "invalid controller type 'cubic', must be one of: [step linear quadratic pid]"),
        ("pid", None, "cannot set PID controller type without configuration"),
        (
            "pid",
            {"kp": -1, "ki": 0, "kd": 0, "integral_max": 1, "output_max": 1, "sample_time": "1s"},
            "PID gains must be non-negative",
        ),
        (
            "pid",
            {"kp": 1, "ki": 0, "kd": 0, "integral_max": 0, "output_max": 1, "sample_time": "1s"},
            "PID IntegralMax must be positive",
        ),
        (
            "pid",
            {"kp": 1, "ki": 0, "kd": 0, "integral_max": 1, "output_max": 1.5, "sample_time": "1s"},
            "PID OutputMax must be between 0 and 1",
        ),
    ],
)
def test_admin_set_errors_use_go_texts(kind, pid, message):
    """Errors are Go's admin API texts and leave the controller unchanged."""
    c = ctl("step")
    with pytest.raises(ThrottleError) as exc:
        c.admin_set(kind, pid)
    assert str(exc.value) == message
    assert c.type is ControllerType.STEP


def test_admin_reset_clears_pid_state_and_params():
    """Reset: integral gone, params idle, the next update is a first update again."""
    c = ctl("pid", pid=PIDConfig())
    c.update(2 * L, 0.0)
    c.update(2 * L, 5.0)
    c.admin_reset()
    assert c.params == ThrottleParams(0, 130_000, 0.0)
    assert c.update(2 * L, 5.5).intensity == pytest.approx(0.33)


@pytest.mark.parametrize(
    "pid,message",
    [
        (PIDConfig(kp=-1), "PID Kp gain must be non-negative, got -1.000000"),
        (PIDConfig(kd=-0.5), "PID Kd gain must be non-negative, got -0.500000"),
        (PIDConfig(integral_max=0), "PID IntegralMax must be positive, got 0.000000"),
        (PIDConfig(output_max=2), "PID OutputMax must be between 0 and 1, got 2.000000"),
        (PIDConfig(sample_time=0), "PID SampleTime must be positive, got 0s"),
    ],
)
def test_pid_startup_validation_messages(pid, message):
    """Service-init PID checks, Go's wording."""
    with pytest.raises(ThrottleError, match=message.replace("(", r"\(")):
        pid.check()


@pytest.mark.parametrize(
    "cfg,kind,message",
    [
        (
            ThrottleConfig(upper_threshold=3_200_000),
            ControllerType.LINEAR,
            "throttle.upper-threshold must be greater than throttle.lower-threshold",
        ),
        (
            ThrottleConfig(block_size_lower_limit=130_000),
            ControllerType.LINEAR,
            "throttle.block-size-lower-limit must be less than throttle.block-size-upper-limit",
        ),
        (
            ThrottleConfig(tx_size_lower_limit=20_000),
            ControllerType.LINEAR,
            "throttle.tx-size-lower-limit must be less than throttle.tx-size-upper-limit",
        ),
    ],
)
def test_flag_checks(cfg, kind, message):
    """CLI config checks for the throttle.* flags."""
    with pytest.raises(ThrottleError, match=message):
        cfg.check(kind)


def test_step_controller_ignores_the_tx_size_upper_limit_check():
    """Only non-step controllers interpolate tx sizes, so only they need lower < upper."""
    ThrottleConfig(tx_size_lower_limit=20_000).check(ControllerType.STEP)
    ThrottleConfig(lower_threshold=0, upper_threshold=0).check(ControllerType.LINEAR)


@pytest.mark.parametrize(
    "text,seconds",
    [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5h", 5400.0), ("0", 0.0), ("250us", 0.00025)],
)
def test_go_durations_parse(text, seconds):
    """The admin PID sample_time accepts Go duration syntax."""
    assert pid_config_from_json({"sample_time": text}).sample_time == pytest.approx(seconds)


@pytest.mark.parametrize(
    "seconds,text", [(2.0, "2s"), (0.5, "500ms"), (90.0, "1m30s"), (0, "0s"), (3600.0, "1h0m0s")]
)
def test_go_durations_format(seconds, text):
    """Go Duration.String for messages."""
    assert format_duration(round(seconds * 1e9)) == text


def test_bad_duration_is_rejected():
    """Garbage is an error naming the input, in Go's words."""
    with pytest.raises(ThrottleError, match='unknown unit " sec" in duration "2 sec"'):
        pid_config_from_json({"sample_time": "2 sec"})
