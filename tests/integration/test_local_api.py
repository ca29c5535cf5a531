"""The desk's local API over real HTTP and WebSocket on 127.0.0.1: the token, orders placed,
modified and cancelled through the risk gate, the book and the market read, the kill switch,
signals from scripts, the stream of order events and ticks, and the OpenAPI document (checked
with openapi-spec-validator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from engine.api import TradingState
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(60)
TOKEN = "local-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Engine, str]]:
    monkeypatch.setenv("DALALDESK_API_TOKEN", TOKEN)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=0,
            signal_rules=SignalRules(default_mode=SignalMode.AUTO),
        )
    )
    engine.start()
    await wait_for(lambda: engine.signal_server is not None, what="local API")
    assert engine.signal_server is not None
    try:
        yield engine, engine.signal_server.url
    finally:
        await engine.stop()


async def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, data=data, headers=AUTH if headers is None else headers) as reply,
    ):
        return reply.status, await reply.json()


async def test_local_api_openapi_document_validates_and_needs_no_token(desk) -> None:
    _engine, url = desk
    status, document = await call("GET", f"{url}/openapi.json", headers={})
    assert status == 200
    validate(document)
    assert "/api/v1/orders" in document["paths"] and document["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, "missing Authorization"),
        ({"Authorization": "Bearer nope"}, 401, "wrong token"),
        ({"Authorization": TOKEN}, 401, "missing Authorization"),
    ],
)
async def test_local_api_without_the_right_token_is_refused(desk, headers, status, words) -> None:
    _engine, url = desk
    answered, body = await call("GET", f"{url}/api/v1/orders", headers=headers)
    assert (answered, words in body["error"]) == (status, True), body


async def test_local_api_without_a_token_on_the_desk_refuses_everything(
    desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    _engine, url = desk
    monkeypatch.delenv("DALALDESK_API_TOKEN")
    status, body = await call("GET", f"{url}/api/v1/positions")
    assert status == 403 and "no API token" in body["error"]


async def test_local_api_places_modifies_cancels_through_the_gate_and_streams_it(desk) -> None:
    engine, url = desk
    events: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/api/v1/stream", headers=AUTH) as stream,
    ):
        assert (await stream.receive_json())["type"] == "hello"
        await stream.send_json({"watch": ["NSE:RELIANCE"]})
        assert (await stream.receive_json())["type"] == "watching"
        quote_status, quotes = await call("GET", f"{url}/api/v1/quotes?symbols=NSE:RELIANCE")
        assert quote_status == 200
        bid = Decimal(quotes["NSE:RELIANCE"]["bid"])
        status, placed = await call(
            "POST", f"{url}/api/v1/orders",
            {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 2, "order_type": "LIMIT",
             "product": "MIS", "price": str(bid - Decimal("10.00")), "tag": "script-1"},
        )  # fmt: skip
        assert status == 201 and placed["ok"], placed
        order_id = placed["order_id"]
        status, changed = await call(
            "PATCH", f"{url}/api/v1/orders/{order_id}", {"lots": 3, "price": str(bid - 5)}
        )
        assert status == 200 and changed["ok"], changed
        status, cancelled = await call("DELETE", f"{url}/api/v1/orders/{order_id}")
        assert status == 200 and cancelled["ok"], cancelled
        while not any(e.get("status") == "CANCELLED" for e in events):
            events.append(await stream.receive_json(timeout=5))
        while not any(e["type"] == "tick" for e in events):
            events.append(await stream.receive_json(timeout=5))
    order = engine.api.order(order_id)
    assert (order.status, order.quantity, order.source.value, order.tag) == (
        OrderStatus.CANCELLED, 3, "api", "script-1",
    )  # fmt: skip
    kinds = [e["type"] for e in events if e.get("order_id") == order_id]
    assert kinds[0] == "order_submitted" and "order_status" in kinds
    status, orders = await call("GET", f"{url}/api/v1/orders")
    assert [o["order_id"] for o in orders] == [order_id]
    assert orders[0]["instrument"]["symbol"] == "RELIANCE"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        (
            "POST",
            "orders",
            {"symbol": "NSE:NOSUCHCO", "side": "BUY", "lots": 1},
            422,
            "unknown symbol",
        ),
        ("POST", "orders", {"symbol": "NSE:RELIANCE", "side": "HOLD", "lots": 1}, 422, "side"),
        ("POST", "orders", {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 1, "x": 1}, 422, "x"),
        ("POST", "orders", [1, 2], 400, "JSON object"),
        (
            "POST",
            "orders",
            {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 1},
            422,
            "NRML is for F&O",
        ),
        (
            "POST",
            "orders",
            {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 1, "product": "MIS"},
            422,
            "price",
        ),
        ("PATCH", "orders/NOPE", {"lots": 1}, 404, "no order 'NOPE'"),
        ("DELETE", "orders/NOPE", None, 404, "no order 'NOPE'"),
        ("GET", "quotes", None, 422, "symbols="),
        ("POST", "portfolios/None/start", None, 422, "no portfolio named"),
        ("POST", "portfolios/None/fly", None, 404, "not 'fly'"),
    ],
)
async def test_local_api_refuses_with_a_reason_in_words(
    desk, method: str, path: str, body: Any, status: int, words: str
) -> None:
    engine, url = desk
    answered, answer = await call(method, f"{url}/api/v1/{path}", body)
    assert answered == status, answer
    assert words in answer["error"], answer
    assert engine.api.orders() == [] or all(
        o.status is OrderStatus.REJECTED for o in engine.api.orders()
    )


async def test_local_api_reads_positions_funds_instruments_and_kills(desk) -> None:
    engine, url = desk
    status, placed = await call(
        "POST", f"{url}/api/v1/orders",
        {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 1, "order_type": "MARKET", "product": "MIS"},
    )  # fmt: skip
    assert status == 201, placed
    await wait_for(lambda: engine.api.positions() != [], what="a position")
    status, positions = await call("GET", f"{url}/api/v1/positions")
    assert status == 200 and positions[0]["net_quantity"] == 1
    status, funds = await call("GET", f"{url}/api/v1/funds")
    assert status == 200 and Decimal(funds["available"]) > 0 and "day_pnl" in funds
    status, found = await call("GET", f"{url}/api/v1/instruments?q=RELIANCE&limit=3")
    assert status == 200 and found[0]["symbol"] == "RELIANCE"
    status, trades = await call("GET", f"{url}/api/v1/trades")
    assert status == 200 and len(trades) == 1
    status, report = await call("POST", f"{url}/api/v1/kill_switch", {"square_off": True})
    assert status == 200 and report["state"] == "HALTED"
    assert engine.api.trading_state().state is TradingState.HALTED


async def test_local_api_signals_go_through_the_pipeline(desk) -> None:
    engine, url = desk
    body = {"id": "py-1", "strategy": "my-script", "symbol": "NSE:RELIANCE", "action": "buy"}
    status, first = await call("POST", f"{url}/api/v1/signals", body)
    again = await call("POST", f"{url}/api/v1/signals", body)
    assert (status, first["status"]) == (200, "placed")
    assert again[1]["status"] == "duplicate"
    [order] = engine.api.orders()
    assert (order.source.value, order.strategy) == ("signal", "my-script")


async def test_local_api_and_webhook_when_the_keyring_cannot_be_read_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A locked keyring is not "no token set": the trader is told to unlock it."""
    from engine.credentials import CredentialsUnavailable
    from tests.integration.test_webhook_signals import alert, build, post, started

    monkeypatch.delenv("DALALDESK_API_TOKEN", raising=False)
    monkeypatch.delenv("DALALDESK_WEBHOOK_PASSPHRASE", raising=False)

    def locked() -> str | None:
        raise CredentialsUnavailable("the OS keyring is locked: unlock it and try again")

    engine = build(tmp_path)
    engine.api_token = locked
    engine.webhook_passphrase = locked
    webhook = await started(engine)
    try:
        assert engine.signal_server is not None
        status, body = await call("GET", f"{engine.signal_server.url}/api/v1/orders")
        assert status == 503 and "cannot read its API token" in body["error"], body
        assert "keyring is locked" in body["error"]
        status, answer = await post(webhook, alert())
        assert status == 503 and "cannot read its webhook passphrase" in answer["reason"], answer
    finally:
        await engine.stop()


async def test_local_api_token_from_the_environment_that_is_not_utf8_is_no_server_error(
    desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment keeps bytes that are not UTF-8 as surrogates: compared as the bytes they
    are, a request gets the token's answer, not a server error."""
    _engine, url = desk
    monkeypatch.setenv("DALALDESK_API_TOKEN", "tok\udcff-0123456789")
    status, body = await call("GET", f"{url}/api/v1/orders", headers=AUTH)
    assert (status, body["error"]) == (401, "wrong token")
