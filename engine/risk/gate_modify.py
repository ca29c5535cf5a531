"""The gate's checks of a modification: what may change on an open order, and what the change
would add.

A stop is held to placement's rules: its limit may not sit on the far side of its trigger (a
stop that could never fill once triggered), and market protection covers it as it covers a new
order. A stop modified into SL-M goes as SL with the protected limit placement gives an SL-M,
and a stop placed as SL-M (sent as SL with that limit) whose trigger moves has its limit moved
with it, unless the trader sets a limit of their own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from engine.domain.events import TradingState
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType, Side
from engine.domain.values import Paise, rupees_text
from engine.oms.gate_port import Decision
from engine.risk.gate_exposure import exposure_refusal
from engine.risk.gate_rules import (
    PRICED,
    deny,
    freeze_reason,
    price_problem,
    quantity_problem,
    rupees,
)
from engine.risk.price_rules import (
    lpp_band,
    protected_price,
)

if TYPE_CHECKING:
    from engine.risk.gate import OrderGate


def decide_modify(gate: OrderGate, order: Order, change: Modification) -> Decision:
    if not order.is_open:
        return deny("order", f"order {order.order_id} is {order.status} and cannot be modified")
    instrument = gate._instruments(order.token)
    if instrument is None:
        return deny("instrument", f"unknown instrument {order.token}")
    if change.quantity is not None:
        problem = quantity_problem(change.quantity, instrument)
        if problem:
            return deny(*problem)
        if change.quantity <= order.filled_quantity:
            return deny(
                "quantity",
                f"quantity {change.quantity} must be above the {order.filled_quantity} "
                f"already filled",
            )
        freeze = instrument.freeze_quantity
        if freeze is not None and change.quantity > freeze:
            return deny("freeze_quantity", freeze_reason(change.quantity, instrument))
    for label, value in (("price", change.price), ("trigger price", change.trigger_price)):
        if value is not None:
            reason = price_problem(label, value, instrument)
            if reason:
                return deny("tick_size", reason)
    order_type = change.order_type or order.order_type
    # The other way, a stop made LIMIT or MARKET, is let through on purpose: Kite's modify takes
    # any order_type (shared/reference/kite_xts_apis.md A.6) and the book may go from TRIGGER
    # PENDING to OPEN, and the desk's own exits rely on it (a multileg leg's resting stop, a
    # protective exit's stop, are modified into the exit). A manual stop keeps its type because
    # the ticket opens with and sends back the order's own type and trigger.
    if change.order_type in STOPS and order.order_type not in STOPS:
        return deny(
            "order_type",
            f"a working {order.order_type} order cannot become a stop-loss "
            f"({change.order_type}); cancel it and place the stop-loss order",
        )
    if order_type in PRICED and change.price is None and order.price is None:
        return deny("price", f"a {order_type} order needs a price")
    added = max((change.quantity or order.quantity) - order.quantity, 0)
    if gate.state is TradingState.HALTED:
        why = f" ({gate.state_reason})" if gate.state_reason else ""
        return deny("trading_state", f"trading is HALTED{why}: orders cannot be modified")
    if gate.state is TradingState.REDUCING and gate.exposure is not None:
        net = gate.exposure.net.get((order.token, order.product), 0)
        reducing = net != 0 and (net > 0) != (order.side is Side.BUY)
        if added or not reducing:
            return deny(
                "trading_state",
                f"trading is REDUCING ({gate.state_reason}): only orders that reduce a "
                f"position may be modified, and not upwards",
            )
    if gate.settings is None or not gate.enabled or gate.exposure is None:
        refusal = stop_refusal(order, change)
        return refusal if refusal is not None else Decision(None, change=change)
    assert gate._quotes is not None
    rules = gate._rules_for(instrument.underlying)
    limits = rules.limits
    tick = gate._quotes.get(order.token)
    new_quantity = change.quantity or order.quantity
    protection = limits.market_protection_pct
    if order_type is OrderType.SL_M or _placed_as_sl_m_moved(order, change, instrument, protection):
        trigger = change.trigger_price or order.trigger_price
        if trigger is None:
            return deny("trigger", f"a {OrderType.SL_M} order needs a trigger price")
        limit = protected_price(instrument, order.side, trigger, protection, None)
        change = Modification(change.quantity, Paise(limit), Paise(trigger), OrderType.SL)
    refusal = stop_refusal(order, change)
    if refusal is not None:
        return refusal
    if order_type is OrderType.MARKET:
        ltp = tick.ltp if tick is not None else 0
        if ltp <= 0:
            return deny(
                "market_protection",
                f"no last traded price for {instrument.tradingsymbol}: cannot protect a "
                f"MARKET modification",
            )
        lpp = lpp_band(instrument, ltp, gate._index)
        price = protected_price(instrument, order.side, ltp, protection, lpp)
        change = Modification(change.quantity, Paise(price), None, OrderType.LIMIT)
    elif order_type is OrderType.LIMIT and change.price is not None and tick is not None:
        refusal = gate._price_refusal(order.side, change.price, instrument, rules, tick)
        if refusal is not None:
            return refusal
    if limits.max_order_quantity is not None and new_quantity > limits.max_order_quantity:
        return deny(
            "max_order_quantity",
            f"quantity {new_quantity} is above the limit of {limits.max_order_quantity} per order",
        )
    price_now = change.price or order.price or (tick.ltp if tick is not None else 0)
    new_value = Decimal(price_now * new_quantity) / 100
    if limits.max_order_value is not None and new_value > limits.max_order_value:
        return deny(
            "max_order_value",
            f"order value {rupees(new_value)} is above the limit of "
            f"{rupees(limits.max_order_value)} per order",
        )
    if added:
        request = OrderRequest(
            order.token, order.side, added, OrderType.LIMIT, order.product, price=order.price
        )
        refusal = exposure_refusal(gate, request, instrument, rules, added)
        if refusal is not None:
            return refusal
    return Decision(None, change=change)


STOPS = (OrderType.SL, OrderType.SL_M)


def stop_refusal(order: Order, change: Modification) -> Decision | None:
    """Placement's check of a stop-loss's limit against its trigger (``validity_problem`` in
    ``engine.risk.gate_rules``, in its words, with what to do instead), on the order as the
    change would leave it."""
    kind = change.order_type or order.order_type
    price = change.price if change.price is not None else order.price
    trigger = change.trigger_price if change.trigger_price is not None else order.trigger_price
    if kind is not OrderType.SL or price is None or trigger is None:
        return None
    buy = order.side is Side.BUY
    if not (price < trigger if buy else price > trigger):
        return None
    return deny(
        "trigger",
        f"limit price {rupees_text(price)} is {'below' if buy else 'above'} the trigger "
        f"{rupees_text(trigger)}: the order could never fill (move the limit too, or modify "
        "it as SL-M)",
    )


def _placed_as_sl_m_moved(
    order: Order, change: Modification, instrument: Instrument, protection: Decimal
) -> bool:
    """Whether the change moves only the trigger of a stop placed as SL-M: an SL whose limit is
    the protected limit of its trigger (what the gate sends an SL-M as), asked to keep that
    limit (none given, or the same one sent back, as the order ticket does)."""
    trigger, price = order.trigger_price, order.price
    if order.order_type is not OrderType.SL or trigger is None or price is None:
        return False
    if change.order_type not in (None, OrderType.SL) or change.price not in (None, price):
        return False
    if change.trigger_price is None or change.trigger_price == trigger:
        return False
    return price == protected_price(instrument, order.side, trigger, protection, None)
