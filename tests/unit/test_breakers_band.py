"""The circuit breakers decide on each tick in whole paise, inside a band worked out after each
full evaluation; these tests hold them to a plain Decimal evaluation of every tick and fill
(the rules as the module states them) over random days of ticks, fills, re-arms and limit
changes, and check the underlying-move limit's whole-number test at its edge."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.clock import IST, TestClock, ist_date_of
from engine.domain.charges import Charges
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.orders import Product, Side
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import Paise, to_rupees
from engine.marketdata.quotes import QuoteCache, previous_close
from engine.oms.exposure import Exposure
from engine.risk.breakers import CircuitBreakers
from engine.risk.limits import RiskLimits
from tests.support import NIFTY_FUT, NIFTY_INDEX, RELIANCE

# An index (a spot), a stock (a spot the desk trades) and a future (a derivative).
SPOT, HELD, OTHER = int(NIFTY_INDEX.token), int(RELIANCE.token), int(NIFTY_FUT.token)
INSTRUMENTS = [NIFTY_INDEX, RELIANCE, NIFTY_FUT]
START = datetime(2026, 12, 1, 9, 15, tzinfo=IST)


@dataclass
class Desk:
    """Breakers on real positions, quotes and exposure, with their trips written down."""

    clock: TestClock
    limits: RiskLimits
    positions: PositionBook = field(init=False)
    quotes: QuoteCache = field(default_factory=QuoteCache)
    trips: list[tuple[str, Decimal | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.positions = PositionBook(self.clock.now().date())
        underlying = {int(i.token): i.underlying for i in INSTRUMENTS}
        self.exposure = Exposure(lambda t: underlying.get(int(t)))
        self.breakers = CircuitBreakers(
            limits=lambda: self.limits,
            positions=self.positions,
            quotes=self.quotes,
            clock=self.clock,
            exposure=self.exposure,
            instruments=INSTRUMENTS,
            trip=lambda name, _reason, _action, _square, value: self.trips.append((name, value)),
        )
        self.breakers.start([])

    def tick(self, token: int, ltp: int, close: int) -> None:
        tick = Tick(InstrumentToken(token), ltp, ltp, ltp, 1, 1, 0, 0, self.clock.time_ns(),
                    close=close)  # fmt: skip
        self.quotes.update(tick)
        if token in self.breakers.ticked:
            self.breakers.on_tick(tick)

    def fill(self, token: int, side: Side, quantity: int, price: int, charges: Decimal) -> None:
        fill = OrderFilled(
            OrderId("o"), self.clock.time_ns(), TradeId("t"), InstrumentToken(token), side,
            Product.CNC, quantity, Paise(price), Charges(brokerage=charges),
        )  # fmt: skip
        self.positions.apply(fill)
        self.exposure.filled(fill.token, fill.product, side, quantity)
        self.breakers.on_fill(fill)


@dataclass
class Reference:
    """The P&L breakers as the module's docstring states them, in Decimal, on every event."""

    day: object = None
    charges: Decimal = Decimal(0)
    peak: Decimal = Decimal(0)
    mtm: Decimal = Decimal(0)
    tripped: set[str] = field(default_factory=set)
    trips: list[tuple[str, Decimal | None]] = field(default_factory=list)

    def roll(self, desk: Desk) -> None:
        """A new IST day starts with no charges, no peak and nothing tripped."""
        day = ist_date_of(desk.clock.time_ns()).date()
        if day != self.day:
            self.day, self.charges, self.peak = day, Decimal(0), Decimal(0)
            self.tripped.clear()

    def evaluate(self, desk: Desk, limits: RiskLimits) -> None:
        self.roll(desk)
        mtm = self.mtm = to_rupees(self.paise(desk)) - self.charges
        self.peak = max(self.peak, mtm)
        checks = [
            ("daily_loss", limits.daily_loss_limit is not None
             and mtm <= -limits.daily_loss_limit, mtm),
            ("profit_lock", limits.profit_lock_at is not None and self.peak >= limits.profit_lock_at
             and mtm <= limits.profit_lock_keep, mtm),
            ("drawdown", limits.max_drawdown_from_peak is not None
             and self.peak - mtm >= limits.max_drawdown_from_peak, self.peak - mtm),
        ]  # fmt: skip
        for name, crossed, value in checks:
            if crossed and name not in self.tripped:
                self.tripped.add(name)
                self.trips.append((name, value.quantize(Decimal("0.01"))))
                return

    def edges(self, limits: RiskLimits) -> list[Decimal]:
        """The MTMs at which a P&L breaker trips or the peak rises."""
        levels = [self.peak]
        if limits.daily_loss_limit is not None:
            levels.append(-limits.daily_loss_limit)
        if limits.profit_lock_at is not None:
            levels.append(limits.profit_lock_keep)
        if limits.max_drawdown_from_peak is not None:
            levels.append(self.peak - limits.max_drawdown_from_peak)
        return levels

    def paise(self, desk: Desk, ltp_of: dict[int, int] | None = None) -> int:
        """The day's P&L before charges, every held instrument at its last price (or the one
        ``ltp_of`` gives it)."""
        paise = 0
        for token in {int(p.token) for p in desk.positions.all()}:
            tick = desk.quotes.get(InstrumentToken(token))
            if tick is not None and ltp_of and token in ltp_of:
                tick = tick._replace(ltp=ltp_of[token])
            for position in desk.positions.all():
                if int(position.token) != token:
                    continue
                day_open = position.day_buy_quantity - position.day_sell_quantity
                traded = position.day_sell_value - position.day_buy_value
                if tick is None or tick.ltp <= 0:
                    paise += traded if day_open == 0 else 0
                    continue
                paise += traded + day_open * tick.ltp
                carried = position.net_quantity - day_open
                close = previous_close(tick, desk.positions.today)
                if carried and close > 0:
                    paise += carried * (tick.ltp - close)
        return paise

    def price_at_edge(self, desk: Desk, token: int, which: int, off: int) -> int | None:
        """A price of ``token`` putting the total ``off`` paise from the whole-paise edge of one
        of ``edges`` (None when no whole price does)."""
        if desk.quotes.get(InstrumentToken(token)) is None:
            return None
        edges = self.edges(desk.limits)
        target = math.floor((edges[which % len(edges)] + self.charges) * 100) + off
        at_one = self.paise(desk, {token: 1})
        per_paisa = self.paise(desk, {token: 2}) - at_one
        at_zero = at_one - per_paisa  # the line through two prices (0 itself means no price)
        if per_paisa == 0 or (target - at_zero) % per_paisa:
            return None
        ltp = (target - at_zero) // per_paisa
        return ltp if 0 < ltp < 10**9 else None


