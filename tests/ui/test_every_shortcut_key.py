"""Every key the manual lists (``SHORTCUTS``), pressed through the window system as on a desktop
(QTest on the focused QWindow: Qt's shortcut map sees it first), does what the list says; and
the menu bar's Alt letters are each one menu's and none of the window's own keys (a key bound
twice is ambiguous, and Qt then does neither)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from engine.api import OrderType, Side, TradingState
from engine.domain.instruments import Instrument, InstrumentType
from engine.signals.tradingview import TradingViewAlert
from tests.support import atm_call
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panel_registry import PANELS, SHORTCUTS
from ui.panels.alerts import AlertsPanel
from ui.panels.market_watch import MarketWatchPanel
from ui.panels.multileg import MultilegPanel
from ui.panels.option_chain import OptionChainPanel
from ui.panels.positions import PositionsPanel
from ui.panels.signals import SignalsPanel

NAMED_KEYS = {
    "Enter": Qt.Key.Key_Return,
    "Esc": Qt.Key.Key_Escape,
    "Delete": Qt.Key.Key_Delete,
    "↑": Qt.Key.Key_Up,
    "↓": Qt.Key.Key_Down,
    "+": Qt.Key.Key_Plus,
    "-": Qt.Key.Key_Minus,
}
"""The list's names for keys QKeySequence does not read."""


def key_of(text: str) -> tuple[Qt.Key, Qt.KeyboardModifier]:
    if text in NAMED_KEYS:
        return NAMED_KEYS[text], Qt.KeyboardModifier.NoModifier
    combination = QKeySequence(text)[0]
    return combination.key(), combination.keyboardModifiers()


@dataclass
class Desk:
    qtbot: Any
    window: MainWindow
    engine: Any
    market: Callable[[float], None]
    asked: list[str] = field(default_factory=list)
    charted: list[object] = field(default_factory=list)

    def press(self, text: str) -> None:
        """The key as the window system delivers it, to the window that has the focus."""
        key, modifiers = key_of(text)
        target = QGuiApplication.focusWindow() or self.window.windowHandle()
        QTest.keyClick(target, key, modifiers)
        QApplication.processEvents()

    def panel(self, name: str) -> Any:
        return self.window.panels[name]

    def activate(self) -> None:
        self.window.activateWindow()
        self.qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is self.window.windowHandle())

    def focus(self, widget: QWidget) -> None:
        self.activate()
        widget.setFocus()
        self.qtbot.waitUntil(widget.hasFocus)

    def watch_row(self, instrument: Instrument) -> None:
        """``instrument`` selected in Market Watch, which has the focus."""
        watch = self.panel("marketWatch")
        assert isinstance(watch, MarketWatchPanel)
        watch.add_instrument(instrument)
        view = watch.current_view()
        row = view.quotes.row_of(instrument.token)
        assert row is not None
        self.focus(view)
        view.selectRow(row)
        assert watch.selected_instrument() == instrument

    def chain_cell(self, attribute: str = "ask", side: str = "call") -> Instrument:
        """The cursor on the ATM strike's ``side`` ``attribute`` cell of the focused chain."""
        self.window.show_panel("optionChain")
        chain = self.panel("optionChain")
        assert isinstance(chain, OptionChainPanel)
        self.qtbot.waitUntil(lambda: chain.model.atm_strike is not None)
        row = chain.model.row_of(chain.model.atm_strike)
        index = chain.model.index(row, chain.model.column_of(side, attribute))
        self.focus(chain.view)
        chain.view.setCurrentIndex(index)
        instrument = chain.model.cell(index)[0]
        assert instrument is not None
        return instrument

    def resting_order(self, option: Instrument) -> str:
        bid = self.engine.api.tick(option.token).bid
        placed = self.engine.api.place_order(
            option.token, "BUY", option.lot_size, "LIMIT", price=Decimal(bid - 300) / 100
        )
        assert placed, placed.reason
        orderbook = self.panel("orderbook")
        self.qtbot.waitUntil(lambda: orderbook.model.row_of(str(placed.order_id)) is not None)
        return str(placed.order_id)

    def position(self, option: Instrument) -> None:
        done = self.engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
        assert done, done.reason
        positions = self.panel("positions")
        assert isinstance(positions, PositionsPanel)
        self.qtbot.waitUntil(
            lambda: any(line.token == option.token for line in positions.model.rows)
        )

    def focus_panel(self, name: str, key: str) -> QWidget:
        """The panel's own key pressed: its table has the focus."""
        self.activate()
        self.press(key)
        focus = QApplication.focusWidget()
        panel = self.panel(name)
        assert focus is not None and (focus is panel or panel.isAncestorOf(focus)), focus
        return focus

    def ticket_opened(self) -> Any:
        ticket = self.window.ticket
        self.qtbot.waitUntil(ticket.isVisible)
        return ticket


