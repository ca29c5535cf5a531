"""Pieces the table panels share: the sorting and filtering proxy, a model (and its proxy) for
long tables that only grow, the dense table view, copying rows, view-only shortcuts and menus, and
the top bar (search box, the day shown, buttons, export actions) laid out over the table.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.models.table import ROW_ROLE, SORT_ROLE, Column, RowTableModel
from ui.models.table import _sortable as sort_value  # the model's own SORT_ROLE value

if TYPE_CHECKING:
    from ui.theme import Palette

R = TypeVar("R")


class RowFilterProxy(QSortFilterProxyModel):
    """Sorts a RowTableModel by SORT_ROLE and filters it by a row predicate and a free-text needle.

    The needle matches, case-insensitively, anywhere in the row's displayed text.
    """

    def __init__(self, source: RowTableModel[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._predicate: Callable[[object], bool] | None = None
        self._needle = ""
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_predicate(self, predicate: Callable[[object], bool] | None) -> None:
        self.beginFilterChange()
        self._predicate = predicate
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_needle(self, needle: str) -> None:
        self.beginFilterChange()
        self._needle = needle.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        row = self._source.row_at(source_row)
        if self._predicate is not None and not self._predicate(row):
            return False
        if not self._needle:
            return True
        return self._needle in row_text(self._source.columns, row).casefold()

    def lessThan(
        self,
        left: QModelIndex | QPersistentModelIndex,
        right: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        # Compared in Python: Qt cannot order the Python objects (FilledOf, tuples) some columns sort by.
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return bool(a < b)
        except TypeError:  # a blank (None sorts as -inf) against a value of another type
            return _is_blank(a) and not _is_blank(b)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        # Titles sit over their numbers: right-aligned columns get right-aligned titles.
        if role == Qt.ItemDataRole.TextAlignmentRole and orientation == Qt.Orientation.Horizontal:
            align = self._source.columns[section].align
            horizontal = {
                "right": Qt.AlignmentFlag.AlignRight,
                "center": Qt.AlignmentFlag.AlignHCenter,
            }
            return int(
                horizontal.get(align, Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter
            )
        return super().headerData(section, orientation, role)

    def visible_rows(self) -> list[object]:
        """The rows the view shows, in the view's order."""
        return [self.index(r, 0).data(ROW_ROLE) for r in range(self.rowCount())]


def _is_blank(value: object) -> bool:
    return value is None or value == float("-inf")


