"""A small typed client for DalalDesk's local API (``dalaldesk --api-port PORT``).

Synchronous::

    from dalaldesk_client import Client

    desk = Client("http://127.0.0.1:8787", token="...")   # or DALALDESK_API_TOKEN
    placed = desk.place("NSE:RELIANCE", "BUY", lots=1, order_type="LIMIT", price="1550.05",
                        product="MIS")
    desk.modify(placed["order_id"], price="1549.00")
    desk.cancel(placed["order_id"])
    for event in desk.stream(watch=["NSE:RELIANCE"], count=10):
        print(event)

Asynchronous: the same calls on ``AsyncClient``, awaited (``async with AsyncClient(...)``), and
``stream`` an async iterator. Every refusal raises ``ApiError`` with the desk's reason in words
and the HTTP status; nothing is retried behind your back (a retried order could be placed twice).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["ApiError", "AsyncClient", "Client"]

TOKEN_VARIABLE = "DALALDESK_API_TOKEN"
Json = dict[str, Any]


class ApiError(Exception):
    """The desk refused the call: ``status`` (HTTP), ``reason`` (its words), ``check`` (the risk
    check that refused an order, when one did)."""

    def __init__(self, status: int, reason: str, check: str = "") -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.check = check


def _token(token: str | None) -> str:
    found = token or os.environ.get(TOKEN_VARIABLE)
    if not found:
        raise ValueError(f"give the desk's API token, or set {TOKEN_VARIABLE}")
    return found


def _refusal(status: int, raw: bytes) -> ApiError:
    """The desk's refusal as an ``ApiError``: its JSON reason, else the text it answered with (a
    proxy's page, a server's plain-text error)."""
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return ApiError(status, raw.decode("utf-8", "replace").strip()[:300])
    return ApiError(
        status, answer.get("error") or answer.get("reason", ""), answer.get("check", "")
    )


def _fresh_id() -> str:
    return f"api-{uuid.uuid4().hex}"


def _order_body(
    symbol: str,
    side: str,
    lots: int,
    order_type: str,
    product: str,
    price: Decimal | str | None,
    trigger_price: Decimal | str | None,
    tag: str,
    strategy: str | None,
) -> Json:
    body: Json = {
        "symbol": symbol, "side": side.upper(), "lots": lots, "order_type": order_type,
        "product": product, "tag": tag,
    }  # fmt: skip
    if price is not None:
        body["price"] = str(price)
    if trigger_price is not None:
        body["trigger_price"] = str(trigger_price)
    if strategy is not None:
        body["strategy"] = strategy
    return body


def _changes(lots: int | None, price: Any, trigger_price: Any, order_type: str | None) -> Json:
    values = {
        "lots": lots,
        "price": price,
        "trigger_price": trigger_price,
        "order_type": order_type,
    }
    return {
        k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items() if v is not None
    }


class Client:
    """The local API over plain HTTP (the standard library) and its stream over ``websockets``."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = _token(token)
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Json | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _refusal(error.code, error.read()) from None

    # -- orders --------------------------------------------------------------------------------

    def place(
        self, symbol: str, side: str, lots: int, *, order_type: str = "LIMIT",
        product: str = "NRML", price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, tag: str = "", strategy: str | None = None,
    ) -> Json:  # fmt: skip
        """Place an order (lots, or shares for cash equity); the outcome with ``order_id``."""
        body = _order_body(symbol, side, lots, order_type, product, price, trigger_price, tag,
                           strategy)  # fmt: skip
        return dict(self._call("POST", "orders", body))

    def modify(
        self, order_id: str, *, lots: int | None = None, price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, order_type: str | None = None,
    ) -> Json:  # fmt: skip
        changes = _changes(lots, price, trigger_price, order_type)
        return dict(self._call("PATCH", f"orders/{quote(order_id)}", changes))

    def cancel(self, order_id: str) -> Json:
        return dict(self._call("DELETE", f"orders/{quote(order_id)}"))

    def orders(self) -> list[Json]:
        return list(self._call("GET", "orders"))

    def order(self, order_id: str) -> Json:
        return dict(self._call("GET", f"orders/{quote(order_id)}"))

    def trades(self) -> list[Json]:
        return list(self._call("GET", "trades"))

    # -- the book, the market, the desk ----------------------------------------------------------

    def positions(self) -> list[Json]:
        return list(self._call("GET", "positions"))

    def funds(self) -> Json:
        return dict(self._call("GET", "funds"))

    def quotes(self, *symbols: str) -> Mapping[str, Json]:
        return dict(self._call("GET", f"quotes?{urlencode({'symbols': ','.join(symbols)})}"))

    def instruments(self, text: str = "", limit: int = 50) -> list[Json]:
        return list(self._call("GET", f"instruments?{urlencode({'q': text, 'limit': limit})}"))

    def signal(self, symbol: str, action: str, lots: int = 1, *, id: str = "",
               strategy: str = "api") -> Json:  # fmt: skip
        """A signal through the desk's pipeline (duplicates, staleness, approval). ``id`` makes a
        resend a duplicate; without one, each call is a signal of its own."""
        body = {"symbol": symbol, "action": action, "lots": lots, "id": id or _fresh_id(),
                "strategy": strategy}  # fmt: skip
        return dict(self._call("POST", "signals", body))

    def kill_switch(self, *, square_off: bool = False) -> Json:
        return dict(self._call("POST", "kill_switch", {"square_off": square_off}))

    def stream(self, watch: list[str] | None = None, count: int | None = None) -> Iterator[Json]:
        """Order events, signals and the ticks of ``watch``, as they come (``count``: stop after
        that many)."""
        from websockets.sync.client import connect

        url = self.url.replace("http", "ws", 1) + "/api/v1/stream"
        with connect(url, additional_headers={"Authorization": f"Bearer {self._token}"}) as ws:
            json.loads(ws.recv())  # hello
            if watch:
                ws.send(json.dumps({"watch": watch}))
                json.loads(ws.recv())
            seen = 0
            while count is None or seen < count:
                yield json.loads(ws.recv())
                seen += 1


