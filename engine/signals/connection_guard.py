"""A bounded share of the desk's loop for each client of its HTTP servers (the signals endpoint,
the metrics endpoint): a request's line and headers arrive within ``REQUEST_DEADLINE_S`` or the
connection is closed with a 408 (a sender that trickles headers a byte a minute, slowloris, holds
no connection for long), and one server holds at most ``MAX_CONNECTIONS`` connections, so a flood
of them cannot use up the process's file descriptors."""

from __future__ import annotations

import asyncio
import json
import logging
from enum import Enum
from typing import cast

from aiohttp import StreamReader, web

from engine.signals.local_api import Handler

log = logging.getLogger(__name__)

REQUEST_DEADLINE_S = 10.0
"""A request's line and headers arrive whole within this, counted from the connection's opening
(or, on a kept-alive connection, from the next request's first byte); else the connection is
closed. A real client sends them in one packet."""
MAX_CONNECTIONS = 64
"""Connections one server holds at once. TradingView, a tunnel and a few scripts need a handful;
past this a new connection is refused (503) unless an idle kept-alive one can be closed for it."""
IDLE_TIMEOUT_S = 75.0
"""A kept-alive connection with no request under way is closed after this (aiohttp's
``keepalive_timeout``, an hour by default in recent versions). Longer than clients keep an idle
connection (aiohttp's client: 15 s), so a client seldom sends on one the desk is just closing."""


class Phase(Enum):
    """Where one connection is. The deadline runs in OPENED and ARRIVING only: a handler's
    time is its own (a WebSocket lasts all day), and an idle kept-alive connection is aiohttp's
    to close (``IDLE_TIMEOUT_S``) and the first to go when the cap is reached. A next request
    begun in the same packet as the last one cannot be told from idle (only aiohttp's parser
    sees where one request ends), so it is bounded that way too.

    ========  ==================================  ========
    from      on                                  to
    ========  ==================================  ========
    OPENED    a request's head arrived            HANDLING
    OPENED    the deadline passed                 closed (408)
    HANDLING  the handler answered                IDLE
    HANDLING  answered, a next request under way  ARRIVING
    IDLE      a new request's first bytes         ARRIVING
    IDLE      a request's head (pipelined)        HANDLING
    ARRIVING  a request's head arrived            HANDLING
    ARRIVING  the deadline passed                 closed (408)
    ========  ==================================  ========
    """

    OPENED = "opened"
    HANDLING = "handling"
    IDLE = "idle"
    ARRIVING = "arriving"


class ConnectionGuard:
    """The deadline for a request's head and the cap on connections, for one aiohttp server.

    Written here because aiohttp has neither. It bounds a head's size (``max_line_size``,
    ``max_field_size``, ``max_headers``), a body's (``client_max_size``) and an idle connection's
    life (``keepalive_timeout``), but not the time a head takes to arrive: a connection that
    sends half a request line is held until the keep-alive timeout (an hour by default; for
    ever in versions that arm it only after a first answer), without a word in the log. Nor
    does it count connections: a listener accepts as many as the process has descriptors for.
    So the server's protocol is wrapped (``GuardedConnection``) to see a connection open, its
    bytes arrive and it close, and a middleware tells the wrapper when a request's head has
    arrived and when the request is answered."""

    def __init__(
        self,
        name: str,
        *,
        deadline_s: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.name = name
        self.deadline_s = deadline_s
        self.max_connections = max_connections
        self.connections: dict[asyncio.BaseTransport, GuardedConnection] = {}
        self.refused = 0
        self._full_told = False
        self._server: web.Server | None = None

    async def listen(self, runner: web.BaseRunner, host: str, port: int) -> asyncio.Server:
        """Serve ``runner``'s application on ``host:port`` behind the guard (the caller closes
        the listener it returns before it cleans the runner up)."""
        assert runner.server is not None, "set the runner up first"
        self._server = runner.server
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: GuardedConnection(self), host, port)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = self.connections.get(request.transport) if request.transport else None
        if connection is None:
            return await handler(request)
        connection.head_arrived(request.content)
        try:
            return await handler(request)
        finally:
            connection.answered()

    def admit(self, connection: GuardedConnection, transport: asyncio.Transport) -> bool:
        if len(self.connections) >= self.max_connections:
            idle = next((c for c in self.connections.values() if c.phase is Phase.IDLE), None)
            if idle is None:
                self._refuse(transport)
                return False
            idle.close()
        self.connections[transport] = connection
        return True

    def left(self, transport: asyncio.BaseTransport) -> None:
        self.connections.pop(transport, None)
        if len(self.connections) < self.max_connections:
            self._full_told = False

    def aiohttp_protocol(self) -> web.RequestHandler:
        assert self._server is not None
        return self._server()

    def _refuse(self, transport: asyncio.Transport) -> None:
        self.refused += 1
        if not self._full_told:
            self._full_told = True
            log.warning(
                "the %s has %d connections open, the most it serves: new ones are refused "
                "until some close",
                self.name,
                len(self.connections),
            )
        transport.write(closing_answer(503, "Service Unavailable", "the desk is busy: try again"))
        transport.close()

    def expired(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a client"
        log.warning(
            "the %s closed the connection from %s: its request did not arrive whole within %g s",
            self.name,
            where,
            self.deadline_s,
        )
        if transport.get_write_buffer_size() == 0:  # nothing of an earlier answer still going
            reason = f"the request did not arrive whole within {self.deadline_s:g} s"
            transport.write(closing_answer(408, "Request Timeout", reason))
        transport.close()


class GuardedConnection(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, the deadline and the count outside."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: web.RequestHandler | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        """The body of the request under way or last answered: until it has all arrived, bytes
        are its own (aiohttp drains an unread one), not a new request's."""
        self._next_begun = False
        self.phase = Phase.OPENED

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard.admit(self, self._transport):
            return
        self._inner = self._guard.aiohttp_protocol()
        self._inner.connection_made(transport)
        self._start_deadline()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return  # refused
        new_request = self._body is None or self._body.is_eof()
        if self.phase is Phase.IDLE and new_request:
            self.phase = Phase.ARRIVING
            self._start_deadline()
        elif self.phase is Phase.HANDLING and new_request:
            self._next_begun = True  # pipelined, or a WebSocket's frames
        self._inner.data_received(data)

    def eof_received(self) -> None:
        if self._inner is not None:
            self._inner.eof_received()  # returns nothing: the transport closes at a client's EOF

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        if self._transport is not None:
            self._guard.left(self._transport)
        if self._inner is not None:
            self._inner.connection_lost(exc)
        self._body = None

    def head_arrived(self, body: StreamReader) -> None:
        self._stop_deadline()
        self.phase = Phase.HANDLING
        self._body = body
        self._next_begun = False

    def answered(self) -> None:
        if self._next_begun:
            self.phase = Phase.ARRIVING
            self._start_deadline()
        else:
            self.phase = Phase.IDLE

    def close(self) -> None:
        if self._transport is not None:
            self._guard.left(self._transport)
            self._transport.close()

    def _start_deadline(self) -> None:
        self._stop_deadline()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.deadline_s, self._expired)

    def _stop_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._guard.expired(self._transport)


def closing_answer(status: int, phrase: str, reason: str) -> bytes:
    """A whole HTTP answer that closes the connection, written where aiohttp has none under way."""
    body = json.dumps({"error": reason}).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
