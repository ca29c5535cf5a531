"""P&L marks: the journal row's format, the P&L at a set of marks, and the rebuild from rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from engine.core.clock import IST
from engine.domain.events import OrderFilled, OrderSubmitted
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.marks import (
    SESSION_END,
    Mark,
    MarksMismatch,
    PnlMarks,
    book_pnl,
    marks_of,
    money_text,
)
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.positions import PositionBook
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.store import open_database
from engine.store.codec import decode_payload, encode_payload
from engine.store.pnl_rebuild import NoMarks, read_sqlite_book, rebuild_pnl

TODAY = date(2026, 11, 23)
TS = int(datetime(2026, 11, 23, 10, 0, tzinfo=IST).timestamp()) * 10**9
FUT = InstrumentToken(12073986)
OPT = InstrumentToken(9060866)


def _tick(token: InstrumentToken, ltp: int, close: int = 0) -> Tick:
    return Tick(token, ltp, ltp - 5, ltp + 5, 1, 1, 0, 0, TS, close=close)


def _fills() -> list[OrderFilled]:
    def fill(n: int, token: InstrumentToken, side: Side, quantity: int, price: int) -> OrderFilled:
        return OrderFilled(
            OrderId(f"O{n}"), TS + n, TradeId(f"T{n}"), token, side, Product.NRML, quantity,
            Paise(price),
        )  # fmt: skip

    return [
        fill(1, FUT, Side.BUY, 1, 10000),
        fill(2, FUT, Side.BUY, 2, 10001),
        fill(3, FUT, Side.SELL, 1, 10100),  # realises 99.33... paise
        fill(4, OPT, Side.SELL, 65, 4020),
        fill(5, OPT, Side.BUY, 65, 3990),  # flat
    ]


def _book() -> PositionBook:
    book = PositionBook(TODAY)
    for fill in _fills():
        book.apply(fill)
    return book


def test_pnl_marks_when_journaled_and_read_back_are_the_same_marks() -> None:
    marks = PnlMarks(
        TS,
        SESSION_END,
        TODAY,
        (
            Mark(FUT, Product.NRML, 2, Paise(10150), Paise(10050), "NIFTY26NOVFUT"),
            Mark(OPT, Product.MIS, 0, None, None),
        ),
    )
    payload = decode_payload(encode_payload(marks.to_payload()))
    assert payload["marks"][0] == {
        "token": 12073986,
        "product": "NRML",
        "symbol": "NIFTY26NOVFUT",
        "net_quantity": 2,
        "ltp": 10150,
        "close": 10050,
    }
    assert PnlMarks.from_payload(TS, payload) == marks


def test_pnl_marks_when_a_price_is_not_an_integer_refuses_the_row() -> None:
    payload = PnlMarks(TS, SESSION_END, TODAY, (Mark(FUT, Product.NRML, 1, Paise(1), None),))
    bad = payload.to_payload()
    bad["marks"][0]["ltp"] = "101.50"
    with pytest.raises(TypeError, match="ltp"):
        PnlMarks.from_payload(TS, bad)


def test_book_pnl_when_marked_adds_up_exactly_per_position_and_in_total() -> None:
    book = _book()
    quotes = {FUT: _tick(FUT, 10150, close=10050), OPT: _tick(OPT, 4100)}
    marks = marks_of(book.all(), quotes.get, ts_ns=TS, reason=SESSION_END, trade_date=TODAY)
    pnl = book_pnl(book.all(), marks)
    fut, opt = pnl.positions
    assert fut.realised == Decimal("0.99")  # 101.00 - 100.00666..., to the paisa
    assert fut.pnl == Decimal("101.00") - Decimal("300.02") + 2 * Decimal("101.50")
    assert fut.realised + fut.unrealised == fut.pnl
    assert opt.net_quantity == 0 and opt.unrealised == 0
    assert opt.realised == 65 * Decimal("0.30")
    assert pnl.pnl == fut.pnl + opt.pnl
    assert pnl.totals()["pnl"] == "23.48"
    # Printed (the headless summary) in one unit: rupees, the last price too.
    assert fut.to_json()["ltp"] == "101.50" and fut.to_json()["pnl"] == money_text(fut.pnl)


def test_book_pnl_when_an_open_position_has_no_price_counts_only_its_realised() -> None:
    book = _book()
    marks = marks_of(book.all(), {}.get, ts_ns=TS, reason=SESSION_END, trade_date=TODAY)
    fut, opt = book_pnl(book.all(), marks).positions
    assert fut.ltp is None
    assert (fut.pnl, fut.unrealised, fut.day_pnl) == (fut.realised, 0, fut.realised)
    assert opt.pnl == opt.realised == Decimal("19.50")


def test_book_pnl_when_marks_disagree_with_the_fills_refuses() -> None:
    book = _book()
    marks = PnlMarks(TS, SESSION_END, TODAY, (Mark(FUT, Product.NRML, 3, Paise(1), None),))
    with pytest.raises(MarksMismatch):
        book_pnl(book.all(), marks)


def test_money_text_when_whole_paise_shows_two_decimals_else_every_digit() -> None:
    assert money_text(Decimal("-58.5")) == "-58.50"
    assert money_text(Decimal(0)) == "0.00"
    assert money_text(Decimal("26.81181963700")) == "26.81181963700"


def _submitted(fill: OrderFilled) -> OrderSubmitted:
    request = OrderRequest(fill.token, fill.side, fill.quantity, OrderType.MARKET, fill.product)
    return OrderSubmitted(fill.order_id, fill.ts_ns - 1, request)


def test_rebuild_when_read_from_the_book_file_gives_the_pnl_stated_at_each_marks_row(
    tmp_path,
) -> None:
    book, quotes = PositionBook(TODAY), {FUT: _tick(FUT, 10150), OPT: _tick(OPT, 4100)}
    stated: dict[int, dict[str, str]] = {}
    with open_database(f"sqlite:///{tmp_path / 'book.db'}") as database:
        journal = database.journal
        for n, fill in enumerate(_fills()):
            submitted = _submitted(fill)
            journal.append(submitted.kind, submitted.to_payload(), order_id=fill.order_id, ts_ns=1)
            journal.append(fill.kind, fill.to_payload(), order_id=fill.order_id, ts_ns=fill.ts_ns)
            journal.append(fill.kind, fill.to_payload(), order_id=fill.order_id, ts_ns=fill.ts_ns)
            book.apply(fill)  # the second copy is a duplicate: the order refuses it
            if n in (2, 4):
                marks = marks_of(book.all(), quotes.get, ts_ns=TS, reason="t", trade_date=TODAY)
                seq = journal.append(marks.kind, marks.to_payload(), order_id=None, ts_ns=TS)
                stated[seq] = book_pnl(book.all(), marks).totals()
    rows = read_sqlite_book(tmp_path / "book.db")
    assert len(stated) == 2
    for seq, totals in stated.items():
        assert rebuild_pnl(rows.entries, seq).book.totals() == totals
    assert rebuild_pnl(rows.entries).marks_seq == max(stated)
    with pytest.raises(NoMarks):
        rebuild_pnl(rows.entries, marks_seq=1)
