"""A chart's past: Kite's candle rows as bars, the candle cache, the cache in front of a source,
the paper market's generated history, and the factory that picks one for a desk."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine.brokers.kite.errors import KiteError
from engine.brokers.kite.history import bar_from_candle, bars_from_candles, request_spans
from engine.calendar import MarketCalendar, load_calendar
from engine.core.clock import IST, TestClock
from engine.domain.bars import Bar, Timeframe, resample
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.history import CachedHistory, HistorySource, epoch_ns, moment_of
from engine.marketdata.sim_history import SimulatedHistory
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.runtime.history import history_source
from engine.store.candle_cache import CandleCache, gaps_between

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "kite"
TOKEN = 256265
MINUTE = 60 * 1_000_000_000
# Thursday 26 Nov 2026, mid-morning; Tuesday 24 Nov is a holiday (Guru Nanak Jayanti).
NOW = datetime(2026, 11, 26, 11, 0, 30, tzinfo=IST)
HOLIDAY = date(2026, 11, 24)


def ns(day: int, hh: int, mm: int, month: int = 11) -> int:
    return epoch_ns(datetime(2026, month, day, hh, mm, tzinfo=IST))


def official_candles(name: str) -> list[list[object]]:
    """The candle rows of one of Kite's official mock responses."""
    return json.loads((FIXTURES / name).read_text())["data"]["candles"]


# -- Kite's candle rows ---------------------------------------------------------------------------


def test_chart_kite_candles_when_official_minute_mock_parsed_give_exact_paise_bars() -> None:
    bars = bars_from_candles(TOKEN, official_candles("historical_minute.json"))

    assert len(bars) == 6
    first = bars[0]
    assert first.start == datetime(2017, 12, 15, 9, 15, tzinfo=IST)
    assert (first.open, first.high, first.low, first.close) == (170450, 170500, 169925, 170280)
    assert (first.volume, first.oi) == (2499, 0)
    assert bars[1].low == 169815  # 1698.15 in binary floating point is 1698.1499999...
    assert [b.start_ns for b in bars] == [bars[0].start_ns + i * MINUTE for i in range(6)]


def test_chart_kite_candles_when_official_oi_mock_parsed_carry_open_interest() -> None:
    bars = bars_from_candles(TOKEN, official_candles("historical_oi.json"))

    assert [b.oi for b in bars] == [13667775, 13667775, 13758000, 13758000, 13758000, 13777050]
    assert bars[2].close == 1199855
    assert bars[0].start == datetime(2019, 12, 4, 9, 15, tzinfo=IST)


def test_chart_kite_candle_when_day_candle_is_stamped_at_ist_midnight() -> None:
    bar = bar_from_candle(TOKEN, ["2026-11-23T00:00:00+0530", 26000, 26100.5, 25900.05, 26050.1, 0])

    assert bar.start_ns == Timeframe.D1.start_of(ns(23, 12, 0))
    assert (bar.open, bar.high, bar.low, bar.close) == (2600000, 2610050, 2590005, 2605010)


def test_chart_kite_candle_when_price_is_finer_than_a_paisa_raises_a_readable_kite_error() -> None:
    with pytest.raises(KiteError, match="read the candles"):
        bar_from_candle(TOKEN, ["2026-11-23T09:15:00+0530", 1.005, 1, 1, 1, 10])


def test_chart_kite_candle_when_timestamp_is_not_kites_raises_a_readable_kite_error() -> None:
    with pytest.raises(KiteError, match="unreadable"):
        bar_from_candle(TOKEN, ["15/12/2017 09:15", 1, 1, 1, 1, 10])


def test_chart_kite_spans_when_range_exceeds_the_limit_are_chunked_back_to_back() -> None:
    start = datetime(2026, 1, 1, tzinfo=IST)
    spans = request_spans(start, start + timedelta(days=150), 60)

    assert [(a.date(), b.date()) for a, b in spans] == [
        (date(2026, 1, 1), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 4, 30)),
        (date(2026, 5, 1), date(2026, 5, 30)),
    ]
    assert spans[0][1] == start + timedelta(days=60, microseconds=-1)
    assert all(b - a < timedelta(days=60) for a, b in spans)
    assert request_spans(start, start, 60) == []


# -- the cache -----------------------------------------------------------------------------------


def bar(start_ns: int, price: int = 10_000) -> Bar:
    return Bar(TOKEN, start_ns, price, price + 10, price - 10, price + 5, 100, 0)


