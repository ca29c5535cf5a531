"""The orderbook panel on the simulated market: orders placed through the engine appear with their
status and colours, filter tabs, cancel / cancel all / modify from the panel, order history on
double-click, and CSV / Excel export read back."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from engine.api import OrderStatus, OrderType, Side
from engine.domain.instruments import Instrument
from engine.domain.values import to_rupees
from tests.support import atm_call
from ui.context import TicketRequest
from ui.export import csv_text
from ui.panels.order_history import OrderHistoryDialog
from ui.panels.order_ticket import OrderTicket
from ui.panels.orderbook import OrderbookPanel, OrderFilter


def resting_price(engine, instrument: Instrument) -> Decimal:  # type: ignore[no-untyped-def]
    """A BUY limit 10 % below the bid (inside the fat-finger band), on the tick: it rests OPEN."""
    bid = engine.api.tick(instrument.token).bid
    paise = (bid * 9 // 10) // instrument.tick_size * instrument.tick_size
    return to_rupees(paise)


@pytest.fixture
def book(qtbot, engine, market, context):  # type: ignore[no-untyped-def]
    """A market that has ticked, three orders (filled, resting, denied) and the panel on All."""
    market(1)
    option = atm_call(engine)
    filled = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
    resting = engine.api.place_order(
        option.token, "BUY", 2 * option.lot_size, "LIMIT", price=resting_price(engine, option)
    )
    denied = engine.api.place_order(option.token, "SELL", 7, "MARKET")
    assert filled and resting and not denied
    panel = OrderbookPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1400, 400)
    panel.set_filter(OrderFilter.ALL)
    # The denial reaches the panel only through the bridge (it never became an order).
    qtbot.waitUntil(lambda: len(panel.visible_rows()) == 3)
    return panel, {
        "filled": filled.order_id,
        "resting": resting.order_id,
        "denied": denied.order_id,
    }


def focus_table(qtbot, panel: OrderbookPanel) -> None:  # type: ignore[no-untyped-def]
    """Keys reach the table's shortcuts only in a shown, active window with the table focused."""
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    panel.view.setFocus()
    qtbot.waitUntil(panel.view.hasFocus)


