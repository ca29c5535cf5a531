"""The fake XTS OMS: orders, trades and positions in XTS's shapes (kite_xts_apis.md §C.6, §C.13).

Orders walk XTS's statuses: PendingNew → New (or Rejected by the RMS with ``CancelRejectReason``),
PartiallyFilled → Filled; a modify goes PendingReplace → Replaced → New; a cancel PendingCancel →
Cancelled. Every state is recorded in the order's history (``GET /orders?appOrderID=``) and pushed
to the listeners as an ``order`` event; an execution is pushed as a ``trade`` event (the order's
fields plus ``ExecutionID``, ``LastTradedPrice``, ``LastTradedQuantity``), then the order and the
position. A MARKET order fills at once at the last price; with ``exchange_matching`` on, LIMIT
orders priced through the market fill at once at the last price, an IOC's unfilled rest is
cancelled, and ``move_market`` triggers stops (a triggered StopMarket fills at the price, a
StopLimit becomes a resting limit) and fills resting limits at their own price.

The shapes follow the captures of §C.13: enumerations in mixed case (``Buy``, ``StopLimit``),
``OrderAverageTradedPrice`` a string, ``""`` until filled, ISO dates with a 7-digit fraction, and
positions whose numbers are strings with thousands separators under ``ExchangeInstrumentId``
(lowercase d). ``upper_case_enums`` answers the other way some deployments do.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.core.clock import IST

OPEN = ("New", "PartiallyFilled", "Replaced")
SEGMENTS = {"NSECM": 1, "NSEFO": 2, "BSECM": 11, "BSEFO": 12}
ORDER_TYPES = {"MARKET": "Market", "LIMIT": "Limit", "STOPMARKET": "StopMarket",
               "STOPLIMIT": "StopLimit"}  # fmt: skip
Listener = Callable[[str, dict[str, Any]], None]


class XtsApiError(Exception):
    """An error the fake answers with XTS's error envelope."""

    def __init__(self, http_status: int, code: str, description: str, result: Any = None) -> None:
        super().__init__(description)
        self.http_status = http_status
        self.code = code
        self.description = description
        self.result = result


def bad_request(field: str, message: str) -> XtsApiError:
    """XTS's validation error: HTTP 400, "Bad Request", ``result.errors[]``."""
    error = {"field": field, "location": "body", "messages": [message], "types": ["any.invalid"]}
    return XtsApiError(400, "e-app-0005", "Bad Request", {"errors": [error]})


@dataclass
class FakeInstrument:
    segment: str
    instrument_id: int
    symbol: str
    tick_size: Decimal
    lot_size: int
    last_price: Decimal


def money(value: Decimal) -> str:
    """'6,202.50': how XTS writes an amount in a position row."""
    return f"{value:,.2f}"


