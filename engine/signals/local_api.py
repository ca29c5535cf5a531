"""The desk's local API: REST for orders, positions, funds, quotes, instruments, portfolios and
the kill switch, a WebSocket for order events, signals and ticks, and the OpenAPI 3 document,
served beside the TradingView webhook (``engine.signals.server``) on 127.0.0.1.

Every request but ``GET /openapi.json`` carries ``Authorization: Bearer <token>`` (the token from
the keyring, or ``DALALDESK_API_TOKEN`` for scripts and tests); the WebSocket takes it as a
header or as ``?token=``. Every order goes through the same risk gate as the trader's, with
source ``api`` (or ``signal`` for ``POST /api/v1/signals``). Errors are JSON with the reason in
words: ``{"error": "...", "check": "..."}``, 4xx for the caller's mistakes, never a traceback.

Quotes and the stream's ``watch`` also read an index (``NSE:NIFTY 50``); orders never name one.
A place with a ``client_order_id`` used earlier the same day is answered with that first order
(200), not placed again, also after a restart (the id is in the order's journaled tag); with
other terms it is refused (409). Order events on the stream are in rupees, like the routes.

The request bodies the routes accept, the JSON of orders and order events, and the OpenAPI
document are in ``engine.signals.local_api_schema``; this module serves them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from engine.core.clock import ist_day_number
from engine.credentials import CredentialsUnavailable
from engine.domain.events import OrderDenied, OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.signals.desk import SignalDesk
from engine.signals.local_api_schema import (
    API,
    Body,
    KillSwitchBody,
    ModifyBody,
    OrderBody,
    SignalBody,
    differences,
    openapi_document,
    order_event_json,
    order_json,
    plain,
    split_tag,
)
from engine.signals.records import SignalRecord
from engine.signals.tradingview import (
    BODY_TIMEOUT_S,
    SignalRefused,
    TradingViewAlert,
    check_named,
    field_problems,
    resolve_symbol,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


Facade = Any
"""The engine's facade (``engine.api.EngineApi``), handed in by the runtime: the signals layer
sits beneath the facade's package, so it takes the object, not the import."""


