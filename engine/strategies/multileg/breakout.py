"""An opening range and its breakout (``multileg_and_panels.md`` §1.4): the high and low of a
price over the range window, then the first price (or minute close) beyond one side by the
buffer; which legs each side enters; the other side as their stop.

Prices are integer paise (a net premium can be negative); the buffer is exact (``Decimal``).
A range and the sides that fired are saved with the portfolio: a range already measured is kept
across a restart and a side that fired never fires again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.strategies.multileg.conditions_spec import EntryAt, RangeBreakout
from engine.strategies.multileg.spec import Instrument

HIGH, LOW = "high", "low"
BOTH = frozenset({HIGH, LOW})


@dataclass(slots=True)
class PriceRange:
    """High and low of one price over the range window."""

    high: int = 0
    low: int = 0
    count: int = 0
    """0 until the first price; then 1 (the tick path sets it, not counting every price)."""

    def beyond(self, price: int, rule: RangeBreakout, sides: frozenset[str]) -> str | None:
        """The side ``price`` breaks out of (only among ``sides``), or None."""
        if not self.count:
            return None
        if HIGH in sides and price > self.high + _buffer(self.high, rule):
            return HIGH
        if LOW in sides and price < self.low - _buffer(self.low, rule):
            return LOW
        return None

    def edge(self, side: str) -> int:
        return self.high if side == HIGH else self.low

    def snapshot(self) -> list[int]:
        return [self.high, self.low, self.count]

    @classmethod
    def restored(cls, saved: list[int]) -> PriceRange:
        return cls(int(saved[0]), int(saved[1]), int(saved[2]))


def _buffer(edge: int, rule: RangeBreakout) -> Decimal:
    if rule.buffer_percent:
        return abs(edge) * rule.buffer / 100
    return rule.buffer * 100


def sides_of_portfolio(rule: RangeBreakout) -> frozenset[str]:
    """The sides watched for an underlying or combined range."""
    if rule.entry_at is EntryAt.HIGH:
        return frozenset({HIGH})
    if rule.entry_at is EntryAt.LOW:
        return frozenset({LOW})
    return BOTH


def sides_of_leg(rule: RangeBreakout, instrument: Instrument) -> frozenset[str]:
    """The sides whose breakout enters a leg of ``instrument`` (underlying or combined range)."""
    at = rule.entry_at
    if at is EntryAt.CE_HIGH_PE_LOW:
        return frozenset({HIGH if instrument is Instrument.CE else LOW})
    if at is EntryAt.PE_HIGH_CE_LOW:
        return frozenset({LOW if instrument is Instrument.CE else HIGH})
    return sides_of_portfolio(rule)


def other(side: str) -> str:
    return LOW if side == HIGH else HIGH


def crossed_back(price: int, fired: str, edges: PriceRange) -> bool:
    """Whether ``price`` is at or beyond the range's other side (the stop of a ``fired``
    breakout)."""
    return price <= edges.low if fired == HIGH else price >= edges.high


def snapshot_ranges(ranges: dict[str, PriceRange]) -> dict[str, Any]:
    return {key: found.snapshot() for key, found in ranges.items()}


def restore_ranges(saved: dict[str, Any] | None) -> dict[str, PriceRange]:
    return {key: PriceRange.restored(value) for key, value in (saved or {}).items()}
