"""Candles built from ticks: 1, 3, 5 and 15 minutes, an hour, a day, aligned to NSE's session
(``engine.domain.bars``).

A bar's volume is what traded in it: the rise of the exchange's cumulative day volume from the
last tick before the bar to the bar's last tick. The count starts again each IST day, so the
first tick a series sees on a day is where that day's counting starts (it adds nothing to its
bar); a new day is told by the date, not by the figure falling, because a contract quiet
yesterday can open today above yesterday's whole count. A bar's OI is the last seen. A minute
with no tick has no bar (nothing is invented). Bucketing is integer arithmetic on the tick's
nanoseconds, so a builder keeps up with the feed.
"""

from __future__ import annotations

from collections import deque

from engine.core.clock import ist_day_number
from engine.domain.bars import Bar, SeriesKey, Timeframe
from engine.domain.ticks import Tick

__all__ = ["MAX_BARS", "Bar", "BarBuilder", "BarSeries", "SeriesKey", "Timeframe"]

MAX_BARS = 20_000
"""Closed bars a series keeps (the oldest are dropped): 53 sessions of minutes, eight years of
days. A bar is about 150 bytes, so a series stays under 3 MB."""


class BarSeries:
    """One series' bars at one timeframe: the closed ones, newest ``max_bars`` kept, and the one
    forming."""

    __slots__ = ("_base", "_closed", "_phase_ns", "_size_ns", "forming", "key", "timeframe")

    def __init__(self, key: SeriesKey, timeframe: Timeframe, max_bars: int = MAX_BARS) -> None:
        if max_bars < 1:
            raise ValueError(f"a series keeps at least one closed bar, got max_bars={max_bars}")
        self.key = key
        self.timeframe = timeframe
        # ``timeframe.start_of`` inlined in ``add``, which every tick of the series goes through.
        self._phase_ns = timeframe.phase_ns
        self._size_ns = timeframe.size_ns
        self.forming: Bar | None = None
        self._closed: deque[Bar] = deque(maxlen=max_bars)
        self._base = 0
        """The cumulative day volume the forming bar's volume counts from."""

    def add(self, ts_ns: int, price: int, volume: int = 0, oi: int = 0) -> Bar | None:
        """Add one observation (``volume`` cumulative for the day); the bar it closed, if it
        opened a new one. Any whole number is a value here (a portfolio's MTM goes below zero);
        ticks without a trade are left out before they reach a series."""
        start = ts_ns - (ts_ns + self._phase_ns) % self._size_ns
        bar = self.forming
        if bar is not None and start == bar.start_ns:
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume = volume - self._base
            bar.oi = oi
            bar.ticks += 1
            return None
        if bar is not None and start < bar.start_ns:
            return None  # a late tick of a bar already closed: it cannot be placed now
        base = volume
        if bar is not None:
            self._closed.append(bar)
            # An intraday bar never spans IST midnight for NSE's hours: its start tells its day.
            if ist_day_number(start) == ist_day_number(bar.start_ns):
                base = self._base + bar.volume  # the last cumulative figure seen today
        self._base = base
        self.forming = Bar(self.key, start, price, price, price, price, volume - base, oi)
        return bar

    def bars(self, *, with_open: bool = True) -> list[Bar]:
        """Oldest first, the forming bar last."""
        out = list(self._closed)
        if with_open and self.forming is not None:
            out.append(self.forming)
        return out


class BarBuilder:
    """One timeframe's bars of every series it is fed, kept for the session."""

    def __init__(self, timeframe: Timeframe, max_bars: int = MAX_BARS) -> None:
        self.timeframe = timeframe
        self._max_bars = max_bars
        self._series: dict[SeriesKey, BarSeries] = {}

    def on_tick(self, tick: Tick) -> Bar | None:
        """Add a tick; the bar it closed, if it opened a new one. A tick with no trade yet (a
        last price of zero) makes no bar."""
        if tick.ltp <= 0:
            return None
        return self.add(tick.token, tick.ts_ns, tick.ltp, tick.volume, tick.oi)

    def add(
        self, key: SeriesKey, ts_ns: int, price: int, volume: int = 0, oi: int = 0
    ) -> Bar | None:
        """Add one observation of a series (an instrument's trade, or a value the desk derives,
        such as a straddle's premium, under a key of its own); ``volume`` is cumulative for the
        day. The bar it closed, if it opened a new one."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = BarSeries(key, self.timeframe, self._max_bars)
        return series.add(ts_ns, price, volume, oi)

    def bars(self, key: SeriesKey, *, with_open: bool = True) -> list[Bar]:
        """The series' bars of the session, oldest first (the forming one last)."""
        series = self._series.get(key)
        return [] if series is None else series.bars(with_open=with_open)
