"""The order manager: the only place orders change.

Every request passes the gate; every event from a broker is checked against the order's status
table, priced (fills get their charges), applied, written to the journal, and only then published.

Work is done in units: one command (submit, modify, cancel) or one broker callback, including
everything the broker reports synchronously while it runs (a paper acknowledgement and its fills).
The unit's events are committed to the journal in one transaction when the unit ends, and published
only after that commit. A crash before the commit loses nothing anyone was told about; a journal
that refuses the write halts order entry, because nothing could be promised durable any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from engine.brokers.base import Broker, Modification
from engine.core.bus import EventBus
from engine.core.clock import Clock, ist_date_of
from engine.costs import Charges
from engine.domain.events import (
    EngineMessage,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    Severity,
    order_event_from_journal,
)
from engine.domain.ids import IdFactory, InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import OrderRequest, OrderStatus
from engine.domain.positions import Position, PositionBook
from engine.risk.gate import OrderGate
from engine.store import JournalWriteError, NewJournalEntry
from engine.store.journal import Journal

log = logging.getLogger(__name__)

ChargeModel = Callable[[Instrument, OrderFilled, date, Decimal], Charges]
"""(instrument, fill, trade date, brokerage already paid by this order) -> charges of the fill."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a command: accepted, or refused with a reason the trader can read."""

    ok: bool
    order_id: OrderId | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class OrderManager:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        journal: Journal,
        broker: Broker,
        gate: OrderGate,
        instruments: Callable[[InstrumentToken], Instrument | None],
        positions: PositionBook,
        charge_model: ChargeModel,
        ids: IdFactory | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._journal = journal
        self._broker = broker
        self._gate = gate
        self._instruments = instruments
        self._charge_model = charge_model
        self._ids = ids or IdFactory("D")
        self.positions = positions
        self.orders: dict[OrderId, Order] = {}
        self.fills: list[OrderFilled] = []
        self._brokerage_paid: dict[OrderId, Decimal] = {}
        self._depth = 0
        self._staged_rows: list[OrderEvent] = []
        self._staged_events: list[object] = []
        self.halted_reason = ""
        """Set when the journal refused a write: order entry stops until restart."""
        broker.bind(self.on_broker_event)

    # -- commands ----------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Outcome:
        order_id = self._ids.next_order_id()
        reason = self.halted_reason or self._gate.check(request)
        with self._unit():
            if reason:
                denied = OrderDenied(order_id, self._clock.time_ns(), reason, request)
                self._stage(denied, denied)
                return Outcome(False, order_id, reason)
            submitted = OrderSubmitted(order_id, self._clock.time_ns(), request)
            order = self._create(submitted)
            if not self._broker.capabilities.in_process:
                # An outside broker may act on the order at once: it must be durable first, so
                # that after a crash reconciliation finds our tag in the journal.
                self._commit()
            try:
                self._broker.submit(order)
            except Exception as exc:
                log.exception("broker %s failed to take order %s", self._broker.name, order_id)
                self._record(
                    OrderStatusChanged(
                        order_id,
                        self._clock.time_ns(),
                        OrderStatus.REJECTED,
                        f"broker error: {exc}",
                    )
                )
                return Outcome(False, order_id, f"broker error: {exc}")
        if self.halted_reason:
            return Outcome(False, order_id, self.halted_reason)
        return Outcome(True, order_id)

    def modify(self, order_id: OrderId, change: Modification) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        reason = self.halted_reason or self._gate.check_modify(order, change)
        if reason:
            self._tell(Severity.WARNING, f"modify {order_id} refused: {reason}")
            return Outcome(False, order_id, reason)
        with self._unit():
            self._broker.modify(order, change)
        return Outcome(True, order_id)

    def cancel(self, order_id: OrderId) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        if not order.is_open:
            return Outcome(False, order_id, f"order {order_id} is {order.status}")
        if order.status is OrderStatus.PENDING_SUBMIT and self._broker.name != "paper":
            return Outcome(False, order_id, f"order {order_id} is not yet acknowledged")
        with self._unit():
            self._broker.cancel(order)
        return Outcome(True, order_id)

    def cancel_all(self) -> list[Outcome]:
        return [self.cancel(order.order_id) for order in self.open_orders()]

    # -- broker events -----------------------------------------------------------------------------

    def on_broker_event(self, event: OrderEvent) -> None:
        with self._unit():
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
                event = self._priced(order, event)
            self._record(event)

    # -- reading -----------------------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open]

    # -- restart -----------------------------------------------------------------------------------

    def restore(
        self,
        entries: Iterable[tuple[str, str | None, int, dict[str, Any]]],
        today: date | None = None,
    ) -> int:
        """Rebuild orders, fills and positions from journal entries (kind, order_id, ts, payload).

        Returns how many events were applied. Nothing is published and nothing is re-journaled.
        DAY orders still open from before ``today`` are then expired (journaled as cancelled).
        """
        applied = 0
        for kind, order_id, ts_ns, payload in entries:
            if order_id is None:
                continue
            event = order_event_from_journal(kind, order_id, ts_ns, payload)
            if isinstance(event, OrderSubmitted):
                self.orders[event.order_id] = Order(event)
                applied += 1
                continue
            order = self.orders.get(event.order_id)
            if order is None:
                continue  # a denial of a request that never became an order
            if order.apply(event):
                applied += 1
                if isinstance(event, OrderFilled):
                    self._book_fill(event)
        if today is not None:
            self.expire_day_orders(today)
        if today is not None:
            self.expire_day_orders(today)
        self._broker.restore(self.open_orders())
        return applied

    def expire_day_orders(self, today: date) -> int:
        """Cancel DAY orders left open from an earlier session (the exchange purged them at the
        close); returns how many."""
        stale = [o for o in self.open_orders() if ist_date_of(o.created_ns).date() < today]
        with self._unit():
            for order in stale:
                self._record(
                    OrderStatusChanged(
                        order.order_id,
                        self._clock.time_ns(),
                        OrderStatus.CANCELLED,
                        f"expired at the close of {ist_date_of(order.created_ns).date():%d %b %Y}",
                    )
                )
        return len(stale)

    # -- internals ---------------------------------------------------------------------------------

    @contextmanager
    def _unit(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._commit()

    def _stage(self, event: OrderEvent, *published: object) -> None:
        self._staged_rows.append(event)
        self._staged_events.extend(published)
        if self._depth == 0:
            self._commit()

    def _commit(self) -> None:
        rows, events = self._staged_rows, self._staged_events
        if not rows and not events:
            return
        self._staged_rows, self._staged_events = [], []
        try:
            if rows:
                self._journal.append_many(
                    [NewJournalEntry(e.kind, e.to_payload(), e.order_id, e.ts_ns) for e in rows]
                )
        except (JournalWriteError, TypeError, ValueError) as exc:
            self.halted_reason = f"order entry halted: the journal refused a write ({exc})"
            log.critical("%s; %d events not published", self.halted_reason, len(events))
            self._bus.publish(
                EngineMessage(self._clock.time_ns(), Severity.ERROR, self.halted_reason, "oms")
            )
            return
        publish = self._bus.publish
        for event in events:
            publish(event)

    def _create(self, submitted: OrderSubmitted) -> Order:
        order = self.orders[submitted.order_id] = Order(submitted)
        self._stage(submitted, submitted)
        return order

    def _record(self, event: OrderEvent) -> bool:
        order = self.orders[event.order_id]
        reason = order.refusal(event)
        if reason is not None:
            if reason != "duplicate":
                log.warning("order %s: refused %s: %s", order.order_id, event.kind, reason)
            return False
        order.apply(event)
        if isinstance(event, OrderFilled):
            position = self._book_fill(event)
            self._stage(
                event,
                event,
                PositionChanged(event.ts_ns, event.token, event.product, position.net_quantity),
            )
        else:
            self._stage(event, event)
        return True

    def _book_fill(self, fill: OrderFilled) -> Position:
        self.fills.append(fill)
        if fill.charges is not None:
            paid = self._brokerage_paid.get(fill.order_id, Decimal(0))
            self._brokerage_paid[fill.order_id] = paid + fill.charges.brokerage
        return self.positions.apply(fill)

    def _priced(self, order: Order, fill: OrderFilled) -> OrderFilled:
        instrument = self._instruments(fill.token)
        if instrument is None:
            log.error(
                "no instrument %s to price fill %s; charges left at zero", fill.token, fill.trade_id
            )
            return replace(fill, charges=Charges())
        paid = self._brokerage_paid.get(order.order_id, Decimal(0))
        trade_date = ist_date_of(fill.ts_ns).date()
        return replace(fill, charges=self._charge_model(instrument, fill, trade_date, paid))

    def _tell(self, severity: Severity, text: str) -> None:
        self._bus.publish(EngineMessage(self._clock.time_ns(), severity, text, source="oms"))
