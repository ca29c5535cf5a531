"""The Kite broker adapter's edges against the fake Kite: held orders, rejections, paper on live
data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.kite.adapter import KiteBrokerConfig
from engine.brokers.live import PlacedOrder, Tracked
from engine.credentials import CredentialStore
from engine.domain.events import Severity
from engine.domain.ids import OrderId
from engine.domain.orders import OrderStatus
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    fast_broker,
    market,
    open_desk,
    redirect_url,
    wait_for,
)
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with FakeKite(heartbeat_s=0.1) as fake:
        fake.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        fake.ticker.set_market([market()])
        yield fake


def store_for(kite: FakeKite) -> CredentialStore:
    store = CredentialStore("adapter", backend=MemoryKeyring())
    store.save_kite_keys(kite.api_key, kite.api_secret)
    return store


async def test_held_order_when_the_login_comes_too_late_is_cancelled_not_sent(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(
        kite,
        store_for(kite),
        tmp_path / "b.db",
        broker_config=fast_broker(held_order_max_age_s=0.2),
    )
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
        await kite.expire_token()
        await wait_for(lambda: desk.connection("broker", "login required"))
        stale = await desk.place(price="399.00")
        await asyncio.sleep(0.3)

        await desk.link.session.complete_login(redirect_url(kite))
        await wait_for(lambda: desk.engine.api.order(stale).status is OrderStatus.CANCELLED)

        assert "held" in desk.engine.api.order(stale).status_message
        assert kite.oms.placed == 0
        assert desk.broker.stats.expired_held == 1
    finally:
        await desk.stop()


async def test_held_order_when_cancelled_before_the_login_is_never_sent(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
        await kite.expire_token()
        await wait_for(lambda: desk.connection("broker", "login required"))
        held = await desk.place(price="399.00")

        desk.broker.cancel(desk.engine.orders.orders[held])  # the port, as the OMS would call it
        await desk.link.session.complete_login(redirect_url(kite))
        await desk.broker.drain()

        assert desk.engine.api.order(held).status is OrderStatus.CANCELLED
        assert desk.broker.held == [] and kite.oms.placed == 0
    finally:
        await desk.stop()


async def test_place_when_kite_rejects_it_is_rejected_with_kites_reason(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
        kite.rest.fail_next("POST", "/orders", 400, "MarginException", "Insufficient funds")

        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.REJECTED)

        message = desk.engine.api.order(order_id).status_message
        assert message.startswith("Kite could not place the order: Insufficient funds (")
        assert message.endswith("HTTP 400)") and kite.oms.placed == 0
    finally:
        await desk.stop()


async def test_place_when_kite_answers_a_bare_502_is_settled_by_reconciliation_not_left_pending(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
        kite.rest.garble_next("POST", "/orders", 502, b"", content_type=None)  # a proxy's

        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)

        assert (
            "not placed: Kite has no order tagged" in desk.engine.api.order(order_id).status_message
        )
        assert desk.messages("in a form it does not document when asked to place the order")
        assert not desk.messages("adapter error")
        assert desk.broker.stats.unknown_outcomes == 1 and kite.oms.placed == 0
    finally:
        await desk.stop()


async def test_place_when_kite_placed_it_but_the_reply_lacks_data_finds_it_by_its_tag(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
        kite.rest.garble_next("POST", "/orders", 200, b'{"status":"success"}', handled=True)

        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
        # Kite's order update may open it before the tag lookup after the bad reply ends.
        await wait_for(lambda: desk.broker.stats.recovered_by_tag == 1, timeout=15)

        assert desk.broker.broker_order_id(order_id) == next(iter(kite.oms.orders))
        assert kite.oms.placed == 1
        assert not desk.messages("adapter error")
    finally:
        await desk.stop()


async def test_place_when_the_adapter_fails_unexpectedly_is_settled_by_reconciliation(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db")
    try:
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)

        async def broken_place(tracked: Tracked, params: dict[str, Any]) -> PlacedOrder:
            raise RuntimeError("a bug in the adapter")

        desk.broker.send_place = broken_place  # type: ignore[method-assign]
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)

        assert desk.messages(f"order {order_id}: placing it at Kite failed with an error")
        assert not desk.messages("adapter error")
        assert desk.broker.stats.unknown_outcomes == 1 and kite.oms.placed == 0
    finally:
        await desk.stop()


async def test_paper_on_kite_data_when_an_order_crosses_fills_on_the_paper_venue(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db", broker="paper")
    try:
        assert desk.link.broker is None and desk.engine.venue is not None
        await desk.link.watch([ADANIPORTS])
        await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)

        order_id = await desk.place(quantity=50, price="400.05")  # the best ask on Kite's depth
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)

        assert kite.oms.placed == 0  # nothing went to Kite
        assert desk.engine.api.positions()[0].net_quantity == 50
        assert desk.engine.api.trades()[0].price == Decimal("400.05")
    finally:
        await desk.stop()


def test_broker_config_when_values_are_wrong_is_refused() -> None:
    with pytest.raises(ValueError, match="market_protection"):
        KiteBrokerConfig(market_protection=0)
    with pytest.raises(ValueError, match="unknown KiteBrokerConfig settings: colour"):
        KiteBrokerConfig.from_mapping({"colour": "red"})


# -- orders in flight, lost replies and outages ------------------------------------------------


async def ready_desk(kite: FakeKite, tmp_path: Path, **changes: Any) -> KiteDesk:
    desk = await open_desk(kite, store_for(kite), tmp_path / "b.db", **changes)
    await desk.link.watch([ADANIPORTS])
    await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None, what="first tick")
    await wait_for(lambda: not desk.broker.paused_reason, what="order flow resumed")
    return desk


def at_kite(kite: FakeKite, order_id: str) -> list[str]:
    return [row["status"] for row in kite.oms.find_by_tag(order_id)]


async def test_kill_switch_when_a_place_is_on_its_way_cancels_the_order_once_kite_answers(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        kite.rest.place_reply_delay_s = 0.5  # Kite placed it at once; its reply comes late
        kite.ticker.stall(True)  # and its order update is not streamed in time
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: at_kite(kite, order_id) == ["OPEN"], what="live at Kite")
        assert desk.engine.api.order(order_id).status is OrderStatus.PENDING_SUBMIT

        report = desk.engine.api.kill_switch(reason="kill while placing")
        kite.ticker.stall(False)

        # Asked, not yet confirmed by Kite: not counted as cancelled until it is.
        assert (report.cancelled, report.cancel_sent, report.not_cancelled) == (0, (order_id,), ())
        await wait_for(lambda: at_kite(kite, order_id) == ["CANCELLED"], what="cancelled at Kite")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)
    finally:
        await desk.stop()


async def test_cancel_when_the_place_it_waits_for_is_refused_leaves_the_order_rejected(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        kite.rest.fail_next("POST", "/orders", 400, "InputException", "Invalid price")
        order_id = await desk.place(price="399.00")

        assert desk.engine.api.cancel(order_id).ok  # asked while PENDING SUBMIT
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.REJECTED)
        await asyncio.wait_for(desk.broker.drain(), 1.0)  # not ack_wait_s: the place answered

        assert not desk.messages(f"cancel of {order_id}")
        assert kite.oms.placed == 0
    finally:
        await desk.stop()


async def test_kill_switch_when_kite_is_unreachable_finishes_once_kite_is_back_sending_nothing_twice(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        bought = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(bought).status is OrderStatus.OPEN)
        kite.oms.fill(desk.broker_id(bought), 10)
        await wait_for(lambda: desk.engine.api.order(bought).status is OrderStatus.COMPLETE)
        resting = await desk.place(price="390.00")
        await wait_for(lambda: desk.engine.api.order(resting).status is OrderStatus.OPEN)
        resting_id = desk.broker_id(resting)

        await kite.go_down()
        kite.rest.unreachable = True
        report = desk.engine.api.kill_switch(square_off=True, reason="kill while Kite is down")
        assert [o.ok for o in report.square_off] == [True]
        await wait_for(lambda: desk.messages("cancel of " + resting + " not done yet"), what="said")
        await asyncio.sleep(1.0)
        assert at_kite(kite, resting) == ["OPEN"]  # nothing got through

        kite.rest.unreachable = False
        await kite.come_back()
        await wait_for(lambda: at_kite(kite, resting) == ["CANCELLED"], 20, "cancel sent again")
        sells = lambda: [o for o in kite.oms.order_list() if o["transaction_type"] == "SELL"]  # noqa: E731
        await wait_for(lambda: len(sells()) == 1, 20, what="squared off again once Kite is back")
        await wait_for(lambda: desk.engine.api.order(resting).status is OrderStatus.CANCELLED)
        assert desk.messages("kill switch not finished")

        kite.oms.fill(sells()[0]["order_id"], 10)
        flat = lambda: all(p.net_quantity == 0 for p in desk.engine.api.positions())  # noqa: E731
        await wait_for(flat, what="flat")
        await desk.link.reconciler.reconcile("test")
        await desk.broker.drain()
        assert desk.messages("kill switch finished")
        assert len(sells()) == 1  # one square-off reached Kite, never two
        cancels = [p for m, p in kite.rest.requests if m == "DELETE" and resting_id in p]
        assert len(cancels) == 1
    finally:
        await desk.stop()


async def test_fill_when_the_tradebook_cannot_be_read_for_a_while_is_booked_before_complete(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
        broker_id = desk.broker_id(order_id)
        for _ in range(30):
            kite.rest.fail_next("GET", f"/orders/{broker_id}/trades", 503, "NetworkException", "x")
            kite.rest.fail_next("GET", "/trades", 503, "NetworkException", "Service unavailable")
        kite.oms.fill(broker_id, 10)

        await wait_for(lambda: desk.messages(f"order {order_id}: Kite reports 10 filled"))
        assert desk.engine.api.order(order_id).status is OrderStatus.OPEN  # not COMPLETE, 0 filled
        assert not desk.engine.api.positions()

        kite.rest.failures.clear()  # Kite answers again
        await wait_for(lambda: desk.engine.api.order(order_id).filled_quantity == 10, 10)
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)
        assert [p.net_quantity for p in desk.engine.api.positions()] == [10]
        assert desk.messages(f"order {order_id}: the fills Kite reported are booked now")
    finally:
        await desk.stop()


async def test_modify_when_its_reply_is_lost_says_whether_kite_shows_the_change(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)

        kite.rest.hang_next_modify_s = 2.0  # Kite modifies it; its reply is lost (timeout 1 s)
        assert desk.engine.api.modify(order_id, price=Decimal("398.00")).ok
        await wait_for(lambda: desk.messages(f"modify of {order_id} applied"), what="applied")
        assert not desk.messages("failed")

        kite.rest.fail_next("PUT", "/orders", 503, "NetworkException", "Service unavailable")
        assert desk.engine.api.modify(order_id, price=Decimal("397.00")).ok
        await wait_for(lambda: desk.messages(f"modify of {order_id} may not have been applied"))
        assert "Kite shows price 398" in desk.messages("may not have been applied")[0].text
        assert desk.engine.api.order(order_id).price == Decimal("398.00")
    finally:
        await desk.stop()


async def test_order_settled_not_placed_when_kite_places_it_late_comes_back_into_the_book(
    kite: FakeKite, tmp_path: Path
) -> None:
    desk = await ready_desk(kite, tmp_path)
    try:
        kite.rest.late_next_place_s = 3.0  # stuck in Kite's gateway after the client gave up
        order_id = await desk.place(price="399.00")
        await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)
        assert "not placed" in desk.engine.api.order(order_id).status_message
        await wait_for(lambda: at_kite(kite, order_id) == ["OPEN"], what="placed late at Kite")

        await desk.link.reconciler.reconcile("test")

        said = desk.messages(f"order {order_id} was settled as not placed, but Kite has it")
        assert said and said[0].severity is Severity.ERROR
        broker_id = kite.oms.find_by_tag(order_id)[0]["order_id"]
        taken = OrderId(f"K{broker_id}")
        assert f"back in the book as {taken}" in said[0].text
        assert desk.engine.api.order(order_id).status is OrderStatus.CANCELLED  # as journaled
        back = desk.engine.api.order(taken)
        assert (back.status, back.quantity, back.price) == (OrderStatus.OPEN, 10, Decimal("399"))
        assert back.source is desk.engine.api.order(order_id).source

        kite.oms.fill(broker_id, 4)  # its fills are the desk's again
        await desk.link.reconciler.reconcile("test")
        await wait_for(lambda: desk.engine.api.order(taken).filled_quantity == 4)
        assert [p.net_quantity for p in desk.engine.api.positions()] == [4]
        assert desk.engine.api.cancel(taken).ok  # and it can be cancelled from the desk
        await wait_for(lambda: desk.engine.api.order(taken).status is OrderStatus.CANCELLED)
        assert at_kite(kite, order_id) == ["CANCELLED"]
        assert len(desk.messages("has it after all")) == 1
    finally:
        await desk.stop()