def cell(panel: OrderbookPanel, order_id: str, title: str, role=Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
    row = panel.model.row_of(order_id)
    assert row is not None, f"{order_id} is not in the orderbook"
    column = [c.title for c in panel.model.columns].index(title)
    return panel.model.index(row, column).data(role)


def status_of(panel: OrderbookPanel, order_id: str) -> str:
    return cell(panel, order_id, "Status")


def test_orderbook_when_orders_are_placed_shows_each_with_its_status(book, engine) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    assert status_of(panel, ids["filled"]) == "COMPLETE"
    assert status_of(panel, ids["resting"]) == "OPEN"
    assert status_of(panel, ids["denied"]) == "DENIED"
    assert "not a multiple of the lot size" in cell(panel, ids["denied"], "Reason")
    assert cell(panel, ids["filled"], "Qty") == "65 / 65"
    assert cell(panel, ids["resting"], "Qty") == "0 / 130"
    assert cell(panel, ids["filled"], "B/S") == "BUY"
    assert cell(panel, ids["filled"], "Type") == str(engine.api.order(ids["filled"]).order_type)
    assert cell(panel, ids["filled"], "Avg") != ""
    assert cell(panel, ids["resting"], "Avg") == ""


def test_orderbook_when_painted_colours_status_and_side_by_the_indian_convention(
    book, context
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    palette = context.theme.palette
    foreground = Qt.ItemDataRole.ForegroundRole
    assert cell(panel, ids["filled"], "Status", foreground) == palette.up
    assert cell(panel, ids["resting"], "Status", foreground) == palette.warning
    assert cell(panel, ids["denied"], "Status", foreground) == palette.down
    assert cell(panel, ids["filled"], "B/S", foreground) == palette.buy
    assert cell(panel, ids["denied"], "B/S", foreground) == palette.sell
    alignment = cell(panel, ids["filled"], "Price", Qt.ItemDataRole.TextAlignmentRole)
    assert alignment & Qt.AlignmentFlag.AlignRight


def test_orderbook_filter_tabs_when_switched_show_open_executed_and_rejected_rows(book) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    shown = lambda: {r.order_id for r in panel.visible_rows()}  # noqa: E731
    panel.tabs.setCurrentIndex(list(OrderFilter).index(OrderFilter.OPEN))
    assert shown() == {ids["resting"]}
    panel.set_filter(OrderFilter.EXECUTED)
    assert shown() == {ids["filled"]}
    panel.set_filter(OrderFilter.REJECTED)
    assert shown() == {ids["denied"]}
    panel.set_filter(OrderFilter.ALL)
    assert shown() == set(ids.values())
    assert [panel.tabs.tabText(i) for i in range(4)] == [
        "Open (1)",
        "Executed (1)",
        "Rejected (1)",
        "All (3)",
    ]


def test_orderbook_text_filter_when_typed_keeps_only_matching_rows(book, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    qtbot.keyClicks(panel.search, "lot size")
    assert [r.order_id for r in panel.visible_rows()] == [ids["denied"]]
    panel.search.clear()
    assert len(panel.visible_rows()) == 3


def test_orderbook_when_a_header_is_clicked_sorts_by_that_column(book) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    qty = [c.title for c in panel.model.columns].index("Qty")
    panel.view.sortByColumn(qty, Qt.SortOrder.AscendingOrder)
    assert [r.quantity for r in panel.visible_rows()] == [7, 65, 130]
    panel.view.sortByColumn(qty, Qt.SortOrder.DescendingOrder)
    assert [r.quantity for r in panel.visible_rows()] == [130, 65, 7]


def test_orderbook_cancel_action_when_a_resting_order_is_selected_cancels_it(
    book, qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    assert panel.select_order(ids["resting"])
    assert panel.cancel_action.isEnabled()
    focus_table(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert engine.api.order(ids["resting"]).status is OrderStatus.CANCELLED
    qtbot.waitUntil(lambda: status_of(panel, ids["resting"]) == "CANCELLED")
    assert "Cancel sent for 1 order" in panel.feedback.text()
    assert not panel.cancel_action.isEnabled()


def test_orderbook_cancel_when_only_finished_orders_are_selected_sends_nothing(
    book, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    panel.select_order(ids["filled"])
    assert not panel.cancel_action.isEnabled()
    panel.cancel_selected()
    assert engine.api.order(ids["filled"]).status is OrderStatus.COMPLETE
    assert "open orders to cancel" in panel.feedback.text()


def test_orderbook_cancel_all_when_confirmed_leaves_no_open_order(
    book, qtbot, engine, context
) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    option = atm_call(engine)
    more = engine.api.place_order(
        option.token, "BUY", option.lot_size, "LIMIT", price=resting_price(engine, option)
    )
    assert more
    asked = []

    def confirm(title, text, action):  # type: ignore[no-untyped-def]
        asked.append(text)
        action()

    context.confirm = confirm
    panel.cancel_all_action.trigger()
    assert asked == ["Cancel all 2 open orders, in every instrument?"]
    assert not [o for o in engine.api.orders() if o.status.is_open]
    panel.set_filter(OrderFilter.OPEN)
    qtbot.waitUntil(lambda: panel.visible_rows() == [])
    assert panel.tabs.tabText(0) == "Open (0)"


def test_orderbook_cancel_all_when_the_trader_says_no_cancels_nothing(
    book, engine, context
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    context.confirm = lambda title, text, action: None
    panel.cancel_all_open()
    assert engine.api.order(ids["resting"]).status is OrderStatus.OPEN


def test_orderbook_modify_when_an_open_order_is_selected_opens_the_ticket_for_it(
    book, qtbot, context
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    requests: list[TicketRequest] = []
    context.open_ticket = requests.append
    panel.select_order(ids["resting"])
    focus_table(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_F2, Qt.KeyboardModifier.ShiftModifier)
    [request] = requests
    row = panel.selected_orders()[0]
    assert request.modify_order_id == ids["resting"]
    assert request.side is Side.BUY
    assert request.instrument == row.instrument
    assert request.price == row.price
    assert request.lots == 2
    assert request.order_type is OrderType.LIMIT and request.trigger is None


def buy_stop(engine, instrument: Instrument) -> str:  # type: ignore[no-untyped-def]
    """A BUY stop-loss, trigger 5 % above the ask and its limit 2 ticks above that: it waits
    TRIGGER PENDING, and as a plain LIMIT at that price it would fill at once."""
    ask = engine.api.tick(instrument.token).ask
    trigger = (ask * 105 // 100) // instrument.tick_size * instrument.tick_size
    placed = engine.api.place_order(
        instrument.token,
        "BUY",
        instrument.lot_size,
        "SL",
        price=to_rupees(trigger + 2 * instrument.tick_size),
        trigger_price=to_rupees(trigger),
    )
    assert placed, placed.reason
    assert engine.api.order(placed.order_id).status is OrderStatus.TRIGGER_PENDING
    return str(placed.order_id)


def modify_ticket(qtbot, panel: OrderbookPanel, context, order_id: str) -> OrderTicket:  # type: ignore[no-untyped-def]
    """Modify… on ``order_id`` with the real ticket wired in, as the window does."""
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    context.open_ticket = ticket.open_for
    qtbot.waitUntil(lambda: panel.select_order(order_id))
    panel.modify_selected()
    assert ticket.modify_order_id == order_id
    return ticket


def test_orderbook_modify_when_a_stop_loss_is_opened_shows_its_type_price_and_trigger(
    book, qtbot, context, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    stop = engine.api.order(buy_stop(engine, atm_call(engine)))
    ticket = modify_ticket(qtbot, panel, context, str(stop.order_id))
    assert ticket.order_type.currentText() == "SL"
    assert ticket.trigger.isEnabled() and ticket.price.isEnabled()
    assert Decimal(repr(ticket.trigger.value())) == stop.trigger_price
    assert Decimal(repr(ticket.price.value())) == stop.price


def test_orderbook_modify_when_only_a_stops_limit_is_moved_keeps_it_a_waiting_stop(
    book, qtbot, context, engine, market
) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    option = atm_call(engine)
    order_id = buy_stop(engine, option)
    trigger = engine.api.order(order_id).trigger_price
    ticket = modify_ticket(qtbot, panel, context, order_id)
    tick = to_rupees(option.tick_size)
    ticket.price.setValue(float(engine.api.order(order_id).price + tick))
    outcome = ticket.submit()
    assert outcome, outcome
    market(1)
    order = engine.api.order(order_id)
    assert order.order_type is OrderType.SL
    assert order.trigger_price == trigger
    assert order.status is OrderStatus.TRIGGER_PENDING and order.filled_quantity == 0


def test_orderbook_modify_when_the_ticket_was_left_on_sl_modifies_a_limit_order_as_a_limit(
    book, qtbot, context, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    ticket.open_for(TicketRequest(Side.BUY, atm_call(engine)))
    ticket.order_type.setCurrentText("SL")  # a stop the trader began and closed
    ticket.close()
    context.open_ticket = ticket.open_for
    panel.select_order(ids["resting"])
    panel.modify_selected()
    assert ticket.order_type.currentText() == "LIMIT"
    assert not ticket.trigger.isEnabled()
    lowered = engine.api.order(ids["resting"]).price - Decimal("0.05")
    ticket.price.setValue(float(lowered))
    outcome = ticket.submit()
    assert outcome, outcome.reason
    order = engine.api.order(ids["resting"])
    assert (order.order_type, order.price, order.status) == (
        OrderType.LIMIT,
        lowered,
        OrderStatus.OPEN,
    )


def test_orderbook_modify_when_a_finished_order_is_selected_is_disabled(book, context) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    requests: list[TicketRequest] = []
    context.open_ticket = requests.append
    panel.select_order(ids["filled"])
    assert not panel.modify_action.isEnabled()
    panel.modify_selected()
    assert requests == []


def test_orderbook_selection_when_new_orders_arrive_stays_on_the_same_order(
    book, qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    panel.select_order(ids["resting"])
    option = atm_call(engine)
    for lots in (3, 4, 5):  # different sizes: identical orders in a row are denied as duplicates
        assert engine.api.place_order(option.token, "BUY", lots * option.lot_size, "MARKET")
    qtbot.waitUntil(lambda: len(panel.visible_rows()) == 6)
    assert [r.order_id for r in panel.selected_orders()] == [ids["resting"]]


def test_orderbook_double_click_when_on_an_order_opens_its_history(book, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    focus_table(qtbot, panel)
    assert panel.select_order(ids["filled"])
    index = panel.view.currentIndex()
    rect = panel.view.visualRect(panel.view.model().index(index.row(), 1))
    # A real double click starts with a click: the view opens what was pressed.
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = panel.history_dialogs[ids["filled"]]
    assert isinstance(dialog, OrderHistoryDialog)
    assert not dialog.isModal() and dialog.isVisible()
    events = [(r.event, r.status) for r in dialog.rows]
    assert events[0] == ("Submitted", OrderStatus.PENDING_SUBMIT)
    assert ("Status", OrderStatus.OPEN) in events
    fills = [r for r in dialog.rows if r.event == "Fill"]
    assert sum(r.quantity for r in fills) == 65
    assert all("charges" in r.message for r in fills)
    dialog.close()
    qtbot.waitUntil(lambda: ids["filled"] not in panel.history_dialogs)


def test_order_history_when_the_order_is_cancelled_later_follows_it_live(
    book, qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    dialog = panel.show_history(ids["resting"])
    assert dialog is not None
    engine.api.cancel(ids["resting"])
    qtbot.waitUntil(lambda: dialog.rows[-1].status is OrderStatus.CANCELLED)
    assert "CANCELLED" in dialog.summary.text()
    dialog.close()


def test_order_history_when_the_request_was_denied_shows_the_denial(book) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    dialog = panel.show_history(ids["denied"])
    assert dialog is not None
    [row] = dialog.rows
    assert row.event == "Denied"
    assert "lot size" in row.message
    dialog.close()


def test_orderbook_export_csv_when_read_back_has_the_rows_shown(book, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    path = tmp_path / "orders.csv"
    assert panel.export_to(path) == 3
    with path.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    shown = panel.visible_rows()
    assert [r["Order ID"] for r in records] == [row.order_id for row in shown]
    by_id = {r["Order ID"]: r for r in records}
    filled = by_id[ids["filled"]]
    snapshot = panel._context.api.order(ids["filled"])
    assert filled["Status"] == "COMPLETE"
    assert filled["Side"] == "BUY"
    assert filled["Filled"] == filled["Quantity"] == "65"
    assert Decimal(filled["Avg price"]) == snapshot.average_price
    assert filled["Symbol"] == snapshot.instrument.tradingsymbol
    assert filled["Time"] == csv_text(
        shown[[r.order_id for r in shown].index(ids["filled"])].placed
    )
    assert "+05:30" in filled["Time"]
    assert "lot size" in by_id[ids["denied"]]["Reason"]
    assert Decimal(by_id[ids["resting"]]["Price"]) == panel._context.api.order(ids["resting"]).price


def test_orderbook_export_csv_when_a_tab_is_chosen_writes_only_that_tab(book, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    panel.set_filter(OrderFilter.OPEN)
    path = tmp_path / "open.csv"
    assert panel.export_to(path) == 1
    with path.open(newline="", encoding="utf-8") as f:
        assert [r["Order ID"] for r in csv.DictReader(f)] == [ids["resting"]]


def test_orderbook_export_xlsx_when_read_back_has_the_rows_shown(book, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    panel, ids = book
    path = tmp_path / "orders.xlsx"
    assert panel.export_to(path) == 3
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    headers = list(rows[0])
    assert headers[0] == "Time (IST)" and "Order ID" in headers
    records = [dict(zip(headers, r, strict=True)) for r in rows[1:]]
    assert [r["Order ID"] for r in records] == [row.order_id for row in panel.visible_rows()]
    filled = next(r for r in records if r["Order ID"] == ids["filled"])
    snapshot = panel._context.api.order(ids["filled"])
    assert filled["Status"] == "COMPLETE"
    assert filled["Quantity"] == 65
    assert Decimal(str(filled["Avg price"])) == snapshot.average_price
    placed = next(r.placed for r in panel.visible_rows() if r.order_id == ids["filled"])
    assert filled["Time (IST)"] == placed.replace(tzinfo=None, microsecond=0) or filled[
        "Time (IST)"
    ] == placed.replace(tzinfo=None)


def test_orderbook_export_when_the_file_type_is_unknown_says_so(book, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    with pytest.raises(ValueError, match=r"\.csv or \.xlsx"):
        panel.export_to(tmp_path / "orders.pdf")
    assert not (tmp_path / "orders.pdf").exists()


def test_orderbook_export_dialog_when_opened_is_not_modal(book, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel, _ids = book
    panel.show()
    panel.export_csv_action.trigger()
    dialog = panel._export_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowModality() != Qt.WindowModality.ApplicationModal
    dialog.reject()


def test_orderbook_when_opened_after_orders_exist_lists_them_all(
    qtbot, engine, market, context
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    option = atm_call(engine)
    placed = engine.api.place_order(option.token, "BUY", option.lot_size, "MARKET")
    panel = OrderbookPanel(context)
    qtbot.addWidget(panel)
    assert panel.filter is OrderFilter.ALL
    assert [r.order_id for r in panel.visible_rows()] == [placed.order_id]


def test_orderbook_enter_key_when_an_order_is_selected_opens_its_history(book, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    focus_table(qtbot, panel)
    panel.select_order(ids["resting"])
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    dialog = panel.history_dialogs[ids["resting"]]
    assert [r.event for r in dialog.rows][:1] == ["Submitted"]
    dialog.close()


def test_orderbook_copy_when_rows_are_selected_puts_them_on_the_clipboard(book, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QGuiApplication

    panel, ids = book
    focus_table(qtbot, panel)
    panel.select_order(ids["denied"])
    qtbot.keyClick(panel.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    header, line = QGuiApplication.clipboard().text().splitlines()
    assert header.split("\t")[:3] == ["Time", "Symbol", "B/S"]
    assert ids["denied"] in line.split("\t")
    assert "DENIED" in line.split("\t")


def test_orderbook_context_menu_when_built_offers_the_order_actions(book) -> None:  # type: ignore[no-untyped-def]
    panel, ids = book
    panel.select_order(ids["resting"])
    menu = panel.context_menu()
    actions = {a.text().replace("&", ""): a for a in menu.actions() if not a.isSeparator()}
    assert list(actions) == [
        "Modify…",
        "Cancel",
        "Cancel all open…",
        "Order history",
        "Copy rows",
        "Export CSV…",
        "Export Excel…",
    ]
    assert actions["Modify…"].isEnabled() and actions["Cancel"].isEnabled()
    menu.deleteLater()
