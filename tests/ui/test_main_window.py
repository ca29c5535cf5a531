"""The whole window: keyboard trading, layouts and workspaces, clean shutdown."""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QToolButton

from engine.api import OrderStatus, Side
from tests.support import atm_call
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panel_registry import AFTER_FIRST_PAINT, PANELS, SHORTCUTS
from ui.panels.multileg import SHORTCUTS as MULTILEG_KEYS


@pytest.fixture
def window(qtbot, engine, tmp_path):  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.stop()


def confirm_yes(window: MainWindow) -> list[str]:
    asked: list[str] = []

    def confirm(title, text, action):  # type: ignore[no-untyped-def]
        asked.append(text)
        action()

    window.context.confirm = confirm
    return asked


def rows_of(window: MainWindow, panel: str) -> list:
    return window.panels[panel].model.rows  # type: ignore[attr-defined]


def test_f1_ticket_when_quantity_typed_and_enter_pressed_places_order_that_fills_into_a_position(
    qtbot, window, engine, market
) -> None:
    option = atm_call(engine)
    watch = window.panels["marketWatch"]
    watch.add_instrument(option)
    view = watch.current_view()
    view.selectRow(len(view.quotes.rows) - 1)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F1)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible, timeout=2000)
    assert ticket.instrument == option and ticket.buy_button.isChecked()
    ticket.lots.selectAll()
    qtbot.keyClicks(ticket.lots, "2")
    assert ticket.units_label.text().startswith("= 130 units")
    ticket.order_type.setCurrentText("MARKET")
    qtbot.keyClick(ticket, Qt.Key.Key_Return)
    [order] = engine.api.orders()
    assert order.status is OrderStatus.COMPLETE and order.quantity == 130
    qtbot.waitUntil(
        lambda: any(r.order_id == order.order_id for r in rows_of(window, "orderbook")),
        timeout=2000,
    )
    qtbot.waitUntil(
        lambda: any(getattr(r, "net_quantity", 0) == 130 for r in rows_of(window, "positions")),
        timeout=2000,
    )
    pnl_before = engine.api.positions()[0].pnl
    for _ in range(30):  # the market wanders: move it until the option's price differs
        market(2)
        if engine.api.positions()[0].pnl != pnl_before:
            break
    pnl_now = engine.api.positions()[0].pnl
    assert pnl_now != pnl_before
    qtbot.waitUntil(lambda: rows_of(window, "positions")[0].pnl == pnl_now, timeout=3000)


def test_f2_when_pressed_opens_a_sell_ticket(qtbot, window, engine) -> None:
    watch = window.panels["marketWatch"]
    watch.current_view().selectRow(0)
    qtbot.keyClick(watch.current_view(), Qt.Key.Key_F2)
    qtbot.waitUntil(window.ticket.isVisible, timeout=2000)
    assert window.ticket.sell_button.isChecked()


def test_resting_order_when_modified_and_cancelled_shows_in_orderbook(
    qtbot, window, engine
) -> None:
    option = atm_call(engine)
    bid = engine.api.tick(option.token).bid
    placed = engine.api.place_order(option.token, "BUY", 65, "LIMIT", price=str((bid - 100) / 100))
    assert engine.api.modify(placed.order_id, quantity=130)
    qtbot.waitUntil(
        lambda: any(
            r.order_id == placed.order_id and r.quantity == 130
            for r in rows_of(window, "orderbook")
        ),
        timeout=2000,
    )
    assert engine.api.cancel(placed.order_id)
    qtbot.waitUntil(
        lambda: any(
            r.order_id == placed.order_id and r.status is OrderStatus.CANCELLED
            for r in rows_of(window, "orderbook")
        ),
        timeout=2000,
    )