class _SortKey:
    """A sort value that orders like ``RowFilterProxy.lessThan``: a blank before any value, and
    values that cannot be compared (of different types) as equals, so a stable sort keeps their
    order."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        try:
            return bool(self.value < other.value)
        except TypeError:
            return _is_blank(self.value) and not _is_blank(other.value)


class GrowingTableModel(RowTableModel[R]):
    """A RowTableModel for a long table whose rows only arrive (the trade book), held in the
    order shown: new rows go in at their place with one insert each, found by binary search,
    a whole new set replaces the old with one reset, and sorting by a column is one Python sort.

    Qt's own sort of 12,000 rows calls a Python ``lessThan`` some 170,000 times (seconds on the
    loop the engine shares), and ``set_rows`` compares every row held on each update; here a
    new fill costs a binary search. Show it through a ``ModelOrderProxy``, which filters and
    leaves the order to this model.
    """

    BATCH = 16
    """More new rows than this at once are added at the end and the whole table sorted once."""

    def __init__(self, columns: Sequence[Column[R]], key: Callable[[R], Hashable]) -> None:
        super().__init__(columns, key)
        self._sort_column = -1
        self._descending = False
        self._sort_keys: list[_SortKey] = []
        """The sort values of ``_rows``, in the order shown: where a new row's place is
        searched."""
        self._row_keys: list[Hashable] = []
        """The keys of ``_rows``, in the order shown: a row put in before others moves theirs
        along in the index without asking every row its key again."""

    def order_by(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Show the rows sorted by ``column`` (-1: in the order they are), keeping the
        selection."""
        descending = order == Qt.SortOrder.DescendingOrder
        in_order = len(self._sort_keys) == len(self._rows)
        if column == self._sort_column and descending == self._descending and in_order:
            return  # sorted so already (Qt asks again as it sets the header's arrow)
        self._sort_column, self._descending = column, descending
        if column < 0 or not self._rows:
            self._sort_keys = []
            return
        # Stable either way: rows of equal values keep the order they are in, as in Qt's sort.
        keyed = sorted(
            zip(map(self._sort_key, self._rows), self._rows, strict=True),
            key=_first,
            reverse=self._descending,
        )
        self._sort_keys = [k for k, _row in keyed]
        self._reorder([self._key(row) for _k, row in keyed])

    def append_rows(self, rows: Sequence[R]) -> None:
        """Add ``rows`` at their places in the order shown; a row whose key is held already is
        left out."""
        new: list[R] = []
        keys: set[Hashable] = set()
        for row in rows:
            key = self._key(row)
            if key not in self._index and key not in keys:
                keys.add(key)
                new.append(row)
        if not new:
            return
        if self._sort_column < 0 or len(new) > self.BATCH:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for position, row in enumerate(new, start=first):
                key = self._key(row)
                self._index[key] = position
                self._row_keys.append(key)
            self._rows.extend(new)
            self.endInsertRows()
            if self._sort_column >= 0:
                self.order_by(self._sort_column, self._order())
            return
        for row in new:
            self._insert_in_order(row)

    def replace_rows(self, rows: Sequence[R]) -> None:
        """Show ``rows`` instead of what is shown (one reset: views keep no selection)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._sort_keys = []
        self._reindex()
        self.endResetModel()
        self.order_by(self._sort_column, self._order())

    def _insert_in_order(self, row: R) -> None:
        """Insert ``row`` after the rows it sorts with or after: a new row of an equal value
        comes last among them, as if the whole table had been sorted again."""
        key, keys = self._sort_key(row), self._sort_keys
        if self._descending:
            low, high = 0, len(keys)
            while low < high:  # the first row of a smaller value
                middle = (low + high) // 2
                if keys[middle] < key:
                    high = middle
                else:
                    low = middle + 1
            position = low
        else:
            position = bisect_right(keys, key)
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        self._sort_keys.insert(position, key)
        self._row_keys.insert(position, self._key(row))
        index, row_keys = self._index, self._row_keys
        for moved in range(position, len(row_keys)):
            index[row_keys[moved]] = moved
        self.endInsertRows()

    def _reindex(self) -> None:
        self._row_keys = [self._key(row) for row in self._rows]
        self._index = {key: position for position, key in enumerate(self._row_keys)}

    def _sort_key(self, row: R) -> _SortKey:
        return _SortKey(sort_value(self.columns[self._sort_column].value(row)))

    def _order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder


def _first(pair: tuple[_SortKey, Any]) -> _SortKey:
    return pair[0]


class ModelOrderProxy(RowFilterProxy):
    """A RowFilterProxy over a ``GrowingTableModel``: it filters, and a sort asked of it (a
    click on a column's header) is the model's to do; the proxy keeps the model's order."""

    def __init__(self, source: GrowingTableModel[Any], parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self._growing = source

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._growing.order_by(column, order)


def row_text(columns: Sequence[Column[Any]], row: object) -> str:
    """All displayed cells of one row, tab-separated (filtering and copying)."""
    cells = []
    for column in columns:
        value = column.value(row)
        cells.append("" if value is None else column.text(value))
    return "\t".join(cells)


def make_table(
    model: RowTableModel[Any], proxy: QSortFilterProxyModel, parent: QWidget
) -> QTableView:
    """A dense, sortable, row-selecting table with the model's column widths."""
    view = QTableView(parent)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setShowGrid(False)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setHighlightSections(False)
    header.setSectionsMovable(True)
    header.setStretchLastSection(True)
    for section, column in enumerate(model.columns):
        if column.width:
            header.resizeSection(section, column.width)
    return view


def selected_rows(view: QTableView) -> list[object]:
    """The selected rows' values, top to bottom as shown."""
    selection = view.selectionModel()
    if selection is None:
        return []
    indexes = sorted(selection.selectedRows(), key=lambda index: index.row())
    return [index.data(ROW_ROLE) for index in indexes]


def copy_rows(columns: Sequence[Column[Any]], rows: Iterable[object]) -> int:
    """Put rows on the clipboard as tab-separated text with a header line (pastes into Excel)."""
    lines = ["\t".join(c.title for c in columns)]
    lines += [row_text(columns, row) for row in rows]
    QGuiApplication.clipboard().setText("\n".join(lines) + "\n")
    return len(lines) - 1


def action_button(action: QAction, parent: QWidget, object_name: str = "") -> QPushButton:
    """A push button that mirrors an action (text, tooltip, enabled) and triggers it."""
    button = QPushButton(action.text().replace("&", ""), parent)
    button.setToolTip(action.toolTip())
    button.setEnabled(action.isEnabled())
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if object_name:
        button.setObjectName(object_name)
    button.clicked.connect(action.trigger)
    action.changed.connect(lambda: button.setEnabled(action.isEnabled()))
    return button


def export_button(parent: QWidget, object_name: str, actions: Sequence[QAction]) -> QPushButton:
    """One "Export" button whose menu holds the export actions (CSV, Excel): a top bar with many
    buttons keeps its width for the filters."""
    button = QPushButton("Export", parent)
    button.setObjectName(object_name)
    button.setToolTip(
        "Export the rows shown: " + ", ".join(a.text().replace("&", "") for a in actions)
    )
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    menu = QMenu(button)
    menu.addActions(list(actions))
    button.setMenu(menu)
    return button


def view_action(
    view: QWidget,
    text: str,
    slot: Callable[[], object],
    shortcut: str | QKeySequence | QKeySequence.StandardKey = "",
    tip: str = "",
) -> QAction:
    """An action whose key works only while ``view`` has focus (no clash with window shortcuts)."""
    action = QAction(text, view)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({keys})" if keys else ""))
    action.triggered.connect(lambda _checked=False: slot())
    view.addAction(action)
    return action


def search_box(parent: QWidget, object_name: str, placeholder: str, tooltip: str = "") -> QLineEdit:
    """The free-text filter of a panel's top bar, with a clear button."""
    search = QLineEdit(parent)
    search.setObjectName(object_name)
    search.setPlaceholderText(placeholder)
    if tooltip:
        search.setToolTip(tooltip)
    search.setClearButtonEnabled(True)
    search.setMinimumWidth(160)
    search.setMaximumWidth(260)
    return search


TODAY, ALL_DAYS = "today", "all"
"""The days a book panel shows: the desk's trading day (IST), or every day the book holds."""
DAY_CHOICES = (("Today", TODAY), ("All days", ALL_DAYS))
DAY_CHECK_MS = 30_000
"""How often a panel looks whether the desk's day has turned (a desk left running overnight)."""


def day_box(parent: QWidget, object_name: str, tooltip: str) -> QComboBox:
    """The top bar's choice of the days shown: Today or All days (data ``TODAY``/``ALL_DAYS``)."""
    box = QComboBox(parent)
    box.setObjectName(object_name)
    for title, scope in DAY_CHOICES:
        box.addItem(title, scope)
    box.setToolTip(tooltip)
    return box


def day_check_timer(parent: QWidget, object_name: str, check: Callable[[], None]) -> QTimer:
    """A running timer that calls ``check`` every ``DAY_CHECK_MS``: the panel's look at whether
    the desk's day has turned."""
    timer = QTimer(parent, objectName=object_name)
    timer.setInterval(DAY_CHECK_MS)
    timer.timeout.connect(check)
    timer.start()
    return timer


class DaysShown:
    """The days a book panel shows: the desk's trading day (by default) or every day the book
    holds. It holds the Today / All days box, looks every ``DAY_CHECK_MS`` whether the desk's day
    has turned (a desk left running overnight), widens the Time column (the view's first) for
    dates, and calls the panel's ``changed`` when the choice or the day changes."""

    TIME_WIDTH: ClassVar[dict[str, int]] = {TODAY: 66, ALL_DAYS: 118}

    def __init__(
        self, panel: QWidget, name: str, tooltip: str, trading_day: Callable[[], date]
    ) -> None:
        self._name = name
        self._trading_day = trading_day
        self.scope = TODAY
        self.day = trading_day()
        self.box = day_box(panel, f"{name}Days", tooltip)
        self._view: QTableView | None = None
        self._changed: Callable[[], None] = lambda: None
        self._timer = day_check_timer(panel, f"{name}-day-check", self.check)

    def follow(self, view: QTableView, changed: Callable[[], None]) -> None:
        """Take the trader's choices in the box from now on, telling ``changed``."""
        self._view = view
        self._changed = changed
        self.box.currentIndexChanged.connect(lambda _index: self.choose(self.box.currentData()))

    def choose(self, scope: str) -> None:
        if scope not in self.TIME_WIDTH:
            raise ValueError(
                f"the {self._name} panel shows {TODAY!r} or {ALL_DAYS!r}, not {scope!r}"
            )
        if scope == self.scope:
            return
        self.scope = scope
        index = self.box.findData(scope)
        if self.box.currentIndex() != index:
            self.box.setCurrentIndex(index)
        if self._view is not None:
            self._view.horizontalHeader().resizeSection(0, self.TIME_WIDTH[scope])
        self._changed()

    def check(self) -> None:
        """The desk's day turned (a desk left running overnight): today is the new day."""
        day = self._trading_day()
        if day != self.day:
            self.day = day
            self._changed()

    def time_text(self, moment: datetime) -> str:
        """A row's time: alone on today's rows of Today; with its date beside other days' rows,
        where 10:00:01 alone would read as today's."""
        if self.scope == TODAY and moment.date() == self.day:
            return moment.strftime("%H:%M:%S")
        return moment.strftime("%d %b %H:%M:%S")

    def in_file_name(self) -> str:
        """The days shown, for an export's file name: the day, or every day up to it."""
        if self.scope == TODAY:
            return f"{self.day:%Y-%m-%d}"
        return f"all-days-to-{self.day:%Y-%m-%d}"


_EXPORT_TEXTS = {"csv": "Export CSV…", "xlsx": "Export Excel…"}


def export_action(panel: QWidget, suffix: str, ask_export: Callable[[str], object]) -> QAction:
    """The panel's "Export CSV…" ("csv") or "Export Excel…" ("xlsx"): ``ask_export(suffix)``."""
    action = QAction(_EXPORT_TEXTS[suffix], panel)
    action.triggered.connect(lambda: ask_export(suffix))
    return action


def export_actions(panel: QWidget, ask_export: Callable[[str], object]) -> tuple[QAction, QAction]:
    """The panel's "Export CSV…" and "Export Excel…" actions."""
    return export_action(panel, "csv", ask_export), export_action(panel, "xlsx", ask_export)


def export_table(
    fields: Sequence[tuple[str, Callable[[Any], object]]], rows: Iterable[object]
) -> tuple[list[str], list[list[object]]]:
    """Headers and cells of an export: one column per (title, read) field, one line per row."""
    headers = [title for title, _ in fields]
    return headers, [[read(row) for _, read in fields] for row in rows]


def action_menu(parent: QWidget, *groups: Sequence[QAction]) -> QMenu:
    """A menu of actions, a separator between the groups."""
    menu = QMenu(parent)
    for index, group in enumerate(groups):
        if index:
            menu.addSeparator()
        for action in group:
            menu.addAction(action)
    return menu


def popup_menu(menu: QMenu, view: QAbstractItemView, position: QPoint) -> None:
    """Show ``menu`` at ``position`` in the view's viewport; it deletes itself when it closes."""
    menu.aboutToHide.connect(menu.deleteLater)
    menu.popup(view.viewport().mapToGlobal(position))


class LineLabel(QLabel):
    """A one-line answer beside a bar's controls: cut at the width the bar gives it, whole in its
    tooltip, so a long one (an error naming a folder) never widens its panel past the dock."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setToolTip(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def say(self, text: str, palette: Palette, *, error: bool = False) -> None:
        """The answer in the theme's muted colour, or its down colour for a refusal."""
        colour = palette.down if error else palette.muted
        self.setStyleSheet(f"color: {colour.name()};")
        self.setText(text)


def panel_layout(
    panel: QWidget,
    bar: Sequence[QWidget],
    view: QWidget,
    *,
    stretch: QWidget | None = None,
    footer: QWidget | None = None,
) -> QVBoxLayout:
    """Lay ``panel`` out as a bar of widgets over the view, and an optional footer below it.

    ``stretch``, one of the bar's widgets, takes the bar's spare width; the view takes the
    panel's spare height (a wrapping label in the bar would otherwise share it).
    """
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(6)
    for widget in bar:
        row.addWidget(widget, 1 if widget is stretch else 0)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(4)
    layout.addLayout(row)
    layout.addWidget(view, 1)
    if footer is not None:
        layout.addWidget(footer)
    return layout


def read_only_table(columns: Sequence[str], parent: QWidget) -> QTableWidget:
    """A small table of text the panel fills itself (Health, Alerts): whole rows selected, never
    edited, columns as wide as their text and the last one taking the rest."""
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def set_cell(table: QTableWidget, row: int, column: int, text: str) -> QTableWidgetItem:
    """Put ``text`` in a cell of a ``read_only_table``, its item made once and then reused."""
    item = table.item(row, column)
    if item is None:
        item = QTableWidgetItem()
        table.setItem(row, column, item)
    item.setText(text)
    return item
