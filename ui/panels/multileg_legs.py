"""The portfolio editor's legs page: one row per leg, each of the leg's settings an editor in its
cell (side, CE/PE/FUT, expiry, strike rule and its values, lots, hedge, idle, target, stop,
trail), generated from the leg's schema like the other pages; add, copy, delete and move legs;
copy all the legs to the clipboard as one line of leg text (Stoxxo's form,
``Strike:ATM+2|Txn:SELL|…||…``) and paste such a line in place of the legs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
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

from engine.api import EngineApi
from ui.panels.schema_fields import FieldEditor
from ui.panels.schema_form import CELLS, ModelEditor, Presentation

NEW_LEG: dict[str, Any] = {"side": "SELL", "instrument": "CE", "expiry": "CW"}
"""A leg added to the table: sold, a call, this week's expiry, ATM, one lot."""
MAX_LEGS = 10


@dataclass(frozen=True, slots=True)
class LegsAsText:
    """The engine's leg text, both ways; each raises ``ValueError`` saying what is wrong."""

    write: Callable[[list[Any]], str]
    """The legs' values (their JSON form) as one line."""
    read: Callable[[str], list[dict[str, Any]]]
    """One line as the legs' values."""
    same: Callable[[list[Any], list[Any]], bool]
    """Whether two lists of legs' values are the same legs (``30`` and ``30.00`` are)."""

    @classmethod
    def through(cls, api: EngineApi) -> LegsAsText:
        def legs(values: list[Any]) -> list[Any]:
            return api.legs_from_text(api.legs_as_text(values))

        return cls(
            write=api.legs_as_text,
            read=lambda text: [leg.model_dump(mode="json") for leg in api.legs_from_text(text)],
            same=lambda one, other: legs(one) == legs(other),
        )


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

    def __init__(
        self,
        schema: type[Any],
        title: str,
        colour: QColor,
        look: Presentation,
        as_text: LegsAsText,
    ) -> None:
        super().__init__("legs", title, "")
        self.schema = schema
        self._as_text = as_text
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
        self.copy_text_button = QPushButton("Copy as text", objectName="legsCopyText")
        self.copy_text_button.setToolTip(
            "Copy the legs as one line of leg text (Strike:ATM+2|Txn:SELL|Ins:CE|…||…), "
            "as Stoxxo writes them"
        )
        self.paste_text_button = QPushButton("Paste legs", objectName="legsPasteText")
        self.paste_text_button.setToolTip("Replace the legs with those the clipboard's text writes")
        self.copy_text_button.clicked.connect(self.copy_as_text)
        self.paste_text_button.clicked.connect(lambda: self.paste_text())
        self.text_feedback = QLabel(objectName="legsTextFeedback", wordWrap=True)
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
        bar.addWidget(self.copy_text_button)
        bar.addWidget(self.paste_text_button)
        self.widget = QWidget()
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text_feedback)
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

    def copy_as_text(self) -> str | None:
        """The legs to the clipboard as one line of leg text; the text, or None (said why)."""
        try:
            text = self._as_text.write(self.value())
        except ValueError as problem:
            self.text_feedback.setText(f"Not copied: {problem}")
            return None
        clipboard = QApplication.clipboard()
        clipboard.setText(text)
        self.text_feedback.setText(f"Copied {_legs(len(self.rows))} as text.")
        return text

    def paste_text(self, text: str | None = None) -> bool:
        """Replace the legs with those ``text`` (else the clipboard's) writes; a text that cannot
        be read changes nothing and is said why, with the leg and the column."""
        if text is None:
            text = QApplication.clipboard().text()
        try:
            legs = self._as_text.read(text)
        except ValueError as problem:
            self.text_feedback.setText(f"Not pasted: {problem}")
            return False
        self._edit(legs, 0)
        try:
            kept = self._as_text.same(self.value(), legs)
        except ValueError:
            kept = False  # rounded into a value the spec refuses: the check shows which
        # The editor's number fields hold two decimal places: say so when that changed a leg.
        rounded = "" if kept else ", some values rounded to the two decimals the editor holds"
        self.text_feedback.setText(f"Pasted {_legs(len(legs))}{rounded}: check them, then Save.")
        return True


def _legs(count: int) -> str:
    return "1 leg" if count == 1 else f"{count} legs"
