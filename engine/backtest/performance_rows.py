"""The rows of the performance tables: one owner's (or instrument's) P&L and one owner's day,
and their sums (``engine.backtest.performance`` builds them from a journal)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from engine.domain.values import ZERO


@dataclass(frozen=True, slots=True)
class PnlRow:
    """One owner's (or one owner's instrument's) P&L at the last prices, rupees."""

    owner: str
    symbol: str
    """'' on an owner's row."""
    realised: Decimal
    unrealised: Decimal
    charges: Decimal
    net: Decimal
    fills: int
    trades: int
    wins: int
    open_quantity: int
    """Signed units held (long +, short -); on an owner's row, units held on either side."""
    slippage: Decimal
    open_positions: int = 0
    """Instruments with units held."""
    slippage_measured: bool = False
    """Whether any of its fills had an arrival price to measure ``slippage`` against."""

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


@dataclass(frozen=True, slots=True)
class DayRow:
    """One owner's day: P&L marked to market (the change of its equity over the day)."""

    owner: str
    day: date
    pnl: Decimal
    """Before charges."""
    charges: Decimal
    net: Decimal
    fills: int
    trades: int
    wins: int


@dataclass(slots=True)
class DaySum:
    """One day's sums while its row is built (over one owner or every owner)."""

    net: Decimal = ZERO
    charges: Decimal = ZERO
    fills: int = 0
    trades: int = 0
    wins: int = 0


def sum_rows(owner: str, rows: list[PnlRow]) -> PnlRow:
    return PnlRow(
        owner,
        "",
        sum((r.realised for r in rows), ZERO),
        sum((r.unrealised for r in rows), ZERO),
        sum((r.charges for r in rows), ZERO),
        sum((r.net for r in rows), ZERO),
        sum(r.fills for r in rows),
        sum(r.trades for r in rows),
        sum(r.wins for r in rows),
        sum(abs(r.open_quantity) for r in rows),
        sum((r.slippage for r in rows), ZERO),
        sum(1 for r in rows if r.open_quantity),
        any(r.slippage_measured for r in rows),
    )
