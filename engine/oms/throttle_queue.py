"""The order-rate throttle's queue: orders above the rate wait here (PENDING SUBMIT, journaled
``order_queued``), and go out in a later second, or are cancelled, or are expired at a restart;
none is ever dropped. Orders that close positions (square-offs, a strategy's exits) wait ahead
of orders that open them, each kind oldest first: when the rate is the limit, getting out comes
before getting in.

A waiting order is decided again by the gate as it is released (and when the trader changes the
limits): it goes out only under the limits in force then. Each is decided as it was when queued,
with the orders queued behind it not yet counted, so the oldest keep their turn. A square-off that
still brings its position towards flat is not decided again: limits that stop risk growing must
not hold back getting out. What the gate now refuses leaves the queue for the order manager to
cancel with the gate's reason; it is never sent."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from engine.core.clock import Clock
from engine.domain.events import OrderQueued
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.order import Order
from engine.domain.orders import OrderStatus, Product, Side
from engine.domain.origin import PRIVILEGES
from engine.oms.exposure import Exposure
from engine.oms.gate_port import Decision, Gate

Refusal = tuple[Order, Decision]
"""A waiting order the gate no longer lets out, and the gate's answer."""


class ThrottleQueue:
    def __init__(self, gate: Gate, clock: Clock) -> None:
        self._gate = gate
        self._clock = clock
        self._ids: deque[OrderId] = deque()
        self._exits: set[OrderId] = set()

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._ids

    def __iter__(self) -> Iterator[OrderId]:
        return iter(list(self._ids))

    def full_now(self) -> bool:
        """Whether no new order may go out this second (orders wait, or the rate is used up)."""
        throttle = self._gate.throttle
        return throttle is not None and (
            bool(self._ids) or throttle.capacity(self._clock.time_ns()) <= 0
        )

    def may_send_now(self, *, force_queue: bool = False) -> bool:
        """Whether an order may go out now; it then counts against the rate."""
        throttle = self._gate.throttle
        return throttle is None or (
            not force_queue and not self._ids and throttle.try_acquire(self._clock.time_ns())
        )

    def hold(self, order_id: OrderId, *, closing: bool = False) -> OrderQueued:
        """Queue the order (a ``closing`` one behind the other closing ones, ahead of the rest);
        the event to journal says why and where it stands."""
        throttle = self._gate.throttle
        assert throttle is not None
        if closing:
            at = sum(1 for queued in self._ids if queued in self._exits)
            self._ids.insert(at, order_id)
            self._exits.add(order_id)
            place = at + 1
        else:
            self._ids.append(order_id)
            place = len(self._ids)
        return OrderQueued(
            order_id,
            self._clock.time_ns(),
            f"order rate: {throttle.describe()}; sent in a later second",
            place,
        )

    def remove(self, order_id: OrderId) -> None:
        self._ids.remove(order_id)
        self._exits.discard(order_id)

    def next_release_ns(self) -> int | None:
        """When the queue can next move (epoch ns), or None when it is empty."""
        throttle = self._gate.throttle
        if not self._ids or throttle is None:
            return None
        return throttle.next_window_ns(self._clock.time_ns())

    def release(self, order_of: Callable[[OrderId], Order]) -> tuple[list[Order], list[Refusal]]:
        """Orders that may go out now, in queue order, counted against the rate, and those the
        gate refuses now (both leave the queue). An order no longer pending, cancelled while it
        waited, is passed over."""
        return self._decide_waiting(order_of, send=True)

    def recheck(self, order_of: Callable[[OrderId], Order]) -> list[Refusal]:
        """Every waiting order decided again now (the limits changed): those the gate refuses
        leave the queue, the rest keep their places."""
        return self._decide_waiting(order_of, send=False)[1]

    def _decide_waiting(
        self, order_of: Callable[[OrderId], Order], *, send: bool
    ) -> tuple[list[Order], list[Refusal]]:
        throttle = self._gate.throttle
        released: list[Order] = []
        refused: list[Refusal] = []
        if throttle is None:
            return released, refused
        now = self._clock.time_ns()
        pending = OrderStatus.PENDING_SUBMIT
        waiting = [order for order in map(order_of, self._ids) if order.status is pending]
        with self._set_aside(waiting) as count_again:
            for order in waiting:
                room = send and throttle.capacity(now) > 0
                if send and not room:
                    break
                decision = self._decide_again(order)
                if not decision.allowed:
                    refused.append((order, decision))
                    continue
                count_again(order)
                if room:
                    throttle.try_acquire(now)
                    released.append(order)
        gone = {order.order_id for order in released}
        gone.update(order.order_id for order, _ in refused)
        keep = {order.order_id for order in waiting} - gone
        self._ids = deque(order_id for order_id in self._ids if order_id in keep)
        self._exits &= keep
        return released, refused

    def _decide_again(self, order: Order) -> Decision:
        request = order.request()
        exposure = self._gate.exposure
        if (
            order.square_off
            and exposure is not None
            and exposure.reduces(
                order.token,
                order.product,
                order.side,
                order.pending_quantity,
                count_working=not PRIVILEGES[order.source].reduce_on_position_alone,
            )
        ):
            return Decision(request)
        # Its own first decision counts it as sent: it is not a duplicate of itself.
        self._gate.forget(request)
        return self._gate.decide(request)

    @contextmanager
    def _set_aside(self, waiting: list[Order]) -> Iterator[Callable[[Order], None]]:
        """Take the waiting orders out of the exposure while they are decided again, each
        counted back as the gate lets it out, the rest at the end (the order manager then
        records what becomes of each, as for any open order)."""
        exposure = self._gate.exposure
        aside = {order.order_id: order for order in waiting}

        def count_again(order: Order) -> None:
            del aside[order.order_id]
            if exposure is not None:
                _count(exposure, [order], 1)

        if exposure is not None:
            _count(exposure, waiting, -1)
        try:
            yield count_again
        finally:
            if exposure is not None:
                _count(exposure, list(aside.values()), 1)


def _count(exposure: Exposure, orders: list[Order], sign: int) -> None:
    """Add (``sign`` 1) or take out (-1) what ``orders`` could add to the exposure, one move per
    instrument and side (each move reprices the margin estimate)."""
    working: dict[tuple[InstrumentToken, Product, Side], int] = defaultdict(int)
    for order in orders:
        working[(order.token, order.product, order.side)] += order.pending_quantity
    for (token, product, side), quantity in working.items():
        exposure.working(token, product, side, sign * quantity)
    exposure.open_orders += sign * len(orders)