def test_cancel_all_and_square_off_all_when_confirmed_leave_nothing_open(
    qtbot, window, engine
) -> None:
    asked = confirm_yes(window)
    option = atm_call(engine)
    bid = engine.api.tick(option.token).bid
    for away in (200, 250, 300):  # different prices: identical orders would be denied as duplicates
        engine.api.place_order(option.token, "BUY", 65, "LIMIT", price=str((bid - away) / 100))
    engine.api.place_order(option.token, "BUY", 130, "MARKET")
    window.cancel_all()
    assert not [o for o in engine.api.orders() if o.status.is_open]
    window.square_off_all()
    assert all(p.net_quantity == 0 for p in engine.api.positions())
    assert asked == ["Cancel all 3 open order(s)?", "Square off all 1 open position(s) at market?"]


def test_orderbook_export_when_written_to_csv_reads_back_the_same_rows(
    qtbot, window, engine, tmp_path
) -> None:
    option = atm_call(engine)
    engine.api.place_order(option.token, "BUY", 65, "MARKET")
    engine.api.place_order(option.token, "SELL", 70, "MARKET")  # denied: not a lot multiple
    orderbook = window.panels["orderbook"]
    qtbot.waitUntil(lambda: len(rows_of(window, "orderbook")) == 2, timeout=2000)
    path = tmp_path / "orders.csv"
    orderbook.export_to(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    headers, data = orderbook.export_rows()
    assert rows[0] == headers
    assert len(rows) == 1 + len(data) >= 3


def test_layout_when_saved_is_restored_by_the_next_window(qtbot, engine, tmp_path) -> None:
    store = LayoutStore(tmp_path / "layout.ini")
    first = MainWindow(engine.api, layouts=store)
    qtbot.addWidget(first)
    first.show()
    first.docks["optionChain"].hide()
    first.docks["messages"].setFloating(True)
    first.close()  # saves
    first.stop()
    second = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(second)
    second.show()
    assert second.docks["optionChain"].isHidden()
    assert second.docks["messages"].isFloating()
    second.reset_layout()
    assert not second.docks["optionChain"].isHidden()
    assert not second.docks["messages"].isFloating()
    second.stop()


def test_workspaces_when_saved_switched_and_deleted_round_trip(qtbot, window) -> None:
    window.docks["trades"].hide()
    window.save_workspace("Scalping")
    window.docks["trades"].show()
    window.save_workspace("Everything")
    assert window._layouts.workspaces() == ["Everything", "Scalping"]
    assert window.switch_workspace("Scalping")
    assert window.docks["trades"].isHidden()
    assert window.switch_workspace("Everything")
    assert not window.docks["trades"].isHidden()
    window.delete_workspace("Scalping")
    assert window._layouts.workspaces() == ["Everything"]
    assert not window.switch_workspace("Scalping")
    # A name the file would nest as another: refused in words, nothing saved or lost.
    for name in ("Everything/Open", "Morning\\Open", "   "):
        window.save_workspace(name)
        assert window.statusBar().currentMessage().startswith("Workspace not saved: ")
    assert window._layouts.workspaces() == ["Everything"]
    assert window.switch_workspace("Everything")


def test_view_menu_when_a_panel_is_closed_brings_it_back(qtbot, window) -> None:
    dock = window.docks["positions"]
    dock.close()
    assert dock.isHidden()
    dock.toggleViewAction().trigger()
    assert not dock.isHidden()
    titles = [a.text() for a in window.menuBar().actions()[1].menu().actions() if a.text()]
    assert [spec.title for spec in PANELS] == titles[: len(PANELS)]


def test_shortcuts_dialog_when_opened_lists_the_trading_keys(qtbot, window) -> None:
    dialog = window.show_shortcuts()
    keys = [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())]
    assert keys[:4] == ["F1", "F2", "Enter", "Esc"]
    dialog.close()


def test_theme_when_switched_to_light_changes_style_and_palette(qtbot, window) -> None:
    window.apply_theme("light")
    assert window.theme.palette.name == "light"
    assert "#f4f6f9" in QApplication.instance().styleSheet()
    window.apply_theme("dark")


