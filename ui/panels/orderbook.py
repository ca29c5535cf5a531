"""The orderbook: the orders of the trading day, filtered Open / Executed / Rejected / All.

Like a broker's order book it shows the desk's trading day (IST): the orders placed that day and
any order still working from an earlier one (never hidden). Every day the book holds is one choice
away (All days, each order then with its date). A desk left running overnight turns to the new day
by itself.

Rows are plain values built from engine snapshots (``api.orders()``), plus the requests the gate
denied before they became orders (the bridge delivers those as ``OrderDenied``; at start, the
day's are read from the journal). The model is updated only when the bridge reports order
events, one frame at a time, and only the orders those events name are re-read; the model holds
only the days shown, so a frame costs the day's orders, not every order the book ever held. Sorting and
filtering go through a proxy, so the selection stays on the same orders while their rows change,
move or get added.

Columns and colours follow multileg_and_panels.md §3.1 and §3.3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import QMenu, QTabBar, QWidget

from engine.api import (
    OrderDenied,
    OrderSnapshot,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.instruments import Instrument
from engine.domain.values import to_rupees
from ui.bridge import QUEUED
from ui.context import PanelContext, TicketRequest
from ui.export import ask_export_path, at_ist, write_table
from ui.format import quantity, rupees
from ui.models.table import Column, RowTableModel
from ui.panels.table_kit import (
    ALL_DAYS,
    TODAY,
    DaysShown,
    LineLabel,
    RowFilterProxy,
    action_button,
    action_menu,
    copy_rows,
    export_actions,
    export_button,
    export_table,
    make_table,
    panel_layout,
    popup_menu,
    search_box,
    selected_rows,
    view_action,
)
from ui.theme import Palette

if TYPE_CHECKING:
    from ui.panels.order_history import OrderHistoryDialog

MAX_DENIALS = 2_000
"""Denied requests kept in the book (they are not orders, the engine does not keep them)."""


_AMBER_STATUSES = frozenset({OrderStatus.OPEN})
_BLUE_STATUSES = frozenset({OrderStatus.TRIGGER_PENDING})


def status_colour(status: OrderStatus, palette: Palette) -> QColor:
    """The Indian terminals' status colours (multileg_and_panels.md §3.3).

    COMPLETE green; REJECTED and DENIED red; CANCELLED grey; OPEN amber; TRIGGER PENDING blue;
    the transient states on the way (PENDING SUBMIT, MODIFY/CANCEL PENDING, ...) grey like
    anything not yet settled.
    """
    if status is OrderStatus.COMPLETE:
        return palette.up
    if status in (OrderStatus.REJECTED, OrderStatus.DENIED):
        return palette.down
    if status in _AMBER_STATUSES:
        return palette.warning
    if status in _BLUE_STATUSES:
        return palette.buy
    return palette.muted


# -- rows ---------------------------------------------------------------------------------------------


class FilledOf(int):
    """An order quantity that also knows how much of it has filled; sorts by the quantity."""

    filled: int

    def __new__(cls, total: int, filled: int) -> FilledOf:
        value = super().__new__(cls, total)
        value.filled = filled
        return value

    def __str__(self) -> str:
        return f"{quantity(self.filled)} / {quantity(int(self))}"


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    placed: datetime
    updated: datetime
    instrument: Instrument | None
    symbol: str
    exchange: str
    side: Side
    product: Product
    order_type: OrderType
    validity: Validity
    quantity: int
    filled: int
    price: Decimal | None
    trigger: Decimal | None
    average: Decimal | None
    status: OrderStatus
    reason: str
    source: str
    tag: str
    denial: OrderDenied | None = None
    """The gate's denial, for a request that never became an order."""

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def lots(self) -> int:
        lot = self.instrument.lot_size if self.instrument is not None else 1
        return max(1, self.quantity // lot)

    @property
    def origin(self) -> str:
        return f"{self.source} · {self.tag}" if self.tag else self.source


def order_row(snapshot: OrderSnapshot) -> OrderRow:
    return OrderRow(
        order_id=str(snapshot.order_id),
        placed=at_ist(snapshot.created_ns),
        updated=at_ist(snapshot.updated_ns),
        instrument=snapshot.instrument,
        symbol=snapshot.instrument.tradingsymbol,
        exchange=str(snapshot.instrument.exchange),
        side=snapshot.side,
        product=snapshot.product,
        order_type=snapshot.order_type,
        validity=snapshot.validity,
        quantity=snapshot.quantity,
        filled=snapshot.filled_quantity,
        price=snapshot.price,
        trigger=snapshot.trigger_price,
        average=snapshot.average_price if snapshot.filled_quantity else None,
        status=snapshot.status,
        reason=snapshot.status_message,
        source=snapshot.origin,
        tag=snapshot.tag,
    )


def denial_row(denial: OrderDenied, instrument: Instrument | None) -> OrderRow:
    request = denial.request
    if request is None:
        raise ValueError(f"denial of {denial.order_id} carries no request to show")
    return OrderRow(
        order_id=str(denial.order_id),
        placed=at_ist(denial.ts_ns),
        updated=at_ist(denial.ts_ns),
        instrument=instrument,
        symbol=instrument.tradingsymbol if instrument is not None else f"token {request.token}",
        exchange=str(instrument.exchange) if instrument is not None else "",
        side=request.side,
        product=request.product,
        order_type=request.order_type,
        validity=request.validity,
        quantity=request.quantity,
        filled=0,
        price=None if request.price is None else to_rupees(request.price),
        trigger=None if request.trigger_price is None else to_rupees(request.trigger_price),
        average=None,
        status=OrderStatus.DENIED,
        reason=denial.reason,
        source=request.origin,
        tag=request.tag,
        denial=denial,
    )


class OrderFilter(StrEnum):
    OPEN = "Open"
    EXECUTED = "Executed"
    REJECTED = "Rejected"
    ALL = "All"


_NOT_EXECUTED = frozenset({OrderStatus.REJECTED, OrderStatus.DENIED, OrderStatus.CANCELLED})

FILTERS: dict[OrderFilter, Callable[[OrderRow], bool]] = {
    OrderFilter.OPEN: lambda row: row.is_open,
    # Executed: complete, or closed after a partial fill (the fills happened).
    OrderFilter.EXECUTED: lambda row: (
        row.status is OrderStatus.COMPLETE or (not row.is_open and row.filled > 0)
    ),
    OrderFilter.REJECTED: lambda row: row.status in _NOT_EXECUTED,
    OrderFilter.ALL: lambda row: True,
}
FILTER_TIPS = {
    OrderFilter.OPEN: "Orders still working: open, trigger pending, or on their way",
    OrderFilter.EXECUTED: "Complete orders, and cancelled orders that filled in part",
    OrderFilter.REJECTED: "Rejected by the broker or exchange, denied by the risk gate, or cancelled",
    OrderFilter.ALL: "Every order of the days shown",
}

EXPORT_FIELDS: list[tuple[str, Callable[[OrderRow], object]]] = [
    ("Time", lambda r: r.placed),
    ("Updated", lambda r: r.updated),
    ("Symbol", lambda r: r.symbol),
    ("Exchange", lambda r: r.exchange),
    ("Side", lambda r: r.side),
    ("Product", lambda r: r.product),
    ("Type", lambda r: r.order_type),
    ("Validity", lambda r: r.validity),
    ("Filled", lambda r: r.filled),
    ("Quantity", lambda r: r.quantity),
    ("Price", lambda r: r.price),
    ("Trigger", lambda r: r.trigger),
    ("Avg price", lambda r: r.average),
    ("Status", lambda r: r.status),
    ("Reason", lambda r: r.reason),
    ("Order ID", lambda r: r.order_id),
    ("Source", lambda r: r.source),
    ("Tag", lambda r: r.tag),
]


# -- the panel ----------------------------------------------------------------------------------------


class OrderbookPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("orderbookPanel")
        self._context = context
        self._rows: dict[str, OrderRow] = {}
        self._denials: dict[str, OrderRow] = {}
        self.history_dialogs: dict[str, OrderHistoryDialog] = {}
        self._export_dialog: QWidget | None = None
        self.filter = OrderFilter.ALL

        self.model: RowTableModel[OrderRow] = RowTableModel(
            self._columns(), key=lambda r: r.order_id
        )
        self.proxy = RowFilterProxy(self.model, self)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("orderbookTable")
        self.view.setAccessibleName("Orders")
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        self.tabs = QTabBar(self)
        self.tabs.setObjectName("orderbookFilterTabs")
        self.tabs.setDrawBase(False)
        self.tabs.setExpanding(False)
        for name in OrderFilter:
            index = self.tabs.addTab(name.value)
            self.tabs.setTabToolTip(index, FILTER_TIPS[name])
        self.shown = DaysShown(
            self,
            "orderbook",
            "Today: the orders of the desk's trading day (IST), and any order still working "
            "from an earlier day. All days: every order the book holds, each with its date",
            context.api.orders_service.trading_day,
        )
        self.days = self.shown.box
        self.search = search_box(
            self,
            "orderbookSearch",
            "Filter orders…",
            "Matches symbol, order id, status, reason, source and tag",
        )
        self.feedback = LineLabel("", self)
        self.feedback.setObjectName("orderbookFeedback")

        view = self.view
        self.modify_action = view_action(
            view,
            "&Modify…",
            self.modify_selected,
            "Shift+F2",
            "Modify the selected open order in the ticket",
        )
        self.cancel_action = view_action(
            view,
            "&Cancel",
            self.cancel_selected,
            QKeySequence(Qt.Key.Key_Delete),
            "Cancel the selected open orders",
        )
        self.cancel_all_action = view_action(
            view,
            "Cancel &all open…",
            self.cancel_all_open,
            "",
            "Cancel every open order (asks first; Ctrl+Shift+X anywhere in the window)",
        )
        self.history_action = view_action(
            view,
            "Order &history",
            self.show_history,
            QKeySequence(Qt.Key.Key_Return),
            "Every event of the selected order",
        )
        self.copy_action = view_action(
            view,
            "Cop&y rows",
            self.copy_selected,
            QKeySequence.StandardKey.Copy,
            "Copy the selected rows",
        )
        self.export_csv_action, self.export_xlsx_action = export_actions(self, self.ask_export)
        enter = QAction(view)
        enter.setShortcut(QKeySequence(Qt.Key.Key_Enter))
        enter.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        enter.triggered.connect(lambda _checked=False: self.show_history())
        view.addAction(enter)

        bar = [
            self.tabs,
            self.days,
            self.search,
            self.feedback,
            action_button(self.modify_action, self, "orderbookModify"),
            action_button(self.cancel_action, self, "orderbookCancel"),
            action_button(self.cancel_all_action, self, "orderbookCancelAll"),
            export_button(
                self, "orderbookExport", [self.export_csv_action, self.export_xlsx_action]
            ),
        ]
        panel_layout(self, bar, self.view, stretch=self.feedback)

        self.tabs.currentChanged.connect(lambda index: self.set_filter(list(OrderFilter)[index]))
        self.search.textChanged.connect(self.proxy.set_needle)
        self.view.doubleClicked.connect(lambda _index: self.show_history())
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        context.bridge.orders_changed.connect(self._on_orders_changed, QUEUED)
        self.shown.follow(self.view, self._publish)

        self.set_filter(OrderFilter.ALL)
        self.reload()

    # -- columns ------------------------------------------------------------------------------------

    def _columns(self) -> list[Column[OrderRow]]:
        def palette():  # read at paint time: the theme can change under a live model
            return self._context.theme.palette

        def side_colour(row: OrderRow) -> QColor:
            return palette().buy if row.side is Side.BUY else palette().sell

        def status_brush(row: OrderRow) -> QColor:
            return status_colour(row.status, palette())

        def fill_brush(row: OrderRow) -> QColor | None:
            if 0 < row.filled < row.quantity:
                return palette().warning
            return None

        def muted_if_cancelled(row: OrderRow) -> QColor | None:
            # Rejection reasons are what the trader needs to read: full contrast; the routine
            # "cancelled by user" steps back.
            return palette().muted if row.status is OrderStatus.CANCELLED else None

        def time_tip(row: OrderRow) -> str:
            return f"Placed {row.placed:%d %b %Y %H:%M:%S} IST, last update {row.updated:%H:%M:%S}"

        def clock(placed_and_id: tuple[datetime, str]) -> str:
            return self.shown.time_text(placed_and_id[0])

        def muted(_row: OrderRow) -> QColor:
            return palette().muted

        # Time sorts by (time, order id): orders placed in the same second keep their sequence.
        return [
            Column("Time", lambda r: (r.placed, r.order_id), text=clock, tooltip=time_tip, width=DaysShown.TIME_WIDTH[TODAY]),
            Column("Symbol", lambda r: r.symbol, tooltip=lambda r: str(r.instrument or r.symbol), width=168),
            Column("B/S", lambda r: r.side, foreground=side_colour, align="center", width=42),
            Column("Product", lambda r: r.product, align="center", width=68),
            Column("Type", lambda r: r.order_type, align="center", width=60),
            Column("Qty", lambda r: FilledOf(r.quantity, r.filled), foreground=fill_brush, align="right", width=92),
            Column("Price", lambda r: r.price, text=rupees, align="right", width=78),
            Column("Trigger", lambda r: r.trigger, text=rupees, align="right", width=70),
            Column("Avg", lambda r: r.average, text=rupees, align="right", width=78),
            Column("Status", lambda r: r.status, foreground=status_brush, tooltip=lambda r: r.status.value, width=140),
            Column("Reason", lambda r: r.reason, foreground=muted_if_cancelled, tooltip=lambda r: r.reason, width=240),
            Column("Order ID", lambda r: r.order_id, foreground=muted, width=152),
            Column("Source", lambda r: r.origin, width=90),
        ]  # fmt: skip

    # -- data ----------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read every order from the engine (start-up, or after a reconnect), and the day's
        denied requests from the journal: they never became orders, so the engine keeps them
        nowhere else, and a restart must not make them vanish."""
        api = self._context.api
        self._rows = {str(s.order_id): order_row(s) for s in api.orders()}
        for denial in api.orders_service.denials():
            if str(denial.order_id) not in self._denials:
                self._remember_denial(denial)
        self._publish()

    def _on_orders_changed(self, events: list[object]) -> None:
        self.shown.check()
        changed: set[str] = set()
        for event in events:
            order_id = str(getattr(event, "order_id", ""))
            if isinstance(event, OrderDenied) and order_id not in self._rows:
                self._remember_denial(event)
            elif order_id:
                changed.add(order_id)
        api = self._context.api
        for order_id in changed:
            snapshot = api.order(order_id)
            if snapshot is not None:
                self._rows[order_id] = order_row(snapshot)
                self._denials.pop(order_id, None)
        self._publish()

    def _remember_denial(self, denial: OrderDenied) -> None:
        if self._context.api.order(denial.order_id) is not None or denial.request is None:
            return  # a queued order denied later: its snapshot already says DENIED
        instrument = self._context.api.instruments.find(denial.request.token)
        self._denials[str(denial.order_id)] = denial_row(denial, instrument)
        while len(self._denials) > MAX_DENIALS:
            del self._denials[next(iter(self._denials))]

    def _publish(self) -> None:
        rows = [row for row in (*self._rows.values(), *self._denials.values()) if self._shows(row)]
        self.model.set_rows(rows)
        self._update_counts(rows)
        self._update_actions()

    def _shows(self, row: OrderRow) -> bool:
        """Whether the row is of the days shown: today's, or still working, or every day's."""
        shown = self.shown
        return shown.scope == ALL_DAYS or row.placed.date() == shown.day or row.is_open

    def _update_counts(self, rows: list[OrderRow]) -> None:
        for index, name in enumerate(OrderFilter):
            count = sum(1 for row in rows if FILTERS[name](row))
            self.tabs.setTabText(index, f"{name.value} ({count})")

    # -- filtering -----------------------------------------------------------------------------------

    def set_filter(self, name: OrderFilter) -> None:
        self.filter = name
        index = list(OrderFilter).index(name)
        if self.tabs.currentIndex() != index:
            self.tabs.setCurrentIndex(index)  # comes back through currentChanged
            return
        self.proxy.set_predicate(FILTERS[name])  # type: ignore[arg-type]
        self._update_actions()

    # -- the days shown ------------------------------------------------------------------------------

    @property
    def scope(self) -> str:
        """``TODAY`` (the desk's trading day, and what still works) or ``ALL_DAYS``."""
        return self.shown.scope

    @property
    def day(self) -> date:
        """The desk's trading day the panel calls today."""
        return self.shown.day

    def set_scope(self, scope: str) -> None:
        self.shown.choose(scope)

    def _check_day(self) -> None:
        self.shown.check()

    def visible_rows(self) -> list[OrderRow]:
        return self.proxy.visible_rows()  # type: ignore[return-value]

    def selected_orders(self) -> list[OrderRow]:
        return selected_rows(self.view)  # type: ignore[return-value]

    def select_order(self, order_id: str) -> bool:
        """Select one order's row (False if it is not shown under the current filter)."""
        position = self.model.row_of(order_id)
        if position is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(position, 0))
        if not index.isValid():
            return False
        # Through the selection model, not selectRow(): that one reads the keyboard modifiers and
        # would extend a range if Shift happened to be held.
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)
        return True

    # -- actions -------------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        selected = self.selected_orders()
        open_selected = [r for r in selected if r.is_open]
        self.modify_action.setEnabled(
            len(selected) == 1 and bool(open_selected) and selected[0].instrument is not None
        )
        self.cancel_action.setEnabled(bool(open_selected))
        self.cancel_all_action.setEnabled(any(r.is_open for r in self._rows.values()))
        self.history_action.setEnabled(len(selected) == 1)

    def modify_selected(self) -> None:
        selected = self.selected_orders()
        if len(selected) != 1 or not selected[0].is_open or selected[0].instrument is None:
            self.tell("Select one open order to modify")
            return
        row = selected[0]
        self._context.open_ticket(
            TicketRequest(
                side=row.side,
                instrument=row.instrument,
                price=row.price,
                lots=row.lots,
                modify_order_id=row.order_id,
                order_type=row.order_type,
                trigger=row.trigger,
            )
        )

    def cancel_selected(self) -> None:
        targets = [r for r in self.selected_orders() if r.is_open]
        if not targets:
            self.tell("Select one or more open orders to cancel")
            return
        refused, notes = [], []
        for row in targets:
            outcome = self._context.api.cancel(row.order_id)
            if not outcome:
                refused.append(f"{row.symbol}: {outcome.reason}")
            elif outcome.note and outcome.note not in notes:
                notes.append(outcome.note)
        sent = len(targets) - len(refused)
        message = f"Cancel sent for {sent} order{'s' if sent != 1 else ''}" if sent else ""
        if notes:
            message += f" ({'; '.join(notes)})"
        if refused:
            message = "; ".join(filter(None, [message, "refused — " + "; ".join(refused)]))
        self.tell(message, error=bool(refused))

    def cancel_all_open(self) -> None:
        count = sum(1 for s in self._context.api.orders() if s.status.is_open)
        if not count:
            self.tell("No open orders to cancel")
            return
        plural = "s" if count != 1 else ""
        self._context.confirm(
            "Cancel all open orders",
            f"Cancel all {count} open order{plural}, in every instrument?",
            self._cancel_all_now,
        )

    def _cancel_all_now(self) -> None:
        outcomes = self._context.api.cancel_all()
        refused = [o for o in outcomes if not o]
        text = f"Cancel sent for {len(outcomes) - len(refused)} of {len(outcomes)} open orders"
        if refused:
            text += "; refused — " + "; ".join(f"{o.order_id}: {o.reason}" for o in refused)
        self.tell(text, error=bool(refused))

    def show_history(self, order_id: str | None = None) -> OrderHistoryDialog | None:
        if order_id is None:
            selected = self.selected_orders()
            if len(selected) != 1:
                return None
            order_id = selected[0].order_id
        from ui.panels.order_history import OrderHistoryDialog  # the dialog builds on this module

        dialog = self.history_dialogs.get(order_id)
        if dialog is None:
            row = self._rows.get(order_id) or self._denials.get(order_id)
            fallback: list[object] = [row.denial] if row is not None and row.denial else []
            dialog = OrderHistoryDialog(self._context, order_id, fallback=fallback, parent=self)
            self.history_dialogs[order_id] = dialog
            dialog.finished.connect(lambda _r, key=order_id: self.history_dialogs.pop(key, None))
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def copy_selected(self) -> None:
        copy_rows(self.model.columns, self.selected_orders())

    def tell(self, text: str, *, error: bool = False) -> None:
        """A one-line answer to the trader's last action, beside the filter."""
        self.feedback.say(text, self._context.theme.palette, error=error)

    def _context_menu(self, position: QPoint) -> None:
        popup_menu(self.context_menu(), self.view, position)

    def context_menu(self) -> QMenu:
        """The table's right-click menu (built fresh, so enabled states are current)."""
        return action_menu(
            self,
            [self.modify_action, self.cancel_action, self.cancel_all_action],
            [self.history_action, self.copy_action],
            [self.export_csv_action, self.export_xlsx_action],
        )

    # -- export --------------------------------------------------------------------------------------

    def export_rows(self) -> tuple[list[str], list[list[object]]]:
        """What an export writes: the rows shown (filter and sort as on screen), every detail."""
        return export_table(EXPORT_FIELDS, self.visible_rows())

    def export_to(self, path: str | Path) -> int:
        """Write the shown orders to ``path`` (.csv or .xlsx); returns how many rows."""
        headers, rows = self.export_rows()
        count = write_table(path, headers, rows)
        self.tell(f"Exported {count} orders to {Path(path).name}")
        return count

    def export_name(self, suffix: str) -> str:
        """The file name offered: the filter and the day shown, or every day up to it."""
        return f"orders-{self.filter.value.lower()}-{self.shown.in_file_name()}.{suffix}"

    def ask_export(self, suffix: str) -> None:
        name = self.export_name(suffix)
        self._export_dialog = ask_export_path(self, "Export orders", name, self._export_chosen)

    def _export_chosen(self, path: str) -> None:
        try:
            self.export_to(path)
        except (OSError, ValueError) as exc:
            self.tell(f"Export failed: {exc}", error=True)
