"""Fee suggestion floors/caps and replacement bumps (common/txmgr/fees.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.txmgr.fees import (
    BlobFeeLimitError,
    BumpLimitError,
    FeeSettings,
    FeeSuggestion,
    FeeTooHighError,
    TxFees,
    bump_fees,
    calc_threshold_value,
    initial_fees,
    is_valid_replacement,
    percentile_value,
    suggest_fees,
    update_fees,
)

GWEI = 10**9


def make_settings(**kw: int) -> FeeSettings:
    base = {
        "min_tip_cap": 1 * GWEI,
        "min_base_fee": 1 * GWEI,
        "max_tip_cap": 0,
        "max_base_fee": 0,
        "min_blob_tx_fee": 1 * GWEI,
        "fee_limit_multiplier": 5,
        "fee_limit_threshold": 100 * GWEI,
    }
    base.update(kw)
    return FeeSettings(**base)


fee = st.integers(min_value=0, max_value=10**13)
positive_fee = st.integers(min_value=1, max_value=10**13)


def test_threshold_value_rounds_up_and_always_increases():
    """ceil(x*110/100) and ceil(x*200/100), computed as (x*P+99)//100 as in Go."""
    assert calc_threshold_value(100, False) == 110
    assert calc_threshold_value(101, False) == 112  # 111.1 rounds up
    assert calc_threshold_value(1, False) == 2
    assert calc_threshold_value(1, True) == 2
    assert calc_threshold_value(7, True) == 14


def test_suggestion_applies_floors_before_caps():
    """Raw tip/base fee below the minimum are raised to it; blob base fee is left untouched."""
    s = suggest_fees(5, 7, 1, make_settings())
    assert (s.tip, s.base_fee, s.blob_base_fee, s.blob_tip) == (GWEI, GWEI, 1, GWEI)


def test_suggestion_refuses_tip_above_max_tip_cap_with_go_text():
    """``tip is too high: <tip>, cap:<max>`` once the floored tip exceeds max-tip-cap."""
    with pytest.raises(FeeTooHighError, match=f"^tip is too high: {3 * GWEI}, cap:{2 * GWEI}$"):
        suggest_fees(3 * GWEI, GWEI, 1, make_settings(max_tip_cap=2 * GWEI))


def test_suggestion_refuses_base_fee_above_max_base_fee_with_go_text():
    """``baseFee is too high: <fee>, cap:<max>``."""
    with pytest.raises(FeeTooHighError, match=f"^baseFee is too high: {9 * GWEI}, cap:{8 * GWEI}$"):
        suggest_fees(GWEI, 9 * GWEI, 1, make_settings(max_base_fee=8 * GWEI))


def test_dynamic_blob_tip_has_no_floor_but_has_the_max_cap():
    """The oracle's blob tip is used as is (below min-tip-cap allowed) and refused above max-tip-cap."""
    s = suggest_fees(GWEI, GWEI, 1, make_settings(), dynamic_blob_tip=5)
    assert s.blob_tip == 5 and s.tip == GWEI
    with pytest.raises(FeeTooHighError, match=r"^blob tip cap is too high"):
        suggest_fees(GWEI, GWEI, 1, make_settings(max_tip_cap=2 * GWEI), dynamic_blob_tip=3 * GWEI)


def test_initial_fees_use_tip_plus_twice_base_fee_and_blob_floor():
    """feeCap = tip + 2*baseFee; blob fee cap = max(2*blobBaseFee, min blob fee)."""
    s = FeeSuggestion(tip=2 * GWEI, base_fee=10 * GWEI, blob_base_fee=1, blob_tip=2 * GWEI)
    f = initial_fees(s, make_settings(), is_blob=True)
    assert f == TxFees(tip=2 * GWEI, fee_cap=22 * GWEI, blob_fee_cap=GWEI)
    s2 = FeeSuggestion(tip=GWEI, base_fee=GWEI, blob_base_fee=3 * GWEI, blob_tip=GWEI)
    assert initial_fees(s2, make_settings(), is_blob=True).blob_fee_cap == 6 * GWEI
    assert initial_fees(s2, make_settings(), is_blob=False).blob_fee_cap == 0


def test_update_fees_covers_the_four_cases():
    """Each of Go's four branches: new/new, new/threshold, threshold/recomputed, threshold/threshold."""
    assert update_fees(100, 1000, 200, 1000, False) == (200, 2200)
    assert update_fees(100, 1000, 200, 100, False) == (200, 1100)
    assert update_fees(100, 1000, 50, 1000, False) == (110, 2110)
    assert update_fees(100, 1000, 50, 100, False) == (110, 1100)


