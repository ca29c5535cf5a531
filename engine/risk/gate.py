"""The gate every order passes before any broker sees it.

This is the order-validity layer: an order that names an unknown instrument, a non-lot quantity
or a price off the tick is denied here with a reason a trader can read. Risk limits (exposure,
loss, throttles, kill switch) plug in as further ``checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from engine.brokers.base import Modification
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.order import Order
from engine.domain.orders import OrderRequest, OrderType, Product
from engine.domain.values import rupees_text

InstrumentLookup = Callable[[InstrumentToken], Instrument | None]
Check = Callable[[OrderRequest, Instrument], str | None]

_PRICED = (OrderType.LIMIT, OrderType.SL)
_TRIGGERED = (OrderType.SL, OrderType.SL_M)


def _price_problem(label: str, value: object, instrument: Instrument) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{label} must be a whole number of paise, not {value!r}"
    if value <= 0:
        return f"{label} {rupees_text(value)} must be positive"
    if value % instrument.tick_size:
        return (
            f"{label} {rupees_text(value)} is not a multiple of the tick size "
            f"{rupees_text(instrument.tick_size)} of {instrument.tradingsymbol}"
        )
    return None


def _quantity_problem(quantity: object, instrument: Instrument) -> str | None:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        return f"quantity must be a whole number, not {quantity!r}"
    if quantity <= 0:
        return f"quantity {quantity} must be positive"
    if quantity % instrument.lot_size:
        return f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size}"
    freeze = instrument.freeze_quantity
    if freeze is not None and quantity > freeze:
        largest = instrument.max_order_quantity()
        return (
            f"quantity {quantity} is above the freeze quantity {freeze} of "
            f"{instrument.tradingsymbol}; the largest single order is {largest}"
        )
    return None


class OrderGate:
    def __init__(self, instruments: InstrumentLookup, today: Callable[[], date]) -> None:
        self._instruments = instruments
        self._today = today
        self.checks: list[Check] = []

    def check(self, request: OrderRequest) -> str | None:
        """None if the request may go to the broker, else why not."""
        instrument = self._instruments(request.token)
        if instrument is None:
            return f"unknown instrument {request.token}"
        if not instrument.tradable:
            return f"{instrument.tradingsymbol} is an index and cannot be traded"
        if instrument.is_expired(self._today()):
            return f"{instrument.tradingsymbol} expired on {instrument.expiry}"
        problem = _quantity_problem(request.quantity, instrument)
        if problem:
            return problem
        if request.product is Product.CNC and instrument.instrument_type is not InstrumentType.EQ:
            return f"CNC is for equity delivery; use NRML or MIS for {instrument.tradingsymbol}"
        if request.product is Product.NRML and not instrument.is_derivative:
            return f"NRML is for F&O; use CNC or MIS for {instrument.tradingsymbol}"
        if request.order_type in _PRICED:
            if request.price is None:
                return f"a {request.order_type} order needs a price"
            problem = _price_problem("price", request.price, instrument)
            if problem:
                return problem
        elif request.price is not None and request.order_type is OrderType.MARKET:
            return "a MARKET order takes no price; use LIMIT to set one"
        if request.order_type in _TRIGGERED:
            if request.trigger_price is None:
                return f"a {request.order_type} order needs a trigger price"
            problem = _price_problem("trigger price", request.trigger_price, instrument)
            if problem:
                return problem
            if request.order_type is OrderType.SL and request.price is not None:
                wrong_side = (
                    request.price < request.trigger_price
                    if request.side.sign > 0
                    else request.price > request.trigger_price
                )
                if wrong_side:
                    relation = "below" if request.side.sign > 0 else "above"
                    return (
                        f"limit price {rupees_text(request.price)} is {relation} the trigger "
                        f"{rupees_text(request.trigger_price)}: the order could never fill"
                    )
        elif request.trigger_price is not None:
            return f"a {request.order_type} order takes no trigger price"
        for extra in self.checks:
            problem = extra(request, instrument)
            if problem:
                return problem
        return None

    def check_modify(self, order: Order, change: Modification) -> str | None:
        if not order.is_open:
            return f"order {order.order_id} is {order.status} and cannot be modified"
        instrument = self._instruments(order.token)
        if instrument is None:
            return f"unknown instrument {order.token}"
        if change.quantity is not None:
            problem = _quantity_problem(change.quantity, instrument)
            if problem:
                return problem
            if change.quantity <= order.filled_quantity:
                return (
                    f"quantity {change.quantity} must be above the {order.filled_quantity} "
                    f"already filled"
                )
        for label, value in (("price", change.price), ("trigger price", change.trigger_price)):
            if value is not None:
                problem = _price_problem(label, value, instrument)
                if problem:
                    return problem
        order_type = change.order_type or order.order_type
        if order_type in _PRICED and change.price is None and order.price is None:
            return f"a {order_type} order needs a price"
        return None
