"""A CSV row's values: prices in rupees read exactly to the paisa (never rounded), and whole
counts (volume, qty, oi); each refused in words as a ``RowError`` naming the column."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from engine.backtest.csv_time import RowError
from engine.domain.values import PriceError, to_paise

_MAX_RUPEES = Decimal(10) ** 12
_MAX_COUNT = Decimal(10) ** 15


# -- values ----------------------------------------------------------------------------------------


_PLAIN_PRICE = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?", re.ASCII)
"""Rupees as most files write them (``24310.5``), read in integers; anything else in Decimal."""


def price(text: str, name: str, *, positive: bool = True) -> int:
    raw = text.strip()
    plain = _PLAIN_PRICE.fullmatch(raw)
    if plain is not None:
        rupees, fraction = plain.groups()
        paise = int(rupees) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
        if paise or not positive:
            return paise
    if not raw:
        raise RowError(f"{name} is empty")
    try:
        value = Decimal(raw)
        if value.is_finite() and abs(value) > _MAX_RUPEES:
            raise RowError(f"{name} {raw} is beyond any price (over ₹10^12)")
        paise = to_paise(value)
    except (InvalidOperation, PriceError, ValueError) as problem:
        if isinstance(problem, RowError):
            raise
        raise RowError(f"{name} {raw!r} is not a price in rupees to the paisa") from None
    if paise < 0 or (positive and paise == 0):
        raise RowError(f"{name} {raw} must be above 0" if positive else f"{name} {raw} is negative")
    return paise


def optional_price(text: str, name: str) -> int:
    """A bid or an ask: empty (or 0) when the side has no order."""
    return price(text, name, positive=False) if text.strip() else 0


def whole(text: str, name: str) -> int:
    raw = text.strip()
    if raw.isdigit() and raw.isascii() and len(raw) <= 15:
        return int(raw)
    if not raw:
        return 0
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise RowError(f"{name} {raw!r} is not a number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise RowError(f"{name} {raw!r} is not a whole number")
    if value < 0:
        raise RowError(f"{name} {raw} is negative")
    if value > _MAX_COUNT:
        raise RowError(f"{name} {raw} is beyond any count (over 10^15)")
    return int(value)
