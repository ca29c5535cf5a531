"""A past for the paper market's instruments, so a chart opens on days of candles, not on one.

The simulated market starts fresh every session and remembers nothing, so its history is made up,
one trading day at a time:

- Each trading day of the instrument's segment (the NSE calendar: weekends and holidays have no
  candles; cash and indices 09:15–15:30, F&O to the calendar's close) has its own random stream,
  seeded by the market's seed, the token and the date: a day's candles never depend on which
  range was asked for, and the same market gives the same history.
- Past days are walked backwards from the previous close the market quotes: yesterday ends
  exactly there, each day opens with a small gap from the one before. The walk is geometric
  (never negative) at the underlying's volatility from the universe file.
- An option's past is priced off its underlying's (Black-76 on the forward, at the implied vol
  the market quotes it at now): a call rises as its underlying does, and the straddle at a strike
  moves as the underlying moves away from it, as a trader expects.
- Today, up to the minute in progress, is a bridge from the opening gap to the price the market
  quotes now: the chart joins the live session without a jump, and the desk's own bar builder
  takes over from there.
- Prices are rounded to the instrument's tick (at least one tick). Coarser timeframes are the
  same minutes gathered as ``engine.domain.bars.resample`` gathers them, so switching the
  timeframe shows the same history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.calendar.session import Session
from engine.core.clock import IST
from engine.domain.bars import Bar, Timeframe
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.history import check_range, epoch_ns
from engine.marketdata.sim_spec import load_universe_spec
from engine.marketdata.simulated import SimulatedMarket
from engine.options import black76

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_MINUTE_NS = 60 * 1_000_000_000
_TRADING_MINUTES_PER_YEAR = 252 * 375
"""Diffusion runs on trading time, as the live market's."""
_OPENING_GAP_DAYS = 0.3
"""A day's opening gap in daily standard deviations, as the live market's own."""
_MINUTES_PER_DAY = 375
"""A regular session's minutes: the unit of a day's deviation."""
_DEFAULT_VOL = 0.2
"""Annual volatility of an instrument whose underlying the universe file does not list."""
_WICK = 0.6
"""How far a minute's high and low reach beyond its open and close, in minute deviations."""
_CALENDAR_YEAR_NS = 365 * 86_400 * 1_000_000_000
"""Options analytics count calendar time to expiry, as the live market prices them."""
_F_AND_O_CLOSE = time(15, 30)
"""An expiry's close when the calendar does not list the day (it always should)."""
_STOCK_VOLUME_PER_MINUTE = 1_500
_LOTS_PER_MINUTE = 40
MAX_DAYS = 2000
"""How far back history goes, in calendar days (Kite's longest day-candle request)."""


class TradingSessions(Protocol):
    """The part of the market calendar the history uses."""

    def sessions(self, start: date, end: date, segment: str = ...) -> list[Session]: ...


@dataclass(frozen=True, slots=True)
class _Minutes:
    """One instrument's minutes over some sessions, as aligned arrays (prices in paise)."""

    start_ns: Int64s
    open: Int64s
    high: Int64s
    low: Int64s
    close: Int64s
    volume: Int64s
    bucket_of_session: list[tuple[int, int, int]]
    """(first row, rows, session open ns) per session, for bucketing into timeframes."""


