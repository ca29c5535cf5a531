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

from engine.costs import Charges
from engine.domain.ids import BrokerOrderId, ExchangeOrderId, InstrumentToken, OrderId, TradeId
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.values import Paise

_CHARGE_PARTS = ("brokerage", "stt", "exchange", "sebi", "stamp", "gst")


def _charges_payload(charges: Charges) -> dict[str, Decimal]:
    return {name: getattr(charges, name) for name in _CHARGE_PARTS}


def _charges_from(payload: dict[str, Any]) -> Charges:
    return Charges(**{name: Decimal(payload[name]) for name in _CHARGE_PARTS})


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
        "source": request.source,
    }


def _request_from(payload: dict[str, Any]) -> OrderRequest:
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
        source=payload.get("source", "api"),
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

    def to_payload(self) -> dict[str, Any]:
        return {"request": _request_payload(self.request)}

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderSubmitted:
        return cls(OrderId(order_id), ts_ns, _request_from(payload["request"]))


@dataclass(frozen=True, slots=True)
class OrderDenied(OrderEvent):
    """The local gate refused a request (or a queued order); it never reached a broker."""

    kind: ClassVar[str] = "order_denied"
    order_id: OrderId
    ts_ns: int
    reason: str
    request: OrderRequest | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "request": None if self.request is None else _request_payload(self.request),
        }

    @classmethod
    def from_payload(cls, order_id: str, ts_ns: int, payload: dict[str, Any]) -> OrderDenied:
        request = payload.get("request")
        return cls(
            OrderId(order_id),
            ts_ns,
            payload["reason"],
            None if request is None else _request_from(request),
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

    def to_payload(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "token": self.token,
            "side": self.side.value,
            "product": self.product.value,
            "quantity": self.quantity,
            "price": self.price,
            "charges": None if self.charges is None else _charges_payload(self.charges),
        }

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
