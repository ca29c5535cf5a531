"""The paper venue and the order manager together, on a real journal file and a test clock."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import pytest

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST
from engine.domain.events import OrderDenied, OrderFilled, OrderStatusChanged
from engine.domain.ids import InstrumentToken
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.origin import OrderSource
from engine.domain.values import Paise, round_paisa
from tests.support import NIFTY_CE, NIFTY_FUT, NIFTY_INDEX, RELIANCE, make_desk, quote


@pytest.fixture
def desk(tmp_path):
    desk = make_desk(tmp_path / "book.db")
    yield desk
    desk.database.close()


def order(
    side: Side,
    instrument=NIFTY_CE,
    quantity=65,
    order_type=OrderType.LIMIT,
    price=None,
    product=Product.NRML,
    **kw,
) -> OrderRequest:
    """A request in paise, NRML LIMIT for one lot of the NIFTY call unless told otherwise."""
    return OrderRequest(
        instrument.token,
        side,
        quantity,
        order_type,
        product,
        price=None if price is None else Paise(price),
        **kw,
    )


def buy(**kw) -> OrderRequest:
    return order(Side.BUY, **kw)


def sell(**kw) -> OrderRequest:
    return order(Side.SELL, **kw)


def test_worked_example_when_one_lot_bought_at_100_and_sold_at_120_costs_65_11(desk) -> None:
    """nse_market.md §3.4: 1 lot NIFTY option (65), buy 100 -> sell 120, after 1 Apr 2026."""
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    assert desk.oms.submit(buy(price=10000))
    desk.tick(quote(NIFTY_CE, bid=12000, ask=12005))
    assert desk.oms.submit(sell(price=12000))

    buy_fill, sell_fill = desk.oms.fills
    assert (buy_fill.price, sell_fill.price) == (10000, 12000)
    b, s = buy_fill.charges, sell_fill.charges
    assert (b.brokerage, s.brokerage) == (Decimal(20), Decimal(20))
    assert round_paisa(s.stt) == Decimal("11.70")
    assert (round_paisa(b.exchange), round_paisa(s.exchange)) == (Decimal("2.31"), Decimal("2.77"))
    assert round_paisa(b.exchange + s.exchange) == Decimal("5.08")
    assert round_paisa(b.sebi + s.sebi) == Decimal("0.01")
    assert round_paisa(b.gst + s.gst) == Decimal("8.12")
    assert round_paisa(b.stamp) == Decimal("0.20")
    assert round_paisa(b.total + s.total) == Decimal("65.11")

    position = desk.positions.get(NIFTY_CE.token, Product.NRML)
    assert position.net_quantity == 0
    assert position.realised == Decimal(1300)
    assert round_paisa(position.net_pnl(12000)) == Decimal("1234.89")


def test_market_order_when_larger_than_top_of_book_walks_the_depth(desk) -> None:
    asks = ((10000, 65, 1), (10005, 65, 2), (10010, 130, 4))
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, asks=asks))
    outcome = desk.oms.submit(buy(quantity=195, order_type=OrderType.MARKET))
    assert outcome
    assert [(f.quantity, f.price) for f in desk.oms.fills] == [
        (65, 10000),
        (65, 10005),
        (65, 10010),
    ]
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.COMPLETE
    assert order.average_price == Decimal("100.05")


def test_market_order_when_depth_runs_out_rests_the_rest_as_protected_limit(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000, size=65))
    outcome = desk.oms.submit(buy(quantity=130, order_type=OrderType.MARKET))
    order = desk.oms.orders[outcome.order_id]
    assert order.filled_quantity == 65
    assert order.status is OrderStatus.OPEN
    assert order.order_type is OrderType.LIMIT
    assert order.price == 10200  # LTP 100 + 2 % market protection
    desk.tick(quote(NIFTY_CE, bid=10100, ask=10150, size=65))
    assert order.status is OrderStatus.COMPLETE
    # A resting order is passive: whoever sold into it traded at its price.
    assert desk.oms.fills[-1].price == 10200
    assert order.filled_quantity == 130


def test_limit_order_when_away_from_market_rests_then_fills_at_its_price_when_market_comes(
    desk,
) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(buy(quantity=130, price=9900))
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.OPEN and order.filled_quantity == 0
    desk.tick(quote(NIFTY_CE, bid=9890, ask=9895, size=65))
    assert order.filled_quantity == 65 and order.status is OrderStatus.OPEN  # partial
    assert desk.oms.fills[-1].price == 9900  # passive: at its own limit
    desk.tick(quote(NIFTY_CE, bid=9880, ask=9890, size=65))
    assert order.status is OrderStatus.COMPLETE


def test_ioc_order_when_partly_filled_cancels_the_rest(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, size=65))
    outcome = desk.oms.submit(buy(quantity=130, price=10000, validity=Validity.IOC))
    order = desk.oms.orders[outcome.order_id]
    assert order.filled_quantity == 65
    assert order.status is OrderStatus.CANCELLED
    assert "IOC" in order.status_message
    assert desk.venue.resting_count == 0


def test_stop_loss_sell_when_ltp_falls_to_trigger_becomes_limit_and_fills(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000))
    desk.oms.submit(buy(quantity=65, price=10000))
    request = OrderRequest(
        NIFTY_CE.token,
        Side.SELL,
        65,
        OrderType.SL,
        Product.NRML,
        price=Paise(9000),
        trigger_price=Paise(9050),
    )
    outcome = desk.oms.submit(request)
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.TRIGGER_PENDING
    desk.tick(quote(NIFTY_CE, bid=9500, ask=9505, ltp=9500))
    assert order.status is OrderStatus.TRIGGER_PENDING
    desk.tick(quote(NIFTY_CE, bid=9040, ask=9050, ltp=9045))
    assert order.status is OrderStatus.COMPLETE
    assert desk.oms.fills[-1].price == 9040
    assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 0


def test_stop_loss_market_when_trigger_already_passed_is_rejected_with_reason(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000))
    request = OrderRequest(
        NIFTY_CE.token, Side.BUY, 65, OrderType.SL_M, Product.NRML, trigger_price=Paise(9900)
    )
    outcome = desk.oms.submit(request)
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.REJECTED
    assert "above the last traded price 100.00" in order.status_message


def test_resting_order_when_modified_and_cancelled_reports_each_step(desk) -> None:
    changes = desk.events(OrderStatusChanged)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(buy(quantity=65, price=9800))
    assert desk.oms.modify(outcome.order_id, Modification(quantity=130, price=Paise(9850)))
    order = desk.oms.orders[outcome.order_id]
    assert (order.quantity, order.price, order.status) == (130, 9850, OrderStatus.OPEN)
    assert desk.oms.cancel(outcome.order_id)
    assert order.status is OrderStatus.CANCELLED
    assert [c.status for c in changes] == [
        OrderStatus.OPEN,
        OrderStatus.OPEN,
        OrderStatus.CANCELLED,
    ]
    refused = desk.oms.cancel(outcome.order_id)
    assert not refused and "CANCELLED" in refused.reason


def test_modify_when_new_price_crosses_the_market_fills_at_once(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(buy(quantity=65, price=9800))
    desk.oms.modify(outcome.order_id, Modification(price=Paise(10010)))
    assert desk.oms.orders[outcome.order_id].status is OrderStatus.COMPLETE
    assert desk.oms.fills[-1].price == 10000


def test_order_when_market_is_closed_is_rejected_with_the_time(desk) -> None:
    desk.session_open[0] = False
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(buy(price=10000))
    order = desk.oms.orders[outcome.order_id]
    assert order.status is OrderStatus.REJECTED
    assert order.status_message == "market is closed for NFO at 10:00:00 IST"


def test_intraday_positions_when_square_off_time_passes_are_closed_and_mis_orders_cancelled(
    desk,
) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    for _ in range(2):  # 30 lots in two orders (freeze 1,800)
        assert desk.oms.submit(buy(quantity=975, order_type=OrderType.MARKET, product=Product.MIS))
    resting = desk.oms.submit(buy(quantity=65, price=9000, product=Product.MIS))
    desk.tick(quote(NIFTY_CE, bid=10100, ask=10105, size=5000))
    desk.venue.on_clock(datetime(2026, 11, 23, 15, 19, 59, tzinfo=IST))
    assert desk.positions.get(NIFTY_CE.token, Product.MIS).net_quantity == 1950
    desk.venue.on_clock(datetime(2026, 11, 23, 15, 20, tzinfo=IST))
    assert desk.positions.get(NIFTY_CE.token, Product.MIS).net_quantity == 0
    assert desk.oms.orders[resting.order_id].status is OrderStatus.CANCELLED
    square_offs = [o for o in desk.oms.orders.values() if o.source is OrderSource.BROKER]
    assert [o.quantity for o in square_offs] == [1755, 195]
    assert all(o.status is OrderStatus.COMPLETE for o in square_offs)


BAD_REQUESTS = [
    (
        OrderRequest(InstrumentToken(999), Side.BUY, 65, OrderType.LIMIT, price=Paise(100)),
        "unknown instrument 999",
    ),
    (buy(quantity=-65, price=10000), "quantity -65 must be positive"),
    (buy(quantity=0, price=10000), "quantity 0 must be positive"),
    (buy(quantity=70, price=10000), "quantity 70 is not a multiple of the lot size 65"),
    (buy(price=10002), "price 100.02 is not a multiple of the tick size 0.05"),
    (buy(price=None), "a LIMIT order needs a price"),
    (buy(quantity=1820, price=10000), "above the freeze quantity 1800"),
    (buy(instrument=NIFTY_INDEX, quantity=1, price=100), "is an index and cannot be traded"),
    (
        buy(instrument=RELIANCE, quantity=1, price=130005, product=Product.CNC),
        "price 1300.05 is not a multiple of the tick size 0.10",
    ),
    (buy(instrument=RELIANCE, quantity=1, price=130000, product=Product.NRML), "NRML is for F&O"),
    (
        buy(instrument=NIFTY_FUT, quantity=65, price=2600000, product=Product.CNC),
        "CNC is for equity delivery",
    ),
    (buy(order_type=OrderType.MARKET, price=10000), "a MARKET order takes no price"),
    (
        OrderRequest(NIFTY_CE.token, Side.BUY, 65, OrderType.SL, price=Paise(10000)),
        "needs a trigger price",
    ),
    (
        OrderRequest(
            NIFTY_CE.token, Side.BUY, 65, OrderType.SL, price=Paise(9000), trigger_price=Paise(9500)
        ),
        "could never fill",
    ),
]


@pytest.mark.parametrize(("request_", "reason"), BAD_REQUESTS, ids=[r for _, r in BAD_REQUESTS])
def test_malformed_order_when_submitted_is_denied_with_reason_and_changes_nothing(
    desk, request_, reason
) -> None:
    denials = desk.events(OrderDenied)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(request_)
    assert not outcome
    assert reason in outcome.reason
    assert desk.oms.orders == {}
    assert desk.oms.fills == []
    assert desk.positions.all() == []
    assert desk.venue.resting_count == 0
    assert [d.reason for d in denials] == [outcome.reason]
    kinds = [e.kind for e in desk.database.journal.read()]
    assert kinds == ["order_denied"]


def test_modify_when_quantity_is_not_a_lot_multiple_is_refused_and_order_unchanged(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    outcome = desk.oms.submit(buy(price=9800))
    refused = desk.oms.modify(outcome.order_id, Modification(quantity=100))
    assert not refused and "lot size 65" in refused.reason
    assert desk.oms.orders[outcome.order_id].quantity == 65


def test_order_manager_when_restarted_on_same_journal_restores_orders_fills_and_positions(
    book_url: str,
) -> None:
    desk = make_desk(book_url)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    desk.oms.submit(buy(quantity=130, price=10000))
    resting = desk.oms.submit(sell(quantity=65, price=10500))
    before = {o.order_id: (o.status, o.filled_quantity) for o in desk.oms.orders.values()}
    position = desk.positions.get(NIFTY_CE.token, Product.NRML)
    charges_before = position.charges

    again = desk.reopen()
    try:
        assert {
            o.order_id: (o.status, o.filled_quantity) for o in again.oms.orders.values()
        } == before
        restored = again.positions.get(NIFTY_CE.token, Product.NRML)
        assert (restored.net_quantity, restored.open_cost, restored.charges) == (
            130,
            position.open_cost,
            charges_before,
        )
        assert again.venue.resting_count == 1
        again.tick(quote(NIFTY_CE, bid=10500, ask=10505))
        assert again.oms.orders[resting.order_id].status is OrderStatus.COMPLETE
    finally:
        again.database.close()


async def test_venue_when_latency_is_set_acknowledges_after_the_delay(tmp_path) -> None:
    desk = make_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=30))
    try:
        desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
        outcome = desk.oms.submit(buy(price=10000))
        order = desk.oms.orders[outcome.order_id]
        assert order.status is OrderStatus.PENDING_SUBMIT
        await asyncio.sleep(0.1)
        assert order.status is OrderStatus.COMPLETE
    finally:
        desk.database.close()


def test_fill_events_when_published_carry_charges_and_follow_the_journal(desk) -> None:
    fills = desk.events(OrderFilled)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    desk.oms.submit(buy(price=10000))
    assert len(fills) == 1 and fills[0].charges is not None
    journaled = [e for e in desk.database.journal.read() if e.kind == "order_filled"]
    assert journaled[0].payload["trade_id"] == fills[0].trade_id


def test_day_orders_when_engine_restarts_next_day_are_expired_and_not_worked(
    book_url: str,
) -> None:
    desk = make_desk(book_url)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    resting = desk.oms.submit(buy(price=9000))
    desk.database.close()
    desk.clock.set(datetime(2026, 11, 25, 9, 30, tzinfo=IST))
    again = make_desk(book_url, clock=desk.clock, restore=False)
    try:
        again.oms.restore(
            ((e.kind, e.order_id, e.ts_ns, e.payload) for e in again.database.journal.read()),
            today=again.clock.now().date(),
        )
        order = again.oms.orders[resting.order_id]
        assert order.status is OrderStatus.CANCELLED
        assert order.status_message == "expired at the close of 23 Nov 2026"
        assert again.venue.resting_count == 0
    finally:
        again.database.close()


def test_resting_orders_when_one_level_comes_share_its_quantity_first_come_first_filled(
    desk,
) -> None:
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000))
    first = desk.oms.orders[desk.oms.submit(buy(quantity=65, price=9900)).order_id]
    second = desk.oms.orders[desk.oms.submit(buy(quantity=65, price=9900)).order_id]
    deeper = ((9895, 65, 1), (9900, 65, 1))
    desk.tick(quote(NIFTY_CE, bid=9880, ask=9895, size=65, asks=((9895, 65, 1),)))
    assert first.filled_quantity == 65 and second.filled_quantity == 0  # 65 shown, 65 filled
    desk.tick(quote(NIFTY_CE, bid=9880, ask=9895, asks=deeper))
    assert second.status is OrderStatus.COMPLETE  # the next tick's quantity is its own
    assert sum(f.quantity for f in desk.oms.fills) == 130


async def test_order_when_desk_stopped_before_venue_received_it_is_cancelled_in_words_on_restart(
    tmp_path,
) -> None:
    desk = make_desk(tmp_path / "book.db", config=PaperConfig(latency_ms=200))
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000))
    outcome = desk.oms.submit(buy(quantity=650, order_type=OrderType.MARKET))
    assert desk.oms.orders[outcome.order_id].status is OrderStatus.PENDING_SUBMIT
    again = desk.reopen()  # the loop stopped before the latency elapsed: the venue never acted
    try:
        order = again.oms.orders[outcome.order_id]
        assert order.status is OrderStatus.CANCELLED
        assert "stopped before the paper venue received it" in order.status_message
        assert again.venue.resting_count == 0
        again.tick(quote(NIFTY_CE, bid=9990, ask=10000, asks=((10000, 65, 1), (18000, 9000, 1))))
        assert again.oms.fills == []
    finally:
        again.database.close()


def stop_loss_sell(order_type=OrderType.SL_M, trigger=9900, price=None, **kw) -> OrderRequest:
    return OrderRequest(
        NIFTY_CE.token,
        Side.SELL,
        650,
        order_type,
        Product.NRML,
        price=None if price is None else Paise(price),
        trigger_price=Paise(trigger),
        **kw,
    )


def test_stop_loss_market_when_triggered_and_partly_filled_rests_the_rest_as_protected_limit(
    desk,
) -> None:
    desk.tick(quote(NIFTY_CE, bid=10000, ask=10005, ltp=10000))
    order = desk.oms.orders[desk.oms.submit(stop_loss_sell()).order_id]
    desk.tick(quote(NIFTY_CE, bid=9895, ask=9900, ltp=9900, bids=((9895, 130, 1),)))
    assert order.filled_quantity == 130 and order.status is OrderStatus.OPEN
    assert (order.order_type, order.price) == (OrderType.LIMIT, 9705)  # LTP 99 - 2 %
    assert "market protection" in order.status_message
    desk.tick(quote(NIFTY_CE, bid=5000, ask=9900, ltp=6000, bids=((5000, 9000, 1),)))
    assert order.filled_quantity == 130  # no fill far below the protected limit
    assert [f.price for f in desk.oms.fills] == [9895]


def test_ioc_stop_loss_when_triggered_without_a_fill_is_cancelled_not_rested(desk) -> None:
    desk.tick(quote(NIFTY_CE, bid=10000, ask=10005, ltp=10000))
    request = stop_loss_sell(OrderType.SL, trigger=9900, price=9890, validity=Validity.IOC)
    order = desk.oms.orders[desk.oms.submit(request).order_id]
    desk.tick(quote(NIFTY_CE, bid=9800, ask=9805, ltp=9900))  # triggered, no bid at the limit
    assert order.status is OrderStatus.CANCELLED and "IOC" in order.status_message
    assert desk.venue.resting_count == 0
    desk.tick(quote(NIFTY_CE, bid=9890, ask=9895, ltp=9890))
    assert desk.oms.fills == []


def test_triggered_stop_loss_market_when_restored_unpriced_is_protected_at_the_next_ltp(
    book_url: str,
) -> None:
    desk = make_desk(book_url)
    desk.tick(quote(NIFTY_CE, bid=10000, ask=10005, ltp=10000))
    order_id = desk.oms.submit(stop_loss_sell()).order_id
    # As an earlier version journaled a triggered SL-M: OPEN, still SL-M, no price.
    desk.oms.on_broker_event(
        OrderStatusChanged(order_id, desk.clock.time_ns(), OrderStatus.OPEN, "trigger reached")
    )
    again = desk.reopen()
    try:
        order = again.oms.orders[order_id]
        assert (order.status, order.order_type, order.price) == (
            OrderStatus.OPEN,
            OrderType.SL_M,
            None,
        )
        again.tick(quote(NIFTY_CE, bid=5000, ask=9900, ltp=9900, bids=((5000, 9000, 1),)))
        assert (order.order_type, order.price) == (OrderType.LIMIT, 9705)
        assert again.oms.fills == []
        again.tick(quote(NIFTY_CE, bid=9800, ask=9805, ltp=9800))
        assert order.status is OrderStatus.COMPLETE
        assert {f.price for f in again.oms.fills} == {9705}  # passive, at its protected limit
    finally:
        again.database.close()


def restarted_after_the_close(book_url: str, *, last_quote: bool):
    """A desk that bought 10 lots MIS at 10:00, stopped, and is started again at 16:05."""
    desk = make_desk(book_url)
    desk.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000))
    assert desk.oms.submit(buy(quantity=650, order_type=OrderType.MARKET, product=Product.MIS))
    desk.clock.set(datetime(2026, 11, 23, 16, 5, tzinfo=IST))
    again = desk.reopen()
    again.session_open[0] = False
    nets = {(p.token, p.product): p.net_quantity for p in again.positions.all()}
    again.venue.restore_positions(nets)
    if last_quote:
        again.tick(quote(NIFTY_CE, bid=10100, ask=10105, ltp=10100, size=5000))
    again.venue.on_clock(again.clock.now())
    return again


def test_intraday_position_when_desk_restarts_after_the_close_same_day_is_squared_off_in_words(
    book_url: str,
) -> None:
    again = restarted_after_the_close(book_url, last_quote=True)
    try:
        assert again.positions.get(NIFTY_CE.token, Product.MIS).net_quantity == 0
        (square_off,) = [o for o in again.oms.orders.values() if o.source is OrderSource.BROKER]
        assert square_off.status is OrderStatus.COMPLETE
        assert "intraday square-off after the close" in square_off.status_message
        assert again.oms.fills[-1].price == 10100
    finally:
        again.database.close()


def test_intraday_square_off_when_restarted_after_the_close_without_a_price_says_why(
    book_url: str,
) -> None:
    again = restarted_after_the_close(book_url, last_quote=False)
    try:
        (square_off,) = [o for o in again.oms.orders.values() if o.source is OrderSource.BROKER]
        assert square_off.status is OrderStatus.REJECTED
        assert "close this MIS position yourself" in square_off.status_message
    finally:
        again.database.close()
