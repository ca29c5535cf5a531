"""Reconciliation against any live broker: a book keeper defined here (not Kite) is read, its
reports applied, and what differs is told to the trader in its own name."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from engine.brokers.base import BrokerError, SessionEnded
from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId
from engine.domain.orders import OrderStatus, OrderType, Product, Side
from engine.domain.positions import Position
from engine.domain.reports import BrokerBook, OrderReport, PositionReport, TradeReport
from engine.oms.reconcile import BookKeeper, Reconciler

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def order_report(broker_id: str, tag: str | None) -> OrderReport:
    return OrderReport(
        broker_order_id=BrokerOrderId(broker_id),
        broker_status="COMPLETE",
        status=OrderStatus.COMPLETE,
        tag=tag,
        token=InstrumentToken(11),
        exchange="NSE",
        tradingsymbol="TOY",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        product="MIS",
        variety="regular",
        quantity=10,
        filled_quantity=10,
        pending_quantity=0,
        cancelled_quantity=0,
        price=0,
        trigger_price=0,
        average_price=10_000,
        exchange_order_id=None,
        message="",
        order_timestamp=NOW,
        exchange_update_timestamp=NOW,
    )


class ToyBooks:
    title = "Toy"

    def __init__(self, book: BrokerBook | Exception) -> None:
        self.book = book
        self.applied: list[tuple[str, int]] = []
        self.fills = 0
        self.after: list[BrokerBook] = []

    async def read_book(self) -> BrokerBook:
        if isinstance(self.book, Exception):
            raise self.book
        return self.book

    async def apply_report(
        self, report: OrderReport, trades: list[TradeReport] | None = None
    ) -> OrderId | None:
        self.applied.append((report.broker_order_id, len(trades or [])))
        self.fills += len(trades or [])
        return OrderId(report.tag) if report.tag else None

    def resolve_missing(self, at_broker: set[str]) -> list[OrderId]:
        return [] if "D1" in at_broker else [OrderId("D1")]

    def booked(self) -> tuple[int, int]:
        return self.fills, 0

    def book_applied(self, book: BrokerBook) -> None:
        self.after.append(book)


def reconciler(books: ToyBooks, positions: list[Position], said: list[object]) -> Reconciler:
    assert isinstance(books, BookKeeper)
    return Reconciler(
        books,
        orders=lambda: [],
        positions=lambda: positions,
        instruments=lambda _token: None,
        publish=said.append,
        clock=TestClock(NOW),
    )


async def test_reconcile_when_a_broker_reports_applies_its_orders_and_names_what_differs() -> None:
    trade = TradeReport(
        "T1", BrokerOrderId("B1"), InstrumentToken(11), Side.BUY, "MIS", 10, 10_000, NOW
    )
    book = BrokerBook(
        [order_report("B1", "D1")],
        [trade],
        [PositionReport(InstrumentToken(11), "MIS", 10, "NSE:TOY")],
        available_cash=Decimal("1000.50"),
    )
    books = ToyBooks(book)
    said: list[object] = []
    ours = Position(InstrumentToken(11), Product.MIS)
    report = await reconciler(books, [ours], said).reconcile("login")
    assert books.applied == [("B1", 1)] and books.after == [book]
    assert report.fills_booked == 1 and report.settled == ()
    assert report.position_differences == ("NSE:TOY MIS: Toy +10, DalalDesk +0",)
    texts = [m.text for m in said if isinstance(m, EngineMessage)]
    assert any(t.startswith("positions differ from Toy's") for t in texts)
    assert any("reconciled with Toy (login): 1 orders, 1 new fills" in t for t in texts)
    assert all(m.source == "toy" for m in said if isinstance(m, EngineMessage))


async def test_reconcile_when_the_broker_cannot_be_read_tells_the_trader_and_raises() -> None:
    said: list[object] = []
    books = ToyBooks(BrokerError("gateway timeout"))
    with pytest.raises(BrokerError):
        await reconciler(books, [], said).reconcile("reconnect")
    [message] = said
    assert isinstance(message, EngineMessage)
    assert message.text == "could not reconcile with Toy (reconnect): gateway timeout"
    ended = reconciler(ToyBooks(SessionEnded("logged out")), [], [])
    ended.request("login")
    await ended.wait_idle()  # a session that ended waits for the next login, no retries
    assert ended.runs == 0 and ended.failures == 1


async def test_reconcile_when_some_rows_cannot_be_read_leaves_doubts_in_doubt() -> None:
    # The toy settles D1 as never placed whenever its book does not show it.
    torn = BrokerBook([], [], [], unreadable=1)
    said: list[object] = []
    report = await reconciler(ToyBooks(torn), [], said).reconcile("timer")
    assert report.settled == (), "a row that could not be read may be D1, live at the broker"
    texts = [m.text for m in said if isinstance(m, EngineMessage)]
    assert any(
        t.startswith("reconciliation skipped 1 Toy rows it could not read")
        and t.endswith("stays in doubt until the book reads whole")
        for t in texts
    ), texts
    whole = await reconciler(ToyBooks(BrokerBook([], [], [])), [], []).reconcile("timer")
    assert whole.settled == (OrderId("D1"),)
