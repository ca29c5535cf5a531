"""The Performance panel: P&L per strategy, per symbol and per day from the book's journal, with
the chosen strategy's equity, drawdown and daily P&L plotted, its metrics in one line, and the
HTML report exported from a button.

The figures come from ``api.performance()`` (a read of the whole journal, about 0.1 ms a fill):
on opening, on the Refresh button, and a few seconds after orders change while the panel is on
screen (coalesced; a hidden panel catches up when shown), never per tick. Plot items are
created once and fed with numpy arrays (``setData``/``setOpts``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.api.performance import (
    DESK,
    DayRow,
    Performance,
    PnlRow,
    daily_pnl,
    drawdown_series,
    session_positions,
)
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import ask_save_path
from ui.models.table import ROW_ROLE, Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout, selected_rows
from ui.plot_axes import RupeeAxis, SessionAxis

log = logging.getLogger(__name__)

REFRESH_AFTER_ORDERS_MS = 3000
"""Orders changed: read the journal again this long after the first change (the changes
meanwhile are read with it)."""
VIEWS = ("By strategy", "By symbol", "By day")


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def pnl_columns(context: PanelContext, first: str) -> list[Column[PnlRow]]:
    def colour(value: Decimal) -> QColor | None:
        palette = context.theme.palette
        return None if not value else (palette.up if value > 0 else palette.down)

    def name(row: PnlRow) -> str:
        return row.owner if not row.symbol else f"{row.symbol}  ({row.owner})"

    return [
        Column(first, name, width=130),
        Column(
            "Net P&L",
            lambda r: r.net,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.net),
            width=88,
        ),
        Column(
            "Realised",
            lambda r: r.realised,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.realised),
            width=84,
        ),
        Column(
            "Unrealised",
            lambda r: r.unrealised,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.unrealised),
            width=84,
        ),
        Column("Charges", lambda r: r.charges, fmt.rupees, "right", width=74),
        Column(
            "Slippage",
            # Against each order's arrival price, a cost positive; '—' when nothing measured it.
            lambda r: r.slippage if r.slippage_measured else None,
            fmt.rupees,
            "right",
            width=74,
        ),
        Column("Fills", lambda r: r.fills, str, "right", width=40),
        Column("Trades", lambda r: r.trades, str, "right", width=52),
        Column("Win %", lambda r: r.win_rate, _pct, "right", width=56),
        Column(
            "Open",
            lambda r: r.open_quantity if r.symbol else r.open_positions,
            str,
            "right",
            width=45,
        ),
    ]


def day_columns(context: PanelContext) -> list[Column[DayRow]]:
    def colour(value: Decimal) -> QColor | None:
        palette = context.theme.palette
        return None if not value else (palette.up if value > 0 else palette.down)

    return [
        Column("Day", lambda r: r.day, lambda d: d.strftime("%a %d %b %Y"), width=110),
        Column(
            "Net P&L",
            lambda r: r.net,
            fmt.signed_rupees,
            "right",
            lambda r: colour(r.net),
            width=100,
        ),
        Column(
            "P&L", lambda r: r.pnl, fmt.signed_rupees, "right", lambda r: colour(r.pnl), width=95
        ),
        Column("Charges", lambda r: r.charges, fmt.rupees, "right", width=85),
        Column("Fills", lambda r: r.fills, str, "right", width=45),
        Column("Trades", lambda r: r.trades, str, "right", width=50),
        Column("Wins", lambda r: r.wins, str, "right", width=45),
    ]


class PlotGrid(pg.GraphicsLayoutWidget):
    """The panel's plots stacked, or side by side when the panel is too short to stack them
    readably (the bottom dock's default height) and wide enough to lay them across."""

    STACK_MIN_HEIGHT = 420
    """Below this height the plots go across: three stacked need about 140 px each."""

    # Class defaults: the widget is resized while its own __init__ runs, before any are set.
    _plots: tuple[pg.PlotItem, ...] = ()
    across: bool | None = None
    """Whether the plots are laid across (None until they are placed)."""

    def place(self, plots: list[pg.PlotItem]) -> None:
        self._plots = tuple(plots)
        self.across = None
        self._arrange()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        height, width = self.height(), self.width()
        across = height < self.STACK_MIN_HEIGHT and width >= 2 * height
        if across == self.across or not self._plots:
            return
        self.across = across
        for plot in self._plots:
            if plot in self.ci.items:
                self.ci.removeItem(plot)
        for index, plot in enumerate(self._plots):
            self.ci.addItem(plot, row=0 if across else index, col=index if across else 0)


class PerformancePanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("performancePanel")
        self._ctx = context
        self.performance: Performance | None = None
        self.owner = DESK
        self.view_choice = QComboBox(self, objectName="performanceView")
        self.view_choice.addItems(VIEWS)
        self.refresh_button = QPushButton("Refresh", self, objectName="performanceRefresh")
        self.export_button = QPushButton(
            "Export HTML report…", self, objectName="performanceExport"
        )
        self.feedback = QLabel(self, objectName="performanceFeedback")
        self.feedback.setWordWrap(True)
        self.figures = QLabel(self, objectName="performanceFigures")
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.pnl_model: RowTableModel[PnlRow] = RowTableModel(
            pnl_columns(context, "Strategy / symbol"), key=lambda r: (r.owner, r.symbol)
        )
        self.day_model: RowTableModel[DayRow] = RowTableModel(
            day_columns(context), key=lambda r: r.day
        )
        self.pnl_proxy = QSortFilterProxyModel(self)
        self.pnl_proxy.setSourceModel(self.pnl_model)
        self.day_proxy = QSortFilterProxyModel(self)
        self.day_proxy.setSourceModel(self.day_model)
        self.table = make_table(self.pnl_model, self.pnl_proxy, self)
        self.table.setObjectName("performanceTable")
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        # Rows in the engine's order (strategies by name, the desk last) until a header is clicked.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.pnl_proxy.sort(-1)

        self.axis = SessionAxis()
        self.plots = PlotGrid()
        self.equity_plot = pg.PlotItem(axisItems={"bottom": self.axis, "left": RupeeAxis()})
        self.drawdown_axis = SessionAxis()
        self.drawdown_plot = pg.PlotItem(axisItems={"bottom": self.drawdown_axis})
        self.daily_plot = pg.PlotItem(axisItems={"left": RupeeAxis()})
        self.plots.place([self.equity_plot, self.drawdown_plot, self.daily_plot])
        self.drawdown_plot.setXLink(self.equity_plot)
        self.equity_curve = self.equity_plot.plot([], [])
        self.drawdown_curve = self.drawdown_plot.plot([], [], fillLevel=0.0)
        self.daily_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.daily_plot.addItem(self.daily_bars)
        self._style_plots()

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.figures)
        right_layout.addWidget(self.plots, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 6)
        split.setSizes([700, 700])
        panel_layout(
            self,
            [self.view_choice, self.refresh_button, self.export_button, self.feedback],
            split,
            stretch=self.feedback,
        )

        self.view_choice.currentIndexChanged.connect(lambda _i: self._show_view())
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._ask_export_path)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self._later = QTimer(self, objectName="performance-refresh")
        self._later.setSingleShot(True)
        self._later.setInterval(REFRESH_AFTER_ORDERS_MS)
        self._later.timeout.connect(self.refresh)
        self._stale = True
        """The journal is read when the panel is first shown, not when the window is built."""
        context.bridge.orders_changed.connect(self._orders_changed, QUEUED)

    def _orders_changed(self) -> None:
        # Reading the journal costs ~0.1 ms a fill: done only for a panel on screen, coalesced.
        # The first change of a burst starts the wait and later ones ride on it: restarting it on
        # each change never refreshed while a strategy traded more often than the wait.
        if not self.isVisible():
            self._stale = True
        elif not self._later.isActive():
            self._later.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()

    # -- reading -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the journal again and show it."""
        self.performance = self._ctx.api.performance()
        if self.owner != DESK and self.owner not in self.performance.owners:
            self.owner = DESK
        count = len(self.performance.owners)
        self.feedback.setText(
            "No fills in the journal yet."
            if not count
            else f"{count} strateg{'y' if count == 1 else 'ies'} and sources; capital "
            f"₹{fmt.rupees(self.performance.capital)}"
        )
        self._show_view()

    def choose(self, owner: str) -> None:
        """Plot ``owner`` (a strategy id, a source, or ``desk``)."""
        self.owner = owner
        self._plot()
        if self.view_choice.currentIndex() == 2:
            self._show_view()

    def _show_view(self) -> None:
        performance = self.performance
        if performance is None:
            return
        view = self.view_choice.currentIndex()
        if view == 2:
            self.day_model.set_rows(performance.days(self.owner) if performance.owners else [])
            self.table.setModel(self.day_proxy)
        else:
            rows: Sequence[PnlRow] = (
                performance.strategies() if view == 0 else performance.symbols()
            )
            self.pnl_model.set_rows(list(rows) if performance.owners else [])
            self.table.setModel(self.pnl_proxy)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self._plot()

    def _selected(self) -> None:
        for row in selected_rows(self.table):
            if isinstance(row, PnlRow) and row.owner != self.owner:
                self.choose(row.owner)
            return

    # -- plotting ----------------------------------------------------------------------------------

    def _plot(self) -> None:
        performance = self.performance
        if performance is None or not performance.owners:
            self._clear_plots()
            self.figures.setText("")
            return
        try:
            self._draw(performance)
        except (ValueError, ArithmeticError) as problem:
            # The tables stand on their own; the curve and its metrics are what failed.
            log.warning("the equity curve of %s could not be built", self.owner, exc_info=True)
            self._clear_plots()
            self.figures.setText(
                f"<b>{escape(self.owner)}</b>: the equity curve and its figures could not be "
                f"built from the journal ({escape(str(problem))}). The P&amp;L table is not "
                "affected."
            )

    def _clear_plots(self) -> None:
        self.equity_curve.setData([], [])
        self.drawdown_curve.setData([], [])
        self.daily_bars.setOpts(x=[], height=[])

    def _draw(self, performance: Performance) -> None:
        curve = performance.curve(self.owner)
        stamps = curve.ts_ns.astype(np.float64)
        places = np.asarray(session_positions([int(t) for t in curve.ts_ns]), dtype=np.float64)
        hours = places / 3.6e12
        for axis in (self.axis, self.drawdown_axis):
            axis.set_moments(hours, stamps)
        self.equity_curve.setData(hours, curve.floats)
        self.drawdown_curve.setData(hours, np.nan_to_num(drawdown_series(curve)) * 100)
        days = daily_pnl(curve)
        values = np.array([float(p) for _, p in days])
        palette = self._ctx.theme.palette
        brushes = [pg.mkBrush(palette.up if v >= 0 else palette.down) for v in values]
        self.daily_bars.setOpts(
            x=np.arange(len(days)),
            height=values,
            width=0.7,
            brushes=brushes,
            pens=[None] * len(days),
        )
        labels = [(i, d.strftime("%d %b")) for i, (d, _) in enumerate(days)]
        step = max(1, len(labels) // 8)
        self.daily_plot.getAxis("bottom").setTicks([labels[::step]])
        self.equity_plot.setTitle(f"Equity — {self.owner}", size="9pt")
        self.drawdown_plot.setTitle("Drawdown %", size="9pt")
        self.daily_plot.setTitle("Daily P&L", size="9pt")
        self.figures.setText(self._figures_text())

    def _figures_text(self) -> str:
        assert self.performance is not None
        m = self.performance.metrics(self.owner)
        stats = m.trade_stats
        parts = [
            f"<b>{escape(self.owner)}</b>",
            f"Net {fmt.signed_rupees(m.net_pnl)}",
            f"CAGR {_pct(m.shown_cagr)}",
            f"Sharpe {_ratio(m.sharpe)}",
            f"Sortino {_ratio(m.sortino)}",
            f"Calmar {_ratio(m.shown_calmar)}",
            f"Max DD {_pct(m.max_drawdown.depth)} ({fmt.signed_rupees(m.max_drawdown.rupees)})",
            f"Trades {stats.trades}",
            f"Win {_pct(stats.win_rate)}",
            f"PF {_ratio(stats.profit_factor)}",
            f"Expectancy {fmt.signed_rupees(stats.expectancy)}",
            f"Charges {fmt.rupees(m.charges)}",
            f"Slippage {fmt.rupees(m.slippage if m.slippage_measured else None)}",
        ]
        said = escape(m.convention[0].upper() + m.convention[1:])
        return " · ".join(parts) + f"<br><span style='color:gray'>{said}</span>"

    def _style_plots(self) -> None:
        palette = self._ctx.theme.palette
        dark = palette.name == "dark"
        self.plots.setBackground("#101318" if dark else "#ffffff")
        foreground = "#8d98a8" if dark else "#4a5261"
        for plot in (self.equity_plot, self.drawdown_plot, self.daily_plot):
            plot.showGrid(x=False, y=True, alpha=0.15)
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
        self.equity_curve.setPen(pg.mkPen(palette.buy, width=2))
        self.drawdown_curve.setPen(pg.mkPen(palette.down, width=1.5))
        shade = QColor(palette.down)
        shade.setAlpha(50)
        self.drawdown_curve.setBrush(pg.mkBrush(shade))

    # -- export ------------------------------------------------------------------------------------

    def _ask_export_path(self) -> None:
        ask_save_path(
            self,
            "Export performance report",
            "HTML report (*.html)",
            f"performance-{self.owner}.html",
            self.export_report,
        )

    def export_report(self, path: str) -> bool:
        problem = self._ctx.api.export_performance_report(path, self.owner, self.performance)
        self.feedback.setText(f"Not exported: {problem}" if problem else f"Report saved: {path}")
        return problem is None

    def rows_shown(self) -> list[Any]:
        model = self.table.model()
        return [model.index(i, 0).data(ROW_ROLE) for i in range(model.rowCount())]
