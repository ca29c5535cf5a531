"""DAY orders at the paper venue end with the trading day, as at the exchange: whatever is still
open at the session's close is cancelled, never carried to the next morning's market.

A whole engine (simulated market, the market calendar's sessions, journal, heartbeat) on a test
clock. 23 Nov 2026 is a Monday; 24 Nov is a holiday, so the next session is on the 25th.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument
from engine.domain.orders import Modification, OrderStatus, Product
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

END_OF_DAY = "cancelled at the end of the trading day"
NEXT_MORNING = datetime(2026, 11, 25, 9, 16, tzinfo=IST)


def desk(book: Path, at: datetime, *, always_open: bool = False) -> Engine:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{book}",
            market=SimulatedMarketConfig(seed=5),
            always_open=always_open,
        ),
        clock=TestClock(at),
    )
    assert engine.market is not None
    for tick in engine.market.snapshot():
        engine.quotes.update(tick)
    return engine


def reliance(engine: Engine) -> Instrument:
    return next(i for i in engine.registry if i.tradingsymbol == "RELIANCE")


def clock_of(engine: Engine) -> TestClock:
    assert isinstance(engine.clock, TestClock)
    return engine.clock


def offered_at(engine: Engine, instrument: Instrument, ask: int, size: int = 10_000) -> Tick:
    """A tick on which ``size`` shares are offered at ``ask`` paise (and bid one tick below)."""
    bid = ask - instrument.tick_size
    return Tick(
        token=instrument.token,
        ltp=ask,
        bid=bid,
        ask=ask,
        bid_qty=size,
        ask_qty=size,
        volume=1_000_000,
        oi=0,
        ts_ns=engine.clock.time_ns(),
        bids=((bid, size, 5),),
        asks=((ask, size, 5),),
    )


def rest_a_buy_below_the_market(engine: Engine, instrument: Instrument) -> tuple[str, int]:
    """A DAY LIMIT buy of 10 shares 1 % under the last price: it rests. Returns (id, price)."""
    last = engine.quotes.get(instrument.token)
    assert last is not None
    price = last.ltp * 99 // 100 // instrument.tick_size * instrument.tick_size
    outcome = engine.api.place_order(
        instrument.token, "BUY", 10, "LIMIT", product="CNC", price=Decimal(price) / 100
    )
    assert outcome, outcome.reason
    assert outcome.order_id is not None
    assert engine.orders.orders[outcome.order_id].status is OrderStatus.OPEN
    return outcome.order_id, price


def test_day_order_when_still_open_at_the_close_is_cancelled_by_the_venue_in_words(
    tmp_path: Path,
) -> None:
    engine = desk(tmp_path / "book.db", datetime(2026, 11, 23, 15, 29, 58, tzinfo=IST))
    try:
        stock = reliance(engine)
        order_id, _price = rest_a_buy_below_the_market(engine, stock)
        clock = clock_of(engine)
        clock.advance(1)
        engine._beat()  # 15:29:59: still the normal market
        assert engine.orders.orders[order_id].status is OrderStatus.OPEN
        clock.advance(1)
        engine._beat()  # 15:30:00: the cash market's close in the calendar
        order = engine.orders.orders[order_id]
        assert order.status is OrderStatus.CANCELLED
        assert order.status_message.startswith(END_OF_DAY)
        assert engine.venue is not None and engine.venue.resting_count == 0
        assert not engine.orders.open_orders()
    finally:
        engine.close()


def test_day_order_when_desk_runs_overnight_does_not_fill_next_morning(tmp_path: Path) -> None:
    book = tmp_path / "book.db"
    engine = desk(book, datetime(2026, 11, 23, 15, 0, tzinfo=IST))
    try:
        stock = reliance(engine)
        order_id, price = rest_a_buy_below_the_market(engine, stock)
        clock = clock_of(engine)
        for _ in range(36):  # the desk left running through the evening and the night
            clock.advance(3600)
            engine._beat()
        clock.set(NEXT_MORNING)
        engine._beat()
        engine.on_tick(offered_at(engine, stock, price - 10 * stock.tick_size))
        order = engine.orders.orders[order_id]
        assert order.status is OrderStatus.CANCELLED
        assert order.status_message.startswith(END_OF_DAY)
        assert order.filled_quantity == 0
        assert engine.positions.get(stock.token, Product.CNC) is None
    finally:
        engine.close()
    again = Engine.build(EngineConfig(db_url=f"sqlite:///{book}"), clock=TestClock(NEXT_MORNING))
    try:  # the journal holds the cancel: a restart shows the same book
        restored = again.orders.orders[order_id]
        assert restored.status is OrderStatus.CANCELLED
        assert restored.status_message == order.status_message
    finally:
        again.close()


def test_day_order_when_the_first_thing_next_morning_is_a_tick_is_not_matched(
    tmp_path: Path,
) -> None:
    """No heartbeat ran between the close and the next open (a machine asleep overnight): the
    venue ends the old day before it matches anything on the new day's first tick."""
    engine = desk(tmp_path / "book.db", datetime(2026, 11, 23, 15, 0, tzinfo=IST))
    try:
        stock = reliance(engine)
        order_id, price = rest_a_buy_below_the_market(engine, stock)
        clock_of(engine).set(NEXT_MORNING)
        engine.on_tick(offered_at(engine, stock, price - 10 * stock.tick_size))
        order = engine.orders.orders[order_id]
        assert order.status is OrderStatus.CANCELLED
        assert order.status_message.startswith(END_OF_DAY)
        assert not engine.orders.fills
    finally:
        engine.close()


