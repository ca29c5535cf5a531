"""Typed, immutable engine events.

Order events are journaled (``to_payload``/``from_payload`` give their exact JSON form) before
they are published. Ticks (``engine.domain.ticks.Tick``) travel on the same bus but are never
journaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from engine.domain.charges import Charges
from engine.domain.ids import BrokerOrderId, ExchangeOrderId, InstrumentToken, OrderId, TradeId
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import StrategyId, is_strategy_id, source_of_text
from engine.domain.requests import asked_text
from engine.domain.values import Paise

_CHARGE_PARTS = ("brokerage", "stt", "exchange", "sebi", "stamp", "gst", "dp")


def _charges_payload(charges: Charges) -> dict[str, Decimal]:
    return {name: getattr(charges, name) for name in _CHARGE_PARTS}


def _charges_from(payload: dict[str, Any]) -> Charges:
    # Rows written before the depository charge was modelled have no "dp".
    return Charges(**{name: Decimal(payload.get(name, 0)) for name in _CHARGE_PARTS})


def _request_payload(request: OrderRequest) -> dict[str, Any]:
    return {
        "token": request.token,
        "side": request.side.value,
        "quantity": request.quantity,
        "order_type": request.order_type.value,
        "product": request.product.value,
        "validity": request.validity.value,
        "price": request.price,
        "trigger_price": request.trigger_price,
        "tag": request.tag,
        "source": request.source.value,
        "strategy": request.strategy,
        "square_off": request.square_off,
    }


def _quoted(raw: object) -> str:
    if isinstance(raw, dict):
        return asked_text(**{str(name): value for name, value in raw.items()})
    return asked_text(raw)


def _request_from(payload: dict[str, Any]) -> OrderRequest:
    source, strategy, square_off = source_of_text(str(payload.get("source", "api")))
    named = payload.get("strategy")
    return OrderRequest(
        token=InstrumentToken(payload["token"]),
        side=Side(payload["side"]),
        quantity=int(payload["quantity"]),
        order_type=OrderType(payload["order_type"]),
        product=Product(payload["product"]),
        validity=Validity(payload["validity"]),
        price=None if payload["price"] is None else Paise(payload["price"]),
        trigger_price=None if payload["trigger_price"] is None else Paise(payload["trigger_price"]),
        tag=payload.get("tag", ""),
        source=source,
        strategy=StrategyId(named)
        if isinstance(named, str) and is_strategy_id(named)
        else strategy,
        square_off=bool(payload.get("square_off", square_off)),
    )


class OrderEvent:
    """Base of every event that concerns one order."""

    __slots__ = ()
    kind: ClassVar[str]
    order_id: OrderId
    ts_ns: int

    def to_payload(self) -> dict[str, Any]:
        """The event's exact JSON form for the journal."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class OrderSubmitted(OrderEvent):
    """The local gate accepted a request; the order exists as PENDING SUBMIT."""

    kind: ClassVar[str] = "order_submitted"
    order_id: OrderId
    ts_ns: int
    request: OrderRequest
    arrival: Decimal | None = None
    """Paise: the instrument's mid (its last price without a two-sided quote) as the desk
    accepted the order, what its fills' slippage is measured against; None when no price was
    known, for orders the desk did not place, and in rows written before it was kept."""

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"request": _request_payload(self.request)}
        if self.arrival is not None:
            payload["arrival"] = self.arrival
        return payload

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderSubmitted:
        return cls(OrderId(order_id), ts_ns, _request_from(payload["request"]), arrival_of(payload))


def arrival_of(payload: dict[str, Any]) -> Decimal | None:
    """The arrival price an ``order_submitted`` payload holds (paise), or None when it holds none
    or something that is not a positive, finite number."""
    arrival = payload.get("arrival")
    if isinstance(arrival, bool) or not isinstance(arrival, Decimal | int):
        return None
    value = Decimal(arrival)
    return value if value.is_finite() and value > 0 else None


@dataclass(frozen=True, slots=True)
class OrderDenied(OrderEvent):
    """The local gate refused a request (or a queued order); it never reached a broker."""

    kind: ClassVar[str] = "order_denied"
    order_id: OrderId
    ts_ns: int
    reason: str
    request: OrderRequest | None = None
    check: str = ""
    """The gate's check that refused it (``lot_size``, ``daily_loss``...); '' for older entries."""
    asked: str = ""
    """What was asked, quoted as text, when it was not an order at all (refused at the edge,
    ``request`` None): the refused values themselves may not encode."""

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "reason": self.reason,
            "request": None if self.request is None else _request_payload(self.request),
        }
        if self.check:
            payload["check"] = self.check
        if self.asked:
            payload["asked"] = self.asked
        return payload

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderDenied:
        raw = payload.get("request")
        request, asked = None, payload.get("asked", "")
        if raw is not None:
            try:
                request = _request_from(raw)
            except (KeyError, TypeError, ValueError, AttributeError):
                # Written before the edge checked input (a None quantity...): the denial still
                # reads, with what was asked kept as text.
                asked = _quoted(raw)
        return cls(
            OrderId(order_id), ts_ns, payload["reason"], request, payload.get("check", ""), asked
        )