class SimulatedHistory:
    """A ``HistorySource`` (``engine.marketdata.history``) for the simulated market."""

    def __init__(
        self, market: SimulatedMarket, calendar: TradingSessions, *, max_days: int = MAX_DAYS
    ) -> None:
        self._market = market
        self._calendar = calendar
        self._max_days = max_days
        spec = load_universe_spec(market.config.universe_path)
        self._vols = {index.underlying: index.annual_vol for index in spec.indices}
        self._vols.update({stock.symbol: stock.annual_vol for stock in spec.stocks})
        self._instruments: dict[int, Instrument] = {i.token: i for i in market.instruments()}
        self._spots: dict[str, Instrument] = {}
        """Each underlying's own instrument (its index, or its shares): what options follow."""
        for instrument in self._instruments.values():
            if instrument.instrument_type in (InstrumentType.INDEX, InstrumentType.EQ):
                self._spots.setdefault(instrument.underlying, instrument)

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        start_ns, end_ns = check_range(start, end)
        return self.bars(token, timeframe, start_ns, end_ns)

    def bars(self, token: int, timeframe: Timeframe, start_ns: int, end_ns: int) -> list[Bar]:
        """The bars starting in ``[start_ns, end_ns)``; none for a token the market lacks."""
        instrument = self._instruments.get(token)
        if instrument is None or end_ns <= start_ns:
            return []
        if instrument.is_option:
            minutes = self._option_minutes(instrument, start_ns, end_ns)
        else:
            minutes = self._minutes(instrument, start_ns, end_ns)
        if minutes is None:
            return []
        oi = self._market.quote(token).oi if instrument.is_derivative else 0
        return _gather(token, timeframe, minutes, oi, start_ns, end_ns)

    # -- the walk --------------------------------------------------------------------------------

    def _minutes(self, instrument: Instrument, start_ns: int, end_ns: int) -> _Minutes | None:
        market = self._market
        now_ns = epoch_ns(market.now)
        today = market.now.astimezone(IST).date()
        first_day = max(_ist_date(start_ns), today - timedelta(days=self._max_days))
        if first_day > today or first_day > _ist_date(end_ns):
            return None
        segment = "FO" if instrument.is_derivative else "CM"
        sessions = self._calendar.sessions(first_day, today, segment)
        quote = market.quote(instrument.token)
        sigma = self._minute_vol(instrument)
        seed = market.config.seed
        # The walk's anchor: the close before today, where the live market's day starts from.
        anchor = math.log((quote.close or quote.ltp) / 100)
        days: list[_Day] = []
        if sessions and sessions[-1].day == today:
            session = sessions.pop()
            started = _minutes_started(session, now_ns)
            if started:
                draws = _DayDraws(seed, instrument.token, session)
                opening = anchor + draws.gap(sigma)
                path = draws.bridge(opening, math.log(quote.ltp / 100), sigma, started)
                days.append(_Day(session, draws, path, started))
        for session in reversed(sessions):
            draws = _DayDraws(seed, instrument.token, session)
            path = draws.walk_to(anchor, sigma)
            days.append(_Day(session, draws, path, draws.size))
            anchor = path[0] - draws.gap(sigma)
        days.reverse()
        wanted = [day for day in days if day.open_ns < end_ns and day.close_ns > start_ns]
        if not wanted:
            return None
        return _to_minutes(wanted, instrument, sigma)

    def _minute_vol(self, instrument: Instrument) -> float:
        annual = self._vols.get(instrument.underlying, _DEFAULT_VOL)
        return annual / _TRADING_MINUTES_PER_YEAR**0.5

    def _option_minutes(self, option: Instrument, start_ns: int, end_ns: int) -> _Minutes | None:
        """The option's minutes priced off its underlying's: open and close at the underlying's,
        the high and low at the underlying's extreme that favours the option."""
        underlying = self._spots.get(option.underlying)
        if underlying is None or option.expiry is None or option.strike is None:
            return None
        spot = self._minutes(underlying, start_ns, end_ns)
        if spot is None:
            return None
        market = self._market
        vol = market.theoretical(option.token)[1]
        if not math.isfinite(vol):
            return None  # expired: no price to walk back from
        rate = market.config.rate
        expiry = self._calendar.sessions(option.expiry, option.expiry, "FO")
        expiry_ns = (
            epoch_ns(expiry[-1].close)
            if expiry
            else epoch_ns(datetime.combine(option.expiry, _F_AND_O_CLOSE, IST))
        )
        ends = spot.start_ns + _MINUTE_NS
        years = np.maximum(expiry_ns - ends, _MINUTE_NS) / _CALENDAR_YEAR_NS
        growth = np.exp(rate * years)
        strike = option.strike / 100
        is_call = option.instrument_type is InstrumentType.CE

        def model(paise: Int64s) -> Floats:
            return black76.price(paise / 100 * growth, strike, years, rate, vol, is_call) * 100

        # The model at today's vol misses the market's own closes by a little: scale the past so
        # yesterday ends at the close the market quotes, and bend today to its last price.
        closes = model(spot.close)
        quote = market.quote(option.token)
        scale = np.ones(len(closes))
        sessions = spot.bucket_of_session
        today = market.now.astimezone(IST).date()
        live = sessions[-1] if _ist_date(sessions[-1][2]) == today else None
        before = (live[0] if live is not None else len(closes)) - 1
        if before >= 0 and quote.close > 0:
            scale[:] = quote.close / closes[before]
        if live is not None and quote.ltp > 0:
            first, rows, _open = live
            scale[first:] = np.linspace(scale[first], quote.ltp / closes[-1], rows)
        tick = option.tick_size

        def priced(paise: Int64s) -> Int64s:
            value = model(paise) * scale
            return np.maximum(np.rint(value / tick).astype(np.int64), 1) * tick

        up, down = priced(spot.high), priced(spot.low)
        rng = np.random.Generator(np.random.PCG64([market.config.seed, option.token]))
        volume = np.concatenate(
            [
                _volumes(option, rng.lognormal(0.0, 0.5, rows), rows)
                for _first, rows, _open in spot.bucket_of_session
            ]
        )
        return _Minutes(
            spot.start_ns,
            priced(spot.open),
            np.maximum(up, down),
            np.minimum(up, down),
            priced(spot.close),
            volume,
            spot.bucket_of_session,
        )


