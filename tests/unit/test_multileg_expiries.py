"""Which expiry a multileg leg trades, by date or by code, worked out by hand on NIFTY's listed
weeklies (Tuesdays) around the turn of a month."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from engine.strategies.multileg.expiries import ExpiryCode, resolve_expiry
from engine.strategies.multileg.strikes import NoStrike, Reference, atm_strike, chain_of

LISTED = [
    date(2026, 12, 1),
    date(2026, 12, 8),
    date(2026, 12, 15),
    date(2026, 12, 22),
    date(2026, 12, 29),  # December's last: the monthly
    date(2027, 1, 5),
    date(2027, 1, 26),  # January's last
]


@pytest.mark.parametrize(
    ("today", "code", "expiry"),
    [
        (date(2026, 12, 3), ExpiryCode.CURRENT_WEEK, date(2026, 12, 8)),
        (date(2026, 12, 8), ExpiryCode.CURRENT_WEEK, date(2026, 12, 8)),  # its expiry day
        (date(2026, 12, 3), ExpiryCode.NEXT_WEEK, date(2026, 12, 15)),
        (date(2026, 12, 3), ExpiryCode.WEEK_AFTER, date(2026, 12, 22)),
        (date(2026, 12, 3), ExpiryCode.CURRENT_MONTH, date(2026, 12, 29)),
        (date(2026, 12, 3), ExpiryCode.NEXT_MONTH, date(2027, 1, 26)),
        (date(2026, 12, 30), ExpiryCode.CURRENT_MONTH, date(2027, 1, 26)),  # December is over
        (date(2026, 12, 3), date(2026, 12, 22), date(2026, 12, 22)),
    ],
)
def test_multileg_expiry_when_named_by_code_or_date_is_the_listed_one(
    today: date, code: ExpiryCode | date, expiry: date
) -> None:
    assert resolve_expiry(LISTED, code, today) == expiry


def test_multileg_expiry_when_not_listed_says_so() -> None:
    with pytest.raises(NoStrike, match="no contract expires on 23 Dec 2026"):
        resolve_expiry(LISTED, date(2026, 12, 23), date(2026, 12, 3))
    with pytest.raises(NoStrike, match="NM: only 1 monthly expiries are listed"):
        resolve_expiry(LISTED, ExpiryCode.NEXT_MONTH, date(2026, 12, 30))


def test_multileg_chain_when_built_from_analytics_arrays_rounds_to_the_paisa_and_skips_nan() -> (
    None
):
    chain = chain_of(
        [25_950.0, 26_000.0, 26_050.0],
        [178.004, 147.125, math.nan],
        [78.0, 96.995, 120.0],
        spot=26_010.0,
    )
    assert [row.call for row in chain.rows] == [Decimal("178.00"), Decimal("147.13"), None]
    assert chain.rows[1].put == Decimal("97.00") and chain.rows[0].call_delta is None
    assert atm_strike(chain, Reference.SPOT) == Decimal("26000.00")
