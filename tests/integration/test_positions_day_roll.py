"""A desk left running past midnight IST starts the new day as a desk opened that day would: what
it holds is carried in, marked from the previous close, and the Day MTM counts only the new day's
trades and charges; the simulated market's last prices become its previous close."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.api import OrderType, Product, Side
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import tick_stock

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=IST)


def reliance_at(engine: Engine, price: int, close: int) -> int:
    return tick_stock(engine, "RELIANCE", price, close)


def test_positions_when_the_desk_runs_past_midnight_start_the_new_day_carried_in(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=2),
        ),
        clock=clock,
    )
    try:
        token = reliance_at(engine, 155_000, close=154_000)
        bought = engine.api.place_order(token, Side.BUY, 10, OrderType.MARKET, product=Product.CNC)
        assert bought.ok, bought.reason
        clock.advance(5)
        reliance_at(engine, 156_000, close=154_000)  # Monday's last price
        monday_charges = engine.api.positions()[0].charges
        assert monday_charges > 0
        assert engine.api.day_pnl() == engine.api.positions()[0].day_pnl - monday_charges

        clock.advance(timedelta(hours=15).total_seconds())  # Tuesday, 01:00
        engine.housekeeping.beat()
        reliance_at(engine, 157_000, close=156_000)  # the feed gives Monday's close

        held = engine.api.positions()[0]
        assert (held.net_quantity, held.overnight_quantity) == (10, 10)
        assert held.day_pnl == 10 * (Decimal("1570.00") - Decimal("1560.00"))
        assert held.day_charges == 0 and held.charges == monday_charges
        assert engine.api.day_pnl() == Decimal("100.00")  # Monday's charges are Monday's
    finally:
        engine.close()


def test_simulated_market_when_a_new_day_starts_takes_its_last_prices_as_the_previous_close() -> (
    None
):
    start = datetime(2026, 11, 30, 23, 50, tzinfo=IST)
    market = SimulatedMarket(
        SimulatedMarketConfig(seed=4, strikes_each_side=1, always_open=True),
        lambda: start,
        FailClosedCalendar(MarketCalendar.load()),
    )
    monday_close = {tick.token: tick.close for tick in market.snapshot()}
    for _ in range(119):  # to 23:59:55, the day's last step
        market.step(5.0)
    monday = {tick.token: tick for tick in market.snapshot()}

    for _ in range(2):  # to 00:00:05
        market.step(5.0)

    tuesday = market.snapshot()
    assert all(tick.close == monday[tick.token].ltp for tick in tuesday)
    assert any(monday_close[tick.token] != tick.close for tick in tuesday)
    # The day's volume starts again: 10 seconds of trading, not ten minutes.
    assert sum(t.volume for t in tuesday) < sum(t.volume for t in monday.values()) / 10
