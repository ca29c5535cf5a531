"""Candles from ticks, aligned to NSE's 09:15 open, worked out by hand on a Monday's ticks."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.bars import BarBuilder, Timeframe

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


def test_chart_bars_when_a_timeframe_is_unknown_names_the_ones_there_are() -> None:
    with pytest.raises(ValueError, match="timeframe '2m' is not one of 1m, 3m, 5m, 15m, 1h, 1D"):
        Timeframe.of("2m")
