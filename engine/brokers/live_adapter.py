"""What every live broker adapter does on the broker port, whatever the broker: the order flow
that Kite and XTS share, with the broker's own requests left to the adapter.

Out: ``submit`` places the order with our order id as the broker's client order id (Kite's
``tag``, XTS's ``orderUniqueIdentifier``), so a place whose reply is lost is found again by it and
never re-sent. ``modify`` and ``cancel`` wait for the broker's order id (the place reply) first.

In: the broker's reports become order events through ``LiveReports``.

Session expiry pauses order flow: places and cancels wait in a FIFO (a place refused because
the session had ended was not placed, so it waits too) and go out after the next login and a
reconciliation; a place held longer than ``held_order_max_age_s`` is cancelled with a reason
instead of being sent late. Modifications are not held: the order manager refuses one asked
meanwhile (``modify_refusal``), and the trader is told to modify again.

An adapter subclasses ``LiveBroker`` and says how to place, modify and cancel at its broker
(``order_params``, ``send_place``, ``send_modify``, ``send_cancel``), raising ``SessionEnded``
when the token was refused, ``OutcomeUnknown`` when the request may or may not have arrived, and
``BrokerError`` (with the broker's reason) for a refusal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from engine.brokers.base import BrokerError, BrokerSink, OutcomeUnknown, SessionEnded
from engine.brokers.live import (
    BrokerReconciled,
    BrokerTasks,
    HeldRequests,
    LiveBrokerStats,
    OrderTracker,
    PlacedOrder,
    Tracked,
)
from engine.brokers.live_changes import LiveChanges
from engine.brokers.live_owed import Owed
from engine.brokers.live_reports import LiveReports, OrderLookup
from engine.core.clock import Clock
from engine.domain.events import ConnectionChanged, OrderStatusChanged, Severity
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId, TradeId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderStatus, can_transition

log = logging.getLogger(__name__)

Reconcile = Callable[[str], Awaitable[object]]


class LiveBrokerConfig(Protocol):
    """The settings the shared order flow reads (each broker's config has them)."""

    @property
    def held_order_max_age_s(self) -> float:
        """A place held while logged out longer than this is cancelled, not sent late."""
        ...

    @property
    def unknown_outcome_grace_s(self) -> float:
        """A place with no reply the broker still does not show after this was not placed."""
        ...

    @property
    def trade_poll_attempts(self) -> int: ...

    @property
    def trade_poll_interval_s(self) -> float: ...

    @property
    def ack_wait_s(self) -> float:
        """How long a modify or cancel waits for the place reply with the broker's order id."""
        ...


class LiveBroker(LiveChanges, LiveReports):
    """The broker port over one live broker's requests (subclassed per broker)."""

    config: LiveBrokerConfig

    def __init__(
        self,
        *,
        variety: str,
        instruments: Callable[[InstrumentToken], Instrument | None],
        clock: Clock,
        publish: Callable[[object], None],
    ) -> None:
        self._instruments = instruments
        self._clock = clock
        self._publish = publish
        self._sink: BrokerSink | None = None
        self._orders: OrderLookup = _no_orders
        self._reconcile: Reconcile | None = None
        self._tracker = OrderTracker(variety)
        self._seen_trades: set[TradeId] = set()
        self._held = HeldRequests()
        self.tasks = BrokerTasks(self._task_failed)
        self._spawn = self.tasks.spawn
        self._ignored_outside: set[BrokerOrderId] = set()
        self._owed = Owed()
        self._cancelling: set[OrderId] = set()
        """Orders whose cancel is on its way: a second cancel is not sent."""
        self.paused_reason = self.not_logged_in
        """Why order flow is paused ('' while orders go out)."""
        self._pauses = 0
        self.stats = LiveBrokerStats()

    @property
    def not_logged_in(self) -> str:
        return f"not logged in to {self.title} yet"

    # -- what an adapter says about its broker ---------------------------------------------------

    def order_params(self, order: Order | OrderRequest) -> dict[str, Any]:
        """The broker's parameters for an order; ``ValueError`` when it cannot be sent."""
        raise NotImplementedError

    async def send_place(self, tracked: Tracked, params: dict[str, Any]) -> PlacedOrder:
        """Place at the broker with our order id (``tracked.order_id``) as its client id."""
        raise NotImplementedError

    async def send_modify(
        self, order: Order, tracked: Tracked, broker_id: BrokerOrderId, change: Modification
    ) -> None:
        raise NotImplementedError

    async def send_cancel(self, tracked: Tracked, broker_id: BrokerOrderId) -> None:
        raise NotImplementedError

    # -- wiring ----------------------------------------------------------------------------------

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def attach(self, *, orders: OrderLookup, reconcile: Reconcile | None = None) -> None:
        """The order manager's orders (read only) and the reconciliation run at every login."""
        self._orders = orders
        self._reconcile = reconcile

    # -- the port --------------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self._tracker.track(order.order_id)
        if self.paused_reason:
            self._hold(order.order_id, "place", since_ns=order.created_ns)
            return
        self._spawn(self._place(order.order_id), f"{self.name}-place-{order.order_id}")

    def modify_refusal(self, order_id: OrderId) -> str:
        """Why a modify cannot be sent now ('' when it can): modifications are not held while
        order flow is paused, so the order manager refuses one with this reason."""
        if not self.paused_reason:
            return ""
        return (
            f"modify of {order_id} not sent: {self.paused_reason}; log in to {self.title} and "
            "modify it again"
        )

    def modify(self, order: Order, change: Modification) -> None:
        refusal = self.modify_refusal(order.order_id)
        if refusal:  # the session ended after the order manager asked
            self._say(Severity.WARNING, refusal)
            return
        self._spawn(self._modify(order.order_id, change), f"{self.name}-modify-{order.order_id}")

    def cancel(self, order: Order) -> None:
        order_id = order.order_id
        if self._drop_held_place(order_id):
            return
        if order_id in self._cancelling or (
            order_id in self._owed.cancels and self.broker_order_id(order_id) is None
        ):
            log.info("cancel of %s already on its way to %s: not sent twice", order_id, self.title)
            return
        self._owed.cancels.discard(order_id)
        if self.paused_reason:
            if not any(h.order_id == order_id and h.action == "cancel" for h in self._held):
                self._hold(order_id, "cancel")
            return
        self._cancel_soon(order_id)

    def restore(self, open_orders: list[Order]) -> None:
        """Orders the journal says are open: the broker is asked about each at the first login."""
        for order in open_orders:
            tracked = self._tracker.track(order.order_id)
            if order.broker_order_id:
                self._tracker.acknowledge(tracked, order.broker_order_id)
            else:
                # It may or may not have reached the broker before the engine stopped: never
                # re-send, let reconciliation find it by our id or say it was not sent.
                tracked.uncertain_since_ns = order.created_ns
            self._seen_trades.update(order.trade_ids)

    # -- session ---------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        self._pauses += 1
        if self.paused_reason and self.paused_reason != self.not_logged_in:
            return
        self.paused_reason = f"the {self.title} session has ended ({reason})"
        now = self._clock.time_ns()
        self._publish(ConnectionChanged(now, "broker", "login required", reason))
        self._say(
            Severity.ERROR,
            f"{self.title} session ended ({reason}): order flow is paused. Log in to "
            f"{self.title} again; orders placed meanwhile are held and sent after the login (a "
            f"held order older than {self.config.held_order_max_age_s:.0f}s is cancelled "
            "instead)",
        )

    async def resume(self, reason: str = "login") -> None:
        """After a login: reconcile with the broker, then send what was held, oldest first."""
        if not self.paused_reason:
            return
        pauses = self._pauses
        self._publish(ConnectionChanged(self._clock.time_ns(), "broker", "connected", "logged in"))
        if self._reconcile is not None:
            try:
                await self._reconcile(reason)
            except BrokerError as exc:
                log.warning("reconciliation at login failed: %s", exc)
        if self._pauses != pauses:
            return  # the session ended again meanwhile: stay paused
        held = len(self._held)
        self._release_held()
        self.paused_reason = ""
        if held:
            self._say(
                Severity.INFO, f"{self.title} order flow resumed: {held} held requests released"
            )

    @property
    def held(self) -> list[OrderId]:
        return [held.order_id for held in self._held]

    # -- what reconciliation asks ----------------------------------------------------------------

    def broker_order_id(self, order_id: OrderId) -> BrokerOrderId | None:
        tracked = self._tracker.get(order_id)
        return None if tracked is None else tracked.broker_order_id

    @property
    def has_uncertain(self) -> bool:
        return self._tracker.has_uncertain

    def wants_reconciliation(self) -> bool:
        """Whether the link should ask for a reconciliation now: places with no reply (every
        turn), cancels and fills still owed (with a growing delay)."""
        return self._tracker.has_uncertain or self._owed.due(self._clock.time_ns())

    def resolve_missing(self, at_broker: set[str]) -> list[OrderId]:
        """Orders whose fate was unknown and that the broker's orderbook (our ids and its ids
        ``at_broker``) still does not show after the grace period: they were not placed.

        Called after a reconciliation that read the broker's book whole: the broker answers
        again, so the cancels it owes are sent again and ``BrokerReconciled`` is published."""
        resolved = self._tracker.resolve_missing(
            at_broker,
            self._orders,
            now_ns=self._clock.time_ns(),
            grace_s=self.config.unknown_outcome_grace_s,
            broker=self.title,
        )
        for cancelled in resolved:
            self._emit(cancelled)
        for order_id in sorted(self._owed.cancels):
            order = self._orders(order_id)
            if order is None or not order.is_open:
                self._owed.cancels.discard(order_id)
            elif self.broker_order_id(order_id) is not None and order_id not in self._cancelling:
                self._owed.cancels.discard(order_id)
                self._cancel_soon(order_id)
        self._publish(BrokerReconciled(self._clock.time_ns(), self.name))
        return [cancelled.order_id for cancelled in resolved]

    def booked(self) -> tuple[int, int]:
        return self.stats.fills, self.stats.adopted

    # -- lifecycle -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every request and report in flight is done (tests, shutdown)."""
        await self.tasks.drain()

    async def close(self) -> None:
        await self.tasks.close()

    # -- requests --------------------------------------------------------------------------------

    async def _place(self, order_id: OrderId) -> None:
        tracked = self._tracker.track(order_id)
        order = self._orders(order_id)
        if order is None or order.status is not OrderStatus.PENDING_SUBMIT:
            return  # cancelled or found by reconciliation meanwhile
        try:
            params = self.order_params(order)
        except ValueError as exc:
            self._reject(order_id, f"not sent to {self.title}: {exc}")
            return
        if tracked.broker_order_id is None:
            tracked.acknowledged.clear()
        try:
            placed = await self.send_place(tracked, params)
        except SessionEnded:
            # Refused on the token before the broker looked at the order: it was not placed.
            self._hold(order_id, "place", since_ns=order.created_ns)
            self._answered(tracked)
            return
        except OutcomeUnknown as exc:
            self.stats.unknown_outcomes += 1
            tracked.uncertain_since_ns = self._clock.time_ns()
            self._say(Severity.WARNING, f"order {order_id}: {exc}")
            self._answered(tracked)
            return
        except BrokerError as exc:
            self._reject(order_id, str(exc))
            self._answered(tracked)
            return
        except Exception:
            # A failure the adapter did not classify: the request may have reached the broker,
            # so it is a doubt (reconciliation settles it), never a stuck PENDING_SUBMIT.
            log.exception("%s place of %s failed unexpectedly", self.title, order_id)
            self.stats.unknown_outcomes += 1
            tracked.uncertain_since_ns = self._clock.time_ns()
            self._say(
                Severity.ERROR,
                f"order {order_id}: placing it at {self.title} failed with an error DalalDesk "
                f"does not recognise (see the log); it may or may not be at {self.title}. It "
                "was not sent again: reconciliation will show it, or cancel it if "
                f"{self.title} does not have it",
            )
            self._answered(tracked)
            return
        self.stats.placed += 1
        if placed.recovered:
            self.stats.recovered_by_tag += 1
        broker_id = BrokerOrderId(placed.order_id)
        async with self._tracker.lock(order_id):
            self._tracker.acknowledge(tracked, broker_id)
            order = self._orders(order_id)
            if order is not None and can_transition(
                order.status, OrderStatus.PUT_ORDER_REQ_RECEIVED
            ):
                self._emit(
                    OrderStatusChanged(
                        order_id,
                        self._clock.time_ns(),
                        OrderStatus.PUT_ORDER_REQ_RECEIVED,
                        broker_order_id=broker_id,
                    )
                )
        if order_id in self._owed.cancels and order_id not in self._cancelling:
            self._owed.cancels.discard(order_id)
            self._cancel_soon(order_id)  # a cancel that waited for this reply
        # A stream does not always push the first states; ask once.
        await self.refresh(order_id)

    def _cancel_soon(self, order_id: OrderId) -> None:
        if order_id in self._cancelling:
            return  # one cancel at a time
        self._cancelling.add(order_id)
        self._spawn(self._cancel(order_id), f"{self.name}-cancel-{order_id}")

    # -- holding ---------------------------------------------------------------------------------

    def _hold(self, order_id: OrderId, action: str, *, since_ns: int | None = None) -> None:
        self._held.hold(order_id, action, self._clock.time_ns() if since_ns is None else since_ns)
        self.stats.held += 1
        what = "order" if action == "place" else "cancel of"
        self._say(
            Severity.INFO,
            f"{what} {order_id} held: {self.paused_reason}; it is sent after the next "
            f"{self.title} login",
        )

    def _release_held(self) -> None:
        released = self._held.release(
            self._orders,
            now_ns=self._clock.time_ns(),
            max_age_s=self.config.held_order_max_age_s,
            broker=self.title,
        )
        for cancelled in released.expired:
            self.stats.expired_held += 1
            self._emit(cancelled)
        for order_id in released.cancels:
            self._cancel_soon(order_id)
        for order_id in released.places:
            self.stats.released += 1
            self._spawn(self._place(order_id), f"{self.name}-place-{order_id}")

    # -- internals -------------------------------------------------------------------------------

    def _answered(self, tracked: Tracked) -> None:
        """The place was answered without an order id: a modify or cancel waiting for the id
        looks at the order now instead of waiting out ``ack_wait_s``."""
        tracked.acknowledged.set()

    def _task_failed(self, task: asyncio.Task[Any]) -> None:
        log.error("%s task %s failed", self.title, task.get_name(), exc_info=task.exception())
        self._say(
            Severity.ERROR, f"{self.title} adapter error in {task.get_name()}: {task.exception()}"
        )


def _no_orders(order_id: OrderId) -> Order | None:
    return None
