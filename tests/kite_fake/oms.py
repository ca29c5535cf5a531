"""The fake Kite OMS: orders, trades and positions in Kite's JSON shapes (kite_xts_apis.md §A.5–A.10).

Orders walk the documented statuses (PUT ORDER REQ RECEIVED → VALIDATION PENDING → OPEN PENDING →
OPEN, MODIFY ... → OPEN, CANCEL PENDING → CANCELLED); every change after the placement is pushed to
the listeners (the fake ticker sends them as ``{"type": "order"}`` text frames), with status
``UPDATE`` for a modification or a partial fill, as Kite does. LIMIT orders rest until the test
fills them (``fill``); MARKET orders fill at once at the instrument's last price. With
``exchange_matching`` on, the fake also matches as the exchange would (marketable limits, IOC,
stop triggers and resting limits reached by ``move_market``); ``reject_next_reason`` makes the
RMS reject the next order with a reason. A trigger-pending stop modified to LIMIT or MARKET stops
waiting for its trigger and goes to the book as an open order (a MARKET one fills at once).

Prices are ``Decimal`` inside and JSON numbers outside, as Kite sends them.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.core.clock import IST
from tests.support import KITE_FIXTURES

FIXTURES = KITE_FIXTURES

OPEN_STATUSES = {"OPEN", "TRIGGER PENDING"}
MAX_MODIFICATIONS = 25
VARIETIES = {"regular", "amo", "co", "iceberg", "auction"}


class KiteApiError(Exception):
    """An error the fake answers with Kite's error envelope."""

    def __init__(self, http_status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_type = error_type
        self.message = message


def _input_error(message: str) -> KiteApiError:
    return KiteApiError(400, "InputException", message)


@dataclass
class FakeInstrument:
    instrument_token: int
    exchange: str
    tradingsymbol: str
    tick_size: Decimal
    lot_size: int
    last_price: Decimal
    freeze_quantity: int | None = None


def load_fixture_instruments() -> list[FakeInstrument]:
    out = []
    with (FIXTURES / "instruments_all.csv").open(newline="") as stream:
        for row in csv.DictReader(stream):
            out.append(
                FakeInstrument(
                    instrument_token=int(row["instrument_token"]),
                    exchange=row["exchange"],
                    tradingsymbol=row["tradingsymbol"],
                    tick_size=Decimal(row["tick_size"]),
                    lot_size=max(1, int(row["lot_size"])),
                    last_price=Decimal(row["last_price"]),
                )
            )
    return out


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


class FakeOms:
    def __init__(self, instruments: list[FakeInstrument], user_id: str = "XX0000") -> None:
        self.instruments = {(i.exchange, i.tradingsymbol): i for i in instruments}
        self.user_id = user_id
        self.orders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.trades: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.placed = 0
        self._prices: dict[str, tuple[Decimal, int]] = {}  # order id -> (filled value, filled qty)
        self._ids = itertools.count(1_953_367_517_686_685_697)
        self._exchange_ids = itertools.count(1_100_000_000_000_001)
        self._trade_ids = itertools.count(50_000_001)
        self._modifications: dict[str, int] = {}
        self.push_on_open = True
        self.exchange_matching = False
        """When True the fake matches as the exchange does (off by default: most tests fill by
        hand): a LIMIT order priced through the last price fills at once at the last price, an
        IOC's unfilled rest is cancelled, and ``move_market`` triggers stop orders and fills the
        resting LIMIT orders the new price reaches, at their own price."""
        self.price_listeners: list[Callable[[str, str, Decimal], None]] = []
        """Told of every price ``move_market`` sets (the GTT service watches its triggers)."""
        self.reject_next_reason: str | None = None
        """The next order is accepted (its id returned) and then REJECTED by the RMS with this
        ``status_message``, as Kite does for insufficient funds or a blocked instrument."""

    def add_instrument(self, instrument: FakeInstrument) -> None:
        self.instruments[(instrument.exchange, instrument.tradingsymbol)] = instrument

    def set_last_price(self, exchange: str, tradingsymbol: str, price: Decimal) -> None:
        self.instruments[(exchange, tradingsymbol)].last_price = price

    # -- requests --------------------------------------------------------------------------------

    def place(self, variety: str, params: dict[str, str]) -> str:
        if variety not in VARIETIES:
            raise _input_error(f"Invalid variety `{variety}`.")
        for name in (
            "exchange",
            "tradingsymbol",
            "transaction_type",
            "quantity",
            "product",
            "order_type",
        ):
            if not params.get(name):
                raise _input_error(f"Missing `{name}`.")
        instrument = self.instruments.get((params["exchange"], params["tradingsymbol"]))
        if instrument is None:
            raise _input_error("Invalid `tradingsymbol`.")
        if params["transaction_type"] not in ("BUY", "SELL"):
            raise _input_error("Invalid `transaction_type`.")
        order_type = params["order_type"]
        if order_type not in ("MARKET", "LIMIT", "SL", "SL-M"):
            raise _input_error("Invalid `order_type`.")
        quantity = self._quantity(params["quantity"], instrument)
        price = self._price(params.get("price"), instrument, "price")
        trigger = self._price(params.get("trigger_price"), instrument, "trigger_price")
        if order_type in ("LIMIT", "SL") and not price:
            raise _input_error("Invalid `price`.")
        if order_type in ("SL", "SL-M") and not trigger:
            raise _input_error("Invalid `trigger_price`.")
        protection = Decimal(params.get("market_protection") or "0")
        if order_type in ("MARKET", "SL-M") and protection == 0:
            raise _input_error("Market orders without market protection are not allowed via API.")
        tag = params.get("tag") or None
        if tag is not None and len(tag) > 20:
            raise _input_error("Tag length should be less than 20 characters.")
        if instrument.freeze_quantity is not None and quantity > instrument.freeze_quantity:
            raise KiteApiError(
                400, "OrderException", "Quantity exceeds the freeze limit for this instrument."
            )

        order_id = str(next(self._ids))
        now = self._now()
        order: dict[str, Any] = {
            "account_id": self.user_id,
            "placed_by": self.user_id,
            "order_id": order_id,
            "exchange_order_id": None,
            "parent_order_id": None,
            "status": "PUT ORDER REQ RECEIVED",
            "status_message": None,
            "status_message_raw": None,
            "order_timestamp": now,
            "exchange_update_timestamp": None,
            "exchange_timestamp": None,
            "variety": variety,
            "modified": False,
            "exchange": instrument.exchange,
            "tradingsymbol": instrument.tradingsymbol,
            "instrument_token": instrument.instrument_token,
            "order_type": order_type,
            "transaction_type": params["transaction_type"],
            "validity": params.get("validity") or "DAY",
            "validity_ttl": 0,
            "product": params["product"],
            "quantity": quantity,
            "disclosed_quantity": int(params.get("disclosed_quantity") or 0),
            "price": _number(price),
            "trigger_price": _number(trigger),
            "average_price": 0,
            "filled_quantity": 0,
            "pending_quantity": quantity,
            "cancelled_quantity": 0,
            "market_protection": _number(protection),
            "meta": {},
            "tag": tag,
            "tags": [tag] if tag else [],
            "guid": f"guid-{order_id}",
        }
        self.orders[order_id] = order
        self.history[order_id] = []
        self._prices[order_id] = (Decimal(0), 0)
        self.placed += 1
        self._record(order)
        if self.reject_next_reason is not None:
            reason, self.reject_next_reason = self.reject_next_reason, None
            self._set(order, status="VALIDATION PENDING")
            self._set(
                order,
                status="REJECTED",
                status_message=reason,
                status_message_raw=f"RMS:Rule: {reason}",
                pending_quantity=0,
                exchange_update_timestamp=now,
            )
            self._push(order)
            return order_id
        for status in ("VALIDATION PENDING", "OPEN PENDING"):
            self._set(order, status=status)
        order["exchange_order_id"] = str(next(self._exchange_ids))
        order["exchange_timestamp"] = now
        live = "TRIGGER PENDING" if order_type in ("SL", "SL-M") else "OPEN"
        self._set(order, status=live, exchange_update_timestamp=now)
        if self.push_on_open:
            self._push(order)
        if order_type == "MARKET":
            self.fill(order_id, quantity, instrument.last_price)
        elif self.exchange_matching and order_type == "LIMIT":
            if self._marketable(order, price, instrument.last_price):
                self.fill(order_id, quantity, instrument.last_price)
            elif order["validity"] == "IOC":
                self._cancel_rest(order, "IOC order cancelled: no match at the exchange.")
        return order_id

    def move_market(self, exchange: str, tradingsymbol: str, price: Decimal) -> None:
        """The instrument trades at ``price``: with ``exchange_matching`` on, stop orders whose
        trigger it reaches are triggered (SL-M fills at the price, SL becomes a LIMIT) and resting
        LIMIT orders it reaches fill at their own price."""
        instrument = self.instruments[(exchange, tradingsymbol)]
        instrument.last_price = price
        for listener in self.price_listeners:
            listener(exchange, tradingsymbol, price)
        if not self.exchange_matching:
            return
        for order in list(self.orders.values()):
            if (order["exchange"], order["tradingsymbol"]) != (exchange, tradingsymbol):
                continue
            buy = order["transaction_type"] == "BUY"
            triggered = False
            if order["status"] == "TRIGGER PENDING":
                trigger = Decimal(str(order["trigger_price"]))
                if not (price >= trigger if buy else price <= trigger):
                    continue
                self._set(order, status="OPEN", exchange_update_timestamp=self._now())
                self._push(order)
                if order["order_type"] == "SL-M":
                    self.fill(order["order_id"], order["pending_quantity"], price)
                    continue
                triggered = True
            if order["status"] != "OPEN" or order["order_type"] not in ("LIMIT", "SL"):
                continue
            limit = Decimal(str(order["price"]))
            if self._marketable(order, limit, price):
                # A just-triggered stop takes the market; a resting limit trades at its price.
                self.fill(
                    order["order_id"], order["pending_quantity"], price if triggered else limit
                )

    def repeat_update(self, order_id: str) -> None:
        """Send the order's current state to the ticker again (Kite may deliver an update twice,
        for instance around a reconnect)."""
        self._push(self._order(order_id))

    @staticmethod
    def _marketable(order: dict[str, Any], limit: Decimal, last_price: Decimal) -> bool:
        if order["transaction_type"] == "BUY":
            return limit >= last_price
        return limit <= last_price

    def _cancel_rest(self, order: dict[str, Any], message: str) -> None:
        self._set(
            order,
            status="CANCELLED",
            status_message=message,
            cancelled_quantity=order["pending_quantity"],
            pending_quantity=0,
            exchange_update_timestamp=self._now(),
        )
        self._push(order)

    def modify(self, variety: str, order_id: str, params: dict[str, str]) -> str:
        order = self._order(order_id)
        if order["status"] not in OPEN_STATUSES:
            raise KiteApiError(
                400,
                "OrderException",
                f"Order cannot be modified as it is in {order['status']} state.",
            )
        count = self._modifications.get(order_id, 0) + 1
        if count > MAX_MODIFICATIONS:
            raise KiteApiError(
                400, "OrderException", "Maximum allowed order modifications exceeded."
            )
        self._modifications[order_id] = count
        instrument = self.instruments[(order["exchange"], order["tradingsymbol"])]
        changes: dict[str, Any] = {}
        if params.get("quantity"):
            quantity = self._quantity(params["quantity"], instrument)
            if quantity < order["filled_quantity"]:
                raise _input_error("Quantity cannot be less than the filled quantity.")
            changes["quantity"] = quantity
            changes["pending_quantity"] = quantity - order["filled_quantity"]
        if params.get("price"):
            changes["price"] = _number(self._price(params["price"], instrument, "price"))
        if params.get("trigger_price"):
            trigger = self._price(params["trigger_price"], instrument, "trigger_price")
            changes["trigger_price"] = _number(trigger)
        if params.get("order_type"):
            changes["order_type"] = params["order_type"]
        if changes.get("order_type") == "MARKET" and not params.get("market_protection"):
            raise _input_error("Market orders without market protection are not allowed via API.")
        before = order["status"]
        live = before
        if before == "TRIGGER PENDING" and changes.get("order_type") in ("LIMIT", "MARKET"):
            live = "OPEN"  # a stop turned into a plain order no longer waits for its trigger
            changes["trigger_price"] = 0
        for status in ("MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED"):
            self._set(order, status=status)
        self._set(order, status=live, modified=True, **changes)
        self._push(order, status="UPDATE" if live == before else None)
        last_price = instrument.last_price
        at_market = order["order_type"] == "MARKET"
        marketable = (
            self.exchange_matching
            and order["order_type"] == "LIMIT"
            and self._marketable(order, Decimal(str(order["price"])), last_price)
        )
        if live == "OPEN" and (at_market or marketable):
            self.fill(order_id, order["pending_quantity"], last_price)
        return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        order = self._order(order_id)
        if order["status"] not in OPEN_STATUSES:
            raise KiteApiError(
                400,
                "OrderException",
                f"Order cannot be cancelled as it is in {order['status']} state.",
            )
        self._set(order, status="CANCEL PENDING")
        self._set(
            order,
            status="CANCELLED",
            cancelled_quantity=order["pending_quantity"],
            exchange_update_timestamp=self._now(),
        )
        self._push(order)
        return order_id

    def fill(self, order_id: str, quantity: int, price: Decimal | None = None) -> dict[str, Any]:
        """One trade of an open order (tests call this for LIMIT orders)."""
        order = self._order(order_id)
        if order["status"] not in OPEN_STATUSES:
            raise ValueError(f"order {order_id} is {order['status']}, it cannot fill")
        if not 0 < quantity <= order["pending_quantity"]:
            raise ValueError(f"cannot fill {quantity} of {order['pending_quantity']} pending")
        fill_price = price if price is not None else Decimal(str(order["price"]))
        now = self._now()
        trade = {
            "trade_id": str(next(self._trade_ids)),
            "order_id": order_id,
            "exchange": order["exchange"],
            "tradingsymbol": order["tradingsymbol"],
            "instrument_token": order["instrument_token"],
            "product": order["product"],
            "average_price": _number(fill_price),
            "quantity": quantity,
            "exchange_order_id": order["exchange_order_id"],
            "transaction_type": order["transaction_type"],
            "fill_timestamp": now,
            "order_timestamp": now[11:],
            "exchange_timestamp": now,
        }
        self.trades.append(trade)
        value, filled = self._prices[order_id]
        value, filled = value + fill_price * quantity, filled + quantity
        self._prices[order_id] = (value, filled)
        average = value / filled  # Kite reports the exact average, not rounded to the paisa
        complete = filled == order["quantity"]
        self._set(
            order,
            status="COMPLETE" if complete else order["status"],
            filled_quantity=filled,
            pending_quantity=order["quantity"] - filled,
            average_price=_number(average),
            exchange_update_timestamp=now,
        )
        self._push(order, status=None if complete else "UPDATE")
        return trade

    # -- reads -----------------------------------------------------------------------------------

    def order_list(self) -> list[dict[str, Any]]:
        return [dict(order) for order in self.orders.values()]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        self._order(order_id)
        return [dict(entry) for entry in self.history[order_id]]

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        self._order(order_id)
        return [dict(t) for t in self.trades if t["order_id"] == order_id]

    def find_by_tag(self, tag: str) -> list[dict[str, Any]]:
        return [dict(o) for o in self.orders.values() if o.get("tag") == tag]

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        books: dict[tuple[int, str], dict[str, Any]] = {}
        for trade in self.trades:
            key = (trade["instrument_token"], trade["product"])
            book = books.setdefault(
                key,
                {
                    "trade": trade,
                    "buy_qty": 0,
                    "buy_value": Decimal(0),
                    "sell_qty": 0,
                    "sell_value": Decimal(0),
                },
            )
            price = Decimal(str(trade["average_price"]))
            side = "buy" if trade["transaction_type"] == "BUY" else "sell"
            book[f"{side}_qty"] += trade["quantity"]
            book[f"{side}_value"] += price * trade["quantity"]
        rows = [self._position_row(book) for book in books.values()]
        return {"net": rows, "day": [dict(row) for row in rows]}

    def _position_row(self, book: dict[str, Any]) -> dict[str, Any]:
        trade = book["trade"]
        instrument = self.instruments[(trade["exchange"], trade["tradingsymbol"])]
        buy_qty, sell_qty = book["buy_qty"], book["sell_qty"]
        buy_value, sell_value = book["buy_value"], book["sell_value"]
        net = buy_qty - sell_qty
        last = instrument.last_price
        buy_price = (buy_value / buy_qty).quantize(Decimal("0.01")) if buy_qty else Decimal(0)
        sell_price = (sell_value / sell_qty).quantize(Decimal("0.01")) if sell_qty else Decimal(0)
        average = buy_price if net > 0 else sell_price if net < 0 else Decimal(0)
        pnl = sell_value - buy_value + net * last
        return {
            "tradingsymbol": trade["tradingsymbol"],
            "exchange": trade["exchange"],
            "instrument_token": trade["instrument_token"],
            "product": trade["product"],
            "quantity": net,
            "overnight_quantity": 0,
            "multiplier": 1,
            "average_price": _number(average),
            "close_price": 0,
            "last_price": _number(last),
            "value": _number(sell_value - buy_value),
            "pnl": _number(pnl),
            "m2m": _number(pnl),
            "unrealised": _number(pnl),
            "realised": 0,
            "buy_quantity": buy_qty,
            "buy_price": _number(buy_price),
            "buy_value": _number(buy_value),
            "buy_m2m": _number(buy_value),
            "sell_quantity": sell_qty,
            "sell_price": _number(sell_price),
            "sell_value": _number(sell_value),
            "sell_m2m": _number(sell_value),
            "day_buy_quantity": buy_qty,
            "day_buy_price": _number(buy_price),
            "day_buy_value": _number(buy_value),
            "day_sell_quantity": sell_qty,
            "day_sell_price": _number(sell_price),
            "day_sell_value": _number(sell_value),
        }

    # -- helpers ---------------------------------------------------------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        try:
            return self.orders[order_id]
        except KeyError:
            raise KiteApiError(404, "OrderException", "Couldn't find that `order_id`.") from None

    @staticmethod
    def _quantity(text: str, instrument: FakeInstrument) -> int:
        try:
            quantity = int(text)
        except ValueError:
            raise _input_error("Invalid `quantity`.") from None
        if quantity <= 0:
            raise _input_error("Invalid `quantity`.")
        if quantity % instrument.lot_size:
            raise _input_error(
                f"Quantity should be a multiple of lot size ({instrument.lot_size})."
            )
        return quantity

    @staticmethod
    def _price(text: str | None, instrument: FakeInstrument, name: str) -> Decimal:
        if not text:
            return Decimal(0)
        try:
            price = Decimal(text)
        except ArithmeticError:
            raise _input_error(f"Invalid `{name}`.") from None
        if price < 0 or price % instrument.tick_size:
            raise _input_error(
                f"Invalid `{name}`: it should be a multiple of the tick size "
                f"{instrument.tick_size}."
            )
        return price

    def _set(self, order: dict[str, Any], **changes: Any) -> None:
        order.update(changes)
        self._record(order)

    def _record(self, order: dict[str, Any]) -> None:
        self.history[order["order_id"]].append(dict(order))

    def _push(self, order: dict[str, Any], status: str | None = None) -> None:
        update = dict(order)
        update.update(
            user_id=self.user_id,
            app_id=1,
            checksum="",
            unfilled_quantity=0,
        )
        if status is not None:
            update["status"] = status
        for listener in self.listeners:
            listener(update)

    @staticmethod
    def _now() -> str:
        return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")
