"""Alerts: set a price or P&L alert, see which are armed and which fired, with what they said.

The bar sets a rule: an instrument (search as in Market Watch; none for a P&L alert), the
condition, the level and an optional note. The table lists every rule, armed ones first; a fired
one keeps what it said and when; an armed one on an instrument the desk no longer lists shows
"not listed" (it cannot fire). Remove acts on the selected rows, Re-arm on the selected fired ones
(an armed one is left as it is, and the trader told). A refused rule is explained under the bar.
"""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.api import IST, AlertError, AlertFired, AlertRule, Condition
from engine.domain.instruments import Instrument
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.panels.instrument_picker import InstrumentPicker
from ui.panels.table_kit import read_only_table, set_cell

CONDITIONS = (
    (Condition.CROSSES_ABOVE, "crosses above ₹"),
    (Condition.CROSSES_BELOW, "crosses below ₹"),
    (Condition.MOVES_PCT, "moves by %"),
    (Condition.PNL_BELOW, "day P&L below ₹"),
    (Condition.PNL_ABOVE, "day P&L above ₹"),
)
COLUMNS = ("Alert", "When", "State", "Set", "Fired", "What it said")
NOT_LISTED = "not listed"
"""The state of an armed rule whose instrument the desk no longer lists: it cannot fire."""
NOT_LISTED_TIP = "The desk no longer lists this instrument (an expired contract?): it cannot fire"
UNKNOWN = "—"
"""Shown for a value that cannot be shown, so one odd rule never stops the panel opening."""

log = logging.getLogger(__name__)


class AlertsPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self.setObjectName("alertsPanel")
        self._api = context.api
        self._theme = context.theme
        self.instrument: Instrument | None = None
        self.picker = InstrumentPicker(context.api, self)
        self.picker.setPlaceholderText("Instrument (none for a P&L alert)")
        self.picker.picked.connect(self.choose)
        self.chosen = QLabel("", self, objectName="alertInstrument")
        self.condition = QComboBox(self)
        for condition, label in CONDITIONS:
            self.condition.addItem(label, condition)
        self.value = QLineEdit(self, placeholderText="level")
        self.value.setMaximumWidth(110)
        self.note = QLineEdit(self, placeholderText="note (optional)")
        self.note.setMaxLength(200)
        self.set_button = QPushButton("Set alert", self)
        self.set_button.clicked.connect(self.set_alert)
        self.value.returnPressed.connect(self.set_alert)
        self.problem = QLabel("", self, objectName="alertProblem")
        self.problem.setWordWrap(True)
        self.table = read_only_table(COLUMNS, self)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self.remove_selected)
        self.rearm_button = QPushButton("Re-arm", self)
        self.rearm_button.clicked.connect(self.rearm_selected)
        bar = QHBoxLayout()
        for widget in (
            self.picker,
            self.chosen,
            self.condition,
            self.value,
            self.note,
            self.set_button,
        ):
            bar.addWidget(widget, 1 if widget in (self.picker, self.note) else 0)
        actions = QHBoxLayout()
        actions.addWidget(self.remove_button)
        actions.addWidget(self.rearm_button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.problem)
        layout.addWidget(self.table)
        layout.addLayout(actions)
        context.bridge.alerts.connect(self._fired, QUEUED)
        self.refresh()

    def choose(self, instrument: Instrument | None) -> None:
        """The instrument the next price alert watches (from the picker or another panel), its
        price now put in the level to edit: when the level is empty, or was another
        instrument's (a percent move is kept: it is no instrument's price)."""
        other = instrument is not None and (
            self.instrument is None or instrument.token != self.instrument.token
        )
        self.instrument = instrument
        self.chosen.setText("" if instrument is None else instrument.key)
        if instrument is None:
            return
        moves = self.condition.currentData() is Condition.MOVES_PCT
        if not self.value.text() or (other and not moves):
            quote = self._api.tick(instrument.token)
            self.value.setText("" if quote is None else f"{quote.ltp / 100:.2f}")

    def set_alert(self) -> AlertRule | None:
        condition = Condition(self.condition.currentData())
        token = (
            None
            if not condition.on_price or self.instrument is None
            else int(self.instrument.token)
        )
        try:
            rule = self._api.add_alert(
                condition, self.value.text().strip(), token=token, note=self.note.text()
            )
        except AlertError as refused:
            self._say(str(refused), bad=True)
            return None
        self._say(f"Alert {rule.alert_id} set: {_described(rule)}", bad=False)
        self.note.clear()
        self.refresh()
        return rule

    def remove_selected(self) -> None:
        for alert_id in self._selected():
            self._api.remove_alert(alert_id)
        self.refresh()

    def rearm_selected(self) -> None:
        """Re-arm the selected fired rules; an armed one is left as it is (re-arming it would
        move a move's starting price), and the trader is told which."""
        rules = {rule.alert_id: rule for rule in self._api.alerts()}
        rearmed: list[str] = []
        armed: list[str] = []
        refused: list[str] = []
        for alert_id in self._selected():
            rule = rules.get(alert_id)
            if rule is None:
                continue
            if rule.armed:
                armed.append(alert_id)
                continue
            try:
                self._api.rearm_alert(alert_id)
            except AlertError as why:
                refused.append(str(why))
                continue
            rearmed.append(alert_id)
        said = [f"Re-armed {', '.join(rearmed)}"] if rearmed else []
        if armed:
            said.append(
                f"{', '.join(armed)} {'is' if len(armed) == 1 else 'are'} armed already "
                "(not fired): left as set"
            )
        said += refused
        if said:
            self._say("; ".join(said), bad=bool(armed or refused))
        self.refresh()

    def _selected(self) -> list[str]:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return [self.table.item(row, 0).text() for row in sorted(rows)]

    def _fired(self, _events: list[AlertFired]) -> None:
        self.refresh()

    def _say(self, text: str, *, bad: bool) -> None:
        palette = self._theme.palette
        self.problem.setText(text)
        self.problem.setStyleSheet(f"color: {(palette.down if bad else palette.muted).name()};")

    def refresh(self) -> None:
        rules = sorted(self._api.alerts(), key=lambda r: (not r.armed, -r.created_ns))
        self.table.setRowCount(len(rules))
        palette = self._theme.palette
        listed = self._api.instruments.find
        for row, rule in enumerate(rules):
            state = "armed" if rule.armed else "fired"
            if rule.armed and rule.token is not None and listed(rule.token) is None:
                state = NOT_LISTED
            cells = (
                rule.alert_id,
                _described(rule) + (f" — {rule.note}" if rule.note else ""),
                state,
                _at(rule.created_ns),
                "" if rule.fired_ns is None else _at(rule.fired_ns),
                rule.fired_text,
            )
            for column, text in enumerate(cells):
                item = set_cell(self.table, row, column, text)
                if column == 2:
                    colour = {NOT_LISTED: palette.down, "armed": palette.warning}
                    item.setForeground(colour.get(state, palette.muted))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setToolTip(NOT_LISTED_TIP if state == NOT_LISTED else "")


def _described(rule: AlertRule) -> str:
    try:
        return rule.describe()
    except ArithmeticError:  # a level too large to format (decimal.Overflow)
        log.warning("alert %s: its level cannot be shown", rule.alert_id, exc_info=True)
        subject = f"{rule.title} " if rule.condition.on_price else ""
        return f"{subject}{rule.condition.words} {UNKNOWN}"


def _at(ts_ns: int) -> str:
    try:
        return datetime.fromtimestamp(ts_ns / 1e9, IST).strftime("%d %b %H:%M:%S")
    except (OverflowError, ValueError, OSError):  # a time past what a date can hold
        log.warning("an alert's time %s cannot be shown as a date", ts_ns, exc_info=True)
        return UNKNOWN
