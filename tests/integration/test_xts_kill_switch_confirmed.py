"""The kill switch on XTS counts as cancelled only the orders that have ended; the rest are
cancels sent, not yet confirmed by XTS. It says it is finished, once, as soon as its last order
ends, also when no reconciliation follows the cancel that ends it."""

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


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[XtsDesk]:
    async with trading_desk(tmp_path / "book.db", "xts-kill-confirmed") as desk:
        yield desk


async def test_xts_kill_switch_report_counts_unconfirmed_cancels_as_sent_not_cancelled(
    desk: XtsDesk,
) -> None:
    orders = []
    for price in ("399.50", "399.00", "398.50"):
        order_id = desk.place(10, price)
        await wait_for(lambda o=order_id: desk.engine.api.order(o).status is OrderStatus.OPEN)
        orders.append(order_id)
    desk.xts.interactive.fail_next("DELETE", "/orders", 429, RATE_LIMITED)

    report = desk.engine.api.kill_switch(reason="test")

    still_open = [o for o in orders if desk.engine.api.order(o).status is OrderStatus.OPEN]
    assert report.cancelled == len(orders) - len(still_open)
    assert sorted(report.cancel_sent) == sorted(still_open) and still_open
    assert report.broker == "Symphony XTS"
    [said] = desk.messages("cancel sent for order")
    assert "not yet confirmed by Symphony XTS" in said.text

    for order_id in orders:
        await wait_for(lambda o=order_id: desk.engine.api.order(o).status is OrderStatus.CANCELLED)
    await wait_for(lambda: bool(desk.messages("kill switch finished")), what="finished said")
    await desk.broker.drain()
    finished = desk.messages("kill switch finished")
    assert len(finished) == 1
    last = [m for m in desk.messages("kill switch") if "cancel of" not in m.text][-1]
    assert last is finished[0]  # the last word is "finished", not "not finished"
