"""Signals: the approval cards of signals waiting for the trader, and the recent signals with what
became of each.

A card shows what the signal asks (side, lots and units, the instrument it maps to and the
sender's name for it, order type, price), the strategy and the signal's id, and a countdown to
its expiry. The keyboard drives it: Up/Down choose a card, Enter approves, Delete rejects, + and
- change the lots before approving (a changed signal is journaled as approved with the change).
Every decision is journaled with who made it; Export audit… writes the day's trail (every step,
and the orders signals placed) as CSV or JSON. A card's buttons are off once its decision is
sent, and what became of a signal not placed is said in words.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import date, datetime
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.api import IST, PendingSignalView, SignalRecord, SignalResult, SignalStep
from ui.context import PanelContext
from ui.panels.table_kit import read_only_table, set_cell

RECENT = 100
ENTRY_WORDS = {"buy": "BUY", "sell": "SELL", "le": "ENTER LONG", "se": "ENTER SHORT"}
ACTION_WORDS = {
    "lx": "EXIT the long in",
    "sx": "EXIT the short in",
    "exit": "EXIT the position in",
    "start": "START portfolio",
    "stop": "STOP portfolio",
    "square_off": "SQUARE OFF portfolio",
}
COLUMNS = ("Time", "Signal", "Strategy", "Step", "Order", "Reason")
OUTCOMES = (
    SignalStep.PLACED,
    SignalStep.DENIED,
    SignalStep.REFUSED,
    SignalStep.REJECTED,
    SignalStep.EXPIRED,
)
"""The steps that end a signal: what became of it."""


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def outcome_words(step: SignalStep, reason: str, order_id: str | None) -> str:
    """What became of a signal, in words: placed, or why it was not."""
    if step is SignalStep.PLACED:
        return f"placed (order {order_id})" if order_id else "placed"
    if step is SignalStep.PENDING:
        return reason or "still waiting for approval"
    if step is SignalStep.EXPIRED:
        return "not placed: not approved in time"
    if step is SignalStep.DENIED:
        return f"not placed: the risk gate denied it: {reason}"
    return f"not placed: {reason or step.value}"


def decision_words(result: SignalResult) -> str:
    """A decision's result for the trader (the panel's line, the status bar)."""
    return f"{result.signal_id}: {outcome_words(result.step, result.reason, result.order_id)}"


class SignalCard(QFrame):
    """One waiting signal: what it asks, a countdown, the lots to approve, Approve / Reject."""

    approve = Signal(str, int)
    reject = Signal(str)

    def __init__(self, view: PendingSignalView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signalCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.view = view
        buy = view.action in ("buy", "le", "sx")
        self.title = QLabel(objectName="signalTitle")
        self.title.setStyleSheet(f"font-weight: 600; color: {'#4d9cff' if buy else '#ff6b6b'};")
        price = f" at ₹{view.price}" if view.price is not None else ""
        terms = (
            f"the multileg portfolio {view.instrument}"
            if not view.token
            else f"{view.order_type}{price} · {view.product} · {view.instrument} (sent as "
            f"{view.symbol})"
        )
        self.terms = QLabel(
            f"{terms} · strategy {view.strategy} · signal {view.signal_id}",
            objectName="fieldHint",
            wordWrap=True,
        )
        self.lots = QSpinBox(minimum=1, maximum=10_000, value=max(1, view.lots))
        self.lots.setVisible(bool(view.lots) and view.action not in ("lx", "sx", "exit"))
        self.lots.setPrefix("lots ")
        if view.multiplier != 1:
            self.lots.setSuffix(f" × {view.multiplier}")  # the desk's lots multiplier
        self.lots.valueChanged.connect(self._show_title)
        self.countdown = QProgressBar(textVisible=True)
        self.countdown.setMaximumHeight(14)
        self.approve_button = QPushButton("Approve  ⏎")
        self.reject_button = QPushButton("Reject  Del")
        self.approve_button.clicked.connect(self._approve)
        self.reject_button.clicked.connect(lambda: self.reject.emit(self.view.signal_id))
        self.buttons = (self.approve_button, self.reject_button, self.lots)
        row = QHBoxLayout()
        row.addWidget(self.lots)
        row.addWidget(self.countdown, 1)
        row.addWidget(self.approve_button)
        row.addWidget(self.reject_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 6, 8, 6)
        column.addWidget(self.title)
        column.addWidget(self.terms)
        column.addLayout(row)
        self._show_title()
        self.tick(time.time_ns())

    def _show_title(self) -> None:
        view = self.view
        words = ACTION_WORDS.get(view.action)
        if words is not None:  # an exit or a portfolio's command: no lots to choose
            held = f" ({plural(view.quantity, 'unit')})" if view.quantity else ""
            self.title.setText(f"{words} {view.instrument}{held}")
            return
        lots = self.lots.value() * view.multiplier
        units = lots * view.lot_size
        changed = " (changed)" if self.lots.value() != view.lots else ""
        closes = ""
        if view.closes:
            held = "short" if view.side == "BUY" else "long"
            closes = (
                f" and closes the {held} of {view.closes:,}: "
                f"{view.side} {plural(units + view.closes, 'unit')}"
            )
        self.title.setText(
            f"{ENTRY_WORDS.get(view.action, view.action.upper())} {plural(lots, 'lot')} "
            f"({plural(units, 'unit')}) {view.instrument}{closes}{changed}"
        )

    def _approve(self) -> None:
        self.approve.emit(self.view.signal_id, self.changed_lots())

    def changed_lots(self) -> int:
        """The lots the trader chose, or 0 when they are the signal's own (no change to say)."""
        lots = self.lots.value()
        return lots if self.view.lots and lots != self.view.lots else 0

    def set_deciding(self, deciding: bool) -> None:
        """Off while its decision is on its way: a second click decides nothing twice."""
        for widget in self.buttons:
            widget.setEnabled(not deciding)

    def tick(self, now_ns: int) -> None:
        total = max(1, self.view.expires_ns - self.view.received_ns)
        left = max(0, self.view.expires_ns - now_ns)
        self.countdown.setRange(0, 1000)
        self.countdown.setValue(int(1000 * left / total))
        self.countdown.setFormat(f"expires in {left / 1e9:.0f} s")

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.setStyleSheet("QFrame#signalCard { border: 2px solid #f0b429; }" if selected else "")


