"""The order manager: the only place orders change.

Every request passes the gate; every event from a broker is checked against the order's status
table, priced (fills get their charges), applied, written to the journal, and only then published.

Work is done in units: one command (submit, modify, cancel) or one broker callback, including
everything the broker reports synchronously while it runs (a paper acknowledgement and its fills).
The unit's events are committed to the journal in one transaction when the unit ends, and published
only after that commit. A crash before the commit loses nothing anyone was told about; a journal
that refuses the write halts order entry, because nothing could be promised durable any more.

The risk gate (``engine.risk.gate``) decides every new order and modification; its decisions are
journaled in the same units (a refused order as ``order_denied`` with the check that refused it,
a refused modification as ``risk_denied``). What the gate allows goes out through the order-rate
throttle: above the rate an order is held in a FIFO queue (journaled ``order_queued``, visible as
PENDING SUBMIT) and sent in a later second by ``release_queued``, or refused if the account says
so. Nothing is dropped: a queued order is either sent, cancelled, or expired at a restart, each
with an event. The manager also keeps ``exposure`` (positions and what open orders could add)
current for the gate, so no check scans the order book.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from engine.brokers.base import Broker
from engine.core.bus import EventBus
from engine.core.clock import Clock, ist_date_of
from engine.domain.charges import Charges
from engine.domain.events import (
    ORDER_EVENT_TYPES,
    EngineMessage,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderQueued,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    Severity,
    order_event_from_journal,
)
from engine.domain.ids import IdFactory, InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderStatus, OrderType, Product, Side
from engine.domain.origin import OrderSource
from engine.domain.positions import Position, PositionBook
from engine.oms.exposure import Exposure
from engine.oms.gate_port import Decision, Gate
from engine.store import JournalWriteError, NewJournalEntry
from engine.store.journal import Journal

log = logging.getLogger(__name__)

ChargeModel = Callable[[Instrument, OrderFilled, date, Decimal], Charges]
"""(instrument, fill, trade date, brokerage already paid by this order) -> charges of the fill."""


class Journaled(Protocol):
    """Anything the journal takes: order events and risk decisions."""

    @property
    def kind(self) -> str: ...

    @property
    def order_id(self) -> str | None: ...

    @property
    def ts_ns(self) -> int: ...

    def to_payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a command: accepted, or refused with a reason the trader can read."""

    ok: bool
    order_id: OrderId | None = None
    reason: str = ""
    note: str = ""
    """What the gate did to an accepted order (market protection, slicing, queued)."""
    children: tuple[OrderId, ...] = ()
    """Every order made from the request when it was sliced at the freeze quantity."""
    check: str = ""
    """The gate's check that refused it, when refused."""

    def __bool__(self) -> bool:
        return self.ok


QueueListener = Callable[[], None]


