"""The end-of-day report on the real engine, its book in a SQLite file and the schedule on a test
clock: each day's report is that IST trade date's own (orders, fills, charges, day P&L and
positions), on a desk left running overnight and on one restarted days later; its page shows
every symbol as text; and on a running loop the book's performance report is written off the
loop, its failure told to the trader in words."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from engine.api import EngineMessage, OrderType, Product, Side
from engine.core.clock import IST
from engine.domain.marks import money_text
from engine.runtime import Engine
from engine.runtime.day_report import PERFORMANCE_TASK, report_html
from tests.support import run_schedule, tick_stock
from tests.support import schedule_desk as build

MONDAY = datetime(
    2026, 11, 30, 10, 0, tzinfo=IST
)  # a trading day, as are the Tuesday and Wednesday
MONDAY_CLOSE = 156_000
"""RELIANCE's last price on Monday, paise."""


def told(engine: Engine) -> list[str]:
    seen: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: seen.append(f"{m.severity.name}: {m.text}"))
    return seen


def run_until(engine: Engine, end: datetime) -> dict[str, list[str]]:
    """The jobs run until ``end``, per weekday."""
    return run_schedule(engine, end, day="%a")


def reliance_at(engine: Engine, price: int, close: int = 0) -> None:
    """A RELIANCE tick at ``price``, with the previous close the feed gives (0: none)."""
    tick_stock(engine, "RELIANCE", price, close)


def buy_reliance(engine: Engine, quantity: int, product: Product, close: int = 0) -> None:
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    reliance_at(engine, MONDAY_CLOSE - 1_000, close)
    outcome = engine.api.place_order(
        stock.token, Side.BUY, quantity, OrderType.MARKET, product=product
    )
    assert outcome.ok, outcome.reason
    engine.clock.advance(5)


def monday(engine: Engine) -> None:
    """Three paper orders on Monday (10 MIS, 11 and 12 CNC); the 15:15 square-off closes the
    MIS with a fourth, and the 15:45 job writes Monday's report."""
    for quantity, product in ((10, Product.MIS), (11, Product.CNC), (12, Product.CNC)):
        buy_reliance(engine, quantity, product)
    reliance_at(engine, MONDAY_CLOSE)
    ran = run_until(engine, MONDAY.replace(hour=16, minute=5))
    assert "15:15 intraday_square_off" in ran["Mon"] and "15:45 end_of_day_report" in ran["Mon"]


def report_of(tmp_path: Path, day: str) -> dict[str, Any]:
    report = json.loads((tmp_path / "schedule" / "reports" / f"{day}.json").read_text())
    assert isinstance(report, dict)
    return report


def test_day_report_when_the_desk_runs_into_the_next_day_counts_only_that_days_orders_fills_and_pnl(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path, MONDAY)
    try:
        monday(engine)
        monday_report = report_of(tmp_path, "2026-11-30")
        monday_trades = engine.api.trades()
        # On the day the desk is started, the report is the desk's own Day MTM.
        assert monday_report["day_pnl"] == money_text(engine.api.day_pnl())
        assert monday_report["orders"] == 4 and monday_report["fills"] == len(monday_trades) == 4
        assert monday_report["charges"] == money_text(sum(t.charges for t in monday_trades))

        # Left running: on Tuesday the feed gives Monday's close, and one more share is bought.
        run_until(engine, MONDAY + timedelta(days=1))
        buy_reliance(engine, 1, Product.CNC, close=MONDAY_CLOSE)
        reliance_at(engine, 158_000, close=MONDAY_CLOSE)
        tuesday_fill = engine.api.trades()[-1]
        run_until(engine, MONDAY.replace(day=1, month=12, hour=16, minute=5))
        tuesday = report_of(tmp_path, "2026-12-01")
    finally:
        engine.close()

    # 23 carried in from Monday's close to 1,580.00, and the share bought today to 1,580.00.
    carried = 23 * (Decimal("1580.00") - Decimal("1560.00"))
    traded = Decimal("1580.00") - tuesday_fill.price
    assert tuesday["orders"] == 1 and tuesday["fills"] == 1 and tuesday["rejected"] == 0
    assert tuesday["charges"] == money_text(tuesday_fill.charges)
    assert tuesday["positions"] == [
        {
            "instrument": "RELIANCE",
            "product": "CNC",
            "net_quantity": 24,
            "day_pnl": money_text(carried + traded),
            "charges": money_text(tuesday_fill.charges),
        }
    ]  # Monday's MIS, closed on Monday, is not Tuesday's
    assert tuesday["day_pnl"] == money_text(carried + traded - tuesday_fill.charges)