class FakeXtsOms:
    def __init__(self, instruments: list[FakeInstrument], user_id: str = "XTSUSER1") -> None:
        self.instruments = {(i.segment, i.instrument_id): i for i in instruments}
        self.user_id = user_id
        self.orders: dict[int, dict[str, Any]] = {}
        self.history: dict[int, list[dict[str, Any]]] = {}
        self.trades: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self.placed = 0
        self.exchange_matching = False
        self.reject_next_reason: str | None = None
        """The next order is accepted (its AppOrderID returned) and then Rejected by the RMS."""
        self.upper_case_enums = False
        self.replaced_rests = False
        """A modified order stays ``Replaced`` until its next change (some deployments), instead
        of going back to ``New``."""
        self._values: dict[int, tuple[Decimal, int]] = {}
        self._ids = itertools.count(1_100_000_001)
        self._exchange_ids = itertools.count(1_200_000_000_000_001)
        self._executions = itertools.count(30_000_001)

    def add_instrument(self, instrument: FakeInstrument) -> None:
        self.instruments[(instrument.segment, instrument.instrument_id)] = instrument

    def instrument(self, segment: str, instrument_id: int) -> FakeInstrument:
        return self.instruments[(segment, instrument_id)]

    # -- requests --------------------------------------------------------------------------------

    def place(self, body: dict[str, Any]) -> dict[str, Any]:
        instrument = self._instrument_of(
            body.get("exchangeSegment"), body.get("exchangeInstrumentID")
        )
        side = str(body.get("orderSide", "")).upper()
        if side not in ("BUY", "SELL"):
            raise bad_request("orderSide", '"orderSide" must be one of [BUY, SELL]')
        kind = str(body.get("orderType", "")).upper()
        if kind not in ORDER_TYPES:
            raise bad_request("orderType", '"orderType" must be one of [MARKET, LIMIT, ...]')
        product = str(body.get("productType", "")).upper()
        if product not in ("MIS", "NRML", "CNC"):
            raise bad_request("productType", '"productType" must be one of [MIS, NRML, CNC]')
        validity = str(body.get("timeInForce", "")).upper()
        if validity not in ("DAY", "IOC"):
            raise bad_request("timeInForce", '"timeInForce" must be one of [DAY, IOC]')
        quantity = self._quantity(body.get("orderQuantity"), instrument)
        limit = self._price(body.get("limitPrice"), instrument, "limitPrice")
        stop = self._price(body.get("stopPrice"), instrument, "stopPrice")
        if kind in ("LIMIT", "STOPLIMIT") and not limit:
            raise bad_request("limitPrice", '"limitPrice" must be greater than 0')
        if kind in ("STOPMARKET", "STOPLIMIT") and not stop:
            raise bad_request("stopPrice", '"stopPrice" must be greater than 0')
        unique = str(body.get("orderUniqueIdentifier") or "")
        if len(unique) > 20:
            raise bad_request("orderUniqueIdentifier", "length must be less than or equal to 20")
        app_order_id = next(self._ids)
        now = self._now()
        order: dict[str, Any] = {
            "LoginID": self.user_id,
            "ClientID": self.user_id,
            "AppOrderID": app_order_id,
            "OrderReferenceID": "",
            "GeneratedBy": "TWSAPI",
            "ExchangeOrderID": "",
            "OrderCategoryType": "NORMAL",
            "ExchangeSegment": instrument.segment,
            "ExchangeInstrumentID": instrument.instrument_id,
            "TradingSymbol": instrument.symbol,
            "OrderSide": self._enum(side.capitalize()),
            "OrderType": self._enum(ORDER_TYPES[kind]),
            "ProductType": product,
            "TimeInForce": validity,
            "OrderPrice": float(limit),
            "OrderQuantity": quantity,
            "OrderStopPrice": float(stop),
            "OrderStatus": "PendingNew",
            "OrderAverageTradedPrice": "",
            "LeavesQuantity": quantity,
            "CumulativeQuantity": 0,
            "OrderDisclosedQuantity": int(body.get("disclosedQuantity") or 0),
            "OrderGeneratedDateTime": now,
            "ExchangeTransactTime": now + "+05:30",
            "LastUpdateDateTime": now,
            "OrderExpiryDate": "1980-01-01T00:00:00",
            "CancelRejectReason": "",
            "OrderUniqueIdentifier": unique,
            "OrderLegStatus": "SingleOrderLeg",
            "IsSpread": False,
            "BoLegDetails": 0,
            "BoEntryOrderId": "",
            "MessageCode": 9004,
            "MessageVersion": 4,
            "TokenID": 0,
            "ApplicationType": 0,
            "SequenceNumber": 0,
        }
        self.orders[app_order_id] = order
        self.history[app_order_id] = []
        self._values[app_order_id] = (Decimal(0), 0)
        self.placed += 1
        self._set(order)
        if self.reject_next_reason is not None:
            reason, self.reject_next_reason = self.reject_next_reason, None
            self._set(order, OrderStatus="Rejected", CancelRejectReason=reason, LeavesQuantity=0)
            return self._answer(order)
        order["ExchangeOrderID"] = str(next(self._exchange_ids))
        self._set(order, OrderStatus="New")
        if kind == "MARKET":
            self.fill(app_order_id, quantity, instrument.last_price)
        elif self.exchange_matching and kind == "LIMIT":
            if self._marketable(order, limit, instrument.last_price):
                self.fill(app_order_id, quantity, instrument.last_price)
            elif validity == "IOC":
                self._cancel_rest(order, "IOC order cancelled: no match at the exchange")
        return self._answer(order)

    def modify(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self._order(body.get("appOrderID"))
        if order["OrderStatus"] not in OPEN:
            raise XtsApiError(
                400,
                "e-orders-0010",
                f"Order cannot be modified as it is in {order['OrderStatus']} state",
            )
        instrument = self._instrument_of(order["ExchangeSegment"], order["ExchangeInstrumentID"])
        for name in ("modifiedOrderType", "modifiedOrderQuantity", "modifiedLimitPrice",
                     "modifiedStopPrice", "modifiedProductType", "modifiedTimeInForce"):  # fmt: skip
            if name not in body:
                raise bad_request(name, f'"{name}" is required')
        kind = str(body["modifiedOrderType"]).upper()
        if kind not in ORDER_TYPES:
            raise bad_request("modifiedOrderType", '"modifiedOrderType" is not an order type')
        quantity = self._quantity(body["modifiedOrderQuantity"], instrument)
        if quantity <= order["CumulativeQuantity"]:
            raise XtsApiError(400, "e-orders-0011", "Quantity must exceed the traded quantity")
        limit = self._price(body["modifiedLimitPrice"], instrument, "modifiedLimitPrice")
        stop = self._price(body["modifiedStopPrice"], instrument, "modifiedStopPrice")
        self._set(order, OrderStatus="PendingReplace")
        self._set(order, OrderStatus="Replaced")
        after = "New" if not order["CumulativeQuantity"] else "PartiallyFilled"
        self._set(
            order,
            OrderStatus="Replaced" if self.replaced_rests else after,
            OrderType=self._enum(ORDER_TYPES[kind]),
            OrderQuantity=quantity,
            LeavesQuantity=quantity - order["CumulativeQuantity"],
            OrderPrice=float(limit),
            OrderStopPrice=float(stop),
        )
        last = instrument.last_price
        if kind == "MARKET" or (
            self.exchange_matching and kind == "LIMIT" and self._marketable(order, limit, last)
        ):
            self.fill(order["AppOrderID"], order["LeavesQuantity"], last)
        return self._answer(order)

    def cancel(self, app_order_id: Any) -> dict[str, Any]:
        order = self._order(app_order_id)
        if order["OrderStatus"] not in OPEN:
            raise XtsApiError(
                400,
                "e-orders-0012",
                f"Order cannot be cancelled as it is in {order['OrderStatus']} state",
            )
        self._set(order, OrderStatus="PendingCancel")
        self._cancel_rest(order, "")
        return {"AppOrderID": order["AppOrderID"]}

    def cancel_all(self, segment: str, instrument_id: int) -> list[dict[str, Any]]:
        out = []
        for order in list(self.orders.values()):
            same = (order["ExchangeSegment"], order["ExchangeInstrumentID"]) == (
                segment,
                instrument_id,
            )
            if same and order["OrderStatus"] in OPEN:
                out.append(self.cancel(order["AppOrderID"]))
        return out

    def fill(
        self, app_order_id: int, quantity: int, price: Decimal | None = None
    ) -> dict[str, Any]:
        """One execution of an open order (tests call this for resting orders)."""
        order = self._order(app_order_id)
        if order["OrderStatus"] not in OPEN:
            raise ValueError(f"order {app_order_id} is {order['OrderStatus']}, it cannot fill")
        if not 0 < quantity <= order["LeavesQuantity"]:
            raise ValueError(f"cannot fill {quantity} of {order['LeavesQuantity']} open")
        at = price if price is not None else Decimal(str(order["OrderPrice"]))
        value, filled = self._values[app_order_id]
        value, filled = value + at * quantity, filled + quantity
        self._values[app_order_id] = (value, filled)
        now = self._now()
        complete = filled == order["OrderQuantity"]
        order.update(
            OrderStatus="Filled" if complete else "PartiallyFilled",
            CumulativeQuantity=filled,
            LeavesQuantity=order["OrderQuantity"] - filled,
            OrderAverageTradedPrice=f"{value / filled:.2f}",
            LastUpdateDateTime=now,
            ExchangeTransactTime=now + "+05:30",
        )
        trade = dict(order)
        trade.update(
            LastTradedPrice=float(at),
            LastTradedQuantity=quantity,
            LastExecutionTransactTime=now,
            ExecutionID=str(next(self._executions)),
            ExecutionReportIndex=len(self.trades) + 1,
        )
        self.trades.append(trade)
        self.history[app_order_id].append(dict(order))
        self._push("trade", trade)
        self._push("order", order)
        self._push("position", self._position_of(order))
        return trade

    def move_market(self, segment: str, instrument_id: int, price: Decimal) -> None:
        instrument = self.instrument(segment, instrument_id)
        instrument.last_price = price
        if not self.exchange_matching:
            return
        for order in list(self.orders.values()):
            if (order["ExchangeSegment"], order["ExchangeInstrumentID"]) != (
                segment,
                instrument_id,
            ):
                continue
            if order["OrderStatus"] not in OPEN:
                continue
            buy = order["OrderSide"].upper() == "BUY"
            kind = order["OrderType"].upper()
            triggered = False
            if kind in ("STOPMARKET", "STOPLIMIT"):
                stop = Decimal(str(order["OrderStopPrice"]))
                if not (price >= stop if buy else price <= stop):
                    continue
                if kind == "STOPMARKET":
                    self._set(order, OrderType=self._enum("Market"))
                    self.fill(order["AppOrderID"], order["LeavesQuantity"], price)
                    continue
                self._set(order, OrderType=self._enum("Limit"))
                triggered = True
            if order["OrderType"].upper() != "LIMIT":
                continue
            limit = Decimal(str(order["OrderPrice"]))
            if self._marketable(order, limit, price):
                self.fill(
                    order["AppOrderID"], order["LeavesQuantity"], price if triggered else limit
                )

    def repeat(self, app_order_id: int) -> None:
        """Send the order's events again: its executions and its state (as around a reconnect)."""
        order = self._order(app_order_id)
        for trade in self.trades:
            if trade["AppOrderID"] == app_order_id:
                self._push("trade", trade)
        self._push("order", order)

    # -- reads -----------------------------------------------------------------------------------

    def order_list(self) -> list[dict[str, Any]]:
        return [dict(order) for order in self.orders.values()]

    def order_history(self, app_order_id: Any) -> list[dict[str, Any]]:
        order = self._order(app_order_id)
        return [dict(entry) for entry in self.history[order["AppOrderID"]]]

    def find(self, unique_id: str) -> list[dict[str, Any]]:
        return [dict(o) for o in self.orders.values() if o["OrderUniqueIdentifier"] == unique_id]

    def positions(self) -> list[dict[str, Any]]:
        keys = dict.fromkeys(
            (t["ExchangeSegment"], t["ExchangeInstrumentID"], t["ProductType"]) for t in self.trades
        )
        return [self._position(*key) for key in keys]

    def _position_of(self, order: dict[str, Any]) -> dict[str, Any]:
        return self._position(
            order["ExchangeSegment"], order["ExchangeInstrumentID"], order["ProductType"]
        )

    def _position(self, segment: str, instrument_id: int, product: str) -> dict[str, Any]:
        buys = sells = 0
        buy_value = sell_value = Decimal(0)
        for trade in self.trades:
            key = (trade["ExchangeSegment"], trade["ExchangeInstrumentID"], trade["ProductType"])
            if key != (segment, instrument_id, product):
                continue
            value = Decimal(str(trade["LastTradedPrice"])) * trade["LastTradedQuantity"]
            if trade["OrderSide"].upper() == "BUY":
                buys += trade["LastTradedQuantity"]
                buy_value += value
            else:
                sells += trade["LastTradedQuantity"]
                sell_value += value
        instrument = self.instrument(segment, instrument_id)
        net = buys - sells
        mtm = sell_value - buy_value + net * instrument.last_price
        return {
            "AccountID": self.user_id,
            "TradingSymbol": instrument.symbol,
            "ExchangeSegment": segment,
            "ExchangeInstrumentId": str(instrument_id),
            "ProductType": product,
            "Marketlot": str(instrument.lot_size),
            "Multiplier": "1",
            "BuyAveragePrice": money(buy_value / buys if buys else Decimal(0)),
            "SellAveragePrice": money(sell_value / sells if sells else Decimal(0)),
            "OpenBuyQuantity": str(buys),
            "OpenSellQuantity": str(sells),
            "Quantity": str(net),
            "BuyAmount": money(buy_value),
            "SellAmount": money(sell_value),
            "NetAmount": money(sell_value - buy_value),
            "UnrealizedMTM": money(mtm),
            "RealizedMTM": money(Decimal(0)),
            "MTM": money(mtm),
            "BEP": money(Decimal(0)),
            "SumOfTradedQuantityAndPriceBuy": money(buy_value),
            "SumOfTradedQuantityAndPriceSell": money(sell_value),
            "MessageCode": 9002,
            "MessageVersion": 1,
            "TokenID": 0,
            "ApplicationType": 0,
            "SequenceNumber": 0,
        }

    # -- helpers ---------------------------------------------------------------------------------

    def _answer(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "AppOrderID": order["AppOrderID"],
            "OrderUniqueIdentifier": order["OrderUniqueIdentifier"],
            "ClientID": self.user_id,
        }

    def _enum(self, text: str) -> str:
        return text.upper() if self.upper_case_enums else text

    def _instrument_of(self, segment: Any, instrument_id: Any) -> FakeInstrument:
        key = (str(segment).upper(), _int(instrument_id))
        if key[0] not in SEGMENTS:
            raise bad_request("exchangeSegment", '"exchangeSegment" is not a segment')
        instrument = self.instruments.get(key)
        if instrument is None:
            raise XtsApiError(400, "e-orders-0002", "Instrument not found")
        return instrument

    def _order(self, app_order_id: Any) -> dict[str, Any]:
        order = self.orders.get(_int(app_order_id))
        if order is None:
            raise XtsApiError(400, "e-orders-0003", "Order not found")
        return order

    @staticmethod
    def _quantity(value: Any, instrument: FakeInstrument) -> int:
        quantity = _int(value)
        if quantity <= 0:
            raise bad_request("orderQuantity", '"orderQuantity" must be greater than 0')
        if quantity % instrument.lot_size:
            raise XtsApiError(
                400, "e-orders-0004", f"Quantity should be a multiple of {instrument.lot_size}"
            )
        return quantity

    @staticmethod
    def _price(value: Any, instrument: FakeInstrument, name: str) -> Decimal:
        try:
            price = Decimal(str(value or 0))
        except ArithmeticError:
            raise bad_request(name, f'"{name}" must be a number') from None
        if price < 0 or price % instrument.tick_size:
            raise XtsApiError(
                400,
                "e-orders-0005",
                f"{name} should be a multiple of the tick {instrument.tick_size}",
            )
        return price

    @staticmethod
    def _marketable(order: dict[str, Any], limit: Decimal, last: Decimal) -> bool:
        return limit >= last if order["OrderSide"].upper() == "BUY" else limit <= last

    def _cancel_rest(self, order: dict[str, Any], reason: str) -> None:
        self._set(order, OrderStatus="Cancelled", LeavesQuantity=0, CancelRejectReason=reason)

    def _set(self, order: dict[str, Any], **changes: Any) -> None:
        now = self._now()
        order.update(changes, LastUpdateDateTime=now)
        self.history[order["AppOrderID"]].append(dict(order))
        self._push("order", order)

    def _push(self, event: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event, dict(data))

    @staticmethod
    def _now() -> str:
        """ISO with a 7-digit fraction, as captured (§C.13.3)."""
        return datetime.now(IST).strftime("%Y-%m-%dT%H:%M:%S.%f") + "1"


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise bad_request("appOrderID", f"{value!r} is not a number") from None
