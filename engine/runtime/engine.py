"""One engine: its parts wired together, restored from the journal, run on the event loop.

    feed ─▶ on_tick ─▶ quote cache ─▶ bus ─▶ venue (in process) / strategies / panels
    api ─▶ order manager ─▶ gate ─▶ journal ─▶ broker ─▶ events ─▶ journal ─▶ bus

The broker is chosen by name from ``engine.brokers.registry``; the feed is the simulated market,
a live broker's link, or any ``engine.marketdata.feed.Feed`` handed in (a replay).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.alerts.book import AlertBook, AlertListing
from engine.api import EngineApi, EngineParts, feed_reconnect
from engine.brokers.base import Broker, BrokerLink, GttBook, InProcessVenue, MarginCalculator
from engine.brokers.registry import broker_spec
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.bus import EventBus
from engine.core.clock import Clock, SimulatedClock, SimulatedTimer
from engine.domain.events import EngineMessage, Severity, VarReport
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.marks import SESSION_END, PnlMarks
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.marketdata.feed import Feed
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.simulated import SimulatedMarket
from engine.oms.order_manager import OrderManager
from engine.risk.manager import RiskManager
from engine.runtime.book_session import back_up, journal_left_unwritten, restore_engine
from engine.runtime.charts import DeskCharts
from engine.runtime.config import EngineConfig
from engine.runtime.day_marks import DayMarks
from engine.runtime.endpoints import (
    API_TOKEN_VARIABLE,
    keyring_secret,
    serve_metrics,
    serve_signals,
    webhook_passphrase,
)
from engine.runtime.housekeeping import Housekeeping
from engine.runtime.recording import start_recording
from engine.runtime.risk_tasks import risk_housekeeping, update_var
from engine.runtime.scheduler import DEFAULT_JOBS, DailySchedule
from engine.runtime.sim_time import follow_simulated_clock
from engine.signals.desk import SignalDesk
from engine.signals.inbox import SignalInbox
from engine.store import Database, Journal, book_file_of
from engine.store.book_lock import BookLock
from engine.store.desks import DeskLease
from engine.strategies.algos.desk import AlgoDesk
from engine.strategies.kernel import StrategyKernel
from engine.strategies.loader import load_into
from engine.strategies.multileg.desk import MultilegDesk
from engine.strategies.orders.desk import AdvancedOrderDesk

if TYPE_CHECKING:
    # Imported where they start (aiohttp, pyarrow): a desk that serves no endpoint and records
    # nothing starts without them.
    from engine.marketdata.recorder import Recorder
    from engine.runtime.metrics import MetricsServer
    from engine.signals.server import SignalServer

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        *,
        config: EngineConfig,
        clock: Clock,
        bus: EventBus,
        calendar: MarketCalendar,
        registry: InstrumentRegistry,
        feed: Feed,
        quotes: QuoteCache,
        database: Database,
        journal: Journal,
        positions: PositionBook,
        broker: Broker,
        orders: OrderManager,
        risk: RiskManager | None = None,
        returns: dict[str, np.ndarray] | None = None,
        link: BrokerLink | None = None,
        sessions: FailClosedCalendar | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.bus = bus
        self.calendar = calendar
        self.registry = registry
        self.feed = feed
        """Where ticks come from: the simulated market, a live broker's link, a replay."""
        self.market = feed if isinstance(feed, SimulatedMarket) else None
        """The simulated market, when the desk runs on it."""
        self.quotes = quotes
        self.database = database
        self.journal = journal
        self.positions = positions
        self.broker = broker
        self.venue = broker if isinstance(broker, InProcessVenue) else None
        """The venue in this process (paper), when orders do not leave the desk."""
        self.link = link
        """The live broker's connection (session, feed, orders), when there is one."""
        self.orders = orders
        self.risk = risk
        self.returns = returns or {}
        """Daily log returns per underlying for historical VaR (paper: a synthetic stand-in)."""
        spec = broker_spec(config.broker)
        self.strategies = StrategyKernel(bus=bus, clock=clock, record=orders.record)
        """The strategies this desk runs: the built-in ones and the trader's own."""
        self.multileg = MultilegDesk(
            self.strategies,
            lambda: self.api.live_session_problem(),
            config.portfolios_dir,
            paper_problem=lambda: self.api.paper_problem(),
        )
        """The trader's multileg portfolios, each a strategy on the kernel."""
        self.advanced = AdvancedOrderDesk(self.strategies)
        """Brackets, OCOs, trailing stops, conditional orders and paper GTTs."""
        self.algos = AlgoDesk(self.strategies)
        """The execution algos (TWAP, VWAP, POV, iceberg, slicer), each parent a strategy."""
        self.charts = DeskCharts(
            bus=bus,
            market_source=link if link is not None and feed is link else feed,
            clock=clock,
            calendar=calendar,
            book_file=book_file_of(database.engine.url),
        )
        """Candles of what is followed, a chart's past, the option series."""
        self.alerts = AlertBook(
            bus=bus,
            clock=clock,
            path=config.alerts_file,
            listing=AlertListing(registry.find, calendar.expiry_close),
            ltp_of=lambda token: t.ltp if (t := quotes.get(InstrumentToken(token))) else None,
        )
        """The trader's alert rules, watched on ticks and on the day's P&L."""
        self.signals = SignalDesk(
            registry=registry,
            clock=clock,
            record=orders.record,
            rules=config.signal_rules,
            unit=orders.unit,
        )
        """External signals (TradingView, scripts) on their way to the gate."""
        self.api = EngineApi(
            EngineParts(
                bus=bus,
                orders=orders,
                positions=positions,
                quotes=quotes,
                registry=registry,
                risk=risk,
                broker_margin=broker.order_margin if isinstance(broker, MarginCalculator) else None,
                broker_name=link.title if link is not None else spec.title,
                calendar=sessions,
                session_problem=None if link is None or not spec.live else _session_problem(link),
                watcher=self._watch if link is not None and feed is link else None,
                reconnect_feed=feed_reconnect(link) if link is not None and feed is link else None,
                strategies=self.strategies,
                multileg=self.multileg,
                advanced=self.advanced,
                gtt_book=broker if isinstance(broker, GttBook) else None,
                algos=self.algos,
                alerts=self.alerts,
                signals=self.signals,
                journal=journal,
                candles=self.charts.candles,
                history=self.charts.history,
                now=clock.now,
            )
        )
        if config.chart_series:
            self.charts.attach(self.api)
        else:  # a backtest: nothing draws them
            self.charts.next_sample_ns = sys.maxsize
        self.signals.bind(self.api.place_order, net=self._net, portfolio=self._portfolio_command)
        self.signal_inbox = (
            None
            if config.signals_folder is None
            else SignalInbox(config.signals_folder, self.signals)
        )
        """Signal files dropped in the profile's folder."""
        self.signal_server: SignalServer | None = None
        """The signals endpoint while it serves (``EngineConfig.api_port``)."""
        self.webhook_passphrase: Callable[[], str | None] = lambda: webhook_passphrase(
            config.profile
        )
        """Where the webhook's passphrase comes from, asked at each request (so a passphrase
        set or changed in the keyring applies at once)."""
        self.api_token: Callable[[], str | None] = lambda: keyring_secret(
            API_TOKEN_VARIABLE, config.profile, "api", "token"
        )
        """The local API's bearer token, asked at each request (rotated or revoked at once)."""
        streams = link is not None and feed is link
        self.strategies.bind(self.api, (lambda t: self._watch(t, True)) if streams else None)
        self._load_strategies()
        self.on_tick, self._ticks_seen = self._feed_entry()
        """Feed entry point: quote cache first, then everyone else through the bus."""
        self.schedule = (
            None
            if config.schedule_folder is None
            else DailySchedule(self, DEFAULT_JOBS, config.schedule_folder)
        )
        """The daily jobs (checklist, intraday square-off, report, backup), when configured."""
        self.metrics: MetricsServer | None = None
        """The Prometheus endpoint while it serves (``EngineConfig.metrics_port``)."""
        self.closing_marks: PnlMarks | None = None
        """The prices the book was marked at when the engine stopped (journaled first)."""
        self.closing_marks_seq: int | None = None
        """The journal row of ``closing_marks``; None when there was nothing to mark or the
        journal did not take it."""
        self.day_marks = DayMarks(
            positions=positions,
            quotes=quotes,
            registry=registry,
            journal=journal,
            clock=clock,
            sessions=None if config.always_open else sessions,
            warn=self.warn,
        )
        self.book_lock: BookLock | None = None
        """This desk's hold on its book file: no second desk writes to it while held."""
        self.desk_lease: DeskLease | None = None
        """This desk's registration on a shared (PostgreSQL) book: its number and id slot."""
        self.sessions = sessions
        """The calendar view the venue, the market and the gate ask whether a segment is open."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.housekeeping = Housekeeping(self)
        self._stop = asyncio.Event()
        self._queue_waiting = asyncio.Event()
        self.var_executor: Executor | None = None
        self._clock_timers: list[SimulatedTimer] = []
        self.recorder: Recorder | None = None
        """Keeps the feed as Parquet while the desk runs (``EngineConfig.recordings_dir``)."""
        orders.queue_listener = self._queue_waiting.set
        if self.venue is not None:
            venue = self.venue
            # A venue that keeps the instruments it has resting orders on (the paper venue's
            # ``resting_tokens``) hears only their ticks; another hears them all.
            bus.subscribe(Tick, venue.on_tick, tokens=getattr(venue, "resting_tokens", None))
            orders.journal_listener = lambda writes: venue.pause(not writes)

    @classmethod
    def build(
        cls,
        config: EngineConfig | None = None,
        *,
        clock: Clock | None = None,
        link: BrokerLink | None = None,
        instruments: Iterable[Instrument] = (),
        feed: Feed | None = None,
    ) -> Engine:
        """Wire one engine (``engine.runtime.assembly.build_engine``). On a live broker's feed
        (or broker) ``link`` is its connection and ``instruments`` the day's instruments
        (``engine.brokers.registry``: ``connect``); a ``feed`` handed in (a replay) replaces the
        simulated market and lists ``instruments``."""
        from engine.runtime.assembly import build_engine

        return build_engine(cls, config, clock=clock, link=link, instruments=instruments, feed=feed)

    def restore(self) -> int:
        """Bring back orders, fills, positions and the trading state from the journal (after a
        restart or crash): ``engine.runtime.book_session``."""
        return restore_engine(self)

    def _load_strategies(self) -> None:
        problems = load_into(self.strategies, self.config.strategies_dir)
        for text in problems:
            message = EngineMessage(
                self.clock.time_ns(), Severity.WARNING, f"strategy not loaded: {text}", "strategies"
            )
            self.api.startup_messages.append(message)
            self.bus.publish(message)

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

    @property
    def stopping(self) -> bool:
        """The desk is closing (``stop``): no more housekeeping."""
        return self._stop.is_set()

    def warn(self, text: str, source: str) -> None:
        """Tell the trader (Messages) and the log."""
        log.warning("%s", text)
        self.bus.publish(EngineMessage(self.clock.time_ns(), Severity.WARNING, text, source))

    # -- running -------------------------------------------------------------------------------------

    def _feed_entry(self) -> tuple[Callable[[Tick], None], Callable[[], int]]:
        """The feed entry point and its count of ticks, built once as a closure.

        It runs for every tick: what it needs is bound here, and a closure's own variables cost
        less to reach than the engine's attributes (``self.ticks_seen += 1`` alone was an eighth of
        the engine's time per tick; tests/bench/README.md).
        """
        latest, publish, charts = self.quotes.latest, self.bus.publish, self.charts
        seen = 0

        def on_tick(tick: Tick) -> None:
            nonlocal seen
            seen += 1
            latest[tick.token] = tick
            publish(tick)
            if tick.ts_ns >= charts.next_sample_ns:
                charts.sample(tick.ts_ns)

        return on_tick, lambda: seen

    @property
    def ticks_seen(self) -> int:
        """Ticks the feed entry point has taken in."""
        return self._ticks_seen()

    def _watch(self, tokens: list[int], stream: bool) -> None:
        """Ask the live feed to stream (or stop) these tokens, from a Qt slot or engine code."""
        if self.link is None or not tokens:
            return
        action = self.link.watch(tokens) if stream else self.link.unwatch(tokens)
        self.spawn(action, "feed-watch" if stream else "feed-unwatch")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a background task and keep a strong reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        log.error("engine task %s failed", task.get_name(), exc_info=exc)
        text = (
            f"the desk's {task.get_name()} work stopped after an error ({type(exc).__name__}: "
            f"{exc}) and does not run again until the desk is restarted"
        )
        self.bus.publish(EngineMessage(self.clock.time_ns(), Severity.ERROR, text, "engine"))

    def start(self) -> None:
        """Start the feed, the live link and the once-a-second housekeeping on the loop."""
        self._stop.clear()
        if self.config.recordings_dir is not None and self.recorder is None:
            self.recorder = start_recording(self, self.config.recordings_dir)
        self.spawn(self.feed.run(self.on_tick, self._stop), "feed")
        if self.link is not None and self.link is not self.feed:
            # A live broker traded on another feed still runs its session and order updates.
            self.spawn(self.link.run(_no_ticks, self._stop), "broker-link")
        if isinstance(self.clock, SimulatedClock):
            # A backtest: the timed work follows the replayed time, not the wall's.
            self._clock_timers = follow_simulated_clock(self, self.clock)
        else:
            self.spawn(self.housekeeping.run(self._stop), "heartbeat")
            self.spawn(self._throttle_pump(), "order-throttle")
            if self.risk is not None:
                self.spawn(risk_housekeeping(self, self._stop), "risk-housekeeping")
        self.spawn(self.api.health_service.watch_loop(self._stop), "loop-lag")
        if self.config.metrics_port is not None:
            serving = serve_metrics(self, self.config.metrics_port, self._stop, self.warn)
            self.spawn(serving, "metrics")
        if self.config.api_port is not None:
            serving = serve_signals(self, self.config.api_port, self._stop, self.warn)
            self.spawn(serving, "signals-endpoint")
        self.strategies.resume()

    async def _throttle_pump(self) -> None:
        """Send the throttle's queued orders as each new second opens."""
        while not self._stop.is_set():
            await self._queue_waiting.wait()
            self._queue_waiting.clear()
            while (due := self.orders.next_release_ns()) is not None:
                wait = (due - self.clock.time_ns()) / 1e9
                await asyncio.sleep(min(max(wait, 0.001), 1.0))
                self.orders.release_queued()

    async def update_var(self, executor: Executor | None = None) -> VarReport | None:
        """Recompute VaR of the current portfolio in a worker process and publish it."""
        return await update_var(self, executor)

    def _beat(self) -> None:
        """The once-a-second housekeeping (``Housekeeping.beat``)."""
        self.housekeeping.beat()

    def _net(self, token: int, product: str) -> int:
        """The desk's net quantity of ``token`` in ``product`` (a signal's exit, its reversal)."""
        return sum(
            p.net_quantity
            for p in self.positions.all()
            if p.token == token and p.product.value == product
        )

    def _portfolio_command(self, action: str, name: str) -> str | None:
        commands = {
            "start": self.api.start_portfolio,
            "stop": self.api.stop_portfolio,
            "square_off": self.api.square_off_portfolio,
        }
        return commands[action](name)

    async def stop(self) -> None:
        """Stop the strategies (journaled as stopped: the trader starts them again; after a crash
        they resume by themselves), stop every task, wait for them, and close the journal."""
        self.strategies.stop_all("the desk closed")
        self._stop.set()
        for timer in self._clock_timers:
            timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.link is not None:
            await self.link.close()
        if self.recorder is not None:
            # The last batch is written and the day's parts merged off the loop.
            await asyncio.to_thread(self.recorder.close)
        await self.charts.close()
        unwritten = journal_left_unwritten(self)
        if self.positions.all() and not self.database.closed and not unwritten:
            # Not behind held rows: marks written first would read as earlier than they are.
            self.closing_marks, self.closing_marks_seq = self.record_marks(SESSION_END)
        if self.config.close_backup:
            self.back_up("close")
        self.close()

    def mark_day_end(self, now: datetime) -> None:
        """Journal the day's closing marks as the market closes on a desk that saw it open."""
        self.day_marks.mark_day_end(now)

    def record_marks(self, reason: str) -> tuple[PnlMarks, int | None]:
        """Journal the prices every position is marked at now (``DayMarks.record``)."""
        return self.day_marks.record(reason)

    @property
    def book_file(self) -> Path | None:
        """The book's SQLite file, or None for a server or in-memory database."""
        return book_file_of(self.database.engine.url)

    def back_up(self, reason: str) -> Path | None:
        """A copy of the book (``engine.runtime.book_session.back_up``)."""
        return back_up(self, reason)

    def close(self) -> None:
        if self.var_executor is not None:
            self.var_executor.shutdown(wait=False, cancel_futures=True)
            self.var_executor = None
        if self.desk_lease is not None:
            self.desk_lease.close()
            self.desk_lease = None
        self.database.close()
        if self.book_lock is not None:
            self.book_lock.release()
            self.book_lock = None


def _no_ticks(_tick: Tick) -> None:
    """Ticks of a live link the desk does not trade on (it runs on another feed)."""


def _session_problem(link: BrokerLink) -> Callable[[], str | None]:
    def problem() -> str | None:
        if link.session.logged_in:
            return None
        return f"not logged in to {link.title}: log in before starting live"

    return problem
