"""The portfolio editor's legs page: one row per leg, each of the leg's settings an editor in its
cell (side, CE/PE/FUT, expiry, strike rule and its values, lots, hedge, idle, target, stop,
trail, the actions on target and stop), generated from the leg's schema like the other pages;
add, copy, delete and move legs (one row at a time, the actions that name a leg renumbered);
copy all the legs to the clipboard as one line of leg text (Stoxxo's form,
``Strike:ATM+2|Txn:SELL|…||…``) and paste such a line in place of the legs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

from engine.api import EngineApi, PortfolioSpec
from ui.panels.schema_fields import MAX_DECIMALS, FieldEditor, OptionalEditor
from ui.panels.schema_form import CELLS, ModelEditor, Presentation

NEW_LEG: dict[str, Any] = {"side": "SELL", "instrument": "CE", "expiry": "CW"}
"""A leg added to the table: sold, a call, this week's expiry, ATM, one lot."""
MAX_LEGS: int = next(
    rule.max_length
    for rule in PortfolioSpec.model_fields["legs"].metadata
    if getattr(rule, "max_length", None)
)
"""The most legs a portfolio holds (the spec's own limit): a file with more is refused before a
row is built for it."""
REACTIONS = ("on_target", "on_stop")
"""A leg's actions on its target and stop hits; "execute leg N" names another leg by number."""
EXECUTE_LEG, LEG = "execute_leg", "leg"


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

    def renumber(self, index: int) -> None:
        """The row is leg ``index + 1`` now: its field paths and its number say so."""
        self.repath(self.path, f"legs.{index}")
        self.label = f"Leg {index + 1}"
        self.show_problem(self.problem)

    def reaction_leg(self, name: str) -> OptionalEditor | None:
        """The "execute leg N" number of the reaction ``name`` (on target, on stop) when that
        reaction is on, else None."""
        reaction = self.fields.get(name)
        if not isinstance(reaction, OptionalEditor) or not reaction.on:
            return None
        inner = reaction.inner
        number = inner.fields.get(LEG) if isinstance(inner, ModelEditor) else None
        return number if isinstance(number, OptionalEditor) else None


