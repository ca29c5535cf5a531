"""Messages: what the engine tells the trader (info, warnings, errors) and every order denial.

Newest at the top, capped at ``MAX_MESSAGES`` rows. A message that repeats one shown less than
``REPEAT_WINDOW`` earlier (same severity, source and text) is counted on that row ("×4,210", first
and last time) instead of taking a row of its own, so a strategy placing in a loop while trading is
halted leaves one row, not thousands. When the log is full the routine row heard from longest ago
goes first: errors and the risk manager's state messages (trading HALTED, breakers, the kill
switch) stay, up to half the cap. Every step costs a dictionary look-up or a bisection per
message, never a scan of the log. A severity filter and a text filter sit on a proxy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
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

REPEAT_WINDOW = timedelta(seconds=60)
"""A message repeating one at most this long after its last occurrence is counted on its row."""

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}

SEVERITY_FILTERS = {
    "All": Severity.INFO,
    "Warnings and errors": Severity.WARNING,
    "Errors": Severity.ERROR,
}

DENIAL_SOURCE = "risk gate"


@dataclass(frozen=True)
class MessageRow:
    sequence: int
    time: datetime
    """When it first arrived."""
    severity: Severity
    source: str
    text: str
    order_id: str = ""
    """The order a denial refused (the first one, on a row counting repeats)."""
    important: bool = False
    """Kept when the full log drops routine rows (see ``is_important``)."""
    count: int = 1
    last_time: datetime | None = None
    """When it last arrived, on a row counting repeats."""

    @property
    def key(self) -> tuple[Severity, str, str]:
        return self.severity, self.source, self.text

    @property
    def latest(self) -> datetime:
        return self.last_time or self.time

    @property
    def shown_text(self) -> str:
        if self.count == 1:
            return self.text
        return f"{self.text}  ×{self.count:,} ({self.time:%H:%M:%S}–{self.latest:%H:%M:%S})"

    def repeated(self, again: MessageRow) -> MessageRow:
        """This row counting one more arrival of the same message."""
        return replace(self, count=self.count + again.count, last_time=again.latest)


def is_important(severity: Severity, source: str) -> bool:
    """Whether a message outlasts routine rows in a full log: every error, and the risk manager's
    state messages (trading HALTED / REDUCING / ACTIVE, breakers, the kill switch, the limits),
    which it sends as errors and info. Its warnings are about single orders (a refused modify, a
    queued order cancelled) and are routine, as are order denials (shown as errors, but each only
    one order's echo of a state already reported; a strategy in a loop sends thousands)."""
    if source == DENIAL_SOURCE:
        return False
    return severity is Severity.ERROR or (source == "risk" and severity is Severity.INFO)


def denial_text(denial: OrderDenied, symbol: str) -> str:
    request = denial.request
    if request is None:
        return f"Denied: {denial.reason}"  # the order id has its own column
    terms = f"{request.side} {request.quantity:,} {symbol} {request.order_type}"
    if request.price is not None:
        terms += f" @ {rupees_text(request.price)}"
    if request.trigger_price is not None:
        terms += f" trigger {rupees_text(request.trigger_price)}"
    return f"Denied {terms} ({request.origin}): {denial.reason}"


class MessageLogModel(QAbstractTableModel):
    """Rows newest first. ``append`` counts repeats on their rows, puts new rows on top and, beyond
    ``cap``, drops the routine rows that last arrived longest ago (important ones only past half
    the cap)."""

    def __init__(
        self,
        columns: list[Column[MessageRow]],
        cap: int = MAX_MESSAGES,
        repeat_window: timedelta = REPEAT_WINDOW,
    ) -> None:
        super().__init__()
        if cap <= 0:
            raise ValueError(f"cap must be positive, not {cap}")
        self.columns = columns
        self.cap = cap
        self.important_cap = max(1, cap // 2)
        self.repeat_window = repeat_window
        self._log: list[MessageRow] = []
        """Oldest first (ascending sequence); row r of the model is ``_log[-1 - r]``."""
        self._latest: dict[tuple[Severity, str, str], MessageRow] = {}
        """The newest row of each message still in the log, to count a repeat on."""
        self._routine: OrderedDict[int, None] = OrderedDict()
        self._important: OrderedDict[int, None] = OrderedDict()
        """Sequences of the rows in the log, least recently arrived first: which to drop next (a
        row still counting a flood is not dropped for being the first of it)."""
        self.occurrences = dict.fromkeys(Severity, 0)
        """Messages per severity in the log, repeats included."""

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
        """Take rows (given oldest first, each with a higher sequence than any before): a repeat
        is counted on its row, the others go on top; the log is then trimmed to the cap."""
        if not rows:
            return
        if self._log and rows[0].sequence <= self._log[-1].sequence:
            raise ValueError(f"row {rows[0].sequence} is not newer than the log's newest")
        fresh: dict[int, MessageRow] = {}
        """New rows by sequence (insertion order: oldest first)."""
        repeated: dict[int, MessageRow] = {}
        """Rows already in the log that counted repeats, by sequence."""
        for row in rows:
            self.occurrences[row.severity] += row.count
            earlier = self._latest.get(row.key)
            if earlier is None or row.time - earlier.latest > self.repeat_window:
                fresh[row.sequence] = self._latest[row.key] = row
                continue
            counted = self._latest[row.key] = earlier.repeated(row)
            (fresh if earlier.sequence in fresh else repeated)[earlier.sequence] = counted
        self._update_in_place(repeated)
        self._insert_on_top(list(fresh.values()))
        self._trim()

    def clear(self) -> None:
        self.beginResetModel()
        self._log.clear()
        self._latest.clear()
        self._routine.clear()
        self._important.clear()
        self.occurrences = dict.fromkeys(Severity, 0)
        self.endResetModel()

    def _position(self, sequence: int) -> int:
        """Where the row with this sequence is in ``_log`` (a bisection: the log is in order)."""
        return bisect_left(self._log, sequence, key=lambda r: r.sequence)

    def _update_in_place(self, repeated: dict[int, MessageRow]) -> None:
        last_column = len(self.columns) - 1
        for sequence, row in repeated.items():
            (self._important if row.important else self._routine).move_to_end(sequence)
            position = self._position(sequence)
            self._log[position] = row
            shown = len(self._log) - 1 - position
            self.dataChanged.emit(self.index(shown, 0), self.index(shown, max(0, last_column)))

    def _insert_on_top(self, rows: list[MessageRow]) -> None:
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._log.extend(rows)
        self.endInsertRows()
        for row in rows:
            (self._important if row.important else self._routine)[row.sequence] = None

    def _trim(self) -> None:
        """Drop rows beyond the cap, those heard from longest ago first: routine ones, or
        important ones while those are more than ``important_cap`` (routine rows keep room)."""
        doomed: list[int] = []
        for _ in range(len(self._log) - self.cap):
            if len(self._important) > self.important_cap or not self._routine:
                doomed.append(self._important.popitem(last=False)[0])
            else:
                doomed.append(self._routine.popitem(last=False)[0])
        if doomed:
            self._remove(sorted(doomed))

    def _remove(self, sequences: list[int]) -> None:
        """Remove these rows (ascending sequences) in runs of neighbours, newest run first."""
        positions = [self._position(s) for s in sequences]
        runs: list[list[int]] = []
        for position in positions:
            if runs and position == runs[-1][-1] + 1:
                runs[-1].append(position)
            else:
                runs.append([position])
        for run in reversed(runs):
            first, last = run[0], run[-1]
            for row in self._log[first : last + 1]:
                self._forget(row)
            newest = len(self._log) - 1
            self.beginRemoveRows(QModelIndex(), newest - last, newest - first)
            del self._log[first : last + 1]
            self.endRemoveRows()

    def _forget(self, row: MessageRow) -> None:
        self.occurrences[row.severity] -= row.count
        latest = self._latest.get(row.key)
        if latest is not None and latest.sequence == row.sequence:
            del self._latest[row.key]


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


def _message_tip(row: MessageRow) -> str:
    if row.count == 1:
        return row.text
    return (
        f"{row.text}\n\n{row.count:,} times from {row.time:%d %b %Y %H:%M:%S} "
        f"to {row.latest:%H:%M:%S} IST"
    )


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
            Column("Message", lambda r: r.shown_text, foreground=text_colour, tooltip=_message_tip),
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
            return self._next(event.ts_ns, Severity.ERROR, DENIAL_SOURCE, text, str(event.order_id))
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
        important = is_important(severity, source)
        return MessageRow(
            self._sequence, at_ist(ts_ns), severity, source, text, order_id, important
        )

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
        counts = self.model.occurrences
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
        headers = ["Time", "Severity", "Source", "Message", "Order ID", "Count", "Last time"]
        rows = [
            [r.time, r.severity, r.source, r.text, r.order_id, r.count, r.latest]
            for r in self.visible_rows()
        ]
        return write_table(path, headers, rows)

    def ask_export(self, suffix: str) -> None:
        name = f"messages-{datetime.now(tz=IST):%Y-%m-%d}.{suffix}"
        self._export_dialog = ask_export_path(self, "Export messages", name, self._export_chosen)

    def _export_chosen(self, path: str) -> None:
        try:
            self.export_to(path)
        except (OSError, ValueError) as exc:
            self.counts.setText(f"Export failed: {exc}")
