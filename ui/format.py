"""How numbers, money and times look in every panel (IST; Indian digit grouping unless the
trader's Display settings say international)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from engine.api import IST, Tick
from engine.domain.values import format_rupees

IST_NAME = "Asia/Kolkata"

NUMBER_FORMATS = ("indian", "international")
_grouping = "indian"


def set_number_format(name: str) -> None:
    """Digit grouping of every figure shown from now on: 'indian' (1,23,45,678.50) or
    'international' (12,345,678.50). Kept per process: one desk, one way of reading numbers."""
    global _grouping
    if name not in NUMBER_FORMATS:
        raise ValueError(f"number format {name!r} is unknown; use {' or '.join(NUMBER_FORMATS)}")
    _grouping = name


def number_format() -> str:
    return _grouping


def money(paise: int) -> str:
    """An amount in paise as rupees with two decimals, grouped as the trader chose."""
    if _grouping == "indian":
        return format_rupees(paise)
    whole, fraction = divmod(abs(paise), 100)
    return f"{'-' if paise < 0 else ''}{whole:,}.{fraction:02d}"


def rupees(value: Decimal | None) -> str:
    """1,23,456.78 from an exact rupee amount (half up to the paisa)."""
    if value is None:
        return "—"
    paise = int((value * 100).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return money(paise)


def paise(value: int | None) -> str:
    if not value:
        return "—"
    return money(value)


def signed_rupees(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = rupees(value)
    return f"+{text}" if value > 0 else text


def rupee_amount(value: Decimal | None, *, signed: bool = False) -> str:
    """₹1,23,456.78 from an exact rupee amount, the sign before the ₹ (-₹12.50; with
    ``signed``, +₹ on a gain too), half up to the paisa and grouped as ``rupees``. An amount
    that rounds to nothing is ₹0.00, never -₹0.00."""
    if value is None:
        return "—"
    shown = rupees(abs(value))  # half up is symmetric: the sign can be put back in front
    if not shown.strip("0.,"):
        return f"₹{shown}"
    if value < 0:
        return f"-₹{shown}"
    return f"+₹{shown}" if signed else f"₹{shown}"


def percent(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    number = float(value)
    if abs(number) < 0.005:
        number = 0.0
    return f"{number:+.2f}%" if number else "0.00%"


def quantity(value: int | None) -> str:
    if value is None:
        return "—"
    return money(value * 100)[:-3]


def lakh_count(value: int | None) -> str:
    """Volumes and OI: 12,34,567 (or 1,234,567) grouping."""
    if not value:
        return "—"
    return money(value * 100)[:-3]


def ist_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).astimezone(IST).strftime("%H:%M:%S")


def change(tick: Tick | None) -> int | None:
    if tick is None or not tick.close:
        return None
    return tick.ltp - tick.close


def change_percent(tick: Tick | None) -> Decimal | None:
    if tick is None or not tick.close:
        return None
    return Decimal((tick.ltp - tick.close) * 100) / tick.close