class SignalsPanel(QWidget):
    decided = Signal(object)
    """A decision's result (``SignalResult``), for the status bar."""

    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self.setObjectName("signalsPanel")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._api = context.api
        self.cards: list[SignalCard] = []
        self.selected: int | None = None
        """The chosen card, which Enter approves and Delete rejects; None: none is."""
        self._chosen_id: str | None = None
        """The chosen card's signal, followed as cards come and go: when it goes without the
        trader's decision here (its time ran out), no other card takes its place under Enter."""
        self._lost = False
        """The chosen card went without a decision here, and the trader has not chosen since."""
        self.recent: deque[SignalRecord] = deque(maxlen=RECENT)
        self._unshown: list[SignalRecord] = []
        """Records not yet in the Recent table, oldest first."""
        self._decisions: dict[str, SignalResult] = {}
        """What the trader's decisions here came to, by signal id (the last ``RECENT``)."""
        self.heading = QLabel("No signal waits for approval.", objectName="signalsHeading")
        self.problem = QLabel("", objectName="fieldProblem", wordWrap=True)
        self.cards_box = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_box)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.cards_box)
        scroll.setMinimumHeight(120)  # a card in view, however small the dock
        self.table = read_only_table(COLUMNS, self)
        self.export_button = QPushButton("Export audit…")
        self.export_button.setToolTip("Today's signals, decisions and their orders, as CSV or JSON")
        self.export_button.clicked.connect(self.ask_export)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.export_button)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(self.problem)
        column.addWidget(scroll, 3)
        column.addWidget(QLabel("Recent signals", objectName="fieldHint"))
        column.addWidget(self.table, 2)
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)
        self._refresh_timer.timeout.connect(self.refresh)
        self._clock = QTimer(self, interval=500)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self._forget = context.api.subscribe(SignalRecord, self._on_record)
        self.destroyed.connect(lambda _object=None: self._forget())
        self.refresh()

    # -- what arrives ------------------------------------------------------------------------------

    def _on_record(self, record: SignalRecord) -> None:
        self.recent.appendleft(record)
        self._unshown.append(record)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()  # a burst of signals: one refresh on the next turn

    def refresh(self) -> None:
        waiting = self._api.pending_signals()
        shown = {card.view.signal_id: card for card in self.cards}
        wanted = [view.signal_id for view in waiting]
        for signal_id, card in shown.items():
            if signal_id not in wanted:
                self.cards_layout.removeWidget(card)
                card.deleteLater()
        self.cards = [shown.get(view.signal_id) or self._card(view) for view in waiting]
        for index, card in enumerate(self.cards):
            self.cards_layout.insertWidget(index, card)
        ids = [card.view.signal_id for card in self.cards]
        if self._chosen_id in ids:
            self._select(ids.index(self._chosen_id))
        elif self._chosen_id is not None or self._lost:
            # It went without a decision here: none is chosen until the trader chooses.
            self._select(None)
            self._lost = bool(self.cards)
        else:
            self._select(min(self.selected or 0, len(self.cards) - 1) if self.cards else None)
        count = len(self.cards)
        self.heading.setText(
            f"{count} signal{'s' if count != 1 else ''} waiting for approval"
            if count
            else "No signal waits for approval."
        )
        self._show_recent()

    def _card(self, view: PendingSignalView) -> SignalCard:
        card = SignalCard(view, self.cards_box)
        card.approve.connect(self.approve)
        card.reject.connect(self.reject)
        return card

    def _show_recent(self) -> None:
        """The records that arrived since the last turn, each a new row at the top; the rows
        already shown are not written again. Columns fit their text once, after the rows are in
        (fitting them at each cell's change measures the whole table each time)."""
        fresh, self._unshown = self._unshown[-RECENT:], []
        if not fresh:
            return
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        try:
            for record in fresh:
                self.table.insertRow(0)
                for column, text in enumerate(recent_cells(record)):
                    set_cell(self.table, 0, column, text)
            if self.table.rowCount() > RECENT:
                self.table.setRowCount(RECENT)
        finally:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _tick(self) -> None:
        now = time.time_ns()
        for card in self.cards:
            card.tick(now)

    # -- the trader's decisions --------------------------------------------------------------------

    def approve(self, signal_id: str, lots: int | None = None) -> SignalResult:
        if (earlier := self._decisions.get(signal_id)) is not None:
            return self._said_again(earlier)
        self._set_deciding(signal_id, True)
        result = self._api.approve_signal(signal_id, lots=lots or None)
        self._decided(result)
        return result

    def reject(self, signal_id: str) -> SignalResult:
        if (earlier := self._decisions.get(signal_id)) is not None:
            return self._said_again(earlier)
        self._set_deciding(signal_id, True)
        result = self._api.reject_signal(signal_id, "rejected by the trader")
        self._decided(result)
        return result

    def _set_deciding(self, signal_id: str, deciding: bool) -> None:
        for card in self.cards:
            if card.view.signal_id == signal_id:
                card.set_deciding(deciding)

    def _said_again(self, earlier: SignalResult) -> SignalResult:
        """A second decision on a signal already decided (a double click): what it came to."""
        what = outcome_words(earlier.step, earlier.reason, earlier.order_id)
        self.problem.setText(f"{earlier.signal_id}: already decided: {what}")
        return earlier

    def _decided(self, result: SignalResult) -> None:
        settled = self._settled(result.signal_id) if result.step is SignalStep.REFUSED else None
        if settled is not None:  # it no longer waited: what became of it
            result = SignalResult(result.signal_id, settled.step, settled.reason, settled.order_id)
        if result.step is SignalStep.PENDING:
            self._set_deciding(result.signal_id, False)  # not approved: it waits, to try again
        else:
            if result.signal_id == self._chosen_id:
                self._chosen_id = None  # decided here: the card after it is chosen in its place
                self._lost = False
            self._decisions[result.signal_id] = result
            while len(self._decisions) > RECENT:
                del self._decisions[next(iter(self._decisions))]
        placed = result.step is SignalStep.PLACED
        self.problem.setText("" if placed else decision_words(result))
        self.decided.emit(result)
        self.refresh()

    def _settled(self, signal_id: str) -> SignalRecord | None:
        """The last step that ended ``signal_id`` among the recent signals, if one did."""
        return next(
            (r for r in self.recent if r.signal_id == signal_id and r.step in OUTCOMES), None
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.cards:
            super().keyPressEvent(event)
            return
        key = event.key()
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = 1 if key == Qt.Key.Key_Down else -1
            self._lost = False
            self._select(0 if self.selected is None else self.selected + step)
            return
        if self.selected is None:
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Delete):
                self.problem.setText("The chosen signal is gone: choose one with ↑ or ↓.")
            else:
                super().keyPressEvent(event)
            return
        card = self.cards[self.selected]
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.approve(card.view.signal_id, card.changed_lots())
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.reject(card.view.signal_id)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            card.lots.setValue(card.lots.value() + 1)
        elif key == Qt.Key.Key_Minus:
            card.lots.setValue(card.lots.value() - 1)
        else:
            super().keyPressEvent(event)

    def _select(self, index: int | None) -> None:
        if index is None or not self.cards:
            self.selected = None
        else:
            self.selected = max(0, min(index, len(self.cards) - 1))
        self._chosen_id = (
            None if self.selected is None else self.cards[self.selected].view.signal_id
        )
        for position, card in enumerate(self.cards):
            card.set_selected(position == self.selected)

    # -- the audit trail ---------------------------------------------------------------------------

    def ask_export(self) -> QFileDialog:
        today = datetime.now(IST).date()
        dialog = QFileDialog(self, "Export the signals audit trail")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["CSV (*.csv)", "JSON (*.json)"])
        dialog.setDefaultSuffix("csv")
        dialog.selectFile(f"dalaldesk-signals-{today:%Y%m%d}.csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.export(Path(name), today, today))
        dialog.open()
        return dialog

    def export(self, path: Path, start: date, end: date) -> str | None:
        """The audit trail of ``start`` to ``end`` to ``path`` (.csv or .json)."""
        unwritten = self._api.export_signal_audit(path, start, end)
        self.problem.setText(unwritten or f"Audit trail written to {path}.")
        return unwritten


def recent_cells(record: SignalRecord) -> tuple[str, ...]:
    """A row of the Recent signals table."""
    when = datetime.fromtimestamp(record.ts_ns / 1e9, IST).strftime("%H:%M:%S")
    return (
        when, record.signal_id, record.strategy, record.step.value,
        record.order_id or "", record.reason,
    )  # fmt: skip