def test_bump_above_threshold_over_multiplier_is_refused_with_go_text():
    """An old fee far above 5x the fresh suggestion (and above 100 gwei) cannot be bumped."""
    old = TxFees(tip=200 * GWEI, fee_cap=400 * GWEI)
    s = FeeSuggestion(tip=GWEI, base_fee=GWEI, blob_base_fee=1, blob_tip=GWEI)
    with pytest.raises(
        BumpLimitError, match=r"bumped tip cap \d+ is over 5x multiple of the suggested value"
    ):
        bump_fees(old, s, make_settings(), is_blob=False)


def test_bump_below_threshold_is_never_capped():
    """Even 50x the suggestion is fine while the bumped values stay below the threshold."""
    old = TxFees(tip=50 * GWEI, fee_cap=60 * GWEI)
    s = FeeSuggestion(tip=GWEI, base_fee=GWEI, blob_base_fee=1, blob_tip=GWEI)
    new = bump_fees(old, s, make_settings(), is_blob=False)
    assert new == TxFees(tip=55 * GWEI, fee_cap=66 * GWEI)


def test_blob_fee_bump_over_limit_names_blob_fee_limit():
    """The blob fee cap doubles each bump until the multiplier cap stops it: ``blob fee limit reached``."""
    old = TxFees(tip=GWEI, fee_cap=3 * GWEI, blob_fee_cap=300 * GWEI)
    s = FeeSuggestion(tip=GWEI, base_fee=GWEI, blob_base_fee=GWEI, blob_tip=GWEI)
    with pytest.raises(BlobFeeLimitError, match=r"blob fee limit reached$"):
        bump_fees(old, s, make_settings(), is_blob=True)


def test_percentile_value_takes_index_n_minus_1_times_p_over_100():
    """Sorted list, index (n-1)*p//100; empty input gives None."""
    assert percentile_value([5, 1, 3, 2, 4], 60) == 3
    assert percentile_value([5, 1, 3, 2, 4], 100) == 5
    assert percentile_value([], 60) is None


@settings(max_examples=200, deadline=None)
@given(
    old_tip=fee,
    old_extra=fee,
    old_blob=fee,
    raw_tip=fee,
    raw_base=fee,
    raw_blob=fee,
    is_blob=st.booleans(),
    mult=st.integers(min_value=1, max_value=20),
    threshold=st.integers(min_value=0, max_value=10**12),
    min_tip=fee,
    min_base=fee,
)
def test_every_bump_satisfies_geth_replacement_and_stays_within_caps(
    old_tip, old_extra, old_blob, raw_tip, raw_base, raw_blob, is_blob, mult, threshold, min_tip, min_base
):
    """A successful bump is a valid geth replacement, never lowers a fee, and respects the multiplier cap."""
    st_ = make_settings(
        min_tip_cap=min_tip, min_base_fee=min_base, fee_limit_multiplier=mult, fee_limit_threshold=threshold
    )
    old = TxFees(tip=old_tip, fee_cap=old_tip + old_extra, blob_fee_cap=old_blob if is_blob else 0)
    s = suggest_fees(raw_tip, raw_base, raw_blob, st_)
    try:
        new = bump_fees(old, s, st_, is_blob=is_blob)
    except BumpLimitError:
        return
    assert is_valid_replacement(old, new, is_blob=is_blob)
    assert new.tip >= old.tip and (old.tip == 0 or new.tip > old.tip)
    assert new.fee_cap >= new.tip
    assert new.fee_cap >= s.tip + 2 * s.base_fee  # never below what a fresh tx would pay
    max_tip = s.tip * mult
    max_fee = max_tip + 2 * s.base_fee * mult
    assert new.tip < threshold or new.tip <= max_tip
    assert new.fee_cap < threshold or new.fee_cap <= max_fee
    if is_blob:
        assert new.blob_fee_cap >= 2 * old.blob_fee_cap
        assert new.blob_fee_cap >= s.blob_base_fee
        max_blob = max(2 * s.blob_base_fee, st_.min_blob_tx_fee) * mult
        assert new.blob_fee_cap < threshold or new.blob_fee_cap <= max_blob


@settings(max_examples=200, deadline=None)
@given(tip=positive_fee, base=positive_fee, blob=fee, bumps=st.integers(min_value=1, max_value=8))
def test_repeated_bumps_at_flat_prices_grow_until_the_cap_refuses(tip, base, blob, bumps):
    """At constant market prices, successive bumps strictly grow and each one replaces the previous."""
    st_ = make_settings(min_tip_cap=0, min_base_fee=0)
    s = suggest_fees(tip, base, blob, st_)
    cur = initial_fees(s, st_, is_blob=True)
    for _ in range(bumps):
        try:
            nxt = bump_fees(cur, s, st_, is_blob=True)
        except BumpLimitError:
            assert max(cur.tip, cur.fee_cap, cur.blob_fee_cap) * 2 + 1 >= st_.fee_limit_threshold
            return
        assert is_valid_replacement(cur, nxt, is_blob=True)
        cur = nxt
