"""Kite-format tradingsymbols and NSE cash tick sizes for the simulated market."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache

from engine.domain.instruments import InstrumentType
from engine.domain.values import Paise, to_rupees

_WEEKLY_MONTH_CODES = "123456789OND"


def future_symbol(underlying: str, expiry: date) -> str:
    """``NIFTY26DECFUT``."""
    return f"{underlying}{expiry:%y}{expiry.strftime('%b').upper()}FUT"


def option_symbol(
    underlying: str, expiry: date, strike: Paise, kind: InstrumentType, *, monthly: bool
) -> str:
    """``NIFTY26DEC26000CE`` for a monthly expiry, ``NIFTY26D0126000CE`` for a weekly one."""
    if strike % 100 == 0:
        strike_text = str(strike // 100)  # whole rupees, as nearly every strike is
    else:
        strike_text = format(to_rupees(strike).normalize(), "f")
    return f"{underlying}{_expiry_code(expiry, monthly)}{strike_text}{kind}"


@cache
def _expiry_code(expiry: date, monthly: bool) -> str:
    # A universe has a few expiries and thousands of strikes: format each expiry once.
    if monthly:
        return f"{expiry:%y}{expiry.strftime('%b').upper()}"
    return f"{expiry:%y}{_WEEKLY_MONTH_CODES[expiry.month - 1]}{expiry:%d}"


def equity_tick_size(price: Decimal | float) -> Paise:
    """NSE cash tick size by price band (from 15 Apr 2025, kite_xts_apis.md §D.3).

    A price on a band edge takes the upper band's tick (1,000.00 ticks in 0.10).
    """
    for upper, tick in ((250, 1), (1_000, 5), (5_000, 10), (10_000, 50), (20_000, 100)):
        if price < upper:
            return Paise(tick)
    return Paise(500)
