"""Exact money and prices.

Prices travel through the engine as integer paise (``Paise``): every NSE/BSE cash and F&O tick size
is a whole number of paise, integer comparison is exact and cheap on the tick path. Rupee amounts
that are not whole paise (average prices, charges, P&L) are ``Decimal``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NewType

Paise = NewType("Paise", int)

PAISE_PER_RUPEE = 100
_HUNDRED = Decimal(100)
_PAISA = Decimal("0.01")
ZERO = Decimal(0)


class PriceError(ValueError):
    """A price that cannot be represented exactly in paise."""


def to_paise(rupees: Decimal | int | str | float) -> Paise:
    """Convert a rupee amount to exact paise; refuses anything finer than one paisa."""
    if isinstance(rupees, float):
        # Floats come from JSON and CSV; their repr is the shortest round-trip decimal.
        rupees = repr(rupees)
    try:
        value = Decimal(rupees) * _HUNDRED
    except (InvalidOperation, TypeError) as exc:
        raise PriceError(f"{rupees!r} is not a price") from exc
    if not value.is_finite():
        raise PriceError(f"{rupees!r} is not a finite price")
    if value != value.to_integral_value():
        raise PriceError(f"{rupees} is finer than one paisa")
    return Paise(int(value))


def to_rupees(paise: int) -> Decimal:
    """Exact rupees for an amount in paise."""
    return Decimal(paise) / _HUNDRED


def round_paisa(amount: Decimal) -> Decimal:
    """Round a rupee amount to the paisa, half up (contract-note convention)."""
    return amount.quantize(_PAISA, rounding=ROUND_HALF_UP)


def format_rupees(paise: int) -> str:
    """'24,812.35'-style display with Indian digit grouping (lakh/crore)."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), 100)
    digits = str(whole)
    if len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        groups: list[str] = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        digits = ",".join([*groups, tail])
    return f"{sign}{digits}.{frac:02d}"


def rupees_text(paise: int) -> str:
    """Plain rupees with two decimals for messages: 100.05, 0.10, -3.00."""
    sign = "-" if paise < 0 else ""
    whole, frac = divmod(abs(paise), 100)
    return f"{sign}{whole}.{frac:02d}"
