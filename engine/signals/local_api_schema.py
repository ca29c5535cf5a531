"""The local API's schema: the request bodies it accepts, the JSON of the orders and order events
it answers with, and the OpenAPI 3 document of its routes.

The bodies are pydantic models that refuse unknown fields; the document (served at
``GET /openapi.json``, the one route that needs no token) takes its body schemas from them, so a
body the document describes is the body the routes check. The routes themselves are in
``engine.signals.local_api``.

A script's ``client_order_id`` is kept in the order's journaled tag, after the script's own tag
and ``#`` (``sma-cross#k3F9a2Qx``): a tag the API accepts never holds ``#``, so the two read
apart again, also from the journal after a restart. They share the desk's 20-character tag.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.events import OrderEvent
from engine.domain.instruments import Instrument
from engine.domain.requests import CLIENT_ID_MARK, MAX_TAG_LENGTH, split_tag
from engine.domain.values import to_rupees

API = "/api/v1"
MAX_PRICE = Decimal(10_000_000)
NO_STRATEGY = (
    "an order from the local API names no strategy (only the desk's own strategies do, and a "
    "signal names the strategy it is routed to): mark the order with a tag, or send a signal"
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderBody(Body):
    symbol: str = Field(min_length=1, max_length=60, description="NSE:RELIANCE, NFO:NIFTY26DECFUT")
    side: Literal["BUY", "SELL"]
    lots: int = Field(ge=1, le=10_000, description="Lots (shares for cash equity)")
    order_type: Literal["MARKET", "LIMIT", "SL", "SL-M"] = "LIMIT"
    product: Literal["MIS", "NRML", "CNC"] = "NRML"
    price: Decimal | None = Field(default=None, gt=0, lt=MAX_PRICE, description="Rupees")
    trigger_price: Decimal | None = Field(default=None, gt=0, lt=MAX_PRICE)
    tag: str = Field(default="", max_length=MAX_TAG_LENGTH, pattern=r"^[A-Za-z0-9_.-]*$")
    client_order_id: str = Field(
        default="",
        max_length=MAX_TAG_LENGTH - 1,
        pattern=r"^[A-Za-z0-9]*$",
        description="The script's id of this order: placed again the same day, the desk answers "
        "with the first order instead of placing another. It shares the 20-character tag: "
        "tag, '#' and this id together are at most 20 characters.",
    )

    @model_validator(mode="before")
    @classmethod
    def _names_no_strategy(cls, data: Any) -> Any:
        if isinstance(data, dict) and "strategy" in data:
            raise ValueError(NO_STRATEGY)
        return data

    @model_validator(mode="after")
    def _tag_has_room(self) -> OrderBody:
        if len(self.stored_tag) > MAX_TAG_LENGTH:
            raise ValueError(
                f"tag {self.tag!r} and client_order_id {self.client_order_id!r} share the "
                f"order's {MAX_TAG_LENGTH}-character tag as {self.stored_tag!r}: shorten one"
            )
        return self

    @property
    def stored_tag(self) -> str:
        """The tag the order is journaled with: the script's tag, and its id after ``#``."""
        if not self.client_order_id:
            return self.tag
        return f"{self.tag}{CLIENT_ID_MARK}{self.client_order_id}"


class ModifyBody(Body):
    lots: int | None = Field(default=None, ge=1, le=10_000)
    price: Decimal | None = Field(default=None, gt=0, lt=MAX_PRICE)
    trigger_price: Decimal | None = Field(default=None, gt=0, lt=MAX_PRICE)
    order_type: Literal["MARKET", "LIMIT", "SL", "SL-M"] | None = None


class KillSwitchBody(Body):
    square_off: bool = False
    reason: str = Field(default="kill switch from the local API", max_length=200)


