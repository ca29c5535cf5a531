"""Candles from ticks, aligned to NSE's 09:15 open: worked out by hand on a Monday's ticks, and
equal to pandas' own resampling of a recorded two-day stream with a holiday between."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import pytest

from engine.calendar import load_calendar
from engine.core.clock import IST
from engine.domain.bars import resample
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.bars import BarBuilder, Timeframe
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig

TOKEN = InstrumentToken(256265)


def at(hh: int, mm: int, ss: int = 0, day: int = 23) -> int:
    return int(datetime(2026, 11, day, hh, mm, ss, tzinfo=IST).timestamp()) * 1_000_000_000


def tick(hh: int, mm: int, ss: int, ltp: int, volume: int, oi: int = 0, day: int = 23) -> Tick:
    return Tick(TOKEN, ltp, ltp - 5, ltp + 5, 50, 50, volume, oi, at(hh, mm, ss, day))


@pytest.mark.parametrize(
    ("timeframe", "moment", "start"),
    [
        (Timeframe.M1, (9, 17, 30), (9, 17)),
        (Timeframe.M3, (9, 20, 0), (9, 18)),  # 09:15, 09:18, 09:21 ...
        (Timeframe.M5, (9, 17, 30), (9, 15)),
        (Timeframe.M5, (9, 10, 0), (9, 10)),  # before the open, the same grid backwards
        (Timeframe.M15, (9, 29, 59), (9, 15)),
        (Timeframe.H1, (10, 14, 59), (9, 15)),
        (Timeframe.H1, (10, 15, 0), (10, 15)),
        (Timeframe.H1, (15, 29, 0), (15, 15)),  # the last hour bar starts 15:15
        (Timeframe.D1, (15, 29, 0), (0, 0)),
    ],
)
def test_chart_bars_when_bucketed_start_on_the_grid_anchored_at_the_open(
    timeframe: Timeframe, moment: tuple[int, int, int], start: tuple[int, int]
) -> None:
    assert timeframe.start_of(at(*moment)) == at(*start)


def test_chart_bars_when_ticks_come_build_ohlc_and_volume_traded_in_each_minute() -> None:
    builder = BarBuilder(Timeframe.of("1m"))
    assert builder.on_tick(tick(9, 15, 5, 10_000, 1000, oi=7)) is None
    assert builder.on_tick(tick(9, 15, 30, 10_500, 1200)) is None
    assert builder.on_tick(tick(9, 15, 50, 9_800, 1250, oi=9)) is None
    closed = builder.on_tick(tick(9, 16, 10, 10_100, 1300))
    assert closed is not None and closed.start == datetime(2026, 11, 23, 9, 15, tzinfo=IST)
    assert (closed.open, closed.high, closed.low, closed.close) == (10_000, 10_500, 9_800, 9_800)
    assert (closed.volume, closed.oi, closed.ticks) == (250, 9, 3)  # 1,250 − 1,000
    gap = builder.on_tick(tick(9, 18, 0, 10_200, 1400))  # no tick at all in 09:17
    assert gap is not None and gap.volume == 50  # 1,300 − 1,250
    assert builder.on_tick(tick(9, 17, 59, 1, 1401)) is None  # late: its bar is closed
    bars = builder.bars(TOKEN)
    assert [b.start.strftime("%H:%M") for b in bars] == ["09:15", "09:16", "09:18"]
    assert bars[-1].volume == 100 and bars[-1].close == 10_200  # forming: 1,400 − 1,300
    assert builder.bars(TOKEN, with_open=False)[-1].start.minute == 16


def test_chart_bars_when_a_new_day_starts_count_its_volume_afresh() -> None:
    builder = BarBuilder(Timeframe.D1)
    builder.on_tick(tick(9, 15, 0, 10_000, 5000))
    builder.on_tick(tick(15, 29, 0, 10_300, 90_000))
    monday = builder.on_tick(tick(9, 15, 0, 10_350, 800, day=24))
    assert monday is not None and monday.volume == 85_000
    assert builder.on_tick(tick(9, 20, 0, 10_400, 2800, day=24)) is None
    assert builder.bars(TOKEN)[-1].volume == 2000  # from the day's first tick


def test_chart_bars_when_a_day_opens_above_yesterdays_count_still_count_it_afresh() -> None:
    builder = BarBuilder(Timeframe.M5)
    builder.on_tick(tick(15, 26, 0, 500, 1_000))  # a quiet strike: 1,200 all Monday
    builder.on_tick(tick(15, 29, 0, 520, 1_200))
    builder.on_tick(tick(9, 15, 2, 900, 40_000, day=25))  # in the money after the holiday
    builder.on_tick(tick(9, 16, 0, 950, 41_500, day=25))
    monday, wednesday = builder.bars(TOKEN)
    assert monday.volume == 200
    assert wednesday.volume == 1_500  # not 40,300: nothing before the day's first tick is counted


def test_chart_bars_when_more_than_the_cap_close_keep_only_the_newest() -> None:
    builder = BarBuilder(Timeframe.M1, max_bars=3)
    for minute in range(16, 22):
        builder.on_tick(tick(9, minute, 0, 10_000 + minute, 100 * minute))
    bars = builder.bars(TOKEN)
    assert [b.start.minute for b in bars] == [18, 19, 20, 21]  # three closed and the forming one
    assert bars[0].volume == 100  # a dropped bar takes nothing from the counting


def test_chart_bars_when_a_timeframe_is_unknown_names_the_ones_there_are() -> None:
    with pytest.raises(ValueError, match="timeframe '2m' is not one of 1m, 3m, 5m, 15m, 1h, 1D"):
        Timeframe.of("2m")


# ------------------------------------------- parity with pandas on a recorded two-day stream

MONDAY, HOLIDAY, WEDNESDAY = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
"""Tuesday 24 November 2026 is Guru Nanak's Prakash Gurpurb, an NSE holiday."""
_MINUTE_NS = 60 * 1_000_000_000
COLUMNS = ["key", "start_ns", "open", "high", "low", "close", "volume", "oi", "ticks"]
PANDAS_FREQ = {
    Timeframe.M1: "1min",
    Timeframe.M3: "3min",
    Timeframe.M5: "5min",
    Timeframe.M15: "15min",
    Timeframe.H1: "1h",
}
OPEN_ANCHOR = pd.Timestamp("2026-11-23 09:15", tz="Asia/Kolkata")


