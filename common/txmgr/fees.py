"""Fee arithmetic of the transaction manager: suggestions, floors and caps, and replacement bumps.

Pure integer arithmetic in wei, no I/O. The rules follow op-service/txmgr (``SuggestGasPriceCaps``,
``calcGasFeeCap``, ``calcBlobFeeCap``, ``calcThresholdValue``, ``updateFees``, ``checkLimits``,
``checkBlobFeeLimits``) so that every bumped transaction satisfies geth's replacement rule: at least
+10 % on both tip and fee cap for ordinary transactions and +100 % (tip, fee cap and blob fee cap) for
blob transactions. Bumps are capped at ``fee_limit_multiplier`` times the fresh suggestion, but only for
values at or above ``fee_limit_threshold`` (cheap fees are never capped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PRICE_BUMP = 10
"""Percent: geth's minimum fee increase for replacing an ordinary pending tx."""
BLOB_PRICE_BUMP = 100
"""Percent: geth's minimum fee increase for replacing a pending blob tx (all three fee fields)."""


class FeeError(Exception):
    """A fee suggestion or bump that the configuration does not allow."""


class FeeTooHighError(FeeError):
    """A suggested fee is above a configured ``--txmgr.max-*`` cap (Go texts kept)."""


class BumpLimitError(FeeError):
    """A bumped fee would exceed ``fee_limit_multiplier`` times the suggested fee."""


class BlobFeeLimitError(BumpLimitError):
    """The bumped blob fee cap would exceed the multiplier limit (Go: ``ErrBlobFeeLimit``)."""


ERR_BLOB_FEE_LIMIT = "blob fee limit reached"


@dataclass(slots=True)
class FeeSettings:
    """The runtime-mutable fee knobs of a tx manager (changed through the ``txmgr_*`` admin API)."""

    min_tip_cap: int
    min_base_fee: int
    max_tip_cap: int
    """0 = no cap."""
    max_base_fee: int
    """0 = no cap."""
    min_blob_tx_fee: int
    fee_limit_multiplier: int
    fee_limit_threshold: int


@dataclass(frozen=True, slots=True)
class FeeSuggestion:
    """Fees to craft or bump a tx with, after the floors and caps of :func:`suggest_fees`."""

    tip: int
    """Priority fee per gas (wei) for ordinary txs."""
    base_fee: int
    """Assumed base fee per gas (wei), at least ``min_base_fee``."""
    blob_base_fee: int
    """Current blob base fee (wei); no floor here (the floor applies to the blob fee cap)."""
    blob_tip: int
    """Priority fee per gas for blob txs: ``tip`` unless dynamic blob tips are enabled."""


@dataclass(frozen=True, slots=True)
class TxFees:
    """The three fee fields of a (blob) transaction."""

    tip: int
    fee_cap: int
    blob_fee_cap: int = 0
    """0 for non-blob txs."""


def calc_gas_fee_cap(base_fee: int, tip: int) -> int:
    """``tip + 2 * baseFee``: survives six full blocks of +12.5 % base-fee growth."""
    return tip + 2 * base_fee


def calc_blob_fee_cap(blob_base_fee: int, min_blob_tx_fee: int) -> int:
    """Twice the blob base fee, at least ``min_blob_tx_fee`` (anvil's 1 wei base fee would be useless)."""
    return max(2 * blob_base_fee, min_blob_tx_fee)


def calc_threshold_value(x: int, is_blob: bool) -> int:
    """The smallest value geth accepts as a replacement of ``x``: ``ceil(x * (100 + bump) / 100)``."""
    percent = 100 + (BLOB_PRICE_BUMP if is_blob else PRICE_BUMP)
    return (x * percent + 99) // 100


def suggest_fees(
    raw_tip: int,
    raw_base_fee: int,
    raw_blob_base_fee: int,
    settings: FeeSettings,
    *,
    dynamic_blob_tip: int | None = None,
) -> FeeSuggestion:
    """Apply the min floors, then the max caps, to raw node suggestions (Go ``SuggestGasPriceCaps``).

    ``dynamic_blob_tip`` is the blob-tip oracle's value when ``txmgr.blob-tip-cap-dynamic`` is on: it gets
    no min floor but is still subject to ``max_tip_cap``.
    """
    tip = max(raw_tip, settings.min_tip_cap)
    base_fee = max(raw_base_fee, settings.min_base_fee)
    if settings.max_tip_cap > 0 and tip > settings.max_tip_cap:
        raise FeeTooHighError(f"tip is too high: {tip}, cap:{settings.max_tip_cap}")
    if settings.max_base_fee > 0 and base_fee > settings.max_base_fee:
        raise FeeTooHighError(f"baseFee is too high: {base_fee}, cap:{settings.max_base_fee}")
    blob_tip = tip
    if dynamic_blob_tip is not None:
        blob_tip = dynamic_blob_tip
        if settings.max_tip_cap > 0 and blob_tip > settings.max_tip_cap:
            raise FeeTooHighError(f"blob tip cap is too high: {blob_tip}, cap:{settings.max_tip_cap}")
    return FeeSuggestion(tip=tip, base_fee=base_fee, blob_base_fee=raw_blob_base_fee, blob_tip=blob_tip)


