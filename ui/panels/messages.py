"""Messages: what the engine tells the trader (info, warnings, errors) and every order denial.

Newest at the top, capped at ``MAX_MESSAGES`` rows (the oldest go first). The log model is
append-only and trims from the old end in one step, so a burst of messages costs one insert and
one removal per frame however long the log is. A severity filter and a text filter sit on a proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QTableView,
    QWidget,
)

from engine.api import EngineMessage, OrderDenied
from engine.domain.events import Severity
from engine.domain.values import rupees_text
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import IST, ask_export_path, at_ist, write_table
from ui.models.table import ROW_ROLE, SORT_ROLE, Column
from ui.panels.table_kit import (
    action_button,
    action_menu,
    copy_rows,
    export_action,
    panel_layout,
    popup_menu,
    search_box,
    selected_rows,
    view_action,
)

MAX_MESSAGES = 5_000

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}

SEVERITY_FILTERS = {
    "All": Severity.INFO,
    "Warnings and errors": Severity.WARNING,
    "Errors": Severity.ERROR,
}


@dataclass(frozen=True)
class MessageRow:
    sequence: int
    time: datetime
    severity: Severity
    source: str
    text: str
    order_id: str = ""


def denial_text(denial: OrderDenied, symbol: str) -> str:
    request = denial.request
    if request is None:
        return f"Order {denial.order_id} denied: {denial.reason}"
    terms = f"{request.side} {request.quantity:,} {symbol} {request.order_type}"
    if request.price is not None:
        terms += f" @ {rupees_text(request.price)}"
    if request.trigger_price is not None:
        terms += f" trigger {rupees_text(request.trigger_price)}"
    return f"Denied {terms} ({request.origin}): {denial.reason}"


class MessageLogModel(QAbstractTableModel):
    """Rows newest first; ``append`` puts new rows on top and trims the oldest beyond ``cap``."""

    def __init__(self, columns: list[Column[MessageRow]], cap: int = MAX_MESSAGES) -> None:
        super().__init__()
        if cap <= 0:
            raise ValueError(f"cap must be positive, not {cap}")
        self.columns = columns
        self.cap = cap
        self._log: list[MessageRow] = []
        """Oldest first; row r of the model is ``_log[-1 - r]``."""

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._log)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = self._log[-1 - index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(column.value(row))
        if role == ROW_ROLE:
            return row
        if role == SORT_ROLE:
            return row.sequence
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground is not None:
            return column.foreground(row)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        return None

    @property
    def rows(self) -> list[MessageRow]:
        """Newest first, as shown."""
        return self._log[::-1]

    def row_at(self, row: int) -> MessageRow:
        return self._log[-1 - row]

    def append(self, rows: list[MessageRow]) -> None:
        """Add rows (given oldest first) on top; drop the oldest beyond the cap."""
        if not rows:
            return
        rows = rows[-self.cap :]
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._log.extend(rows)
        self.endInsertRows()
        excess = len(self._log) - self.cap
        if excess > 0:
            first = len(self._log) - excess
            self.beginRemoveRows(QModelIndex(), first, len(self._log) - 1)
            del self._log[:excess]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._log.clear()
        self.endResetModel()


class SeverityFilterProxy(QSortFilterProxyModel):
    """Keeps the log's order; hides rows below a severity or without the typed text."""

    def __init__(self, source: MessageLogModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._least = Severity.INFO
        self._needle = ""
        self.setSourceModel(source)

    def set_least_severity(self, severity: Severity) -> None:
        self.beginFilterChange()
        self._least = severity
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_needle(self, needle: str) -> None:
        self.beginFilterChange()
        self._needle = needle.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        row = self._source.row_at(source_row)
        if _RANK[row.severity] < _RANK[self._least]:
            return False
        if not self._needle:
            return True
        return self._needle in f"{row.source}\t{row.text}\t{row.order_id}".casefold()

    def visible_rows(self) -> list[MessageRow]:
        return [self.index(r, 0).data(ROW_ROLE) for r in range(self.rowCount())]


class MessagesPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messagesPanel")
        self._context = context
        self._sequence = 0
        self._last_denial: OrderDenied | None = None
        self._export_dialog: QWidget | None = None

        self.model = MessageLogModel(self._columns())
        self.proxy = SeverityFilterProxy(self.model, self)
        self.view = QTableView(self)
        self.view.setObjectName("messagesTable")
        self.view.setModel(self.proxy)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for section, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(section, column.width)

        self.severity = QComboBox(self)
        self.severity.setObjectName("messagesSeverity")
        self.severity.addItems(list(SEVERITY_FILTERS))
        self.severity.setToolTip("Show messages of at least this severity")
        self.search = search_box(self, "messagesSearch", "Filter messages…")
        self.counts = QLabel(self)
        self.counts.setObjectName("messagesCounts")

        self.copy_action = view_action(self.view, "Cop&y rows", self.copy_selected, "Ctrl+C")
        self.clear_action = QAction("Clear", self)
        self.clear_action.setToolTip("Clear the message log")
        self.clear_action.triggered.connect(self.clear)
        self.export_csv_action = export_action(self, "csv", self.ask_export)

        bar = [
            self.severity,
            self.search,
            self.counts,
            action_button(self.clear_action, self, "messagesClear"),
            action_button(self.export_csv_action, self, "messagesExportCsv"),
        ]
        panel_layout(self, bar, self.view, stretch=self.counts)

        self.severity.currentTextChanged.connect(
            lambda name: self.proxy.set_least_severity(SEVERITY_FILTERS[name])
        )
        self.search.textChanged.connect(self.proxy.set_needle)
        self.view.customContextMenuRequested.connect(self._context_menu)
        context.bridge.messages.connect(self.add, QUEUED)
        self.add(list(context.api.startup_messages))
        self._update_counts()

    def _columns(self) -> list[Column[MessageRow]]:
        def severity_colour(row: MessageRow) -> QColor | None:
            palette = self._context.theme.palette
            if row.severity is Severity.ERROR:
                return palette.down
            if row.severity is Severity.WARNING:
                return palette.warning
            return palette.muted

        def text_colour(row: MessageRow) -> QColor | None:
            return self._context.theme.palette.down if row.severity is Severity.ERROR else None

        return [
            Column("Time", lambda r: r.time, text=lambda t: t.strftime("%H:%M:%S"), width=66,
                   tooltip=lambda r: f"{r.time:%d %b %Y %H:%M:%S} IST"),
            Column("Severity", lambda r: r.severity, foreground=severity_colour, width=72),
            Column("Source", lambda r: r.source, width=90),
            Column("Message", lambda r: r.text, foreground=text_colour, tooltip=lambda r: r.text),
        ]  # fmt: skip

    # -- data ----------------------------------------------------------------------------------------

    def add(self, events: list[object]) -> None:
        """Take one frame's messages and denials from the bridge."""
        rows = [row for row in (self._row(e) for e in events) if row is not None]
        if not rows:
            return
        bar = self.view.verticalScrollBar()
        reading_older = bar.value() > 0
        shown_before = self.proxy.rowCount()
        self.model.append(rows)
        if reading_older:
            # Keep the rows the trader is reading where they are while new ones arrive on top.
            added = max(0, self.proxy.rowCount() - shown_before)
            bar.setValue(bar.value() + added * self.view.verticalHeader().defaultSectionSize())
        self._update_counts()

    def _row(self, event: object) -> MessageRow | None:
        if isinstance(event, EngineMessage):
            if self._repeats_last_denial(event):
                return None
            return self._next(event.ts_ns, event.severity, event.source, event.text)
        if isinstance(event, OrderDenied):
            self._last_denial = event
            symbol = ""
            if event.request is not None:
                instrument = self._context.api.instruments.find(event.request.token)
                symbol = instrument.tradingsymbol if instrument else f"token {event.request.token}"
            text = denial_text(event, symbol)
            return self._next(event.ts_ns, Severity.ERROR, "risk gate", text, str(event.order_id))
        return None

    def _repeats_last_denial(self, message: EngineMessage) -> bool:
        """The OMS follows each denial with a one-line message saying the same thing: the denial's
        own row (with the order's terms) already shows it, so the echo is left out."""
        denial = self._last_denial
        return (
            denial is not None
            and message.ts_ns == denial.ts_ns
            and bool(denial.reason)
            and message.text.endswith(denial.reason)
        )

    def _next(
        self, ts_ns: int, severity: Severity, source: str, text: str, order_id: str = ""
    ) -> MessageRow:
        self._sequence += 1
        return MessageRow(self._sequence, at_ist(ts_ns), severity, source, text, order_id)

    def visible_rows(self) -> list[MessageRow]:
        return self.proxy.visible_rows()

    def clear(self) -> None:
        self.model.clear()
        self._update_counts()

    def set_least_severity(self, name: str) -> None:
        """Pick a severity filter by its label: 'All', 'Warnings and errors' or 'Errors'."""
        if name not in SEVERITY_FILTERS:
            raise ValueError(
                f"unknown severity filter {name!r}; one of {', '.join(SEVERITY_FILTERS)}"
            )
        self.severity.setCurrentText(name)

    def _update_counts(self) -> None:
        counts = dict.fromkeys(Severity, 0)
        for row in self.model.rows:
            counts[row.severity] += 1
        errors, warnings = counts[Severity.ERROR], counts[Severity.WARNING]
        self.counts.setText(
            f"{errors} error{'' if errors == 1 else 's'} · "
            f"{warnings} warning{'' if warnings == 1 else 's'} · {counts[Severity.INFO]} info"
        )

    # -- actions -------------------------------------------------------------------------------------

    def copy_selected(self) -> None:
        copy_rows(self.model.columns, selected_rows(self.view))

    def _context_menu(self, position: QPoint) -> None:
        menu = action_menu(self, [self.copy_action, self.clear_action], [self.export_csv_action])
        popup_menu(menu, self.view, position)

    def export_to(self, path: str | Path) -> int:
        headers = ["Time", "Severity", "Source", "Message", "Order ID"]
        rows = [[r.time, r.severity, r.source, r.text, r.order_id] for r in self.visible_rows()]
        return write_table(path, headers, rows)

    def ask_export(self, suffix: str) -> None:
        name = f"messages-{datetime.now(tz=IST):%Y-%m-%d}.{suffix}"
        self._export_dialog = ask_export_path(self, "Export messages", name, self._export_chosen)

    def _export_chosen(self, path: str) -> None:
        try:
            self.export_to(path)
        except (OSError, ValueError) as exc:
            self.counts.setText(f"Export failed: {exc}")