class OrderManager:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        journal: Journal,
        broker: Broker,
        gate: Gate,
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
        self._staged_rows: list[Journaled] = []
        self._staged_events: list[object] = []
        self.halted_reason = ""
        """Why order entry is stopped (the journal refused a write); '' while it runs."""
        self._held_rows: list[Journaled] = []
        self._held_events: list[object] = []
        """A unit the journal could not write (a full disk, a lost connection): its rows are
        retried by ``retry_journal`` and its events published only once they are written."""
        self._inbound: deque[OrderEvent] = deque()
        """Broker reports that arrived while the journal could not write: applied, in order, once
        it writes again (nothing becomes state before its journal row)."""
        self.journal_listener: Callable[[bool], None] | None = None
        """Told False when the journal stops taking writes and True when it takes them again (the
        runtime pauses and resumes the paper venue's matching)."""
        self.exposure = gate.exposure if gate.exposure is not None else Exposure(_no_underlying)
        self._queue: deque[OrderId] = deque()
        self.queue_listener: QueueListener | None = None
        """Called when an order is queued by the throttle (the runtime wakes its pump)."""
        self.sent_to_broker = 0
        """Orders handed to the broker since start (not modifications or cancels)."""
        broker.bind(self.on_broker_event)

    # -- commands ----------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Outcome:
        if self._queue:
            self.release_queued()  # orders already waiting go first
        order_id = self._ids.next_order_id()
        asked = request
        if self.halted_reason:
            decision = Decision(None, self.halted_reason, "journal")
        else:
            decision = self._gate.decide(request)
        with self._unit():
            if not decision.allowed:
                return self._deny(order_id, request, decision.check, decision.reason)
            assert decision.request is not None
            request = decision.request
            if decision.slices:
                return self._submit_slices(order_id, request, decision)
            throttle = self._gate.throttle
            if (
                throttle is not None
                and not self._gate.throttle_queues
                and (self._queue or throttle.capacity(self._clock.time_ns()) <= 0)
            ):
                self._gate.forget(asked)
                return self._deny(
                    order_id,
                    request,
                    "order_rate",
                    f"order rate: {throttle.describe()} already sent; try again in a moment",
                )
            order = self._create(OrderSubmitted(order_id, self._clock.time_ns(), request))
            note = decision.note
            if note:
                self._tell(Severity.INFO, f"order {order_id}: {note}")
            refused = self._dispatch(order)
            if refused is not None:
                return refused
            if order_id in self._queue:
                note = (f"{note}; " if note else "") + "queued by the order-rate throttle"
        if self.halted_reason:
            return Outcome(False, order_id, self.halted_reason, check="journal")
        return Outcome(True, order_id, note=note)

    def _submit_slices(self, parent: OrderId, request: OrderRequest, decision: Decision) -> Outcome:
        children: list[OrderId] = []
        for quantity in decision.slices:
            child_id = parent if not children else self._ids.next_order_id()
            child = replace(request, quantity=quantity, tag=parent)
            order = self._create(OrderSubmitted(child_id, self._clock.time_ns(), child))
            children.append(child_id)
            self._dispatch(order, force_queue=False)
        self._tell(Severity.INFO, f"order {parent}: {decision.note}")
        return Outcome(True, parent, note=decision.note, children=tuple(children))

    def deny_input(self, reason: str, check: str = "input", asked: str = "") -> Outcome:
        """Refuse an order whose input was not a valid order at all (checked at the edge): it is
        journaled as a denial carrying the reason and what was asked quoted, text that always
        encodes."""
        with self._unit():
            return self._deny(self._ids.next_order_id(), None, check, reason, asked)

    def _deny(
        self,
        order_id: OrderId,
        request: OrderRequest | None,
        check: str,
        reason: str,
        asked: str = "",
    ) -> Outcome:
        denied = OrderDenied(order_id, self._clock.time_ns(), reason, request, check, asked)
        message = EngineMessage(
            denied.ts_ns, Severity.WARNING, f"order refused ({check}): {reason}", "risk"
        )
        self._stage(denied, denied, message)
        return Outcome(False, order_id, reason, check=check)

    def _dispatch(self, order: Order, *, force_queue: bool = False) -> Outcome | None:
        """Send an order now if the throttle allows, else queue it; an Outcome if it failed."""
        throttle = self._gate.throttle
        if throttle is None or (
            not force_queue and not self._queue and throttle.try_acquire(self._clock.time_ns())
        ):
            return self._send(order)
        was_empty = not self._queue
        self._queue.append(order.order_id)
        queued = OrderQueued(
            order.order_id,
            self._clock.time_ns(),
            f"order rate: {throttle.describe()}; sent in a later second",
            len(self._queue),
        )
        self._stage(queued, queued)
        if was_empty:
            self._tell(
                Severity.INFO,
                f"order-rate throttle: orders above {throttle.describe()} are queued",
                source="risk",
            )
        if self.queue_listener is not None:
            self.queue_listener()
        return None

    def _send(self, order: Order) -> Outcome | None:
        if not self._broker.capabilities.in_process:
            # An outside broker may act on the order at once: it must be durable first, so
            # that after a crash reconciliation finds our tag in the journal.
            self._commit()
        self.sent_to_broker += 1
        try:
            self._broker.submit(order)
        except Exception as exc:
            log.exception("broker %s failed to take order %s", self._broker.name, order.order_id)
            self._record(
                OrderStatusChanged(
                    order.order_id,
                    self._clock.time_ns(),
                    OrderStatus.REJECTED,
                    f"broker error: {exc}",
                )
            )
            return Outcome(False, order.order_id, f"broker error: {exc}", check="broker")
        return None

    # -- the throttle's queue ----------------------------------------------------------------------

    @property
    def queued(self) -> list[OrderId]:
        return list(self._queue)

    def next_release_ns(self) -> int | None:
        """When the queue can next move (epoch ns), or None when it is empty."""
        throttle = self._gate.throttle
        if not self._queue or throttle is None:
            return None
        return throttle.next_window_ns(self._clock.time_ns())

    def release_queued(self) -> int:
        """Send queued orders, oldest first, as far as the throttle allows now; how many."""
        throttle = self._gate.throttle
        if not self._queue or throttle is None:
            return 0
        sent = 0
        with self._unit():
            now = self._clock.time_ns()
            while self._queue and throttle.capacity(now) > 0:
                order = self.orders[self._queue.popleft()]
                if order.status is not OrderStatus.PENDING_SUBMIT:
                    continue
                throttle.try_acquire(now)
                self._send(order)
                sent += 1
        return sent

    def modify(self, order_id: OrderId, change: Modification) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        if order_id in self._queue:
            decision = Decision(
                None,
                f"order {order_id} is queued by the order-rate throttle and not yet sent; "
                f"cancel it and place it again",
                "order_rate",
            )
        elif self.halted_reason:
            decision = Decision(None, self.halted_reason, "journal")
        else:
            decision = self._gate.decide_modify(order, change)
        throttle = self._gate.throttle
        if (
            decision.allowed
            and throttle is not None
            and not throttle.try_acquire(self._clock.time_ns())
        ):
            decision = Decision(
                None,
                f"order rate: {throttle.describe()} already sent; modify again in a moment",
                "order_rate",
            )
        with self._unit():
            if not decision.allowed:
                denied = RiskDenied(
                    order_id, self._clock.time_ns(), decision.check, decision.reason
                )
                message = EngineMessage(
                    denied.ts_ns,
                    Severity.WARNING,
                    f"modify {order_id} refused: {decision.reason}",
                    "risk",
                )
                self._stage(denied, denied, message)
                return Outcome(False, order_id, decision.reason, check=decision.check)
            self._broker.modify(order, decision.change or change)
        return Outcome(True, order_id)

    def cancel(self, order_id: OrderId) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        if not order.is_open:
            return Outcome(False, order_id, f"order {order_id} is {order.status}")
        if order_id in self._queue:
            self._queue.remove(order_id)
            with self._unit():
                self._record(
                    OrderStatusChanged(
                        order_id,
                        self._clock.time_ns(),
                        OrderStatus.CANCELLED,
                        "cancelled before it was sent (it was queued by the order-rate throttle)",
                    )
                )
            return Outcome(True, order_id)
        if order.status is OrderStatus.PENDING_SUBMIT and self._broker.name != "paper":
            return Outcome(False, order_id, f"order {order_id} is not yet acknowledged")
        with self._unit():
            self._broker.cancel(order)
        return Outcome(True, order_id)

    def cancel_all(self) -> list[Outcome]:
        # Queued orders first: nothing held back may slip out while the rest are cancelled.
        queued = [self.cancel(order_id) for order_id in list(self._queue)]
        return queued + [self.cancel(order.order_id) for order in self.open_orders()]

    def square_off_all(self, source: OrderSource = OrderSource.MANUAL) -> list[Outcome]:
        """Close every open position with MARKET orders (protected by the gate), sliced at the
        freeze quantity."""
        outcomes: list[Outcome] = []
        with self._unit():
            for position in self.positions.open():
                outcomes += self.square_off(position.token, position.product, source=source)
        return outcomes

    def square_off(
        self, token: InstrumentToken, product: Product, *, source: OrderSource = OrderSource.MANUAL
    ) -> list[Outcome]:
        position = self.positions.get(token, product)
        if position is None or position.net_quantity == 0:
            return []
        instrument = self._instruments(token)
        if instrument is None:
            return [Outcome(False, None, f"cannot square off unknown instrument {token}")]
        side = Side.SELL if position.net_quantity > 0 else Side.BUY
        remaining = abs(position.net_quantity)
        largest = instrument.max_order_quantity() or remaining
        outcomes = []
        while remaining > 0:
            quantity = min(remaining, largest)
            remaining -= quantity
            request = OrderRequest(
                token, side, quantity, OrderType.MARKET, product, source=source, square_off=True
            )
            outcomes.append(self.submit(request))
        return outcomes

    def record(self, event: Journaled, *published: object) -> None:
        """Journal a risk decision and publish it (and ``published``) once committed."""
        with self._unit():
            self._stage(event, event, *published)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Group several commands into one journal write (the kill switch uses this)."""
        with self._unit():
            yield

    # -- broker events -----------------------------------------------------------------------------

    def on_broker_event(self, event: OrderEvent) -> None:
        if self._held_rows:
            self._inbound.append(event)
            return
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
        queued: set[str] = set()
        for kind, order_id, ts_ns, payload in entries:
            if order_id is None:
                continue
            if kind not in ORDER_EVENT_TYPES:
                if kind == OrderQueued.kind:
                    queued.add(order_id)
                continue  # a risk decision about an order: nothing to rebuild
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
                    learn = getattr(self._charge_model, "learn", None)
                    if learn is not None:  # a model with a memory of the day rebuilds it
                        learn(
                            self._instruments(event.token), event, ist_date_of(event.ts_ns).date()
                        )
        for order in self.open_orders():
            self.exposure.working(order.token, order.product, order.side, order.pending_quantity)
            self.exposure.open_orders += 1
        never_sent = [
            o
            for o in self.open_orders()
            if o.order_id in queued and o.status is OrderStatus.PENDING_SUBMIT
        ]
        with self._unit():
            for order in never_sent:
                self._record(
                    OrderStatusChanged(
                        order.order_id,
                        self._clock.time_ns(),
                        OrderStatus.CANCELLED,
                        "not sent: it was queued by the order-rate throttle when the engine stopped",
                    )
                )
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

    def _stage(self, event: Journaled, *published: object) -> None:
        self._staged_rows.append(event)
        self._staged_events.extend(published)
        if self._depth == 0:
            self._commit()

    def _commit(self) -> None:
        rows, events = self._staged_rows, self._staged_events
        if not rows and not events:
            return
        self._staged_rows, self._staged_events = [], []
        if self._held_rows:
            # Still behind on an earlier unit: this one waits behind it, in order.
            self._held_rows += rows
            self._held_events += events
            return
        try:
            if rows:
                self._write(rows)
        except JournalWriteError as exc:
            self._hold(rows, events, exc)
            return
        except (TypeError, ValueError) as exc:
            # A value the journal cannot hold is a defect, not a passing fault: stop for good.
            self.halted_reason = f"order entry halted: the journal refused a write ({exc})"
            log.critical("%s; %d events not published", self.halted_reason, len(events))
            self._bus.publish(
                EngineMessage(self._clock.time_ns(), Severity.ERROR, self.halted_reason, "oms")
            )
            return
        publish = self._bus.publish
        for event in events:
            publish(event)

    def _write(self, rows: list[Journaled]) -> None:
        """One unit's rows in one journal transaction (all or none)."""
        self._journal.append_many(
            [NewJournalEntry(e.kind, e.to_payload(), e.order_id, e.ts_ns) for e in rows]
        )

    def _hold(self, rows: list[Journaled], events: list[object], error: JournalWriteError) -> None:
        """The journal did not take a unit: keep it to retry, stop order entry and say so."""
        self._held_rows, self._held_events = rows, events
        cause = error.__cause__ or error
        self.halted_reason = (
            f"order entry paused: the journal cannot write ({cause}); it is retried every "
            "second and trading resumes by itself once it writes"
        )
        log.critical("%s; %d journal rows held", self.halted_reason, len(rows))
        self._bus.publish(
            EngineMessage(
                self._clock.time_ns(),
                Severity.ERROR,
                f"The journal cannot write ({cause}). Order entry and paper matching are paused "
                f"and {len(rows)} entries are held in memory; free disk space (or restore the "
                "database connection) and trading resumes by itself.",
                "oms",
            )
        )
        if self.journal_listener is not None:
            self.journal_listener(False)

    @property
    def journal_waiting(self) -> int:
        """Journal rows held because the journal could not write them (0 when all is well)."""
        return len(self._held_rows)

    def retry_journal(self) -> bool:
        """Write the held rows if the journal takes them now, publish what they recorded and apply
        the broker reports that waited; True when nothing is held any more."""
        if not self._held_rows:
            return True
        rows = self._held_rows
        try:
            self._write(rows)
        except JournalWriteError as exc:
            log.debug("journal still refuses writes: %s", exc)
            return False
        events, self._held_rows, self._held_events = self._held_events, [], []
        self.halted_reason = ""
        publish = self._bus.publish
        for event in events:
            publish(event)
        waiting = len(self._inbound)
        publish(
            EngineMessage(
                self._clock.time_ns(),
                Severity.INFO,
                f"The journal writes again: {len(rows)} held entries recorded"
                + (f" and {waiting} broker reports applied" if waiting else "")
                + "; order entry resumed.",
                "oms",
            )
        )
        if self.journal_listener is not None:
            self.journal_listener(True)
        while self._inbound and not self._held_rows:
            self.on_broker_event(self._inbound.popleft())
        return not self._held_rows

    def _create(self, submitted: OrderSubmitted) -> Order:
        order = self.orders[submitted.order_id] = Order(submitted)
        self.exposure.open_orders += 1
        self.exposure.working(order.token, order.product, order.side, order.quantity)
        self._stage(submitted, submitted)
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
        self.exposure.filled(fill.token, fill.product, fill.side, fill.quantity)
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

    def _tell(self, severity: Severity, text: str, source: str = "oms") -> None:
        message = EngineMessage(self._clock.time_ns(), severity, text, source=source)
        if self._depth:
            self._staged_events.append(message)  # after the unit's events, in order
        else:
            self._bus.publish(message)


def _no_underlying(token: InstrumentToken) -> str | None:
    return None
