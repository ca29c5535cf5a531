"""Market data ticks.

A ``Tick`` is a tuple subclass: immutable and cheap to build, because the engine handles hundreds of
thousands of them a second. Prices are integer paise; the timestamp is epoch nanoseconds (UTC), with
an aware-datetime view for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple

from engine.core.clock import ist_day_number
from engine.domain.ids import InstrumentToken
from engine.domain.values import to_rupees

DepthLevel = tuple[int, int, int]
"""(price in paise, quantity, number of orders)."""

EMPTY_DEPTH: tuple[DepthLevel, ...] = ()


class Tick(NamedTuple):
    token: InstrumentToken
    ltp: int
    """Last traded price, paise."""
    bid: int
    """Best bid, paise; 0 when there is no bid."""
    ask: int
    """Best ask, paise; 0 when there is no ask."""
    bid_qty: int
    ask_qty: int
    volume: int
    oi: int
    ts_ns: int
    """Exchange timestamp, epoch nanoseconds UTC."""
    last_qty: int = 0
    bids: tuple[DepthLevel, ...] = EMPTY_DEPTH
    """Up to 5 bid levels, best first."""
    asks: tuple[DepthLevel, ...] = EMPTY_DEPTH
    """Up to 5 ask levels, best first."""
    close: int = 0
    """Previous close, paise (for change and % change)."""

    is_market_data = True  # type: ignore[misc]  # not a field: catch-all subscribers skip ticks

    @property
    def exchange_timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ns / 1e9, tz=UTC)


@dataclass(frozen=True, slots=True)
class Quote:
    """An instrument's last quote, rupees. A side with no order on it is ``None``."""

    token: InstrumentToken
    ltp: Decimal
    bid: Decimal | None
    ask: Decimal | None
    bid_qty: int
    ask_qty: int
    volume: int
    oi: int
    close: Decimal | None
    """Previous close (None when the feed has not given one)."""
    ts_ns: int
    """Exchange time of the last tick, epoch nanoseconds UTC."""

    @classmethod
    def of(cls, tick: Tick) -> Quote:
        return cls(
            tick.token,
            to_rupees(tick.ltp),
            to_rupees(tick.bid) if tick.bid else None,
            to_rupees(tick.ask) if tick.ask else None,
            tick.bid_qty,
            tick.ask_qty,
            tick.volume,
            tick.oi,
            to_rupees(tick.close) if tick.close else None,
            tick.ts_ns,
        )


_EPOCH = date(1970, 1, 1).toordinal()  # ist_day_number's day 0


def previous_close(tick: Tick, today: date) -> int:
    """The price ``today``'s change of an instrument is measured from, paise (0: none known).

    A quote's close is the previous close of the day it was last updated on. A quote last
    updated on an earlier IST day (a contract that expired and never ticks again, an instrument
    without a trade yet today) has that day's last price as today's previous close: its day
    change is 0, not the earlier day's move over again. A quote with no time (0) keeps its close.
    """
    if tick.ts_ns > 0 and tick.ltp > 0 and ist_day_number(tick.ts_ns) < today.toordinal() - _EPOCH:
        return tick.ltp
    return tick.close