class AsyncClient:
    """The same calls on aiohttp, for asyncio programs."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        import aiohttp

        self.url = url.rstrip("/")
        self._token = _token(token)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: Any = None

    async def __aenter__(self) -> AsyncClient:
        import aiohttp

        self._http = aiohttp.ClientSession(
            timeout=self._timeout, headers={"Authorization": f"Bearer {self._token}"}
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _call(self, method: str, path: str, body: Json | None = None) -> Any:
        if self._http is None:
            raise RuntimeError("use 'async with AsyncClient(...)'")
        async with self._http.request(method, f"{self.url}/api/v1/{path}", json=body) as reply:
            if reply.status >= 400:
                raise _refusal(reply.status, await reply.read())
            return await reply.json()

    async def place(
        self, symbol: str, side: str, lots: int, *, order_type: str = "LIMIT",
        product: str = "NRML", price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, tag: str = "", strategy: str | None = None,
    ) -> Json:  # fmt: skip
        body = _order_body(symbol, side, lots, order_type, product, price, trigger_price, tag,
                           strategy)  # fmt: skip
        return dict(await self._call("POST", "orders", body))

    async def modify(
        self, order_id: str, *, lots: int | None = None, price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None, order_type: str | None = None,
    ) -> Json:  # fmt: skip
        changes = _changes(lots, price, trigger_price, order_type)
        return dict(await self._call("PATCH", f"orders/{quote(order_id)}", changes))

    async def cancel(self, order_id: str) -> Json:
        return dict(await self._call("DELETE", f"orders/{quote(order_id)}"))

    async def orders(self) -> list[Json]:
        return list(await self._call("GET", "orders"))

    async def positions(self) -> list[Json]:
        return list(await self._call("GET", "positions"))

    async def quotes(self, *symbols: str) -> Mapping[str, Json]:
        return dict(await self._call("GET", f"quotes?{urlencode({'symbols': ','.join(symbols)})}"))

    async def signal(self, symbol: str, action: str, lots: int = 1, *, id: str = "",
                     strategy: str = "api") -> Json:  # fmt: skip
        body = {"symbol": symbol, "action": action, "lots": lots, "id": id or _fresh_id(),
                "strategy": strategy}  # fmt: skip
        return dict(await self._call("POST", "signals", body))

    async def stream(self, watch: list[str] | None = None) -> AsyncIterator[Json]:
        if self._http is None:
            raise RuntimeError("use 'async with AsyncClient(...)'")
        async with self._http.ws_connect(f"{self.url}/api/v1/stream") as ws:
            await ws.receive_json()  # hello
            if watch:
                await ws.send_json({"watch": watch})
                await ws.receive_json()
            async for message in ws:
                yield json.loads(message.data)
