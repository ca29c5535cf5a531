"""How numbers, money and times look in every panel (Indian digit grouping, IST)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from engine.api import IST, Tick
from engine.domain.values import format_rupees

IST_NAME = "Asia/Kolkata"


def rupees(value: Decimal | None) -> str:
    """1,23,456.78 from an exact rupee amount (half up to the paisa)."""
    if value is None:
        return "—"
    paise = int((value * 100).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return format_rupees(paise)


def paise(value: int | None) -> str:
    if not value:
        return "—"
    return format_rupees(value)


def signed_rupees(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = rupees(value)
    return f"+{text}" if value > 0 else text


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
    return f"{value:,}"


def lakh_count(value: int | None) -> str:
    """Volumes and OI: 12,34,567 grouping."""
    if not value:
        return "—"
    return format_rupees(value * 100)[:-3]


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
