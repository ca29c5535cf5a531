"""What every live broker adapter shares, whatever the broker: requests in flight as supervised
tasks, the places and cancels held while the session is down, and the orders whose fate is
unknown (a place whose reply was lost, an order open at a restart) until the broker's book
settles it. Kite uses these today; XTS and any other live broker plug in the same pieces.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.domain.events import OrderStatusChanged
from engine.domain.ids import BrokerOrderId, OrderId
from engine.domain.order import Order
from engine.domain.orders import OrderStatus

log = logging.getLogger(__name__)

OrderLookup = Callable[[OrderId], Order | None]


class BrokerTasks:
    """Requests and reports in flight, each a task the adapter keeps a reference to; a task
    that fails is logged and reported (``on_error``), never lost silently."""

    def __init__(self, on_error: Callable[[asyncio.Task[Any]], None]) -> None:
        self.running: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._on_error(task)

    async def drain(self) -> None:
        """Wait until every request and report in flight is done (tests, shutdown)."""
        while self.running:
            pending = [task for task in self.running if not task.done()]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            # A finished task leaves the set in its done-callback: give the loop a turn to run
            # it, or this would spin without ever yielding.
            await asyncio.sleep(0)

    async def close(self) -> None:
        tasks = list(self.running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class BrokerReconciled:
    """A live broker answered again and its book was read whole (after a reconciliation): what
    waited for it (a kill switch's cancels and square-off) can be done now."""

    ts_ns: int
    broker: str


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """A broker's answer to a placement: its order id."""

    order_id: str
    recovered: bool = False
    """True when the reply was lost and the order was found in the orderbook by our id."""


@dataclass
class LiveBrokerStats:
    """What a live broker's adapter did, counted (tests, diagnostics)."""

    placed: int = 0
    recovered_by_tag: int = 0
    rejected: int = 0
    unknown_outcomes: int = 0
    held: int = 0
    released: int = 0
    expired_held: int = 0
    reports: int = 0
    stale_reports: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    adopted: int = 0
    modifies: int = 0
    cancels: int = 0


@dataclass(frozen=True, slots=True)
class Held:
    order_id: OrderId
    action: str
    """'place' or 'cancel'."""
    since_ns: int


@dataclass(frozen=True, slots=True)
class Released:
    """What the held requests became after a login."""

    places: list[OrderId] = field(default_factory=list)
    cancels: list[OrderId] = field(default_factory=list)
    expired: list[OrderStatusChanged] = field(default_factory=list)
    """Places held past the limit: cancelled with a reason instead of sent late."""


class HeldRequests:
    """Places and cancels waiting for the session to come back, released oldest first."""

    def __init__(self) -> None:
        self._held: deque[Held] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[Held]:
        return iter(list(self._held))

    def hold(self, order_id: OrderId, action: str, since_ns: int) -> None:
        self._held.append(Held(order_id, action, since_ns))

    def take_place(self, order_id: OrderId) -> bool:
        """Drop a held place (its order was cancelled before it was sent); whether it was held."""
        for held in self._held:
            if held.order_id == order_id and held.action == "place":
                self._held.remove(held)
                return True
        return False

    def release(
        self, orders: OrderLookup, *, now_ns: int, max_age_s: float, broker: str
    ) -> Released:
        """Everything held, oldest request first: cancels of open orders, places of orders still
        unsent and younger than ``max_age_s``; older places come back as cancellations."""
        out = Released()
        pending = sorted(self._held, key=lambda held: held.since_ns)
        self._held.clear()
        for held in pending:
            order = orders(held.order_id)
            if order is None or not order.is_open:
                continue
            if held.action == "cancel":
                out.cancels.append(held.order_id)
                continue
            if order.status is not OrderStatus.PENDING_SUBMIT:
                continue  # reconciliation found it at the broker: it is not sent again
            age = (now_ns - held.since_ns) / 1e9
            if age > max_age_s:
                out.expired.append(
                    OrderStatusChanged(
                        held.order_id,
                        now_ns,
                        OrderStatus.CANCELLED,
                        f"not sent: held {age:.0f}s while logged out of {broker} (more than "
                        f"{max_age_s:.0f}s); place it again if you still want it",
                    )
                )
                continue
            out.places.append(held.order_id)
        return out


@dataclass(slots=True)
class Tracked:
    order_id: OrderId
    variety: str
    """The broker's kind of order (Kite: regular, amo, co, ...), as it was placed."""
    broker_order_id: BrokerOrderId | None = None
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    uncertain_since_ns: int | None = None
    """Set while the broker may or may not have the order (a lost place reply, a restart)."""


class OrderTracker:
    """Our orders as the broker knows them: its order id once acknowledged, and whether the
    broker may or may not have an order at all (an unknown outcome), until its book says."""

    def __init__(self, variety: str) -> None:
        self._variety = variety
        self._tracked: dict[OrderId, Tracked] = {}
        self._by_broker_id: dict[BrokerOrderId, OrderId] = {}
        self._locks: dict[OrderId, asyncio.Lock] = {}

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._tracked

    def track(self, order_id: OrderId) -> Tracked:
        tracked = self._tracked.get(order_id)
        if tracked is None:
            tracked = self._tracked[order_id] = Tracked(order_id, self._variety)
        return tracked

    def get(self, order_id: OrderId) -> Tracked | None:
        return self._tracked.get(order_id)

    def by_broker_id(self, broker_id: BrokerOrderId) -> OrderId | None:
        return self._by_broker_id.get(broker_id)

    def acknowledge(self, tracked: Tracked, broker_id: BrokerOrderId) -> None:
        if tracked.broker_order_id is None:
            tracked.broker_order_id = broker_id
            self._by_broker_id[broker_id] = tracked.order_id
        tracked.acknowledged.set()

    async def acknowledged(self, tracked: Tracked, wait_s: float) -> BrokerOrderId | None:
        """The broker's id once it acknowledged the order (None if not within ``wait_s``)."""
        try:
            await asyncio.wait_for(tracked.acknowledged.wait(), wait_s)
        except TimeoutError:
            return None
        return tracked.broker_order_id

    def lock(self, order_id: OrderId) -> asyncio.Lock:
        """One order's reports are applied one at a time."""
        lock = self._locks.get(order_id)
        if lock is None:
            lock = self._locks[order_id] = asyncio.Lock()
        return lock

    @property
    def has_uncertain(self) -> bool:
        return any(t.uncertain_since_ns is not None for t in self._tracked.values())

    def resolve_missing(
        self,
        at_broker: set[str],
        orders: OrderLookup,
        *,
        now_ns: int,
        grace_s: float,
        broker: str,
    ) -> list[OrderStatusChanged]:
        """Orders whose fate was unknown and that the broker's book (tags and ids ``at_broker``)
        still does not show after the grace period were not placed: their cancellations."""
        grace_ns = int(grace_s * 1e9)
        resolved: list[OrderStatusChanged] = []
        for tracked in self._tracked.values():
            since = tracked.uncertain_since_ns
            if since is None:
                continue
            order = orders(tracked.order_id)
            if (
                tracked.order_id in at_broker
                or (tracked.broker_order_id is not None and tracked.broker_order_id in at_broker)
                or order is None
                or order.status is not OrderStatus.PENDING_SUBMIT
            ):
                tracked.uncertain_since_ns = None
                continue
            if now_ns - since < grace_ns:
                continue
            tracked.uncertain_since_ns = None
            waited = (now_ns - since) / 1e9
            resolved.append(
                OrderStatusChanged(
                    tracked.order_id,
                    now_ns,
                    OrderStatus.CANCELLED,
                    f"not placed: {broker} has no order tagged {tracked.order_id} {waited:.0f}s "
                    f"after it was sent (the request never reached {broker}); it was not sent again",
                )
            )
        return resolved
