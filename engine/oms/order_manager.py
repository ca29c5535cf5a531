"""The order manager: the only place orders change.

Every request passes the gate; every event from a broker is checked against the order's status
table, priced (fills get their charges), applied, written to the journal, and only then published.
The applying, journaling and the restart are the ledger's (``engine.oms.order_ledger``, which the
manager extends); the commands are here.

Work is done in units (``engine.oms.journal_unit``): one command (submit, modify, cancel) or one
broker callback, with everything the broker reports synchronously while it runs (a paper
acknowledgement and its fills), is published only once written. A new order's own row is written
before it is sent or queued: an order the journal cannot record is refused (DENIED, check
``journal``) and sent nowhere, so no order executes after the trader was told it was refused.
A cancel or modification handed to a venue in this process is journaled before it is answered
and carried out at a restart (``engine.oms.venue_requests``).

The risk gate (``engine.risk.gate``) decides every new order and modification; its decisions are
journaled in the same units (a refused order as ``order_denied`` with the check that refused it,
a refused modification as ``risk_denied``, a queued order refused before it is sent as
``risk_denied`` with action ``send``). What the gate allows goes out through the order-rate
throttle: above the rate an order is held in a FIFO queue (journaled ``order_queued``, visible as
PENDING SUBMIT) and sent in a later second by ``release_queued``, or refused if the account says
so. A queued order is decided again as it is released (and by ``recheck_queued`` when the limits
change); one the gate now refuses is cancelled with its reason, never sent. Nothing is dropped: a
queued order is either sent, cancelled, or expired at a restart, each with an event. The
manager also keeps ``exposure`` (positions and what open orders could add) current for the gate,
so no check scans the order book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from time import perf_counter_ns
from typing import Protocol, runtime_checkable

from engine.brokers.base import Broker
from engine.core.bus import EventBus
from engine.core.clock import Clock, ist_day_number
from engine.core.timing import Timing
from engine.domain.events import (
    EngineMessage,
    OrderDenied,
    OrderStatusChanged,
    OrderSubmitted,
    RiskDenied,
    Severity,
)
from engine.domain.ids import IdFactory, InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderStatus, OrderType, Product, Side
from engine.domain.origin import OrderSource
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.oms.charging import ChargeModel
from engine.oms.exposure import Exposure
from engine.oms.gate_port import Decision, Gate
from engine.oms.order_ledger import OrderLedger
from engine.oms.outcome import REPLACED_BY_SQUARE_OFF, Outcome
from engine.oms.throttle_queue import ThrottleQueue
from engine.store.journal import Journal

log = logging.getLogger(__name__)

_CANCELLED_WAITING = "cancelled before it was sent (it was queued by the order-rate throttle)"
_REFUSED_WAITING = (
    "not sent: it was queued by the order-rate throttle and no longer passes the risk limits"
)


def _replaced(cancelled: Outcome) -> Outcome:
    """A cancel of an order a square-off replaces, saying so."""
    said = REPLACED_BY_SQUARE_OFF
    return replace(cancelled, note=f"{said}; {cancelled.note}" if cancelled.note else said)


@runtime_checkable
class RefusesModifies(Protocol):
    """A broker that cannot send a modification at times (a live broker while its session has
    ended: it holds places and cancels, never modifications)."""

    def modify_refusal(self, order_id: OrderId) -> str:
        """Why a modify of the order cannot be sent now ('' when it can)."""
        ...


class OrderManager(OrderLedger):
    """The ledger with the commands: submit, modify, cancel, square off."""

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
        quotes: Callable[[InstrumentToken], Tick | None] | None = None,
    ) -> None:
        super().__init__(
            bus=bus,
            clock=clock,
            journal=journal,
            broker=broker,
            instruments=instruments,
            positions=positions,
            charge_model=charge_model,
            exposure=gate.exposure if gate.exposure is not None else Exposure(lambda _t: None),
        )
        self._quote = quotes
        """The latest tick of an instrument: an order's arrival price is read from it."""
        self._gate = gate
        self._ids = ids or IdFactory("D")
        self._queue = ThrottleQueue(gate, clock)
        self.gate_timing = Timing()
        """How long the risk gate takes to decide each new order."""
        self.queue_listener: Callable[[], None] | None = None
        """Called when an order is queued by the throttle (the runtime wakes its pump)."""
        self.sent_to_broker = 0
        """Orders handed to the broker since start (not modifications or cancels)."""

    # -- commands ----------------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Outcome:
        if self._queue:
            self.release_queued()  # orders already waiting go first
        order_id = self._ids.next_order_id()
        asked = request
        if self.halted_reason:
            decision = Decision(None, self.halted_reason, "journal")
        else:
            started = perf_counter_ns()
            decision = self._gate.decide(request)
            self.gate_timing.add(perf_counter_ns() - started)
        with self._journal_unit.unit():
            if not decision.allowed:
                return self._deny(order_id, request, decision.check, decision.reason)
            assert decision.request is not None
            request = decision.request
            if decision.slices:
                sliced = self._submit_slices(order_id, request, decision)
                if sliced.check == "journal":
                    self._gate.forget(asked)  # never sent: placing it again is no duplicate
                return sliced
            throttle = self._gate.throttle
            if throttle is not None and not self._gate.throttle_queues and self._queue.full_now():
                self._gate.forget(asked)
                return self._deny(
                    order_id,
                    request,
                    "order_rate",
                    f"order rate: {throttle.describe()} already sent; try again in a moment",
                )
            arrival = self._arrival(request.token)
            order = self._create(OrderSubmitted(order_id, self._clock.time_ns(), request, arrival))
            note = decision.note
            if note:
                self._tell(Severity.INFO, f"order {order_id}: {note}")
            refused = self._dispatch(order)
            if refused is not None:
                if refused.check == "journal":
                    self._gate.forget(asked)  # never sent: placing it again is no duplicate
                return refused
            if order_id in self._queue:
                note = (f"{note}; " if note else "") + "queued by the order-rate throttle"
        return Outcome(True, order_id, note=note)

    def _submit_slices(self, parent: OrderId, request: OrderRequest, decision: Decision) -> Outcome:
        """Send the slices of an order above the freeze quantity, the first under the parent's
        id. Each keeps the tag it was asked under (a portfolio leg's, a script's client id), by
        which its owner knows it; an untagged order's slices are tagged with the parent's id."""
        children: list[OrderId] = []
        arrival = self._arrival(request.token)
        note, unsent = decision.note, 0
        for quantity in decision.slices:
            if self.halted_reason:  # the journal stopped taking writes: no more slices are made
                unsent += 1
                continue
            child_id = parent if not children else self._ids.next_order_id()
            child = replace(request, quantity=quantity, tag=request.tag or parent)
            order = self._create(OrderSubmitted(child_id, self._clock.time_ns(), child, arrival))
            children.append(child_id)
            refused = self._dispatch(order, force_queue=False)
            if refused is not None and refused.check == "journal":
                if len(children) == 1:
                    return refused  # not one slice sent
                unsent += 1
        if unsent:
            note += f"; {unsent} of {len(decision.slices)} slices not sent: {self.halted_reason}"
        self._tell(Severity.INFO, f"order {parent}: {note}")
        return Outcome(True, parent, note=note, children=tuple(children))

    def _arrival(self, token: InstrumentToken) -> Decimal | None:
        """The mid of the instrument's touch (its last price without a two-sided quote), paise;
        None without a price, or with only an earlier IST day's (an order before today's first
        tick would be measured against the overnight gap)."""
        tick = None if self._quote is None else self._quote(token)
        if tick is None or ist_day_number(tick.ts_ns) != ist_day_number(self._clock.time_ns()):
            return None
        if tick.bid > 0 and tick.ask > 0:
            return Decimal(tick.bid + tick.ask) / 2
        return Decimal(tick.ltp) if tick.ltp > 0 else None

    def deny_input(self, reason: str, check: str = "input", asked: str = "") -> Outcome:
        """Refuse an order whose input was not a valid order at all (checked at the edge): it is
        journaled as a denial carrying the reason and what was asked quoted, text that always
        encodes."""
        with self._journal_unit.unit():
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
        self._journal_unit.stage(denied, denied, message)
        return Outcome(False, order_id, reason, check=check)

    def _dispatch(self, order: Order, *, force_queue: bool = False) -> Outcome | None:
        """Send an order now if the throttle allows, else queue it; an Outcome if it failed.
        Its row is written first: one the journal cannot take is refused, never sent."""
        if not self._journal_unit.write_ahead():
            reason = f"not sent: {self.halted_reason}"
            now = self._clock.time_ns()
            self._record(OrderDenied(order.order_id, now, reason, order.request(), "journal"))
            self._tell(Severity.WARNING, f"order {order.order_id} refused (journal): {reason}")
            return Outcome(False, order.order_id, reason, check="journal")
        if self._queue.may_send_now(force_queue=force_queue):
            return self._send(order)
        was_empty = not self._queue
        queued = self._queue.hold(order.order_id, closing=order.square_off)
        self._journal_unit.stage(queued, queued)
        throttle = self._gate.throttle
        assert throttle is not None
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
            self._journal_unit.commit()
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
        """When the queue can next move (epoch ns), or None when it is empty; while the journal
        cannot write, no sooner than a second from now (the retry's beat)."""
        due = self._queue.next_release_ns()
        if due is not None and self.halted_reason:
            return max(due, self._clock.time_ns() + 1_000_000_000)
        return due

    def release_queued(self) -> int:
        """Send queued orders, oldest first, as far as the throttle allows now; how many. Each
        is decided again first: one the limits in force now refuse is cancelled, not sent.
        While the journal cannot write, they wait (order entry is paused)."""
        if not self._queue or self.halted_reason:
            return 0
        with self._journal_unit.unit():
            released, refused = self._queue.release(self.orders.__getitem__)
            self._refuse_queued(refused)
            for order in released:
                self._send(order)
        return len(released)

    def recheck_queued(self) -> int:
        """Decide every queued order again (the limits changed) and cancel those refused now,
        each with the gate's reason; how many were cancelled."""
        if not self._queue:
            return 0
        with self._journal_unit.unit():
            refused = self._queue.recheck(self.orders.__getitem__)
            self._refuse_queued(refused)
        return len(refused)

    def _refuse_queued(self, refused: list[tuple[Order, Decision]]) -> None:
        for order, decision in refused:
            now = self._clock.time_ns()
            denied = RiskDenied(order.order_id, now, decision.check, decision.reason, "send")
            self._journal_unit.stage(denied, denied)
            why = f"{_REFUSED_WAITING}: {decision.reason}"
            self._record(OrderStatusChanged(order.order_id, now, OrderStatus.CANCELLED, why))
            self._tell(Severity.WARNING, f"order {order.order_id} {why}", source="risk")

    def modify(self, order_id: OrderId, change: Modification) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        if order_id in self.other_desks:
            return Outcome(False, order_id, self._held_elsewhere(order_id, "modify"))
        if busy := self._requests.modify_refusal(order):
            return Outcome(False, order_id, busy, check="pending")
        broker = self._broker
        if isinstance(broker, RefusesModifies) and (paused := broker.modify_refusal(order_id)):
            return Outcome(False, order_id, paused, check="broker_session")
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
        with self._journal_unit.unit():
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
                self._journal_unit.stage(denied, denied, message)
                return Outcome(False, order_id, decision.reason, check=decision.check)
            change = decision.change or change
            answered = len(order.events)
            self._broker.modify(order, change)
            self._requests.modify_asked(order, change, answered)
        return Outcome(True, order_id)

    def cancel(self, order_id: OrderId) -> Outcome:
        order = self.orders.get(order_id)
        if order is None:
            return Outcome(False, order_id, f"no order {order_id}")
        if not order.is_open:
            return Outcome(False, order_id, f"order {order_id} is {order.status}")
        if order_id in self.other_desks:
            return Outcome(False, order_id, self._held_elsewhere(order_id, "cancel"))
        if order_id in self._queue:
            self._queue.remove(order_id)
            self._cancel_unsent([order], lambda _order: _CANCELLED_WAITING)
            return Outcome(True, order_id)
        # A live broker's order still PENDING SUBMIT (its place on its way) is cancelled too:
        # the adapter waits for the broker's order id, and keeps the cancel until the broker
        # shows the order or it is settled (refused, not placed).
        if self._requests.cancelling(order):
            return Outcome(True, order_id, note="a cancel is already on its way")
        note = ""
        if self.halted_reason:
            if self._broker.capabilities.in_process:
                # The venue dies with the desk: a cancel the journal cannot record would be
                # undone by a crash. Nothing fills while the journal is paused, so nothing is
                # lost by asking again once it writes.
                return Outcome(
                    False,
                    order_id,
                    f"{self.halted_reason}. Nothing fills at the paper venue meanwhile: cancel "
                    f"order {order_id} again once the journal writes",
                    check="journal",
                )
            note = (
                "sent to the broker; the journal records it once it writes again (after a "
                "restart the broker's book says what became of the order)"
            )
        with self._journal_unit.unit():
            answered = len(order.events)
            self._broker.cancel(order)
            self._requests.cancel_asked(order, answered)
        return Outcome(True, order_id, note=note)

    def cancel_all(self) -> list[Outcome]:
        # Queued orders first: nothing held back may slip out while the rest are cancelled.
        queued = [self.cancel(order_id) for order_id in list(self._queue)]
        return queued + [self.cancel(order.order_id) for order in self.open_orders()]

    def square_off_all(self, source: OrderSource = OrderSource.MANUAL) -> list[Outcome]:
        """Close every open position with MARKET orders (protected by the gate), sliced at the
        freeze quantity."""
        outcomes: list[Outcome] = []
        with self._journal_unit.unit():
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
        # Plain orders working to close it would turn the position over once it is flat: they
        # are cancelled first. A strategy's exits are its own (it ends them as the position
        # closes), and a square-off already on its way covers its part: asked twice (two
        # clicks, two confirmations), the desk closes the position once.
        working = [o for o in self.orders.values() if o.is_open and o.token == token]
        working = [o for o in working if o.product is product and o.side is side]
        outcomes = [
            _replaced(self.cancel(o.order_id)) for o in working if not (o.square_off or o.strategy)
        ]
        closing = sum(o.pending_quantity for o in working if o.square_off)
        remaining = abs(position.net_quantity) - closing
        largest = instrument.max_order_quantity() or max(remaining, 1)
        count = -(-remaining // largest)
        for number in range(1, count + 1):  # slices told apart by their tags, never duplicates
            quantity = min(remaining, largest)
            remaining -= quantity
            request = OrderRequest(
                token, side, quantity, OrderType.MARKET, product, source=source, square_off=True,
                tag=f"square-off {number}/{count}" if count > 1 else "",
            )  # fmt: skip
            outcomes.append(self.submit(request))
        return outcomes

    # -- internals ---------------------------------------------------------------------------------

    def _held_elsewhere(self, order_id: OrderId, action: str) -> str:
        return (
            f"order {order_id} was placed by {self.other_desks[order_id]}, which is open on this "
            f"book and works it: {action} it there"
        )
