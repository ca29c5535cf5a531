"""The Algos panel: every execution-algo parent of the book with its progress (a bar of filled
and working against the target, a mark where the schedule says it should be by now), its
average fill and slippage against the arrival price so far, and Pause, Resume and Cancel for the
selected parents; the execution-quality rows export to CSV. The table follows the engine twice a
second and after each order event; it owns no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from engine.api import IST, AlgoStatus, AlgoView
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import ask_save_path
from ui.models.table import ROW_ROLE, Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout, selected_rows

REFRESH_MS = 500
PROGRESS_COLUMN = 4
LIVE = (AlgoStatus.WORKING, AlgoStatus.PAUSED)


@dataclass(frozen=True, slots=True)
class AlgoRow:
    view: AlgoView

    @property
    def key(self) -> str:
        return self.view.parent_id

    @property
    def done(self) -> float:
        return self.view.filled / self.view.target if self.view.target else 0.0


def _bp(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+.2f}"


def columns(context: PanelContext) -> list[Column[AlgoRow]]:
    def palette():  # type: ignore[no-untyped-def]  # read at paint time: the theme can change
        return context.theme.palette

    def side_colour(row: AlgoRow) -> QColor | None:
        return palette().buy if row.view.side == "BUY" else palette().sell

    def status_colour(row: AlgoRow) -> QColor | None:
        status = row.view.status
        if status is AlgoStatus.WORKING:
            return palette().up
        if status is AlgoStatus.PAUSED:
            return palette().warning
        return palette().muted

    def slip_colour(row: AlgoRow) -> QColor | None:
        slip = row.view.slippage_arrival_bp
        if not slip:
            return None
        return palette().down if slip > 0 else palette().up

    return [
        Column("Parent", lambda r: r.view.parent_id, width=130, tooltip=lambda r: r.view.owner),
        Column("Kind", lambda r: r.view.kind.upper(), width=60),
        Column("Instrument", lambda r: r.view.symbol, width=150),
        Column("Side", lambda r: r.view.side, foreground=side_colour, width=45),
        Column("Progress", lambda r: r.done, lambda v: "", width=190),
        Column(
            "Filled / target",
            lambda r: (r.view.filled, r.view.target),
            lambda v: f"{v[0]:,} / {v[1]:,}",
            "right",
            width=120,
        ),
        Column("Working", lambda r: r.view.working, lambda v: f"{v:,}", "right", width=72),
        Column(
            "Avg fill",
            lambda r: r.view.average_fill,
            lambda v: "" if v is None else fmt.rupees(v),
            "right",
            width=90,
        ),
        Column(
            "Slip bp",
            lambda r: r.view.slippage_arrival_bp,
            _bp,
            "right",
            slip_colour,
            width=75,
            tooltip=lambda r: "slippage against the mid when the parent started (+ cost you)",
        ),
        Column("Children", lambda r: r.view.children, str, "right", width=72),
        Column("Status", lambda r: r.view.status.value, foreground=status_colour, width=75),
        Column(
            "Started",
            lambda r: datetime.fromtimestamp(r.view.started_ns / 1e9, IST),
            lambda v: f"{v:%H:%M:%S}",
            width=70,
        ),
        Column("On restart", lambda r: r.view.on_restart, width=80),
        Column("Note", lambda r: r.view.reason, tooltip=lambda r: r.view.reason),
    ]


class ProgressDelegate(QStyledItemDelegate):
    """A parent's progress: filled (solid) and working (faint) against its target, and a tick
    where its schedule says it should be by now."""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row = index.data(ROW_ROLE)
        if not isinstance(row, AlgoRow):
            super().paint(painter, option, index)
            return
        view, palette = row.view, self._context.theme.palette
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        rect: QRect = option.rect.adjusted(6, 5, -6, -5)
        target = max(view.target, 1)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(palette.muted)
        track.setAlpha(45)
        painter.setBrush(track)
        painter.drawRoundedRect(QRectF(rect), 3, 3)
        colour = QColor(palette.buy if view.side == "BUY" else palette.sell)
        if view.status not in LIVE:
            colour = QColor(palette.muted)
        filled_width = rect.width() * min(view.filled / target, 1.0)
        if view.working:
            faint = QColor(colour)
            faint.setAlpha(90)
            painter.setBrush(faint)
            working = QRectF(rect)
            working.setLeft(rect.left() + filled_width)
            working.setWidth(rect.width() * min(view.working / target, 1.0))
            painter.drawRect(working)
        if view.filled:
            done = QRectF(rect)
            done.setWidth(max(2.0, filled_width))
            painter.setBrush(colour)
            painter.drawRoundedRect(done, 3, 3)
        if view.scheduled is not None and view.status in LIVE:
            x = rect.left() + rect.width() * min(view.scheduled / target, 1.0)
            painter.setPen(QPen(palette.warning, 2))
            painter.drawLine(int(x), rect.top() - 2, int(x), rect.bottom() + 2)
        painter.setPen(option.palette.text().color())
        painter.drawText(
            rect,
            int(Qt.AlignmentFlag.AlignCenter),
            f"{row.done * 100:.0f}%  ·  {view.elapsed_pct:.0f}% time",
        )
        painter.restore()


class AlgosPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("algosPanel")
        self._ctx = context
        self.model: RowTableModel[AlgoRow] = RowTableModel(columns(context), key=lambda r: r.key)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("algosTable")
        # The panel's own order (working parents first, newest first) until the trader sorts.
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.view.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(context, self.view))
        self.pause_button = QPushButton("Pause", self, objectName="algoPause")
        self.resume_button = QPushButton("Resume", self, objectName="algoResume")
        self.cancel_button = QPushButton("Cancel", self, objectName="algoCancel")
        self.cancel_button.setToolTip("End the parent and cancel its working children")
        self.export_button = QPushButton("Export quality…", self, objectName="algoExport")
        self.export_button.setToolTip("Every parent's execution quality as CSV")
        self.feedback = QLabel(self, objectName="algosFeedback")
        self.feedback.setWordWrap(True)
        panel_layout(
            self,
            [
                self.pause_button,
                self.resume_button,
                self.cancel_button,
                self.export_button,
                self.feedback,
            ],
            self.view,
            stretch=self.feedback,
        )
        self.pause_button.clicked.connect(lambda: self._act(self._ctx.api.pause_algo, "paused"))
        self.resume_button.clicked.connect(lambda: self._act(self._ctx.api.resume_algo, "resumed"))
        self.cancel_button.clicked.connect(
            lambda: self._act(self._ctx.api.cancel_algo, "cancelled")
        )
        self.export_button.clicked.connect(self.export)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._enable())
        self._timer = QTimer(self, objectName="algos-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        context.bridge.orders_changed.connect(self.refresh, QUEUED)
        self.refresh()

    def refresh(self) -> None:
        views = self._ctx.api.algos()
        # Working parents first, then the newest.
        views.sort(key=lambda v: (v.status not in LIVE, -v.started_ns, v.parent_id))
        self.model.set_rows([AlgoRow(v) for v in views])
        self._enable()

    def _selected(self) -> list[AlgoRow]:
        return [row for row in selected_rows(self.view) if isinstance(row, AlgoRow)]

    def _enable(self) -> None:
        chosen = [r.view.status for r in self._selected()]
        self.pause_button.setEnabled(AlgoStatus.WORKING in chosen)
        self.resume_button.setEnabled(AlgoStatus.PAUSED in chosen)
        self.cancel_button.setEnabled(any(s in LIVE for s in chosen))

    def _act(self, command, done: str) -> None:  # type: ignore[no-untyped-def]
        answers = []
        for row in self._selected():
            problem = command(row.key)
            answers.append(f"{row.key}: {problem}" if problem else f"{row.key} {done}")
        self.feedback.setText("; ".join(answers))
        self.refresh()

    def export(self, path: str | None = None) -> str | None:
        """Write the execution quality to ``path``; with None, ask where (a non-modal dialog:
        the engine runs on meanwhile) and write once the trader has chosen."""
        if path is None:
            ask_save_path(
                self, "Export execution quality", "CSV (*.csv)", "algo-quality.csv", self.export
            )
            return None
        problem = self._ctx.api.export_algo_quality(Path(path))
        text = problem or f"execution quality written to {path}"
        self.feedback.setText(text)
        return text
