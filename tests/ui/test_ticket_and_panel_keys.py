"""The desk worked from the keyboard, keys sent through the window system as on a desktop (QTest
on the focused QWindow): Enter in the ticket's search picks and never sends; F1 / F2 on an open
ticket turn its side and keep the trader's edits (a modification refuses); F1 / F2 and Enter act
on the option chain's cell, the position or the order the focus is on; a panel's key leaves its
table focused on a selected row; a held Enter sends or asks once; the ticket and the tables
have names a screen reader can say; Delete on a position asks before it squares off."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAccessible, QGuiApplication, QKeyEvent, QWindow
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication, QMessageBox, QWidget

from engine.api import OrderType, Product, Side
from engine.domain.instruments import Instrument, InstrumentType
from tests.support import atm_call
from ui.context import TicketRequest
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.option_chain import OptionChainPanel

NONE = Qt.KeyboardModifier.NoModifier
POPUP = pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard")
"""The offscreen platform says so when the search's list of hits opens."""


@pytest.fixture
def window(qtbot, engine, market, tmp_path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    market(2)
    activate(qtbot, window)
    yield window
    for box in boxes():  # a question left open must not answer the next test's keys
        box.reject()
    window.ticket.close()
    window.stop()


def activate(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is window.windowHandle())


def open_ticket(qtbot, window: MainWindow, request: TicketRequest) -> Any:  # type: ignore[no-untyped-def]
    """The ticket as a panel opens it, and the window system's keys going to it."""
    window.open_ticket(request)
    ticket = window.ticket
    qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is ticket.windowHandle())
    return ticket


def press(key: Qt.Key, modifiers: Qt.KeyboardModifier = NONE) -> None:
    """One key, as the window system delivers it to the window that has the focus."""
    QTest.keyClick(QGuiApplication.focusWindow(), key, modifiers)
    QApplication.processEvents()


def type_text(text: str) -> None:
    for character in text:
        QTest.keyClick(QGuiApplication.focusWindow(), character)
    QApplication.processEvents()


def held_enter(window: MainWindow, repeats: int) -> None:
    """Enter pressed and held: the press, then the repeats the keyboard sends, each flagged as
    one, to whichever window has the focus by then (the main window when none has); then the
    release."""

    def focused() -> QWindow:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # a box answered is gone
        return QGuiApplication.focusWindow() or window.windowHandle()

    QTest.keyPress(focused(), Qt.Key.Key_Return)
    QApplication.processEvents()
    for _ in range(repeats):
        repeat = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Return, NONE, "\r", True)
        QApplication.sendEvent(focused(), repeat)
        QApplication.processEvents()
    QTest.keyRelease(focused(), Qt.Key.Key_Return)
    QApplication.processEvents()


def boxes() -> list[QMessageBox]:
    return [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]


def watch_row(qtbot, window: MainWindow, instrument: Instrument) -> None:  # type: ignore[no-untyped-def]
    watch = window.panels["marketWatch"]
    watch.add_instrument(instrument)  # type: ignore[attr-defined]
    view = watch.current_view()  # type: ignore[attr-defined]
    view.setFocus()
    view.selectRow(view.quotes.row_of(instrument.token))
    assert window.selected_instrument() == instrument


def a_future(engine: Any) -> Instrument:
    return next(
        i
        for i in engine.registry
        if i.instrument_type is InstrumentType.FUT and i.underlying == "BANKNIFTY"
    )


def chain_cell(qtbot, window: MainWindow, attribute: str) -> tuple[Instrument, Any]:  # type: ignore[no-untyped-def]
    """F9, then the cursor on the ATM call's ``attribute`` cell (as the arrows would put it)."""
    press(Qt.Key.Key_F9)
    chain = window.panels["optionChain"]
    assert isinstance(chain, OptionChainPanel)
    assert QApplication.focusWidget() is chain.view
    row = chain.model.row_of(chain.model.atm_strike)
    index = chain.model.index(row, chain.model.column_of("call", attribute))
    chain.view.setCurrentIndex(index)
    instrument = chain.model.cell(index)[0]
    assert instrument is not None
    return instrument, index


def resting_order(engine: Any, option: Instrument, lots: int = 1, below: int = 300) -> str:
    bid = engine.api.tick(option.token).bid
    placed = engine.api.place_order(
        option.token, "BUY", option.lot_size * lots, "LIMIT", price=Decimal(bid - below) / 100
    )
    assert placed, placed.reason
    return str(placed.order_id)


def wait_for_order_rows(qtbot, window: MainWindow, count: int) -> None:  # type: ignore[no-untyped-def]
    orderbook = window.panels["orderbook"]
    qtbot.waitUntil(lambda: orderbook.model.rowCount() == count)  # type: ignore[attr-defined]