def test_day_order_when_modified_across_the_market_next_morning_is_not_matched(
    tmp_path: Path,
) -> None:
    engine = desk(tmp_path / "book.db", datetime(2026, 11, 23, 15, 0, tzinfo=IST))
    try:
        stock = reliance(engine)
        order_id, price = rest_a_buy_below_the_market(engine, stock)
        clock_of(engine).set(NEXT_MORNING)
        engine.quotes.update(offered_at(engine, stock, price))
        engine.orders.modify(order_id, Modification(price=Paise(price + stock.tick_size)))
        order = engine.orders.orders[order_id]
        assert order.status is OrderStatus.CANCELLED
        assert order.status_message.startswith(END_OF_DAY)
        assert not engine.orders.fills
    finally:
        engine.close()


def test_resting_order_when_the_desk_is_kept_always_open_stays_across_midnight(
    tmp_path: Path,
) -> None:
    """A desk run always open (a replay of recorded hours, a demo) has no close to end a day:
    its orders are worked on the next day's prices as before."""
    engine = desk(tmp_path / "book.db", datetime(2026, 11, 23, 15, 0, tzinfo=IST), always_open=True)
    try:
        stock = reliance(engine)
        order_id, price = rest_a_buy_below_the_market(engine, stock)
        clock = clock_of(engine)
        clock.advance(2 * 3600)
        engine._beat()
        clock.set(NEXT_MORNING)
        engine.on_tick(offered_at(engine, stock, price))
        assert engine.orders.orders[order_id].status is OrderStatus.COMPLETE
    finally:
        engine.close()


@pytest.mark.parametrize("thin", [True, False], ids=["rest-cancelled", "filled"])
def test_intraday_square_off_after_the_close_when_quote_is_thin_does_not_rest_overnight(
    tmp_path: Path, thin: bool
) -> None:
    """A desk started after the close squares off MIS at the last quote; what that quote could
    not take is cancelled at once (the market is closed), never left to fill next morning."""
    book = tmp_path / "book.db"
    engine = desk(book, datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    stock = reliance(engine)
    try:
        bought = engine.api.place_order(stock.token, "BUY", 50, "MARKET", product="MIS")
        assert bought, bought.reason
        assert engine.positions.get(stock.token, Product.MIS).net_quantity == 50
        last = engine.quotes.get(stock.token)
        assert last is not None
    finally:
        engine.close()
    again = desk(book, datetime(2026, 11, 23, 16, 5, tzinfo=IST))
    try:
        bid = last.ltp
        again.on_tick(offered_at(again, stock, bid + stock.tick_size, size=20 if thin else 500))
        again._beat()
        (square_off,) = [o for o in again.orders.orders.values() if o.source is OrderSource.BROKER]
        position = again.positions.get(stock.token, Product.MIS)
        if not thin:
            assert square_off.status is OrderStatus.COMPLETE
            assert position.net_quantity == 0
            return
        assert square_off.filled_quantity == 20
        assert square_off.status is OrderStatus.CANCELLED
        assert END_OF_DAY in square_off.status_message
        assert position.net_quantity == 30
        clock_of(again).set(NEXT_MORNING)
        again._beat()
        again.on_tick(offered_at(again, stock, bid + stock.tick_size, size=500))
        assert square_off.filled_quantity == 20
        assert again.positions.get(stock.token, Product.MIS).net_quantity == 30
    finally:
        again.close()