@pytest.fixture
def desk(qtbot, engine, market, tmp_path, monkeypatch) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    market(2)
    desk = Desk(qtbot, window, engine, market)

    def confirm(title: str, text: str, action: Callable[[], None]) -> None:
        desk.asked.append(text)  # asked, and answered here by the test when it wants to

    window.context.confirm = confirm  # type: ignore[method-assign]
    # A chart dock is a QtWebEngine page: what it would chart is what matters here.
    monkeypatch.setattr(
        window.charts, "open", lambda settings, beside=None: desk.charted.append(settings.key)
    )
    desk.activate()
    yield desk
    window.ticket.close()
    window.stop()


def stock(engine: Any) -> Instrument:
    return next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ and i.tradable)


# -- what each key does ---------------------------------------------------------------------------------


def check_f1(desk: Desk) -> None:
    option = desk.chain_cell("ask")
    desk.press("F1")
    ticket = desk.ticket_opened()
    assert (ticket.instrument, ticket.side) == (option, Side.BUY)
    ticket.set_side(Side.SELL)
    ticket.lots.setValue(3)
    desk.press("F1")  # the ticket is open: turned to buy, the lots kept
    assert (ticket.instrument, ticket.side, ticket.lots.value()) == (option, Side.BUY, 3)


def check_f2(desk: Desk) -> None:
    future = next(
        i for i in desk.engine.registry if i.instrument_type is InstrumentType.FUT and i.tradable
    )
    desk.watch_row(future)
    desk.press("F2")
    ticket = desk.ticket_opened()
    assert (ticket.instrument, ticket.side) == (future, Side.SELL)
    ticket.set_side(Side.BUY)
    ticket.lots.setValue(4)
    desk.press("F2")
    assert (ticket.instrument, ticket.side, ticket.lots.value()) == (future, Side.SELL, 4)


def check_submit(desk: Desk) -> None:
    desk.watch_row(stock(desk.engine))
    desk.press("F1")
    ticket = desk.ticket_opened()
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    desk.press("Enter")
    assert [o.instrument for o in desk.engine.api.orders()] == [ticket.instrument]
    assert not ticket.isVisible()


def check_chain_enter(desk: Desk) -> None:
    option = desk.chain_cell("bid")
    bid = desk.engine.api.quote(option.token).bid
    desk.press("Enter")
    ticket = desk.ticket_opened()
    assert (ticket.instrument, ticket.side) == (option, Side.SELL)
    assert ticket.price.value() == pytest.approx(float(bid))


def check_esc(desk: Desk) -> None:
    desk.watch_row(stock(desk.engine))
    desk.press("F1")
    ticket = desk.ticket_opened()
    desk.press("Esc")
    assert not ticket.isVisible()


