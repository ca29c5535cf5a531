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
from engine.domain.orders import OrderStatus
from tests.kite_desk import ADANIPORTS, fast_broker, market, open_desk, redirect_url, wait_for
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
