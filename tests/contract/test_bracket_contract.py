"""A bracket behaves the same on paper and on Kite (over the fake Kite, its exchange matching
on): the entry fills, the stop-loss rests at the broker for what filled, the target reached turns
that one exit order into a LIMIT at the target (a modification Kite accepts for a trigger-pending
SL), and it fills there; a second bracket whose market falls through the stop exits at the stop.
Never more than one exit order, and the position ends flat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.orders import OrderStatus, OrderType, Side
from tests.contract.harness import BASE, STEP, BrokerHarness, KiteHarness, PaperHarness

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=[PaperHarness, KiteHarness], ids=lambda harness: harness.name)
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerHarness]:
    harness = request.param(tmp_path)
    await harness.open()
    try:
        yield harness
    finally:
        await harness.close()


def _orders_of(desk: BrokerHarness, parent: str):  # type: ignore[no-untyped-def]
    return [o for o in desk.api.orders() if o.strategy == parent]


def _working(desk: BrokerHarness, parent: str) -> bool:
    return any(v.parent_id == parent and v.working for v in desk.api.advanced_orders())


def _net(desk: BrokerHarness, parent: str) -> int:
    return sum(
        o.filled_quantity * (1 if o.side is Side.BUY else -1) for o in _orders_of(desk, parent)
    )


async def test_bracket_on_paper_and_kite_exits_at_the_target_with_one_exit_order(
    desk: BrokerHarness,
) -> None:
    placed = desk.api.place_bracket(
        desk.token, "BUY", 10, entry_price=BASE - 2 * STEP, stop=BASE - 20 * STEP,
        target=BASE + 20 * STEP,
    )  # fmt: skip
    assert placed.ok, placed.reason
    parent = placed.parent_id
    [entry] = _orders_of(desk, parent)
    await desk.wait_status(entry.order_id, OrderStatus.OPEN)
    await desk.move_market(BASE - 3 * STEP)  # the entry's limit is reached: it fills
    await desk.wait_until(lambda: len(_orders_of(desk, parent)) == 2, what="exit placed")
    exit_id = next(o.order_id for o in _orders_of(desk, parent) if o.side is Side.SELL)
    await desk.wait_status(exit_id, OrderStatus.TRIGGER_PENDING)
    assert desk.order(exit_id).order_type is OrderType.SL and desk.order(exit_id).quantity == 10

    await desk.move_market(BASE + 20 * STEP)  # the target: the stop becomes the target's LIMIT
    await desk.wait_until(
        lambda: desk.order(exit_id).order_type is OrderType.LIMIT, what="exit at the target"
    )
    await desk.move_market(BASE + 21 * STEP)  # through the target: the LIMIT fills
    await desk.wait_until(lambda: not _working(desk, parent), what=f"{parent} done")
    assert _net(desk, parent) == 0
    assert [o.order_id for o in _orders_of(desk, parent) if o.side is Side.SELL] == [exit_id]
    [view] = [v for v in desk.api.advanced_orders() if v.parent_id == parent]
    assert "10 out at the target, 0 at the stop" in view.detail


async def test_bracket_on_paper_and_kite_exits_at_the_stop_when_the_market_falls_through(
    desk: BrokerHarness,
) -> None:
    placed = desk.api.place_bracket(
        desk.token, "SELL", 6, stop=BASE + 10 * STEP, target=BASE - 30 * STEP
    )  # a MARKET entry, short
    assert placed.ok, placed.reason
    parent = placed.parent_id
    await desk.wait_until(lambda: len(_orders_of(desk, parent)) == 2, what="exit placed")
    exit_id = next(o.order_id for o in _orders_of(desk, parent) if o.side is Side.BUY)
    await desk.wait_status(exit_id, OrderStatus.TRIGGER_PENDING)  # resting at the broker
    await desk.move_market(BASE + 12 * STEP)  # through the stop
    await desk.wait_until(lambda: not _working(desk, parent), what=f"{parent} done")
    assert _net(desk, parent) == 0
    [view] = [v for v in desk.api.advanced_orders() if v.parent_id == parent]
    assert "0 out at the target, 6 at the stop" in view.detail
