"""Real components wired together for engine tests: a file journal, a test clock, the paper venue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.brokers.paper.config import PaperConfig
from engine.brokers.paper.venue import PaperVenue
from engine.core.bus import EventBus
from engine.core.clock import IST, TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.oms.charging import default_charge_model
from engine.oms.order_manager import OrderManager
from engine.risk.gate import OrderGate
from engine.store import Database, open_database

NIFTY_CE = Instrument(
    token=make_token(47164, Segment.NFO_OPT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_OPT,
    tradingsymbol="NIFTY26DEC26000CE",
    name="NIFTY",
    instrument_type=InstrumentType.CE,
    underlying="NIFTY",
    tick_size=5,
    lot_size=65,
    expiry=date(2026, 12, 29),
    strike=2_600_000,
    freeze_quantity=1800,
    exchange_token=47164,
)
NIFTY_FUT = Instrument(
    token=make_token(47100, Segment.NFO_FUT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_FUT,
    tradingsymbol="NIFTY26DECFUT",
    name="NIFTY",
    instrument_type=InstrumentType.FUT,
    underlying="NIFTY",
    tick_size=10,
    lot_size=65,
    expiry=date(2026, 12, 29),
    freeze_quantity=1800,
    exchange_token=47100,
)
RELIANCE = Instrument(
    token=make_token(2885, Segment.NSE),
    exchange=Exchange.NSE,
    segment=Segment.NSE,
    tradingsymbol="RELIANCE",
    name="RELIANCE INDUSTRIES",
    instrument_type=InstrumentType.EQ,
    underlying="RELIANCE",
    tick_size=10,
    lot_size=1,
    exchange_token=2885,
)
NIFTY_INDEX = Instrument(
    token=InstrumentToken(256265),
    exchange=Exchange.NSE,
    segment=Segment.INDICES,
    tradingsymbol="NIFTY 50",
    name="NIFTY 50",
    instrument_type=InstrumentType.INDEX,
    underlying="NIFTY",
    tick_size=5,
    lot_size=1,
    exchange_token=1001,
)
INSTRUMENTS = (NIFTY_CE, NIFTY_FUT, RELIANCE, NIFTY_INDEX)

KITE_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "kite"
"""The official Kite mock responses and instrument dumps, beside the repository."""
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def quote(
    instrument: Instrument,
    *,
    bid: int,
    ask: int,
    ltp: int | None = None,
    size: int = 650,
    asks: tuple[tuple[int, int, int], ...] = (),
    bids: tuple[tuple[int, int, int], ...] = (),
    ts_ns: int = 0,
) -> Tick:
    return Tick(
        token=instrument.token,
        ltp=ltp
        if ltp is not None
        else (bid + ask) // 2 // instrument.tick_size * instrument.tick_size,
        bid=bid,
        ask=ask,
        bid_qty=size,
        ask_qty=size,
        volume=1000,
        oi=0,
        ts_ns=ts_ns,
        bids=bids or ((bid, size, 3),),
        asks=asks or ((ask, size, 3),),
    )


@dataclass
class Desk:
    clock: TestClock
    bus: EventBus
    quotes: QuoteCache
    registry: InstrumentRegistry
    venue: PaperVenue
    oms: OrderManager
    positions: PositionBook
    database: Database
    session_open: list[bool]

    def tick(self, tick: Tick) -> None:
        self.quotes.update(tick)
        self.bus.publish(tick)

    def events(self, event_type: type) -> list:
        seen: list = []
        self.bus.subscribe(event_type, seen.append)
        return seen

    def reopen(self) -> Desk:
        """A new order manager and venue on the same journal, as after a restart."""
        self.database.close()
        return make_desk(
            self.database.engine.url.render_as_string(hide_password=False),
            clock=self.clock,
            config=self.venue.config,
            restore=True,
        )


def book_url_of(book: Path | str) -> str:
    """A book URL as given (PostgreSQL, the ``book_url`` fixture), or a SQLite file's path's."""
    return book if isinstance(book, str) and "://" in book else f"sqlite:///{book}"


def make_desk(
    db_path: Path | str,
    *,
    clock: TestClock | None = None,
    config: PaperConfig | None = None,
    restore: bool = False,
) -> Desk:
    clock = clock or TestClock(MONDAY_MORNING)
    bus = EventBus()
    quotes = QuoteCache()
    registry = InstrumentRegistry()
    registry.add_all(INSTRUMENTS)
    session_open = [True]
    venue = PaperVenue(
        instruments=registry.find,
        quotes=quotes,
        clock=clock,
        session_open=lambda instrument, now: session_open[0],
        config=config or PaperConfig(),
    )
    bus.subscribe(Tick, venue.on_tick)
    database = open_database(book_url_of(db_path))
    positions = PositionBook(clock.now().date())
    oms = OrderManager(
        bus=bus,
        clock=clock,
        journal=database.journal,
        broker=venue,
        gate=OrderGate(registry.find, lambda: clock.now().date()),
        instruments=registry.find,
        positions=positions,
        charge_model=default_charge_model,
    )
    if restore:
        oms.restore((e.kind, e.order_id, e.ts_ns, e.payload) for e in database.journal.read())
    return Desk(clock, bus, quotes, registry, venue, oms, positions, database, session_open)


def atm_call(engine: Any) -> Instrument:
    """The NIFTY call of the nearest expiry whose strike is closest to spot, on a running engine."""
    spot = engine.api.tick(NIFTY_INDEX.token).ltp
    calls = [
        i
        for i in engine.registry
        if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.CE
    ]
    nearest = min(i.expiry for i in calls)
    return min((i for i in calls if i.expiry == nearest), key=lambda i: abs(i.strike - spot))


def tick_stock(engine: Any, symbol: str, price: int, close: int = 0) -> int:
    """An NSE stock's tick at ``price`` paise (five paise either side, 500 a side), with the
    previous close the feed gives (0: none), fed to ``engine`` now; the stock's token."""
    stock = engine.api.instruments.by_symbol("NSE", symbol)
    assert stock is not None, symbol
    engine.on_tick(
        Tick(
            InstrumentToken(stock.token),
            price,
            price - 5,
            price + 5,
            500,
            500,
            10_000,
            0,
            engine.clock.time_ns(),
            last_qty=100,
            close=close,
        )
    )
    return int(stock.token)


def schedule_desk(tmp_path: Path, start: datetime) -> Any:
    """The real engine on a test clock from ``start``, its book in ``tmp_path`` and its daily
    schedule's record and reports in ``tmp_path / "schedule"``."""
    from engine.marketdata.simulated import SimulatedMarketConfig
    from engine.runtime import Engine, EngineConfig

    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=2),
            schedule_folder=tmp_path / "schedule",
        ),
        clock=TestClock(start),
    )


def run_schedule(
    engine: Any, end: datetime, schedule: Any = None, day: str = "%a %d"
) -> dict[str, list[str]]:
    """Heartbeats a minute apart until ``end``: which jobs of ``schedule`` (the engine's) ran at
    which minute, per day (``day``: the strftime each day is keyed by)."""
    clock = engine.clock
    schedule = schedule or engine.schedule
    assert isinstance(clock, TestClock) and schedule is not None
    ran: dict[str, list[str]] = {}
    while clock.now() < end:
        for name in schedule.tick(clock.now()):
            ran.setdefault(clock.now().strftime(day), []).append(f"{clock.now():%H:%M} {name}")
        clock.advance(60)
    return ran
