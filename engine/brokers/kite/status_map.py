"""Kite's order and trade JSON (REST replies and WebSocket order updates) in engine terms.

Kite's status strings map one to one onto ``OrderStatus`` (kite_xts_apis.md §A.8), except
``UPDATE``, which only WebSocket updates and postbacks carry: an open order was modified or partly
filled, and its live status is unchanged. An unknown status is reported as such, to be re-polled.

Prices become exact integer paise (Kite sends JSON floats in rupees); Kite's naive IST timestamps
become aware datetimes.

A report's ``updated_at`` (when Kite last changed the order, for ``ReportFreshness``) is the later
of ``exchange_update_timestamp`` (null until the order reaches the exchange) and
``order_timestamp`` (Kite's OMS time, moved on every modify). Each of the two only moves forward
over an order's life, so their later one does too, whichever clock is a second ahead: a newer
report never looks older than one applied before it (taking the exchange's time alone, the OMS
time until then, could go back a second when the order reaches the exchange, and its OPEN would
be judged older than its PUT ORDER REQ RECEIVED). Kite's times are whole seconds, and several
reports of one order share a second (the mock history's MODIFIED at 300 and OPEN at 300.1): a
report of the same second is not older, and the read's start (``as_of``) is what guards a read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.core.clock import IST
from engine.domain.ids import BrokerOrderId, ExchangeOrderId, InstrumentToken, TradeId
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.reports import OrderReport, TradeReport
from engine.domain.values import Paise, PriceError, to_paise

S = OrderStatus
KITE_STATUSES: dict[str, OrderStatus] = {
    "PUT ORDER REQ RECEIVED": S.PUT_ORDER_REQ_RECEIVED,
    "AMO REQ RECEIVED": S.AMO_REQ_RECEIVED,
    "VALIDATION PENDING": S.VALIDATION_PENDING,
    "OPEN PENDING": S.OPEN_PENDING,
    "OPEN": S.OPEN,
    "TRIGGER PENDING": S.TRIGGER_PENDING,
    "MODIFY VALIDATION PENDING": S.MODIFY_VALIDATION_PENDING,
    "MODIFY PENDING": S.MODIFY_PENDING,
    "MODIFIED": S.MODIFIED,
    "CANCEL PENDING": S.CANCEL_PENDING,
    "COMPLETE": S.COMPLETE,
    "CANCELLED": S.CANCELLED,
    "REJECTED": S.REJECTED,
}
UPDATE = "UPDATE"
_ALIASES = {"CANCEL": "CANCELLED", "PUT ORDER REQUEST RECEIVED": "PUT ORDER REQ RECEIVED"}


_NOT_PAISE = "the engine carries NSE/BSE cash and F&O, whose prices are whole paise"


class KiteDataError(ValueError):
    """An order or trade object that is missing fields or carries impossible values."""


def order_status(kite_status: str) -> OrderStatus | None:
    """The engine status for a Kite status; None for ``UPDATE`` and for unknown strings."""
    text = kite_status.strip().upper()
    return KITE_STATUSES.get(_ALIASES.get(text, text))


def is_known_status(kite_status: str) -> bool:
    text = kite_status.strip().upper()
    return text == UPDATE or _ALIASES.get(text, text) in KITE_STATUSES


def kite_time(value: Any) -> datetime | None:
    """Kite's naive IST 'YYYY-MM-DD HH:MM:SS' (or the official client's naive datetime) as aware."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=IST) if value.tzinfo is None else value
    try:
        return datetime.strptime(f"{value} +0530", "%Y-%m-%d %H:%M:%S %z").astimezone(IST)
    except ValueError as exc:
        raise KiteDataError(f"timestamp {value!r} is not 'YYYY-MM-DD HH:MM:SS'") from exc


def parse_order(data: dict[str, Any], as_of: int | None = None) -> OrderReport:
    """A Kite order object as a report; raises ``KiteDataError`` on a malformed object.
    ``as_of``: the adapter's change mark when the read began (None for a pushed update)."""
    try:
        kite_status = str(data["status"]).strip().upper()
        average = data.get("average_price") or 0
        placed = kite_time(data.get("order_timestamp"))
        at_exchange = kite_time(data.get("exchange_update_timestamp"))
        return OrderReport(
            broker_order_id=BrokerOrderId(str(data["order_id"])),
            broker_status=kite_status,
            is_update=kite_status == UPDATE,
            status=order_status(kite_status),
            tag=data.get("tag") or None,
            token=InstrumentToken(int(data["instrument_token"])),
            exchange=str(data["exchange"]),
            tradingsymbol=str(data["tradingsymbol"]),
            side=Side(data["transaction_type"]),
            order_type=OrderType(data["order_type"]),
            product=str(data["product"]),
            variety=str(data.get("variety") or "regular"),
            quantity=_count(data, "quantity"),
            filled_quantity=_count(data, "filled_quantity"),
            pending_quantity=_count(data, "pending_quantity"),
            cancelled_quantity=_count(data, "cancelled_quantity"),
            price=to_paise(data.get("price") or 0),
            trigger_price=to_paise(data.get("trigger_price") or 0),
            average_price=_average(average),
            exchange_order_id=_optional_id(data.get("exchange_order_id")),
            message=str(data.get("status_message") or ""),
            order_timestamp=placed,
            exchange_update_timestamp=at_exchange,
            updated_at=_later(at_exchange, placed),
            as_of=as_of,
        )
    except PriceError as exc:
        raise KiteDataError(f"Kite order {data.get('order_id')!r}: {exc} ({_NOT_PAISE})") from exc
    except KiteDataError as exc:
        raise KiteDataError(f"Kite order {data.get('order_id')!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise KiteDataError(f"malformed Kite order {data.get('order_id')!r}: {exc!r}") from exc


def parse_trade(data: dict[str, Any]) -> TradeReport:
    """A Kite trade object; its ``average_price`` is the fill price and must be whole paise."""
    try:
        return TradeReport(
            trade_id=TradeId(str(data["trade_id"])),
            broker_order_id=BrokerOrderId(str(data["order_id"])),
            token=InstrumentToken(int(data["instrument_token"])),
            side=Side(data["transaction_type"]),
            product=str(data["product"]),
            quantity=_count(data, "quantity"),
            price=to_paise(data["average_price"]),
            fill_timestamp=kite_time(data.get("fill_timestamp")),
        )
    except PriceError as exc:
        raise KiteDataError(f"Kite trade {data.get('trade_id')!r}: {exc} ({_NOT_PAISE})") from exc
    except KiteDataError as exc:
        raise KiteDataError(f"Kite trade {data.get('trade_id')!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise KiteDataError(f"malformed Kite trade {data.get('trade_id')!r}: {exc!r}") from exc


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


def _count(data: dict[str, Any], name: str) -> int:
    value = data.get(name) or 0
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise KiteDataError(f"{name} {value!r} is not a quantity")
    return int(value)


def _average(value: Any) -> Paise | None:
    if not value:
        return None
    try:
        return to_paise(value)
    except PriceError:
        return None


def _optional_id(value: Any) -> ExchangeOrderId | None:
    return None if value in (None, "") else ExchangeOrderId(str(value))
