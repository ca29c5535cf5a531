"""The order ledger: orders, fills and positions as the journal has them.

Every change to an order is applied here, and only here: an event (the desk's own, or a broker's
report) is checked against the order's status table, applied, staged in the journal unit
(``engine.oms.journal_unit``) and published once written. While the journal cannot write, broker
reports wait, in order, and are applied once it writes again: nothing becomes state before its
journal row. At a restart the ledger is rebuilt from the journal (``restore``).

The order manager (``engine.oms.order_manager``) is the ledger with the commands: it decides
(through the risk gate) what is sent and records what happens through the ledger.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date

from engine.brokers.base import Broker
from engine.core.bus import EventBus
from engine.core.clock import Clock, ist_date_of
from engine.domain.events import (
    EngineMessage,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    Severity,
)
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.order_replay import JournalRow, replay_orders
from engine.domain.orders import OrderStatus
from engine.domain.positions import Position, PositionBook
from engine.oms.charging import ChargeModel, FillPricer
from engine.oms.exposure import Exposure
from engine.oms.journal_unit import Journaled, JournalUnit
from engine.oms.venue_requests import VenueRequests
from engine.store.journal import Journal

log = logging.getLogger(__name__)

_NEVER_SENT = "not sent: it was queued by the order-rate throttle when the engine stopped"


class OrderLedger:
    """Orders, fills and positions, changed only by journaled events."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        journal: Journal,
        broker: Broker,
        instruments: Callable[[InstrumentToken], Instrument | None],
        positions: PositionBook,
        charge_model: ChargeModel,
        exposure: Exposure,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._broker = broker
        self._instruments = instruments
        self._pricer = FillPricer(charge_model, instruments)
        self.positions = positions
        self.orders: dict[OrderId, Order] = {}
        self.fills: list[OrderFilled] = []
        self.other_desks: dict[OrderId, str] = {}
        """Open orders of another desk on a shared book, with that desk: shown, never worked."""
        self._journal_unit = JournalUnit(
            journal=journal, bus=bus, clock=clock, writable=self._journal_writable
        )
        self._inbound: deque[OrderEvent] = deque()
        """Broker reports that arrived while the journal could not write: applied, in order, once
        it writes again (nothing becomes state before its journal row)."""
        self.journal_listener: Callable[[bool], None] | None = None
        """Told False when the journal stops taking writes and True when it takes them again (the
        runtime pauses and resumes the paper venue's matching)."""
        self.exposure = exposure
        """Positions and what open orders could add, kept current for the risk gate."""
        self._requests = VenueRequests(
            in_process=broker.capabilities.in_process,
            clock=clock,
            record=self._record,
            stage=self._journal_unit.stage,
        )
        broker.bind(self.on_broker_event)

    # -- the journal -------------------------------------------------------------------------

    def record(self, event: Journaled, *published: object) -> None:
        """Journal a risk decision and publish it (and ``published``) once committed."""
        with self._journal_unit.unit():
            self._journal_unit.stage(event, event, *published)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Group several commands into one journal write (the kill switch uses this)."""
        with self._journal_unit.unit():
            yield

    @property
    def halted_reason(self) -> str:
        """Why order entry is stopped (the journal refused a write); '' while it runs."""
        return self._journal_unit.halted_reason

    @property
    def first_refusal(self) -> tuple[int, str] | None:
        """When the journal first refused a write (ns) and its word on why (``database or disk
        is full``); None while it has taken every one."""
        return self._journal_unit.first_refusal

    @property
    def journal_waiting(self) -> int:
        """Journal rows held because the journal could not write them (0 when all is well)."""
        return self._journal_unit.waiting

    def retry_journal(self) -> bool:
        """Write the held rows if the journal takes them now, publish what they recorded and apply
        the broker reports that waited; True when nothing is held any more."""
        waiting = len(self._inbound)
        if not self._journal_unit.retry(
            then=f" and {waiting} broker reports applied" if waiting else ""
        ):
            return False
        while self._inbound and not self._journal_unit.waiting:
            self.on_broker_event(self._inbound.popleft())
        return not self._journal_unit.waiting

    def _journal_writable(self, writes: bool) -> None:
        if self.journal_listener is not None:
            self.journal_listener(writes)

    # -- broker events -----------------------------------------------------------------------

    def on_broker_event(self, event: OrderEvent) -> None:
        if self._journal_unit.waiting:
            self._inbound.append(event)
            return
        with self._journal_unit.unit():
            if isinstance(event, OrderSubmitted):
                if event.order_id not in self.orders:
                    self._create(event)
                return
            order = self.orders.get(event.order_id)
            if order is None:
                log.error("%s for unknown order %s", type(event).__name__, event.order_id)
                self._tell(
                    Severity.ERROR,
                    f"broker reported {event.kind} for unknown order {event.order_id}",
                )
                return
            if isinstance(event, OrderFilled) and event.charges is None:
                event = self._pricer.priced(event)
            before = order.status
            if self._record(event):
                self._requests.reported(order, before, event)

    # -- reading -----------------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        """The open orders this desk works (not those another desk on the book holds)."""
        held = self.other_desks
        return [o for o in self.orders.values() if o.is_open and o.order_id not in held]

    # -- restart -----------------------------------------------------------------------------

    def restore(
        self,
        entries: Iterable[JournalRow],
        today: date | None = None,
        other_desks: Mapping[str, str] | None = None,
    ) -> int:
        """Rebuild orders, fills and positions from journal entries (kind, order_id, ts, payload).

        Returns how many events were applied. Nothing is published and nothing is re-journaled.
        DAY orders still open from before ``today`` are then expired (journaled as cancelled).
        ``other_desks`` (order id -> the desk that holds it) are open orders of another desk on a
        shared book: shown, never worked here (``engine.store.desks``). A cancel or modification
        an in-process venue had not carried out is carried out (``engine.oms.venue_requests``).
        """
        entries = list(entries)
        replayed = replay_orders(entries)
        self.orders.update(replayed.orders)
        for fill in replayed.fills:
            self._book_fill(fill)
            self._pricer.restored(fill)
        applied, queued = replayed.applied, replayed.queued
        self.other_desks = {
            OrderId(order_id): desk
            for order_id, desk in (other_desks or {}).items()
            if (order := self.orders.get(OrderId(order_id))) is not None and order.is_open
        }
        for order in self.open_orders():
            self.exposure.working(order.token, order.product, order.side, order.pending_quantity)
            self.exposure.open_orders += 1
        waiting = OrderStatus.PENDING_SUBMIT
        never_sent = [o for o in self.open_orders() if o.order_id in queued and o.status is waiting]
        self._cancel_unsent(never_sent, lambda _order: _NEVER_SENT)
        if today is not None:
            self.expire_day_orders(today)
        self._broker.restore(self.open_orders())
        self._requests.carry_out(self._broker, entries, self.open_orders())
        return applied

    def expire_day_orders(self, today: date) -> int:
        """Cancel DAY orders left open from an earlier session (the exchange purged them at the
        close); returns how many."""
        stale = [o for o in self.open_orders() if ist_date_of(o.created_ns).date() < today]
        self._cancel_unsent(
            stale, lambda o: f"expired at the close of {ist_date_of(o.created_ns).date():%d %b %Y}"
        )
        return len(stale)

    def _cancel_unsent(self, orders: list[Order], why: Callable[[Order], str]) -> None:
        """Cancel orders the exchange no longer holds (or never got), journaled with why."""
        with self._journal_unit.unit():
            for order in orders:
                self._record(
                    OrderStatusChanged(
                        order.order_id, self._clock.time_ns(), OrderStatus.CANCELLED, why(order)
                    )
                )

    # -- internals ---------------------------------------------------------------------------

    def _create(self, submitted: OrderSubmitted) -> Order:
        order = self.orders[submitted.order_id] = Order(submitted)
        self.exposure.open_orders += 1
        self.exposure.working(order.token, order.product, order.side, order.quantity)
        self._journal_unit.stage(submitted, submitted)
        return order

    def _record(self, event: OrderEvent) -> bool:
        order = self.orders[event.order_id]
        reason = order.refusal(event)
        if reason is not None:
            if reason != "duplicate":
                log.warning("order %s: refused %s: %s", order.order_id, event.kind, reason)
            return False
        pending, was_open = order.pending_quantity, order.is_open
        order.apply(event)
        self.exposure.working(
            order.token, order.product, order.side, order.pending_quantity - pending
        )
        if was_open and not order.is_open:
            self.exposure.open_orders -= 1
        if isinstance(event, OrderFilled):
            position = self._book_fill(event)
            self._pricer.booked(event)
            self._journal_unit.stage(
                event,
                event,
                PositionChanged(event.ts_ns, event.token, event.product, position.net_quantity),
            )
        else:
            self._journal_unit.stage(event, event)
        return True

    def _book_fill(self, fill: OrderFilled) -> Position:
        self.fills.append(fill)
        self.exposure.filled(fill.token, fill.product, fill.side, fill.quantity)
        return self.positions.apply(fill)

    def _tell(self, severity: Severity, text: str, source: str = "oms") -> None:
        message = EngineMessage(self._clock.time_ns(), severity, text, source=source)
        self._journal_unit.after(message)  # after the unit's events, in order