@dataclass(frozen=True, slots=True)
class OrderStatusChanged(OrderEvent):
    """The broker reported a status, possibly with modified terms."""

    kind: ClassVar[str] = "order_status"
    order_id: OrderId
    ts_ns: int
    status: OrderStatus
    message: str = ""
    broker_order_id: BrokerOrderId | None = None
    exchange_order_id: ExchangeOrderId | None = None
    quantity: int | None = None
    price: Paise | None = None
    trigger_price: Paise | None = None
    order_type: OrderType | None = None
    answers_modify: bool = field(default=False, compare=False)
    """A venue in this process (paper) answering a modification it was handed: made or
    refused. Not journaled; it tells the order manager which report ends MODIFY PENDING
    (``engine.oms.venue_requests``)."""

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value}
        for name in (
            "message",
            "broker_order_id",
            "exchange_order_id",
            "quantity",
            "price",
            "trigger_price",
        ):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.order_type is not None:
            out["order_type"] = self.order_type.value
        return out

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderStatusChanged:
        order_type = payload.get("order_type")
        return cls(
            OrderId(order_id),
            ts_ns,
            OrderStatus(payload["status"]),
            message=payload.get("message", ""),
            broker_order_id=payload.get("broker_order_id"),
            exchange_order_id=payload.get("exchange_order_id"),
            quantity=payload.get("quantity"),
            price=payload.get("price"),
            trigger_price=payload.get("trigger_price"),
            order_type=None if order_type is None else OrderType(order_type),
        )


@dataclass(frozen=True, slots=True)
class OrderFilled(OrderEvent):
    """One trade (fill) of an order, with its charges once the OMS has priced them."""

    kind: ClassVar[str] = "order_filled"
    order_id: OrderId
    ts_ns: int
    trade_id: TradeId
    token: InstrumentToken
    side: Side
    product: Product
    quantity: int
    price: Paise
    charges: Charges | None = None
    settles: bool = False
    """A contract's final settlement at expiry (price 0: expired worthless), not a trade."""

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "trade_id": self.trade_id,
            "token": self.token,
            "side": self.side.value,
            "product": self.product.value,
            "quantity": self.quantity,
            "price": self.price,
            "charges": None if self.charges is None else _charges_payload(self.charges),
        }
        if self.settles:  # only when set: every other (and every older) row reads as a trade
            payload["settles"] = True
        return payload

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderFilled:
        charges = payload.get("charges")
        return cls(
            OrderId(order_id),
            ts_ns,
            TradeId(payload["trade_id"]),
            InstrumentToken(payload["token"]),
            Side(payload["side"]),
            Product(payload["product"]),
            int(payload["quantity"]),
            Paise(payload["price"]),
            None if charges is None else _charges_from(charges),
            settles=payload.get("settles") is True,
        )


ORDER_EVENT_TYPES: dict[str, type[OrderEvent]] = {
    cls.kind: cls for cls in (OrderSubmitted, OrderDenied, OrderStatusChanged, OrderFilled)
}


def order_event_from_journal(
    kind: str, order_id: str, ts_ns: int, payload: dict[str, Any]
) -> OrderEvent:
    try:
        cls = ORDER_EVENT_TYPES[kind]
    except KeyError:
        raise ValueError(f"journal kind {kind!r} is not an order event") from None
    return cls.from_payload(order_id, ts_ns, payload)  # type: ignore[attr-defined]


# -- events that are published but not journaled ----------------------------------------------------


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class EngineMessage:
    """Something the trader should read in the Messages panel."""

    ts_ns: int
    severity: Severity
    text: str
    source: str = "engine"


@dataclass(frozen=True, slots=True)
class AlertFired:
    """An alert rule's condition came true (once: the rule is then spent until re-armed)."""

    ts_ns: int
    alert_id: str
    text: str
    """What happened, in words: "NIFTY 50 crossed above 26,100.00 (26,100.35)"."""


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """A position moved because of a fill (carries the token and product; read the snapshot)."""

    ts_ns: int
    token: InstrumentToken
    product: Product
    net_quantity: int


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    ts_ns: int
    component: str
    """'broker' or 'feed'."""
    state: str
    detail: str = field(default="")