def test_app_when_window_closes_shuts_down_cleanly_with_no_tasks_left(
    qtbot, tmp_path, monkeypatch
) -> None:
    import app.gui as gui
    from engine.marketdata.simulated import SimulatedMarketConfig
    from engine.runtime import EngineConfig

    monkeypatch.setattr(gui, "settings_path", lambda profile: tmp_path / profile / "layout.ini")
    config = EngineConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}",
        market=SimulatedMarketConfig(always_open=True, strikes_each_side=5),
        always_open=True,
    )
    QApplication.instance().setQuitOnLastWindowClosed(False)
    leftovers: list[asyncio.Task] = []

    def close_soon() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow):
                widget.close()

    async def scenario() -> int:
        QTimer.singleShot(1500, close_soon)
        code = await gui.run_window(config, profile="test", reset_layout=True, crash=None)
        leftovers.extend(t for t in asyncio.all_tasks() if t is not asyncio.current_task())
        return code

    import qasync

    loop = qasync.QEventLoop(QApplication.instance())
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert leftovers == []
    assert (tmp_path / "test" / "layout.ini").exists()


def test_option_chain_when_window_closed_and_reopened_keeps_calls_under_calls_and_atm_in_view(
    qtbot, engine, market, tmp_path
) -> None:
    market(1)
    store = tmp_path / "layout.ini"
    first = MainWindow(engine.api, layouts=LayoutStore(store))
    qtbot.addWidget(first)
    first.resize(1500, 900)
    first.show()
    qtbot.waitExposed(first)
    first.show_panel("optionChain")
    first.close()
    first.stop()
    second = MainWindow(engine.api, layouts=LayoutStore(store))
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    chain = second.panels["optionChain"]
    model, view = chain.model, chain.view
    qtbot.waitUntil(lambda: model.atm_strike is not None, timeout=3000)
    qtbot.wait(50)
    header = view.horizontalHeader()
    strike_x = header.sectionViewportPosition(model.STRIKE_COLUMN)
    calls_oi = header.sectionViewportPosition(model.column_of("call", "oi"))
    puts_oi = header.sectionViewportPosition(model.column_of("put", "oi"))
    width = view.viewport().width()
    strike_width = header.sectionSize(model.STRIKE_COLUMN)
    # The Strike column sits in the middle: calls to its left under CALLS, puts to its right.
    assert abs(strike_x + strike_width // 2 - width // 2) <= strike_width, (strike_x, width)
    assert calls_oi < strike_x < puts_oi
    row = model.row_of(model.atm_strike)
    y = view.rowViewportPosition(row)
    assert 0 <= y < view.viewport().height()
    second.stop()


def fully_in_view(view, column: int) -> bool:  # type: ignore[no-untyped-def]
    header = view.horizontalHeader()
    left = header.sectionViewportPosition(column)
    right = left + header.sectionSize(column)
    return not view.isColumnHidden(column) and left >= 0 and right <= view.viewport().width()


def test_default_layout_when_shown_has_both_sides_oi_in_the_chain_and_bid_ask_in_the_watch(
    qtbot, window, tmp_path
) -> None:
    # The offscreen test screen is 800x800: the window opens fitted to it, so the layout is
    # looked at on the 1500x900 the default docks are sized for.
    window.resize(1500, 900)
    window._size_default_docks()
    chain = window.panels["optionChain"]
    model = chain.model
    oi_columns = [model.column_of(side, a) for side in ("call", "put") for a in ("oi_change", "oi")]
    qtbot.waitUntil(lambda: all(fully_in_view(chain.view, c) for c in oi_columns), timeout=3000)
    header = chain.view.horizontalHeader()
    strike = model.STRIKE_COLUMN
    middle = header.sectionViewportPosition(strike) + header.sectionSize(strike) // 2
    assert abs(middle - chain.view.viewport().width() // 2) <= header.sectionSize(strike) // 2
    assert header.length() >= chain.view.viewport().width() - 2, "no empty band under PUTS"
    watch = window.panels["marketWatch"].current_view()
    titles = [watch.model().headerData(c, Qt.Orientation.Horizontal) for c in range(6)]
    assert titles[4:] == ["Bid", "Ask"]
    assert fully_in_view(watch, 4) and fully_in_view(watch, 5)
    shot = window.grab()
    assert shot.width() == 1500 and shot.save(str(tmp_path / "default_layout.png"))


def test_panels_that_can_wait_when_the_window_opens_are_built_after_its_first_paint(
    qtbot, engine, tmp_path
) -> None:
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    assert set(window.panels.waiting) == AFTER_FIRST_PAINT
    assert not AFTER_FIRST_PAINT & set(window.panels)
    performance = window.panels["performance"]  # asked for before the window shows: built now
    assert performance.objectName() == "performancePanel"
    assert window.docks["performance"].widget() is performance
    assert "performance" not in window.panels.waiting
    assert window.panels.get("no such panel") is None
    with pytest.raises(KeyError):
        window.panels["no such panel"]
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: not window.panels.waiting, timeout=3000)
    for name in AFTER_FIRST_PAINT:
        panel = window.panels[name]
        assert window.docks[name].widget() in (panel, panel.parentWidget().parentWidget())
    window.show_panel("payoff")
    assert window.docks["payoff"].isVisible()
    window.stop()


def test_panel_built_after_the_first_paint_when_it_fails_says_so_in_its_dock_and_the_rest_open(
    qtbot, engine, tmp_path, monkeypatch, caplog
) -> None:
    def broken(context):  # type: ignore[no-untyped-def]
        raise RuntimeError("the journal could not be read")

    specs = tuple(
        replace(spec, factory=broken) if spec.object_name == "execution" else spec
        for spec in PANELS
    )
    monkeypatch.setattr("ui.main_window.PANELS", specs)
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: set(window.panels.waiting) == {"execution"}, timeout=3000)
    notice = window.docks["execution"].widget()
    assert "could not be opened (the journal could not be read)" in notice.text()
    assert "the execution panel could not be built" in caplog.text
    assert window.panels["performance"].isVisibleTo(window.docks["performance"])
    with pytest.raises(RuntimeError):
        window.panels["execution"]  # tried again when asked, and it still fails
    window.show_panel("execution")  # its shortcut: the reason again, in words, not a traceback
    assert "could not be opened" in window.docks["execution"].widget().text()
    window.stop()