def test_day_report_when_the_desk_restarts_days_later_shows_only_the_held_position_of_that_day(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path, MONDAY)
    try:
        monday(engine)
    finally:
        engine.close()

    wednesday = MONDAY.replace(day=2, month=12, hour=9, minute=0)
    engine = build(tmp_path, wednesday)
    try:
        reliance_at(engine, 157_000, close=156_500)  # no trade on Wednesday
        run_until(engine, wednesday.replace(hour=16, minute=5))
        report = report_of(tmp_path, "2026-12-02")
        shown = next(p for p in engine.api.positions() if p.product is Product.CNC)
    finally:
        engine.close()

    day_pnl = money_text(23 * Decimal("5.00"))  # 23 carried, from 1,565.00 to 1,570.00
    assert report["orders"] == 0 and report["fills"] == 0 and report["charges"] == "0.00"
    assert report["positions"] == [
        {
            "instrument": "RELIANCE",
            "product": "CNC",
            "net_quantity": 23,
            "day_pnl": day_pnl,
            "charges": "0.00",
        }
    ]
    assert report["day_pnl"] == day_pnl
    assert money_text(shown.day_pnl) == day_pnl  # the positions panel's Day P&L says the same


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self.tags: set[str] = set()
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)
        self._in_cell = tag == "td"

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)


def test_report_html_when_symbols_carry_ampersands_or_markup_shows_each_as_text() -> None:
    symbols = ["COX&KINGS", "M&M", "ABC&lt;X", "<img src=x onerror=alert(1)>"]
    rows = [
        {"instrument": s, "product": "MIS", "net_quantity": 0, "day_pnl": "1.00", "charges": "0"}
        for s in symbols
    ]
    report = {"day": "2026-12-04", "day_pnl": "1.00", "charges": "0", "orders": 0, "fills": 0}
    page = report_html({**report, "rejected": 0, "positions": rows})

    cells = _Cells()
    cells.feed(page)
    assert cells.cells[::5] == symbols  # each symbol's cell reads as the symbol itself
    assert cells.tags == {"meta", "title", "h1", "p", "table", "tr", "th", "td"}
    assert "COX&amp;KINGS" in page and "&lt;img" in page


def test_report_html_shows_money_to_the_paisa_as_the_mails_text_does() -> None:
    # The JSON keeps every digit of a charge (fractions of a paisa until a contract note
    # rounds them); the page a mail program shows says them as a statement does.
    row = {"instrument": "RELIANCE", "product": "CNC", "net_quantity": 0}
    row |= {"day_pnl": "99.00000000000", "charges": "16.53761660000"}
    report = {"day": "2026-12-04", "day_pnl": "82.46238340000", "charges": "16.53761660000"}
    page = report_html({**report, "orders": 2, "fills": 2, "rejected": 0, "positions": [row]})

    cells = _Cells()
    cells.feed(page)
    assert cells.cells == ["RELIANCE", "CNC", "0", "99.00", "16.54"]
    assert "Day P&amp;L (net of the day's charges) ₹82.46; charges ₹16.54;" in page
    assert "6237" not in page and "3834" not in page


async def test_end_of_day_report_when_the_loop_runs_writes_the_performance_report_off_the_loop(
    tmp_path: Path,
) -> None:
    start = datetime(2026, 12, 4, 15, 0, tzinfo=IST)
    engine = build(tmp_path, start)
    messages = told(engine)
    reports = tmp_path / "schedule" / "reports"
    performance = reports / "2026-12-04-performance.html"
    try:
        buy_reliance(engine, 10, Product.CNC)
        reliance_at(engine, MONDAY_CLOSE)
        engine.clock.set(start.replace(minute=45))
        assert engine.schedule is not None
        assert engine.schedule.tick(engine.clock.now()) == ["end_of_day_report"]
        # The day's files are there when the job returns; the book's report is not yet.
        assert (reports / "2026-12-04.json").exists() and (reports / "2026-12-04.html").exists()
        assert not performance.exists()
        writing = [t for t in asyncio.all_tasks() if t.get_name() == PERFORMANCE_TASK]
        assert len(writing) == 1
        await asyncio.wait_for(writing[0], 60)
    finally:
        engine.close()

    assert "DalalDesk performance — desk" in performance.read_text(encoding="utf-8")
    assert f"INFO: Performance report of 2026-12-04 saved as {performance}" in messages
    assert any(
        m.startswith("INFO: End-of-day report: day P&L ₹")
        and m.endswith(f"the book's performance report is being written to {performance}")
        for m in messages
    )


async def test_end_of_day_report_when_the_performance_report_cannot_be_written_tells_the_trader(
    tmp_path: Path,
) -> None:
    start = datetime(2026, 12, 4, 15, 0, tzinfo=IST)
    engine = build(tmp_path, start)
    messages = told(engine)
    reports = tmp_path / "schedule" / "reports"
    (reports / "2026-12-04-performance.html").mkdir(parents=True)  # a folder where the file goes
    try:
        buy_reliance(engine, 10, Product.CNC)
        engine.clock.set(start.replace(minute=45))
        assert engine.schedule is not None
        engine.schedule.tick(engine.clock.now())
        writing = [t for t in asyncio.all_tasks() if t.get_name() == PERFORMANCE_TASK]
        assert len(writing) == 1
        await asyncio.wait_for(writing[0], 60)
        assert not writing[0].cancelled() and writing[0].exception() is None
    finally:
        engine.close()

    assert (reports / "2026-12-04.json").exists()  # the day's report stands, and is mailed
    warned = [m for m in messages if m.startswith("WARNING: Performance report of 2026-12-04")]
    assert len(warned) == 1
    assert warned[0].startswith(
        "WARNING: Performance report of 2026-12-04 not written: the report could not be written "
        f"to {reports / '2026-12-04-performance.html'}"
    )
    assert "Traceback" not in warned[0]
