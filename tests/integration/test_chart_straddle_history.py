"""A straddle chart's past, made from its legs' history on the paper market: each minute is the
call and the put of the strike nearest the underlying's close, summed."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from engine.api.straddle_history import straddle_key
from engine.core.clock import IST, TestClock
from engine.domain.bars import Timeframe, resample
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=IST)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=9, strikes_each_side=12),
        ),
        clock=TestClock(WEDNESDAY_NOON),
    )
    yield engine
    engine.close()


def nifty_straddle(engine: Engine) -> str:
    expiry = min(e for u, e in engine.api.option_chains() if u == "NIFTY")
    return f"straddle:NIFTY:{expiry.isoformat()}"


async def test_chart_straddle_history_when_asked_sums_the_atm_call_and_put_of_each_minute(
    engine: Engine,
) -> None:
    key = nifty_straddle(engine)
    underlying, expiry = straddle_key(key)  # type: ignore[misc]
    api = engine.api
    history = engine.charts.history
    assert history is not None
    bars = await api.chart_history(key, "1m")
    assert len(bars) > 375  # days of minutes, not only this session's

    # The same by hand: the spot's minutes, the nearest strike, its two legs' closes.
    end = WEDNESDAY_NOON
    start = end - timedelta(days=5)
    spot = await history.candles(
        engine.registry.spot_tokens()[underlying], Timeframe.M1, start, end
    )
    layout = api.options_service.chain_layout(underlying, expiry)
    strikes = list(layout.strikes)
    by_start = {b.start_ns: b for b in bars}
    checked = 0
    for moment in spot[:: len(spot) // 40]:
        at = bisect.bisect_left(strikes, moment.close)
        near = min(
            (at - 1, at),
            key=lambda i: abs(strikes[i] - moment.close) if 0 <= i < len(strikes) else 1e18,
        )
        legs = []
        for token in (layout.calls[near], layout.puts[near]):
            minute = await history.candles(int(token), Timeframe.M1, start, end)
            legs.append(next(b for b in minute if b.start_ns == moment.start_ns))
        bar = by_start[moment.start_ns]
        assert bar.close == legs[0].close + legs[1].close
        assert bar.open == legs[0].open + legs[1].open
        assert bar.low == min(bar.open, bar.close) and bar.high == max(bar.open, bar.close)
        checked += 1
    assert checked >= 40
    # Coarser timeframes are the same minutes gathered (a 15-minute chart reaches further back).
    gathered = resample(bars, Timeframe.M15)[1:]  # the first may have begun before the range
    fifteen = await api.chart_history(key, "15m")
    assert [b for b in fifteen if b.start_ns >= gathered[0].start_ns] == gathered


async def test_chart_straddle_history_when_the_underlying_moves_the_premium_moves_with_it(
    engine: Engine,
) -> None:
    """Priced off the underlying, a call's past rises with it and a put's falls."""
    api = engine.api
    history = engine.charts.history
    assert history is not None
    expiry = min(e for u, e in api.option_chains() if u == "NIFTY")
    layout = api.options_service.chain_layout("NIFTY", expiry)
    middle = len(layout.strikes) // 2
    start, end = WEDNESDAY_NOON - timedelta(days=3), WEDNESDAY_NOON
    spot = await history.candles(engine.registry.spot_tokens()["NIFTY"], Timeframe.M1, start, end)
    call = await history.candles(int(layout.calls[middle]), Timeframe.M1, start, end)
    put = await history.candles(int(layout.puts[middle]), Timeframe.M1, start, end)
    moves = np.diff([b.close for b in spot])
    assert np.corrcoef(moves, np.diff([b.close for b in call]))[0, 1] > 0.8
    assert np.corrcoef(moves, np.diff([b.close for b in put]))[0, 1] < -0.8


async def test_chart_history_when_a_series_has_no_past_gives_none(engine: Engine) -> None:
    assert await engine.api.chart_history("portfolio:Iron fly:mtm", "1m") == []
    assert await engine.api.chart_history("straddle:NIFTY:not-a-date", "1m") == []
    assert await engine.api.chart_history("straddle:NOSUCH:2026-12-08", "1m") == []
