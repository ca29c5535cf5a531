"""The risk gate on the paper venue: every check refuses a bad order with its reason, journals the
refusal, and nothing reaches the broker. Also: market protection, slicing, modifications.

``make_risk_desk`` (used by the other risk tests) wires the real gate, order manager, paper
venue, SQLite journal and risk manager with a test clock, as the runtime does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.paper.config import PaperConfig
from engine.brokers.paper.venue import PaperVenue
from engine.core.bus import EventBus
from engine.core.clock import TestClock
from engine.domain.events import EngineMessage, OrderDenied, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.order import Order
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.origin import OrderSource
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.oms.order_manager import OrderManager
from engine.risk.gate import OrderGate
from engine.risk.limits import RiskLimits, RiskSettings
from engine.risk.manager import RiskManager
from engine.risk.order_path import build_order_path
from engine.store import Database, open_database
from tests.support import (
    MONDAY_MORNING,
    NIFTY_CE,
    NIFTY_FUT,
    NIFTY_INDEX,
    RELIANCE,
    book_url_of,
    quote,
)

EXPIRED_CE = Instrument(
    token=make_token(47001, Segment.NFO_OPT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_OPT,
    tradingsymbol="NIFTY26N1726000CE",
    name="NIFTY",
    instrument_type=InstrumentType.CE,
    underlying="NIFTY",
    tick_size=5,
    lot_size=65,
    expiry=date(2026, 11, 17),
    strike=2_600_000,
    freeze_quantity=1800,
)
RELIANCE_CE = Instrument(
    token=make_token(47300, Segment.NFO_OPT),
    exchange=Exchange.NFO,
    segment=Segment.NFO_OPT,
    tradingsymbol="RELIANCE26DEC1300CE",
    name="RELIANCE",
    instrument_type=InstrumentType.CE,
    underlying="RELIANCE",
    tick_size=5,
    lot_size=500,
    expiry=date(2026, 12, 29),
    strike=130_000,
)
RISK_INSTRUMENTS = (NIFTY_CE, NIFTY_FUT, RELIANCE, NIFTY_INDEX, EXPIRED_CE, RELIANCE_CE)


class CountingVenue(PaperVenue):
    """The paper venue, counting what reaches it (and in which calendar second)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.submitted: list[tuple[int, str]] = []
        self.modified = 0

    def submit(self, order: Order) -> None:
        self.submitted.append((self._clock.time_ns() // 1_000_000_000, order.order_id))
        super().submit(order)

    def modify(self, order: Order, change: Modification) -> None:
        self.modified += 1
        super().modify(order, change)


@dataclass
class RiskDesk:
    clock: TestClock
    bus: EventBus
    quotes: QuoteCache
    registry: InstrumentRegistry
    venue: CountingVenue
    oms: OrderManager
    gate: OrderGate
    risk: RiskManager
    positions: PositionBook
    database: Database
    session_open: list[bool] = field(default_factory=lambda: [True])

    def tick(self, tick: Tick) -> None:
        self.quotes.update(tick)
        self.bus.publish(tick)

    def events(self, event_type: type) -> list:
        seen: list = []
        self.bus.subscribe(event_type, seen.append)
        return seen

    def journal(self, kind: str | None = None) -> list:
        return [e for e in self.database.journal.read() if kind is None or e.kind == kind]

    def market(self) -> None:
        """Quotes on every tradable test instrument (with previous closes for the bands)."""
        self.tick(quote(NIFTY_CE, bid=9995, ask=10000, ltp=10000, size=6500)._replace(close=10000))
        self.tick(
            quote(NIFTY_FUT, bid=2599990, ask=2600000, ltp=2600000, size=6500)._replace(
                close=2600000
            )
        )
        self.tick(quote(RELIANCE, bid=129990, ask=130000, ltp=130000)._replace(close=130000))
        self.tick(quote(RELIANCE_CE, bid=4000, ask=4010, ltp=4000))
        self.tick(quote(NIFTY_INDEX, bid=0, ask=0, ltp=2590000))


def make_risk_desk(
    db_path: Path | str,
    *,
    limits: RiskLimits | None = None,
    underlyings: dict[str, dict[str, Any]] | None = None,
    clock: TestClock | None = None,
    config: PaperConfig | None = None,
    restore: bool = False,
) -> RiskDesk:
    clock = clock or TestClock(MONDAY_MORNING)
    bus = EventBus()
    quotes = QuoteCache()
    registry = InstrumentRegistry(RISK_INSTRUMENTS)
    session_open = [True]
    venue = CountingVenue(
        instruments=registry.find,
        quotes=quotes,
        clock=clock,
        session_open=lambda instrument, now: True,
        config=config or PaperConfig(),
    )
    bus.subscribe(Tick, venue.on_tick)
    database = open_database(book_url_of(db_path))
    positions = PositionBook(clock.now().date())
    spots = {"NIFTY": NIFTY_INDEX.token, "RELIANCE": RELIANCE.token}

    def spot(underlying: str) -> int | None:
        token = spots.get(underlying)
        return None if token is None else quotes.ltp(token)

    path = build_order_path(
        bus=bus,
        clock=clock,
        journal=database.journal,
        broker=venue,
        instruments=registry.find,
        universe=RISK_INSTRUMENTS,
        quotes=quotes,
        positions=positions,
        settings=RiskSettings(limits or RiskLimits(), underlyings=underlyings or {}),
        session_open=lambda instrument, now: session_open[0],
        spot=spot,
        today=lambda: clock.now().date(),
    )
    oms, gate, risk = path.orders, path.gate, path.risk
    if restore:
        entries = [(e.kind, e.order_id, e.ts_ns, e.payload) for e in database.journal.read()]
        oms.restore(entries, today=clock.now().date())
        risk.restore(entries)
    else:
        risk.restore([])
    return RiskDesk(
        clock, bus, quotes, registry, venue, oms, gate, risk, positions, database, session_open
    )


def req(
    instrument: Instrument = NIFTY_CE,
    side: Side = Side.BUY,
    quantity: Any = 65,
    order_type: OrderType = OrderType.LIMIT,
    price: int | None = 9900,
    product: Product = Product.NRML,
    **kw: Any,
) -> OrderRequest:
    return OrderRequest(
        instrument.token,
        side,
        quantity,
        order_type,
        product,
        price=None if price is None else Paise(price),
        **kw,
    )


@pytest.fixture
def desk(tmp_path):
    desk = make_risk_desk(tmp_path / "book.db")
    desk.market()
    yield desk
    desk.database.close()


# -- the table: one or more bad orders per check -------------------------------------------------

Setup = Callable[[RiskDesk], None]


def _nothing(desk: RiskDesk) -> None:
    return None


def _limits(**changes: Any) -> Setup:
    def setup(desk: RiskDesk) -> None:
        desk.risk.configure(replace(desk.risk.settings, defaults=replace(RiskLimits(), **changes)))

    return setup


def _underlying(name: str, **changes: Any) -> Setup:
    def setup(desk: RiskDesk) -> None:
        desk.risk.configure(RiskSettings(RiskLimits(), underlyings={name: changes}))

    return setup


def _closed(desk: RiskDesk) -> None:
    desk.session_open[0] = False


def _no_quote_future(desk: RiskDesk) -> None:
    desk.tick(quote(NIFTY_FUT, bid=2599990, ask=2600000, ltp=0))  # no trade yet today


def _cheap_option(desk: RiskDesk) -> None:
    desk.tick(quote(NIFTY_CE, bid=995, ask=1000, ltp=1000))


def _sent_once(request: OrderRequest) -> Setup:
    def setup(desk: RiskDesk) -> None:
        assert desk.oms.submit(request)

    return setup


def _then(*setups: Setup) -> Setup:
    def setup(desk: RiskDesk) -> None:
        for step in setups:
            step(desk)

    return setup


def _resting(count: int, quantity: int = 65) -> Setup:
    def setup(desk: RiskDesk) -> None:
        for n in range(count):
            assert desk.oms.submit(req(quantity=quantity, price=9000 - 5 * n)), n

    return setup


def _long(lots: int, instrument: Instrument = NIFTY_CE, price: int = 10000) -> Setup:
    def setup(desk: RiskDesk) -> None:
        outcome = desk.oms.submit(req(instrument, quantity=lots * instrument.lot_size, price=price))
        assert outcome and desk.oms.orders[outcome.order_id].status is OrderStatus.COMPLETE

    return setup


def _sent_this_second(count: int) -> Setup:
    def setup(desk: RiskDesk) -> None:
        desk.clock.advance(1 - (desk.clock.time_ns() % 1_000_000_000) / 1e9)  # a fresh second
        for n in range(count):
            assert desk.oms.submit(req(price=9000 - 5 * n))

    return setup


def _state(state: TradingState) -> Setup:
    def setup(desk: RiskDesk) -> None:
        desk.risk.set_state(state, "test")

    return setup


BAD_ORDERS: list[tuple[str, Setup, OrderRequest, str, str]] = [
    # (id, setup, request, check, reason fragment)
    (
        "unknown",
        _nothing,
        OrderRequest(InstrumentToken(999), Side.BUY, 65, price=Paise(100)),
        "instrument",
        "unknown instrument 999",
    ),
    (
        "index",
        _nothing,
        req(NIFTY_INDEX, quantity=1, price=100, product=Product.MIS),
        "instrument",
        "is an index and cannot be traded",
    ),
    ("expired", _nothing, req(EXPIRED_CE), "instrument", "expired at 15:40 on 17 Nov 2026"),
    ("zero", _nothing, req(quantity=0), "quantity", "quantity 0 must be positive"),
    ("negative", _nothing, req(quantity=-65), "quantity", "quantity -65 must be positive"),
    ("fractional", _nothing, req(quantity=65.5), "quantity", "quantity must be a whole number"),
    (
        "lot option",
        _nothing,
        req(quantity=70),
        "lot_size",
        "quantity 70 is not a multiple of the lot size 65",
    ),
    (
        "lot future",
        _nothing,
        req(NIFTY_FUT, quantity=100, price=2600000),
        "lot_size",
        "not a multiple of the lot size 65",
    ),
    (
        "freeze option",
        _nothing,
        req(quantity=1820),
        "freeze_quantity",
        "above the freeze quantity 1800 of NIFTY26DEC26000CE; the largest single order is 1755",
    ),
    (
        "freeze future",
        _nothing,
        req(NIFTY_FUT, quantity=1885, price=2600000),
        "freeze_quantity",
        "above the freeze quantity 1800",
    ),
    ("NRML cash", _nothing, req(RELIANCE, quantity=1, price=130000), "product", "NRML is for F&O"),
    (
        "CNC future",
        _nothing,
        req(NIFTY_FUT, price=2600000, product=Product.CNC),
        "product",
        "CNC is for equity delivery",
    ),
    ("no price", _nothing, req(price=None), "price", "a LIMIT order needs a price"),
    (
        "market with price",
        _nothing,
        req(order_type=OrderType.MARKET, price=10000),
        "price",
        "a MARKET order takes no price",
    ),
    (
        "off tick",
        _nothing,
        req(price=10002),
        "tick_size",
        "price 100.02 is not a multiple of the tick size 0.05",
    ),
    (
        "off tick cash",
        _nothing,
        req(RELIANCE, quantity=1, price=130005, product=Product.CNC),
        "tick_size",
        "tick size 0.10 of RELIANCE",
    ),
    (
        "trigger off tick",
        _nothing,
        req(side=Side.SELL, order_type=OrderType.SL, price=9000, trigger_price=Paise(9003)),
        "tick_size",
        "trigger price 90.03",
    ),
    (
        "SL no trigger",
        _nothing,
        req(order_type=OrderType.SL, price=10000),
        "trigger",
        "needs a trigger price",
    ),
    (
        "SL never fills",
        _nothing,
        req(order_type=OrderType.SL, price=9000, trigger_price=Paise(9500)),
        "trigger",
        "could never fill",
    ),
    (
        "LIMIT with trigger",
        _nothing,
        req(trigger_price=Paise(9500)),
        "trigger",
        "a LIMIT order takes no trigger price",
    ),
    ("closed F&O", _closed, req(), "session", "market is closed for NFO at 10:00:00 IST"),
    (
        "closed cash",
        _closed,
        req(RELIANCE, quantity=1, price=130000, product=Product.CNC),
        "session",
        "market is closed for NSE",
    ),
    (
        "market stock option",
        _nothing,
        req(RELIANCE_CE, quantity=500, order_type=OrderType.MARKET, price=None),
        "market_protection",
        "not accepted on stock options",
    ),
    (
        "market no price",
        _no_quote_future,
        req(NIFTY_FUT, order_type=OrderType.MARKET, price=None),
        "market_protection",
        "no last traded price for NIFTY26DECFUT",
    ),
    (
        "LPP option buy",
        _nothing,
        req(price=14500),
        "price_protection",
        "BUY price 145.00 is above 140.00, outside the exchange's price protection (LPP) 60.00–140.00",
    ),
    (
        "LPP option sell",
        _nothing,
        req(side=Side.SELL, price=5500),
        "price_protection",
        "below 60.00",
    ),
    ("LPP cheap option", _cheap_option, req(price=3100), "price_protection", "above 30.00"),
    ("LPP future", _nothing, req(NIFTY_FUT, price=2660000), "price_protection", "above 26520.00"),
    (
        "operating range",
        _nothing,
        req(NIFTY_FUT, price=2300000),
        "price_protection",
        "operating range 23400.00–28600.00",
    ),
    (
        "circuit band buy",
        _nothing,
        req(RELIANCE, quantity=1, price=160000, product=Product.CNC),
        "price_protection",
        "circuit band 1040.00–1560.00",
    ),
    (
        "circuit band sell",
        _nothing,
        req(RELIANCE, side=Side.SELL, quantity=1, price=100000, product=Product.MIS),
        "price_protection",
        "below 1040.00",
    ),
    (
        "fat finger low",
        _nothing,
        req(price=7500),
        "fat_finger",
        "price 75.00 is 25 % away from the last price 100.00",
    ),
    ("fat finger high", _nothing, req(side=Side.SELL, price=12500), "fat_finger", "25 % away"),
    (
        "fat finger per underlying",
        _underlying("RELIANCE", fat_finger_pct=5),
        req(RELIANCE, quantity=1, price=120000, product=Product.CNC),
        "fat_finger",
        "the fat-finger limit is 5 %",
    ),
    (
        "max quantity",
        _underlying("RELIANCE", max_order_quantity=100),
        req(RELIANCE, quantity=200, price=130000, product=Product.CNC),
        "max_order_quantity",
        "quantity 200 is above the limit of 100 per order",
    ),
    (
        "max value",
        _underlying("NIFTY", max_order_value=1_000_000),
        req(NIFTY_FUT, price=2600000),
        "max_order_value",
        "order value ₹1,690,000 is above the limit of ₹1,000,000 per order",
    ),
    (
        "duplicate",
        _sent_once(req(price=9900)),
        req(price=9900),
        "duplicate",
        "the same order for NIFTY26DEC26000CE was sent 0.0 s ago",
    ),
    (
        "open orders",
        _then(_limits(max_open_orders=2), _resting(2)),
        req(price=9800),
        "max_open_orders",
        "2 orders are open; the limit is 2",
    ),
    (
        "position filled",
        _then(_underlying("NIFTY", max_position_lots=2), _long(2)),
        req(price=9950),
        "max_position",
        "would reach 3 lots with open orders; the limit is 2 lots",
    ),
    (
        "position working",
        _then(_underlying("NIFTY", max_position_lots=2), _resting(2)),
        req(price=9800),
        "max_position",
        "would reach 3 lots",
    ),
    (
        "underlying lots",
        _then(_underlying("NIFTY", max_underlying_lots=3), _long(2)),
        req(NIFTY_FUT, quantity=130, price=2600000),
        "max_underlying_position",
        "positions in NIFTY would reach 4 lots",
    ),
    (
        "margin",
        _limits(capital=Decimal(100_000), max_concentration_pct=None),
        req(side=Side.SELL, quantity=650, price=10000),
        "margin",
        "margin: the account would need",
    ),
    (
        "margin future",
        _limits(capital=Decimal(200_000), max_concentration_pct=None),
        req(NIFTY_FUT, quantity=130, price=2600000),
        "margin",
        "but has ₹200,000",
    ),
    (
        "concentration",
        _limits(max_concentration_pct=Decimal(5)),
        req(side=Side.SELL, price=10000),
        "concentration",
        "margin in NIFTY would be",
    ),
    (
        "order rate deny",
        _then(_limits(throttle_mode="deny"), _sent_this_second(10)),
        req(price=9500),
        "order_rate",
        "order rate: 10 orders a second and 200 a minute already sent",
    ),
    (
        "reducing new",
        _state(TradingState.REDUCING),
        req(),
        "trading_state",
        "trading is REDUCING (test): only orders that reduce a position are accepted",
    ),
    (
        "reducing too much",
        _then(_long(1), _state(TradingState.REDUCING)),
        req(side=Side.SELL, quantity=130, price=10000),
        "trading_state",
        "does not",
    ),
    (
        "halted",
        _state(TradingState.HALTED),
        req(),
        "trading_state",
        "trading is HALTED (test): only square-off orders are accepted until you re-arm",
    ),
    (
        "halted reduce from ticket",
        _then(_long(1), _state(TradingState.HALTED)),
        req(side=Side.SELL, price=10000, source=OrderSource.MANUAL),
        "trading_state",
        "HALTED",
    ),
    (
        "halted square-off that grows",
        _state(TradingState.HALTED),
        req(
            side=Side.SELL,
            order_type=OrderType.MARKET,
            price=None,
            source=OrderSource.MANUAL,
            square_off=True,
        ),
        "trading_state",
        "HALTED",
    ),
]

CHECKS = {
    "instrument",
    "quantity",
    "lot_size",
    "freeze_quantity",
    "product",
    "price",
    "tick_size",
    "trigger",
    "session",
    "market_protection",
    "price_protection",
    "fat_finger",
    "max_order_quantity",
    "max_order_value",
    "duplicate",
    "max_open_orders",
    "max_position",
    "max_underlying_position",
    "margin",
    "concentration",
    "order_rate",
    "trading_state",
}


def test_bad_order_table_when_counted_covers_every_check_with_40_orders() -> None:
    assert len(BAD_ORDERS) >= 40
    assert {row[3] for row in BAD_ORDERS} == CHECKS


@pytest.mark.parametrize(
    ("setup", "request_", "check", "reason"),
    [row[1:] for row in BAD_ORDERS],
    ids=[row[0] for row in BAD_ORDERS],
)
def test_bad_order_when_submitted_is_denied_with_reason_journaled_and_never_sent(
    desk, setup, request_, check, reason
) -> None:
    setup(desk)
    sent_before = len(desk.venue.submitted)
    denials = desk.events(OrderDenied)
    messages = desk.events(EngineMessage)

    outcome = desk.oms.submit(request_)

    assert not outcome
    assert outcome.check == check, outcome.reason
    assert reason in outcome.reason
    assert len(desk.venue.submitted) == sent_before  # nothing reached the broker
    assert outcome.order_id not in desk.oms.orders
    assert [(d.order_id, d.check, d.reason) for d in denials] == [
        (outcome.order_id, check, outcome.reason)
    ]
    assert any(outcome.reason in m.text for m in messages)
    [journaled] = [e for e in desk.journal("order_denied") if e.order_id == outcome.order_id]
    assert journaled.payload["check"] == check
    assert journaled.payload["reason"] == outcome.reason


# -- what the gate changes -----------------------------------------------------------------------


def test_market_order_when_allowed_is_sent_as_protected_limit_inside_lpp(desk) -> None:
    outcome = desk.oms.submit(req(order_type=OrderType.MARKET, price=None))
    assert outcome and "sent as LIMIT 102.00" in outcome.note
    order = desk.oms.orders[outcome.order_id]
    assert (order.order_type, order.price, order.status) == (
        OrderType.LIMIT,
        10200,
        OrderStatus.COMPLETE,
    )


def test_market_order_when_protection_is_wider_than_lpp_is_capped_at_the_band(tmp_path) -> None:
    desk = make_risk_desk(
        tmp_path / "book.db", underlyings={"NIFTY": {"market_protection_pct": 40}}
    )
    try:
        desk.tick(quote(NIFTY_CE, bid=995, ask=1000, ltp=1000))
        outcome = desk.oms.submit(req(order_type=OrderType.MARKET, price=None))
        # 40 % of ₹10 is ₹4, inside LPP's ±₹20; the limit is ₹14.00.
        assert desk.oms.orders[outcome.order_id].price == 1400
        desk.tick(quote(NIFTY_FUT, bid=2599990, ask=2600000, ltp=2600000))
        outcome = desk.oms.submit(req(NIFTY_FUT, order_type=OrderType.MARKET, price=None))
        assert desk.oms.orders[outcome.order_id].price == 2652000  # capped at LPP +2 %
    finally:
        desk.database.close()


def test_stop_loss_market_when_allowed_is_sent_as_stop_limit_beyond_the_trigger(desk) -> None:
    assert desk.oms.submit(req(quantity=65, price=10000))
    outcome = desk.oms.submit(
        req(side=Side.SELL, order_type=OrderType.SL_M, price=None, trigger_price=Paise(9000))
    )
    order = desk.oms.orders[outcome.order_id]
    assert (order.order_type, order.price, order.trigger_price) == (OrderType.SL, 8820, 9000)
    assert order.status is OrderStatus.TRIGGER_PENDING


def test_order_above_freeze_when_slicing_is_allowed_goes_out_as_children(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", limits=RiskLimits(slice_above_freeze=True))
    try:
        desk.market()
        outcome = desk.oms.submit(req(quantity=5005, price=9900))
        assert outcome and len(outcome.children) == 3
        assert [desk.oms.orders[c].quantity for c in outcome.children] == [1755, 1755, 1495]
        assert {desk.oms.orders[c].tag for c in outcome.children} == {outcome.order_id}
        assert [o for _, o in desk.venue.submitted] == list(outcome.children)
        assert "sliced into 3 orders of at most 1755" in outcome.note
    finally:
        desk.database.close()


def test_slices_of_a_tagged_order_keep_its_tag_so_its_owner_knows_every_one(tmp_path) -> None:
    """A portfolio leg's tag names its leg, a script's carries its client id: a slice tagged
    with the parent's id instead was an order its owner could not place."""
    for tag, source in (("L1E1", OrderSource.STRATEGY), ("hedge#run-7", OrderSource.API)):
        book = tmp_path / f"{source.value}.db"
        desk = make_risk_desk(book, limits=RiskLimits(slice_above_freeze=True))
        try:
            desk.market()
            outcome = desk.oms.submit(req(quantity=5005, price=9900, tag=tag, source=source))
            assert outcome and len(outcome.children) == 3
            assert [desk.oms.orders[c].tag for c in outcome.children] == [tag] * 3
        finally:
            desk.database.close()


def test_slices_when_more_than_the_rate_allows_are_paced_one_second_at_a_time(tmp_path) -> None:
    limits = RiskLimits(
        slice_above_freeze=True,
        max_position_lots=1000,
        max_underlying_lots=2000,
        capital=Decimal(100_000_000),
    )
    desk = make_risk_desk(tmp_path / "book.db", limits=limits)
    try:
        desk.market()
        outcome = desk.oms.submit(req(quantity=27 * 1755, price=9900))  # 27 slices
        assert len(outcome.children) == 27
        assert len(desk.venue.submitted) == 10 and len(desk.oms.queued) == 17
        desk.clock.advance(1)
        assert desk.oms.release_queued() == 10
        desk.clock.advance(1)
        assert desk.oms.release_queued() == 7
        seconds = [s for s, _ in desk.venue.submitted]
        assert max(seconds.count(s) for s in set(seconds)) == 10
        assert [o for _, o in desk.venue.submitted] == list(outcome.children)
    finally:
        desk.database.close()


def test_duplicate_when_the_window_has_passed_is_sent_and_only_a_window_is_remembered(
    desk,
) -> None:
    gate = desk.gate
    assert gate.decide(req(price=9900)).allowed
    desk.clock.advance(1.9)
    assert gate.decide(req(price=9900)).check == "duplicate"
    desk.clock.advance(0.2)  # 2.1 s after the first: the default window is 2 s
    assert gate.decide(req(price=9900)).allowed
    for n in range(2_000):  # a long stream of different orders, 10 a second
        desk.clock.advance(0.1)
        assert gate.decide(req(price=9000 + 5 * (n % 100), quantity=65 * (1 + n // 100))).allowed
    assert len(gate._recent) <= 21  # the last two seconds' worth, never the whole stream


def test_duplicate_when_the_first_order_was_refused_does_not_count_it_as_sent(desk) -> None:
    desk.risk.configure(RiskSettings(RiskLimits(max_order_quantity=65)))
    assert desk.gate.decide(req(quantity=130)).check == "max_order_quantity"
    desk.risk.configure(RiskSettings(RiskLimits()))
    assert desk.gate.decide(req(quantity=130)).allowed  # the retry once the limit is raised


def test_modify_when_new_price_is_a_fat_finger_is_refused_journaled_and_not_sent(desk) -> None:
    outcome = desk.oms.submit(req(price=9900))
    refused = desk.oms.modify(outcome.order_id, Modification(price=Paise(7000)))
    assert not refused and refused.check == "fat_finger"
    assert desk.venue.modified == 0
    [entry] = desk.journal("risk_denied")
    assert (entry.order_id, entry.payload["check"]) == (outcome.order_id, "fat_finger")
    assert desk.oms.orders[outcome.order_id].price == 9900


def test_modify_when_quantity_grows_past_the_position_limit_is_refused(tmp_path) -> None:
    desk = make_risk_desk(tmp_path / "book.db", underlyings={"NIFTY": {"max_position_lots": 2}})
    try:
        desk.market()
        outcome = desk.oms.submit(req(price=9900))
        refused = desk.oms.modify(outcome.order_id, Modification(quantity=195))
        assert not refused and refused.check == "max_position"
        assert desk.oms.modify(outcome.order_id, Modification(quantity=130))
        assert desk.oms.orders[outcome.order_id].quantity == 130
    finally:
        desk.database.close()


def test_halt_when_set_cancels_open_orders_and_the_gate_refuses_modifications(desk) -> None:
    outcome = desk.oms.submit(req(price=9900))
    order = desk.oms.orders[outcome.order_id]
    desk.risk.set_state(TradingState.HALTED, "test")
    assert order.status is OrderStatus.CANCELLED
    refused = desk.oms.modify(outcome.order_id, Modification(price=Paise(9905)))
    assert not refused and "CANCELLED" in refused.reason
    # An order still open at the broker (a cancel in flight) cannot be modified either.
    still_open = Order(desk.oms.orders[outcome.order_id].events[0])
    decision = desk.gate.decide_modify(still_open, Modification(price=Paise(9905)))
    assert decision.check == "trading_state" and "HALTED (test)" in decision.reason


def test_reducing_state_when_an_order_closes_part_of_a_position_lets_it_through(desk) -> None:
    assert desk.oms.submit(req(quantity=130, price=10000))
    desk.risk.set_state(TradingState.REDUCING, "test")
    outcome = desk.oms.submit(req(side=Side.SELL, quantity=65, price=9995))
    assert outcome, outcome.reason
    assert desk.positions.get(NIFTY_CE.token, Product.NRML).net_quantity == 65


def test_gate_when_bypassed_still_checks_validity_but_no_limits(desk) -> None:
    desk.gate.enabled = False
    assert not desk.oms.submit(req(quantity=70))
    assert desk.oms.submit(req(price=7500))  # fat finger, but the limits are off


def test_day_order_with_ioc_when_it_passes_the_gate_is_worked_as_usual(desk) -> None:
    outcome = desk.oms.submit(req(quantity=130, price=10000, validity=Validity.IOC))
    assert desk.oms.orders[outcome.order_id].status is OrderStatus.COMPLETE
