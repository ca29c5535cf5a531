"""Strike selection for multileg legs against a fixed chain, every answer worked out by hand.

The chain: NIFTY-like strikes 25,800–26,200 every 50; spot 26,010, future 26,080. Calls and puts
are closest at 26,050 (both ₹120), so the synthetic forward is 26,050 + 120 − 120 = 26,050.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.strategies.multileg.strikes import (
    Chain,
    ChainRow,
    Moneyness,
    NoStrike,
    PremiumRule,
    Reference,
    Right,
    atm_offset,
    atm_strike,
    by_delta,
    by_premium,
    by_straddle_width,
    itm,
    otm,
    synthetic_forward,
)

D = Decimal
STRIKES = [25_800 + 50 * i for i in range(9)]
CALLS = [290, 250, 212, 178, 147, 120, 96, 75, 58]
PUTS = [40, 50, 62, 78, 97, 120, 146, 175, 208]
CALL_DELTAS = [0.80, 0.74, 0.67, 0.59, 0.52, 0.45, 0.38, 0.31, 0.25]
CHAIN = Chain(
    [
        ChainRow(D(k), D(c), D(p), cd, round(cd - 1, 2))
        for k, c, p, cd in zip(STRIKES, CALLS, PUTS, CALL_DELTAS, strict=True)
    ],
    spot=D(26_010),
    future=D(26_080),
)


def test_multileg_atm_when_taken_from_spot_future_or_synthetic_is_the_nearest_strike() -> None:
    assert synthetic_forward(CHAIN) == D(26_050)
    assert atm_strike(CHAIN, Reference.SPOT) == D(26_000)
    assert atm_strike(CHAIN, Reference.FUTURE) == D(26_100)  # 20 away, not 30
    assert atm_strike(CHAIN, Reference.SYNTHETIC) == D(26_050)
    halfway = Chain(CHAIN.rows, spot=D(26_025))
    assert atm_strike(halfway) == D(26_050)  # exactly between: the higher


@pytest.mark.parametrize(
    ("reference", "steps", "strike"),
    [
        (Reference.SPOT, 2, 26_100),
        (Reference.SPOT, -3, 25_850),
        (Reference.FUTURE, 1, 26_150),
        (Reference.SYNTHETIC, -1, 26_000),
        (Reference.SPOT, otm(Right.PUT, 2), 25_900),
        (Reference.SPOT, itm(Right.CALL, 1), 25_950),
        (Reference.SPOT, otm(Right.CALL, 1), 26_050),
    ],
)
def test_multileg_atm_offset_when_asked_moves_along_the_listed_strikes(
    reference: Reference, steps: int, strike: int
) -> None:
    assert atm_offset(CHAIN, steps, reference) == D(strike)


def test_multileg_atm_offset_when_beyond_the_chain_says_so() -> None:
    with pytest.raises(NoStrike, match=r"ATM\+5 is beyond the listed strikes"):
        atm_offset(CHAIN, 5)
    with pytest.raises(NoStrike, match="no future price"):
        atm_strike(Chain(CHAIN.rows, spot=D(26_000)), Reference.FUTURE)


@pytest.mark.parametrize(
    ("right", "rule", "value", "upper", "side", "depth", "strike"),
    [
        (Right.CALL, PremiumRule.NEAREST, 100, None, Moneyness.BOTH, None, 26_100),  # 96
        (Right.CALL, PremiumRule.AT_LEAST, 100, None, Moneyness.BOTH, None, 26_050),  # 120
        (Right.PUT, PremiumRule.AT_MOST, 60, None, Moneyness.BOTH, None, 25_850),  # 50
        (Right.PUT, PremiumRule.BETWEEN, 70, 100, Moneyness.BOTH, None, 25_950),  # 78 ~ 85
        (Right.CALL, PremiumRule.NEAREST, 60, None, Moneyness.BOTH, 1, 26_050),  # 120 of 3
        (Right.CALL, PremiumRule.NEAREST, 60, None, Moneyness.BOTH, None, 26_200),  # 58
        (Right.CALL, PremiumRule.NEAREST, 200, None, Moneyness.OTM, None, 26_000),  # 147
        (Right.CALL, PremiumRule.NEAREST, 200, None, Moneyness.ITM, None, 25_900),  # 212
        (Right.PUT, PremiumRule.NEAREST, 150, None, Moneyness.OTM, None, 26_000),  # 97
    ],
)
def test_multileg_premium_strike_when_chosen_matches_the_hand_worked_answer(
    right: Right,
    rule: PremiumRule,
    value: int,
    upper: int | None,
    side: Moneyness,
    depth: int | None,
    strike: int,
) -> None:
    bound = None if upper is None else D(upper)
    chosen = by_premium(CHAIN, right, rule, D(value), bound, side=side, depth=depth)
    assert chosen == D(strike)


def test_multileg_premium_strike_when_nothing_fits_says_what_was_asked() -> None:
    with pytest.raises(NoStrike, match="no CE premium at least 400 within 9 scanned strikes"):
        by_premium(CHAIN, Right.CALL, PremiumRule.AT_LEAST, D(400))
    with pytest.raises(ValueError, match="upper bound"):
        by_premium(CHAIN, Right.PUT, PremiumRule.BETWEEN, D(100), D(50))


@pytest.mark.parametrize(
    ("right", "delta", "strike"),
    [
        (Right.CALL, 0.30, 26_150),  # 0.31
        (Right.PUT, 0.30, 25_900),  # |−0.33| is 0.03 away, |−0.26| 0.04
        (Right.PUT, -0.5, 26_000),  # −0.48
        (Right.CALL, 0.5, 26_000),  # 0.52
    ],
)
def test_multileg_delta_strike_when_chosen_is_the_nearest_in_size(
    right: Right, delta: float, strike: int
) -> None:
    assert by_delta(CHAIN, right, delta) == D(strike)


@pytest.mark.parametrize(
    ("multiple", "strike"),
    [("0.5", 26_100), ("-1", 25_800), ("0.25", 26_050)],
)
def test_multileg_straddle_width_when_applied_counts_from_the_atm_straddle(
    multiple: str, strike: int
) -> None:
    # ATM 26,000; its straddle is 147 + 97 = 244: 0.5 × 244 = 122 → 26,122 → 26,100.
    assert by_straddle_width(CHAIN, D(multiple)) == D(strike)
