"""Dynamic hedge (``multileg_and_panels.md`` §1.6): each sold option leg gets a bought hedge of
the same type and expiry further out of the money, chosen as the portfolio enters, bought before
its sold leg (so the sold leg's margin has the hedge's benefit) and sold after it.

- **Premium based**: from the sold strike outward (calls up, puts down), the first listed strike
  between ``min_distance`` and ``max_distance`` strikes away whose premium lies within
  ``min_premium`` … ``max_premium``; nearer strikes are tried first, as Stoxxo searches.
- **Distance based**: the first listed strike at least ``fixed_distance`` points out from the sold
  strike.

The hedge closes with its sold leg (``square_off_on = leg``: the sold leg's stop or target takes
its hedge out too) or stays until the portfolio exits (``portfolio``).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from engine.strategies.multileg.bounds import BoundedModel
from engine.strategies.multileg.strikes import Chain, NoStrike, Right


class HedgeKind(StrEnum):
    PREMIUM = "premium"
    """The first strike out whose premium lies within the band."""
    DISTANCE = "distance"
    """The first strike at least a fixed number of points out."""


class HedgeExit(StrEnum):
    LEG = "leg"
    """The hedge is sold when its sold leg exits."""
    PORTFOLIO = "portfolio"
    """The hedge stays until the portfolio exits."""


class DynamicHedge(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="Buy a hedge for every sold option leg.")
    kind: HedgeKind = Field(default=HedgeKind.PREMIUM, description="How the hedge is chosen.")
    min_distance: int = Field(
        default=10, ge=1, le=60, description="Strikes out from the sold strike: nearest searched."
    )
    max_distance: int = Field(
        default=20, ge=1, le=60, description="Strikes out from the sold strike: farthest searched."
    )
    min_premium: Decimal = Field(
        default=Decimal("0.05"), ge=0, description="Cheapest hedge premium accepted (₹)."
    )
    max_premium: Decimal = Field(
        default=Decimal(40), gt=0, description="Dearest hedge premium accepted (₹)."
    )
    fixed_distance: Decimal = Field(
        default=Decimal(50), gt=0, description="Distance based: points out from the sold strike."
    )
    square_off_on: HedgeExit = Field(
        default=HedgeExit.LEG, description="Sold with its leg, or held to the portfolio's exit."
    )

    @model_validator(mode="after")
    def _bands(self) -> DynamicHedge:
        if self.min_distance > self.max_distance:
            raise ValueError(
                f"the hedge search starts {self.min_distance} strikes out but ends "
                f"{self.max_distance} strikes out: the nearest must not be beyond the farthest"
            )
        if self.min_premium > self.max_premium:
            raise ValueError(
                f"the hedge premium band ₹{self.min_premium}–₹{self.max_premium} is empty: "
                "the lowest premium is above the highest"
            )
        return self


def hedge_problem(settings: DynamicHedge, hedges_first: bool, sells_first: bool) -> str | None:
    """Whole-portfolio settings a dynamic hedge contradicts, in words; None if none."""
    if not settings.enabled:
        return None
    if not hedges_first:
        return "a dynamic hedge is bought before its sold leg: turn on 'hedges first'"
    if not sells_first:
        return "a dynamic hedge is sold after its sold leg: turn on 'sells first'"
    return None


def hedge_strike(chain: Chain, right: Right, sold: Decimal, settings: DynamicHedge) -> Decimal:
    """The hedge strike for a sold ``right`` at ``sold`` in ``chain``; ``NoStrike`` in words."""
    strikes = chain.strikes
    if sold not in strikes:
        raise NoStrike(f"the sold strike {sold} is not listed")
    at = strikes.index(sold)
    step = 1 if right is Right.CALL else -1
    if settings.kind is HedgeKind.DISTANCE:
        for strike in strikes[at::step]:
            if abs(strike - sold) >= settings.fixed_distance:
                return strike
        raise NoStrike(
            f"no {right.value} listed {settings.fixed_distance} points or more out from {sold}"
        )
    for distance in range(settings.min_distance, settings.max_distance + 1):
        index = at + step * distance
        if not 0 <= index < len(strikes):
            break
        row = chain.rows[index]
        premium = row.premium(right)
        if premium is not None and settings.min_premium <= premium <= settings.max_premium:
            return row.strike
    raise NoStrike(
        f"no {right.value} {settings.min_distance}–{settings.max_distance} strikes out from "
        f"{sold} has a premium within ₹{settings.min_premium}–₹{settings.max_premium}"
    )
