"""The fake XTS interactive API: REST under ``/interactive`` and the interactive Socket.IO v2
socket, speaking XTS's wire format (kite_xts_apis.md §C.1–C.6, §C.9, §C.13).

- ``POST /interactive/user/session`` takes a JSON or a form body (the vendor SDK sends the login as
  a form), checks the app key and secret key and issues a token of the interactive token space
  (market-data tokens are refused, and the other way round). One session per app key: a new login
  ends the previous token and sends ``logout`` on its socket (§C.13.1).
- Every other call needs ``Authorization: <token>`` (the raw token). A dead token is answered
  ``type: "error"``, ``description: "Invalid Token"`` with HTTP 400, or with the status
  ``dead_token_status`` says (a production deployment answers 200, §C.13.1).
- Orders, trades and positions come from the fake OMS (``tests.xts_fake.oms``); its events go to
  the socket ``/interactive/socket.io`` as ``order`` / ``trade`` / ``position`` events whose
  payloads are JSON strings, after ``joined``.
- Rate limits per calendar second (order actions 10 shared, each book 1; ``limits``) answered 429
  with ``RATE_LIMIT_EXCEEDED``.
- Faults: ``slow_s`` delays every reply, ``fail_next`` answers the next matching call with an
  error envelope, ``hang_next_place_s`` places the order and answers only after that long (a client
  time-out with the order live), ``expire_tokens`` kills every token, ``drop_socket`` cuts the
  socket, ``send_malformed`` sends broken events, ``stall`` keeps the socket silent.

``install(app)`` mounts all of it on an existing ``aiohttp.web.Application`` (the market-data fake
mounts beside it, as on a real XTS server).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.xts_fake.oms import FakeXtsOms, XtsApiError
from tests.xts_fake.socketio_v2_server import SocketIOv2Server, SocketSession

PREFIX = "/interactive"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BOOK_PATHS = {
    ("GET", "/orders"): "orderbook",
    ("GET", "/orders/trades"): "tradebook",
    ("GET", "/portfolio/positions"): "positions",
    ("GET", "/portfolio/holdings"): "holdings",
    ("GET", "/user/balance"): "balance",
    ("POST", "/orders/cancelall"): "cancelall",
}


@dataclass(frozen=True)
class Limits:
    orders_per_second: int = 10
    books_per_second: int = 1
    other_per_second: int = 10


@dataclass
class Failure:
    method: str
    path: str
    http_status: int
    body: dict[str, Any]


def envelope(result: Any, code: str = "s-orders-0001", description: str = "ok") -> web.Response:
    return web.json_response(
        {"type": "success", "code": code, "description": description, "result": result}
    )


def error(status: int, code: str, description: str, result: Any = None) -> web.Response:
    body = {"type": "error", "code": code, "description": description, "result": result or {}}
    return web.json_response(body, status=status)


class FakeXtsInteractive:
    def __init__(
        self,
        oms: FakeXtsOms,
        *,
        app_key: str = "ia-app-key-51d2",
        secret_key: str = "ia-secret-0b6f",
        limits: Limits | None = None,
        investor: bool = True,
    ) -> None:
        self.oms = oms
        self.app_key = app_key
        self.secret_key = secret_key
        self.limits = limits or Limits()
        self.investor = investor
        self.tokens: set[str] = set()
        self.issued: list[str] = []
        """Every token issued (tests search for leaks)."""
        self.logins = 0
        self.login_bodies: list[str] = []
        self.dead_token_status = 400
        self.slow_s = 0.0
        self.hang_next_place_s = 0.0
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str]] = []
        self.rate_limited = 0
        self.token_rejections = 0
        self.mute_events = False
        """Events are dropped instead of sent (lost, as while a socket is down)."""
        self._per_second: Counter[tuple[str, int]] = Counter()
        self.socket = SocketIOv2Server(
            PREFIX + "/socket.io", authorize=self._authorize, on_session=self._joined
        )
        self._events: asyncio.Queue[tuple[str, str]] | None = None
        self._pump: asyncio.Task[None] | None = None
        oms.listeners.append(self._queue_event)

    # -- mounting --------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        guarded = self._guard
        app.router.add_post(PREFIX + "/user/session", self._login)
        app.router.add_delete(PREFIX + "/user/session", guarded(self._logout))
        app.router.add_get(PREFIX + "/user/profile", guarded(self._profile))
        app.router.add_get(PREFIX + "/user/balance", guarded(self._balance))
        app.router.add_get(PREFIX + "/orders", guarded(self._orders))
        app.router.add_post(PREFIX + "/orders", guarded(self._place))
        app.router.add_put(PREFIX + "/orders", guarded(self._modify))
        app.router.add_delete(PREFIX + "/orders", guarded(self._cancel))
        app.router.add_post(PREFIX + "/orders/cancelall", guarded(self._cancel_all))
        app.router.add_get(PREFIX + "/orders/trades", guarded(self._trades))
        app.router.add_get(PREFIX + "/portfolio/positions", guarded(self._positions))
        app.router.add_get(PREFIX + "/portfolio/holdings", guarded(self._holdings))
        self.socket.install(app)

    def start_events(self) -> None:
        """Start sending the OMS's events to the socket (on the running loop), in order."""
        self._events = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._send_events(), name="xts-events")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        await self.socket.close_all()

    # -- what tests drive ------------------------------------------------------------------------

    def login_token(self) -> str:
        """A valid token without the REST login (for tests that are not about logging in)."""
        return self._issue()

    def fail_next(self, method: str, path: str, http_status: int, body: dict[str, Any]) -> None:
        self.failures.append(Failure(method, PREFIX + path, http_status, body))

    async def expire_tokens(self) -> None:
        """Every token stops working (the day ended); open sockets are closed."""
        self.tokens.clear()
        await self.socket.close_all()

    async def drop_socket(self) -> int:
        return await self.socket.drop_all()

    async def send_malformed(self) -> None:
        for name, payload in (
            ("order", "{not json"),
            ("order", json.dumps({"AppOrderID": 1})),
            ("trade", json.dumps([1, 2])),
            ("position", "null"),
        ):
            await self.socket.emit(name, payload)
        await self.socket.send_raw("42{broken frame")

    def stall(self, stalled: bool = True) -> None:
        self.socket.stall(stalled)

    async def log_in_elsewhere(self) -> str:
        """Another login with the same app key: the old token dies, its socket hears ``logout``."""
        await self._end_sessions()
        return self._issue()

    # -- socket ----------------------------------------------------------------------------------

    def _authorize(self, query: Any) -> bool:
        ok = query.get("apiType") == "INTERACTIVE" and query.get("token") in self.tokens
        return ok and query.get("userID") == self.oms.user_id

    async def _joined(self, session: SocketSession) -> None:
        await session.ws.send_str("42" + json.dumps(["joined", json.dumps({"result": "joined"})]))

    def _queue_event(self, name: str, data: dict[str, Any]) -> None:
        if self._events is not None and not self.mute_events:
            self._events.put_nowait((name, json.dumps(data)))

    async def _send_events(self) -> None:
        assert self._events is not None
        while True:
            name, payload = await self._events.get()
            await self.socket.emit(name, payload)

    # -- guard: faults, rate limits, token -------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path))
            if self.slow_s:
                await asyncio.sleep(self.slow_s)
            for index, fault in enumerate(self.failures):
                if request.method == fault.method and request.path == fault.path:
                    del self.failures[index]
                    return web.json_response(fault.body, status=fault.http_status)
            if request.headers.get("Authorization", "") not in self.tokens:
                self.token_rejections += 1
                return error(self.dead_token_status, "e-session-0007", "Invalid Token")
            if not self.investor and not await self._has_client_id(request):
                return error(
                    400,
                    "e-app-0005",
                    "Bad Request",
                    {
                        "errors": [
                            {
                                "field": "clientID",
                                "location": "query",
                                "messages": ['"clientID" is required for a dealer login'],
                                "types": ["any.required"],
                            }
                        ]
                    },
                )
            if self._over_limit(request):
                self.rate_limited += 1
                return error(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
            try:
                return await handler(request)
            except XtsApiError as exc:
                return error(exc.http_status, exc.code, exc.description, exc.result)

        return guarded

    async def _has_client_id(self, request: web.Request) -> bool:
        """A dealer login names the client on every call (§C.2), in the query or the body."""
        if request.query.get("clientID"):
            return True
        if request.method in ("POST", "PUT") and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return False
            return isinstance(body, dict) and bool(body.get("clientID"))
        return False

    def _over_limit(self, request: web.Request) -> bool:
        path = request.path.removeprefix(PREFIX)
        category = BOOK_PATHS.get((request.method, path))
        per_second = self.limits.books_per_second
        if category is None and path.startswith("/orders"):
            category, per_second = "orders", self.limits.orders_per_second
        elif category is None:
            category, per_second = "other", self.limits.other_per_second
        second = int(time.time())
        self._per_second[(category, second)] += 1
        return self._per_second[(category, second)] > per_second

    # -- session ---------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            self.login_bodies.append("json")
            body = await request.json()
        else:
            self.login_bodies.append("form")
            body = dict(await request.post())
        if body.get("appKey") != self.app_key or body.get("secretKey") != self.secret_key:
            return error(400, "e-user-0004", "Invalid appKey or secretKey")
        await self._end_sessions()
        self.logins += 1
        token = self._issue()
        return envelope(
            {
                "token": token,
                "userID": self.oms.user_id,
                "isInvestorClient": self.investor,
                "clientCodes": [self.oms.user_id] if self.investor else ["CLIENT7", "CLIENT8"],
                "exchangeSegmentArray": [
                    {"key": "NSECM", "value": 1},
                    {"key": "NSEFO", "value": 2},
                ],
                "appVersion": "1.0.0",
                "application_expiry_date": "2027-12-31T00:00:00",
            },
            code="s-user-0001",
            description="Valid User.",
        )

    async def _end_sessions(self) -> None:
        """One session per app key: the previous token dies and its socket hears ``logout``."""
        old = set(self.tokens)
        self.tokens.clear()
        for session in list(self.socket.sessions):
            if session.query.get("token") in old:
                message = json.dumps({"reason": "logged in elsewhere"})
                await self.socket.emit("logout", message, to=lambda s, me=session: s is me)

    async def _logout(self, request: web.Request) -> web.Response:
        self.tokens.discard(request.headers.get("Authorization", ""))
        return envelope({}, code="s-session-0002", description="user logged out")

    def _issue(self) -> str:
        token = "eyJ" + secrets.token_urlsafe(48)
        self.tokens.add(token)
        self.issued.append(token)
        return token

    # -- handlers --------------------------------------------------------------------------------

    async def _profile(self, request: web.Request) -> web.Response:
        return envelope({"ClientId": self.oms.user_id, "ClientName": "FAKE TRADER"})

    async def _balance(self, request: web.Request) -> web.Response:
        if not self.investor:
            return error(400, "e-user-0010", "Balance is for investor clients only")
        limits = {
            "cashAvailable": "5,00,000.00",
            "collateral": "0",
            "marginUtilized": "12,345.50",
            "netMarginAvailable": "4,87,654.50",
            "MTM": "0",
            "UnrealizedMTM": "0",
            "RealizedMTM": "0",
        }
        account = {"limitHeader": "ALL|ALL|ALL", "limitObject": {"RMSSubLimits": limits,
                   "AccountID": self.oms.user_id}}  # fmt: skip
        return envelope({"BalanceList": [account]})

    async def _orders(self, request: web.Request) -> web.Response:
        app_order_id = request.query.get("appOrderID")
        if app_order_id is not None:
            return envelope(self.oms.order_history(app_order_id))
        return envelope(self.oms.order_list())

    async def _place(self, request: web.Request) -> web.Response:
        answer = self.oms.place(await self._body(request))
        if self.hang_next_place_s:
            delay, self.hang_next_place_s = self.hang_next_place_s, 0.0
            await asyncio.sleep(delay)
        return envelope(answer, description="Request sent")

    async def _modify(self, request: web.Request) -> web.Response:
        return envelope(self.oms.modify(await self._body(request)), description="Request sent")

    async def _cancel(self, request: web.Request) -> web.Response:
        answer = self.oms.cancel(request.query.get("appOrderID"))
        return envelope(answer, description="Request sent")

    async def _cancel_all(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer = self.oms.cancel_all(
            str(body.get("exchangeSegment")), int(body.get("exchangeInstrumentID", 0))
        )
        return envelope(answer)

    async def _trades(self, request: web.Request) -> web.Response:
        return envelope([dict(t) for t in self.oms.trades])

    async def _positions(self, request: web.Request) -> web.Response:
        if request.query.get("dayOrNet") not in ("DayWise", "NetWise"):
            raise XtsApiError(400, "e-portfolio-0001", "dayOrNet must be DayWise or NetWise")
        return envelope({"positionList": self.oms.positions()})

    async def _holdings(self, request: web.Request) -> web.Response:
        return envelope({"RMSHoldings": {"Holdings": {}}, "ClientId": self.oms.user_id})

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise XtsApiError(400, "e-app-0001", "Body is not JSON") from None
        if not isinstance(body, dict):
            raise XtsApiError(400, "e-app-0001", "Body is not an object")
        return body
