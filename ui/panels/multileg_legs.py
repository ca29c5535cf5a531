"""The portfolio editor's legs page: one row per leg, each of the leg's settings an editor in its
cell (side, CE/PE/FUT, expiry, strike rule and its values, lots, hedge, idle, target, stop,
trail), generated from the leg's schema like the other pages; add, copy, delete and move legs."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.panels.schema_fields import FieldEditor
from ui.panels.schema_form import CELLS, ModelEditor, Presentation

NEW_LEG: dict[str, Any] = {"side": "SELL", "instrument": "CE", "expiry": "CW"}
"""A leg added to the table: sold, a call, this week's expiry, ATM, one lot."""
MAX_LEGS = 10


class LegRow(ModelEditor):
    """One leg: its fields' widgets are the table's cells; a problem with the whole leg marks the
    leg's number."""

    def __init__(
        self,
        schema: type[Any],
        index: int,
        item: QTableWidgetItem,
        colour: QColor,
        look: Presentation,
    ) -> None:
        super().__init__(schema, f"legs.{index}", f"Leg {index + 1}", layout=CELLS, look=look)
        self.item = item
        self._colour = colour

    def show_problem(self, text: str) -> None:
        self.problem = text
        number = self.label.removeprefix("Leg ")
        self.item.setText(f"{number} ⚠" if text else number)
        self.item.setData(Qt.ItemDataRole.ForegroundRole, self._colour if text else None)
        self.item.setToolTip(text)


class LegsEditor(FieldEditor):
    """The portfolio's legs as a table, one row per leg, every cell an editor."""

    def __init__(self, schema: type[Any], title: str, colour: QColor, look: Presentation) -> None:
        super().__init__("legs", title, "")
        self.schema = schema
        self._colour = colour
        self._look = look
        self.rows: list[LegRow] = []
        sample = ModelEditor(schema, "legs.x", "", layout=CELLS, look=look)
        self.columns = ["#", *(child.label for child in sample.fields.values())]
        self.tips = ["", *(child.tip for child in sample.fields.values())]
        self.table = QTableWidget(0, len(self.columns))
        self.table.setObjectName("legsTable")
        self.table.setHorizontalHeaderLabels(self.columns)
        for column, tip in enumerate(self.tips):
            header = self.table.horizontalHeaderItem(column)
            if header is not None and tip:
                header.setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(34)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.add_button = QPushButton("Add leg", objectName="legAdd")
        self.copy_button = QPushButton("Copy leg", objectName="legCopy")
        self.delete_button = QPushButton("Delete leg", objectName="legDelete")
        self.up_button = QPushButton("Move up", objectName="legUp")
        self.down_button = QPushButton("Move down", objectName="legDown")
        self.add_button.clicked.connect(self.add_leg)
        self.copy_button.clicked.connect(self.copy_leg)
        self.delete_button.clicked.connect(self.delete_leg)
        self.up_button.clicked.connect(lambda: self.move_leg(-1))
        self.down_button.clicked.connect(lambda: self.move_leg(+1))
        self.problem_label = QLabel(objectName="fieldProblem", wordWrap=True)
        self.problem_label.setVisible(False)
        hint = QLabel(
            "Hedge legs are bought first and exited last. An idle leg is not entered with the "
            "portfolio. Strike rules: ATM ± n strikes, a fixed strike, the nearest premium, a "
            "delta, or ATM ± k × the ATM straddle.",
            objectName="fieldHint",
            wordWrap=True,
        )
        bar = QHBoxLayout()
        for button in (
            self.add_button,
            self.copy_button,
            self.delete_button,
            self.up_button,
            self.down_button,
        ):
            bar.addWidget(button)
        bar.addStretch(1)
        self.widget = QWidget()
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint)
        # Owned by its widget: gone with the dialog, and with it its focus connection.
        self.setParent(self.widget)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Editing a leg's cell selects the leg (for Copy, Delete and Move)."""
        if new is None or not self.table.isAncestorOf(new):
            return
        at = self.table.indexAt(new.mapTo(self.table.viewport(), QPoint(1, 1)))
        if at.isValid() and at.row() != self.current:
            self.table.selectRow(at.row())

    # -- values ---------------------------------------------------------------------------------------

    def value(self) -> list[dict[str, Any] | None]:
        return [row.value() for row in self.rows]

    def set_value(self, value: Any) -> None:
        legs = list(value) if isinstance(value, list) else []
        self._build(legs)

    def children(self) -> list[FieldEditor]:
        return list(self.rows)

    def problem_widgets(self) -> list[QWidget]:
        return [self.table]

    @property
    def current(self) -> int:
        selected = self.table.selectionModel().selectedRows()
        return selected[0].row() if selected else -1

    def _build(self, legs: list[Any]) -> None:
        table = self.table
        table.setRowCount(0)
        self.rows = []
        table.setRowCount(len(legs))
        for index, leg in enumerate(legs):
            item = QTableWidgetItem(str(index + 1))
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            table.setItem(index, 0, item)
            row = LegRow(self.schema, index, item, self._colour, self._look)
            row.set_value(leg)
            for column, child in enumerate(row.fields.values(), start=1):
                table.setCellWidget(index, column, child.widget)
            row.changed.connect(self._fit)
            row.changed.connect(self.changed)
            self.rows.append(row)
        self._fit()
        self._enable()

    def _fit(self) -> None:
        """Columns as wide as what they show (a strike rule's fields change with its kind)."""
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, 44)

    def _enable(self) -> None:
        count = len(self.rows)
        self.add_button.setEnabled(count < MAX_LEGS)
        self.copy_button.setEnabled(0 < count < MAX_LEGS)
        self.delete_button.setEnabled(count > 0)
        self.up_button.setEnabled(count > 1)
        self.down_button.setEnabled(count > 1)

    def _edit(self, legs: list[Any], select: int) -> None:
        self._build(legs)
        if 0 <= select < len(legs):
            self.table.selectRow(select)
        self.changed.emit()

    # -- the buttons ------------------------------------------------------------------------------------

    def add_leg(self) -> None:
        legs = self.value()
        legs.append(dict(NEW_LEG))
        self._edit(legs, len(legs) - 1)

    def copy_leg(self) -> None:
        legs = self.value()
        at = self.current if self.current >= 0 else len(legs) - 1
        if at < 0:
            return
        legs.insert(at + 1, copy.deepcopy(legs[at]))
        self._edit(legs, at + 1)

    def delete_leg(self) -> None:
        legs = self.value()
        at = self.current if self.current >= 0 else len(legs) - 1
        if at < 0:
            return
        del legs[at]
        self._edit(legs, min(at, len(legs) - 1))

    def move_leg(self, step: int) -> None:
        legs = self.value()
        at = self.current
        to = at + step
        if at < 0 or not 0 <= to < len(legs):
            return
        legs[at], legs[to] = legs[to], legs[at]
        self._edit(legs, to)
