"""Builds and runs one engine: the wiring of clock, bus, market, store, order manager and venue.

``app`` (the composition root) and the headless runner call ``Engine.build``; nothing here is a
global, so a test can run two engines side by side.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.api import EngineApi
from engine.brokers.base import Broker
from engine.brokers.paper.config import PaperConfig
from engine.brokers.paper.venue import PaperVenue
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.bus import EventBus
from engine.core.clock import Clock, LiveClock, ist_today
from engine.core.workers import worker_pool
from engine.domain.events import EngineMessage, OrderFilled, Severity, VarReport
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.sim_spec import load_universe_spec
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.oms.order_manager import OrderManager
from engine.risk.limits import MarginParameters, RiskSettings
from engine.risk.manager import RiskManager
from engine.risk.order_path import build_order_path
from engine.risk.var import compute_var, synthetic_returns
from engine.store import Database, Journal, book_file_of, open_database
from engine.store.backup import backup_book, has_backup_of
from engine.store.book import SetAside, scan_journal
from engine.store.book_lock import BookLock, lock_book

if TYPE_CHECKING:
    # Imported only when a Kite link is built: kiteconnect's import costs half a second.
    from engine.brokers.kite.link import KiteLink

log = logging.getLogger(__name__)

BROKERS = ("paper", "kite")
FEEDS = ("simulated", "kite")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    db_url: str | None = None
    """SQLAlchemy URL of the journal; None is the default file in the user data directory."""
    broker: str = "paper"
    market: SimulatedMarketConfig = field(default_factory=SimulatedMarketConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    always_open: bool = False
    """Trade the simulated market outside NSE hours (demos and tests)."""
    account: str = "paper"
    """The account id the risk limits are looked up under."""
    risk: RiskSettings = field(default_factory=RiskSettings)
    margin: MarginParameters = field(default_factory=MarginParameters)
    var_interval_seconds: float = 60.0
    """How often VaR is recomputed (in a worker process); 0 switches it off."""
    var_after_fill_seconds: float = 5.0
    """How soon after a fill VaR is recomputed, so the risk panel follows a new position (at
    most this often); the regular recomputation follows the prices."""
    var_paths: int = 10_000
    feed: str | None = None
    """Market data: 'simulated' or 'kite'; None is Kite's feed for the Kite broker, else the
    simulated market. Broker 'paper' on feed 'kite' is paper trading on live data (the Kite
    link, with its own settings, is built by the caller: ``engine.brokers.kite.link``)."""

    def __post_init__(self) -> None:
        if self.broker not in BROKERS:
            raise ValueError(
                f"broker {self.broker!r} is not available in this build; use one of "
                f"{', '.join(BROKERS)}"
            )
        if self.feed is not None and self.feed not in FEEDS:
            raise ValueError(f"feed {self.feed!r} is unknown; use one of {', '.join(FEEDS)}")
        if self.broker == "kite" and self.market_feed != "kite":
            raise ValueError("the Kite broker trades on Kite's own market data (feed 'kite')")
        if self.var_interval_seconds < 0 or self.var_paths < 100:
            raise ValueError("var_interval_seconds must be >= 0 and var_paths >= 100")
        if self.var_after_fill_seconds <= 0:
            raise ValueError("var_after_fill_seconds must be positive")

    @property
    def market_feed(self) -> str:
        if self.feed is not None:
            return self.feed
        return "kite" if self.broker == "kite" else "simulated"


class Engine:
    def __init__(
        self,
        *,
        config: EngineConfig,
        clock: Clock,
        bus: EventBus,
        calendar: MarketCalendar,
        registry: InstrumentRegistry,
        market: SimulatedMarket | None,
        quotes: QuoteCache,
        database: Database,
        journal: Journal,
        positions: PositionBook,
        venue: PaperVenue | None,
        orders: OrderManager,
        risk: RiskManager | None = None,
        returns: dict[str, np.ndarray] | None = None,
        broker: Broker | None = None,
        kite: KiteLink | None = None,
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
        """The paper venue, when orders are paper-traded (None for a live broker)."""
        self.broker: Broker | None = broker if broker is not None else venue
        self.kite = kite
        """The link to Kite (session, ticker, adapter) when the feed or the broker is Kite."""
        self.orders = orders
        self.risk = risk
        self.returns = returns or {}
        """Daily log returns per underlying for historical VaR (paper: a synthetic stand-in)."""
        self.api = EngineApi(
            bus=bus,
            orders=orders,
            positions=positions,
            quotes=quotes,
            instruments=registry,
            risk=risk,
        )
        if kite is not None:
            self.api.market_data_watcher = self._kite_watch
            if kite.broker is not None:
                self.api.broker_margin = kite.broker.order_margin
                self.api.broker_margin_name = "Kite"
        self.ticks_seen = 0
        self.book_lock: BookLock | None = None
        """This desk's hold on its book file: no second desk writes to it while held."""
        self.sessions: FailClosedCalendar | None = None
        """The calendar view the venue, the market and the gate ask whether a segment is open."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._queue_waiting = asyncio.Event()
        self._var_executor: Executor | None = None
        orders.queue_listener = self._queue_waiting.set
        if venue is not None:
            bus.subscribe(Tick, venue.on_tick)
            orders.journal_listener = lambda writes: venue.pause(not writes)

    @classmethod
    def build(
        cls,
        config: EngineConfig | None = None,
        *,
        clock: Clock | None = None,
        kite: KiteLink | None = None,
        instruments: Iterable[Instrument] = (),
    ) -> Engine:
        """Wire one engine. On Kite (feed or broker) ``kite`` is the link built by the caller and
        ``instruments`` the day's instruments master (``KiteLink.load_instruments``)."""
        config = config or EngineConfig()
        clock = clock or LiveClock()
        bus = EventBus()
        calendar = MarketCalendar.load()
        sessions = FailClosedCalendar(calendar)
        market_config = config.market
        if config.always_open and not market_config.always_open:
            market_config = replace(market_config, always_open=True)
        registry = InstrumentRegistry()
        quotes = QuoteCache()
        market: SimulatedMarket | None = None
        if config.market_feed == "kite":
            if kite is None:
                raise ValueError("Kite's feed needs a KiteLink (a Kite session)")
            registry.add_all(instruments)
        else:
            market = SimulatedMarket(market_config, clock.now, sessions)
            registry.add_all(market.instruments())
            for tick in market.snapshot():
                quotes.update(tick)

        def session_open(instrument: Instrument, now: datetime) -> bool:
            if config.always_open:
                return True
            return sessions.is_open(now, "FO" if instrument.is_derivative else "CM")

        venue: PaperVenue | None = None
        broker: Broker
        if config.broker == "kite":
            assert kite is not None
            broker = kite.make_broker(instruments=registry.find, publish=bus.publish)
        else:
            venue = broker = PaperVenue(
                instruments=registry.find,
                quotes=quotes,
                clock=clock,
                session_open=session_open,
                config=config.paper,
            )
        book_lock = lock_book(config.db_url)
        try:
            database = open_database(config.db_url)
        except BaseException:
            if book_lock is not None:
                book_lock.release()
            raise
        journal = database.journal
        positions = PositionBook(clock.now().date())
        spot_tokens = _spot_tokens(registry)

        def spot(underlying: str) -> int | None:
            token = spot_tokens.get(underlying)
            return None if token is None else quotes.ltp(token)

        path = build_order_path(
            bus=bus,
            clock=clock,
            journal=journal,
            broker=broker,
            instruments=registry.find,
            universe=registry,
            quotes=quotes,
            positions=positions,
            settings=config.risk,
            session_open=session_open,
            spot=spot,
            today=ist_today(clock),
            account=config.account,
            margin_params=config.margin,
        )
        orders = path.orders
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
            risk=path.risk,
            returns=_paper_returns(market_config) if market is not None else {},
            broker=broker,
            kite=kite,
        )
        if kite is not None:
            kite.attach(
                on_tick=engine.on_tick,
                publish=bus.publish,
                orders=lambda: orders.orders,
                positions=positions.all,
                instruments=registry.find,
            )
        engine.book_lock = book_lock
        engine.sessions = sessions
        try:
            engine.restore()
        except BaseException:
            engine.close()
            raise
        engine.back_up("daily")
        return engine

    def restore(self) -> int:
        """Bring back orders, fills, positions and the trading state from the journal (after a
        restart or crash)."""
        # What the restore tells the trader is kept for the windows that open after it.
        stop_keeping = self.bus.subscribe(EngineMessage, self.api.startup_messages.append)
        scan = scan_journal(self.journal, record=True)
        entries = [(e.kind, e.order_id, e.ts_ns, e.payload) for e in scan.entries]
        try:
            self._report_set_aside(scan.newly_set_aside)
            warning = self.calendar.coverage_warning(self.clock.now().date())
            if warning is not None:
                self.bus.publish(
                    EngineMessage(self.clock.time_ns(), Severity.WARNING, warning, "calendar")
                )
            applied = self.orders.restore(entries, today=self.clock.now().date())
            if self.risk is not None:
                self.risk.restore(entries)
        finally:
            stop_keeping()
        nets = {(p.token, p.product): p.net_quantity for p in self.positions.all()}
        if self.venue is not None:
            self.venue.restore_positions(nets)
        if applied:
            log.info("restored %d order events from the journal", applied)
        return applied

    def reload_calendar(self) -> MarketCalendar:
        """Read the calendar again (after the trader imported a holiday list): every session
        check from now on uses it."""
        calendar = MarketCalendar.load()
        self.calendar = calendar
        if self.sessions is not None:
            self.sessions.calendar = calendar
        log.info("market calendar reloaded; years loaded: %s", sorted(calendar.covered_years))
        # The start-up warning stays in Messages: say what holds now, beneath it.
        years = ", ".join(str(year) for year in sorted(calendar.covered_years))
        warning = calendar.coverage_warning(self.clock.now().date())
        text = f"Market calendar updated: holiday lists loaded for {years}."
        self.bus.publish(
            EngineMessage(
                self.clock.time_ns(),
                Severity.INFO if warning is None else Severity.WARNING,
                text if warning is None else f"{text} {warning}",
                "calendar",
            )
        )
        return calendar

    def _report_set_aside(self, rows: list[SetAside]) -> None:
        if not rows:
            return
        shown = "; ".join(row.describe() for row in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        text = (
            f"{len(rows)} journal row(s) could not be read and were set aside (kept in the "
            f"journal, not replayed): {shown}{more}. Everything else was restored; "
            "`dalaldesk book check` lists them."
        )
        log.warning("%s", text)
        self.bus.publish(EngineMessage(self.clock.time_ns(), Severity.WARNING, text, "store"))

    # -- running -------------------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """Feed entry point: quote cache first, then everyone else through the bus."""
        self.ticks_seen += 1
        self.quotes.update(tick)
        self.bus.publish(tick)

    def _kite_watch(self, tokens: list[int], stream: bool) -> None:
        """Ask the Kite link to stream (or stop) these tokens, from a Qt slot or engine code."""
        if self.kite is None or not tokens:
            return
        action = self.kite.watch(tokens) if stream else self.kite.unwatch(tokens)
        self.spawn(action, "kite-watch" if stream else "kite-unwatch")

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
        if self.market is not None:
            self.spawn(self.market.run(self.on_tick, self._stop), "simulated-market")
        if self.kite is not None:
            self.spawn(self.kite.run(self._stop), "kite-link")
        self.spawn(self._heartbeat(), "heartbeat")
        self.spawn(self._throttle_pump(), "order-throttle")
        if self.risk is not None:
            self.spawn(self._risk_housekeeping(), "risk-housekeeping")

    async def _throttle_pump(self) -> None:
        """Send the throttle's queued orders as each new second opens."""
        while not self._stop.is_set():
            await self._queue_waiting.wait()
            self._queue_waiting.clear()
            while (due := self.orders.next_release_ns()) is not None:
                wait = (due - self.clock.time_ns()) / 1e9
                await asyncio.sleep(min(max(wait, 0.001), 1.0))
                self.orders.release_queued()

    async def _risk_housekeeping(self) -> None:
        """Refresh margin risk arrays and recompute VaR, off the order path: VaR soon after
        start (positions may have been restored), every ``var_interval_seconds`` as prices move,
        and ``var_after_fill_seconds`` after a fill so the risk panel follows a new position."""
        assert self.risk is not None
        loop = asyncio.get_running_loop()
        refresh = self.config.margin.refresh_seconds
        var_every = self.config.var_interval_seconds
        after_fill = self.config.var_after_fill_seconds
        next_refresh = loop.time() + refresh
        derivatives = [i for i in self.registry if i.is_derivative]
        next_var = loop.time() + after_fill
        last_var = -float("inf")
        filled = asyncio.Event()
        stop_watching = self.bus.subscribe(OrderFilled, lambda _fill: filled.set())
        try:
            while not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)
                    return
                except TimeoutError:
                    pass
                now = loop.time()
                margin = self.risk.margin
                if margin is not None:
                    # A slice of the universe every second (a few ms), all of it every ~12 s.
                    margin.refresh_some(derivatives, 250)
                if now >= next_refresh and margin is not None:
                    next_refresh = now + refresh
                    margin.refresh()
                soon = filled.is_set() and now - last_var >= after_fill
                if var_every and (now >= next_var or soon):
                    filled.clear()
                    next_var = now + var_every
                    await self.update_var()
                    last_var = loop.time()
        finally:
            stop_watching()

    async def update_var(self, executor: Executor | None = None) -> VarReport | None:
        """Recompute VaR of the current portfolio in a worker process and publish it."""
        if self.risk is None:
            return None
        portfolio = self.risk.var_portfolio(self.returns, self.config.market.rate)
        if portfolio is None:
            return self.risk.publish_var(None, 0, "no open positions")
        if executor is None:
            if self._var_executor is None:
                self._var_executor = worker_pool(max_workers=1)
            executor = self._var_executor
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                executor, _var_job, portfolio, self.config.var_paths
            )
        except Exception as exc:
            log.exception("VaR computation failed")
            self.bus.publish(
                EngineMessage(self.clock.time_ns(), Severity.WARNING, f"VaR failed: {exc}", "risk")
            )
            return None
        return self.risk.publish_var(result, len(portfolio.quantity))

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            if self.orders.journal_waiting:
                self.orders.retry_journal()
            if self.venue is not None:
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
        if self.kite is not None:
            await self.kite.close()
        self.back_up("close")
        self.close()

    @property
    def book_file(self) -> Path | None:
        """The book's SQLite file, or None for a server or in-memory database."""
        return book_file_of(self.database.engine.url)

    def back_up(self, reason: str) -> Path | None:
        """A copy of the book (at a clean close, at the first start of a day); a failure is
        reported, never fatal. Nothing is copied for an empty journal."""
        book = self.book_file
        if book is None or self.database.closed or self.journal.last_seq() == 0:
            return None
        today = datetime.now(UTC).astimezone().date()  # backups follow the wall clock
        if reason == "daily" and has_backup_of(book, today, "daily"):
            return None
        try:
            return backup_book(book, reason)
        except (OSError, sqlite3.Error) as exc:
            text = f"the {reason} backup of the book failed: {exc}"
            log.warning("%s", text)
            self.bus.publish(EngineMessage(self.clock.time_ns(), Severity.WARNING, text, "store"))
            return None

    def close(self) -> None:
        if self._var_executor is not None:
            self._var_executor.shutdown(wait=False, cancel_futures=True)
            self._var_executor = None
        self.database.close()
        if self.book_lock is not None:
            self.book_lock.release()
            self.book_lock = None