def initial_fees(s: FeeSuggestion, settings: FeeSettings, *, is_blob: bool) -> TxFees:
    """Fees of a freshly crafted tx."""
    tip = s.blob_tip if is_blob else s.tip
    blob_fee_cap = calc_blob_fee_cap(s.blob_base_fee, settings.min_blob_tx_fee) if is_blob else 0
    return TxFees(tip=tip, fee_cap=calc_gas_fee_cap(s.base_fee, tip), blob_fee_cap=blob_fee_cap)


def update_fees(
    old_tip: int, old_fee_cap: int, new_tip: int, new_base_fee: int, is_blob: bool
) -> tuple[int, int]:
    """Pick (tip, fee cap) that meet geth's replacement thresholds and the fresh suggestion (four cases)."""
    new_fee_cap = calc_gas_fee_cap(new_base_fee, new_tip)
    thr_tip = calc_threshold_value(old_tip, is_blob)
    thr_fee_cap = calc_threshold_value(old_fee_cap, is_blob)
    if new_tip >= thr_tip:
        return new_tip, max(new_fee_cap, thr_fee_cap)
    if new_fee_cap >= thr_fee_cap:
        # The base fee rose but the tip did not: recompute so enough of the cap still pays the base fee.
        return thr_tip, calc_gas_fee_cap(new_base_fee, thr_tip)
    return thr_tip, thr_fee_cap


def check_limits(
    tip: int, base_fee: int, bumped_tip: int, bumped_fee_cap: int, settings: FeeSettings
) -> None:
    """Refuse bumps above ``multiplier`` x the suggestion, unless the bumped value is below the threshold."""
    mult = settings.fee_limit_multiplier
    max_tip = tip * mult
    max_fee = calc_gas_fee_cap(base_fee * mult, max_tip)
    errors: list[str] = []
    for value, limit, name in ((bumped_tip, max_tip, "tip"), (bumped_fee_cap, max_fee, "fee")):
        if value < settings.fee_limit_threshold:
            continue
        if value > limit:
            errors.append(f"bumped {name} cap {value} is over {mult}x multiple of the suggested value")
    if errors:
        raise BumpLimitError("\n".join(errors))


def check_blob_fee_limits(blob_base_fee: int, bumped_blob_fee: int, settings: FeeSettings) -> None:
    """Same rule for the blob fee cap, against ``multiplier`` x the fresh blob fee cap."""
    if bumped_blob_fee < settings.fee_limit_threshold:
        return
    mult = settings.fee_limit_multiplier
    max_blob_fee = calc_blob_fee_cap(blob_base_fee, settings.min_blob_tx_fee) * mult
    if bumped_blob_fee > max_blob_fee:
        raise BlobFeeLimitError(
            f"bumped blob fee {bumped_blob_fee} is over {mult}x multiple of the suggested value: "
            f"{ERR_BLOB_FEE_LIMIT}"
        )


def bump_fees(old: TxFees, s: FeeSuggestion, settings: FeeSettings, *, is_blob: bool) -> TxFees:
    """Fees for the replacement of a tx paying ``old``, given a fresh suggestion ``s``.

    Raises :class:`BumpLimitError` when the multiplier cap forbids the bump; the caller then re-sends the
    old tx unchanged (Go keeps it in the mempool that way).
    """
    new_tip = s.blob_tip if is_blob else s.tip
    tip, fee_cap = update_fees(old.tip, old.fee_cap, new_tip, s.base_fee, is_blob)
    check_limits(new_tip, s.base_fee, tip, fee_cap, settings)
    if not is_blob:
        return TxFees(tip=tip, fee_cap=fee_cap)
    blob_fee_cap = max(calc_threshold_value(old.blob_fee_cap, True), s.blob_base_fee)
    check_blob_fee_limits(s.blob_base_fee, blob_fee_cap, settings)
    return TxFees(tip=tip, fee_cap=fee_cap, blob_fee_cap=blob_fee_cap)


def is_valid_replacement(old: TxFees, new: TxFees, *, is_blob: bool) -> bool:
    """geth's txpool rule for replacing ``old`` by ``new`` at the same nonce (tests, fake pool)."""
    ok = new.tip >= calc_threshold_value(old.tip, is_blob) and new.fee_cap >= calc_threshold_value(
        old.fee_cap, is_blob
    )
    if is_blob:
        ok = ok and new.blob_fee_cap >= calc_threshold_value(old.blob_fee_cap, True)
    return ok


def percentile_value(values: Sequence[int], percentile: int) -> int | None:
    """The ``percentile`` value as the blob-tip oracle takes it: index ``(n-1)*p/100`` when sorted."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) * percentile // 100]


def effective_tip(tip: int, fee_cap: int, base_fee: int) -> int:
    """What a 1559 tx actually paid the block producer per gas: ``min(tip, feeCap - baseFee)``."""
    return max(0, min(tip, fee_cap - base_fee))