def test_default_layout_when_shown_has_performance_among_the_bottom_tabs(window) -> None:
    tabbed = window.tabifiedDockWidgets(window.docks["positions"])
    assert window.docks["performance"] in tabbed
    assert window.docks["execution"] in tabbed


def test_layout_when_changed_is_saved_after_a_moment_without_a_close(
    qtbot, window, engine, tmp_path
) -> None:
    qtbot.waitUntil(lambda: window._watching_layout, timeout=5000)
    window.docks["messages"].setFloating(True)
    window.docks["optionChain"].hide()
    assert window._layout_timer.isActive()
    qtbot.waitUntil(lambda: not window._layout_timer.isActive(), timeout=5000)
    saved = LayoutStore(tmp_path / "layout.ini").current()  # no close: read from the file
    assert saved is not None and saved[0] == window.saveGeometry()
    probe = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(probe)
    probe.show()
    assert probe.docks["messages"].isFloating()
    assert probe.docks["optionChain"].isHidden()
    probe.stop()


def saved_watchlists(path) -> object:  # type: ignore[no-untyped-def]
    """What the layout file holds now, read as the next start would read it."""
    return LayoutStore(path).value("watchlists_ordered")


@pytest.mark.parametrize(
    "garbage",
    ["{definitely not json", "X", '{"Market": ["NSE:INFY"]}', '[["A", 5]]', '[["", []]]', "[1]"],
)
def test_watchlists_when_saved_value_is_garbage_leave_it_untouched_until_the_trader_edits(
    qtbot, engine, tmp_path, garbage
) -> None:
    path = tmp_path / "layout.ini"
    store = LayoutStore(path)
    store.set_value("watchlists_ordered", garbage)
    store.sync()
    window = MainWindow(engine.api, layouts=store)
    qtbot.addWidget(window)
    assert window.restore_watchlists() is not None  # the reason, for the trader's message
    watch = window.panels["marketWatch"]
    assert list(watch.watchlists()) == ["Market", "Indices & F&O", "Stocks"], "the defaults"
    assert len(watch.watchlists()["Market"]) == 16
    window.save_layout()  # a save (or a clean close) writes nothing over the unreadable lists
    assert saved_watchlists(path) == garbage
    assert LayoutStore(path).value("watchlists_unreadable") == garbage
    watch.add_instrument(engine.api.instruments.by_symbol("NSE", "NIFTY 50"))  # already there
    window.save_layout()
    assert saved_watchlists(path) == garbage, "no edit yet"
    watch._new_and_show("Mine")  # the trader's own list: from now on the lists are theirs
    window.save_layout()
    assert [name for name, _ in json.loads(saved_watchlists(path))][-1] == "Mine"
    assert LayoutStore(path).value("watchlists_unreadable") == garbage, "the copy stays"
    window.stop()


