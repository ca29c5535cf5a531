"""A paper stop the market has triggered (it works as a limit, OPEN) whose trigger is then moved
(a trailing stop's modification that crossed the trigger on its way) stays working: the book
never goes from OPEN back to TRIGGER PENDING, which the order state table refuses."""

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


def test_trailing_modify_of_a_triggered_paper_stop_keeps_it_working_as_a_limit(desk) -> None:  # type: ignore[no-untyped-def]
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    stop = desk.oms.submit(
        OrderRequest(
            InstrumentToken(NIFTY_CE.token),
            Side.SELL,
            65,
            OrderType.SL,
            Product.NRML,
            price=Paise(9700),
            trigger_price=Paise(9900),
        )
    )
    order = desk.oms.orders[stop.order_id]
    assert order.status is OrderStatus.TRIGGER_PENDING
    desk.tick(quote(NIFTY_CE, bid=9600, ask=9650, ltp=9650))  # triggered; below its limit: rests
    assert order.status is OrderStatus.OPEN and order.filled_quantity == 0

    assert desk.oms.modify(stop.order_id, Modification(trigger_price=Paise(9950)))
    assert order.status is OrderStatus.OPEN and order.trigger_price == 9950
    desk.tick(quote(NIFTY_CE, bid=9700, ask=9705, ltp=9700))  # the bid comes back to its limit
    assert order.status is OrderStatus.COMPLETE and desk.oms.fills[-1].price == 9700