class SignalBody(Body):
    """A signal from a script: a TradingView alert's fields, without the passphrase (the token
    is the script's credential)."""

    id: str = Field(default="", max_length=120)
    strategy: str = Field(default="api", pattern=r"^[A-Za-z0-9._-]{1,48}$")
    symbol: str = Field(min_length=1, max_length=60)
    action: Literal["buy", "sell"]
    lots: int = Field(default=1, ge=1, le=10_000)
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    price: Decimal | None = Field(default=None, gt=0, lt=MAX_PRICE)
    product: Literal["MIS", "NRML", "CNC"] = "MIS"
    fired: datetime | None = None


# -- what the API answers with ---------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A snapshot as JSON values: Decimals as text (exact), enums as their value, instruments as
    ``{token, exchange, symbol, lot_size}``."""
    if isinstance(value, Instrument):
        return {
            "token": value.token,
            "exchange": value.exchange.value,
            "symbol": value.tradingsymbol,
            "lot_size": value.lot_size,
        }
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def order_json(order: Any) -> dict[str, Any]:
    """An order snapshot as the API answers it, the script's tag and its id apart."""
    answer: dict[str, Any] = plain(order)
    answer["tag"], answer["client_order_id"] = split_tag(order.tag, order.source)
    return answer


_PAISE_FIELDS = frozenset({"price", "trigger_price", "arrival"})
_REST_NAMES = {"message": "status_message"}


def order_event_json(event: OrderEvent, instrument: Instrument | None) -> dict[str, Any]:
    """An order event as the stream sends it: the journal's payload in the routes' terms (rupees
    as text, the request's fields at the top, the names the order and trade routes use: a
    fill's ``charges`` its total, the parts in ``charge_parts``) with the instrument and its
    ``symbol`` (``NSE:RELIANCE``; none for a request that was not an order at all)."""
    payload = event.to_payload()
    terms = {**(payload.pop("request", None) or {}), **payload}
    terms.pop("token", None)  # the instrument says it
    message: dict[str, Any] = {"type": event.kind, "order_id": event.order_id, "ts_ns": event.ts_ns}
    if instrument is not None:
        message["symbol"] = instrument.key  # NSE:RELIANCE, as an order body names it
        message["instrument"] = instrument
    for name, value in terms.items():
        exact = to_rupees(value) if name in _PAISE_FIELDS and value is not None else value
        message[_REST_NAMES.get(name, name)] = exact
    if "tag" in terms:
        message["tag"], message["client_order_id"] = split_tag(terms["tag"], terms.get("source"))
    parts = terms.get("charges")
    if isinstance(parts, dict):
        message["charges"], message["charge_parts"] = sum(parts.values(), Decimal(0)), parts
    answer: dict[str, Any] = plain(message)
    return answer


def differences(body: OrderBody, token: int, quantity: int, first: Any, symbol: str) -> list[str]:
    """What ``body`` asks differently from the order first placed under its client_order_id
    (``first``: that order's request as journaled, prices in paise, on instrument ``symbol``);
    [] for the same order. The gate sends a MARKET order as a protected LIMIT and an SL-M as an
    SL, so those are compared by their kind, and a price only where the script gave one."""
    kinds = {"MARKET": ("MARKET", "LIMIT"), "SL-M": ("SL-M", "SL")}
    first_type = first.order_type.value
    own_tag = split_tag(first.tag, first.source)[0]
    checks: list[tuple[str, bool, object, object]] = [
        ("symbol", token == first.token, body.symbol, symbol),
        ("side", body.side == first.side.value, body.side, first.side.value),
        ("quantity", quantity == first.quantity, quantity, first.quantity),
        (
            "order_type",
            first_type in kinds.get(body.order_type, (body.order_type,)),
            body.order_type,
            first_type,
        ),
        ("product", body.product == first.product.value, body.product, first.product.value),
        ("tag", body.tag == own_tag, repr(body.tag), repr(own_tag)),
    ]
    if body.order_type in ("LIMIT", "SL"):
        checks.append(
            ("price", _paise(body.price) == first.price, body.price, _rupees(first.price))
        )
    if body.order_type in ("SL", "SL-M"):
        checks.append(
            (
                "trigger_price",
                _paise(body.trigger_price) == first.trigger_price,
                body.trigger_price,
                _rupees(first.trigger_price),
            )
        )
    return [f"{name} {now} (it was {then})" for name, same, now, then in checks if not same]


