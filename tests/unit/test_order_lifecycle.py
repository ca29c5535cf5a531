"""The order status table, row by row, and Order.apply under shuffled and duplicated updates."""

from __future__ import annotations

import random
from itertools import product

import pytest

from engine.domain.events import OrderDenied, OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.order import Order
from engine.domain.orders import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
)
from engine.domain.values import Paise

S = OrderStatus
TOKEN = InstrumentToken(12073986)
OID = OrderId("DTEST0000000001")


def new_order(quantity: int = 130) -> Order:
    request = OrderRequest(
        TOKEN, Side.BUY, quantity, OrderType.LIMIT, Product.NRML, price=Paise(10000)
    )
    return Order(OrderSubmitted(OID, 1, request))


def force_status(order: Order, status: OrderStatus) -> None:
    """Walk an order to ``status`` along legal transitions (the table is the only way in)."""
    paths = {
        S.PENDING_SUBMIT: [],
        S.DENIED: [S.DENIED],
        S.PUT_ORDER_REQ_RECEIVED: [S.PUT_ORDER_REQ_RECEIVED],
        S.AMO_REQ_RECEIVED: [S.AMO_REQ_RECEIVED],
        S.VALIDATION_PENDING: [S.VALIDATION_PENDING],
        S.OPEN_PENDING: [S.OPEN_PENDING],
        S.OPEN: [S.OPEN],
        S.TRIGGER_PENDING: [S.TRIGGER_PENDING],
        S.MODIFY_VALIDATION_PENDING: [S.OPEN, S.MODIFY_VALIDATION_PENDING],
        S.MODIFY_PENDING: [S.OPEN, S.MODIFY_PENDING],
        S.MODIFIED: [S.OPEN, S.MODIFIED],
        S.CANCEL_PENDING: [S.OPEN, S.CANCEL_PENDING],
        S.COMPLETE: [S.COMPLETE],
        S.CANCELLED: [S.CANCELLED],
        S.REJECTED: [S.REJECTED],
    }
    for step in paths[status]:
        event = (
            OrderDenied(OID, 2, "test") if step is S.DENIED else OrderStatusChanged(OID, 2, step)
        )
        assert order.apply(event), f"could not reach {status} via {step}"
    assert order.status is status


def status_event(status: OrderStatus, ts: int = 3) -> OrderStatusChanged | OrderDenied:
    if status is S.DENIED:
        return OrderDenied(OID, ts, "denied by the gate")
    return OrderStatusChanged(OID, ts, status)


ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
FORBIDDEN = [
    (a, b)
    for a, b in product(OrderStatus, OrderStatus)
    if b not in TRANSITIONS[a] and not (a == b and a not in TERMINAL_STATUSES)
]


def test_every_kite_status_is_in_the_table() -> None:
    kite = {
        "PUT ORDER REQ RECEIVED",
        "AMO REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "TRIGGER PENDING",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "CANCEL PENDING",
        "COMPLETE",
        "CANCELLED",
        "REJECTED",
    }
    assert kite | {"PENDING SUBMIT", "DENIED"} == {s.value for s in OrderStatus}
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize(("current", "new"), ALLOWED, ids=lambda s: str(s).replace(" ", "_"))
def test_order_apply_when_transition_is_in_the_table_moves_to_new_status(current, new) -> None:
    order = new_order()
    force_status(order, current)
    # A live order reporting its own status again is news only with new terms (Kite's UPDATE).
    event = (
        OrderStatusChanged(OID, 3, new, price=Paise(10100)) if new == current else status_event(new)
    )
    assert order.apply(event)
    assert order.status is new


def test_live_order_when_same_status_repeats_without_news_is_a_duplicate() -> None:
    order = new_order()
    force_status(order, S.OPEN)
    events = len(order.events)
    assert not order.apply(OrderStatusChanged(OID, 4, S.OPEN))
    assert len(order.events) == events


FORBIDDEN_SAMPLE = random.Random(20261121).sample(FORBIDDEN, 60)


@pytest.mark.parametrize(
    ("current", "new"), FORBIDDEN_SAMPLE, ids=lambda s: str(s).replace(" ", "_")
)
def test_order_apply_when_transition_is_not_in_the_table_is_refused_and_changes_nothing(
    current, new
) -> None:
    order = new_order()
    force_status(order, current)
    events_before = len(order.events)
    assert not order.apply(status_event(new))
    assert order.status is current
    assert len(order.events) == events_before


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_order_when_late_update_arrives_never_moves_back(terminal) -> None:
    order = new_order()
    force_status(order, terminal)
    for late in (S.OPEN, S.OPEN_PENDING, S.TRIGGER_PENDING, S.CANCEL_PENDING, S.MODIFIED):
        assert not order.apply(OrderStatusChanged(OID, 9, late))
    assert order.status is terminal