def test_watchlists_when_reopened_come_back_in_the_order_the_trader_left_them(
    qtbot, engine, tmp_path
) -> None:
    path = tmp_path / "layout.ini"
    first = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(first)
    assert first.restore_watchlists() is None  # nothing saved yet
    watch = first.panels["marketWatch"]
    for name in ("Zeta", "Alpha", "Mid"):
        watch._new_and_show(name)
        if name != "Alpha":
            watch.add_instrument(engine.api.instruments.by_symbol("NSE", "INFY"))
    watch.remove_watchlist(0)  # "Market"
    watch.tabs.tabBar().moveTab(0, 4)  # "Indices & F&O" to the end
    expected = [
        ("Stocks", watch.watchlists()["Stocks"]),
        ("Zeta", ["NSE:INFY"]),
        ("Alpha", []),
        ("Mid", ["NSE:INFY"]),
        ("Indices & F&O", watch.watchlists()["Indices & F&O"]),
    ]
    assert watch.tab_lists() == expected
    first.close()
    first.stop()
    second = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(second)
    assert second.restore_watchlists() is None
    assert second.panels["marketWatch"].tab_lists() == expected
    second.stop()


def test_watchlists_when_saved_by_an_earlier_version_as_a_map_are_read(
    qtbot, engine, tmp_path
) -> None:
    path = tmp_path / "layout.ini"
    store = LayoutStore(path)
    store.set_value("watchlists", {"Banks": ["NSE:HDFCBANK", "NSE:SBIN"], "IT": "NSE:INFY"})
    store.sync()
    window = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(window)
    assert window.restore_watchlists() is None
    watch = window.panels["marketWatch"]
    assert watch.watchlists() == {"Banks": ["NSE:HDFCBANK", "NSE:SBIN"], "IT": ["NSE:INFY"]}
    window.save_layout()
    assert json.loads(saved_watchlists(path)) == [
        ["Banks", ["NSE:HDFCBANK", "NSE:SBIN"]],
        ["IT", ["NSE:INFY"]],
    ]
    window.stop()


KITE_LISTS = [
    ["Kite list", ["NSE:RELIANCE", "NSE:KITEONLY", "NFO:NIFTY27JANFUT", "NSE:INFY", "BSE:SENSEX"]],
    ["Second", ["MCX:CRUDEOIL27JANFUT"]],
    ["Third", ["NSE:SBIN"]],
]
"""Lists built on another market: most of their symbols are not on the simulated one."""


def window_with_saved_lists(qtbot, engine, path, lists) -> MainWindow:  # type: ignore[no-untyped-def]
    store = LayoutStore(path)
    store.set_value("watchlists_ordered", json.dumps(lists))
    store.sync()
    window = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(window)
    assert window.restore_watchlists() is None
    return window


