"""The order-rate throttle's queue: orders above the rate wait here (PENDING SUBMIT, journaled
``order_queued``), and go out in a later second, or are cancelled, or are expired at a restart;
none is ever dropped. Orders that close positions (square-offs, a strategy's exits) wait ahead
of orders that open them, each kind oldest first: when the rate is the limit, getting out comes
before getting in."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from engine.core.clock import Clock
from engine.domain.events import OrderQueued
from engine.domain.ids import OrderId
from engine.oms.gate_port import Gate


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

    def release(self, still_pending: Callable[[OrderId], bool]) -> list[OrderId]:
        """Orders that may go out now, oldest first, counted against the rate (an order no
        longer pending, cancelled while it waited, is passed over)."""
        throttle = self._gate.throttle
        released: list[OrderId] = []
        if throttle is None:
            return released
        now = self._clock.time_ns()
        while self._ids and throttle.capacity(now) > 0:
            order_id = self._ids.popleft()
            self._exits.discard(order_id)
            if still_pending(order_id):
                throttle.try_acquire(now)
                released.append(order_id)
        return released