class Problem(Exception):
    """A request the API refuses: the HTTP status and the reason in words."""

    def __init__(self, status: int, reason: str, check: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.check = check


def outcome_json(outcome: Any) -> dict[str, Any]:
    return {
        "ok": bool(outcome.ok),
        "order_id": outcome.order_id,
        "reason": outcome.reason,
        "check": outcome.check,
        "note": outcome.note,
        "children": list(outcome.children),
    }


# -- the routes ------------------------------------------------------------------------------------


class LocalApi:
    """The REST routes and the stream, added to the signals endpoint's application."""

    def __init__(
        self,
        api: Facade,
        desk: SignalDesk,
        *,
        token: Callable[[], str | None],
        today: Callable[[], date],
    ) -> None:
        self._api = api
        self._desk = desk
        self._token = token
        self._today = today
        self.streams: set[web.WebSocketResponse] = set()
        self._client_ids: dict[str, str] = {}
        """Today's orders placed through the API with a ``client_order_id``: id to order id."""
        self._client_ids_day: date | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/openapi.json", self._openapi)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", f"{API}/orders", self._orders),
            ("POST", f"{API}/orders", self._place),
            ("GET", f"{API}/orders/{{order_id}}", self._order),
            ("PATCH", f"{API}/orders/{{order_id}}", self._modify),
            ("DELETE", f"{API}/orders/{{order_id}}", self._cancel),
            ("GET", f"{API}/trades", self._trades),
            ("GET", f"{API}/positions", self._positions),
            ("GET", f"{API}/funds", self._funds),
            ("GET", f"{API}/quotes", self._quotes),
            ("GET", f"{API}/instruments", self._instruments),
            ("GET", f"{API}/portfolios", self._portfolios),
            ("POST", f"{API}/portfolios/{{name}}/{{action}}", self._portfolio),
            ("POST", f"{API}/kill_switch", self._kill_switch),
            ("POST", f"{API}/signals", self._signal),
            ("GET", f"{API}/stream", self._stream),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._guarded(handler))

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                self._check_token(request)
                return await handler(request)
            except Problem as problem:
                body: dict[str, Any] = {"error": problem.reason}
                if problem.check:
                    body["check"] = problem.check
                return web.json_response(body, status=problem.status)

        return guarded

    def _check_token(self, request: web.Request) -> None:
        try:
            expected = self._token()
        except CredentialsUnavailable as problem:
            raise Problem(503, f"the desk cannot read its API token: {problem}") from None
        if not expected:
            raise Problem(403, "the desk has no API token set (Settings → Signals)")
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        given = given or request.query.get("token", "")
        if not given:
            raise Problem(401, "missing Authorization: Bearer <token>")
        # A header is Latin-1 on the wire: bytes that are not UTF-8 are a wrong token, not a fault.
        # The expected token may come from the environment, which keeps undecodable bytes as
        # surrogates: encoded back the same way, it compares as the bytes it was.
        expected_bytes = expected.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected_bytes):
            raise Problem(401, "wrong token")

    async def _body(self, request: web.Request, model: type[Body]) -> Any:
        try:
            raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
        except web.HTTPRequestEntityTooLarge:
            raise Problem(
                413, f"the body is larger than {request.client_max_size:,} bytes"
            ) from None
        except TimeoutError:
            raise Problem(
                408, f"the body did not arrive whole within {BODY_TIMEOUT_S:g} s"
            ) from None
        try:
            data = json.loads(raw.decode("utf-8") or "{}", parse_float=Decimal)
        except RecursionError:
            raise Problem(400, "the body is nested too deeply") from None
        except (UnicodeDecodeError, ValueError) as problem:  # JSON's errors, thousands of digits
            raise Problem(400, f"the body is not JSON: {problem}") from None
        if not isinstance(data, dict):
            raise Problem(400, "the body should be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise Problem(422, field_problems(error, whole="body")) from None
        except (ValueError, ArithmeticError) as error:
            raise Problem(422, str(error)) from None

    def _instrument(self, symbol: str, *, to_trade: bool = True) -> Instrument:
        """The instrument ``symbol`` names; not ``to_trade`` (a quote, a watch), an index too."""
        if not to_trade:
            index = self._index(symbol)
            if index is not None:
                return index
        try:
            return resolve_symbol(self._api.instruments, symbol, self._today())
        except SignalRefused as refused:
            raise Problem(422, refused.reason) from None

    def _index(self, symbol: str) -> Instrument | None:
        exchange, _, name = symbol.strip().upper().rpartition(":")
        try:
            found = self._api.instruments.by_symbol(Exchange(exchange or "NSE"), name)
        except ValueError:
            return None  # not an exchange: the order path's resolver says so in words
        return (
            found if found is not None and found.instrument_type is InstrumentType.INDEX else None
        )

    # -- orders ----------------------------------------------------------------------------------

    async def _orders(self, request: web.Request) -> web.Response:
        return web.json_response([order_json(o) for o in self._api.orders()])

    async def _order(self, request: web.Request) -> web.Response:
        order = self._api.order(request.match_info["order_id"])
        if order is None:
            raise Problem(404, f"no order {request.match_info['order_id']!r}")
        return web.json_response(order_json(order))

    async def _place(self, request: web.Request) -> web.Response:
        body: OrderBody = await self._body(request, OrderBody)
        instrument = self._instrument(body.symbol)
        quantity = body.lots * instrument.lot_size
        client_order_id = body.client_order_id
        # From the look-up to the place nothing awaits: a second place with the same id that
        # arrives meanwhile finds the first order.
        earlier = self._placed_under(client_order_id) if client_order_id else None
        if earlier is not None:
            return self._placed_before(body, instrument.token, quantity, earlier)
        outcome = self._api.place_order(
            instrument.token,
            body.side,
            quantity,
            body.order_type,
            product=body.product,
            price=body.price,
            trigger_price=body.trigger_price,
            tag=body.stored_tag,
            source=OrderSource.API,
        )
        if not outcome.ok:
            raise Problem(422, outcome.reason, outcome.check)
        if client_order_id:
            self._client_ids[client_order_id] = outcome.order_id
        answer = {**outcome_json(outcome), "client_order_id": client_order_id}
        return web.json_response({**answer, "already_placed": False}, status=201)

    def _placed_under(self, client_order_id: str) -> Any:
        """Today's order placed through the API under ``client_order_id``, or None. The ids are
        read from the day's orders (their journaled tags) once a day, then kept as placed."""
        today = self._today()
        if today != self._client_ids_day:
            day = today.toordinal() - date(1970, 1, 1).toordinal()
            self._client_ids = {}
            for order in self._api.orders():
                if order.source is OrderSource.API and ist_day_number(order.created_ns) == day:
                    own_id = split_tag(order.tag, order.source)[1]
                    if own_id:
                        self._client_ids.setdefault(own_id, order.order_id)
            self._client_ids_day = today
        order_id = self._client_ids.get(client_order_id)
        return None if order_id is None else self._api.order(order_id)

    def _placed_before(
        self, body: OrderBody, token: int, quantity: int, earlier: Any
    ) -> web.Response:
        """The answer to a place whose ``client_order_id`` names an order placed before: that
        order, if this asks for the same one; 409 with what differs if not."""
        history = self._api.order_history(earlier.order_id)
        first = getattr(history[0], "request", None) if history else None
        if first is not None:
            found = differences(body, token, quantity, first, earlier.instrument.key)
            if found:
                raise Problem(
                    409,
                    f"client_order_id {body.client_order_id!r} is order {earlier.order_id}, "
                    f"placed today with other terms: {'; '.join(found)}. A new order needs a "
                    "new client_order_id",
                )
        note = (
            f"placed before under client_order_id {body.client_order_id!r} (now "
            f"{earlier.status.value}); not placed again"
        )
        return web.json_response(
            {
                "ok": True, "order_id": earlier.order_id, "reason": "", "check": "",
                "note": note, "children": [], "client_order_id": body.client_order_id,
                "already_placed": True,
            }
        )  # fmt: skip

    async def _modify(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        order = self._api.order(order_id)
        if order is None:
            raise Problem(404, f"no order {order_id!r}")
        body: ModifyBody = await self._body(request, ModifyBody)
        changes: dict[str, Any] = {}
        if body.lots is not None:
            changes["quantity"] = body.lots * order.instrument.lot_size
        for name in ("price", "trigger_price", "order_type"):
            if getattr(body, name) is not None:
                changes[name] = getattr(body, name)
        if not changes:
            raise Problem(422, "nothing to change: give lots, price, trigger_price or order_type")
        outcome = self._api.modify(order_id, **changes)
        if not outcome.ok:
            raise Problem(422, outcome.reason, outcome.check)
        return web.json_response(outcome_json(outcome))

    async def _cancel(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        if self._api.order(order_id) is None:
            raise Problem(404, f"no order {order_id!r}")
        outcome = self._api.cancel(order_id)
        if not outcome.ok:
            raise Problem(422, outcome.reason, outcome.check)
        return web.json_response(outcome_json(outcome))

    async def _trades(self, request: web.Request) -> web.Response:
        return web.json_response([plain(t) for t in self._api.trades()])

    # -- the book and the market -----------------------------------------------------------------

    async def _positions(self, request: web.Request) -> web.Response:
        return web.json_response([plain(p) for p in self._api.positions()])

    async def _funds(self, request: web.Request) -> web.Response:
        margin = plain(self._api.margin())
        return web.json_response({**margin, "day_pnl": str(self._api.day_pnl())})

    async def _quotes(self, request: web.Request) -> web.Response:
        symbols = [s for s in request.query.get("symbols", "").split(",") if s.strip()]
        if not symbols:
            raise Problem(422, "give ?symbols=NSE:RELIANCE,NFO:NIFTY26DECFUT")
        if len(symbols) > 200:
            raise Problem(422, "at most 200 symbols a request")
        out = {}
        for symbol in symbols:
            instrument = self._instrument(symbol, to_trade=False)
            out[symbol] = plain(self._api.quote(instrument.token))
        return web.json_response(out)

    async def _instruments(self, request: web.Request) -> web.Response:
        text = request.query.get("q", "")[:40]
        try:
            limit = min(500, max(1, int(request.query.get("limit", "50"))))
        except ValueError:
            raise Problem(422, "limit is a whole number (1-500)") from None
        found = self._api.instruments.search(text, limit=limit)
        return web.json_response([plain(i) for i in found])

    # -- portfolios and the kill switch ----------------------------------------------------------

    async def _portfolios(self, request: web.Request) -> web.Response:
        return web.json_response([plain(v) for v in self._api.portfolios()])

    async def _portfolio(self, request: web.Request) -> web.Response:
        name, action = request.match_info["name"], request.match_info["action"]
        commands = {
            "start": self._api.start_portfolio,
            "stop": self._api.stop_portfolio,
            "square_off": self._api.square_off_portfolio,
        }
        if action not in commands:
            raise Problem(
                404, f"a portfolio can be started, stopped or squared off, not {action!r}"
            )
        problem = commands[action](name)
        if problem is not None:
            raise Problem(422, problem)
        return web.json_response({"ok": True, "portfolio": name, "action": action})

    async def _kill_switch(self, request: web.Request) -> web.Response:
        body: KillSwitchBody = await self._body(request, KillSwitchBody)
        report = self._api.kill_switch(square_off=body.square_off, reason=body.reason)
        return web.json_response(plain(report))

    async def _signal(self, request: web.Request) -> web.Response:
        body: SignalBody = await self._body(request, SignalBody)
        try:
            alert = check_named(TradingViewAlert.model_validate(body.model_dump()))
        except ValidationError as error:
            raise Problem(422, field_problems(error, whole="body")) from None
        except SignalRefused as refused:
            raise Problem(refused.status, refused.reason) from None
        result = self._desk.receive(alert, origin="local API")
        return web.json_response(result.to_json(), status=result.http_status)

    # -- the stream ------------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        watched: set[int] = set()

        def put(message: dict[str, Any]) -> None:
            if queue.full():
                return  # a reader this far behind is closed below, not fed forever
            queue.put_nowait(message)

        def order_event(event: Any) -> None:
            put(order_event_json(event, self._instrument_of(event)))

        def signal_event(record: SignalRecord) -> None:
            put({"type": "signal", **plain(record.to_payload())})

        def tick(event: Tick) -> None:
            if event.token in watched:
                put({"type": "tick", "token": event.token, "ltp": str(Decimal(event.ltp) / 100)})

        forget = [
            self._api.subscribe(kind, order_event)
            for kind in (OrderSubmitted, OrderDenied, OrderStatusChanged, OrderFilled)
        ]
        forget.append(self._api.subscribe(SignalRecord, signal_event))
        forget.append(self._api.subscribe(Tick, tick))
        self.streams.add(socket)
        sender = asyncio.get_running_loop().create_task(self._pump(socket, queue))
        try:
            await socket.send_json({"type": "hello", "streams": ["orders", "signals", "ticks"]})
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                reply = self._command(message.data, watched)
                await socket.send_json(reply)
        finally:
            sender.cancel()
            for undo in forget:
                undo()
            self.streams.discard(socket)
        return socket

    async def _pump(self, socket: web.WebSocketResponse, queue: asyncio.Queue[Any]) -> None:
        while not socket.closed:
            if queue.full():
                await socket.close(code=1008, message=b"too far behind: reconnect")
                return
            message = await queue.get()
            await socket.send_json(message)

    def _instrument_of(self, event: Any) -> Instrument | None:
        """The instrument of an order event: a fill's, a request's, else its order's (none for
        a request refused before it was an order)."""
        request = getattr(event, "request", None)
        token = getattr(event, "token", None) or getattr(request, "token", None)
        if token is not None:
            found: Instrument | None = self._api.instruments.find(token)
            return found
        order = self._api.order(event.order_id)
        return None if order is None else order.instrument

    def _command(self, text: str, watched: set[int]) -> dict[str, Any]:
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            return {"type": "error", "error": 'a command is JSON: {"watch": ["NSE:RELIANCE"]}'}
        if not isinstance(command, dict) or not isinstance(command.get("watch"), list):
            return {"type": "error", "error": 'the one command is {"watch": [symbols]}'}
        tokens = []
        for symbol in command["watch"][:200]:
            try:
                tokens.append(self._instrument(str(symbol), to_trade=False).token)
            except Problem as problem:
                return {"type": "error", "error": problem.reason}
        watched.update(tokens)
        self._api.watch(tokens)
        return {"type": "watching", "tokens": sorted(watched)}

    # -- the document ----------------------------------------------------------------------------

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())
