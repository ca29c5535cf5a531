"""The fake Kite REST API: aiohttp on 127.0.0.1 with Kite's envelopes, auth, limits and faults.

- ``POST /session/token`` checks the checksum (SHA-256 of api_key + request_token + api_secret);
  every other call needs ``Authorization: token <api_key>:<access_token>`` or gets 403
  ``TokenException``.
- Rate limits per calendar second (quote 1, historical 3, orders 10, other 10) and 200 orders a
  minute; over the limit the answer is 429 with Kite's error envelope.
- Orders, trades and positions come from the fake OMS; profile, margins and quotes are the
  official mocks; historical candles are generated (``tests.kite_fake.history``); the
  instruments CSV is the official mock followed by the rows ``FakeKite.list_instruments`` added
  (an option chain: ``tests.kite_fake.chain``).
- GTTs (``/gtt/triggers``) are kept and triggered by ``tests.kite_fake.gtt``.
- Faults: ``slow_s`` delays every reply, ``fail_next`` answers the next matching call with an
  error, ``hang_next_place_s`` places the order but answers only after that long (a client
  timeout with the order live at the broker), ``place_reply_delay_s`` answers every placement
  late (the order's updates and fills arrive first), ``garble_next`` answers the next matching
  call outside Kite's envelope (a proxy's bare 502, a success without ``data``, ...),
  ``hang_next_modify_s`` modifies the order but answers only after that long (a lost reply),
  ``late_next_place_s`` holds the next placement that long before placing it, whether or not
  the client still waits (a request stuck in Kite's gateway), and ``unreachable`` cuts every
  request's connection before Kite acts on it (a network outage; keep-alive connections too).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.kite_fake.credentials import KiteCredentials
from tests.kite_fake.gtt import FakeGtt
from tests.kite_fake.history import FakeHistory
from tests.kite_fake.oms import FIXTURES, FakeOms, KiteApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RateLimits:
    quote_per_second: int = 1
    historical_per_second: int = 3
    orders_per_second: int = 10
    orders_per_minute: int = 200
    other_per_second: int = 10


@dataclass
class Failure:
    method: str
    path_prefix: str
    http_status: int
    error_type: str
    message: str


@dataclass
class Garbled:
    method: str
    path_prefix: str
    http_status: int
    body: bytes
    content_type: str | None
    handled: bool


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["data"]


def success(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def failure(http_status: int, error_type: str, message: str) -> web.Response:
    body = {"status": "error", "message": message, "error_type": error_type, "data": None}
    return web.json_response(body, status=http_status)


class FakeRestServer:
    def __init__(
        self, credentials: KiteCredentials, oms: FakeOms, limits: RateLimits | None = None
    ) -> None:
        self.credentials = credentials
        self.oms = oms
        self.limits = limits or RateLimits()
        self.slow_s = 0.0
        self.hang_next_place_s = 0.0
        self.place_reply_delay_s = 0.0
        self.hang_next_modify_s = 0.0
        self.late_next_place_s = 0.0
        self.unreachable = False
        self._late: set[asyncio.Task[str]] = set()
        """Every placement is answered this long after the order is placed: its updates on the
        ticker (and its fills) reach the client before the reply does."""
        self.failures: list[Failure] = []
        self.garbled: list[Garbled] = []
        self.requests: list[tuple[str, str]] = []
        self.rate_limited = 0
        self.basket_requests: list[tuple[list[dict[str, Any]], bool]] = []
        """Each basket margin request: its orders and whether positions were to be counted."""
        self.equity_net: float | None = None
        """When set, the equity segment's ``net`` (margin available) served instead of the
        fixture's."""
        self.token_rejections = 0
        self.listed: list[str] = []
        """Rows of the instruments master served after the official mock's (``FakeKite.list_instruments``)."""
        self.gtt = FakeGtt(oms)
        """The GTT service: its triggers, placed in the OMS when the price crosses them."""
        self.history = FakeHistory()
        """The historical candles endpoint: its requests, its clock, fixture replies."""
        self._per_second: Counter[tuple[str, int]] = Counter()
        self._per_minute: Counter[int] = Counter()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def fail_next(
        self, method: str, path_prefix: str, http_status: int, error_type: str, message: str
    ) -> None:
        self.failures.append(Failure(method, path_prefix, http_status, error_type, message))

    def garble_next(
        self,
        method: str,
        path_prefix: str,
        http_status: int,
        body: bytes,
        *,
        content_type: str | None = "application/json",
        handled: bool = False,
    ) -> None:
        """Answer the next matching call with ``body`` as it is, without a Content-Type header
        when ``content_type`` is None. ``handled``: the request is carried out first (an order
        placed whose reply is garbled on the way back)."""
        self.garbled.append(Garbled(method, path_prefix, http_status, body, content_type, handled))

    async def start(self) -> None:
        app = web.Application(middlewares=[self._faults, self._rate_limit, self._auth])
        routes = web.RouteTableDef()
        routes.post("/session/token")(self._session_token)
        routes.delete("/session/token")(self._logout)
        routes.get("/user/profile")(self._profile)
        routes.get("/user/margins")(self._margins)
        routes.get("/user/margins/{segment}")(self._margins)
        routes.post("/margins/basket")(self._basket_margins)
        routes.get("/orders")(self._orders)
        routes.post("/orders/{variety}")(self._place)
        routes.get("/orders/{order_id}")(self._order_history)
        routes.get("/orders/{order_id}/trades")(self._order_trades)
        routes.put("/orders/{variety}/{order_id}")(self._modify)
        routes.delete("/orders/{variety}/{order_id}")(self._cancel)
        routes.get("/gtt/triggers")(self._gtts)
        routes.post("/gtt/triggers")(self._place_gtt)
        routes.get("/gtt/triggers/{trigger_id}")(self._gtt)
        routes.put("/gtt/triggers/{trigger_id}")(self._modify_gtt)
        routes.delete("/gtt/triggers/{trigger_id}")(self._delete_gtt)
        routes.get("/trades")(self._trades)
        routes.get("/portfolio/positions")(self._positions)
        routes.get("/instruments")(self._instruments)
        routes.get("/instruments/{exchange}")(self._instruments)
        routes.get("/instruments/historical/{token}/{interval}")(self.history.handle)
        routes.get("/quote")(self._quote)
        routes.get("/quote/ltp")(self._quote)
        routes.get("/quote/ohlc")(self._quote)
        app.add_routes(routes)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._site = site
        self._port = self._runner.addresses[0][1]

    async def stop_listening(self) -> None:
        """Refuse connections (the port is kept for ``listen_again``)."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def listen_again(self) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True)
        await site.start()
        self._site = site

    async def close(self) -> None:
        for late in list(self._late):
            late.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- middlewares -----------------------------------------------------------------------------

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.unreachable:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # the client sees its connection cut, nothing acted
        self.requests.append((request.method, request.path))
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        for index, fault in enumerate(self.failures):
            if request.method == fault.method and request.path.startswith(fault.path_prefix):
                del self.failures[index]
                return failure(fault.http_status, fault.error_type, fault.message)
        for index, garbled in enumerate(self.garbled):
            if request.method == garbled.method and request.path.startswith(garbled.path_prefix):
                del self.garbled[index]
                if garbled.handled:
                    await handler(request)
                headers = {"Content-Type": garbled.content_type} if garbled.content_type else {}
                return web.Response(status=garbled.http_status, body=garbled.body, headers=headers)
        return await handler(request)

    @web.middleware
    async def _rate_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        category, per_second = self._category(request)
        now = time.time()
        second, minute = int(now), int(now // 60)
        self._per_second[(category, second)] += 1
        over = self._per_second[(category, second)] > per_second
        if category == "orders":
            self._per_minute[minute] += 1
            over = over or self._per_minute[minute] > self.limits.orders_per_minute
        if over:
            self.rate_limited += 1
            return failure(429, "NetworkException", "Too many requests")
        return await handler(request)

    def _category(self, request: web.Request) -> tuple[str, int]:
        path, limits = request.path, self.limits
        if path.startswith("/quote"):
            return "quote", limits.quote_per_second
        if path.startswith("/instruments/historical"):
            return "historical", limits.historical_per_second
        if path.startswith("/orders/") and request.method in ("POST", "PUT", "DELETE"):
            return "orders", limits.orders_per_second
        return "other", limits.other_per_second

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/session/token" and request.method == "POST":
            return await handler(request)
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if (
            scheme != "token"
            or api_key != self.credentials.api_key
            or not self.credentials.is_valid(access_token)
        ):
            self.token_rejections += 1
            return failure(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        try:
            return await handler(request)
        except KiteApiError as error:
            return failure(error.http_status, error.error_type, error.message)

    # -- session and user ------------------------------------------------------------------------

    async def _session_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        request_token = str(form.get("request_token", ""))
        access_token = self.credentials.exchange(
            str(form.get("api_key", "")), request_token, str(form.get("checksum", ""))
        )
        if access_token is None:
            # Kite's words (kite_xts_apis.md §A.2.9): a live request token with a wrong
            # checksum (the secret is not the key's), else a token used already or expired.
            if self.credentials.knows(request_token):
                return failure(403, "TokenException", "Invalid `checksum`.")
            return failure(403, "TokenException", "Token is invalid or has expired.")
        data = _fixture("generate_session.json")
        # The two mocks name different users; a real session and profile agree.
        user_id = _fixture("profile.json")["user_id"]
        data.update(api_key=self.credentials.api_key, access_token=access_token, user_id=user_id)
        return success(data)

    async def _logout(self, request: web.Request) -> web.Response:
        self.credentials.invalidate(request.query.get("access_token", ""))
        return success(True)

    async def _profile(self, request: web.Request) -> web.Response:
        return success(_fixture("profile.json"))

    async def _margins(self, request: web.Request) -> web.Response:
        data = _fixture("margins.json")
        if self.equity_net is not None:
            data["equity"]["net"] = self.equity_net
        segment = request.match_info.get("segment")
        if segment is None:
            return success(data)
        if segment not in data:
            raise KiteApiError(400, "InputException", f"Invalid segment `{segment}`.")
        return success(data[segment])

    async def _basket_margins(self, request: web.Request) -> web.Response:
        """The basket calculator in Kite's response shape (basket_margins.json), with figures
        from a simple rule: delivery buys the full value, intraday a fifth, F&O shorts and
        futures 15 %, option buys their premium."""
        body = await request.json()
        if not isinstance(body, list) or not body:
            raise KiteApiError(400, "InputException", "Invalid or empty basket.")
        self.basket_requests.append(
            (body, request.query.get("consider_positions", "").lower() == "true")
        )
        shape = _fixture("basket_margins.json")
        template = shape["orders"][0]
        orders = []
        for row in body:
            instrument = self.oms.instruments.get((row.get("exchange"), row.get("tradingsymbol")))
            if instrument is None:
                raise KiteApiError(400, "InputException", "Invalid instrument.")
            price = Decimal(str(row.get("price") or instrument.last_price))
            value = price * int(row["quantity"])
            if row["product"] == "CNC":
                share = Decimal(1)
            elif row["product"] == "MIS":
                share = Decimal("0.2")
            elif row["tradingsymbol"].endswith(("CE", "PE")) and row["transaction_type"] == "BUY":
                share = Decimal(1)
            else:
                share = Decimal("0.15")
            total = float(value * share)
            orders.append(
                {**template, "tradingsymbol": row["tradingsymbol"], "exchange": row["exchange"],
                 "span": 0, "exposure": 0, "option_premium": 0, "var": total, "total": total}
            )  # fmt: skip
        total = sum(o["total"] for o in orders)
        for key in ("initial", "final"):
            shape[key] = {**shape[key], "span": 0, "exposure": 0, "option_premium": 0,
                          "var": total, "total": total}  # fmt: skip
        shape["orders"] = orders
        return success(shape)

    # -- orders ----------------------------------------------------------------------------------

    async def _orders(self, request: web.Request) -> web.Response:
        return success(self.oms.order_list())

    async def _place(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        if self.late_next_place_s:
            delay, self.late_next_place_s = self.late_next_place_s, 0.0
            late = asyncio.ensure_future(
                self._place_late(delay, request.match_info["variety"], form)
            )
            self._late.add(late)
            late.add_done_callback(self._late.discard)
            return success({"order_id": await asyncio.shield(late)})
        order_id = self.oms.place(request.match_info["variety"], form)
        if self.hang_next_place_s:
            delay, self.hang_next_place_s = self.hang_next_place_s, 0.0
            await asyncio.sleep(delay)
        elif self.place_reply_delay_s:
            await asyncio.sleep(self.place_reply_delay_s)
        return success({"order_id": order_id})

    async def _place_late(self, delay: float, variety: str, form: dict[str, str]) -> str:
        await asyncio.sleep(delay)
        return self.oms.place(variety, form)

    async def _modify(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        info = request.match_info
        order_id = self.oms.modify(info["variety"], info["order_id"], form)
        if self.hang_next_modify_s:
            delay, self.hang_next_modify_s = self.hang_next_modify_s, 0.0
            await asyncio.sleep(delay)
        return success({"order_id": order_id})

    async def _cancel(self, request: web.Request) -> web.Response:
        info = request.match_info
        return success({"order_id": self.oms.cancel(info["variety"], info["order_id"])})

    async def _order_history(self, request: web.Request) -> web.Response:
        return success(self.oms.order_history(request.match_info["order_id"]))

    async def _order_trades(self, request: web.Request) -> web.Response:
        return success(self.oms.order_trades(request.match_info["order_id"]))

    async def _trades(self, request: web.Request) -> web.Response:
        return success([dict(trade) for trade in self.oms.trades])

    async def _positions(self, request: web.Request) -> web.Response:
        return success(self.oms.positions())

    # -- GTT (tests.kite_fake.gtt) ----------------------------------------------------------------

    def _trigger_id(self, request: web.Request) -> int:
        text = request.match_info["trigger_id"]
        if not text.isdigit():
            raise KiteApiError(400, "InputException", "Invalid trigger ID.")
        return int(text)

    async def _gtts(self, request: web.Request) -> web.Response:
        return success(self.gtt.list())

    async def _gtt(self, request: web.Request) -> web.Response:
        return success(self.gtt.get(self._trigger_id(request)))

    async def _place_gtt(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        return success({"trigger_id": self.gtt.place(form)})

    async def _modify_gtt(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        return success({"trigger_id": self.gtt.modify(self._trigger_id(request), form)})

    async def _delete_gtt(self, request: web.Request) -> web.Response:
        return success({"trigger_id": self.gtt.delete(self._trigger_id(request))})

    # -- market ----------------------------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        text = (FIXTURES / "instruments_all.csv").read_text().rstrip("\n")
        text = "\n".join([text, *self.listed]) + "\n"
        exchange = request.match_info.get("exchange")
        if exchange is not None:
            header, *rows = text.splitlines()
            text = "\n".join([header, *(r for r in rows if r.rsplit(",", 1)[1] == exchange)])
        return web.Response(text=text, content_type="text/csv")

    async def _quote(self, request: web.Request) -> web.Response:
        name = {"/quote": "quote.json", "/quote/ltp": "ltp.json", "/quote/ohlc": "ohlc.json"}
        data = _fixture(name[request.path])
        wanted = request.query.getall("i", [])
        return success({key: value for key, value in data.items() if key in wanted})
