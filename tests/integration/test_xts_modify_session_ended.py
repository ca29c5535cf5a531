"""A modify asked while the XTS session has ended is refused at once, in words (a script on the
local API gets ok=False and the reason), never accepted and then dropped: modifications are not
held while logged out. After the next login the same modify goes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.orders import OrderStatus
from tests.xts_desk import (
    XtsDesk,
    trading_desk,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[XtsDesk]:
    async with trading_desk(tmp_path / "book.db", "xts-modify-session") as desk:
        yield desk


def _modifies_sent(desk: XtsDesk) -> int:
    return sum(1 for m, p in desk.xts.interactive.requests if m == "PUT" and p.endswith("/orders"))


def _price_at_xts(desk: XtsDesk, order_id: str) -> float:
    [order] = desk.xts.oms.find(order_id)
    return float(order["OrderPrice"])


async def test_xts_modify_while_the_session_has_ended_is_refused_in_words_and_not_sent(
    desk: XtsDesk,
) -> None:
    await wait_for(lambda: desk.link.socket_connected, what="socket open")
    order_id = desk.place(10, "399.50")
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
    await desk.xts.interactive.log_in_elsewhere()
    await wait_for(lambda: desk.connection("broker", "login required"), what="login asked")

    refused = desk.engine.api.modify(order_id, price=Decimal("399.25"))

    assert not refused.ok and refused.check == "broker_session"
    assert f"modify of {order_id} not sent: the XTS session has ended" in refused.reason
    assert "log in to XTS and modify it again" in refused.reason
    await desk.broker.drain()
    assert _modifies_sent(desk) == 0
    assert desk.engine.api.order(order_id).price == Decimal("399.50")

    await desk.link.session.login()
    await wait_for(lambda: desk.broker.paused_reason == "", what="order flow resumed")
    assert desk.engine.api.modify(order_id, price=Decimal("399.25")).ok
    await wait_for(lambda: _price_at_xts(desk, order_id) == 399.25, what="modify sent")
    assert _modifies_sent(desk) == 1