def panel_key_missed(desk: Desk, name: str, key: str) -> str | None:
    """A panel's key pressed from Market Watch with the panel's dock closed: what went wrong
    (None: the dock is back and the focus is in the panel, on something that takes keys)."""
    dock = desk.window.docks[name]
    dock.close()
    desk.focus(desk.panel("marketWatch").current_view())
    desk.press(key)
    if not dock.isVisible():
        return f"{key}: {name} not shown"
    focus = QApplication.focusWidget()
    panel = desk.panel(name)
    if focus is None or not (focus is panel or panel.isAncestorOf(focus)):
        return f"{key}: the focus is on {focus!r}, not in {name}"
    if focus.focusPolicy() == Qt.FocusPolicy.NoFocus:
        return f"{key}: the focus is on {focus!r}, which takes no keys"
    return None


def check_alert_key(desk: Desk) -> None:
    shares = stock(desk.engine)
    desk.watch_row(shares)
    desk.press("Ctrl+Alt+A")
    alerts = desk.panel("alerts")
    assert isinstance(alerts, AlertsPanel)
    assert desk.window.docks["alerts"].isVisible() and alerts.instrument == shares


def signals_panel(desk: Desk) -> SignalsPanel:
    """Two signals waiting for approval, the Signals panel shown by its key (the first card
    chosen)."""
    for name in ("A", "B"):
        alert = {"id": name, "symbol": "NSE:RELIANCE", "action": "buy", "lots": 1}
        desk.engine.signals.receive(TradingViewAlert.model_validate(alert))
    panel = desk.panel("signals")
    assert isinstance(panel, SignalsPanel)
    desk.qtbot.waitUntil(lambda: len(panel.cards) == 2)
    desk.focus_panel("signals", "Alt+Shift+S")
    assert panel.selected == 0
    return panel


def check_signal_plus(desk: Desk) -> None:
    panel = signals_panel(desk)
    desk.press("+")
    assert panel.cards[0].lots.value() == 2


def check_signal_minus(desk: Desk) -> None:
    panel = signals_panel(desk)
    panel.cards[0].lots.setValue(3)
    desk.press("-")
    assert panel.cards[0].lots.value() == 2


def check_signal_down(desk: Desk) -> None:
    panel = signals_panel(desk)
    desk.press("↓")
    assert panel.selected == 1


def check_signal_up(desk: Desk) -> None:
    panel = signals_panel(desk)
    desk.press("↓")
    desk.press("↑")
    assert panel.selected == 0


def check_chart(desk: Desk) -> None:
    option = desk.chain_cell("ltp", "put")
    desk.press("Alt+C")
    assert desk.charted == [int(option.token)]


def check_iv_chart(desk: Desk) -> None:
    option = desk.chain_cell("ltp")
    desk.press("Alt+Shift+C")
    assert desk.charted == [f"iv:{option.token}"]


def multileg(desk: Desk) -> MultilegPanel:
    """A short straddle waiting for its start time, selected in the Multileg panel, whose grid
    has the focus (its key, Alt+M)."""
    [straddle] = [t for t in desk.engine.api.portfolio_templates() if t.key == "short_straddle"]
    data = straddle.spec.model_dump(mode="json")
    data["execution"]["start"] = "10:30:00"  # the clock says 10:00: it waits
    assert desk.engine.api.save_portfolio(data) is None
    panel = desk.panel("multileg")
    assert isinstance(panel, MultilegPanel)
    panel.refresh()
    assert desk.focus_panel("multileg", "Alt+M") is panel.view
    assert panel.select("Short straddle")
    return panel


def status(panel: MultilegPanel) -> str:
    panel.refresh()
    [portfolio] = panel._ctx.api.portfolios()
    return str(portfolio.status.value)


def multileg_check(done: Callable[[Desk, MultilegPanel], None]) -> Callable[[Desk], None]:
    def check(desk: Desk) -> None:
        done(desk, multileg(desk))

    return check