def test_chart_cache_gaps_when_ranges_cover_parts_are_the_uncovered_rest() -> None:
    assert gaps_between([(10, 20), (30, 40)], 0, 50) == [(0, 10), (20, 30), (40, 50)]
    assert gaps_between([(0, 60)], 10, 50) == []
    assert gaps_between([], 10, 50) == [(10, 50)]


def test_chart_cache_when_saved_serves_the_bars_and_merges_touching_ranges(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path / "history.sqlite")
    cache.save("kite", TOKEN, Timeframe.M1, [bar(100 * MINUTE)], (100 * MINUTE, 200 * MINUTE))
    cache.save("kite", TOKEN, Timeframe.M1, [bar(250 * MINUTE)], (200 * MINUTE, 300 * MINUTE))

    assert cache.bars("kite", TOKEN, Timeframe.M1, 0, 400 * MINUTE) == [
        bar(100 * MINUTE),
        bar(250 * MINUTE),
    ]
    assert cache.missing("kite", TOKEN, Timeframe.M1, 0, 400 * MINUTE) == [
        (0, 100 * MINUTE),
        (300 * MINUTE, 400 * MINUTE),
    ]
    assert cache.missing("kite", TOKEN, Timeframe.M5, 0, 10) == [(0, 10)]  # other series
    cache.close()
    reopened = CandleCache(tmp_path / "history.sqlite")
    assert reopened.missing("kite", TOKEN, Timeframe.M1, 100 * MINUTE, 300 * MINUTE) == []
    reopened.close()


def test_chart_cache_when_file_is_corrupt_sets_it_aside_and_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a SQLite database" * 200)
    cache = CandleCache(path)

    with caplog.at_level(logging.WARNING):
        assert cache.missing("kite", TOKEN, Timeframe.M1, 0, 10) == [(0, 10)]
        cache.save("kite", TOKEN, Timeframe.M1, [bar(0)], (0, 10))

    assert cache.bars("kite", TOKEN, Timeframe.M1, 0, 10) == [bar(0)]
    assert len(cache.set_aside) == 1 and cache.set_aside[0].read_bytes().startswith(b"this is")
    assert not cache.in_memory
    assert "damaged" in caplog.text
    cache.close()


def test_chart_cache_when_file_cannot_be_made_keeps_candles_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache's folder should be")
    cache = CandleCache(blocker / "history.sqlite")

    with caplog.at_level(logging.WARNING):
        cache.save("kite", TOKEN, Timeframe.M1, [bar(0)], (0, 10))

    assert cache.bars("kite", TOKEN, Timeframe.M1, 0, 10) == [bar(0)]
    assert cache.in_memory
    assert "in memory" in caplog.text


# -- the cache in front of a source --------------------------------------------------------------


