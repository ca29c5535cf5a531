"""The broker contract: what every broker the desk trades on must do, seen through ``EngineApi``.

Each test runs once per harness in ``HARNESSES`` (paper, Kite over the fake Kite server). Prices
are around ``BASE`` (₹400.00) in ticks of ``STEP``; a BUY below the market and a SELL above it
rest, orders on the other side trade at once at the harness's ``aggressive_price``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.events import OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.domain.orders import OrderStatus, OrderType, Product, Side
from tests.contract.harness import BASE, HARNESSES, LIVE, STEP, BrokerHarness

pytestmark = pytest.mark.timeout(60)

ABOVE = BASE + 10 * STEP  # 400.50
BELOW = BASE - 10 * STEP  # 399.50


@pytest.fixture(params=HARNESSES, ids=lambda harness: harness.name)
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerHarness]:
    harness = request.param(tmp_path)
    await harness.open()
    try:
        yield harness
    finally:
        await harness.close()


def needs(broker: BrokerHarness, capability: str, why: str) -> None:
    if not getattr(broker.capabilities, capability):
        pytest.skip(f"{broker.name}: {why}")


def position(broker: BrokerHarness, product: Product = Product.MIS):
    found = [p for p in broker.api.positions() if p.product is product]
    return found[0] if found else None


def net(broker: BrokerHarness, product: Product = Product.MIS) -> int:
    found = position(broker, product)
    return 0 if found is None else found.net_quantity


def trades_of(broker: BrokerHarness, order_id: str):
    return [t for t in broker.api.trades() if t.order_id == order_id]


# -- placing and filling -------------------------------------------------------------------------


async def test_contract_market_order_when_placed_fills_at_the_touch(broker: BrokerHarness) -> None:
    order_id = await broker.place_live("BUY", 10, order_type="MARKET")
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    order = broker.order(order_id)
    assert (order.filled_quantity, order.pending_quantity) == (10, 0)
    assert order.average_price == broker.aggressive_price(Side.BUY)
    assert sum(t.quantity for t in trades_of(broker, order_id)) == 10
    assert net(broker) == 10


async def test_contract_limit_buy_below_the_market_rests_until_the_price_comes_to_it(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)
    assert broker.order(order_id).status is OrderStatus.OPEN

    await broker.move_market(BELOW + 2 * STEP)  # closer, not there yet
    await broker.settle()
    assert broker.order(order_id).status is OrderStatus.OPEN
    assert broker.order(order_id).filled_quantity == 0

    await broker.move_market(BELOW - 2 * STEP)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    order = broker.order(order_id)
    assert order.filled_quantity == 10
    assert order.average_price == BELOW  # a resting order trades at its own price
    assert net(broker) == 10


async def test_contract_limit_sell_above_the_market_rests_until_the_price_comes_to_it(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("SELL", 10, price=ABOVE)
    assert broker.order(order_id).status is OrderStatus.OPEN

    await broker.move_market(ABOVE + 2 * STEP)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    assert broker.order(order_id).average_price == ABOVE
    assert net(broker) == -10


async def test_contract_limit_buy_above_the_market_fills_at_once_at_the_market(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BASE + 20 * STEP)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    order = broker.order(order_id)
    assert order.filled_quantity == 10
    assert order.average_price == broker.aggressive_price(Side.BUY)  # not its limit of 401.00


async def test_contract_limit_sell_below_the_market_fills_at_once_at_the_market(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("SELL", 10, price=BASE - 20 * STEP)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    assert broker.order(order_id).average_price == broker.aggressive_price(Side.SELL)
    assert net(broker) == -10


async def test_contract_order_snapshot_when_placed_carries_the_terms_asked(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("SELL", 7, price=ABOVE, product="CNC")

    order = broker.order(order_id)
    assert (order.side, order.quantity, order.order_type) == (Side.SELL, 7, OrderType.LIMIT)
    assert (order.product, order.price, order.trigger_price) == (Product.CNC, ABOVE, None)
    assert (order.filled_quantity, order.pending_quantity) == (0, 7)
    assert order.instrument.token == broker.token
    assert [o.order_id for o in broker.api.orders()] == [order_id]


# -- modify and cancel ---------------------------------------------------------------------------


async def test_contract_modify_price_of_an_open_order_moves_it_at_the_broker(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BASE - 20 * STEP)  # 399.00
    new_price = BASE - 16 * STEP  # 399.20

    assert broker.api.modify(order_id, price=new_price).ok
    await broker.wait_until(lambda: broker.order(order_id).price == new_price, what="repriced")
    assert broker.order(order_id).status is OrderStatus.OPEN

    await broker.move_market(BASE - 18 * STEP)  # 399.10: reaches the new price, not the old one
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    assert broker.order(order_id).average_price == new_price


async def test_contract_modify_quantity_of_an_open_order_fills_the_new_quantity(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)

    assert broker.api.modify(order_id, quantity=15).ok
    await broker.wait_until(lambda: broker.order(order_id).quantity == 15, what="resized")
    assert broker.order(order_id).pending_quantity == 15

    await broker.move_market(BELOW - 2 * STEP)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    assert broker.order(order_id).filled_quantity == 15
    assert net(broker) == 15


async def test_contract_modify_when_the_order_is_filled_is_refused(broker: BrokerHarness) -> None:
    order_id = await broker.place_live("BUY", 10, order_type="MARKET")
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    outcome = broker.api.modify(order_id, price=BELOW)

    assert not outcome.ok and outcome.reason
    await broker.settle()
    order = broker.order(order_id)
    assert (order.status, order.quantity, order.filled_quantity) == (OrderStatus.COMPLETE, 10, 10)


async def test_contract_cancel_of_an_open_order_leaves_it_cancelled_and_unfilled(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)

    assert broker.api.cancel(order_id).ok
    await broker.wait_status(order_id, OrderStatus.CANCELLED)

    await broker.move_market(BELOW - 4 * STEP)  # the price it waited for comes too late
    await broker.settle()
    assert broker.order(order_id).status is OrderStatus.CANCELLED
    assert broker.order(order_id).filled_quantity == 0
    assert trades_of(broker, order_id) == [] and net(broker) == 0


async def test_contract_cancel_when_the_order_is_filled_is_refused(broker: BrokerHarness) -> None:
    order_id = await broker.place_live("SELL", 10, order_type="MARKET")
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    outcome = broker.api.cancel(order_id)

    assert not outcome.ok and outcome.reason
    assert broker.order(order_id).status is OrderStatus.COMPLETE
    assert net(broker) == -10


async def test_contract_cancel_all_cancels_every_open_order_and_leaves_filled_ones(
    broker: BrokerHarness,
) -> None:
    filled = await broker.place_live("BUY", 5, order_type="MARKET")
    await broker.wait_status(filled, OrderStatus.COMPLETE)
    resting = [
        await broker.place_live("BUY", 10, price=BELOW),
        await broker.place_live("BUY", 3, price=BELOW - STEP),
        await broker.place_live("SELL", 4, price=ABOVE),
    ]

    outcomes = broker.api.cancel_all()

    assert len(outcomes) == 3 and all(o.ok for o in outcomes)
    for order_id in resting:
        await broker.wait_status(order_id, OrderStatus.CANCELLED)
    assert broker.order(filled).status is OrderStatus.COMPLETE
    assert not [o for o in broker.api.orders() if o.status.is_open]
    assert net(broker) == 5


# -- the broker's refusals -------------------------------------------------------------------------


async def test_contract_order_refused_by_the_broker_is_rejected_with_its_reason(
    broker: BrokerHarness,
) -> None:
    broker.reject_next("Insufficient funds. Required margin is 4000.00")

    outcome = broker.place("BUY", 10, price=BELOW)

    assert outcome.ok, outcome.reason  # the desk's own checks passed: the broker refuses it
    assert outcome.order_id is not None
    await broker.wait_status(outcome.order_id, OrderStatus.REJECTED)
    order = broker.order(outcome.order_id)
    assert "Insufficient funds" in order.status_message
    assert order.filled_quantity == 0 and net(broker) == 0


async def test_contract_order_refused_by_the_risk_gate_never_reaches_the_broker(
    broker: BrokerHarness,
) -> None:
    outcome = broker.place("BUY", 5_000, price=BELOW)  # above the 1,000-share order limit

    assert not outcome.ok
    assert "quantity" in outcome.reason
    await broker.settle()
    assert broker.times_sent(outcome.order_id or "") == 0
    assert not [o for o in broker.api.orders() if o.status.is_open]


# -- partial fills -------------------------------------------------------------------------------


async def test_contract_partial_fill_then_the_rest_completes_at_the_limit(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)

    await broker.fill(order_id, 4)
    order = broker.order(order_id)
    assert order.status is OrderStatus.OPEN
    assert (order.filled_quantity, order.pending_quantity) == (4, 6)
    assert net(broker) == 4

    await broker.fill(order_id, 6)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    order = broker.order(order_id)
    assert (order.filled_quantity, order.pending_quantity) == (10, 0)
    assert order.average_price == BELOW
    assert sorted(t.quantity for t in trades_of(broker, order_id)) == [4, 6]
    assert net(broker) == 10


async def test_contract_partial_fill_then_cancel_keeps_the_filled_quantity(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("SELL", 10, price=ABOVE)
    await broker.fill(order_id, 3)

    assert broker.api.cancel(order_id).ok
    await broker.wait_status(order_id, OrderStatus.CANCELLED)

    order = broker.order(order_id)
    assert order.filled_quantity == 3
    assert order.average_price == ABOVE
    assert [t.quantity for t in trades_of(broker, order_id)] == [3]
    assert net(broker) == -3


# -- positions and trades ----------------------------------------------------------------------------


async def test_contract_buy_then_sell_leaves_a_flat_position_with_the_difference_realised(
    broker: BrokerHarness,
) -> None:
    buy = await broker.place_live("BUY", 10, price=BELOW)
    await broker.fill(buy, 10)
    assert net(broker) == 10
    sell = await broker.place_live("SELL", 10, price=ABOVE)
    await broker.fill(sell, 10)
    await broker.wait_status(sell, OrderStatus.COMPLETE)

    flat = position(broker)
    assert flat is not None
    assert flat.net_quantity == 0
    assert (flat.buy_quantity, flat.sell_quantity) == (10, 10)
    assert flat.realised == (ABOVE - BELOW) * 10 == Decimal("10.00")
    assert flat.pnl == flat.realised
    assert flat.net_pnl == flat.pnl - flat.charges


async def test_contract_positions_are_kept_apart_by_product(broker: BrokerHarness) -> None:
    # One resting order per price: a fill at one price reaches no other order.
    intraday = await broker.place_live("BUY", 10, price=BELOW, product="MIS")
    delivery = await broker.place_live("BUY", 4, price=BELOW - STEP, product="CNC")
    await broker.fill(intraday, 10)
    await broker.fill(delivery, 4)
    short = await broker.place_live("SELL", 6, price=ABOVE, product="MIS")
    await broker.fill(short, 6)

    assert net(broker, Product.MIS) == 4
    assert net(broker, Product.CNC) == 4
    assert {(p.product, p.net_quantity) for p in broker.api.positions()} == {
        (Product.MIS, 4),
        (Product.CNC, 4),
    }


async def test_contract_trades_match_the_fills_with_unique_ids(broker: BrokerHarness) -> None:
    first = await broker.place_live("BUY", 10, price=BELOW)
    await broker.fill(first, 3)
    await broker.fill(first, 7)
    second = await broker.place_live("SELL", 5, order_type="MARKET")
    await broker.wait_status(second, OrderStatus.COMPLETE)

    trades = broker.api.trades()
    assert len({t.trade_id for t in trades}) == len(trades) == 3
    for order_id in (first, second):
        assert (
            sum(t.quantity for t in trades_of(broker, order_id))
            == broker.order(order_id).filled_quantity
        )
    assert {t.price for t in trades_of(broker, first)} == {BELOW}
    assert {(t.side, t.product) for t in trades_of(broker, second)} == {(Side.SELL, Product.MIS)}
    fills = [e for e in broker.events if isinstance(e, OrderFilled)]
    assert sorted(f.trade_id for f in fills) == sorted(t.trade_id for t in trades)


# -- events ------------------------------------------------------------------------------------------

RANK = {
    OrderStatus.PENDING_SUBMIT: 0,
    OrderStatus.PUT_ORDER_REQ_RECEIVED: 1,
    OrderStatus.VALIDATION_PENDING: 2,
    OrderStatus.OPEN_PENDING: 3,
    OrderStatus.TRIGGER_PENDING: 4,
    OrderStatus.OPEN: 5,
    OrderStatus.COMPLETE: 6,
    OrderStatus.CANCELLED: 6,
    OrderStatus.REJECTED: 6,
}


def lifecycle(broker: BrokerHarness, order_id: str) -> list[object]:
    return [
        e
        for e in broker.events
        if isinstance(e, OrderSubmitted | OrderStatusChanged | OrderFilled)
        and e.order_id == order_id
    ]


def assert_lifecycle(events: list[object], final: OrderStatus) -> None:
    """Submitted first and once; statuses never go back; no status and no trade twice; the
    order ends as ``final``: its last status for CANCELLED / REJECTED, its fills for COMPLETE
    (completion is the fills adding up to the quantity: no broker sends a COMPLETE status)."""
    assert isinstance(events[0], OrderSubmitted), events
    submitted = events[0]
    assert sum(isinstance(e, OrderSubmitted) for e in events) == 1
    statuses = [e.status for e in events if isinstance(e, OrderStatusChanged)]
    ranks = [RANK.get(s, 5) for s in statuses]
    assert ranks == sorted(ranks), f"statuses went backwards: {statuses}"
    assert statuses.count(OrderStatus.OPEN) == 1, statuses
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert len({f.trade_id for f in fills}) == len(fills)
    if final is OrderStatus.COMPLETE:
        assert sum(f.quantity for f in fills) == submitted.request.quantity
        assert isinstance(events[-1], OrderFilled), events[-1]
        assert not set(statuses) & {OrderStatus.CANCELLED, OrderStatus.REJECTED}
    else:
        assert statuses.count(final) == 1 and statuses[-1] is final, statuses


async def test_contract_order_events_arrive_submitted_open_filled_in_order_and_once(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)
    await broker.fill(order_id, 10)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    await broker.settle()

    events = lifecycle(broker, order_id)
    assert_lifecycle(events, OrderStatus.COMPLETE)
    [fill] = [e for e in events if isinstance(e, OrderFilled)]
    assert fill.quantity == 10
    first_open = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, OrderStatusChanged) and e.status is OrderStatus.OPEN
    )
    assert events.index(fill) > first_open


async def test_contract_cancelled_order_events_arrive_submitted_open_cancelled_once(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("SELL", 10, price=ABOVE)
    assert broker.api.cancel(order_id).ok
    await broker.wait_status(order_id, OrderStatus.CANCELLED)
    await broker.settle()

    events = lifecycle(broker, order_id)
    assert_lifecycle(events, OrderStatus.CANCELLED)
    assert not [e for e in events if isinstance(e, OrderFilled)]


# -- stop orders and validity ------------------------------------------------------------------------


async def test_contract_stop_market_buy_waits_for_its_trigger_then_fills(
    broker: BrokerHarness,
) -> None:
    trigger = BASE + 20 * STEP  # 401.00
    order_id = await broker.place_live("BUY", 10, order_type="SL-M", trigger_price=trigger)
    assert broker.order(order_id).status is OrderStatus.TRIGGER_PENDING

    await broker.move_market(trigger - 10 * STEP)
    await broker.settle()
    assert broker.order(order_id).status is OrderStatus.TRIGGER_PENDING
    assert broker.order(order_id).filled_quantity == 0

    await broker.move_market(trigger)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    order = broker.order(order_id)
    assert order.filled_quantity == 10
    assert trigger <= order.average_price <= trigger + STEP
    assert net(broker) == 10


async def test_contract_stop_limit_sell_triggers_and_fills_within_its_limit(
    broker: BrokerHarness,
) -> None:
    trigger, limit = BASE - 20 * STEP, BASE - 30 * STEP  # 399.00, 398.50
    order_id = await broker.place_live(
        "SELL", 10, order_type="SL", price=limit, trigger_price=trigger
    )
    order = broker.order(order_id)
    assert order.status is OrderStatus.TRIGGER_PENDING
    assert (order.price, order.trigger_price) == (limit, trigger)

    await broker.move_market(trigger + STEP)
    await broker.settle()
    assert broker.order(order_id).status is OrderStatus.TRIGGER_PENDING

    await broker.move_market(trigger)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    assert limit <= broker.order(order_id).average_price <= trigger
    assert net(broker) == -10


async def test_contract_ioc_order_that_cannot_trade_is_cancelled_not_left_resting(
    broker: BrokerHarness,
) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW, validity="IOC")
    await broker.wait_status(order_id, OrderStatus.CANCELLED)

    await broker.move_market(BELOW - 4 * STEP)
    await broker.settle()
    order = broker.order(order_id)
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 0)
    assert net(broker) == 0


async def test_contract_ioc_order_that_can_trade_fills_at_once(broker: BrokerHarness) -> None:
    order_id = await broker.place_live("SELL", 10, price=BASE - 20 * STEP, validity="IOC")
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    order = broker.order(order_id)
    assert order.filled_quantity == 10
    assert order.average_price == broker.aggressive_price(Side.SELL)


# -- square-off ---------------------------------------------------------------------------------------


async def test_contract_square_off_of_a_long_position_sells_it_flat(broker: BrokerHarness) -> None:
    buy = await broker.place_live("BUY", 10, order_type="MARKET")
    await broker.wait_status(buy, OrderStatus.COMPLETE)

    outcomes = broker.api.square_off(broker.token, "MIS")

    assert len(outcomes) == 1 and outcomes[0].ok, outcomes
    closing = outcomes[0].order_id
    assert closing is not None
    await broker.wait_status(closing, OrderStatus.COMPLETE)
    order = broker.order(closing)
    assert (order.side, order.quantity, order.product) == (Side.SELL, 10, Product.MIS)
    assert net(broker) == 0


async def test_contract_square_off_asked_twice_closes_the_position_once(
    broker: BrokerHarness,
) -> None:
    # Two clicks, two confirmations: the second finds the first on its way and sends nothing,
    # where it used to send a second full closing order and turn the long into a short.
    buy = await broker.place_live("BUY", 10, order_type="MARKET")
    await broker.wait_status(buy, OrderStatus.COMPLETE)

    first = broker.api.square_off(broker.token, "MIS")
    second = broker.api.square_off(broker.token, "MIS")

    assert len(first) == 1 and first[0].ok and first[0].order_id is not None, first
    assert second == []
    await broker.wait_status(first[0].order_id, OrderStatus.COMPLETE)
    assert net(broker) == 0


async def test_contract_square_off_of_a_short_position_buys_it_back(broker: BrokerHarness) -> None:
    sell = await broker.place_live("SELL", 6, price=ABOVE, product="CNC")
    await broker.fill(sell, 6)
    assert net(broker, Product.CNC) == -6

    [outcome] = broker.api.square_off(broker.token, "CNC")

    assert outcome.ok, outcome.reason
    assert outcome.order_id is not None
    await broker.wait_status(outcome.order_id, OrderStatus.COMPLETE)
    order = broker.order(outcome.order_id)
    assert (order.side, order.quantity, order.product) == (Side.BUY, 6, Product.CNC)
    assert net(broker, Product.CNC) == 0


# -- duplicates, restarts -------------------------------------------------------------------------------


async def test_contract_the_same_trade_reported_twice_counts_once(broker: BrokerHarness) -> None:
    order_id = await broker.place_live("BUY", 10, price=BELOW)
    await broker.fill(order_id, 4)
    await broker.fill(order_id, 6)
    await broker.wait_status(order_id, OrderStatus.COMPLETE)

    await broker.deliver_fill_again(order_id)
    await broker.settle()

    assert broker.order(order_id).filled_quantity == 10
    assert len(trades_of(broker, order_id)) == 2
    assert len(broker.fills_of(order_id)) == 2
    assert net(broker) == 10


async def test_contract_restart_restores_open_orders_and_positions(broker: BrokerHarness) -> None:
    bought = await broker.place_live("BUY", 10, order_type="MARKET")
    await broker.wait_status(bought, OrderStatus.COMPLETE)
    resting = await broker.place_live("BUY", 5, price=BELOW)
    average = broker.order(bought).average_price

    await broker.restart()

    order = broker.order(resting)
    assert (order.status, order.quantity, order.price) == (OrderStatus.OPEN, 5, BELOW)
    assert broker.order(bought).status is OrderStatus.COMPLETE
    kept = position(broker)
    assert kept is not None
    assert (kept.net_quantity, kept.average_price) == (10, average)
    # The broker still has the resting order after the restart: it fills and is booked once.
    await broker.move_market(BELOW - 2 * STEP)
    await broker.wait_status(resting, OrderStatus.COMPLETE)
    assert net(broker) == 15
    assert broker.times_sent(resting) == 1


# -- connection, session, transport ----------------------------------------------------------------------


async def test_contract_fill_missed_while_disconnected_is_reconciled_once(
    broker: BrokerHarness,
) -> None:
    needs(broker, "connection", "the paper venue runs in the engine: nothing to disconnect")
    order_id = await broker.place_live("BUY", 10, price=BELOW)

    await broker.disconnect()
    await broker.fill_unheard(order_id, 10)
    assert broker.order(order_id).filled_quantity == 0  # the desk cannot know yet
    await broker.reconnect()

    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    assert broker.order(order_id).filled_quantity == 10
    assert len(trades_of(broker, order_id)) == 1 and len(broker.fills_of(order_id)) == 1
    assert net(broker) == 10


async def test_contract_order_update_arriving_after_a_reconnect_is_applied_once(
    broker: BrokerHarness,
) -> None:
    needs(broker, "connection", "the paper venue runs in the engine: nothing to reconnect")
    order_id = await broker.place_live("SELL", 10, price=ABOVE)
    await broker.disconnect()
    await broker.reconnect()

    await broker.fill(order_id, 10)
    await broker.deliver_fill_again(order_id)  # the same update once more, as around a reconnect
    await broker.wait_status(order_id, OrderStatus.COMPLETE)
    await broker.settle()

    assert broker.order(order_id).filled_quantity == 10
    assert len(broker.fills_of(order_id)) == 1
    assert_lifecycle(lifecycle(broker, order_id), OrderStatus.COMPLETE)
    assert net(broker) == -10


async def test_contract_placement_whose_answer_is_lost_is_resolved_without_placing_twice(
    broker: BrokerHarness,
) -> None:
    needs(broker, "lossy_transport", "orders reach the paper venue by a call that cannot be lost")
    broker.lose_next_response()

    outcome = broker.place("BUY", 10, price=BELOW)
    assert outcome.ok and outcome.order_id is not None
    await broker.wait_status(outcome.order_id, OrderStatus.OPEN, timeout=10)
    await broker.settle()

    assert broker.times_sent(outcome.order_id) == 1
    await broker.fill(outcome.order_id, 10)
    await broker.wait_status(outcome.order_id, OrderStatus.COMPLETE)
    assert net(broker) == 10


async def test_contract_orders_placed_while_logged_out_are_held_and_sent_once_after_login(
    broker: BrokerHarness,
) -> None:
    needs(broker, "session", "the paper venue has no login that can expire")
    await broker.log_out()

    outcome = broker.place("BUY", 10, price=BELOW)
    assert outcome.ok and outcome.order_id is not None
    await broker.settle()
    assert broker.order(outcome.order_id).status is OrderStatus.PENDING_SUBMIT
    assert broker.times_sent(outcome.order_id) == 0

    await broker.log_in()
    await broker.wait_status(outcome.order_id, *LIVE)
    await broker.settle()
    assert broker.times_sent(outcome.order_id) == 1
    await broker.fill(outcome.order_id, 10)
    assert net(broker) == 10
