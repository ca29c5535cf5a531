"""The Trades panel on a book that spans days and grows by the fill: the trading day by default
(every day on request, each fill then with its date), totals of what is shown, new fills read
and placed alone (not the whole book again), and exports written off the desk's loop."""

from __future__ import annotations

import asyncio
import csv
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt

import ui.panels.trades as trades_module
from engine.api import EngineMessage
from engine.domain.events import Severity
from engine.runtime import Engine
from tests.ui.conftest import MONDAY_10AM, WEDNESDAY_10AM, buy
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.models.table import ROW_ROLE
from ui.panels.trades import TradesPanel
from ui.theme import ThemeHolder


def panel_on(qtbot, engine: Engine) -> tuple[TradesPanel, EngineBridge]:  # type: ignore[no-untyped-def]
    bridge = EngineBridge(engine.api, frame_ms=20)
    context = PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1200, 300)
    return panel, bridge


def test_trades_when_the_book_holds_earlier_days_shows_the_trading_day_and_its_totals(
    qtbot, wednesday, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    panel, bridge = panel_on(qtbot, wednesday)
    try:
        buy(wednesday, "INFY", 3)
        qtbot.waitUntil(lambda: len(panel.visible_rows()) == 1)
        today = panel.visible_rows()[0]
        assert (today.symbol, today.quantity, today.time.date()) == (
            "INFY",
            3,
            WEDNESDAY_10AM.date(),
        )
        assert panel.scope == "today" and panel.day == WEDNESDAY_10AM.date()
        assert panel.totals.count == 1 and panel.totals.bought == today.value
        assert "1 trade on 25 Nov 2026" in panel.totals_label.text()
        assert panel.export_name("csv") == "trades-2026-11-25.csv"
        path = tmp_path / panel.export_name("csv")
        assert panel.export_to(path) == 1
        with path.open(newline="", encoding="utf-8") as f:
            assert [r["Symbol"] for r in csv.DictReader(f)] == ["INFY"]
        # Today's fill shows its time alone: nothing else is shown beside it.
        row = panel.model.row_of(today.trade_id)
        assert panel.model.index(row, 0).data() == today.time.strftime("%H:%M:%S")
    finally:
        bridge.stop()


def test_trades_when_every_day_is_chosen_shows_each_fill_with_its_date_and_counts_them_all(
    qtbot, wednesday
) -> None:  # type: ignore[no-untyped-def]
    panel, bridge = panel_on(qtbot, wednesday)
    try:
        buy(wednesday, "INFY", 3)
        qtbot.waitUntil(lambda: panel.totals.count == 1)
        panel.days.setCurrentIndex(panel.days.findData("all"))  # as the trader picks it
        rows = panel.visible_rows()
        assert [r.symbol for r in rows] == ["INFY", "RELIANCE"]  # newest first
        assert panel.totals.count == 2
        assert panel.totals.bought == sum((r.value for r in rows), Decimal(0))
        assert "2 trades on every day" in panel.totals_label.text()
        shown = [panel.model.index(panel.model.row_of(r.trade_id), 0).data() for r in rows]
        assert shown == [f"{r.time:%d %b %H:%M:%S}" for r in rows]
        assert shown[1].startswith("23 Nov ")
        assert panel.export_name("xlsx") == "trades-all-days-to-2026-11-25.xlsx"
        panel.set_scope("today")
        assert [r.symbol for r in panel.visible_rows()] == ["INFY"]
        assert panel.totals.count == 1
    finally:
        bridge.stop()


def test_trades_when_the_desk_runs_past_midnight_shows_the_new_day(
    qtbot, engine, market, context
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    buy(engine, "RELIANCE", 5)
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    assert panel.totals.count == 1
    engine.clock.advance(timedelta(days=1).total_seconds())
    panel._check_day()  # what its day timer runs
    assert panel.day == MONDAY_10AM.date() + timedelta(days=1)
    assert panel.visible_rows() == [] and panel.totals.count == 0


def test_trades_performance_when_fills_arrive_reads_and_builds_only_the_new_fills(
    qtbot, engine, market, context, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    for quantity in (1, 2, 3):
        buy(engine, "RELIANCE", quantity)
    asked: list[tuple[Any, ...]] = []
    read = engine.api.trades

    def trades(*args: Any) -> Any:
        asked.append(args)
        return read(*args)

    monkeypatch.setattr(engine.api, "trades", trades)
    built: list[str] = []
    make_row = trades_module.trade_row

    def trade_row(trade: Any) -> Any:
        built.append(trade.trade_id)
        return make_row(trade)

    monkeypatch.setattr(trades_module, "trade_row", trade_row)
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    assert len(built) == 3
    built.clear()
    buy(engine, "INFY", 4)
    qtbot.waitUntil(lambda: panel.totals.count == 4)
    assert asked[-1] == (3,)  # the fills after the three it holds
    assert len(built) == 1  # only the new fill became a row
    newest = engine.api.trades()[-1]
    assert panel.visible_rows()[0].trade_id == newest.trade_id  # on top: Time, newest first
    assert panel.totals.bought == sum(
        (t.price * t.quantity for t in engine.api.trades()), Decimal(0)
    )
    assert panel.totals.charges == sum((t.charges for t in engine.api.trades()), Decimal(0))


def test_trades_when_sorted_by_price_places_each_new_fill_by_its_price(
    qtbot, engine, market, context
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    buy(engine, "RELIANCE", 1)
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    price = [c.title for c in panel.model.columns].index("Price")
    panel.view.sortByColumn(price, Qt.SortOrder.AscendingOrder)
    for symbol in ("INFY", "TCS", "HDFCBANK", "RELIANCE", "INFY"):
        buy(engine, symbol, 1)
    qtbot.waitUntil(lambda: panel.totals.count == 6)
    prices = [r.price for r in panel.visible_rows()]
    assert prices == sorted(prices) and len(set(prices)) > 2
    view_order = [
        panel.proxy.index(r, 0).data(ROW_ROLE).trade_id for r in range(panel.proxy.rowCount())
    ]
    assert view_order == [r.trade_id for r in panel.visible_rows()]  # the view shows that order
    panel.view.sortByColumn(price, Qt.SortOrder.DescendingOrder)
    assert [r.price for r in panel.visible_rows()] == sorted(prices, reverse=True)


def test_trades_export_when_the_desk_loop_runs_is_written_on_a_worker_and_says_when_done(
    qtbot, qloop, engine, market, context, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    buy(engine, "RELIANCE", 2)
    buy(engine, "INFY", 1)
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    writers: list[threading.Thread] = []
    write = trades_module.write_table

    def write_table(*args: Any) -> int:
        writers.append(threading.current_thread())
        return write(*args)

    monkeypatch.setattr(trades_module, "write_table", write_table)
    told: list[EngineMessage] = []
    engine.api.subscribe(EngineMessage, told.append)
    path = tmp_path / "trades.xlsx"
    missing = tmp_path / "no such folder" / "trades.csv"

    async def scenario() -> tuple[str, str, str]:
        panel._export_chosen(str(path))  # what the export dialog calls with the chosen file
        asked = panel.feedback.text()
        assert not path.exists()  # not written on the loop, inside the call
        while panel._exports:
            await asyncio.sleep(0.01)
        done = panel.feedback.text()
        panel._export_chosen(str(missing))
        while panel._exports:
            await asyncio.sleep(0.01)
        return asked, done, panel.feedback.text()

    asked, done, failed = qloop(scenario())
    assert asked == "Exporting 2 trades to trades.xlsx…"
    assert done == "Exported 2 trades to trades.xlsx" and path.stat().st_size > 0
    assert writers and all(t is not threading.main_thread() for t in writers)
    assert failed.startswith("Export failed: ") and str(missing) in failed
    warnings = [m for m in told if m.severity is Severity.WARNING and m.source == "trades"]
    assert len(warnings) == 1 and str(missing) in warnings[0].text
