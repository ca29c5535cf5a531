"""Candles as values: the timeframes the desk charts and trades on, aligned to NSE's session, and
one bar of a series.

Intraday bars are anchored at 09:15 IST, the open, as traders' charts are (an hour bar runs
09:15–10:15, the last one 15:15–15:30 or to the close); a day bar is one IST trading date. Prices
stay in paise, as ticks carry them. Bucketing is integer arithmetic on nanoseconds (IST has no
daylight saving).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from engine.core.clock import IST

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
        self.size_ns = minutes * _MINUTE
        # Every size divides a day, so one grid serves all days: the open's for intraday bars,
        # midnight's for a day bar. The phase moves it from UTC's epoch onto that grid.
        self.phase_ns = _IST_OFFSET - (0 if self.size_ns == _DAY else _OPEN)

    @classmethod
    def of(cls, label: str) -> Timeframe:
        for timeframe in cls:
            if timeframe.label == label:
                return timeframe
        choices = ", ".join(t.label for t in cls)
        raise ValueError(f"timeframe {label!r} is not one of {choices}")

    def start_of(self, ts_ns: int) -> int:
        """The start (epoch ns, UTC) of the bar a moment falls in."""
        return ts_ns - (ts_ns + self.phase_ns) % self.size_ns


SeriesKey = int | str
"""What a bar series is of: an instrument's token, or the name of a value the desk derives
("straddle:NIFTY:2026-12-10", "portfolio:IronFly:premium")."""


@dataclass(slots=True)
class Bar:
    key: SeriesKey
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


def resample(bars: Iterable[Bar], timeframe: Timeframe) -> list[Bar]:
    """Finer bars of one series (oldest first) gathered into a coarser timeframe: the bars the
    builder would have made from the same ticks."""
    out: list[Bar] = []
    for bar in bars:
        start = timeframe.start_of(bar.start_ns)
        last = out[-1] if out else None
        if last is None or last.start_ns != start:
            out.append(
                Bar(
                    bar.key,
                    start,
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.volume,
                    bar.oi,
                    bar.ticks,
                )
            )
            continue
        last.high = max(last.high, bar.high)
        last.low = min(last.low, bar.low)
        last.close = bar.close
        last.volume += bar.volume
        last.oi = bar.oi
        last.ticks += bar.ticks
    return out
