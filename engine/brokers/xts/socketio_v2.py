"""A small Socket.IO v2 / Engine.IO 3 client over ``websockets``, for both XTS sockets.

Why hand-written (kite_xts_apis.md §C.8, §C.13.6–7): XTS speaks Socket.IO protocol v2 on Engine.IO 3
(``EIO=3``). python-socketio 5 and later speak only the newer protocol and cannot connect;
python-socketio 4.6.1, the last release with v2, breaks on Python 3.12 (``asyncio.wait`` handed
bare coroutines inside ``emit``) and never reconnects after a server-side disconnect. The part of
the protocol XTS uses is small, so we speak it ourselves, websocket transport only:

- open ``ws://host/<path>/?EIO=3&transport=websocket&<query>``;
- the server sends the Engine.IO open packet ``0{"sid", "pingInterval", "pingTimeout", ...}`` and
  then ``40`` (Socket.IO connect, default namespace);
- the client sends an Engine.IO ping ``2`` every ``pingInterval`` and the server answers ``3``;
- events arrive as ``42["name", payload]`` (an optional ``/namespace,`` and ack id may precede the
  array); the payload is whatever JSON the server sent (XTS sends JSON *strings*; callers decode);
- ``41`` (Socket.IO disconnect) or ``1`` (Engine.IO close) ends the connection; ``44`` is a
  Socket.IO error, which XTS uses to refuse a connection.

The client owns the reconnect loop (exponential backoff with jitter, capped; no limit on attempts,
as the vendor SDK), a no-data watchdog (any frame, pongs included, proves the server alive; the ping
interval is kept below the watchdog's timeout so a live server always has something to say), and
calls ``on_connect(reconnect)`` after every ``40`` so the owner can resubscribe or reconcile.

The query carries the session token, so neither it nor the URL is ever logged; ``query`` is a
callable so that a reconnect after a re-login uses the new token. An HTTP 401/403 handshake or a
``44`` error moves the client to ``AUTH_REJECTED``: nothing more is tried until ``retry()``.
Every callback is isolated: one that raises is logged and counted, and the stream carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

log = logging.getLogger(__name__)
# websockets logs the request line, query and token included, at DEBUG: its logger for these
# sockets never goes below INFO, whatever the application's logging set-up.
_wire_log = logging.getLogger(__name__ + ".wire")
_wire_log.setLevel(logging.INFO)

EventHandler = Callable[[str, Any], None]
ConnectHandler = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SocketIOConfig:
    first_delay_s: float = 1.0
    """Wait before the first reconnect attempt; doubled after each failure."""
    max_delay_s: float = 30.0
    jitter: float = 0.5
    """Each wait is spread by ± this fraction, so many desks do not reconnect in step."""
    data_timeout_s: float = 30.0
    """No frame at all for this long closes the connection (it then reconnects)."""
    open_timeout_s: float = 10.0
    """Longest wait for the websocket handshake and then for the server's ``0`` and ``40``."""
    max_frame_bytes: int = 16 << 20


class SocketState(StrEnum):
    """The client's lifecycle, as an explicit state table (``TRANSITIONS``)::

        IDLE ─start─▶ CONNECTING ─0, 40─▶ OPEN ─lost / closed / silent─▶ BACKOFF ─▶ CONNECTING
                          └─ 401/403, 44, no query ─▶ AUTH_REJECTED ─retry()─▶ CONNECTING

    OPEN may also go to AUTH_REJECTED (a ``44`` mid-session); any state goes to CLOSED (stopped).
    """

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    BACKOFF = "backoff"
    AUTH_REJECTED = "auth rejected"
    """The server refused the session (HTTP 401/403 or a Socket.IO error): waits for ``retry()``."""
    CLOSED = "closed"