class CountingSource:
    """Minute bars every minute of every requested range (a simple stand-in for a broker)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    async def candles(
        self, token: int, timeframe: Timeframe, start: datetime, end: datetime
    ) -> list[Bar]:
        first, last = epoch_ns(start), epoch_ns(end)
        self.asked.append((first, last))
        step = timeframe.minutes * MINUTE
        begin = -(-first // step) * step
        return [bar(t, price=10_000 + t // MINUTE % 100) for t in range(begin, last, step)]


def cached(clock: TestClock, path: Path | None) -> tuple[CachedHistory, CountingSource]:
    source = CountingSource()
    history = CachedHistory(
        source, CandleCache(path), name="test", now_ns=clock.time_ns, settle_s=60
    )
    return history, source


async def test_chart_cached_history_when_range_is_covered_asks_the_source_nothing(
    tmp_path: Path,
) -> None:
    clock = TestClock(NOW)
    history, source = cached(clock, tmp_path / "history.sqlite")
    start, end = (
        datetime(2026, 11, 25, 9, 15, tzinfo=IST),
        datetime(2026, 11, 25, 10, 15, tzinfo=IST),
    )

    first = await history.candles(TOKEN, Timeframe.M1, start, end)
    again = await history.candles(TOKEN, Timeframe.M1, start, end)

    assert len(first) == 60 and again == first
    assert source.asked == [(epoch_ns(start), epoch_ns(end))]
    assert isinstance(history, HistorySource)
    await history.close()


async def test_chart_cached_history_when_range_is_extended_fetches_only_the_missing_parts() -> None:
    clock = TestClock(NOW)
    history, source = cached(clock, None)
    await history.candles(TOKEN, Timeframe.M1, moment_of(ns(25, 10, 0)), moment_of(ns(25, 11, 0)))

    bars = await history.candles(
        TOKEN, Timeframe.M1, moment_of(ns(25, 9, 15)), moment_of(ns(25, 12, 0))
    )

    assert source.asked[1:] == [(ns(25, 9, 15), ns(25, 10, 0)), (ns(25, 11, 0), ns(25, 12, 0))]
    assert [b.start_ns for b in bars] == list(range(ns(25, 9, 15), ns(25, 12, 0), MINUTE))


async def test_chart_cached_history_when_range_reaches_now_refetches_the_forming_bars() -> None:
    clock = TestClock(NOW)  # 11:00:30: the bars from 10:59 on are not final yet (60 s settle)
    history, source = cached(clock, None)
    start = moment_of(ns(26, 10, 0))

    first = await history.candles(TOKEN, Timeframe.M1, start, NOW)
    clock.advance(120)  # 11:02:30
    second = await history.candles(TOKEN, Timeframe.M1, start, clock.now())

    assert first[-1].start_ns == ns(26, 11, 0) and second[-1].start_ns == ns(26, 11, 2)
    assert source.asked == [
        (ns(26, 10, 0), ns(26, 10, 59)),  # final: cached
        (ns(26, 10, 59), epoch_ns(NOW)),  # forming: served, not cached
        (ns(26, 10, 59), ns(26, 11, 1)),  # what became final since
        (ns(26, 11, 1), epoch_ns(clock.now())),
    ]


async def test_chart_cached_history_when_day_is_in_progress_never_stores_todays_day_bar() -> None:
    clock = TestClock(NOW)
    history, source = cached(clock, None)
    start = moment_of(ns(20, 0, 0))

    await history.candles(TOKEN, Timeframe.D1, start, NOW)
    await history.candles(TOKEN, Timeframe.D1, start, NOW)

    today = Timeframe.D1.start_of(epoch_ns(NOW))
    assert source.asked[1] == source.asked[2] == (today, epoch_ns(NOW))
    assert history.store.missing("test", TOKEN, Timeframe.D1, ns(20, 0, 0), today) == []


async def test_chart_cached_history_when_cache_file_is_corrupt_still_serves_the_chart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"\x00garbage" * 512)
    history, source = cached(TestClock(NOW), path)

    bars = await history.candles(
        TOKEN, Timeframe.M5, moment_of(ns(25, 9, 15)), moment_of(ns(25, 10, 15))
    )

    assert len(bars) == 12 and len(source.asked) == 1
    assert isinstance(history.store, CandleCache) and len(history.store.set_aside) == 1
    await history.close()


class UnreadableStore(CandleCache):
    """Says it covers everything, then cannot read it (a locked or failing disk)."""

    def missing(self, *args: object) -> list[tuple[int, int]]:
        return []

    def bars(self, *args: object) -> list[Bar] | None:
        return None


async def test_chart_cached_history_when_store_cannot_be_read_asks_the_source_for_it_all() -> None:
    source = CountingSource()
    history = CachedHistory(
        source, UnreadableStore(None), name="test", now_ns=TestClock(NOW).time_ns
    )

    bars = await history.candles(
        TOKEN, Timeframe.M1, moment_of(ns(25, 9, 15)), moment_of(ns(25, 9, 45))
    )

    assert len(bars) == 30 and source.asked == [(ns(25, 9, 15), ns(25, 9, 45))]


async def test_chart_cached_history_when_range_is_naive_refuses_it() -> None:
    history, _ = cached(TestClock(NOW), None)

    with pytest.raises(ValueError, match="aware"):
        await history.candles(TOKEN, Timeframe.M1, datetime(2026, 11, 25), NOW)  # noqa: DTZ001


# -- the paper market's history ------------------------------------------------------------------


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return load_calendar(None)


def paper(calendar: MarketCalendar, at: datetime = NOW) -> tuple[SimulatedMarket, SimulatedHistory]:
    market = SimulatedMarket(SimulatedMarketConfig(), lambda: at, calendar)  # type: ignore[arg-type]
    return market, SimulatedHistory(market, calendar)


def pick(market: SimulatedMarket, kind: InstrumentType, symbol: str = "") -> Instrument:
    """The first such instrument; for options the one nearest the money (a far wing sits at
    a tick or two and barely moves, in history as in the market)."""
    found = [
        i for i in market.instruments() if i.instrument_type is kind and symbol in i.tradingsymbol
    ]
    if kind in (InstrumentType.CE, InstrumentType.PE):
        spot = market.quote(pick(market, InstrumentType.INDEX, "NIFTY 50").token).ltp
        nifty = [i for i in found if i.underlying == "NIFTY" and i.strike is not None]
        return min(nifty, key=lambda i: abs((i.strike or 0) - spot))
    return found[0]


FROM_20TH = datetime(2026, 11, 20, tzinfo=IST)


async def test_chart_sim_history_when_asked_twice_or_by_two_markets_is_the_same(
    calendar: MarketCalendar,
) -> None:
    market, history = paper(calendar)
    _, twin = paper(calendar)
    stock = pick(market, InstrumentType.EQ, "RELIANCE")

    first = await history.candles(stock.token, Timeframe.M1, FROM_20TH, NOW)

    assert await history.candles(stock.token, Timeframe.M1, FROM_20TH, NOW) == first
    assert await twin.candles(stock.token, Timeframe.M1, FROM_20TH, NOW) == first
    later = await history.candles(stock.token, Timeframe.M1, FROM_20TH + timedelta(days=3), NOW)
    assert later == [b for b in first if b.start_ns >= later[0].start_ns]


async def test_chart_sim_history_when_generated_has_only_session_minutes_and_skips_holidays(
    calendar: MarketCalendar,
) -> None:
    market, history = paper(calendar)
    index = pick(market, InstrumentType.INDEX, "NIFTY 50")

    bars = await history.candles(index.token, Timeframe.M1, FROM_20TH, NOW)

    days = sorted({b.start.date() for b in bars})
    assert days == [date(2026, 11, d) for d in (20, 23, 25, 26)]  # weekend and 24th skipped
    assert HOLIDAY not in days
    per_day = {d: [b for b in bars if b.start.date() == d] for d in days}
    assert all(len(per_day[d]) == 375 for d in days[:-1])  # 09:15 to 15:29
    assert per_day[days[0]][0].start.time().isoformat() == "09:15:00"
    assert per_day[days[0]][-1].start.time().isoformat() == "15:29:00"
    assert per_day[days[-1]][-1].start == datetime(2026, 11, 26, 11, 0, tzinfo=IST)  # forming


@pytest.mark.parametrize("kind", [InstrumentType.INDEX, InstrumentType.FUT, InstrumentType.CE])
async def test_chart_sim_history_when_timeframe_changes_is_the_same_minutes_resampled(
    calendar: MarketCalendar, kind: InstrumentType
) -> None:
    market, history = paper(calendar)
    token = pick(market, kind).token

    minutes = await history.candles(token, Timeframe.M1, FROM_20TH, NOW)

    for timeframe in (Timeframe.M3, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.D1):
        coarser = await history.candles(token, timeframe, FROM_20TH, NOW)
        assert coarser == resample(minutes, timeframe), timeframe.label


@pytest.mark.parametrize("kind", [InstrumentType.INDEX, InstrumentType.EQ, InstrumentType.PE])
async def test_chart_sim_history_when_generated_ends_at_the_live_price_on_the_tick_grid(
    calendar: MarketCalendar, kind: InstrumentType
) -> None:
    market, history = paper(calendar)
    instrument = pick(market, kind)
    quote = market.quote(instrument.token)

    bars = await history.candles(instrument.token, Timeframe.M1, NOW - timedelta(days=30), NOW)
    yesterday = [b for b in bars if b.start.date() == date(2026, 11, 25)]

    assert bars[-1].close == quote.ltp  # the chart joins the live market without a jump
    assert yesterday[-1].close == quote.close  # and yesterday closed where the market says
    for b in bars:
        assert 0 < b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert all(p % instrument.tick_size == 0 for p in (b.open, b.high, b.low, b.close))
    assert len({b.close for b in bars}) > 100  # it moves


async def test_chart_sim_history_when_market_is_closed_for_the_day_ends_with_the_last_session(
    calendar: MarketCalendar,
) -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=IST)
    market, history = paper(calendar, saturday)
    stock = pick(market, InstrumentType.EQ)

    bars = await history.candles(stock.token, Timeframe.D1, saturday - timedelta(days=10), saturday)

    assert bars[-1].start.date() == date(2026, 11, 27)  # Friday
    assert bars[-1].close == market.quote(stock.token).close


async def test_chart_sim_history_when_token_is_unknown_has_no_bars(
    calendar: MarketCalendar,
) -> None:
    _, history = paper(calendar)

    assert await history.candles(12345, Timeframe.M1, FROM_20TH, NOW) == []


# -- the factory ---------------------------------------------------------------------------------


def test_chart_history_source_when_feed_is_the_simulated_market_is_its_generated_history(
    calendar: MarketCalendar,
) -> None:
    market, _ = paper(calendar)

    source = history_source(market, None, calendar=calendar)

    assert isinstance(source, SimulatedHistory) and isinstance(source, HistorySource)


def test_chart_history_source_when_feed_is_unknown_is_none(tmp_path: Path) -> None:
    assert history_source(object(), tmp_path / "history.sqlite") is None
