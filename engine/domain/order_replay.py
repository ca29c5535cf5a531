"""Orders and fills rebuilt from journal entries through the order state table: the restore after
a restart and any reading of a book from its database alone use this one replay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.domain.events import (
    ORDER_EVENT_TYPES,
    OrderFilled,
    OrderQueued,
    OrderSubmitted,
    order_event_from_journal,
)
from engine.domain.ids import OrderId
from engine.domain.order import Order

JournalRow = tuple[str, str | None, int, dict[str, Any]]
"""(kind, order_id, ts_ns, payload) of one journal entry."""


@dataclass(slots=True)
class Replayed:
    orders: dict[OrderId, Order] = field(default_factory=dict)
    fills: list[OrderFilled] = field(default_factory=list)
    """Fills the orders took, in journal order (a fill an order refused is not here)."""
    queued: set[str] = field(default_factory=set)
    """Orders the order-rate throttle queued (some may never have been sent)."""
    applied: int = 0
    """Order events that changed an order."""


def replay_orders(entries: Iterable[JournalRow]) -> Replayed:
    """Every order and fill the entries record; risk decisions and other rows are passed over."""
    out = Replayed()
    for kind, order_id, ts_ns, payload in entries:
        if order_id is None:
            continue
        if kind not in ORDER_EVENT_TYPES:
            if kind == OrderQueued.kind:
                out.queued.add(order_id)
            continue  # a risk decision about an order: nothing to rebuild
        event = order_event_from_journal(kind, order_id, ts_ns, payload)
        if isinstance(event, OrderSubmitted):
            if event.order_id in out.orders:
                # The same unit written twice (a server that committed a write whose answer was
                # lost, and took the retry too): starting the order afresh would count its fills
                # again. Its later rows are duplicates, refused as such by the order.
                continue
            out.orders[event.order_id] = Order(event)
            out.applied += 1
            continue
        order = out.orders.get(event.order_id)
        if order is None:
            continue  # a denial of a request that never became an order
        if order.apply(event):
            out.applied += 1
            if isinstance(event, OrderFilled):
                out.fills.append(event)
    return out
