"""The Multileg panel: the saved portfolios with their status, MTM and net premium; the selected
portfolio's legs (contract, entry, LTP, P&L, IV and Greeks, stop, target, trail, state, remark)
and its orders; and what the trader does with a portfolio: new, edit, delete, start, stop, enter
now, square off, import and export.

The grids follow the engine on a named timer, five times a second at most and only while the
panel is shown, never per tick: the portfolios and legs are read from ``api.portfolios()`` and
``api.portfolio_legs()``, the legs' IV and Greeks from one ``api.contract_greeks`` solve, the
orders (``api.orders()`` of the portfolio's strategy) only after the bridge reports order
events. The models adapt those snapshots; they own no state of their own.

With "Follow" on, the Payoff panel's builder and the Greeks panel follow the selected portfolio:
its legs that are in go to the builder at their entry prices, and the Greeks panel shows its
strategy's group, each time the legs that are in change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.api import (
    OrderDenied,
    PortfolioStatus,
    PortfolioView,
    StrategyLeg,
)
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.models.table import RowTableModel
from ui.panels.greeks import number
from ui.panels.multileg_editor import PortfolioEditor, portfolio_file_dialog
from ui.panels.multileg_limits import LimitsEditor
from ui.panels.multileg_rows import (
    LEGS_IN,
    LegRow,
    leg_columns,
    order_columns,
    portfolio_columns,
    status_brush,
)
from ui.panels.orderbook import OrderRow, denial_row, order_row
from ui.panels.table_kit import LineLabel, RowFilterProxy, make_table, selected_rows

REFRESH_MS = 200
"""Five repaints a second at most, however fast ticks come."""
PORTFOLIO_PREFIX = "ml."
"""A portfolio's orders carry its strategy id: ``ml.`` and its name."""
MAX_DENIALS = 200
"""Denied requests kept per portfolio."""

SHORTCUTS = {
    "new": "Ctrl+N",
    "edit": "Return",
    "delete": "Delete",
    "start": "Ctrl+Shift+S",
    "stop": "Ctrl+Shift+T",
    "enter": "Ctrl+Shift+E",
    "square_off": "Ctrl+Shift+F",
}
"""Keys that work while the panel has focus (none is one of the window's own)."""

CAN_START = frozenset(
    {PortfolioStatus.STOPPED, PortfolioStatus.COMPLETED, PortfolioStatus.REJECTED}
)
CAN_STOP = frozenset({PortfolioStatus.PENDING, PortfolioStatus.MONITORING, PortfolioStatus.FAILED})
CAN_ENTER = frozenset({PortfolioStatus.PENDING, PortfolioStatus.MONITORING})
CAN_SQUARE_OFF = frozenset(
    {PortfolioStatus.UNDER_EXECUTION, PortfolioStatus.STARTED, PortfolioStatus.FAILED}
)


# -- the panel ---------------------------------------------------------------------------------------------


class MultilegPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("multilegPanel")
        self._ctx = context
        self.editors: list[PortfolioEditor] = []
        self.file_dialog: QFileDialog | None = None
        self.name_dialog: QInputDialog | None = None
        self._orders_dirty = True
        self._denials: dict[str, dict[str, OrderRow]] = {}
        """Requests of each portfolio's strategy the gate denied (never orders, so not in
        ``api.orders()``), by strategy id and order id."""
        self._followed: tuple[str, tuple[tuple[int, int, Decimal], ...]] | None = None
        self._shown_for: str | None = None
        self._refreshing = False
        self._again = False

        # -- the grids -----------------------------------------------------------------------------
        self.model: RowTableModel[PortfolioView] = RowTableModel(
            portfolio_columns(context), key=lambda v: v.name
        )
        self.proxy = RowFilterProxy(self.model, self)
        self.view = make_table(self.model, self.proxy, self)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setObjectName("portfoliosTable")
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.legs_model: RowTableModel[LegRow] = RowTableModel(
            leg_columns(context), key=lambda r: r.key
        )
        self.legs_proxy = RowFilterProxy(self.legs_model, self)
        self.legs_view = make_table(self.legs_model, self.legs_proxy, self)
        self.legs_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.legs_view.setObjectName("portfolioLegsTable")
        self.orders_model: RowTableModel[OrderRow] = RowTableModel(
            order_columns(context), key=lambda r: r.order_id
        )
        self.orders_proxy = RowFilterProxy(self.orders_model, self)
        self.orders_view = make_table(self.orders_model, self.orders_proxy, self)
        self.orders_view.setObjectName("portfolioOrdersTable")
        self.orders_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        # -- actions and the bar -------------------------------------------------------------------
        self.new_action = self._action("New…", self.new_portfolio, "new", "A new portfolio")
        self.edit_action = self._action("Edit…", self.edit_selected, "edit", "Edit its settings")
        self.delete_action = self._action("Delete", self.delete_selected, "delete", "Delete it")
        self.start_action = self._action(
            "Start", self.start_selected, "start", "Start it: it enters in its window"
        )
        self.stop_action = self._action(
            "Stop", self.stop_selected, "stop", "Stop it (one holding nothing)"
        )
        self.enter_action = self._action(
            "Enter now", self.enter_selected, "enter", "Enter now, whatever its start time"
        )
        self.square_off_action = self._action(
            "Square off…", self.square_off_selected, "square_off", "Exit all its legs (asks first)"
        )
        self.payoff_action = self._action(
            "Payoff", self.show_payoff, "", "Its legs that are in, in the Payoff panel"
        )
        self.import_action = self._action(
            "Import…", self.ask_import, "", "Add a portfolio from a file"
        )
        self.export_action = self._action(
            "Export…", self.ask_export, "", "Write the selected portfolio to a file"
        )
        self.limits_action = self._action(
            "Limits…", self.open_limits, "", "The account's and strategy tags' limits"
        )
        self.limits_dialog: LimitsEditor | None = None
        self.follow = QCheckBox("Follow", objectName="multilegFollow")
        self.follow.setChecked(True)
        self.follow.setToolTip("The Payoff and Greeks panels follow the selected portfolio")
        self.follow.toggled.connect(lambda on: self._follow(force=True) if on else None)
        self.feedback = LineLabel()
        self.feedback.setObjectName("multilegFeedback")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}
        groups = [
            [self.new_action, self.edit_action, self.delete_action],
            [self.start_action, self.stop_action, self.enter_action, self.square_off_action],
            [self.payoff_action, self.import_action, self.export_action, self.limits_action],
        ]
        for group in groups:
            for action in group:
                button = _button(action, self)
                self.buttons[action.objectName()] = button
                bar.addWidget(button)
            bar.addSpacing(10)
        bar.addWidget(self.follow)
        bar.addSpacing(10)
        bar.addWidget(self.feedback, 1)

        # -- the legs' and orders' tabs ------------------------------------------------------------
        self.summary = QLabel(objectName="ticketInfo")
        self.greeks_per_unit = QCheckBox("Greeks per unit", objectName="greeksPerUnit")
        self.greeks_per_unit.setToolTip(
            "Unticked: each leg's Δ, Θ and vega × its signed quantity (what the leg adds)"
        )
        self.greeks_per_unit.toggled.connect(lambda _on: self.refresh())
        legs_bar = QHBoxLayout()
        legs_bar.setContentsMargins(4, 2, 4, 2)
        legs_bar.addWidget(self.summary, 1)
        legs_bar.addWidget(self.greeks_per_unit)
        legs_page = QWidget()
        legs_layout = QVBoxLayout(legs_page)
        legs_layout.setContentsMargins(0, 0, 0, 0)
        legs_layout.setSpacing(0)
        legs_layout.addLayout(legs_bar)
        legs_layout.addWidget(self.legs_view, 1)
        self.tabs = QTabWidget(objectName="multilegTabs")
        self.tabs.addTab(legs_page, "Legs")
        self.tabs.addTab(self.orders_view, "Orders")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setChildrenCollapsible(False)
        # Three portfolios show without scrolling, however short the dock.
        rows = self.view.verticalHeader().defaultSectionSize()
        self.view.setMinimumHeight(self.view.horizontalHeader().sizeHint().height() + 3 * rows + 4)
        split.setSizes([5 * rows, 12 * rows])
        self.splitter = split
        self.problems = QLabel(objectName="ticketError", wordWrap=True)
        self.problems.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.problems)

        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.view.doubleClicked.connect(lambda _index: self.edit_selected())
        context.bridge.orders_changed.connect(self._on_orders, QUEUED)
        self._timer = QTimer(self, objectName="multileg-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.refresh()

    def _action(self, text: str, slot: Callable[[], object], key: str, tip: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"multileg_{key or text.strip('…').lower()}")
        keys = SHORTCUTS.get(key, "")
        if keys:
            action.setShortcut(QKeySequence(keys))
            # Edit and Delete keys act on the grid only; the rest anywhere in the panel.
            on_grid = key in ("edit", "delete")
            action.setShortcutContext(
                Qt.ShortcutContext.WidgetShortcut
                if on_grid
                else Qt.ShortcutContext.WidgetWithChildrenShortcut
            )
            shown = QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)
            tip = f"{tip} ({shown})"
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        (self.view if key in ("edit", "delete") else self).addAction(action)
        return action

    # -- reading the engine --------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.isVisible():
            self.refresh()

    def _on_orders(self, events: list[object]) -> None:
        api = self._ctx.api
        for event in events:
            if not isinstance(event, OrderDenied) or event.request is None:
                continue
            strategy = event.request.strategy
            if not strategy or not strategy.startswith(PORTFOLIO_PREFIX):
                continue
            if api.order(event.order_id) is None:  # a queued order denied later is in orders()
                kept = self._denials.setdefault(strategy, {})
                instrument = api.instruments.find(event.request.token)
                kept[str(event.order_id)] = denial_row(event, instrument)
                while len(kept) > MAX_DENIALS:
                    del kept[next(iter(kept))]
        self._orders_dirty = True

    def refresh(self) -> None:
        """Read the engine into the grids. Changing the rows can change the selection, which
        asks for a refresh: that one runs after this one, never inside it."""
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._refresh()
        finally:
            self._refreshing = False

    def _refresh(self) -> None:
        api = self._ctx.api
        self.model.set_rows(api.portfolios())
        problems = api.portfolio_problems()
        self.problems.setVisible(bool(problems))
        self.problems.setText("Not loaded: " + "; ".join(problems) if problems else "")
        selected = self.selected()
        if selected is None and self.model.rows and not self.view.selectionModel().hasSelection():
            self.select(self.model.rows[0].name)
            selected = self.selected()
        self._refresh_legs(selected)
        if self._orders_dirty or (selected and selected.name != self._shown_for):
            self._refresh_orders(selected)
        self._shown_for = None if selected is None else selected.name
        self._enable(selected)
        self._follow()

    def _refresh_legs(self, selected: PortfolioView | None) -> None:
        if selected is None:
            self.legs_model.set_rows([])
            self.summary.setText("No portfolio selected: New… or Import… one")
            return
        api = self._ctx.api
        legs = api.portfolio_legs(selected.name)
        tokens = [leg.token for leg in legs if leg.token]
        greeks = api.contract_greeks(tokens) if tokens else {}
        per_unit = self.greeks_per_unit.isChecked()
        rows = [LegRow(leg, greeks.get(leg.token), per_unit) for leg in legs]
        self.legs_model.set_rows(rows)
        self.summary.setText(self._summary(selected, rows))

    def _summary(self, view: PortfolioView, rows: list[LegRow]) -> str:
        parts = [
            f"<b>{view.name}</b>",
            f"<span style='color:{status_brush(view.status, self._ctx.theme.palette).name()}'>"
            f"{view.status.value}</span>",
            f"MTM ₹ {fmt.signed_rupees(view.mtm)}",
            f"net premium ₹ {fmt.rupees(view.premium)}",
        ]
        held = [
            r
            for r in rows
            if r.leg.state in LEGS_IN and r.greeks is not None and r.leg.entry is not None
        ]
        if held:
            totals = {
                name: sum(
                    float(getattr(r.greeks, name)) * r.signed_quantity
                    for r in held
                    if r.greeks is not None and math.isfinite(float(getattr(r.greeks, name)))
                )
                for name in ("delta", "theta", "vega")
            }
            parts.append(
                f"Δ {number(totals['delta'])} · Θ ₹ {number(totals['theta'])}/day · "
                f"vega ₹ {number(totals['vega'])}/pt"
            )
        return " · ".join(parts)

    def _refresh_orders(self, selected: PortfolioView | None) -> None:
        self._orders_dirty = False
        if selected is None:
            self.orders_model.set_rows([])
            self.tabs.setTabText(1, "Orders")
            return
        rows = [order_row(o) for o in self._ctx.api.orders() if o.strategy == selected.strategy_id]
        placed = {r.order_id for r in rows}
        denied = self._denials.get(selected.strategy_id, {})
        rows += [row for order_id, row in denied.items() if order_id not in placed]
        self.orders_model.set_rows(rows)
        working = sum(1 for r in rows if r.status.is_open)
        text = f"Orders ({len(rows)}" + (f", {working} working)" if working else ")")
        self.tabs.setTabText(1, text)

    # -- selection --------------------------------------------------------------------------------------

    def selected(self) -> PortfolioView | None:
        rows = [r for r in selected_rows(self.view) if isinstance(r, PortfolioView)]
        return rows[0] if rows else None

    def select(self, name: str) -> bool:
        row = self.model.row_of(name)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.view.selectionModel().select(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.view.setCurrentIndex(index)
        return True

    def _selection_changed(self) -> None:
        self._orders_dirty = True
        self.refresh()

    def _enable(self, selected: PortfolioView | None) -> None:
        status = None if selected is None else selected.status
        self.edit_action.setEnabled(selected is not None)
        self.export_action.setEnabled(selected is not None)
        self.delete_action.setEnabled(selected is not None and not selected.running)
        # A portfolio that stopped on a fault may start again; one still holding legs says why not.
        failed = status is PortfolioStatus.FAILED and selected is not None and not selected.running
        self.start_action.setEnabled(status in CAN_START or failed)
        self.stop_action.setEnabled(status in CAN_STOP)
        self.enter_action.setEnabled(status in CAN_ENTER)
        self.square_off_action.setEnabled(status in CAN_SQUARE_OFF)
        self.payoff_action.setEnabled(bool(self._legs_in()))

    # -- what the trader does ------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.feedback.setText(text)

    def _act(
        self,
        verb: str,
        command: Callable[[str], str | None],
        allowed: frozenset[PortfolioStatus],
        name: str | None = None,
    ) -> None:
        """Run ``command`` on the portfolio ``name`` (the selected one by default)."""
        view = self.selected() if name is None else self._view(name)
        if view is None:
            return
        if view.status not in allowed:
            self._say(f"{view.name} is {view.status.value}: it cannot be {verb} now")
            return
        self._report(view.name, command(view.name), verb)

    def _report(self, name: str, problem: str | None, done: str) -> None:
        """Say what happened to ``name``: ``done``, or the engine's reason (named once)."""
        if problem is None:
            self._say(f"{name} {done}")
        else:
            self._say(problem if problem.startswith(name) else f"{name}: {problem}")
        self.refresh()

    def _view(self, name: str) -> PortfolioView | None:
        row = self.model.row_of(name)
        return None if row is None else self.model.row_at(row)

    def start_selected(self) -> None:
        selected = self.selected()
        if selected is None:
            return
        start = self._ctx.api.start_portfolio
        if selected.mode == "live" and selected.status in CAN_START:
            name = selected.name
            self._ctx.confirm(
                "Start live portfolio",
                f"Start {name} live: it will place real orders with the broker?",
                lambda: self._act("started", start, CAN_START, name),
            )
            return
        self._act("started", start, CAN_START)

    def stop_selected(self) -> None:
        self._act("stopped", self._ctx.api.stop_portfolio, CAN_STOP)

    def enter_selected(self) -> None:
        self._act("entering now", self._ctx.api.enter_portfolio, CAN_ENTER)

    def square_off_selected(self) -> None:
        selected = self.selected()
        if selected is None or selected.status not in CAN_SQUARE_OFF:
            return
        name = selected.name

        def square_off() -> None:
            self._report(name, self._ctx.api.square_off_portfolio(name), "squaring off")

        self._ctx.confirm(
            "Square off portfolio",
            f"Square off {name}: exit all its legs now (sold legs first)?",
            square_off,
        )

    def delete_selected(self) -> None:
        selected = self.selected()
        if selected is None or selected.running:
            return
        name = selected.name

        def delete() -> None:
            self._report(name, self._ctx.api.delete_portfolio(name), "deleted")

        self._ctx.confirm("Delete portfolio", f"Delete the portfolio {name}?", delete)

    def open_limits(self) -> LimitsEditor:
        """The account and strategy tag limits (one dialog, raised if open)."""
        if self.limits_dialog is None:
            self.limits_dialog = LimitsEditor(self._ctx, self.window())
            self.limits_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.limits_dialog.destroyed.connect(lambda *_: setattr(self, "limits_dialog", None))
        self.limits_dialog.show()
        self.limits_dialog.raise_()
        return self.limits_dialog

    def new_portfolio(self) -> PortfolioEditor:
        return self._open_editor(None)

    def edit_selected(self) -> PortfolioEditor | None:
        selected = self.selected()
        return None if selected is None else self._open_editor(selected.name)

    def _open_editor(self, name: str | None) -> PortfolioEditor:
        for editor in self.editors:
            if name is not None and editor.original == name:
                editor.show()
                editor.raise_()
                editor.activateWindow()
                return editor
        editor = PortfolioEditor(self._ctx, name, self.window())
        editor.saved.connect(self._saved)
        editor.finished.connect(lambda _result, e=editor: self._forget(e))
        self.editors.append(editor)
        editor.show()  # non-modal: the desk keeps trading while the trader edits
        return editor

    def unsaved_editors(self) -> list[PortfolioEditor]:
        """The open editors holding changes not saved."""
        return [editor for editor in self.editors if editor.dirty]

    def _forget(self, editor: PortfolioEditor) -> None:
        if editor in self.editors:
            self.editors.remove(editor)

    def _saved(self, name: str) -> None:
        self.refresh()
        self.select(name)
        self._say(f"{name} saved")

    # -- files ----------------------------------------------------------------------------------------------

    def _file_dialog(
        self, title: str, save: bool, on_path: Callable[[str], object], default: str = ""
    ) -> QFileDialog:
        self.file_dialog = portfolio_file_dialog(self, title, save, on_path, default)
        return self.file_dialog

    def ask_import(self) -> QFileDialog:
        return self._file_dialog("Import a portfolio", False, self.import_file)

    def import_file(self, path: str, name: str | None = None) -> str | None:
        """Add the portfolio in ``path``; when its name is taken, ask for another one."""
        problem = self._ctx.api.import_portfolio(Path(path), name=name)
        if problem is not None and "exists already" in problem:
            self._say(f"Not imported: {problem}")
            self._ask_name(path)
            return problem
        self._say(f"Not imported: {problem}" if problem else f"Imported {Path(path).name}")
        self.refresh()
        return problem

    def _ask_name(self, path: str) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Import as")
        dialog.setLabelText("A portfolio of that name exists. Import it as:")
        dialog.textValueSelected.connect(lambda name: self.import_file(path, name))
        dialog.finished.connect(dialog.deleteLater)
        self.name_dialog = dialog
        dialog.open()

    def ask_export(self) -> QFileDialog | None:
        selected = self.selected()
        if selected is None:
            return None
        default = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', selected.name)}.json"
        return self._file_dialog(
            "Export a portfolio", True, lambda p: self.export_file(selected.name, p), default
        )

    def export_file(self, name: str, path: str) -> str | None:
        problem = self._ctx.api.export_portfolio(name, Path(path))
        self._say(f"Not exported: {problem}" if problem else f"{name} exported to {path}")
        return problem

    # -- payoff and greeks ------------------------------------------------------------------------------

    def _legs_in(self) -> list[StrategyLeg]:
        """The selected portfolio's legs that are in, as strategy legs at their entry prices."""
        instruments = self._ctx.api.instruments
        out = []
        for row in self.legs_model.rows:
            leg = row.leg
            if leg.state not in LEGS_IN or leg.entry is None or not leg.token:
                continue
            instrument = instruments.find(leg.token)
            if instrument is not None:
                out.append(StrategyLeg(instrument, row.signed_quantity, leg.entry))
        return out

    def show_payoff(self) -> None:
        legs = self._legs_in()
        if legs:
            self._ctx.payoff_legs(legs, True)

    def _follow(self, *, force: bool = False) -> None:
        """Feed the Payoff builder and the Greeks panel when the legs that are in change."""
        selected = self.selected()
        if not self.follow.isChecked() or selected is None:
            return
        legs = self._legs_in()
        if not legs:
            return
        key = (
            selected.name,
            tuple((leg.instrument.token, leg.quantity, leg.price) for leg in legs),
        )
        if key == self._followed and not force:
            return
        self._followed = key
        self._ctx.payoff_legs(legs, False)
        self._ctx.greeks_for(selected.strategy_id, False)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        self.refresh()


def _button(action: QAction, parent: QWidget) -> QPushButton:
    button = QPushButton(action.text(), parent)
    button.setObjectName(action.objectName())
    button.setToolTip(action.toolTip())
    button.setEnabled(action.isEnabled())
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    button.clicked.connect(action.trigger)
    action.changed.connect(lambda: button.setEnabled(action.isEnabled()))
    return button