def started(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Ctrl+Shift+S")
    assert status(panel) == "Pending", panel.feedback.text()


def stopped(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Ctrl+Shift+S")
    desk.press("Ctrl+Shift+T")
    assert status(panel) == "Stopped", panel.feedback.text()


def entered(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Ctrl+Shift+S")
    desk.press("Ctrl+Shift+E")
    assert panel.feedback.text() == "Short straddle entering now"


def squared_off(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Ctrl+Shift+S")
    desk.press("Ctrl+Shift+E")
    desk.market(1)
    desk.press("Ctrl+Shift+F")
    assert desk.asked and "Short straddle" in desk.asked[-1]


def new_portfolio(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Ctrl+N")
    assert len(panel.editors) == 1 and panel.editors[0].original is None


def edited(desk: Desk, panel: MultilegPanel) -> None:
    desk.press("Enter")
    assert [editor.original for editor in panel.editors] == ["Short straddle"]


def check_modify(desk: Desk) -> None:
    order_id = desk.resting_order(atm_call(desk.engine))
    desk.focus_panel("orderbook", "F3")
    desk.press("Shift+F2")
    ticket = desk.ticket_opened()
    assert ticket.modify_order_id == order_id


def check_watch_delete(desk: Desk) -> None:
    shares = stock(desk.engine)
    desk.watch_row(shares)
    desk.press("Delete")
    watch = desk.panel("marketWatch")
    assert watch.current_view().quotes.row_of(shares.token) is None


def check_positions_delete(desk: Desk) -> None:
    option = atm_call(desk.engine)
    desk.position(option)
    desk.focus_panel("positions", "Alt+F6")
    desk.press("Delete")
    assert desk.asked == [f"Square off 1 position(s) at market?\n{option.tradingsymbol}"]
    assert [p.net_quantity for p in desk.engine.api.positions()] == [option.lot_size]


def check_orderbook_delete(desk: Desk) -> None:
    order_id = desk.resting_order(atm_call(desk.engine))
    desk.focus_panel("orderbook", "F3")
    desk.press("Delete")
    assert not desk.engine.api.order(order_id).status.is_open


def check_kill_switch(desk: Desk) -> None:
    desk.press("Ctrl+Shift+K")
    assert desk.engine.api.trading_state().state is TradingState.HALTED


def check_cancel_all(desk: Desk) -> None:
    desk.resting_order(atm_call(desk.engine))
    desk.press("Ctrl+Shift+X")
    assert desk.asked == ["Cancel all 1 open order(s)?"]
    assert any(o.status.is_open for o in desk.engine.api.orders()), "asked, not yet done"


def check_square_off_all(desk: Desk) -> None:
    desk.position(atm_call(desk.engine))
    desk.press("Ctrl+Shift+Q")
    assert desk.asked == ["Square off all 1 open position(s) at market?"]


def check_reset_layout(desk: Desk) -> None:
    desk.window.docks["positions"].close()
    desk.press("Ctrl+Shift+L")
    assert desk.window.docks["positions"].isVisible()


def check_manual(desk: Desk) -> None:
    desk.press("Shift+F1")
    assert desk.window.manual is not None and desk.window.manual.isVisible()
    desk.window.manual.close()


def check_settings(desk: Desk) -> None:
    desk.press("Ctrl+,")
    dialog = desk.window.settings_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.close()


PANEL_KEYS = {
    (key, what): spec.object_name
    for key, what in SHORTCUTS
    for spec in PANELS
    if spec.shortcut == key
}
"""The list's panel keys (F3 Orderbook, ...), one test for them all: each shows its panel."""
CHECKS: dict[tuple[str, str], Callable[[Desk], None]] = {}
"""Each other entry of the list, (key, what it does), and the check that the key does it."""
BY_WORDS: list[tuple[str, str, Callable[[Desk], None]]] = [
    ("F1", "Buy order ticket", check_f1),
    ("F2", "Sell order ticket", check_f2),
    ("Enter", "Submit the order ticket", check_submit),
    ("Esc", "Close the order ticket", check_esc),
    ("Enter", "Option Chain", check_chain_enter),
    ("Ctrl+Alt+A", "set an alert", check_alert_key),
    ("+", "one more lot", check_signal_plus),
    ("-", "one lot fewer", check_signal_minus),
    ("↑", "card above", check_signal_up),
    ("↓", "card below", check_signal_down),
    ("Alt+C", "Chart what is selected", check_chart),
    ("Alt+Shift+C", "IV", check_iv_chart),
    ("Ctrl+Shift+S", "start", multileg_check(started)),
    ("Ctrl+Shift+T", "stop", multileg_check(stopped)),
    ("Ctrl+Shift+E", "enter the selected portfolio now", multileg_check(entered)),
    ("Ctrl+Shift+F", "square off the selected portfolio", multileg_check(squared_off)),
    ("Ctrl+N", "new portfolio", multileg_check(new_portfolio)),
    ("Enter", "Multileg: edit", multileg_check(edited)),
    ("Shift+F2", "Modify the selected order", check_modify),
    ("Delete", "Market Watch", check_watch_delete),
    ("Delete", "Positions", check_positions_delete),
    ("Delete", "Orderbook", check_orderbook_delete),
    ("Ctrl+Shift+K", "Kill switch", check_kill_switch),
    ("Ctrl+Shift+X", "Cancel all", check_cancel_all),
    ("Ctrl+Shift+Q", "Square off all", check_square_off_all),
    ("Ctrl+Shift+L", "Reset the layout", check_reset_layout),
    ("Shift+F1", "User manual", check_manual),
    ("Ctrl+,", "Settings", check_settings),
]
UNLISTED: list[tuple[str, str]] = []
"""Keys checked here that the list does not say (or says twice)."""
for _key, _words, _check in BY_WORDS:
    _entries = [(k, w) for k, w in SHORTCUTS if k == _key and _words in w]
    if len(_entries) == 1:
        CHECKS[_entries[0]] = _check
    else:
        UNLISTED.append((_key, _words))


def test_every_listed_key_has_a_check_here_and_every_checked_key_is_listed() -> None:
    assert [e for e in SHORTCUTS if e not in CHECKS and e not in PANEL_KEYS] == []
    assert len(PANEL_KEYS) == sum(1 for spec in PANELS if spec.shortcut)
    assert UNLISTED == []


def test_listed_panel_keys_when_pressed_through_the_window_show_their_panel_focused(
    desk: Desk,
) -> None:
    missed = [panel_key_missed(desk, name, key) for (key, _), name in PANEL_KEYS.items()]
    assert [problem for problem in missed if problem is not None] == []


OTHER_KEYS = [entry for entry in SHORTCUTS if entry in CHECKS]


@pytest.mark.parametrize("entry", OTHER_KEYS, ids=[f"{k} {w[:30]}" for k, w in OTHER_KEYS])
def test_listed_key_when_pressed_through_the_window_does_what_the_list_says(
    desk: Desk, entry: tuple[str, str]
) -> None:
    CHECKS[entry](desk)


def test_menu_bar_letters_when_listed_are_each_one_menus_and_none_of_the_windows_keys(
    desk: Desk,
) -> None:
    window = desk.window
    bound = {
        sequence.toString()
        for action in [*window.actions(), *window.findChildren(QAction)]
        for sequence in action.shortcuts()
    } | {QKeySequence(key).toString() for key, _ in SHORTCUTS if key not in NAMED_KEYS}
    letters = [
        QKeySequence.mnemonic(action.text()).toString()
        for action in window.menuBar().actions()
        if "&" in action.text()
    ]
    assert len(letters) == len(window.menuBar().actions())
    assert len(set(letters)) == len(letters), letters
    assert sorted(set(letters) & bound) == []


@pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard")
def test_menu_bar_letter_when_pressed_opens_its_menu(desk: Desk) -> None:
    charts = next(
        a for a in desk.window.menuBar().actions() if "Charts" in a.text().replace("&", "")
    )
    desk.focus(desk.panel("marketWatch").current_view())
    desk.press(QKeySequence.mnemonic(charts.text()).toString())
    desk.qtbot.waitUntil(lambda: QApplication.activePopupWidget() is not None)
    popup = QApplication.activePopupWidget()
    assert popup is charts.menu()
    popup.close()