class _DayDraws:
    """A trading day's random numbers: a pure function of (seed, token, date)."""

    def __init__(self, seed: int, token: int, session: Session) -> None:
        open_ns, close_ns = _session_ns(session)
        self.size = (close_ns - open_ns) // _MINUTE_NS
        rng = np.random.Generator(np.random.PCG64([seed, token, session.day.toordinal()]))
        self._gap = float(rng.standard_normal())
        self.steps = rng.standard_normal(self.size)
        self.wicks = rng.random((2, self.size))
        self.volume = rng.lognormal(0.0, 0.5, self.size)

    def gap(self, sigma: float) -> float:
        """The log move from the previous close to this day's open."""
        return self._gap * _OPENING_GAP_DAYS * sigma * _MINUTES_PER_DAY**0.5

    def walk_to(self, closing: float, sigma: float) -> Floats:
        """Log prices at the open and after every minute, ending at ``closing``."""
        path = np.concatenate([[0.0], np.cumsum(self.steps * sigma)])
        return path - path[-1] + closing

    def bridge(self, opening: float, last: float, sigma: float, minutes: int) -> Floats:
        """Log prices over the first ``minutes`` minutes, from ``opening`` to exactly ``last``."""
        path = np.concatenate([[0.0], np.cumsum(self.steps[:minutes] * sigma)])
        share = np.arange(minutes + 1) / minutes
        return opening + path - share * path[-1] + share * (last - opening)


@dataclass(frozen=True, slots=True)
class _Day:
    session: Session
    draws: _DayDraws
    path: Floats
    """Log rupees at the open and after each of the day's ``minutes``."""
    minutes: int

    @property
    def open_ns(self) -> int:
        return _session_ns(self.session)[0]

    @property
    def close_ns(self) -> int:
        return _session_ns(self.session)[1]


