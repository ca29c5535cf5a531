"""A Qt table model that adapts a keyed list of plain rows; it never owns engine state.

Columns are declared once (title, how to read the value, how to show it, how to sort it, how to
colour it). Rows are replaced by key: new keys are inserted, changed rows repaint, vanished rows are
removed, so views keep their selection and scroll position while data streams in.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

R = TypeVar("R")

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2

_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)


@dataclass(frozen=True)
class Column(Generic[R]):
    title: str
    value: Callable[[R], Any]
    """The raw value (used for sorting and export)."""
    text: Callable[[Any], str] = str
    """How the value is shown."""
    align: str = "left"
    foreground: Callable[[R], QColor | None] | None = None
    background: Callable[[R], QColor | None] | None = None
    tooltip: Callable[[R], str] | None = None
    width: int = 0


class RowTableModel(QAbstractTableModel, Generic[R]):
    def __init__(self, columns: Sequence[Column[R]], key: Callable[[R], Hashable]) -> None:
        super().__init__()
        self.columns = list(columns)
        self._key = key
        self._rows: list[R] = []
        self._index: dict[Hashable, int] = {}

    # -- Qt ---------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        # Views ask for a dozen roles per cell on every repaint: unknown roles leave at once.
        handler = _ROLE_HANDLERS.get(role)
        if handler is None or not index.isValid():
            return None
        return handler(self._rows[index.row()], self.columns[index.column()])

    # -- rows -----------------------------------------------------------------------------------------

    @property
    def rows(self) -> list[R]:
        return list(self._rows)

    def row_at(self, row: int) -> R:
        return self._rows[row]

    def row_of(self, key: Hashable) -> int | None:
        return self._index.get(key)

    def keys_shown(self, keys: set[Any]) -> set[Any]:
        """Those of ``keys`` that have a row (one set intersection: a frame's quotes are
        thousands of tokens, a watchlist a few dozen rows)."""
        return keys & self._index.keys()

    def set_rows(self, rows: Sequence[R]) -> None:
        """Make the model show ``rows``: insert, update and remove by key."""
        new_keys = [self._key(r) for r in rows]
        wanted = set(new_keys)
        self._remove_rows(sorted(p for k, p in self._index.items() if k not in wanted))
        last_column = len(self.columns) - 1
        added: list[tuple[Hashable, R]] = []
        for row, key in zip(rows, new_keys, strict=True):
            position = self._index.get(key)
            if position is None:
                added.append((key, row))
            elif self._rows[position] is not row and self._rows[position] != row:
                # The same row object is unchanged: comparing every field of thousands of rows
                # each frame is what a big book's orderbook would spend its frame on.
                self._rows[position] = row
                self.dataChanged.emit(self.index(position, 0), self.index(position, last_column))
        if added:  # at the end, in one step
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            for offset, (key, row) in enumerate(added):
                self._rows.append(row)
                self._index[key] = first + offset
            self.endInsertRows()
        if [self._key(r) for r in self._rows] != new_keys:
            self._reorder(new_keys)

    def _remove_rows(self, positions: list[int]) -> None:
        """Remove the rows at ``positions`` (ascending) in runs of neighbours, the last run first,
        indexing the rest after each run (a slot told of the removal may look a row up): a
        day's turn drops thousands of neighbouring rows in one step, not one at a time."""
        if not positions:
            return
        runs: list[list[int]] = []
        for position in positions:
            if runs and position == runs[-1][1] + 1:
                runs[-1][1] = position
            else:
                runs.append([position, position])
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self._reindex()
            self.endRemoveRows()

    def _reorder(self, keys: list[Hashable]) -> None:
        """Put rows in the order of ``keys``, keeping selections attached to their rows."""
        self.layoutAboutToBeChanged.emit()
        key_at_old_row = {position: key for key, position in self._index.items()}
        rows_by_key = {key: self._rows[position] for key, position in self._index.items()}
        self._rows = [rows_by_key[k] for k in keys]
        self._reindex()
        before = self.persistentIndexList()
        after = []
        for persistent in before:
            new_row = self._index.get(key_at_old_row.get(persistent.row()))
            after.append(
                QModelIndex() if new_row is None else self.index(new_row, persistent.column())
            )
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def refresh_rows(self, keys: set[Hashable] | None = None) -> None:
        """Repaint rows whose underlying values are read live (quotes), all of them by default."""
        if not self._rows:
            return
        last_column = len(self.columns) - 1
        if keys is None:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, last_column))
            return
        positions = [self._index[k] for k in keys if k in self._index]
        if not positions:
            return
        # One signal over the dirty span: views repaint only what is visible of it.
        self.dataChanged.emit(
            self.index(min(positions), 0), self.index(max(positions), last_column)
        )

    def _reindex(self) -> None:
        self._index = {self._key(r): i for i, r in enumerate(self._rows)}

    def export_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Headers and raw values, for CSV and Excel export."""
        headers = [c.title for c in self.columns]
        return headers, [[_exportable(c.value(r)) for c in self.columns] for r in self._rows]


def _display(row: Any, column: Column[Any]) -> Any:
    value = column.value(row)
    return "" if value is None else column.text(value)


def _alignment(row: Any, column: Column[Any]) -> int:
    return _RIGHT if column.align == "right" else _CENTER if column.align == "center" else _LEFT


def _foreground(row: Any, column: Column[Any]) -> Any:
    return None if column.foreground is None else column.foreground(row)


def _background(row: Any, column: Column[Any]) -> Any:
    return None if column.background is None else column.background(row)


def _tooltip(row: Any, column: Column[Any]) -> Any:
    return None if column.tooltip is None else column.tooltip(row)


_ROLE_HANDLERS: dict[int, Callable[[Any, Column[Any]], Any]] = {
    _DISPLAY: _display,
    int(SORT_ROLE): lambda row, column: _sortable(column.value(row)),
    int(ROW_ROLE): lambda row, column: row,
    int(Qt.ItemDataRole.TextAlignmentRole.value): _alignment,
    int(Qt.ItemDataRole.ForegroundRole.value): _foreground,
    int(Qt.ItemDataRole.BackgroundRole.value): _background,
    int(Qt.ItemDataRole.ToolTipRole.value): _tooltip,
}


def _sortable(value: Any) -> Any:
    if value is None:
        return float("-inf")
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value


def _exportable(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # enums
    return value