def _var_job(portfolio: Any, paths: int) -> Any:
    return compute_var(portfolio, paths=paths)


def _spot_tokens(registry: InstrumentRegistry) -> dict[str, InstrumentToken]:
    """Underlying symbol -> the token of its index or cash instrument."""
    spots: dict[str, InstrumentToken] = {}
    for instrument in registry:
        if instrument.instrument_type is InstrumentType.INDEX:
            spots[instrument.underlying] = instrument.token
        elif instrument.instrument_type is InstrumentType.EQ:
            spots.setdefault(instrument.underlying, instrument.token)
    return spots


def _paper_returns(market: SimulatedMarketConfig) -> dict[str, np.ndarray]:
    """A year of synthetic daily returns per simulated underlying, with the simulated market's
    own vols and correlation: the historical VaR's stand-in until real closes are stored."""
    spec = load_universe_spec(market.universe_path)
    names = [i.underlying for i in spec.indices] + [s.symbol for s in spec.stocks]
    vols = np.array([i.annual_vol for i in spec.indices] + [s.annual_vol for s in spec.stocks])
    loading = np.array(
        [i.market_loading for i in spec.indices] + [s.market_loading for s in spec.stocks]
    )
    history = synthetic_returns(vols, loading, days=250, seed=market.seed)
    return {name: history[:, n] for n, name in enumerate(names)}
