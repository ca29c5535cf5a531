"""Changing an order's type at the paper venue: the venue and the order book agree. A working
LIMIT order cannot become a stop-loss (the book cannot go from OPEN back to TRIGGER PENDING), so
the gate and the venue both refuse it in words and the order keeps working as it was; a stop
changed to SL-M drops its limit price and fills at the market when triggered."""

from __future__ import annotations

import pytest

from engine.domain.ids import InstrumentToken
from engine.domain.orders import Modification, OrderRequest, OrderStatus, OrderType, Product, Side
from engine.domain.values import Paise
from tests.support import NIFTY_CE, make_desk, quote


@pytest.fixture
def desk(tmp_path):  # type: ignore[no-untyped-def]
    desk = make_desk(tmp_path / "book.db")
    yield desk
    desk.database.close()


def _limit_buy(desk, price: int = 9800):  # type: ignore[no-untyped-def]
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(
        OrderRequest(
            InstrumentToken(NIFTY_CE.token),
            Side.BUY,
            65,
            OrderType.LIMIT,
            Product.NRML,
            price=Paise(price),
        )
    )
    return desk.oms.orders[outcome.order_id]


@pytest.mark.parametrize("stop", [OrderType.SL, OrderType.SL_M])
def test_paper_limit_modified_into_a_stop_is_refused_by_gate_in_words(desk, stop) -> None:  # type: ignore[no-untyped-def]
    order = _limit_buy(desk)
    change = Modification(order_type=stop, trigger_price=Paise(10100), price=Paise(10150))
    refused = desk.oms.modify(order.order_id, change)
    assert not refused
    assert "working LIMIT order cannot become a stop-loss" in refused.reason
    assert (order.order_type, order.status, order.price) == (
        OrderType.LIMIT,
        OrderStatus.OPEN,
        9800,
    )
    desk.tick(quote(NIFTY_CE, bid=9790, ask=9800, ltp=9800))  # still works as the LIMIT it was
    assert order.status is OrderStatus.COMPLETE and desk.oms.fills[-1].price == 9800


def test_paper_venue_itself_refuses_limit_into_stop_and_book_agrees(desk) -> None:  # type: ignore[no-untyped-def]
    order = _limit_buy(desk)
    # Straight at the venue (as a restored or a broker-side change would come): it refuses too.
    desk.venue.modify(order, Modification(order_type=OrderType.SL, trigger_price=Paise(10100)))
    assert order.status is OrderStatus.OPEN and order.order_type is OrderType.LIMIT
    assert "modify refused" in order.status_message
    assert "cannot become a stop-loss" in order.status_message
    desk.tick(quote(NIFTY_CE, bid=10200, ask=10210, ltp=10200))  # would trigger a stop: no
    assert order.filled_quantity == 0 and desk.venue.resting_count == 1
    desk.tick(quote(NIFTY_CE, bid=9790, ask=9800, ltp=9800))
    assert order.status is OrderStatus.COMPLETE and desk.oms.fills[-1].price == 9800


def test_paper_stop_modified_to_sl_m_fills_at_the_market_not_its_old_limit(desk) -> None:  # type: ignore[no-untyped-def]
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(
        OrderRequest(
            InstrumentToken(NIFTY_CE.token),
            Side.SELL,
            65,
            OrderType.SL,
            Product.NRML,
            price=Paise(9850),
            trigger_price=Paise(9900),
        )
    )
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.TRIGGER_PENDING
    assert desk.oms.modify(order.order_id, Modification(order_type=OrderType.SL_M))
    assert order.order_type is OrderType.SL_M and order.price is None
    assert order.status is OrderStatus.TRIGGER_PENDING
    # The market gaps through the trigger and the old limit 98.50: an SL would rest, SL-M fills.
    desk.tick(quote(NIFTY_CE, bid=9700, ask=9710, ltp=9700))
    assert order.status is OrderStatus.COMPLETE
    assert desk.oms.fills[-1].price == 9700


def test_paper_triggered_stop_modified_to_sl_m_fills_at_once(desk) -> None:  # type: ignore[no-untyped-def]
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(
        OrderRequest(
            InstrumentToken(NIFTY_CE.token),
            Side.SELL,
            65,
            OrderType.SL,
            Product.NRML,
            price=Paise(9850),
            trigger_price=Paise(9900),
        )
    )
    order = desk.oms.orders[outcome.order_id]
    desk.tick(quote(NIFTY_CE, bid=9700, ask=9710, ltp=9700))  # triggered, rests at its limit
    assert order.status is OrderStatus.OPEN and order.filled_quantity == 0
    assert desk.oms.modify(order.order_id, Modification(order_type=OrderType.SL_M))
    assert order.status is OrderStatus.COMPLETE and desk.oms.fills[-1].price == 9700


def _sell_stop(desk):  # type: ignore[no-untyped-def]
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(
        OrderRequest(
            InstrumentToken(NIFTY_CE.token),
            Side.SELL,
            65,
            OrderType.SL,
            Product.NRML,
            price=Paise(9850),
            trigger_price=Paise(9900),
        )
    )
    return desk.oms.orders[outcome.order_id]


def test_paper_stop_modified_with_its_own_type_and_trigger_keeps_waiting(desk) -> None:  # type: ignore[no-untyped-def]
    # What the order ticket sends when the trader only moves a stop's limit.
    order = _sell_stop(desk)
    change = Modification(price=Paise(9840), trigger_price=Paise(9900), order_type=OrderType.SL)
    assert desk.oms.modify(order.order_id, change)
    assert (order.order_type, order.price, order.trigger_price, order.status) == (
        OrderType.SL,
        9840,
        9900,
        OrderStatus.TRIGGER_PENDING,
    )
    desk.tick(quote(NIFTY_CE, bid=9990, ask=9995, ltp=9990))  # above the trigger: no fill
    assert order.filled_quantity == 0


def test_paper_stop_explicitly_modified_to_limit_is_accepted_as_kite_does(desk) -> None:  # type: ignore[no-untyped-def]
    # Kite's modify takes any order_type, and multileg exits rely on it: a stop asked to become
    # a LIMIT becomes one (only the ticket's silent change of type was the defect).
    order = _sell_stop(desk)
    change = Modification(price=Paise(9990), order_type=OrderType.LIMIT)
    assert desk.oms.modify(order.order_id, change)
    assert order.order_type is OrderType.LIMIT
