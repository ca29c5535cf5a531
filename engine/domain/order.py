"""One order and its lifecycle.

``Order.apply(event)`` is the only mutator. The status table in ``engine.domain.orders`` decides
which status may follow which: a transition it does not allow is refused and logged, a duplicate
trade id is ignored, and a terminal order never moves again (a late OPEN after COMPLETE changes
nothing). Fills are facts: they are accepted in any status but DENIED as long as they are new and
fit the quantity, because a fill can overtake the status update that announces it.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
)
from engine.domain.ids import BrokerOrderId, ExchangeOrderId, OrderId, TradeId
from engine.domain.orders import (
    LIVE_STATUSES,
    OrderRequest,
    OrderStatus,
    OrderType,
    can_transition,
)
from engine.domain.values import ZERO

log = logging.getLogger(__name__)


class Order:
    """One order and everything the broker has said about it."""

    __slots__ = (
        "average_price",
        "broker_order_id",
        "created_ns",
        "events",
        "exchange_order_id",
        "filled_quantity",
        "filled_value",
        "order_id",
        "order_type",
        "price",
        "product",
        "quantity",
        "side",
        "source",
        "square_off",
        "status",
        "status_message",
        "strategy",
        "tag",
        "token",
        "trade_ids",
        "trigger_price",
        "updated_ns",
        "validity",
    )

    def __init__(self, submitted: OrderSubmitted) -> None:
        request = submitted.request
        self.order_id: OrderId = submitted.order_id
        self.token = request.token
        self.side = request.side
        self.quantity = request.quantity
        self.order_type = request.order_type
        self.product = request.product
        self.validity = request.validity
        self.price = request.price
        self.trigger_price = request.trigger_price
        self.tag = request.tag
        self.source = request.source
        self.strategy = request.strategy
        self.square_off = request.square_off
        self.status = OrderStatus.PENDING_SUBMIT
        self.status_message = ""
        self.broker_order_id: BrokerOrderId | None = None
        self.exchange_order_id: ExchangeOrderId | None = None
        self.filled_quantity = 0
        self.filled_value = 0
        """Sum of fill price x quantity, paise."""
        self.average_price = ZERO
        self.trade_ids: set[TradeId] = set()
        self.created_ns = submitted.ts_ns
        self.updated_ns = submitted.ts_ns
        self.events: list[OrderEvent] = [submitted]

    # -- reading ---------------------------------------------------------------------------------

    @property
    def pending_quantity(self) -> int:
        """Quantity that can still fill (0 once the order is terminal)."""
        if self.status.is_terminal:
            return 0
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def request(self) -> OrderRequest:
        return OrderRequest(
            token=self.token,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            product=self.product,
            validity=self.validity,
            price=self.price,
            trigger_price=self.trigger_price,
            tag=self.tag,
            source=self.source,
            strategy=self.strategy,
            square_off=self.square_off,
        )

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id} {self.side} {self.quantity} of {self.token} {self.order_type} "
            f"{self.status} filled={self.filled_quantity})"
        )

    # -- the only mutator --------------------------------------------------------------------------

    def refusal(self, event: OrderEvent) -> str | None:
        """Why ``event`` cannot be applied, or None if it can. Pure: changes nothing."""
        if isinstance(event, OrderFilled):
            if event.trade_id in self.trade_ids:
                return "duplicate"
            if self.status is OrderStatus.DENIED:
                return f"fill {event.trade_id} for an order that was never sent"
            if event.quantity <= 0:
                return f"fill {event.trade_id} has quantity {event.quantity}"
            if self.filled_quantity + event.quantity > self.quantity:
                return (
                    f"fill {event.trade_id} of {event.quantity} would overfill "
                    f"({self.filled_quantity} of {self.quantity} already filled)"
                )
            return None
        if isinstance(event, OrderStatusChanged):
            if event.status == self.status and (
                event.status not in LIVE_STATUSES or not self._changes_terms(event)
            ):
                return "duplicate"
            if not can_transition(self.status, event.status):
                return f"{self.status} -> {event.status} is not a legal transition"
            if event.quantity is not None and event.quantity < self.filled_quantity:
                return f"quantity {event.quantity} is below the filled {self.filled_quantity}"
            return None
        if isinstance(event, OrderDenied):
            if not can_transition(self.status, OrderStatus.DENIED):
                return f"{self.status} -> DENIED is not a legal transition"
            return None
        return f"{type(event).__name__} does not apply to an existing order"

    def _changes_terms(self, change: OrderStatusChanged) -> bool:
        """Whether a same-status report says anything new (Kite's UPDATE after a modify)."""
        return (
            (change.quantity is not None and change.quantity != self.quantity)
            or (change.price is not None and change.price != self.price)
            or (change.trigger_price is not None and change.trigger_price != self.trigger_price)
            or (change.order_type is not None and change.order_type != self.order_type)
            or bool(change.message and change.message != self.status_message)
            or bool(change.broker_order_id and change.broker_order_id != self.broker_order_id)
        )

    def apply(self, event: OrderEvent) -> bool:
        """Apply one event; returns False (and changes nothing) if it is refused."""
        reason = self.refusal(event)
        if reason is not None:
            if reason != "duplicate":
                log.warning("order %s refused %s: %s", self.order_id, type(event).__name__, reason)
            return False
        if isinstance(event, OrderFilled):
            self._fill(event)
        elif isinstance(event, OrderStatusChanged):
            self._change_status(event)
        elif isinstance(event, OrderDenied):
            self.status = OrderStatus.DENIED
            self.status_message = event.reason
        self.updated_ns = max(self.updated_ns, event.ts_ns)
        self.events.append(event)
        return True

    def _fill(self, fill: OrderFilled) -> None:
        self.trade_ids.add(fill.trade_id)
        self.filled_quantity += fill.quantity
        self.filled_value += fill.price * fill.quantity
        self.average_price = Decimal(self.filled_value) / Decimal(100 * self.filled_quantity)
        if self.filled_quantity == self.quantity and not self.status.is_terminal:
            self.status = OrderStatus.COMPLETE

    def _change_status(self, change: OrderStatusChanged) -> None:
        self.status = change.status
        if change.message:
            self.status_message = change.message
        if change.broker_order_id:
            self.broker_order_id = change.broker_order_id
        if change.exchange_order_id:
            self.exchange_order_id = change.exchange_order_id
        if change.quantity is not None:
            self.quantity = change.quantity
        if change.price is not None:
            self.price = change.price
        if change.trigger_price is not None:
            self.trigger_price = change.trigger_price
        if change.order_type is not None:
            self.order_type = change.order_type
            if change.order_type is OrderType.SL_M:
                self.price = None  # a stop-loss market order has no limit price
        if self.filled_quantity == self.quantity and not self.status.is_terminal:
            self.status = OrderStatus.COMPLETE