def hold_position(qtbot, window: MainWindow, engine: Any, option: Instrument) -> None:  # type: ignore[no-untyped-def]
    done = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
    assert done, done.reason
    positions = window.panels["positions"]
    qtbot.waitUntil(lambda: any(line.token == option.token for line in positions.model.rows))  # type: ignore[attr-defined]


# -- S1: Enter in the ticket's search --------------------------------------------------------------------


@POPUP
def test_ticket_search_when_enter_is_pressed_on_a_query_that_finds_nothing_sends_nothing_and_says_so(
    qtbot, window, engine
) -> None:
    ticket = open_ticket(qtbot, window, TicketRequest(Side.SELL, atm_call(engine)))
    ticket.lots.setValue(3)
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    press(Qt.Key.Key_Backtab)  # from Lots back to the search
    assert QApplication.focusWidget() is ticket.picker
    type_text("BANKNIFY 52000 PE")  # a typo: nothing matches
    press(Qt.Key.Key_Return)
    assert engine.api.orders() == []
    assert ticket.isVisible() and ticket.instrument == atm_call(engine)
    assert ticket.error_label.text() == "No instrument matches “BANKNIFY 52000 PE”: nothing changed"


@POPUP
def test_ticket_search_when_enter_picks_a_hit_moves_to_lots_and_only_the_next_enter_sends(
    qtbot, window, engine
) -> None:
    ticket = open_ticket(qtbot, window, TicketRequest(Side.BUY, atm_call(engine)))
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    press(Qt.Key.Key_Backtab)
    type_text("INFY")
    press(Qt.Key.Key_Escape)  # the list of hits closed: Enter is the line's own
    assert ticket.isVisible()
    press(Qt.Key.Key_Return)
    assert ticket.instrument is not None and ticket.instrument.tradingsymbol == "INFY"
    assert engine.api.orders() == [] and ticket.isVisible()
    assert QApplication.focusWidget() is ticket.lots
    press(Qt.Key.Key_Return)  # from Lots: sent
    [order] = engine.api.orders()
    assert order.instrument.tradingsymbol == "INFY" and not ticket.isVisible()


@POPUP
def test_ticket_search_when_a_hit_is_picked_from_the_open_list_with_enter_sends_nothing(
    qtbot, window, engine
) -> None:
    ticket = open_ticket(qtbot, window, TicketRequest(Side.BUY, atm_call(engine)))
    press(Qt.Key.Key_Backtab)
    type_text("TCS")
    assert ticket.picker.completer().popup().isVisible()
    press(Qt.Key.Key_Down)
    press(Qt.Key.Key_Return)
    assert ticket.instrument is not None and ticket.instrument.tradingsymbol == "TCS"
    assert engine.api.orders() == [] and ticket.isVisible()
    assert QApplication.focusWidget() is ticket.lots


# -- S2: F1 / F2 on an open ticket ------------------------------------------------------------------------


def test_f2_when_a_ticket_is_open_turns_it_to_sell_and_keeps_instrument_and_edits(
    qtbot, window, engine
) -> None:
    watch_row(qtbot, window, a_future(engine))  # the watch's row is another instrument
    option, index = chain_cell(qtbot, window, "ask")
    window.panels["optionChain"].on_cell_clicked(index)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    ticket.lots.setValue(4)
    ticket.product.setCurrentText(Product.MIS.value)
    ticket.price.setValue(ticket.price.value() - 1)
    price = ticket.price.value()
    press(Qt.Key.Key_F2)
    assert (ticket.instrument, ticket.side) == (option, Side.SELL)
    assert (ticket.lots.value(), ticket.product.currentText(), ticket.price.value()) == (
        4,
        Product.MIS.value,
        price,
    )
    assert ticket.modify_order_id is None and ticket.sell_button.isChecked()
    activate(qtbot, window)  # F1 from the main window, the ticket still open
    press(Qt.Key.Key_F1)
    assert (ticket.instrument, ticket.side, ticket.lots.value()) == (option, Side.BUY, 4)


def test_f1_and_f2_when_a_modify_ticket_is_open_refuse_in_words_and_change_nothing(
    qtbot, window, engine
) -> None:
    option = atm_call(engine)
    order_id = resting_order(engine, option, lots=4)
    wait_for_order_rows(qtbot, window, 1)
    watch_row(qtbot, window, a_future(engine))
    press(Qt.Key.Key_F3)
    press(Qt.Key.Key_F2, Qt.KeyboardModifier.ShiftModifier)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    assert ticket.modify_order_id == order_id
    before = (ticket.instrument, ticket.side, ticket.lots.value(), ticket.price.value())
    for key in (Qt.Key.Key_F2, Qt.Key.Key_F1):
        press(key)
        after = (ticket.instrument, ticket.side, ticket.lots.value(), ticket.price.value())
        assert after == before and ticket.modify_order_id == order_id
        assert ticket.windowTitle() == "Modify order"
        refusal = (
            f"This ticket modifies order {order_id}, a buy: its side cannot change. For a new "
            "order, close it (Esc) first."
        )
        assert ticket.error_label.text() == refusal
        assert window.statusBar().currentMessage() == refusal


