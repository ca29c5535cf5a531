"""When a multileg portfolio (or one leg) exits: leg stops and targets in points, percent or
absolute premium; the combined target and stop on the portfolio's MTM, in rupees or percent of
the premium; and the trailing combined stop that locks a profit once reached and raises the lock
as the profit grows (``multileg_and_panels.md`` §1.7–1.8). All in exact rupees; each check fires
on the first mark beyond its threshold, never before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.domain.orders import Side
from engine.domain.values import ZERO

HUNDRED = Decimal(100)


class Measure(StrEnum):
    POINTS = "points"
    PERCENT = "percent"
    PREMIUM = "premium"
    """An absolute premium: the price itself."""


@dataclass(frozen=True, slots=True)
class LegMark:
    side: Side
    quantity: int
    """Units (lots × lot size)."""
    entry: Decimal
    price: Decimal
    """The price the leg is marked at now (its LTP, or the side it would exit at)."""

    @property
    def pnl(self) -> Decimal:
        move = self.price - self.entry
        return move * self.quantity if self.side is Side.BUY else -move * self.quantity


def combined_pnl(marks: Sequence[LegMark]) -> Decimal:
    return sum((mark.pnl for mark in marks), ZERO)


def net_premium(marks: Sequence[LegMark]) -> Decimal:
    """The premium the structure was entered for, in size: what its sold legs brought in less
    what its bought legs cost (a credit), or the other way round (a debit). Percent targets and
    stops are percent of this."""
    signed = sum((m.entry * m.quantity * (1 if m.side is Side.SELL else -1) for m in marks), ZERO)
    return abs(signed)


def leg_level(
    side: Side, entry: Decimal, value: Decimal, measure: Measure, *, stop: bool
) -> Decimal:
    """The price at which a leg's stop (``stop``) or target triggers."""
    if measure is Measure.PREMIUM:
        return value
    distance = value if measure is Measure.POINTS else entry * value / HUNDRED
    against = (side is Side.SELL) == stop  # a short's stop and a long's target are above
    return entry + distance if against else entry - distance


def leg_hit(side: Side, level: Decimal, price: Decimal, *, stop: bool) -> bool:
    """Whether ``price`` is at or beyond the leg's stop (or target) level."""
    above = (side is Side.SELL) == stop
    return price >= level if above else price <= level


@dataclass(frozen=True, slots=True)
class Threshold:
    """A combined target or stop: rupees of MTM, or percent of the premium."""

    value: Decimal
    percent: bool = False

    def rupees(self, premium: Decimal) -> Decimal:
        return abs(premium) * self.value / HUNDRED if self.percent else self.value


@dataclass(slots=True)
class CombinedExit:
    """The portfolio-level target, stop and lock-and-trail, fed every new MTM.

    ``lock_at`` / ``lock`` / ``trail_every`` / ``trail_by``: once the MTM reaches ``lock_at``,
    a profit of ``lock`` is kept (the MTM falling back to it exits); every further
    ``trail_every`` of profit raises the kept profit by ``trail_by``.
    ``stop_trail_every`` / ``stop_trail_by``: for every ``stop_trail_every`` of peak profit the
    combined stop tightens by ``stop_trail_by`` (the trailing combined SL).
    """

    premium: Decimal
    target: Threshold | None = None
    stop: Threshold | None = None
    lock_at: Decimal | None = None
    lock: Decimal = ZERO
    trail_every: Decimal | None = None
    trail_by: Decimal = ZERO
    stop_trail_every: Decimal | None = None
    stop_trail_by: Decimal = ZERO
    locked: Decimal | None = None
    """The profit kept now (None until ``lock_at`` is reached)."""
    peak: Decimal = ZERO

    def stop_level(self) -> Decimal | None:
        """The MTM at or below which the combined stop fires now (trailed up by the peak)."""
        if self.stop is None:
            return None
        level = -self.stop.rupees(self.premium)
        if self.stop_trail_every and self.peak > 0:
            level += int(self.peak / self.stop_trail_every) * self.stop_trail_by
        return level

    def hit(self, mtm: Decimal) -> tuple[str, str] | None:
        """(``target`` | ``stop`` | ``lock``, why in words) at this MTM, or None."""
        self.peak = max(self.peak, mtm)
        if self.target is not None and mtm >= self.target.rupees(self.premium):
            return "target", (
                f"combined target reached: MTM {mtm} ≥ {self.target.rupees(self.premium)}"
            )
        stop = self.stop_level()
        if stop is not None and mtm <= stop:
            trailed = (
                "trailing "
                if self.stop is not None and stop != -self.stop.rupees(self.premium)
                else ""
            )
            shown = f"−{-stop}" if stop < 0 else f"{stop}"
            return "stop", f"combined {trailed}stop hit: MTM {mtm} ≤ {shown}"
        if self.lock_at is not None and self.peak >= self.lock_at:
            kept = self.lock
            if self.trail_every:
                steps = int((self.peak - self.lock_at) / self.trail_every)
                kept += steps * self.trail_by
            self.locked = kept if self.locked is None else max(self.locked, kept)
            if mtm <= self.locked:
                return "lock", f"locked profit given back: MTM {mtm} ≤ {self.locked} kept"
        return None

    def quiet_band(self) -> tuple[float, float]:
        """Paise: the MTMs above the first and at most the second at which ``hit`` finds
        nothing and changes nothing: above the stop and any profit kept, below the target, and
        not above the peak seen (a new peak may trail the stop or raise the lock, so it goes to
        ``hit``). While the MTM stays in the band, a tick's check is two integer comparisons
        rather than Decimal arithmetic."""
        low: float = -math.inf
        stop = self.stop_level()
        if stop is not None:
            low = math.floor(stop * 100)
        if self.locked is not None:
            low = max(low, math.floor(self.locked * 100))
        high = math.floor(self.peak * 100)
        if self.target is not None:
            high = min(high, math.ceil(self.target.rupees(self.premium) * 100) - 1)
        return low, high

    def check(self, mtm: Decimal) -> str | None:
        """Why the portfolio exits at this MTM, or None."""
        found = self.hit(mtm)
        return None if found is None else found[1]