class LegsEditor(FieldEditor):
    """The portfolio's legs as a table, one row per leg, every cell an editor.

    Adding, copying, deleting and moving a leg touch its row alone (a leg's row is a few dozen
    widgets: rebuilding every row held the desk's one loop for most of a second), and renumber
    the legs' "execute leg N" actions so each still names the leg the trader chose; an action
    whose leg was deleted is a problem at its field until the trader chooses again."""

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
        self.orphans: dict[tuple[int, str], int] = {}
        """(row, reaction) → the number of the deleted leg that reaction executed."""
        self._quiet = False
        fields = schema.model_fields
        self.columns = ["#", *(look.label(schema, name) for name in fields)]
        self.tips = ["", *(info.description or "" for info in fields.values())]
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
        """Show ``value``'s legs: the rows already there take the first legs' values (a row is
        only built for a leg more). More legs than a portfolio holds are refused unbuilt."""
        if value is not None and not isinstance(value, list):
            raise ValueError(f"legs: {type(value).__name__} is not a list of legs")
        legs = value or []
        if len(legs) > MAX_LEGS:
            raise ValueError(f"legs: {len(legs)} legs; a portfolio holds at most {MAX_LEGS}")
        for index, leg in enumerate(legs):
            if not isinstance(leg, dict):
                raise ValueError(f"legs.{index}: {leg!r} is not a leg's settings")
        self.orphans.clear()
        with self._bulk():
            while len(self.rows) > len(legs):
                self._remove_row(len(self.rows) - 1)
            for index, leg in enumerate(legs):
                if index < len(self.rows):
                    self.rows[index].set_value(leg)
                else:
                    self._insert_row(index, leg)

    def children(self) -> list[FieldEditor]:
        return list(self.rows)

    def problem_widgets(self) -> list[QWidget]:
        return [self.table]

    def problems(self) -> list[tuple[str, str]]:
        """The editor's own problems (field path, words): actions whose leg was deleted."""
        found = []
        for (index, name), number in sorted(self.orphans.items()):
            row = self.rows[index] if index < len(self.rows) else None
            reaction = None if row is None else row.fields.get(name)
            said = None if reaction is None else reaction.value()
            if not isinstance(said, dict) or said.get("action") != EXECUTE_LEG or said.get(LEG):
                del self.orphans[(index, name)]  # the trader chose again (or another action)
                continue
            found.append(
                (
                    f"legs.{index}.{name}.{LEG}",
                    f"it executed leg {number}, which was deleted: choose the idle leg it "
                    "executes now",
                )
            )
        return found

    @property
    def current(self) -> int:
        selected = self.table.selectionModel().selectedRows()
        return selected[0].row() if selected else -1

    # -- rows -----------------------------------------------------------------------------------------

    @contextmanager
    def _bulk(self) -> Iterator[None]:
        """Change many cells with one fit of the columns at the end (not one per widget)."""
        was, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = was
        if not was:
            self._fit()
            self._enable()

    def _insert_row(self, at: int, leg: Any) -> LegRow:
        table = self.table
        table.insertRow(at)
        item = QTableWidgetItem(str(at + 1))
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        table.setItem(at, 0, item)
        row = LegRow(self.schema, at, item, self._colour, self._look)
        self.rows.insert(at, row)
        for index in range(at + 1, len(self.rows)):
            self.rows[index].renumber(index)
        row.set_value(leg)
        for column, child in enumerate(row.fields.values(), start=1):
            table.setCellWidget(at, column, child.widget)
        row.changed.connect(self._row_changed)
        return row

    def _remove_row(self, at: int) -> None:
        self.rows.pop(at)
        self.table.removeRow(at)  # its cells' widgets go with it
        for index in range(at, len(self.rows)):
            self.rows[index].renumber(index)

    def _row_changed(self) -> None:
        if self._quiet:
            return
        self._fit()
        self.changed.emit()

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

    def _renumber_actions(self, number: Callable[[int], int | None]) -> None:
        """Each "execute leg N" action names leg ``number(N)`` now; None: its leg was deleted,
        and the action is left without a leg (a problem at its field)."""
        for index, row in enumerate(self.rows):
            for name in REACTIONS:
                leg = row.reaction_leg(name)
                old = None if leg is None else leg.value()
                if leg is None or not isinstance(old, int):
                    continue
                new = number(old)
                if new == old:
                    continue
                leg.set_value(new)
                if new is None:
                    self.orphans[(index, name)] = old

    def _done(self, select: int) -> None:
        """After adding, copying, deleting or moving a leg: the marks of the last check are
        cleared (they name legs by number), the leg selected, and the change told."""
        for row in self.rows:
            for editor in row.walk():
                if editor.problem:
                    editor.show_problem("")
        if 0 <= select < len(self.rows):
            self.table.selectRow(select)
        self.changed.emit()

    # -- the buttons ------------------------------------------------------------------------------------

    def add_leg(self) -> None:
        if len(self.rows) >= MAX_LEGS:
            return
        with self._bulk():
            self._insert_row(len(self.rows), dict(NEW_LEG))
        self._done(len(self.rows) - 1)

    def copy_leg(self) -> None:
        at = self.current if self.current >= 0 else len(self.rows) - 1
        if at < 0 or len(self.rows) >= MAX_LEGS:
            return
        copied = at + 2  # the copy's number: the legs from it on move down one
        with self._bulk():
            self._renumber_actions(lambda n: n + 1 if n >= copied else n)
            leg = copy.deepcopy(self.rows[at].value())
            self.orphans = {
                (i + 1 if i > at else i, name): n for (i, name), n in self.orphans.items()
            } | {(at + 1, name): n for (i, name), n in self.orphans.items() if i == at}
            self._insert_row(at + 1, leg)
        self._done(at + 1)

    def delete_leg(self) -> None:
        at = self.current if self.current >= 0 else len(self.rows) - 1
        if at < 0:
            return
        gone = at + 1
        with self._bulk():
            self._remove_row(at)
            self.orphans = {
                (i - 1 if i > at else i, name): n
                for (i, name), n in self.orphans.items()
                if i != at
            }
            self._renumber_actions(lambda n: None if n == gone else n - 1 if n > gone else n)
        self._done(min(at, len(self.rows) - 1))

    def move_leg(self, step: int) -> None:
        at = self.current
        to = at + step
        if at < 0 or not 0 <= to < len(self.rows):
            return
        one, other = at + 1, to + 1
        with self._bulk():
            first, second = self.rows[at].value(), self.rows[to].value()
            self.rows[at].set_value(second)
            self.rows[to].set_value(first)
            swap = {at: to, to: at}
            self.orphans = {(swap.get(i, i), name): n for (i, name), n in self.orphans.items()}
            self._renumber_actions(lambda n: other if n == one else one if n == other else n)
        self._done(to)

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
        if len(legs) > MAX_LEGS:
            self.text_feedback.setText(
                f"Not pasted: the text writes {len(legs)} legs; a portfolio holds at most "
                f"{MAX_LEGS}"
            )
            return False
        before = self.value()
        try:
            self.set_value(legs)
        except ValueError as problem:  # a value the table cannot show: the legs stay as they were
            self.set_value(before)
            self.text_feedback.setText(f"Not pasted: {problem}")
            return False
        self._done(0)
        try:
            kept = self._as_text.same(self.value(), legs)
        except ValueError:
            kept = False  # rounded into a value the spec refuses: the check shows which
        # A number field holds up to MAX_DECIMALS places: say so when that changed a leg.
        places = f"the {MAX_DECIMALS} decimal places the editor holds"
        rounded = "" if kept else f", some values rounded to {places}"
        self.text_feedback.setText(f"Pasted {_legs(len(legs))}{rounded}: check them, then Save.")
        return True


def _legs(count: int) -> str:
    return "1 leg" if count == 1 else f"{count} legs"
