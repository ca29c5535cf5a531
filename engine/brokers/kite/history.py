"""Kite's historical candles as the desk's bars (kite_xts_apis.md §A.14).

Kite serves each interval up to a maximum span per request (60 days of minutes ... 2000 days of
days), so a long range is asked for in consecutive pieces, all at once: the REST wrapper's
historical limiter paces them at 3 a second. Kite reads ``from`` and ``to`` as inclusive
IST wall-clock times; the desk asks for the half-open ``[start, end)``, so each piece ends one
microsecond before the next begins (Kite's resolution is the second).

Prices arrive as JSON numbers in rupees (``1698.15``): they become exact paise through their
shortest decimal form, never by multiplying a float. Timestamps (``2017-12-15T09:15:00+0530``)
are read with ``datetime.fromisoformat`` (a fixed format: no dateutil) and become epoch
nanoseconds UTC; a day candle is stamped 00:00 IST, the start of its trading date,
as ``Timeframe.D1.start_of`` puts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.brokers.kite.errors import KiteError, readable
from engine.brokers.kite.rest import KiteRest
from engine.domain.bars import Bar, Timeframe
from engine.domain.values import PriceError, to_paise

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Interval:
    name: str
    """Kite's name of the interval in the URL."""
    max_days: int
    """The longest span Kite serves in one request."""


INTERVALS: dict[Timeframe, Interval] = {
    Timeframe.M1: Interval("minute", 60),
    Timeframe.M3: Interval("3minute", 100),
    Timeframe.M5: Interval("5minute", 100),
    Timeframe.M15: Interval("15minute", 200),
    Timeframe.H1: Interval("60minute", 400),
    Timeframe.D1: Interval("day", 2000),
}


class KiteHistory:
    """A ``HistorySource`` (``engine.marketdata.history``) on Kite's historical API.

    ``oi`` asks for open interest with every request: Kite sends it for derivatives and 0 for
    the rest, so one setting serves every instrument.
    """

    def __init__(self, rest: KiteRest, *, oi: bool = True) -> None:
        self._rest = rest
        self._oi = oi

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        start_ns, end_ns = _epoch_ns(start), _epoch_ns(end)
        if end_ns < start_ns:
            raise ValueError(f"candle range ends ({end}) before it starts ({start})")
        interval = INTERVALS[timeframe]
        pieces = request_spans(start, end, interval.max_days)
        requests = [
            asyncio.ensure_future(self._rest.historical(token, interval.name, a, b, self._oi))
            for a, b in pieces
        ]
        try:
            replies = await asyncio.gather(*requests)
        except BaseException:
            # One piece failed (or the chart was closed): the others are not worth waiting for.
            for request in requests:
                request.cancel()
            await asyncio.gather(*requests, return_exceptions=True)
            raise
        by_start: dict[int, Bar] = {}
        for rows in replies:
            for bar in bars_from_candles(token, rows):
                if start_ns <= bar.start_ns < end_ns:
                    by_start[bar.start_ns] = bar
        return [by_start[key] for key in sorted(by_start)]


def request_spans(start: datetime, end: datetime, max_days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` as Kite requests of at most ``max_days`` each: (from, to), both
    inclusive, oldest first; none when the range is empty."""
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    spans = []
    step = timedelta(days=max_days)
    first = start
    while first < end:
        after = min(first + step, end)
        spans.append((first, after - _JUST_BEFORE))
        first = after
    return spans


def bars_from_candles(token: int, rows: Iterable[Sequence[Any]]) -> list[Bar]:
    """Kite's candle rows (``data.candles``) as bars."""
    return [bar_from_candle(token, row) for row in rows]


def bar_from_candle(token: int, row: Sequence[Any]) -> Bar:
    """One row ``[timestamp, open, high, low, close, volume(, oi)]`` as a bar in paise."""
    try:
        stamp, opening, high, low, closing, volume = row[:6]
        return Bar(
            token,
            _epoch_ns(datetime.fromisoformat(stamp)),
            to_paise(opening),
            to_paise(high),
            to_paise(low),
            to_paise(closing),
            int(volume),
            int(row[6]) if len(row) > 6 else 0,
        )
    except (TypeError, ValueError, PriceError) as exc:
        problem = f"candle {row!r} is unreadable ({exc})"
        raise KiteError(readable("read the candles", problem, "DataException", None)) from exc


def _epoch_ns(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"candle times must be aware datetimes, got {moment!r}")
    return (moment - _EPOCH) // _JUST_BEFORE * 1000
