"""Candles built from ticks: 1, 3, 5 and 15 minutes, an hour, a day, aligned to NSE's session.

Intraday bars are anchored at 09:15 IST, the open, as traders' charts are (an hour bar runs
09:15–10:15, the last one 15:15–15:30 or to the close); a day bar is one IST trading date.
A bar's volume is what traded in it: the difference of the exchange's cumulative day volume
between the bar's last tick and the one before the bar; its OI is the last seen. Prices stay in
paise, as ticks carry them. A minute with no tick has no bar (nothing is invented).

Bucketing is integer arithmetic on the tick's nanoseconds (IST has no daylight saving), so a
builder keeps up with the feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick

_NS = 1_000_000_000
_MINUTE = 60 * _NS
_DAY = 24 * 60 * _MINUTE
_IST_OFFSET = (5 * 60 + 30) * _MINUTE
_OPEN = (9 * 60 + 15) * _MINUTE
"""09:15 IST from midnight: the anchor of intraday bars."""


class Timeframe(Enum):
    M1 = ("1m", 1)
    M3 = ("3m", 3)
    M5 = ("5m", 5)
    M15 = ("15m", 15)
    H1 = ("1h", 60)
    D1 = ("1D", 24 * 60)

    def __init__(self, label: str, minutes: int) -> None:
        self.label = label
        self.minutes = minutes

    @classmethod
    def of(cls, label: str) -> Timeframe:
        for timeframe in cls:
            if timeframe.label == label:
                return timeframe
        choices = ", ".join(t.label for t in cls)
        raise ValueError(f"timeframe {label!r} is not one of {choices}")

    def start_of(self, ts_ns: int) -> int:
        """The start (epoch ns, UTC) of the bar a moment falls in."""
        local = ts_ns + _IST_OFFSET
        midnight = local - local % _DAY
        if self is Timeframe.D1:
            return midnight - _IST_OFFSET
        size = self.minutes * _MINUTE
        since_open = local - midnight - _OPEN
        return midnight + _OPEN + since_open // size * size - _IST_OFFSET


@dataclass(slots=True)
class Bar:
    token: InstrumentToken
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    oi: int = 0
    ticks: int = 1

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ns / _NS, IST)


class BarBuilder:
    """One timeframe's bars of every instrument it is fed, kept for the session."""

    def __init__(self, timeframe: Timeframe) -> None:
        self.timeframe = timeframe
        self._open: dict[int, Bar] = {}
        self._closed: dict[int, list[Bar]] = {}
        self._base: dict[int, int] = {}
        """The cumulative day volume the forming bar's volume counts from."""

    def on_tick(self, tick: Tick) -> Bar | None:
        """Add a tick; the bar it closed, if it opened a new one."""
        return self.add(tick.token, tick.ts_ns, tick.ltp, tick.volume, tick.oi)

    def add(self, key: int, ts_ns: int, price: int, volume: int = 0, oi: int = 0) -> Bar | None:
        """Add one observation of a series (an instrument's trade, or a value the desk derives,
        such as a straddle's premium, under a key of its own); ``volume`` is cumulative for the
        day. The bar it closed, if it opened a new one."""
        if price <= 0:
            return None
        start = self.timeframe.start_of(ts_ns)
        bar = self._open.get(key)
        if bar is not None and start == bar.start_ns:
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume = volume - self._base[key]
            bar.oi = oi
            bar.ticks += 1
            return None
        if bar is not None and start < bar.start_ns:
            return None  # a late tick of a bar already closed: it cannot be placed now
        closed = bar
        base = volume
        if bar is not None:
            self._closed.setdefault(key, []).append(bar)
            last = self._base[key] + bar.volume
            if volume >= last:  # a lower figure: a new trading day started the count again
                base = last
        self._base[key] = base
        self._open[key] = Bar(
            InstrumentToken(key), start, price, price, price, price, volume - base, oi
        )
        return closed

    def bars(self, token: int, *, with_open: bool = True) -> list[Bar]:
        """The instrument's bars of the session, oldest first (the forming one last)."""
        out = list(self._closed.get(token, ()))
        forming = self._open.get(token)
        if with_open and forming is not None:
            out.append(forming)
        return out