# -- S3: F1 / F2 and Enter on what the focus is on ---------------------------------------------------------


def test_enter_on_an_option_chain_price_cell_opens_its_ticket_at_that_price(
    qtbot, window, engine
) -> None:
    option, _index = chain_cell(qtbot, window, "bid")
    press(Qt.Key.Key_Return)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    assert (ticket.instrument, ticket.side) == (option, Side.SELL)
    assert ticket.price.value() == pytest.approx(float(engine.api.quote(option.token).bid))


def test_f1_on_an_option_chain_cell_tickets_that_option_not_the_watch_row(
    qtbot, window, engine
) -> None:
    watch_row(qtbot, window, a_future(engine))
    option, _index = chain_cell(qtbot, window, "oi")
    press(Qt.Key.Key_F1)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    assert (ticket.instrument, ticket.side) == (option, Side.BUY)


def test_f2_on_a_positions_row_tickets_that_position(qtbot, window, engine) -> None:
    option = atm_call(engine)
    hold_position(qtbot, window, engine, option)
    watch_row(qtbot, window, a_future(engine))
    press(Qt.Key.Key_F6, Qt.KeyboardModifier.AltModifier)
    press(Qt.Key.Key_F2)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    assert (ticket.instrument, ticket.side) == (option, Side.SELL)


def test_f1_on_an_orderbook_row_tickets_that_orders_instrument(qtbot, window, engine) -> None:
    option = atm_call(engine)
    resting_order(engine, option)
    wait_for_order_rows(qtbot, window, 1)
    watch_row(qtbot, window, a_future(engine))
    press(Qt.Key.Key_F3)
    press(Qt.Key.Key_F1)
    ticket = window.ticket
    qtbot.waitUntil(ticket.isVisible)
    assert (ticket.instrument, ticket.side, ticket.modify_order_id) == (option, Side.BUY, None)


# -- minor 1: a panel's key leaves its table focused on a selected row ---------------------------------------


def focused_table(window: MainWindow, name: str) -> QAbstractItemView:
    focus = QApplication.focusWidget()
    assert isinstance(focus, QAbstractItemView), focus
    assert window.panels[name].isAncestorOf(focus)
    return focus


def test_panel_keys_when_pressed_focus_the_panels_table_on_a_selected_row(
    qtbot, window, engine, market
) -> None:
    option = atm_call(engine)
    hold_position(qtbot, window, engine, option)
    older = resting_order(engine, option, below=300)
    newer = resting_order(engine, option, below=310)
    wait_for_order_rows(qtbot, window, 3)
    trades = window.panels["trades"]
    qtbot.waitUntil(lambda: trades.model.rowCount() == 1)
    for key, modifiers, name in (
        (Qt.Key.Key_F4, NONE, "marketWatch"),
        (Qt.Key.Key_F9, NONE, "optionChain"),
        (Qt.Key.Key_F6, Qt.KeyboardModifier.AltModifier, "positions"),
        (Qt.Key.Key_F8, NONE, "trades"),
        (Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier, "multileg"),
        (Qt.Key.Key_F3, NONE, "orderbook"),
    ):
        press(key, modifiers)
        table = focused_table(window, name)
        if table.model().rowCount():
            assert table.selectionModel().hasSelection(), name
    # The first Down goes to the second row, not the third.
    press(Qt.Key.Key_F4)
    press(Qt.Key.Key_Down)
    assert focused_table(window, "marketWatch").currentIndex().row() == 1
    # The chain's keyboard starts at the money.
    press(Qt.Key.Key_F9)
    chain = window.panels["optionChain"]
    assert chain.view.currentIndex().row() == chain.model.row_of(chain.model.atm_strike)
    # Delete right after F3: the newest order (the top row) is cancelled.
    press(Qt.Key.Key_F3)
    press(Qt.Key.Key_Delete)
    assert not engine.api.order(newer).status.is_open
    assert engine.api.order(older).status.is_open


# -- minor 4: a held Enter ---------------------------------------------------------------------------------


def test_ticket_when_enter_is_held_with_confirm_on_asks_once_and_its_repeats_answer_nothing(
    qtbot, window, engine
) -> None:
    asked: list[str] = []
    confirm = window.context.confirm
    window.context.confirm = lambda title, text, action: (  # type: ignore[method-assign]
        asked.append(text),
        confirm(title, text, action),
    )
    window.settings.update("trading", confirm_orders=True)
    ticket = open_ticket(qtbot, window, TicketRequest(Side.BUY, atm_call(engine)))
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    held_enter(window, repeats=4)
    assert len(asked) == 1
    [box] = boxes()
    assert engine.api.orders() == []
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(engine.api.orders()) == 1)