rupees = st.decimals(min_value=1, max_value=500, places=2).map(Decimal)
maybe_rupees = st.none() | rupees


@st.composite
def limits(draw: st.DrawFn) -> RiskLimits:
    lock_at = draw(maybe_rupees)
    keep = Decimal(0)
    if lock_at is not None:
        keep = draw(st.decimals(min_value=0, max_value=lock_at - Decimal("0.01"), places=2))
    return RiskLimits(
        daily_loss_limit=draw(maybe_rupees),
        profit_lock_at=lock_at,
        profit_lock_keep=keep,
        max_drawdown_from_peak=draw(maybe_rupees),
        underlying_move_pct=None,
    )


event = st.one_of(
    # Prices move from the last one by up to ₹50 (a tick of 0 is a quote without a trade).
    st.tuples(st.just("tick"), st.sampled_from([HELD, OTHER]), st.integers(-5_000, 5_000),
              st.sampled_from([0, 0, 250_000])),
    st.tuples(st.just("fill"), st.sampled_from([HELD, OTHER]), st.sampled_from(list(Side)),
              st.sampled_from([1, 1, 2, 3, 50]), st.integers(-5_000, 5_000),
              st.decimals(min_value=0, max_value=50, places=9).map(Decimal)),
    st.tuples(st.just("wait"), st.sampled_from([1, 60, 3_600, 20 * 3_600])),
    # Ticks aimed at a paisa either side of each edge of the band, six times as often.
    *[st.tuples(st.just("edge"), st.integers(0, 3), st.integers(-1, 1))] * 6,
    st.tuples(st.just("rearm")),
    st.tuples(st.just("limits"), limits()),
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(start=limits(), events=st.lists(event, max_size=60))
def test_breakers_when_ticks_fill_and_days_turn_trip_as_a_full_evaluation_of_each_would(
    start: RiskLimits, events: list[tuple[object, ...]]
) -> None:
    desk = Desk(TestClock(START), start)
    reference = Reference()
    reference.evaluate(desk, start)
    last = {HELD: 100_000, OTHER: 100_000}
    for step in events:
        kind = step[0]
        if kind == "tick":
            _, token, move, close = step
            ltp = last[token] = max(0, last[token] + move)  # type: ignore[index, operator]
            desk.tick(token, ltp, close)  # type: ignore[arg-type]
            if int(token) in {int(p.token) for p in desk.positions.all()}:  # type: ignore[call-overload]
                reference.evaluate(desk, desk.limits)
        elif kind == "fill":
            _, token, side, quantity, move, charges = step
            price = max(5, last[token] + move)  # type: ignore[index, operator]
            desk.fill(token, side, quantity, price, charges)  # type: ignore[arg-type]
            reference.roll(desk)  # a new day starts before the fill's charges count
            reference.charges += Charges(brokerage=charges).total  # type: ignore[arg-type]
            reference.evaluate(desk, desk.limits)
        elif kind == "edge":
            ltp = reference.price_at_edge(desk, HELD, step[1], step[2])  # type: ignore[arg-type]
            if ltp is not None:
                last[HELD] = ltp
                desk.tick(HELD, ltp, desk.quotes.get(InstrumentToken(HELD)).close)  # type: ignore[union-attr]
                reference.evaluate(desk, desk.limits)
        elif kind == "wait":
            desk.clock.advance(step[1])  # type: ignore[arg-type]
        elif kind == "rearm":
            desk.breakers.rearm()
            reference.tripped.clear()
        else:
            desk.limits = step[1]  # type: ignore[assignment]
        assert desk.trips == reference.trips
        assert desk.breakers.mtm == reference.mtm
        assert desk.breakers.peak == reference.peak


def test_underlying_move_when_the_range_is_exactly_the_limit_does_not_trip_and_just_past_it_does():
    limits = RiskLimits(underlying_move_pct=Decimal("2.5"), underlying_move_minutes=5)
    desk = Desk(TestClock(START), limits)
    desk.fill(SPOT, Side.BUY, 1, 2_000_000, Decimal(0))  # the desk holds the index itself
    desk.tick(SPOT, 2_000_000, 0)
    desk.clock.advance(60)
    desk.tick(SPOT, 2_050_000, 0)  # +2.5 % exactly: at the limit, not past it
    assert [name for name, _ in desk.trips] == []
    desk.clock.advance(60)
    desk.tick(SPOT, 2_050_005, 0)  # a paisa and a half past it
    assert desk.trips == [("underlying_move:NIFTY", Decimal("2.50"))]
    desk.clock.advance(600)
    desk.breakers.rearm()
    desk.tick(SPOT, 2_000_000, 0)  # five minutes later the range is this move alone
    assert len(desk.trips) == 1


def test_underlying_move_when_the_desk_is_out_of_the_underlying_does_not_trip():
    limits = RiskLimits(underlying_move_pct=Decimal("1"), underlying_move_minutes=5)
    desk = Desk(TestClock(START), limits)
    desk.tick(SPOT, 2_000_000, 0)
    desk.clock.advance(30)
    desk.tick(SPOT, 2_100_000, 0)
    assert desk.trips == []
    assert desk.breakers.mtm == Decimal(0)


def test_mtm_when_a_held_instrument_ticks_inside_the_band_follows_its_price():
    limits = RiskLimits(daily_loss_limit=Decimal(1_000), underlying_move_pct=None)
    desk = Desk(TestClock(START), limits)
    desk.fill(HELD, Side.BUY, 10, 100_000, Decimal("20.123456"))
    for ltp in (100_500, 99_000, 101_000):
        desk.tick(HELD, ltp, 0)
        assert desk.breakers.mtm == to_rupees(10 * (ltp - 100_000)) - Decimal("20.123456")
    desk.tick(HELD, 90_000, 0)  # ₹1,000 down before charges: past the limit with them
    assert desk.trips == [("daily_loss", Decimal("-1020.12"))]


@pytest.mark.parametrize("off", [-1, 0, 1])
@pytest.mark.parametrize(
    ("which", "limits"),
    [
        (0, RiskLimits(daily_loss_limit=None, underlying_move_pct=None)),  # the peak
        (1, RiskLimits(daily_loss_limit=Decimal("100.37"), underlying_move_pct=None)),
        (2, RiskLimits(daily_loss_limit=None, profit_lock_at=Decimal(30),
                       profit_lock_keep=Decimal("20.5"), underlying_move_pct=None)),
        (3, RiskLimits(daily_loss_limit=None, max_drawdown_from_peak=Decimal("15.55"),
                       underlying_move_pct=None)),
    ],
)  # fmt: skip
def test_breakers_when_a_tick_lands_a_paisa_either_side_of_an_edge_decide_as_the_decimal_rule(
    which: int, limits: RiskLimits, off: int
) -> None:
    desk = Desk(TestClock(START), limits)
    reference = Reference()
    reference.evaluate(desk, limits)
    desk.fill(HELD, Side.BUY, 1, 100_000, Decimal("0.123456789"))
    reference.roll(desk)
    reference.charges += Decimal("0.123456789")
    reference.evaluate(desk, limits)
    for ltp in (104_000, 103_500):  # a peak for the lock and the drawdown, nothing tripped
        desk.tick(HELD, ltp, 0)
        reference.evaluate(desk, limits)
    edges = reference.edges(limits)
    ltp = reference.price_at_edge(desk, HELD, {0: 0, 1: 1, 2: 1, 3: 1}[which], off)
    assert ltp is not None and len(edges) == (1 if which == 0 else 2)
    assert desk.trips == reference.trips == []
    desk.tick(HELD, ltp, 0)
    reference.evaluate(desk, limits)
    assert desk.trips == reference.trips
    assert (desk.breakers.mtm, desk.breakers.peak) == (reference.mtm, reference.peak)


def test_mtm_when_positions_change_before_the_breakers_hear_of_the_fill_reads_the_new_ones():
    # A square-off filled inside a tick's dispatch reaches the book before its fill event
    # reaches the breakers (the bus queues it): that tick is valued on the new positions.
    limits = RiskLimits(daily_loss_limit=None, underlying_move_pct=None)
    desk = Desk(TestClock(START), limits)
    desk.fill(HELD, Side.BUY, 10, 100_000, Decimal(0))
    desk.tick(HELD, 100_100, 0)
    assert desk.breakers.mtm == Decimal(10)
    sold = OrderFilled(
        OrderId("s"), desk.clock.time_ns(), TradeId("u"), InstrumentToken(HELD), Side.SELL,
        Product.CNC, 10, Paise(100_100),
    )  # fmt: skip
    desk.positions.apply(sold)
    desk.tick(HELD, 90_000, 0)  # flat now: the fall costs nothing
    assert desk.breakers.mtm == Decimal(10)


def test_breakers_when_a_new_days_first_tick_comes_before_the_beat_measure_the_new_day() -> None:
    clock = TestClock(datetime(2026, 12, 1, 9, 15, tzinfo=IST))
    desk = Desk(clock, RiskLimits(max_drawdown_from_peak=Decimal(1000)))
    desk.tick(HELD, 100000, 100000)
    desk.fill(HELD, Side.BUY, 10, 100000, Decimal(0))
    clock.set(datetime(2026, 12, 1, 15, 0, tzinfo=IST))
    desk.tick(HELD, 120000, 100000)  # the first day ends +₹2,000
    clock.set(datetime(2026, 12, 2, 9, 15, tzinfo=IST))

    desk.tick(HELD, 120000, 120000)  # the next day's first tick, before the once-a-second roll
    desk.positions.roll(clock.now().date())  # the beat, a moment later
    clock.advance(1)
    desk.tick(HELD, 120000, 120000)  # flat on the day

    assert desk.trips == []  # yesterday's +₹2,000 was never today's peak