S = SocketState
TRANSITIONS: dict[SocketState, frozenset[SocketState]] = {
    S.IDLE: frozenset({S.CONNECTING, S.CLOSED}),
    S.CONNECTING: frozenset({S.OPEN, S.BACKOFF, S.AUTH_REJECTED, S.CLOSED}),
    S.OPEN: frozenset({S.BACKOFF, S.AUTH_REJECTED, S.CLOSED}),
    S.BACKOFF: frozenset({S.CONNECTING, S.CLOSED}),
    S.AUTH_REJECTED: frozenset({S.CONNECTING, S.CLOSED}),
    S.CLOSED: frozenset(),
}


class IllegalSocketTransition(RuntimeError):
    """A bug: the client tried a move its state table does not allow."""


def check_transition(current: SocketState, new: SocketState) -> None:
    if new not in TRANSITIONS[current]:
        raise IllegalSocketTransition(f"socket cannot go from {current} to {new}")


@dataclass(frozen=True, slots=True)
class SocketStateChange:
    previous: SocketState
    state: SocketState
    detail: str = ""
    reconnect: bool = False
    """True on an OPEN that follows an earlier OPEN."""


@dataclass
class SocketStats:
    """Counters of what the client received and did; read by owners, the UI and the tests."""

    frames: int = 0
    events: int = 0
    bad_frames: int = 0
    pongs: int = 0
    connects: int = 0
    reconnects: int = 0
    watchdog_trips: int = 0
    auth_rejections: int = 0
    callback_errors: int = 0


class _Refused(Exception):
    """The server refused the Socket.IO session (a ``44`` packet)."""


class SocketIOProtocolError(ValueError):
    """A text frame that is not an Engine.IO 3 / Socket.IO v2 packet."""


def parse_event(text: str) -> tuple[str, Any] | None:
    """``(name, payload)`` of a ``42`` event frame, or None for a frame that is not an event.

    ``payload`` is None for an event sent without arguments and a list when it has several.
    Raises ``SocketIOProtocolError`` for a ``42`` frame that cannot be read.
    """
    if not text.startswith("42"):
        return None
    body = text[2:]
    if body.startswith("/"):
        comma = body.find(",")
        if comma < 0:
            raise SocketIOProtocolError("namespace without a comma")
        body = body[comma + 1 :]
    start = 0
    while start < len(body) and body[start].isdigit():
        start += 1  # an ack id: XTS never asks for acks, and nothing here answers one
    try:
        data = json.loads(body[start:])
    except ValueError as exc:
        raise SocketIOProtocolError(f"event is not JSON ({exc})") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise SocketIOProtocolError("event is not an array starting with its name")
    args = data[1:]
    return data[0], (None if not args else args[0] if len(args) == 1 else args)


def socket_url(root: str, path: str, query: Mapping[str, str]) -> str:
    """The websocket URL of a Socket.IO v2 endpoint: ``http(s)`` roots become ``ws(s)``."""
    parts = urlsplit(root)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"a socket root must be http(s) or ws(s), not {parts.scheme!r}")
    full_path = "/" + path.strip("/") + "/"
    params = {"EIO": "3", "transport": "websocket", **query}
    return urlunsplit((scheme, parts.netloc, full_path, urlencode(params), ""))