def test_ticket_when_enter_is_held_on_an_order_the_gate_denies_sends_it_once(
    qtbot, window, engine
) -> None:
    sent: list[object] = []
    window.ticket.submitted.connect(sent.append)
    ticket = open_ticket(qtbot, window, TicketRequest(Side.SELL, atm_call(engine)))
    ticket.lots.setValue(28)  # above the freeze quantity
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    held_enter(window, repeats=4)
    assert len(sent) == 1 and ticket.error_label.text().startswith("Denied: ")


# -- minor 5: Enter on the side buttons ----------------------------------------------------------------------


@pytest.mark.parametrize("button", ["buy_button", "sell_button"])
def test_enter_on_a_ticket_side_button_sends_the_order(qtbot, window, engine, button) -> None:
    ticket = open_ticket(qtbot, window, TicketRequest(Side.BUY, atm_call(engine)))
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    getattr(ticket, button).setFocus()
    qtbot.waitUntil(getattr(ticket, button).hasFocus)
    press(Qt.Key.Key_Return)
    [order] = engine.api.orders()
    assert order.side is Side.BUY and not ticket.isVisible()


# -- minor 3: names a screen reader says ---------------------------------------------------------------------


def spoken(widget: QWidget) -> tuple[str, str]:
    face = QAccessible.queryAccessibleInterface(widget)
    assert face is not None
    return face.text(QAccessible.Text.Name), face.text(QAccessible.Text.Description)


def called(widget: QWidget) -> set[str]:
    """What a screen reader may call a field: its name, and the labels that name it (on Linux
    a combo box's name is its value and its label comes by this relation)."""
    face = QAccessible.queryAccessibleInterface(widget)
    assert face is not None
    labels = face.relations(QAccessible.Relation.Label)
    return {face.text(QAccessible.Text.Name)} | {
        label.text(QAccessible.Text.Name) for label, _relation in labels
    }


def test_ticket_fields_tables_and_denial_when_read_by_a_screen_reader_are_named(
    qtbot, window, engine
) -> None:
    ticket = open_ticket(qtbot, window, TicketRequest(Side.SELL, atm_call(engine)))
    fields = {"lots": "Lots", "order_type": "Order type", "product": "Product"}
    fields |= {"validity": "Validity", "price": "Price", "trigger": "Trigger"}
    for field, name in fields.items():
        assert name in called(getattr(ticket, field)), field
    # On Windows and macOS a combo box is announced by its accessible name, then its value.
    combos = (ticket.order_type, ticket.product, ticket.validity)
    assert [c.accessibleName() for c in combos] == ["Order type", "Product", "Validity"]
    assert spoken(ticket.submit_button)[0] == "Sell (Enter)"
    tables = {
        name: spoken(window.panels[name].view)[0]  # type: ignore[attr-defined]
        for name in ("optionChain", "orderbook", "positions", "trades")
    }
    tables["marketWatch"] = spoken(window.panels["marketWatch"].current_view())[0]  # type: ignore[attr-defined]
    assert tables == {
        "optionChain": "Option chain",
        "orderbook": "Orders",
        "positions": "Positions",
        "trades": "Trades",
        "marketWatch": "Watchlist Market",
    }
    ticket.lots.setValue(28)
    ticket.order_type.setCurrentText(OrderType.MARKET.value)
    ticket.submit()
    denial = ticket.error_label.text()
    assert denial.startswith("Denied: quantity")
    assert spoken(ticket.error_label)[1] == denial
    assert spoken(ticket.submit_button)[1] == denial


# -- minor 6: Delete on a position ---------------------------------------------------------------------------


def test_delete_on_a_position_asks_first_no_keeps_it_and_yes_squares_it_off(
    qtbot, window, engine, market
) -> None:
    option = atm_call(engine)
    hold_position(qtbot, window, engine, option)
    press(Qt.Key.Key_F6, Qt.KeyboardModifier.AltModifier)
    press(Qt.Key.Key_Delete)
    [box] = boxes()
    assert box.text() == f"Square off 1 position(s) at market?\n{option.tradingsymbol}"
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    press(Qt.Key.Key_Return)  # the answer unless the trader chooses otherwise: No
    qtbot.waitUntil(lambda: not boxes())
    assert [p.net_quantity for p in engine.api.positions()] == [option.lot_size]
    activate(qtbot, window)
    press(Qt.Key.Key_F6, Qt.KeyboardModifier.AltModifier)
    press(Qt.Key.Key_Delete)
    [box] = boxes()
    box.button(QMessageBox.StandardButton.Yes).click()
    market(1)
    qtbot.waitUntil(lambda: [p.net_quantity for p in engine.api.positions()] == [0])
