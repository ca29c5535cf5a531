"""The desk's health: is every part that trading depends on working, and if not, what stops.

One row per part a trader would ask about when something looks wrong: each connection the
broker and feed report (``ConnectionChanged``), how fresh the prices are (ticks a second and the
age of the last one), the event loop's lag (a late loop is a late order), the order throttle's
queue, the journal (writes waiting for the disk), the risk gate's trading state and the broker
session. Each row says ok / warn / bad in words.

Nothing here runs per tick: the runtime's once-a-second heartbeat calls ``sample`` with the tick
count, and ``watch_loop`` measures lag from a timer of its own; the journal's backlog is read
live, as the metrics read it. ``paused`` names what stops new orders now (the kill switch, a
session needing a login, a journal that cannot write), for the window's banner.

A connection that reports it gave up (it stopped trying by itself: the Kite ticker after its last
allowed reconnect, or when its task failed) is also told to the trader as an error message, once,
and its return to a working state as a note: a BAD row alone is seen only by who opens Health.
``reconnect_feed`` is the trader's way back without a restart ("Reconnect prices").
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.api.parts import EngineParts, Service
from engine.core.clock import IST
from engine.domain.events import ConnectionChanged, EngineMessage, Severity, TradingState

if TYPE_CHECKING:
    from engine.brokers.base import BrokerLink

LAG_PERIOD_S = 0.25
"""How often the loop-lag probe wakes."""
LAG_WINDOW = 240
"""Probes kept: the last minute."""
LAG_WARN_MS = 100.0
LAG_BAD_MS = 500.0
STALE_WARN_S = 5.0
"""A feed with no tick for this long, while its market is open, is called stale."""
STALE_BAD_S = 30.0
GOOD_STATES = {"connected", "open", "logged in", "streaming", "subscribed", "running"}
GAVE_UP = "gave up"
"""The state of a connection that stopped trying by itself: only the trader can bring it back."""
NOTHING_TO_RECONNECT = "Prices: the simulated market has no connection to make again"


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class HealthRow:
    part: str
    level: Level
    value: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoopLag:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


class HealthService(Service):
    def __init__(self, parts: EngineParts) -> None:
        super().__init__(parts)
        self._connections: dict[str, ConnectionChanged] = {}
        self._given_up: set[str] = set()
        """Connections that gave up and have not worked since (their return is told)."""
        self._lag_ms: deque[float] = deque(maxlen=LAG_WINDOW)
        self._ticks = 0
        self._tick_rate = 0.0
        self._last_sample_s: float | None = None
        self._last_tick_s: float | None = None
        self._market_open = True
        self.monotonic: Callable[[], float] = time.monotonic
        """The clock rates and ages are measured on (a test sets its own)."""
        self._bus.subscribe(ConnectionChanged, self._connection)

    # -- fed by the runtime --------------------------------------------------------------------------

    def _connection(self, event: ConnectionChanged) -> None:
        previous = self._connections.get(event.component)
        self._connections[event.component] = event
        if event.state == GAVE_UP:
            if previous is None or previous.state != GAVE_UP:  # said once, not at each restatement
                self._given_up.add(event.component)
                self._tell(Severity.ERROR, _gave_up_words(event), event)
        elif event.component in self._given_up and event.state.lower() in GOOD_STATES:
            self._given_up.discard(event.component)
            back = f"{event.component} is {event.state} again"
            text = f"Prices flow again: the {back}" if event.component == "feed" else f"The {back}"
            self._tell(Severity.INFO, text, event)

    def _tell(self, severity: Severity, text: str, event: ConnectionChanged) -> None:
        self._bus.publish(EngineMessage(event.ts_ns, severity, text, event.component))

    def reconnect_feed(self) -> str:
        """The trader's "Reconnect prices": the live feed asked to connect again. Returns what
        was done, or why nothing needed doing, in words, which Messages shows too."""
        reconnect = self._parts.reconnect_feed
        text = NOTHING_TO_RECONNECT if reconnect is None else reconnect()
        now = self._parts.now()
        ts_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
        self._bus.publish(EngineMessage(ts_ns, Severity.INFO, text, "feed"))
        return text

    def sample(self, ticks_seen: int, market_open: bool) -> None:
        """Once a second from the runtime: the engine's tick count and whether its market is
        open (a closed market sends no ticks, so their age is no alarm)."""
        now = self.monotonic()
        if self._last_sample_s is not None and now > self._last_sample_s:
            self._tick_rate = (ticks_seen - self._ticks) / (now - self._last_sample_s)
        if ticks_seen != self._ticks or self._last_tick_s is None:
            self._last_tick_s = now
        self._ticks, self._last_sample_s = ticks_seen, now
        self._market_open = market_open

    async def watch_loop(self, stop: asyncio.Event) -> None:
        """Measure how late the loop wakes a timer, until ``stop``."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = loop.time() + LAG_PERIOD_S
            try:
                await asyncio.wait_for(stop.wait(), timeout=LAG_PERIOD_S)
            except TimeoutError:
                self._lag_ms.append(max(0.0, (loop.time() - due) * 1000.0))

    # -- read by the window and the metrics ----------------------------------------------------------

    @property
    def ticks_seen(self) -> int:
        return self._ticks

    @property
    def tick_rate(self) -> float:
        return self._tick_rate

    def last_tick_age_s(self) -> float | None:
        return None if self._last_tick_s is None else self.monotonic() - self._last_tick_s

    def loop_lag(self) -> LoopLag:
        samples = sorted(self._lag_ms)
        if not samples:
            return LoopLag(0.0, 0.0, 0.0, 0)
        return LoopLag(
            samples[len(samples) // 2],
            samples[min(len(samples) - 1, int(len(samples) * 0.99))],
            samples[-1],
            len(samples),
        )

    def connections(self) -> dict[str, ConnectionChanged]:
        return dict(self._connections)

    def journal_waiting(self) -> int:
        """Journal writes waiting for the disk, now (orders are held meanwhile)."""
        return self._orders.journal_waiting

    def paused(self) -> str | None:
        """What stops new orders now, in words, or None when orders can go out."""
        if self._risk is not None and self._risk.state is not TradingState.ACTIVE:
            status = self._risk.status()
            return f"trading {status.state.value.lower()}: {status.reason}"
        problem = self._parts.session_problem() if self._parts.session_problem else None
        if problem:
            return f"orders held: {problem}"
        if waiting := self.journal_waiting():
            return f"orders held: {waiting} journal writes wait for the disk"
        return None

    def health(self) -> list[HealthRow]:
        rows = [self._feed_row()]
        for component, event in sorted(self._connections.items()):
            good = event.state.lower() in GOOD_STATES
            rows.append(
                HealthRow(
                    component.capitalize(),
                    Level.OK if good else Level.BAD,
                    event.state,
                    f"{event.detail} (since {_clock(event.ts_ns)})"
                    if event.detail
                    else f"since {_clock(event.ts_ns)}",
                )
            )
        rows.append(self._lag_row())
        rows.append(self._throttle_row())
        rows.append(self._journal_row())
        rows.append(self._trading_row())
        return rows

    def _feed_row(self) -> HealthRow:
        age = self.last_tick_age_s()
        rate = f"{self._tick_rate:,.0f} ticks/s"
        if age is None:
            return HealthRow("Prices", Level.WARN, "no tick yet", "the feed has not sent a price")
        detail = f"last tick {age:.0f} s ago"
        if not self._market_open:
            return HealthRow("Prices", Level.OK, rate, f"{detail}; the market is closed")
        level = Level.BAD if age >= STALE_BAD_S else Level.WARN if age >= STALE_WARN_S else Level.OK
        if level is not Level.OK:
            detail += " — prices are stale"
        return HealthRow("Prices", level, rate, detail)

    def _lag_row(self) -> HealthRow:
        lag = self.loop_lag()
        level = (
            Level.BAD
            if lag.p99_ms >= LAG_BAD_MS
            else Level.WARN
            if lag.p99_ms >= LAG_WARN_MS
            else Level.OK
        )
        return HealthRow(
            "Event loop",
            level,
            f"p99 {lag.p99_ms:.0f} ms",
            f"lateness of a {LAG_PERIOD_S * 1000:.0f} ms timer over the last minute: p50 "
            f"{lag.p50_ms:.1f} ms, max {lag.max_ms:.0f} ms",
        )

    def _throttle_row(self) -> HealthRow:
        queued = len(self._orders.queued)
        if not queued:
            return HealthRow("Order throttle", Level.OK, "no order waiting")
        return HealthRow(
            "Order throttle",
            Level.WARN,
            f"{queued} waiting",
            "orders queued by the order-rate limit",
        )

    def _journal_row(self) -> HealthRow:
        waiting = self.journal_waiting()
        if not waiting:
            return HealthRow("Journal", Level.OK, "written", "every event is on disk")
        return HealthRow(
            "Journal",
            Level.BAD,
            f"{waiting} waiting",
            "the book cannot be written (disk full?); new orders are held until it can",
        )

    def _trading_row(self) -> HealthRow:
        if self._risk is None:
            return HealthRow(
                "Risk gate", Level.WARN, "off", "this desk runs without the risk layer"
            )
        status = self._risk.status()
        level = Level.OK if status.state is TradingState.ACTIVE else Level.BAD
        return HealthRow("Risk gate", level, status.state.value, status.reason)


@runtime_checkable
class ReconnectableFeed(Protocol):
    def reconnect(self) -> str:
        """Connect again now; says what was done, or why nothing needed doing."""
        ...


def feed_reconnect(link: BrokerLink) -> Callable[[], str]:
    """``EngineParts.reconnect_feed`` for a desk streaming a live link's prices: the link's feed
    (Kite's ticker, XTS's socket), asked when the trader asks, as it exists only after a login."""

    def reconnect() -> str:
        # The links keep their feed as ``feed``; the broker port does not name it.
        feed = getattr(link, "feed", None)
        if isinstance(feed, ReconnectableFeed):
            return feed.reconnect()
        return f"Prices: the {link.title} feed has not started yet; it starts after the login"

    return reconnect


def _gave_up_words(event: ConnectionChanged) -> str:
    if event.component == "feed":
        return (
            f"Prices stopped: the feed gave up — {event.detail}. Until it streams again, quotes, "
            "charts, price triggers and marks stay at their last tick."
        )
    return f"The {event.component} connection gave up — {event.detail}."


def _clock(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, IST).strftime("%H:%M:%S")
