"""Candles built from ticks: 1, 3, 5 and 15 minutes, an hour, a day, aligned to NSE's session
(``engine.domain.bars``).

A bar's volume is what traded in it: the difference of the exchange's cumulative day volume
between the bar's last tick and the one before the bar; its OI is the last seen. A minute with no
tick has no bar (nothing is invented). Bucketing is integer arithmetic on the tick's nanoseconds,
so a builder keeps up with the feed.
"""

from __future__ import annotations

from engine.domain.bars import Bar, SeriesKey, Timeframe
from engine.domain.ticks import Tick

__all__ = ["Bar", "BarBuilder", "SeriesKey", "Timeframe"]


class BarBuilder:
    """One timeframe's bars of every instrument it is fed, kept for the session."""

    def __init__(self, timeframe: Timeframe) -> None:
        self.timeframe = timeframe
        self._open: dict[SeriesKey, Bar] = {}
        self._closed: dict[SeriesKey, list[Bar]] = {}
        self._base: dict[SeriesKey, int] = {}
        """The cumulative day volume the forming bar's volume counts from."""

    def on_tick(self, tick: Tick) -> Bar | None:
        """Add a tick; the bar it closed, if it opened a new one."""
        return self.add(tick.token, tick.ts_ns, tick.ltp, tick.volume, tick.oi)

    def add(
        self, key: SeriesKey, ts_ns: int, price: int, volume: int = 0, oi: int = 0
    ) -> Bar | None:
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
        self._open[key] = Bar(key, start, price, price, price, price, volume - base, oi)
        return closed

    def bars(self, key: SeriesKey, *, with_open: bool = True) -> list[Bar]:
        """The instrument's bars of the session, oldest first (the forming one last)."""
        out = list(self._closed.get(key, ()))
        forming = self._open.get(key)
        if with_open and forming is not None:
            out.append(forming)
        return out
