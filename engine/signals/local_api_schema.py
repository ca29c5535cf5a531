"""The local API's schema: the request bodies it accepts and the OpenAPI 3 document of its routes.

The bodies are pydantic models that refuse unknown fields; the document (served at
``GET /openapi.json``, the one route that needs no token) takes its body schemas from them, so a
body the document describes is the body the routes check. The routes themselves are in
``engine.signals.local_api``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API = "/api/v1"
MAX_PRICE = Decimal(10_000_000)


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
    tag: str = Field(default="", max_length=20, pattern=r"^[A-Za-z0-9_.-]*$")
    strategy: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,48}$")


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
                {"201": answer("placed", outcome)},
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