def test_watchlists_when_started_on_a_market_lacking_symbols_keep_them_and_say_which(
    qtbot, engine, tmp_path
) -> None:
    path = tmp_path / "layout.ini"
    window = window_with_saved_lists(qtbot, engine, path, KITE_LISTS)
    watch = window.panels["marketWatch"]
    assert watch.tab_lists() == [
        ("Kite list", ["NSE:RELIANCE", "NSE:INFY"]),
        ("Second", []),
        ("Third", ["NSE:SBIN"]),
    ]
    assert not watch.unshown_bar.isHidden()
    assert watch.unshown_note.text() == (
        "Not found on this market today, so not shown (kept in the saved list): "
        "NSE:KITEONLY, NFO:NIFTY27JANFUT, BSE:SENSEX"
    )
    watch.tabs.setCurrentIndex(2)  # "Third": every symbol is here
    assert watch.unshown_bar.isHidden()
    watch.tabs.setCurrentIndex(1)
    assert "MCX:CRUDEOIL27JANFUT" in watch.unshown_note.text()
    window.close()  # a start and a close with no edit: the file holds what it held
    window.stop()
    assert json.loads(saved_watchlists(path)) == KITE_LISTS
    again = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(again)
    assert again.restore_watchlists() is None
    again.save_layout()
    assert json.loads(saved_watchlists(path)) == KITE_LISTS, "and so on every later start"
    again.stop()


def test_watchlists_when_edited_on_a_market_lacking_symbols_keep_them_in_their_places(
    qtbot, engine, tmp_path
) -> None:
    path = tmp_path / "layout.ini"
    window = window_with_saved_lists(qtbot, engine, path, KITE_LISTS)
    watch = window.panels["marketWatch"]
    watch.tabs.setCurrentIndex(0)
    view = watch.current_view()
    view.selectRow(0)  # NSE:RELIANCE, which the unknown symbols followed, is removed
    watch.remove_selected()
    watch.add_instrument(engine.api.instruments.by_symbol("NSE", "TCS"))
    watch.tabs.tabBar().moveTab(0, 2)  # "Kite list" last
    watch.tabs.setCurrentIndex(0)  # "Second"
    watch.add_instrument(engine.api.instruments.by_symbol("NSE", "ITC"))
    watch._new_and_show("Mine")
    window.save_layout()
    assert json.loads(saved_watchlists(path)) == [
        ["Second", ["MCX:CRUDEOIL27JANFUT", "NSE:ITC"]],
        ["Third", ["NSE:SBIN"]],
        ["Kite list", ["NSE:KITEONLY", "NFO:NIFTY27JANFUT", "NSE:INFY", "BSE:SENSEX", "NSE:TCS"]],
        ["Mine", []],
    ]
    watch.tabs.setCurrentIndex(2)  # "Kite list": the trader lets its missing symbols go
    qtbot.mouseClick(watch.findChild(QToolButton, "forgetUnshown"), Qt.MouseButton.LeftButton)
    assert watch.unshown_bar.isHidden()
    window.save_layout()
    assert dict(json.loads(saved_watchlists(path)))["Kite list"] == ["NSE:INFY", "NSE:TCS"]
    assert dict(json.loads(saved_watchlists(path)))["Second"] == ["MCX:CRUDEOIL27JANFUT", "NSE:ITC"]
    window.stop()


def test_layout_when_a_watchlist_is_edited_is_saved_after_a_moment_without_a_close(
    qtbot, window, engine, tmp_path
) -> None:
    assert window.restore_watchlists() is None
    qtbot.waitUntil(lambda: window._watching_layout, timeout=5000)
    watch = window.panels["marketWatch"]
    watch.tabs.setCurrentIndex(2)  # Stocks
    watch.add_instrument(engine.api.instruments.by_symbol("NSE", "NIFTY 50"))
    assert window._layout_timer.isActive()
    assert window._layout_timer.interval() == 2000
    qtbot.waitUntil(lambda: not window._layout_timer.isActive(), timeout=5000)
    saved = dict(json.loads(saved_watchlists(tmp_path / "layout.ini")))
    assert saved["Stocks"][-1] == "NSE:NIFTY 50"


