"""GTT orders behave the same on every desk that has them: on Kite, Kite's GTT service keeps and
triggers them (over the fake Kite's ``/gtt/triggers``); on paper, the desk does. One body per
test, run on both (``PaperHarness``, ``KiteHarness``): a GTT is listed ``active``, is left alone
while the price has not crossed its trigger, places its order and is ``triggered`` when it does,
can be modified while active, and is ``deleted`` when the trader cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.gtt import GttReport, GttStatus, GttType
from engine.domain.orders import Side
from engine.store.pnl_rebuild import read_sqlite_book
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


async def _gtt(desk: BrokerHarness, gtt_id: str) -> GttReport:
    [found] = [g for g in await desk.api.gtts() if g.gtt_id == gtt_id]
    return found


async def _wait_gtt(desk: BrokerHarness, gtt_id: str, status: GttStatus) -> GttReport:
    """The GTT once its keeper reports ``status`` (Kite's list is read again each time)."""
    for _ in range(250):
        gtt = await _gtt(desk, gtt_id)
        if gtt.status is status and (status is not GttStatus.TRIGGERED or gtt.order_id):
            return gtt
        await asyncio.sleep(0.02)
    raise AssertionError(f"{desk.name}: GTT {gtt_id} not {status.value}: {gtt}")


def _orders_at(desk: BrokerHarness, side: Side, quantity: int, price: Decimal) -> list[str]:
    return [
        o.order_id
        for o in desk.api.orders()
        if o.side is side and o.quantity == quantity and o.price == price
    ]


async def test_gtt_single_when_the_price_crosses_places_its_order_and_is_triggered(
    desk: BrokerHarness,
) -> None:
    trigger, limit = BASE - 10 * STEP, BASE - 9 * STEP
    leg = {"side": "BUY", "quantity": 7, "price": limit, "product": "CNC"}
    placed = await desk.api.place_gtt(desk.token, [trigger], [leg])
    assert placed.ok, placed.reason

    gtt = await _gtt(desk, placed.parent_id)
    assert (gtt.status, gtt.request.kind) == (GttStatus.ACTIVE, GttType.SINGLE)
    assert gtt.request.triggers == (int(trigger * 100),)
    assert gtt.expires_at is not None and gtt.created_at is not None
    assert (gtt.expires_at - gtt.created_at).days >= 364

    await desk.move_market(BASE - 5 * STEP)  # towards the trigger, not there yet
    assert (await _gtt(desk, placed.parent_id)).status is GttStatus.ACTIVE
    assert not _orders_at(desk, Side.BUY, 7, limit)

    await desk.move_market(trigger)
    gtt = await _wait_gtt(desk, placed.parent_id, GttStatus.TRIGGERED)
    assert gtt.triggered_leg == 0 and not gtt.rejection
    await desk.wait_until(lambda: bool(_orders_at(desk, Side.BUY, 7, limit)), what="GTT order")
    [order_id] = _orders_at(desk, Side.BUY, 7, limit)
    assert order_id.endswith(gtt.order_id)  # the desk's own id on paper, K<Kite's id> on Kite

    await desk.move_market(trigger - 4 * STEP)  # triggered once: nothing more is placed
    await desk.settle()
    assert len(_orders_at(desk, Side.BUY, 7, limit)) == 1


async def test_gtt_oco_modified_while_active_then_cancelled_is_deleted_and_never_triggers(
    desk: BrokerHarness,
) -> None:
    lower, upper = BASE - 20 * STEP, BASE + 20 * STEP
    legs = [
        {"side": "SELL", "quantity": 3, "price": lower - STEP, "product": "CNC"},
        {"side": "SELL", "quantity": 3, "price": upper + STEP, "product": "CNC"},
    ]
    placed = await desk.api.place_gtt(desk.token, [lower, upper], legs)
    assert placed.ok, placed.reason
    assert (await _gtt(desk, placed.parent_id)).request.kind is GttType.TWO_LEG

    wider = [lower - 10 * STEP, upper]
    legs[0]["price"] = wider[0] - STEP
    modified = await desk.api.modify_gtt(placed.parent_id, desk.token, wider, legs)
    assert modified.ok, modified.reason
    gtt = await _gtt(desk, placed.parent_id)
    assert gtt.status is GttStatus.ACTIVE
    assert gtt.request.triggers == (int(wider[0] * 100), int(upper * 100))

    await desk.move_market(lower)  # the old lower trigger: no longer one
    assert (await _gtt(desk, placed.parent_id)).status is GttStatus.ACTIVE

    cancelled = await desk.api.cancel_gtt(placed.parent_id)
    assert cancelled.ok, cancelled.reason
    await _wait_gtt(desk, placed.parent_id, GttStatus.DELETED)
    await desk.move_market(wider[0] - STEP)
    await desk.settle()
    assert (await _gtt(desk, placed.parent_id)).status is GttStatus.DELETED
    assert not [o for o in desk.api.orders() if o.side is Side.SELL]

    again = await desk.api.cancel_gtt(placed.parent_id)
    assert not again.ok and again.reason
    if desk.name == "kite":  # what was asked of Kite's GTT service is in the journal
        rows = read_sqlite_book(desk.db_path).entries
        asked = [(r.payload["gtt"], r.payload["action"]) for r in rows if r.kind == "gtt"]
        assert asked == [(placed.parent_id, a) for a in ("placed", "modified", "deleted")]


NONSENSE = [
    ([BASE], [{"side": "BUY", "quantity": 1, "price": BASE}], "is the last price"),
    ([BASE + STEP, BASE - STEP], [{"side": "SELL", "quantity": 1, "price": BASE}] * 2,
     "below and above the last price"),
    (["ten"], [{"side": "BUY", "quantity": 1, "price": BASE}], "trigger must be a price"),
    ([BASE - STEP], [{"side": "BUY", "quantity": 0, "price": BASE}], "quantity 0 must be positive"),
    ([BASE - STEP], [{"side": "HOLD", "quantity": 1, "price": BASE}], "side must be one of"),
    ([BASE - STEP], [], "needs 1 order"),
    ([BASE - Decimal("0.03")], [{"side": "BUY", "quantity": 1, "price": BASE}], "not on the tick"),
]  # fmt: skip


async def test_gtt_nonsense_is_refused_in_words_and_nothing_is_kept(desk: BrokerHarness) -> None:
    for triggers, legs, words in NONSENSE:
        refused = await desk.api.place_gtt(desk.token, triggers, legs)
        assert not refused.ok and words in refused.reason, (words, refused.reason)
    assert await desk.api.gtts() == []


async def test_gtt_not_placed_while_the_desk_is_halted(desk: BrokerHarness) -> None:
    desk.api.set_trading_state("HALTED", "test: halted")
    leg = {"side": "BUY", "quantity": 1, "price": BASE - 10 * STEP, "product": "CNC"}
    refused = await desk.api.place_gtt(desk.token, [BASE - 10 * STEP], [leg])
    if desk.name == "paper":
        # The desk keeps it; its order meets the gate (and the halt) when triggered.
        assert refused.ok, refused.reason
        await desk.move_market(BASE - 10 * STEP)
        assert not [o for o in desk.api.orders() if o.status.is_open or o.filled_quantity]
        [gtt] = await desk.api.gtts()
        assert gtt.status is GttStatus.TRIGGERED and "order failed" not in gtt.rejection
        assert gtt.rejection  # the gate's reason, kept with the GTT
    else:
        assert not refused.ok and "trading is halted" in refused.reason
        assert await desk.api.gtts() == []
