"""The candle book: bars of what is followed, built from the bus's ticks; derived series at every
timeframe; listeners told of the forming bar, one failing never stopping the others."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from engine.core.bus import EventBus
from engine.core.clock import IST
from engine.domain.bars import Bar, Timeframe, resample
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.bars import BarBuilder
from engine.marketdata.candles import CandleBook

NIFTY_FUT = InstrumentToken(13_238_786)
BANKNIFTY_FUT = InstrumentToken(13_238_530)
STRADDLE = "straddle:NIFTY:2026-11-30"
M1, M5 = Timeframe.M1, Timeframe.M5


def at(hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime(2026, 11, 23, hh, mm, ss, tzinfo=IST).timestamp()) * 1_000_000_000


def tick(token: int, hh: int, mm: int, ss: int, ltp: int, volume: int = 0) -> Tick:
    return Tick(InstrumentToken(token), ltp, ltp - 5, ltp + 5, 75, 75, volume, 0, at(hh, mm, ss))


def test_chart_candles_when_followed_build_bars_from_the_bus_ticks_after() -> None:
    bus, book = EventBus(), CandleBook()
    bus.subscribe(Tick, book.on_tick)
    bus.publish(tick(NIFTY_FUT, 9, 15, 0, 2_400_000, 100))  # before the follow: not seen
    book.follow(NIFTY_FUT, M1)
    for second, ltp, volume in ((5, 2_400_500, 250), (40, 2_399_000, 400), (59, 2_401_000, 475)):
        bus.publish(tick(NIFTY_FUT, 9, 15, second, ltp, volume))
    bus.publish(tick(NIFTY_FUT, 9, 16, 2, 2_402_000, 500))
    first, forming = book.bars(NIFTY_FUT, M1)
    assert (first.open, first.high, first.low, first.close) == (
        2_400_500,
        2_401_000,
        2_399_000,
        2_401_000,
    )
    assert (first.volume, first.ticks) == (225, 3)  # 475 − 250: counted from the first seen
    assert (forming.start_ns, forming.volume) == (at(9, 16), 25)
    assert book.bars(NIFTY_FUT, M5) == []  # only the timeframe asked for is built


def test_chart_candles_when_a_token_is_not_followed_ignore_its_ticks() -> None:
    book = CandleBook()
    book.follow(NIFTY_FUT, M1)
    book.on_tick(tick(BANKNIFTY_FUT, 9, 15, 1, 5_200_000))
    assert book.bars(BANKNIFTY_FUT, M1) == []
    assert book.bars(NIFTY_FUT, M1) == []


def test_chart_candles_when_followed_twice_keep_building_until_the_last_unfollow() -> None:
    book = CandleBook()
    chart, strategy = book.follow(NIFTY_FUT, M1), book.follow(NIFTY_FUT, M1)
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000))
    chart()
    chart()  # a second call of the same unfollow does not take the strategy's follow away
    book.on_tick(tick(NIFTY_FUT, 9, 16, 1, 2_400_100))
    assert [b.close for b in book.bars(NIFTY_FUT, M1)] == [2_400_000, 2_400_100]
    strategy()
    assert book.bars(NIFTY_FUT, M1) == []  # dropped with the last follower
    book.on_tick(tick(NIFTY_FUT, 9, 17, 1, 2_400_200))
    assert book.bars(NIFTY_FUT, M1) == []


def test_chart_candles_when_followed_again_after_a_gap_do_not_count_the_gaps_volume() -> None:
    book = CandleBook()
    unfollow = book.follow(NIFTY_FUT, M1)
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000, 1_000))
    unfollow()
    book.on_tick(tick(NIFTY_FUT, 9, 20, 1, 2_401_000, 90_000))  # traded while nobody looked
    book.follow(NIFTY_FUT, M1)
    book.on_tick(tick(NIFTY_FUT, 9, 30, 1, 2_402_000, 150_000))
    book.on_tick(tick(NIFTY_FUT, 9, 30, 9, 2_402_500, 150_300))
    (bar,) = book.bars(NIFTY_FUT, M1)
    assert (bar.start_ns, bar.open, bar.volume) == (at(9, 30), 2_402_000, 300)


def test_chart_candles_when_listening_receive_the_forming_bar_at_every_update() -> None:
    book = CandleBook()
    book.follow(NIFTY_FUT, M1)
    seen: list[tuple[int, int, int]] = []
    unlisten = book.listen(
        NIFTY_FUT, M1, lambda bar: seen.append((bar.start_ns, bar.close, bar.ticks))
    )
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000))
    book.on_tick(tick(NIFTY_FUT, 9, 15, 30, 2_400_300))
    book.on_tick(tick(NIFTY_FUT, 9, 16, 0, 2_400_100))
    assert seen == [
        (at(9, 15), 2_400_000, 1),
        (at(9, 15), 2_400_300, 2),
        (at(9, 16), 2_400_100, 1),
    ]
    unlisten()
    book.on_tick(tick(NIFTY_FUT, 9, 16, 5, 2_400_200))
    assert len(seen) == 3


def test_chart_candles_when_listening_without_a_follow_hear_nothing() -> None:
    book = CandleBook()
    seen: list[Bar] = []
    book.listen(NIFTY_FUT, M1, seen.append)
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000))
    assert seen == []
    book.follow(NIFTY_FUT, M1)
    book.on_tick(tick(NIFTY_FUT, 9, 15, 2, 2_400_100))
    assert [b.close for b in seen] == [2_400_100]


def test_chart_candles_when_a_listener_fails_log_it_and_still_tell_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = CandleBook()
    book.follow(NIFTY_FUT, M1)
    before: list[int] = []
    after: list[int] = []

    def broken(bar: Bar) -> None:
        raise RuntimeError("chart went away")

    book.listen(NIFTY_FUT, M1, lambda bar: before.append(bar.close))
    book.listen(NIFTY_FUT, M1, broken)
    book.listen(NIFTY_FUT, M1, lambda bar: after.append(bar.close))
    with caplog.at_level(logging.ERROR, logger="engine.marketdata.candles"):
        book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000))
        book.on_tick(tick(NIFTY_FUT, 9, 15, 2, 2_400_100))
    assert before == after == [2_400_000, 2_400_100]
    assert book.listener_errors == 2
    assert "chart went away" in caplog.text and "1m" in caplog.text
    assert book.bars(NIFTY_FUT, M1)[-1].close == 2_400_100


def test_chart_candles_when_a_listener_unsubscribes_while_told_the_rest_are_told() -> None:
    book = CandleBook()
    book.follow(NIFTY_FUT, M1)
    told: list[str] = []
    unlisten_first = book.listen(
        NIFTY_FUT, M1, lambda bar: (told.append("first"), unlisten_first())
    )
    book.listen(NIFTY_FUT, M1, lambda bar: told.append("second"))
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 2_400_000))
    book.on_tick(tick(NIFTY_FUT, 9, 15, 2, 2_400_100))
    assert told == ["first", "second", "second"]


def test_chart_candles_when_a_value_is_derived_build_every_timeframe_unasked() -> None:
    book = CandleBook()
    heard: list[Bar] = []
    book.listen(STRADDLE, M5, heard.append)
    direct = BarBuilder(M1)
    start = at(9, 15)
    for second in range(0, 2 * 3600, 1):  # sampled once a second for two hours
        premium = 21_000 + (second * 37) % 900 - (second // 600) * 50
        book.add_value(STRADDLE, start + second * 1_000_000_000, premium)
        direct.add(STRADDLE, start + second * 1_000_000_000, premium)
    minutes = book.bars(STRADDLE, M1)
    assert minutes == direct.bars(STRADDLE) and len(minutes) == 120
    for timeframe in Timeframe:
        assert book.bars(STRADDLE, timeframe) == resample(minutes, timeframe)
    assert [b.start.strftime("%H:%M") for b in book.bars(STRADDLE, Timeframe.H1)] == [
        "09:15",
        "10:15",
    ]
    assert len(heard) == 7200 and heard[-1].start_ns == at(11, 10)


def test_chart_candles_when_a_derived_series_loses_its_chart_keep_building_it() -> None:
    book = CandleBook()
    book.add_value(STRADDLE, at(9, 15), 21_000)
    book.follow(STRADDLE, M1)()
    book.add_value(STRADDLE, at(9, 16), 21_500)
    assert [b.close for b in book.bars(STRADDLE, M1)] == [21_000, 21_500]


def test_chart_candles_when_a_session_runs_long_keep_only_the_newest_bars() -> None:
    book = CandleBook(max_bars=50)
    for minute in range(200):
        book.add_value(STRADDLE, at(9, 15) + minute * 60_000_000_000, 20_000 + minute)
    minutes = book.bars(STRADDLE, M1)
    assert len(minutes) == 51  # 50 closed and the forming one
    assert minutes[0].close == 20_149 and minutes[-1].close == 20_199


@pytest.mark.parametrize("price", [210.5, float("nan"), True, None])
def test_chart_candles_when_a_derived_price_is_not_whole_paise_refuse_it(price: object) -> None:
    book = CandleBook()
    with pytest.raises(TypeError, match="whole paise"):
        book.add_value(STRADDLE, at(9, 15), price)  # type: ignore[arg-type]
    assert book.bars(STRADDLE, M1) == []


def test_chart_candles_when_a_derived_value_goes_below_zero_keep_it_in_the_bars() -> None:
    book = CandleBook()
    mtm = "portfolio:Short straddle:mtm"
    for second, value in enumerate((1_500, -2_000, -500)):
        book.add_value(mtm, at(9, 20, second), value)
    (bar,) = book.bars(mtm, Timeframe.M1)
    assert (bar.open, bar.high, bar.low, bar.close) == (1_500, 1_500, -2_000, -500)


def test_chart_candles_when_a_tick_has_no_trade_yet_make_no_bar_of_it() -> None:
    book = CandleBook()
    book.follow(NIFTY_FUT, Timeframe.M1)
    book.on_tick(tick(NIFTY_FUT, 9, 15, 1, 0))
    assert book.bars(NIFTY_FUT, Timeframe.M1) == []
    book.on_tick(tick(NIFTY_FUT, 9, 15, 2, 2_400_000))
    assert [b.low for b in book.bars(NIFTY_FUT, Timeframe.M1)] == [2_400_000]
