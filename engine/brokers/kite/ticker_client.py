"""Our asyncio KiteTicker client on ``websockets`` (kite_xts_apis.md §B; DESIGN: the official
KiteTicker needs Twisted and cannot share the qasync loop).

- Subscriptions are desired state (token → mode) kept here, spread over up to three connections of
  up to 3,000 tokens each; every (re)open sends ``subscribe`` and an explicit ``mode`` per group.
- Liveness: any frame, the 1-byte heartbeats included, feeds a watchdog; ``data_timeout_s`` with
  nothing closes the connection, which then reconnects with exponential backoff and jitter. It
  gives up after ``max_reconnect_attempts`` failures in a row, or a fault in its task, and says so.
- A 401/403 handshake means the access token was refused: that connection stops and waits for
  ``set_access_token`` (a new login) instead of hammering the server. A refusal of the token a
  new login replaced while the attempt was on its way is not the session's: it just retries.
- Binary frames become engine ``Tick``s (integer paise) and/or official-style ``KiteTick``s; a
  malformed frame is counted in ``stats.bad_frames`` and skipped, never raised.
- Text frames: order updates (deduplicated across connections) go to ``on_order_update`` as dicts,
  ``error`` and ``message`` texts to their callbacks; undecodable text is counted.

Every callback is isolated: one that raises is logged and counted, and the feed carries on.
The access token is a secret: it is in the connection URL, so the URL is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from engine.brokers.kite.config import KiteTickerConfig
from engine.brokers.kite.ticker import (
    MODE_QUOTE,
    MODES,
    SEGMENT_NAMES,
    KiteFrameError,
    KiteTick,
    carries_paise,
    parse_frame,
    parse_ticks,
)
from engine.brokers.kite.ticker_state import (
    ConnectionState,
    ConnectionStateChange,
    TickerConnection,
    TickerStats,
    check_transition,
    failed_detail,
    gave_up_detail,
)
from engine.core.clock import Clock
from engine.domain.ticks import Tick

log = logging.getLogger(__name__)

KITE_VERSION_HEADER = ("X-Kite-Version", "3")
_RECENT_ORDER_UPDATES = 4096


class KiteTickerClient:
    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        clock: Clock,
        config: KiteTickerConfig | None = None,
        on_ticks: Callable[[list[Tick]], None] | None = None,
        on_kite_ticks: Callable[[list[KiteTick]], None] | None = None,
        on_order_update: Callable[[dict[str, Any]], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_message: Callable[[str], None] | None = None,
        on_state: Callable[[ConnectionStateChange], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key or not access_token:
            raise ValueError("the ticker needs an api_key and an access_token")
        self._api_key = api_key
        self._access_token = access_token
        self._clock = clock
        self.config = config or KiteTickerConfig()
        self._on_ticks = on_ticks
        self._on_kite_ticks = on_kite_ticks
        self._on_order_update = on_order_update
        self._on_error = on_error
        self._on_message = on_message
        self._on_state = on_state
        self._rng = rng or random.Random()
        self.stats = TickerStats()
        self._connections: list[TickerConnection] = []
        self._recent_updates: OrderedDict[str, None] = OrderedDict()
        self._started = False
        self._closing = False

    # -- public API ------------------------------------------------------------------------------

    @property
    def subscriptions(self) -> dict[int, str]:
        """Token → mode of every subscribed instrument, over all connections."""
        out: dict[int, str] = {}
        for connection in self._connections:
            out.update(connection.tokens)
        return out

    @property
    def states(self) -> list[ConnectionState]:
        return [connection.state for connection in self._connections]

    def tokens_of(self, connection: int) -> dict[int, str]:
        return dict(self._connections[connection].tokens)

    def start(self) -> None:
        """Open connection 0 (it carries order updates) and any that already hold tokens."""
        if self._closing:
            raise RuntimeError("a stopped ticker client cannot be started again")
        if self._started:
            return
        self._started = True
        if not self._connections:
            self._connections.append(TickerConnection(0))
        for connection in self._connections:
            self._launch(connection)

    async def stop(self) -> None:
        """Close every connection and wait for their tasks to end."""
        self._closing = True
        tasks = []
        for connection in self._connections:
            connection.wake.set()
            if connection.ws is not None:
                await connection.ws.close()
            if connection.task is not None:
                connection.task.cancel()
                tasks.append(connection.task)
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in self._connections:
            if connection.state is not ConnectionState.CLOSED:
                self._move(connection, ConnectionState.CLOSED, "stopped")

    async def subscribe(self, tokens: Iterable[int], mode: str = MODE_QUOTE) -> None:
        """Stream these instruments in ``mode``; already subscribed ones just change mode.

        Raises ``ValueError`` (and changes nothing) for an unknown mode, a bad token, a segment
        the engine path cannot carry, or more tokens than the connections can hold.
        """
        wanted = self._checked(tokens, mode)
        current = self.subscriptions
        fresh = [token for token in wanted if token not in current]
        capacity = self.config.tokens_per_connection * self.config.max_connections
        if len(current) + len(fresh) > capacity:
            raise ValueError(
                f"cannot subscribe {len(fresh)} more instruments: {len(current)} are subscribed "
                f"and {self.config.max_connections} connections hold {capacity}"
            )
        placed = self._place(fresh, mode)
        for connection, group in self._group(t for t in wanted if t in current).items():
            for token in group:
                connection.tokens[token] = mode
        for connection, added in placed.items():
            await self._send(connection, "subscribe", added)
        for connection, group in self._group(wanted).items():
            await self._send_mode(connection, mode, group)

    async def unsubscribe(self, tokens: Iterable[int]) -> None:
        for connection, group in self._group(set(tokens)).items():
            for token in group:
                del connection.tokens[token]
            await self._send(connection, "unsubscribe", group)

    async def set_mode(self, mode: str, tokens: Iterable[int]) -> None:
        """Change the mode of subscribed instruments (unsubscribed ones are refused)."""
        wanted = self._checked(tokens, mode)
        current = self.subscriptions
        missing = [token for token in wanted if token not in current]
        if missing:
            raise ValueError(f"not subscribed: {missing[:10]}")
        for connection, group in self._group(wanted).items():
            for token in group:
                connection.tokens[token] = mode
            await self._send_mode(connection, mode, group)

    def set_access_token(self, access_token: str) -> None:
        """After a new login: connections that were refused the token, or gave up, connect again."""
        if not access_token:
            raise ValueError("empty access token")
        self._access_token = access_token
        for connection in self._connections:
            if connection.state in (ConnectionState.AUTH_REJECTED, ConnectionState.GAVE_UP):
                self._try_again(connection)

    def retry(self) -> None:
        """Connections that gave up try again (the trader pressed 'reconnect')."""
        for connection in self._connections:
            if connection.state is ConnectionState.GAVE_UP:
                self._try_again(connection)

    def _try_again(self, connection: TickerConnection) -> None:
        connection.failures = 0
        if connection.task is not None and not connection.task.done():
            connection.wake.set()
        elif not self._closing:
            self._launch(connection)  # its task ended on a fault

    # -- frames ----------------------------------------------------------------------------------

    def handle_binary(self, data: bytes) -> None:
        """One binary frame; never raises (bad frames are counted and skipped)."""
        if len(data) < 2:
            self.stats.heartbeats += 1
            return
        self.stats.frames += 1
        try:
            ticks = parse_ticks(data, self._clock.time_ns()) if self._on_ticks else None
            kite_ticks = parse_frame(data) if self._on_kite_ticks else None
        except KiteFrameError as exc:
            self.stats.bad_frames += 1
            count = self.stats.bad_frames
            if count <= 10 or count % 1000 == 0:
                log.warning("skipped malformed ticker frame (%d so far): %s", count, exc)
            return
        if ticks is not None and self._on_ticks is not None:
            self.stats.ticks += len(ticks)
            self._call(self._on_ticks, ticks)
        if kite_ticks is not None and self._on_kite_ticks is not None:
            if ticks is None:
                self.stats.ticks += len(kite_ticks)
            self._call(self._on_kite_ticks, kite_ticks)

    def handle_text(self, text: str) -> None:
        """One text frame (order update, error, broker message); never raises."""
        self.stats.text_messages += 1
        try:
            message = json.loads(text)
        except ValueError:
            self._bad_text("not JSON", text)
            return
        if not isinstance(message, dict):
            self._bad_text("not a JSON object", text)
            return
        kind, data = message.get("type"), message.get("data")
        if kind == "order":
            if not isinstance(data, dict) or not data.get("order_id"):
                self._bad_text("order update without an order", text)
                return
            self._order_update(data)
        elif kind == "error":
            self.stats.errors += 1
            log.warning("ticker error message: %s", data)
            if self._on_error is not None:
                self._call(self._on_error, str(data))
        elif kind == "message":
            log.info("ticker broker message: %s", data)
            if self._on_message is not None:
                self._call(self._on_message, str(data))
        else:
            self._bad_text(f"unknown message type {kind!r}", text)

    def _order_update(self, order: dict[str, Any]) -> None:
        # Every connection of the user receives the same update: deliver it once.
        key = json.dumps(order, sort_keys=True, default=str)
        if key in self._recent_updates:
            self.stats.duplicate_order_updates += 1
            return
        self._recent_updates[key] = None
        if len(self._recent_updates) > _RECENT_ORDER_UPDATES:
            self._recent_updates.popitem(last=False)
        self.stats.order_updates += 1
        if self._on_order_update is not None:
            self._call(self._on_order_update, order)

    def _bad_text(self, why: str, text: str) -> None:
        self.stats.bad_text += 1
        log.warning("skipped ticker text message (%s): %.200s", why, text)

    def _call(self, callback: Callable[[Any], None], value: Any) -> None:
        try:
            callback(value)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("ticker callback %r failed", callback)

    # -- subscriptions ---------------------------------------------------------------------------

    def _checked(self, tokens: Iterable[int], mode: str) -> list[int]:
        if mode not in MODES:
            raise ValueError(f"unknown ticker mode {mode!r}; use one of {', '.join(MODES)}")
        out: list[int] = []
        for token in dict.fromkeys(tokens):
            if not isinstance(token, int) or isinstance(token, bool) or not 0 < token < 2**32:
                raise ValueError(f"{token!r} is not an instrument token")
            if self._on_ticks is not None and not carries_paise(token):
                segment = SEGMENT_NAMES.get(token & 0xFF, str(token & 0xFF))
                raise ValueError(
                    f"token {token} is in segment {segment}, whose prices are not whole paise; "
                    "the engine trades NSE/BSE cash, F&O and indices"
                )
            out.append(token)
        return out

    def _place(self, tokens: list[int], mode: str) -> dict[TickerConnection, list[int]]:
        """First-fit new tokens into connections, opening new ones as needed."""
        placed: dict[TickerConnection, list[int]] = {}
        remaining = list(tokens)
        index = 0
        while remaining:
            if index == len(self._connections):
                connection = TickerConnection(index)
                self._connections.append(connection)
                if self._started:
                    self._launch(connection)
            connection = self._connections[index]
            room = self.config.tokens_per_connection - len(connection.tokens)
            if room > 0:
                batch, remaining = remaining[:room], remaining[room:]
                for token in batch:
                    connection.tokens[token] = mode
                placed[connection] = batch
            index += 1
        return placed

    def _group(self, tokens: Iterable[int]) -> dict[TickerConnection, list[int]]:
        wanted = set(tokens)
        groups: dict[TickerConnection, list[int]] = {}
        for connection in self._connections:
            group = [token for token in connection.tokens if token in wanted]
            if group:
                groups[connection] = group
        return groups

    async def _send_mode(self, connection: TickerConnection, mode: str, tokens: list[int]) -> None:
        chunk = self.config.subscribe_chunk
        for start in range(0, len(tokens), chunk):
            await self._send_json(
                connection, {"a": "mode", "v": [mode, tokens[start : start + chunk]]}
            )

    async def _send(self, connection: TickerConnection, action: str, tokens: list[int]) -> None:
        chunk = self.config.subscribe_chunk
        for start in range(0, len(tokens), chunk):
            await self._send_json(connection, {"a": action, "v": tokens[start : start + chunk]})

    async def _send_json(self, connection: TickerConnection, message: dict[str, Any]) -> None:
        # Not open: the next open sends the whole desired state anyway.
        ws = connection.ws
        if ws is None or connection.state is not ConnectionState.OPEN:
            return
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed:
            log.info("ticker connection %d closed while sending %s", connection.index, message["a"])

    async def _resubscribe(self, connection: TickerConnection) -> None:
        by_mode: dict[str, list[int]] = {}
        for token, mode in connection.tokens.items():
            by_mode.setdefault(mode, []).append(token)
        for mode, tokens in by_mode.items():
            await self._send(connection, "subscribe", tokens)
            await self._send_mode(connection, mode, tokens)

    # -- connection lifecycle --------------------------------------------------------------------

    def _launch(self, connection: TickerConnection) -> None:
        connection.task = asyncio.get_running_loop().create_task(
            self._run(connection), name=f"kite-ticker-{connection.index}"
        )
        connection.task.add_done_callback(lambda task: self._task_done(connection, task))

    def _task_done(self, connection: TickerConnection, task: asyncio.Task[None]) -> None:
        if task.cancelled() or (fault := task.exception()) is None:
            return
        log.error("ticker task %s failed", task.get_name(), exc_info=fault)
        # A dead task leaves its last state behind ("connecting" for ever): say, as every change
        # is said, that nothing reconnects by itself (one that had given up has said so).
        if not self._closing and connection.state is not ConnectionState.GAVE_UP:
            self._move(connection, ConnectionState.GAVE_UP, failed_detail(fault))

    def _move(self, connection: TickerConnection, state: ConnectionState, detail: str = "") -> None:
        check_transition(connection.state, state)
        previous, connection.state = connection.state, state
        reconnect = state is ConnectionState.OPEN and connection.opened_before
        if state is ConnectionState.OPEN:
            connection.opened_before = True
        log.info("ticker connection %d: %s -> %s %s", connection.index, previous, state, detail)
        if self._on_state is not None:
            change = ConnectionStateChange(connection.index, previous, state, detail, reconnect)
            self._call(self._on_state, change)

    def _url(self, access_token: str) -> str:
        query = urlencode({"api_key": self._api_key, "access_token": access_token})
        return f"{self.config.url}?{query}"

    async def _run(self, connection: TickerConnection) -> None:
        while not self._closing:
            # Cleared before the attempt, so a wake-up (new token, retry) during it is not lost.
            connection.wake.clear()
            self._move(connection, ConnectionState.CONNECTING)
            failure = await self._connect_and_serve(connection)
            if self._closing:
                return
            if connection.state is ConnectionState.AUTH_REJECTED:
                await connection.wait(None)
                continue
            connection.failures += 1
            if connection.failures > self.config.max_reconnect_attempts:
                detail = gave_up_detail(connection.failures, failure)
                self._move(connection, ConnectionState.GAVE_UP, detail)
                await connection.wait(None)
                continue
            delay = self._backoff(connection.failures)
            self._move(connection, ConnectionState.BACKOFF, f"{failure}; retry in {delay:.2f}s")
            await connection.wait(delay)

    def _backoff(self, failures: int) -> float:
        config = self.config
        base = min(
            config.reconnect_first_delay_s * 2 ** (failures - 1), config.reconnect_max_delay_s
        )
        spread = config.reconnect_jitter
        return base * (1 + self._rng.uniform(-spread, spread))

    async def _connect_and_serve(self, connection: TickerConnection) -> str:
        """One connection attempt and, if it opens, its whole life; returns why it ended."""
        access_token = self._access_token
        try:
            ws = await websockets.connect(
                self._url(access_token),
                additional_headers=[KITE_VERSION_HEADER],
                open_timeout=self.config.open_timeout_s,
                close_timeout=2.0,
                max_size=self.config.max_frame_bytes,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403) and access_token != self._access_token:
                # A new login came while this attempt was on its way: the refusal is about the
                # previous token, and the next attempt carries the new one.
                return f"handshake refused with HTTP {status} on the previous access token"
            if status in (401, 403):
                self.stats.auth_rejections += 1
                self._move(
                    connection,
                    ConnectionState.AUTH_REJECTED,
                    f"HTTP {status}: the access token was refused; log in again",
                )
            return f"handshake refused with HTTP {status}"
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"could not connect ({type(exc).__name__}: {exc})"
        connection.failures = 0
        connection.ws = ws
        self.stats.connects += 1
        if connection.opened_before:
            self.stats.reconnects += 1
        self._move(connection, ConnectionState.OPEN)
        try:
            return await self._serve(connection, ws)
        finally:
            connection.ws = None
            await ws.close()

    async def _serve(self, connection: TickerConnection, ws: ClientConnection) -> str:
        loop = asyncio.get_running_loop()
        connection.last_frame = loop.time()
        watchdog = loop.create_task(self._watchdog(connection, ws), name="kite-ticker-watchdog")
        try:
            await self._resubscribe(connection)
            async for message in ws:
                connection.last_frame = loop.time()
                if isinstance(message, bytes):
                    self.handle_binary(message)
                else:
                    self.handle_text(message)
            return f"closed by the server (code {ws.close_code})"
        except ConnectionClosed as exc:
            return f"connection lost ({exc})"
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _watchdog(self, connection: TickerConnection, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.config.data_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            silent = loop.time() - connection.last_frame
            if silent > timeout:
                self.stats.watchdog_trips += 1
                log.warning(
                    "ticker connection %d: no data for %.1fs; reconnecting",
                    connection.index,
                    silent,
                )
                await ws.close(code=1001, reason="no data")
                return
