"""Cancels and modifications a venue in this process (paper) has been asked for and has not yet
carried out: journaled when they are acknowledged, carried out at a restart.

A paper venue with latency acts on a cancel or a modify some time after the trader was told it
was taken. The venue lives and dies with the desk, so what it was asked must be in the journal
before that answer: a cancel puts the order in CANCEL PENDING, a modify journals what was asked
(``modify_requested``) and puts the order in MODIFY PENDING. The order's terms change only when the
venue reports it made the change (a fill at the old terms can still come first). A report that
overtakes a request (a stop's trigger reached, a fill) leaves the order pending until the venue
answers the request itself (``OrderStatusChanged.answers_modify``). After a crash
the restore carries each out once: the venue cancels an order restored in CANCEL PENDING instead
of putting it back to work, and makes the modification journaled for an order restored in MODIFY
PENDING (``CarriesOutModifications``); its report then ends the pending state, so a second restart
finds nothing left to do. One request at a time: another modification of an order whose last one
is on its way is refused, and a cancel already on its way is not sent twice.

A live broker (Kite, XTS) holds what it was asked itself; after a restart reconciliation reads it
there, so nothing here applies to one. Journals written before these rows existed have no pending
request, and load as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from engine.core.clock import Clock
from engine.domain.events import OrderEvent, OrderStatusChanged
from engine.domain.ids import OrderId
from engine.domain.order import Order
from engine.domain.order_replay import JournalRow
from engine.domain.orders import (
    LIVE_STATUSES,
    Modification,
    OrderStatus,
    OrderType,
    can_transition,
)
from engine.domain.values import Paise

log = logging.getLogger(__name__)

CANCEL_ASKED = "cancel requested"
MODIFY_ASKED = "modify requested"


@dataclass(frozen=True, slots=True)
class ModifyRequested:
    """A modification acknowledged to the trader and handed to a venue in this process; journaled
    (not published), read back at a restart while its order is still MODIFY PENDING."""

    kind: ClassVar[str] = "modify_requested"
    order_id: OrderId
    ts_ns: int
    change: Modification

    def to_payload(self) -> dict[str, Any]:
        change = self.change
        return {
            "quantity": change.quantity,
            "price": change.price,
            "trigger_price": change.trigger_price,
            "order_type": None if change.order_type is None else change.order_type.value,
        }


def modification_from(payload: Mapping[str, Any]) -> Modification | None:
    """The modification a ``modify_requested`` payload holds; None when it does not read."""
    try:
        order_type = payload.get("order_type")
        change = Modification(
            quantity=_whole(payload.get("quantity")),
            price=_paise(payload.get("price")),
            trigger_price=_paise(payload.get("trigger_price")),
            order_type=None if order_type is None else OrderType(order_type),
        )
    except (AttributeError, TypeError, ValueError):
        return None
    return change


def _paise(value: object) -> Paise | None:
    whole = _whole(value)
    return None if whole is None else Paise(whole)


def _whole(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not a whole number: {value!r}")
    return value


@runtime_checkable
class CarriesOutModifications(Protocol):
    """A venue in this process that makes, at a restart, the modifications it was asked for and
    had not made when the desk stopped (the paper venue)."""

    def carry_out_modifications(self, changes: Mapping[OrderId, Modification | None]) -> None:
        """``changes``: order -> what was asked (None: the request does not read); the orders
        were restored into the venue just before."""
        ...


class VenueRequests:
    """Journals the cancels and modifications an in-process venue has still to carry out."""

    def __init__(
        self,
        *,
        in_process: bool,
        clock: Clock,
        record: Callable[[OrderEvent], bool],
        stage: Callable[[ModifyRequested], None],
    ) -> None:
        self._in_process = in_process
        self._clock = clock
        self._record = record
        self._stage = stage

    def modify_refusal(self, order: Order) -> str:
        """Why a modification cannot be sent now ('' when it can)."""
        if not self._in_process:
            return ""  # the broker itself says what it takes
        if order.status is OrderStatus.CANCEL_PENDING:
            return f"order {order.order_id} is being cancelled"
        if order.status is OrderStatus.MODIFY_PENDING:
            return (
                f"order {order.order_id} has a modification on its way to the venue; modify it "
                "again once that one is acknowledged"
            )
        return ""

    def cancelling(self, order: Order) -> bool:
        """Whether a cancel of ``order`` is already on its way (it is not sent twice)."""
        return self._in_process and order.status is OrderStatus.CANCEL_PENDING

    def cancel_asked(self, order: Order, answered: int) -> None:
        """After the venue was handed a cancel: unless it has answered already (``answered``
        is how many events the order had before), the order is CANCEL PENDING."""
        if self._waiting(order, answered, OrderStatus.CANCEL_PENDING):
            self._pending(order, OrderStatus.CANCEL_PENDING, CANCEL_ASKED)

    def modify_asked(self, order: Order, change: Modification, answered: int) -> None:
        """After the venue was handed a modification: unless it has answered already, what
        was asked is journaled and the order is MODIFY PENDING."""
        if self._waiting(order, answered, OrderStatus.MODIFY_PENDING):
            self._stage(ModifyRequested(order.order_id, self._clock.time_ns(), change))
            self._pending(order, OrderStatus.MODIFY_PENDING, MODIFY_ASKED)

    def reported(self, order: Order, before: OrderStatus, event: OrderEvent) -> None:
        """After a venue report was applied. One that took a pending order back to a live status
        without answering the request overtook it: a trigger reached, a fill, an earlier
        modification made. A venue in this process carries the request out still (it never
        refuses a cancel of an order it holds, and answers each modification), so the order
        stays pending until it does, and a restart in between still carries it out."""
        if not self._in_process or order.status not in LIVE_STATUSES:
            return
        if before is OrderStatus.CANCEL_PENDING:
            self._pending(order, OrderStatus.CANCEL_PENDING, CANCEL_ASKED)
        elif before is OrderStatus.MODIFY_PENDING and not (
            isinstance(event, OrderStatusChanged) and event.answers_modify
        ):
            self._pending(order, OrderStatus.MODIFY_PENDING, MODIFY_ASKED)

    def carry_out(
        self, broker: object, entries: Iterable[JournalRow], open_orders: list[Order]
    ) -> None:
        """At a restart, after ``broker.restore``: hand the venue the modifications of the orders
        restored MODIFY PENDING (the last one journaled for each)."""
        waiting = {o.order_id for o in open_orders if o.status is OrderStatus.MODIFY_PENDING}
        if not waiting or not isinstance(broker, CarriesOutModifications):
            return  # a live broker's own book says what became of them (reconciliation)
        asked: dict[OrderId, Modification | None] = dict.fromkeys(waiting)
        for kind, order_id, _ts_ns, payload in entries:
            if kind == ModifyRequested.kind and order_id is not None and order_id in waiting:
                asked[OrderId(order_id)] = modification_from(payload)
        for order_id, change in asked.items():
            if change is None:
                log.warning(
                    "order %s: the modification asked before the stop does not read", order_id
                )
        broker.carry_out_modifications(asked)

    def _waiting(self, order: Order, answered: int, status: OrderStatus) -> bool:
        return (
            self._in_process
            and len(order.events) == answered
            and can_transition(order.status, status)
        )

    def _pending(self, order: Order, status: OrderStatus, message: str) -> None:
        self._record(OrderStatusChanged(order.order_id, self._clock.time_ns(), status, message))
