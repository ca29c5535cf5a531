"""Kite's GTT service (kite_xts_apis.md §A.15) in engine terms: a ``GttRequest`` as the official
client's ``place_gtt`` / ``modify_gtt`` arguments, and Kite's GTT objects (the official mocks'
shape) as ``GttReport``s. Kite keeps the GTT and places its order when triggered; the order
reaches the desk as an order placed outside it (adopted into the book)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.core.clock import IST
from engine.domain.gtt import GttLeg, GttReport, GttRequest, GttStatus, GttType
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.orders import OrderType, Product, Side
from engine.domain.values import Paise, to_paise, to_rupees


class KiteGttError(ValueError):
    """A GTT object from Kite that cannot be read."""


def gtt_arguments(request: GttRequest, instrument: Instrument) -> dict[str, Any]:
    """Keyword arguments of ``KiteConnect.place_gtt`` (and ``modify_gtt`` after the id)."""
    return {
        "trigger_type": request.kind.value,
        "tradingsymbol": instrument.tradingsymbol,
        "exchange": instrument.exchange.value,
        "trigger_values": [float(to_rupees(t)) for t in request.triggers],
        "last_price": float(to_rupees(request.last_price)),
        "orders": [
            {
                "transaction_type": leg.side.value,
                "quantity": leg.quantity,
                "order_type": leg.order_type.value,
                "product": leg.product.value,
                "price": float(to_rupees(leg.price)),
            }
            for leg in request.legs
        ],
    }


def _paise(value: Any, what: str) -> Paise:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KiteGttError(f"GTT {what} is not a number: {value!r}")
    return to_paise(Decimal(repr(value)))


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        raise KiteGttError(f"GTT time is not Kite's: {value!r}") from None


def parse_gtt(row: dict[str, Any]) -> GttReport:
    """One of Kite's GTT objects; ``KiteGttError`` when it cannot be read."""
    try:
        condition = row["condition"]
        kind = GttType(row["type"])
        triggers = tuple(_paise(v, "trigger") for v in condition["trigger_values"])
        legs = tuple(
            GttLeg(
                Side(order["transaction_type"]),
                int(order["quantity"]),
                _paise(order["price"], "price"),
                OrderType(order["order_type"]),
                Product(order["product"]),
            )
            for order in row["orders"]
        )
        request = GttRequest(
            InstrumentToken(int(condition["instrument_token"])),
            kind,
            triggers,
            legs,
            _paise(condition["last_price"], "last price"),
        )
        status = GttStatus(row["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise KiteGttError(f"unreadable GTT {row.get('id')!r}: {exc}") from None
    triggered_leg, order_id, rejection = None, "", ""
    for n, order in enumerate(row["orders"]):
        result = order.get("result")
        if not result:
            continue
        triggered_leg = n
        outcome = result.get("order_result") or {}
        order_id = str(outcome.get("order_id") or "")
        rejection = str(outcome.get("rejection_reason") or "")
    return GttReport(
        str(row["id"]),
        request,
        status,
        _time(row.get("created_at")),
        _time(row.get("expires_at")),
        triggered_leg,
        order_id,
        rejection,
    )