# -- risk decisions: journaled before they are published ---------------------------------------------


class TradingState(StrEnum):
    """What the risk gate lets through."""

    ACTIVE = "ACTIVE"
    """Every order that passes the checks."""
    REDUCING = "REDUCING"
    """Only orders that reduce an existing position."""
    HALTED = "HALTED"
    """No new orders and no modifications; only square-off orders and cancels."""


@dataclass(frozen=True, slots=True)
class RiskStateChanged:
    """The trading state moved (kill switch, breaker, re-arm, or the trader)."""

    kind: ClassVar[str] = "risk_state"
    order_id: ClassVar[None] = None
    ts_ns: int
    state: TradingState
    previous: TradingState
    reason: str
    source: str = "risk"
    """'kill-switch', 'breaker:<name>', 'rearm', 'trader', 'restore'."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "previous": self.previous.value,
            "reason": self.reason,
            "source": self.source,
        }

    @classmethod
    def from_payload(cls, ts_ns: int, payload: dict[str, Any]) -> RiskStateChanged:
        return cls(
            ts_ns,
            TradingState(payload["state"]),
            TradingState(payload["previous"]),
            payload["reason"],
            payload.get("source", "risk"),
        )


@dataclass(frozen=True, slots=True)
class BreakerTripped:
    """A circuit breaker tripped: which, why (readable), and what the risk layer did."""

    kind: ClassVar[str] = "breaker_tripped"
    order_id: ClassVar[None] = None
    ts_ns: int
    breaker: str
    """'daily_loss', 'profit_lock', 'drawdown', 'underlying_move', 'rejections'."""
    reason: str
    action: TradingState
    square_off: bool = False
    value: Decimal | None = None
    """The measured figure that tripped it (rupees or percent), when there is one."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "breaker": self.breaker,
            "reason": self.reason,
            "action": self.action.value,
            "square_off": self.square_off,
            "value": self.value,
        }

    @classmethod
    def from_payload(cls, ts_ns: int, payload: dict[str, Any]) -> BreakerTripped:
        value = payload.get("value")
        return cls(
            ts_ns,
            payload["breaker"],
            payload["reason"],
            TradingState(payload["action"]),
            bool(payload.get("square_off", False)),
            None if value is None else Decimal(value),
        )


@dataclass(frozen=True, slots=True)
class RiskDenied:
    """The gate refused a request or a modification: the check that refused and why.

    A refused new order is journaled as ``OrderDenied`` (kind ``order_denied``), whose ``check``
    names the check; this event is the refusal of a *modification* of a live order, which has no
    order event of its own.
    """

    kind: ClassVar[str] = "risk_denied"
    order_id: OrderId
    ts_ns: int
    check: str
    reason: str
    action: str = "modify"

    def to_payload(self) -> dict[str, Any]:
        return {"check": self.check, "reason": self.reason, "action": self.action}


@dataclass(frozen=True, slots=True)
class OrderQueued:
    """The order-rate throttle held an accepted order back; it goes out in a later second."""

    kind: ClassVar[str] = "order_queued"
    order_id: OrderId
    ts_ns: int
    reason: str
    position: int
    """Its place in the queue, 1 = next."""

    def to_payload(self) -> dict[str, Any]:
        return {"reason": self.reason, "position": self.position}


@dataclass(frozen=True, slots=True)
class FundsChanged:
    """A live broker's figure of the margin a new order may still use (published, not
    journaled: the broker holds it and is asked again). Kite: the equity segment's ``net``."""

    ts_ns: int
    available: Decimal
    """Rupees the broker lets new orders block, after what positions and open orders hold."""
    used: Decimal
    """Rupees the broker counts as blocked now (Kite: ``utilised.debits``)."""
    broker: str


@dataclass(frozen=True, slots=True)
class RiskLimitsChanged:
    """The trader replaced the risk limits (the new settings, in their mapping form)."""

    kind: ClassVar[str] = "risk_limits"
    order_id: ClassVar[None] = None
    ts_ns: int
    settings: dict[str, Any]
    reason: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {"settings": self.settings, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class VarReport:
    """1-day VaR and expected shortfall of the current portfolio (published, not journaled).

    Amounts are rupee losses (positive = loss); ``None`` where a method could not run.
    """

    ts_ns: int
    positions: int
    historical_var_95: Decimal | None
    historical_var_99: Decimal | None
    historical_es_95: Decimal | None
    historical_es_99: Decimal | None
    mc_var_95: Decimal | None
    mc_var_99: Decimal | None
    mc_es_95: Decimal | None
    mc_es_99: Decimal | None
    mc_standard_error_99: Decimal | None
    scenarios: int
    paths: int
    seconds: float
    """Time the computation took."""
    note: str = ""
