"""The orderbook on a book that spans days: the trading day by default (and any order still
working from an earlier day), every day on request with each order's date, and a desk left running
past midnight turning to the new day. The model holds only the days shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.domain.orders import OrderStatus
from engine.runtime import Engine
from tests.ui.conftest import MONDAY_10AM, WEDNESDAY_10AM, buy
from ui.bridge import EngineBridge
from ui.context import PanelContext
from ui.panels.orderbook import OrderbookPanel
from ui.theme import ThemeHolder


def panel_on(qtbot, engine: Engine) -> tuple[OrderbookPanel, EngineBridge]:  # type: ignore[no-untyped-def]
    bridge = EngineBridge(engine.api, frame_ms=20)
    context = PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    panel = OrderbookPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1400, 300)
    return panel, bridge


def tab_texts(panel: OrderbookPanel) -> list[str]:
    return [panel.tabs.tabText(i) for i in range(panel.tabs.count())]


def time_cell(panel: OrderbookPanel, order_id: str) -> str:
    return panel.model.index(panel.model.row_of(order_id), 0).data()


def test_orderbook_when_the_book_holds_earlier_days_shows_the_trading_day_only(
    qtbot, wednesday
) -> None:  # type: ignore[no-untyped-def]
    panel, bridge = panel_on(qtbot, wednesday)
    try:
        buy(wednesday, "INFY", 3)
        qtbot.waitUntil(lambda: len(panel.visible_rows()) == 1)
        (today,) = panel.visible_rows()
        assert (today.symbol, today.status) == ("INFY", OrderStatus.COMPLETE)
        assert panel.scope == "today" and panel.day == WEDNESDAY_10AM.date()
        assert panel.model.rowCount() == 1  # Monday's order is not in the model at all
        assert tab_texts(panel) == ["Open (0)", "Executed (1)", "Rejected (0)", "All (1)"]
        assert time_cell(panel, today.order_id) == today.placed.strftime("%H:%M:%S")
        assert panel.export_name("csv") == "orders-all-2026-11-25.csv"
    finally:
        bridge.stop()


def test_orderbook_when_every_day_is_chosen_shows_each_order_with_its_date(
    qtbot, wednesday, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    panel, bridge = panel_on(qtbot, wednesday)
    try:
        buy(wednesday, "INFY", 3)
        qtbot.waitUntil(lambda: len(panel.visible_rows()) == 1)
        panel.days.setCurrentIndex(panel.days.findData("all"))  # as the trader picks it
        rows = panel.visible_rows()
        assert [r.symbol for r in rows] == ["INFY", "RELIANCE"]  # newest first
        assert tab_texts(panel) == ["Open (0)", "Executed (2)", "Rejected (0)", "All (2)"]
        assert [time_cell(panel, r.order_id) for r in rows] == [
            f"{r.placed:%d %b %H:%M:%S}" for r in rows
        ]
        assert time_cell(panel, rows[1].order_id).startswith("23 Nov ")
        assert panel.export_name("xlsx") == "orders-all-all-days-to-2026-11-25.xlsx"
        assert panel.export_to(tmp_path / "all.csv") == 2
        panel.set_scope("today")
        assert [r.symbol for r in panel.visible_rows()] == ["INFY"]
        with pytest.raises(ValueError, match="'today' or 'all'"):
            panel.set_scope("yesterday")
    finally:
        bridge.stop()


def test_orderbook_when_the_desk_runs_past_midnight_turns_to_the_new_day_and_keeps_working_orders(
    qtbot, engine, market, context
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    buy(engine, "RELIANCE", 5)
    token = next(i.token for i in engine.registry if i.tradingsymbol == "INFY")
    quote = engine.quotes.get(token)
    assert quote is not None
    far_below = f"{quote.bid * 0.9 / 100:.1f}"
    working = engine.api.place_order(token, "BUY", 1, "LIMIT", product="CNC", price=far_below)
    assert working.ok, working.reason
    market(1)
    panel = OrderbookPanel(context)
    qtbot.addWidget(panel)
    assert tab_texts(panel) == ["Open (1)", "Executed (1)", "Rejected (0)", "All (2)"]
    engine.clock.advance(timedelta(days=1).total_seconds())
    panel._check_day()  # what its day timer runs
    assert panel.day == MONDAY_10AM.date() + timedelta(days=1)
    # Yesterday's filled order is of yesterday; the order still working is never hidden, and
    # carries its date.
    (still,) = panel.visible_rows()
    assert still.order_id == working.order_id and still.is_open
    assert tab_texts(panel) == ["Open (1)", "Executed (0)", "Rejected (0)", "All (1)"]
    assert time_cell(panel, still.order_id).startswith("23 Nov ")
