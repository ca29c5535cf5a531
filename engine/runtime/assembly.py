"""Wiring one engine: the feed, the broker, the book and its lock, the order path, the
reconciliation of a live link; then the engine restored from its journal and backed up for the
day (``Engine.build``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime

from engine.brokers.base import BrokerLink
from engine.brokers.paper.venue import PaperVenue
from engine.brokers.registry import SIMULATED_FEED, BrokerContext, broker_spec
from engine.calendar import MarketCalendar
from engine.calendar.fail_closed import FailClosedCalendar
from engine.core.bus import EventBus
from engine.core.clock import Clock, LiveClock, ist_today
from engine.core.memory import collector_paused
from engine.domain.ids import IdFactory
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.marketdata.feed import Feed
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.simulated import SimulatedMarket
from engine.oms.reconcile import BookKeeper, Reconciler
from engine.risk.order_path import build_order_path
from engine.runtime.config import EngineConfig
from engine.runtime.engine import Engine
from engine.runtime.risk_tasks import paper_returns
from engine.runtime.schedule_times import TradingDay
from engine.store import Database, open_database
from engine.store.book_lock import lock_book
from engine.store.desks import DeskLease


@collector_paused()
def build_engine(
    cls: type[Engine],
    config: EngineConfig | None = None,
    *,
    clock: Clock | None = None,
    link: BrokerLink | None = None,
    instruments: Iterable[Instrument] = (),
    feed: Feed | None = None,
) -> Engine:
    """Wire one engine. On a live broker's feed (or broker) ``link`` is its connection and
    ``instruments`` the day's instruments (``engine.brokers.registry``: ``connect``); a
    ``feed`` handed in (a replay) replaces the simulated market and lists ``instruments``."""
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
    if feed is not None:
        registry.add_all(instruments)
    elif config.market_feed != SIMULATED_FEED:
        if link is None:
            raise ValueError(f"the {config.market_feed} feed needs its broker's link")
        feed = link
        registry.add_all(instruments)
    else:
        feed = market = SimulatedMarket(market_config, clock.now, sessions)
        registry.add_all(market.instruments())
        for tick in market.snapshot():
            quotes.update(tick)

    def session_open(instrument: Instrument, now: datetime) -> bool:
        if config.always_open:
            return True
        return sessions.is_open(now, "FO" if instrument.is_derivative else "CM")

    def day_close(day: date) -> datetime | None:
        trading = TradingDay.on(calendar, day)
        return None if trading is None else trading.close

    spot_tokens = registry.spot_tokens()
    index_tokens = {
        underlying: token
        for underlying, token in spot_tokens.items()
        if (index := registry.find(token)) is not None
        and index.instrument_type is InstrumentType.INDEX
    }

    def index_quote(underlying: str) -> Tick | None:
        token = index_tokens.get(underlying)
        return None if token is None else quotes.get(token)

    if market is not None:
        registry.former = market.former

    def find(token: int) -> Instrument | None:
        """A listed contract, or one the market listed before that expired (the venue settles a
        contract held over its expiry, the gate refuses orders on it in words)."""
        return registry.find(token) or registry.find_former(token)

    broker = broker_spec(config.broker).make(
        BrokerContext(
            instruments=find,
            quotes=quotes,
            clock=clock,
            session_open=session_open,
            publish=bus.publish,
            paper=config.paper,
            link=link,
            day_close=None if config.always_open else day_close,
            expiry_close=sessions.expiry_close,
            index_quote=index_quote,
        )
    )
    book_lock = lock_book(config.db_url)
    try:
        database = open_database(config.db_url)
    except BaseException:
        if book_lock is not None:
            book_lock.release()
        raise
    try:
        lease = _register_desk(database, config, link)
    except BaseException:
        database.close()
        raise
    if lease is not None and isinstance(broker, PaperVenue):
        broker.salt_ids(lease.slot)
    journal = database.journal
    positions = PositionBook(clock.now().date())

    def spot(underlying: str) -> int | None:
        token = spot_tokens.get(underlying)
        return None if token is None else quotes.ltp(token)

    path = build_order_path(
        bus=bus,
        clock=clock,
        journal=journal,
        broker=broker,
        instruments=find,
        universe=registry,
        quotes=quotes,
        positions=positions,
        settings=config.risk,
        session_open=session_open,
        spot=spot,
        today=ist_today(clock),
        account=config.account,
        margin_params=config.margin,
        calendar=sessions,
        ids=None if lease is None else IdFactory("D", lease.slot),
    )
    orders = path.orders
    engine = cls(
        config=config,
        clock=clock,
        bus=bus,
        calendar=calendar,
        registry=registry,
        feed=feed,
        quotes=quotes,
        database=database,
        journal=journal,
        positions=positions,
        broker=broker,
        orders=orders,
        risk=path.risk,
        returns=paper_returns(market_config) if market is not None else {},
        link=link,
        sessions=sessions,
    )
    if link is not None:
        reconciliation = None
        if isinstance(broker, BookKeeper):
            reconciliation = Reconciler(
                broker,
                orders=lambda: (
                    o for o in orders.orders.values() if o.order_id not in orders.other_desks
                ),
                positions=positions.all,
                instruments=registry.find,
                publish=bus.publish,
                clock=clock,
            )
        link.attach(
            publish=bus.publish, orders=lambda: orders.orders, reconciliation=reconciliation
        )
    engine.book_lock = book_lock
    engine.desk_lease = lease
    try:
        engine.restore()
    except BaseException:
        engine.close()
        raise
    engine.back_up("daily")
    return engine


def _register_desk(
    database: Database, config: EngineConfig, link: BrokerLink | None
) -> DeskLease | None:
    """Number this desk on a shared book and give it an id slot (``engine.store.desks``); a
    SQLite book has one desk, held by its file lock. The broker session is the broker and the
    user logged in to it (the desk's account name when no one is logged in yet)."""
    if database.dialect_name != "postgresql":
        return None
    spec = broker_spec(config.broker)
    user = getattr(link.session, "user_id", None) if link is not None else None
    session = f"{config.broker}:{user or config.account}"
    return DeskLease.open(database.engine, session, live=spec.live)