def test_layout_when_changes_come_in_a_burst_is_saved_once_after_the_last(
    qtbot, window, monkeypatch
) -> None:
    qtbot.waitUntil(lambda: window._watching_layout, timeout=5000)
    saves: list[int] = []
    monkeypatch.setattr(window._layouts, "sync", lambda: saves.append(1))
    for width in (1400, 1410, 1420):
        window.resize(width, 850)
        qtbot.wait(300)
    assert saves == [], "still moving: not saved yet"
    qtbot.waitUntil(lambda: saves == [1], timeout=5000)
    qtbot.wait(300)
    assert saves == [1]


def test_layout_when_changed_a_second_after_start_is_saved_without_a_close(
    qtbot, engine, tmp_path
) -> None:
    path = tmp_path / "layout.ini"
    window = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(1000)
    window.resize(1200, 700)
    assert window._layout_timer.isActive(), "a change this soon after start counts"
    qtbot.waitUntil(lambda: not window._layout_timer.isActive(), timeout=5000)
    saved = LayoutStore(path).current()
    assert saved is not None and saved[0] == window.saveGeometry()
    window.stop()


def test_layout_when_window_closed_is_not_saved_again_by_the_timer(
    qtbot, window, monkeypatch
) -> None:
    qtbot.waitUntil(lambda: window._watching_layout, timeout=5000)
    saves: list[int] = []
    monkeypatch.setattr(window._layouts, "sync", lambda: saves.append(1))
    window.resize(1400, 850)
    assert window._layout_timer.isActive()
    window.close()  # saves once, and the docks hiding on the way out are no change
    assert saves == [1]
    assert not window._layout_timer.isActive()
    window.resize(1300, 800)
    assert not window._layout_timer.isActive(), "a closed window saves no more"


def test_hotkey_when_focus_is_in_a_floating_dock_still_opens_the_ticket(qtbot, window) -> None:
    dock = window.docks["orderbook"]
    dock.setFloating(True)
    dock.show()
    qtbot.waitExposed(dock)
    dock.activateWindow()
    target = dock.widget()
    target.setFocus()
    qtbot.keyClick(target, Qt.Key.Key_F2)
    qtbot.waitUntil(window.ticket.isVisible, timeout=2000)
    assert window.ticket.sell_button.isChecked()


def test_hotkeys_when_listed_are_all_application_wide_so_floating_docks_have_them(window) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    bound = {
        action.shortcut().toString(): action.shortcutContext()
        for action in window.findChildren(QAction)
        if not action.shortcut().isEmpty() and action.parent() is window
    }
    # Left out: keys of the ticket, the watch, the orderbook, and the Multileg panel's keys on
    # its selected portfolio (they act only where that panel has the focus).
    panel_keys = {
        "Enter", "Esc", "Delete", "Shift+F2", "Ctrl+Alt+A", "+", "-", "↑", "↓",
        *MULTILEG_KEYS.values(),
    }  # fmt: skip
    listed = [key for key, _ in SHORTCUTS if key not in panel_keys]
    for key in listed:
        text = QKeySequence(key).toString()
        assert bound.get(text) == Qt.ShortcutContext.ApplicationShortcut, key


def test_small_things_a_trader_notices(qtbot, window, engine) -> None:
    from engine.domain.instruments import InstrumentType
    from ui.context import TicketRequest

    positions = window.panels["positions"]
    assert not positions.square_off_selected_button.isEnabled(), "nothing to square off"
    stock = next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)
    window.open_ticket(TicketRequest(Side.BUY, stock))
    assert window.ticket.lots_caption.text() == "Shares"
    window.open_ticket(TicketRequest(Side.BUY, atm_call(engine)))
    assert window.ticket.lots_caption.text() == "Lots"


