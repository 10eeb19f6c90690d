"""batcher.channels.config: startup configs per DA type, their checks, and the auto calldata/blob choice."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from math import gcd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batcher.channels.config import (
    ChannelConfig,
    ChannelConfigError,
    ChannelFlags,
    DAChoiceReason,
    DAConfigSelector,
    DAType,
    GasPriceCaps,
    build_channel_configs,
    choose_da,
)
from common.derive.block_ref import BlockID
from common.derive.rollup_config import GenesisSystemConfig, RollupConfig

NOW = 1_700_000_000
GWEI = 10**9


def rollup(**forks: int) -> RollupConfig:
    return RollupConfig(
        genesis_l1=BlockID(b"\x01" * 32, 0),
        genesis_l2=BlockID(b"\x02" * 32, 0),
        genesis_l2_time=0,
        system_config=GenesisSystemConfig(b"\x01" * 20),
        block_time=2,
        max_sequencer_drift=600,
        seq_window_size=3600,
        channel_timeout=300,
        l1_chain_id=1,
        l2_chain_id=10,
        batch_inbox_address=b"\xff" * 20,
        fork_times=dict(forks),
    )


MODERN = rollup(ecotone=0, fjord=0, granite=0)


def test_calldata_config_uses_max_l1_tx_size_minus_one():
    """Frame = max-l1-tx-size-bytes - 1; compressor target = frames x (frame - 23)."""
    cfgs = build_channel_configs(MODERN, ChannelFlags(da_type="calldata"), now=NOW)
    d = cfgs.default
    assert (d.max_frame_size, d.use_blobs, d.target_output_size, d.max_frames_per_tx) == (
        119_999,
        False,
        119_976,
        1,
    )
    assert cfgs.calldata is None and not cfgs.is_auto


def test_blob_config_uses_the_blob_frame_and_many_frames_per_tx():
    """Frame 130043, N frames per blob tx, target N x 130020."""
    d = build_channel_configs(
        MODERN, ChannelFlags(da_type=DAType.BLOBS, target_num_frames=6), now=NOW
    ).default
    assert (d.max_frame_size, d.use_blobs, d.target_output_size, d.max_frames_per_tx) == (
        130_043,
        True,
        6 * 130_020,
        6,
    )


def test_auto_starts_on_blobs_with_a_hard_coded_120000_byte_calldata_alternative():
    """Auto: blob default + calldata config with frame 120000 (ignoring max-l1-tx-size) and 1 frame."""
    cfgs = build_channel_configs(
        MODERN, ChannelFlags(da_type="auto", target_num_frames=5, max_l1_tx_size_bytes=50_000), now=NOW
    )
    assert cfgs.default.use_blobs and cfgs.is_auto
    assert cfgs.calldata is not None
    assert (cfgs.calldata.max_frame_size, cfgs.calldata.target_num_frames, cfgs.calldata.use_blobs) == (
        120_000,
        1,
        False,
    )
    assert cfgs.calldata.target_output_size == 119_977


def test_channel_timeout_is_granite_50_once_granite_is_scheduled():
    """Scheduled in the far future still counts (Go quirk)."""
    assert (
        build_channel_configs(
            rollup(granite=NOW * 2), ChannelFlags(da_type="calldata"), now=NOW
        ).default.channel_timeout
        == 50
    )
    assert (
        build_channel_configs(rollup(), ChannelFlags(da_type="calldata"), now=NOW).default.channel_timeout
        == 300
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(da_type="blobs", rollup_=rollup(fjord=0)), "cannot use Blobs before Ecotone"),
        (dict(da_type="auto", rollup_=rollup(ecotone=NOW + 1)), "cannot use Blobs before Ecotone"),
        (
            dict(da_type="calldata", rollup_=rollup(ecotone=0), compression_algo="brotli-10"),
            "cannot use brotli compression before Fjord",
        ),
        (dict(da_type="blobs", alt_da=True), "cannot use data availability type blobs or auto with Alt-DA"),
        (
            dict(da_type="calldata", sub_safety_margin=51),
            "invalid channel configuration: channel timeout is less than the safety margin",
        ),
        (
            dict(da_type="calldata", max_l1_tx_size_bytes=23),
            "invalid channel configuration: max frame size 22 is less than the minimum 23",
        ),
        (
            dict(da_type="blobs", target_num_frames=10),
            "invalid channel configuration: too many frames for blob transactions, max 9",
        ),
        (dict(da_type="calldata", batch_type=2), "invalid channel configuration: unrecognized batch type: 2"),
    ],
)
def test_startup_checks_use_go_messages(kwargs, message):
    """Every startup error names the problem as Go does."""
    r = kwargs.pop("rollup_", MODERN)
    alt_da = kwargs.pop("alt_da", False)
    with pytest.raises(ChannelConfigError) as exc:
        build_channel_configs(r, ChannelFlags(**kwargs), now=NOW, alt_da=alt_da)
    assert str(exc.value) == message


def test_unknown_da_type_is_rejected():
    """Only calldata, blobs and auto exist."""
    with pytest.raises(ValueError):
        build_channel_configs(MODERN, ChannelFlags(da_type="celestia"), now=NOW)


def configs(n: int = 1):
    return build_channel_configs(MODERN, ChannelFlags(da_type="auto", target_num_frames=n), now=NOW)


def test_cheap_blob_gas_chooses_blobs():
    """Blob base fee 1 wei against 10 gwei execution gas: blobs."""
    cfgs = configs()
    assert cfgs.calldata is not None
    c = choose_da(
        cfgs.default, cfgs.calldata, GasPriceCaps(tip_cap=GWEI, base_fee=10 * GWEI, blob_base_fee=1)
    )
    assert c.config.use_blobs and c.reason is DAChoiceReason.BLOBS_CHEAPER
    assert c.cost_ratio < 1


def test_expensive_blob_gas_chooses_calldata():
    """Blob base fee 100 gwei against 1 gwei execution gas: calldata (crossover is ~39.7x with Pectra)."""
    cfgs = configs()
    assert cfgs.calldata is not None
    c = choose_da(
        cfgs.default, cfgs.calldata, GasPriceCaps(tip_cap=0, base_fee=GWEI, blob_base_fee=100 * GWEI)
    )
    assert not c.config.use_blobs and c.reason is DAChoiceReason.CALLDATA_CHEAPER
    assert c.cost_ratio > 1
    assert c.calldata_cost == (21_000 + 120_001 * 40) * GWEI
    assert c.blob_cost == 131_072 * 100 * GWEI + 21_000 * GWEI


@pytest.mark.parametrize("n", [1, 3, 6])
def test_an_exact_tie_keeps_blobs_and_one_wei_more_switches_to_calldata(n):
    """Integer cross-multiplication: equality => blobs (Go's strict '>')."""
    cfgs = configs(n)
    assert cfgs.calldata is not None
    cb, bb = 120_001, 130_044 * n
    # (131072 n b + 21000 p) cb == (21000 + 40 cb) p bb
    #   <=>  b / p == ((21000 + 40 cb) bb - 21000 cb) / (131072 n cb)
    num, den = (21_000 + 40 * cb) * bb - 21_000 * cb, 131_072 * n * cb
    g = gcd(num, den)
    price, blob_fee = den // g, num // g
    tie = GasPriceCaps(tip_cap=0, base_fee=price, blob_base_fee=blob_fee)
    assert choose_da(cfgs.default, cfgs.calldata, tie).config.use_blobs
    above = replace(tie, blob_base_fee=blob_fee + 1)
    assert not choose_da(cfgs.default, cfgs.calldata, above).config.use_blobs


@given(
    base=st.integers(0, 10**12), tip=st.integers(0, 10**11), blob=st.integers(0, 10**13), n=st.integers(1, 6)
)
def test_choice_agrees_with_exact_per_byte_costs(base, tip, blob, n):
    """Calldata iff its cost per byte is strictly lower (checked with exact fractions)."""
    cfgs = configs(n)
    assert cfgs.calldata is not None
    c = choose_da(cfgs.default, cfgs.calldata, GasPriceCaps(tip, base, blob))
    per_byte_calldata = Fraction((21_000 + 120_001 * 40) * (base + tip), 120_001)
    per_byte_blob = Fraction(131_072 * n * blob + 21_000 * (base + tip), 130_044 * n)
    assert (not c.config.use_blobs) == (per_byte_blob > per_byte_calldata)


def test_selector_keeps_the_last_choice_without_prices_and_forces_blobs_while_throttling():
    """No prices => last config; throttling => blobs; the pick is remembered."""
    sel = DAConfigSelector(configs())
    assert sel.channel_config(None).config.use_blobs  # starts on blobs
    expensive = GasPriceCaps(0, GWEI, 100 * GWEI)
    assert not sel.channel_config(expensive).config.use_blobs
    kept = sel.channel_config(None)
    assert not kept.config.use_blobs and kept.reason is DAChoiceReason.NO_GAS_PRICES
    forced = sel.channel_config(expensive, is_throttling=True)
    assert (
        forced.config.use_blobs
        and forced.reason.value == "Using blob channel config while throttling is in progress"
    )


def test_selector_is_fixed_outside_auto():
    """calldata/blobs never switch."""
    sel = DAConfigSelector(build_channel_configs(MODERN, ChannelFlags(da_type="calldata"), now=NOW))
    c = sel.channel_config(GasPriceCaps(0, GWEI, 1))
    assert not c.config.use_blobs and c.reason is DAChoiceReason.FIXED and not sel.is_auto


def test_channel_out_config_carries_the_compressor_target():
    """The H3 ChannelOutConfig gets the computed target output size."""
    pytest.importorskip("common.derive.channel_out")
    flags = ChannelFlags(
        da_type="blobs", target_num_frames=3, compressor="ratio", compression_algo="brotli-10"
    )
    cfg: ChannelConfig = build_channel_configs(MODERN, flags, now=NOW).default
    out = cfg.channel_out_config()
    assert (out.target_output_size, out.compressor, out.compression_algo) == (
        3 * 130_020,
        "ratio",
        "brotli-10",
    )


def test_hysteresis_keeps_the_current_da_type_near_break_even():
    """With a 10% margin: 3% cheaper calldata keeps blobs, 26% switches; the way back needs 10% too."""
    sel = DAConfigSelector(configs(), hysteresis_percent=10)

    def at(blob_gwei: int) -> GasPriceCaps:
        return GasPriceCaps(tip_cap=0, base_fee=GWEI, blob_base_fee=blob_gwei * GWEI)

    kept = sel.channel_config(at(41))  # cost ratio 1.03: Go would switch to calldata
    assert kept.config.use_blobs and kept.reason is DAChoiceReason.HYSTERESIS
    assert not sel.channel_config(at(50)).config.use_blobs  # ratio 1.26
    assert not sel.channel_config(at(38)).config.use_blobs  # blobs 4% cheaper: stay on calldata
    back = sel.channel_config(at(30))  # blobs 24% cheaper
    assert back.config.use_blobs and back.reason is DAChoiceReason.BLOBS_CHEAPER
    with pytest.raises(ChannelConfigError, match="hysteresis must be >= 0 percent, got -1"):
        DAConfigSelector(configs(), hysteresis_percent=-1)