def _paise(rupees: Decimal | None) -> Decimal | None:
    return None if rupees is None else rupees * 100


def _rupees(paise: int | None) -> Decimal | None:
    return None if paise is None else to_rupees(paise)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of the local API and the webhook."""
    schemas: dict[str, Any] = {}
    for model in (OrderBody, ModifyBody, KillSwitchBody, SignalBody):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "check": {"type": "string"}},
    }
    schemas["Outcome"] = {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "order_id": {"type": ["string", "null"]},
            "reason": {"type": "string"},
            "check": {"type": "string"},
            "note": {"type": "string"},
            "children": {"type": "array", "items": {"type": "string"}},
            "client_order_id": {"type": "string"},
            "already_placed": {"type": "boolean"},
        },
    }
    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "not JSON"),
            (401, "no or wrong token"),
            (403, "no token set on the desk"),
            (404, "no such order or portfolio"),
            (409, "a client_order_id used today for an order of other terms"),
            (422, "refused, with the reason"),
        )
    }

    def body(name: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{name}"}
        return {"required": True, "content": {"application/json": {"schema": ref}}}

    def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        content = {"application/json": {"schema": schema or {"type": "object"}}}
        return {"description": description, "content": content}

    listing = {"type": "array", "items": {"type": "object"}}
    outcome = {"$ref": "#/components/schemas/Outcome"}
    order_id = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}

    def operation(summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"summary": summary, "responses": {**responses, **errors}, **more}

    paths: dict[str, Any] = {
        f"{API}/orders": {
            "get": operation("Every order of the day", {"200": answer("orders", listing)}),
            "post": operation(
                "Place an order through the risk gate",
                {
                    "201": answer("placed", outcome),
                    "200": answer("placed before under this client_order_id: that order", outcome),
                },
                requestBody=body("OrderBody"),
            ),
        },
        f"{API}/orders/{{order_id}}": {
            "parameters": [order_id],
            "get": operation("One order", {"200": answer("the order")}),
            "patch": operation(
                "Modify an open order",
                {"200": answer("modified", outcome)},
                requestBody=body("ModifyBody"),
            ),
            "delete": operation("Cancel an open order", {"200": answer("cancelled", outcome)}),
        },
        f"{API}/trades": {"get": operation("The day's fills", {"200": answer("fills", listing)})},
        f"{API}/positions": {
            "get": operation("Positions with P&L", {"200": answer("positions", listing)})
        },
        f"{API}/funds": {"get": operation("Margin used and available", {"200": answer("funds")})},
        f"{API}/quotes": {
            "get": operation(
                "Quotes of some instruments",
                {"200": answer("quotes by symbol")},
                parameters=[
                    {
                        "name": "symbols",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "comma-separated",
                    },
                ],
            )
        },
        f"{API}/instruments": {
            "get": operation(
                "Search the instrument list",
                {"200": answer("instruments", listing)},
                parameters=[
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
            )
        },
        f"{API}/portfolios": {
            "get": operation("Multileg portfolios", {"200": answer("portfolios", listing)})
        },
        f"{API}/portfolios/{{name}}/{{action}}": {
            "post": operation(
                "Start, stop or square off a portfolio",
                {"200": answer("done")},
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["start", "stop", "square_off"]},
                    },
                ],
            )
        },
        f"{API}/kill_switch": {
            "post": operation(
                "Halt trading and cancel every open order (and square off, if asked)",
                {"200": answer("the kill switch's report")},
                requestBody=body("KillSwitchBody"),
            )
        },
        f"{API}/signals": {
            "post": operation(
                "A signal through the signal pipeline (dedupe, staleness, approval)",
                {"200": answer("placed or a duplicate"), "202": answer("waiting for approval")},
                requestBody=body("SignalBody"),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "DalalDesk local API", "version": "1"},
        "servers": [{"url": "http://127.0.0.1"}],
        "security": [{"bearer": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
