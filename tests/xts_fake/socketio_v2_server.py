"""The server side of Socket.IO v2 / Engine.IO 3 for the fake XTS, on aiohttp websockets.

It speaks what a real XTS socket speaks (kite_xts_apis.md §C.8, §C.13.7), websocket transport only:
a client opens ``<path>/?EIO=3&transport=websocket&<query>``; the server checks the query through
``authorize`` (HTTP 401 when it refuses), sends the Engine.IO open packet
``0{"sid","upgrades":[],"pingInterval","pingTimeout"}`` and ``40``, answers each ping ``2`` with
``3``, and sends events as ``42["name", payload]``. A client's ``41`` or ``1`` ends the session.

``install(app)`` adds the route to an existing ``aiohttp.web.Application`` (several sockets can
share one server, as on real XTS); ``start()`` runs it alone on a free 127.0.0.1 port.

Faults for tests: ``drop_all`` (abort every TCP connection, no close frame), ``close_all`` (a clean
``41``), ``send_raw`` (any text, e.g. malformed frames), ``stall`` (stop answering pings and sending
events while the TCP connection stays up), ``refuse_with`` (the next sessions get a ``44`` error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

Authorize = Callable[[Mapping[str, str]], bool]
SessionHook = Callable[["SocketSession"], Awaitable[None]]
ClientEvent = Callable[["SocketSession", str, Any], None]


@dataclass(eq=False)
class SocketSession:
    ws: web.WebSocketResponse
    request: web.Request
    query: dict[str, str]
    sid: str
    received: list[str] = field(default_factory=list)
    """Every text frame the client sent, pings included."""


class SocketIOv2Server:
    def __init__(
        self,
        path: str,
        *,
        authorize: Authorize | None = None,
        on_session: SessionHook | None = None,
        on_client_event: ClientEvent | None = None,
        ping_interval_ms: int = 25_000,
        ping_timeout_ms: int = 60_000,
    ) -> None:
        self.path = "/" + path.strip("/")
        self.authorize = authorize or (lambda query: True)
        self.on_session = on_session
        """Called after ``40`` is sent (the fake XTS emits ``joined`` there)."""
        self.on_client_event = on_client_event
        self.ping_interval_ms = ping_interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self.sessions: list[SocketSession] = []
        self.handshakes = 0
        self.refused = 0
        self.stalled = False
        self.refuse_with: str | None = None
        """When set, sessions are answered ``44`` with this message instead of ``40``."""
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- mounting --------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        app.router.add_get(self.path + "/", self._handle)
        app.router.add_get(self.path, self._handle)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        self.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        """The root URL a client connects to (when started alone)."""
        return f"http://127.0.0.1:{self._port}"

    async def close(self) -> None:
        await self.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests drive ------------------------------------------------------------------------

    async def emit(
        self, name: str, payload: Any, *, to: Callable[[SocketSession], bool] | None = None
    ) -> int:
        """Send ``42["name", payload]`` to every session ``to`` accepts; returns how many."""
        return await self.send_raw("42" + json.dumps([name, payload]), to=to)

    async def send_raw(
        self, text: str, *, to: Callable[[SocketSession], bool] | None = None
    ) -> int:
        if self.stalled:
            return 0
        sent = 0
        for session in list(self.sessions):
            if (to is None or to(session)) and not session.ws.closed:
                try:
                    await session.ws.send_str(text)
                except ConnectionError as exc:
                    log.info("fake socket %s: send to a closing session failed: %s", self.path, exc)
                    continue
                sent += 1
        return sent

    def stall(self, stalled: bool = True) -> None:
        self.stalled = stalled

    async def drop_all(self) -> int:
        """Cut every connection as a network failure would: no close frame."""
        dropped = 0
        for session in list(self.sessions):
            transport = session.request.transport
            if transport is not None:
                transport.abort()
                dropped += 1
        await asyncio.sleep(0)
        return dropped

    async def close_all(self) -> int:
        """End every session cleanly: ``41``, then a websocket close."""
        closed = 0
        for session in list(self.sessions):
            if not session.ws.closed:
                try:
                    await session.ws.send_str("41")
                except ConnectionError as exc:
                    log.info("fake socket %s: goodbye not sent: %s", self.path, exc)
                await session.ws.close()
                closed += 1
        return closed

    # -- protocol --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        query = dict(request.query)
        if query.get("EIO") != "3" or query.get("transport") != "websocket":
            self.refused += 1
            return web.Response(status=400, text="only EIO=3 over the websocket transport\n")
        if not self.authorize(query):
            self.refused += 1
            return web.Response(status=401, text="invalid token\n")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session = SocketSession(ws, request, query, secrets.token_hex(10))
        opened = {
            "sid": session.sid,
            "upgrades": [],
            "pingInterval": self.ping_interval_ms,
            "pingTimeout": self.ping_timeout_ms,
        }
        await ws.send_str("0" + json.dumps(opened))
        if self.refuse_with is not None:
            await ws.send_str("44" + json.dumps(self.refuse_with))
            await ws.close()
            return ws
        await ws.send_str("40")
        self.sessions.append(session)
        try:
            if self.on_session is not None:
                await self.on_session(session)
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                if not await self._on_text(session, message.data):
                    break
        finally:
            self.sessions.remove(session)
            if not ws.closed:
                await ws.close()
        return ws

    async def _on_text(self, session: SocketSession, text: str) -> bool:
        """Handle one client frame; False when the client said goodbye."""
        session.received.append(text)
        if text == "2":
            if not self.stalled:
                await session.ws.send_str("3")
        elif text in ("1", "41"):
            return False
        elif text.startswith("42") and self.on_client_event is not None:
            name, *args = json.loads(text[2:])
            self.on_client_event(session, name, args[0] if args else None)
        return True
