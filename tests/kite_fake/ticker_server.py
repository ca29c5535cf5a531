"""The fake KiteTicker: a ``websockets`` server on 127.0.0.1 speaking the real binary format.

It checks ``api_key`` / ``access_token`` in the query (403 otherwise), keeps token → mode per
connection (``quote`` after a bare subscribe, as pykiteconnect assumes), answers a subscribe or a
mode change with a snapshot of the instruments it knows, sends a 1-byte heartbeat when idle, and
pushes order updates as ``{"type": "order", "data": ...}`` text frames.

Faults for the tests: ``drop_all`` (abort every TCP connection, no close frame), ``send_raw``
(malformed frames), ``slow_s`` (a delay before every frame), ``stall`` (stop sending anything,
heartbeats included, while the TCP connection stays up), ``refuse_next`` (answer the next
handshakes with 503), ``on_handshake`` (called with each handshake's access token before it is
checked: something happening while a connection is on its way), and token expiry
(``FakeKite.expire_token``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.kite_fake.credentials import KiteCredentials
from tests.kite_fake.packets import HEARTBEAT, MarketState, frame, packet

log = logging.getLogger(__name__)


@dataclass(eq=False)
class TickerSession:
    ws: ServerConnection
    access_token: str
    modes: dict[int, str] = field(default_factory=dict)
    outbox: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)
    sent_since_beat: bool = False


class FakeTickerServer:
    def __init__(
        self,
        credentials: KiteCredentials,
        *,
        heartbeat_s: float = 0.5,
        default_mode: str = "quote",
    ) -> None:
        self.credentials = credentials
        self.heartbeat_s = heartbeat_s
        self.default_mode = default_mode
        self.market: dict[int, MarketState] = {}
        self.sessions: list[TickerSession] = []
        self.received: list[dict[str, Any]] = []
        self.handshakes = 0
        self.refused = 0
        self.stalled = False
        self.slow_s = 0.0
        self.refuse_next = 0
        self.on_handshake: Callable[[str], None] | None = None
        self._server: Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def stop_listening(self) -> None:
        """Cut every session and refuse new ones; the port is kept for ``listen_again``."""
        self._port = self._server.sockets[0].getsockname()[1] if self._server else 0
        await self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def listen_again(self) -> None:
        await self.start(self._port)

    async def start(self, port: int = 0) -> None:
        self._server = await websockets.serve(
            self._handle,
            "127.0.0.1",
            port,
            process_request=self._check,
            compression=None,
            max_size=1 << 20,
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what tests drive ------------------------------------------------------------------------

    def set_market(self, states: Iterable[MarketState]) -> None:
        for state in states:
            self.market[state.token] = state

    def push(self, states: Iterable[MarketState]) -> int:
        """Update the market and send each session one frame with its subscribed instruments."""
        batch = list(states)
        self.set_market(batch)
        sent = 0
        for session in self.sessions:
            packets = [packet(s, session.modes[s.token]) for s in batch if s.token in session.modes]
            if packets:
                session.outbox.put_nowait(frame(packets))
                sent += 1
        return sent

    def push_order_update(self, order: dict[str, Any]) -> None:
        text = json.dumps({"type": "order", "data": order})
        for session in self.sessions:
            session.outbox.put_nowait(text)

    def send_raw(self, data: bytes | str) -> None:
        for session in self.sessions:
            session.outbox.put_nowait(data)

    def stall(self, stalled: bool = True) -> None:
        self.stalled = stalled

    async def drop_all(self) -> int:
        """Cut every connection as a network failure would: no close frame."""
        dropped = 0
        for session in list(self.sessions):
            session.ws.transport.abort()
            dropped += 1
        await asyncio.sleep(0)
        return dropped

    async def close_expired(self) -> None:
        """After the token expired: say so, then close the sessions that used it."""
        for session in list(self.sessions):
            if not self.credentials.is_valid(session.access_token):
                session.outbox.put_nowait(json.dumps({"type": "error", "data": "Token expired"}))
                await asyncio.sleep(0.05)
                await session.ws.close(code=1008, reason="token expired")

    def subscribed(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for session in self.sessions:
            out.update(session.modes)
        return out

    # -- protocol --------------------------------------------------------------------------------

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try later\n")
        query = parse_qs(urlsplit(request.path).query)
        api_key = query.get("api_key", [""])[0]
        access_token = query.get("access_token", [""])[0]
        if self.on_handshake is not None:
            self.on_handshake(access_token)
        if api_key != self.credentials.api_key or not self.credentials.is_valid(access_token):
            self.refused += 1
            return connection.respond(HTTPStatus.FORBIDDEN, "invalid api_key or access_token\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        session = TickerSession(ws, query.get("access_token", [""])[0])
        self.sessions.append(session)
        writer = self._spawn(self._write(session))
        beat = self._spawn(self._heartbeat(session))
        try:
            async for message in ws:
                if isinstance(message, str):
                    self._on_text(session, message)
        except ConnectionClosed:
            pass
        finally:
            self.sessions.remove(session)
            writer.cancel()
            beat.cancel()

    def _on_text(self, session: TickerSession, text: str) -> None:
        message = json.loads(text)
        self.received.append(message)
        action, value = message.get("a"), message.get("v")
        if action == "subscribe":
            for token in value:
                session.modes.setdefault(int(token), self.default_mode)
            self._snapshot(session, value)
        elif action == "unsubscribe":
            for token in value:
                session.modes.pop(int(token), None)
        elif action == "mode":
            mode, tokens = value
            for token in tokens:
                if int(token) in session.modes:
                    session.modes[int(token)] = mode
            self._snapshot(session, tokens)

    def _snapshot(self, session: TickerSession, tokens: Iterable[int]) -> None:
        packets = [
            packet(self.market[token], session.modes[token])
            for token in tokens
            if token in self.market and token in session.modes
        ]
        if packets:
            session.outbox.put_nowait(frame(packets))

    async def _write(self, session: TickerSession) -> None:
        while True:
            message = await session.outbox.get()
            if self.stalled:
                continue
            if self.slow_s:
                await asyncio.sleep(self.slow_s)
            session.sent_since_beat = True
            try:
                await session.ws.send(message)
            except ConnectionClosed:
                return

    async def _heartbeat(self, session: TickerSession) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if not session.sent_since_beat and not self.stalled:
                session.outbox.put_nowait(HEARTBEAT)
            session.sent_since_beat = False

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
