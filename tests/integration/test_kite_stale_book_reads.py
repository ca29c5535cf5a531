"""Kite order reports that are older than what the desk knows never put old terms back: a
reconciliation whose orderbook answer (read before a modify) lands after the modify keeps the
new price, and the next modify from the order ticket (which sends back every term the desk
holds) sends the new price, not the old one; a ticker order update of an earlier second that
arrives after the modify's own is older too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engine.api import OrderSnapshot
from engine.brokers.kite.status_map import kite_time
from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from engine.oms.reconcile import Reconciler
from tests.kite_desk import KiteDesk, market, open_desk, wait_for
from tests.kite_fake import FakeKite
from tests.kite_fake.rest_server import FakeRestServer, success
from tests.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.timeout(60)

SLOW_BOOK_S = 0.6
"""Under the REST client's 1 s timeout (``tests.kite_desk.fast_rest``)."""
KITE_TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def slow_orderbook(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """While on, the fake reads its orderbook at once and answers SLOW_BOOK_S later; the
    prices of each late answer are kept in ``answered``."""
    switch: dict[str, Any] = {"on": False, "answered": []}
    original = FakeRestServer._orders

    async def late_orders(self: FakeRestServer, request: web.Request) -> web.Response:
        if switch["on"]:
            snapshot = self.oms.order_list()
            switch["answered"].append([row["price"] for row in snapshot])
            await asyncio.sleep(SLOW_BOOK_S)
            return success(snapshot)
        return await original(self, request)

    monkeypatch.setattr(FakeRestServer, "_orders", late_orders)
    yield switch


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[KiteDesk]:
    async with FakeKite(heartbeat_s=0.1) as kite:
        kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        kite.ticker.set_market([market()])
        store = CredentialStore("kite-stale-book", backend=MemoryKeyring())
        store.save_kite_keys(kite.api_key, kite.api_secret)
        desk = await open_desk(kite, store, tmp_path / "book.db")
        await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
        try:
            yield desk
        finally:
            await desk.stop()


def _working(desk: KiteDesk, order_id: str) -> bool:
    order = desk.engine.api.order(order_id)
    return order is not None and order.status is OrderStatus.OPEN


def _order(desk: KiteDesk, order_id: str) -> OrderSnapshot:
    order = desk.engine.api.order(order_id)
    assert order is not None, f"the desk has no order {order_id}"
    return order


def _reconciler(desk: KiteDesk) -> Reconciler:
    reconciler = desk.link.reconciler
    assert isinstance(reconciler, Reconciler)
    return reconciler


def _at_kite(desk: KiteDesk, order_id: str) -> dict[str, Any]:
    [row] = desk.kite.oms.find_by_tag(order_id)
    return row


async def test_orderbook_read_begun_before_a_modify_when_answered_late_keeps_the_new_price(
    slow_orderbook: dict[str, Any],  # first: the fake binds its routes when it starts
    desk: KiteDesk,
) -> None:
    api = desk.engine.api
    order_id = await desk.place(10, "399.50")
    await wait_for(lambda: _working(desk, order_id), what="order open")
    slow_orderbook["on"] = True
    _reconciler(desk).request("ticker reconnected")
    await wait_for(lambda: slow_orderbook["answered"], timeout=10, what="book read at Kite")
    assert slow_orderbook["answered"] == [[399.5]]  # read before the modify, answered after
    assert api.modify(order_id, price=Decimal("399.00")).ok
    await wait_for(lambda: _order(desk, order_id).price == Decimal("399.00"), what="modify applied")
    await _reconciler(desk).wait_idle()
    await desk.broker.drain()
    slow_orderbook["on"] = False

    assert _order(desk, order_id).price == Decimal("399.00")  # the late 399.50 row is older
    order = _order(desk, order_id)
    # The order ticket sends back every term it opened with: the desk's own.
    assert api.modify(order_id, quantity=15, price=order.price, order_type=order.order_type).ok
    await wait_for(lambda: _at_kite(desk, order_id)["quantity"] == 15, what="quantity at Kite")
    await desk.broker.drain()
    assert _at_kite(desk, order_id)["price"] == 399.0
    assert _order(desk, order_id).price == Decimal("399.00")


def _a_second_earlier(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as Kite would have sent it a second before (its times one second back)."""
    earlier = dict(row)
    for name in ("order_timestamp", "exchange_update_timestamp"):
        when = kite_time(row[name])
        assert when is not None
        earlier[name] = (when - timedelta(seconds=1)).strftime(KITE_TIME)
    return earlier


async def test_ticker_update_when_older_than_the_modify_arrives_late_keeps_the_new_price(
    desk: KiteDesk,
) -> None:
    api = desk.engine.api
    order_id = await desk.place(10, "399.50")
    await wait_for(lambda: _working(desk, order_id), what="order open")
    before = _at_kite(desk, order_id)
    assert api.modify(order_id, price=Decimal("399.00")).ok
    await wait_for(lambda: _order(desk, order_id).price == Decimal("399.00"), what="modify applied")
    stale_before = desk.broker.stats.stale_reports

    desk.kite.ticker.push_order_update(_a_second_earlier(before))  # delivered late
    await wait_for(lambda: desk.broker.stats.stale_reports > stale_before, what="late update")
    await desk.broker.drain()

    assert _order(desk, order_id).price == Decimal("399.00")
    assert _order(desk, order_id).status is OrderStatus.OPEN
