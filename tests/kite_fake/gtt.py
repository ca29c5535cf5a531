"""The fake Kite's GTT service (kite_xts_apis.md §A.15): ``/gtt/triggers`` with the form fields
``type``, ``condition`` and ``orders`` as JSON strings, GTT objects shaped like the official mocks
(``gtt_get_orders.json``), and triggering as Kite does: when the last price of the instrument
crosses a trigger (``FakeOms.move_market``), the leg's order is placed in the fake OMS (its
updates reach the ticker like any order) and the GTT becomes ``triggered``, its leg carrying the
``result`` with ``order_result``. Only an ``active`` GTT can be modified; deleting one marks it
``deleted`` (Kite keeps the row for a while)."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.core.clock import IST
from tests.kite_fake.oms import FakeOms, KiteApiError

LIFETIME = timedelta(days=365)


def _input_error(message: str) -> KiteApiError:
    return KiteApiError(400, "InputException", message)


def _now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


class FakeGtt:
    def __init__(self, oms: FakeOms) -> None:
        self.oms = oms
        self.triggers: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(112_127)
        oms.price_listeners.append(self.on_price)

    # -- requests --------------------------------------------------------------------------------

    def _read_form(self, form: dict[str, str]) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        kind = form.get("type", "")
        if kind not in ("single", "two-leg"):
            raise _input_error("Invalid `type`.")
        try:
            condition = json.loads(form.get("condition", ""))
            orders = json.loads(form.get("orders", ""))
        except json.JSONDecodeError:
            raise _input_error("Invalid `condition` or `orders`: not JSON.") from None
        if not isinstance(condition, dict) or not isinstance(orders, list):
            raise _input_error("Invalid `condition` or `orders`.")
        instrument = self.oms.instruments.get(
            (condition.get("exchange"), condition.get("tradingsymbol"))
        )
        if instrument is None:
            raise _input_error("Invalid `tradingsymbol`.")
        values = condition.get("trigger_values")
        wanted = 1 if kind == "single" else 2
        if not isinstance(values, list) or len(values) != wanted or len(orders) != wanted:
            raise _input_error(f"Invalid `trigger_values`: a {kind} GTT has {wanted}.")
        last = Decimal(str(condition.get("last_price")))
        if kind == "two-leg" and not Decimal(str(values[0])) < last < Decimal(str(values[1])):
            raise _input_error("Trigger values must be on either side of the last price.")
        for order in orders:
            for name in ("transaction_type", "quantity", "order_type", "product", "price"):
                if name not in order:
                    raise _input_error(f"`{name}` missing inside orders")
        condition = {**condition, "instrument_token": instrument.instrument_token}
        rows = [{**order, "exchange": instrument.exchange,
                 "tradingsymbol": instrument.tradingsymbol, "result": None} for order in orders]  # fmt: skip
        return kind, condition, rows

    def place(self, form: dict[str, str]) -> int:
        kind, condition, orders = self._read_form(form)
        trigger_id = next(self._ids)
        now = datetime.now(IST)
        self.triggers[trigger_id] = {
            "id": trigger_id,
            "user_id": self.oms.user_id,
            "parent_trigger": None,
            "type": kind,
            "created_at": now.strftime("%Y-%m-%d %H:%M:%S"),
            "updated_at": now.strftime("%Y-%m-%d %H:%M:%S"),
            "expires_at": (now + LIFETIME).strftime("%Y-%m-%d %H:%M:%S"),
            "status": "active",
            "condition": condition,
            "orders": orders,
            "meta": {},
        }
        return trigger_id

    def modify(self, trigger_id: int, form: dict[str, str]) -> int:
        gtt = self._get(trigger_id)
        if gtt["status"] != "active":
            raise _input_error(f"GTT is {gtt['status']}: it cannot be modified.")
        kind, condition, orders = self._read_form(form)
        gtt.update(type=kind, condition=condition, orders=orders, updated_at=_now())
        return trigger_id

    def delete(self, trigger_id: int) -> int:
        gtt = self._get(trigger_id)
        if gtt["status"] != "active":
            raise _input_error(f"GTT is {gtt['status']}: it cannot be deleted.")
        gtt.update(status="deleted", updated_at=_now())
        return trigger_id

    def get(self, trigger_id: int) -> dict[str, Any]:
        return json.loads(json.dumps(self._get(trigger_id)))

    def list(self) -> list[dict[str, Any]]:
        return [json.loads(json.dumps(g)) for g in self.triggers.values()]

    def _get(self, trigger_id: int) -> dict[str, Any]:
        gtt = self.triggers.get(trigger_id)
        if gtt is None:
            raise KiteApiError(404, "InputException", "Invalid trigger ID.")
        return gtt

    # -- the market ------------------------------------------------------------------------------

    def on_price(self, exchange: str, tradingsymbol: str, price: Decimal) -> None:
        for gtt in self.triggers.values():
            condition = gtt["condition"]
            if gtt["status"] != "active":
                continue
            if (condition["exchange"], condition["tradingsymbol"]) != (exchange, tradingsymbol):
                continue
            leg = self._crossed(gtt, price)
            if leg is not None:
                self._trigger(gtt, leg, price)

    @staticmethod
    def _crossed(gtt: dict[str, Any], price: Decimal) -> int | None:
        values = [Decimal(str(v)) for v in gtt["condition"]["trigger_values"]]
        if gtt["type"] == "two-leg":
            return 0 if price <= values[0] else 1 if price >= values[1] else None
        rising = values[0] > Decimal(str(gtt["condition"]["last_price"]))
        return 0 if (price >= values[0] if rising else price <= values[0]) else None

    def _trigger(self, gtt: dict[str, Any], leg: int, price: Decimal) -> None:
        order = gtt["orders"][leg]
        meta = json.dumps({"app_id": 12617, "gtt": gtt["id"]})
        result: dict[str, Any] = {
            "account_id": self.oms.user_id, "exchange": order["exchange"],
            "tradingsymbol": order["tradingsymbol"], "validity": "DAY",
            "product": order["product"], "order_type": order["order_type"],
            "transaction_type": order["transaction_type"], "quantity": order["quantity"],
            "price": order["price"], "meta": meta, "timestamp": _now(),
            "triggered_at": float(price),
        }  # fmt: skip
        gtt.update(status="triggered", updated_at=_now())
        order["result"] = result
        params = {
            name: str(order[name])
            for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product",
                         "order_type", "price")
        }  # fmt: skip
        try:
            order_id = self.oms.place("regular", params)
        except KiteApiError as error:
            result["order_result"] = {
                "status": "failed", "order_id": "", "rejection_reason": error.message,
            }  # fmt: skip
            return
        result["order_result"] = {"status": "success", "order_id": order_id, "rejection_reason": ""}
