"""Which engine events a trader is told about away from the desk, as one short plain text each."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.alerts.delivery.settings import Notice
from engine.core.clock import IST
from engine.domain.events import (
    AlertFired,
    BreakerTripped,
    OrderFilled,
    OrderStatusChanged,
    RiskStateChanged,
    TradingState,
)
from engine.domain.orders import OrderStatus, OrderType
from engine.domain.values import rupees_text

EVENTS: tuple[type, ...] = (
    AlertFired,
    OrderStatusChanged,
    OrderFilled,
    BreakerTripped,
    RiskStateChanged,
)
"""The events the dispatcher listens to; ``notice_for`` picks the ones worth a message."""


def at_ist(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, IST).strftime("%H:%M:%S IST")


def notice_for(event: object, order_of: Any) -> tuple[Notice, str, str] | None:
    """``(kind, subject, text)`` for an event worth telling, else None. ``order_of(order_id)``
    gives the order's snapshot (instrument, side, quantity...) or None."""
    if isinstance(event, AlertFired):
        return Notice.ALERTS, "DalalDesk alert", f"{event.text}\n{at_ist(event.ts_ns)}"
    if isinstance(event, OrderStatusChanged) and event.status is OrderStatus.REJECTED:
        order = order_of(event.order_id)
        what = _order_words(order) if order is not None else f"order {event.order_id}"
        why = f": {event.message}" if event.message else ""
        return (
            Notice.REJECTIONS,
            "DalalDesk: order rejected",
            f"Rejected {what}{why}\n{at_ist(event.ts_ns)}",
        )
    if isinstance(event, OrderFilled):
        order = order_of(event.order_id)
        if order is None or order.order_type not in (OrderType.SL, OrderType.SL_M):
            return None
        trigger = order.trigger_price
        at = f" (trigger {trigger:,.2f})" if isinstance(trigger, Decimal) else ""
        return (
            Notice.STOP_LOSS,
            "DalalDesk: stop-loss hit",
            f"Stop-loss hit: {event.side.value} {event.quantity} "
            f"{order.instrument.tradingsymbol} filled at {rupees_text(event.price)}{at}\n"
            f"{at_ist(event.ts_ns)}",
        )
    if isinstance(event, BreakerTripped):
        then = " and squared off" if event.square_off else ""
        return (
            Notice.RISK,
            "DalalDesk: risk breaker tripped",
            f"Breaker {event.breaker.replace('_', ' ')} tripped: {event.reason}. Trading "
            f"{_state_words(event.action)}{then}.\n{at_ist(event.ts_ns)}",
        )
    if (
        isinstance(event, RiskStateChanged)
        and event.state is not TradingState.ACTIVE
        and event.state is not event.previous
        and not event.source.startswith("breaker")  # told by BreakerTripped
        and event.source != "restore"
    ):
        why = f": {event.reason}" if event.reason else ""
        return (
            Notice.RISK,
            "DalalDesk: trading " + _state_words(event.state),
            f"Trading {_state_words(event.state)} ({event.source}){why}\n{at_ist(event.ts_ns)}",
        )
    return None


def _order_words(order: Any) -> str:
    price = order.price if order.order_type in (OrderType.LIMIT, OrderType.SL) else None
    at = f" at {price:,.2f}" if isinstance(price, Decimal) else ""
    return (
        f"{order.side.value} {order.quantity} {order.instrument.tradingsymbol} "
        f"{order.order_type.value}{at}"
    )


def _state_words(state: TradingState) -> str:
    return {
        TradingState.ACTIVE: "active",
        TradingState.REDUCING: "reducing only",
        TradingState.HALTED: "halted",
    }.get(state, state.value.lower())
