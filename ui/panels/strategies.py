"""The Strategies panel: every strategy the desk can run (built in, and the trader's own files),
its status (with why it stopped, when not by the trader), its P&L for the day, and Start / Stop
(a Start goes on from what the strategy last saved). Files that could not be loaded are listed with
their line. The table follows the engine once a second and after each order event (a strategy's
fills move its P&L); it never owns any state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from PySide6.QtCore import QSortFilterProxyModel, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from engine.api import IST, StrategyPnl
from engine.api.strategies import TRADER_STOP
from engine.domain.strategy_records import StrategyStatus
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.models.table import Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout, selected_rows
from ui.theme import Palette

REFRESH_MS = 1000


@dataclass(frozen=True, slots=True)
class StrategyRow:
    strategy_id: str
    title: str
    status: StrategyStatus
    since: datetime | None
    net_pnl: Decimal | None
    fills: int
    open_positions: int
    note: str
    """Why it stopped or failed, else where it came from."""


def columns(context: PanelContext) -> list[Column[StrategyRow]]:
    def palette() -> Palette:  # read at paint time: the theme can change under a live model
        return context.theme.palette

    def status_colour(row: StrategyRow) -> QColor | None:
        if row.status is StrategyStatus.RUNNING:
            return palette().up
        if row.status is StrategyStatus.FAILED:
            return palette().down
        return palette().muted

    def pnl_colour(row: StrategyRow) -> QColor | None:
        if not row.net_pnl:
            return None
        return palette().up if row.net_pnl > 0 else palette().down

    return [
        Column("Strategy", lambda r: r.title, width=200, tooltip=lambda r: r.strategy_id),
        Column("Status", lambda r: r.status.value, foreground=status_colour, width=80),
        Column(
            "Since", lambda r: r.since, lambda v: "" if v is None else f"{v:%H:%M:%S}", width=80
        ),
        Column("Net P&L", lambda r: r.net_pnl, fmt.signed_rupees, "right", pnl_colour, width=100),
        Column("Fills", lambda r: r.fills, str, "right", width=50),
        Column("Open", lambda r: r.open_positions, str, "right", width=50),
        Column("Note", lambda r: r.note, tooltip=lambda r: r.note),
    ]


def _note(status: StrategyStatus, reason: str, description: str) -> str:
    """Why it is not running when the trader did not stop it (a fault, the kill switch, a
    breaker, the strategy itself, a handler that held the desk), else what it does."""
    if status is StrategyStatus.FAILED:
        return reason
    if status is StrategyStatus.STOPPED and reason and reason != TRADER_STOP:
        return reason
    return description


class StrategiesPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("strategiesPanel")
        self._ctx = context
        self.model: RowTableModel[StrategyRow] = RowTableModel(
            columns(context), key=lambda r: r.strategy_id
        )
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("strategiesTable")
        self.start_button = QPushButton("Start", self, objectName="strategyStart")
        self.stop_button = QPushButton("Stop", self, objectName="strategyStop")
        self.feedback = QLabel(self, objectName="strategiesFeedback")
        self.feedback.setWordWrap(True)
        self.problems = QLabel(self, objectName="strategiesProblems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {context.theme.palette.down.name()}")
        panel_layout(
            self,
            [self.start_button, self.stop_button, self.feedback],
            self.view,
            stretch=self.feedback,
            footer=self.problems,
        )
        self.start_button.clicked.connect(self.start_selected)
        self.stop_button.clicked.connect(self.stop_selected)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        self._timer = QTimer(self, objectName="strategies-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        context.bridge.orders_changed.connect(self.refresh, QUEUED)
        self.refresh()

    def refresh(self) -> None:
        api = self._ctx.api
        pnl: dict[str, StrategyPnl] = {row.strategy: row for row in api.strategy_pnl()}
        rows = []
        for info in api.strategies():
            day = pnl.get(info.strategy_id)
            since = (
                datetime.fromtimestamp(info.since_ns / 1e9, IST)
                if info.status is StrategyStatus.RUNNING and info.since_ns
                else None
            )
            note = _note(info.status, info.reason, info.description)
            if info.origin != "built in":
                note = f"{note} ({info.origin})" if note else info.origin
            rows.append(
                StrategyRow(
                    info.strategy_id,
                    info.title,
                    info.status,
                    since,
                    None if day is None else day.net,
                    0 if day is None else day.fills,
                    0 if day is None else day.open_positions,
                    note,
                )
            )
        self.model.set_rows(rows)
        problems = api.strategy_problems()
        self.problems.setVisible(bool(problems))
        self.problems.setText(
            "Not loaded: " + "; ".join(problems) if problems else "",
        )
        self._enable()

    def _selected(self) -> list[StrategyRow]:
        return [row for row in selected_rows(self.view) if isinstance(row, StrategyRow)]

    def _enable(self) -> None:
        chosen = self._selected()
        self.start_button.setEnabled(any(r.status is not StrategyStatus.RUNNING for r in chosen))
        self.stop_button.setEnabled(any(r.status is StrategyStatus.RUNNING for r in chosen))

    def start_selected(self) -> None:
        self._act(
            "started", [r for r in self._selected() if r.status is not StrategyStatus.RUNNING]
        )

    def stop_selected(self) -> None:
        self._act("stopped", [r for r in self._selected() if r.status is StrategyStatus.RUNNING])

    def _act(self, done: str, rows: list[StrategyRow]) -> None:
        api = self._ctx.api
        said = []
        for row in rows:
            act = api.start_strategy if done == "started" else api.stop_strategy
            problem = act(row.strategy_id)
            said.append(f"{row.title}: {problem}" if problem else f"{row.title} {done}")
        self.feedback.setText("; ".join(said))
        self.refresh()
