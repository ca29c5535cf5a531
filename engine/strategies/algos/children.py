"""A parent's child orders as its algo counts them: how much is filled, how much is working, and
each fill (for execution quality). The order manager is the truth: at a restart the book is
rebuilt from its restored orders and fills, never from what the algo last saved, so a parent is
sized from target minus filled minus working even after a crash between two saves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.domain.ids import OrderId
from engine.domain.origin import OrderSource
from engine.strategies.ports import OrderView, TradeView


@dataclass(slots=True)
class Child:
    order_id: OrderId
    quantity: int
    filled: int = 0
    open: bool = True
    placed_ns: int = 0
    price: int | None = None
    """The limit now, paise (None: MARKET)."""
    moves: int = 0
    """How many times it was chased."""
    cancelling: bool = False

    @property
    def working(self) -> int:
        return self.quantity - self.filled if self.open else 0


@dataclass(slots=True)
class ChildBook:
    children: dict[OrderId, Child] = field(default_factory=dict)
    fills: list[tuple[int, int, int]] = field(default_factory=list)
    """(ts_ns, quantity, price in paise) of each fill, in order."""
    filled: int = 0
    working: int = 0
    denied: int = 0
    """Children the gate (or the broker) refused since the last one that went through."""
    last_refusal: str = ""

    def add(self, order_id: OrderId, quantity: int, placed_ns: int, price: int | None) -> Child:
        child = self.children.get(order_id)
        if child is None:
            child = Child(order_id, quantity, placed_ns=placed_ns, price=price)
            self.children[order_id] = child
            self.working += quantity
            self.denied = 0
        return child

    def fill(self, order_id: OrderId, ts_ns: int, quantity: int, price: int) -> None:
        child = self.children.get(order_id)
        if child is None:
            return
        was = child.working
        child.filled += quantity
        self.filled += quantity
        self.fills.append((ts_ns, quantity, price))
        if child.filled >= child.quantity:
            child.open = False  # a fill completes an order without a status event of its own
        self.working += child.working - was

    def close(self, order_id: OrderId) -> None:
        """The child ended (complete, cancelled, rejected): its rest no longer works."""
        child = self.children.get(order_id)
        if child is None or not child.open:
            return
        self.working -= child.working
        child.open = False

    def refuse(self, reason: str) -> None:
        self.denied += 1
        self.last_refusal = reason

    def adopt(
        self, orders: Iterable[OrderView], trades: Iterable[TradeView], parent: str, since_ns: int
    ) -> int | None:
        """Read ``parent``'s children and fills back from the order manager (at a restart);
        the time the latest child was placed, or None without children."""
        mine: set[OrderId] = set()
        for order in orders:
            if order.strategy != parent or order.source is OrderSource.BROKER:
                continue  # another's, or the venue's own in its name (an expiry settlement)
            child = self.add(order.order_id, order.quantity, since_ns, None)
            child.cancelling = False
            mine.add(order.order_id)
            if not order.status.is_open:
                self.close(order.order_id)
        for trade in trades:
            if trade.order_id in mine:
                self.fill(trade.order_id, trade.ts_ns, trade.quantity, int(trade.price * 100))
        # A child that filled whole is closed even if its status row came after the kill.
        for child in self.children.values():
            if child.open and child.filled >= child.quantity:
                self.close(child.order_id)
        return max((c.placed_ns for c in self.children.values()), default=None)

    def open_children(self) -> list[Child]:
        return [c for c in self.children.values() if c.open]

    @property
    def count(self) -> int:
        return len(self.children)
