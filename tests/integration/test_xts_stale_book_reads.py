"""XTS orderbook reads that are older than what the desk knows never put old terms back: a
reconciliation whose orderbook answer (read before a modify) lands after the modify keeps the
new price, and the next modify sends it. The orderbook polled while the socket is down picks up
a price changed at XTS, and parses only the rows that can matter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import engine.brokers.xts.adapter as xts_adapter
import tests.xts_fake.interactive as fake_interactive
from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import FAST_LIMITS, XtsDesk, open_desk, save_fake_account, wait_for
from tests.xts_fake import ADANIPORTS, FakeXts
from tests.xts_fake.interactive import envelope

pytestmark = pytest.mark.timeout(60)

SLOW_BOOK_S = 0.6


@pytest.fixture
def slow_orderbook(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """While on, the fake reads its orderbook at once and answers SLOW_BOOK_S later; the
    prices of each late answer are kept in ``answered``."""
    switch: dict[str, Any] = {"on": False, "answered": []}
    original = fake_interactive.FakeXtsInteractive._orders

    async def late_orders(self: Any, request: web.Request) -> web.Response:
        if switch["on"] and request.query.get("appOrderID") is None:
            snapshot = self.oms.order_list()
            switch["answered"].append([row["OrderPrice"] for row in snapshot])
            await asyncio.sleep(SLOW_BOOK_S)
            return envelope(snapshot)
        return await original(self, request)

    monkeypatch.setattr(fake_interactive.FakeXtsInteractive, "_orders", late_orders)
    yield switch


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[XtsDesk]:
    async with FakeXts(limits=FAST_LIMITS) as xts:
        xts.set_market(ADANIPORTS, Decimal("400.00"))
        store = CredentialStore("xts-stale-book", backend=MemoryKeyring())
        save_fake_account(xts, store)
        desk = await open_desk(xts, store, tmp_path / "book.db", market_data=False)
        await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
        await wait_for(lambda: desk.link.socket_connected, what="socket open")
        try:
            yield desk
        finally:
            await desk.stop()


def _working(desk: XtsDesk, order_id: str) -> bool:
    order = desk.engine.api.order(order_id)
    return order is not None and order.status is OrderStatus.OPEN


async def test_orderbook_read_begun_before_a_modify_when_answered_late_keeps_the_new_price(
    slow_orderbook: dict[str, Any],  # first: the fake binds its routes when it starts
    desk: XtsDesk,
) -> None:
    api = desk.engine.api
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: _working(desk, order_id), what="order open")
    slow_orderbook["on"] = True
    desk.link.reconciler.request("order socket reconnected")
    await wait_for(lambda: slow_orderbook["answered"], timeout=10, what="book read at XTS")
    assert slow_orderbook["answered"] == [[399.5]]  # read before the modify, answered after
    assert api.modify(order_id, price=Decimal("399.00")).ok
    await wait_for(lambda: api.order(order_id).price == Decimal("399.00"), what="modify applied")
    await desk.link.reconciler.wait_idle()
    await desk.broker.drain()
    slow_orderbook["on"] = False

    assert api.order(order_id).price == Decimal("399.00")  # the late 399.50 row is older
    assert api.modify(order_id, quantity=15).ok
    await wait_for(lambda: desk.xts.oms.find(order_id)[0]["OrderQuantity"] == 15, what="qty")
    await desk.broker.drain()
    [at_xts] = desk.xts.oms.find(order_id)
    assert at_xts["OrderPrice"] == 399.0
    assert api.order(order_id).price == Decimal("399.00")


async def _socket_down_polled(desk: XtsDesk, polls: int = 3) -> None:
    await desk.link.socket.client.stop()
    start = desk.broker.polls
    await wait_for(lambda: desk.broker.polls >= start + polls, timeout=10, what="polls")


async def test_orderbook_poll_when_the_price_changed_at_xts_takes_the_new_price(
    desk: XtsDesk,
) -> None:
    api = desk.engine.api
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: _working(desk, order_id), what="order open")
    await desk.link.socket.client.stop()
    desk.xts.oms.modify(
        {
            "appOrderID": desk.app_order_id(order_id),
            "modifiedOrderType": "LIMIT",
            "modifiedOrderQuantity": 10,
            "modifiedLimitPrice": 398.00,
            "modifiedStopPrice": 0,
            "modifiedProductType": "MIS",
            "modifiedTimeInForce": "DAY",
        }
    )
    await _socket_down_polled(desk)
    assert api.order(order_id).price == Decimal("398.00")

    assert api.modify(order_id, quantity=12).ok
    await wait_for(lambda: desk.xts.oms.find(order_id)[0]["OrderQuantity"] == 12, what="qty")
    assert desk.xts.oms.find(order_id)[0]["OrderPrice"] == 398.0


async def test_orderbook_poll_when_rows_are_settled_or_unchanged_parses_none_of_them(
    desk: XtsDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled = desk.place(10, "399.50")
    await wait_for(lambda: _working(desk, settled), what="order open")
    desk.xts.oms.fill(desk.app_order_id(settled), 10)
    await wait_for(lambda: desk.engine.api.order(settled).status is OrderStatus.COMPLETE)
    await _socket_down_polled(desk, polls=2)  # the outside rows, if any, seen once

    parsed: list[object] = []
    parse = xts_adapter.parse_order

    def counting(row: dict[str, Any], as_of: int | None = None) -> Any:
        parsed.append(row.get("AppOrderID"))
        return parse(row, as_of=as_of)

    monkeypatch.setattr(xts_adapter, "parse_order", counting)
    assert len(desk.xts.oms.order_list()) == 1
    assert await desk.broker.poll_orders() == 0
    assert parsed == []
