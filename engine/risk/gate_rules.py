"""The gate's rules as plain functions and values: the per-underlying limits as numbers, an
order's validity, and the texts of its refusals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.requests import split_tag
from engine.domain.values import Paise, rupees_text
from engine.oms.gate_port import Decision
from engine.options import expiry_moment
from engine.options.expiry_time import SessionCalendar
from engine.risk.limits import RiskLimits
from engine.risk.price_rules import Band

PRICED = (OrderType.LIMIT, OrderType.SL)
NS = 1_000_000_000
MINUTE_NS = 60 * NS
NO_PNL = Decimal(0)


class BrokerFunds(NamedTuple):
    """A live broker's figure of the margin still available, as the gate holds it."""

    available: float
    """Rupees new orders may still block, by the broker."""
    held: float
    """The desk's own margin estimate when the figure came, rupees."""
    ts_ns: int
    broker: str


def deny(check: str, reason: str) -> Decision:
    return Decision(None, reason, check)


def price_problem(label: str, value: object, instrument: Instrument) -> str | None:
    if type(value) is int and value > 0 and not value % instrument.tick_size:
        return None  # the usual case, first
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


def quantity_problem(quantity: object, instrument: Instrument) -> tuple[str, str] | None:
    """(check, reason) for a quantity that is not a positive lot multiple."""
    if type(quantity) is int and quantity > 0 and not quantity % instrument.lot_size:
        return None  # the usual case, first
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        return "quantity", f"quantity must be a whole number, not {quantity!r}"
    if quantity <= 0:
        return "quantity", f"quantity {quantity} must be positive"
    if quantity % instrument.lot_size:
        return (
            "lot_size",
            f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size}",
        )
    return None


def freeze_reason(quantity: int, instrument: Instrument) -> str:
    return (
        f"quantity {quantity} is above the freeze quantity {instrument.freeze_quantity} of "
        f"{instrument.tradingsymbol}; the largest single order is "
        f"{instrument.max_order_quantity()}"
    )


def rupees(amount: float | Decimal) -> str:
    return f"₹{Decimal(amount).quantize(Decimal(1)):,}"


BANDED = (InstrumentType.FUT, InstrumentType.EQ)
UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class Rules:
    """One underlying's limits as the plain numbers the order path compares against, converted
    from their Decimal rupees once (Decimal arithmetic costs microseconds on the order path).
    A limit that is off becomes a bound no order reaches."""

    limits: RiskLimits
    capital: float
    """The account's capital, rupees."""
    fat_finger_share: float
    """Fraction of the last price a limit price may stray (0: the check is off)."""
    fat_finger_floor: float
    """Paise."""
    max_order_quantity: int
    max_order_value: int
    """Paise."""
    duplicate_window_ns: int
    """0: the check is off."""
    max_open_orders: int
    max_position_lots: int
    max_underlying_lots: int
    max_concentration: float
    """Rupees of margin one underlying may take."""

    @classmethod
    def of(cls, limits: RiskLimits, account: RiskLimits) -> Rules:
        def bound(value: int | None) -> int:
            return UNLIMITED if value is None else value

        capital = float(account.capital)
        concentration = limits.max_concentration_pct
        return cls(
            limits,
            capital,
            0.0 if limits.fat_finger_pct is None else float(limits.fat_finger_pct) / 100,
            float(limits.fat_finger_floor) * 100,
            bound(limits.max_order_quantity),
            bound(None if limits.max_order_value is None else int(limits.max_order_value * 100)),
            0
            if limits.duplicate_window_seconds is None
            else int(limits.duplicate_window_seconds * NS),
            bound(limits.max_open_orders),
            bound(limits.max_position_lots),
            bound(limits.max_underlying_lots),
            math.inf if concentration is None else capital * float(concentration) / 100,
        )