def _recorded_day(day: date, record_from: time, seed: int) -> list[Tick]:
    """A trading day of the paper market as the desk records it, from ``record_from`` to just past
    the close. The market is made afresh at the open, so its volume counts from zero each day as
    the exchange's does. Steps are irregular; one in five ends on a minute's first nanosecond."""
    opened = datetime.combine(day, time(9, 15), IST)
    config = SimulatedMarketConfig(
        seed=seed,
        ticks_per_second=1.5,
        strikes_each_side=4,
        weekly_expiries=2,  # Monday's (its monthly) and 1 Dec's: quiet Monday, busy Wednesday
        monthly_expiries=1,
    )
    market = SimulatedMarket(config, lambda: opened, load_calendar(None))
    rng = np.random.default_rng(seed)
    record_ns = int(datetime.combine(day, record_from, IST).timestamp()) * 1_000_000_000
    close_ns = int(datetime.combine(day, time(15, 30), IST).timestamp()) * 1_000_000_000
    now_ns, recorded = int(opened.timestamp()) * 1_000_000_000, []
    while now_ns < close_ns:
        if rng.random() < 0.2:
            seconds = (_MINUTE_NS - now_ns % _MINUTE_NS) / 1e9
        else:
            seconds = float(rng.exponential(8.0)) + 0.001
        batch = market.step(seconds)
        now_ns = batch[0].ts_ns  # indices and futures tick at every step
        if now_ns >= record_ns:
            recorded.extend(batch)
    return recorded


@pytest.fixture(scope="module")
def recorded() -> list[Tick]:
    """Monday from the open; Wednesday from 14:40, when the desk was started late: by then the
    1 Dec options, Monday's second expiry and Wednesday's first, have traded more than all of
    Monday (a token names one contract on both days)."""
    return _recorded_day(MONDAY, time(9, 15), seed=23) + _recorded_day(
        WEDNESDAY, time(14, 40), seed=25
    )


@pytest.fixture(scope="module")
def built(recorded: list[Tick]) -> dict[Timeframe, BarBuilder]:
    builders = {timeframe: BarBuilder(timeframe) for timeframe in Timeframe}
    for recorded_tick in recorded:
        for builder in builders.values():
            builder.on_tick(recorded_tick)
    return builders