def test_about_shows_the_version_and_opens_every_third_party_licence(qtbot) -> None:  # type: ignore[no-untyped-def]
    from importlib import metadata

    from PySide6.QtWidgets import QLabel, QPlainTextEdit

    from ui.dialogs import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.findChild(QLabel, "aboutText")
    assert text is not None and metadata.version("dalaldesk") in text.text()
    assert "LGPLv3" in text.text()
    licences = dialog.show_licences()
    view = licences.findChild(QPlainTextEdit, "licencesText")
    assert view is not None
    assert "PySide6" in view.toPlainText() and "Apache License 2.0" in view.toPlainText()


@pytest.mark.qt_no_exception_capture  # the desk's crash handler is the one under test
def test_crash_errors_when_a_slot_keeps_raising_show_one_non_modal_box_with_a_count_and_the_kill_switch_works(
    qtbot, tmp_path, monkeypatch
) -> None:
    import app.gui as gui
    from app.crash import CrashHandler
    from engine.api import TradingState
    from engine.marketdata.simulated import SimulatedMarketConfig
    from engine.runtime import EngineConfig

    monkeypatch.setattr(gui, "settings_path", lambda profile: tmp_path / profile / "layout.ini")
    config = EngineConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}",
        market=SimulatedMarketConfig(always_open=True, strikes_each_side=5),
        always_open=True,
    )
    crash = CrashHandler(tmp_path / "crashes")
    seen: dict[str, object] = {}
    kill = (Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)

    def error_boxes() -> list[QMessageBox]:
        return [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.isVisible() and "error" in w.windowTitle()
        ]

    async def probe(window: MainWindow) -> None:
        await asyncio.sleep(0.5)
        api = window.context.api
        timer = QTimer()
        timer.setInterval(20)

        def refresh() -> None:  # a broken panel's refresh, on every tick of its timer
            raise KeyError("row 7")

        timer.timeout.connect(refresh)
        timer.start()
        await asyncio.sleep(1.0)
        timer.stop()
        boxes = error_boxes()
        seen["boxes"] = len(boxes)
        seen["modal"] = QApplication.activeModalWidget()
        seen["text"] = boxes[0].text() if boxes else ""
        if boxes:
            QTimer.singleShot(0, lambda: (_ for _ in ()).throw(ValueError("another one")))
            await asyncio.sleep(0.2)
            seen["with another"] = (boxes[0].text(), boxes[0].detailedText(), len(error_boxes()))
            qtbot.keyClick(boxes[0], *kill)  # the box in front: the kill switch still answers
            await asyncio.sleep(0.1)
            seen["killed from the box"] = api.trading_state().state
            api.rearm()
        window.activateWindow()
        qtbot.keyClick(window, *kill)
        await asyncio.sleep(0.1)
        seen["killed from the window"] = api.trading_state().state
        window.close()

    async def scenario() -> int:
        return await gui.run_window(
            config, profile="test", reset_layout=True, crash=crash, probe=probe
        )

    import qasync

    QApplication.instance().setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(QApplication.instance())
    crash.install()
    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        crash.uninstall()
        loop.close()
        asyncio.set_event_loop(None)
        for box in error_boxes():
            box.close()
    assert seen["boxes"] == 1 and seen["modal"] is None
    assert "KeyError: 'row 7'" in str(seen["text"]) and "times." in str(seen["text"])
    front, details, count = seen["with another"]  # type: ignore[misc]
    assert front.startswith("ValueError: another one") and "1 other error since" in front
    assert "KeyError: 'row 7'" in details and count == 1
    assert seen["killed from the box"] is TradingState.HALTED
    assert seen["killed from the window"] is TradingState.HALTED
    assert len(crash.crashes) == 2


def test_status_bar_when_a_message_is_shown_still_shows_the_broker_and_the_feed(
    qtbot, window
) -> None:
    window.show()
    qtbot.waitExposed(window)

    window.statusBar().showMessage("Error: something went wrong (details in the error box)")

    shown = [window.broker_label, window.feed_label, window.mtm_label, window.clock_label]
    assert all(label.isVisible() for label in shown)
    assert window.statusBar().currentMessage().startswith("Error")