class ExpiryCloses:
    """When contracts expire: at their expiry day's F&O close by the market calendar (15:30, or
    15:40 from 3 Aug 2026), not at midnight, or a paper market kept open all evening fills an
    expired option at its last quote. The calendar is asked once a minute per expiry (a calendar
    reloaded mid-day is read within the minute), so the order path pays a dictionary hit."""

    def __init__(self, calendar: SessionCalendar | None) -> None:
        self._calendar = calendar
        """None: the packaged NSE calendar."""
        self._closes: dict[date, tuple[int, int, datetime]] = {}
        """Expiry -> (the minute it was asked, its close in epoch ns, its close)."""

    def expired_at(self, expiry: date, today: date, now_ns: int | None) -> datetime | None:
        """The moment contracts of ``expiry`` expired if they have by ``now_ns``; with no time
        (a gate that knows only the date), from the day after the expiry."""
        if now_ns is None:
            return expiry_moment(expiry, self._calendar) if today > expiry else None
        minute = now_ns // MINUTE_NS
        cached = self._closes.get(expiry)
        if cached is None or cached[0] != minute:
            close = expiry_moment(expiry, self._calendar)
            cached = self._closes[expiry] = (minute, int(close.timestamp()) * NS, close)
        return cached[2] if now_ns >= cached[1] else None


def duplicate_key(request: OrderRequest) -> tuple[object, ...]:
    """What makes two orders "the same order" for the duplicate check: the same terms from the
    same strategy under the same tag. A strategy's slices and its portfolios' legs are tagged
    apart, so they are never each other's duplicates; a hand's double click still is, and so is
    a script's order sent twice under two client ids (the id is not part of the tag here)."""
    own_tag, _client_order_id = split_tag(request.tag, request.source)
    return (
        request.token,
        request.side,
        request.quantity,
        request.order_type,
        request.price,
        request.trigger_price,
        request.product,
        request.strategy,
        own_tag,
    )


def replace_terms(request: OrderRequest, order_type: OrderType, price: Paise) -> OrderRequest:
    return OrderRequest(
        request.token,
        request.side,
        request.quantity,
        order_type,
        request.product,
        request.validity,
        price,
        request.trigger_price,
        request.tag,
        request.source,
        request.strategy,
        request.square_off,
    )


def band_refusal(side: Side, price: int, band: Band) -> Decision:
    low, high, name = band.low, band.high, band.name
    edge = f"above {rupees_text(high)}" if price > high else f"below {rupees_text(low)}"
    return deny(
        "price_protection",
        f"{side.value} price {rupees_text(price)} is {edge}, outside the exchange's {name} "
        f"{rupees_text(low)}–{rupees_text(high)}",
    )


def validity_problem(
    request: OrderRequest, instrument: Instrument, expired_at: datetime | None
) -> tuple[str, str] | None:
    """Why the order is not a valid order for the instrument (check, reason), or None.
    ``expired_at``: the moment the contract expired, when it has (``Instrument.expired_at``)."""
    kind = instrument.instrument_type
    if kind is InstrumentType.INDEX:
        return "instrument", f"{instrument.tradingsymbol} is an index and cannot be traded"
    if expired_at is not None:
        return "instrument", instrument.expired_text(expired_at)
    problem = quantity_problem(request.quantity, instrument)
    if problem:
        return problem
    product = request.product
    if product is Product.CNC and kind is not InstrumentType.EQ:
        return (
            "product",
            f"CNC is for equity delivery; use NRML or MIS for {instrument.tradingsymbol}",
        )
    if product is Product.NRML and kind is InstrumentType.EQ:
        return "product", f"NRML is for F&O; use CNC or MIS for {instrument.tradingsymbol}"
    order_type, price, trigger = request.order_type, request.price, request.trigger_price
    if order_type is OrderType.LIMIT or order_type is OrderType.SL:
        if price is None:
            return "price", f"a {order_type} order needs a price"
        reason = price_problem("price", price, instrument)
        if reason:
            return "tick_size", reason
    elif price is not None and order_type is OrderType.MARKET:
        return "price", "a MARKET order takes no price; use LIMIT to set one"
    if order_type is OrderType.SL or order_type is OrderType.SL_M:
        if trigger is None:
            return "trigger", f"a {order_type} order needs a trigger price"
        reason = price_problem("trigger price", trigger, instrument)
        if reason:
            return "tick_size", reason
        if order_type is OrderType.SL and price is not None:
            buy = request.side is Side.BUY
            if price < trigger if buy else price > trigger:
                return (
                    "trigger",
                    f"limit price {rupees_text(price)} is {'below' if buy else 'above'} the "
                    f"trigger {rupees_text(trigger)}: the order could never fill",
                )
    elif trigger is not None:
        return "trigger", f"a {order_type} order takes no trigger price"
    return None
