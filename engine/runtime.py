"""Builds and runs one engine: the wiring of clock, bus, market, store, order manager and venue.

``app`` (the composition root) and the headless runner call ``Engine.build``; nothing here is a
global, so a test can run two engines side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.api import EngineApi
from engine.brokers.paper.config import PaperConfig
from engine.brokers.paper.venue import PaperVenue
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.bus import EventBus
from engine.core.clock import Clock, LiveClock
from engine.domain.instruments import Instrument
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.oms.charging import default_charge_model
from engine.oms.order_manager import OrderManager
from engine.risk.gate import OrderGate
from engine.store import Database, Journal, open_database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    db_url: str | None = None
    """SQLAlchemy URL of the journal; None is the default file in the user data directory."""
    broker: str = "paper"
    market: SimulatedMarketConfig = field(default_factory=SimulatedMarketConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    always_open: bool = False
    """Trade the simulated market outside NSE hours (demos and tests)."""

    def __post_init__(self) -> None:
        if self.broker != "paper":
            raise ValueError(f"broker {self.broker!r} is not available in this build; use 'paper'")


class Engine:
    def __init__(
        self,
        *,
        config: EngineConfig,
        clock: Clock,
        bus: EventBus,
        calendar: MarketCalendar,
        registry: InstrumentRegistry,
        market: SimulatedMarket,
        quotes: QuoteCache,
        database: Database,
        journal: Journal,
        positions: PositionBook,
        venue: PaperVenue,
        orders: OrderManager,
    ) -> None:
        self.config = config
        self.clock = clock
        self.bus = bus
        self.calendar = calendar
        self.registry = registry
        self.market = market
        self.quotes = quotes
        self.database = database
        self.journal = journal
        self.positions = positions
        self.venue = venue
        self.orders = orders
        self.api = EngineApi(
            bus=bus, orders=orders, positions=positions, quotes=quotes, instruments=registry
        )
        self.ticks_seen = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        bus.subscribe(Tick, venue.on_tick)

    @classmethod
    def build(cls, config: EngineConfig | None = None, *, clock: Clock | None = None) -> Engine:
        config = config or EngineConfig()
        clock = clock or LiveClock()
        bus = EventBus()
        calendar = MarketCalendar.load()
        sessions = FailClosedCalendar(calendar)
        market_config = config.market
        if config.always_open and not market_config.always_open:
            market_config = _replace_always_open(market_config)
        market = SimulatedMarket(market_config, clock.now, sessions)
        registry = InstrumentRegistry()
        registry.add_all(market.instruments())
        quotes = QuoteCache()
        for tick in market.snapshot():
            quotes.update(tick)

        def session_open(instrument: Instrument, now: datetime) -> bool:
            if config.always_open:
                return True
            return sessions.is_open(now, "FO" if instrument.is_derivative else "CM")

        venue = PaperVenue(
            instruments=registry.find,
            quotes=quotes,
            clock=clock,
            session_open=session_open,
            config=config.paper,
        )
        database = open_database(config.db_url)
        journal = database.journal
        positions = PositionBook(clock.now().date())
        orders = OrderManager(
            bus=bus,
            clock=clock,
            journal=journal,
            broker=venue,
            gate=OrderGate(registry.find, lambda: clock.now().date()),
            instruments=registry.find,
            positions=positions,
            charge_model=default_charge_model,
        )
        engine = cls(
            config=config,
            clock=clock,
            bus=bus,
            calendar=calendar,
            registry=registry,
            market=market,
            quotes=quotes,
            database=database,
            journal=journal,
            positions=positions,
            venue=venue,
            orders=orders,
        )
        engine.restore()
        return engine

    def restore(self) -> int:
        """Bring back orders, fills and positions from the journal (after a restart or crash)."""
        applied = self.orders.restore(
            ((e.kind, e.order_id, e.ts_ns, e.payload) for e in self.journal.read()),
            today=self.clock.now().date(),
        )
        nets = {(p.token, p.product): p.net_quantity for p in self.positions.all()}
        self.venue.restore_positions(nets)
        if applied:
            log.info("restored %d order events from the journal", applied)
        return applied

    # -- running -------------------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """Feed entry point: quote cache first, then everyone else through the bus."""
        self.ticks_seen += 1
        self.quotes.update(tick)
        self.bus.publish(tick)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a background task and keep a strong reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task %s failed", task.get_name(), exc_info=task.exception())

    def start(self) -> None:
        """Start the market feed and the once-a-second housekeeping on the running loop."""
        self._stop.clear()
        self.spawn(self.market.run(self.on_tick, self._stop), "simulated-market")
        self.spawn(self._heartbeat(), "heartbeat")

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            self.venue.on_clock(self.clock.now())
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)
            except TimeoutError:
                continue

    async def stop(self) -> None:
        """Stop every task, wait for them, and close the journal."""
        self._stop.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.close()

    def close(self) -> None:
        self.database.close()


def _replace_always_open(market: SimulatedMarketConfig) -> SimulatedMarketConfig:
    from dataclasses import replace

    return replace(market, always_open=True)
