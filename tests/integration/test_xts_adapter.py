"""The XTS adapter over the fake XTS (127.0.0.1): login with the keyring's keys, place / modify /
cancel with our order id as ``orderUniqueIdentifier``, fills booked once, the orderbook polled
while no interactive socket brings the events, dead tokens (HTTP 400 and HTTP 200) holding the
orders until the next login."""

from __future__ import annotations

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


async def test_xts_fill_polled_from_the_orderbook_is_booked_once(desk: XtsDesk) -> None:
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)

    desk.xts.oms.fill(desk.app_order_id(order_id), 4)
    desk.xts.oms.fill(desk.app_order_id(order_id), 6)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)

    trades = [t for t in desk.engine.api.trades() if t.order_id == order_id]
    assert sorted(t.quantity for t in trades) == [4, 6]
    assert desk.engine.api.order(order_id).average_price == Decimal("399.50")