def fill(trade: str, quantity: int, price: int = 10000, ts: int = 5) -> OrderFilled:
    return OrderFilled(
        OID, ts, TradeId(trade), TOKEN, Side.BUY, Product.NRML, quantity, Paise(price)
    )


def test_fill_when_trade_id_repeats_is_ignored() -> None:
    order = new_order()
    force_status(order, S.OPEN)
    assert order.apply(fill("T1", 65))
    assert not order.apply(fill("T1", 65))
    assert order.filled_quantity == 65
    assert order.status is S.OPEN


def test_fill_when_it_would_overfill_is_refused() -> None:
    order = new_order(65)
    force_status(order, S.OPEN)
    assert not order.apply(fill("T1", 130))
    assert order.filled_quantity == 0


def test_fill_when_order_was_denied_is_refused() -> None:
    order = new_order()
    force_status(order, S.DENIED)
    assert not order.apply(fill("T1", 65))


def test_fill_when_it_completes_the_quantity_marks_order_complete() -> None:
    order = new_order()
    force_status(order, S.OPEN)
    order.apply(fill("T1", 65, 10000))
    order.apply(fill("T2", 65, 10010))
    assert order.status is S.COMPLETE
    assert str(order.average_price) == "100.05"


def test_fill_when_it_overtakes_the_cancel_report_is_still_counted() -> None:
    order = new_order()
    force_status(order, S.OPEN)
    assert order.apply(OrderStatusChanged(OID, 6, S.CANCELLED))
    assert order.apply(fill("T1", 65))
    assert order.status is S.CANCELLED
    assert order.filled_quantity == 65
    assert order.pending_quantity == 0


def test_modify_report_when_it_carries_new_terms_changes_price_and_quantity() -> None:
    order = new_order()
    force_status(order, S.OPEN)
    assert order.apply(OrderStatusChanged(OID, 7, S.OPEN, quantity=195, price=Paise(10500)))
    assert (order.quantity, order.price) == (195, 10500)


def broker_story() -> list:
    """A LIMIT buy of 130 that fills in three trades, as Kite reports it."""
    return [
        OrderStatusChanged(OID, 10, S.PUT_ORDER_REQ_RECEIVED),
        OrderStatusChanged(OID, 11, S.VALIDATION_PENDING),
        OrderStatusChanged(OID, 12, S.OPEN_PENDING),
        OrderStatusChanged(OID, 13, S.OPEN),
        fill("T1", 65, 10000, 14),
        OrderStatusChanged(OID, 15, S.OPEN),
        fill("T2", 30, 10005, 16),
        fill("T3", 35, 10010, 17),
        OrderStatusChanged(OID, 18, S.COMPLETE),
    ]


@pytest.mark.parametrize("seed", range(50))
def test_order_when_updates_are_shuffled_and_duplicated_ends_complete_with_every_fill_once(
    seed,
) -> None:
    rng = random.Random(seed)
    updates = broker_story()
    updates += rng.sample(updates, k=4)  # duplicates, as a reconnect replays them
    rng.shuffle(updates)
    order = new_order()
    for update in updates:
        order.apply(update)
    assert order.status is S.COMPLETE
    assert order.filled_quantity == 130
    assert order.trade_ids == {"T1", "T2", "T3"}
    assert order.filled_value == 65 * 10000 + 30 * 10005 + 35 * 10010


@pytest.mark.parametrize("seed", range(20))
def test_cancelled_order_when_updates_are_shuffled_ends_cancelled_with_partial_fill(seed) -> None:
    rng = random.Random(seed)
    updates = [
        OrderStatusChanged(OID, 10, S.OPEN),
        fill("T1", 65, 10000, 11),
        OrderStatusChanged(OID, 12, S.CANCEL_PENDING),
        OrderStatusChanged(OID, 13, S.CANCELLED),
    ]
    updates += updates[:]
    rng.shuffle(updates)
    order = new_order()
    for update in updates:
        order.apply(update)
    assert order.status is S.CANCELLED
    assert order.filled_quantity == 65
