"""The position book: average cost, realised and unrealised P&L, reversals, day and overnight."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.clock import IST
from engine.domain.charges import Charges
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.orders import Product, Side
from engine.domain.positions import PositionBook, paise_half_up
from engine.domain.values import Paise

TOKEN = InstrumentToken(12073986)
TODAY = date(2026, 11, 23)
TODAY_NS = int(datetime(2026, 11, 23, 10, 0, tzinfo=IST).timestamp()) * 10**9
YESTERDAY_NS = TODAY_NS - 3 * 86400 * 10**9

_count = iter(range(10**6))


def fill(side: Side, quantity: int, price: int, ts: int = TODAY_NS) -> OrderFilled:
    n = next(_count)
    return OrderFilled(
        OrderId(f"O{n}"), ts, TradeId(f"T{n}"), TOKEN, side, Product.NRML, quantity, Paise(price)
    )


def test_position_when_added_to_keeps_weighted_average_price() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 65, 10000))
    position = book.apply(fill(Side.BUY, 130, 10300))
    assert position.net_quantity == 195
    assert position.average_price == Decimal(102)  # (65 x 100 + 130 x 103) / 195
    assert position.unrealised(10500) == Decimal(195 * 3)


def test_position_when_partly_closed_realises_against_average_cost() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 130, 10000))
    position = book.apply(fill(Side.SELL, 65, 12000))
    assert position.net_quantity == 65
    assert position.realised == Decimal(1300)
    assert position.average_price == Decimal(100)
    assert position.pnl(11000) == Decimal(1300 + 650)


def test_position_when_reversed_through_flat_opens_the_rest_at_the_fill_price() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 65, 10000))
    position = book.apply(fill(Side.SELL, 195, 11000))
    assert position.net_quantity == -130
    assert position.realised == Decimal(650)
    assert position.average_price == Decimal(110)
    assert position.unrealised(10000) == Decimal(1300)


def test_position_when_short_and_covered_lower_makes_money() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.SELL, 65, 20000))
    position = book.apply(fill(Side.BUY, 65, 15000))
    assert position.net_quantity == 0
    assert position.realised == Decimal(65 * 50)
    assert position.pnl(1) == position.realised


def test_position_when_carried_overnight_splits_day_and_overnight_quantities() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 130, 10000, ts=YESTERDAY_NS))
    position = book.apply(fill(Side.SELL, 65, 10500))
    assert position.overnight_quantity == 130
    assert (position.day_buy_quantity, position.day_sell_quantity) == (0, 65)
    # Overnight 130 marked from the previous close 102, plus the 65 sold today at 105.
    assert position.day_pnl(10400, previous_close=10200) == Decimal(130 * 2 + 65 * 1)


def test_position_book_when_fills_are_replayed_is_identical_to_the_live_one() -> None:
    fills = [
        fill(Side.BUY, 65, 10005),
        fill(Side.BUY, 130, 10110),
        fill(Side.SELL, 260, 10235),
        fill(Side.BUY, 65, 9995),
        fill(Side.SELL, 65, 10400),
    ]
    live, replayed = PositionBook(TODAY), PositionBook(TODAY)
    for f in fills:
        live.apply(f)
    for f in fills:
        replayed.apply(f)
    assert live.all() == replayed.all()


def test_position_when_flat_after_uneven_fills_has_exactly_zero_unrealised() -> None:
    # Three buys whose average (100.0066...) has no finite decimal form, sold in two pieces.
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 1, 10000))
    book.apply(fill(Side.BUY, 1, 10001))
    book.apply(fill(Side.BUY, 1, 10001))
    book.apply(fill(Side.SELL, 1, 10100))
    position = book.apply(fill(Side.SELL, 2, 10003))
    assert position.net_quantity == 0
    assert position.unrealised(10500) == 0
    assert position.unrealised_paise(10500) == 0
    assert str(position.unrealised(10500)) == "0.00"
    assert position.realised_paise == 10100 + 2 * 10003 - (10000 + 10001 + 10001)
    assert position.realised == Decimal("1.04")
    assert position.average_price == 0


def test_position_when_average_has_no_finite_decimal_keeps_it_exactly() -> None:
    book = PositionBook(TODAY)
    book.apply(fill(Side.BUY, 1, 10000))
    book.apply(fill(Side.BUY, 2, 10001))
    position = book.apply(fill(Side.SELL, 1, 10100))
    assert position.average_price_paise == Fraction(30002, 3)
    assert position.open_cost == Fraction(2 * 30002, 3)
    assert position.realised_paise == Fraction(10100) - Fraction(30002, 3)  # 99.33... paise
    assert position.realised == Decimal("0.99")
    # The shown realised and unrealised add up to the total, to the paisa.
    assert position.realised + position.unrealised(10200) == position.pnl(10200)


def test_paise_half_up_when_exactly_half_rounds_away_from_zero() -> None:
    assert paise_half_up(Fraction(5, 2)) == 3
    assert paise_half_up(Fraction(-5, 2)) == -3
    assert paise_half_up(Fraction(7, 3)) == 2
    assert paise_half_up(Fraction(-8, 3)) == -3
    assert paise_half_up(Fraction(4)) == 4


_fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=5000),
        st.integers(min_value=5, max_value=5_000_000),  # 0.05 to 50,000.00 rupees
    ),
    min_size=1,
    max_size=30,
)


def _cash_flow(fills: list[tuple[Side, int, int]]) -> int:
    """Sell value less buy value, paise."""
    return sum(-side.sign * quantity * price for side, quantity, price in fills)


@settings(max_examples=300, deadline=None)
@given(fills=_fills, mark=st.integers(min_value=5, max_value=5_000_000))
def test_position_for_any_fills_realised_plus_unrealised_is_cash_flow_plus_mark(
    fills: list[tuple[Side, int, int]], mark: int
) -> None:
    book = PositionBook(TODAY)
    position = None
    for side, quantity, price in fills:
        position = book.apply(fill(side, quantity, price))
    assert position is not None
    net = sum(side.sign * quantity for side, quantity, _ in fills)
    assert position.net_quantity == net
    exact_total = _cash_flow(fills) + net * mark  # paise
    assert position.realised_paise + position.unrealised_paise(mark) == exact_total
    assert position.realised + position.unrealised(mark) == Decimal(exact_total) / 100
    assert position.average_price_paise * abs(net) == position.open_cost


@settings(max_examples=300, deadline=None)
@given(fills=_fills, mark=st.integers(min_value=5, max_value=5_000_000))
def test_position_for_any_fills_that_end_flat_realises_exactly_the_cash_flow(
    fills: list[tuple[Side, int, int]], mark: int
) -> None:
    net = sum(side.sign * quantity for side, quantity, _ in fills)
    if net:  # close it with one more fill, at any price
        side = Side.SELL if net > 0 else Side.BUY
        fills = [*fills, (side, abs(net), fills[-1][2])]
    book = PositionBook(TODAY)
    for side, quantity, price in fills:
        position = book.apply(fill(side, quantity, price))
    assert position.net_quantity == 0
    assert position.unrealised_paise(mark) == 0
    assert position.unrealised(mark) == 0
    assert position.open_cost == 0
    assert position.realised_paise == _cash_flow(fills)
    assert position.realised == Decimal(_cash_flow(fills)) / 100
    assert position.pnl(mark) == position.realised


@settings(max_examples=100, deadline=None)
@given(fills=_fills)
def test_position_for_any_fills_replayed_is_identical_to_the_live_one(
    fills: list[tuple[Side, int, int]],
) -> None:
    events = [fill(side, quantity, price) for side, quantity, price in fills]
    live, replayed = PositionBook(TODAY), PositionBook(TODAY)
    for event in events:
        live.apply(event)
    for event in events:
        replayed.apply(event)
    assert live.all() == replayed.all()


def test_position_book_when_a_new_days_fill_comes_before_the_roll_counts_it_as_that_days() -> None:
    def fill(at: datetime, price: int) -> OrderFilled:
        return OrderFilled(
            OrderId("o"),
            int(at.timestamp()) * 10**9,
            TradeId(f"t{price}"),
            InstrumentToken(1),
            Side.BUY,
            Product.NRML,
            10,
            Paise(price),
            Charges(brokerage=Decimal(20)),
        )

    first = fill(datetime(2026, 12, 1, 10, 0, tzinfo=IST), 100000)
    second = fill(datetime(2026, 12, 2, 9, 15, tzinfo=IST), 110000)  # before the beat's roll
    live = PositionBook(date(2026, 12, 1))
    live.apply(first)
    live.apply(second)
    live.roll(date(2026, 12, 2))  # the beat, a moment later: already rolled
    rebuilt = PositionBook(date(2026, 12, 2))  # the book as the P&L rebuild builds it
    rebuilt.apply(first)
    rebuilt.apply(second)

    (held,), (again,) = live.all(), rebuilt.all()
    assert (
        (held.day_pnl(110000, 105000), held.day_charges)
        == (
            again.day_pnl(110000, 105000),
            again.day_charges,
        )
        == (Decimal("500.00"), Decimal(20))
    )