def _to_minutes(days: list[_Day], instrument: Instrument, sigma: float) -> _Minutes:
    tick = instrument.tick_size
    starts, opens, highs, lows, closes, volumes = [], [], [], [], [], []
    layout: list[tuple[int, int, int]] = []
    row = 0
    for day in days:
        count = day.minutes
        log_open, log_close = day.path[:count], day.path[1 : count + 1]
        reach = sigma * _WICK * day.draws.wicks[:, :count]
        opening, closing = _on_grid(log_open, tick), _on_grid(log_close, tick)
        high = _on_grid(np.maximum(log_open, log_close) + reach[0], tick)
        low = _on_grid(np.minimum(log_open, log_close) - reach[1], tick)
        starts.append(day.open_ns + np.arange(count, dtype=np.int64) * _MINUTE_NS)
        opens.append(opening)
        closes.append(closing)
        highs.append(np.maximum(high, np.maximum(opening, closing)))
        lows.append(np.minimum(low, np.minimum(opening, closing)))
        volumes.append(_volumes(instrument, day.draws.volume[:count], day.draws.size))
        layout.append((row, count, day.open_ns))
        row += count
    return _Minutes(
        np.concatenate(starts),
        np.concatenate(opens),
        np.concatenate(highs),
        np.concatenate(lows),
        np.concatenate(closes),
        np.concatenate(volumes),
        layout,
    )


def _volumes(instrument: Instrument, noise: Floats, size: int) -> Int64s:
    """Busier at the open and the close, as the market is; indices trade nothing."""
    if instrument.instrument_type is InstrumentType.INDEX:
        return np.zeros(len(noise), dtype=np.int64)
    minute = np.arange(len(noise))
    shape = 1.0 + 1.5 * np.exp(-minute / 30.0) + np.exp(-(size - 1 - minute) / 30.0)
    if instrument.is_derivative:
        lot = max(instrument.lot_size, 1)
        return np.rint(_LOTS_PER_MINUTE * shape * noise).astype(np.int64) * lot
    return np.rint(_STOCK_VOLUME_PER_MINUTE * shape * noise).astype(np.int64)


def _gather(
    token: int, timeframe: Timeframe, minutes: _Minutes, oi: int, start_ns: int, end_ns: int
) -> list[Bar]:
    """Minutes into bars of ``timeframe`` (the buckets ``resample`` would make)."""
    size_ns = timeframe.minutes * _MINUTE_NS
    buckets = np.empty(len(minutes.start_ns), dtype=np.int64)
    for first, rows, open_ns in minutes.bucket_of_session:
        # Within one IST day the grid is fixed by the bar the session's open falls in.
        anchor = timeframe.start_of(open_ns)
        span = minutes.start_ns[first : first + rows]
        buckets[first : first + rows] = anchor + (span - anchor) // size_ns * size_ns
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(buckets)) + 1])
    last = np.concatenate([cuts[1:] - 1, [len(buckets) - 1]])
    columns = (
        buckets[cuts],
        minutes.open[cuts],
        np.maximum.reduceat(minutes.high, cuts),
        np.minimum.reduceat(minutes.low, cuts),
        minutes.close[last],
        np.add.reduceat(minutes.volume, cuts),
        last - cuts + 1,
    )
    bars = []
    for start, o, h, low, c, volume, count in zip(*(col.tolist() for col in columns), strict=True):
        if start_ns <= start < end_ns:
            bars.append(Bar(token, start, o, h, low, c, volume, oi, count))
    return bars


def _on_grid(log_rupees: Floats, tick: int) -> Int64s:
    paise = np.exp(log_rupees) * 100.0
    return np.maximum(np.rint(paise / tick).astype(np.int64), 1) * tick


def _minutes_started(session: Session, now_ns: int) -> int:
    """Minutes of the session that have begun by ``now_ns`` (the one in progress counts)."""
    open_ns, close_ns = _session_ns(session)
    if now_ns < open_ns:
        return 0
    return min((now_ns - open_ns) // _MINUTE_NS + 1, (close_ns - open_ns) // _MINUTE_NS)


def _session_ns(session: Session) -> tuple[int, int]:
    return epoch_ns(session.open), epoch_ns(session.close)


def _ist_date(ns: int) -> date:
    return datetime.fromtimestamp(ns // 1_000_000_000, IST).date()
