"""The Execution panel: how well every parent order executed — each algo parent and each
bracket's entry — against the mid when it started (arrival) and the market's VWAP over its life,
with its fill rate, time to fill and child count; the same figures summed per owner (the strategy
or source that started it), per day or per kind; a bar of each parent's slippage; and the rows as
CSV. It reads the facade's figures once a second and after order events; it owns no state.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QSplitter,
    QWidget,
)

from engine.api import ExecutionQuality, QualitySummary
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import ask_save_path
from ui.models.table import Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout

REFRESH_MS = 1000
GROUPS = (("Per owner", "owner"), ("Per day", "day"), ("Per kind", "kind"))


def _bp(value: Decimal | None) -> str:
    if value is None:
        return ""
    return "0.00" if value.is_zero() else f"{value:+.2f}"


def _price(value: Decimal | None) -> str:
    return "" if value is None else fmt.rupees(value)


@dataclass(frozen=True, slots=True)
class ParentRow:
    q: ExecutionQuality

    @property
    def key(self) -> str:
        return self.q.parent_id


@dataclass(frozen=True, slots=True)
class GroupRow:
    s: QualitySummary

    @property
    def key(self) -> str:
        return self.s.group


def _slip_colour(context: PanelContext, value: Decimal | None) -> QColor | None:
    if not value:
        return None
    palette = context.theme.palette
    return palette.down if value > 0 else palette.up


def parent_columns(context: PanelContext) -> list[Column[ParentRow]]:
    cost = "(+ cost you, − saved)"
    return [
        Column("Parent", lambda r: r.q.parent_id, width=140),
        Column("Kind", lambda r: r.q.kind.upper(), width=70),
        Column("Owner", lambda r: r.q.owner, width=110),
        Column("Day", lambda r: r.q.day, lambda v: f"{v:%d %b}", width=60),
        Column("Instrument", lambda r: r.q.symbol, width=150),
        Column("Side", lambda r: r.q.side, width=45),
        Column("Status", lambda r: r.q.status, width=75),
        Column("Arrival", lambda r: r.q.arrival, _price, "right", width=90),
        Column("Avg fill", lambda r: r.q.average_fill, _price, "right", width=90),
        Column("Int. VWAP", lambda r: r.q.interval_vwap, _price, "right", width=90),
        Column(
            "Slip arr bp",
            lambda r: r.q.slippage_arrival_bp,
            _bp,
            "right",
            lambda r: _slip_colour(context, r.q.slippage_arrival_bp),
            width=85,
            tooltip=lambda r: f"average fill against the mid when it started {cost}",
        ),
        Column(
            "Slip VWAP bp",
            lambda r: r.q.slippage_vwap_bp,
            _bp,
            "right",
            lambda r: _slip_colour(context, r.q.slippage_vwap_bp),
            width=108,
            tooltip=lambda r: f"average fill against the market's VWAP over its life {cost}",
        ),
        Column(
            "Filled / target",
            lambda r: (r.q.filled, r.q.target),
            lambda v: f"{v[0]:,} / {v[1]:,}",
            "right",
            width=110,
        ),
        Column("Fill %", lambda r: r.q.fill_rate_pct, lambda v: f"{v:.1f}", "right", width=60),
        Column(
            "To fill s",
            lambda r: r.q.time_to_fill_s,
            lambda v: "" if v is None else f"{v:,.1f}",
            "right",
            width=70,
            tooltip=lambda r: "seconds from the start to the last fill",
        ),
        Column("Children", lambda r: r.q.children, str, "right", width=65),
        Column(
            "Part. %",
            lambda r: r.q.participation_pct,
            lambda v: "" if v is None else f"{v:.2f}",
            "right",
            width=65,
            tooltip=lambda r: "its fills as a share of what traded while it worked",
        ),
    ]


def group_columns(context: PanelContext) -> list[Column[GroupRow]]:
    return [
        Column("Group", lambda r: r.s.group, width=115),
        Column("Parents", lambda r: r.s.parents, str, "right", width=68),
        Column(
            "Filled / target",
            lambda r: (r.s.filled, r.s.target),
            lambda v: f"{v[0]:,} / {v[1]:,}",
            "right",
            width=110,
        ),
        Column("Fill %", lambda r: r.s.fill_rate_pct, lambda v: f"{v:.1f}", "right", width=60),
        Column(
            "Slip arr bp",
            lambda r: r.s.slippage_arrival_bp,
            _bp,
            "right",
            lambda r: _slip_colour(context, r.s.slippage_arrival_bp),
            width=85,
            tooltip=lambda r: "weighted by each parent's filled notional",
        ),
        Column(
            "Slip VWAP bp",
            lambda r: r.s.slippage_vwap_bp,
            _bp,
            "right",
            lambda r: _slip_colour(context, r.s.slippage_vwap_bp),
            width=108,
        ),
        Column("Children", lambda r: r.s.children, str, "right", width=65),
    ]


class SlippagePlot(pg.PlotWidget):
    """One bar per parent: its slippage against arrival (red: it cost, green: it saved)."""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("executionPlot")
        self._ctx = context
        self.setMinimumHeight(140)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.addItem(self.bars)
        self.zero = pg.InfiniteLine(pos=0.0, angle=0, movable=False)
        self.addItem(self.zero)
        self.getPlotItem().setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        self.values: list[float] = []
        self._style()

    def _style(self) -> None:
        dark = self._ctx.theme.palette.name == "dark"
        self.setBackground("#101318" if dark else "#ffffff")
        foreground = "#8d98a8" if dark else "#4a5261"
        item = self.getPlotItem()
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        item.setLabel("left", "slippage vs arrival, bp", color=foreground)
        self.zero.setPen(pg.mkPen(foreground, width=1))

    def show_rows(self, rows: list[ExecutionQuality]) -> None:
        measured = [r for r in rows if r.slippage_arrival_bp is not None]
        self.values = [float(r.slippage_arrival_bp or 0) for r in measured]
        palette = self._ctx.theme.palette
        brushes = [pg.mkBrush(palette.down if v > 0 else palette.up) for v in self.values]
        x = np.arange(len(self.values), dtype=float)
        self.bars.setOpts(x=x, height=np.array(self.values, dtype=float), brushes=brushes)
        ticks = [(i, r.parent_id.removeprefix("algo-")) for i, r in enumerate(measured)]
        self.getPlotItem().getAxis("bottom").setTicks([ticks])
        if self.values:
            low, high = min(0.0, *self.values), max(0.0, *self.values)
            pad = max((high - low) * 0.1, 0.5)
            self.setXRange(-0.6, len(self.values) - 0.4, padding=0)
            self.setYRange(low - pad, high + pad, padding=0)


class ExecutionPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("executionPanel")
        self._ctx = context
        self._read_once = False
        """Whether the figures were read at all: a panel built hidden reads them once."""
        self.model: RowTableModel[ParentRow] = RowTableModel(
            parent_columns(context), key=lambda r: r.key
        )
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("executionTable")
        # The panel's own order (by day, then start) until the trader sorts by a column.
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.groups: RowTableModel[GroupRow] = RowTableModel(
            group_columns(context), key=lambda r: r.key
        )
        self.groups_proxy = QSortFilterProxyModel(self)
        self.groups_proxy.setSourceModel(self.groups)
        self.groups_view = make_table(self.groups, self.groups_proxy, self)
        self.groups_view.setObjectName("executionGroups")
        self.groups_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.groups_proxy.sort(-1)
        self.group_by = QComboBox(self, objectName="executionGroupBy")
        for title, key in GROUPS:
            self.group_by.addItem(title, key)
        self.group_by.setToolTip("Sum the parents per owner (strategy or source), day or kind")
        self.export_button = QPushButton("Export CSV…", self, objectName="executionExport")
        self.export_button.setToolTip("Every parent's execution quality as CSV")
        self.feedback = QLabel(self, objectName="executionFeedback")
        self.feedback.setWordWrap(True)
        self.plot = SlippagePlot(context, self)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.groups_view)
        lower.addWidget(self.plot)
        lower.setSizes([420, 520])
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.view)
        split.addWidget(lower)
        split.setSizes([260, 200])
        panel_layout(
            self,
            [QLabel("Group", self), self.group_by, self.export_button, self.feedback],
            split,
            stretch=self.feedback,
        )
        self.group_by.currentIndexChanged.connect(lambda _i: self.refresh())
        self.export_button.clicked.connect(self.export)
        self._timer = QTimer(self, objectName="execution-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        context.bridge.orders_changed.connect(self.refresh, QUEUED)
        self.refresh()

    def refresh(self) -> None:
        if self._read_once and self.visibleRegion().isEmpty():
            # A hidden dock waits: the figures are read when it shows (its showEvent, or the next
            # second's refresh once its tab is picked). Whether it has rows does not matter: with
            # no algos, reading them still snapshots every order of the book. Not isVisible():
            # a dock behind another's tab is "visible", only moved out of sight.
            return
        self._read_once = True
        rows = self._ctx.api.execution_quality()
        rows.sort(key=lambda r: (r.day, r.ticks_from_ns or 0, r.parent_id))
        self.model.set_rows([ParentRow(r) for r in rows])
        self.groups.set_rows(
            [GroupRow(s) for s in self._ctx.api.execution_summary(self.group_by.currentData())]
        )
        self.plot.show_rows(rows)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        self.refresh()

    def export(self, path: str | None = None) -> str | None:
        """Write every parent's execution quality to ``path``; with None, ask where (a
        non-modal dialog: the engine runs on meanwhile) and write once the trader has chosen."""
        if path is None:
            ask_save_path(
                self,
                "Export execution quality",
                "CSV (*.csv)",
                "execution-quality.csv",
                self.export,
            )
            return None
        problem = self._ctx.api.export_execution_quality(Path(path))
        text = problem or f"execution quality written to {path}"
        self.feedback.setText(text)
        return text