def _pandas_bars(ticks: list[Tick], timeframe: Timeframe) -> pd.DataFrame:
    """Bars computed independently of the builder: a tick's traded volume is the rise of the
    cumulative figure since the instrument's previous tick that IST day (the day's first tick adds
    nothing); intraday bars are pandas bins anchored at 09:15 IST, a day bar is an IST date."""
    frame = pd.DataFrame(ticks, columns=list(Tick._fields))
    frame["time"] = pd.to_datetime(frame["ts_ns"], unit="ns", utc=True).dt.tz_convert(
        "Asia/Kolkata"
    )
    ist_date = frame["time"].dt.date
    frame["traded"] = frame.groupby(["token", ist_date])["volume"].diff().fillna(0)
    if timeframe is Timeframe.D1:
        bucket: pd.Series | pd.Grouper = frame["time"].dt.normalize().rename("start")
    else:
        bucket = pd.Grouper(key="time", freq=PANDAS_FREQ[timeframe], origin=OPEN_ANCHOR)
    bars = (
        frame.groupby(["token", bucket])
        .agg(
            open=("ltp", "first"),
            high=("ltp", "max"),
            low=("ltp", "min"),
            close=("ltp", "last"),
            volume=("traded", "sum"),
            oi=("oi", "last"),
            ticks=("ltp", "size"),
        )
        .reset_index()
    )
    bars.columns = ["key", "start", *COLUMNS[2:]]
    bars.insert(1, "start_ns", pd.DatetimeIndex(bars.pop("start")).as_unit("ns").asi8)
    return bars.astype("int64").sort_values(["key", "start_ns"], ignore_index=True)


def _builder_bars(builder: BarBuilder, keys: list[int]) -> pd.DataFrame:
    rows = [
        (b.key, b.start_ns, b.open, b.high, b.low, b.close, b.volume, b.oi, b.ticks)
        for key in keys
        for b in builder.bars(key)
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype("int64")


def test_chart_bars_recorded_stream_when_made_spans_a_holiday_and_the_hard_cases(
    recorded: list[Tick],
) -> None:
    calendar = load_calendar(None)
    assert not calendar.is_trading_day(HOLIDAY)
    assert calendar.next_trading_day(MONDAY) == WEDNESDAY
    days = {datetime.fromtimestamp(t.ts_ns / 1e9, IST).date() for t in recorded}
    assert days == {MONDAY, WEDNESDAY}
    assert len({t.token for t in recorded}) > 50
    assert any(t.ts_ns % _MINUTE_NS == 0 for t in recorded)  # ticks on a bar's first instant
    assert len({b.ts_ns - a.ts_ns for a, b in itertools.pairwise(recorded)}) > 1000
    monday_last: dict[int, int] = {}
    wednesday_first: dict[int, int] = {}
    for t in recorded:
        if datetime.fromtimestamp(t.ts_ns / 1e9, IST).date() == MONDAY:
            monday_last[t.token] = t.volume
        else:
            wednesday_first.setdefault(t.token, t.volume)
    # Options quiet on Monday open Wednesday above Monday's whole count: a new day cannot be
    # told by the figure falling.
    assert any(wednesday_first[k] > monday_last[k] for k in wednesday_first.keys() & monday_last)


@pytest.mark.parametrize("timeframe", list(Timeframe), ids=lambda t: t.label)
def test_chart_bars_when_built_from_a_recorded_stream_equal_pandas_resampled_at_the_open(
    recorded: list[Tick], built: dict[Timeframe, BarBuilder], timeframe: Timeframe
) -> None:
    expected = _pandas_bars(recorded, timeframe)
    keys = sorted({t.token for t in recorded})
    pd.testing.assert_frame_equal(_builder_bars(built[timeframe], keys), expected)


@pytest.mark.parametrize("timeframe", list(Timeframe), ids=lambda t: t.label)
def test_chart_bars_when_minute_bars_are_resampled_equal_bars_built_directly(
    recorded: list[Tick], built: dict[Timeframe, BarBuilder], timeframe: Timeframe
) -> None:
    for key in sorted({t.token for t in recorded}):
        assert resample(built[Timeframe.M1].bars(key), timeframe) == built[timeframe].bars(key)
