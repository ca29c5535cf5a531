"""The bounds every rupee, point, percent and time of day of a portfolio's settings keeps.

Each field states its own floor (``gt=0`` and the like); these are the ceiling and the grain they
all share. A value that parses as a ``Decimal`` can still be unusable: ``1e999999`` as a target
overflows when it is turned into paise, and ``1e-999999`` as a trail step divides a peak into
more steps than exist. Such a portfolio used to save, enter its legs and fail on its next tick
with the legs open, so the settings refuse them where they are read. Times of day are IST wall
clock: one with a zone (a number, or "09:20+00:00") cannot be compared with the others.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from pydantic import BaseModel, field_validator

LARGEST = Decimal(10) ** 10
"""₹1,000 crore, points or percent: far above any strike, premium or limit a desk sets."""
PLACES = 4
"""Finer than a paisa in rupees and a hundredth of a basis point in percent."""
_GRAIN = Decimal(1).scaleb(-PLACES)


def bounded(value: object) -> object:
    """``value`` itself, unless it is a ``Decimal`` out of bounds or a time of day with a zone
    (``ValueError`` in words)."""
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("is a time of day in IST, as HH:MM or HH:MM:SS, without a zone")
    if not isinstance(value, Decimal):
        return value
    if not value.is_finite() or abs(value) > LARGEST:
        raise ValueError(f"must be at most {LARGEST:,.0f}")
    if value != value.quantize(_GRAIN):
        raise ValueError(f"has more than {PLACES} decimal places")
    return value


class BoundedModel(BaseModel):
    """A settings section whose fields keep ``bounded``'s bounds."""

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: object) -> object:
        return bounded(value)
