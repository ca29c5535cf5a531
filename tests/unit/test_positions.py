"""The position book: average cost, realised and unrealised P&L, reversals, day and overnight."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from engine.core.clock import IST
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.orders import Product, Side
from engine.domain.positions import PositionBook
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
