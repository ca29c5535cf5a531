"""XTS's order, trade and position objects (REST books and interactive-socket events) in engine
terms, accepting every variant of kite_xts_apis.md §C.6 and §C.13.

Statuses (``XTS_STATUSES``, compared case-insensitively): PendingNew is the OMS validating
(OPEN PENDING), New is live at the exchange (OPEN, or TRIGGER PENDING for a stop order: XTS has no
status of its own for a stop waiting for its trigger), PartiallyFilled is still OPEN (the fills
carry the quantities), PendingReplace is a modification on its way, Replaced the modification done
and the order live again with its new terms (OPEN, or TRIGGER PENDING for a stop: some
deployments leave an order in Replaced until its next change, so it is not a passing state here),
PendingCancel a cancel, Filled / Cancelled / Rejected the ends (a rejection's reason is
``CancelRejectReason``).

Enumerations come back in mixed case (``Buy``, ``StopMarket``, ``LIMIT``); numbers may be JSON
numbers or strings, with thousands separators (``"6,202.50"``); ``OrderAverageTradedPrice`` is
``""`` until filled; dates come as ISO with a 7-digit fraction, with ``+05:30``, as
``DD-MM-YYYY HH:MM:SS`` or ``Mon DD YYYY HH:MM:SS``, and 1980-01-01 means unset. Prices become
exact integer paise; naive times are IST.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.brokers.xts.errors import XtsDataError
from engine.brokers.xts.master import token_of, xts_instrument
from engine.brokers.xts.segments import UnknownSegment, segment
from engine.core.clock import IST
from engine.domain.ids import BrokerOrderId, ExchangeOrderId, InstrumentToken, TradeId
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.reports import OrderReport, PositionReport, TradeReport
from engine.domain.values import Paise, PriceError, to_paise

S = OrderStatus
XTS_STATUSES: dict[str, OrderStatus] = {
    "pendingnew": S.OPEN_PENDING,
    "new": S.OPEN,
    "open": S.OPEN,
    "triggerpending": S.TRIGGER_PENDING,
    "partiallyfilled": S.OPEN,
    "filled": S.COMPLETE,
    "pendingreplace": S.MODIFY_PENDING,
    "replaced": S.OPEN,
    "pendingcancel": S.CANCEL_PENDING,
    "cancelled": S.CANCELLED,
    "canceled": S.CANCELLED,
    "rejected": S.REJECTED,
}
"""XTS status (lower case, without spaces) -> engine status; ``order_status`` applies the
stop-order rule for New."""

ORDER_TYPES: dict[str, OrderType] = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stopmarket": OrderType.SL_M,
    "stoplimit": OrderType.SL,
}
WIRE_ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.SL_M: "STOPMARKET",
    OrderType.SL: "STOPLIMIT",
}
"""What requests send (upper case, as the SDKs do)."""
SIDES: dict[str, Side] = {"buy": Side.BUY, "sell": Side.SELL}

_UNSET_YEAR = 1980
_NOT_PAISE = "the engine carries NSE/BSE cash and F&O, whose prices are whole paise"


def _key(text: object) -> str:
    return re.sub(r"[\s_-]", "", str(text)).lower()


def order_status(xts_status: str, order_type: OrderType | None = None) -> OrderStatus | None:
    """The engine status of an XTS status; None for one the desk does not know."""
    status = XTS_STATUSES.get(_key(xts_status))
    if (
        status is S.OPEN
        and _key(xts_status) in ("new", "replaced")
        and order_type in (OrderType.SL, OrderType.SL_M)
    ):
        return S.TRIGGER_PENDING
    return status


def order_type(value: object) -> OrderType:
    found = ORDER_TYPES.get(_key(value))
    if found is None:
        raise XtsDataError(f"order type {value!r} is not Market, Limit, StopMarket or StopLimit")
    return found


def side(value: object) -> Side:
    found = SIDES.get(_key(value))
    if found is None:
        raise XtsDataError(f"order side {value!r} is not Buy or Sell")
    return found


def desk_token(segment_key: str | int, instrument_id: object) -> InstrumentToken:
    """The desk's token of an XTS instrument named by its segment (string or integer) and its
    ``ExchangeInstrumentID`` (a number or a string), as the instrument master makes it."""
    number = count(instrument_id, "ExchangeInstrumentID")
    try:
        return token_of(segment(segment_key).code, number)
    except UnknownSegment:
        raise
    except ValueError as exc:
        raise XtsDataError(str(exc)) from None


def xts_instrument_of(token: int) -> tuple[str, int]:
    """(``exchangeSegment`` string, ``exchangeInstrumentID``) of a desk instrument: what an order
    names it by."""
    code, instrument_id = xts_instrument(token)
    return segment(code).name, instrument_id


def decimal(value: object, name: str) -> Decimal:
    """A number as XTS sends it (number, or string maybe with thousands separators)."""
    if isinstance(value, bool) or value is None:
        raise XtsDataError(f"{name} {value!r} is not a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise XtsDataError(f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise XtsDataError(f"{name} {value!r} is not a finite number")
    return number


def count(value: object, name: str) -> int:
    """A whole number (quantities, ids); '' and None are 0."""
    if value in ("", None):
        return 0
    number = decimal(value, name)
    if number != number.to_integral_value():
        raise XtsDataError(f"{name} {value!r} is not a whole number")
    return int(number)


def paise(value: object, name: str) -> Paise:
    """A price in exact paise; '' and None are 0."""
    if value in ("", None):
        return Paise(0)
    try:
        return to_paise(decimal(value, name))
    except PriceError as exc:
        raise XtsDataError(f"{name} {value!r}: {exc} ({_NOT_PAISE})") from None


_FORMATS = ("%d-%m-%Y %H:%M:%S", "%b %d %Y %H:%M:%S", "%d-%m-%Y %H:%M", "%Y-%m-%d %H:%M:%S")
_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")


def xts_time(value: object) -> datetime | None:
    """An XTS date-time as an aware datetime; None when unset (empty, or 1980-01-01)."""
    if value in ("", None):
        return None
    text = str(value).strip()
    parsed: datetime | None = None
    if "T" in text:
        try:
            parsed = datetime.fromisoformat(_ISO_FRACTION.sub(r"\1", text))
        except ValueError:
            parsed = None
    else:
        for form in _FORMATS:
            try:
                parsed = datetime.strptime(f"{text} +0530", f"{form} %z")
                break
            except ValueError:
                continue
    if parsed is None:
        raise XtsDataError(f"date {value!r} is in none of the forms XTS uses")
    if parsed.year <= _UNSET_YEAR:
        return None
    return parsed.replace(tzinfo=IST) if parsed.tzinfo is None else parsed


def _text(data: dict[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return str(value)
    return ""


def parse_order(data: dict[str, Any], as_of: int | None = None) -> OrderReport:
    """An XTS order object (orderbook row, history entry, ``order`` event) as a report;
    ``XtsDataError`` for a malformed one. ``as_of``: the mark of the read it came from."""
    broker_id = data.get("AppOrderID")
    try:
        kind = order_type(data["OrderType"])
        xts_status = str(data["OrderStatus"])
        quantity = count(data.get("OrderQuantity"), "OrderQuantity")
        filled = count(data.get("CumulativeQuantity"), "CumulativeQuantity")
        leaves = count(data.get("LeavesQuantity"), "LeavesQuantity")
        status = order_status(xts_status, kind)
        cancelled = quantity - filled - leaves if status is S.CANCELLED else 0
        average = data.get("OrderAverageTradedPrice")
        reason = _text(data, "CancelRejectReason")
        return OrderReport(
            broker_order_id=BrokerOrderId(str(count(broker_id, "AppOrderID"))),
            broker_status=xts_status,
            status=status,
            tag=_text(data, "OrderUniqueIdentifier") or None,
            token=desk_token(data["ExchangeSegment"], data["ExchangeInstrumentID"]),
            exchange=str(data["ExchangeSegment"]),
            tradingsymbol=_text(data, "TradingSymbol")
            or f"{data['ExchangeSegment']}:{data['ExchangeInstrumentID']}",
            side=side(data["OrderSide"]),
            order_type=kind,
            product=str(data["ProductType"]).upper(),
            variety="regular",
            quantity=quantity,
            filled_quantity=filled,
            pending_quantity=leaves,
            cancelled_quantity=max(cancelled, 0),
            price=paise(data.get("OrderPrice"), "OrderPrice"),
            trigger_price=paise(data.get("OrderStopPrice"), "OrderStopPrice"),
            average_price=_average(average),
            exchange_order_id=_optional_id(data.get("ExchangeOrderID")),
            message=reason,
            order_timestamp=xts_time(data.get("OrderGeneratedDateTime")),
            exchange_update_timestamp=xts_time(
                data.get("ExchangeTransactTime") or data.get("LastUpdateDateTime")
            ),
            updated_at=xts_time(data.get("LastUpdateDateTime") or data.get("ExchangeTransactTime")),
            as_of=as_of,
        )
    except (XtsDataError, UnknownSegment) as exc:
        raise XtsDataError(f"XTS order {broker_id!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise XtsDataError(f"malformed XTS order {broker_id!r}: {exc!r}") from exc


def parse_trade(data: dict[str, Any]) -> TradeReport:
    """An XTS trade object (tradebook row, ``trade`` event): one execution, its price and
    quantity in ``LastTradedPrice`` / ``LastTradedQuantity``."""
    execution = data.get("ExecutionID")
    try:
        if execution in (None, ""):
            raise XtsDataError("no ExecutionID")
        quantity = count(data.get("LastTradedQuantity"), "LastTradedQuantity")
        if quantity <= 0:
            raise XtsDataError(f"LastTradedQuantity {data.get('LastTradedQuantity')!r}")
        return TradeReport(
            trade_id=TradeId(str(execution)),
            broker_order_id=BrokerOrderId(str(count(data["AppOrderID"], "AppOrderID"))),
            token=desk_token(data["ExchangeSegment"], data["ExchangeInstrumentID"]),
            side=side(data["OrderSide"]),
            product=str(data["ProductType"]).upper(),
            quantity=quantity,
            price=paise(data["LastTradedPrice"], "LastTradedPrice"),
            fill_timestamp=xts_time(
                data.get("LastExecutionTransactTime") or data.get("ExchangeTransactTime")
            ),
        )
    except (XtsDataError, UnknownSegment) as exc:
        raise XtsDataError(f"XTS trade {execution!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise XtsDataError(f"malformed XTS trade {execution!r}: {exc!r}") from exc


def parse_position(data: dict[str, Any]) -> PositionReport:
    """A row of ``positionList`` (or a ``position`` event): ``ExchangeInstrumentId`` with a
    lowercase d and a string value in the REST book, quantities as strings."""
    try:
        instrument = data.get("ExchangeInstrumentId", data.get("ExchangeInstrumentID"))
        net = data.get("Quantity", data.get("NetPosition"))
        token = desk_token(data["ExchangeSegment"], instrument)
        return PositionReport(
            token,
            str(data["ProductType"]).upper(),
            count(net, "Quantity"),
            _text(data, "TradingSymbol") or f"{data['ExchangeSegment']}:{instrument}",
        )
    except (XtsDataError, UnknownSegment) as exc:
        raise XtsDataError(f"XTS position {data.get('TradingSymbol')!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise XtsDataError(f"malformed XTS position: {exc!r}") from exc


def _average(value: Any) -> Paise | None:
    if value in ("", None):
        return None
    try:
        price = decimal(value, "OrderAverageTradedPrice")
        return to_paise(price) if price > 0 else None
    except (XtsDataError, PriceError):
        return None  # an average between paise: the fills carry the exact prices


def _optional_id(value: Any) -> ExchangeOrderId | None:
    return None if value in (None, "", 0, "0") else ExchangeOrderId(str(value))
