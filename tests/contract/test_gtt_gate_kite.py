"""A GTT on Kite is triggered by Kite, which places its order itself, past the desk: so the desk
runs the risk gate's checks on each leg's order when the GTT is placed or modified (the market
taken at the trigger), refuses in words what the gate would deny, and books the order Kite places
on the trigger as the GTT's parent strategy's, not as one placed outside DalalDesk. Over the fake
Kite (real REST and WebSocket wire formats)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.events import EngineMessage
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.values import Paise
from tests.contract.harness import BASE, CONTRACT_RISK, STEP, KiteHarness

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite(tmp_path: Path) -> AsyncIterator[KiteHarness]:
    harness = KiteHarness(tmp_path)
    await harness.open()
    try:
        yield harness
    finally:
        await harness.close()


async def test_gtt_on_kite_whose_order_the_gate_would_deny_is_refused_in_words(
    kite: KiteHarness,
) -> None:
    too_many = {"side": "BUY", "quantity": 1_500, "price": BASE - 9 * STEP, "product": "CNC"}
    refused = await kite.api.place_gtt(kite.token, [BASE - 10 * STEP], [too_many])
    assert not refused.ok
    assert refused.reason == (
        "GTT not placed: the risk gate would refuse its order when triggered: "
        "quantity 1500 is above the limit of 1000 per order"
    )
    lower, upper = BASE - 20 * STEP, BASE + 20 * STEP
    legs = [
        {"side": "SELL", "quantity": 5, "price": lower - STEP, "product": "CNC"},
        {"side": "SELL", "quantity": 1_200, "price": upper + STEP, "product": "CNC"},
    ]
    refused = await kite.api.place_gtt(kite.token, [lower, upper], legs)
    assert not refused.ok and "would refuse leg 2's order when triggered" in refused.reason
    assert await kite.api.gtts() == []  # nothing reached Kite

    fine = {"side": "BUY", "quantity": 5, "price": BASE - 9 * STEP, "product": "CNC"}
    placed = await kite.api.place_gtt(kite.token, [BASE - 10 * STEP], [fine])
    assert placed.ok, placed.reason
    bigger = {**fine, "quantity": 2_000}
    modified = await kite.api.modify_gtt(placed.parent_id, kite.token, [BASE - 10 * STEP], [bigger])
    assert not modified.ok and "GTT not modified: the risk gate would refuse" in modified.reason
    [gtt] = await kite.api.gtts()
    assert gtt.request.legs[0].quantity == 5  # Kite still has the GTT as it was


async def test_gtt_on_kite_far_from_the_market_is_checked_at_its_trigger_not_now(
    kite: KiteHarness,
) -> None:
    limits = replace(CONTRACT_RISK.defaults, fat_finger_pct=Decimal(5))
    kite.api.set_risk_limits(replace(CONTRACT_RISK, defaults=limits), "test: 5 % fat finger")
    trigger = BASE * Decimal("0.85")  # 15 % below: a limit there is a fat finger today
    now = kite.engine.risk.gate.decide(
        OrderRequest(kite.token, Side.BUY, 5, OrderType.LIMIT, Product.CNC, price=Paise(34005))
    )
    assert not now.allowed and now.check == "fat_finger"  # against today's market: refused
    leg = {"side": "BUY", "quantity": 5, "price": trigger + STEP, "product": "CNC"}
    placed = await kite.api.place_gtt(kite.token, [trigger], [leg])
    assert placed.ok, placed.reason


@pytest.mark.parametrize("strategy", ["swing-7", None])
async def test_gtt_order_kite_places_on_trigger_is_booked_to_the_gtt_parent(
    kite: KiteHarness, strategy: str | None
) -> None:
    messages: list[EngineMessage] = []
    kite.engine.bus.subscribe(EngineMessage, messages.append)
    trigger, limit = BASE - 10 * STEP, BASE - 9 * STEP
    leg = {"side": "BUY", "quantity": 7, "price": limit, "product": "CNC"}
    placed = await kite.api.place_gtt(kite.token, [trigger], [leg], strategy=strategy)
    assert placed.ok, placed.reason
    parent = strategy or f"gtt-{placed.parent_id}"

    await kite.move_market(trigger)
    await kite.wait_until(
        lambda: any(o.quantity == 7 for o in kite.api.orders()), what="the GTT's order"
    )
    [order] = [o for o in kite.api.orders() if o.quantity == 7]
    [gtt] = await kite.api.gtts()
    assert order.order_id == f"K{gtt.order_id}"
    assert order.strategy == parent
    assert parent in order.origin
    said = [m.text for m in messages if gtt.order_id in m.text]
    assert (
        said
        and f"placed by Kite's GTT {placed.parent_id} on its trigger, for {parent}" in (said[0])
    )
    assert not [t for t in said if "outside DalalDesk" in t]


async def test_gtt_parent_named_before_a_restart_still_owns_the_order_kite_places_after(
    kite: KiteHarness,
) -> None:
    trigger, limit = BASE - 10 * STEP, BASE - 9 * STEP
    leg = {"side": "BUY", "quantity": 9, "price": limit, "product": "CNC"}
    placed = await kite.api.place_gtt(kite.token, [trigger], [leg], strategy="swing-8")
    assert placed.ok, placed.reason
    await kite.restart()  # the desk closed and opened again: the parent is read from the journal
    await kite.move_market(trigger)
    await kite.wait_until(
        lambda: any(o.quantity == 9 for o in kite.api.orders()), what="the GTT's order"
    )
    [order] = [o for o in kite.api.orders() if o.quantity == 9]
    assert order.strategy == "swing-8"
