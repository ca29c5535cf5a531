"""A cancel XTS turns down while the order is still open there (HTTP 429, the order's modify on
its way) is owed and sent again until XTS takes it, never dropped; the kill switch says it is not
finished until it is. A cancel refused because the order had already ended needs nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.orders import OrderStatus
from tests.xts_desk import (
    XtsDesk,
    trading_desk,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)

RATE_LIMITED = {"type": "error", "code": "RATE_LIMIT_EXCEEDED", "description": "Too many requests"}
MODIFY_ON_ITS_WAY = {
    "type": "error",
    "code": "e-orders-0012",
    "description": "Order cannot be cancelled as it is in PendingReplace state",
}


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[XtsDesk]:
    async with trading_desk(tmp_path / "book.db", "xts-cancel-refused") as desk:
        yield desk


async def _open_order(desk: XtsDesk, price: str) -> str:
    order_id = desk.place(10, price)
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
    return order_id


def _at_xts(desk: XtsDesk, order_id: str) -> str:
    [order] = desk.xts.oms.find(order_id)
    return str(order["OrderStatus"])


def _cancels_sent(desk: XtsDesk) -> int:
    return sum(
        1 for m, p in desk.xts.interactive.requests if m == "DELETE" and p.endswith("/orders")
    )


async def test_xts_cancel_answered_429_is_sent_again_until_the_order_is_cancelled(
    desk: XtsDesk,
) -> None:
    order_id = await _open_order(desk, "399.50")
    desk.xts.interactive.fail_next("DELETE", "/orders", 429, RATE_LIMITED)

    assert desk.engine.api.cancel(order_id).ok

    await wait_for(lambda: _at_xts(desk, order_id) == "Cancelled", what="cancel sent again")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)
    assert _cancels_sent(desk) == 2  # the refused one and the one sent again
    [said] = desk.messages(f"cancel of {order_id} not done yet")
    assert "Too many requests" in said.text and "sent again" in said.text
    assert not desk.messages("failed")


async def test_xts_cancel_refused_while_the_orders_modify_is_pending_is_sent_again(
    desk: XtsDesk,
) -> None:
    order_id = await _open_order(desk, "399.50")
    for _ in range(2):  # refused twice: the modify is still on its way the first time again
        desk.xts.interactive.fail_next("DELETE", "/orders", 400, MODIFY_ON_ITS_WAY)

    assert desk.engine.api.cancel(order_id).ok

    await wait_for(lambda: _at_xts(desk, order_id) == "Cancelled", 10, "cancel sent again")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.CANCELLED)
    assert _cancels_sent(desk) == 3
    said = desk.messages(f"cancel of {order_id} not done yet")
    assert said and all("PendingReplace" in message.text for message in said)


async def test_xts_kill_switch_when_one_cancel_meets_429_is_not_finished_until_it_is_cancelled(
    desk: XtsDesk,
) -> None:
    orders = [await _open_order(desk, price) for price in ("399.50", "399.00", "398.50")]
    desk.xts.interactive.fail_next("DELETE", "/orders", 429, RATE_LIMITED)

    desk.engine.api.kill_switch(reason="test")

    for order_id in orders:
        await wait_for(lambda o=order_id: _at_xts(desk, o) == "Cancelled", what="all cancelled")
        await wait_for(lambda o=order_id: desk.engine.api.order(o).status is OrderStatus.CANCELLED)
    [refused] = [o for o in orders if desk.messages(f"cancel of {o} not done yet")]
    unfinished = desk.messages("kill switch not finished")
    assert unfinished and all(refused in m.text for m in unfinished)
    assert "cancel on its way" in unfinished[-1].text
    assert _cancels_sent(desk) == 4  # three, and the refused one once more


async def test_xts_cancel_refused_because_the_order_had_filled_is_not_sent_again(
    desk: XtsDesk,
) -> None:
    order_id = await _open_order(desk, "399.50")
    desk.xts.interactive.mute_events = True  # the fill's news is still on its way
    desk.xts.oms.fill(desk.app_order_id(order_id), 10)

    assert desk.engine.api.cancel(order_id).ok

    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.COMPLETE)
    await desk.broker.drain()
    assert _cancels_sent(desk) == 1
    assert not desk.messages(f"cancel of {order_id}")
    assert not desk.broker._owed.cancels