class SocketIOClient:
    def __init__(
        self,
        root: str,
        path: str,
        query: Callable[[], Mapping[str, str]],
        *,
        on_event: EventHandler,
        on_connect: ConnectHandler | None = None,
        on_state: Callable[[SocketStateChange], None] | None = None,
        config: SocketIOConfig | None = None,
        rng: random.Random | None = None,
        name: str = "socket.io",
    ) -> None:
        socket_url(root, path, {})  # refuse a bad root now rather than in the loop
        self._root = root
        self._path = path
        self._query = query
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_state = on_state
        self.config = config or SocketIOConfig()
        self._rng = rng or random.Random()
        self.name = name
        self.stats = SocketStats()
        self.state = SocketState.IDLE
        self.sid = ""
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._opened_before = False
        self._failures = 0
        self._closing = False
        self._last_frame = 0.0

    # -- public API ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._closing:
            raise RuntimeError(f"a stopped {self.name} client cannot be started again")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
            self._task.add_done_callback(self._task_done)

    async def stop(self) -> None:
        """Close the connection and end the reconnect loop."""
        self._closing = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            try:
                await ws.send("41")
            except ConnectionClosed:
                log.debug("%s: already closed when saying goodbye", self.name)
            await ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.state is not SocketState.CLOSED:
            self._move(SocketState.CLOSED, "stopped")

    def retry(self) -> None:
        """Try again now: after a refusal (a new login happened), or to cut a backoff short."""
        self._wake.set()

    async def reconnect(self, why: str) -> None:
        """Drop the current connection (if any) so the loop connects again at once, with a
        fresh query (a new token after a login)."""
        ws = self._ws
        if ws is not None:
            log.info("%s: reconnecting: %s", self.name, why)
            await ws.close(code=1000, reason=why[:100])
        self._wake.set()  # no backoff before the next attempt

    async def emit(self, name: str, payload: Any = None) -> bool:
        """Send an event; False when not connected (nothing is queued)."""
        ws = self._ws
        if ws is None or self.state is not SocketState.OPEN:
            return False
        args = [name] if payload is None else [name, payload]
        try:
            await ws.send("42" + json.dumps(args))
        except ConnectionClosed:
            return False
        return True

    # -- frames ----------------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        """One text frame after the handshake; never raises (bad frames are counted)."""
        self.stats.frames += 1
        if text == "3":
            self.stats.pongs += 1
            return
        try:
            event = parse_event(text)
        except SocketIOProtocolError as exc:
            self._bad_frame(str(exc), text)
            return
        if event is None:
            if text[:2] in ("40", "43") or text in ("6", "2"):
                return  # a repeated connect, an ack, a noop or a server ping: nothing to do
            self._bad_frame("not an event", text)
            return
        self.stats.events += 1
        try:
            self._on_event(*event)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("%s: handler of event %r failed", self.name, event[0])

    def _bad_frame(self, why: str, text: str) -> None:
        self.stats.bad_frames += 1
        count = self.stats.bad_frames
        if count <= 10 or count % 1000 == 0:
            log.warning("%s: skipped a frame (%s; %d so far): %.120s", self.name, why, count, text)

    # -- lifecycle -------------------------------------------------------------------------------

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self.name, exc_info=task.exception())

    def _move(self, state: SocketState, detail: str = "") -> None:
        check_transition(self.state, state)
        previous, self.state = self.state, state
        reconnect = state is SocketState.OPEN and self._opened_before
        if state is SocketState.OPEN:
            self._opened_before = True
        log.info("%s: %s -> %s %s", self.name, previous, state, detail)
        if self._on_state is not None:
            try:
                self._on_state(SocketStateChange(previous, state, detail, reconnect))
            except Exception:
                self.stats.callback_errors += 1
                log.exception("%s: state handler failed", self.name)

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()  # before the attempt, so a retry() during it is not lost
            self._move(SocketState.CONNECTING)
            failure = await self._connect_and_serve()
            if self._closing:
                return
            if self.state is SocketState.AUTH_REJECTED:
                await self._wake.wait()
                continue
            self._failures += 1
            delay = self._backoff(self._failures)
            self._move(SocketState.BACKOFF, f"{failure}; retry in {delay:.2f}s")
            with contextlib.suppress(TimeoutError):  # the backoff ran out: try again
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _backoff(self, failures: int) -> float:
        config = self.config
        base = min(config.first_delay_s * 2 ** (failures - 1), config.max_delay_s)
        return base * (1 + self._rng.uniform(-config.jitter, config.jitter))

    async def _connect_and_serve(self) -> str:
        """One attempt and, if it opens, the connection's whole life; returns why it ended."""
        try:
            query = self._query()
        except Exception as exc:  # the owner has no session to offer (logged out)
            return self._refused(f"no session to connect with ({type(exc).__name__}: {exc})")
        try:
            ws = await websockets.connect(
                socket_url(self._root, self._path, query),
                open_timeout=self.config.open_timeout_s,
                close_timeout=2.0,
                max_size=self.config.max_frame_bytes,
                compression=None,
                ping_interval=None,  # Engine.IO pings, not websocket pings
                logger=_wire_log,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                return self._refused(f"HTTP {status}: the session token was refused")
            return f"handshake refused with HTTP {status}"
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"could not connect ({type(exc).__name__}: {exc})"
        self._ws = ws
        try:
            try:
                ping_interval = await asyncio.wait_for(
                    self._handshake(ws), self.config.open_timeout_s
                )
            except _Refused as exc:
                return self._refused(str(exc))
            except (TimeoutError, SocketIOProtocolError, ConnectionClosed) as exc:
                return f"no Socket.IO session ({type(exc).__name__}: {exc})"
            self._failures = 0
            self.stats.connects += 1
            reconnect = self._opened_before
            if reconnect:
                self.stats.reconnects += 1
            self._move(SocketState.OPEN, f"sid {self.sid}")
            return await self._serve(ws, ping_interval, reconnect)
        finally:
            self._ws = None
            await ws.close()

    def _refused(self, why: str) -> str:
        self.stats.auth_rejections += 1
        self._move(SocketState.AUTH_REJECTED, f"{why}; log in again")
        return why

    async def _handshake(self, ws: ClientConnection) -> float:
        """Read ``0{...}`` and ``40``; returns the ping interval to use, seconds."""
        ping_interval_s = self.config.data_timeout_s / 3
        while True:
            text = await ws.recv()
            if not isinstance(text, str):
                raise SocketIOProtocolError("binary frame before the session opened")
            if text.startswith("0"):
                try:
                    opened = json.loads(text[1:])
                    self.sid = str(opened.get("sid", ""))
                    server_ms = float(opened.get("pingInterval", 25_000))
                except (ValueError, AttributeError, TypeError) as exc:
                    raise SocketIOProtocolError(f"bad open packet ({exc})") from None
                # Ping at least three times per watchdog window, so silence means a dead server.
                ping_interval_s = min(server_ms / 1000, self.config.data_timeout_s / 3)
            elif text.startswith("40"):
                return ping_interval_s
            elif text.startswith("44"):
                raise _Refused(f"the server refused the session: {text[2:200]}")
            elif text.startswith(("41", "1")):
                raise SocketIOProtocolError("closed by the server during the handshake")
            else:
                raise SocketIOProtocolError(f"unexpected frame during the handshake: {text[:60]}")

    async def _serve(self, ws: ClientConnection, ping_interval_s: float, reconnect: bool) -> str:
        loop = asyncio.get_running_loop()
        self._last_frame = loop.time()
        helpers = [
            loop.create_task(self._pinger(ws, ping_interval_s), name=f"{self.name}-ping"),
            loop.create_task(self._watchdog(ws), name=f"{self.name}-watchdog"),
        ]
        if self._on_connect is not None:
            helpers.append(
                loop.create_task(self._connected(reconnect), name=f"{self.name}-on-connect")
            )
        try:
            async for message in ws:
                self._last_frame = loop.time()
                if isinstance(message, bytes):
                    self.stats.frames += 1
                    self._bad_frame("binary attachment (XTS JSON mode sends none)", "")
                    continue
                if message in ("41", "1") or message.startswith("41"):
                    return "the server closed the session"
                if message.startswith("44"):
                    self._refused(f"the server ended the session: {message[2:200]}")
                    return "the server ended the session"
                self.handle_text(message)
            return f"connection closed (code {ws.close_code})"
        except ConnectionClosed as exc:
            return f"connection lost ({exc})"
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _connected(self, reconnect: bool) -> None:
        assert self._on_connect is not None
        try:
            await self._on_connect(reconnect)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.callback_errors += 1
            log.exception("%s: connect handler failed", self.name)

    async def _pinger(self, ws: ClientConnection, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await ws.send("2")
            except ConnectionClosed:
                return

    async def _watchdog(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.config.data_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            silent = loop.time() - self._last_frame
            if silent > timeout:
                self.stats.watchdog_trips += 1
                log.warning("%s: no data for %.1fs; reconnecting", self.name, silent)
                await ws.close(code=1001, reason="no data")
                return
