"""The fake Kite's historical candles (kite_xts_apis.md §A.14), deterministic and in Kite's format.

``GET /instruments/historical/{token}/{interval}?from=...&to=...&oi=0|1`` answers
``{"status": "success", "data": {"candles": [[ts, o, h, l, c, v(, oi)], ...]}}`` with ``ts`` as
``2017-12-15T09:15:00+0530``, prices as JSON numbers in rupees, only minutes of trading sessions
(NSE's packaged calendar: weekends and holidays have none, 09:15 to 15:29 otherwise) and only
candles that have started by ``now``. Both ends are inclusive, as on Kite.

Every minute of a token is a pure function of the token and the minute, so the same candle comes
back whatever range it was asked in; coarser intervals are the minutes gathered from 09:15 (day
candles stamped 00:00). Spans longer than Kite's limit per interval are refused as Kite does.
The 3-a-second limit is the REST server's middleware; ``requests`` records every request that
reached this handler, and ``serve_fixture`` answers the next ones with an official mock verbatim.
"""

from __future__ import annotations

import json
import time as wall_clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from aiohttp import web

from engine.calendar import MarketCalendar, load_calendar
from engine.core.clock import IST
from tests.kite_fake.oms import FIXTURES, KiteApiError

INTERVAL_MINUTES = {
    "minute": 1,
    "3minute": 3,
    "5minute": 5,
    "10minute": 10,
    "15minute": 15,
    "30minute": 30,
    "60minute": 60,
    "day": 0,
}
MAX_DAYS = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
SESSION_OPEN = time(9, 15)
SESSION_MINUTES = 375
"""09:15 to 15:30: the candles the fake serves for a trading day."""
TICK = 5
"""Paise: every price is on NSE's 0.05 grid."""


@dataclass(frozen=True)
class CandleRequest:
    token: int
    interval: str
    start: datetime
    """Naive IST, as Kite reads ``from``."""
    end: datetime
    oi: bool
    at: float
    """When it reached the fake (epoch seconds), for counting requests per second."""


class FakeHistory:
    def __init__(
        self,
        calendar: MarketCalendar | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(IST),
    ) -> None:
        self.calendar = calendar if calendar is not None else load_calendar(None)
        self.now = now
        """Candles that have not started by then are not served (the fake's wall clock)."""
        self.requests: list[CandleRequest] = []
        self._fixture_replies: list[str] = []

    def serve_fixture(self, name: str) -> None:
        """Answer the next candle request with an official mock (``historical_oi.json``) as is."""
        self._fixture_replies.append((FIXTURES / name).read_text())

    async def handle(self, request: web.Request) -> web.Response:
        token_text = request.match_info["token"]
        interval = request.match_info["interval"]
        if not token_text.isdigit():
            raise KiteApiError(400, "InputException", "invalid token")
        if interval not in INTERVAL_MINUTES:
            raise KiteApiError(400, "InputException", "invalid interval")
        start = _kite_time(request.query.get("from", ""))
        end = _kite_time(request.query.get("to", ""))
        if end < start:
            raise KiteApiError(400, "InputException", "invalid from and to dates")
        if end - start > timedelta(days=MAX_DAYS[interval]):
            message = f"interval exceeds max limit: {MAX_DAYS[interval]} days"
            raise KiteApiError(400, "InputException", message)
        oi = request.query.get("oi", "0") == "1"
        self.requests.append(
            CandleRequest(int(token_text), interval, start, end, oi, wall_clock.time())
        )
        if self._fixture_replies:
            return _json(self._fixture_replies.pop(0))
        rows = self.candles(int(token_text), interval, start, end, oi)
        return _json(json.dumps({"status": "success", "data": {"candles": rows}}))

    def candles(
        self, token: int, interval: str, start: datetime, end: datetime, oi: bool
    ) -> list[list[object]]:
        """Kite's rows for candles stamped within ``[start, end]`` (naive IST, inclusive)."""
        size = INTERVAL_MINUTES[interval]
        last = min(end, self.now().astimezone(IST).replace(tzinfo=None))
        rows: list[list[object]] = []
        day = start.date()
        while day <= last.date():
            if self.calendar.is_trading_day(day, "CM"):
                for stamp, row in _day_candles(token, day, size):
                    if start <= stamp <= last:
                        rows.append(list(row if oi else row[:6]))
            day += timedelta(days=1)
        return rows


