"""XTS market data as the engine's feed: the role the Kite ticker plays, over XTS's REST + socket.

- ``watch(tokens)`` / ``unwatch(tokens)`` take the desk's instrument tokens (``master.token_of``)
  and keep them as desired state; while connected they are subscribed at once through REST, and
  every (re)connect re-issues all of them (XTS keeps subscriptions per token on the server, so a
  reconnect with the same token answers ``e-session-0002``, which counts as success).
- An instrument is subscribed to ``message_codes`` (1502: touchline and five levels); an index
  (``is_index``, e.g. the registry's INDEX type) to ``index_message_codes`` (1501): it has no
  book.
- The subscribe replies carry snapshots (``listQuotes``): they are parsed like the stream's full
  events, so a chart has a price before the first tick.
- Ticks go to ``publish`` one by one (quote cache, then the bus); 1505 candles to ``on_bar``;
  connection changes become ``ConnectionChanged`` events (component ``"feed"``).
- A dead token (a REST reply, or the socket refusing the session) is answered by one new login with
  the app's keys and a reconnect; when that login fails the feed reports ``login required`` and
  waits for ``relogin()``.
- A malformed event is counted per kind and logged the first time its kind is seen; the stream
  never stops for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

from engine.brokers.xts.marketdata_session import (
    MarketDataSession,
    XtsLoginFailed,
    XtsMarketDataError,
    XtsTokenExpired,
)
from engine.brokers.xts.master import xts_instrument
from engine.brokers.xts.quotes import QuoteParser, XtsEventError
from engine.brokers.xts.segments import UnknownSegment
from engine.brokers.xts.socketio_v2 import (
    SocketIOClient,
    SocketIOConfig,
    SocketState,
    SocketStateChange,
)
from engine.core.clock import Clock
from engine.domain.bars import Bar
from engine.domain.events import ConnectionChanged
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick

log = logging.getLogger(__name__)

_NS = 1_000_000_000
T = TypeVar("T")

LOGOUT_AT_CLOSE_S = 3.0
"""How long the desk's close waits for XTS to confirm the market-data logout: a server that does
not answer must not hold the close (the token ends with the day anyway)."""


@dataclass(frozen=True, slots=True)
class XtsFeedConfig:
    message_codes: tuple[int, ...] = (1502,)
    """What each watched instrument is subscribed to; 1502 carries the touchline and 5 levels."""
    index_message_codes: tuple[int, ...] = (1501,)
    """What an index (``is_index`` in the feed) is subscribed to: it has a price, not a book."""
    broadcast_mode: str = "Partial"
    """``Partial`` (deltas merged here) or ``Full``."""
    subscribe_chunk: int = 100
    """Instruments per subscription call (XTS's limit per request is not documented)."""
    socket_path: str = "/apimarketdata/socket.io"
    socket: SocketIOConfig = field(default_factory=SocketIOConfig)


class Watched(NamedTuple):
    instrument: tuple[int, int]
    """(``ExchangeSegment``, ``ExchangeInstrumentID``)."""
    codes: tuple[int, ...]
    """The message codes it is subscribed to."""


def _by_code(watched: Iterable[Watched]) -> dict[int, list[tuple[int, int]]]:
    """The instruments of each message code, in the order they were watched."""
    out: dict[int, list[tuple[int, int]]] = {}
    for item in watched:
        for code in item.codes:
            out.setdefault(code, []).append(item.instrument)
    return out


@dataclass
class FeedStats:
    events: int = 0
    ticks: int = 0
    bars: int = 0
    snapshots: int = 0
    subscribe_calls: int = 0
    resubscribes: int = 0
    relogins: int = 0
    other_segments: int = 0
    callback_errors: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    """Malformed events by kind (event name)."""


class XtsFeed:
    def __init__(
        self,
        session: MarketDataSession,
        *,
        clock: Clock,
        publish: Callable[[Tick], None],
        events: Callable[[object], None],
        on_bar: Callable[[Bar], None] | None = None,
        is_index: Callable[[InstrumentToken], bool] | None = None,
        config: XtsFeedConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.config = config or XtsFeedConfig()
        self._clock = clock
        self._publish = publish
        self._events = events
        self._on_bar = on_bar
        self._is_index = is_index or (lambda token: False)
        self.stats = FeedStats()
        self.parser = QuoteParser(lambda: clock.time_ns() / _NS)
        self._watched: dict[InstrumentToken, Watched] = {}
        self._lock = asyncio.Lock()
        self._relogin_lock = asyncio.Lock()
        self._login_needed = False
        self._wake = asyncio.Event()
        """Set by ``relogin()`` and by ``run``'s stop: ends ``run``'s waits."""
        self._refused_since_open = 0
        self._relogin_task: asyncio.Task[None] | None = None
        self._socket_logins = 0
        """``session.logins`` when the socket last took its query (token)."""
        self.socket = SocketIOClient(
            session.keys.root,
            self.config.socket_path,
            self._socket_query,
            on_event=self.on_event,
            on_connect=self._connected,
            on_state=self._socket_state,
            config=self.config.socket,
            rng=rng,
            name="xts-marketdata",
        )

    def _socket_query(self) -> dict[str, str]:
        self._socket_logins = self.session.logins
        return self.session.socket_query(self.config.broadcast_mode)

    @property
    def watched(self) -> dict[int, str]:
        return {int(token): ",".join(map(str, w.codes)) for token, w in self._watched.items()}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in if needed and open the socket (subscriptions follow on connect)."""
        if not self.session.logged_in:
            await self._login("start")
        self.socket.start()

    async def stop(self) -> None:
        if self._relogin_task is not None:
            self._relogin_task.cancel()
            await asyncio.gather(self._relogin_task, return_exceptions=True)
        await self.socket.stop()

    async def close(self) -> None:
        """Stop streaming and end the session at XTS (its subscriptions with it)."""
        await self.stop()
        try:
            await asyncio.wait_for(self.session.logout(), LOGOUT_AT_CLOSE_S)
        except TimeoutError:
            log.warning(
                "XTS market data: no answer to the logout within %.0f s; closed without it "
                "(the token ends with the day)",
                LOGOUT_AT_CLOSE_S,
            )
        except XtsMarketDataError as exc:
            log.warning("XTS market data: logout failed (the token ends with the day): %s", exc)
        await self.session.close()

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """The feed port's shape: stream to ``on_tick`` until ``stop`` is set.

        A login the server refuses is reported (``login required``) and waited on until
        ``relogin()``; an unreachable server is tried again with backoff. Neither ends the task.
        """
        self._publish = on_tick
        delay = self.config.socket.first_delay_s
        relay = asyncio.get_running_loop().create_task(self._relay(stop), name="xts-md-stop")
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.start()
                    break
                except XtsLoginFailed:
                    await self._wake.wait()  # relogin() or stop
                except XtsMarketDataError as exc:
                    self._event("backoff", f"{exc}; retry in {delay:.1f}s")
                    with contextlib.suppress(TimeoutError):  # the backoff ran out: try again
                        await asyncio.wait_for(self._wake.wait(), delay)
                    delay = min(delay * 2, self.config.socket.max_delay_s)
            await stop.wait()
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
            await self.stop()

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def relogin(self) -> None:
        """A new login (after the trader fixed the keys, or a refused session) and a reconnect."""
        await self._login("relogin")
        self._login_needed = False
        if self.socket.state is SocketState.IDLE:
            self._wake.set()  # ``run`` was waiting for this login to open the socket
            return
        self.socket.retry()
        await self.socket.reconnect("new login")

    def reconnect(self) -> str:
        """The trader's "Reconnect prices": a new login when the session was refused, else the
        next attempt now instead of after the backoff. Says what was done, or why nothing
        needed doing, in words."""
        state = self.socket.state
        if state is SocketState.OPEN:
            return "Prices are streaming: XTS market data is connected; nothing to reconnect"
        if state is SocketState.CLOSED:
            return "Prices: XTS market data is closed (the desk is closing)"
        if self._login_needed:
            if self._relogin_task is None or self._relogin_task.done():
                self._relogin_task = asyncio.get_running_loop().create_task(
                    self._login_again(), name="xts-md-relogin"
                )
            return "Prices: logging in to XTS market data again…"
        self._wake.set()  # ``run`` waiting before it starts again
        self.socket.retry()  # the socket waiting out its backoff
        return "Prices: reconnecting to XTS market data…"

    async def _login_again(self) -> None:
        try:
            await self.relogin()
        except XtsLoginFailed as exc:  # said already, as "login required"
            log.error("XTS market data: the new login was refused: %s", exc)
        except XtsMarketDataError as exc:
            log.error("XTS market data: logging in again failed: %s", exc)
            self._event("error", f"logging in again failed: {exc}")

    # -- subscriptions ---------------------------------------------------------------------------

    async def watch(self, tokens: Iterable[int]) -> None:
        """Stream these instruments. Raises ``UnknownSegment`` (a ValueError) for a token of a
        segment XTS does not stream here and ``XtsSubscriptionQuotaExhausted`` when the app key
        has no subscriptions left; nothing is watched then."""
        fresh: dict[InstrumentToken, Watched] = {}
        for token in dict.fromkeys(tokens):
            if token not in self._watched:
                desk_token = InstrumentToken(token)
                index = self._is_index(desk_token)
                codes = self.config.index_message_codes if index else self.config.message_codes
                fresh[desk_token] = Watched(xts_instrument(token), codes)
        if not fresh:
            return
        if self.socket.state is SocketState.OPEN:
            await self._subscribe(fresh.values(), fresh=True)
        self._watched.update(fresh)

    async def unwatch(self, tokens: Iterable[int]) -> None:
        leaving = [InstrumentToken(token) for token in tokens if token in self._watched]
        gone = [self._watched.pop(token) for token in leaving]
        for token in leaving:
            self.parser.forget(token)
        if gone and self.session.logged_in:
            async with self._lock:
                for code, instruments in _by_code(gone).items():
                    await self._with_relogin(partial(self.session.unsubscribe, instruments, code))

    async def _subscribe(self, watched: Iterable[Watched], *, fresh: bool) -> None:
        chunk = self.config.subscribe_chunk
        async with self._lock:
            for code, instruments in _by_code(watched).items():
                for start in range(0, len(instruments), chunk):
                    batch = instruments[start : start + chunk]
                    self.stats.subscribe_calls += 1
                    reply = await self._with_relogin(
                        partial(self.session.subscribe, batch, code, fresh=fresh)
                    )
                    for snapshot in reply.snapshots:
                        self.stats.snapshots += 1
                        self.on_event(f"{code}-json-full", snapshot)

    async def _connected(self, reconnect: bool) -> None:
        if reconnect:
            self.stats.resubscribes += 1
        if not self._watched:
            return
        try:
            await self._subscribe(self._watched.values(), fresh=False)
        except XtsMarketDataError as exc:
            log.error(
                "XTS market data: re-subscribing %d instruments failed: %s", len(self._watched), exc
            )
            self._event("error", f"re-subscribing failed: {exc}")

    async def _with_relogin(self, call: Callable[[], Awaitable[T]]) -> T:
        logins = self.session.logins
        try:
            return await call()
        except XtsTokenExpired:
            await self._login("the market-data token was refused", logins)
            return await call()

    async def _login(self, why: str, logins_seen: int | None = None) -> None:
        """Log in, unless another caller already did since ``logins_seen``: XTS keeps one
        session per app key, so a second login would kill the token the first just got."""
        async with self._relogin_lock:
            fresh = logins_seen is not None and self.session.logins != logins_seen
            if fresh and self.session.logged_in:
                return
            try:
                await self.session.login()
            except XtsLoginFailed as exc:
                self._login_needed = True
                self._event("login required", str(exc))
                raise
        if why != "start":
            self.stats.relogins += 1
            log.info("XTS market data: logged in again (%s)", why)

    # -- events ----------------------------------------------------------------------------------

    def on_event(self, name: str, payload: Any) -> None:
        """One socket event (or a snapshot); never raises."""
        self.stats.events += 1
        if "-json-" not in name:
            if name in ("error", "warning", "logout"):
                log.warning("XTS market data socket says %s: %.200s", name, payload)
            return
        try:
            item = self.parser.parse(name, payload)
        except UnknownSegment:
            self.stats.other_segments += 1
            return
        except XtsEventError as exc:
            self.stats.malformed[exc.kind] += 1
            if self.stats.malformed[exc.kind] == 1:
                log.warning("XTS market data: skipped a malformed %s", exc)
            return
        try:
            if isinstance(item, Tick):
                self.stats.ticks += 1
                self._publish(item)
            elif isinstance(item, Bar):
                self.stats.bars += 1
                if self._on_bar is not None:
                    self._on_bar(item)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("XTS market data: a subscriber failed on %s", name)

    def _socket_state(self, change: SocketStateChange) -> None:
        self._event(change.state.value, change.detail)
        if change.state is SocketState.OPEN:
            self._refused_since_open = 0
        elif change.state is SocketState.AUTH_REJECTED and not self._login_needed:
            self._refused_since_open += 1
            if self._refused_since_open > 1:
                # A fresh login was refused too: re-login once, then surface (§C.2).
                self._login_needed = True
                self._event("login required", "XTS market data refused a fresh session")
                return
            # Kept in an attribute so it is not collected mid-flight.
            self._relogin_task = asyncio.get_running_loop().create_task(
                self._refused(self._socket_logins), name="xts-md-relogin"
            )

    async def _refused(self, logins_seen: int) -> None:
        try:
            await self._login("the socket refused the session", logins_seen)
        except XtsMarketDataError as exc:
            log.error("XTS market data: no new login after the socket refused it: %s", exc)
            return
        self.socket.retry()

    def _event(self, state: str, detail: str) -> None:
        self._events(ConnectionChanged(self._clock.time_ns(), "feed", state, detail))
