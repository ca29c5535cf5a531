"""The XTS adapter over the fake XTS (127.0.0.1): login with the keyring's keys, place / modify /
cancel with our order id as ``orderUniqueIdentifier``, fills booked once, the orderbook polled
while no interactive socket brings the events, dead tokens (HTTP 400 and HTTP 200) holding the
orders until the next login."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import FAST_LIMITS, XtsDesk, open_desk, save_fake_account, wait_for
from tests.xts_fake import ADANIPORTS, FakeXts

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def xts() -> AsyncIterator[FakeXts]:
    async with FakeXts(limits=FAST_LIMITS) as fake:
        fake.set_market(ADANIPORTS, Decimal("400.00"))
        yield fake


@pytest.fixture
async def desk(xts: FakeXts, tmp_path: Path) -> AsyncIterator[XtsDesk]:
    store = CredentialStore("xts-test", backend=MemoryKeyring())
    save_fake_account(xts, store)
    desk = await open_desk(xts, store, tmp_path / "book.db", market_data=False)
    await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
    try:
        yield desk
    finally:
        await desk.stop()


async def test_xts_place_sends_our_order_id_and_the_order_goes_live(desk: XtsDesk) -> None:
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)

    [at_xts] = desk.xts.oms.find(order_id)
    assert at_xts["OrderQuantity"] == 10 and at_xts["OrderPrice"] == 399.5
    assert desk.engine.orders.orders[order_id].broker_order_id == str(at_xts["AppOrderID"])


async def test_xts_partial_fills_are_booked_once_each(desk: XtsDesk) -> None:
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)

    desk.xts.oms.fill(desk.app_order_id(order_id), 4)
    desk.xts.oms.fill(desk.app_order_id(order_id), 6)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)

    trades = [t for t in desk.engine.api.trades() if t.order_id == order_id]
    assert sorted(t.quantity for t in trades) == [4, 6]
    assert desk.engine.api.order(order_id).average_price == Decimal("399.50")


async def test_xts_fill_past_the_old_quantity_before_its_modify_is_reported_is_booked(
    desk: XtsDesk,
) -> None:
    # XTS modified the order from 10 to 20 and 15 traded; the trade event comes before the
    # order event with the new quantity. The fill waits for the terms instead of being lost.
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
    [row] = desk.xts.oms.find(order_id)
    state = {
        **row,
        "OrderQuantity": 20,
        "CumulativeQuantity": 15,
        "LeavesQuantity": 5,
        "OrderStatus": "PartiallyFilled",
    }
    trade = {
        **state,
        "LastTradedPrice": 399.5,
        "LastTradedQuantity": 15,
        "ExecutionID": "777001",
        "LastExecutionTransactTime": row["LastUpdateDateTime"],
    }
    desk.broker.on_trade_event(json.dumps(trade))
    desk.broker.on_order_event(json.dumps(state))
    await wait_for(lambda: desk.engine.api.order(order_id).filled_quantity == 15)

    order = desk.engine.api.order(order_id)
    assert (order.quantity, order.status) == (20, OrderStatus.OPEN)
    assert [t.quantity for t in desk.engine.api.trades() if t.order_id == order_id] == [15]
    desk.broker.on_trade_event(json.dumps(trade))  # the same execution again: booked once
    desk.broker.on_order_event(json.dumps(state))
    assert [t.quantity for t in desk.engine.api.trades() if t.order_id == order_id] == [15]


async def test_xts_place_answered_with_a_gateway_page_is_a_doubt_not_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web

    import tests.xts_fake.interactive as fake

    placing = fake.FakeXtsInteractive._place

    async def page(self: fake.FakeXtsInteractive, request: web.Request) -> web.Response:
        await placing(self, request)  # placed at XTS; a gateway answers for it
        return web.Response(text="<html><h1>Request accepted</h1></html>", content_type="text/html")

    monkeypatch.setattr(fake.FakeXtsInteractive, "_place", page)  # before the fake serves
    async with FakeXts(limits=FAST_LIMITS) as xts:
        xts.set_market(ADANIPORTS, Decimal("400.00"))
        store = CredentialStore("xts-test", backend=MemoryKeyring())
        save_fake_account(xts, store)
        desk = await open_desk(xts, store, tmp_path / "book.db", market_data=False)
        try:
            await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
            xts.interactive.mute_events = True  # the page is all the desk hears of the place
            order_id = desk.place(10, "399.50")
            await desk.broker.drain()
            # Looked up at XTS, found, and live at the desk: never REJECTED while it works there.
            order = desk.engine.api.order(order_id)
            assert order.status is OrderStatus.OPEN, order.status_message
            [at_xts] = xts.oms.find(order_id)
            assert desk.engine.orders.orders[order_id].broker_order_id == str(at_xts["AppOrderID"])
        finally:
            await desk.stop()


def live(desk: XtsDesk, order_id: str) -> bool:
    return desk.engine.api.order(order_id).status is OrderStatus.OPEN


async def test_xts_events_arrive_over_the_interactive_socket(desk: XtsDesk) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    polls = desk.broker.polls
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))

    desk.xts.oms.fill(desk.app_order_id(order_id), 10)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)

    assert desk.broker.events_read >= 3 and desk.broker.events_unreadable == 0
    assert desk.link.socket.joined == 1 and desk.link.socket.positions >= 1
    assert desk.broker.polls == polls  # nothing read from the orderbook while the socket is open


async def test_xts_orderbook_poll_books_fills_whose_events_were_lost(desk: XtsDesk) -> None:
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))
    desk.xts.interactive.mute_events = True

    desk.xts.oms.fill(desk.app_order_id(order_id), 4)
    assert await desk.broker.poll_orders() == 1
    await desk.broker.drain()

    order = desk.engine.api.order(order_id)
    assert (order.status, order.filled_quantity) == (OrderStatus.OPEN, 4)
    assert await desk.broker.poll_orders() == 0  # nothing new: nothing applied again


async def test_xts_modify_sends_the_whole_desired_state(desk: XtsDesk) -> None:
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))

    assert desk.engine.api.modify(order_id, price=Decimal("399.25")).ok
    await wait_for(lambda: desk.engine.api.order(order_id).price == Decimal("399.25"))
    assert desk.engine.api.modify(order_id, quantity=15).ok
    await wait_for(lambda: desk.engine.api.order(order_id).quantity == 15)

    [at_xts] = desk.xts.oms.find(order_id)
    assert (at_xts["OrderQuantity"], at_xts["OrderPrice"], at_xts["OrderType"]) == (
        15,
        399.25,
        "Limit",
    )
    assert at_xts["OrderStatus"] == "New"
    assert desk.engine.api.order(order_id).status is OrderStatus.OPEN


async def test_xts_login_elsewhere_logs_out_holds_orders_and_sends_them_once_after_login(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    await desk.xts.interactive.log_in_elsewhere()
    await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")
    assert desk.link.socket.logouts == 1
    assert not desk.link.session.logged_in

    order_id = desk.place(10, "399.50")
    await desk.broker.drain()
    assert desk.engine.api.order(order_id).status is OrderStatus.PENDING_SUBMIT
    assert desk.xts.oms.find(order_id) == []
    assert desk.messages("held")

    await desk.link.session.login()
    await wait_for(lambda: live(desk, order_id), what="held order sent")
    assert len(desk.xts.oms.find(order_id)) == 1


async def test_xts_dead_token_answered_with_http_200_holds_the_order(desk: XtsDesk) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    desk.xts.interactive.dead_token_status = 200
    desk.xts.interactive.tokens.clear()  # the REST side refuses; the socket has not noticed

    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")
    await desk.broker.drain()
    assert desk.engine.api.order(order_id).status is OrderStatus.PENDING_SUBMIT
    assert desk.xts.oms.placed == 0
    assert desk.store.get("xts", "interactive_token") is None  # the dead token is forgotten

    await desk.link.session.login()
    await wait_for(lambda: live(desk, order_id), what="held order sent")
    assert desk.xts.oms.placed == 1


async def test_xts_twenty_socket_drops_give_twenty_reconciliations_and_no_fill_twice(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    order_id = desk.place(20, "399.50")
    await wait_for(lambda: live(desk, order_id))
    reconciler = desk.link.reconciler
    assert reconciler is not None
    app_order_id = desk.app_order_id(order_id)

    for drop in range(20):
        runs = reconciler.runs
        await desk.xts.interactive.drop_socket()
        desk.xts.oms.fill(app_order_id, 1)  # heard or not, it must be booked once
        await wait_for(lambda r=runs: reconciler.runs > r, what=f"reconciled after drop {drop + 1}")
        await wait_for(lambda: desk.link.socket_connected, what=f"reopened after drop {drop + 1}")

    await wait_for(lambda: desk.engine.api.order(order_id).filled_quantity == 20)
    await desk.broker.drain()
    fills = [t for t in desk.engine.api.trades() if t.order_id == order_id]
    assert len(fills) == len({t.trade_id for t in fills}) == 20
    assert desk.link.socket.client.stats.reconnects >= 20
    assert desk.engine.api.order(order_id).status is OrderStatus.COMPLETE
    assert [p.net_quantity for p in desk.engine.api.positions()] == [20]


async def test_xts_malformed_events_are_counted_and_the_stream_goes_on(desk: XtsDesk) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    await desk.xts.interactive.send_malformed()
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))
    desk.xts.oms.fill(desk.app_order_id(order_id), 10)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)

    assert desk.broker.events_unreadable >= 3
    assert desk.link.socket.client.stats.bad_frames >= 1


async def test_xts_new_login_while_logged_in_keeps_the_session_and_moves_the_socket(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    connects = desk.link.socket.client.stats.connects

    await desk.link.session.login()  # XTS ends the old token and tells its socket ``logout``
    await wait_for(lambda: desk.link.socket.client.stats.connects > connects, what="reconnected")
    await wait_for(lambda: desk.link.socket_connected, what="socket open again")

    assert desk.link.session.logged_in and not desk.connection("broker", "login required")
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))
    desk.xts.oms.fill(desk.app_order_id(order_id), 10)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)


async def test_xts_order_refused_on_the_token_a_new_login_replaced_is_sent_on_the_new_one(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    desk.xts.interactive.slow_s = 0.3
    order_id = desk.place(10, "399.50")
    # The order is at XTS on the old token, not answered yet...
    await wait_for(lambda: ("POST", "/interactive/orders") in desk.xts.interactive.requests)
    await desk.link.session.login()  # ...when the trader logs in again, which ends that token

    await wait_for(lambda: live(desk, order_id), what="order sent on the new token")
    assert desk.link.session.logged_in
    assert desk.xts.interactive.token_rejections >= 1
    assert len(desk.xts.oms.find(order_id)) == 1
    assert not desk.messages("held")


async def test_xts_order_left_replaced_after_a_modify_stays_live_and_can_be_cancelled(
    desk: XtsDesk,
) -> None:
    desk.xts.oms.replaced_rests = True
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))

    assert desk.engine.api.modify(order_id, price=Decimal("399.40")).ok
    await wait_for(lambda: desk.engine.api.order(order_id).price == Decimal("399.40"))
    assert desk.xts.oms.find(order_id)[0]["OrderStatus"] == "Replaced"
    assert live(desk, order_id)

    assert desk.engine.api.cancel(order_id).ok
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)


async def test_xts_link_reads_the_orderbook_while_the_socket_is_closed(desk: XtsDesk) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))
    await desk.link.socket.client.stop()  # no events from now on
    polls = desk.broker.polls

    desk.xts.oms.fill(desk.app_order_id(order_id), 10)

    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)
    assert desk.broker.polls > polls


async def test_xts_order_placed_outside_the_desk_is_adopted_and_shown(desk: XtsDesk) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    answer = desk.xts.oms.place(
        {"exchangeSegment": "NSECM", "exchangeInstrumentID": 15083, "productType": "CNC",
         "orderType": "LIMIT", "orderSide": "SELL", "timeInForce": "DAY", "orderQuantity": 3,
         "limitPrice": 401.0, "stopPrice": 0, "orderUniqueIdentifier": "webapp"}
    )  # fmt: skip
    adopted = f"X{answer['AppOrderID']}"

    await wait_for(lambda: desk.engine.api.order(adopted) is not None, what="adopted")
    order = desk.engine.api.order(adopted)
    assert (order.side.value, order.quantity, order.price) == ("SELL", 3, Decimal("401.00"))
    assert desk.messages("placed outside DalalDesk")


async def test_xts_balance_read_with_the_books_is_the_gates_margin_budget(desk: XtsDesk) -> None:
    risk = desk.engine.risk
    assert risk is not None
    await wait_for(lambda: risk.gate.broker_funds is not None, what="funds from XTS")

    funds = risk.gate.broker_funds
    assert funds is not None and funds.broker == "xts"
    usage = {row.name: row for row in desk.engine.api.risk_usage()}
    assert usage["capital"].limit == Decimal("487654.50")  # netMarginAvailable "4,87,654.50"
    assert desk.link.reconciler is not None and desk.link.reconciler.last is not None
    assert desk.link.reconciler.last.available_cash == Decimal("487654.50")


async def test_xts_socket_refused_on_reconnect_ends_the_session_and_a_login_reopens_it(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    [session] = desk.xts.interactive.socket.sessions
    assert session.query["apiType"] == "INTERACTIVE" and session.query["userID"] == "XTSUSER1"

    desk.xts.interactive.tokens.clear()  # the token dies; the open socket has not noticed
    await desk.xts.interactive.drop_socket()
    await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")
    assert desk.xts.interactive.socket.refused >= 1

    await desk.link.session.login()
    await wait_for(lambda: desk.link.socket_connected, what="socket open with the new token")
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: live(desk, order_id))