def minute_candles(token: int, day: date) -> npt.NDArray[np.int64]:
    """A token's minutes of ``day`` from 09:15: rows of (open, high, low, close, volume, oi)."""
    ordinal = day.toordinal() * SESSION_MINUTES + np.arange(SESSION_MINUTES + 1, dtype=np.int64)
    base = 50_000 + token % 997 * 1_000
    levels = _levels(token, base, ordinal)
    opening, closing = levels[:-1], levels[1:]  # a minute closes where the next one opens
    noise = _mix(token, ordinal[:-1], 3)
    high = np.maximum(opening, closing) + (noise % 4).astype(np.int64) * TICK
    low = np.maximum(np.minimum(opening, closing) - (noise >> 8 & 3).astype(np.int64) * TICK, TICK)
    volume = 100 + (noise >> 16 & 0xFFFF).astype(np.int64) % 5_000
    oi = 1_000_000 + ordinal[:-1] % 1_000 * 75
    return np.stack([opening, high, low, closing, volume, oi], axis=1)


@lru_cache(maxsize=4096)
def _day_candles(
    token: int, day: date, size: int
) -> tuple[tuple[datetime, tuple[object, ...]], ...]:
    """A trading day's candles of ``size`` minutes (0: the day candle): their naive IST stamps,
    and their rows in Kite's format with the open interest last."""
    minutes = minute_candles(token, day)
    width = size or SESSION_MINUTES
    firsts = np.arange(0, SESSION_MINUTES, width)
    lasts = np.minimum(firsts + width, SESSION_MINUTES) - 1
    columns = (
        minutes[firsts, 0] / 100,
        np.maximum.reduceat(minutes[:, 1], firsts) / 100,
        np.minimum.reduceat(minutes[:, 2], firsts) / 100,
        minutes[lasts, 3] / 100,
        np.add.reduceat(minutes[:, 4], firsts),
        minutes[lasts, 5],
    )
    opening = datetime.combine(day, SESSION_OPEN)
    out = []
    for first, *values in zip(firsts.tolist(), *(c.tolist() for c in columns), strict=True):
        stamp = opening + timedelta(minutes=first) if size else datetime.combine(day, time())
        # Prices as Kite writes them: 1705 for a whole rupee amount, 1698.15 otherwise.
        prices = [int(p) if p.is_integer() else p for p in values[:4]]
        out.append((stamp, (stamp.strftime("%Y-%m-%dT%H:%M:%S+0530"), *prices, *values[4:])))
    return tuple(out)


def _levels(token: int, base: int, ordinal: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A wandering price per minute: slow waves plus a little noise, on the tick grid."""
    wave = (ordinal % 750 - 375) * base // 30_000 + (ordinal // 375 % 40 - 20) * base // 800
    noise = (_mix(token, ordinal, 1) % 9).astype(np.int64) - 4
    return np.maximum((base + wave) // TICK * TICK + noise * TICK, TICK)


def _mix(token: int, ordinal: npt.NDArray[np.int64], salt: int) -> npt.NDArray[np.uint64]:
    """SplitMix64 over (token, minute, salt): a cheap, stable hash (Python's ``hash`` is
    salted per process). uint64 arithmetic wraps, as the algorithm wants."""
    state = np.full(len(ordinal), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for value in (np.uint64(token), ordinal.astype(np.uint64), np.uint64(salt)):
        state = (state ^ value) * np.uint64(0xBF58476D1CE4E5B9)
        state = (state ^ state >> np.uint64(27)) * np.uint64(0x94D049BB133111EB)
        state ^= state >> np.uint64(31)
    return state


def _kite_time(text: str) -> datetime:
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout)  # noqa: DTZ007 - Kite's times are IST wall clock
        except ValueError:
            continue
    raise KiteApiError(400, "InputException", f"invalid date {text!r}")


def _json(body: str) -> web.Response:
    return web.Response(body=body.encode(), content_type="application/json")
