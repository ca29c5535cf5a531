"""Modifying a stop at XTS passes placement's checks: a stop placed as SL-M (sent as STOPLIMIT
with the protected limit) whose trigger moves is sent with the protected limit of the new
trigger, a stop modified into SL-M is sent as STOPLIMIT (never STOPMARKET, which XTS would work
without protection), and a trigger moved past the limit is refused before it reaches XTS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.domain.orders import OrderStatus
from tests.xts_desk import (
    ADANIPORTS_TOKEN,
    XtsDesk,
    trading_desk,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[XtsDesk]:
    async with trading_desk(tmp_path / "book.db", "xts-stop-modify") as desk:
        yield desk


async def _stop(desk: XtsDesk, side: str, kind: str, trigger: str, price: str | None) -> str:
    outcome = desk.engine.api.place_order(
        ADANIPORTS_TOKEN, side, 5, kind, product="MIS", trigger_price=Decimal(trigger),
        price=None if price is None else Decimal(price),
    )  # fmt: skip
    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    order_id = outcome.order_id
    await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.TRIGGER_PENDING)
    return order_id


def _at_xts(desk: XtsDesk, order_id: str) -> tuple[Any, Any, Any]:
    [order] = desk.xts.oms.find(order_id)
    return order["OrderType"], order["OrderStopPrice"], order["OrderPrice"]


async def test_xts_stop_placed_as_sl_m_when_its_trigger_moves_is_sent_with_a_new_protected_limit(
    desk: XtsDesk,
) -> None:
    order_id = await _stop(desk, "BUY", "SL-M", "404.00", None)
    assert _at_xts(desk, order_id) == ("StopLimit", 404.0, 412.05)

    assert desk.engine.api.modify(order_id, trigger_price=Decimal("420.00")).ok

    await wait_for(lambda: _at_xts(desk, order_id) == ("StopLimit", 420.0, 428.4), what="sent")
    await wait_for(lambda: desk.engine.api.order(order_id).price == Decimal("428.40"))


async def test_xts_stop_modified_into_sl_m_is_sent_as_stop_limit_with_the_protected_limit(
    desk: XtsDesk,
) -> None:
    order_id = await _stop(desk, "SELL", "SL", "395.00", "394.00")

    assert desk.engine.api.modify(order_id, order_type="SL-M", trigger_price=Decimal("396")).ok

    await wait_for(lambda: _at_xts(desk, order_id) == ("StopLimit", 396.0, 388.1), what="sent")


async def test_xts_stop_whose_trigger_is_moved_past_its_limit_is_refused_and_not_sent(
    desk: XtsDesk,
) -> None:
    order_id = await _stop(desk, "SELL", "SL", "395.00", "394.00")
    puts = len([m for m, _p in desk.xts.interactive.requests if m == "PUT"])

    refused = desk.engine.api.modify(order_id, trigger_price=Decimal("393.00"))

    assert not refused.ok and "could never fill" in refused.reason
    await desk.broker.drain()
    assert len([m for m, _p in desk.xts.interactive.requests if m == "PUT"]) == puts
    assert _at_xts(desk, order_id) == ("StopLimit", 395.0, 394.0)
